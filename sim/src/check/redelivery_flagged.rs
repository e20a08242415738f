//! `redelivery-flagged`: a message delivered a second time carries
//! `redelivered=true`.
//!
//! A message is one publish attempt (a producer's retry is a new message and
//! may well arrive unflagged) in one queue: a fanout's copies are delivered
//! once each, and a dead-lettered copy enters its next queue as a new
//! message (RabbitMQ delivers it unflagged), told apart by its `x-death`.
//! A crash may undo a dead-lettering the log had not synced: the message
//! then dies again after recovery and enters its next queue afresh, with
//! the same `x-death`, so a crash forgets the deliveries of dead-lettered
//! copies (and only those). There is no exception for broker crashes: a
//! recovered broker flags every message it brings back (SEMANTICS.md section
//! 6), since it cannot know which ones went out before the crash.

use super::Violation;
use crate::history::{Deaths, Entry, History};
use crate::workload::Topology;
use std::collections::BTreeMap;

/// The checker's name.
pub const NAME: &str = "redelivery-flagged";

/// The first unflagged redelivery, if any.
#[must_use]
pub fn check(history: &History, _: &Topology) -> Option<Violation> {
    // Per (publish attempt, queue, deaths so far): when it was last delivered.
    let mut delivered: BTreeMap<(u64, &str, u64), u64> = BTreeMap::new();
    for timed in history.entries() {
        if timed.entry == Entry::Crash {
            delivered.retain(|(_, _, deaths), _| *deaths == 0);
            continue;
        }
        let Entry::Deliver {
            consumer,
            delivery_tag,
            redelivered,
            stamp: Some(stamp),
            queue,
            deaths,
            ..
        } = &timed.entry
        else {
            continue;
        };
        let deaths = deaths.as_ref().map_or(0, Deaths::total);
        let previous = delivered.insert((stamp.attempt, queue, deaths), timed.at_ns);
        if let (Some(before_ns), false) = (previous, *redelivered) {
            return Some(
                Violation::safety(
                    NAME,
                    timed.at_ns,
                    format!(
                        "consumer {consumer} got attempt {:#x} as delivery {delivery_tag} \
                     with redelivered=false, though it was delivered at {}",
                        stamp.attempt,
                        crate::plan::Millis(before_ns)
                    ),
                )
                .about(stamp.attempt),
            );
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::fixtures::*;
    use crate::history::Settle;

    #[test]
    fn a_flagged_redelivery_passes() {
        let history = History::from_entries([
            publish(1),
            consume(2),
            deliver(1, 1, false),
            settle(1, Settle::Reject),
            deliver(1, 2, true),
        ]);
        assert_eq!(check(&history, &topology()), None);
    }

    #[test]
    fn an_unflagged_redelivery_fails() {
        let history = History::from_entries([
            publish(1),
            consume(2),
            deliver(1, 1, false),
            settle(1, Settle::Nack),
            deliver(1, 2, false),
        ]);
        let violation = check(&history, &topology()).expect("second delivery unflagged");
        assert_eq!(violation.checker, NAME);
    }

    #[test]
    fn an_unflagged_redelivery_after_a_crash_fails_too() {
        let history = History::from_entries([
            publish(1),
            consume(2),
            deliver(1, 1, false),
            Entry::Crash,
            Entry::Restart,
            deliver(1, 1, false),
        ]);
        let violation = check(&history, &topology()).expect("a recovered message is flagged");
        assert_eq!(violation.checker, NAME);
    }
}
