//! The seed document's circuit breaker pattern, narrated step by step through the core:
//! `cargo run --example circuit_breaker`.

fn main() -> std::io::Result<()> {
    brokerlab::walkthrough::circuit_breaker(&mut std::io::stdout().lock())
}
