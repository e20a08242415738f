//! The seed document's routing (direct and topic) pattern, narrated step by step through the core:
//! `cargo run --example routing`.

fn main() -> std::io::Result<()> {
    brokerlab::walkthrough::routing(&mut std::io::stdout().lock())
}
