//! `no-lost-after-delete`: every SQS message whose send was acknowledged
//! is, by the end of the run, deleted by a delete carrying its current
//! receipt handle (the latest one issued for it before the delete was
//! answered), in its queue or in the dead-letter queue its redrive reaches.
//!
//! The consumers drain every queue after the heal phase, deleting what they
//! receive, so a message still in the broker is received and deleted then.
//! A message that is gone without such a delete is lost: a delete with a
//! stale handle deleted it, or its visibility never ran out after a
//! consumer crashed before deleting it. SQS is at least once: a message
//! received again, or brought back by a broker crash after it was deleted
//! (deletes are not waited on a sync), is no violation.
//!
//! Judged on the settled run only.

use super::sqs::{acked, deleted_current, describe};
use super::Violation;
use crate::history::History;
use crate::workload::Topology;
use std::sync::Arc;

/// The checker's name.
pub const NAME: &str = "no-lost-after-delete";

/// The first acknowledged message never deleted with its current handle.
#[must_use]
pub fn check(history: &History, topology: &Topology) -> Option<Violation> {
    let setup = topology.sqs.as_ref()?;
    let deleted = deleted_current(history);
    let end_ns = history.entries().last().map_or(0, |timed| timed.at_ns);
    for (copy, acked) in acked(history) {
        let mut sinks: Vec<Arc<str>> = vec![acked.queue.clone()];
        if &*acked.queue == setup.work {
            sinks.push(Arc::from(setup.dlq));
        }
        let gone = sinks
            .iter()
            .any(|queue| deleted.contains(&(copy.clone(), queue.clone())));
        if !gone {
            let at_ns = history.entries()[acked.index].at_ns;
            return Some(Violation::safety(
                NAME,
                end_ns,
                format!(
                    "{} was acknowledged in {} at {}, and by the end was neither deleted with \
                     its current receipt handle nor found by the drain: lost",
                    describe(&copy),
                    acked.queue,
                    crate::plan::Millis(at_ns)
                ),
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::sqs::fixtures::*;
    use super::*;
    use crate::history::Entry;

    fn run(entries: Vec<Entry>) -> Option<Violation> {
        check(&History::from_entries(entries), &topology())
    }

    #[test]
    fn a_message_deleted_with_its_current_handle_is_not_lost() {
        let (work, _, _) = QUEUES;
        let history = vec![
            send(work, 1, 0),
            sent(work, 1, 0, id(0)),
            receive(0, work, 1),
            received(0, work, 1, vec![seen(work, 0, "h1", 1)]),
            // Consumer 0 was slow: consumer 1 received it again.
            receive(1, work, 1),
            received(1, work, 1, vec![seen(work, 0, "h2", 2)]),
            delete(0, work, 2, 0, "h1"),
            deleted(0, 2, true),
            delete(1, work, 2, 0, "h2"),
            deleted(1, 2, true),
        ];
        assert_eq!(run(history), None);
    }

    #[test]
    fn a_message_gone_after_a_stale_delete_is_lost() {
        let (work, _, _) = QUEUES;
        let history = vec![
            send(work, 1, 0),
            sent(work, 1, 0, id(0)),
            receive(0, work, 1),
            received(0, work, 1, vec![seen(work, 0, "h1", 1)]),
            receive(1, work, 1),
            received(1, work, 1, vec![seen(work, 0, "h2", 2)]),
            // The stale delete took it: consumer 1 gave it up, and the drain found nothing.
            delete(0, work, 2, 0, "h1"),
            deleted(0, 2, true),
            receive(1, work, 3),
            received(1, work, 3, vec![]),
        ];
        let violation = run(history).expect("lost");
        assert_eq!(violation.checker, NAME);
        assert!(violation.detail.contains("m0:0"), "{}", violation.detail);
    }

    #[test]
    fn a_message_never_received_again_after_a_crashed_consumer_is_lost() {
        let (_, _, fifo) = QUEUES;
        let history = vec![
            send(fifo, 1, 1),
            sent(fifo, 1, 1, id(1)),
            receive(0, fifo, 1),
            received(0, fifo, 1, vec![seen(fifo, 1, "h1", 1)]),
            Entry::Closed { conn: conn(0) },
        ];
        assert!(run(history).is_some());
    }

    #[test]
    fn a_message_redriven_and_deleted_in_the_dead_letter_queue_is_not_lost() {
        let (work, dlq, _) = QUEUES;
        let mut history = vec![send(work, 1, 0), sent(work, 1, 0, id(0))];
        for count in 1..=3 {
            history.push(receive(0, work, u64::from(count)));
            let handle = format!("h{count}");
            history.push(received(
                0,
                work,
                u64::from(count),
                vec![seen(work, 0, &handle, count)],
            ));
        }
        history.push(receive(0, dlq, 4));
        history.push(received(0, dlq, 4, vec![seen(dlq, 0, "d1", 1)]));
        history.push(delete(0, dlq, 5, 0, "d1"));
        history.push(deleted(0, 5, true));
        assert_eq!(run(history), None);
    }
}
