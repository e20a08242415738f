//! `stuck-saga`: after the heal phase, every saga whose start was
//! confirmed has ended, and its outcome reached the observer
//! (SEMANTICS.md section 10: after the faults stop, no saga is left
//! running). A confirmed start is one the broker logged; a saga lost by a
//! crash, or one that never ends, leaves its starter without an outcome.

use super::Violation;
use crate::history::{Entry, History};
use crate::workload::Topology;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// The checker's name.
pub const NAME: &str = "stuck-saga";

/// The first confirmed saga without an outcome at the end of the run, if any.
#[must_use]
pub fn check(history: &History, _: &Topology) -> Option<Violation> {
    let mut confirmed: BTreeMap<Arc<str>, u64> = BTreeMap::new();
    let mut ended: BTreeSet<Arc<str>> = BTreeSet::new();
    let mut end_ns = 0;
    for timed in history.entries() {
        end_ns = timed.at_ns;
        match &timed.entry {
            Entry::SagaConfirm {
                saga,
                abort: false,
                ack: true,
                ..
            } => {
                confirmed.entry(saga.clone()).or_insert(timed.at_ns);
            }
            Entry::SagaOutcome { saga, .. } => {
                ended.insert(saga.clone());
            }
            _ => {}
        }
    }
    let (saga, at_ns) = confirmed.iter().find(|(saga, _)| !ended.contains(*saga))?;
    Some(Violation {
        checker: NAME,
        kind: super::Kind::Liveness,
        at_ns: end_ns,
        detail: format!(
            "saga {saga}, confirmed at {}, has no outcome after the heal phase",
            crate::plan::Millis(*at_ns)
        ),
        focus: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::saga_fixtures::*;

    #[test]
    fn every_confirmed_saga_with_an_outcome_passes() {
        let history =
            History::from_entries([start_confirmed("s0-0"), outcome("s0-0", "completed", 1)]);
        assert_eq!(check(&history, &topology()), None);
    }

    #[test]
    fn a_confirmed_saga_without_an_outcome_fails() {
        let history = History::from_entries([
            start_confirmed("s0-0"),
            start_confirmed("s0-1"),
            outcome("s0-0", "completed", 1),
        ]);
        let violation = check(&history, &topology()).expect("s0-1 is stuck");
        assert_eq!(violation.checker, NAME);
        assert!(violation.detail.contains("s0-1"));
    }
}
