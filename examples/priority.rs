//! The seed document's message priority pattern, narrated step by step through the core:
//! `cargo run --example priority`.

fn main() -> std::io::Result<()> {
    brokerlab::walkthrough::priority(&mut std::io::stdout().lock())
}
