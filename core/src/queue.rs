//! A queue: its ready messages in delivery order, its consumers, and its flags.
//!
//! Ready messages live in one FIFO per priority level (one level for a plain
//! queue). Each message carries the sequence number it was enqueued with, so a
//! requeued message goes back to its original position: the levels stay sorted
//! by sequence number, which is what makes "requeue keeps publish order" a
//! binary search rather than a scan.

use crate::arena::Id;
use crate::args::{QueueArgs, StreamArgs};
use crate::field::FieldTable;
use crate::message::Message;
use crate::message::Name;
use crate::message::SharedMessage;
use crate::protocol::ConnectionId;
use crate::time::Instant;
use std::collections::VecDeque;

/// One message in a queue, ready or delivered and unacknowledged.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Entry {
    /// The message, shared with every other queue it was routed to.
    pub(crate) message: SharedMessage,
    /// Position in this queue's enqueue order.
    pub(crate) seq: u64,
    /// When it expires (the lower of the queue's and the message's TTL).
    pub(crate) expires: Expiry,
    /// Delivered before: the next delivery carries redelivered=true.
    pub(crate) redelivered: bool,
    /// How many times it was returned to the queue (for `x-delivery-limit`).
    pub(crate) delivery_count: u32,
    /// Its priority level in this queue (0 in a queue without priorities).
    pub(crate) level: u8,
    /// Persistent message in a durable queue: its life is logged.
    pub(crate) logged: bool,
}

impl Entry {
    /// Whether the entry's TTL has run out at `now`.
    pub(crate) fn is_expired(&self, now: Instant) -> bool {
        self.expires
            .at()
            .is_some_and(|expires_at| expires_at <= now)
    }

    /// Body size, counted against `x-max-length-bytes`.
    pub(crate) fn size_bytes(&self) -> u64 {
        self.message.body.len() as u64
    }
}

/// When an entry expires, in one word: an `Option<Instant>` takes two, and
/// as the widest niche of a delivery record it put the record's `None` tag
/// in a word of its own, which made moving a record out of its ring slot a
/// copy that stalled on store forwarding (`perf annotate` of `settle_one`).
/// The last instant stands for never: a deadline that far saturated anyway.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Expiry(u64);

impl Expiry {
    /// An entry that does not expire.
    pub(crate) const NEVER: Expiry = Expiry(u64::MAX);

    /// Expiring at `at`, or never.
    pub(crate) fn new(at: Option<Instant>) -> Expiry {
        at.map_or(Expiry::NEVER, |at| Expiry(at.0.min(u64::MAX - 1)))
    }

    /// When, if ever.
    pub(crate) fn at(self) -> Option<Instant> {
        (self != Expiry::NEVER).then_some(Instant(self.0))
    }
}

/// The ready messages of a queue, highest priority first, FIFO within a priority.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct Ready {
    levels: Vec<VecDeque<Entry>>,
    len: usize,
    bytes: u64,
}

impl Ready {
    /// An empty store with `levels` priority levels (at least one).
    pub(crate) fn new(levels: usize) -> Ready {
        assert!(
            (1..=256).contains(&levels),
            "between 1 and 256 priority levels"
        );
        Ready {
            levels: vec![VecDeque::new(); levels],
            len: 0,
            bytes: 0,
        }
    }

    /// The number of priority levels.
    pub(crate) fn level_count(&self) -> usize {
        self.levels.len()
    }

    /// Ready messages.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether no message is ready.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Body bytes of the ready messages.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Appends a newly enqueued entry at the tail of its level.
    pub(crate) fn push(&mut self, entry: Entry) {
        let level = &mut self.levels[usize::from(entry.level)];
        assert!(
            level.back().is_none_or(|last| last.seq < entry.seq),
            "enqueue order is seq order"
        );
        self.len += 1;
        self.bytes += entry.size_bytes();
        level.push_back(entry);
    }

    /// Puts a returned entry back at its original position (by sequence number).
    pub(crate) fn requeue(&mut self, entry: Entry) {
        let level = &mut self.levels[usize::from(entry.level)];
        let position = level.partition_point(|other| other.seq < entry.seq);
        assert!(
            level
                .get(position)
                .is_none_or(|other| other.seq != entry.seq),
            "an entry is in a queue once"
        );
        self.len += 1;
        self.bytes += entry.size_bytes();
        level.insert(position, entry);
    }

    /// Appends a returned entry at the tail, ignoring its position (a mutant's bug).
    #[cfg(feature = "mutants")]
    pub(crate) fn requeue_to_tail(&mut self, entry: Entry) {
        self.len += 1;
        self.bytes += entry.size_bytes();
        self.levels[usize::from(entry.level)].push_back(entry);
    }

    /// Removes and returns the next entry to deliver.
    pub(crate) fn pop(&mut self) -> Option<Entry> {
        let level = self
            .levels
            .iter_mut()
            .rev()
            .find(|level| !level.is_empty())?;
        let entry = level.pop_front().expect("the level is not empty");
        self.len -= 1;
        self.bytes -= entry.size_bytes();
        Some(entry)
    }

    /// Removes and returns the first entry, in delivery order, that `keep` takes.
    pub(crate) fn take_first(&mut self, mut keep: impl FnMut(&Entry) -> bool) -> Option<Entry> {
        let level = self
            .levels
            .iter_mut()
            .rev()
            .find(|level| level.iter().any(&mut keep))?;
        let position = level.iter().position(keep).expect("found above");
        let entry = level.remove(position).expect("in range");
        self.len -= 1;
        self.bytes -= entry.size_bytes();
        Some(entry)
    }

