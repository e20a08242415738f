//! The load itself: producers that publish timestamped messages as fast as
//! the broker takes them (within the unconfirmed window when confirming), and
//! consumers that ack in batches and measure each message's latency.

use super::latency::Latencies;
use super::Options;
use crate::client::{refuse_close, Client, FrameSink, FrameSource};
use crate::portable::timeout_at;
use amq_protocol::frame::{AMQPContentHeader, AMQPFrame};
use amq_protocol::protocol::{basic, confirm, connection, AMQPClass, BasicProperties};
use amq_protocol::types::FieldTable;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// Publishes written in one go.
const PUBLISH_BATCH_MAX: usize = 64;

/// How long a producer waits for close-ok after the run: the broker first
/// reads every publish still buffered on the connection.
const CLOSE_OK_TIMEOUT: Duration = Duration::from_secs(120);

/// The channel every perf connection uses.
const CHANNEL: u16 = 1;

/// Bytes of the timestamp at the start of every body.
pub const TIMESTAMP_BYTES: usize = 8;

/// Nanoseconds since the Unix epoch: a clock every process on the machine shares.
fn now_ns() -> u64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    u64::try_from(since_epoch.as_nanos()).unwrap_or(u64::MAX)
}

/// What one producer did before the deadline.
#[derive(Clone, Copy, Debug, Default)]
pub struct Published {
    /// Messages written.
    pub published: u64,
    /// Messages the broker confirmed (with confirms on).
    pub confirmed: u64,
    /// Messages the broker nacked (with confirms on).
    pub nacked: u64,
}

/// A producer's connection, with confirms selected when asked for.
pub async fn connect_producer(options: &Options) -> io::Result<Client> {
    let mut client = Client::connect(&options.target).await?;
    client.open_channel(CHANNEL).await?;
    if options.confirm {
        let select = AMQPClass::Confirm(confirm::AMQPMethod::Select(confirm::Select {
            nowait: false,
        }));
        client.call(CHANNEL, select).await?;
    }
    Ok(client)
}

/// Publishes on a producer's connection until `deadline`.
pub async fn produce(
    client: Client,
    options: Arc<Options>,
    deadline: Instant,
) -> io::Result<Published> {
    // A body frame carries 8 bytes of framing besides its payload.
    let body_frame_max = client.frame_max() as usize - 8;
    let Client { source, mut sink } = client;
    let window = Arc::new(Semaphore::new(options.unconfirmed_max));
    let confirmed = Arc::new(AtomicU64::new(0));
    let nacked = Arc::new(AtomicU64::new(0));
    let reader = tokio::spawn(read_confirms(
        source,
        window.clone(),
        confirmed.clone(),
        nacked.clone(),
    ));
    let mut published = 0u64;
    let mut body = vec![0u8; options.size_bytes];
    let started = Instant::now();
    while Instant::now() < deadline {
        let mut batch_max = PUBLISH_BATCH_MAX;
        if options.rate_per_s > 0 {
            let due = due_by_now(started, options.rate_per_s, published);
            if due == 0 {
                let next = started + pace(options.rate_per_s, published + 1);
                tokio::time::sleep_until(next.min(deadline)).await;
                continue;
            }
            batch_max = batch_max.min(due);
        }
        let batch = if options.confirm {
            match timeout_at(deadline, window.acquire()).await {
                Ok(Ok(permit)) => permit.forget(),
                Ok(Err(_)) | Err(_) => break,
            }
            let mut batch = 1;
            while batch < batch_max {
                match window.try_acquire() {
                    Ok(permit) => permit.forget(),
                    Err(_) => break,
                }
                batch += 1;
            }
            batch
        } else {
            batch_max
        };
        for _ in 0..batch {
            body[..TIMESTAMP_BYTES].copy_from_slice(&now_ns().to_be_bytes());
            put_publish(&mut sink, &options, &body, body_frame_max)?;
        }
        // Not cut at the deadline: a half-written frame would break the connection.
        sink.flush().await?;
        published += batch as u64;
    }
    // The broker may not have read every publish yet: close-ok comes after
    // the last of them, so the next run's queue never receives this one's.
    sink.close().await?;
    match tokio::time::timeout(CLOSE_OK_TIMEOUT, reader).await {
        Ok(read) => read.map_err(io::Error::other)??,
        Err(_) => return Err(io::Error::other("no connection.close-ok from the broker")),
    }
    Ok(Published {
        published,
        confirmed: confirmed.load(Ordering::Relaxed),
        nacked: nacked.load(Ordering::Relaxed),
    })
}

