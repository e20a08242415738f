//! `brokerlab perf --kafka`: a Kafka load generator on librdkafka (the
//! `rdkafka` crate, linked against the system's librdkafka), for any
//! Kafka-protocol broker.
//!
//! It deletes and creates one topic, optionally fills it with a backlog
//! before the clock starts, starts consumers (each assigned its share of
//! the partitions from the earliest offset: no group, so no rebalance
//! delays the start) and producers (`acks` as given,
//! idempotent on request, batching as librdkafka batches with its
//! `linger.ms`), as fast as the broker takes records or at a fixed rate per
//! producer, runs a second of warm-up and then the given duration, and
//! deletes the topic. Each
//! record's value starts with its send time in nanoseconds since the Unix
//! epoch, so a consumer measures each record's latency from produce to
//! consume. Rates count what happened between the warm-up's end and the
//! deadline, divided by the duration: produced counts the records the broker
//! acknowledged, consumed the records consumed (and timed, those sent after
//! the warm-up: the first fetches of a consumer that has just connected
//! would otherwise fill the tail of the latencies).

use super::latency::{Latencies, Summary};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientContext;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long admin requests and the final flush may take.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The most records a paced producer that fell behind sends at once.
const BURST_MAX: u32 = 16;

/// How long the clients run before the measured duration starts.
const WARMUP: Duration = Duration::from_secs(1);

/// How the Kafka load runs.
#[derive(Clone, Debug)]
pub struct KafkaOptions {
    /// The bootstrap servers (host:port, comma separated).
    pub bootstrap: String,
    /// Producing clients.
    pub producers: u16,
    /// Consuming clients, in one consumer group.
    pub consumers: u16,
    /// Bytes per record value; at least the 8 of the timestamp.
    pub size_bytes: usize,
    /// How long the load runs.
    pub duration: Duration,
    /// The producers' `acks`: `0`, `1` or `all`.
    pub acks: String,
    /// Idempotent producers (`enable.idempotence`, which implies `acks=all`).
    pub idempotent: bool,
    /// Records per second per producer; 0 produces as fast as the broker takes them.
    pub rate_per_s: u32,
    /// The producers' `linger.ms`.
    pub linger_ms: u32,
    /// The topic's name.
    pub topic: String,
    /// The topic's partitions.
    pub partitions: u16,
    /// Records produced into the topic before the clock starts, for the
    /// consumers to read (a consume-only run has no producers).
    pub backlog: u64,
}

/// What a Kafka run measured.
#[derive(Clone, Debug)]
pub struct KafkaReport {
    /// How the run was set up.
    pub options: KafkaOptions,
    /// Records the broker acknowledged within the measured window.
    pub produced: u64,
    /// Records the broker refused, or that failed, within the window.
    pub failed: u64,
    /// Records consumed within the window.
    pub consumed: u64,
    /// Latency percentiles of the consumed records.
    pub latency: Summary,
}

impl KafkaReport {
    /// Records acknowledged per second.
    #[must_use]
    pub fn produced_per_s(&self) -> f64 {
        self.produced as f64 / self.options.duration.as_secs_f64()
    }

    /// Records consumed per second.
    #[must_use]
    pub fn consumed_per_s(&self) -> f64 {
        self.consumed as f64 / self.options.duration.as_secs_f64()
    }

    /// The figures as one JSON object.
    #[must_use]
    pub fn to_json(&self) -> String {
        let options = &self.options;
        format!(
            concat!(
                "{{\"produced_per_s\":{:.0},\"consumed_per_s\":{:.0},",
                "\"p50_us\":{},\"p95_us\":{},\"p99_us\":{},\"max_us\":{},",
                "\"produced\":{},\"failed\":{},\"consumed\":{},",
                "\"duration_s\":{},\"size_bytes\":{},\"producers\":{},\"consumers\":{},",
                "\"acks\":\"{}\",\"idempotent\":{},\"rate_per_s\":{},\"linger_ms\":{},",
                "\"partitions\":{},\"backlog\":{}}}"
            ),
            self.produced_per_s(),
            self.consumed_per_s(),
            self.latency.p50_us,
            self.latency.p95_us,
            self.latency.p99_us,
            self.latency.max_us,
            self.produced,
            self.failed,
            self.consumed,
            options.duration.as_secs_f64(),
            options.size_bytes,
            options.producers,
            options.consumers,
            options.acks,
            options.idempotent,
            options.rate_per_s,
            options.linger_ms,
            options.partitions,
            options.backlog,
        )
    }
}

