//! Walkthroughs of work that fails or is repeated: a task retried through
//! dead-letter exchanges until it is parked for a human, and a publish retried
//! after a lost confirm, whose duplicate the consumer must absorb.

use super::narrator::{arguments, deaths, delivered_to, Narrator};
use brokerlab_core::{Command, ConnectionId, FieldTable, FieldValue, Input, Output, Properties};
use std::collections::BTreeSet;
use std::io::{self, Write};

/// Attempts a task gets before the worker gives up on it.
const ATTEMPTS_MAX: i128 = 3;

/// How long a failed task waits in the retry queue before its next attempt.
const RETRY_DELAY_MS: u64 = 5_000;

/// Dead-letter queue and retry: a worker rejects a failed task; the work
/// queue dead-letters it to a retry queue, whose TTL dead-letters it back;
/// the worker counts the attempts in `x-death` and, at the limit, parks the
/// task in a dead-letter queue for a human.
pub fn dlq_retry(out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "brokerlab walkthrough: dead-letter queue and retry (reject -> DLX -> retry queue with TTL -> back; give up after {ATTEMPTS_MAX} attempts)")?;
    let mut narrator = Narrator::new(out);
    narrator.connect("the producer", 1)?;
    declare_retry_topology(&mut narrator)?;
    narrator.connect("the worker", 2)?;
    narrator.consume("the worker consumes from 'tasks'", 2, "tasks", false)?;
    let (what, task) = ("the producer publishes a task", "charge card 4242");
    let mut outputs = narrator.publish(what, 1, "", "tasks", Properties::default(), task)?;
    let delay_s = RETRY_DELAY_MS / 1_000;
    for _ in 0..ATTEMPTS_MAX {
        let Some((tag, task)) = delivered_to(&outputs, 2).pop() else {
            return Err(io::Error::other("the task did not come back to the worker"));
        };
        let deaths = deaths(&task);
        let rejected = deaths
            .iter()
            .find(|(queue, reason, _)| queue == "tasks" && reason == "rejected");
        let attempt = rejected.map_or(0, |(_, _, count)| *count) + 1;
        if attempt == ATTEMPTS_MAX {
            let what = format!("attempt {attempt} of {ATTEMPTS_MAX} fails too: the worker gives up and parks the task, x-death and all, in 'tasks.dlq'");
            let (properties, body) = (
                (**task.properties()).clone(),
                String::from_utf8_lossy(&task.body),
            );
            narrator.publish(&what, 2, "tasks.dlx", "failed", properties, &body)?;
            narrator.ack(&format!("the worker acknowledges tag {tag}"), 2, tag, false)?;
            writeln!(narrator.out, "\nThe task was tried {ATTEMPTS_MAX} times, {delay_s} s apart, then parked in the dead-letter queue for a human.")?;
            return Ok(());
        }
        let what = format!("x-death counts {} rejections: attempt {attempt} of {ATTEMPTS_MAX} fails, and the worker rejects tag {tag} without requeue", attempt - 1);
        let reject = Command::BasicReject {
            delivery_tag: tag,
            requeue: false,
        };
        narrator.command(&what, 2, reject)?;
        let what = format!("{delay_s} s pass: the task expires from 'tasks.retry' back to 'tasks'");
        outputs = narrator.wait(&what, RETRY_DELAY_MS)?;
    }
    Err(io::Error::other("the worker never reached the retry limit"))
}

