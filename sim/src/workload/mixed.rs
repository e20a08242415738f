//! `mixed`: every other workload's topology at once, on one broker.
//!
//! Producers publish round the union of the targets and consumers spread
//! over the union of the queues, so work queues, fanout, topic routing,
//! retries through a dead-letter loop, TTL expiry, priorities and
//! deduplication all share the broker, its log and its crashes. Beside
//! them a stream producer writes keyed records to the topic `events` and
//! two readers in the consumer group `readers` read it, as in
//! `stream-keyed` (see `Workload::clients`): one core, one log for both
//! models of messaging.

use super::{dlq_retry, idempotent, priority, pubsub, topic, ttl, work_queue, Topology};
use crate::plan::WorkloadParams;

/// The union of the other workloads' topologies.
#[must_use]
pub fn topology(params: &WorkloadParams) -> Topology {
    let mut topology = work_queue::topology();
    topology.merge(pubsub::topology());
    topology.merge(topic::topology());
    topology.merge(dlq_retry::topology(params));
    topology.merge(ttl::topology(params));
    topology.merge(priority::topology());
    topology.merge(idempotent::topology());
    topology
}
