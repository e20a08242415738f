//! The seed document's message metrics pattern, narrated step by step through the core:
//! `cargo run --example metrics`.

fn main() -> std::io::Result<()> {
    brokerlab::walkthrough::metrics(&mut std::io::stdout().lock())
}
