//! Step-by-step walkthroughs of the seed document's patterns, driven through
//! the core and narrated as they happen.
//!
//! Each walkthrough is a short story told with real inputs: every output of
//! the core is printed under the step that caused it, and the clients in the
//! story act on what was actually delivered (a server reads `reply_to`, a
//! worker reads `x-death`), so a core that misbehaves makes a walkthrough
//! fail instead of telling a wrong story.
//!
//! The seed document's consumer groups (Kafka-style partitions with
//! offsets) have no walkthrough here yet: the Kafka clients in the server's
//! tests show them.

mod narrator;
mod operating;
mod queues;
mod reliability;
mod routing;
mod sagas;

pub use operating::{circuit_breaker, graceful_shutdown, metrics};
pub use queues::{back_pressure, prefetch, priority, ttl, work_queue};
pub use reliability::{dlq_retry, durability, idempotency};
pub use routing::{event_bus, ordering_by_key, pubsub, request_reply, routing};
pub use sagas::saga;

use std::io::{self, Write};

/// Every walkthrough's command-line name, in teaching order.
pub const PATTERNS: [&str; 17] = [
    "work-queue",
    "pubsub",
    "routing",
    "request-reply",
    "dlq-retry",
    "ttl",
    "priority",
    "ordering-by-key",
    "idempotency",
    "prefetch",
    "event-bus",
    "circuit-breaker",
    "metrics",
    "graceful-shutdown",
    "back-pressure",
    "saga",
    "durability",
];

/// Runs the walkthrough named `pattern` (one of [`PATTERNS`]); `None` when there is none.
pub fn run(pattern: &str, out: &mut impl Write) -> Option<io::Result<()>> {
    let result = match pattern {
        "work-queue" => work_queue(out),
        "pubsub" => pubsub(out),
        "routing" => routing(out),
        "request-reply" => request_reply(out),
        "dlq-retry" => dlq_retry(out),
        "ttl" => ttl(out),
        "priority" => priority(out),
        "ordering-by-key" => ordering_by_key(out),
        "idempotency" => idempotency(out),
        "prefetch" => prefetch(out),
        "event-bus" => event_bus(out),
        "circuit-breaker" => circuit_breaker(out),
        "metrics" => metrics(out),
        "graceful-shutdown" => graceful_shutdown(out),
        "back-pressure" => back_pressure(out),
        "saga" => saga(out),
        "durability" => durability(out),
        _ => return None,
    };
    Some(result)
}
