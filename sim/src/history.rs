//! The history of a run: what the clients saw and did, and what the broker said.
//!
//! Checkers judge a run from the outside, as Jepsen does: from the
//! client-side record of publishes, confirms, deliveries and settles, plus the
//! core's own `Output::Event` stream (enqueued, delivered, acked, ...) and the
//! simulator's crashes and dropped connections. Nothing here reaches into the
//! broker's state. Entries are kept in the order they happened, each stamped
//! with the simulated time.
//!
//! A message is followed by its [`Stamp`]: the producer writes into every
//! body the logical message (`payload`, which a retry sends again) and the
//! publish attempt (`attempt`, unique in the run), so a delivery says exactly
//! which publish it came from, whatever ids the broker handed out.

use brokerlab_core::{ChannelId, ConnectionId, Event, MessageId};
use bytes::Bytes;

/// Most entries a history may hold; a run that records more is broken.
pub const ENTRIES_MAX: usize = 4_000_000;

/// What a producer writes into a message body to identify it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stamp {
    /// The logical message: the same for every retry of one publish.
    pub payload: u64,
    /// The publish attempt: unique in the run.
    pub attempt: u64,
}

impl Stamp {
    /// Bytes in an encoded stamp.
    pub const LEN: usize = 16;

    /// The body that carries this stamp.
    #[must_use]
    pub fn encode(self) -> Bytes {
        let mut body = Vec::with_capacity(Stamp::LEN);
        body.extend_from_slice(&self.payload.to_be_bytes());
        body.extend_from_slice(&self.attempt.to_be_bytes());
        Bytes::from(body)
    }

    /// The stamp in a body, or `None` when the body is not one a producer wrote.
    #[must_use]
    pub fn decode(body: &[u8]) -> Option<Stamp> {
        let bytes: &[u8; Stamp::LEN] = body.try_into().ok()?;
        let (payload, attempt) = bytes.split_at(8);
        Some(Stamp {
            payload: u64::from_be_bytes(payload.try_into().ok()?),
            attempt: u64::from_be_bytes(attempt.try_into().ok()?),
        })
    }
}

/// How a consumer settled a delivery. Every kind the work-queue consumer
/// sends that is not an ack asks for a requeue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Settle {
    /// basic.ack.
    Ack,
    /// basic.nack with requeue.
    Nack,
    /// basic.reject with requeue.
    Reject,
}

/// One thing that happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A producer sent a publish.
    Publish {
        /// Which producer.
        producer: usize,
        /// Its connection.
        conn: ConnectionId,
        /// Its channel.
        channel: ChannelId,
        /// The publisher-confirm sequence number of the publish.
        seq: u64,
        /// What the body carries.
        stamp: Stamp,
    },
    /// A producer received a publisher confirm for one publish.
    Confirm {
        /// Which producer.
        producer: usize,
        /// What the confirmed publish carried.
        stamp: Stamp,
        /// basic.ack (`true`) or basic.nack (`false`).
        ack: bool,
    },
    /// A consumer started consuming on a connection.
    Consume {
        /// Which consumer.
        consumer: usize,
        /// Its connection.
        conn: ConnectionId,
        /// Its channel.
        channel: ChannelId,
        /// The prefetch it asked for.
        prefetch: u16,
    },
    /// A consumer received a delivery.
    Deliver {
        /// Which consumer.
        consumer: usize,
        /// Its connection.
        conn: ConnectionId,
        /// Its channel.
        channel: ChannelId,
        /// The delivery tag.
        delivery_tag: u64,
        /// The redelivered flag.
        redelivered: bool,
        /// The broker's id for the message.
        message: MessageId,
        /// What the body carries (`None`: a body no producer wrote).
        stamp: Option<Stamp>,
    },
    /// A consumer sent a settle for a delivery.
    Settle {
        /// Which consumer.
        consumer: usize,
        /// Its connection.
        conn: ConnectionId,
        /// Its channel.
        channel: ChannelId,
        /// The delivery tag settled.
        delivery_tag: u64,
        /// How.
        how: Settle,
    },
    /// A connection was closed (dropped, timed out, or by a crash).
    Closed {
        /// The connection.
        conn: ConnectionId,
    },
    /// The broker emitted an event.
    Broker(Event),
    /// The broker crashed.
    Crash,
    /// The broker restarted from its log.
    Restart,
}

/// An entry and when it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timed {
    /// Simulated time, in nanoseconds.
    pub at_ns: u64,
    /// What happened.
    pub entry: Entry,
}

/// Everything that happened in a run, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    entries: Vec<Timed>,
}

impl History {
    /// An empty history.
    #[must_use]
    pub fn new() -> History {
        History::default()
    }

    /// Records `entry` at `at_ns`, which is never before the last entry.
    pub fn record(&mut self, at_ns: u64, entry: Entry) {
        assert!(self.entries.len() < ENTRIES_MAX, "history bound reached");
        if let Some(last) = self.entries.last() {
            assert!(last.at_ns <= at_ns, "history runs forwards in time");
        }
        self.entries.push(Timed { at_ns, entry });
    }

    /// The entries, in order.
    #[must_use]
    pub fn entries(&self) -> &[Timed] {
        &self.entries
    }

    /// A history holding these entries, stamped 0, 1, 2, ... (for checker tests).
    #[must_use]
    pub fn from_entries(entries: impl IntoIterator<Item = Entry>) -> History {
        let mut history = History::new();
        for (at_ns, entry) in entries.into_iter().enumerate() {
            history.record(at_ns as u64, entry);
        }
        history
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_survives_its_body() {
        let stamp = Stamp {
            payload: 7 << 32 | 3,
            attempt: 9,
        };
        assert_eq!(Stamp::decode(&stamp.encode()), Some(stamp));
        assert_eq!(Stamp::decode(b"short"), None);
    }
}
