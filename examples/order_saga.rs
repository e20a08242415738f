//! The seed document's saga pattern, orchestrated by the broker: an order
//! saga with three participants, one order completed and one compensated,
//! narrated step by step through the core: `cargo run --example order_saga`.

fn main() -> std::io::Result<()> {
    brokerlab::walkthrough::saga(&mut std::io::stdout().lock())
}
