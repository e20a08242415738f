//! `dlq-retry`: rejected messages wait in a TTL queue and come back, until a
//! retry limit read from `x-death`.
//!
//! The seed document's retry pattern. The work queue `tasks` dead-letters to
//! the fanout exchange `tasks.retry`, bound to the queue `tasks.wait`, which
//! has a message TTL and dead-letters back to `tasks` through the default
//! exchange. Consumers reject some deliveries without requeue (a failure);
//! the message waits out the TTL and returns. A consumer that sees a message
//! rejected [`RETRIES`] times (the `x-death` count for `tasks`, `rejected`)
//! gives up on it and acks it. Nobody consumes `tasks.wait`: every copy must
//! come back by expiry, with its history in `x-death`.

use super::{arguments, text, Habits, QueueSpec, Target, Topology};
use crate::plan::WorkloadParams;
use brokerlab_core::FieldValue;

/// The work queue.
pub const QUEUE: &str = "tasks";
/// The exchange rejected tasks go to.
pub const RETRY_EXCHANGE: &str = "tasks.retry";
/// Where rejected tasks wait out their delay.
pub const WAIT_QUEUE: &str = "tasks.wait";
/// How often a task may be rejected before the consumer gives up.
pub const RETRIES: u64 = 3;

/// The work queue, the retry exchange and the waiting queue.
#[must_use]
pub fn topology(params: &WorkloadParams) -> Topology {
    let mut topology = Topology::default();
    topology.exchange(RETRY_EXCHANGE, "fanout");
    let habits = Habits {
        discard_per_mille: 300,
        give_up_after: Some(RETRIES),
        ..Habits::default()
    };
    topology.queue(
        QUEUE,
        arguments(&[("x-dead-letter-exchange", text(RETRY_EXCHANGE))]),
        QueueSpec {
            dead_letters_to: vec![WAIT_QUEUE.into()],
            habits,
            ..QueueSpec::default()
        },
    );
    let ttl_ms = params.ttl_ms;
    topology.queue(
        WAIT_QUEUE,
        arguments(&[
            ("x-message-ttl", FieldValue::I64(ttl_ms as i64)),
            ("x-dead-letter-exchange", text("")),
            ("x-dead-letter-routing-key", text(QUEUE)),
        ]),
        QueueSpec {
            ttl_ms: Some(ttl_ms),
            dead_letters_to: vec![QUEUE.into()],
            ..QueueSpec::default()
        },
    );
    topology.bind(WAIT_QUEUE, RETRY_EXCHANGE, "");
    topology.targets.push(Target::new("", QUEUE, &[QUEUE]));
    topology.consume_from.push(QUEUE.into());
    topology
}