/// When message number `count` is due at `rate_per_s`, from the start.
fn pace(rate_per_s: u32, count: u64) -> Duration {
    Duration::from_secs_f64(count as f64 / f64::from(rate_per_s))
}

/// Messages due by now at `rate_per_s` that are not yet published.
fn due_by_now(started: Instant, rate_per_s: u32, published: u64) -> usize {
    let due = (started.elapsed().as_secs_f64() * f64::from(rate_per_s)) as u64;
    usize::try_from(due.saturating_sub(published)).unwrap_or(usize::MAX)
}

/// Adds one publish (method, header, body frames) to the sink.
fn put_publish(
    sink: &mut FrameSink,
    options: &Options,
    body: &[u8],
    body_frame_max: usize,
) -> io::Result<()> {
    let publish = basic::Publish {
        routing_key: options.queue.as_str().into(),
        ..basic::Publish::default()
    };
    sink.put_method(
        CHANNEL,
        AMQPClass::Basic(basic::AMQPMethod::Publish(publish)),
    )?;
    let delivery_mode = if options.persistent { 2 } else { 1 };
    let header = AMQPContentHeader {
        class_id: 60,
        body_size: body.len() as u64,
        properties: BasicProperties::default().with_delivery_mode(delivery_mode),
    };
    sink.put(&AMQPFrame::Header(CHANNEL, header))?;
    for chunk in body.chunks(body_frame_max) {
        sink.put(&AMQPFrame::Body(CHANNEL, chunk.to_vec()))?;
    }
    Ok(())
}

/// Reads a producer's confirms and opens the window by as many.
async fn read_confirms(
    mut source: FrameSource,
    window: Arc<Semaphore>,
    confirmed: Arc<AtomicU64>,
    nacked: Arc<AtomicU64>,
) -> io::Result<()> {
    let mut settled_upto = 0u64;
    loop {
        let (_, method) = source.method().await?;
        let (tag, multiple, counter) = match method {
            AMQPClass::Basic(basic::AMQPMethod::Ack(ack)) => {
                (ack.delivery_tag, ack.multiple, &confirmed)
            }
            AMQPClass::Basic(basic::AMQPMethod::Nack(nack)) => {
                (nack.delivery_tag, nack.multiple, &nacked)
            }
            AMQPClass::Connection(connection::AMQPMethod::CloseOk(_)) => return Ok(()),
            _ => continue,
        };
        let settled = if multiple {
            tag.saturating_sub(settled_upto)
        } else {
            1
        };
        settled_upto = settled_upto.max(tag);
        counter.fetch_add(settled, Ordering::Relaxed);
        window.add_permits(usize::try_from(settled).unwrap_or(usize::MAX));
    }
}

/// What one consumer saw before the deadline.
#[derive(Debug, Default)]
pub struct Consumed {
    /// Messages received.
    pub consumed: u64,
    /// Their latencies.
    pub latencies: Latencies,
}

/// A delivery whose content is still arriving.
#[derive(Debug)]
struct Arriving {
    body_left: u64,
    timestamp: Vec<u8>,
}

/// A consumer's connection, subscribed to the queue with the prefetch asked for.
pub async fn subscribe(options: &Options) -> io::Result<Client> {
    let mut client = Client::connect(&options.target).await?;
    client.open_channel(CHANNEL).await?;
    let qos = basic::Qos {
        prefetch_count: options.prefetch,
        ..basic::Qos::default()
    };
    client
        .call(CHANNEL, AMQPClass::Basic(basic::AMQPMethod::Qos(qos)))
        .await?;
    let consume = basic::Consume {
        queue: options.queue.as_str().into(),
        consumer_tag: "".into(),
        no_local: false,
        no_ack: false,
        exclusive: false,
        nowait: false,
        arguments: FieldTable::default(),
    };
    client
        .call(
            CHANNEL,
            AMQPClass::Basic(basic::AMQPMethod::Consume(consume)),
        )
        .await?;
    Ok(client)
}

