//! `late-timeout-acted`: a saga's deadline acts only on what the saga is
//! still waiting for.
//!
//! A step's timeout sends its command or compensation again, or gives up
//! on it; it must never act on a step the saga has moved past, nor on a
//! saga that ended. Judged from the broker's `SagaTimedOut` events against
//! what the clients saw before them: once a participant received step
//! `k`'s command, the broker had taken step `k - 1`'s success reply, so a
//! timeout of an earlier step's command is late; once a participant
//! received step `k`'s compensation, the saga compensates and no command
//! is awaited, nor a later step's compensation; once the observer received
//! the saga's outcome, no timeout of it may act at all. (Messages are
//! routed only after the record that sends them is synced, so a crash
//! cannot take the broker back behind what the clients saw.)

use super::Violation;
use crate::history::{Entry, History, SagaAction};
use crate::workload::Topology;
use brokerlab_core::Event;
use std::collections::BTreeMap;

/// The checker's name.
pub const NAME: &str = "late-timeout-acted";

/// What the clients saw of one saga.
#[derive(Clone, Copy, Debug, Default)]
struct Seen {
    /// The latest step whose command a participant received.
    command: Option<u32>,
    /// The earliest step whose compensation a participant received.
    compensation: Option<u32>,
    /// The observer received the saga's outcome.
    ended: bool,
}

/// The first deadline that acted on a step the saga had moved past, if any.
#[must_use]
pub fn check(history: &History, _: &Topology) -> Option<Violation> {
    let mut seen: BTreeMap<&str, Seen> = BTreeMap::new();
    for timed in history.entries() {
        match &timed.entry {
            Entry::SagaReceived {
                saga, action, step, ..
            } => {
                let saga = seen.entry(saga).or_default();
                let latest = match action {
                    SagaAction::Command => &mut saga.command,
                    SagaAction::Compensation => &mut saga.compensation,
                };
                *latest = Some(match (action, *latest) {
                    (SagaAction::Command, Some(before)) => before.max(*step),
                    (SagaAction::Compensation, Some(before)) => before.min(*step),
                    (_, None) => *step,
                });
            }
            Entry::SagaOutcome { saga, .. } => seen.entry(saga).or_default().ended = true,
            Entry::Broker {
                event:
                    Event::SagaTimedOut {
                        saga, action, step, ..
                    },
                ..
            } => {
                let Some(past) = seen.get(saga.as_str()) else {
                    continue;
                };
                let late = match action {
                    _ if past.ended => Some("after its outcome was published".to_owned()),
                    SagaAction::Command => match (past.command, past.compensation) {
                        (Some(later), _) if later > *step => {
                            Some(format!("after step {later}'s command was received"))
                        }
                        (_, Some(undone)) => {
                            Some(format!("after step {undone}'s compensation was received"))
                        }
                        _ => None,
                    },
                    SagaAction::Compensation => past
                        .compensation
                        .filter(|undone| undone < step)
                        .map(|undone| format!("after step {undone}'s compensation was received")),
                };
                if let Some(late) = late {
                    return Some(Violation::safety(
                        NAME,
                        timed.at_ns,
                        format!("saga {saga}'s timeout of step {step}'s {action:?} acted {late}"),
                    ));
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
    use crate::check::saga_fixtures::*;
    use brokerlab_core::saga::Action;

    fn timed_out(saga: &str, action: Action, step: u32) -> Entry {
        Entry::Broker {
            clock_ns: 0,
            event: Event::SagaTimedOut {
                exchange: "orders".into(),
                saga: saga.into(),
                action,
                step,
            },
        }
    }

    #[test]
    fn a_timeout_of_the_awaited_step_passes() {
        // Step 0's reply was late: its command is sent again, then the
        // saga goes on.
        let history = History::from_entries([
            received("s0-0", DO, 0, 1, 1),
            timed_out("s0-0", DO, 0),
            received("s0-0", DO, 0, 2, 2),
            replied("s0-0", DO, 0, true),
            received("s0-0", DO, 1, 1, 3),
            timed_out("s0-0", DO, 1),
            received("s0-0", UNDO, 1, 1, 4),
            timed_out("s0-0", UNDO, 1),
            outcome("s0-0", "failed-needs-attention", 5),
        ]);
        assert_eq!(check(&history, &topology()), None);
    }

    #[test]
    fn a_timeout_of_a_step_the_saga_moved_past_fails() {
        let history = History::from_entries([
            received("s0-0", DO, 0, 1, 1),
            replied("s0-0", DO, 0, true),
            received("s0-0", DO, 1, 1, 2),
            timed_out("s0-0", DO, 0),
        ]);
        let violation = check(&history, &topology()).expect("step 0 was past");
        assert_eq!(violation.checker, NAME);
    }

    #[test]
    fn a_timeout_after_the_outcome_fails() {
        let history = History::from_entries([
            received("s0-0", DO, 0, 1, 1),
            replied("s0-0", DO, 0, true),
            received("s0-0", DO, 1, 1, 2),
            replied("s0-0", DO, 1, true),
            outcome("s0-0", "completed", 3),
            timed_out("s0-0", DO, 1),
        ]);
        let violation = check(&history, &topology()).expect("the saga had ended");
        assert_eq!(violation.checker, NAME);
    }

    #[test]
    fn a_command_timeout_once_compensation_began_fails() {
        let history = History::from_entries([
            received("s0-0", DO, 0, 1, 1),
            replied("s0-0", DO, 0, true),
            received("s0-0", UNDO, 0, 1, 2),
            timed_out("s0-0", DO, 0),
        ]);
        let violation = check(&history, &topology()).expect("the saga compensates");
        assert_eq!(violation.checker, NAME);
    }
}
