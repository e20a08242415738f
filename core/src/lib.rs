//! brokerlab-core: the broker as a sans-IO state machine.
//!
//! All of brokerlab's broker behaviour lives here: exchanges and routing,
//! queues and their arguments, consumers and prefetch, acknowledgements and
//! requeue, publisher confirms, TTL, length limits, priorities and
//! dead-lettering, following RabbitMQ's AMQP 0-9-1 semantics rule by rule.
//!
//! The core never reads a clock, sleeps, spawns, does IO or draws randomness:
//! time comes in as `now`, and nothing iterates a map whose order depends on a
//! random hasher. Drivers (the AMQP server, the simulator, the model checker)
//! feed it [`Input`]s, carry out its [`Output`]s and read its [`Event`]s; see
//! [`Broker`] for the calling protocol.

pub mod access;
mod arena;
pub mod args;
mod broker;
mod channel;
pub mod config;
pub mod dead_letter;
pub mod field;
mod in_place;
pub mod message;
mod pool;
pub mod protocol;
mod queue;
pub mod record;
pub mod routing;
pub mod time;
mod unobserved;

pub use access::{Access, Operation, PatternError, Permissions};
pub use broker::{Broker, EventRef, NameRef};
pub use config::{Config, Flow, MemoryAlarm, Mutant, MESSAGE_SIZE_LIMIT_BYTES};
pub use field::{FieldTable, FieldValue};
pub use message::{Message, MessageId, Name, Properties, SharedMessage};
pub use protocol::{
    ChannelId, CloseScope, Command, ConnectionId, DeadLetterReason, DropReason, Event,
    ExchangeKind, Input, Method, Output, PublishProperties, Reply, ReplyCode,
};
pub use time::Instant;
