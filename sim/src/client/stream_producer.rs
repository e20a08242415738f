//! A stream producer: keyed records, each to the partition Kafka's murmur2
//! partitioner picks for its key, acknowledged after sync, retried until
//! acknowledged.
//!
//! It owns a fixed set of logical records (record `i` has key `i % keys`)
//! and is done once every one was acknowledged. Each partition has a lane,
//! as Kafka's record accumulator has: records wait there in produce order,
//! leave in batches of up to `batch_records`, and at most `in_flight_max`
//! batches of a lane are unacknowledged at once. A lane whose oldest batch
//! waited past the timeout sends all its unacknowledged batches again, in
//! order, as does every lane on a new connection.
//!
//! Without idempotence a lane keeps one batch in flight (Kafka's
//! `max.in.flight.requests.per.connection=1`), so a retry can duplicate a
//! batch but never reorder one. With idempotence the producer asks for a
//! producer id once (InitProducerId) and keeps it across connections, as it
//! keeps its unacknowledged batches; each lane numbers its records from 0,
//! and a retry sends the same batch with the same sequence numbers, so the
//! broker acknowledges a batch it already holds with its original offsets
//! rather than appending it again. At most five batches of a lane are in
//! flight then: the broker remembers the last five.

use super::{stream_key, Context, Outbox};
use crate::history::{Entry, Stamp, StreamValue};
use crate::plan::Span;
use brokerlab_core::stream::partitioner::partition_for_key;
use brokerlab_core::stream::{
    Acks, Produced, ProducedBatch, StreamCommand, StreamError, StreamRecord, StreamReply,
    TopicConfig, PRODUCER_WINDOW_BATCHES,
};
use brokerlab_core::ConnectionId;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// Most requests a producer keeps track of on one connection.
const REQUESTS_MAX: usize = 4096;

/// How a stream producer behaves.
#[derive(Clone, Debug)]
pub struct StreamProducerSpec {
    /// The producer's index among the run's producers.
    pub id: usize,
    /// The topic it produces to (created on every new connection if missing).
    pub topic: Arc<str>,
    /// The topic's partitions.
    pub partitions: u32,
    /// The topic's configuration.
    pub config: TopicConfig,
    /// Distinct keys; record `i` has key `i % keys`.
    pub keys: u32,
    /// Logical records it must get acknowledged.
    pub messages: u64,
    /// Most records in one batch.
    pub batch_records: usize,
    /// Most unacknowledged batches per partition (1 without idempotence).
    pub in_flight_max: usize,
    /// Pause between two new batches.
    pub gap: Span,
    /// How long to wait for an acknowledgement before sending again.
    pub timeout_ns: u64,
    /// InitProducerId, sequence numbers, and retries with the same sequence.
    pub idempotent: bool,
}

/// A batch sent and not yet acknowledged.
#[derive(Clone, Debug)]
struct Unacked {
    records: Arc<[StreamValue]>,
    /// Its first sequence number (the lane's count of records before it).
    base_sequence: i32,
    /// When it was last sent, or `None` when it waits to be sent (again).
    sent_at_ns: Option<u64>,
}

/// A produce request in flight.
#[derive(Clone, Debug)]
struct Sent {
    partition: u32,
    /// The first sequence number of its batch, which names the batch in its lane.
    sequence: i32,
    records: Arc<[StreamValue]>,
}

/// One partition's records and batches.
#[derive(Clone, Debug, Default)]
struct Lane {
    /// Records not yet in a batch, in produce order.
    waiting: VecDeque<StreamValue>,
    /// Batches sent and not yet acknowledged, oldest first.
    unacked: VecDeque<Unacked>,
    /// The sequence number of the next record put in a batch.
    next_sequence: i32,
}

/// Where a connection stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// No connection.
    Closed,
    /// CreateTopic (or InitProducerId) sent; nothing produced yet.
    Preparing,
    /// Producing.
    Ready,
}

/// The stream producer state machine.
#[derive(Clone, Debug)]
pub struct StreamProducer {
    spec: StreamProducerSpec,
    pub(super) outbox: Outbox,
    conn: Option<ConnectionId>,
    stage: Stage,
    producer_id: Option<i64>,
    lanes: Vec<Lane>,
    /// Produce requests in flight on the connection.
    requests: BTreeMap<u64, Sent>,
    next_request: u64,
    next_batch_ns: u64,
    /// Batches made so far: a batch's number is the attempt of its stamps.
    batches: u64,
    acked: u64,
    /// Counted out of the stream producers left, once done.
    counted_done: bool,
}

