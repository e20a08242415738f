//! The seed document's dead-letter queue and retry pattern, narrated step by step through the core:
//! `cargo run --example dlq_retry`.

fn main() -> std::io::Result<()> {
    brokerlab::walkthrough::dlq_retry(&mut std::io::stdout().lock())
}
