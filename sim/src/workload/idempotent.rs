//! `idempotent-consumer`: duplicates arrive, and consumers that dedupe by
//! message id apply each effect once.
//!
//! Producers retry what was not confirmed, so a message may be published
//! twice; connections drop after a delivery and before its ack, so a message
//! may be delivered twice. The consumers of `orders` keep the ids they have
//! processed in a store shared by all of them (the database of the seed
//! document's pattern) and skip what it already holds, so every confirmed
//! order takes effect exactly once.

use super::{Habits, QueueSpec, Target, Topology};

/// The queue of orders.
pub const QUEUE: &str = "orders";

/// One queue of orders, drained by deduplicating consumers.
#[must_use]
pub fn topology() -> Topology {
    let mut topology = Topology::default();
    let spec = QueueSpec {
        habits: Habits {
            idempotent: true,
            ..Habits::default()
        },
        ..QueueSpec::default()
    };
    topology.queue(QUEUE, Default::default(), spec);
    topology.targets.push(Target::new("", QUEUE, &[QUEUE]));
    topology.consume_from.push(QUEUE.into());
    topology
}
