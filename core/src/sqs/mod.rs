//! SQS queues: Amazon SQS's semantics as a kind of queue of the core.
//!
//! An SQS queue is a queue of the broker (`x-queue-type: sqs`) beside the
//! classic and stream queues, in the vhost [`SqsConfig::vhost`]: its
//! visible messages are the queue's ready messages, its messages are logged
//! like a durable queue's persistent messages, and a redrive to its
//! dead-letter queue is the core's dead-lettering (reason `delivery_limit`,
//! through the default exchange). What it adds:
//!
//! - **Visibility timeout.** A receive takes up to 10 visible messages and
//!   makes each invisible (in flight) until `now + timeout`, under a fresh
//!   receipt handle; then it is visible again at its place in the queue,
//!   unless it was deleted. `ApproximateReceiveCount` counts receives.
//! - **Receipt handles.** Only the latest handle of a message deletes it or
//!   changes its visibility. A delete with an older handle succeeds and
//!   deletes nothing in a standard queue; in a FIFO queue it fails with
//!   `InvalidParameterValue` ("The receipt handle has expired"), as AWS
//!   answers. A change of visibility of a message not in flight fails with
//!   `MessageNotInflight`.
//! - **Redrive.** With a `RedrivePolicy`, a message already received
//!   `maxReceiveCount` times is moved to the dead-letter queue when a
//!   receive would take it again.
//! - **Delay** (queue `DelaySeconds` and per message, standard queues),
//!   **retention** (`MessageRetentionPeriod`, the queue's message TTL),
//!   **maximum message size**, **long polling** (`WaitTimeSeconds` up to
//!   20 on the core's clock: a receive that finds nothing waits for a
//!   message or its deadline), **batches** of up to 10 entries with a
//!   result per entry, **purge**.
//! - **FIFO queues** (names ending `.fifo`): messages of a group are
//!   received in order, and no message of a group is received while
//!   another of that group is in flight; a `MessageDeduplicationId` (or,
//!   with `ContentBasedDeduplication`, the body's SHA-256, computed by the
//!   front end) sent again within 5 minutes is accepted and not enqueued.
//!
//! Commands come as [`Input::Sqs`](crate::Input::Sqs) and are answered by
//! [`Output::Sqs`](crate::Output::Sqs) with the same request number, a long
//! poll's answer later than the others.

pub mod attributes;
pub mod message;
pub(crate) mod queue;
#[cfg(test)]
mod tests;

pub use attributes::{QueueAttributes, RedrivePolicy};

use bytes::Bytes;
use std::fmt;

/// Most entries in a batch, and most messages one receive returns.
pub const BATCH_ENTRIES_MAX: usize = 10;
/// Longest long poll, in seconds.
pub const WAIT_TIME_SECONDS_MAX: u32 = 20;
/// Longest visibility timeout, in seconds (12 hours).
pub const VISIBILITY_TIMEOUT_SECONDS_MAX: u32 = 43_200;
/// Longest delay, in seconds (15 minutes).
pub const DELAY_SECONDS_MAX: u32 = 900;
/// The FIFO deduplication window, in milliseconds (5 minutes).
pub const DEDUPLICATION_WINDOW_MS: u64 = 300_000;
/// Most bytes in a message (body and attributes), and in a whole batch.
pub const MESSAGE_SIZE_MAX: u32 = 262_144;
/// Most messages in flight in a standard queue (AWS's 120,000).
pub const IN_FLIGHT_MAX_STANDARD: usize = 120_000;
/// Most messages in flight in a FIFO queue (AWS's 20,000).
pub const IN_FLIGHT_MAX_FIFO: usize = 20_000;
/// Longest queue name.
pub const QUEUE_NAME_MAX: usize = 80;

/// The SQS queues' configuration.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SqsConfig {
    /// The vhost the SQS queues live in (it must be one of the broker's).
    pub vhost: String,
    /// Most receives waiting in long polls at once, over all queues; past
    /// it a receive that finds nothing answers at once with nothing.
    pub waiting_receives_max: usize,
    /// What a queue's ARN starts with, before `:<name>`.
    pub arn_prefix: String,
}

impl Default for SqsConfig {
    fn default() -> SqsConfig {
        SqsConfig {
            vhost: "/".to_owned(),
            waiting_receives_max: 10_000,
            arn_prefix: "arn:aws:sqs:us-east-1:000000000000".to_owned(),
        }
    }
}

