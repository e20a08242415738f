//! `brokerlab perf`: an AMQP 0-9-1 load generator in the spirit of
//! rabbitmq-perf-test, for any AMQP 0-9-1 broker.
//!
//! It deletes and declares one queue (durable when messages are persistent),
//! starts consumers (manual acks, one multiple-ack per read, the given
//! prefetch) and producers (publishing to the queue through the default
//! exchange as fast as the broker takes it, or at a fixed rate, within an
//! unconfirmed window when confirming), runs for the given duration and
//! deletes the queue. Each
//! body starts with the send time in nanoseconds since the Unix epoch, so a
//! consumer measures each message's latency from publish to delivery.
//! Rates count what happened before the deadline, divided by the duration.

#[cfg(all(feature = "kafka-perf", not(madsim)))]
mod kafka;
mod latency;
mod load;
#[cfg(not(madsim))]
mod sqs;

#[cfg(all(feature = "kafka-perf", not(madsim)))]
pub use kafka::{run_kafka, KafkaOptions, KafkaReport};
pub use latency::{Latencies, Summary};
#[cfg(not(madsim))]
pub use sqs::{SqsOptions, SqsReport};

/// Runs the SQS load (`brokerlab perf --sqs`) on a runtime of its own.
///
/// # Errors
/// When the server cannot be reached, or answers an action with an error.
#[cfg(not(madsim))]
pub fn run_sqs(options: SqsOptions) -> io::Result<SqsReport> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(sqs::run_sqs(options))
}

use crate::client::{Client, Target};
use amq_protocol::protocol::{queue, AMQPClass};
use amq_protocol::types::FieldTable;
use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How the load runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// The broker, and the user and vhost to use.
    pub target: Target,
    /// Publishing connections.
    pub producers: u16,
    /// Consuming connections.
    pub consumers: u16,
    /// Bytes per message body; at least the 8 of the timestamp.
    pub size_bytes: usize,
    /// How long the load runs.
    pub duration: Duration,
    /// Publisher confirms on every producer.
    pub confirm: bool,
    /// Persistent messages in a durable queue.
    pub persistent: bool,
    /// Unacknowledged deliveries per consumer.
    pub prefetch: u16,
    /// The queue's name.
    pub queue: String,
    /// Unconfirmed publishes per producer, with confirms on.
    pub unconfirmed_max: usize,
    /// Messages per second per producer; 0 publishes as fast as the broker takes them.
    pub rate_per_s: u32,
}

/// What a run measured.
#[derive(Clone, Debug)]
pub struct Report {
    /// How the run was set up.
    pub options: Options,
    /// Messages published before the deadline.
    pub published: u64,
    /// Messages confirmed before the deadline (with confirms on).
    pub confirmed: u64,
    /// Messages nacked before the deadline (with confirms on).
    pub nacked: u64,
    /// Messages consumed before the deadline.
    pub consumed: u64,
    /// Latency percentiles of the consumed messages.
    pub latency: Summary,
}

impl Report {
    /// Messages published per second.
    #[must_use]
    pub fn published_per_s(&self) -> f64 {
        self.published as f64 / self.options.duration.as_secs_f64()
    }

    /// Messages consumed per second.
    #[must_use]
    pub fn consumed_per_s(&self) -> f64 {
        self.consumed as f64 / self.options.duration.as_secs_f64()
    }

    /// The figures as one JSON object.
    #[must_use]
    pub fn to_json(&self) -> String {
        format!(
            concat!(
                "{{\"published_per_s\":{:.0},\"consumed_per_s\":{:.0},",
                "\"p50_us\":{},\"p95_us\":{},\"p99_us\":{},\"max_us\":{},",
                "\"published\":{},\"confirmed\":{},\"nacked\":{},\"consumed\":{},",
                "\"duration_s\":{},\"size_bytes\":{},\"producers\":{},\"consumers\":{},",
                "\"confirm\":{},\"persistent\":{},\"prefetch\":{},\"rate_per_s\":{}}}"
            ),
            self.published_per_s(),
            self.consumed_per_s(),
            self.latency.p50_us,
            self.latency.p95_us,
            self.latency.p99_us,
            self.latency.max_us,
            self.published,
            self.confirmed,
            self.nacked,
            self.consumed,
            self.options.duration.as_secs_f64(),
            self.options.size_bytes,
            self.options.producers,
            self.options.consumers,
            self.options.confirm,
            self.options.persistent,
            self.options.prefetch,
            self.options.rate_per_s,
        )
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let options = &self.options;
        writeln!(
            f,
            "{} producer(s), {} consumer(s), {}-byte {} messages, {}, prefetch {}, {}, {:.1} s",
            options.producers,
            options.consumers,
            options.size_bytes,
            if options.persistent {
                "persistent"
            } else {
                "transient"
            },
            if options.confirm {
                "confirms"
            } else {
                "no confirms"
            },
            options.prefetch,
            match options.rate_per_s {
                0 => "unpaced".to_owned(),
                rate => format!("{rate} msg/s per producer"),
            },
            options.duration.as_secs_f64()
        )?;
        writeln!(
            f,
            "published {:>10.0} msg/s ({} messages, {} confirmed, {} nacked)",
            self.published_per_s(),
            self.published,
            self.confirmed,
            self.nacked
        )?;
        writeln!(
            f,
            "consumed  {:>10.0} msg/s ({} messages)",
            self.consumed_per_s(),
            self.consumed
        )?;
        write!(
            f,
            "latency   p50 {} us, p95 {} us, p99 {} us, max {} us",
            self.latency.p50_us, self.latency.p95_us, self.latency.p99_us, self.latency.max_us
        )
    }
}

