//! A run's history as a Mermaid sequence chart, for reading a (shrunk)
//! counterexample: producers on the left, the broker in the middle,
//! consumers on the right, and crashes, expiries and dead-letterings as
//! notes over the broker. Messages are named by publish attempt (`a0x7`:
//! what the producer wrote in the body) and, once the broker has them, by
//! the broker's id (`id 7`).

use crate::history::{Entry, History, Settle};
use crate::plan::Millis;
use brokerlab_core::Event;
use std::collections::BTreeSet;
use std::fmt::Write;

/// Most history entries a chart shows; the rest are summarised in a note.
pub const LINES_MAX: usize = 400;

/// The Mermaid `sequenceDiagram` of `history`.
#[must_use]
pub fn sequence_chart(history: &History) -> String {
    let mut producers = BTreeSet::new();
    let mut consumers = BTreeSet::new();
    for timed in history.entries() {
        match &timed.entry {
            Entry::Publish { producer, .. }
            | Entry::StreamSend { producer, .. }
            | Entry::SagaStart {
                starter: producer, ..
            } => {
                producers.insert(*producer);
            }
            Entry::SagaReceived { participant, .. } => {
                consumers.insert(*participant);
            }
            Entry::Consume { consumer, .. }
            | Entry::StreamSeek {
                reader: consumer, ..
            } => {
                consumers.insert(*consumer);
            }
            _ => {}
        }
    }
    let mut chart = String::from("sequenceDiagram\n");
    for producer in &producers {
        let _ = writeln!(
            chart,
            "    participant P{producer} as {}",
            name(*producer, "producer")
        );
    }
    chart.push_str("    participant B as broker\n");
    for consumer in &consumers {
        let _ = writeln!(
            chart,
            "    participant C{consumer} as {}",
            name(*consumer, "consumer")
        );
    }
    let mut lines = 0;
    let mut left_out = 0;
    for timed in history.entries() {
        let Some(line) = line(&timed.entry) else {
            continue;
        };
        if lines == LINES_MAX {
            left_out += 1;
            continue;
        }
        lines += 1;
        let _ = writeln!(chart, "    {line} @{}", Millis(timed.at_ns));
    }
    if left_out > 0 {
        let _ = writeln!(chart, "    Note over B: {left_out} more steps left out");
    }
    chart
}

/// One step of a chart: an arrow between two lanes, or a note on one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// When, in simulated nanoseconds.
    pub at_ns: u64,
    /// The lane it starts on: `P<n>` (a producer), `B` (the broker),
    /// `C<n>` (a consumer).
    pub from: String,
    /// The lane an arrow ends on; `None` for a note.
    pub to: Option<String>,
    /// A dashed arrow: the broker's answer to a publisher.
    pub dashed: bool,
    /// What happened.
    pub text: String,
}

/// The chart's steps, every one (no [`LINES_MAX`] cut), for the HTML viewer.
#[must_use]
pub fn steps(history: &History) -> Vec<Step> {
    history.entries().iter().filter_map(step).collect()
}

/// One history entry as a step, or `None` for entries the chart leaves out.
#[must_use]
pub fn step(timed: &crate::history::Timed) -> Option<Step> {
    let line = line(&timed.entry)?;
    let (head, text) = line.split_once(": ")?;
    let text = text.to_owned();
    let at_ns = timed.at_ns;
    if let Some(lane) = head.strip_prefix("Note over ") {
        let from = lane.to_owned();
        return Some(Step {
            at_ns,
            from,
            to: None,
            dashed: false,
            text,
        });
    }
    let (from, to, dashed) = match head.split_once("-->>") {
        Some((from, to)) => (from, to, true),
        None => {
            let (from, to) = head.split_once("->>")?;
            (from, to, false)
        }
    };
    let (from, to) = (from.to_owned(), Some(to.to_owned()));
    Some(Step {
        at_ns,
        from,
        to,
        dashed,
        text,
    })
}

/// The label of lane `lane` (`P0`, `B`, `C2`), as the chart names it.
#[must_use]
pub fn lane_label(lane: &str) -> String {
    let number = |rest: &str| rest.parse::<usize>().ok();
    match (lane.get(..1), lane.get(1..).and_then(number)) {
        (Some("P"), Some(n)) => name(n, "producer"),
        (Some("C"), Some(n)) => name(n, "consumer"),
        _ => "broker".to_owned(),
    }
}

