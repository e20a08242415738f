//! Walkthroughs of running consumers and the broker itself: a consumer
//! behind a circuit breaker, the metrics a broker's events and counters
//! give, and a broker that drains before it stops.

use super::narrator::{basic_consume, delivered_to, queue_declare, Narrator};
use brokerlab_core::{
    Command, ConnectionId, Event, FieldTable, Input, Output, Properties, Reply, ReplyCode,
};
use bytes::Bytes;
use std::io::{self, Write};

/// Failures in a row that open the worker's circuit breaker.
const FAILURES_TO_OPEN: u32 = 2;

/// How long the breaker stays open before it lets one message through as a trial.
const OPEN_MS: u64 = 30_000;

/// Circuit breaker: a worker whose downstream fails stops taking work
/// (closed -> open: it cancels its consumer and nacks what it holds with
/// requeue, so the messages wait, ready, in the queue), then after a pause
/// takes one message with basic.get as a trial (half-open) and, on success,
/// consumes again (closed). Nothing is lost; what went back to the queue
/// comes out again flagged redelivered.
pub fn circuit_breaker(out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "brokerlab walkthrough: circuit breaker (a consumer stops taking work while its downstream fails, then half-opens)")?;
    let mut narrator = Narrator::new(out);
    narrator.connect("the shop", 1)?;
    let what = "the shop declares the durable queue 'payments'";
    narrator.declare(what, 1, "payments", FieldTable::new())?;
    narrator.connect("the payment worker", 2)?;
    narrator.qos(
        "the payment worker takes one payment at a time (prefetch 1)",
        2,
        1,
    )?;
    let consume = basic_consume("payments", "payment-worker", false, false);
    let what = "breaker CLOSED: the payment worker consumes from 'payments'";
    let mut outputs = narrator.command(what, 2, consume)?;
    let persistent = Properties {
        delivery_mode: Some(2),
        ..Properties::default()
    };
    for payment in 1..=4 {
        let what = format!("the shop publishes payment {payment}");
        let body = format!("payment {payment}");
        outputs.extend(narrator.publish(&what, 1, "", "payments", persistent.clone(), &body)?);
    }
    let (tag, _) = holding(&outputs)?;
    let what = format!("the card gateway accepts payment 1: the worker acknowledges tag {tag}");
    outputs = narrator.ack(&what, 2, tag, false)?;
    let mut failures = 0;
    while failures < FAILURES_TO_OPEN - 1 {
        failures += 1;
        let (tag, _) = holding(&outputs)?;
        let what = format!("the card gateway times out (failure {failures} of {FAILURES_TO_OPEN}): the worker nacks tag {tag} with requeue; it comes straight back, redelivered");
        outputs = narrator.nack(&what, 2, tag, true)?;
    }
    let (tag, _) = holding(&outputs)?;
    let what = format!("the card gateway times out again (failure {FAILURES_TO_OPEN} of {FAILURES_TO_OPEN}): the breaker OPENS, and the worker first cancels its consumer");
    let cancel = Command::BasicCancel {
        consumer_tag: "payment-worker".to_owned(),
    };
    narrator.command(&what, 2, cancel)?;
    let what = format!(
        "the worker then nacks tag {tag} with requeue: with no consumer, the payment waits in the queue"
    );
    let requeued = narrator.nack(&what, 2, tag, true)?;
    if !delivered_to(&requeued, 2).is_empty() {
        return Err(io::Error::other("a cancelled consumer was given a payment"));
    }
    let what = "breaker OPEN: the shop publishes payment 5, which waits with the others";
    narrator.publish(what, 1, "", "payments", persistent, "payment 5")?;
    let open_s = OPEN_MS / 1_000;
    narrator.wait(
        &format!("{open_s} s pass with the breaker open: nothing is delivered"),
        OPEN_MS,
    )?;
    let what = "the shop looks at 'payments' (passive declare): every payment still waits";
    narrator.command(
        what,
        1,
        queue_declare("payments", true, false, FieldTable::new()),
    )?;
    let get = Command::BasicGet {
        queue: "payments".to_owned(),
        no_ack: false,
    };
    let what = "breaker HALF-OPEN: the worker takes one payment as a trial (basic.get)";
    let trial = narrator.command(what, 2, get)?;
    let tag = trial
        .iter()
        .find_map(|output| match output {
            Output::Reply {
                reply: Reply::GetOk { delivery_tag, .. },
                ..
            } => Some(*delivery_tag),
            _ => None,
        })
        .ok_or_else(|| io::Error::other("the trial found the queue empty"))?;
    let what = format!("the card gateway accepts it: the worker acknowledges tag {tag}");
    narrator.ack(&what, 2, tag, false)?;
    let consume = basic_consume("payments", "payment-worker", false, false);
    let what = "breaker CLOSED again: the worker consumes from 'payments' once more";
    outputs = narrator.command(what, 2, consume)?;
    while let Ok((tag, body)) = holding(&outputs) {
        let what = format!("the card gateway accepts {body}: the worker acknowledges tag {tag}");
        outputs = narrator.ack(&what, 2, tag, false)?;
    }
    writeln!(narrator.out, "\nWhile the breaker was open the payments waited in the queue; the ones the worker had nacked came back flagged redelivered, and every payment was acknowledged once.")?;
    Ok(())
}

