//! What the stream workloads share: their parameters, drawn from the seed,
//! the topic they use, and their clients (stream producers, then readers).
//!
//! Every stream workload has one durable topic, `events`, whose partitions
//! the producers pick by key (Kafka's murmur2 partitioner) and the readers
//! share out: in `stream-keyed` their consumer group `readers` assigns
//! them, in `stream-idempotent` reader `i` owns the partitions `p` with
//! `p % readers == i`.
//! Age retention is off (its deadline would outlast the run); size
//! retention, on in some seeds, keeps a few hundred bytes in small
//! segments, so that the log start moves under a slow reader.

use crate::client::{
    Client, GroupSpec, StreamProducer, StreamProducerSpec, StreamReader, StreamReaderSpec,
};
use crate::plan::{FaultPlan, WorkloadParams, MS};
use crate::random::SimRng;
use brokerlab_core::group::GroupsConfig;
use brokerlab_core::stream::{OffsetSpec, TopicConfig, PRODUCER_WINDOW_BATCHES};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// The topic of every stream workload.
pub const TOPIC: &str = "events";

/// The consumer group of the readers that read in one.
pub const GROUP: &str = "readers";

/// Segments of a topic without size retention.
const SEGMENT_BYTES: u64 = 4096;

/// How a stream workload's topic, producers and readers are set up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamParams {
    /// The topic's partitions.
    pub partitions: u32,
    /// Distinct keys the producers write.
    pub keys: u32,
    /// Most records in one batch.
    pub batch_records: u32,
    /// Most unacknowledged batches per partition and producer.
    pub in_flight: u32,
    /// Producers are idempotent.
    pub idempotent: bool,
    /// The topic's segment size.
    pub segment_bytes: u64,
    /// The topic's size retention, if on.
    pub retention_bytes: Option<u64>,
    /// Most records a reader takes from one partition per poll.
    pub max_poll_records: u32,
    /// How long a poll waits at the broker.
    pub wait_ms: u64,
    /// Readers reset to the latest offset (else to the earliest) on OFFSET_OUT_OF_RANGE.
    pub reset_latest: bool,
    /// The readers are members of the consumer group `readers` with this
    /// session timeout, which assigns them their partitions; 0: each owns
    /// fixed partitions.
    #[serde(default)]
    pub session_timeout_ms: u64,
    /// The coordinator's delay before the first generation of an empty group.
    #[serde(default)]
    pub initial_rebalance_delay_ms: u64,
}

impl StreamParams {
    /// Whether these are the parameters of a workload that is not a stream's.
    #[must_use]
    pub fn is_unset(&self) -> bool {
        *self == StreamParams::default()
    }

    /// The group coordinator's configuration: Kafka's defaults, but with
    /// the workload's initial delay and any session timeout allowed.
    #[must_use]
    pub fn groups_config(&self) -> GroupsConfig {
        GroupsConfig {
            initial_rebalance_delay_ms: self.initial_rebalance_delay_ms,
            session_timeout_min_ms: 1,
            ..GroupsConfig::default()
        }
    }

    /// The topic's configuration.
    #[must_use]
    pub fn topic_config(&self) -> TopicConfig {
        TopicConfig {
            durable: true,
            segment_bytes: self.segment_bytes,
            retention_bytes: self.retention_bytes,
            retention_ms: None,
            ..TopicConfig::default()
        }
    }
}

impl fmt::Display for StreamParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let retention = self
            .retention_bytes
            .map_or("off".to_owned(), |bytes| format!("{bytes}B"));
        let group = match self.session_timeout_ms {
            0 => "none".to_owned(),
            ms => format!(
                "{GROUP}(session={ms}ms,delay={}ms)",
                self.initial_rebalance_delay_ms
            ),
        };
        write!(
            f,
            " partitions={} keys={} batch={} in-flight={} idempotent={} segment={}B \
             retention={retention} max-poll={} poll-wait={}ms reset={} group={group}",
            self.partitions,
            self.keys,
            self.batch_records,
            self.in_flight,
            self.idempotent,
            self.segment_bytes,
            self.max_poll_records,
            self.wait_ms,
            if self.reset_latest {
                "latest"
            } else {
                "earliest"
            },
        )
    }
}

