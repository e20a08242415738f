//! `fifo-group-order`: within a message group of an SQS FIFO queue, no
//! message is received while an earlier-received one of the group is still
//! in flight, and the first receives of a group's messages follow send
//! order (their sequence numbers rise).
//!
//! A FIFO queue hands out a group's head alone: while it is in flight the
//! group is blocked, and when its visibility runs out it is the head again.
//! So a message of a group is received only once every earlier message of
//! the group the consumers received was deleted, which takes a delete sent
//! after that message was first received (a batch may hold several
//! messages of one group, in order). Judged per life of the broker: a crash
//! forgets the messages in flight and may bring deleted ones back.

use super::Violation;
use crate::history::{Entry, History};
use crate::workload::Topology;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The checker's name.
pub const NAME: &str = "fifo-group-order";

/// A group's messages received in this life of the broker.
#[derive(Clone, Debug, Default)]
struct Group {
    /// By sequence number: where the message was first received.
    first_received: BTreeMap<u64, usize>,
    /// The highest sequence number received.
    highest: Option<u64>,
}

/// The first receive out of group order.
#[must_use]
pub fn check(history: &History, topology: &Topology) -> Option<Violation> {
    let setup = topology.sqs.as_ref()?;
    let mut groups: BTreeMap<Arc<str>, Group> = BTreeMap::new();
    // Per message id of this life: its group and sequence number.
    let mut known: BTreeMap<Arc<str>, (Arc<str>, u64)> = BTreeMap::new();
    // Per (group, sequence number): where deletes of it were sent.
    let mut deletes: BTreeMap<(Arc<str>, u64), Vec<usize>> = BTreeMap::new();
    for (index, timed) in history.entries().iter().enumerate() {
        match &timed.entry {
            Entry::Crash => {
                groups.clear();
                known.clear();
                deletes.clear();
            }
            Entry::SqsDelete { queue, entries, .. } if &**queue == setup.fifo => {
                for handle in entries {
                    if let Some(message) = known.get(&handle.message_id) {
                        deletes.entry(message.clone()).or_default().push(index);
                    }
                }
            }
            Entry::SqsReceived {
                consumer,
                queue,
                messages,
                ..
            } if &**queue == setup.fifo => {
                for (position, seen) in messages.iter().enumerate() {
                    let (Some(group_id), Some(seq)) = (&seen.group, seen.sequence) else {
                        continue;
                    };
                    let in_batch = |earlier: u64| {
                        messages[..position].iter().any(|other| {
                            other.group.as_ref() == Some(group_id)
                                && other.sequence == Some(earlier)
                        })
                    };
                    let group = groups.entry(group_id.clone()).or_default();
                    let first = !group.first_received.contains_key(&seq);
                    if first && group.highest.is_some_and(|highest| highest > seq) {
                        return Some(Violation::safety(
                            NAME,
                            timed.at_ns,
                            format!(
                                "consumer {consumer} received message {seq} of group {group_id} \
                                 for the first time after message {} of the group: out of send order",
                                group.highest.unwrap_or_default()
                            ),
                        ));
                    }
                    for (&earlier, &first_at) in group.first_received.range(..seq) {
                        if in_batch(earlier) {
                            continue;
                        }
                        let deleted = deletes
                            .get(&(group_id.clone(), earlier))
                            .is_some_and(|sent| sent.iter().any(|&at| at > first_at));
                        if !deleted {
                            return Some(Violation::safety(
                                NAME,
                                timed.at_ns,
                                format!(
                                    "consumer {consumer} received message {seq} of group \
                                     {group_id} while message {earlier}, received at {}, was \
                                     still in flight (no delete of it was sent since)",
                                    crate::plan::Millis(history.entries()[first_at].at_ns)
                                ),
                            ));
                        }
                    }
                    group.first_received.entry(seq).or_insert(index);
                    group.highest = Some(group.highest.map_or(seq, |highest| highest.max(seq)));
                    known.insert(seen.message_id.clone(), (group_id.clone(), seq));
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::sqs::fixtures::*;
    use super::*;

    fn run(entries: Vec<Entry>) -> Option<Violation> {
        check(&History::from_entries(entries), &topology())
    }

    #[test]
    fn a_group_received_one_at_a_time_in_order_passes() {
        let (_, _, fifo) = QUEUES;
        let history = vec![
            receive(0, fifo, 1),
            received(0, fifo, 1, vec![seen(fifo, 1, "h1", 1)]),
            // Its visibility ran out: received again, then deleted.
            receive(1, fifo, 1),
            received(1, fifo, 1, vec![seen(fifo, 1, "h2", 2)]),
            delete(1, fifo, 2, 1, "h2"),
            receive(0, fifo, 2),
            received(
                0,
                fifo,
                2,
                vec![seen(fifo, 3, "h3", 1), seen(fifo, 5, "h4", 1)],
            ),
            // A crash brings message 3 back.
            Entry::Crash,
            receive(0, fifo, 3),
            received(0, fifo, 3, vec![seen(fifo, 3, "h5", 1)]),
        ];
        assert_eq!(run(history), None);
    }

    #[test]
    fn a_second_message_of_a_group_in_flight_fails() {
        let (_, _, fifo) = QUEUES;
        let history = vec![
            receive(0, fifo, 1),
            received(0, fifo, 1, vec![seen(fifo, 1, "h1", 1)]),
            receive(1, fifo, 1),
            received(1, fifo, 1, vec![seen(fifo, 3, "h2", 1)]),
            delete(0, fifo, 2, 1, "h1"),
        ];
        let violation = run(history).expect("two in flight");
        assert!(
            violation.detail.contains("still in flight"),
            "{}",
            violation.detail
        );
    }

    #[test]
    fn a_first_receive_out_of_send_order_fails() {
        let (_, _, fifo) = QUEUES;
        let history = vec![
            receive(0, fifo, 1),
            received(0, fifo, 1, vec![seen(fifo, 3, "h1", 1)]),
            delete(0, fifo, 2, 3, "h1"),
            receive(0, fifo, 3),
            received(0, fifo, 3, vec![seen(fifo, 1, "h2", 1)]),
        ];
        let violation = run(history).expect("out of order");
        assert!(
            violation.detail.contains("send order"),
            "{}",
            violation.detail
        );
    }
}
