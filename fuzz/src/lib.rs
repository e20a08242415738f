//! brokerlab's fuzz targets, as plain functions of a byte string.
//!
//! Each target is one function here: the libFuzzer entry points in
//! `fuzz_targets/` call it, and `tests/corpus.rs` replays the committed
//! corpus through it on stable Rust (CI). A target fails by panicking: every
//! `assert!` below is a rule of the server or the core, named in its message.
//!
//! - [`frames`]: the frame reader (`wire::frames::next_frame`, with its
//!   field-table nesting bound) and, for every frame it returns, what the
//!   server makes of it: a method's core command (`wire::inbound`), a content
//!   header's properties (`wire::fields`).
//! - [`handshake`]: the connection handshake, protocol header to
//!   connection.open, run in memory over a byte stream that never waits.
//! - [`core_inputs`]: sequences of `Input`s into the core's `Broker`,
//!   decoded from the bytes by [`steps`].
//! - [`kafka_requests`]: the Kafka listener's requests, cut, screened for
//!   SASL and dispatched as a connection does, without a socket or a broker.
//! - [`resp_requests`]: the RESP listener's requests, cut and judged as a
//!   connection does, with their immediate replies encoded.

pub mod steps;

mod core_target;
mod frames_target;
mod handshake_target;
mod kafka_target;
mod resp_target;

pub use core_target::core_inputs;
pub use frames_target::frames;
pub use handshake_target::{handshake, handshake_opens};
pub use kafka_target::kafka_requests;
pub use resp_target::resp_requests;
