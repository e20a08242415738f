//! `compensation-order`: a saga's compensations are applied in reverse
//! step order, one at a time.
//!
//! The broker sends a step's compensation only after the compensation of
//! every later step it covers was answered with success, and a
//! participant answers only what it applied. So when participants apply
//! the compensation of step `j`, the compensation of every later step `k`
//! that the saga ever sends (one a participant receives) was applied
//! before. A compensation of an earlier step applied first is a
//! compensation order violation (or two compensations in flight at once).

use super::Violation;
use crate::history::{Entry, History, SagaAction};
use crate::workload::Topology;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// The checker's name.
pub const NAME: &str = "compensation-order";

/// The first compensation applied before a later step's, if any.
#[must_use]
pub fn check(history: &History, _: &Topology) -> Option<Violation> {
    // The compensations each saga sent (a participant received).
    let mut sent: BTreeSet<(Arc<str>, u32)> = BTreeSet::new();
    for timed in history.entries() {
        if let Entry::SagaReceived {
            saga,
            action: SagaAction::Compensation,
            step,
            ..
        } = &timed.entry
        {
            sent.insert((saga.clone(), *step));
        }
    }
    let mut applied: BTreeMap<Arc<str>, BTreeSet<u32>> = BTreeMap::new();
    for timed in history.entries() {
        let Entry::SagaApplied {
            saga,
            action: SagaAction::Compensation,
            step,
            ..
        } = &timed.entry
        else {
            continue;
        };
        let done = applied.entry(saga.clone()).or_default();
        let later = (sent.range((saga.clone(), step + 1)..))
            .take_while(|(id, _)| id == saga)
            .map(|(_, later)| *later)
            .find(|later| !done.contains(later));
        if let Some(later) = later {
            return Some(Violation::safety(
                NAME,
                timed.at_ns,
                format!(
                    "saga {saga}'s compensation of step {step} was applied before that of step {later}"
                ),
            ));
        }
        done.insert(*step);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::saga_fixtures::*;

    #[test]
    fn compensations_in_reverse_order_pass() {
        let history = History::from_entries([
            received("s0-0", UNDO, 1, 1, 5),
            applied("s0-0", UNDO, 1),
            received("s0-0", UNDO, 0, 1, 6),
            applied("s0-0", UNDO, 0),
        ]);
        assert_eq!(check(&history, &topology()), None);
    }

    #[test]
    fn compensations_in_forward_order_fail() {
        let history = History::from_entries([
            received("s0-0", UNDO, 0, 1, 5),
            applied("s0-0", UNDO, 0),
            received("s0-0", UNDO, 1, 1, 6),
            applied("s0-0", UNDO, 1),
        ]);
        let violation = check(&history, &topology()).expect("forward order");
        assert_eq!(violation.checker, NAME);
    }
}
