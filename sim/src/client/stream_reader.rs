//! A stream reader: it owns fixed partitions of a topic and reads them
//! with long polls, tracking its position in each.
//!
//! Its first position in every partition is 0. A poll is one fetch of all
//! its partitions that waits up to `wait_ms` for a byte; of what comes back
//! it takes, per partition, the records at or past its position (a fetch
//! hands out whole batches) and at most `max_poll_records` of them (Kafka's
//! `max.poll.records`), so its next position may fall inside a batch. A
//! partition answered with OFFSET_OUT_OF_RANGE (retention moved the log
//! start past its position) is reset by its policy: ListOffsets earliest
//! or latest. Between polls it works for a drawn pause; a slow reader
//! pauses long, and falls behind retention. It keeps its positions across
//! connections and crashes, as an application that stores them does.
//!
//! It stops once no stream producer is left and a poll sent after that
//! found nothing at any of its positions: every acknowledged record was
//! visible before its acknowledgement left the broker, so a reader that
//! stopped then has read all there is.

use super::{stream_value, Context, Outbox};
use crate::history::Entry;
use crate::plan::Span;
use brokerlab_core::stream::{
    FetchPartition, FetchedData, OffsetSpec, StreamCommand, StreamError, StreamReply, TopicConfig,
};
use brokerlab_core::ConnectionId;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The most bytes a poll asks for, per partition and in all.
const FETCH_BYTES_MAX: u64 = 1 << 20;

/// How a stream reader behaves.
#[derive(Clone, Debug)]
pub struct StreamReaderSpec {
    /// The reader's index among the run's readers.
    pub id: usize,
    /// The topic it reads (created on every new connection if missing).
    pub topic: Arc<str>,
    /// The topic's partition count.
    pub partitions: u32,
    /// The topic's configuration.
    pub config: TopicConfig,
    /// The partitions it owns.
    pub owned: Arc<[u32]>,
    /// Most records it takes from one partition per poll.
    pub max_poll_records: usize,
    /// How long a poll waits at the broker for a byte.
    pub wait_ms: u64,
    /// How long it works between two polls.
    pub pause: Span,
    /// Where it goes on OFFSET_OUT_OF_RANGE: earliest or latest.
    pub reset: OffsetSpec,
}

/// The stream reader state machine.
#[derive(Clone, Debug)]
pub struct StreamReader {
    spec: StreamReaderSpec,
    pub(super) outbox: Outbox,
    conn: Option<ConnectionId>,
    /// The topic is known to exist on this connection.
    ready: bool,
    /// Its position in each partition it owns, once it started.
    positions: BTreeMap<u32, u64>,
    /// The poll in flight: its request, and whether it was sent after the last producer was done.
    polling: Option<(u64, bool)>,
    /// Resets in flight: the partition of each ListOffsets request.
    resetting: BTreeMap<u64, u32>,
    next_request: u64,
    next_poll_ns: u64,
    done: bool,
}

impl StreamReader {
    /// A reader that has read nothing yet; one that owns no partition is done.
    #[must_use]
    pub fn new(spec: StreamReaderSpec) -> StreamReader {
        assert!(spec.max_poll_records > 0, "a poll takes a record");
        assert!(
            spec.owned.iter().all(|p| *p < spec.partitions),
            "it owns partitions of the topic"
        );
        assert!(
            matches!(spec.reset, OffsetSpec::Earliest | OffsetSpec::Latest),
            "a reset policy is earliest or latest"
        );
        StreamReader {
            done: spec.owned.is_empty(),
            spec,
            outbox: Outbox::default(),
            conn: None,
            ready: false,
            positions: BTreeMap::new(),
            polling: None,
            resetting: BTreeMap::new(),
            next_request: 0,
            next_poll_ns: 0,
        }
    }

    /// Whether it has read everything and stopped.
    #[must_use]
    pub fn is_done(&self) -> bool {
        self.done
    }

    pub(super) fn handle_open(&mut self, context: &mut Context<'_>, conn: ConnectionId) {
        assert!(
            self.polling.is_none(),
            "no poll in flight on a new connection"
        );
        self.conn = Some(conn);
        let create = StreamCommand::CreateTopic {
            topic: self.spec.topic.to_string(),
            partitions: self.spec.partitions,
            config: self.spec.config,
        };
        self.request(create);
        self.next_poll_ns = context.now_ns;
    }

