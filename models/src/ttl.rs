//! The `ttl` model: messages expire in their queue and are never handed out
//! once expired.
//!
//! The operator declares a durable queue with `x-message-ttl`. The producer
//! publishes messages 1 to N (persistent, with confirms) and one consumer
//! with prefetch 1 acks what it receives. The broker's clock is logical: it
//! moves only when the broker's next deadline (the head message's expiry)
//! is reached, which the checker may let happen at any point, so a message
//! may expire before the consumer subscribes, while it waits behind an
//! unacked one, or never.
//!
//! The driver watches the core's own outputs: each `Enqueued` record carries
//! the message's deadline, each delivery goes out at the driver's clock.
//! Checked, in every reachable state, besides what every model checks:
//! `no-expired-delivery`, no message handed out at or after its deadline.
//! When nothing more can happen, every message is confirmed and then acked
//! or expired. `expired` must be reachable.

use crate::actors::base_model;
use crate::broker_actor::BrokerActor;
use crate::clients::{Consumer, Producer};
use crate::network::Links;
use crate::properties::{self, BrokerModel, Settings};
use crate::work_queue::declare_durable_with;
use brokerlab_core::{FieldTable, FieldValue, Mutant};
use stateright::Expectation;

/// The queue of the model.
pub const QUEUE: &str = "expiring";

/// The `ttl` model's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ttl {
    /// How many messages the producer publishes.
    pub messages: u8,
    /// The queue's `x-message-ttl`.
    pub ttl_ms: u32,
    /// A deliberately broken broker, or `None` for the real one.
    pub mutant: Option<Mutant>,
}

impl Default for Ttl {
    /// The standard configuration: two messages that live one second.
    fn default() -> Ttl {
        Ttl {
            messages: 2,
            ttl_ms: 1_000,
            mutant: None,
        }
    }
}

impl Ttl {
    /// The actor model: the broker (actor 0), the producer (1), the consumer (2).
    #[must_use]
    pub fn into_model(self) -> BrokerModel {
        let mut arguments = FieldTable::new();
        arguments.insert(
            "x-message-ttl".to_owned(),
            FieldValue::I64(i64::from(self.ttl_ms)),
        );
        let broker = BrokerActor::new(self.mutant, vec![declare_durable_with(QUEUE, arguments)], 2);
        let settings = Settings {
            messages: self.messages,
            prefetch: 1,
            expiry_drops: true,
            ..Settings::default()
        };
        let producer = Producer::new(QUEUE.into(), self.messages);
        let consumer = Consumer::new(QUEUE.into(), 1);
        base_model(settings, Links::Ordered, broker, producer, vec![consumer])
            .property(
                Expectation::Always,
                "no-expired-delivery",
                properties::no_expired_delivery,
            )
            .property(
                Expectation::Always,
                "quiet-means-done",
                properties::quiet_means_done,
            )
            .property(Expectation::Sometimes, "expired", properties::expired)
    }
}
