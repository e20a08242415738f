//! `priority`: a priority queue delivers higher priorities first.
//!
//! The queue `jobs` is declared with `x-max-priority` 5 and producers set
//! priorities 0 to 5 in turn. Within one priority, messages of one publisher
//! channel still arrive in publish order; across priorities, a consumer with
//! room gets the highest priority that is ready.

use super::{arguments, QueueSpec, Target, Topology};
use brokerlab_core::FieldValue;

/// The priority queue.
pub const QUEUE: &str = "jobs";
/// Its highest priority.
pub const MAX_PRIORITY: u8 = 5;

/// One priority queue.
#[must_use]
pub fn topology() -> Topology {
    let mut topology = Topology::default();
    topology.queue(
        QUEUE,
        arguments(&[("x-max-priority", FieldValue::U8(MAX_PRIORITY))]),
        QueueSpec {
            priorities: true,
            ..QueueSpec::default()
        },
    );
    let target = Target::new("", QUEUE, &[QUEUE]).with_priorities(MAX_PRIORITY);
    topology.targets.push(target);
    topology.consume_from.push(QUEUE.into());
    topology
}
