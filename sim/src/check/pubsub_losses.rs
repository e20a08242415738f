//! What each Pub/Sub subscriber missed, and why: the lesson of the
//! `pubsub-redis` workload, reported with the run, never a violation.
//!
//! Redis Pub/Sub is at most once: a message reaches the connections
//! subscribed at the moment of its publish, and nothing is kept for anyone
//! else. A subscriber misses a message of a channel it matches when:
//! - it was not subscribed then (not yet, or between two connections);
//! - its connection was cut off by the output-buffer limit (it stalled);
//! - its connection closed with the message on its way (a dropped link, a
//!   broker crash, or the subscriber leaving);
//! - the publish itself was lost with its publisher's connection (never
//!   answered, so perhaps never done).
//!
//! Positions in the history stand for times: a publish happened between
//! its send and its answer, a subscription lived from its SUBSCRIBE to its
//! connection's close.

use crate::history::{Entry, History};
use brokerlab_core::pubsub::glob;
use brokerlab_core::ConnectionId;
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};

/// Why a subscriber missed a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Why {
    /// No connection of the subscriber was subscribed around the publish.
    NotSubscribed,
    /// Its connection was cut off by the output-buffer limit.
    OutputBufferLimit,
    /// Its connection closed with the message on its way.
    ConnectionClosed,
    /// The publish was never answered: lost with its publisher's connection.
    PublishLost,
    /// None of the above: subscribed, the connection still open.
    Unexplained,
}

impl Why {
    /// Every reason, in report order.
    pub const ALL: [Why; 5] = [
        Why::NotSubscribed,
        Why::OutputBufferLimit,
        Why::ConnectionClosed,
        Why::PublishLost,
        Why::Unexplained,
    ];

    /// How the report names it.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Why::NotSubscribed => "not subscribed",
            Why::OutputBufferLimit => "output-buffer limit",
            Why::ConnectionClosed => "connection closed",
            Why::PublishLost => "publish lost",
            Why::Unexplained => "unexplained",
        }
    }
}

/// One subscriber's account.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Account {
    /// What it subscribed to (a channel, or a pattern).
    pub name: Bytes,
    /// Messages published to channels it matches.
    pub matching: u64,
    /// Of those, read.
    pub read: u64,
    /// Missed, by reason.
    pub missed: BTreeMap<Why, u64>,
}

/// A publish: its publisher and sequence number, its channel, and where in
/// the history it was sent and answered (if it was).
type Publish = ((usize, u64), Bytes, usize, Option<usize>);

#[derive(Clone, Copy, Debug)]
struct Subscription {
    subscriber: usize,
    from: usize,
    confirmed: Option<usize>,
    until: Option<usize>,
    cut_off: bool,
}

