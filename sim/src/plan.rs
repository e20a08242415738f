//! What a run does and what goes wrong in it: the options of a simulation.
//!
//! A run's [`Options`] are a [`WorkloadParams`] (which workload, how many
//! clients and messages, how they behave) and a [`FaultPlan`] (each kind of
//! fault with its own rate, or off). In swarm mode both are drawn from the
//! seed, after TigerBeetle's VOPR: each fault kind is switched on or off per
//! seed and given its own rate, so a sweep over seeds covers quiet runs, runs
//! with one kind of trouble, and runs where everything goes wrong at once.
//! The options print on one line (`SEED=<n> plan=<...>`) before anything else
//! happens, so a failing run says what it was.

use crate::random::SimRng;
use crate::workload::saga::SagaParams;
use crate::workload::sqs_visibility::SqsParams;
use crate::workload::streams::StreamParams;
use crate::workload::{saga, stream_idempotent, stream_keyed, streams, Workload};
use brokerlab_core::Mutant;
use brokerlab_store::CrashFaults;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Nanoseconds in a millisecond: simulated time is kept in nanoseconds, as
/// the core's `Instant` is.
pub const MS: u64 = 1_000_000;
/// Nanoseconds in a microsecond.
pub const US: u64 = 1_000;

/// The shortest confirm timeout of producers in runs with credit flow.
pub const CONFIRM_TIMEOUT_UNDER_FLOW_NS: u64 = 10_000 * MS;

/// Most producers and consumers a workload may draw.
const DRAWN_CLIENTS_MAX: usize = 16;

/// The stream clients `mixed` adds to its AMQP ones: a stream producer
/// and two readers in a consumer group.
pub const MIXED_STREAM_PRODUCERS: usize = 1;
/// See [`MIXED_STREAM_PRODUCERS`].
pub const MIXED_STREAM_READERS: usize = 2;

/// Most clients a run may have (each is one node of the network).
pub const CLIENTS_MAX: usize = DRAWN_CLIENTS_MAX + MIXED_STREAM_PRODUCERS + MIXED_STREAM_READERS;

/// An inclusive range of durations in nanoseconds, drawn uniformly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    /// Shortest, in nanoseconds.
    pub low_ns: u64,
    /// Longest, in nanoseconds.
    pub high_ns: u64,
}

impl Span {
    /// The span `low_ns..=high_ns`.
    #[must_use]
    pub fn new(low_ns: u64, high_ns: u64) -> Span {
        assert!(low_ns <= high_ns, "a span runs forwards");
        Span { low_ns, high_ns }
    }

    /// A duration drawn from the span.
    pub fn draw(self, rng: &mut SimRng) -> u64 {
        rng.between(self.low_ns, self.high_ns)
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", Millis(self.low_ns), Millis(self.high_ns))
    }
}

/// Nanoseconds shown as milliseconds with up to three decimals.
#[derive(Clone, Copy, Debug)]
pub struct Millis(pub u64);

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whole, micros) = (self.0 / MS, (self.0 % MS) / US);
        if micros == 0 {
            write!(f, "{whole}ms")
        } else {
            let fraction = format!("{micros:03}");
            write!(f, "{whole}.{}ms", fraction.trim_end_matches('0'))
        }
    }
}

/// A fault that strikes now and then and lasts a while.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outage {
    /// Mean time between two strikes; each gap is drawn from `0..=2 * mean`.
    pub every_ns: u64,
    /// How long one lasts.
    pub lasts: Span,
}

impl fmt::Display for Outage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "every~{}/for:{}", Millis(self.every_ns), self.lasts)
    }
}

