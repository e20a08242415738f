//! Dead-lettering a message: the copy that is republished to a queue's
//! dead-letter exchange, and RabbitMQ's rule for when that copy would cycle.
//!
//! The copy carries its history in the `x-death` header: a list of tables,
//! newest first, one per (queue, reason) pair, each counting how often the
//! message died that way. A repeated death increments its entry's `count` and
//! moves the entry to the front, keeping the entry's other fields from the
//! first time (RabbitMQ 3.10's `rabbit_dead_letter:update_x_death_header`).
//! The very first death also sets `x-first-death-queue`, `-reason` and
//! `-exchange`. The `expiration` property is removed so the copy does not
//! expire again for the same reason; it survives as `original-expiration`.
//!
//! A copy routed back to a queue it already died in is dropped when the whole
//! loop since then was automatic (no `rejected` in it), so expiry and
//! length-limit loops end while reject-and-retry loops keep working.

use crate::field::{FieldTable, FieldValue};
use crate::message::Message;
use crate::protocol::DeadLetterReason;
use crate::time::Instant;
use std::sync::Arc;

/// The header holding the death history.
pub const X_DEATH: &str = "x-death";

/// The message as it is republished to the dead-letter exchange.
///
/// Exchange = `dead_letter_exchange`; routing key = `dead_letter_routing_key`
/// or the original key; `expiration` removed (kept as `original-expiration` in
/// the x-death entry); `x-death` updated; `x-first-death-*` set on the first
/// death only. Same id and body; the properties are a new `Arc`.
pub fn dead_letter(
    message: &Message,
    queue: &str,
    reason: DeadLetterReason,
    now: Instant,
    dead_letter_exchange: &Arc<str>,
    dead_letter_routing_key: Option<&Arc<str>>,
) -> Message {
    let mut properties = (*message.properties).clone();
    let death = new_death(message, queue, reason, now);
    let mut headers = properties.headers.take().unwrap_or_default();
    record_death(&mut headers, death, queue, reason, &message.exchange);
    properties.headers = Some(headers);
    properties.expiration = None;
    Message {
        id: message.id,
        exchange: Arc::clone(dead_letter_exchange),
        routing_key: Arc::clone(dead_letter_routing_key.unwrap_or(&message.routing_key)),
        properties: Arc::new(properties),
        body: message.body.clone(),
    }
}

/// RabbitMQ's cycle rule: true when the dead-lettered `message` (already
/// carrying its updated x-death) would cycle automatically into `target_queue`
/// and must be dropped for that queue.
///
/// A `rejected` death is never a cycle. Otherwise the x-death list (newest
/// first) is cut after the first entry for `target_queue`; no such entry, no
/// cycle; else it is a cycle unless one of the entries up to and including
/// that one has reason `rejected` (or is not a table: a client wrote it, so
/// the loop was not fully automatic).
pub fn is_cycle(message: &Message, reason: DeadLetterReason, target_queue: &str) -> bool {
    if reason == DeadLetterReason::Rejected {
        return false;
    }
    let Some(FieldValue::Array(deaths)) = message
        .properties
        .headers
        .as_ref()
        .and_then(|headers| headers.get(X_DEATH))
    else {
        return false;
    };
    let target = FieldValue::string(target_queue);
    let rejected = FieldValue::string(DeadLetterReason::Rejected.as_str());
    let is_target = |death: &FieldValue| matches!(death, FieldValue::Table(fields) if fields.get("queue") == Some(&target));
    let Some(last) = deaths.iter().position(is_target) else {
        return false;
    };
    deaths[..=last]
        .iter()
        .all(|death| matches!(death, FieldValue::Table(fields) if fields.get("reason") != Some(&rejected)))
}

