//! `stale-reply-applied`: the broker moves a saga past a step only on that
//! step's own success reply.
//!
//! The command of step `k + 1`, and the `completed` outcome after the last
//! step, follow a success reply to step `k`'s command (the last one's).
//! Judged from the participants: a participant that receives step
//! `k + 1`'s command before any participant published a success reply to
//! step `k`'s shows a saga advanced by a reply that was not step `k`'s: a
//! duplicate or stale reply to an earlier step applied as a fresh one.

use super::Violation;
use crate::history::{Entry, History, SagaAction};
use crate::workload::Topology;
use std::collections::BTreeSet;
use std::sync::Arc;

/// The checker's name.
pub const NAME: &str = "stale-reply-applied";

/// The first step a saga moved past without its success reply, if any.
#[must_use]
pub fn check(history: &History, topology: &Topology) -> Option<Violation> {
    let last = super::saga_steps(topology).checked_sub(1)?;
    let mut succeeded: BTreeSet<(Arc<str>, u32)> = BTreeSet::new();
    for timed in history.entries() {
        let (saga, step, what) = match &timed.entry {
            Entry::SagaReplied {
                saga,
                action: SagaAction::Command,
                step,
                success: true,
                ..
            } => {
                succeeded.insert((saga.clone(), *step));
                continue;
            }
            Entry::SagaReceived {
                saga,
                action: SagaAction::Command,
                step,
                ..
            } if *step > 0 => (saga, step - 1, format!("the command of step {step}")),
            Entry::SagaOutcome { saga, state, .. } if &**state == "completed" => {
                (saga, last, "its completed outcome".to_owned())
            }
            _ => continue,
        };
        if !succeeded.contains(&(saga.clone(), step)) {
            return Some(Violation::safety(
                NAME,
                timed.at_ns,
                format!("saga {saga} sent {what} before any success reply to step {step}"),
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
    fn each_step_after_its_predecessors_success_passes() {
        let history = History::from_entries([
            received("s0-0", DO, 0, 1, 1),
            replied("s0-0", DO, 0, true),
            received("s0-0", DO, 1, 1, 2),
            replied("s0-0", DO, 1, true),
            outcome("s0-0", "completed", 3),
        ]);
        assert_eq!(check(&history, &topology()), None);
    }

    #[test]
    fn a_step_sent_after_a_duplicate_of_the_step_before_fails() {
        // Step 0's reply, twice: the second moved the saga past step 1.
        let history = History::from_entries([
            received("s0-0", DO, 0, 1, 1),
            replied("s0-0", DO, 0, true),
            replied("s0-0", DO, 0, true),
            received("s0-0", DO, 1, 1, 2),
            outcome("s0-0", "completed", 3),
        ]);
        let violation = check(&history, &topology()).expect("completed without step 1");
        assert_eq!(violation.checker, NAME);
    }
}
