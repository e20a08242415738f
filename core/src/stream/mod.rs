//! Partitioned streams with Kafka's semantics: topics of partitions, each
//! an append-only log of record batches; idempotent producers; long-polling
//! fetches; retention by size and age; ListOffsets.
//!
//! Topics live in one namespace for the whole broker, as Kafka's do: a
//! Kafka client names no virtual host, and a topic reached from two front
//! ends must be the same log. An AMQP front end that exposes a stream as a
//! queue maps its vhost into the name.
//!
//! The state here is pure: [`Streams`] judges commands, keeps the logs,
//! the producers' windows, the parked fetches and their deadlines, and
//! leaves in two outboxes the answers ready to go and the log changes to
//! persist; the broker (`broker/streams.rs`) turns those into outputs and
//! tells it what the store synced. Nothing is copied on the read path: a
//! batch is stored once behind an `Arc` and every fetch hands out that.
//!
//! Every wait is bounded: a fetch waits at most [`StreamLimits`]'s
//! `fetch_wait_ms_max`, and past the parked-fetch limits (per connection
//! and in all) a fetch is answered at once with what there is.

mod batch;
mod command;
mod error;
mod fetch;
mod invariants;
mod partition;
pub mod partitioner;
mod producer;
mod recovery;
mod topic;

pub use batch::{
    last_sequence, Batch, ProducedBatch, StreamRecord, BATCH_OVERHEAD_BYTES, NO_PRODUCER_ID,
    RECORDS_PER_BATCH_MAX,
};
pub use command::{
    Acks, FetchPartition, FetchedPartition, ListedOffset, OffsetSpec, Produced, StreamCommand,
    StreamReply,
};
pub use error::StreamError;
pub use partition::{FetchedData, Partition};
pub use producer::{follows, BatchSequence, ProducerWindow, Producers, PRODUCER_WINDOW_BATCHES};
pub use topic::{
    validate_topic_name, Topic, TopicConfig, SEGMENT_BYTES_MIN, TOPIC_NAME_LENGTH_MAX,
};

use crate::config::Mutant;
use crate::protocol::ConnectionId;
use crate::record::Change;
use crate::time::Instant;
pub(crate) use fetch::FetchRequest;
use fetch::ParkedFetch;
use producer::Verdict;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

/// The bounds the streams enforce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StreamLimits {
    /// Most topics (creating one more is `POLICY_VIOLATION`).
    pub topics_max: usize,
    /// Most partitions in one topic (more is `INVALID_PARTITIONS`).
    pub partitions_per_topic_max: u32,
    /// Most partitions one fetch may name (more is `INVALID_REQUEST`).
    pub fetch_partitions_max: usize,
    /// The longest a fetch waits, whatever its `max_wait_ms`.
    pub fetch_wait_ms_max: u64,
    /// Most fetches waiting for one connection.
    pub parked_fetches_per_connection_max: usize,
    /// Most fetches waiting in all.
    pub parked_fetches_max: usize,
    /// Most idempotent producers one partition remembers.
    pub producers_per_partition_max: usize,
}

impl Default for StreamLimits {
    fn default() -> StreamLimits {
        StreamLimits {
            topics_max: 10_000,
            partitions_per_topic_max: 10_000,
            fetch_partitions_max: 10_000,
            fetch_wait_ms_max: 60_000,
            parked_fetches_per_connection_max: 16,
            parked_fetches_max: 4_096,
            producers_per_partition_max: 10_000,
        }
    }
}

/// A reply to a request of a connection.
pub(crate) type Answer = (ConnectionId, u64, StreamReply);

/// A batch appended to a durable topic whose record is not yet synced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Unsynced {
    pub(crate) lsn: u64,
    topic: u64,
    partition: u32,
    end_offset: u64,
    size_bytes: u64,
}

/// What a produce did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Appended {
    /// The batch stored, or `None` for a repeated one.
    pub(crate) batch: Option<Arc<Batch>>,
    /// The topic's id.
    pub(crate) topic: u64,
    /// Its records go to the store.
    pub(crate) durable: bool,
    /// The reply to give.
    pub(crate) produced: Produced,
}

