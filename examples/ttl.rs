//! The seed document's time-to-live pattern, narrated step by step through the core:
//! `cargo run --example ttl`.

fn main() -> std::io::Result<()> {
    brokerlab::walkthrough::ttl(&mut std::io::stdout().lock())
}