/// The dead-letter queue and retry walkthrough's exchange and queues: 'tasks'
/// dead-letters to 'tasks.dlx' with key 'retry', which leads to 'tasks.retry',
/// whose TTL dead-letters back to 'tasks'; key 'failed' leads to 'tasks.dlq'.
fn declare_retry_topology<W: Write>(narrator: &mut Narrator<'_, W>) -> io::Result<()> {
    let what = "the producer declares the dead-letter exchange 'tasks.dlx'";
    narrator.exchange(what, 1, "tasks.dlx", "direct")?;
    let to_retry = arguments(&[
        ("x-dead-letter-exchange", FieldValue::string("tasks.dlx")),
        ("x-dead-letter-routing-key", FieldValue::string("retry")),
    ]);
    let what = "the producer declares 'tasks', which dead-letters to 'tasks.dlx' with key 'retry'";
    narrator.declare(what, 1, "tasks", to_retry)?;
    let back_to_work = arguments(&[
        ("x-message-ttl", FieldValue::I64(RETRY_DELAY_MS as i64)),
        ("x-dead-letter-exchange", FieldValue::string("")),
        ("x-dead-letter-routing-key", FieldValue::string("tasks")),
    ]);
    let delay_s = RETRY_DELAY_MS / 1_000;
    let what = format!("the producer declares 'tasks.retry', whose tasks expire back to 'tasks' (default exchange) after {delay_s} s");
    narrator.declare(&what, 1, "tasks.retry", back_to_work)?;
    narrator.bind(1, "tasks.retry", "tasks.dlx", "retry")?;
    let what = "the producer declares the dead-letter queue 'tasks.dlq', for tasks given up on";
    narrator.declare(what, 1, "tasks.dlq", FieldTable::new())?;
    narrator.bind(1, "tasks.dlq", "tasks.dlx", "failed")
}

/// Idempotency: the producer republishes a message whose publisher confirm
/// it never saw, so the broker delivers it twice, as two messages that are
/// not even flagged redelivered; the consumer dedupes by `message_id`.
pub fn idempotency(out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "brokerlab walkthrough: idempotency (a retried publish, a consumer that dedupes by message_id)")?;
    let mut narrator = Narrator::new(out);
    narrator.connect("the producer", 1)?;
    narrator.declare(
        "the producer declares 'payments'",
        1,
        "payments",
        FieldTable::new(),
    )?;
    narrator.command(
        "the producer turns on publisher confirms",
        1,
        Command::ConfirmSelect,
    )?;
    narrator.connect("the consumer", 2)?;
    narrator.consume(
        "the consumer consumes from 'payments'",
        2,
        "payments",
        false,
    )?;
    let mut processed = BTreeSet::new();
    let payment = |id: &str| Properties {
        message_id: Some(id.to_owned()),
        delivery_mode: Some(2),
        ..Properties::default()
    };
    let charge = "charge 10 EUR for order 1001";
    let what = "the producer publishes the persistent payment-1001; the broker confirms it";
    let outputs = narrator.publish(what, 1, "", "payments", payment("payment-1001"), charge)?;
    consume_idempotently(&mut narrator, &mut processed, &outputs)?;
    let lost = Input::Disconnect {
        conn: ConnectionId(1),
    };
    let what =
        "the confirm is lost: the producer's connection drops before the basic.ack reaches it";
    narrator.input(what, lost)?;
    narrator.connect("the restarted producer", 3)?;
    narrator.command(
        "the producer turns on publisher confirms again",
        3,
        Command::ConfirmSelect,
    )?;
    let what = "the producer never saw a confirm for payment-1001, so it publishes it again";
    let outputs = narrator.publish(what, 3, "", "payments", payment("payment-1001"), charge)?;
    consume_idempotently(&mut narrator, &mut processed, &outputs)?;
    let what = "the producer publishes payment-1002";
    let charge = "charge 25 EUR for order 1002";
    let outputs = narrator.publish(what, 3, "", "payments", payment("payment-1002"), charge)?;
    consume_idempotently(&mut narrator, &mut processed, &outputs)?;
    writeln!(narrator.out, "\npayment-1001 arrived twice, as two messages, neither flagged redelivered: only the consumer's record of message_ids kept the card from being charged twice.")?;
    Ok(())
}

/// The idempotency walkthrough's consumer (connection 2): it processes each
/// `message_id` once and acknowledges every delivery, duplicates included.
fn consume_idempotently<W: Write>(
    narrator: &mut Narrator<'_, W>,
    processed: &mut BTreeSet<String>,
    outputs: &[Output],
) -> io::Result<()> {
    for (tag, message) in delivered_to(outputs, 2) {
        let id = message.properties().message_id.clone().unwrap_or_default();
        let what = if processed.insert(id.clone()) {
            format!("{id} is new to the consumer: it charges the card, records {id} and acknowledges tag {tag}")
        } else {
            format!("the consumer already processed {id}: it skips the work and just acknowledges tag {tag}")
        };
        narrator.ack(&what, 2, tag, false)?;
    }
    Ok(())
}

