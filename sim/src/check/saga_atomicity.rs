//! `saga-atomicity`: every saga that ended is all or nothing, as its
//! participants applied it (SEMANTICS.md section 10).
//!
//! A saga whose outcome says `completed` had every step's command applied
//! and no compensation; one that says `compensated` had the compensation
//! of every step whose command a participant applied (the completed steps
//! and the one whose outcome was unknown) applied too. A saga that ended
//! `failed-needs-attention` is the broker saying a compensation could not
//! be made: an operator's matter, not judged. And a command applied for a
//! saga that never ended is an effect nobody will ever compensate: a
//! ghost command, or a saga lost. Judged on the settled run, when every
//! saga had its time to end.

use super::Violation;
use crate::history::{Entry, History, SagaAction};
use crate::workload::Topology;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// The checker's name.
pub const NAME: &str = "saga-atomicity";

/// The first saga that ended neither completed nor compensated whole, if any.
#[must_use]
pub fn check(history: &History, topology: &Topology) -> Option<Violation> {
    let steps = super::saga_steps(topology);
    let mut outcomes: BTreeMap<Arc<str>, (Arc<str>, u64)> = BTreeMap::new();
    let mut applied: BTreeSet<(Arc<str>, SagaAction, u32)> = BTreeSet::new();
    let mut end_ns = 0;
    for timed in history.entries() {
        end_ns = timed.at_ns;
        match &timed.entry {
            Entry::SagaOutcome { saga, state, .. } => {
                outcomes
                    .entry(saga.clone())
                    .or_insert((state.clone(), timed.at_ns));
            }
            Entry::SagaApplied {
                saga, action, step, ..
            } => {
                applied.insert((saga.clone(), *action, *step));
            }
            _ => {}
        }
    }
    let applied_steps = |saga: &Arc<str>, action: SagaAction| -> Vec<u32> {
        (applied.iter())
            .filter(|(id, a, _)| id == saga && *a == action)
            .map(|(_, _, step)| *step)
            .collect()
    };
    let commanded: BTreeSet<&Arc<str>> = applied.iter().map(|(saga, _, _)| saga).collect();
    for saga in commanded {
        if !outcomes.contains_key(saga) {
            let done = applied_steps(saga, SagaAction::Command);
            return Some(Violation::safety(
                NAME,
                end_ns,
                format!(
                    "saga {saga} never ended, yet its participants applied the commands of steps {done:?}"
                ),
            ));
        }
    }
    for (saga, (state, at_ns)) in &outcomes {
        let done = applied_steps(saga, SagaAction::Command);
        let undone = applied_steps(saga, SagaAction::Compensation);
        let broken = match &**state {
            "completed" => {
                let missing: Vec<u32> = (0..steps).filter(|s| !done.contains(s)).collect();
                if !missing.is_empty() {
                    Some(format!(
                        "no participant applied the commands of steps {missing:?}"
                    ))
                } else if !undone.is_empty() {
                    Some(format!(
                        "the compensations of steps {undone:?} were applied"
                    ))
                } else {
                    None
                }
            }
            "compensated" => {
                let left: Vec<u32> = done
                    .iter()
                    .copied()
                    .filter(|s| !undone.contains(s))
                    .collect();
                (!left.is_empty()).then(|| {
                    format!("the commands of steps {left:?} were applied and never compensated")
                })
            }
            _ => None,
        };
        if let Some(broken) = broken {
            return Some(Violation::safety(
                NAME,
                *at_ns,
                format!("saga {saga} ended {state}, but {broken}"),
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
    fn a_compensated_saga_whose_applied_steps_were_undone_passes() {
        let history = History::from_entries([
            applied("s0-0", DO, 0),
            applied("s0-0", DO, 1),
            applied("s0-0", UNDO, 1),
            applied("s0-0", UNDO, 0),
            outcome("s0-0", "compensated", 1),
            applied("s0-1", DO, 0),
            applied("s0-1", DO, 1),
            outcome("s0-1", "completed", 2),
        ]);
        assert_eq!(check(&history, &topology()), None);
    }

    #[test]
    fn a_compensated_saga_that_left_an_applied_step_fails() {
        let history = History::from_entries([
            applied("s0-0", DO, 0),
            applied("s0-0", DO, 1),
            applied("s0-0", UNDO, 0),
            outcome("s0-0", "compensated", 1),
        ]);
        let violation = check(&history, &topology()).expect("step 1 never undone");
        assert_eq!(violation.checker, NAME);
    }

    #[test]
    fn a_completed_saga_with_a_step_never_applied_fails() {
        let history =
            History::from_entries([applied("s0-0", DO, 0), outcome("s0-0", "completed", 1)]);
        assert!(check(&history, &topology()).is_some());
    }

    #[test]
    fn an_effect_of_a_saga_that_never_ended_fails() {
        let history = History::from_entries([applied("s0-0", DO, 0)]);
        assert!(check(&history, &topology()).is_some());
    }
}
