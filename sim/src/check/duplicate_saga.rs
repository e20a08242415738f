//! `duplicate-saga`: at most one instance per saga id.
//!
//! One instance sends each of its messages once: the command or
//! compensation of a step, for one attempt, is one message (a recovery
//! may route that same message again), and the saga's outcome is one
//! message. Two different messages for one saga's outcome, or for one
//! step's command or compensation at one attempt, mean the saga ran twice:
//! a second instance for a repeated start, or a transition the broker
//! forgot after sending its message and then made again (a lost saga
//! update, whose first message was a ghost command).

use super::Violation;
use crate::history::{Entry, History, SagaAction};
use crate::workload::Topology;
use brokerlab_core::MessageId;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The checker's name.
pub const NAME: &str = "duplicate-saga";

/// The first saga message or outcome sent as two different messages, if any.
#[must_use]
pub fn check(history: &History, _: &Topology) -> Option<Violation> {
    let mut outcomes: BTreeMap<&Arc<str>, MessageId> = BTreeMap::new();
    let mut sends: BTreeMap<(&Arc<str>, SagaAction, u32, u32), MessageId> = BTreeMap::new();
    for timed in history.entries() {
        let (first, again, what) = match &timed.entry {
            Entry::SagaOutcome { saga, message, .. } => {
                let first = *outcomes.entry(saga).or_insert(*message);
                (first, *message, format!("the outcome of saga {saga}"))
            }
            Entry::SagaReceived {
                saga,
                action,
                step,
                attempt,
                message,
                ..
            } => {
                let key = (saga, *action, *step, *attempt);
                let first = *sends.entry(key).or_insert(*message);
                let what = format!("{}:{step}:{saga} attempt {attempt}", action.as_str());
                (first, *message, what)
            }
            _ => continue,
        };
        if first != again {
            return Some(Violation::safety(
                NAME,
                timed.at_ns,
                format!(
                    "{what} came as two messages (ids {} and {}): the saga ran twice",
                    first.0, again.0
                ),
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
    fn one_message_per_step_and_attempt_redelivered_passes() {
        let history = History::from_entries([
            received("s0-0", DO, 0, 1, 7),
            received("s0-0", DO, 0, 1, 7),
            received("s0-0", DO, 0, 2, 8),
            outcome("s0-0", "completed", 9),
            outcome("s0-0", "completed", 9),
        ]);
        assert_eq!(check(&history, &topology()), None);
    }

    #[test]
    fn a_step_sent_again_as_a_new_message_fails() {
        let history = History::from_entries([
            received("s0-0", DO, 1, 1, 7),
            received("s0-0", DO, 1, 1, 12),
        ]);
        let violation = check(&history, &topology()).expect("sent twice");
        assert_eq!(violation.checker, NAME);
    }

    #[test]
    fn two_outcomes_of_one_saga_fail() {
        let history = History::from_entries([
            outcome("s0-0", "completed", 9),
            outcome("s0-0", "compensated", 10),
        ]);
        assert!(check(&history, &topology()).is_some());
    }
}
