//! The seed document's ordering-by-key pattern, narrated step by step through the core:
//! `cargo run --example ordering_by_key`.

fn main() -> std::io::Result<()> {
    brokerlab::walkthrough::ordering_by_key(&mut std::io::stdout().lock())
}
