//! The Pub/Sub channels' internal consistency, checked whole.

use super::PubSub;
use crate::protocol::ConnectionId;
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};

impl PubSub {
    /// Asserts that the channel and pattern indexes say what the
    /// subscribers hold, and that every output buffer is within its limits.
    pub fn check_invariants(&self) {
        let mut channels: BTreeMap<Bytes, BTreeSet<ConnectionId>> = BTreeMap::new();
        let mut patterns: BTreeMap<Bytes, BTreeSet<ConnectionId>> = BTreeMap::new();
        for (&conn, subscriber) in &self.subscribers {
            for channel in &subscriber.channels {
                channels.entry(channel.clone()).or_default().insert(conn);
            }
            for pattern in &subscriber.patterns {
                patterns.entry(pattern.clone()).or_default().insert(conn);
            }
            assert!(
                subscriber.count() <= self.config.subscriptions_per_connection_max,
                "invariant: a connection holds at most its bound of subscriptions"
            );
            assert!(
                subscriber.count() > 0 || subscriber.pending_bytes > 0,
                "invariant: a subscriber with nothing subscribed and nothing pending is forgotten"
            );
            let hard = self.config.output_buffer_hard_bytes;
            assert!(
                hard == 0 || subscriber.pending_bytes < hard,
                "invariant: a subscriber at the hard output-buffer limit is disconnected"
            );
            assert!(
                subscriber.soft_since.is_none()
                    || subscriber.pending_bytes >= self.config.output_buffer_soft_bytes,
                "invariant: the soft-limit clock runs only while the buffer is over the soft limit"
            );
        }
        assert_eq!(
            channels, self.channels,
            "invariant: the channel index is the subscribers' channels"
        );
        assert_eq!(
            patterns, self.patterns,
            "invariant: the pattern index is the subscribers' patterns"
        );
    }
}
