//! `pubsub`: a fanout exchange copies every message to each subscriber.
//!
//! The seed document's publish/subscribe pattern: producers publish to the
//! fanout exchange `events`; three subscriber queues are bound to it, and
//! every confirmed message must be consumed from each of them. The seed's
//! subscribers use exclusive server-named queues, which die with their
//! connection and take their messages along (RabbitMQ does the same); here
//! each subscriber has a durable named queue so that a dropped connection
//! loses nothing, which is what the checkers can then demand.

use super::{QueueSpec, Target, Topology};

/// The fanout exchange.
pub const EXCHANGE: &str = "events";
/// The subscribers' queues.
pub const SUBSCRIBERS: [&str; 3] = ["events.audit", "events.billing", "events.search"];

/// A fanout exchange with three durable subscriber queues.
#[must_use]
pub fn topology() -> Topology {
    let mut topology = Topology::default();
    topology.exchange(EXCHANGE, "fanout");
    for queue in SUBSCRIBERS {
        topology.queue(queue, Default::default(), QueueSpec::default());
        topology.bind(queue, EXCHANGE, "");
        topology.consume_from.push(queue.into());
    }
    topology
        .targets
        .push(Target::new(EXCHANGE, "", &SUBSCRIBERS));
    topology
}