    /// Removes and returns the entry with sequence number `seq`, if it is ready.
    pub(crate) fn remove(&mut self, seq: u64) -> Option<Entry> {
        for level in &mut self.levels {
            let position = level.partition_point(|other| other.seq < seq);
            if level.get(position).is_some_and(|entry| entry.seq == seq) {
                let entry = level.remove(position).expect("in range");
                self.len -= 1;
                self.bytes -= entry.size_bytes();
                return Some(entry);
            }
        }
        None
    }

    /// Removes and returns an expired entry at the head of any level, if there is one.
    /// Expired messages behind live ones wait until they reach a head, as in RabbitMQ.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<Entry> {
        let level = self
            .levels
            .iter_mut()
            .rev()
            .find(|level| level.front().is_some_and(|entry| entry.is_expired(now)))?;
        let entry = level.pop_front().expect("the level has an expired head");
        self.len -= 1;
        self.bytes -= entry.size_bytes();
        Some(entry)
    }

    /// The earliest expiry among the heads of the levels.
    pub(crate) fn next_expiry(&self) -> Option<Instant> {
        self.levels
            .iter()
            .filter_map(|level| level.front()?.expires.at())
            .min()
    }

    /// Every ready entry, level by level.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.levels.iter().flatten()
    }

    /// Removes every ready entry, in delivery order.
    pub(crate) fn drain(&mut self) -> Vec<Entry> {
        let mut entries = Vec::with_capacity(self.len);
        while let Some(entry) = self.pop() {
            entries.push(entry);
        }
        entries
    }
}

/// A queue.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Queue {
    /// Name, unique in its vhost.
    pub(crate) name: Name,
    /// The vhost it lives in.
    pub(crate) vhost: Name,
    /// Survives a restart, with its persistent messages (never an exclusive queue).
    pub(crate) durable: bool,
    /// The connection that owns it, for an exclusive queue.
    pub(crate) owner: Option<ConnectionId>,
    /// Deleted when its last consumer goes (if it ever had one).
    pub(crate) auto_delete: bool,
    /// Validated arguments.
    pub(crate) args: QueueArgs,
    /// The arguments as declared, for the log.
    pub(crate) arguments: FieldTable,
    /// Ready messages.
    pub(crate) ready: Ready,
    /// Sequence number for the next enqueued message.
    pub(crate) next_seq: u64,
    /// Consumers in registration order.
    pub(crate) consumers: Vec<Id>,
    /// Where round-robin dispatch looks first.
    pub(crate) cursor: usize,
    /// Whether a consumer was ever registered (for auto-delete).
    pub(crate) had_consumer: bool,
    /// Last time it was used, for `x-expires`.
    pub(crate) last_used: Instant,
    /// The head-expiry deadline already armed, if any.
    pub(crate) head_timer: Option<Instant>,
    /// The `x-expires` deadline already armed, if any.
    pub(crate) expires_timer: Option<Instant>,
    /// When a consumer last got a delivery, kept only under credit flow.
    pub(crate) last_delivery: Option<Instant>,
    /// A stream queue's log and arguments; `None` for a classic queue.
    pub(crate) stream: Option<Box<StreamQueue>>,
    /// An SQS queue's messages in flight, delayed and the rest (see
    /// [`crate::sqs`]); `None` for the other kinds.
    pub(crate) sqs: Option<Box<crate::sqs::queue::SqsQueue>>,
}

/// What makes a queue a stream queue (`x-queue-type: stream`): its
/// messages are the records of a one-partition topic of the streams, read
/// by each consumer from an offset of its own and never removed by a
/// delivery. Its `ready` stays empty.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct StreamQueue {
    /// The topic holding the log (see `broker::stream_queues::topic_name`).
    pub(crate) topic: String,
    /// Its validated arguments (its `QueueArgs` are the defaults).
    pub(crate) args: StreamArgs,
}

impl Queue {
    /// Whether the queue is over `x-max-length` or `x-max-length-bytes`.
    pub(crate) fn is_over_limit(&self) -> bool {
        self.args
            .max_length
            .is_some_and(|max| self.ready.len() as u64 > max)
            || self
                .args
                .max_length_bytes
                .is_some_and(|max| self.ready.bytes() > max)
    }

    /// Whether one more message of `size_bytes` would put the queue over a limit.
    pub(crate) fn would_overflow(&self, size_bytes: u64) -> bool {
        self.args
            .max_length
            .is_some_and(|max| self.ready.len() as u64 >= max)
            || self
                .args
                .max_length_bytes
                .is_some_and(|max| self.ready.bytes() + size_bytes > max)
    }

    /// The priority level of a message in this queue: its priority capped at the
    /// queue's maximum; no priority counts as 0.
    pub(crate) fn level_of(&self, message: &Message) -> u8 {
        let max = (self.ready.level_count() - 1) as u8;
        message.properties().priority.unwrap_or(0).min(max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expiry_in_one_word_keeps_every_deadline_and_never() {
        assert_eq!(Expiry::new(None).at(), None);
        assert_eq!(Expiry::new(None), Expiry::NEVER);
        for at in [0, 1, 1_000_000, u64::MAX - 2, u64::MAX - 1] {
            assert_eq!(Expiry::new(Some(Instant(at))).at(), Some(Instant(at)));
        }
        // A deadline saturated at the end of time stays a deadline, a
        // nanosecond earlier, rather than becoming never.
        assert_eq!(
            Expiry::new(Some(Instant(u64::MAX))).at(),
            Some(Instant(u64::MAX - 1))
        );
    }
}
