//! The seed document's publish/subscribe pattern, narrated step by step through the core:
//! `cargo run --example pubsub`.

fn main() -> std::io::Result<()> {
    brokerlab::walkthrough::pubsub(&mut std::io::stdout().lock())
}