impl StreamProducer {
    /// A producer with every record waiting in its partition's lane.
    #[must_use]
    pub fn new(spec: StreamProducerSpec) -> StreamProducer {
        assert!(spec.partitions > 0 && spec.keys > 0, "a topic and keys");
        assert!(spec.batch_records > 0, "a batch holds a record");
        assert!(spec.messages < 1 << 32, "record numbers fit in 32 bits");
        let window = if spec.idempotent {
            PRODUCER_WINDOW_BATCHES
        } else {
            1
        };
        assert!(
            (1..=window).contains(&spec.in_flight_max),
            "in flight within what the broker deduplicates or keeps in order"
        );
        let mut lanes = vec![Lane::default(); spec.partitions as usize];
        for index in 0..spec.messages {
            let key = (index % u64::from(spec.keys)) as u32;
            let partition = partition_for_key(&stream_key(key), spec.partitions);
            let stamp = Stamp {
                payload: (spec.id as u64) << 32 | index,
                attempt: 0,
            };
            lanes[partition as usize]
                .waiting
                .push_back(StreamValue { key, stamp });
        }
        StreamProducer {
            spec,
            outbox: Outbox::default(),
            conn: None,
            stage: Stage::Closed,
            producer_id: None,
            lanes,
            requests: BTreeMap::new(),
            next_request: 0,
            next_batch_ns: 0,
            batches: 0,
            acked: 0,
            counted_done: false,
        }
    }

    /// Whether every record was acknowledged.
    #[must_use]
    pub fn is_done(&self) -> bool {
        self.acked == self.spec.messages
    }

    pub(super) fn handle_open(&mut self, context: &mut Context<'_>, conn: ConnectionId) {
        assert!(
            self.requests.is_empty(),
            "nothing in flight on a new connection"
        );
        self.conn = Some(conn);
        self.stage = Stage::Preparing;
        let create = StreamCommand::CreateTopic {
            topic: self.spec.topic.to_string(),
            partitions: self.spec.partitions,
            config: self.spec.config,
        };
        self.request(create);
        self.next_batch_ns = context.now_ns;
    }

    pub(super) fn handle_reply(
        &mut self,
        context: &mut Context<'_>,
        request: u64,
        reply: StreamReply,
    ) {
        match reply {
            StreamReply::TopicCreated { result, .. } => match result {
                Ok(()) | Err(StreamError::TopicAlreadyExists) => self.topic_ready(),
                // Not part of this workload: start over on a new connection.
                Err(_) => self.outbox.close(),
            },
            StreamReply::ProducerIdIssued { producer_id, .. } => {
                assert!(producer_id >= 0, "the broker issues ids from 0");
                self.producer_id = Some(producer_id);
                self.stage = Stage::Ready;
            }
            StreamReply::Produced { result, .. } => {
                let Some(sent) = self.requests.remove(&request) else {
                    return;
                };
                // A refused batch stays unacknowledged: its lane's timeout sends it again.
                if let Ok(produced) = result {
                    self.acknowledged(context, request, sent, produced);
                }
            }
            _ => {}
        }
    }

    fn topic_ready(&mut self) {
        if self.spec.idempotent && self.producer_id.is_none() {
            self.request(StreamCommand::InitProducerId);
        } else {
            self.stage = Stage::Ready;
        }
    }

    /// Records the acknowledgement (every answer says where its records
    /// are) and settles its batch, if an earlier answer did not.
    fn acknowledged(
        &mut self,
        context: &mut Context<'_>,
        request: u64,
        sent: Sent,
        produced: Produced,
    ) {
        let lane = &mut self.lanes[sent.partition as usize];
        let position = lane
            .unacked
            .iter()
            .position(|batch| batch.base_sequence == sent.sequence);
        if let Some(position) = position {
            let batch = lane.unacked.remove(position).expect("found above");
            self.acked += batch.records.len() as u64;
        }
        let end = produced.base_offset + sent.records.len() as u64;
        let entry = Entry::StreamAck {
            producer: self.spec.id,
            partition: sent.partition,
            request,
            idempotent: self.spec.idempotent,
            base_offset: produced.base_offset,
            duplicate: produced.duplicate,
            records: sent.records,
        };
        context.history.record(context.now_ns, entry);
        let acked_end = context.streams.acked_end.entry(sent.partition).or_default();
        *acked_end = (*acked_end).max(end);
        if self.is_done() && !self.counted_done {
            self.counted_done = true;
            context.streams.producers_left -= 1;
        }
    }

    pub(super) fn handle_closed(&mut self, _: &mut Context<'_>) {
        self.conn = None;
        self.stage = Stage::Closed;
        self.outbox.clear();
        self.requests.clear();
        for lane in &mut self.lanes {
            for batch in &mut lane.unacked {
                batch.sent_at_ns = None;
            }
        }
    }

    pub(super) fn handle_timeout(&mut self, context: &mut Context<'_>) {
        if self.stage != Stage::Ready {
            return;
        }
        let timeout_ns = self.spec.timeout_ns;
        for lane in &mut self.lanes {
            let late = lane
                .unacked
                .front()
                .and_then(|oldest| oldest.sent_at_ns)
                .is_some_and(|sent_ns| sent_ns + timeout_ns <= context.now_ns);
            if late {
                for batch in &mut lane.unacked {
                    batch.sent_at_ns = None;
                }
            }
        }
        for partition in 0..self.spec.partitions {
            self.send_unsent(context, partition);
        }
        if self.next_batch_ns <= context.now_ns && self.new_batch(context) {
            self.next_batch_ns = context.now_ns + self.spec.gap.draw(context.rng);
        }
    }

