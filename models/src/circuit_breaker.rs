//! The `circuit-breaker` model: a consumer whose breaker opens hands back
//! what it holds and takes work again later, and nothing is lost.
//!
//! The operator declares the durable queue `payments`. The producer
//! publishes messages 1 to N (persistent, with confirms). One consumer with
//! a prefetch of N holds what it is given; at any point while it holds a
//! delivery its circuit breaker may open (once): it cancels its consumer
//! (`basic.cancel`) first, then nacks with requeue every delivery it holds,
//! and nacks at once whatever reaches it before the broker's cancel-ok.
//! Once the cancel is answered, the breaker closes and the consumer
//! consumes again (the pause is whatever the other actors do meanwhile),
//! and acks what it is given.
//!
//! Checked, in every reachable state, besides what every model checks:
//! first deliveries in publish order; and when nothing more can happen,
//! every message is confirmed and acked (`quiet-means-done`): messages
//! handed back while the breaker was open are all handed out again.
//! `requeued` must be reachable.

use crate::actors::base_model;
use crate::broker_actor::BrokerActor;
use crate::clients::{Consumer, Producer};
use crate::network::Links;
use crate::properties::{self, BrokerModel, Settings};
use crate::work_queue::declare_durable;
use brokerlab_core::Mutant;
use stateright::Expectation;

/// The queue of the model.
pub const QUEUE: &str = "payments";

/// The `circuit-breaker` model's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CircuitBreaker {
    /// How many messages the producer publishes (the consumer's prefetch too).
    pub messages: u8,
    /// A deliberately broken broker, or `None` for the real one.
    pub mutant: Option<Mutant>,
}

impl Default for CircuitBreaker {
    /// The standard configuration: two messages.
    fn default() -> CircuitBreaker {
        CircuitBreaker {
            messages: 2,
            mutant: None,
        }
    }
}

impl CircuitBreaker {
    /// The actor model: the broker (actor 0), the producer (1), the consumer (2).
    #[must_use]
    pub fn into_model(self) -> BrokerModel {
        let broker = BrokerActor::new(self.mutant, vec![declare_durable(QUEUE)], 2);
        let prefetch = u16::from(self.messages);
        let consumer = Consumer {
            breaks: 1,
            ..Consumer::new(QUEUE.into(), prefetch)
        };
        let settings = Settings {
            messages: self.messages,
            prefetch,
            ..Settings::default()
        };
        let producer = Producer::new(QUEUE.into(), self.messages);
        base_model(settings, Links::Ordered, broker, producer, vec![consumer])
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
            .property(Expectation::Sometimes, "requeued", properties::requeued)
    }
}
