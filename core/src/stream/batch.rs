//! Record batches: the unit a partition stores, serves and logs, after
//! Kafka's record batch v2 (base offset, producer id, epoch, base sequence,
//! records with key, value, headers and timestamp).
//!
//! A batch is written once and shared (`Arc`): a fetch hands out the same
//! allocation the log holds, so serving a batch copies no record bytes.

use crate::time::Instant;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// The size a batch counts for beyond its records' bytes: Kafka's record
/// batch v2 header is 61 bytes, so an empty-keyed, empty-valued batch still
/// weighs something against `min_bytes`, budgets and retention.
pub const BATCH_OVERHEAD_BYTES: u64 = 61;

/// The most records one batch may hold; more is `RECORD_LIST_TOO_LARGE`.
pub const RECORDS_PER_BATCH_MAX: usize = 1 << 20;

/// The producer id of a batch from a producer that is not idempotent (Kafka's `NO_PRODUCER_ID`).
pub const NO_PRODUCER_ID: i64 = -1;

/// One record of a batch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StreamRecord {
    /// The producer's timestamp, in milliseconds since the Unix epoch (Kafka's CreateTime).
    pub timestamp_ms: i64,
    /// The key, if any: keyed records are partitioned by it.
    pub key: Option<Bytes>,
    /// The value, if any.
    pub value: Option<Bytes>,
    /// Headers, in the producer's order; a name may repeat, and a value may
    /// be null (Kafka's length -1), which is not the same as empty.
    #[serde(with = "header_list")]
    pub headers: Vec<(String, Option<Bytes>)>,
}

impl StreamRecord {
    /// The bytes of its key, value and headers.
    #[must_use]
    pub fn size_bytes(&self) -> u64 {
        let key = self.key.as_ref().map_or(0, Bytes::len);
        let value = self.value.as_ref().map_or(0, Bytes::len);
        let headers: usize = self
            .headers
            .iter()
            .map(|(name, value)| name.len() + value.as_ref().map_or(0, Bytes::len))
            .sum();
        (key + value + headers) as u64
    }
}

/// How a record's headers are logged: as the list of (name, value) pairs
/// that records held before header values could be null, with a null value
/// marked by [`NULL_MARK`] before its name and an empty value. No name
/// written before holds that byte, since UTF-8 never does, so every log and
/// snapshot written before reads unchanged, and postcard writes a name as
/// bytes exactly as it writes a string.
mod header_list {
    use bytes::Bytes;
    use serde::de::{Error, SeqAccess, Visitor};
    use serde::ser::SerializeSeq;
    use serde::{Deserializer, Serialize, Serializer};
    use std::fmt;

    /// The byte before the name of a header whose value is null: never in UTF-8.
    pub(super) const NULL_MARK: u8 = 0xff;

    /// One header as logged: its name (marked when the value is null) and its value.
    #[derive(Serialize)]
    struct Logged<'a>(#[serde(with = "serde_bytes_slice")] &'a [u8], &'a Bytes);

    mod serde_bytes_slice {
        pub(super) fn serialize<S: serde::Serializer>(
            bytes: &&[u8],
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            serializer.serialize_bytes(bytes)
        }
    }

    pub(super) fn serialize<S: Serializer>(
        headers: &[(String, Option<Bytes>)],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let empty = Bytes::new();
        let mut seq = serializer.serialize_seq(Some(headers.len()))?;
        let mut marked = Vec::new();
        for (name, value) in headers {
            match value {
                Some(value) => seq.serialize_element(&Logged(name.as_bytes(), value))?,
                None => {
                    marked.clear();
                    marked.push(NULL_MARK);
                    marked.extend_from_slice(name.as_bytes());
                    seq.serialize_element(&Logged(&marked, &empty))?;
                }
            }
        }
        seq.end()
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<(String, Option<Bytes>)>, D::Error> {
        struct Headers;
        impl<'de> Visitor<'de> for Headers {
            type Value = Vec<(String, Option<Bytes>)>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of record headers")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                // Never reserve more than a few: the count comes from the log.
                let mut headers = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(16));
                while let Some((name, value)) = seq.next_element::<(Bytes, Bytes)>()? {
                    let (name, value) = match name.split_first() {
                        Some((&NULL_MARK, name)) => (name.to_vec(), None),
                        _ => (name.to_vec(), Some(value)),
                    };
                    let name = String::from_utf8(name).map_err(A::Error::custom)?;
                    headers.push((name, value));
                }
                Ok(headers)
            }
        }
        deserializer.deserialize_seq(Headers)
    }
}

/// A batch as a producer sends it: the broker gives it its offsets.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ProducedBatch {
    /// The idempotent producer's id, or [`NO_PRODUCER_ID`].
    pub producer_id: i64,
    /// The producer's epoch (ignored without a producer id).
    pub producer_epoch: i16,
    /// The sequence number of the first record (ignored without a producer id).
    pub base_sequence: i32,
    /// The records, in order.
    pub records: Vec<StreamRecord>,
}