/// A participant's label: requesters and responders have numbers of their own.
fn name(number: usize, role: &str) -> String {
    use crate::client::{REQUESTER_BASE, RESPONDER_BASE};
    if number >= RESPONDER_BASE {
        format!("responder {} (replies)", number - RESPONDER_BASE)
    } else if number >= REQUESTER_BASE {
        format!("requester {} (its replies)", number - REQUESTER_BASE)
    } else {
        format!("{role} {number}")
    }
}

/// One entry as a chart line, or `None` for entries the chart leaves out.
fn line(entry: &Entry) -> Option<String> {
    let text = match entry {
        Entry::Publish {
            producer,
            seq,
            stamp,
            ..
        } => format!(
            "P{producer}->>B: publish m{:#x} a{:#x} seq {seq}",
            stamp.payload, stamp.attempt
        ),
        Entry::Confirm {
            producer,
            stamp,
            ack,
        } => {
            let what = if *ack { "confirm" } else { "nack" };
            format!("B-->>P{producer}: {what} a{:#x}", stamp.attempt)
        }
        Entry::Consume { consumer, .. } => format!("C{consumer}->>B: consume"),
        Entry::Deliver {
            consumer,
            queue,
            message,
            delivery_tag,
            redelivered,
            stamp,
            ..
        } => {
            let attempt = stamp.map_or_else(|| "?".to_owned(), |s| format!("a{:#x}", s.attempt));
            let flag = if *redelivered { " redelivered" } else { "" };
            format!(
                "B->>C{consumer}: deliver {attempt} (id {}) from {queue} tag {delivery_tag}{flag}",
                message.0
            )
        }
        Entry::Settle {
            consumer,
            delivery_tag,
            how,
            ..
        } => {
            let how = match how {
                Settle::Ack => "ack",
                Settle::Nack => "nack requeue",
                Settle::Reject => "reject requeue",
                Settle::Discard => "reject",
            };
            format!("C{consumer}->>B: {how} tag {delivery_tag}")
        }
        Entry::Effect { consumer, payload } => {
            format!("Note over C{consumer}: effect of m{payload:#x}")
        }
        Entry::Answer {
            requester,
            correlation,
            ..
        } => format!(
            "Note over P{requester}: answer to {}",
            correlation.as_deref().unwrap_or("?")
        ),
        Entry::GaveUp { consumer, payload } => {
            format!("Note over C{consumer}: gave up on m{payload:#x}")
        }
        Entry::Closed { conn } => format!("Note over B: connection {} closed", conn.0),
        Entry::Crash => "Note over B: CRASH (unsynced writes lost)".to_owned(),
        Entry::Restart => "Note over B: restart, recovered from the log".to_owned(),
        Entry::Broker { event, .. } => match event {
            Event::Expired { message, queue } => {
                format!("Note over B: id {} expired in {queue}", message.0)
            }
            Event::DeadLettered {
                message,
                queue,
                reason,
                ..
            } => format!(
                "Note over B: id {} dead-lettered from {queue} ({})",
                message.0,
                reason.as_str()
            ),
            Event::Requeued { message, queue } => {
                format!("Note over B: id {} requeued in {queue}", message.0)
            }
            _ => return None,
        },
        Entry::Durable { .. } => return None,
        Entry::StreamSend { .. }
        | Entry::StreamAck { .. }
        | Entry::StreamSeek { .. }
        | Entry::StreamPoll { .. }
        | Entry::GroupAssigned { .. }
        | Entry::GroupOffsetFetched { .. }
        | Entry::GroupCommitted { .. } => return stream_line(entry),
        Entry::SagaStart { .. }
        | Entry::SagaAbort { .. }
        | Entry::SagaConfirm { .. }
        | Entry::SagaReceived { .. }
        | Entry::SagaApplied { .. }
        | Entry::SagaReplied { .. }
        | Entry::SagaOutcome { .. } => return saga_line(entry),
        Entry::PubSubPublish {
            publisher,
            seq,
            channel,
            ..
        } => format!(
            "P{publisher}->>B: PUBLISH {} p{publisher}:{seq}",
            String::from_utf8_lossy(channel)
        ),
        Entry::PubSubPublished {
            publisher,
            seq,
            receivers,
        } => format!("B->>P{publisher}: p{publisher}:{seq} reached {receivers}"),
        Entry::PubSubSubscribe {
            subscriber,
            name,
            pattern,
            ..
        } => {
            let command = if *pattern { "PSUBSCRIBE" } else { "SUBSCRIBE" };
            let name = String::from_utf8_lossy(name);
            format!("C{subscriber}->>B: {command} {name}")
        }
        Entry::PubSubSubscribed { subscriber, .. } => format!("B->>C{subscriber}: subscribed"),
        Entry::PubSubMessage {
            subscriber,
            channel,
            sent,
            ..
        } => {
            let body = sent.map_or("?".to_owned(), |(p, seq)| format!("p{p}:{seq}"));
            let channel = String::from_utf8_lossy(channel);
            format!("B->>C{subscriber}: message {channel} {body}")
        }
        Entry::Counters { .. } => return None,
        Entry::PubSubCutOff { conn, reason } => {
            format!("Note over B: connection {} cut off ({reason:?})", conn.0)
        }
        Entry::SqsSend { .. }
        | Entry::SqsSent { .. }
        | Entry::SqsReceive { .. }
        | Entry::SqsReceived { .. }
        | Entry::SqsDelete { .. }
        | Entry::SqsDeleted { .. } => return sqs_line(entry),
    };
    Some(text)
}

