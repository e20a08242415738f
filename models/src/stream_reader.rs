//! The stream reader actor: a Kafka consumer of one partition that polls
//! from its own position, speaking to the broker in the core's own stream
//! commands.
//!
//! Each poll is one Fetch of partition 0 of the model's topic from the
//! reader's position. The broker answers with whole batches, the first
//! holding the offset asked for, so the reader skips the records below its
//! position and takes at most `max_poll_records` of the rest (Kafka's
//! `max.poll.records`); what it does not take it drops, and its next poll
//! fetches from just after the last record it took, which may be inside a
//! batch. It polls again as soon as a poll is answered, until it has taken
//! every record the producer sends. A poll does not wait at the broker
//! (`max_wait_ms` 0): a long poll's deadline would move the model's clock
//! on without bound.
//!
//! It notes, for the properties, whether it ever took a record above its
//! position (a record skipped), whether a record it took was not the
//! producer's next one (each record's value is its sequence number), and
//! whether it took a record from a batch that began below its position.

use crate::actors::Node;
use crate::clients::BROKER;
use crate::shared::Shared;
use crate::stream_producer::STREAM_TOPIC;
use crate::wire::{Frame, Incarnation, Msg};
use brokerlab_core::stream::{FetchPartition, FetchedData};
use brokerlab_core::{StreamCommand, StreamReply};
use stateright::actor::{Id, Out};

/// The most bytes a poll asks for, for its partition and in all: every
/// record the model produces fits.
const FETCH_BYTES_MAX: u64 = 1 << 20;

/// The stream reader's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamReader {
    /// How many records the producer sends in all: it stops after taking that many.
    pub records: u8,
    /// The most records it takes from one poll's answer.
    pub max_poll_records: u8,
}

/// The stream reader's state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StreamReaderState {
    /// The current connection.
    pub incarnation: Incarnation,
    /// The offset of the next record it takes: its poll in flight reads from
    /// here (the request's id is this offset).
    pub position: u64,
    /// How many records it took.
    pub read: u8,
    /// It took a record above its position: the records between were skipped.
    pub skipped: bool,
    /// It took a record that was not the producer's next one (its value
    /// was not the number of records taken before it).
    pub out_of_order: bool,
    /// It took a record from a batch that began below its position.
    pub read_mid_batch: bool,
    /// The message of the panic in the reader's last step, if it panicked.
    pub panicked: Option<String>,
}

impl StreamReader {
    /// Polls from offset 0.
    pub fn start(&self, out: &mut Out<Node>) -> StreamReaderState {
        assert!(self.records > 0, "records to read");
        assert!(self.max_poll_records > 0, "a poll takes a record");
        let state = StreamReaderState {
            incarnation: 1,
            position: 0,
            read: 0,
            skipped: false,
            out_of_order: false,
            read_mid_batch: false,
            panicked: None,
        };
        poll(out, state.incarnation, state.position);
        state
    }

    /// Answers to its poll on the current connection; a reset makes it poll
    /// again on a new connection.
    pub fn on_msg(&self, state: &mut StreamReaderState, msg: Msg, out: &mut Out<Node>) {
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
                if state.read < self.records {
                    poll(out, state.incarnation, state.position);
                }
                return;
            }
            _ => return,
        };
        for (request, reply) in replies.iter() {
            let StreamReply::Fetched { partitions } = reply else {
                continue;
            };
            if *request != state.position || state.read == self.records {
                continue;
            }
            let answer = partitions.first().expect("one partition asked");
            // A refusal is answered by polling again.
            if let Ok(data) = &answer.result {
                self.take(state, data);
            }
            if state.read < self.records {
                poll(out, state.incarnation, state.position);
            }
        }
    }

    /// Takes at most `max_poll_records` records at or past its position.
    fn take(&self, state: &mut StreamReaderState, data: &FetchedData) {
        let mut taken = 0;
        for batch in &data.batches {
            for (offset, record) in (batch.base_offset()..).zip(batch.records()) {
                if offset < state.position {
                    continue;
                }
                if taken == self.max_poll_records || state.read == self.records {
                    return;
                }
                state.skipped |= offset != state.position;
                state.read_mid_batch |= batch.base_offset() < state.position;
                let value = record.value.as_ref().and_then(|value| value.first());
                state.out_of_order |= value != Some(&state.read);
                state.read += 1;
                state.position = offset + 1;
                taken += 1;
            }
        }
    }
}

/// Sends a poll of partition 0 from `position` on connection number
/// `connection`, as request `position`.
fn poll(out: &mut Out<Node>, connection: Incarnation, position: u64) {
    let asked = FetchPartition {
        topic: STREAM_TOPIC.into(),
        partition: 0,
        offset: position,
        max_bytes: FETCH_BYTES_MAX,
    };
    let command = StreamCommand::Fetch {
        partitions: vec![asked],
        max_wait_ms: 0,
        min_bytes: 1,
        max_bytes: FETCH_BYTES_MAX,
    };
    let frame = Frame::Stream {
        request: position,
        command,
    };
    let msg = Msg::Frames {
        incarnation: connection,
        seq: 0,
        frames: Shared::new(vec![frame]),
    };
    out.send(Id::from(BROKER), msg);
}
