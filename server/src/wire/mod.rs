//! AMQP 0-9-1 on the wire, translated to and from the core's vocabulary.
//!
//! This is the one place that knows both amq-protocol's types and the
//! core's: inbound methods become `Command`s, `Reply`s become frames, field
//! tables and properties are converted value by value. No broker rule lives
//! here; a method that the core must judge is always passed on to it.

pub mod fields;
pub mod frames;
pub mod inbound;
pub mod nesting;
pub mod outbound;
