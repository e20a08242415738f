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
use crate::message::Name;
use crate::message::{Envelope, Message};
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
    dead_letter_exchange: &Name,
    dead_letter_routing_key: Option<&Name>,
) -> Message {
    let mut properties = (**message.properties()).clone();
    let death = new_death(message, queue, reason, now);
    let mut headers = properties.headers.take().unwrap_or_default();
    record_death(
        Arc::make_mut(&mut headers),
        death,
        queue,
        reason,
        message.exchange(),
    );
    properties.headers = Some(headers);
    properties.expiration = None;
    let routing_key = dead_letter_routing_key.unwrap_or(message.routing_key());
    Message {
        id: message.id,
        envelope: Envelope::shared(
            dead_letter_exchange.clone(),
            routing_key.clone(),
            Arc::new(properties),
        ),
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
        .properties()
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
    death.insert(
        "exchange".to_owned(),
        FieldValue::string(message.exchange()),
    );
    // RabbitMQ also lists the CC keys here; this core does not route by CC.
    let routing_keys = vec![FieldValue::string(message.routing_key())];
    death.insert("routing-keys".to_owned(), FieldValue::Array(routing_keys));
    if let Some(expiration) = &message.properties().expiration {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{MessageId, Properties};
    use bytes::Bytes;

    const DLX: &str = "dlx";
    const NOW: Instant = Instant(1_700_000_000_123_456_789);

    fn message(exchange: &str, routing_key: &str, properties: Properties) -> Message {
        Message {
            id: MessageId(7),
            envelope: Envelope::shared(
                Name::from(exchange),
                Name::from(routing_key),
                Arc::new(properties),
            ),
            body: Bytes::from_static(b"body").into(),
        }
    }

    fn published() -> Message {
        message("orders", "new", Properties::default())
    }

    fn die(message: &Message, queue: &str, reason: DeadLetterReason) -> Message {
        dead_letter(message, queue, reason, NOW, &Name::from(DLX), None)
    }

    fn headers(message: &Message) -> &FieldTable {
        message
            .properties()
            .headers
            .as_ref()
            .expect("dead-lettered messages have headers")
    }

    fn deaths(message: &Message) -> Vec<&FieldTable> {
        match headers(message).get(X_DEATH) {
            Some(FieldValue::Array(deaths)) => deaths
                .iter()
                .map(|death| match death {
                    FieldValue::Table(fields) => fields,
                    other => panic!("x-death entry {other:?} is not a table"),
                })
                .collect(),
            other => panic!("x-death is {other:?}"),
        }
    }

    /// (queue, reason, count) of every x-death entry, newest first.
    fn history(message: &Message) -> Vec<(String, String, i128)> {
        deaths(message)
            .iter()
            .map(|death| {
                let field = |name: &str| {
                    death
                        .get(name)
                        .and_then(FieldValue::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                let count = death
                    .get("count")
                    .and_then(FieldValue::as_integer)
                    .unwrap_or_default();
                (field("queue"), field("reason"), count)
            })
            .collect()
    }

    fn entry(queue: &str, reason: &str, count: i128) -> (String, String, i128) {
        (queue.to_owned(), reason.to_owned(), count)
    }

    fn with_headers(headers: FieldTable) -> Message {
        message(
            "orders",
            "new",
            Properties {
                headers: Some(Arc::new(headers)),
                ..Properties::default()
            },
        )
    }

    #[test]
    fn dead_letter_publishes_to_dead_letter_exchange_with_original_key() {
        let dead = die(&published(), "q", DeadLetterReason::Rejected);
        assert_eq!(dead.exchange().as_str(), DLX);
        assert_eq!(dead.routing_key().as_str(), "new");
    }

    #[test]
    fn dead_letter_routing_key_replaces_key_but_x_death_keeps_original() {
        let key = Name::from("dead");
        let dead = dead_letter(
            &published(),
            "q",
            DeadLetterReason::Expired,
            NOW,
            &Name::from(DLX),
            Some(&key),
        );
        assert_eq!(dead.routing_key().as_str(), "dead");
        assert_eq!(
            deaths(&dead)[0].get("routing-keys"),
            Some(&FieldValue::Array(vec![FieldValue::string("new")]))
        );
    }

    #[test]
    fn dead_lettered_message_keeps_id_body_and_other_properties() {
        let properties = Properties {
            content_type: Some("text/plain".to_owned()),
            delivery_mode: Some(2),
            priority: Some(3),
            correlation_id: Some("c".to_owned()),
            message_id: Some("m".to_owned()),
            ..Properties::default()
        };
        let original = message("orders", "new", properties.clone());
        let dead = die(&original, "q", DeadLetterReason::MaxLen);
        assert_eq!(dead.id, original.id);
        assert_eq!(dead.body, original.body);
        let without_headers = Properties {
            headers: None,
            ..(**dead.properties()).clone()
        };
        assert_eq!(without_headers, properties);
        // The original is shared by other queues and must not change.
        assert_eq!(original.properties().headers, None);
    }

    #[test]
    fn x_death_entry_has_rabbitmq_fields() {
        let dead = die(&published(), "q", DeadLetterReason::Expired);
        let mut expected = FieldTable::new();
        expected.insert("count".to_owned(), FieldValue::I64(1));
        expected.insert("queue".to_owned(), FieldValue::string("q"));
        expected.insert("reason".to_owned(), FieldValue::string("expired"));
        expected.insert("time".to_owned(), FieldValue::Timestamp(1_700_000_000));
        expected.insert("exchange".to_owned(), FieldValue::string("orders"));
        expected.insert(
            "routing-keys".to_owned(),
            FieldValue::Array(vec![FieldValue::string("new")]),
        );
        assert_eq!(deaths(&dead), vec![&expected]);
    }

    #[test]
    fn x_death_reason_names_are_rabbitmqs() {
        for (reason, name) in [
            (DeadLetterReason::Rejected, "rejected"),
            (DeadLetterReason::Expired, "expired"),
            (DeadLetterReason::MaxLen, "maxlen"),
            (DeadLetterReason::DeliveryLimit, "delivery_limit"),
        ] {
            assert_eq!(
                history(&die(&published(), "q", reason)),
                vec![entry("q", name, 1)]
            );
        }
    }

    #[test]
    fn expiration_moves_to_original_expiration() {
        let original = message(
            "orders",
            "new",
            Properties {
                expiration: Some("5000".to_owned()),
                ..Properties::default()
            },
        );
        let dead = die(&original, "q", DeadLetterReason::Expired);
        assert_eq!(dead.properties().expiration, None);
        assert_eq!(
            deaths(&dead)[0].get("original-expiration"),
            Some(&FieldValue::string("5000"))
        );
        let without = die(&published(), "q", DeadLetterReason::Expired);
        assert_eq!(deaths(&without)[0].get("original-expiration"), None);
    }

    #[test]
    fn first_death_headers_set_once() {
        let first = die(&published(), "a", DeadLetterReason::Expired);
        let second = dead_letter(
            &first,
            "b",
            DeadLetterReason::Rejected,
            NOW,
            &Name::from("dlx2"),
            None,
        );
        for dead in [&first, &second] {
            let headers = headers(dead);
            assert_eq!(
                headers.get("x-first-death-queue"),
                Some(&FieldValue::string("a"))
            );
            assert_eq!(
                headers.get("x-first-death-reason"),
                Some(&FieldValue::string("expired"))
            );
            assert_eq!(
                headers.get("x-first-death-exchange"),
                Some(&FieldValue::string("orders"))
            );
        }
        assert!(!headers(&second)
            .keys()
            .any(|name| name.starts_with("x-last-death")));
    }

    #[test]
    fn x_death_entry_counts_repeated_queue_and_reason() {
        let mut message = published();
        for count in 1..=3 {
            message = die(&message, "q", DeadLetterReason::Rejected);
            assert_eq!(history(&message), vec![entry("q", "rejected", count)]);
        }
        assert_eq!(deaths(&message)[0].get("count"), Some(&FieldValue::I64(3)));
    }

    #[test]
    fn same_queue_with_another_reason_is_a_new_entry() {
        let once = die(&published(), "q", DeadLetterReason::Rejected);
        let twice = die(&once, "q", DeadLetterReason::Expired);
        assert_eq!(
            history(&twice),
            vec![entry("q", "expired", 1), entry("q", "rejected", 1)]
        );
    }

    #[test]
    fn repeated_death_moves_entry_to_front() {
        let mut message = published();
        for queue in ["a", "b", "c"] {
            message = die(&message, queue, DeadLetterReason::Rejected);
        }
        assert_eq!(
            history(&message),
            vec![
                entry("c", "rejected", 1),
                entry("b", "rejected", 1),
                entry("a", "rejected", 1)
            ]
        );
        let message = die(&message, "a", DeadLetterReason::Rejected);
        assert_eq!(
            history(&message),
            vec![
                entry("a", "rejected", 2),
                entry("c", "rejected", 1),
                entry("b", "rejected", 1)
            ]
        );
    }

    #[test]
    fn repeated_death_keeps_first_time_exchange_and_routing_keys() {
        let first = message(
            "orders",
            "new",
            Properties {
                expiration: Some("10".to_owned()),
                ..Properties::default()
            },
        );
        let first = die(&first, "q", DeadLetterReason::Rejected);
        let first_entry = deaths(&first)[0].clone();
        // Back in q through the dead-letter exchange, then rejected again later.
        let later = dead_letter(
            &first,
            "q",
            DeadLetterReason::Rejected,
            Instant(NOW.0 + 60_000_000_000),
            &Name::from("dlx2"),
            None,
        );
        let mut expected = first_entry;
        expected.insert("count".to_owned(), FieldValue::I64(2));
        assert_eq!(deaths(&later), vec![&expected]);
        assert_eq!(later.exchange().as_str(), "dlx2");
    }

    #[test]
    fn other_headers_are_kept() {
        let mut headers = FieldTable::new();
        headers.insert("app".to_owned(), FieldValue::I32(1));
        let dead = die(&with_headers(headers), "q", DeadLetterReason::Rejected);
        assert_eq!(self::headers(&dead).get("app"), Some(&FieldValue::I32(1)));
    }

    #[test]
    fn x_death_that_is_not_a_list_is_reset() {
        let mut headers = FieldTable::new();
        headers.insert(
            X_DEATH.to_owned(),
            FieldValue::string("converted by a client"),
        );
        let dead = die(&with_headers(headers), "q", DeadLetterReason::Expired);
        assert_eq!(history(&dead), vec![entry("q", "expired", 1)]);
        // An x-death was there, so this is not a first death.
        assert_eq!(self::headers(&dead).get("x-first-death-queue"), None);
    }

    #[test]
    fn x_death_entries_repeated_by_a_client_are_merged() {
        let old_entry = |queue: &str, count: Option<i64>| {
            let mut fields = FieldTable::new();
            fields.insert("queue".to_owned(), FieldValue::string(queue));
            fields.insert("reason".to_owned(), FieldValue::string("expired"));
            if let Some(count) = count {
                fields.insert("count".to_owned(), FieldValue::I64(count));
            }
            FieldValue::Table(fields)
        };
        let mut headers = FieldTable::new();
        let written = vec![
            old_entry("a", None),
            old_entry("b", Some(4)),
            old_entry("a", None),
            old_entry("a", Some(9)),
        ];
        headers.insert(X_DEATH.to_owned(), FieldValue::Array(written));
        let dead = die(&with_headers(headers), "c", DeadLetterReason::Expired);
        // The first "a" stands for the three, and had no count of its own.
        assert_eq!(
            history(&dead),
            vec![
                entry("c", "expired", 1),
                entry("a", "expired", 3),
                entry("b", "expired", 4)
            ]
        );
    }

    #[test]
    fn rejected_death_is_never_a_cycle() {
        let dead = die(&published(), "q", DeadLetterReason::Rejected);
        assert!(!is_cycle(&dead, DeadLetterReason::Rejected, "q"));
    }

    #[test]
    fn message_without_x_death_is_not_a_cycle() {
        assert!(!is_cycle(&published(), DeadLetterReason::Expired, "q"));
        let mut headers = FieldTable::new();
        headers.insert(X_DEATH.to_owned(), FieldValue::I64(1));
        assert!(!is_cycle(
            &with_headers(headers),
            DeadLetterReason::Expired,
            "q"
        ));
    }

    #[test]
    fn queue_not_in_x_death_is_not_a_cycle() {
        let dead = die(&published(), "q", DeadLetterReason::Expired);
        assert!(!is_cycle(&dead, DeadLetterReason::Expired, "other"));
    }

    #[test]
    fn self_dead_lettering_expired_message_is_a_cycle() {
        let dead = die(&published(), "q", DeadLetterReason::Expired);
        assert!(is_cycle(&dead, DeadLetterReason::Expired, "q"));
        let dead = die(&published(), "q", DeadLetterReason::MaxLen);
        assert!(is_cycle(&dead, DeadLetterReason::MaxLen, "q"));
        let dead = die(&published(), "q", DeadLetterReason::DeliveryLimit);
        assert!(is_cycle(&dead, DeadLetterReason::DeliveryLimit, "q"));
    }

    #[test]
    fn other_queue_on_same_dead_letter_exchange_gets_expired_message_once() {
        // q and other are both bound to q's dead-letter exchange, and both
        // dead-letter to it on expiry.
        let from_q = die(&published(), "q", DeadLetterReason::Expired);
        assert!(is_cycle(&from_q, DeadLetterReason::Expired, "q"));
        assert!(!is_cycle(&from_q, DeadLetterReason::Expired, "other"));
        let from_other = die(&from_q, "other", DeadLetterReason::Expired);
        assert!(is_cycle(&from_other, DeadLetterReason::Expired, "q"));
        assert!(is_cycle(&from_other, DeadLetterReason::Expired, "other"));
    }

    #[test]
    fn rejected_in_cycle_breaks_cycle_detection() {
        // work rejects into retry; retry's TTL dead-letters back into work.
        let rejected = die(&published(), "work", DeadLetterReason::Rejected);
        assert!(!is_cycle(&rejected, DeadLetterReason::Rejected, "retry"));
        let retried = die(&rejected, "retry", DeadLetterReason::Expired);
        assert!(!is_cycle(&retried, DeadLetterReason::Expired, "work"));
    }

    #[test]
    fn reject_retry_loop_keeps_working() {
        let mut message = published();
        for round in 1..=5 {
            message = die(&message, "work", DeadLetterReason::Rejected);
            assert!(!is_cycle(&message, DeadLetterReason::Rejected, "retry"));
            message = die(&message, "retry", DeadLetterReason::Expired);
            assert!(
                !is_cycle(&message, DeadLetterReason::Expired, "work"),
                "round {round}"
            );
            assert_eq!(
                history(&message),
                vec![
                    entry("retry", "expired", round),
                    entry("work", "rejected", round)
                ]
            );
        }
    }

    #[test]
    fn automatic_loop_through_two_queues_is_a_cycle() {
        let from_a = die(&published(), "a", DeadLetterReason::Expired);
        assert!(!is_cycle(&from_a, DeadLetterReason::Expired, "b"));
        let from_b = die(&from_a, "b", DeadLetterReason::MaxLen);
        assert!(is_cycle(&from_b, DeadLetterReason::MaxLen, "a"));
    }

    #[test]
    fn rejection_older_than_the_cycle_does_not_break_it() {
        // A rejection in q, then q's expiry loop: the entries up to q's first
        // (newest) one hold no rejection.
        let rejected = die(&published(), "q", DeadLetterReason::Rejected);
        let expired = die(&rejected, "q", DeadLetterReason::Expired);
        assert!(is_cycle(&expired, DeadLetterReason::Expired, "q"));
    }

    #[test]
    fn entry_a_client_wrote_breaks_cycle_detection() {
        let dead = die(&published(), "q", DeadLetterReason::Expired);
        let mut properties = (**dead.properties()).clone();
        let headers = Arc::make_mut(
            properties
                .headers
                .as_mut()
                .expect("dead-lettered messages have headers"),
        );
        if let Some(FieldValue::Array(deaths)) = headers.get_mut(X_DEATH) {
            deaths.insert(0, FieldValue::string("not a table"));
        }
        let tampered = Message {
            envelope: Envelope::shared(
                dead.exchange().clone(),
                dead.routing_key().clone(),
                Arc::new(properties),
            ),
            ..dead
        };
        assert!(!is_cycle(&tampered, DeadLetterReason::Expired, "q"));
    }
}
