//! Hand-made Pub/Sub history entries for the Pub/Sub checkers' tests.

use crate::history::Entry;
use brokerlab_core::ConnectionId;
use bytes::Bytes;

pub fn channel() -> Bytes {
    Bytes::from_static(b"ps.news")
}

/// Publisher 0 sends message `seq` to `ps.news`.
pub fn publish(seq: u64) -> Entry {
    Entry::PubSubPublish {
        publisher: 0,
        conn: ConnectionId(100),
        seq,
        channel: channel(),
    }
}

/// Publisher 0's message `seq` is answered with one receiver.
pub fn published(seq: u64) -> Entry {
    Entry::PubSubPublished {
        publisher: 0,
        seq,
        receivers: 1,
    }
}

/// Subscriber 0 subscribes to `ps.news` on connection `conn`.
pub fn subscribe(conn: u64) -> Entry {
    Entry::PubSubSubscribe {
        subscriber: 0,
        conn: ConnectionId(conn),
        name: channel(),
        pattern: false,
    }
}

/// Subscriber 0's subscription on `conn` is confirmed.
pub fn subscribed(conn: u64) -> Entry {
    Entry::PubSubSubscribed {
        subscriber: 0,
        conn: ConnectionId(conn),
    }
}

/// Subscriber 0 reads publisher 0's message `seq` on `conn`.
pub fn message(conn: u64, seq: u64) -> Entry {
    Entry::PubSubMessage {
        subscriber: 0,
        conn: ConnectionId(conn),
        channel: channel(),
        sent: Some((0, seq)),
    }
}
