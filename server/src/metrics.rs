//! `/metrics`: a [`Snapshot`] in the Prometheus text format (OpenMetrics),
//! named and labelled as RabbitMQ's Prometheus plugin (`rabbitmq_prometheus`)
//! names them where brokerlab has a counterpart:
//!
//! - the global counters, `rabbitmq_global_messages_*_total`, labelled
//!   `protocol="amqp091"`, and `queue_type="rabbit_classic_queue"` for the
//!   delivery side; dead letters by `queue_type` and `dead_letter_strategy`
//!   (`at_most_once` when the dead-letter exchange took the message,
//!   `disabled` when there was none to take it);
//! - the object counts `rabbitmq_connections`, `rabbitmq_channels`,
//!   `rabbitmq_queues`, `rabbitmq_consumers`;
//! - per queue, labelled `vhost` and `queue`: `rabbitmq_queue_messages`,
//!   `_messages_ready`, `_messages_unacked`, their `_bytes`, and
//!   `rabbitmq_queue_consumers` (RabbitMQ's `/metrics/per-object`; its
//!   plain `/metrics` sums them over the queues by default).
//!
//! A registry is built for each scrape from its snapshot: there is no
//! global registry, so many brokers can run in one process, and a deleted
//! queue's series go with it.

use crate::inspect::Snapshot;
use brokerlab_core::{Counters, DeadLetterCounts, QueueInfo};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// The content type of what [`render`] writes.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Labels as RabbitMQ writes them: name and value.
type Labels = Vec<(&'static str, String)>;

/// A metric's name suffix, its help, and how to read its figure from `T`.
type Reading<T> = (&'static str, &'static str, fn(&T) -> u64);

const PROTOCOL: (&str, &str) = ("protocol", "amqp091");
const QUEUE_TYPE: (&str, &str) = ("queue_type", "rabbit_classic_queue");

/// The snapshot in the Prometheus text format.
#[must_use]
pub fn render(snapshot: &Snapshot) -> String {
    let mut registry = Registry::default();
    register_global(&mut registry, &snapshot.counters, snapshot.consumers.len());
    register_dead_letters(&mut registry, &snapshot.counters);
    register_totals(&mut registry, snapshot);
    register_queues(&mut registry, snapshot);
    let mut text = String::new();
    // Writing into a String cannot fail.
    encode(&mut text, &registry).expect("formatting into a String");
    text
}

fn labels(pairs: &[(&'static str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|&(name, value)| (name, value.to_owned()))
        .collect()
}

/// Registers a counter of one series; `name` is without `_total`, which
/// the encoder adds.
fn counter(registry: &mut Registry, name: &str, help: &str, labels: &Labels, value: u64) {
    let family = Family::<Labels, Counter>::default();
    family.get_or_create(labels).inc_by(value);
    registry.register(name, help, family);
}

fn gauge(registry: &mut Registry, name: &str, help: &str, labels: &Labels, value: u64) {
    let family = Family::<Labels, Gauge>::default();
    family
        .get_or_create(labels)
        .set(i64::try_from(value).unwrap_or(i64::MAX));
    registry.register(name, help, family);
}

fn register_global(registry: &mut Registry, counters: &Counters, consumers: usize) {
    let protocol = labels(&[PROTOCOL]);
    let by_protocol = [
        ("received", "Total number of messages received from publishers", counters.received),
        (
            "received_confirm",
            "Total number of messages received from publishers expecting confirmations",
            counters.received_confirm,
        ),
        ("routed", "Total number of messages routed to queues or streams", counters.routed),
        (
            "unroutable_dropped",
            "Total number of messages published as non-mandatory into an exchange and dropped as unroutable",
            counters.unroutable_dropped,
        ),
        (
            "unroutable_returned",
            "Total number of messages published as mandatory into an exchange and returned to the publisher as unroutable",
            counters.unroutable_returned,
        ),
        ("confirmed", "Total number of messages confirmed to publishers", counters.confirmed),
    ];
    for (name, help, value) in by_protocol {
        let name = format!("rabbitmq_global_messages_{name}");
        counter(registry, &name, help, &protocol, value);
    }
    let consumers = consumers as u64;
    gauge(
        registry,
        "rabbitmq_global_consumers",
        "Current number of consumers",
        &protocol,
        consumers,
    );
    let by_queue_type = [
        ("delivered", "Total number of messages delivered to consumers", counters.delivered()),
        (
            "delivered_consume_manual_ack",
            "Total number of messages delivered to consumers using basic.consume with manual acknowledgment",
            counters.delivered_consume_manual_ack,
        ),
        (
            "delivered_consume_auto_ack",
            "Total number of messages delivered to consumers using basic.consume with automatic acknowledgment",
            counters.delivered_consume_auto_ack,
        ),
        (
            "delivered_get_manual_ack",
            "Total number of messages delivered to consumers using basic.get with manual acknowledgment",
            counters.delivered_get_manual_ack,
        ),
        (
            "delivered_get_auto_ack",
            "Total number of messages delivered to consumers using basic.get with automatic acknowledgment",
            counters.delivered_get_auto_ack,
        ),
        ("get_empty", "Total number of times basic.get operations fetched no message", counters.get_empty),
        ("redelivered", "Total number of messages redelivered to consumers", counters.redelivered),
        ("acknowledged", "Total number of messages acknowledged by consumers", counters.acknowledged),
    ];
    let protocol_queue_type = labels(&[PROTOCOL, QUEUE_TYPE]);
    for (name, help, value) in by_queue_type {
        let name = format!("rabbitmq_global_messages_{name}");
        counter(registry, &name, help, &protocol_queue_type, value);
    }
}

/// One family per reason, with a series per strategy.
fn register_dead_letters(registry: &mut Registry, counters: &Counters) {
    let reasons: [Reading<DeadLetterCounts>; 4] = [
        ("maxlen", "Total number of messages dead-lettered due to overflow drop-head or reject-publish-dlx", |c| c.maxlen),
        ("expired", "Total number of messages dead-lettered due to message TTL exceeded", |c| c.expired),
        ("rejected", "Total number of messages dead-lettered due to basic.reject or basic.nack", |c| c.rejected),
        ("delivery_limit", "Total number of messages dead-lettered due to delivery-limit exceeded", |c| c.delivery_limit),
    ];
    for (reason, help, of) in reasons {
        let family = Family::<Labels, Counter>::default();
        for (strategy, counts) in [
            ("disabled", &counters.dead_lettered_dropped),
            ("at_most_once", &counters.dead_lettered),
        ] {
            let series = labels(&[QUEUE_TYPE, ("dead_letter_strategy", strategy)]);
            family.get_or_create(&series).inc_by(of(counts));
        }
        let name = format!("rabbitmq_global_messages_dead_lettered_{reason}");
        registry.register(name, help, family);
    }
}

fn register_totals(registry: &mut Registry, snapshot: &Snapshot) {
    let none = Labels::new();
    let totals = [
        (
            "rabbitmq_connections",
            "Connections currently open",
            snapshot.connections.len(),
        ),
        (
            "rabbitmq_channels",
            "Channels currently open",
            snapshot.channels.len(),
        ),
        ("rabbitmq_queues", "Queues available", snapshot.queues.len()),
        (
            "rabbitmq_consumers",
            "Consumers currently connected",
            snapshot.consumers.len(),
        ),
    ];
    for (name, help, value) in totals {
        gauge(registry, name, help, &none, value as u64);
    }
}

fn register_queues(registry: &mut Registry, snapshot: &Snapshot) {
    let gauges: [Reading<QueueInfo>; 7] = [
        (
            "messages",
            "Sum of ready and unacknowledged messages - total queue depth",
            |q| q.messages_ready + q.messages_unacknowledged,
        ),
        (
            "messages_ready",
            "Messages ready to be delivered to consumers",
            |q| q.messages_ready,
        ),
        (
            "messages_unacked",
            "Messages delivered to consumers but not yet acknowledged",
            |q| q.messages_unacknowledged,
        ),
        (
            "messages_bytes",
            "Size in bytes of ready and unacknowledged messages",
            |q| q.messages_ready_bytes + q.messages_unacknowledged_bytes,
        ),
        (
            "messages_ready_bytes",
            "Size in bytes of ready messages",
            |q| q.messages_ready_bytes,
        ),
        (
            "messages_unacked_bytes",
            "Size in bytes of all unacknowledged messages",
            |q| q.messages_unacknowledged_bytes,
        ),
        ("consumers", "Consumers on a queue", |q| q.consumers),
    ];
    for (name, help, of) in gauges {
        let family = Family::<Labels, Gauge>::default();
        for queue in &snapshot.queues {
            let series = labels(&[("vhost", &queue.vhost), ("queue", &queue.name)]);
            family
                .get_or_create(&series)
                .set(i64::try_from(of(queue)).unwrap_or(i64::MAX));
        }
        registry.register(format!("rabbitmq_queue_{name}"), help, family);
    }
}