/// Every topic, parked fetch and idempotent producer of a broker.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Streams {
    pub(crate) limits: StreamLimits,
    pub(crate) names: BTreeMap<String, u64>,
    pub(crate) topics: BTreeMap<u64, (String, Topic)>,
    next_topic_id: u64,
    pub(crate) next_producer_id: i64,
    pub(crate) parked: BTreeMap<u64, ParkedFetch>,
    next_fetch_id: u64,
    pub(crate) fetch_deadlines: BTreeSet<(Instant, u64)>,
    /// The parked fetches reading each (topic id, partition).
    pub(crate) watchers: BTreeMap<(u64, u32), BTreeSet<u64>>,
    pub(crate) parked_per_connection: BTreeMap<ConnectionId, usize>,
    /// When age retention next has a segment to delete.
    pub(crate) retention_deadline: Option<Instant>,
    pub(crate) unsynced: VecDeque<Unsynced>,
    /// Replies that wait for their record to be synced, by its lsn.
    pub(crate) after_sync: BTreeMap<u64, Vec<Answer>>,
    /// Replies ready to go, in order.
    answers: Vec<Answer>,
    /// Changes to log, in order.
    changes: Vec<Change>,
    /// A deliberately broken behaviour of the streams (see [`Mutant`]).
    #[cfg(feature = "mutants")]
    mutant: Option<Mutant>,
}

impl Streams {
    /// Streams with no topic, under `limits`.
    #[must_use]
    pub fn new(limits: StreamLimits) -> Streams {
        Streams {
            limits,
            ..Streams::default()
        }
    }

    /// Streams with no topic, under the limits of `config` (and as its mutant).
    #[must_use]
    pub(crate) fn for_config(config: &crate::Config) -> Streams {
        Streams {
            limits: config.streams,
            #[cfg(feature = "mutants")]
            mutant: config.mutant,
            ..Streams::default()
        }
    }

    /// Whether the streams run as `mutant`: never without the `mutants` feature.
    #[cfg_attr(not(feature = "mutants"), allow(unused_variables))]
    pub(crate) fn is_mutant(&self, mutant: Mutant) -> bool {
        #[cfg(feature = "mutants")]
        {
            self.mutant == Some(mutant)
        }
        #[cfg(not(feature = "mutants"))]
        {
            false
        }
    }

    /// The topic of that name.
    #[must_use]
    pub fn topic(&self, name: &str) -> Option<&Topic> {
        let id = self.names.get(name)?;
        Some(&self.topics[id].1)
    }

    /// Every topic, by name.
    pub fn topics(&self) -> impl Iterator<Item = (&str, &Topic)> {
        self.names
            .iter()
            .map(|(name, id)| (name.as_str(), &self.topics[id].1))
    }

    /// How many fetches wait.
    #[must_use]
    pub fn parked_fetches(&self) -> usize {
        self.parked.len()
    }