impl std::fmt::Display for KafkaReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let options = &self.options;
        writeln!(
            f,
            "{} producer(s) (acks={}{}, linger {} ms), {} consumer(s), {}-byte records, {} partition(s), {:.1} s",
            options.producers,
            options.acks,
            if options.idempotent { ", idempotent" } else { "" },
            options.linger_ms,
            options.consumers,
            options.size_bytes,
            options.partitions,
            options.duration.as_secs_f64(),
        )?;
        writeln!(
            f,
            "produced {:.0} records/s ({} acknowledged, {} failed), consumed {:.0} records/s ({})",
            self.produced_per_s(),
            self.produced,
            self.failed,
            self.consumed_per_s(),
            self.consumed
        )?;
        write!(
            f,
            "latency p50 {} us, p95 {} us, p99 {} us, max {} us",
            self.latency.p50_us, self.latency.p95_us, self.latency.p99_us, self.latency.max_us
        )
    }
}

/// Counts the broker's acknowledgements of one producer's records while
/// `open` (within the measured window, or while the backlog is filled).
struct Acknowledgements {
    produced: AtomicU64,
    failed: AtomicU64,
    open: AtomicBool,
    /// Records sent before this (nanoseconds since the Unix epoch) belong
    /// to the warm-up, whenever their acknowledgement comes.
    since_ns: AtomicU64,
}

impl ClientContext for Acknowledgements {}

impl ProducerContext for Acknowledgements {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if !self.open.load(Ordering::Relaxed) {
            return;
        }
        let payload = match result {
            Ok(message) => message.payload(),
            Err((_, message)) => message.payload(),
        };
        if sent_ns(payload.unwrap_or_default()) < self.since_ns.load(Ordering::Relaxed) {
            return;
        }
        match result {
            Ok(_) => self.produced.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.failed.fetch_add(1, Ordering::Relaxed),
        };
    }
}

/// Runs the load and measures it.
///
/// # Errors
/// When the topic cannot be created, or a client cannot be made.
pub fn run_kafka(options: KafkaOptions) -> io::Result<KafkaReport> {
    if options.size_bytes < 8 {
        return Err(io::Error::other(
            "--size must be at least 8 (the timestamp)",
        ));
    }
    recreate_topic(&options)?;
    fill(&options)?;
    let consumers: Vec<BaseConsumer> = (0..options.consumers)
        .map(|index| consumer(&options, index))
        .collect::<io::Result<_>>()?;
    let start = Instant::now() + WARMUP;
    let start_ns = now_ns() + u64::try_from(WARMUP.as_nanos()).unwrap_or(u64::MAX);
    let window = (start, start + options.duration);
    let backlogged = options.backlog > 0;
    let consumers: Vec<_> = consumers
        .into_iter()
        .map(|consumer| {
            // A backlog is for the measured window: its consumers wait.
            let from = if backlogged { start } else { Instant::now() };
            std::thread::spawn(move || consume(&consumer, from, window, start_ns))
        })
        .collect();
    let producers: Vec<_> = (0..options.producers)
        .map(|_| {
            let producer = producer(&options)?;
            producer
                .context()
                .since_ns
                .store(start_ns, Ordering::Relaxed);
            let options = options.clone();
            Ok(std::thread::spawn(move || {
                produce(&producer, &options, window)
            }))
        })
        .collect::<io::Result<_>>()?;
    let (mut produced, mut failed) = (0, 0);
    for producer in producers {
        let (acknowledged, refused) = producer
            .join()
            .map_err(|_| io::Error::other("a producer thread panicked"))??;
        produced += acknowledged;
        failed += refused;
    }
    let (mut consumed, mut latencies) = (0, Latencies::default());
    for consumer in consumers {
        let (count, samples) = consumer
            .join()
            .map_err(|_| io::Error::other("a consumer thread panicked"))?;
        consumed += count;
        latencies.merge(samples);
    }
    delete_topic(&options)?;
    Ok(KafkaReport {
        latency: latencies.summary(),
        options,
        produced,
        failed,
        consumed,
    })
}

