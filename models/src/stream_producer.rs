//! The idempotent stream producer actor: Kafka's producer with
//! `enable.idempotence`, speaking to the broker in the core's own stream
//! commands.
//!
//! It asks for a producer id (InitProducerId), then sends batches 0 to
//! N-1 to partition 0 of the model's topic, one at a time, each of the
//! same number of records, with its base sequence and `acks=all`, and
//! sends the next once the current one is acknowledged. Each record's value
//! is its sequence number (the producer's record number, from 0), so a
//! reader can tell which record it got. Whenever the checker says so (a bounded number of
//! times) it sends the unacknowledged batch again, as a producer whose
//! request timed out does; after the broker restarts it sends it again on
//! a new connection. The broker must append each batch once, in order,
//! however many copies of it arrive.

use crate::actors::Node;
use crate::clients::BROKER;
use crate::shared::Shared;
use crate::wire::{Frame, Incarnation, Msg, Timer};
use brokerlab_core::stream::{Acks, ProducedBatch, StreamRecord};
use brokerlab_core::{StreamCommand, StreamReply};
use stateright::actor::{model_timeout, Id, Out};

/// The topic the producer writes to (one partition).
pub const STREAM_TOPIC: &str = "s";

/// The request id of InitProducerId; a produce of batch `k` is `PRODUCE + k`.
const INIT: u64 = 1;
const PRODUCE: u64 = 100;

/// The idempotent producer's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamProducer {
    /// How many batches it sends (0 to this minus one).
    pub batches: u8,
    /// How many records each batch holds (batch `k` holds sequences
    /// `k * records` up to `(k + 1) * records`, exclusive).
    pub records: u8,
    /// How many times it may send a batch again before its answer.
    pub retries: u8,
}

/// The idempotent producer's state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StreamProducerState {
    /// The current connection.
    pub incarnation: Incarnation,
    /// Its producer id, once issued.
    pub producer_id: Option<i64>,
    /// The batch sent and not yet acknowledged, if any.
    pub in_flight: Option<u8>,
    /// Batches acknowledged: batches 0 up to this, exclusive.
    pub acknowledged: u8,
    /// Some acknowledgement said the batch repeated one already stored.
    pub deduplicated: bool,
    /// Sends again left.
    pub retries: u8,
    /// The message of the panic in the producer's last step, if it panicked.
    pub panicked: Option<String>,
}

impl StreamProducer {
    /// Asks for a producer id.
    pub fn start(&self, out: &mut Out<Node>) -> StreamProducerState {
        assert!(
            self.batches > 0 && u64::from(self.batches) < PRODUCE,
            "batches in range"
        );
        assert!(
            self.records > 0 && self.batches.checked_mul(self.records).is_some(),
            "records in range"
        );
        let state = StreamProducerState {
            incarnation: 1,
            producer_id: None,
            in_flight: None,
            acknowledged: 0,
            deduplicated: false,
            retries: self.retries,
            panicked: None,
        };
        send(out, state.incarnation, INIT, StreamCommand::InitProducerId);
        if self.retries > 0 {
            out.set_timer(Timer::Retry, model_timeout());
        }
        state
    }

    /// Replies on the current connection (copies included); a reset makes
    /// it send again on a new connection what it has no answer for.
    pub fn on_msg(&self, state: &mut StreamProducerState, msg: Msg, out: &mut Out<Node>) {
        let replies = match msg {
            Msg::StreamReplies {
                incarnation,
                replies,
                ..
            } if incarnation == state.incarnation => replies,
            Msg::Reset => {
                state.incarnation = state
                    .incarnation
                    .checked_add(1)
                    .expect("a bounded number of crashes");
                return self.resend(state, out);
            }
            _ => return,
        };
        for (request, reply) in replies.iter() {
            match reply {
                StreamReply::ProducerIdIssued { producer_id, .. }
                    if state.producer_id.is_none() =>
                {
                    state.producer_id = Some(*producer_id);
                    self.send_next(state, out);
                }
                StreamReply::Produced {
                    result: Ok(produced),
                    ..
                } => {
                    let index = request
                        .checked_sub(PRODUCE)
                        .expect("a produce's request id");
                    if state
                        .in_flight
                        .is_some_and(|batch| u64::from(batch) == index)
                    {
                        state.deduplicated |= produced.duplicate;
                        state.in_flight = None;
                        state.acknowledged += 1;
                        self.send_next(state, out);
                    }
                }
                // A copy of an answer already taken, or a refusal the
                // producer answers by sending again when it may.
                _ => {}
            }
        }
    }

    /// The checker's choice: send the unanswered request again.
    pub fn on_timeout(&self, state: &mut StreamProducerState, timer: &Timer, out: &mut Out<Node>) {
        if *timer != Timer::Retry || state.retries == 0 {
            return;
        }
        state.retries -= 1;
        if state.retries > 0 {
            out.set_timer(Timer::Retry, model_timeout());
        }
        self.resend(state, out);
    }

    fn resend(&self, state: &mut StreamProducerState, out: &mut Out<Node>) {
        match (state.producer_id, state.in_flight) {
            (None, _) => send(out, state.incarnation, INIT, StreamCommand::InitProducerId),
            (Some(producer_id), Some(batch)) => {
                self.produce(state.incarnation, producer_id, batch, out)
            }
            (Some(_), None) => {}
        }
    }

    fn send_next(&self, state: &mut StreamProducerState, out: &mut Out<Node>) {
        assert!(state.in_flight.is_none(), "one batch in flight");
        if state.acknowledged < self.batches {
            let producer_id = state.producer_id.expect("issued before the first batch");
            state.in_flight = Some(state.acknowledged);
            self.produce(state.incarnation, producer_id, state.acknowledged, out);
        }
    }

    /// Sends batch `index`: its records carry their sequence numbers as values.
    fn produce(&self, incarnation: Incarnation, producer_id: i64, index: u8, out: &mut Out<Node>) {
        let base_sequence = index * self.records;
        let records = (base_sequence..base_sequence + self.records)
            .map(|sequence| StreamRecord {
                timestamp_ms: 0,
                key: None,
                value: Some(vec![sequence].into()),
                headers: Vec::new(),
            })
            .collect();
        let batch = ProducedBatch {
            producer_id,
            producer_epoch: 0,
            base_sequence: i32::from(base_sequence),
            records,
        };
        let command = StreamCommand::Produce {
            topic: STREAM_TOPIC.into(),
            partition: 0,
            acks: Acks::Synced,
            batch,
        };
        send(out, incarnation, PRODUCE + u64::from(index), command);
    }
}

/// Sends stream command `command` as request `id` on connection `incarnation`.
fn send(out: &mut Out<Node>, incarnation: Incarnation, id: u64, command: StreamCommand) {
    let frame = Frame::Stream {
        request: id,
        command,
    };
    let msg = Msg::Frames {
        incarnation,
        seq: 0,
        frames: Shared::new(vec![frame]),
    };
    out.send(Id::from(BROKER), msg);
}
