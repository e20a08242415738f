//! `dead-letter-accounting`: a dead-lettered message carries its history.
//!
//! When the broker dead-letters a message (`Event::DeadLettered`, with the
//! queue it died in and why), the copy a consumer later gets must say so in
//! its `x-death` header: the newest entry names that queue and reason, its
//! count is at least one, and no higher than the number of times the broker
//! reported that death. A message delivered from a queue no publish was
//! routed to arrived there by dead-lettering, so it must carry `x-death`
//! too. A crash may undo the broker's reports (a dead-lettering the log had
//! not synced), so after one the counts reported stay as upper bounds and
//! only deaths reported since the restart are matched.
//! That nothing is lost on the way is `no-lost-confirmed`'s to judge: it
//! follows every copy into the queues its dead letters reach.

use super::attempts::Attempts;
use super::Violation;
use crate::history::{Entry, History};
use crate::workload::Topology;
use brokerlab_core::{Event, MessageId};
use std::collections::BTreeMap;

/// The checker's name.
pub const NAME: &str = "dead-letter-accounting";

/// The latest death the broker reported for a message, and how often each
/// (queue, reason) was reported.
#[derive(Default)]
struct Reported {
    latest: Option<(String, String)>,
    counts: BTreeMap<(String, String), u64>,
}

/// The first delivery whose `x-death` disagrees with the broker's reports, if any.
#[must_use]
pub fn check(history: &History, _: &Topology) -> Option<Violation> {
    let mut attempts = Attempts::default();
    let mut reported: BTreeMap<MessageId, Reported> = BTreeMap::new();
    for timed in history.entries() {
        attempts.observe(&timed.entry);
        match &timed.entry {
            Entry::Crash => {
                // Reports the log had not synced may be undone: forget which
                // death was the latest, keep the counts as upper bounds.
                for report in reported.values_mut() {
                    report.latest = None;
                }
            }
            Entry::Broker {
                event:
                    Event::DeadLettered {
                        message,
                        queue,
                        reason,
                        ..
                    },
                ..
            } => {
                let death = (queue.to_string(), reason.as_str().to_owned());
                let report = reported.entry(*message).or_default();
                *report.counts.entry(death.clone()).or_default() += 1;
                report.latest = Some(death);
            }
            Entry::Deliver {
                consumer,
                queue,
                message,
                stamp,
                deaths,
                ..
            } => {
                let routed_here = stamp
                    .and_then(|stamp| attempts.published(stamp.attempt))
                    .is_some_and(|published| published.routes.contains(queue));
                let report = reported.get(message);
                let detail = match (deaths, report.and_then(|report| report.latest.as_ref())) {
                    (None, Some((died_in, reason))) => format!(
                        "message {} died in {died_in} ({reason}) but reached consumer \
                         {consumer} from {queue} without x-death",
                        message.0
                    ),
                    (None, None) if !routed_here && stamp.is_some() => format!(
                        "message {} reached consumer {consumer} from {queue}, where no \
                         publish routes, without x-death",
                        message.0
                    ),
                    (Some(deaths), Some(latest)) => {
                        let death = deaths.newest();
                        let newest = (death.queue.clone(), death.reason.clone());
                        let counted = report
                            .map_or(0, |report| report.counts.get(&newest).copied().unwrap_or(0));
                        if newest == *latest && (1..=counted).contains(&death.count) {
                            continue;
                        }
                        format!(
                            "message {} reached consumer {consumer} from {queue} with newest \
                             x-death ({}, {}, count {}); the broker reported ({}, {}) last, \
                             {counted} time(s)",
                            message.0, death.queue, death.reason, death.count, latest.0, latest.1
                        )
                    }
                    _ => continue,
                };
                return Some(Violation::safety(NAME, timed.at_ns, detail));
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
    use crate::history::{Death, Deaths};
    use brokerlab_core::DeadLetterReason;

    fn rejected() -> Entry {
        broker(Event::DeadLettered {
            message: MessageId(1),
            queue: QUEUE.into(),
            reason: DeadLetterReason::Rejected,
            exchange: "dlx".into(),
        })
    }

    fn deliver_with(deaths: Option<Deaths>) -> Entry {
        let mut entry = deliver(1, 2, false);
        if let Entry::Deliver { deaths: slot, .. } = &mut entry {
            *slot = deaths;
        }
        entry
    }

    fn death(count: u64) -> Deaths {
        Deaths {
            entries: vec![Death {
                queue: QUEUE.to_owned(),
                reason: "rejected".to_owned(),
                count,
            }],
        }
    }

    #[test]
    fn a_dead_letter_with_its_x_death_passes() {
        let history = History::from_entries([publish(1), rejected(), deliver_with(Some(death(1)))]);
        assert_eq!(check(&history, &topology()), None);
    }

    #[test]
    fn a_dead_letter_without_x_death_fails() {
        let history = History::from_entries([publish(1), rejected(), deliver_with(None)]);
        let violation = check(&history, &topology()).expect("x-death missing");
        assert_eq!(violation.checker, NAME);
    }

    #[test]
    fn an_x_death_count_above_the_deaths_reported_fails() {
        let history = History::from_entries([publish(1), rejected(), deliver_with(Some(death(2)))]);
        assert!(check(&history, &topology()).is_some());
    }
}