/// Durability and confirms: a persistent message in a durable queue is
/// confirmed once its record is synced; the broker crashes with one
/// confirmed persistent payment, one transient payment and one persistent
/// payment not yet synced; the restart keeps exactly the confirmed one,
/// flagged `redelivered`, and the producer publishes the unconfirmed one
/// again.
pub fn durability(out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "brokerlab walkthrough: durability and confirms (a confirm waits for the disk; a crash keeps what was confirmed)")?;
    let mut narrator = Narrator::new(out);
    narrator.connect("the producer", 1)?;
    let what = "the producer declares the durable queue 'payments'";
    narrator.declare(what, 1, "payments", FieldTable::new())?;
    let what = "the producer turns on publisher confirms";
    narrator.command(what, 1, Command::ConfirmSelect)?;
    narrator.batch_syncs();
    writeln!(
        narrator.out,
        "\n(from here on the driver syncs its log in batches, as a busy server does: confirms wait for the next sync)"
    )?;
    let persistent = Properties {
        delivery_mode: Some(2),
        ..Properties::default()
    };
    let what = "the producer publishes payment 1, persistent: its record is written, and its confirm waits for the sync";
    let outputs = narrator.publish(what, 1, "", "payments", persistent.clone(), "payment 1")?;
    if confirmed(&outputs, 1) {
        return Err(io::Error::other(
            "a persistent message was confirmed before its sync",
        ));
    }
    let what =
        "the producer publishes payment 2, transient: nothing to write, so it is confirmed at once";
    let outputs = narrator.publish(what, 1, "", "payments", Properties::default(), "payment 2")?;
    if !confirmed(&outputs, 2) {
        return Err(io::Error::other(
            "a transient message was not confirmed at once",
        ));
    }
    let outputs = narrator.sync("the driver syncs the log: payment 1 is on disk and confirmed")?;
    if !confirmed(&outputs, 1) {
        return Err(io::Error::other("the sync did not confirm payment 1"));
    }
    let what =
        "the producer publishes payment 3, persistent: its record is written, not yet synced";
    narrator.publish(what, 1, "", "payments", persistent.clone(), "payment 3")?;
    narrator.crash_and_recover("the power fails before the next sync; the server restarts")?;
    writeln!(
        narrator.out,
        "\n(payment 1 was confirmed and is back; payment 2 was transient and is gone, as it may be; payment 3 was never confirmed, so its producer still holds it)"
    )?;
    narrator.connect("the worker", 2)?;
    let outputs = narrator.consume("the worker consumes from 'payments'", 2, "payments", false)?;
    let delivered = delivered_to(&outputs, 2);
    if delivered.len() != 1 || &delivered[0].1.body[..] != b"payment 1" {
        return Err(io::Error::other(
            "the restart did not keep exactly payment 1",
        ));
    }
    narrator.ack("the worker acknowledges payment 1", 2, 1, false)?;
    writeln!(
        narrator.out,
        "\n(the producer's connection died with the server: it connects again)"
    )?;
    narrator.connect("the producer", 3)?;
    let what = "the producer turns on publisher confirms again";
    narrator.command(what, 3, Command::ConfirmSelect)?;
    let what = "the producer publishes payment 3 again: it never got a confirm for it";
    narrator.publish(what, 3, "", "payments", persistent, "payment 3")?;
    let outputs = narrator.sync("the driver syncs the log: payment 3 is on disk and confirmed")?;
    if !confirmed(&outputs, 1) {
        return Err(io::Error::other("the sync did not confirm payment 3"));
    }
    writeln!(narrator.out, "\nA confirm went out only once its record was on disk, so the crash lost nothing a confirm acknowledged. What it lost (payment 3's unsynced record) its producer still held unconfirmed and published again; a transient message is not kept across a restart, confirmed or not.")?;
    Ok(())
}

/// Whether `outputs` confirm publish `tag` (basic.ack to the publisher).
fn confirmed(outputs: &[Output], tag: u64) -> bool {
    outputs.iter().any(|output| {
        matches!(
            output,
            Output::Reply {
                reply: brokerlab_core::Reply::ConfirmAck { delivery_tag, .. },
                ..
            } if *delivery_tag == tag
        )
    })
}