fn kafka_error(error: KafkaError) -> io::Error {
    io::Error::other(error.to_string())
}

fn admin(options: &KafkaOptions) -> io::Result<AdminClient<DefaultClientContext>> {
    ClientConfig::new()
        .set("bootstrap.servers", &options.bootstrap)
        .create()
        .map_err(kafka_error)
}

/// Deletes the topic if it is there, and creates it afresh.
fn recreate_topic(options: &KafkaOptions) -> io::Result<()> {
    let admin = admin(options)?;
    let admin_options = AdminOptions::new().operation_timeout(Some(ADMIN_TIMEOUT));
    let _ = block_on(admin.delete_topics(&[options.topic.as_str()], &admin_options));
    let topic = NewTopic::new(
        &options.topic,
        i32::from(options.partitions),
        TopicReplication::Fixed(1),
    );
    let results = block_on(admin.create_topics([&topic], &admin_options)).map_err(kafka_error)?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(io::Error::other(format!("creating {topic}: {code}")));
            }
        }
    }
    Ok(())
}

fn delete_topic(options: &KafkaOptions) -> io::Result<()> {
    let admin = admin(options)?;
    let admin_options = AdminOptions::new().operation_timeout(Some(ADMIN_TIMEOUT));
    block_on(admin.delete_topics(&[options.topic.as_str()], &admin_options))
        .map_err(kafka_error)?;
    Ok(())
}

/// Runs a future to its end on this thread (the admin client's futures
/// are completed by librdkafka's own threads).
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime");
    runtime.block_on(future)
}

fn producer(options: &KafkaOptions) -> io::Result<ThreadedProducer<Acknowledgements>> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &options.bootstrap)
        .set("linger.ms", options.linger_ms.to_string())
        .set("queue.buffering.max.messages", "1000000")
        .set("acks", &options.acks);
    if options.idempotent {
        config.set("enable.idempotence", "true");
    }
    let context = Acknowledgements {
        produced: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        open: AtomicBool::new(false),
        since_ns: AtomicU64::new(0),
    };
    config.create_with_context(context).map_err(kafka_error)
}

/// Consumer `index`, assigned the partitions `p` with `p % consumers ==
/// index`, each from its first offset.
fn consumer(options: &KafkaOptions, index: u16) -> io::Result<BaseConsumer> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &options.bootstrap)
        .set("group.id", format!("{}-readers", options.topic))
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10")
        .create()
        .map_err(kafka_error)?;
    let mut assignment = TopicPartitionList::new();
    for partition in (0..options.partitions).filter(|p| p % options.consumers == index) {
        assignment
            .add_partition_offset(&options.topic, i32::from(partition), Offset::Beginning)
            .map_err(kafka_error)?;
    }
    consumer.assign(&assignment).map_err(kafka_error)?;
    // Asking for each partition's offsets connects the consumer to the
    // broker and looks the partitions up, without consuming anything.
    for partition in (0..options.partitions).filter(|p| p % options.consumers == index) {
        consumer
            .fetch_watermarks(&options.topic, i32::from(partition), ADMIN_TIMEOUT)
            .map_err(kafka_error)?;
    }
    Ok(consumer)
}

