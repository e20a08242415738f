//! `work-queue`: competing consumers share the work of one durable queue.
//!
//! Producers publish persistent messages to the durable queue `work` through
//! the default exchange, with publisher confirms, retrying what is not
//! confirmed. Consumers each set a prefetch, consume from `work`, ack most
//! deliveries and hand some back with requeue. RabbitMQ's tutorial 2 is the
//! shape; the faults (dropped links, partitions, crashes) are what make it a
//! test: every confirmed message must still be consumed, redeliveries must be
//! flagged, order must hold per publisher, and prefetch must be respected.

use crate::client::{Client, Consumer, ConsumerSpec, Producer, ProducerSpec};
use crate::plan::WorkloadParams;
use std::sync::Arc;

/// The durable queue every client of the workload uses.
pub const QUEUE: &str = "work";

/// The producers and consumers of a work-queue run.
#[must_use]
pub fn clients(params: &WorkloadParams) -> Vec<Client> {
    let queue: Arc<str> = QUEUE.into();
    let producers = (0..params.producers).map(|id| {
        Client::Producer(Producer::new(ProducerSpec {
            id,
            queue: queue.clone(),
            messages: params.messages_per_producer,
            window: params.publish_window,
            gap: params.publish_gap,
            confirm_timeout_ns: params.confirm_timeout_ns,
        }))
    });
    let consumers = (0..params.consumers).map(|id| {
        Client::Consumer(Consumer::new(ConsumerSpec {
            id,
            queue: queue.clone(),
            prefetch: params.prefetch,
            work: params.work,
            requeue_per_mille: params.requeue_per_mille,
        }))
    });
    producers.chain(consumers).collect()
}
