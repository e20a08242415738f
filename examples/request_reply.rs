//! The seed document's request-reply pattern, narrated step by step through the core:
//! `cargo run --example request_reply`.

fn main() -> std::io::Result<()> {
    brokerlab::walkthrough::request_reply(&mut std::io::stdout().lock())
}