/// Runs the load on a runtime of its own and reports what it measured.
pub fn run(options: Options) -> io::Result<Report> {
    if options.size_bytes < load::TIMESTAMP_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("--size must be at least {} bytes", load::TIMESTAMP_BYTES),
        ));
    }
    if options.producers == 0 && options.consumers == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "nothing to run: no producers and no consumers",
        ));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run_load(Arc::new(options)))
}

async fn run_load(options: Arc<Options>) -> io::Result<Report> {
    let mut admin = Client::connect(&options.target).await?;
    admin.open_channel(1).await?;
    delete_queue(&mut admin, &options.queue).await?;
    declare_queue(&mut admin, &options).await?;
    // Every connection is set up, and every consumer subscribed, before
    // the clock starts.
    let mut subscribed = Vec::new();
    for _ in 0..options.consumers {
        subscribed.push(load::subscribe(&options).await?);
    }
    let mut connected = Vec::new();
    for _ in 0..options.producers {
        connected.push(load::connect_producer(&options).await?);
    }
    let deadline = Instant::now() + options.duration;
    let consumer_tasks: Vec<_> = subscribed
        .into_iter()
        .map(|client| tokio::spawn(load::consume(client, deadline)))
        .collect();
    let producer_tasks: Vec<_> = connected
        .into_iter()
        .map(|client| tokio::spawn(load::produce(client, options.clone(), deadline)))
        .collect();
    let mut report = Report {
        options: Options::clone(&options),
        published: 0,
        confirmed: 0,
        nacked: 0,
        consumed: 0,
        latency: Summary::default(),
    };
    for task in producer_tasks {
        let published = task.await.map_err(io::Error::other)??;
        report.published += published.published;
        report.confirmed += published.confirmed;
        report.nacked += published.nacked;
    }
    let mut latencies = Latencies::default();
    for task in consumer_tasks {
        let consumed = task.await.map_err(io::Error::other)??;
        report.consumed += consumed.consumed;
        latencies.merge(consumed.latencies);
    }
    report.latency = latencies.summary();
    delete_queue(&mut admin, &options.queue).await?;
    admin.close(Duration::from_secs(10)).await?;
    Ok(report)
}

async fn delete_queue(admin: &mut Client, name: &str) -> io::Result<()> {
    let delete = queue::Delete {
        queue: name.into(),
        if_unused: false,
        if_empty: false,
        nowait: false,
    };
    match admin
        .call(1, AMQPClass::Queue(queue::AMQPMethod::Delete(delete)))
        .await?
    {
        AMQPClass::Queue(queue::AMQPMethod::DeleteOk(_)) => Ok(()),
        other => Err(io::Error::other(format!(
            "expected queue.delete-ok, got {other:?}"
        ))),
    }
}

async fn declare_queue(admin: &mut Client, options: &Options) -> io::Result<()> {
    let declare = queue::Declare {
        queue: options.queue.as_str().into(),
        passive: false,
        durable: options.persistent,
        exclusive: false,
        auto_delete: false,
        nowait: false,
        arguments: FieldTable::default(),
    };
    match admin
        .call(1, AMQPClass::Queue(queue::AMQPMethod::Declare(declare)))
        .await?
    {
        AMQPClass::Queue(queue::AMQPMethod::DeclareOk(_)) => Ok(()),
        other => Err(io::Error::other(format!(
            "expected queue.declare-ok, got {other:?}"
        ))),
    }
}
