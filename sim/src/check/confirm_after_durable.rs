//! `confirm-after-durable`: the broker confirms a persistent message routed
//! to a durable queue only once its record is on disk.
//!
//! The broker node records `Durable` for a message when an fsync covers the
//! log record that enqueued it. Every queue of the workloads is durable and
//! every message persistent, so each `Confirmed` (basic.ack) of a message
//! the broker enqueued must come after its `Durable`. A confirm that went
//! out earlier is a promise a crash could break; `no-lost-confirmed` would
//! only see the loss if the crash struck in that window. A step that
//! compacts the log makes its own records durable: their `Durable` entries
//! then come before the step's events.

use super::Violation;
use crate::history::{Entry, History};
use crate::workload::Topology;
use brokerlab_core::{Event, MessageId};
use std::collections::BTreeSet;

/// The checker's name.
pub const NAME: &str = "confirm-after-durable";

/// The first confirm of an enqueued message sent before its record was synced, if any.
#[must_use]
pub fn check(history: &History, _: &Topology) -> Option<Violation> {
    let mut enqueued: BTreeSet<MessageId> = BTreeSet::new();
    let mut durable: BTreeSet<MessageId> = BTreeSet::new();
    for timed in history.entries() {
        match &timed.entry {
            Entry::Durable { message } => {
                durable.insert(*message);
            }
            // The broker may issue the id of a message a crash lost again.
            Entry::Crash => enqueued.retain(|message| durable.contains(message)),
            Entry::Broker { event, .. } => match event {
                Event::Enqueued { message, .. } => {
                    enqueued.insert(*message);
                }
                Event::Confirmed {
                    message,
                    ack: true,
                    confirm_seq,
                    ..
                } if enqueued.contains(message) && !durable.contains(message) => {
                    return Some(Violation::safety(
                        NAME,
                        timed.at_ns,
                        format!(
                            "message {} was confirmed (sequence number {confirm_seq}) before \
                             its enqueue record was synced",
                            message.0
                        ),
                    ));
                }
                _ => {}
            },
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::fixtures::*;

    fn enqueued() -> Entry {
        broker(Event::Enqueued {
            message: MessageId(1),
            queue: QUEUE.into(),
        })
    }

    fn confirmed() -> Entry {
        broker(Event::Confirmed {
            message: MessageId(1),
            conn: PRODUCER_CONN,
            channel: CHANNEL,
            confirm_seq: 1,
            ack: true,
        })
    }

    #[test]
    fn a_confirm_after_the_sync_passes() {
        let durable = Entry::Durable {
            message: MessageId(1),
        };
        let history = History::from_entries([enqueued(), durable, confirmed()]);
        assert_eq!(check(&history, &topology()), None);
    }

    #[test]
    fn a_confirm_before_the_sync_fails() {
        let history = History::from_entries([enqueued(), confirmed()]);
        let violation = check(&history, &topology()).expect("confirmed too early");
        assert_eq!(violation.checker, NAME);
    }
}