/// Produces the backlog and waits until the broker acknowledged all of it.
fn fill(options: &KafkaOptions) -> io::Result<()> {
    if options.backlog == 0 {
        return Ok(());
    }
    let producer = producer(options)?;
    producer.context().open.store(true, Ordering::Relaxed);
    let value = vec![0_u8; options.size_bytes];
    let mut sent = 0;
    while sent < options.backlog {
        let record: BaseRecord<'_, (), [u8]> = BaseRecord::to(&options.topic).payload(&value);
        match producer.send(record) {
            Ok(()) => sent += 1,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                std::thread::sleep(Duration::from_micros(100));
            }
            Err((error, _)) => return Err(kafka_error(error)),
        }
    }
    producer
        .flush(Duration::from_secs(120))
        .map_err(kafka_error)?;
    let acknowledged = producer.context().produced.load(Ordering::Relaxed);
    if acknowledged != options.backlog {
        return Err(io::Error::other(format!(
            "the broker acknowledged {acknowledged} of the {} backlog records",
            options.backlog
        )));
    }
    Ok(())
}

/// The send time a record's value starts with (0 for a backlog record, or
/// a value too short to hold one).
fn sent_ns(value: &[u8]) -> u64 {
    value.get(..8).map_or(0, |stamp| {
        u64::from_be_bytes(stamp.try_into().expect("eight bytes"))
    })
}

/// Nanoseconds since the Unix epoch.
fn now_ns() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
}

/// Produces through the warm-up and the measured window; returns the
/// records acknowledged and failed within the window.
fn produce(
    producer: &ThreadedProducer<Acknowledgements>,
    options: &KafkaOptions,
    (start, deadline): (Instant, Instant),
) -> io::Result<(u64, u64)> {
    let mut value = vec![0_u8; options.size_bytes];
    let gap = (options.rate_per_s > 0)
        .then(|| Duration::from_secs_f64(1.0 / f64::from(options.rate_per_s)));
    // When the next record is due; a producer that falls behind (a long
    // sleep, a full queue) catches up by a burst of at most `BURST_MAX`.
    let mut due = Instant::now();
    let context = producer.context();
    while Instant::now() < deadline {
        if !context.open.load(Ordering::Relaxed) && Instant::now() >= start {
            context.open.store(true, Ordering::Relaxed);
        }
        if let Some(gap) = gap {
            let now = Instant::now();
            match due.checked_duration_since(now) {
                Some(wait) => std::thread::sleep(wait),
                None if now - due > gap * BURST_MAX => due = now,
                None => {}
            }
            due += gap;
        }
        value[..8].copy_from_slice(&now_ns().to_be_bytes());
        let record: BaseRecord<'_, (), [u8]> = BaseRecord::to(&options.topic).payload(&value);
        match producer.send(record) {
            Ok(()) => {}
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                // librdkafka's queue is full: let its threads send.
                std::thread::sleep(Duration::from_micros(100));
            }
            Err((error, _)) => return Err(kafka_error(error)),
        }
    }
    context.open.store(false, Ordering::Relaxed);
    let counts = (
        context.produced.load(Ordering::Relaxed),
        context.failed.load(Ordering::Relaxed),
    );
    // What is still queued is sent, but not counted.
    let _ = producer.flush(ADMIN_TIMEOUT);
    Ok(counts)
}

/// Consumes from `from` (the warm-up's start, or with a backlog the
/// window's) to the deadline; returns the records consumed within the
/// window, and the latencies of those sent after the warm-up (at
/// `start_ns`, since the Unix epoch).
fn consume(
    consumer: &BaseConsumer,
    from: Instant,
    (start, deadline): (Instant, Instant),
    start_ns: u64,
) -> (u64, Latencies) {
    if let Some(wait) = from.checked_duration_since(Instant::now()) {
        std::thread::sleep(wait);
    }
    let (mut consumed, mut latencies) = (0, Latencies::default());
    while Instant::now() < deadline {
        let Some(result) = consumer.poll(Duration::from_millis(50)) else {
            continue;
        };
        let Ok(message) = result else {
            continue;
        };
        let Some(value) = message.payload() else {
            continue;
        };
        if Instant::now() < start {
            continue;
        }
        // A backlog record carries no send time (0): it is counted, not
        // timed; one sent in the warm-up is neither.
        match sent_ns(value) {
            0 => consumed += 1,
            sent if sent >= start_ns => {
                latencies.record(now_ns().saturating_sub(sent) / 1_000);
                consumed += 1;
            }
            _ => {}
        }
    }
    (consumed, latencies)
}
