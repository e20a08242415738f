//! `topic`: a topic exchange routes by `*` and `#` patterns.
//!
//! The seed document's routing example: queue `logs.errors` takes
//! `error.*`, `logs.critical` takes `*.critical`, and `logs.all` takes `#`.
//! Producers publish with the keys of the table below, which says by hand
//! where each must arrive: `error.critical` reaches all three queues,
//! `audit.db.write` only `#` (a `*` matches exactly one word). As on an
//! event bus, a fourth subscriber, `logs.error-trail`, takes `error.#`:
//! every error event, the bare key `error` included (a `#` matches zero
//! words too). A publish to
//! the direct exchange `logs.unbound`, which has no bindings, reaches no
//! queue at all and must still be confirmed with basic.ack (RabbitMQ confirms
//! an unroutable message once it knows it routes nowhere).

use super::{QueueSpec, Target, Topology};

/// The topic exchange.
pub const EXCHANGE: &str = "logs";
/// A direct exchange with no bindings.
pub const UNBOUND: &str = "logs.unbound";

/// The three queues, their binding keys, and the routing table.
#[must_use]
pub fn topology() -> Topology {
    let mut topology = Topology::default();
    topology.exchange(EXCHANGE, "topic");
    topology.exchange(UNBOUND, "direct");
    for (queue, key) in [
        ("logs.errors", "error.*"),
        ("logs.critical", "*.critical"),
        ("logs.all", "#"),
        ("logs.error-trail", "error.#"),
    ] {
        topology.queue(queue, Default::default(), QueueSpec::default());
        topology.bind(queue, EXCHANGE, key);
        topology.consume_from.push(queue.into());
    }
    topology.targets = vec![
        Target::new(
            EXCHANGE,
            "error.db",
            &["logs.errors", "logs.all", "logs.error-trail"],
        ),
        Target::new(EXCHANGE, "info.critical", &["logs.critical", "logs.all"]),
        Target::new(
            EXCHANGE,
            "error.critical",
            &[
                "logs.errors",
                "logs.critical",
                "logs.all",
                "logs.error-trail",
            ],
        ),
        Target::new(EXCHANGE, "error", &["logs.all", "logs.error-trail"]),
        Target::new(EXCHANGE, "info.web", &["logs.all"]),
        Target::new(EXCHANGE, "audit.db.write", &["logs.all"]),
        Target::new(UNBOUND, "nobody", &[]),
    ];
    topology
}
