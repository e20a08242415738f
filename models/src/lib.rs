//! brokerlab-models: stateright models that put the brokerlab core itself
//! inside an actor model and check its properties exhaustively.
//!
//! The broker actor wraps the production `brokerlab_core::Broker` (not a
//! re-written specification), so "verified core" means the code users embed.
//! Client actors talk to it over stateright's network in the core's own
//! protocol-neutral `Command`s and `Reply`s. Each model is a configuration
//! struct with `into_model()`; [`check`] runs one and reports every
//! property's verdict, as `brokerlab check` prints it.

#![forbid(unsafe_code)]

pub mod actors;
pub mod broker_actor;
pub mod catalog;
pub mod check;
pub mod circuit_breaker;
pub mod clients;
pub mod consumer_group;
pub mod crash_recovery;
pub mod dlq;
pub mod explore;
pub mod fanout;
pub mod group_member;
pub mod idempotency;
pub mod idempotent_producer;
pub mod network;
pub mod ordering;
pub mod panics;
pub mod pressure;
pub mod priority;
pub mod properties;
pub mod pubsub;
pub mod request_reply;
pub mod restricted;
pub mod saga;
pub mod shared;
pub mod single_active_consumer;
pub mod sqs;
pub mod steps;
pub mod stream_fetch;
pub mod stream_producer;
pub mod stream_reader;
pub mod ttl;
pub mod wire;
pub mod work_queue;

pub use circuit_breaker::CircuitBreaker;
pub use consumer_group::ConsumerGroup;
pub use crash_recovery::CrashRecovery;
pub use dlq::Dlq;
pub use fanout::Fanout;
pub use idempotency::Idempotency;
pub use idempotent_producer::IdempotentProducer;
pub use network::Links;
pub use ordering::Ordering;
pub use pressure::Pressure;
pub use priority::Priority;
pub use pubsub::PubSub;
pub use request_reply::RequestReply;
pub use restricted::Restricted;
pub use saga::Saga;
pub use single_active_consumer::SingleActiveConsumer;
pub use sqs::SqsVisibility;
pub use stream_fetch::StreamFetch;
pub use ttl::Ttl;
pub use work_queue::WorkQueue;
