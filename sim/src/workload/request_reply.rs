//! `request-reply`: requesters publish requests with `reply_to` and
//! `correlation_id`; responders answer each on the named queue.
//!
//! The seed document's RPC pattern. Each requester owns a durable reply
//! queue `replies.<n>` and consumes it on the channel it publishes on; the
//! responders drain `requests`, publish a reply to the request's `reply_to`
//! with its `correlation_id` (persistent, confirmed) and ack the request
//! only once the reply is confirmed. A requester is done when every request
//! it sent is answered; every reply must carry the correlation id of one of
//! its own requests (`reply-correlated`).

use super::{Habits, QueueSpec, Target, Topology};
use crate::plan::WorkloadParams;

/// The queue of requests.
pub const QUEUE: &str = "requests";

/// The reply queue of requester `n`.
#[must_use]
pub fn reply_queue(n: usize) -> String {
    format!("replies.{n}")
}

/// The request queue, drained by responders, and one reply queue per requester.
#[must_use]
pub fn topology(params: &WorkloadParams) -> Topology {
    let mut topology = Topology::default();
    let spec = QueueSpec {
        habits: Habits {
            respond: true,
            ..Habits::default()
        },
        ..QueueSpec::default()
    };
    topology.queue(QUEUE, Default::default(), spec);
    for requester in 0..params.producers {
        topology.queue(
            &reply_queue(requester),
            Default::default(),
            QueueSpec::default(),
        );
    }
    topology.targets.push(Target::new("", QUEUE, &[QUEUE]));
    topology.consume_from.push(QUEUE.into());
    topology.requesters = true;
    topology
}