    /// The next new batch when one may go, and the earliest acknowledgement deadline.
    pub(super) fn poll_timeout(&self) -> Option<u64> {
        if self.stage != Stage::Ready {
            return None;
        }
        let unsent = self
            .lanes
            .iter()
            .any(|lane| lane.unacked.iter().any(|batch| batch.sent_at_ns.is_none()));
        let batch = self.lanes.iter().any(|lane| self.has_room(lane));
        let send = (unsent || batch).then_some(self.next_batch_ns);
        let deadline = self
            .lanes
            .iter()
            .filter_map(|lane| lane.unacked.front()?.sent_at_ns)
            .map(|sent_ns| sent_ns + self.spec.timeout_ns)
            .min();
        send.into_iter().chain(deadline).min()
    }

    fn has_room(&self, lane: &Lane) -> bool {
        !lane.waiting.is_empty() && lane.unacked.len() < self.spec.in_flight_max
    }

    /// Sends (again) the lane's batches that wait to be sent, in order.
    fn send_unsent(&mut self, context: &mut Context<'_>, partition: u32) {
        let lane = &mut self.lanes[partition as usize];
        let unsent: Vec<(Arc<[StreamValue]>, i32)> = lane
            .unacked
            .iter_mut()
            .filter(|batch| batch.sent_at_ns.is_none())
            .map(|batch| {
                batch.sent_at_ns = Some(context.now_ns);
                (batch.records.clone(), batch.base_sequence)
            })
            .collect();
        for (records, sequence) in unsent {
            self.send(context, partition, records, sequence);
        }
    }

    /// Makes a batch from the first lane with room (lanes taken in turn)
    /// and sends it; returns whether it did.
    fn new_batch(&mut self, context: &mut Context<'_>) -> bool {
        let partitions = self.spec.partitions as u64;
        let start = self.batches % partitions;
        let Some(partition) = (0..partitions)
            .map(|step| ((start + step) % partitions) as u32)
            .find(|p| self.has_room(&self.lanes[*p as usize]))
        else {
            return false;
        };
        self.batches += 1;
        let attempt = (self.spec.id as u64) << 32 | self.batches;
        let lane = &mut self.lanes[partition as usize];
        let take = lane.waiting.len().min(self.spec.batch_records);
        let records: Arc<[StreamValue]> = lane
            .waiting
            .drain(..take)
            .map(|value| StreamValue {
                stamp: Stamp {
                    attempt,
                    ..value.stamp
                },
                ..value
            })
            .collect();
        let base_sequence = lane.next_sequence;
        lane.next_sequence = lane
            .next_sequence
            .checked_add(take as i32)
            .expect("a lane holds fewer than 2^31 records");
        lane.unacked.push_back(Unacked {
            records: records.clone(),
            base_sequence,
            sent_at_ns: Some(context.now_ns),
        });
        self.send(context, partition, records, base_sequence);
        true
    }

    /// Sends one batch as a produce with acks after sync, and records it.
    fn send(
        &mut self,
        context: &mut Context<'_>,
        partition: u32,
        records: Arc<[StreamValue]>,
        sequence: i32,
    ) {
        let conn = self.conn.expect("a ready producer has a connection");
        let timestamp_ms = (context.now_ns / crate::plan::MS) as i64;
        let stream_records = records
            .iter()
            .map(|value| StreamRecord {
                timestamp_ms,
                key: Some(stream_key(value.key)),
                value: Some(value.stamp.encode()),
                headers: Vec::new(),
            })
            .collect();
        let batch = match self.producer_id.filter(|_| self.spec.idempotent) {
            Some(producer_id) => ProducedBatch {
                producer_id,
                producer_epoch: 0,
                base_sequence: sequence,
                records: stream_records,
            },
            None => ProducedBatch::plain(stream_records),
        };
        let command = StreamCommand::Produce {
            topic: self.spec.topic.to_string(),
            partition,
            acks: Acks::Synced,
            batch,
        };
        let request = self.request(command);
        let entry = Entry::StreamSend {
            producer: self.spec.id,
            conn,
            partition,
            request,
            idempotent: self.spec.idempotent,
            records: records.clone(),
        };
        let sent = Sent {
            partition,
            sequence,
            records,
        };
        self.requests.insert(request, sent);
        context.history.record(context.now_ns, entry);
    }

    /// Queues a stream command under the next request number, and returns it.
    fn request(&mut self, command: StreamCommand) -> u64 {
        assert!(self.requests.len() < REQUESTS_MAX, "request bound reached");
        let request = self.next_request;
        self.next_request += 1;
        self.outbox.send_stream(request, command);
        request
    }
}
