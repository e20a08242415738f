//! `dedup-window`: two acknowledged sends to an SQS FIFO queue with one
//! `MessageDeduplicationId`, the second within the 5-minute window of the
//! first, put one message in the queue: both are answered with the same
//! message id.
//!
//! The window is judged with a margin (the second answer within
//! [`WINDOW_JUDGED_NS`] of simulated time after the first, as the broker's
//! clock may run ahead of the simulation's), across the broker's crashes:
//! the core logs each deduplication id with its message, so an
//! acknowledged send's id survives a restart.

use super::Violation;
use crate::history::{Entry, History};
use crate::plan::MS;
use crate::workload::Topology;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The checker's name.
pub const NAME: &str = "dedup-window";

/// How long after a first acknowledged send a second one is judged: well
/// inside the 5-minute window, whatever drift and jumps the broker's clock had.
pub const WINDOW_JUDGED_NS: u64 = 200_000 * MS;

/// The first deduplication id acknowledged as two messages.
#[must_use]
pub fn check(history: &History, topology: &Topology) -> Option<Violation> {
    let setup = topology.sqs.as_ref()?;
    let mut sends: BTreeMap<(brokerlab_core::ConnectionId, u64), Vec<Option<Arc<str>>>> =
        BTreeMap::new();
    // Per deduplication id: the first acknowledged message id, and when.
    let mut first: BTreeMap<Arc<str>, (Arc<str>, u64)> = BTreeMap::new();
    for timed in history.entries() {
        match &timed.entry {
            Entry::SqsSend {
                conn,
                request,
                queue,
                entries,
                ..
            } if &**queue == setup.fifo => {
                let dedups = entries.iter().map(|entry| entry.dedup.clone()).collect();
                sends.insert((*conn, *request), dedups);
            }
            Entry::SqsSent {
                conn,
                request,
                queue,
                results,
                ..
            } if &**queue == setup.fifo => {
                let Some(dedups) = sends.get(&(*conn, *request)) else {
                    continue;
                };
                for (position, (body, id)) in results.iter().enumerate() {
                    let (Some(id), Some(Some(dedup))) = (id, dedups.get(position)) else {
                        continue;
                    };
                    let fresh = (id.message_id.clone(), timed.at_ns);
                    match first.get(dedup) {
                        Some((first_id, at_ns)) if timed.at_ns - at_ns <= WINDOW_JUDGED_NS => {
                            if *first_id != id.message_id {
                                return Some(Violation::safety(
                                    NAME,
                                    timed.at_ns,
                                    format!(
                                        "m{}:{} with deduplication id {dedup} was acknowledged \
                                         as {}, though a send with that id was acknowledged as \
                                         {first_id} at {}: two messages within the window",
                                        body.0,
                                        body.1,
                                        id.message_id,
                                        crate::plan::Millis(*at_ns)
                                    ),
                                ));
                            }
                        }
                        _ => {
                            first.insert(dedup.clone(), fresh);
                        }
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
    use super::super::sqs::fixtures::*;
    use super::*;

    fn run(entries: Vec<Entry>) -> Option<Violation> {
        check(&History::from_entries(entries), &topology())
    }

    #[test]
    fn a_repeated_send_answered_with_the_first_message_passes() {
        let (_, _, fifo) = QUEUES;
        let history = vec![
            send(fifo, 1, 1),
            sent(fifo, 1, 1, id(1)),
            send(fifo, 2, 1),
            sent(fifo, 2, 1, id(1)),
        ];
        assert_eq!(run(history), None);
    }

    #[test]
    fn a_repeated_send_enqueued_again_after_a_crash_fails() {
        // The core logs the window with the message: a restart keeps it.
        let (_, _, fifo) = QUEUES;
        let history = vec![
            send(fifo, 1, 1),
            sent(fifo, 1, 1, id(1)),
            Entry::Crash,
            send(fifo, 2, 1),
            sent(fifo, 2, 1, id(7)),
        ];
        assert!(run(history).is_some());
    }

    #[test]
    fn a_repeated_send_enqueued_again_fails() {
        let (_, _, fifo) = QUEUES;
        let history = vec![
            send(fifo, 1, 1),
            sent(fifo, 1, 1, id(1)),
            send(fifo, 2, 1),
            sent(fifo, 2, 1, id(2)),
        ];
        let violation = run(history).expect("two messages");
        assert_eq!(violation.checker, NAME);
        assert!(violation.detail.contains("d0-1"), "{}", violation.detail);
    }
}