/// An SQS action, with its parameters as the JSON protocol carries them
/// once decoded. Queues are named, not addressed: a front end maps its
/// queue URLs to names.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SqsCommand {
    /// CreateQueue: creates the queue, or answers with the existing one when
    /// its attributes are the same.
    CreateQueue {
        /// The queue's name (`.fifo` for a FIFO queue).
        queue: String,
        /// Attributes by name, as strings.
        attributes: Vec<(String, String)>,
    },
    /// GetQueueUrl: whether the queue exists.
    GetQueueUrl {
        /// The queue.
        queue: String,
    },
    /// ListQueues: the SQS queues whose names start with `prefix`, in name
    /// order, a page at a time.
    ListQueues {
        /// Name prefix, empty for all.
        prefix: String,
        /// At most this many (1 to 1,000); `None` for up to 1,000, in one
        /// page with no next one (AWS pages only when `MaxResults` is set).
        max_results: Option<u32>,
        /// The page starts after this queue name: the `next` of the page
        /// before (`None` for the first page).
        after: Option<String>,
    },
    /// DeleteQueue: deletes the queue with its messages.
    DeleteQueue {
        /// The queue.
        queue: String,
    },
    /// GetQueueAttributes: the named attributes (`All` for every one).
    GetQueueAttributes {
        /// The queue.
        queue: String,
        /// Attribute names.
        names: Vec<String>,
    },
    /// SetQueueAttributes.
    SetQueueAttributes {
        /// The queue.
        queue: String,
        /// Attributes by name, as strings.
        attributes: Vec<(String, String)>,
    },
    /// PurgeQueue: deletes every message.
    PurgeQueue {
        /// The queue.
        queue: String,
    },
    /// SendMessage (`batch: false`, one entry) or SendMessageBatch.
    Send {
        /// The queue.
        queue: String,
        /// The entries.
        entries: Vec<SendEntry>,
        /// SendMessageBatch: the entry count and ids are checked as a batch.
        batch: bool,
    },
    /// ReceiveMessage.
    Receive {
        /// The queue.
        queue: String,
        /// 1 to 10 (`MaxNumberOfMessages`, 1 when absent).
        max_messages: u32,
        /// Overrides the queue's visibility timeout.
        visibility_timeout: Option<u32>,
        /// Overrides the queue's `ReceiveMessageWaitTimeSeconds`.
        wait_time_seconds: Option<u32>,
    },
    /// DeleteMessage (`batch: false`, one entry) or DeleteMessageBatch.
    Delete {
        /// The queue.
        queue: String,
        /// The entries: entry id (empty when not a batch) and receipt handle.
        entries: Vec<(String, String)>,
        /// DeleteMessageBatch.
        batch: bool,
    },
    /// ChangeMessageVisibility (`batch: false`) or its batch.
    ChangeVisibility {
        /// The queue.
        queue: String,
        /// The entries: entry id, receipt handle, new timeout in seconds.
        entries: Vec<(String, String, u32)>,
        /// ChangeMessageVisibilityBatch.
        batch: bool,
    },
}

/// One message to send.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SendEntry {
    /// The batch entry id (empty for SendMessage).
    pub id: String,
    /// The body.
    pub body: Bytes,
    /// Overrides the queue's delay (standard queues only).
    pub delay_seconds: Option<u32>,
    /// Message attributes, in the order given.
    pub attributes: Vec<MessageAttribute>,
    /// FIFO: the message group.
    pub group_id: Option<String>,
    /// FIFO: the deduplication id. When none is given and the queue has
    /// `ContentBasedDeduplication`, the core takes the body's SHA-256, in
    /// hex, as SQS does.
    pub deduplication_id: Option<String>,
}

/// A message attribute: a name, a data type (`String`, `Number`, `Binary`,
/// or one of those with a `.custom` suffix) and a value.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageAttribute {
    /// The name.
    pub name: String,
    /// The data type as given.
    pub data_type: String,
    /// The value.
    pub value: AttributeValue,
}

/// A message attribute's value.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AttributeValue {
    /// `StringValue` (for `String` and `Number` types).
    String(String),
    /// `BinaryValue`.
    Binary(Bytes),
}

/// What a sent message got.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Sent {
    /// The message's id (a UUID-shaped string).
    pub message_id: String,
    /// FIFO: its sequence number.
    pub sequence_number: Option<String>,
}

/// A received message.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Received {
    /// The message's id, as its send answered.
    pub message_id: String,
    /// The handle that deletes it or changes its visibility, until the next receive.
    pub receipt_handle: String,
    /// The body.
    pub body: Bytes,
    /// Message attributes, as sent.
    pub attributes: Vec<MessageAttribute>,
    /// `ApproximateReceiveCount`: receives so far, this one included.
    pub receive_count: u32,
    /// `SentTimestamp`, in milliseconds of the core's clock.
    pub sent_timestamp_ms: u64,
    /// `ApproximateFirstReceiveTimestamp`, in milliseconds.
    pub first_receive_timestamp_ms: u64,
    /// FIFO: `MessageGroupId`.
    pub group_id: Option<String>,
    /// FIFO: `MessageDeduplicationId`.
    pub deduplication_id: Option<String>,
    /// FIFO: `SequenceNumber`.
    pub sequence_number: Option<String>,
}

/// An answer to an [`SqsCommand`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SqsReply {
    /// CreateQueue or GetQueueUrl: the queue's name.
    Queue(String),
    /// ListQueues: a page of queue names.
    Queues {
        /// The names, in order.
        names: Vec<String>,
        /// Where the next page starts (after this name), when `max_results`
        /// was given and more queues follow.
        next: Option<String>,
    },
    /// DeleteQueue, SetQueueAttributes, PurgeQueue.
    Done,
    /// GetQueueAttributes: names and values, in AWS's order.
    Attributes(Vec<(String, String)>),
    /// Send: per entry, its id and result.
    Sent(Vec<(String, Result<Sent, SqsError>)>),
    /// Receive: the messages (none when the poll ran out).
    Received(Vec<Received>),
    /// Delete or ChangeVisibility: per entry, its id and result.
    Settled(Vec<(String, Result<(), SqsError>)>),
    /// The whole action failed.
    Error(SqsError),
}

