//! `counters-agree`: the broker's counters say what its events say.
//!
//! A dashboard reads the broker's counters (`Broker::counters`, RabbitMQ's
//! global counters); the checkers read its events. Both describe the same
//! deliveries, so whenever the history holds the counters (before a crash
//! and at the end of the run) they must equal the tallies of the events the
//! broker emitted since it last started: every `Delivered` is a delivery,
//! and those flagged `redelivered` are the redeliveries. A counter that
//! drifts from the events is a metric that lies.

use super::Violation;
use crate::history::{Entry, History};
use crate::workload::Topology;
use brokerlab_core::Event;

/// The checker's name.
pub const NAME: &str = "counters-agree";

/// The first reading of the counters that disagrees with the events, if any.
#[must_use]
pub fn check(history: &History, _: &Topology) -> Option<Violation> {
    let (mut delivered, mut redelivered) = (0_u64, 0_u64);
    for timed in history.entries() {
        match &timed.entry {
            // The counters start again with the broker.
            Entry::Restart => (delivered, redelivered) = (0, 0),
            Entry::Broker {
                event:
                    Event::Delivered {
                        redelivered: flagged,
                        ..
                    },
                ..
            } => {
                delivered += 1;
                redelivered += u64::from(*flagged);
            }
            Entry::Counters {
                delivered: counted,
                redelivered: counted_again,
            } if (*counted, *counted_again) != (delivered, redelivered) => {
                return Some(Violation::safety(
                    NAME,
                    timed.at_ns,
                    format!(
                        "the broker counts {counted} deliveries, {counted_again} of them \
                         redelivered; its events show {delivered}, {redelivered} of them \
                         redelivered"
                    ),
                ));
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::fixtures::{broker, topology};
    use brokerlab_core::{ChannelId, ConnectionId, MessageId};

    /// The broker's event: message `id` delivered, flagged or not.
    fn delivered(id: u64, redelivered: bool) -> Entry {
        broker(Event::Delivered {
            message: MessageId(id),
            queue: "q".into(),
            conn: ConnectionId(1),
            channel: ChannelId(1),
            delivery_tag: id,
            redelivered,
        })
    }

    fn counters(delivered: u64, redelivered: u64) -> Entry {
        Entry::Counters {
            delivered,
            redelivered,
        }
    }

    #[test]
    fn counters_that_match_the_events_pass() {
        let history =
            History::from_entries([delivered(1, false), delivered(2, true), counters(2, 1)]);
        assert_eq!(check(&history, &topology()), None);
    }

    #[test]
    fn a_redelivery_the_counters_miss_since_the_restart_fails() {
        let history = History::from_entries([
            delivered(1, false),
            delivered(2, true),
            Entry::Restart,
            delivered(3, true),
            counters(1, 0),
        ]);
        let violation = check(&history, &topology()).expect("caught");
        assert_eq!(violation.checker, NAME);
    }
}
