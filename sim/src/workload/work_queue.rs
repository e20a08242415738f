//! `work-queue`: competing consumers share the work of one durable queue.
//!
//! Producers publish persistent messages to the durable queue `work` through
//! the default exchange, with publisher confirms, retrying what is not
//! confirmed. Consumers each set a prefetch, consume from `work`, ack most
//! deliveries and hand some back with requeue. RabbitMQ's tutorial 2 is the
//! shape; the faults (dropped links, partitions, crashes) are what make it a
//! test: every confirmed message must still be consumed, redeliveries must be
//! flagged, order must hold per publisher, and prefetch must be respected.

use super::{QueueSpec, Target, Topology};

/// The durable queue every client of the workload uses.
pub const QUEUE: &str = "work";

/// One durable queue, published to through the default exchange.
#[must_use]
pub fn topology() -> Topology {
    let mut topology = Topology::default();
    topology.queue(QUEUE, Default::default(), QueueSpec::default());
    topology.targets.push(Target::new("", QUEUE, &[QUEUE]));
    topology.consume_from.push(QUEUE.into());
    topology
}