/// The delivery the payment worker (connection 2) was just given: (tag, body).
fn holding(outputs: &[Output]) -> io::Result<(u64, String)> {
    let delivered = delivered_to(outputs, 2).pop();
    let delivered =
        delivered.map(|(tag, message)| (tag, String::from_utf8_lossy(&message.body).into_owned()));
    delivered.ok_or_else(|| io::Error::other("the payment worker was given nothing"))
}

/// What the metrics walkthrough reads after each step: the queue's depth
/// as the broker reports it, and the events told so far.
#[derive(Default)]
struct Metrics {
    /// (time in ms, ready, unacknowledged, consumers) after each step.
    samples: Vec<(u64, u64, u64, u64)>,
    published: u64,
    delivered: u64,
    redelivered: u64,
    acked: u64,
    requeued: u64,
}

impl Metrics {
    /// Counts the events of the last step and samples the queue `queue`;
    /// returns the sample's line.
    fn step<W: Write>(&mut self, narrator: &mut Narrator<'_, W>, queue: &str) -> String {
        for event in narrator.take_events() {
            match event {
                Event::Published { .. } => self.published += 1,
                Event::Delivered { redelivered, .. } => {
                    self.delivered += 1;
                    self.redelivered += u64::from(redelivered);
                }
                Event::Acked { .. } => self.acked += 1,
                Event::Requeued { .. } => self.requeued += 1,
                _ => {}
            }
        }
        let info = narrator.broker().queue_infos().into_iter();
        let depth = info
            .filter(|info| &*info.name == queue)
            .map(|info| {
                (
                    info.messages_ready,
                    info.messages_unacknowledged,
                    info.consumers,
                )
            })
            .next()
            .unwrap_or_default();
        let ms = narrator.now().0 / 1_000_000;
        self.samples.push((ms, depth.0, depth.1, depth.2));
        format!(
            "    metrics: '{queue}' depth {} ({} ready, {} unacknowledged); so far {} published, {} delivered ({} redelivered), {} acknowledged",
            depth.0 + depth.1,
            depth.0,
            depth.1,
            self.published,
            self.delivered,
            self.redelivered,
            self.acked
        )
    }

    /// The share of the time with consumers during which the queue could
    /// deliver at once, RabbitMQ's consumer utilisation: a queue with
    /// consumers and ready messages is waiting on its consumers' prefetch.
    /// Each sample holds until the next one.
    fn consumer_utilisation(&self) -> Option<f64> {
        let (mut consumed_ms, mut waiting_ms) = (0, 0);
        for pair in self.samples.windows(2) {
            let ((from, ready, _, consumers), (to, _, _, _)) = (pair[0], pair[1]);
            if consumers > 0 {
                consumed_ms += to - from;
                if ready > 0 {
                    waiting_ms += to - from;
                }
            }
        }
        (consumed_ms > 0).then(|| 1.0 - waiting_ms as f64 / consumed_ms as f64)
    }
}

