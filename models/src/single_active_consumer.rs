//! The `single-active-consumer` model: of the consumers of a queue with
//! `x-single-active-consumer`, one at a time receives messages.
//!
//! The operator declares a durable queue with `x-single-active-consumer`.
//! The producer publishes messages 1 to N with confirms. Two consumers
//! subscribe; the first the broker registers is the active one and the
//! other waits. A consumer's connection may drop (a bounded number of
//! times) while it holds a delivery: the broker requeues it and makes the
//! waiting consumer active, and the dropped one subscribes again and waits.
//!
//! Checked, in every reachable state, besides what every model checks:
//! `single-active`, at most one consumer holds deliveries on a live
//! connection; first deliveries in publish order. When nothing more can
//! happen, every message is confirmed and acked. `handed-over` (both
//! consumers acked something) must be reachable. The consumers are
//! interchangeable, so symmetry reduction applies.

use crate::actors::base_model;
use crate::broker_actor::BrokerActor;
use crate::clients::{Consumer, Producer};
use crate::network::Links;
use crate::properties::{self, BrokerModel, Settings};
use crate::work_queue::declare_durable_with;
use brokerlab_core::{FieldTable, FieldValue, Mutant};
use stateright::Expectation;

/// The queue of the model.
pub const QUEUE: &str = "single";

/// The `single-active-consumer` model's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SingleActiveConsumer {
    /// How many messages the producer publishes.
    pub messages: u8,
    /// How many consumers subscribe.
    pub consumers: u8,
    /// How many times each consumer's connection may drop.
    pub drops_per_consumer: u8,
    /// A deliberately broken broker, or `None` for the real one.
    pub mutant: Option<Mutant>,
}

impl Default for SingleActiveConsumer {
    /// The standard configuration: two messages, two consumers, one drop each.
    fn default() -> SingleActiveConsumer {
        SingleActiveConsumer {
            messages: 2,
            consumers: 2,
            drops_per_consumer: 1,
            mutant: None,
        }
    }
}

impl SingleActiveConsumer {
    /// The actor model: the broker (actor 0), the producer (1), the consumers (2 on).
    #[must_use]
    pub fn into_model(self) -> BrokerModel {
        let mut arguments = FieldTable::new();
        arguments.insert(
            "x-single-active-consumer".to_owned(),
            FieldValue::Bool(true),
        );
        let broker = BrokerActor::new(
            self.mutant,
            vec![declare_durable_with(QUEUE, arguments)],
            1 + usize::from(self.consumers),
        );
        let settings = Settings {
            messages: self.messages,
            prefetch: 1,
            ..Settings::default()
        };
        let producer = Producer::new(QUEUE.into(), self.messages);
        let consumer = Consumer {
            drops: self.drops_per_consumer,
            ..Consumer::new(QUEUE.into(), 1)
        };
        let consumers = vec![consumer; usize::from(self.consumers)];
        base_model(settings, Links::Ordered, broker, producer, consumers)
            .property(
                Expectation::Always,
                "single-active",
                properties::single_active,
            )
            .property(
                Expectation::Always,
                "fifo-without-redelivery",
                properties::fifo_without_redelivery,
            )
            .property(
                Expectation::Always,
                "quiet-means-done",
                properties::quiet_means_done,
            )
            .property(
                Expectation::Sometimes,
                "handed-over",
                properties::handed_over,
            )
    }
}
