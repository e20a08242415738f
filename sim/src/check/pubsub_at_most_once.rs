//! `pubsub-at-most-once`: a Pub/Sub subscriber never reads one message
//! twice. Each subscriber holds one subscription, so a publish reaches it at
//! most once, whichever of its connections was subscribed.

use super::Violation;
use crate::history::{Entry, History};
use crate::workload::Topology;
use std::collections::BTreeSet;

/// The checker's name.
pub const NAME: &str = "pubsub-at-most-once";

/// The first message a subscriber read a second time, if any.
#[must_use]
pub fn check(history: &History, _: &Topology) -> Option<Violation> {
    let mut read: BTreeSet<(usize, usize, u64)> = BTreeSet::new();
    for timed in history.entries() {
        if let Entry::PubSubMessage {
            subscriber,
            conn,
            sent: Some((publisher, seq)),
            ..
        } = &timed.entry
        {
            if !read.insert((*subscriber, *publisher, *seq)) {
                return Some(Violation::safety(
                    NAME,
                    timed.at_ns,
                    format!(
                        "subscriber {subscriber} read message {seq} of publisher {publisher} \
                         again, on connection {}",
                        conn.0
                    ),
                ));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::pubsub_fixtures::*;

    #[test]
    fn reading_each_message_once_passes() {
        let history = History::from_entries([
            subscribe(1),
            publish(0),
            message(1, 0),
            publish(1),
            message(1, 1),
        ]);
        assert_eq!(check(&history, &Topology::default()), None);
    }

    #[test]
    fn reading_a_message_again_after_resubscribing_is_a_duplicate() {
        let history = History::from_entries([
            subscribe(1),
            publish(0),
            message(1, 0),
            subscribe(2),
            message(2, 0),
        ]);
        let violation = check(&history, &Topology::default()).expect("read twice");
        assert_eq!(violation.checker, NAME);
    }
}
