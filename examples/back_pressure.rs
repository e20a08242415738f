//! The seed document's back-pressure pattern (prefetch, credit flow, the memory alarm), narrated step by step through the core:
//! `cargo run --example back_pressure`.

fn main() -> std::io::Result<()> {
    brokerlab::walkthrough::back_pressure(&mut std::io::stdout().lock())
}
