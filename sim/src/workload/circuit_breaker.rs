//! `circuit-breaker`: consumers whose downstream fails stop taking work,
//! then take it again.
//!
//! The seed document's circuit breaker. Producers publish persistent
//! payments to the durable queue `payments`; each consumer calls a
//! downstream that fails two calls in five, and nacks a failed payment
//! with requeue. After two failures in a row its breaker opens: it cancels
//! its consumer (`basic.cancel`) first, then nacks with requeue every
//! delivery it still holds, and any that arrive before the broker heard the
//! cancel. The payments wait, ready, in the queue. After a pause the
//! breaker closes and the consumer consumes again. Every confirmed payment
//! must still be consumed (`no-lost-confirmed`), each redelivery flagged,
//! and the queue must hand out its head (`queue-order`).

use super::{Habits, QueueSpec, Target, Topology};

/// The durable queue of payments.
pub const QUEUE: &str = "payments";

/// One durable queue whose consumers have a circuit breaker.
#[must_use]
pub fn topology() -> Topology {
    let mut topology = Topology::default();
    let spec = QueueSpec {
        habits: Habits {
            breaker: true,
            ..Habits::default()
        },
        ..QueueSpec::default()
    };
    topology.queue(QUEUE, Default::default(), spec);
    topology.targets.push(Target::new("", QUEUE, &[QUEUE]));
    topology.consume_from.push(QUEUE.into());
    topology
}
