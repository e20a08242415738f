//! `redelivery-flagged`: a message delivered a second time carries
//! `redelivered=true`.
//!
//! A message is one publish attempt (a producer's retry is a new message and
//! may well arrive unflagged). One exception, named here so that nobody
//! mistakes it for a gap: when the broker crashed between the two
//! deliveries, the second may be unflagged. The core sends a delivery before
//! its `Delivered` record is synced, so a crash can forget that the message
//! was ever handed out; SEMANTICS.md section 6 asks for the flag after a
//! restart, and that question is open with the core (see the simulator's
//! report). Redeliveries without a crash in between must always be flagged.

use super::{Kind, Violation};
use crate::history::{Entry, History};
use std::collections::BTreeMap;

/// The checker's name.
pub const NAME: &str = "redelivery-flagged";

/// The first unflagged redelivery, if any.
#[must_use]
pub fn check(history: &History) -> Option<Violation> {
    // Per publish attempt: when it was last delivered, and in which broker life.
    let mut delivered: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    let mut crashes = 0_u64;
    for timed in history.entries() {
        match &timed.entry {
            Entry::Crash => crashes += 1,
            Entry::Deliver {
                consumer,
                delivery_tag,
                redelivered,
                stamp: Some(stamp),
                ..
            } => {
                let previous = delivered.insert(stamp.attempt, (timed.at_ns, crashes));
                if let Some((before_ns, life)) = previous {
                    if !redelivered && life == crashes {
                        return Some(Violation {
                            checker: NAME,
                            kind: Kind::Safety,
                            at_ns: timed.at_ns,
                            detail: format!(
                                "consumer {consumer} got attempt {:#x} as delivery {delivery_tag} \
                                 with redelivered=false, though it was delivered at {}",
                                stamp.attempt,
                                crate::plan::Millis(before_ns)
                            ),
                        });
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
        assert_eq!(check(&history), None);
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
        let violation = check(&history).expect("second delivery unflagged");
        assert_eq!(violation.checker, NAME);
    }

    #[test]
    fn an_unflagged_redelivery_after_a_crash_is_the_named_exception() {
        let history = History::from_entries([
            publish(1),
            consume(2),
            deliver(1, 1, false),
            Entry::Crash,
            Entry::Restart,
            deliver(1, 1, false),
        ]);
        assert_eq!(check(&history), None);
    }
}
