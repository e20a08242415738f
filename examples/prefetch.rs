//! The seed document's prefetch back-pressure pattern, narrated step by step through the core:
//! `cargo run --example prefetch`.

fn main() -> std::io::Result<()> {
    brokerlab::walkthrough::prefetch(&mut std::io::stdout().lock())
}
