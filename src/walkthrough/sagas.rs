//! The seed document's saga pattern, run by the broker itself: an order
//! saga of three steps whose orchestrator is an `x-saga` exchange, and
//! three participants that are plain consumers replying to `reply_to`.

use super::narrator::{arguments, delivered_to, Narrator};
use brokerlab_core::message::SharedMessage;
use brokerlab_core::{Command, FieldTable, FieldValue, Output, Properties};
use std::io::{self, Write};
use std::sync::Arc;

/// The order saga's steps: (name, the participant's queue, its connection).
/// Each participant gets its step's command and compensation on one queue,
/// and reads which one it got from the `x-saga-action` header.
const STEPS: [(&str, &str, u64); 3] = [
    ("reserve-inventory", "inventory", 2),
    ("process-payment", "payment", 3),
    ("ship-order", "shipping", 4),
];

/// The connection of the service that watches outcomes.
const OBSERVER: u64 = 5;

/// The most rounds of participants answering what they were sent.
const ROUNDS_MAX: usize = 32;

/// Sagas: the broker runs the order saga (reserve inventory, process
/// payment, ship order) step by step; one order completes, and one whose
/// payment is declined is compensated in reverse before `saga.failed`.
pub fn saga(out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "brokerlab walkthrough: saga (the broker orchestrates reserve-inventory, process-payment, ship-order; a declined payment is compensated in reverse)")?;
    let mut narrator = Narrator::new(out);
    narrator.connect("the shop", 1)?;
    declare_saga(&mut narrator)?;
    for (step, queue, conn) in STEPS {
        narrator.connect(&format!("the {queue} service ({step})"), conn)?;
        let what = format!("the {queue} service declares its queue '{queue}', for commands and compensations alike");
        narrator.declare(&what, conn, queue, FieldTable::new())?;
        narrator.consume(
            &format!("the {queue} service consumes from '{queue}'"),
            conn,
            queue,
            false,
        )?;
    }
    narrator.connect("the order-status service", OBSERVER)?;
    let what = "the order-status service declares 'saga-outcomes'";
    narrator.declare(what, OBSERVER, "saga-outcomes", FieldTable::new())?;
    narrator.bind(OBSERVER, "saga-outcomes", "amq.topic", "saga.*")?;
    narrator.consume(
        "the order-status service consumes outcomes",
        OBSERVER,
        "saga-outcomes",
        true,
    )?;

    writeln!(narrator.out, "\n== order-1001: every step succeeds")?;
    let outputs = start(
        &mut narrator,
        "order-1001",
        r#"{"orderId":1001,"card":"4242"}"#,
    )?;
    run_participants(&mut narrator, outputs, None)?;

    writeln!(narrator.out, "\n== order-1002: the card is declined")?;
    let outputs = start(
        &mut narrator,
        "order-1002",
        r#"{"orderId":1002,"card":"0000"}"#,
    )?;
    run_participants(&mut narrator, outputs, Some("payment"))?;
    writeln!(narrator.out, "\nEach state change and the command it sent were one log record, so no crash could leave one without the other; order-1002's inventory was released only after the payment step failed, and no one shipped it.")?;
    Ok(())
}

/// The shop declares the saga exchange 'order-saga' with its three steps.
fn declare_saga<W: Write>(narrator: &mut Narrator<'_, W>) -> io::Result<()> {
    let steps = STEPS
        .iter()
        .map(|(name, queue, _)| {
            FieldValue::Table(arguments(&[
                ("name", FieldValue::string(name)),
                ("command", FieldValue::string(queue)),
                ("compensation", FieldValue::string(queue)),
                ("timeout-ms", FieldValue::I64(30_000)),
                ("retries", FieldValue::I64(2)),
            ]))
        })
        .collect();
    let command = Command::ExchangeDeclare {
        exchange: "order-saga".into(),
        kind: "x-saga".into(),
        passive: false,
        durable: true,
        auto_delete: false,
        internal: false,
        arguments: arguments(&[("x-saga-steps", FieldValue::Array(steps))]),
    };
    let what = "the shop declares 'order-saga', of type x-saga: three steps, each a command and a compensation sent to a participant's queue, 30 s to answer, 2 retries";
    narrator.command(what, 1, command)?;
    Ok(())
}

