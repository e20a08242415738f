//! `queue-order`: a queue hands out the message at its head, and a requeued
//! message goes back to the place it had.
//!
//! Judged from the broker's own events, per queue: `Enqueued` puts a
//! message at the tail of the ready messages, `Delivered` must take the
//! head (the oldest ready message; in a priority queue, the oldest of the
//! highest priority ready), `Requeued` puts it back where it was, and
//! `Acked`, `Expired`, `DeadLettered` and `Dropped` take it away. A message
//! delivered while it is not ready (already out with a consumer) is handed
//! to two owners at once. A crash forgets everything: what the broker
//! recovers is not in the history, so only messages enqueued since the last
//! restart are judged.

use super::attempts::Attempts;
use super::Violation;
use crate::history::{Entry, History};
use crate::workload::Topology;
use brokerlab_core::Name;
use brokerlab_core::{Event, MessageId};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

/// The checker's name.
pub const NAME: &str = "queue-order";

/// Where a message stands in its queue: priority first, then arrival.
type Rank = (Reverse<u8>, u64);

#[derive(Default)]
struct Queue {
    ready: BTreeSet<(Rank, MessageId)>,
    rank: BTreeMap<MessageId, Rank>,
}

/// The first delivery that skips the head of its queue, if any.
#[must_use]
pub fn check(history: &History, topology: &Topology) -> Option<Violation> {
    let mut attempts = Attempts::default();
    let mut queues: BTreeMap<Name, Queue> = BTreeMap::new();
    let mut arrivals = 0_u64;
    for timed in history.entries() {
        attempts.observe(&timed.entry);
        let event = match &timed.entry {
            Entry::Crash => {
                queues.clear();
                continue;
            }
            Entry::Broker { event, .. } => event,
            _ => continue,
        };
        match event {
            Event::Enqueued { message, queue } => {
                arrivals += 1;
                let prioritised = topology
                    .queues
                    .get(queue)
                    .is_some_and(|spec| spec.priorities);
                let priority = attempts
                    .of(*message)
                    .and_then(|attempt| attempts.published(attempt))
                    .and_then(|published| published.priority)
                    .filter(|_| prioritised)
                    .unwrap_or(0);
                let rank = (Reverse(priority), arrivals);
                let state = queues.entry(queue.clone()).or_default();
                state.rank.insert(*message, rank);
                state.ready.insert((rank, *message));
            }
            Event::Delivered {
                message,
                queue,
                conn,
                ..
            } => {
                let Some(state) = queues.get_mut(queue) else {
                    continue;
                };
                let Some(rank) = state.rank.get(message).copied() else {
                    continue;
                };
                let head = state.ready.first().copied();
                if head == Some((rank, *message)) {
                    state.ready.remove(&(rank, *message));
                    continue;
                }
                let detail = match head {
                    _ if !state.ready.contains(&(rank, *message)) => format!(
                        "queue {queue} delivered message {} to connection {} while it was \
                         already out with a consumer",
                        message.0, conn.0
                    ),
                    Some((_, first)) => format!(
                        "queue {queue} delivered message {} to connection {} while message {} \
                         was ahead of it",
                        message.0, conn.0, first.0
                    ),
                    None => unreachable!("the message is ready, so the queue is not empty"),
                };
                return Some(Violation::safety(NAME, timed.at_ns, detail));
            }
            Event::Requeued { message, queue } => {
                if let Some(state) = queues.get_mut(queue) {
                    if let Some(rank) = state.rank.get(message).copied() {
                        state.ready.insert((rank, *message));
                    }
                }
            }
            Event::Acked { message, queue }
            | Event::Expired { message, queue }
            | Event::DeadLettered { message, queue, .. }
            | Event::Dropped {
                message,
                queue: Some(queue),
                ..
            } => {
                if let Some(state) = queues.get_mut(queue) {
                    if let Some(rank) = state.rank.remove(message) {
                        state.ready.remove(&(rank, *message));
                    }
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
    use crate::check::fixtures::*;
    use brokerlab_core::{ChannelId, ConnectionId};

    fn enqueued(id: u64) -> Entry {
        broker(Event::Enqueued {
            message: MessageId(id),
            queue: QUEUE.into(),
        })
    }

    fn delivered(id: u64) -> Entry {
        broker(Event::Delivered {
            message: MessageId(id),
            queue: QUEUE.into(),
            conn: ConnectionId(2),
            channel: ChannelId(1),
            delivery_tag: id,
            redelivered: false,
        })
    }

    fn requeued(id: u64) -> Entry {
        broker(Event::Requeued {
            message: MessageId(id),
            queue: QUEUE.into(),
        })
    }

    #[test]
    fn a_requeued_message_is_delivered_before_younger_ones() {
        let history = History::from_entries([
            enqueued(1),
            enqueued(2),
            delivered(1),
            requeued(1),
            delivered(1),
            delivered(2),
        ]);
        assert_eq!(check(&history, &topology()), None);
    }

    #[test]
    fn a_requeued_message_overtaken_by_a_younger_one_fails() {
        let history = History::from_entries([
            enqueued(1),
            enqueued(2),
            delivered(1),
            requeued(1),
            delivered(2),
        ]);
        let violation = check(&history, &topology()).expect("2 overtook 1");
        assert_eq!(violation.checker, NAME);
        assert!(violation.detail.contains("was ahead"), "{violation}");
    }

    #[test]
    fn a_message_out_with_a_consumer_delivered_again_fails() {
        let history = History::from_entries([enqueued(1), delivered(1), delivered(1)]);
        let violation = check(&history, &topology()).expect("two owners");
        assert!(violation.detail.contains("already out"), "{violation}");
    }

    #[test]
    fn a_crash_forgets_what_the_broker_recovers() {
        let history = History::from_entries([
            enqueued(1),
            enqueued(2),
            Entry::Crash,
            delivered(2),
            delivered(1),
        ]);
        assert_eq!(check(&history, &topology()), None);
    }
}
