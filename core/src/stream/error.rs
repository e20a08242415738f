//! The errors a stream command answers with, numbered as Kafka numbers them
//! (`org.apache.kafka.common.protocol.Errors`), so that a Kafka front end
//! sends the code as it is.

use std::fmt;

/// A stream command refused, with Kafka's error code ([`StreamError::code`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StreamError {
    /// 1: the offset is below the log start or above the log end.
    OffsetOutOfRange,
    /// 2: a batch with no records, or with producer fields out of range.
    CorruptMessage,
    /// 3: no such topic, or no such partition in it.
    UnknownTopicOrPartition,
    /// 10: a batch larger than the topic's `max_message_bytes`.
    MessageTooLarge,
    /// 17: a topic name Kafka would not accept.
    InvalidTopic,
    /// 18: a batch larger than the topic's segment, or with too many records.
    RecordListTooLarge,
    /// 21: acks other than 0, 1 or -1.
    InvalidRequiredAcks,
    /// 36: a topic of that name exists.
    TopicAlreadyExists,
    /// 37: a partition count below 1, above the limit, or not above the current one.
    InvalidPartitions,
    /// 40: a topic configuration out of range.
    InvalidConfig,
    /// 42: a request out of the bounds the broker sets (too many partitions in one fetch).
    InvalidRequest,
    /// 44: the broker's limits refuse it (too many topics).
    PolicyViolation,
    /// 45: a batch whose sequence does not follow its producer's last one.
    OutOfOrderSequenceNumber,
    /// 47: a batch from a producer epoch older than the partition has seen (fenced).
    InvalidProducerEpoch,
    /// 59: a producer id the broker never issued.
    UnknownProducerId,
    /// 29: the connection's user may not do this to the topic.
    TopicAuthorizationFailed,
}

impl StreamError {
    /// Kafka's numeric error code.
    #[must_use]
    pub fn code(self) -> i16 {
        match self {
            StreamError::OffsetOutOfRange => 1,
            StreamError::CorruptMessage => 2,
            StreamError::UnknownTopicOrPartition => 3,
            StreamError::MessageTooLarge => 10,
            StreamError::InvalidTopic => 17,
            StreamError::RecordListTooLarge => 18,
            StreamError::InvalidRequiredAcks => 21,
            StreamError::TopicAlreadyExists => 36,
            StreamError::InvalidPartitions => 37,
            StreamError::InvalidConfig => 40,
            StreamError::InvalidRequest => 42,
            StreamError::PolicyViolation => 44,
            StreamError::OutOfOrderSequenceNumber => 45,
            StreamError::InvalidProducerEpoch => 47,
            StreamError::UnknownProducerId => 59,
            StreamError::TopicAuthorizationFailed => 29,
        }
    }

    /// Kafka's name for the error.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            StreamError::OffsetOutOfRange => "OFFSET_OUT_OF_RANGE",
            StreamError::CorruptMessage => "CORRUPT_MESSAGE",
            StreamError::UnknownTopicOrPartition => "UNKNOWN_TOPIC_OR_PARTITION",
            StreamError::MessageTooLarge => "MESSAGE_TOO_LARGE",
            StreamError::InvalidTopic => "INVALID_TOPIC_EXCEPTION",
            StreamError::RecordListTooLarge => "RECORD_LIST_TOO_LARGE",
            StreamError::InvalidRequiredAcks => "INVALID_REQUIRED_ACKS",
            StreamError::TopicAlreadyExists => "TOPIC_ALREADY_EXISTS",
            StreamError::InvalidPartitions => "INVALID_PARTITIONS",
            StreamError::InvalidConfig => "INVALID_CONFIG",
            StreamError::InvalidRequest => "INVALID_REQUEST",
            StreamError::PolicyViolation => "POLICY_VIOLATION",
            StreamError::OutOfOrderSequenceNumber => "OUT_OF_ORDER_SEQUENCE_NUMBER",
            StreamError::InvalidProducerEpoch => "INVALID_PRODUCER_EPOCH",
            StreamError::UnknownProducerId => "UNKNOWN_PRODUCER_ID",
            StreamError::TopicAuthorizationFailed => "TOPIC_AUTHORIZATION_FAILED",
        }
    }
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

impl std::error::Error for StreamError {}