    /// The next deadline: a parked fetch's or age retention's.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let fetch = self.fetch_deadlines.first().map(|(at, _)| *at);
        match (fetch, self.retention_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The replies ready to go and the changes to log, in order.
    pub(crate) fn take_outboxes(&mut self) -> (Vec<Answer>, Vec<Change>) {
        (
            std::mem::take(&mut self.answers),
            std::mem::take(&mut self.changes),
        )
    }

    /// Nothing waits in the outboxes.
    pub(crate) fn outboxes_empty(&self) -> bool {
        self.answers.is_empty() && self.changes.is_empty()
    }

    /// Creates a topic.
    pub(crate) fn create_topic(
        &mut self,
        name: &str,
        partitions: u32,
        config: TopicConfig,
    ) -> Result<(), StreamError> {
        validate_topic_name(name)?;
        if self.names.contains_key(name) {
            return Err(StreamError::TopicAlreadyExists);
        }
        if partitions == 0 || partitions > self.limits.partitions_per_topic_max {
            return Err(StreamError::InvalidPartitions);
        }
        config.validate()?;
        if self.names.len() >= self.limits.topics_max {
            return Err(StreamError::PolicyViolation);
        }
        self.insert_topic(name, partitions, config);
        Ok(())
    }

    fn insert_topic(&mut self, name: &str, partitions: u32, config: TopicConfig) {
        assert!(partitions > 0, "a topic has at least one partition");
        let id = self.next_topic_id;
        self.next_topic_id += 1;
        let topic = Topic {
            id,
            config,
            partitions: vec![Partition::default(); partitions as usize],
        };
        let previous = self.names.insert(name.to_owned(), id);
        assert!(previous.is_none(), "a topic name is taken once");
        self.topics.insert(id, (name.to_owned(), topic));
    }

    /// Deletes a topic; fetches waiting on it are answered now. Returns
    /// whether it was durable.
    pub(crate) fn delete_topic(&mut self, name: &str) -> Result<bool, StreamError> {
        let id = self
            .names
            .remove(name)
            .ok_or(StreamError::UnknownTopicOrPartition)?;
        let (_, topic) = self.topics.remove(&id).expect("a name leads to its topic");
        let waiting: BTreeSet<u64> = self
            .watchers
            .range((id, 0)..=(id, u32::MAX))
            .flat_map(|(_, fetches)| fetches.iter().copied())
            .collect();
        for fetch in waiting {
            self.complete_fetch(fetch);
        }
        Ok(topic.config.durable)
    }

    /// Grows a topic to `count` partitions. Returns whether it is durable.
    pub(crate) fn create_partitions(
        &mut self,
        name: &str,
        count: u32,
    ) -> Result<bool, StreamError> {
        let id = *self
            .names
            .get(name)
            .ok_or(StreamError::UnknownTopicOrPartition)?;
        let topic = &mut self
            .topics
            .get_mut(&id)
            .expect("a name leads to its topic")
            .1;
        let current = topic.partitions.len();
        if count as usize <= current || count > self.limits.partitions_per_topic_max {
            return Err(StreamError::InvalidPartitions);
        }
        topic
            .partitions
            .resize(count as usize, Partition::default());
        Ok(topic.config.durable)
    }

    /// Issues the next producer id, with epoch 0.
    pub(crate) fn issue_producer_id(&mut self) -> i64 {
        let id = self.next_producer_id;
        self.next_producer_id = id.checked_add(1).expect("producer ids do not run out");
        id
    }

    /// The topic and partition a command names.
    fn partition_mut(
        &mut self,
        name: &str,
        partition: u32,
    ) -> Result<(u64, &mut Topic), StreamError> {
        let id = *self
            .names
            .get(name)
            .ok_or(StreamError::UnknownTopicOrPartition)?;
        let topic = &mut self
            .topics
            .get_mut(&id)
            .expect("a name leads to its topic")
            .1;
        if partition as usize >= topic.partitions.len() {
            return Err(StreamError::UnknownTopicOrPartition);
        }
        Ok((id, topic))
    }

    /// Appends a batch, or finds it repeated. On a durable topic the
    /// caller logs the batch and calls [`Streams::appended_unsynced`].
    pub(crate) fn produce(
        &mut self,
        now: Instant,
        name: &str,
        index: u32,
        produced: ProducedBatch,
    ) -> Result<Appended, StreamError> {
        let (issued_below, producers_max) = (
            self.next_producer_id,
            self.limits.producers_per_partition_max,
        );
        // The `idempotence-off` mutant appends a repeated batch again.
        let deduplicates = !self.is_mutant(Mutant::IdempotenceOff);
        let (id, topic) = self.partition_mut(name, index)?;
        validate_batch(&produced, &topic.config)?;
        if produced.producer_id >= issued_below {
            return Err(StreamError::UnknownProducerId);
        }
        let config = topic.config;
        let partition = &mut topic.partitions[index as usize];
        let verdict = if produced.producer_id >= 0 {
            partition.producers.check(&produced)?
        } else {
            Verdict::Append
        };
        if let (Verdict::Duplicate(base_offset), true) = (verdict, deduplicates) {
            let produced = Produced {
                base_offset,
                log_start_offset: partition.log_start_offset,
                duplicate: true,
            };
            return Ok(Appended {
                batch: None,
                topic: id,
                durable: config.durable,
                produced,
            });
        }
        let batch = Arc::new(Batch::new(produced, partition.log_end_offset, now));
        partition.append(Arc::clone(&batch), config.segment_bytes);
        if batch.producer_id() >= 0 {
            partition.producers.record(&batch, producers_max);
        }
        if !config.durable {
            self.advance_high_watermark(id, index, batch.end_offset(), batch.size_bytes());
        }
        self.after_append(now, id, index, &config);
        let partition = &self.topics[&id].1.partitions[index as usize];
        let produced = Produced {
            base_offset: batch.base_offset(),
            log_start_offset: partition.log_start_offset,
            duplicate: false,
        };
        Ok(Appended {
            batch: Some(batch),
            topic: id,
            durable: config.durable,
            produced,
        })
    }

    /// Size retention after an append, and an age-retention deadline for
    /// a partition that had none.
    fn after_append(&mut self, now: Instant, id: u64, index: u32, config: &TopicConfig) {
        if config.retention_bytes.is_some() {
            self.retain(now, id, index);
        }
        if let Some(retention_ms) = config.retention_ms {
            let partition = &self.topics[&id].1.partitions[index as usize];
            if let Some(deadline) = partition.age_deadline(retention_ms) {
                if self.retention_deadline.is_none_or(|armed| deadline < armed) {
                    self.retention_deadline = Some(deadline.max(now));
                }
            }
        }
    }

    /// Applies the topic's retention to one partition, logging a moved log start.
    fn retain(&mut self, now: Instant, id: u64, index: u32) {
        let (name, topic) = self.topics.get_mut(&id).expect("a live topic");
        let config = topic.config;
        let partition = &mut topic.partitions[index as usize];
        if partition.apply_retention(now, config.retention_bytes, config.retention_ms)
            && config.durable
        {
            self.changes.push(Change::LogStartMoved {
                topic: name.clone(),
                partition: index,
                log_start_offset: partition.log_start_offset,
            });
        }
    }

    /// Notes that a durable topic's batch waits for record `lsn` to be synced before it is served.
    pub(crate) fn appended_unsynced(
        &mut self,
        lsn: u64,
        topic: u64,
        partition: u32,
        batch: &Batch,
    ) {
        // Batches appended under one atomic record (dead letters routed
        // to several stream queues) share its lsn.
        assert!(
            self.unsynced.back().is_none_or(|last| last.lsn <= lsn),
            "batches are logged in order"
        );
        self.unsynced.push_back(Unsynced {
            lsn,
            topic,
            partition,
            end_offset: batch.end_offset(),
            size_bytes: batch.size_bytes(),
        });
    }

    /// Holds a reply until record `lsn` is synced.
    pub(crate) fn reply_after_sync(&mut self, lsn: u64, answer: Answer) {
        self.after_sync.entry(lsn).or_default().push(answer);
    }

    /// Gives a reply now.
    pub(crate) fn reply(&mut self, answer: Answer) {
        self.answers.push(answer);
    }

    /// Every record up to `upto` is durable: batches become visible
    /// (waking their readers, letting retention reach them) and the
    /// replies waiting for them go out.
    pub(crate) fn synced(&mut self, now: Instant, upto: u64) {
        while self.unsynced.front().is_some_and(|first| first.lsn <= upto) {
            let synced = self.unsynced.pop_front().expect("checked above");
            if self.topics.contains_key(&synced.topic) {
                let (topic, partition) = (synced.topic, synced.partition);
                self.advance_high_watermark(topic, partition, synced.end_offset, synced.size_bytes);
                let config = self.topics[&topic].1.config;
                self.after_append(now, topic, partition, &config);
            }
        }
        while let Some(entry) = self.after_sync.first_entry() {
            if *entry.key() > upto {
                break;
            }
            self.answers.extend(entry.remove());
        }
    }

    /// Runs the deadlines due at `now`: parked fetches answered, age retention applied.
    pub(crate) fn fire(&mut self, now: Instant) {
        while let Some(&(at, fetch)) = self.fetch_deadlines.first() {
            if at > now {
                break;
            }
            self.complete_fetch(fetch);
        }
        if self.retention_deadline.is_some_and(|at| at <= now) {
            let partitions: Vec<(u64, u32)> = self
                .topics
                .iter()
                .filter(|(_, (_, topic))| topic.config.retention_ms.is_some())
                .flat_map(|(id, (_, topic))| (0..topic.partitions.len() as u32).map(|p| (*id, p)))
                .collect();
            for (id, index) in partitions {
                self.retain(now, id, index);
            }
            self.arm_retention(now);
        }
    }

    /// Arms age retention at the earliest future deadline of any partition.
    /// A deadline already past belongs to a segment the high watermark
    /// holds back: it is tried again when the watermark moves.
    fn arm_retention(&mut self, now: Instant) {
        self.retention_deadline = self
            .topics
            .values()
            .filter_map(|(_, topic)| Some((topic, topic.config.retention_ms?)))
            .flat_map(|(topic, ms)| {
                topic
                    .partitions
                    .iter()
                    .filter_map(move |p| p.age_deadline(ms))
            })
            .filter(|deadline| *deadline > now)
            .min();
    }

    /// Drops what a closed connection waits for: its parked fetches and
    /// the replies held for a sync.
    pub(crate) fn disconnect(&mut self, conn: ConnectionId) {
        if self.parked_per_connection.contains_key(&conn) {
            let fetches: Vec<u64> = self
                .parked
                .iter()
                .filter(|(_, fetch)| fetch.conn == conn)
                .map(|(id, _)| *id)
                .collect();
            for fetch in fetches {
                self.unpark(fetch);
            }
        }
        for answers in self.after_sync.values_mut() {
            answers.retain(|(to, _, _)| *to != conn);
        }
        self.after_sync.retain(|_, answers| !answers.is_empty());
        self.answers.retain(|(to, _, _)| *to != conn);
    }

    /// ListOffsets.
    pub(crate) fn list_offsets(
        &self,
        name: &str,
        index: u32,
        spec: OffsetSpec,
    ) -> Result<ListedOffset, StreamError> {
        let topic = self
            .topic(name)
            .ok_or(StreamError::UnknownTopicOrPartition)?;
        let partition = topic
            .partitions
            .get(index as usize)
            .ok_or(StreamError::UnknownTopicOrPartition)?;
        let (offset, timestamp_ms) = match spec {
            OffsetSpec::Earliest => (Some(partition.log_start_offset), None),
            OffsetSpec::Latest => (Some(partition.high_watermark), None),
            OffsetSpec::Timestamp(timestamp_ms) => {
                match partition.record_for_timestamp(timestamp_ms) {
                    Some((offset, found_ms)) => (Some(offset), Some(found_ms)),
                    None => (None, None),
                }
            }
        };
        Ok(ListedOffset {
            offset,
            timestamp_ms,
            log_start_offset: partition.log_start_offset,
            high_watermark: partition.high_watermark,
        })
    }
}

/// Refuses a batch no topic would store: empty, too many records, larger
/// than a message or a segment, or with producer fields out of range.
fn validate_batch(batch: &ProducedBatch, config: &TopicConfig) -> Result<(), StreamError> {
    if batch.records.is_empty() {
        return Err(StreamError::CorruptMessage);
    }
    if batch.records.len() > RECORDS_PER_BATCH_MAX {
        return Err(StreamError::RecordListTooLarge);
    }
    if batch.producer_id >= 0 && (batch.producer_epoch < 0 || batch.base_sequence < 0) {
        return Err(StreamError::CorruptMessage);
    }
    if batch.producer_id < NO_PRODUCER_ID {
        return Err(StreamError::CorruptMessage);
    }
    let size: u64 = BATCH_OVERHEAD_BYTES
        + batch
            .records
            .iter()
            .map(StreamRecord::size_bytes)
            .sum::<u64>();
    if size > config.segment_bytes {
        return Err(StreamError::RecordListTooLarge);
    }
    if size > config.max_message_bytes {
        return Err(StreamError::MessageTooLarge);
    }
    Ok(())
}