/// Message metrics: a producer, a worker with prefetch 2 that falls behind
/// and fails one order; after every step the queue's depth as the broker
/// reports it, and at the end the rates, redeliveries and consumer
/// utilisation computed from the core's events, checked against its counters.
pub fn metrics(out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "brokerlab walkthrough: message metrics (rates, queue depth, redeliveries and consumer utilisation from the core's events and counters)")?;
    let mut narrator = Narrator::new(out);
    let mut metrics = Metrics::default();
    narrator.connect("the producer", 1)?;
    narrator.declare(
        "the producer declares 'orders'",
        1,
        "orders",
        FieldTable::new(),
    )?;
    narrator.connect("the worker", 2)?;
    narrator.qos("the worker holds 2 orders at most (prefetch 2)", 2, 2)?;
    narrator.consume(
        "t=0 s: the worker consumes from 'orders'",
        2,
        "orders",
        false,
    )?;
    let line = metrics.step(&mut narrator, "orders");
    writeln!(narrator.out, "{line}")?;
    let mut held = Vec::new();
    for second in 1..=8_u64 {
        narrator.advance("", 1_000)?;
        let outputs = match second {
            1..=4 => {
                let what = format!("t={second} s: the producer publishes order {second}");
                let body = format!("order {second}");
                narrator.publish(&what, 1, "", "orders", Properties::default(), &body)?
            }
            5 | 7 => {
                let tag = held.remove(0);
                let what = format!("t={second} s: the worker finishes and acknowledges tag {tag}");
                narrator.ack(&what, 2, tag, false)?
            }
            6 => {
                let tag = held.remove(0);
                let what = format!("t={second} s: the worker fails tag {tag} and nacks it with requeue: it is redelivered");
                narrator.nack(&what, 2, tag, true)?
            }
            _ => {
                let what = format!("t={second} s: the worker finishes everything it holds and acknowledges it (multiple)");
                held.clear();
                narrator.ack(&what, 2, 0, true)?
            }
        };
        held.extend(delivered_to(&outputs, 2).into_iter().map(|(tag, _)| tag));
        let line = metrics.step(&mut narrator, "orders");
        writeln!(narrator.out, "{line}")?;
    }
    narrator.advance("", 2_000)?;
    let line = metrics.step(&mut narrator, "orders");
    let seconds = narrator.now().0 / 1_000_000_000;
    writeln!(
        narrator.out,
        "\n> t={seconds} s: the operator reads the metrics\n{line}"
    )?;
    let rate = |count: u64| count as f64 / seconds as f64;
    writeln!(
        narrator.out,
        "    rates over {seconds} s: {:.2} published/s, {:.2} delivered/s, {:.2} acknowledged/s, {:.2} redelivered/s",
        rate(metrics.published),
        rate(metrics.delivered),
        rate(metrics.acked),
        rate(metrics.redelivered)
    )?;
    let deepest = metrics
        .samples
        .iter()
        .map(|(_, ready, unacked, _)| ready + unacked);
    writeln!(
        narrator.out,
        "    deepest 'orders' got: {} messages; requeued: {}",
        deepest.max().unwrap_or_default(),
        metrics.requeued
    )?;
    let utilisation = metrics.consumer_utilisation().unwrap_or(1.0);
    writeln!(
        narrator.out,
        "    consumer utilisation: {:.0}% (the rest of the time, orders waited on the worker's prefetch)",
        utilisation * 100.0
    )?;
    let counters = *narrator.broker().counters();
    writeln!(
        narrator.out,
        "    the core's counters: {} received, {} routed, {} delivered, {} redelivered, {} acknowledged",
        counters.received,
        counters.routed,
        counters.delivered(),
        counters.redelivered,
        counters.acknowledged
    )?;
    let from_events = (
        metrics.published,
        metrics.delivered,
        metrics.redelivered,
        metrics.acked,
    );
    let from_counters = (
        counters.received,
        counters.delivered(),
        counters.redelivered,
        counters.acknowledged,
    );
    if from_events != from_counters {
        return Err(io::Error::other(format!(
            "the events count {from_events:?} but the counters {from_counters:?}"
        )));
    }
    writeln!(narrator.out, "\nThe counts from the events agree with the core's counters; the depth and utilisation show the worker's prefetch holding orders in the queue.")?;
    Ok(())
}

