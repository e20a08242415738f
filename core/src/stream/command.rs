//! What a front end asks of the streams ([`StreamCommand`]) and what it is
//! answered ([`StreamReply`]), protocol-neutral: a Kafka request of many
//! partitions becomes one command per partition for produce and list
//! offsets, and one command for a fetch, which waits across partitions.
//! Consumer group requests travel the same way, to the group coordinator.

use super::batch::ProducedBatch;
use super::error::StreamError;
use super::partition::FetchedData;
use super::topic::TopicConfig;
use crate::group::{GroupReply, GroupRequest};

/// When a produce is acknowledged (Kafka's `acks`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Acks {
    /// Never (`acks=0`): no reply at all.
    None,
    /// Once appended (`acks=1`): a crash before the store syncs may lose it.
    Appended,
    /// Once the store synced its record (`acks=all`, the default for
    /// durable topics); at once on a topic that is not durable.
    Synced,
}

impl Acks {
    /// Kafka's `acks` field: 0, 1 or -1; anything else is `INVALID_REQUIRED_ACKS`.
    pub fn from_kafka(acks: i16) -> Result<Acks, StreamError> {
        match acks {
            0 => Ok(Acks::None),
            1 => Ok(Acks::Appended),
            -1 => Ok(Acks::Synced),
            _ => Err(StreamError::InvalidRequiredAcks),
        }
    }
}

/// One partition of a fetch.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FetchPartition {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: u32,
    /// The first offset wanted.
    pub offset: u64,
    /// The most bytes wanted from this partition (beyond the first batch
    /// of the fetch, which is served whatever its size).
    pub max_bytes: u64,
}

/// Which offset ListOffsets asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OffsetSpec {
    /// The log start offset.
    Earliest,
    /// The high watermark: the offset the next visible record will have.
    Latest,
    /// The first offset whose record's timestamp is at least this many
    /// milliseconds since the Unix epoch.
    Timestamp(i64),
}

/// A command to the streams.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum StreamCommand {
    /// Creates a topic with `partitions` partitions.
    CreateTopic {
        /// Its name.
        topic: String,
        /// How many partitions, at least 1.
        partitions: u32,
        /// Its configuration.
        config: TopicConfig,
    },
    /// Deletes a topic and its logs.
    DeleteTopic {
        /// Its name.
        topic: String,
    },
    /// Grows a topic to `count` partitions (Kafka's CreatePartitions).
    CreatePartitions {
        /// Its name.
        topic: String,
        /// The new partition count, above the current one.
        count: u32,
    },
    /// Appends a batch to one partition.
    Produce {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// When to acknowledge.
        acks: Acks,
        /// The batch.
        batch: ProducedBatch,
    },
    /// Reads from partitions, waiting up to `max_wait_ms` for `min_bytes`.
    Fetch {
        /// The partitions and where to read each from.
        partitions: Vec<FetchPartition>,
        /// How long to wait for `min_bytes` (bounded by the broker's limit).
        max_wait_ms: u64,
        /// Answer as soon as this many bytes can be served.
        min_bytes: u64,
        /// The most bytes for the whole fetch (beyond its first batch).
        max_bytes: u64,
    },
    /// Looks up an offset of one partition.
    ListOffsets {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// Which offset.
        spec: OffsetSpec,
    },
    /// Issues a new idempotent producer id, with epoch 0.
    InitProducerId,
    /// Kafka's Metadata: the topics named (every topic when `None`) with
    /// their partition counts. With `create_partitions`, each named topic
    /// that does not exist is first created with that many partitions and
    /// the default configuration (Kafka's `auto.create.topics.enable` with
    /// `num.partitions`); the answer then waits for the creations' records.
    Metadata {
        /// The topics asked about; `None` for every topic.
        topics: Option<Vec<String>>,
        /// Partitions of a topic created because it was named and missing.
        create_partitions: Option<u32>,
    },
    /// A request to the consumer group coordinator (see [`crate::group`]):
    /// its reply may come later than the request (a join waits for the
    /// rebalance), and an accepted offset commit is answered once its
    /// record is synced.
    Group(GroupRequest),
    /// A topic's configuration (Kafka's DescribeConfigs of a topic).
    DescribeTopic {
        /// The topic.
        topic: String,
    },
    /// The connection authenticated as `user` (Kafka's SASL): its commands
    /// are checked against the user's permissions from now on
    /// (`broker/stream_access.rs`). Not answered.
    Authenticated {
        /// The user.
        user: String,
    },
}

/// An acknowledged produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Produced {
    /// The offset of the batch's first record (the original one for a repeated batch).
    pub base_offset: u64,
    /// The partition's log start offset.
    pub log_start_offset: u64,
    /// The batch repeated one already stored: nothing was appended.
    pub duplicate: bool,
}

/// The answer for one partition of a fetch.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FetchedPartition {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: u32,
    /// What was found, or why nothing could be.
    pub result: Result<FetchedData, StreamError>,
}

/// An offset ListOffsets found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ListedOffset {
    /// The offset; `None` when no record has a timestamp that late (Kafka answers -1).
    pub offset: Option<u64>,
    /// The timestamp of the record a lookup by timestamp found; `None` for
    /// earliest and latest, or when none was found (Kafka answers -1).
    pub timestamp_ms: Option<i64>,
    /// The partition's log start offset.
    pub log_start_offset: u64,
    /// The partition's high watermark.
    pub high_watermark: u64,
}

/// The answer to a stream command.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum StreamReply {
    /// To `CreateTopic`.
    TopicCreated {
        /// The topic.
        topic: String,
        /// Done, or why not.
        result: Result<(), StreamError>,
    },
    /// To `DeleteTopic`.
    TopicDeleted {
        /// The topic.
        topic: String,
        /// Done, or why not.
        result: Result<(), StreamError>,
    },
    /// To `CreatePartitions`.
    PartitionsCreated {
        /// The topic.
        topic: String,
        /// Done, or why not.
        result: Result<(), StreamError>,
    },
    /// To `Produce` (never with `Acks::None`).
    Produced {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// Where the batch is, or why it was refused.
        result: Result<Produced, StreamError>,
    },
    /// To `Fetch`, one entry per partition asked, in the order asked.
    Fetched {
        /// The partitions.
        partitions: Vec<FetchedPartition>,
    },
    /// To `ListOffsets`.
    Offsets {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// The offset, or why it could not be found.
        result: Result<ListedOffset, StreamError>,
    },
    /// To `Metadata`: each topic with its partition count, or why it has none
    /// (UNKNOWN_TOPIC_OR_PARTITION, or the refusal of its creation).
    Metadata {
        /// The topics, in the order asked (by name when every topic was asked for).
        topics: Vec<(String, Result<u32, StreamError>)>,
    },
    /// To `InitProducerId`.
    ProducerIdIssued {
        /// The new producer id.
        producer_id: i64,
        /// Its epoch.
        producer_epoch: i16,
    },
    /// To `Group`: the coordinator's reply.
    Group(GroupReply),
    /// To `DescribeTopic`.
    TopicConfig {
        /// The topic.
        topic: String,
        /// Its configuration, or why it has none to show.
        result: Result<TopicConfig, StreamError>,
    },
}
