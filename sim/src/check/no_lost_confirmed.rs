//! `no-lost-confirmed`: every message the broker confirmed is eventually
//! consumed (delivered to a consumer and acked), across broker crashes.
//!
//! A confirm (basic.ack to the publisher) is the broker's promise to keep
//! the message. The promise is about that one publish, so the checker follows
//! publish attempts, not logical messages: a producer's retry that got
//! consumed does not excuse losing the confirmed original. "Consumed" is the
//! broker's own `Event::Acked`, mapped to the publish attempt through the
//! delivery that carried the same broker message id.

use super::{Kind, Violation};
use crate::history::{Entry, History, Stamp};
use brokerlab_core::{Event, MessageId};
use std::collections::{BTreeMap, BTreeSet};

/// The checker's name.
pub const NAME: &str = "no-lost-confirmed";

/// The first confirmed publish never consumed, if any (run it on a finished run).
#[must_use]
pub fn check(history: &History) -> Option<Violation> {
    let mut confirmed: BTreeMap<u64, (u64, Stamp)> = BTreeMap::new();
    let mut attempt_of: BTreeMap<MessageId, u64> = BTreeMap::new();
    let mut deliveries: BTreeMap<u64, u64> = BTreeMap::new();
    let mut consumed: BTreeSet<u64> = BTreeSet::new();
    for timed in history.entries() {
        match &timed.entry {
            Entry::Confirm {
                stamp, ack: true, ..
            } => {
                confirmed
                    .entry(stamp.attempt)
                    .or_insert((timed.at_ns, *stamp));
            }
            Entry::Deliver {
                message,
                stamp: Some(stamp),
                ..
            } => {
                // The broker may reuse an id whose message a crash lost, so the latest delivery wins.
                attempt_of.insert(*message, stamp.attempt);
                *deliveries.entry(stamp.attempt).or_default() += 1;
            }
            Entry::Broker(Event::Acked { message, .. }) => {
                if let Some(attempt) = attempt_of.get(message) {
                    consumed.insert(*attempt);
                }
            }
            _ => {}
        }
    }
    let lost: Vec<(u64, u64, Stamp)> = confirmed
        .iter()
        .filter(|(attempt, _)| !consumed.contains(attempt))
        .map(|(attempt, (at_ns, stamp))| (*at_ns, *attempt, *stamp))
        .collect();
    let &(at_ns, attempt, stamp) = lost.iter().min()?;
    let delivered = deliveries.get(&attempt).copied().unwrap_or(0);
    Some(Violation {
        checker: NAME,
        kind: Kind::Safety,
        at_ns,
        detail: format!(
            "{} confirmed publish(es) never consumed; first: message {:#x} (attempt {:#x}), \
             confirmed here, delivered {delivered} time(s), never acked",
            lost.len(),
            stamp.payload,
            attempt
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::fixtures::*;
    use crate::history::Settle;

    #[test]
    fn a_confirmed_message_that_is_consumed_passes() {
        let history = History::from_entries([
            publish(1),
            confirm(1),
            consume(1),
            deliver(1, 1, false),
            settle(1, Settle::Ack),
            broker_acked(1),
        ]);
        assert_eq!(check(&history), None);
    }

    #[test]
    fn a_confirmed_message_requeued_and_never_seen_again_is_lost() {
        let history = History::from_entries([
            publish(1),
            confirm(1),
            publish(2),
            consume(1),
            deliver(1, 1, false),
            settle(1, Settle::Nack),
        ]);
        let violation = check(&history).expect("message 1 was lost");
        assert_eq!(violation.checker, NAME);
        assert!(violation.detail.contains("delivered 1 time"), "{violation}");
    }
}