/// How the server words the connection.close it sends every connection on shutdown.
const SHUTDOWN_TEXT: &str =
    "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'";

/// Graceful shutdown, the broker's side: the driver syncs its log in
/// batches, so confirms wait for a sync. On shutdown it stops accepting
/// connections, syncs so that every publish it took is confirmed, refuses
/// the publishes that still come (the core closes that connection with 320
/// CONNECTION_FORCED), lets the worker acknowledge what it holds, syncs
/// those acknowledgements, and closes the last connection with 320 as the
/// server does; what the worker still held goes back to its durable queue.
pub fn graceful_shutdown(out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "brokerlab walkthrough: graceful shutdown (the broker drains: no new publishes, acks in, everything synced, then 320 CONNECTION_FORCED)")?;
    let mut narrator = Narrator::new(out);
    narrator.connect("the producer", 1)?;
    let what = "the producer declares the durable queue 'orders'";
    narrator.declare(what, 1, "orders", FieldTable::new())?;
    narrator.command(
        "the producer turns on publisher confirms",
        1,
        Command::ConfirmSelect,
    )?;
    narrator.connect("the worker", 2)?;
    narrator.qos("the worker holds 2 orders at most (prefetch 2)", 2, 2)?;
    narrator.consume("the worker consumes from 'orders'", 2, "orders", false)?;
    narrator.batch_syncs();
    writeln!(
        narrator.out,
        "\n(from here on the driver syncs its log in batches, as a busy server does: confirms wait for the next sync)"
    )?;
    let persistent = Properties {
        delivery_mode: Some(2),
        ..Properties::default()
    };
    for order in 1..=3 {
        let what = format!("the producer publishes the persistent order {order}");
        let body = format!("order {order}");
        narrator.publish(&what, 1, "", "orders", persistent.clone(), &body)?;
    }
    narrator.ack(
        "the worker finishes order 1 and acknowledges tag 1",
        2,
        1,
        false,
    )?;
    writeln!(narrator.out, "\n> SIGTERM: the broker begins to shut down; the driver stops accepting connections and will take no more publishes")?;
    narrator.sync("the driver syncs the log: every publish it took is on disk and confirmed")?;
    let publish = Command::BasicPublish {
        exchange: "".into(),
        routing_key: "orders".into(),
        mandatory: false,
        immediate: false,
        properties: persistent.into(),
        body: Bytes::from_static(b"order 4"),
    };
    let what = "the producer publishes order 4: the driver refuses it with 320, and the core closes the producer's connection";
    let refused = narrator.refuse(what, 1, publish, ReplyCode::ConnectionForced, SHUTDOWN_TEXT)?;
    if !refused.iter().any(|output| {
        matches!(output, Output::Reply { reply: Reply::Close { code, .. }, .. } if *code == ReplyCode::ConnectionForced)
    }) {
        return Err(io::Error::other("the refused publish did not close the producer's connection"));
    }
    narrator.ack(
        "the worker finishes order 2 and acknowledges tag 2; it is still working on order 3",
        2,
        2,
        false,
    )?;
    narrator.sync("the driver syncs the log again: the worker's acknowledgements are on disk")?;
    let what = format!("the grace period is over: the driver sends the worker (conn 2) connection.close {} and hands the core its disconnect, as the server does", ReplyCode::ConnectionForced);
    let closed = Input::Disconnect {
        conn: ConnectionId(2),
    };
    narrator.input(&what, closed)?;
    if narrator.has_unsynced() {
        narrator.sync("the driver syncs the log a last time, and stops")?;
    }
    let kept = narrator.broker().queue_infos().into_iter();
    for info in kept.filter(|info| &*info.name == "orders") {
        writeln!(
            narrator.out,
            "\n> the broker stops; its log keeps the durable queue '{}': {} ready, {} unacknowledged",
            info.name, info.messages_ready, info.messages_unacknowledged
        )?;
    }
    writeln!(narrator.out, "\nEvery publish the broker took was confirmed before its publisher was closed, order 4 was never taken (its publisher saw no confirm and will publish it again), and order 3, which the worker still held, went back to 'orders' to be redelivered after the restart.")?;
    Ok(())
}
