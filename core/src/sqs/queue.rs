//! What an SQS queue holds beside its ready (visible) messages: the
//! messages in flight and delayed, the latest receipt handles, the FIFO
//! groups in flight and deduplication window, and the receives waiting in
//! long polls.

use super::QueueAttributes;
use crate::protocol::ConnectionId;
use crate::queue::Entry;
use crate::time::Instant;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// The SQS part of a queue (`Queue::sqs`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct SqsQueue {
    /// Its attributes.
    pub(crate) attributes: QueueAttributes,
    /// `CreatedTimestamp` and `LastModifiedTimestamp`, in seconds.
    pub(crate) created_s: u64,
    pub(crate) modified_s: u64,
    /// Messages received and neither deleted nor visible again, by sequence number.
    pub(crate) in_flight: BTreeMap<u64, InFlight>,
    /// When each message in flight becomes visible again: (deadline, seq).
    pub(crate) visible_at: BTreeSet<(Instant, u64)>,
    /// Messages sent with a delay, by (due, seq).
    pub(crate) delayed: BTreeMap<(Instant, u64), Entry>,
    /// The latest receipt of each visible message that was received before,
    /// by sequence number: a delete with it still deletes the message.
    pub(crate) receipts: BTreeMap<u64, Receipt>,
    /// FIFO: messages in flight per group.
    pub(crate) groups_in_flight: BTreeMap<String, usize>,
    /// FIFO: deduplication ids seen within the window, with what their send got.
    pub(crate) deduplication: BTreeMap<String, Deduplicated>,
    /// FIFO: when each deduplication id leaves the window.
    pub(crate) deduplication_ends: BTreeSet<(Instant, String)>,
    /// Receives waiting in long polls, oldest first.
    pub(crate) waiting: VecDeque<Waiting>,
    /// The deadline the queue's timer is armed for, if any.
    pub(crate) timer: Option<Instant>,
    /// When the last purge began.
    pub(crate) purged_at: Option<Instant>,
}

/// A message in flight.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct InFlight {
    /// The entry, out of the ready messages.
    pub(crate) entry: Entry,
    /// Its receipt.
    pub(crate) receipt: Receipt,
    /// When it becomes visible again.
    pub(crate) visible_at: Instant,
}

/// A receive of a message: its handle's nonce, and the message's first receive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Receipt {
    /// Unique per receive in the broker's life and across its recoveries.
    pub(crate) nonce: u64,
    /// `ApproximateFirstReceiveTimestamp`, in milliseconds.
    pub(crate) first_receive_ms: u64,
}

/// A deduplication id's first send.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Deduplicated {
    /// When it leaves the window.
    pub(crate) until: Instant,
    /// The message id that send got.
    pub(crate) message_id: String,
    /// The sequence number that send got.
    pub(crate) sequence_number: String,
    /// The lsn of that send's record: a repeat is answered once it is
    /// synced, as the first send is.
    pub(crate) lsn: Option<u64>,
}

/// A receive waiting in a long poll.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Waiting {
    /// Its connection.
    pub(crate) conn: ConnectionId,
    /// Its request number.
    pub(crate) request: u64,
    /// How many messages it takes.
    pub(crate) max_messages: u32,
    /// The visibility timeout it gives them, in seconds.
    pub(crate) visibility_timeout: u32,
    /// When it answers with nothing.
    pub(crate) deadline: Instant,
}

impl SqsQueue {
    /// A new queue with `attributes`, created at `now`.
    pub(crate) fn new(attributes: QueueAttributes, now: Instant) -> SqsQueue {
        SqsQueue {
            attributes,
            created_s: now.as_secs(),
            modified_s: now.as_secs(),
            in_flight: BTreeMap::new(),
            visible_at: BTreeSet::new(),
            delayed: BTreeMap::new(),
            receipts: BTreeMap::new(),
            groups_in_flight: BTreeMap::new(),
            deduplication: BTreeMap::new(),
            deduplication_ends: BTreeSet::new(),
            waiting: VecDeque::new(),
            timer: None,
            purged_at: None,
        }
    }

    /// The earliest deadline the queue must act on.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        [
            // A message whose visibility never ends (the
            // visibility-never-expires mutant's) arms no timer.
            self.visible_at
                .first()
                .map(|&(at, _)| at)
                .filter(|&at| at != Instant(u64::MAX)),
            self.delayed.first_key_value().map(|(&(at, _), _)| at),
            self.waiting.iter().map(|waiting| waiting.deadline).min(),
            self.deduplication_ends.first().map(|(at, _)| *at),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Body bytes in flight and delayed (held by the broker beside the ready ones).
    pub(crate) fn held_bytes(&self) -> u64 {
        let in_flight: u64 = self
            .in_flight
            .values()
            .map(|in_flight| in_flight.entry.size_bytes())
            .sum();
        let delayed: u64 = self.delayed.values().map(Entry::size_bytes).sum();
        in_flight + delayed
    }
}
