//! `no-expired-delivery`: no message is delivered after its TTL ran out.
//!
//! Judged on the broker's clock (which may drift from the simulation's):
//! a message enqueued at `t` in a queue with `x-message-ttl` `q`, carrying a
//! per-message `expiration` `e`, must not be delivered from that queue after
//! `t + min(q, e)`. A requeue keeps the original enqueue time, as in
//! RabbitMQ; a dead-lettered copy enters its next queue afresh and without
//! its expiration (RabbitMQ strips it). A crash does not reset anything: the
//! broker recovers each message's expiry time from its log.

use super::attempts::Attempts;
use super::Violation;
use crate::history::{Entry, History};
use crate::plan::{Millis, MS};
use crate::workload::Topology;
use brokerlab_core::Name;
use brokerlab_core::{Event, MessageId};
use std::collections::{BTreeMap, BTreeSet};

/// The checker's name.
pub const NAME: &str = "no-expired-delivery";

/// The first delivery of an expired message, if any.
#[must_use]
pub fn check(history: &History, topology: &Topology) -> Option<Violation> {
    let mut attempts = Attempts::default();
    // Per (message, queue): the broker's clock when it was enqueued there.
    let mut enqueued: BTreeMap<(MessageId, Name), u64> = BTreeMap::new();
    let mut dead_lettered: BTreeSet<MessageId> = BTreeSet::new();
    for timed in history.entries() {
        attempts.observe(&timed.entry);
        let Entry::Broker { clock_ns, event } = &timed.entry else {
            continue;
        };
        match event {
            Event::Enqueued { message, queue } => {
                enqueued.insert((*message, queue.clone()), *clock_ns);
            }
            Event::DeadLettered { message, .. } => {
                dead_lettered.insert(*message);
            }
            Event::Delivered { message, queue, .. } => {
                let Some(since_ns) = enqueued.get(&(*message, queue.clone())) else {
                    continue;
                };
                let queue_ttl = topology.queues.get(queue).and_then(|spec| spec.ttl_ms);
                let message_ttl = attempts
                    .of(*message)
                    .and_then(|attempt| attempts.published(attempt))
                    .and_then(|published| published.expiration_ms)
                    .filter(|_| !dead_lettered.contains(message));
                let Some(ttl_ms) = queue_ttl.into_iter().chain(message_ttl).min() else {
                    continue;
                };
                let expires_ns = since_ns + ttl_ms * MS;
                if *clock_ns > expires_ns {
                    return Some(Violation::safety(
                        NAME,
                        timed.at_ns,
                        format!(
                            "queue {queue} delivered message {} at {} on the broker's clock; \
                             it was enqueued at {} with a TTL of {ttl_ms}ms",
                            message.0,
                            Millis(*clock_ns),
                            Millis(*since_ns)
                        ),
                    ));
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Options;
    use crate::workload::{ttl, Workload};
    use brokerlab_core::{ChannelId, ConnectionId};

    fn at(clock_ns: u64, event: Event) -> Entry {
        Entry::Broker { clock_ns, event }
    }

    fn history(delivered_at_ns: u64) -> (History, Topology) {
        let options = Options::swarm(1, Workload::Ttl);
        let topology = Workload::Ttl.topology(&options.workload);
        let message = MessageId(1);
        let queue: Name = ttl::QUEUE.into();
        let history = History::from_entries([
            at(
                0,
                Event::Enqueued {
                    message,
                    queue: queue.clone(),
                },
            ),
            at(
                delivered_at_ns,
                Event::Delivered {
                    message,
                    queue,
                    conn: ConnectionId(2),
                    channel: ChannelId(1),
                    delivery_tag: 1,
                    redelivered: false,
                },
            ),
        ]);
        (history, topology)
    }

    #[test]
    fn a_delivery_within_the_queue_ttl_passes() {
        let (history, topology) = history(MS);
        assert_eq!(check(&history, &topology), None);
    }

    #[test]
    fn a_delivery_after_the_queue_ttl_fails() {
        let (history, topology) = history(61 * MS);
        let violation = check(&history, &topology).expect("expired at most 60ms in");
        assert_eq!(violation.checker, NAME);
    }
}
