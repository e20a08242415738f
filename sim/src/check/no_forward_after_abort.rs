//! `no-forward-after-abort`: once an abort of a saga is confirmed, the
//! saga sends no command it had not decided on before.
//!
//! The broker sends step `k`'s command only after a success reply to step
//! `k - 1`; an abort (confirmed once logged) turns a running saga to
//! compensation, after which no success reply moves it forward. So every
//! command of step `k > 0` a participant ever receives for an aborted
//! saga follows a success reply to step `k - 1` published before the
//! abort's confirm. A command past that is a forward step after abort
//! (one sent before the abort but delivered after it is not).

use super::Violation;
use crate::history::{Entry, History, SagaAction};
use crate::workload::Topology;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The checker's name.
pub const NAME: &str = "no-forward-after-abort";

/// The first command of an aborted saga decided on after its abort, if any.
#[must_use]
pub fn check(history: &History, _: &Topology) -> Option<Violation> {
    // The first confirm of each saga's abort.
    let mut aborted: BTreeMap<Arc<str>, u64> = BTreeMap::new();
    // The first success reply to each saga's step's command.
    let mut succeeded: BTreeMap<(Arc<str>, u32), u64> = BTreeMap::new();
    for timed in history.entries() {
        match &timed.entry {
            Entry::SagaConfirm {
                saga,
                abort: true,
                ack: true,
                ..
            } => {
                aborted.entry(saga.clone()).or_insert(timed.at_ns);
            }
            Entry::SagaReplied {
                saga,
                action: SagaAction::Command,
                step,
                success: true,
                ..
            } => {
                succeeded
                    .entry((saga.clone(), *step))
                    .or_insert(timed.at_ns);
            }
            _ => {}
        }
    }
    for timed in history.entries() {
        let Entry::SagaReceived {
            saga,
            action: SagaAction::Command,
            step,
            ..
        } = &timed.entry
        else {
            continue;
        };
        let (Some(abort_ns), Some(before)) = (aborted.get(saga), step.checked_sub(1)) else {
            continue;
        };
        let decided = succeeded
            .get(&(saga.clone(), before))
            .is_some_and(|at_ns| at_ns < abort_ns);
        if !decided {
            return Some(Violation::safety(
                NAME,
                timed.at_ns,
                format!(
                    "saga {saga}, whose abort was confirmed at {}, sent the command of step {step}, \
                     which no success reply to step {before} before the abort asked for",
                    crate::plan::Millis(*abort_ns)
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
    fn a_command_decided_before_the_abort_and_delivered_after_passes() {
        let history = History::from_entries([
            replied("s0-0", DO, 0, true),
            abort_confirmed("s0-0"),
            received("s0-0", DO, 1, 1, 2),
        ]);
        assert_eq!(check(&history, &topology()), None);
    }

    #[test]
    fn a_command_after_the_abort_fails() {
        let history = History::from_entries([
            received("s0-0", DO, 0, 1, 1),
            abort_confirmed("s0-0"),
            replied("s0-0", DO, 0, true),
            received("s0-0", DO, 1, 1, 2),
        ]);
        let violation = check(&history, &topology()).expect("forward after abort");
        assert_eq!(violation.checker, NAME);
    }
}
