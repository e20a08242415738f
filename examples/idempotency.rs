//! The seed document's idempotency pattern, narrated step by step through the core:
//! `cargo run --example idempotency`.

fn main() -> std::io::Result<()> {
    brokerlab::walkthrough::idempotency(&mut std::io::stdout().lock())
}
