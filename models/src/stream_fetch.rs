//! The `stream-fetch` model: an idempotent producer appends batches of
//! several records to one partition of a durable topic while a reader
//! polls the partition from its position, taking fewer records per poll
//! than a batch holds.
//!
//! A fetch answers with whole batches, the first holding the offset asked
//! for (Kafka's log format is read batch by batch), and the reader skips
//! the records below its position. With `max_poll_records` below the batch
//! size the reader's position falls inside a batch, and its next poll asks
//! for an offset in the middle or at the end of one: the broker must still
//! hand out that batch, and the reader must find its next record in it.
//! Records become visible once synced (the high watermark), so a poll may
//! find the first batch and not yet the second, or nothing at all.
//!
//! Everything the broker does is the production core's, through
//! `Input::Stream`; the producer (see `stream_producer`) and the reader
//! (see `stream_reader`) are the model's. Links keep order and lose
//! nothing, the producer sends nothing again and the broker does not crash:
//! the model is about reading.
//!
//! Checked, in every reachable state: no step panics; every record the
//! reader takes is at its position (`poll-skip-free`: no record skipped);
//! the records it takes are the producer's, in order, each once
//! (`reads-in-order`: the n-th carries sequence n). The reader must take a
//! record from a batch that began below its position (`read-mid-batch`) and
//! every record (`read-everything`) in some run, so a model whose reader
//! never lands inside a batch fails.

use crate::actors::Node;
use crate::broker_actor::BrokerActor;
use crate::network::Links;
use crate::properties::{self, BrokerModel, History, Settings, State};
use crate::stream_producer::{StreamProducer, STREAM_TOPIC};
use crate::stream_reader::{StreamReader, StreamReaderState};
use brokerlab_core::stream::TopicConfig;
use brokerlab_core::{Mutant, StreamCommand};
use stateright::Expectation;

/// The reader's actor index (the broker is 0, the producer 1).
const READER: usize = 2;

/// The `stream-fetch` model's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamFetch {
    /// How many batches the producer sends.
    pub messages: u8,
    /// How many records each batch holds.
    pub records: u8,
    /// The most records the reader takes from one poll's answer.
    pub max_poll_records: u8,
    /// A deliberately broken broker, or `None` for the real one.
    pub mutant: Option<Mutant>,
}

impl Default for StreamFetch {
    /// The standard configuration: two batches of two records, read one
    /// record per poll.
    fn default() -> StreamFetch {
        StreamFetch {
            messages: 2,
            records: 2,
            max_poll_records: 1,
            mutant: None,
        }
    }
}

impl StreamFetch {
    /// The actor model: the broker (actor 0), the producer (1) and the reader (2).
    ///
    /// # Panics
    /// When the producer would send more records than a reader counts (255).
    #[must_use]
    pub fn into_model(self) -> BrokerModel {
        let total = self
            .messages
            .checked_mul(self.records)
            .expect("at most 255 records in all");
        let create = StreamCommand::CreateTopic {
            topic: STREAM_TOPIC.into(),
            partitions: 1,
            // Kept for good: nothing moves the log start under the reader.
            config: TopicConfig {
                retention_ms: None,
                ..TopicConfig::default()
            },
        };
        let broker = BrokerActor {
            stream_setup: vec![create],
            ..BrokerActor::new(self.mutant, Vec::new(), 2)
        };
        let producer = StreamProducer {
            batches: self.messages,
            records: self.records,
            retries: 0,
        };
        let reader = StreamReader {
            records: total,
            max_poll_records: self.max_poll_records,
        };
        let settings = Settings {
            messages: total,
            ..Settings::default()
        };
        let network = Links::Ordered;
        BrokerModel::new(settings, History::default())
            .actor(Node::Broker(broker))
            .actor(Node::StreamProducer(producer))
            .actor(Node::StreamReader(reader))
            .init_network(network.network())
            .lossy_network(network.lossy())
            .property(Expectation::Always, "no-panic", properties::no_panic)
            .property(Expectation::Always, "poll-skip-free", poll_skip_free)
            .property(Expectation::Always, "reads-in-order", reads_in_order)
            .property(Expectation::Sometimes, "read-mid-batch", read_mid_batch)
            .property(Expectation::Sometimes, "read-everything", read_everything)
    }
}

fn reader(state: &State) -> &StreamReaderState {
    let reader = state.actor_states[READER].as_stream_reader();
    reader.expect("actor 2 is the stream reader")
}

/// `poll-skip-free`: every record the reader took was at its position.
pub fn poll_skip_free(_: &BrokerModel, state: &State) -> bool {
    !reader(state).skipped
}

/// `reads-in-order`: the n-th record the reader took is the producer's n-th.
pub fn reads_in_order(_: &BrokerModel, state: &State) -> bool {
    !reader(state).out_of_order
}

/// `read-mid-batch` (sometimes): the reader took a record from a batch
/// that began below its position.
pub fn read_mid_batch(_: &BrokerModel, state: &State) -> bool {
    reader(state).read_mid_batch
}

/// `read-everything` (sometimes): the reader took every record.
pub fn read_everything(model: &BrokerModel, state: &State) -> bool {
    reader(state).read == model.cfg.messages
}
