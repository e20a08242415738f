//! `double-effect` and `double-compensation`: each step's command, and each
//! step's compensation, takes effect at most once per saga.
//!
//! The broker sends a step's command again after a timeout, and may route
//! one again after a recovery; a participant applies a message only the
//! first time it sees its idempotency key, the correlation id. That is
//! enough only if the broker keeps its side of the contract: every send of
//! one step's command (or compensation) for one saga carries the same key.
//! Judged from what the participants applied, by the step and saga the
//! message names: a second effect means the broker named one step's work
//! with two keys (a retry, a re-send after recovery, or a second instance
//! of the saga keyed apart), and a participant that trusted the key did the
//! work twice: charged a card twice, or refunded it twice.

use super::Violation;
use crate::history::{Entry, History, SagaAction};
use crate::workload::Topology;
use std::collections::BTreeSet;
use std::sync::Arc;

/// The name of the check on commands.
pub const NAME: &str = "double-effect";
/// The name of the check on compensations.
pub const COMPENSATION: &str = "double-compensation";

/// The first step whose command took effect twice in one saga, if any.
#[must_use]
pub fn check(history: &History, _: &Topology) -> Option<Violation> {
    twice(history, SagaAction::Command, NAME)
}

/// The first step whose compensation took effect twice in one saga, if any.
#[must_use]
pub fn check_compensation(history: &History, _: &Topology) -> Option<Violation> {
    twice(history, SagaAction::Compensation, COMPENSATION)
}

fn twice(history: &History, which: SagaAction, name: &'static str) -> Option<Violation> {
    let mut applied: BTreeSet<(&Arc<str>, u32)> = BTreeSet::new();
    for timed in history.entries() {
        let Entry::SagaApplied {
            saga, action, step, ..
        } = &timed.entry
        else {
            continue;
        };
        if *action == which && !applied.insert((saga, *step)) {
            return Some(Violation::safety(
                name,
                timed.at_ns,
                format!("saga {saga}'s step {step} {action:?} took effect twice"),
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::saga_fixtures::*;

    #[test]
    fn each_step_applied_once_passes_both() {
        let history = History::from_entries([
            applied("s0-0", DO, 0),
            applied("s0-0", DO, 1),
            applied("s0-1", DO, 0),
            applied("s0-0", UNDO, 0),
            applied("s0-1", UNDO, 0),
        ]);
        assert_eq!(check(&history, &topology()), None);
        assert_eq!(check_compensation(&history, &topology()), None);
    }

    #[test]
    fn a_command_applied_twice_fails_double_effect() {
        let history = History::from_entries([applied("s0-0", DO, 0), applied("s0-0", DO, 0)]);
        let violation = check(&history, &topology()).expect("charged twice");
        assert_eq!(violation.checker, NAME);
        assert_eq!(check_compensation(&history, &topology()), None);
    }

    #[test]
    fn a_compensation_applied_twice_fails_double_compensation() {
        let history = History::from_entries([
            applied("s0-0", DO, 0),
            applied("s0-0", UNDO, 0),
            applied("s0-0", UNDO, 0),
        ]);
        let violation = check_compensation(&history, &topology()).expect("refunded twice");
        assert_eq!(violation.checker, COMPENSATION);
        assert_eq!(check(&history, &topology()), None);
    }
}
