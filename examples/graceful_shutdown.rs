//! The seed document's graceful shutdown pattern, narrated step by step through the core:
//! `cargo run --example graceful_shutdown`.

fn main() -> std::io::Result<()> {
    brokerlab::walkthrough::graceful_shutdown(&mut std::io::stdout().lock())
}