/// The shop starts a saga: its `message_id` is the saga id, its body the
/// payload every step receives.
fn start<W: Write>(
    narrator: &mut Narrator<'_, W>,
    id: &str,
    body: &str,
) -> io::Result<Vec<Output>> {
    let properties = Properties {
        message_id: Some(id.to_owned()),
        content_type: Some("application/json".to_owned()),
        delivery_mode: Some(2),
        ..Properties::default()
    };
    let what = format!("the shop publishes {id} to 'order-saga': the broker starts the saga and sends the first command once that is logged");
    narrator.publish(&what, 1, "order-saga", "", properties, body)
}

/// The participants answer what they were sent until nothing is left:
/// each replies to `reply_to` with the message's correlation id and an
/// outcome, then acknowledges. `failing` names the queue whose service
/// fails its command.
fn run_participants<W: Write>(
    narrator: &mut Narrator<'_, W>,
    mut outputs: Vec<Output>,
    failing: Option<&str>,
) -> io::Result<()> {
    for _ in 0..ROUNDS_MAX {
        let mut next = Vec::new();
        for (_, queue, conn) in STEPS {
            for (tag, message) in delivered_to(&outputs, conn) {
                next.extend(answer(narrator, queue, conn, tag, &message, failing)?);
            }
        }
        for (_, message) in delivered_to(&outputs, OBSERVER) {
            let state = header(&message, "x-saga-state").unwrap_or_default();
            writeln!(
                narrator.out,
                "\n  the order-status service reads {} ({state}): {}",
                message.routing_key(),
                String::from_utf8_lossy(&message.body)
            )?;
        }
        if next.is_empty() {
            return Ok(());
        }
        outputs = next;
    }
    Err(io::Error::other(
        "the participants never ran out of messages",
    ))
}

/// One participant answers one saga message.
fn answer<W: Write>(
    narrator: &mut Narrator<'_, W>,
    queue: &str,
    conn: u64,
    tag: u64,
    message: &SharedMessage,
    failing: Option<&str>,
) -> io::Result<Vec<Output>> {
    let properties = message.properties();
    let action = header(message, "x-saga-action").unwrap_or_default();
    let (Some(correlation_id), Some(reply_to)) = (&properties.correlation_id, &properties.reply_to)
    else {
        return Err(io::Error::other(format!(
            "'{queue}' got a message that is not a saga's"
        )));
    };
    let fails = action == "do" && failing == Some(queue);
    let outcome = if fails { "failure" } else { "success" };
    let doing = match (action.as_str(), fails) {
        ("do", false) => "does its step",
        ("do", true) => "cannot do its step",
        _ => "undoes its step",
    };
    let what = format!(
        "the {queue} service {doing} for {correlation_id} and replies '{outcome}' to '{reply_to}'"
    );
    let reply = Properties {
        correlation_id: Some(correlation_id.clone()),
        headers: Some(Arc::new(arguments(&[(
            "x-saga-outcome",
            FieldValue::string(outcome),
        )]))),
        ..Properties::default()
    };
    let mut outputs = narrator.publish(&what, conn, "", reply_to, reply, "")?;
    let what = format!("the {queue} service acknowledges tag {tag}");
    outputs.extend(narrator.ack(&what, conn, tag, false)?);
    Ok(outputs)
}

/// A string header of a message.
fn header(message: &SharedMessage, name: &str) -> Option<String> {
    let headers = message.properties().headers.as_ref()?;
    headers.get(name)?.as_str().map(str::to_owned)
}
