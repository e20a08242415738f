//! Walkthroughs of how a queue hands out its messages: competing consumers
//! with acknowledgements, time-to-live, priority, and prefetch back-pressure.

use super::narrator::{arguments, basic_consume, delivered_to, queue_declare, Narrator};
use brokerlab_core::{
    Config, ConnectionId, FieldTable, FieldValue, Flow, Input, MemoryAlarm, Output, Properties,
    Reply,
};
use std::io::{self, Write};

/// The work-queue pattern: one producer, two competing workers with prefetch
/// 1, acknowledgements, and a worker that dies holding a task, whose task goes
/// back to the queue and on to the other worker flagged as redelivered.
pub fn work_queue(out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "brokerlab walkthrough: the work queue (competing consumers, prefetch 1, acks, requeue)"
    )?;
    let mut narrator = Narrator::new(out);
    narrator.connect("the producer", 1)?;
    let what = "the producer declares the durable queue 'task_queue'";
    narrator.declare(what, 1, "task_queue", FieldTable::new())?;
    for (conn, name) in [(2, "worker A"), (3, "worker B")] {
        narrator.connect(name, conn)?;
        narrator.qos(
            &format!("{name} asks for one task at a time (basic.qos prefetch 1)"),
            conn,
            1,
        )?;
        let what = format!("{name} consumes from 'task_queue'");
        let consume = basic_consume("task_queue", &name.replace(' ', "-"), false, false);
        narrator.command(&what, conn, consume)?;
    }
    for task in ["resize image 1", "resize image 2", "resize image 3"] {
        let persistent = Properties {
            delivery_mode: Some(2),
            ..Properties::default()
        };
        let what = format!("the producer publishes the persistent task {task:?}");
        narrator.publish(&what, 1, "", "task_queue", persistent, task)?;
    }
    let what = "worker A finishes its task and acknowledges tag 1: it gets the next one";
    narrator.ack(what, 2, 1, false)?;
    let dies = Input::Disconnect {
        conn: ConnectionId(3),
    };
    let what = "worker B dies holding its task: the task goes back to the queue, then to worker A";
    narrator.input(what, dies)?;
    for tag in [2, 3] {
        narrator.ack(&format!("worker A acknowledges tag {tag}"), 2, tag, false)?;
    }
    writeln!(narrator.out, "\nEvery task was delivered and acknowledged once; the one held by the dead worker came back with redelivered=true.")?;
    Ok(())
}

/// Time-to-live: a queue's `x-message-ttl` bounds how long any message waits
/// in it, a message's `expiration` can shorten that, and an expired message
/// is never delivered (here it is dropped: the queue has no dead-letter exchange).
pub fn ttl(out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "brokerlab walkthrough: time-to-live (per-queue x-message-ttl, per-message expiration)"
    )?;
    let mut narrator = Narrator::new(out);
    narrator.connect("the producer", 1)?;
    let ttl_60_s = arguments(&[("x-message-ttl", FieldValue::I32(60_000))]);
    let what = "the producer declares 'quotes', whose messages live 60 s at most";
    narrator.declare(what, 1, "quotes", ttl_60_s)?;
    let expires_5_s = Properties {
        expiration: Some("5000".to_owned()),
        ..Properties::default()
    };
    let what = "t=0 s: the producer publishes a flash offer that expires after 5 s";
    narrator.publish(what, 1, "", "quotes", expires_5_s, "flash offer")?;
    let what = "t=0 s: the producer publishes a price list (the queue's 60 s apply)";
    narrator.publish(
        what,
        1,
        "",
        "quotes",
        Properties::default(),
        "price list v1",
    )?;
    narrator.wait(
        "no consumer yet; time passes to t=30 s: the flash offer expires at t=5 s",
        30_000,
    )?;
    let what = "t=30 s: the producer publishes a newer price list";
    narrator.publish(
        what,
        1,
        "",
        "quotes",
        Properties::default(),
        "price list v2",
    )?;
    narrator.wait(
        "time passes to t=61 s: the first price list expires at t=60 s",
        31_000,
    )?;
    narrator.connect("the consumer", 2)?;
    narrator.consume(
        "t=61 s: the consumer starts consuming 'quotes'",
        2,
        "quotes",
        true,
    )?;
    writeln!(narrator.out, "\nOnly the price list published at t=30 s was still alive: expired messages are never delivered.")?;
    Ok(())
}