/// Everything that goes wrong in a run, each kind with its own rate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultPlan {
    /// One-way delay of each client's link, per client: links differ, so
    /// messages on different connections overtake each other, while each
    /// connection stays FIFO as TCP keeps it.
    pub link_delays: Vec<Span>,
    /// Mean time between two dropped connections (the socket closes; the
    /// broker sees `Disconnect`, the client reconnects), or never.
    pub link_drop_every_ns: Option<u64>,
    /// A client cut off from the broker: nothing gets through, and a cut
    /// longer than [`FaultPlan::connection_timeout_ns`] closes the connection.
    pub partition: Option<Outage>,
    /// Partitions cut one direction only (chosen per strike), not both.
    pub partition_one_way: bool,
    /// One direction of a client's link stalls; messages wait, none is lost.
    pub clog: Option<Outage>,
    /// The broker crashes (its unsynced writes are lost) and restarts after `lasts`.
    pub crash: Option<Outage>,
    /// Chance in a thousand that a broker crash strikes while the log is
    /// being compacted (the disk then holds the old log or the new one whole).
    pub crash_while_compacting_per_mille: u16,
    /// The broker compacts its log when it grows past this many bytes.
    pub compact_above_bytes: Option<u64>,
    /// A client process crashes (its connection dies, its memory is lost)
    /// and restarts after `lasts`.
    pub client_crash: Option<Outage>,
    /// The broker's clock runs this many parts per million fast (or slow).
    pub drift_ppm: i64,
    /// The broker's clock jumps forward by `lasts` now and then.
    pub clock_jump: Option<Outage>,
    /// How long an fsync of the broker's log takes.
    pub fsync: Span,
    /// What else a crash may do to the log's unsynced tail.
    pub disk: CrashFaults,
    /// How long a client waits before reconnecting.
    pub reconnect: Span,
    /// Silence after which both ends give a connection up (heartbeats, compressed).
    pub connection_timeout_ns: u64,
    /// How long faults are injected before the heal phase.
    pub safety_phase_ns: u64,
    /// Not a fault but a pressure: the broker's credit-flow mark
    /// (`Config::flow`'s `ready_high`), under which the broker node stops
    /// reading a connection while the core pauses it, as the server does;
    /// or off.
    #[serde(default)]
    pub credit_flow: Option<usize>,
    /// Another pressure: the memory alarm's high mark in bytes
    /// (`Config::memory_alarm`), above which a publishing connection is
    /// blocked until the broker holds less than three quarters of it; or off.
    #[serde(default)]
    pub memory_alarm: Option<u64>,
    /// The clients log in as a user whose permissions name exactly the
    /// workload's exchanges and queues (`Config::access`), so every command
    /// goes through the core's access control and none may be refused.
    #[serde(default)]
    pub restricted_user: bool,
    /// Mean time between two consumer group members asking for a
    /// rebalance (a rebalance storm), or never.
    #[serde(default)]
    pub rebalance_every_ns: Option<u64>,
}

/// How the workload behaves: clients, messages and their habits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkloadParams {
    /// Which workload.
    pub workload: Workload,
    /// Publishing clients.
    pub producers: usize,
    /// Consuming clients.
    pub consumers: usize,
    /// Distinct messages each producer must get confirmed.
    pub messages_per_producer: u64,
    /// Consumer prefetch (basic.qos prefetch_count, per consumer).
    pub prefetch: u16,
    /// Most unconfirmed publishes a producer keeps outstanding.
    pub publish_window: usize,
    /// Pause between two publishes of one producer.
    pub publish_gap: Span,
    /// How long a producer waits for a confirm before publishing again.
    pub confirm_timeout_ns: u64,
    /// How long a consumer works on a message before settling it.
    pub work: Span,
    /// Chance that a consumer hands a message back (nack or reject, requeue).
    pub requeue_per_mille: u16,
    /// The TTL of the workload's TTL queues, in milliseconds.
    pub ttl_ms: u64,
    /// How many of the consumers are slow (the last ones).
    pub slow_consumers: usize,
    /// How long a slow consumer works on a message.
    pub slow_work: Span,
    /// The stream workloads' topic, producers and readers (drawn for those
    /// alone; left out of the plans of other workloads).
    #[serde(default, skip_serializing_if = "StreamParams::is_unset")]
    pub stream: StreamParams,
    /// The saga workload's steps and participants' habits (drawn for it
    /// alone; left out of the plans of other workloads).
    #[serde(default, skip_serializing_if = "SagaParams::is_unset")]
    pub saga: SagaParams,
    /// The SQS workload's visibility timeout, groups and clients' habits
    /// (drawn for it alone; left out of the plans of other workloads).
    #[serde(default, skip_serializing_if = "SqsParams::is_unset")]
    pub sqs: SqsParams,
}

