//! `exactly-once-effect`: an idempotent consumer applies the effect of every
//! confirmed message once, and of no message twice.
//!
//! Duplicates reach consumers two ways: a producer publishes again what was
//! not confirmed, and a delivery whose ack was lost is redelivered. The
//! idempotent consumers of a workload share a store of processed message ids
//! and apply an effect only when its id is new. The checker counts `Effect`
//! entries per logical message: more than one is a duplicated effect, and a
//! message confirmed into a queue of idempotent consumers must have one.

use super::Violation;
use crate::history::{Entry, History};
use crate::workload::Topology;
use std::collections::BTreeMap;

/// The checker's name.
pub const NAME: &str = "exactly-once-effect";

/// The first duplicated or missing effect, if any (run it on a finished run).
#[must_use]
pub fn check(history: &History, topology: &Topology) -> Option<Violation> {
    let mut effects: BTreeMap<u64, u64> = BTreeMap::new();
    let mut owed: BTreeMap<u64, u64> = BTreeMap::new();
    let mut idempotent_routes: BTreeMap<u64, bool> = BTreeMap::new();
    for timed in history.entries() {
        match &timed.entry {
            Entry::Effect { consumer, payload } => {
                let count = effects.entry(*payload).or_default();
                *count += 1;
                if *count > 1 {
                    return Some(Violation::safety(
                        NAME,
                        timed.at_ns,
                        format!(
                            "consumer {consumer} applied the effect of message {payload:#x} \
                             a second time"
                        ),
                    ));
                }
            }
            Entry::Publish { stamp, routes, .. } => {
                let idempotent = routes.iter().any(|queue| {
                    topology
                        .queues
                        .get(queue)
                        .is_some_and(|spec| spec.habits.idempotent)
                });
                idempotent_routes.insert(stamp.attempt, idempotent);
            }
            Entry::Confirm {
                stamp, ack: true, ..
            } if idempotent_routes.get(&stamp.attempt) == Some(&true) => {
                owed.entry(stamp.payload).or_insert(timed.at_ns);
            }
            _ => {}
        }
    }
    let (payload, at_ns) = owed
        .into_iter()
        .find(|(payload, _)| !effects.contains_key(payload))?;
    Some(Violation::safety(
        NAME,
        at_ns,
        format!("message {payload:#x} was confirmed here, and its effect never applied"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::fixtures::*;
    use crate::workload::idempotent;

    fn effect(payload: u64) -> Entry {
        Entry::Effect {
            consumer: 0,
            payload,
        }
    }

    fn orders_publish(attempt: u64) -> Entry {
        let mut entry = publish(attempt);
        if let Entry::Publish { routes, .. } = &mut entry {
            *routes = idempotent::topology().targets[0].queues.clone();
        }
        entry
    }

    #[test]
    fn one_effect_per_confirmed_message_passes() {
        let history = History::from_entries([orders_publish(1), confirm(1), effect(1)]);
        assert_eq!(check(&history, &idempotent::topology()), None);
    }

    #[test]
    fn a_second_effect_fails() {
        let history = History::from_entries([orders_publish(1), confirm(1), effect(1), effect(1)]);
        let violation = check(&history, &idempotent::topology()).expect("applied twice");
        assert!(violation.detail.contains("second time"), "{violation}");
    }

    #[test]
    fn a_confirmed_message_without_its_effect_fails() {
        let history = History::from_entries([orders_publish(1), confirm(1)]);
        let violation = check(&history, &idempotent::topology()).expect("never applied");
        assert!(violation.detail.contains("never applied"), "{violation}");
    }
}