/// The x-death entry for this death, as it is when the pair is new.
fn new_death(message: &Message, queue: &str, reason: DeadLetterReason, now: Instant) -> FieldTable {
    let mut death = FieldTable::new();
    death.insert("count".to_owned(), FieldValue::I64(1));
    death.insert("queue".to_owned(), FieldValue::string(queue));
    death.insert("reason".to_owned(), FieldValue::string(reason.as_str()));
    death.insert("time".to_owned(), FieldValue::Timestamp(now.as_secs()));
    death.insert("exchange".to_owned(), FieldValue::string(&message.exchange));
    // RabbitMQ also lists the CC keys here; this core does not route by CC.
    let routing_keys = vec![FieldValue::string(&message.routing_key)];
    death.insert("routing-keys".to_owned(), FieldValue::Array(routing_keys));
    if let Some(expiration) = &message.properties.expiration {
        death.insert(
            "original-expiration".to_owned(),
            FieldValue::string(expiration),
        );
    }
    death
}

/// Adds `death` to the headers' x-death list (`update_x_death_header`).
fn record_death(
    headers: &mut FieldTable,
    death: FieldTable,
    queue: &str,
    reason: DeadLetterReason,
    exchange: &str,
) {
    let deaths = match headers.remove(X_DEATH) {
        None => {
            headers.insert(
                "x-first-death-reason".to_owned(),
                FieldValue::string(reason.as_str()),
            );
            headers.insert("x-first-death-queue".to_owned(), FieldValue::string(queue));
            headers.insert(
                "x-first-death-exchange".to_owned(),
                FieldValue::string(exchange),
            );
            vec![FieldValue::Table(death)]
        }
        Some(FieldValue::Array(deaths)) => {
            let key = (
                FieldValue::string(queue),
                FieldValue::string(reason.as_str()),
            );
            let mut deaths = merge_repeated_deaths(deaths);
            let found = deaths
                .iter()
                .position(|old| death_key(old) == Some((&key.0, &key.1)));
            // death_key matches tables only, so a found entry is a table.
            let death = match found.map(|index| deaths.remove(index)) {
                Some(FieldValue::Table(old)) => counted_again(old),
                _ => death,
            };
            deaths.insert(0, FieldValue::Table(death));
            deaths
        }
        // Something else than a list (a client republished the message with a
        // converted header): RabbitMQ starts the history again, and since an
        // x-death was there it does not count as a first death.
        Some(_) => vec![FieldValue::Table(death)],
    };
    headers.insert(X_DEATH.to_owned(), FieldValue::Array(deaths));
}

/// The (queue, reason) of an x-death entry, when it is a table holding both.
fn death_key(death: &FieldValue) -> Option<(&FieldValue, &FieldValue)> {
    match death {
        FieldValue::Table(fields) => Some((fields.get("queue")?, fields.get("reason")?)),
        _ => None,
    }
}

/// An old entry whose (queue, reason) happened again: its count goes up by
/// one, every other field stays as it was the first time.
fn counted_again(mut old: FieldTable) -> FieldTable {
    // A count that is not an integer was written by a client; RabbitMQ would
    // crash on it, we start counting again.
    let count = old
        .get("count")
        .and_then(FieldValue::as_integer)
        .unwrap_or(0);
    let count = i64::try_from(count.saturating_add(1)).unwrap_or(i64::MAX);
    old.insert("count".to_owned(), FieldValue::I64(count));
    old
}

/// Keeps one entry per (queue, reason), the first (newest) one, as RabbitMQ
/// does for histories written before it merged repeated deaths; an entry
/// without a count gets the number of entries it stands for.
///
/// RabbitMQ 3.10 also reverses the order of the entries here (a fold that
/// prepends); we keep them newest first, as its documentation describes.
fn merge_repeated_deaths(deaths: Vec<FieldValue>) -> Vec<FieldValue> {
    if deaths.len() < 2 {
        return deaths;
    }
    let mut merged: Vec<FieldValue> = Vec::with_capacity(deaths.len());
    for death in &deaths {
        let Some(key) = death_key(death) else {
            merged.push(death.clone());
            continue;
        };
        if merged.iter().any(|kept| death_key(kept) == Some(key)) {
            continue;
        }
        let mut kept = death.clone();
        if let FieldValue::Table(fields) = &mut kept {
            let repeats = deaths
                .iter()
                .filter(|other| death_key(other) == Some(key))
                .count();
            let repeats = i64::try_from(repeats).unwrap_or(i64::MAX);
            fields
                .entry("count".to_owned())
                .or_insert(FieldValue::I64(repeats));
        }
        merged.push(kept);
    }
    merged
}
