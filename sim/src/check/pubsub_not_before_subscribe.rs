//! `pubsub-not-before-subscribe`: a Pub/Sub connection reads nothing
//! published before it subscribed. A publish whose answer reached its
//! publisher before the subscriber even sent SUBSCRIBE was done, and its
//! deliveries made, before the subscription existed: Redis stores nothing
//! for later, so a connection that reads it was handed a stored message.

use super::Violation;
use crate::history::{Entry, History};
use crate::workload::Topology;
use brokerlab_core::ConnectionId;
use std::collections::BTreeMap;

/// The checker's name.
pub const NAME: &str = "pubsub-not-before-subscribe";

/// The first message read on a connection that subscribed after the
/// message's publish was answered, if any.
#[must_use]
pub fn check(history: &History, _: &Topology) -> Option<Violation> {
    // Positions in the history: entries are in the order they happened.
    let mut answered: BTreeMap<(usize, u64), usize> = BTreeMap::new();
    let mut subscribed: BTreeMap<ConnectionId, usize> = BTreeMap::new();
    for (index, timed) in history.entries().iter().enumerate() {
        match &timed.entry {
            Entry::PubSubPublished { publisher, seq, .. } => {
                answered.insert((*publisher, *seq), index);
            }
            Entry::PubSubSubscribe { conn, .. } => {
                subscribed.insert(*conn, index);
            }
            Entry::PubSubMessage {
                subscriber,
                conn,
                sent: Some(key),
                ..
            } => {
                let (Some(answer), Some(subscribe)) = (answered.get(key), subscribed.get(conn))
                else {
                    continue;
                };
                if answer < subscribe {
                    return Some(Violation::safety(
                        NAME,
                        timed.at_ns,
                        format!(
                            "subscriber {subscriber} read message {} of publisher {} on \
                             connection {}, which subscribed after that publish was answered",
                            key.1, key.0, conn.0
                        ),
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
    use crate::check::pubsub_fixtures::*;

    #[test]
    fn reading_what_was_published_after_subscribing_passes() {
        let history = History::from_entries([
            publish(0),
            published(0),
            subscribe(1),
            subscribed(1),
            publish(1),
            message(1, 1),
            published(1),
        ]);
        assert_eq!(check(&history, &Topology::default()), None);
    }

    #[test]
    fn reading_what_was_published_before_subscribing_is_store_and_forward() {
        let history = History::from_entries([
            publish(0),
            published(0),
            subscribe(1),
            subscribed(1),
            message(1, 0),
        ]);
        let violation = check(&history, &Topology::default()).expect("published before");
        assert_eq!(violation.checker, NAME);
    }
}