/// Every subscriber's account of the run, by subscriber number.
#[must_use]
pub fn accounts(history: &History) -> BTreeMap<usize, Account> {
    let mut publishes: Vec<Publish> = Vec::new();
    let mut sent_at: BTreeMap<(usize, u64), usize> = BTreeMap::new();
    let mut subscriptions: BTreeMap<ConnectionId, Subscription> = BTreeMap::new();
    let mut accounts: BTreeMap<usize, (Account, bool)> = BTreeMap::new();
    let mut read: BTreeSet<(usize, (usize, u64))> = BTreeSet::new();
    for (index, timed) in history.entries().iter().enumerate() {
        match &timed.entry {
            Entry::PubSubPublish {
                publisher,
                seq,
                channel,
                ..
            } => {
                sent_at.insert((*publisher, *seq), publishes.len());
                publishes.push(((*publisher, *seq), channel.clone(), index, None));
            }
            Entry::PubSubPublished { publisher, seq, .. } => {
                if let Some(at) = sent_at.get(&(*publisher, *seq)) {
                    publishes[*at].3 = Some(index);
                }
            }
            Entry::PubSubSubscribe {
                subscriber,
                conn,
                name,
                pattern,
            } => {
                let subscription = Subscription {
                    subscriber: *subscriber,
                    from: index,
                    confirmed: None,
                    until: None,
                    cut_off: false,
                };
                subscriptions.insert(*conn, subscription);
                let account = &mut accounts.entry(*subscriber).or_default();
                account.0.name = name.clone();
                account.1 = *pattern;
            }
            Entry::PubSubMessage {
                subscriber,
                sent: Some(key),
                ..
            } => {
                read.insert((*subscriber, *key));
            }
            Entry::PubSubSubscribed { conn, .. } => {
                if let Some(subscription) = subscriptions.get_mut(conn) {
                    subscription.confirmed.get_or_insert(index);
                }
            }
            Entry::PubSubCutOff { conn, .. } => {
                if let Some(subscription) = subscriptions.get_mut(conn) {
                    subscription.cut_off = true;
                }
            }
            Entry::Closed { conn } => {
                if let Some(subscription) = subscriptions.get_mut(conn) {
                    subscription.until.get_or_insert(index);
                }
            }
            _ => {}
        }
    }
    for (subscriber, (account, pattern)) in &mut accounts {
        for (key, channel, sent, answered) in &publishes {
            let matches = if *pattern {
                glob::matches(&account.name, channel)
            } else {
                account.name == *channel
            };
            if !matches {
                continue;
            }
            account.matching += 1;
            if read.contains(&(*subscriber, *key)) {
                account.read += 1;
                continue;
            }
            let why = match answered {
                None => Why::PublishLost,
                Some(answered) => {
                    // The subscriber's subscriptions alive at some point
                    // between the publish's send and its answer.
                    let live: Vec<&Subscription> = (subscriptions.values())
                        .filter(|subscription| {
                            subscription.subscriber == *subscriber
                                && subscription.from < *answered
                                && subscription.until.is_none_or(|until| until > *sent)
                        })
                        .collect();
                    let surely = |subscription: &&Subscription| {
                        subscription.confirmed.is_some_and(|at| at < *sent)
                            && subscription.until.is_none()
                    };
                    if live.iter().any(|subscription| subscription.cut_off) {
                        Why::OutputBufferLimit
                    } else if live.iter().any(surely) {
                        Why::Unexplained
                    } else if live.iter().any(|subscription| subscription.until.is_some()) {
                        Why::ConnectionClosed
                    } else {
                        // None, or one still being set up: not subscribed yet.
                        Why::NotSubscribed
                    }
                }
            };
            *account.missed.entry(why).or_default() += 1;
        }
    }
    accounts
        .into_iter()
        .map(|(subscriber, (account, _))| (subscriber, account))
        .collect()
}

/// The lesson in lines, one per subscriber (none outside `pubsub-redis`).
#[must_use]
pub fn lessons(history: &History) -> Vec<String> {
    accounts(history)
        .into_iter()
        .map(|(subscriber, account)| {
            let missed: u64 = account.missed.values().sum();
            let reasons: Vec<String> = Why::ALL
                .iter()
                .filter_map(|why| {
                    let count = account.missed.get(why)?;
                    Some(format!("{count} {}", why.name()))
                })
                .collect();
            let reasons = if reasons.is_empty() {
                String::new()
            } else {
                format!(" ({})", reasons.join(", "))
            };
            format!(
                "lesson: subscriber {subscriber} ({}) read {} of the {} messages it matches, \
                 missed {missed}{reasons}: Pub/Sub is at most once",
                String::from_utf8_lossy(&account.name),
                account.read,
                account.matching,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::pubsub_fixtures::*;

    #[test]
    fn a_subscriber_that_read_everything_after_it_subscribed_missed_only_the_earlier() {
        let history = History::from_entries([
            publish(0),
            published(0),
            subscribe(1),
            subscribed(1),
            publish(1),
            message(1, 1),
            published(1),
        ]);
        let account = &accounts(&history)[&0];
        assert_eq!((account.matching, account.read), (2, 1));
        assert_eq!(account.missed, BTreeMap::from([(Why::NotSubscribed, 1)]));
        assert!(lessons(&history)[0].contains("1 not subscribed"));
    }

    #[test]
    fn a_cut_off_subscriber_missed_by_the_output_buffer_limit() {
        let history = History::from_entries([
            subscribe(1),
            subscribed(1),
            publish(0),
            Entry::PubSubCutOff {
                conn: ConnectionId(1),
                reason: brokerlab_core::pubsub::SlowSubscriber::HardLimit,
            },
            published(0),
            Entry::Closed {
                conn: ConnectionId(1),
            },
            publish(1),
        ]);
        let account = &accounts(&history)[&0];
        assert_eq!(
            account.missed,
            BTreeMap::from([(Why::OutputBufferLimit, 1), (Why::PublishLost, 1)])
        );
    }
}
