//! Topics: a name, a configuration and N partitions, each a log of its own.

use super::error::StreamError;
use super::partition::Partition;
use serde::{Deserialize, Serialize};

/// The longest topic name Kafka accepts.
pub const TOPIC_NAME_LENGTH_MAX: usize = 249;

/// The smallest segment Kafka accepts (`segment.bytes`, its record-batch
/// header and a little more).
pub const SEGMENT_BYTES_MIN: u64 = 14;

/// A topic's configuration, fixed at creation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TopicConfig {
    /// The log is kept in the store: appends are logged, reads see only
    /// synced records, and acks after sync wait for the store.
    pub durable: bool,
    /// A segment rolls before a batch would take it past this size (Kafka's `segment.bytes`).
    pub segment_bytes: u64,
    /// Oldest segments are deleted while the rest still holds this many
    /// bytes (Kafka's `retention.bytes`); `None` keeps every byte.
    pub retention_bytes: Option<u64>,
    /// Segments whose newest batch is this old are deleted (Kafka's
    /// `retention.ms`, counted from when the broker appended it); `None`
    /// keeps them forever.
    pub retention_ms: Option<u64>,
    /// The largest batch accepted (Kafka's `max.message.bytes`).
    pub max_message_bytes: u64,
}

impl Default for TopicConfig {
    /// Kafka's defaults, but with 64 MiB segments rather than 1 GiB ones.
    fn default() -> TopicConfig {
        TopicConfig {
            durable: true,
            segment_bytes: 64 * 1024 * 1024,
            retention_bytes: None,
            retention_ms: Some(7 * 24 * 60 * 60 * 1000),
            max_message_bytes: 1_048_588,
        }
    }
}

impl TopicConfig {
    /// `INVALID_CONFIG` for a segment below Kafka's minimum, or a batch
    /// limit of 0 or above what one log frame holds
    /// ([`MESSAGE_SIZE_LIMIT_BYTES`](crate::MESSAGE_SIZE_LIMIT_BYTES)).
    pub fn validate(&self) -> Result<(), StreamError> {
        let frame_bytes = crate::MESSAGE_SIZE_LIMIT_BYTES as u64;
        if self.segment_bytes < SEGMENT_BYTES_MIN
            || self.max_message_bytes == 0
            || self.max_message_bytes > frame_bytes
        {
            return Err(StreamError::InvalidConfig);
        }
        Ok(())
    }
}

/// A topic.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Topic {
    /// Never reused, so a parked fetch cannot mistake a re-created topic for its own.
    pub(crate) id: u64,
    pub(crate) config: TopicConfig,
    pub(crate) partitions: Vec<Partition>,
}

impl Topic {
    /// The topic's configuration.
    #[must_use]
    pub fn config(&self) -> &TopicConfig {
        &self.config
    }

    /// Its partitions, by index.
    #[must_use]
    pub fn partitions(&self) -> &[Partition] {
        &self.partitions
    }
}

/// `INVALID_TOPIC_EXCEPTION` unless `name` is one Kafka accepts: 1 to 249
/// characters of `[a-zA-Z0-9._-]`, and not `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<(), StreamError> {
    let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if name.is_empty()
        || name.len() > TOPIC_NAME_LENGTH_MAX
        || name == "."
        || name == ".."
        || !name.chars().all(legal)
    {
        return Err(StreamError::InvalidTopic);
    }
    Ok(())
}