impl WorkloadParams {
    /// Every client of the run: producers first, then consumers (and in
    /// `mixed`, its stream producer and readers after them).
    #[must_use]
    pub fn clients(&self) -> usize {
        let streams = match self.workload {
            Workload::Mixed => MIXED_STREAM_PRODUCERS + MIXED_STREAM_READERS,
            _ => 0,
        };
        self.producers + self.consumers + streams
    }
}

/// Everything that sets a run apart besides its seed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Options {
    /// The workload and its parameters.
    pub workload: WorkloadParams,
    /// The faults.
    pub plan: FaultPlan,
    /// A deliberately broken broker, to prove the checkers catch it.
    pub mutant: Option<Mutant>,
}

impl Options {
    /// Options drawn from the seed (swarm mode), for `workload`.
    #[must_use]
    pub fn swarm(seed: u64, workload: Workload) -> Options {
        let mut rng = SimRng::for_options(seed, workload.index());
        let mut params = draw_workload(&mut rng, workload);
        let mut plan = draw_plan(&mut rng, params.clients());
        match workload {
            Workload::StreamKeyed => stream_keyed::draw(&mut rng, &mut params, &mut plan),
            Workload::StreamIdempotent => stream_idempotent::draw(&mut rng, &mut params, &mut plan),
            Workload::Mixed => params.stream = streams::draw_params(&mut rng, false),
            Workload::Saga => saga::draw(&mut rng, &mut params, &mut plan),
            Workload::PubsubRedis => {
                crate::workload::pubsub_redis::draw(&mut rng, &mut params, &mut plan);
            }
            Workload::SqsVisibility => {
                crate::workload::sqs_visibility::draw(&mut rng, &mut params, &mut plan);
            }
            _ => {}
        }
        if workload
            .topology(&params)
            .queues
            .values()
            .any(|queue| queue.habits.respond)
        {
            // A connection that consumes and publishes (a responder) is
            // blocked by the alarm with the deliveries whose acks would
            // bring the bytes down unread: RabbitMQ deadlocks the same way,
            // which is why it tells clients to publish and consume on
            // separate connections. These clients do not, so their runs
            // keep the alarm off.
            plan.memory_alarm = None;
        }
        if plan.credit_flow.is_some() || plan.memory_alarm.is_some() {
            // A producer that publishes again whenever a confirm is late
            // turns every credit-flow pause into duplicates, which lengthen
            // the next pause: runs with credit flow showed it (seed 231 of
            // work-queue never finished). Under flow, producers wait for
            // confirms as long as pika's and amqplib's do: far longer than
            // a pause.
            params.confirm_timeout_ns =
                params.confirm_timeout_ns.max(CONFIRM_TIMEOUT_UNDER_FLOW_NS);
        }
        Options {
            workload: params,
            plan,
            mutant: None,
        }
    }

    /// The same options with about `total` messages in all, shared out
    /// among the producers (the standard sweep draws 10 to 180).
    #[must_use]
    pub fn with_messages(mut self, total: u64) -> Options {
        let producers = self.workload.producers as u64;
        self.workload.messages_per_producer = total.div_ceil(producers).max(1);
        self
    }

    /// The same options with a mutant broker.
    #[must_use]
    pub fn with_mutant(mut self, mutant: Option<Mutant>) -> Options {
        self.mutant = mutant;
        self
    }
}