impl ProducedBatch {
    /// A batch from a producer that is not idempotent.
    #[must_use]
    pub fn plain(records: Vec<StreamRecord>) -> ProducedBatch {
        ProducedBatch {
            producer_id: NO_PRODUCER_ID,
            producer_epoch: -1,
            base_sequence: -1,
            records,
        }
    }
}

/// The fields a batch is logged with; its sizes are derived, not trusted.
#[derive(Deserialize)]
struct BatchFields {
    base_offset: u64,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    appended_at: Instant,
    records: Vec<StreamRecord>,
}

/// A stored batch: records with consecutive offsets from `base_offset`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "BatchFields")]
pub struct Batch {
    base_offset: u64,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    /// When the broker appended it: age retention counts from here, on the
    /// broker's clock rather than the producer's.
    appended_at: Instant,
    records: Vec<StreamRecord>,
    #[serde(skip)]
    size_bytes: u64,
    #[serde(skip)]
    max_timestamp_ms: i64,
}

impl From<BatchFields> for Batch {
    fn from(fields: BatchFields) -> Batch {
        let size_bytes = BATCH_OVERHEAD_BYTES
            + fields
                .records
                .iter()
                .map(StreamRecord::size_bytes)
                .sum::<u64>();
        let max_timestamp_ms = fields
            .records
            .iter()
            .map(|record| record.timestamp_ms)
            .max()
            .unwrap_or(i64::MIN);
        Batch {
            base_offset: fields.base_offset,
            producer_id: fields.producer_id,
            producer_epoch: fields.producer_epoch,
            base_sequence: fields.base_sequence,
            appended_at: fields.appended_at,
            records: fields.records,
            size_bytes,
            max_timestamp_ms,
        }
    }
}

impl Batch {
    /// The batch a produced one becomes at `base_offset`, appended at `now`.
    #[must_use]
    pub fn new(produced: ProducedBatch, base_offset: u64, now: Instant) -> Batch {
        Batch::from(BatchFields {
            base_offset,
            producer_id: produced.producer_id,
            producer_epoch: produced.producer_epoch,
            base_sequence: produced.base_sequence,
            appended_at: now,
            records: produced.records,
        })
    }

    /// The offset of its first record.
    #[must_use]
    pub fn base_offset(&self) -> u64 {
        self.base_offset
    }

    /// The offset after its last record.
    #[must_use]
    pub fn end_offset(&self) -> u64 {
        self.base_offset + self.records.len() as u64
    }

    /// The offset of its last record.
    #[must_use]
    pub fn last_offset(&self) -> u64 {
        self.end_offset() - 1
    }

    /// The producer id, or [`NO_PRODUCER_ID`].
    #[must_use]
    pub fn producer_id(&self) -> i64 {
        self.producer_id
    }

    /// The producer epoch.
    #[must_use]
    pub fn producer_epoch(&self) -> i16 {
        self.producer_epoch
    }

    /// The sequence number of its first record.
    #[must_use]
    pub fn base_sequence(&self) -> i32 {
        self.base_sequence
    }

    /// The sequence number of its last record (wrapping after `i32::MAX`).
    #[must_use]
    pub fn last_sequence(&self) -> i32 {
        last_sequence(self.base_sequence, self.records.len())
    }

    /// When the broker appended it.
    #[must_use]
    pub fn appended_at(&self) -> Instant {
        self.appended_at
    }

    /// Its records; the record at index `i` has offset `base_offset + i`.
    #[must_use]
    pub fn records(&self) -> &[StreamRecord] {
        &self.records
    }

    /// Its size: the records' bytes and [`BATCH_OVERHEAD_BYTES`].
    #[must_use]
    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    /// The largest record timestamp in it.
    #[must_use]
    pub fn max_timestamp_ms(&self) -> i64 {
        self.max_timestamp_ms
    }

    /// The first record in it whose timestamp is at least `timestamp_ms`:
    /// its offset and its timestamp.
    #[must_use]
    pub fn record_at_or_after(&self, timestamp_ms: i64) -> Option<(u64, i64)> {
        let index = self
            .records
            .iter()
            .position(|record| record.timestamp_ms >= timestamp_ms)?;
        Some((
            self.base_offset + index as u64,
            self.records[index].timestamp_ms,
        ))
    }
}

/// The sequence of the last of `count` records from `base_sequence`, as
/// Kafka's `DefaultRecordBatch.incrementSequence` counts it: past
/// `i32::MAX` it starts again at 0.
#[must_use]
pub fn last_sequence(base_sequence: i32, count: usize) -> i32 {
    let increment = i64::try_from(count.saturating_sub(1)).unwrap_or(i64::MAX);
    let next = i64::from(base_sequence) + increment;
    let wrapped = next.rem_euclid(i64::from(i32::MAX) + 1);
    // rem_euclid by 2^31 lands in 0..2^31, which is i32's non-negative range.
    i32::try_from(wrapped).expect("a remainder below 2^31 fits an i32")
}