/// An SQS client's entry as a chart line (an empty receive is left out).
fn sqs_line(entry: &Entry) -> Option<String> {
    let body = |body: &Option<(usize, u64)>| {
        body.map_or("?".to_owned(), |(producer, seq)| {
            format!("m{producer}:{seq}")
        })
    };
    let text = match entry {
        Entry::SqsSend {
            producer,
            queue,
            entries,
            ..
        } => {
            let bodies: Vec<String> = entries
                .iter()
                .map(|entry| {
                    let dedup = entry
                        .dedup
                        .as_deref()
                        .map_or(String::new(), |dedup| format!(" dedup {dedup}"));
                    format!("{}{dedup}", body(&Some(entry.body)))
                })
                .collect();
            format!("P{producer}->>B: send {queue} {}", bodies.join(", "))
        }
        Entry::SqsSent {
            producer, results, ..
        } => {
            let results: Vec<String> = results
                .iter()
                .map(|(sent, id)| match id {
                    Some(id) => format!("{} as {}", body(&Some(*sent)), id.message_id),
                    None => format!("{} failed", body(&Some(*sent))),
                })
                .collect();
            format!("B-->>P{producer}: sent {}", results.join(", "))
        }
        Entry::SqsReceive {
            consumer,
            queue,
            wait_s,
            ..
        } => format!("C{consumer}->>B: receive {queue} wait {wait_s}s"),
        Entry::SqsReceived {
            consumer,
            queue,
            messages,
            ..
        } => {
            if messages.is_empty() {
                return None;
            }
            let seen: Vec<String> = messages
                .iter()
                .map(|seen| {
                    format!(
                        "{} ({}, handle {}, count {})",
                        body(&seen.body),
                        seen.message_id,
                        seen.handle,
                        seen.receive_count
                    )
                })
                .collect();
            format!("B->>C{consumer}: from {queue} {}", seen.join(", "))
        }
        Entry::SqsDelete {
            consumer,
            queue,
            entries,
            ..
        } => {
            let handles: Vec<String> = entries
                .iter()
                .map(|entry| format!("{} handle {}", body(&entry.body), entry.handle))
                .collect();
            format!("C{consumer}->>B: delete in {queue} {}", handles.join(", "))
        }
        Entry::SqsDeleted {
            consumer, results, ..
        } => {
            let results: Vec<&str> = results
                .iter()
                .map(|ok| if *ok { "ok" } else { "failed" })
                .collect();
            format!("B-->>C{consumer}: deleted {}", results.join(", "))
        }
        _ => return None,
    };
    Some(text)
}

