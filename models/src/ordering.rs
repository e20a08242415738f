//! The `ordering` model: one consumer, one queue, messages in publish order.
//!
//! RabbitMQ keeps a queue's order: with one consumer taking one message at a
//! time (prefetch 1), messages arrive in the order they were published, and
//! a message given back (nack with requeue, or a dropped connection) returns
//! to its place at the head, so it comes again before anything newer. The
//! producer publishes messages 1 to N with confirms; the consumer acks, or
//! (a bounded number of times) nacks with requeue, and its connection may
//! drop (a bounded number of times) while it holds a delivery.
//!
//! Checked, in every reachable state, besides what every model checks:
//! first deliveries in publish order (`fifo-without-redelivery`), each
//! redelivery flagged, and `oldest-first`: the consumer only ever holds a
//! message when it has acked every older one. When nothing more can happen,
//! every message is confirmed and acked. `requeued` must be reachable.
//!
//! Order is a per-connection promise. Over an unordered network (a
//! parameter, `Links`) the producer's publishes still reach the broker in
//! the order it sent them, because the endpoints sequence each connection's
//! segments as TCP does, so `fifo-without-redelivery` must still hold. But
//! `oldest-first` is expected to fail there, and only it: when the
//! consumer's connection drops, its new connection may subscribe before the
//! broker hears the old one close, and the broker, with the older message
//! still unacked on the old connection, hands the newer one out. Over TCP
//! the two connections are independent, so this is what a client that
//! reconnects quickly sees from RabbitMQ too; the ordered network (one link
//! per pair of actors) hides it.

use crate::actors::base_model;
use crate::broker_actor::BrokerActor;
use crate::clients::{Consumer, Producer};
use crate::network::Links;
use crate::properties::{self, BrokerModel, Settings};
use crate::work_queue::declare_durable;
use brokerlab_core::Mutant;
use stateright::Expectation;

/// The queue of the model.
pub const QUEUE: &str = "ordered";

/// The `ordering` model's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ordering {
    /// How many messages the producer publishes.
    pub messages: u8,
    /// How many deliveries the consumer may nack with requeue.
    pub requeues: u8,
    /// How many times the consumer's connection may drop.
    pub drops: u8,
    /// What the network does to segments in flight (see [`Links`]: the
    /// unordered ones only without crashes).
    pub network: Links,
    /// A deliberately broken broker, or `None` for the real one.
    pub mutant: Option<Mutant>,
}

impl Default for Ordering {
    /// The standard configuration: two messages, one requeue, one drop.
    fn default() -> Ordering {
        Ordering {
            messages: 2,
            requeues: 1,
            drops: 1,
            network: Links::Ordered,
            mutant: None,
        }
    }
}

impl Ordering {
    /// The actor model: the broker (actor 0), the producer (1), the consumer (2).
    #[must_use]
    pub fn into_model(self) -> BrokerModel {
        let broker = BrokerActor::new(self.mutant, vec![declare_durable(QUEUE)], 2);
        let consumer = Consumer {
            requeues: self.requeues,
            drops: self.drops,
            ..Consumer::new(QUEUE.into(), 1)
        };
        let settings = Settings {
            messages: self.messages,
            prefetch: 1,
            ..Settings::default()
        };
        let producer = Producer::new(QUEUE.into(), self.messages);
        base_model(settings, self.network, broker, producer, vec![consumer])
            .property(
                Expectation::Always,
                "fifo-without-redelivery",
                properties::fifo_without_redelivery,
            )
            .property(
                Expectation::Always,
                "oldest-first",
                properties::oldest_first,
            )
            .property(
                Expectation::Always,
                "quiet-means-done",
                properties::quiet_means_done,
            )
            .property(Expectation::Sometimes, "requeued", properties::requeued)
    }
}
