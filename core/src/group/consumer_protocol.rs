//! The consumer protocol's bytes: the subscription a consumer sends as its
//! JoinGroup metadata and the assignment the leader sends in SyncGroup
//! (Kafka's `ConsumerProtocolSubscription` and `ConsumerProtocolAssignment`,
//! versions 0 to 3). The coordinator never reads them; simulated clients
//! encode and decode them as real clients do.
//!
//! Both are a big-endian version (i16) followed by the fields of that
//! version: strings as an i16 length and UTF-8 bytes, byte arrays as an i32
//! length (-1 for null), arrays as an i32 count. A newer version than 3 is
//! read as version 3, as Kafka reads it; trailing bytes are ignored.

use bytes::{BufMut, Bytes, BytesMut};
use std::fmt;

/// The highest version written and read.
pub const VERSION_MAX: i16 = 3;

/// A topic's partition.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
}

impl TopicPartition {
    /// A topic's partition.
    #[must_use]
    pub fn new(topic: &str, partition: i32) -> TopicPartition {
        TopicPartition {
            topic: topic.to_owned(),
            partition,
        }
    }
}

/// A consumer's subscription (JoinGroup metadata).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Subscription {
    /// Subscribed topics.
    pub topics: Vec<String>,
    /// Assignor-specific data.
    pub user_data: Option<Bytes>,
    /// Partitions the consumer owns now (v1+), for cooperative assignors.
    pub owned_partitions: Vec<TopicPartition>,
    /// The generation the owned partitions are of (v2+), -1 when unknown.
    pub generation: i32,
    /// The consumer's rack (v3+).
    pub rack_id: Option<String>,
}

/// A member's assignment (SyncGroup bytes).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct MemberAssignment {
    /// Assigned partitions.
    pub partitions: Vec<TopicPartition>,
    /// Assignor-specific data.
    pub user_data: Option<Bytes>,
}

/// Bytes that are not a valid subscription or assignment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError(pub &'static str);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad consumer protocol bytes: {}", self.0)
    }
}

impl std::error::Error for DecodeError {}

/// Encodes a subscription at `version` (0 to 3); topics and owned
/// partitions are sorted, as Kafka writes them.
#[must_use]
pub fn encode_subscription(subscription: &Subscription, version: i16) -> Bytes {
    assert!(
        (0..=VERSION_MAX).contains(&version),
        "subscription version 0 to 3"
    );
    let mut out = BytesMut::new();
    out.put_i16(version);
    let mut topics = subscription.topics.clone();
    topics.sort();
    put_array_len(&mut out, topics.len());
    for topic in &topics {
        put_string(&mut out, topic);
    }
    put_bytes(&mut out, subscription.user_data.as_deref());
    if version >= 1 {
        let mut owned = subscription.owned_partitions.clone();
        owned.sort();
        put_topic_partitions(&mut out, &owned);
    }
    if version >= 2 {
        out.put_i32(subscription.generation);
    }
    if version >= 3 {
        match &subscription.rack_id {
            Some(rack) => put_string(&mut out, rack),
            None => out.put_i16(-1),
        }
    }
    out.freeze()
}

/// Decodes a subscription; bad bytes are an error, never a panic.
pub fn decode_subscription(bytes: &[u8]) -> Result<Subscription, DecodeError> {
    let mut reader = Reader(bytes);
    let version = reader.version()?;
    let count = reader.array_len()?;
    let mut topics = Vec::with_capacity(count.min(bytes.len()));
    for _ in 0..count {
        topics.push(reader.string()?);
    }
    let user_data = reader.bytes()?;
    let mut subscription = Subscription {
        topics,
        user_data,
        generation: -1,
        ..Subscription::default()
    };
    if version >= 1 {
        subscription.owned_partitions = reader.topic_partitions()?;
    }
    if version >= 2 {
        subscription.generation = reader.i32()?;
    }
    if version >= 3 {
        subscription.rack_id = reader.nullable_string()?;
    }
    Ok(subscription)
}

/// Encodes an assignment at `version` (0 to 3), partitions grouped by topic
/// in order of first appearance, as Kafka writes them.
#[must_use]
pub fn encode_assignment(assignment: &MemberAssignment, version: i16) -> Bytes {
    assert!(
        (0..=VERSION_MAX).contains(&version),
        "assignment version 0 to 3"
    );
    let mut out = BytesMut::new();
    out.put_i16(version);
    put_topic_partitions(&mut out, &assignment.partitions);
    put_bytes(&mut out, assignment.user_data.as_deref());
    out.freeze()
}

