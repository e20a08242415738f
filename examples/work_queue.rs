//! The seed document's work-queue pattern, narrated step by step through the core:
//! `cargo run --example work_queue`.

fn main() -> std::io::Result<()> {
    brokerlab::walkthrough::work_queue(&mut std::io::stdout().lock())
}
