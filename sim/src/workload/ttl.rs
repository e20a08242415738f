//! `ttl`: messages that outlive their TTL are dead-lettered, never delivered.
//!
//! The queue `ttl.work` has an `x-message-ttl` and dead-letters expired
//! messages through the fanout exchange `ttl.expired` into `ttl.dead`;
//! every other message also carries a shorter per-message `expiration`.
//! Slow consumers drain `ttl.work`, others drain `ttl.dead`. No delivery may
//! come after its message's TTL ran out (on the broker's clock), and every
//! confirmed message must be consumed from one queue or the other.

use super::{arguments, text, QueueSpec, Target, Topology};
use crate::plan::WorkloadParams;
use brokerlab_core::FieldValue;

/// The queue with a TTL.
pub const QUEUE: &str = "ttl.work";
/// The exchange expired messages go to.
pub const EXPIRED_EXCHANGE: &str = "ttl.expired";
/// Where expired messages end up.
pub const DEAD_QUEUE: &str = "ttl.dead";

/// A TTL queue with a dead-letter exchange and queue.
#[must_use]
pub fn topology(params: &WorkloadParams) -> Topology {
    let mut topology = Topology::default();
    topology.exchange(EXPIRED_EXCHANGE, "fanout");
    let ttl_ms = params.ttl_ms;
    topology.queue(
        QUEUE,
        arguments(&[
            ("x-message-ttl", FieldValue::I64(ttl_ms as i64)),
            ("x-dead-letter-exchange", text(EXPIRED_EXCHANGE)),
        ]),
        QueueSpec {
            ttl_ms: Some(ttl_ms),
            dead_letters_to: vec![DEAD_QUEUE.into()],
            ..QueueSpec::default()
        },
    );
    topology.queue(DEAD_QUEUE, Default::default(), QueueSpec::default());
    topology.bind(DEAD_QUEUE, EXPIRED_EXCHANGE, "");
    let target = Target::new("", QUEUE, &[QUEUE]).with_expiration_ms(ttl_ms / 2);
    topology.targets.push(target);
    topology.consume_from.push(QUEUE.into());
    topology.consume_from.push(DEAD_QUEUE.into());
    topology
}
