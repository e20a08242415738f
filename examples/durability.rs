//! The seed document's durability and confirms, narrated step by step through the core:
//! `cargo run --example durability`.

fn main() -> std::io::Result<()> {
    brokerlab::walkthrough::durability(&mut std::io::stdout().lock())
}