fn draw_workload(rng: &mut SimRng, workload: Workload) -> WorkloadParams {
    let producers = rng.between(1, 3) as usize;
    let consumers_min = workload.consumers_min() as u64;
    let consumers_max = match workload {
        // One participant per step, and the observer.
        Workload::Saga => saga::STEPS_MAX as u64 + 1,
        _ => (consumers_min + 2).min((DRAWN_CLIENTS_MAX - producers) as u64),
    };
    let params = WorkloadParams {
        workload,
        producers,
        consumers: rng.between(consumers_min, consumers_max) as usize,
        messages_per_producer: rng.between(10, 60),
        prefetch: rng.between(1, 8) as u16,
        publish_window: rng.between(1, 8) as usize,
        publish_gap: Span::new(0, rng.between(2, 30) * MS),
        confirm_timeout_ns: rng.between(50, 400) * MS,
        work: Span::new(0, rng.between(1, 30) * MS),
        requeue_per_mille: [0, 20, 100, 300][rng.below(4) as usize],
        ttl_ms: rng.between(5, 60),
        slow_consumers: 0,
        slow_work: Span::new(0, 0),
        stream: StreamParams::default(),
        saga: SagaParams::default(),
        sqs: SqsParams::default(),
    };
    let params = if rng.chance(300) {
        WorkloadParams {
            slow_consumers: rng.between(1, params.consumers as u64) as usize,
            slow_work: Span::new(20 * MS, rng.between(40, 300) * MS),
            ..params
        }
    } else {
        params
    };
    assert!(params.clients() <= CLIENTS_MAX, "too many clients");
    params
}

/// A rate drawn for a fault that is switched on for half of the seeds.
fn maybe(rng: &mut SimRng, every_low_ms: u64, every_high_ms: u64) -> Option<u64> {
    let on = rng.chance(500);
    let every_ns = rng.between(every_low_ms, every_high_ms) * MS;
    on.then_some(every_ns)
}

fn outage(rng: &mut SimRng, every: (u64, u64), lasts_high_ms: (u64, u64)) -> Option<Outage> {
    let every_ns = maybe(rng, every.0, every.1);
    let lasts = Span::new(MS, rng.between(lasts_high_ms.0, lasts_high_ms.1) * MS);
    every_ns.map(|every_ns| Outage { every_ns, lasts })
}

fn draw_plan(rng: &mut SimRng, clients: usize) -> FaultPlan {
    let link_delays = (0..clients)
        .map(|_| {
            let low_ns = rng.between(10, 500) * US;
            Span::new(low_ns, low_ns + rng.between(0, 5_000) * US)
        })
        .collect();
    FaultPlan {
        link_delays,
        link_drop_every_ns: maybe(rng, 20, 400),
        partition: outage(rng, (100, 1000), (20, 400)),
        clog: outage(rng, (50, 500), (5, 200)),
        crash: outage(rng, (100, 1000), (1, 200)),
        fsync: Span::new(50 * US, rng.between(100, 3_000) * US),
        disk: CrashFaults {
            writeback_per_mille: [0, 300, 1000][rng.below(3) as usize],
            torn_write_per_mille: [0, 500][rng.below(2) as usize],
            flip_bits_per_mille: [0, 200][rng.below(2) as usize],
        },
        reconnect: Span::new(MS, rng.between(2, 100) * MS),
        connection_timeout_ns: 100 * MS,
        safety_phase_ns: rng.between(200, 1_500) * MS,
        partition_one_way: rng.chance(500),
        crash_while_compacting_per_mille: [0, 300][rng.below(2) as usize],
        compact_above_bytes: rng.chance(500).then(|| rng.between(4, 64) << 10),
        client_crash: outage(rng, (100, 1000), (1, 300)),
        drift_ppm: if rng.chance(500) {
            rng.between(0, 20_000) as i64 - 10_000
        } else {
            0
        },
        clock_jump: outage(rng, (100, 1000), (1, 500)),
        // Drawn last, so that the draws before it are those of plans that
        // had no credit flow.
        credit_flow: rng.chance(333).then(|| rng.between(1, 16) as usize),
        // After it, for the same reason.
        // Bodies are 12 bytes: the mark holds 4 to 64 of them.
        memory_alarm: rng.chance(250).then(|| rng.between(4, 64) * 12),
        // After it, for the same reason.
        restricted_user: rng.chance(250),
        // Drawn by the workloads with consumer groups.
        rebalance_every_ns: None,
    }
}