/// Consumes on a subscribed connection, with manual acks, until `deadline`.
pub async fn consume(client: Client, deadline: Instant) -> io::Result<Consumed> {
    let Client {
        mut source,
        mut sink,
    } = client;
    let mut consumed = Consumed::default();
    let mut arriving: Option<Arriving> = None;
    let mut last_tag = 0u64;
    let mut acked_upto = 0u64;
    loop {
        let frame = match timeout_at(deadline, source.next()).await {
            Ok(frame) => frame?,
            Err(_) => break,
        };
        let mut next = Some(frame);
        // Every frame already read is handled before one ack covers them all.
        while let Some(frame) = next {
            if let Some(tag) = on_frame(frame, &mut arriving, &mut consumed)? {
                last_tag = tag;
            }
            next = source.buffered()?;
        }
        if last_tag > acked_upto {
            put_ack(&mut sink, last_tag)?;
            acked_upto = last_tag;
            sink.flush().await?;
        }
    }
    sink.close().await?;
    source.await_close_ok(CLOSE_OK_TIMEOUT).await?;
    Ok(consumed)
}

/// Handles one frame of a consumer; the delivery tag when a delivery begins.
fn on_frame(
    frame: AMQPFrame,
    arriving: &mut Option<Arriving>,
    consumed: &mut Consumed,
) -> io::Result<Option<u64>> {
    match frame {
        AMQPFrame::Method(_, AMQPClass::Basic(basic::AMQPMethod::Deliver(deliver))) => {
            *arriving = Some(Arriving {
                body_left: u64::MAX,
                timestamp: Vec::with_capacity(TIMESTAMP_BYTES),
            });
            Ok(Some(deliver.delivery_tag))
        }
        AMQPFrame::Method(_, method) => {
            refuse_close(&method)?;
            Ok(None)
        }
        AMQPFrame::Header(_, header) => {
            if let Some(delivery) = arriving.as_mut() {
                delivery.body_left = header.body_size;
            }
            finish_if_complete(arriving, consumed);
            Ok(None)
        }
        AMQPFrame::Body(_, data) => {
            if let Some(delivery) = arriving.as_mut() {
                let wanted = TIMESTAMP_BYTES.saturating_sub(delivery.timestamp.len());
                delivery
                    .timestamp
                    .extend_from_slice(&data[..wanted.min(data.len())]);
                delivery.body_left = delivery.body_left.saturating_sub(data.len() as u64);
            }
            finish_if_complete(arriving, consumed);
            Ok(None)
        }
        AMQPFrame::Heartbeat | AMQPFrame::ProtocolHeader(_) | AMQPFrame::InvalidHeartbeat(_) => {
            Ok(None)
        }
    }
}

/// Counts a delivery whose body has fully arrived, and samples its latency.
fn finish_if_complete(arriving: &mut Option<Arriving>, consumed: &mut Consumed) {
    let Some(delivery) = arriving.as_ref() else {
        return;
    };
    if delivery.body_left != 0 {
        return;
    }
    consumed.consumed += 1;
    if let Ok(bytes) = <[u8; TIMESTAMP_BYTES]>::try_from(delivery.timestamp.as_slice()) {
        let sent_ns = u64::from_be_bytes(bytes);
        consumed
            .latencies
            .record(now_ns().saturating_sub(sent_ns) / 1_000);
    }
    *arriving = None;
}

fn put_ack(sink: &mut FrameSink, tag: u64) -> io::Result<()> {
    let ack = basic::Ack {
        delivery_tag: tag,
        multiple: true,
    };
    sink.put_method(CHANNEL, AMQPClass::Basic(basic::AMQPMethod::Ack(ack)))
}