/// An SQS error: its code as AWS names it, and a message.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SqsError {
    /// Which error.
    pub kind: SqsErrorKind,
    /// The message, in AWS's words where they are known.
    pub message: String,
}

impl SqsError {
    /// An error of `kind` with `message`.
    pub fn new(kind: SqsErrorKind, message: impl Into<String>) -> SqsError {
        SqsError {
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn no_queue() -> SqsError {
        SqsError::new(
            SqsErrorKind::QueueDoesNotExist,
            "The specified queue does not exist.",
        )
    }

    pub(crate) fn invalid_parameter(message: impl Into<String>) -> SqsError {
        SqsError::new(SqsErrorKind::InvalidParameterValue, message)
    }
}

impl fmt::Display for SqsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.code(), self.message)
    }
}

/// The SQS errors the core gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SqsErrorKind {
    /// The queue does not exist.
    QueueDoesNotExist,
    /// CreateQueue of an existing queue with other attributes.
    QueueAlreadyExists,
    /// An unknown attribute name.
    InvalidAttributeName,
    /// An attribute value out of range or malformed.
    InvalidAttributeValue,
    /// A parameter out of range or malformed.
    InvalidParameterValue,
    /// A required parameter is missing.
    MissingParameter,
    /// A receipt handle that is not one.
    ReceiptHandleIsInvalid,
    /// A change of visibility of a message not in flight.
    MessageNotInflight,
    /// A batch of more than 10.
    TooManyEntriesInBatchRequest,
    /// A batch of none.
    EmptyBatchRequest,
    /// Two entries of a batch with one id.
    BatchEntryIdsNotDistinct,
    /// An entry id that is not 1 to 80 of `[A-Za-z0-9_-]`.
    InvalidBatchEntryId,
    /// A batch whose messages add up to more than 256 KiB.
    BatchRequestTooLong,
    /// A purge within 60 s of the last one.
    PurgeQueueInProgress,
    /// Too many messages in flight.
    OverLimit,
}

impl SqsErrorKind {
    /// The error's name in the JSON protocol's `__type`
    /// (`com.amazonaws.sqs#<name>`).
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            SqsErrorKind::QueueDoesNotExist => "QueueDoesNotExist",
            SqsErrorKind::QueueAlreadyExists => "QueueAlreadyExists",
            SqsErrorKind::InvalidAttributeName => "InvalidAttributeName",
            SqsErrorKind::InvalidAttributeValue => "InvalidAttributeValue",
            SqsErrorKind::InvalidParameterValue => "InvalidParameterValue",
            SqsErrorKind::MissingParameter => "MissingParameter",
            SqsErrorKind::ReceiptHandleIsInvalid => "ReceiptHandleIsInvalid",
            SqsErrorKind::MessageNotInflight => "MessageNotInflight",
            SqsErrorKind::TooManyEntriesInBatchRequest => "TooManyEntriesInBatchRequest",
            SqsErrorKind::EmptyBatchRequest => "EmptyBatchRequest",
            SqsErrorKind::BatchEntryIdsNotDistinct => "BatchEntryIdsNotDistinct",
            SqsErrorKind::InvalidBatchEntryId => "InvalidBatchEntryId",
            SqsErrorKind::BatchRequestTooLong => "BatchRequestTooLong",
            SqsErrorKind::PurgeQueueInProgress => "PurgeQueueInProgress",
            SqsErrorKind::OverLimit => "OverLimit",
        }
    }

    /// The error's code in the query protocol, which the JSON protocol
    /// repeats in the `x-amzn-query-error` header (`<code>;Sender`).
    #[must_use]
    pub fn query_code(self) -> &'static str {
        match self {
            SqsErrorKind::QueueDoesNotExist => "AWS.SimpleQueueService.NonExistentQueue",
            SqsErrorKind::QueueAlreadyExists => "QueueAlreadyExists",
            SqsErrorKind::MessageNotInflight => "AWS.SimpleQueueService.MessageNotInflight",
            SqsErrorKind::TooManyEntriesInBatchRequest => {
                "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"
            }
            SqsErrorKind::EmptyBatchRequest => "AWS.SimpleQueueService.EmptyBatchRequest",
            SqsErrorKind::BatchEntryIdsNotDistinct => {
                "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"
            }
            SqsErrorKind::InvalidBatchEntryId => "AWS.SimpleQueueService.InvalidBatchEntryId",
            SqsErrorKind::BatchRequestTooLong => "AWS.SimpleQueueService.BatchRequestTooLong",
            SqsErrorKind::PurgeQueueInProgress => "AWS.SimpleQueueService.PurgeQueueInProgress",
            other => other.code(),
        }
    }
}
