//! The `work-queue` model: one producer, two competing consumers, one durable
//! queue, N persistent messages.
//!
//! The protocol is RabbitMQ's work queue. The operator declares the durable
//! queue `work`. The producer connects, selects publisher confirms and
//! publishes messages 1 to N (persistent, through the default exchange); the
//! broker confirms each once its `Enqueued` record is synced. Each consumer
//! connects, sets a prefetch and subscribes; the broker hands deliveries out
//! round-robin within the prefetch. A consumer settles every delivery by a
//! choice the checker explores both ways: ack, or (a bounded number of times)
//! nack with requeue. A consumer's connection may also drop (a bounded number
//! of times) while it holds deliveries: the broker requeues them and the
//! consumer reconnects and subscribes again.
//!
//! Everything the broker does is the production core's: the model only
//! carries its replies and records. The network is a parameter (`Links`):
//! by default it keeps each link in order (a TCP connection), and every
//! property holds under the unordered and duplicating networks as well
//! (the endpoints sequence each connection's segments, as TCP does); a lossy
//! one fails `quiet-means-done`, and with two messages `no-lost-confirmed`
//! (confirms are numbered by position, see `network`). The disk syncs
//! whenever the checker says so.
//!
//! Checked, in every reachable state: no phantom delivery, every
//! redelivery flagged, first deliveries in publish order, prefetch respected,
//! each unacked delivery owned by one live connection, no confirmed message
//! lost; and when nothing more can happen, every message confirmed and acked.
//! `delivered` and `requeued` must each be reachable, so a model that does
//! nothing fails. Consumers are interchangeable, so the checker may explore
//! one state per class of consumer renamings (`symmetry`, with DFS).

use crate::actors::base_model;
use crate::broker_actor::BrokerActor;
use crate::clients::{Consumer, Producer};
use crate::network::Links;
use crate::properties::{self, BrokerModel, Settings};
use brokerlab_core::Name;
use brokerlab_core::{Command, FieldTable, Mutant};
use stateright::Expectation;

/// The queue every client of the model uses.
pub const QUEUE: &str = "work";

/// The `work-queue` model's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkQueue {
    /// How many messages the producer publishes.
    pub messages: u8,
    /// How many consumers compete for them.
    pub consumers: u8,
    /// Each consumer's prefetch count.
    pub prefetch: u16,
    /// How many deliveries each consumer may nack with requeue.
    pub requeues_per_consumer: u8,
    /// How many times each consumer's connection may drop.
    pub drops_per_consumer: u8,
    /// What the network does to segments in flight.
    pub network: Links,
    /// A deliberately broken broker, or `None` for the real one.
    pub mutant: Option<Mutant>,
}

impl Default for WorkQueue {
    /// The standard configuration: each consumer's connection may drop once
    /// while it holds a delivery. 148,777 unique states (74,583 with
    /// symmetry), a few seconds in release; allowing a nack with requeue as
    /// well multiplies that many times over.
    fn default() -> WorkQueue {
        WorkQueue {
            messages: 2,
            consumers: 2,
            prefetch: 1,
            requeues_per_consumer: 0,
            drops_per_consumer: 1,
            network: Links::Ordered,
            mutant: None,
        }
    }
}

impl WorkQueue {
    /// The actor model: the broker (actor 0), the producer (1), the consumers (2 on).
    #[must_use]
    pub fn into_model(self) -> BrokerModel {
        let queue: Name = QUEUE.into();
        let broker = BrokerActor::new(
            self.mutant,
            vec![declare_durable(QUEUE)],
            1 + usize::from(self.consumers),
        );
        let producer = Producer::new(queue.clone(), self.messages);
        let consumer = Consumer {
            requeues: self.requeues_per_consumer,
            drops: self.drops_per_consumer,
            ..Consumer::new(queue, self.prefetch)
        };
        let settings = Settings {
            messages: self.messages,
            prefetch: self.prefetch,
            ..Settings::default()
        };
        let consumers = vec![consumer; usize::from(self.consumers)];
        base_model(settings, self.network, broker, producer, consumers)
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

/// queue.declare of a durable queue, as the operator provisions it.
#[must_use]
pub fn declare_durable(queue: &str) -> Command {
    declare_durable_with(queue, FieldTable::new())
}

/// queue.declare of a durable queue with arguments (`x-message-ttl`, ...).
#[must_use]
pub fn declare_durable_with(queue: &str, arguments: FieldTable) -> Command {
    Command::QueueDeclare {
        queue: queue.to_owned(),
        passive: false,
        durable: true,
        exclusive: false,
        auto_delete: false,
        arguments,
    }
}
