//! Which publish attempt a broker message id stands for, learnt as a
//! checker walks the history.
//!
//! The broker names messages by its own ids; the producers name publish
//! attempts by the stamp in the body. The broker's `Published` event ties
//! the two (by connection, channel and confirm sequence number, which the
//! producer's `Publish` entry also holds), and so does every delivery (by
//! the stamp in its body). A crash may make the broker reuse an id whose
//! message it lost, so the latest tie wins.

use crate::history::Entry;
use brokerlab_core::Name;
use brokerlab_core::{ChannelId, ConnectionId, Event, MessageId};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What the producer's `Publish` entry said about an attempt.
#[derive(Clone, Debug)]
pub struct Published {
    /// The queues the workload's routing table sends it to.
    pub routes: Arc<[Name]>,
    /// Its priority property.
    pub priority: Option<u8>,
    /// Its per-message TTL, in milliseconds.
    pub expiration_ms: Option<u64>,
}

/// Attempts by message id, and what each attempt was published with.
#[derive(Debug, Default)]
pub struct Attempts {
    by_publish: BTreeMap<(ConnectionId, ChannelId, u64), u64>,
    by_message: BTreeMap<MessageId, u64>,
    published: BTreeMap<u64, Published>,
}

impl Attempts {
    /// Learns from one entry; call it for every entry, in order.
    pub fn observe(&mut self, entry: &Entry) {
        match entry {
            Entry::Publish {
                conn,
                channel,
                seq,
                stamp,
                routes,
                priority,
                expiration_ms,
                ..
            } => {
                self.by_publish
                    .insert((*conn, *channel, *seq), stamp.attempt);
                let published = Published {
                    routes: routes.clone(),
                    priority: *priority,
                    expiration_ms: *expiration_ms,
                };
                self.published.insert(stamp.attempt, published);
            }
            Entry::Broker {
                event:
                    Event::Published {
                        message,
                        conn,
                        channel,
                        confirm_seq: Some(seq),
                    },
                ..
            } => {
                if let Some(attempt) = self.by_publish.get(&(*conn, *channel, *seq)) {
                    self.by_message.insert(*message, *attempt);
                }
            }
            Entry::Deliver {
                message,
                stamp: Some(stamp),
                ..
            } => {
                self.by_message.insert(*message, stamp.attempt);
            }
            _ => {}
        }
    }

    /// The attempt the broker's message id stands for, if known.
    #[must_use]
    pub fn of(&self, message: MessageId) -> Option<u64> {
        self.by_message.get(&message).copied()
    }

    /// What the attempt was published with.
    #[must_use]
    pub fn published(&self, attempt: u64) -> Option<&Published> {
        self.published.get(&attempt)
    }
}
