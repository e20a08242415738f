//! `pubsub-publisher-order`: a Pub/Sub subscriber reads each publisher's
//! messages in the order they were published, across its connections too
//! (a connection's messages were all published before the next one
//! subscribed, since what is in flight on a closed connection is lost).

use super::Violation;
use crate::history::{Entry, History};
use crate::workload::Topology;
use std::collections::BTreeMap;

/// The checker's name.
pub const NAME: &str = "pubsub-publisher-order";

/// The first message read before one its publisher published earlier, if any.
#[must_use]
pub fn check(history: &History, _: &Topology) -> Option<Violation> {
    let mut last: BTreeMap<(usize, usize), u64> = BTreeMap::new();
    for timed in history.entries() {
        if let Entry::PubSubMessage {
            subscriber,
            sent: Some((publisher, seq)),
            ..
        } = &timed.entry
        {
            let key = (*subscriber, *publisher);
            match last.get(&key) {
                Some(before) if before > seq => {
                    return Some(Violation::safety(
                        NAME,
                        timed.at_ns,
                        format!(
                            "subscriber {subscriber} read message {seq} of publisher \
                             {publisher} after its message {before}"
                        ),
                    ));
                }
                _ => {
                    last.insert(key, *seq);
                }
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
    fn reading_in_publish_order_with_gaps_passes() {
        let history = History::from_entries([
            subscribe(1),
            publish(0),
            message(1, 0),
            publish(1),
            publish(2),
            message(1, 2),
        ]);
        assert_eq!(check(&history, &Topology::default()), None);
    }

    #[test]
    fn reading_an_older_message_later_is_out_of_order() {
        let history = History::from_entries([
            subscribe(1),
            publish(0),
            publish(1),
            message(1, 1),
            message(1, 0),
        ]);
        let violation = check(&history, &Topology::default()).expect("out of order");
        assert_eq!(violation.checker, NAME);
    }
}
