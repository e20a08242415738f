//! The `idempotency` model: at-least-once delivery and an idempotent
//! consumer give every message's work exactly one effect.
//!
//! The broker delivers at least once: a consumer whose connection drops
//! after it did the work but before its ack reached the broker gets the
//! message again, and (with crashes) a producer that lost its connection
//! before a confirm publishes again, so the queue may hold a message twice.
//! The consumer does its work when a delivery arrives and acks afterwards;
//! the idempotent consumer remembers the messages it has done (by their
//! number, the application's message id) and skips one it has seen.
//!
//! Checked, in every reachable state, besides what every model checks:
//! `exactly-once-effect`, no message's work takes effect twice, and once
//! nothing more can happen every message's work took effect. A consumer
//! without the memory (`dedup: false`) fails it: the duplicates are real.
//! `duplicate-suppressed` must be reachable.
//!
//! The network is a parameter (`Links`). The duplicates this model is about
//! are the application's: AMQP runs over TCP, which discards the copies a
//! duplicating network makes before the broker or the consumer sees them
//! (the endpoints sequence their segments, see `network`), so over a
//! duplicating network every property still holds and the consumer's
//! memory is exercised by redeliveries, as over an ordered one. The
//! unordered networks are for configurations without crashes.

use crate::actors::base_model;
use crate::broker_actor::BrokerActor;
use crate::clients::{Consumer, Effect, Producer};
use crate::network::Links;
use crate::properties::{self, BrokerModel, Settings};
use crate::work_queue::declare_durable;
use brokerlab_core::Mutant;
use stateright::Expectation;

/// The queue of the model.
pub const QUEUE: &str = "jobs";

/// The `idempotency` model's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Idempotency {
    /// How many messages the producer publishes.
    pub messages: u8,
    /// Whether the consumer skips messages it has done.
    pub dedup: bool,
    /// How many times the consumer's connection may drop.
    pub drops: u8,
    /// How many times the broker may crash.
    pub crashes: u8,
    /// What the network does to segments in flight (see [`Links`]: the
    /// unordered ones only without crashes).
    pub network: Links,
    /// A deliberately broken broker, or `None` for the real one.
    pub mutant: Option<Mutant>,
}

impl Default for Idempotency {
    /// The standard configuration: one message, one drop, one crash.
    fn default() -> Idempotency {
        Idempotency {
            messages: 1,
            dedup: true,
            drops: 1,
            crashes: 1,
            network: Links::Ordered,
            mutant: None,
        }
    }
}

impl Idempotency {
    /// The actor model: the broker (actor 0), the producer (1), the consumer (2).
    #[must_use]
    pub fn into_model(self) -> BrokerModel {
        let broker = BrokerActor {
            keep_log: self.crashes > 0,
            ..BrokerActor::new(self.mutant, vec![declare_durable(QUEUE)], 2)
        };
        let settings = Settings {
            messages: self.messages,
            prefetch: 1,
            crashes: self.crashes,
            ..Settings::default()
        };
        let producer = Producer::new(QUEUE.into(), self.messages);
        let consumer = Consumer {
            drops: self.drops,
            effect: Effect::OnReceipt { dedup: self.dedup },
            ..Consumer::new(QUEUE.into(), 1)
        };
        base_model(settings, self.network, broker, producer, vec![consumer])
            .property(
                Expectation::Always,
                "exactly-once-effect",
                properties::exactly_once_effect,
            )
            .property(
                Expectation::Always,
                "quiet-means-done",
                properties::quiet_means_done,
            )
            .property(
                Expectation::Sometimes,
                "duplicate-suppressed",
                properties::duplicate_suppressed,
            )
    }
}