    pub(super) fn handle_reply(
        &mut self,
        context: &mut Context<'_>,
        request: u64,
        reply: StreamReply,
    ) {
        match reply {
            StreamReply::TopicCreated { result, .. } => match result {
                Ok(()) | Err(StreamError::TopicAlreadyExists) => self.topic_ready(context),
                // Not part of this workload: start over on a new connection.
                Err(_) => self.outbox.close(),
            },
            StreamReply::Fetched { partitions } => {
                let Some((_, last)) = self.polling.take_if(|(sent, _)| *sent == request) else {
                    return;
                };
                let mut found = false;
                for fetched in partitions {
                    found |= self.fetched(context, fetched.partition, fetched.result);
                }
                self.done = last && !found && self.resetting.is_empty();
                self.next_poll_ns = context.now_ns + self.spec.pause.draw(context.rng);
            }
            StreamReply::Offsets {
                partition, result, ..
            } => {
                if self.resetting.remove(&request).is_none() {
                    return;
                }
                // A failed look-up leaves the position: the next poll fails again and retries.
                if let Ok(listed) = result {
                    let offset = listed.offset.unwrap_or(listed.high_watermark);
                    self.seek(context, partition, offset);
                }
            }
            _ => {}
        }
    }

    fn topic_ready(&mut self, context: &mut Context<'_>) {
        self.ready = true;
        for partition in self.spec.owned.clone().iter().copied() {
            if !self.positions.contains_key(&partition) {
                self.seek(context, partition, 0);
            }
        }
    }

    /// Moves to `offset` in `partition`, and records it.
    fn seek(&mut self, context: &mut Context<'_>, partition: u32, offset: u64) {
        let from = self.positions.insert(partition, offset);
        let entry = Entry::StreamSeek {
            reader: self.spec.id,
            partition,
            from,
            offset,
        };
        context.history.record(context.now_ns, entry);
    }

    /// Takes what a poll found in one partition; returns whether it found
    /// anything (records, or a reason to reset).
    fn fetched(
        &mut self,
        context: &mut Context<'_>,
        partition: u32,
        result: Result<FetchedData, StreamError>,
    ) -> bool {
        let position = self.positions[&partition];
        let data = match result {
            Ok(data) => data,
            Err(StreamError::OffsetOutOfRange) => {
                let spec = self.spec.reset;
                let lookup = StreamCommand::ListOffsets {
                    topic: self.spec.topic.to_string(),
                    partition,
                    spec,
                };
                let request = self.request(lookup);
                self.resetting.insert(request, partition);
                return true;
            }
            // Nothing this workload expects: the next poll tries again.
            Err(_) => return true,
        };
        let records: Vec<(u64, Option<crate::history::StreamValue>)> = data
            .batches
            .iter()
            .flat_map(|batch| {
                let base = batch.base_offset();
                batch
                    .records()
                    .iter()
                    .enumerate()
                    .map(move |(index, record)| (base + index as u64, stream_value(record)))
            })
            .filter(|(offset, _)| *offset >= position)
            .take(self.spec.max_poll_records)
            .collect();
        let Some(&(last, _)) = records.last() else {
            return false;
        };
        self.positions.insert(partition, last + 1);
        let entry = Entry::StreamPoll {
            reader: self.spec.id,
            partition,
            records,
        };
        context.history.record(context.now_ns, entry);
        true
    }

    pub(super) fn handle_closed(&mut self, _: &mut Context<'_>) {
        self.conn = None;
        self.ready = false;
        self.outbox.clear();
        self.polling = None;
        self.resetting.clear();
    }

    pub(super) fn handle_timeout(&mut self, context: &mut Context<'_>) {
        if !self.may_poll() || self.next_poll_ns > context.now_ns {
            return;
        }
        let partitions = self
            .spec
            .owned
            .iter()
            .map(|partition| FetchPartition {
                topic: self.spec.topic.to_string(),
                partition: *partition,
                offset: self.positions[partition],
                max_bytes: FETCH_BYTES_MAX,
            })
            .collect();
        let fetch = StreamCommand::Fetch {
            partitions,
            max_wait_ms: self.spec.wait_ms,
            min_bytes: 1,
            max_bytes: FETCH_BYTES_MAX,
        };
        let request = self.request(fetch);
        self.polling = Some((request, *context.stream_producers_left == 0));
    }

    fn may_poll(&self) -> bool {
        self.ready && !self.done && self.polling.is_none() && self.resetting.is_empty()
    }

    /// The next poll, when one may go.
    pub(super) fn poll_timeout(&self) -> Option<u64> {
        self.may_poll().then_some(self.next_poll_ns)
    }

    /// Queues a stream command under the next request number, and returns it.
    fn request(&mut self, command: StreamCommand) -> u64 {
        assert!(
            self.resetting.len() <= self.spec.owned.len(),
            "one reset per partition"
        );
        let request = self.next_request;
        self.next_request += 1;
        self.outbox.send_stream(request, command);
        request
    }
}