/// A saga client's entry as a chart line: starters on the left,
/// participants (one per step) on the right, outcomes as notes.
fn saga_line(entry: &Entry) -> Option<String> {
    let text = match entry {
        Entry::SagaStart { starter, saga } => format!("P{starter}->>B: start {saga}"),
        Entry::SagaAbort { starter, saga } => format!("P{starter}->>B: abort {saga}"),
        Entry::SagaConfirm {
            starter,
            saga,
            abort,
            ack,
        } => format!(
            "B-->>P{starter}: {} of {} {saga}",
            if *ack { "ack" } else { "nack" },
            if *abort { "abort" } else { "start" }
        ),
        Entry::SagaReceived {
            participant,
            saga,
            action,
            step,
            attempt,
            message,
            redelivered,
        } => format!(
            "B->>C{participant}: {}:{step}:{saga} attempt {attempt} (id {}){}",
            action.as_str(),
            message.0,
            if *redelivered { " redelivered" } else { "" }
        ),
        Entry::SagaApplied {
            participant,
            saga,
            action,
            step,
        } => format!(
            "Note over C{participant}: applies {}:{step}:{saga}",
            action.as_str()
        ),
        Entry::SagaReplied {
            participant,
            saga,
            action,
            step,
            success,
        } => format!(
            "C{participant}->>B: {} to {}:{step}:{saga}",
            if *success { "success" } else { "failure" },
            action.as_str()
        ),
        Entry::SagaOutcome {
            saga,
            state,
            message,
        } => format!("Note over B: outcome of {saga}: {state} (id {})", message.0),
        _ => return None,
    };
    Some(text)
}

/// A stream client's entry as a chart line: records are named by logical
/// record and batch (`m0x3 a0x1`), partitions as `p<n>`.
fn stream_line(entry: &Entry) -> Option<String> {
    let values = |records: &[crate::history::StreamValue]| -> String {
        let names: Vec<String> = records
            .iter()
            .map(|value| format!("m{:#x}", value.stamp.payload))
            .collect();
        names.join(",")
    };
    let text = match entry {
        Entry::StreamSend {
            producer,
            partition,
            request,
            records,
            ..
        } => format!(
            "P{producer}->>B: produce #{request} p{partition} [{}] a{:#x}",
            values(records),
            records.first()?.stamp.attempt
        ),
        Entry::StreamAck {
            producer,
            partition,
            request,
            base_offset,
            duplicate,
            ..
        } => {
            let flag = if *duplicate { " (duplicate)" } else { "" };
            format!("B-->>P{producer}: ack #{request} p{partition} at {base_offset}{flag}")
        }
        Entry::StreamSeek {
            reader,
            partition,
            from,
            offset,
        } => match from {
            None => format!("Note over C{reader}: starts p{partition} at {offset}"),
            Some(from) => {
                format!("Note over C{reader}: resets p{partition} from {from} to {offset}")
            }
        },
        Entry::StreamPoll {
            reader,
            partition,
            records,
        } => {
            let read: Vec<String> = records
                .iter()
                .map(|(offset, value)| {
                    let name = value.map_or("?".to_owned(), |v| format!("m{:#x}", v.stamp.payload));
                    format!("{offset}:{name}")
                })
                .collect();
            format!("B->>C{reader}: poll p{partition} {}", read.join(" "))
        }
        Entry::GroupAssigned {
            reader,
            generation,
            partitions,
        } => {
            let names: Vec<String> = partitions.iter().map(|p| format!("p{p}")).collect();
            format!(
                "B-->>C{reader}: generation {generation} assigns [{}]",
                names.join(",")
            )
        }
        Entry::GroupOffsetFetched {
            reader,
            partition,
            offset,
            ..
        } => match offset {
            Some(offset) => format!("B-->>C{reader}: p{partition} committed at {offset}"),
            None => format!("B-->>C{reader}: p{partition} has no committed offset"),
        },
        Entry::GroupCommitted {
            reader,
            generation,
            partition,
            offset,
            ..
        } => format!("B-->>C{reader}: commit p{partition} at {offset} (generation {generation}) acknowledged"),
        _ => return None,
    };
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::fixtures::*;

    #[test]
    fn a_chart_names_every_participant_and_step() {
        let history = History::from_entries([
            publish(1),
            confirm(1),
            consume(1),
            deliver(1, 1, false),
            settle(1, Settle::Ack),
            Entry::Crash,
        ]);
        let chart = sequence_chart(&history);
        assert!(chart.starts_with("sequenceDiagram\n"));
        for expected in [
            "participant P0",
            "participant C0",
            "P0->>B: publish",
            "B-->>P0: confirm",
            "B->>C0: deliver a0x1 (id 1) from work tag 1",
            "C0->>B: ack tag 1",
            "CRASH",
        ] {
            assert!(chart.contains(expected), "{expected} missing from\n{chart}");
        }
    }
}