/// Draws the stream parameters, after the rest of the options (so that
/// those draws are the same as other workloads'), and switches off the
/// AMQP-only pressures (credit flow, the memory alarm, the restricted user).
pub fn draw(rng: &mut SimRng, params: &mut WorkloadParams, plan: &mut FaultPlan, idempotent: bool) {
    params.stream = draw_params(rng, idempotent);
    if !idempotent {
        plan.rebalance_every_ns = rng.chance(500).then(|| rng.between(20, 300) * MS);
    }
    plan.credit_flow = None;
    plan.memory_alarm = None;
    plan.restricted_user = false;
    if idempotent {
        // Retries through dropped links, and acknowledgements late enough to retry.
        let every_ms = rng.between(20, 200);
        plan.link_drop_every_ns.get_or_insert(every_ms * MS);
        params.confirm_timeout_ns = rng.between(5, 100) * MS;
    }
}

/// The stream parameters: idempotent producers and fixed partitions per
/// reader, or producers without idempotence and readers in a consumer group.
#[must_use]
pub fn draw_params(rng: &mut SimRng, idempotent: bool) -> StreamParams {
    let retention = !idempotent && rng.chance(400);
    StreamParams {
        partitions: rng.between(1, 6) as u32,
        keys: rng.between(1, 12) as u32,
        batch_records: rng.between(1, 4) as u32,
        in_flight: if idempotent {
            rng.between(1, PRODUCER_WINDOW_BATCHES as u64) as u32
        } else {
            1
        },
        idempotent,
        segment_bytes: if retention {
            rng.between(200, 800)
        } else {
            SEGMENT_BYTES
        },
        retention_bytes: retention.then(|| rng.between(300, 1500)),
        max_poll_records: rng.between(1, 8) as u32,
        wait_ms: rng.between(5, 200),
        reset_latest: retention && rng.chance(250),
        session_timeout_ms: if idempotent { 0 } else { rng.between(30, 400) },
        initial_rebalance_delay_ms: if idempotent { 0 } else { rng.between(0, 100) },
    }
}

/// The run's stream clients: producers first, then readers.
#[must_use]
pub fn clients(params: &WorkloadParams) -> Vec<Client> {
    clients_numbered(params, 0..params.producers, 0..params.consumers)
}

/// Stream producers and readers numbered from these ranges (in `mixed`
/// they come after the AMQP clients' numbers), producers first.
#[must_use]
pub fn clients_numbered(
    params: &WorkloadParams,
    producer_ids: std::ops::Range<usize>,
    reader_ids: std::ops::Range<usize>,
) -> Vec<Client> {
    let stream = params.stream;
    assert!(stream.partitions > 0, "stream parameters were drawn");
    let topic: Arc<str> = TOPIC.into();
    let config = stream.topic_config();
    let producers = producer_ids.map(|id| {
        Client::StreamProducer(StreamProducer::new(StreamProducerSpec {
            id,
            topic: topic.clone(),
            partitions: stream.partitions,
            config,
            keys: stream.keys,
            messages: params.messages_per_producer,
            batch_records: stream.batch_records as usize,
            in_flight_max: stream.in_flight as usize,
            gap: params.publish_gap,
            timeout_ns: params.confirm_timeout_ns,
            idempotent: stream.idempotent,
        }))
    });
    let readers_count = reader_ids.len();
    let first_reader = reader_ids.start;
    let readers = reader_ids.map(|id| {
        let index = id - first_reader;
        let owned: Arc<[u32]> = (0..stream.partitions)
            .filter(|partition| *partition as usize % readers_count == index)
            .collect();
        let slow = index >= readers_count.saturating_sub(params.slow_consumers);
        Client::StreamReader(StreamReader::new(StreamReaderSpec {
            id,
            topic: topic.clone(),
            partitions: stream.partitions,
            config,
            owned,
            group: (stream.session_timeout_ms > 0).then(|| GroupSpec {
                group: GROUP.into(),
                session_timeout_ms: stream.session_timeout_ms,
            }),
            max_poll_records: stream.max_poll_records as usize,
            wait_ms: stream.wait_ms,
            pause: if slow { params.slow_work } else { params.work },
            reset: if stream.reset_latest {
                OffsetSpec::Latest
            } else {
                OffsetSpec::Earliest
            },
        }))
    });
    producers.chain(readers).collect()
}