/// The leader's part of a rebalance, as Kafka's consumer runs it
/// (`ConsumerCoordinator.onLeaderElected`): each member's subscription
/// decoded from the join reply's metadata (an undecodable one subscribes
/// to nothing), `assignor` run over the topics' partition counts, and each
/// member's assignment encoded at `version` for SyncGroup. `None` for an
/// assignor the core does not know.
#[must_use]
pub fn leader_assignments(
    members: &[super::JoinMember],
    assignor: &str,
    partitions_per_topic: &std::collections::BTreeMap<String, i32>,
    version: i16,
) -> Option<Vec<super::SyncAssignment>> {
    let members: Vec<super::assignors::AssignorMember> = (members.iter())
        .map(|member| super::assignors::AssignorMember {
            member_id: member.member_id.clone(),
            group_instance_id: member.group_instance_id.clone(),
            topics: decode_subscription(&member.metadata).map_or_else(|_| Vec::new(), |s| s.topics),
            generation: -1,
            ..super::assignors::AssignorMember::default()
        })
        .collect();
    let assignment = super::assignors::assign(assignor, &members, partitions_per_topic)?;
    let encoded = (assignment.into_iter()).map(|(member_id, partitions)| super::SyncAssignment {
        member_id,
        assignment: encode_assignment(
            &MemberAssignment {
                partitions,
                user_data: None,
            },
            version,
        ),
    });
    Some(encoded.collect())
}

/// Decodes an assignment; bad bytes are an error, never a panic.
pub fn decode_assignment(bytes: &[u8]) -> Result<MemberAssignment, DecodeError> {
    let mut reader = Reader(bytes);
    reader.version()?;
    let partitions = reader.topic_partitions()?;
    let user_data = reader.bytes()?;
    Ok(MemberAssignment {
        partitions,
        user_data,
    })
}

fn put_array_len(out: &mut BytesMut, len: usize) {
    out.put_i32(i32::try_from(len).expect("an array fits an i32 count"));
}

fn put_string(out: &mut BytesMut, text: &str) {
    out.put_i16(i16::try_from(text.len()).expect("a string fits an i16 length"));
    out.put_slice(text.as_bytes());
}

fn put_bytes(out: &mut BytesMut, bytes: Option<&[u8]>) {
    match bytes {
        Some(bytes) => {
            out.put_i32(i32::try_from(bytes.len()).expect("bytes fit an i32 length"));
            out.put_slice(bytes);
        }
        None => out.put_i32(-1),
    }
}

/// Partitions grouped by topic, topics in order of first appearance.
fn put_topic_partitions(out: &mut BytesMut, partitions: &[TopicPartition]) {
    let mut topics: Vec<(&str, Vec<i32>)> = Vec::new();
    for tp in partitions {
        match topics.iter_mut().find(|(topic, _)| *topic == tp.topic) {
            Some((_, list)) => list.push(tp.partition),
            None => topics.push((&tp.topic, vec![tp.partition])),
        }
    }
    put_array_len(out, topics.len());
    for (topic, list) in topics {
        put_string(out, topic);
        put_array_len(out, list.len());
        for partition in list {
            out.put_i32(partition);
        }
    }
}

/// Reads from the front of a slice, failing on anything short or malformed.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError("truncated"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn i16(&mut self) -> Result<i16, DecodeError> {
        let bytes = self.take(2)?;
        Ok(i16::from_be_bytes([bytes[0], bytes[1]]))
    }

    fn i32(&mut self) -> Result<i32, DecodeError> {
        let bytes = self.take(4)?;
        Ok(i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    fn version(&mut self) -> Result<i16, DecodeError> {
        let version = self.i16()?;
        if version < 0 {
            return Err(DecodeError("negative version"));
        }
        Ok(version.min(VERSION_MAX))
    }

    /// An array count: never negative, and never more elements than bytes left.
    fn array_len(&mut self) -> Result<usize, DecodeError> {
        let count = usize::try_from(self.i32()?).map_err(|_| DecodeError("negative array"))?;
        if count > self.0.len() {
            return Err(DecodeError("array longer than the bytes"));
        }
        Ok(count)
    }

    fn nullable_string(&mut self) -> Result<Option<String>, DecodeError> {
        let len = self.i16()?;
        if len == -1 {
            return Ok(None);
        }
        let len = usize::try_from(len).map_err(|_| DecodeError("negative string length"))?;
        let bytes = self.take(len)?;
        let text = std::str::from_utf8(bytes).map_err(|_| DecodeError("string not UTF-8"))?;
        Ok(Some(text.to_owned()))
    }

    fn string(&mut self) -> Result<String, DecodeError> {
        self.nullable_string()?.ok_or(DecodeError("null string"))
    }

    fn bytes(&mut self) -> Result<Option<Bytes>, DecodeError> {
        let len = self.i32()?;
        if len == -1 {
            return Ok(None);
        }
        let len = usize::try_from(len).map_err(|_| DecodeError("negative bytes length"))?;
        Ok(Some(Bytes::copy_from_slice(self.take(len)?)))
    }

    fn topic_partitions(&mut self) -> Result<Vec<TopicPartition>, DecodeError> {
        let topics = self.array_len()?;
        let mut partitions = Vec::new();
        for _ in 0..topics {
            let topic = self.string()?;
            let count = self.array_len()?;
            for _ in 0..count {
                let partition = self.i32()?;
                partitions.push(TopicPartition {
                    topic: topic.clone(),
                    partition,
                });
            }
        }
        Ok(partitions)
    }
}