fn write_optional(
    f: &mut fmt::Formatter<'_>,
    name: &str,
    value: Option<impl fmt::Display>,
) -> fmt::Result {
    match value {
        Some(value) => write!(f, " {name}={value}"),
        None => write!(f, " {name}=off"),
    }
}

impl fmt::Display for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (w, p) = (&self.workload, &self.plan);
        write!(
            f,
            "workload={} producers={} consumers={} messages={} prefetch={} window={} \
             publish-gap={} confirm-timeout={} work={} requeue={}permille ttl={}ms slow={}x{}",
            w.workload.name(),
            w.producers,
            w.consumers,
            w.messages_per_producer,
            w.prefetch,
            w.publish_window,
            w.publish_gap,
            Millis(w.confirm_timeout_ns),
            w.work,
            w.requeue_per_mille,
            w.ttl_ms,
            w.slow_consumers,
            w.slow_work,
        )?;
        if !w.stream.is_unset() {
            write!(f, "{}", w.stream)?;
        }
        if !w.saga.is_unset() {
            write!(f, "{}", w.saga)?;
        }
        if !w.sqs.is_unset() {
            write!(f, "{}", w.sqs)?;
        }
        let links: Vec<String> = p.link_delays.iter().map(Span::to_string).collect();
        write!(f, " links=[{}]", links.join(","))?;
        write_optional(
            f,
            "link-drop",
            p.link_drop_every_ns
                .map(|every| format!("every~{}", Millis(every))),
        )?;
        write_optional(f, "partition", p.partition)?;
        if p.partition_one_way {
            write!(f, "(one-way)")?;
        }
        write_optional(f, "clog", p.clog)?;
        write_optional(f, "crash", p.crash)?;
        write!(
            f,
            "(compacting:{}permille)",
            p.crash_while_compacting_per_mille
        )?;
        write_optional(
            f,
            "compact-above",
            p.compact_above_bytes.map(|b| format!("{}KiB", b >> 10)),
        )?;
        write_optional(f, "client-crash", p.client_crash)?;
        write!(f, " drift={}ppm", p.drift_ppm)?;
        write_optional(f, "clock-jump", p.clock_jump)?;
        write_optional(
            f,
            "rebalance",
            (p.rebalance_every_ns).map(|every| format!("every~{}", Millis(every))),
        )?;
        write_optional(f, "credit-flow", p.credit_flow)?;
        write_optional(f, "memory-alarm", p.memory_alarm)?;
        if p.restricted_user {
            write!(f, " restricted-user")?;
        }
        write!(
            f,
            " fsync={} disk=writeback:{},torn:{},flip:{} reconnect={} conn-timeout={} safety={}",
            p.fsync,
            p.disk.writeback_per_mille,
            p.disk.torn_write_per_mille,
            p.disk.flip_bits_per_mille,
            p.reconnect,
            Millis(p.connection_timeout_ns),
            Millis(p.safety_phase_ns),
        )?;
        write_optional(f, "mutant", self.mutant.map(Mutant::name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swarm_options_are_a_function_of_the_seed() {
        let first = Options::swarm(11, Workload::WorkQueue);
        let second = Options::swarm(11, Workload::WorkQueue);
        assert_eq!(first, second);
        assert_eq!(first.to_string(), second.to_string());
        assert_eq!(first.plan.link_delays.len(), first.workload.clients());
    }

    #[test]
    fn swarm_switches_faults_on_and_off_across_seeds() {
        let plans: Vec<FaultPlan> = (0..64)
            .map(|seed| Options::swarm(seed, Workload::WorkQueue).plan)
            .collect();
        assert!(plans.iter().any(|plan| plan.crash.is_some()));
        assert!(plans.iter().any(|plan| plan.crash.is_none()));
        assert!(plans.iter().any(|plan| plan.partition.is_some()));
        assert!(plans.iter().any(|plan| plan.link_drop_every_ns.is_none()));
    }

    #[test]
    fn millis_print_without_trailing_zeros() {
        assert_eq!(Millis(2 * MS).to_string(), "2ms");
        assert_eq!(Millis(MS + 500 * US).to_string(), "1.5ms");
        assert_eq!(Millis(50 * US).to_string(), "0.05ms");
    }
}
