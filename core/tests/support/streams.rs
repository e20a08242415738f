//! Helpers for the stream rule tests: topics, batches, produces and
//! fetches as one-liners over the harness.

use super::{Harness, Step};
use brokerlab_core::stream::{
    Acks, Batch, FetchPartition, FetchedData, OffsetSpec, Produced, ProducedBatch, StreamRecord,
    TopicConfig,
};
use brokerlab_core::{StreamCommand, StreamError, StreamReply};
use std::sync::Arc;

/// The connection the helpers send on.
pub const CONN: u64 = 7;

/// A topic configuration that is not durable: replies and reads need no sync.
pub fn memory() -> TopicConfig {
    TopicConfig {
        durable: false,
        ..TopicConfig::default()
    }
}

/// A durable topic configuration.
pub fn durable() -> TopicConfig {
    TopicConfig::default()
}

/// A record with value `value` and timestamp `timestamp_ms`.
pub fn record(value: &str, timestamp_ms: i64) -> StreamRecord {
    StreamRecord {
        timestamp_ms,
        key: None,
        value: Some(value.as_bytes().to_vec().into()),
        headers: Vec::new(),
    }
}

/// A plain batch of records with these values.
pub fn batch(values: &[&str]) -> ProducedBatch {
    ProducedBatch::plain(values.iter().map(|value| record(value, 0)).collect())
}

/// An idempotent producer's batch.
pub fn idempotent(
    producer_id: i64,
    epoch: i16,
    base_sequence: i32,
    values: &[&str],
) -> ProducedBatch {
    ProducedBatch {
        producer_id,
        producer_epoch: epoch,
        base_sequence,
        records: values.iter().map(|value| record(value, 0)).collect(),
    }
}

/// Creates a topic; returns its reply's result (after a sync if durable).
pub fn create(
    h: &mut Harness,
    topic: &str,
    partitions: u32,
    config: TopicConfig,
) -> Result<(), StreamError> {
    let command = StreamCommand::CreateTopic {
        topic: topic.into(),
        partitions,
        config,
    };
    let mut step = h.stream(CONN, 1, command);
    step.extend(h.sync());
    match step.stream_reply() {
        StreamReply::TopicCreated { result, .. } => result,
        other => panic!("expected TopicCreated, got {other:?}"),
    }
}

/// Sends a produce with `acks`; returns the step.
pub fn send(
    h: &mut Harness,
    topic: &str,
    partition: u32,
    acks: Acks,
    batch: ProducedBatch,
) -> Step {
    let command = StreamCommand::Produce {
        topic: topic.into(),
        partition,
        acks,
        batch,
    };
    h.stream(CONN, 2, command)
}

/// The produce result in a step's one reply.
pub fn produced(step: &Step) -> Result<Produced, StreamError> {
    match step.stream_reply() {
        StreamReply::Produced { result, .. } => result,
        other => panic!("expected Produced, got {other:?}"),
    }
}

/// Produces with acks after sync and syncs; returns the result.
pub fn produce(
    h: &mut Harness,
    topic: &str,
    partition: u32,
    batch: ProducedBatch,
) -> Result<Produced, StreamError> {
    let mut step = send(h, topic, partition, Acks::Synced, batch);
    step.extend(h.sync());
    produced(&step)
}

/// A fetch of one partition that does not wait.
pub fn fetch_command(
    topic: &str,
    partition: u32,
    offset: u64,
    max_wait_ms: u64,
    min_bytes: u64,
) -> StreamCommand {
    StreamCommand::Fetch {
        partitions: vec![FetchPartition {
            topic: topic.into(),
            partition,
            offset,
            max_bytes: u64::MAX,
        }],
        max_wait_ms,
        min_bytes,
        max_bytes: u64::MAX,
    }
}

/// The one partition of a step's fetch reply.
pub fn fetched(step: &Step) -> Result<FetchedData, StreamError> {
    match step.stream_reply() {
        StreamReply::Fetched { mut partitions } => {
            assert_eq!(partitions.len(), 1, "one partition fetched");
            partitions.remove(0).result
        }
        other => panic!("expected Fetched, got {other:?}"),
    }
}

/// Fetches one partition from `offset` without waiting.
pub fn fetch(
    h: &mut Harness,
    topic: &str,
    partition: u32,
    offset: u64,
) -> Result<FetchedData, StreamError> {
    let step = h.stream(CONN, 3, fetch_command(topic, partition, offset, 0, 1));
    fetched(&step)
}

/// The values of the records a fetch at `offset` returned at or after it, with their offsets.
pub fn values_from(data: &FetchedData, offset: u64) -> Vec<(u64, String)> {
    data.batches
        .iter()
        .flat_map(records_of)
        .filter(|(at, _)| *at >= offset)
        .collect()
}

/// A batch's records as (offset, value).
pub fn records_of(batch: &Arc<Batch>) -> Vec<(u64, String)> {
    batch
        .records()
        .iter()
        .enumerate()
        .map(|(index, record)| {
            let value = record.value.as_deref().unwrap_or_default();
            (
                batch.base_offset() + index as u64,
                String::from_utf8_lossy(value).into_owned(),
            )
        })
        .collect()
}

/// ListOffsets of one partition: the offset found.
pub fn list(
    h: &mut Harness,
    topic: &str,
    partition: u32,
    spec: OffsetSpec,
) -> Result<Option<u64>, StreamError> {
    let command = StreamCommand::ListOffsets {
        topic: topic.into(),
        partition,
        spec,
    };
    match h.stream(CONN, 4, command).stream_reply() {
        StreamReply::Offsets { result, .. } => result.map(|listed| listed.offset),
        other => panic!("expected Offsets, got {other:?}"),
    }
}

/// Issues a producer id (synced); returns it.
pub fn init_producer(h: &mut Harness) -> i64 {
    let mut step = h.stream(CONN, 5, StreamCommand::InitProducerId);
    step.extend(h.sync());
    match step.stream_reply() {
        StreamReply::ProducerIdIssued {
            producer_id,
            producer_epoch,
        } => {
            assert_eq!(producer_epoch, 0, "a new producer id starts at epoch 0");
            producer_id
        }
        other => panic!("expected ProducerIdIssued, got {other:?}"),
    }
}
