//! The seed document's event bus pattern, narrated step by step through the core:
//! `cargo run --example event_bus`.

fn main() -> std::io::Result<()> {
    brokerlab::walkthrough::event_bus(&mut std::io::stdout().lock())
}
