//! `prefetch-respected`: a consumer never holds more unsettled deliveries
//! than its prefetch.
//!
//! Counted on the client's side: a delivery is held from its arrival until
//! the consumer sends its settle. The broker only learns of a settle after
//! the client sent it, so the client's count is never above the broker's, and
//! a delivery that finds the client already at its prefetch is one the broker
//! should not have sent.

use super::Violation;
use crate::history::{Entry, History};
use crate::workload::Topology;
use brokerlab_core::{ChannelId, ConnectionId};
use std::collections::{BTreeMap, BTreeSet};

/// The checker's name.
pub const NAME: &str = "prefetch-respected";

/// The first delivery beyond the prefetch, if any.
#[must_use]
pub fn check(history: &History, _: &Topology) -> Option<Violation> {
    let mut prefetch: BTreeMap<(ConnectionId, ChannelId), u16> = BTreeMap::new();
    let mut held: BTreeMap<(ConnectionId, ChannelId), BTreeSet<u64>> = BTreeMap::new();
    for timed in history.entries() {
        match &timed.entry {
            Entry::Consume {
                conn,
                channel,
                prefetch: limit,
                ..
            } => {
                prefetch.insert((*conn, *channel), *limit);
            }
            Entry::Deliver {
                consumer,
                conn,
                channel,
                delivery_tag,
                ..
            } => {
                let tags = held.entry((*conn, *channel)).or_default();
                tags.insert(*delivery_tag);
                let limit = prefetch.get(&(*conn, *channel)).copied().unwrap_or(0);
                if limit != 0 && tags.len() > usize::from(limit) {
                    return Some(Violation::safety(NAME, timed.at_ns, format!(
                            "consumer {consumer} holds {} unsettled deliveries with prefetch {limit}",
                            tags.len()
                        )));
                }
            }
            Entry::Settle {
                conn,
                channel,
                delivery_tag,
                ..
            } => {
                if let Some(tags) = held.get_mut(&(*conn, *channel)) {
                    tags.remove(delivery_tag);
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
    use crate::history::Settle;

    #[test]
    fn deliveries_within_the_prefetch_pass() {
        let history = History::from_entries([
            publish(1),
            publish(2),
            consume(1),
            deliver(1, 1, false),
            settle(1, Settle::Ack),
            deliver(2, 2, false),
        ]);
        assert_eq!(check(&history, &topology()), None);
    }

    #[test]
    fn a_delivery_beyond_the_prefetch_fails() {
        let history = History::from_entries([
            publish(1),
            publish(2),
            consume(1),
            deliver(1, 1, false),
            deliver(2, 2, false),
        ]);
        let violation = check(&history, &topology()).expect("two held with prefetch 1");
        assert_eq!(violation.checker, NAME);
    }
}
