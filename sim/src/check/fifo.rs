//! `fifo`: per queue, a consumer gets the messages of one publisher channel
//! that are not redelivered in the order they were published, within each
//! priority.
//!
//! The queue keeps publish order, and a requeued message goes back to its
//! place, so each consumer sees an increasing subsequence of every publisher
//! channel's confirm sequence numbers, once redeliveries are set aside (they
//! come back early by design) and so are dead-lettered copies (they join
//! their new queue at the tail, later). A consumer is one consume on one
//! channel, of one queue. In a priority queue a higher priority overtakes a
//! lower one by design, so the order holds per priority.

use super::Violation;
use crate::history::{Entry, History};
use crate::workload::Topology;
use brokerlab_core::{ChannelId, ConnectionId};
use std::collections::BTreeMap;

/// The checker's name.
pub const NAME: &str = "fifo";

type Channel = (ConnectionId, ChannelId);
/// A consumer channel, a publisher channel and a priority.
type Stream = (Channel, Channel, Option<u8>);

/// The first delivery that overtakes an earlier publish of its publisher channel, if any.
#[must_use]
pub fn check(history: &History, _: &Topology) -> Option<Violation> {
    let mut origin: BTreeMap<u64, (Channel, u64, Option<u8>)> = BTreeMap::new();
    // Per stream: the latest sequence number delivered.
    let mut latest: BTreeMap<Stream, u64> = BTreeMap::new();
    for timed in history.entries() {
        match &timed.entry {
            Entry::Publish {
                conn,
                channel,
                seq,
                stamp,
                priority,
                ..
            } => {
                origin.insert(stamp.attempt, ((*conn, *channel), *seq, *priority));
            }
            Entry::Deliver {
                consumer,
                conn,
                channel,
                redelivered: false,
                stamp: Some(stamp),
                deaths: None,
                ..
            } => {
                // A delivery nobody published is no-phantom's to report.
                let Some(&(publisher, seq, priority)) = origin.get(&stamp.attempt) else {
                    continue;
                };
                let key = ((*conn, *channel), publisher, priority);
                let previous = latest.insert(key, seq);
                if let Some(previous) = previous.filter(|previous| seq < *previous) {
                    return Some(
                        Violation::safety(
                            NAME,
                            timed.at_ns,
                            format!(
                                "consumer {consumer} on connection {} got publish {seq} of \
                             connection {} channel {} after publish {previous}",
                                conn.0, publisher.0 .0, publisher.1 .0
                            ),
                        )
                        .about(stamp.attempt),
                    );
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
    use crate::check::fixtures::*;

    #[test]
    fn publish_order_with_a_redelivery_between_passes() {
        let history = History::from_entries([
            publish(1),
            publish(2),
            publish(3),
            consume(3),
            deliver(1, 1, false),
            deliver(3, 2, false),
            deliver(2, 3, true),
        ]);
        assert_eq!(check(&history, &topology()), None);
    }

    #[test]
    fn an_earlier_publish_after_a_later_one_fails() {
        let history = History::from_entries([
            publish(1),
            publish(2),
            consume(2),
            deliver(2, 1, false),
            deliver(1, 2, false),
        ]);
        let violation = check(&history, &topology()).expect("publish 1 after publish 2");
        assert_eq!(violation.checker, NAME);
    }
}