/// Priority: in a queue declared with `x-max-priority`, waiting messages
/// are delivered highest priority first, in publish order within a priority.
pub fn priority(out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "brokerlab walkthrough: message priority (x-max-priority)"
    )?;
    let mut narrator = Narrator::new(out);
    narrator.connect("the producer", 1)?;
    let priorities = arguments(&[("x-max-priority", FieldValue::U8(10))]);
    let what = "the producer declares 'emails' with priorities 0 to 10";
    narrator.declare(what, 1, "emails", priorities)?;
    let emails = [
        (None, "newsletter"),
        (Some(1), "weekly report A"),
        (Some(9), "password reset"),
        (Some(1), "weekly report B"),
        (Some(5), "order confirmation"),
    ];
    for (priority, email) in emails {
        let level = priority.map_or("no priority (0)".to_owned(), |level| {
            format!("priority {level}")
        });
        let what = format!("the producer publishes {email:?} with {level}");
        let properties = Properties {
            priority,
            ..Properties::default()
        };
        narrator.publish(&what, 1, "", "emails", properties, email)?;
    }
    narrator.connect("the mailer", 2)?;
    narrator.qos("the mailer sends one email at a time (prefetch 1)", 2, 1)?;
    let mut outputs = narrator.consume("the mailer consumes from 'emails'", 2, "emails", false)?;
    for _ in emails {
        let Some((tag, _)) = delivered_to(&outputs, 2).pop() else {
            return Err(io::Error::other("the mailer was not given the next email"));
        };
        outputs = narrator.ack(
            &format!("the mailer sent it and acknowledges tag {tag}"),
            2,
            tag,
            false,
        )?;
    }
    writeln!(
        narrator.out,
        "\nThe waiting emails went out highest priority first, in publish order within a priority."
    )?;
    Ok(())
}

/// Prefetch back-pressure: basic.qos bounds how many deliveries a consumer
/// holds unacknowledged; the rest wait in the queue until acks make room.
pub fn prefetch(out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "brokerlab walkthrough: prefetch back-pressure (basic.qos bounds unacknowledged deliveries)")?;
    let mut narrator = Narrator::new(out);
    narrator.connect("the producer", 1)?;
    narrator.declare("the producer declares 'jobs'", 1, "jobs", FieldTable::new())?;
    narrator.connect("the consumer", 2)?;
    narrator.qos(
        "the consumer allows itself 2 unacknowledged jobs (prefetch 2)",
        2,
        2,
    )?;
    narrator.consume("the consumer consumes from 'jobs'", 2, "jobs", false)?;
    for job in 1..=5 {
        let (what, body) = (
            format!("the producer publishes job {job}"),
            format!("job {job}"),
        );
        narrator.publish(&what, 1, "", "jobs", Properties::default(), &body)?;
    }
    let what =
        "the producer looks at 'jobs' (passive declare): 3 jobs wait, held back by the prefetch";
    narrator.command(
        what,
        1,
        queue_declare("jobs", true, false, FieldTable::new()),
    )?;
    let what = "the consumer finishes job 1 and acknowledges tag 1: room for one more";
    narrator.ack(what, 2, 1, false)?;
    let what = "the consumer acknowledges tags 2 and 3 at once (multiple): room for two more";
    narrator.ack(what, 2, 3, true)?;
    narrator.ack("the consumer acknowledges tags 4 and 5", 2, 5, true)?;
    writeln!(narrator.out, "\nThe consumer never held more than 2 unacknowledged jobs; the others waited in the queue.")?;
    Ok(())
}

/// Ready messages above which credit flow pauses a publisher, in the back-pressure walkthrough.
const FLOW_READY_HIGH: usize = 2;

/// Ready messages at which credit flow lets the publisher go on.
const FLOW_READY_LOW: usize = 1;

/// Held message bytes above which the memory alarm blocks publishers (a toy mark, to keep the story short).
const ALARM_HIGH_BYTES: u64 = 64;

/// Held message bytes below which the memory alarm releases them.
const ALARM_LOW_BYTES: u64 = 48;

