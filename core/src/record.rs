//! Log records: what the broker asks its driver to make durable.
//!
//! The core stays sans-IO: it emits `Output::Persist(record)` for every change
//! that must survive a restart and learns that records are durable through
//! `Input::Synced { upto }`. Records name entities by (vhost, name) rather than
//! by arena id, so a log replays into a fresh broker whatever ids it hands out;
//! the names are [`Name`]s, which clone without copying the text, since a
//! record is made for every persistent message.
//! Each record carries its log sequence number, assigned by the core in
//! emission order: `Synced { upto }` means every record up to `upto` is durable.

use crate::field::FieldTable;
use crate::group::GroupChange;
use crate::message::{Name, SharedMessage};
use crate::protocol::ExchangeKind;
use crate::stream::{Batch, ProducerWindow, TopicConfig};
use crate::time::Instant;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The end of a binding: a queue or an exchange, by name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum BindingEnd {
    /// A queue.
    Queue(Name),
    /// An exchange.
    Exchange(Name),
}

/// One durable change, numbered.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Record {
    /// Log sequence number: 1 for the first record a broker emits, then one more per record.
    pub lsn: u64,
    /// The change.
    pub change: Change,
}

/// A durable change.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Change {
    /// Every message id up to `upto` was issued (a snapshot starts with it, so
    /// that ids of messages compacted away are not issued again).
    MessageIdsIssued {
        /// The highest id issued.
        upto: u64,
    },
    /// A durable exchange was declared.
    ExchangeDeclared {
        /// Its vhost.
        vhost: Name,
        /// Its name.
        name: Name,
        /// Its type.
        kind: ExchangeKind,
        /// Deleted when its last binding goes.
        auto_delete: bool,
        /// Not publishable by clients.
        internal: bool,
        /// Declare arguments.
        arguments: FieldTable,
    },
    /// A durable exchange was deleted.
    ExchangeDeleted {
        /// Its vhost.
        vhost: Name,
        /// Its name.
        name: Name,
    },
    /// A durable queue was declared.
    QueueDeclared {
        /// Its vhost.
        vhost: Name,
        /// Its name.
        name: Name,
        /// Deleted when its last consumer goes.
        auto_delete: bool,
        /// Declare arguments, as the client gave them.
        arguments: FieldTable,
    },
    /// A durable queue's arguments changed (an SQS queue's SetQueueAttributes).
    QueueArguments {
        /// Its vhost.
        vhost: Name,
        /// Its name.
        name: Name,
        /// The arguments now.
        arguments: FieldTable,
    },
    /// An SQS FIFO queue saw a deduplication id: a send repeating it
    /// before `until` is answered with this message and not enqueued
    /// (logged in one record with the message's `Enqueued`).
    SqsDeduplicated {
        /// The queue's vhost.
        vhost: Name,
        /// The queue.
        queue: Name,
        /// The deduplication id.
        id: String,
        /// When it leaves the window.
        until: Instant,
        /// The message id its send got.
        message_id: String,
        /// The sequence number its send got.
        sequence_number: String,
    },
    /// A durable queue was deleted (its messages with it).
    QueueDeleted {
        /// Its vhost.
        vhost: Name,
        /// Its name.
        name: Name,
    },
    /// A binding between durable ends was added.
    Bound {
        /// Its vhost.
        vhost: Name,
        /// The source exchange.
        source: Name,
        /// Where it leads.
        destination: BindingEnd,
        /// Binding key.
        routing_key: String,
        /// Binding arguments.
        arguments: FieldTable,
    },
    /// A binding between durable ends was removed.
    Unbound {
        /// Its vhost.
        vhost: Name,
        /// The source exchange.
        source: Name,
        /// Where it led.
        destination: BindingEnd,
        /// Binding key.
        routing_key: String,
        /// Binding arguments.
        arguments: FieldTable,
    },
    /// A persistent message entered a durable queue.
    Enqueued {
        /// The queue's vhost.
        vhost: Name,
        /// The queue.
        queue: Name,
        /// Its position in the queue.
        seq: u64,
        /// The message.
        message: SharedMessage,
        /// When it expires.
        expires_at: Option<Instant>,
        /// Times it was returned to a queue before (for `x-delivery-limit`).
        delivery_count: u32,
    },
    /// The message at `seq` was returned to its queue (its delivery count grew).
    Returned {
        /// The queue's vhost.
        vhost: Name,
        /// The queue.
        queue: Name,
        /// Its position in the queue.
        seq: u64,
        /// Its delivery count now.
        delivery_count: u32,
    },
    /// The message at `seq` left its queue for good (acked, expired, dead-lettered, dropped, purged).
    Removed {
        /// The queue's vhost.
        vhost: Name,
        /// The queue.
        queue: Name,
        /// Its position in the queue.
        seq: u64,
    },
    /// Changes that take effect together or not at all: a dead-lettered
    /// message's copies and its removal from the queue it died in.
    Atomic {
        /// The changes, in order.
        changes: Vec<Change>,
    },
    /// A durable stream topic was created.
    TopicCreated {
        /// Its name.
        topic: String,
        /// How many partitions.
        partitions: u32,
        /// Its configuration.
        config: TopicConfig,
    },
    /// A durable stream topic was deleted, its logs with it.
    TopicDeleted {
        /// Its name.
        topic: String,
    },
    /// A durable stream topic grew to `count` partitions.
    PartitionsCreated {
        /// Its name.
        topic: String,
        /// Its partition count now.
        count: u32,
    },
    /// A batch was appended to a partition of a durable topic.
    BatchAppended {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// The batch, with its offsets and producer fields.
        batch: Arc<Batch>,
    },
    /// Retention deleted a partition's oldest segments up to `log_start_offset`.
    LogStartMoved {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// The new log start.
        log_start_offset: u64,
    },
    /// Every idempotent producer id up to `upto` was issued (none is issued twice).
    ProducerIdsIssued {
        /// The highest id issued.
        upto: i64,
    },
    /// An idempotent producer's window in one partition (a snapshot writes
    /// it, since the batches it was built from may be gone).
    ProducerState {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// The producer.
        producer_id: i64,
        /// Its epoch and last batches.
        window: ProducerWindow,
    },
    /// A consumer group change: an offset committed, a new generation, a group deleted.
    Group(GroupChange),
    /// A saga instance's state after a transition (logged in one record
    /// with the message the transition sends).
    Saga {
        /// The saga exchange's vhost.
        vhost: Name,
        /// The saga exchange.
        exchange: Name,
        /// The instance, whole: its latest record is where it resumes.
        instance: crate::saga::Instance,
        /// The messages the transition sends (a command, a compensation,
        /// the outcome). They are routed once this record is synced; a
        /// replay routes again those with no `Enqueued` record after it.
        sends: Vec<SharedMessage>,
    },
}
