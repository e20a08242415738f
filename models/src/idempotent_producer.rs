//! The `idempotent-producer` model: Kafka's idempotent producer sends its
//! batches to one partition of a durable topic over a network that loses
//! segments, retrying what goes unanswered, while the broker may crash.
//!
//! The protocol is Kafka's: InitProducerId gives the producer an id (once
//! its record is synced); each batch carries the id, epoch 0 and its
//! sequence number, and is acknowledged once its record is synced
//! (`acks=all`). A batch that repeats one of the producer's last five in the
//! partition is acknowledged with its original offsets and nothing is
//! appended. The producer sends one batch at a time and sends it again
//! when the checker says so (bounded: a request that timed out), so a lost
//! reply becomes a duplicate at the broker. After a broker crash the broker
//! recovers from its synced records, producer windows included, and the
//! producer sends its unanswered batch again on a new connection.
//!
//! Everything the broker does is the production core's, through
//! `Input::Stream`; the producer is the model's (see `stream_producer`).
//!
//! Checked, in every reachable state: no step panics; the partition's log
//! (read through `Broker::snapshot`, the view a store compacts with) holds
//! the producer's sequences once each and in order (`appended-once-in-order`);
//! every acknowledged batch is in it (`acknowledged-never-lost`). A
//! duplicate must be acknowledged as one (`deduplicated`) and every batch
//! acknowledged (`all-acknowledged`) in some run.

use crate::actors::Node;
use crate::broker_actor::BrokerActor;
use crate::clients::BROKER;
use crate::network::Links;
use crate::properties::{self, BrokerModel, History, Settings, State};
use crate::stream_producer::{StreamProducer, StreamProducerState, STREAM_TOPIC};
use brokerlab_core::record::Change;
use brokerlab_core::stream::TopicConfig;
use brokerlab_core::{Mutant, StreamCommand};
use stateright::Expectation;

/// The stream producer's actor index.
const PRODUCER: usize = BROKER + 1;

/// The `idempotent-producer` model's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotentProducer {
    /// How many batches the producer sends.
    pub messages: u8,
    /// How many times it may send a batch again before its answer.
    pub retries: u8,
    /// How many times the broker may crash and recover.
    pub crashes: u8,
    /// What the network does to segments in flight (kept in order on each link).
    pub network: Links,
    /// A deliberately broken broker, or `None` for the real one.
    pub mutant: Option<Mutant>,
}

impl Default for IdempotentProducer {
    /// The standard configuration: two batches, one retry, one broker
    /// crash, segments lost at will.
    fn default() -> IdempotentProducer {
        IdempotentProducer {
            messages: 2,
            retries: 1,
            crashes: 1,
            network: Links::OrderedLossy,
            mutant: None,
        }
    }
}

impl IdempotentProducer {
    /// The actor model: the broker (actor 0) and the producer (1).
    #[must_use]
    pub fn into_model(self) -> BrokerModel {
        assert!(
            !self.network.sequenced(),
            "stream clients number no segments"
        );
        assert!(self.crashes <= properties::CRASHES_MAX, "too many crashes");
        let create = StreamCommand::CreateTopic {
            topic: STREAM_TOPIC.into(),
            partitions: 1,
            // Kept for good: retention would move the log start whenever
            // the model's clock jumps to its deadline.
            config: TopicConfig {
                retention_ms: None,
                ..TopicConfig::default()
            },
        };
        let broker = BrokerActor {
            keep_log: self.crashes > 0,
            stream_setup: vec![create],
            ..BrokerActor::new(self.mutant, Vec::new(), 1)
        };
        let producer = StreamProducer {
            batches: self.messages,
            records: 1,
            retries: self.retries,
        };
        let settings = Settings {
            messages: self.messages,
            crashes: self.crashes,
            ..Settings::default()
        };
        BrokerModel::new(settings, History::default())
            .actor(Node::Broker(broker))
            .actor(Node::StreamProducer(producer))
            .init_network(self.network.network())
            .lossy_network(self.network.lossy())
            .max_crashes(usize::from(self.crashes.min(1)))
            .record_msg_out(properties::record_msg_out)
            .within_boundary(properties::within_crash_bounds)
            .property(Expectation::Always, "no-panic", properties::no_panic)
            .property(
                Expectation::Always,
                "appended-once-in-order",
                appended_once_in_order,
            )
            .property(
                Expectation::Always,
                "acknowledged-never-lost",
                acknowledged_never_lost,
            )
            .property(Expectation::Sometimes, "deduplicated", deduplicated)
            .property(Expectation::Sometimes, "all-acknowledged", all_acknowledged)
    }
}

fn producer(state: &State) -> &StreamProducerState {
    let producer = state.actor_states[PRODUCER].as_stream_producer();
    producer.expect("actor 1 is the stream producer")
}

/// The base sequences of the batches in the partition's log, in offset
/// order; `None` while the broker is down or panicked.
fn sequences(state: &State) -> Option<Vec<i32>> {
    let broker = state.actor_states[BROKER].as_broker()?;
    if state.crashed[BROKER] || broker.panicked.is_some() {
        return None;
    }
    let appended = broker
        .broker
        .snapshot()
        .into_iter()
        .filter_map(|record| match record.change {
            Change::BatchAppended { batch, .. } => Some(batch.base_sequence()),
            _ => None,
        });
    Some(appended.collect())
}

/// `appended-once-in-order`: the log holds sequences 0, 1, 2, ... once each.
pub fn appended_once_in_order(_: &BrokerModel, state: &State) -> bool {
    sequences(state).is_none_or(|sequences| {
        (0..)
            .zip(&sequences)
            .all(|(expected, sequence)| *sequence == expected)
    })
}

/// `acknowledged-never-lost`: every acknowledged batch is in the log.
pub fn acknowledged_never_lost(_: &BrokerModel, state: &State) -> bool {
    let acknowledged = producer(state).acknowledged;
    sequences(state).is_none_or(|sequences| sequences.len() >= usize::from(acknowledged))
}

/// `deduplicated` (sometimes): a batch sent again was acknowledged as a duplicate.
pub fn deduplicated(_: &BrokerModel, state: &State) -> bool {
    producer(state).deduplicated
}

/// `all-acknowledged` (sometimes): every batch was acknowledged.
pub fn all_acknowledged(model: &BrokerModel, state: &State) -> bool {
    producer(state).acknowledged == model.cfg.messages
}
