//! brokerlab-core: the broker as a sans-IO state machine.
//!
//! All of brokerlab's broker behaviour lives here: exchanges and routing,
//! queues and their arguments, consumers and prefetch, acknowledgements and
//! requeue, publisher confirms, transactions, TTL, length limits,
//! priorities, dead-lettering, direct reply-to, credit flow, the memory
//! alarm and access control, following RabbitMQ's AMQP 0-9-1 semantics
//! rule by rule; and partitioned streams with Kafka's semantics (topics,
//! record batches, idempotent producers, long-polling fetches, retention). Drivers (the AMQP server, the simulator, the model
//! checker) feed it [`Input`]s, carry out its [`Output`]s and may read its
//! [`Event`]s; none of them holds a broker rule of its own.
//!
//! # The run loop
//!
//! Feed every input with the driver's time, drain the outputs after each,
//! tell the broker what the log made durable, and wake it at its deadline.
//! A persistent message published with confirms is acknowledged only once
//! its record is synced:
//!
//! ```
//! use brokerlab_core::{
//!     Broker, ChannelId, Command, Config, ConnectionId, FieldTable, Input, Instant, Output,
//!     Properties, PublishProperties, Reply,
//! };
//! use std::sync::Arc;
//!
//! let mut broker = Broker::new(Config::default());
//! let (conn, channel) = (ConnectionId(1), ChannelId(1));
//! let mut log = Vec::new(); // the driver's store
//! let mut replies = Vec::new(); // what would go to the client
//!
//! // Drains the outputs, as the calling protocol asks after every input.
//! let drain = |broker: &mut Broker, log: &mut Vec<_>, replies: &mut Vec<_>| {
//!     while let Some(output) = broker.poll_output() {
//!         match output {
//!             Output::Reply { reply, .. } => replies.push(reply),
//!             Output::Persist(record) => log.push(*record), // append; sync later
//!             Output::Pause { .. } => {} // stop or resume reading that connection
//!             Output::Stream { .. } => {} // a stream reply, to its connection in request order
//!             Output::PubSub { .. } => {} // a Pub/Sub answer or delivery, to its connection
//!             Output::Sqs { .. } => {} // an SQS answer, to its request
//!             Output::PubSubPublished { .. } => {} // a publish's deliveries, to each receiver
//!         }
//!     }
//!     broker.drain_events(|_event| {}); // checkers, metrics, tracing
//! };
//!
//! let now = Instant(1_000_000);
//! let user = "guest".to_owned();
//! let (vhost, channel_max) = ("/".to_owned(), 2047); // as tune-ok agreed
//! broker.handle(now, Input::Connect { conn, user, vhost, channel_max });
//! let commands = [
//!     Command::ChannelOpen,
//!     Command::ConfirmSelect,
//!     Command::QueueDeclare {
//!         queue: "jobs".into(),
//!         passive: false,
//!         durable: true,
//!         exclusive: false,
//!         auto_delete: false,
//!         arguments: FieldTable::new(),
//!     },
//!     Command::BasicPublish {
//!         exchange: "".into(),
//!         routing_key: "jobs".into(),
//!         mandatory: false,
//!         immediate: false,
//!         properties: PublishProperties::Given(Arc::new(Properties {
//!             delivery_mode: Some(2),
//!             ..Properties::default()
//!         })),
//!         body: "hello".into(),
//!     },
//! ];
//! for command in commands {
//!     broker.handle(now, Input::Command { conn, channel, command });
//!     drain(&mut broker, &mut log, &mut replies);
//! }
//! assert!(!replies.iter().any(|reply| matches!(reply, Reply::ConfirmAck { .. })));
//!
//! // The store made the records durable: now the confirm goes out.
//! let upto = log.last().map_or(0, |record| record.lsn);
//! broker.handle(now, Input::Synced { upto });
//! drain(&mut broker, &mut log, &mut replies);
//! assert!(matches!(replies.last(), Some(Reply::ConfirmAck { delivery_tag: 1, .. })));
//!
//! // Sleep until the next deadline (or the next input), then wake the broker.
//! if let Some(at) = broker.poll_timeout() {
//!     broker.handle(at, Input::Timeout);
//!     drain(&mut broker, &mut log, &mut replies);
//! }
//! broker.check_invariants(); // what the lab does after every step
//! ```
//!
//! # Durability
//!
//! Every durable change (a durable queue or exchange, a binding between
//! durable ends, a persistent message entering or leaving a durable queue,
//! a durable stream topic and its batches) is an [`Output::Persist`] record
//! with a growing `lsn`. The driver appends records in order and reports
//! the highest durable one with [`Input::Synced`]; a publisher confirm of a
//! persistent message (and a stream produce with acks after sync) waits for
//! it. After a crash, [`Broker::recover`] rebuilds the broker from the
//! records that were made durable, and [`Broker::snapshot`] gives the
//! records of the live durable state, for compacting the log. Nothing a
//! confirm acknowledged is lost.
//!
//! # Panics
//!
//! Bad input from a client is never a panic: it is the reply RabbitMQ
//! gives (a channel or connection close with its code and text). A panic
//! means an internal invariant broke; [`Broker::check_invariants`] states
//! them and checks them whole, and the simulator, the models and the
//! property tests call it after every step.
//!
//! # What the core does not do
//!
//! It never reads a clock, sleeps, spawns, does IO or draws randomness:
//! time comes in as `now`, and nothing iterates a map whose order depends
//! on a random hasher. It does not parse a wire protocol (commands and
//! replies are protocol-neutral), check passwords, write the log, or
//! decide when to stop reading a socket beyond saying so
//! ([`Output::Pause`]).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod access;
mod arena;
pub mod args;
mod broker;
mod channel;
pub mod config;
pub mod dead_letter;
pub mod field;
pub mod group;
mod in_place;
pub mod message;
mod pool;
pub mod protocol;
pub mod pubsub;
mod queue;
pub mod record;
pub mod routing;
pub mod saga;
pub mod sqs;
pub mod stream;
pub mod time;
mod unobserved;

pub use access::{Access, Operation, PatternError, Permissions};
pub use broker::{
    BindingInfo, Broker, ChannelInfo, ConnectionInfo, ConsumerInfo, Counters, DeadLetterCounts,
    EventRef, ExchangeInfo, NameRef, QueueInfo,
};
pub use config::{Config, Flow, MemoryAlarm, Mutant, MESSAGE_SIZE_LIMIT_BYTES};
pub use field::{FieldTable, FieldValue};
pub use message::{
    Body, Envelope, Message, MessageId, Name, Properties, SharedEnvelope, SharedMessage,
};
pub use protocol::{
    ChannelId, CloseScope, Command, ConnectionId, DeadLetterReason, DropReason, Event,
    ExchangeKind, Input, Method, Output, PublishProperties, Reply, ReplyCode,
};
pub use pubsub::{PubSubCommand, PubSubConfig, PubSubReply, Published};
pub use sqs::{SqsCommand, SqsConfig, SqsError, SqsErrorKind, SqsReply};
pub use stream::{StreamCommand, StreamError, StreamLimits, StreamReply};
pub use time::Instant;