/// Back-pressure, three brakes side by side, each on a broker of its own:
/// prefetch holds a consumer back (the broker stops delivering), credit
/// flow holds a fast publisher back while its consumed queue is long (the
/// driver stops reading it; the client is not told), and the memory alarm
/// blocks every publisher while the broker holds too many message bytes
/// (connection.blocked). Nothing is refused or dropped by any of them.
pub fn back_pressure(out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "brokerlab walkthrough: back-pressure (prefetch, credit flow and the memory alarm side by side)")?;
    writeln!(
        out,
        "\n== 1. prefetch: the broker stops delivering to a consumer that holds its prefetch"
    )?;
    let mut narrator = Narrator::new(out);
    narrator.connect("the producer", 1)?;
    narrator.declare("the producer declares 'jobs'", 1, "jobs", FieldTable::new())?;
    narrator.connect("the worker", 2)?;
    narrator.qos(
        "the worker allows itself 2 unacknowledged jobs (prefetch 2)",
        2,
        2,
    )?;
    narrator.consume("the worker consumes from 'jobs'", 2, "jobs", false)?;
    for job in 1..=3 {
        let (what, body) = (
            format!("the producer publishes job {job}"),
            format!("job {job}"),
        );
        narrator.publish(&what, 1, "", "jobs", Properties::default(), &body)?;
    }
    let what = "the worker acknowledges tag 1: job 3 is delivered";
    narrator.ack(what, 2, 1, false)?;
    drop(narrator);
    writeln!(out, "\n== 2. credit flow: the driver stops reading a publisher while its consumed queue holds more than {FLOW_READY_HIGH} ready messages")?;
    let flow = Flow {
        ready_high: FLOW_READY_HIGH,
        ready_low: FLOW_READY_LOW,
        stall_ms: 60_000,
    };
    let config = Config {
        flow: Some(flow),
        ..Config::default()
    };
    let mut narrator = Narrator::with_config(out, config);
    narrator.connect("the producer", 1)?;
    narrator.declare("the producer declares 'jobs'", 1, "jobs", FieldTable::new())?;
    narrator.connect("the worker", 2)?;
    narrator.qos("the worker takes one job at a time (prefetch 1)", 2, 1)?;
    narrator.consume("the worker consumes from 'jobs'", 2, "jobs", false)?;
    let mut job = 0;
    let mut paused = false;
    while !paused {
        job += 1;
        let (what, body) = (
            format!("the producer publishes job {job}"),
            format!("job {job}"),
        );
        let outputs = narrator.publish(&what, 1, "", "jobs", Properties::default(), &body)?;
        paused = outputs
            .iter()
            .any(|output| matches!(output, Output::Pause { paused: true, .. }));
        if job > FLOW_READY_HIGH + 2 {
            return Err(io::Error::other("credit flow never paused the producer"));
        }
    }
    let mut tag = 0;
    while paused {
        tag += 1;
        let what = format!("the producer is paused; the worker acknowledges tag {tag}, and the next job leaves the queue");
        let outputs = narrator.ack(&what, 2, tag, false)?;
        paused = !outputs
            .iter()
            .any(|output| matches!(output, Output::Pause { paused: false, .. }));
        if tag > 4 {
            return Err(io::Error::other("credit flow never let the producer go on"));
        }
    }
    job += 1;
    let (what, body) = (
        format!("the driver reads the producer again: it publishes job {job}"),
        format!("job {job}"),
    );
    narrator.publish(&what, 1, "", "jobs", Properties::default(), &body)?;
    drop(narrator);
    writeln!(out, "\n== 3. the memory alarm: every publisher is blocked while the broker holds over {ALARM_HIGH_BYTES} bytes of messages")?;
    let config = Config {
        memory_alarm: Some(MemoryAlarm {
            high_bytes: ALARM_HIGH_BYTES,
            low_bytes: ALARM_LOW_BYTES,
        }),
        ..Config::default()
    };
    let mut narrator = Narrator::with_config(out, config);
    narrator.connect("the uploader", 1)?;
    narrator.declare(
        "the uploader declares 'chunks'",
        1,
        "chunks",
        FieldTable::new(),
    )?;
    narrator.connect("the worker", 2)?;
    narrator.qos("the worker takes one chunk at a time (prefetch 1)", 2, 1)?;
    narrator.consume("the worker consumes from 'chunks'", 2, "chunks", false)?;
    let mut chunk = 0;
    let mut blocked = false;
    while !blocked {
        chunk += 1;
        let body = format!("chunk {chunk} of the video");
        let held = narrator.broker().held_bytes();
        let what = format!(
            "the uploader publishes {body:?} ({} bytes; the broker held {held})",
            body.len()
        );
        let outputs = narrator.publish(&what, 1, "", "chunks", Properties::default(), &body)?;
        blocked = outputs.iter().any(|output| {
            matches!(
                output,
                Output::Reply {
                    reply: Reply::ConnectionBlocked,
                    ..
                }
            )
        });
        if chunk > 8 {
            return Err(io::Error::other(
                "the memory alarm never blocked the uploader",
            ));
        }
    }
    let mut tag = 0;
    while blocked {
        tag += 1;
        let held = narrator.broker().held_bytes();
        let what = format!("the uploader is blocked; the worker acknowledges tag {tag} (the broker held {held} bytes)");
        let outputs = narrator.ack(&what, 2, tag, false)?;
        blocked = !outputs.iter().any(|output| {
            matches!(
                output,
                Output::Reply {
                    reply: Reply::ConnectionUnblocked,
                    ..
                }
            )
        });
        if tag > 8 {
            return Err(io::Error::other(
                "the memory alarm never released the uploader",
            ));
        }
    }
    chunk += 1;
    let body = format!("chunk {chunk} of the video");
    let what = format!(
        "unblocked at {} bytes, the uploader publishes {body:?}",
        narrator.broker().held_bytes()
    );
    narrator.publish(&what, 1, "", "chunks", Properties::default(), &body)?;
    writeln!(narrator.out, "\nPrefetch held the worker to 2 jobs, credit flow paused the producer while 'jobs' was long, and the memory alarm blocked the uploader until acknowledgements freed memory; every message was kept.")?;
    Ok(())
}
