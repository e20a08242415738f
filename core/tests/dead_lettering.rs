//! SEMANTICS.md section 5, dead-lettering: the four reasons (and what does
//! not dead-letter), where the copy is published, what a missing dead-letter
//! exchange does, how the copy is rewritten (`expiration`, `redelivered`,
//! `x-death`, `x-first-death-*`), and the cycle rule.
//!
//! Unless a test says otherwise, queue `work` dead-letters to the topic
//! exchange `dlx`, which routes every key to queue `dlq`.

mod support;

use brokerlab_core::{
    Command, DeadLetterReason, DropReason, Event, FieldTable, FieldValue, MessageId, Properties,
};
use std::sync::Arc;
use support::{channel_answers, expiring, int, string, table, x_death, Delivered, Harness, Step};

/// Something a client does to its delivery, for table-driven tests.
type Settle = fn(&mut Harness) -> Step;

/// Gives the delivery with a tag back to its queue, for table-driven tests.
type GiveBack = fn(&mut Harness, u64) -> Step;

/// `work`'s dead-letter arguments plus `extra`.
fn dead_letter_args(extra: &[(&str, FieldValue)]) -> FieldTable {
    let mut arguments = table(extra);
    arguments.insert("x-dead-letter-exchange".into(), string("dlx"));
    arguments
}

/// Connection 1 (channel 1), topic exchange `dlx` routing everything to
/// `dlq`, and queue `work` with `arguments`.
fn with_work_queue(arguments: FieldTable) -> Harness {
    let mut broker = Harness::default();
    broker.connect(1);
    broker.declare_exchange(1, 1, "dlx", "topic").assert_ok();
    broker.declare(1, 1, "dlq", FieldTable::new()).assert_ok();
    broker.bind(1, 1, "dlq", "dlx", "#").assert_ok();
    broker.declare(1, 1, "work", arguments).assert_ok();
    broker
}

/// Publishes `body` to `queue` through the default exchange.
fn publish(broker: &mut Harness, queue: &str, body: &str) -> MessageId {
    publish_with(broker, queue, body, Properties::default())
}

fn publish_with(
    broker: &mut Harness,
    queue: &str,
    body: &str,
    properties: Properties,
) -> MessageId {
    let step = broker.publish_with(1, 1, "", queue, body, properties);
    step.assert_ok();
    published(&step)[0]
}

fn published(step: &Step) -> Vec<MessageId> {
    step.events()
        .into_iter()
        .filter_map(|event| match event {
            Event::Published { message, .. } => Some(message),
            _ => None,
        })
        .collect()
}

/// (message, queue, reason, exchange) of each `DeadLettered` event.
fn dead_lettered(step: &Step) -> Vec<(MessageId, String, DeadLetterReason, String)> {
    step.events()
        .into_iter()
        .filter_map(|event| match event {
            Event::DeadLettered {
                message,
                queue,
                reason,
                exchange,
            } => Some((message, queue.to_string(), reason, exchange.to_string())),
            _ => None,
        })
        .collect()
}

/// (message, queue, reason) of each `Dropped` event.
fn dropped(step: &Step) -> Vec<(MessageId, Option<String>, DropReason)> {
    step.events()
        .into_iter()
        .filter_map(|event| match event {
            Event::Dropped {
                message,
                queue,
                reason,
            } => Some((message, queue.map(|q| q.to_string()), reason)),
            _ => None,
        })
        .collect()
}

/// Takes the next message of `queue` with basic.get (no-ack) on connection 1;
/// panics when the queue is empty.
fn take(broker: &mut Harness, queue: &str) -> Delivered {
    let step = broker.get(1, 1, queue, true);
    step.deliveries()
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("a message in {queue}: {step:#?}"))
}

/// Takes the next message of `queue` with basic.get (ack mode) on connection
/// 2 and rejects it without requeue.
fn get_and_reject(broker: &mut Harness, queue: &str) -> Step {
    let get = broker.get(2, 1, queue, false);
    let tag = get
        .deliveries()
        .first()
        .unwrap_or_else(|| panic!("a message in {queue}: {get:#?}"))
        .tag;
    let step = broker.reject(2, 1, tag, false);
    step.assert_ok();
    step
}

/// A header of a delivered message.
fn header<'a>(delivered: &'a Delivered, name: &str) -> Option<&'a FieldValue> {
    delivered.message.properties().headers.as_ref()?.get(name)
}

/// (queue, reason, count) of each x-death entry, newest first.
fn deaths(delivered: &Delivered) -> Vec<(String, String, i64)> {
    x_death(&delivered.message)
        .iter()
        .map(|entry| {
            let text = |name: &str| {
                entry
                    .get(name)
                    .and_then(FieldValue::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            let count = entry
                .get("count")
                .and_then(FieldValue::as_integer)
                .unwrap_or(-1);
            (text("queue"), text("reason"), i64::try_from(count).unwrap())
        })
        .collect()
}

fn death(queue: &str, reason: &str, count: i64) -> (String, String, i64) {
    (queue.to_owned(), reason.to_owned(), count)
}

/// A basic.publish to `exchange` with `key`.
fn publish_to(broker: &mut Harness, exchange: &str, key: &str, body: &str) -> MessageId {
    let step = broker.publish(1, 1, exchange, key, body);
    step.assert_ok();
    published(&step)[0]
}

#[test]
fn rejecting_without_requeue_dead_letters_with_reason_rejected() {
    let settles: [(&str, Settle); 4] = [
        ("basic.reject", |broker| broker.reject(2, 1, 1, false)),
        ("basic.nack", |broker| broker.nack(2, 1, 1, false, false)),
        ("basic.nack multiple", |broker| {
            broker.nack(2, 1, 1, true, false)
        }),
        ("basic.nack tag 0 multiple", |broker| {
            broker.nack(2, 1, 0, true, false)
        }),
    ];
    for (case, settle) in settles {
        let mut broker = with_work_queue(dead_letter_args(&[]));
        let id = publish(&mut broker, "work", "m");
        broker.connect(2);
        broker.get(2, 1, "work", false).assert_ok();
        let step = settle(&mut broker);
        step.assert_ok();
        let expected = (
            id,
            "work".to_owned(),
            DeadLetterReason::Rejected,
            "dlx".to_owned(),
        );
        assert_eq!(dead_lettered(&step), vec![expected], "{case}: {step:#?}");
        let delivered = take(&mut broker, "dlq");
        assert_eq!(
            deaths(&delivered),
            vec![death("work", "rejected", 1)],
            "{case}"
        );
    }
}

#[test]
fn rejecting_a_consumer_delivery_dead_letters_it() {
    let mut broker = with_work_queue(dead_letter_args(&[]));
    broker.connect(2);
    broker.consume(2, 1, "work", "c", false).assert_ok();
    publish(&mut broker, "work", "m");
    broker.connect(3);
    let watcher = broker.consume(3, 1, "dlq", "w", true);
    assert!(watcher.deliveries().is_empty());
    let step = broker.reject(2, 1, 1, false);
    assert_eq!(
        step.bodies(),
        vec!["m"],
        "the dead-lettered copy reaches dlq's consumer: {step:#?}"
    );
}

#[test]
fn requeue_does_not_dead_letter() {
    for requeue in [
        |broker: &mut Harness| broker.reject(2, 1, 1, true),
        |broker: &mut Harness| broker.send(2, 1, Command::ChannelClose),
    ] {
        let mut broker = with_work_queue(dead_letter_args(&[]));
        publish(&mut broker, "work", "m");
        broker.connect(2);
        broker.get(2, 1, "work", false).assert_ok();
        let step = requeue(&mut broker);
        assert!(dead_lettered(&step).is_empty(), "{step:#?}");
        assert_eq!(broker.ready_count(1, 1, "dlq"), 0);
        assert_eq!(broker.ready_count(1, 1, "work"), 1);
    }
}

#[test]
fn expired_message_is_dead_lettered_with_reason_expired() {
    // (case, queue TTL, message expiration, when it expires)
    let cases = [
        ("message expiration", None, Some("100"), 100),
        ("queue x-message-ttl", Some(100), None, 100),
        ("the lower of the two: message", Some(300), Some("100"), 100),
        ("the lower of the two: queue", Some(100), Some("300"), 100),
    ];
    for (case, queue_ttl_ms, expiration, ttl_ms) in cases {
        let mut extra = Vec::new();
        if let Some(ms) = queue_ttl_ms {
            extra.push(("x-message-ttl", int(ms)));
        }
        let mut broker = with_work_queue(dead_letter_args(&extra));
        let properties = Properties {
            expiration: expiration.map(str::to_owned),
            ..Properties::default()
        };
        let id = publish_with(&mut broker, "work", "m", properties);
        let early = broker.run_for(ttl_ms - 1);
        assert!(dead_lettered(&early).is_empty(), "{case}: {early:#?}");
        let step = broker.run_for(1);
        let expected = (
            id,
            "work".to_owned(),
            DeadLetterReason::Expired,
            "dlx".to_owned(),
        );
        assert_eq!(dead_lettered(&step), vec![expected], "{case}: {step:#?}");
        let delivered = take(&mut broker, "dlq");
        assert_eq!(
            deaths(&delivered),
            vec![death("work", "expired", 1)],
            "{case}"
        );
        assert_eq!(broker.ready_count(1, 1, "work"), 0, "{case}");
    }
}

#[test]
fn expiry_emits_expired_then_dead_lettered_then_enqueued() {
    let mut broker = with_work_queue(dead_letter_args(&[("x-message-ttl", int(100))]));
    let id = publish(&mut broker, "work", "m");
    let step = broker.run_for(100);
    let trail: Vec<Event> = step
        .events()
        .into_iter()
        .filter(|event| {
            matches!(
                event,
                Event::Expired { .. } | Event::DeadLettered { .. } | Event::Enqueued { .. }
            )
        })
        .collect();
    let expected = vec![
        Event::Expired {
            message: id,
            queue: "work".into(),
        },
        Event::DeadLettered {
            message: id,
            queue: "work".into(),
            reason: DeadLetterReason::Expired,
            exchange: "dlx".into(),
        },
        Event::Enqueued {
            message: id,
            queue: "dlq".into(),
        },
    ];
    assert_eq!(trail, expected);
}

#[test]
fn maxlen_drop_head_dead_letters_the_oldest_with_reason_maxlen() {
    let cases = [("x-max-length", int(2)), ("x-max-length-bytes", int(2))];
    for (limit, value) in cases {
        let mut broker = with_work_queue(dead_letter_args(&[(limit, value)]));
        let a = publish(&mut broker, "work", "a");
        publish(&mut broker, "work", "b");
        let step = broker.publish(1, 1, "", "work", "c");
        let expected = (
            a,
            "work".to_owned(),
            DeadLetterReason::MaxLen,
            "dlx".to_owned(),
        );
        assert_eq!(dead_lettered(&step), vec![expected], "{limit}: {step:#?}");
        let delivered = take(&mut broker, "dlq");
        assert_eq!(delivered.body_str(), "a", "{limit}");
        assert_eq!(
            deaths(&delivered),
            vec![death("work", "maxlen", 1)],
            "{limit}"
        );
        assert_eq!(broker.drain("work"), vec!["b", "c"], "{limit}");
    }
}

#[test]
fn maxlen_reject_publish_dlx_dead_letters_the_refused_message_with_reason_maxlen() {
    let arguments = dead_letter_args(&[
        ("x-max-length", int(1)),
        ("x-overflow", string("reject-publish-dlx")),
    ]);
    let mut broker = with_work_queue(arguments);
    let step = broker.send(1, 1, Command::ConfirmSelect);
    step.assert_ok();
    publish(&mut broker, "work", "a");
    let refused = broker.publish(1, 1, "", "work", "b");
    let b = published(&refused)[0];
    assert_eq!(
        refused.confirms(),
        vec![(2, false)],
        "the publisher is nacked: {refused:#?}"
    );
    let expected = (
        b,
        "work".to_owned(),
        DeadLetterReason::MaxLen,
        "dlx".to_owned(),
    );
    assert_eq!(dead_lettered(&refused), vec![expected]);
    let delivered = take(&mut broker, "dlq");
    assert_eq!(delivered.body_str(), "b");
    assert_eq!(deaths(&delivered), vec![death("work", "maxlen", 1)]);
    assert_eq!(broker.drain("work"), vec!["a"]);
}

#[test]
fn reject_publish_overflow_does_not_dead_letter() {
    let arguments = dead_letter_args(&[
        ("x-max-length", int(1)),
        ("x-overflow", string("reject-publish")),
    ]);
    let mut broker = with_work_queue(arguments);
    publish(&mut broker, "work", "a");
    let refused = broker.publish(1, 1, "", "work", "b");
    assert!(dead_lettered(&refused).is_empty(), "{refused:#?}");
    assert_eq!(broker.ready_count(1, 1, "dlq"), 0);
}

#[test]
fn requeue_into_a_full_drop_head_queue_dead_letters_with_reason_maxlen() {
    let mut broker = with_work_queue(dead_letter_args(&[("x-max-length", int(2))]));
    let a = publish(&mut broker, "work", "a");
    publish(&mut broker, "work", "b");
    broker.connect(2);
    assert_eq!(broker.get(2, 1, "work", false).bodies(), vec!["a"]);
    publish(&mut broker, "work", "c");
    let step = broker.reject(2, 1, 1, true);
    let expected = (
        a,
        "work".to_owned(),
        DeadLetterReason::MaxLen,
        "dlx".to_owned(),
    );
    assert_eq!(
        dead_lettered(&step),
        vec![expected],
        "the requeued head overflows at once: {step:#?}"
    );
    assert_eq!(broker.drain("work"), vec!["b", "c"]);
    assert_eq!(broker.drain("dlq"), vec!["a"]);
}

#[test]
fn delivery_limit_dead_letters_with_reason_delivery_limit() {
    // (case, how the delivery with a tag goes back, whether that closes the channel)
    let returns: [(&str, GiveBack, bool); 3] = [
        (
            "reject requeue",
            |broker, tag| broker.reject(2, 1, tag, true),
            false,
        ),
        (
            "nack requeue",
            |broker, tag| broker.nack(2, 1, tag, false, true),
            false,
        ),
        (
            "channel close",
            |broker, _| broker.send(2, 1, Command::ChannelClose),
            true,
        ),
    ];
    for (case, give_back, closes) in returns {
        let mut broker = with_work_queue(dead_letter_args(&[("x-delivery-limit", int(1))]));
        let id = publish(&mut broker, "work", "m");
        broker.connect(2);
        broker.get(2, 1, "work", false).assert_ok();
        let first = give_back(&mut broker, 1);
        assert!(
            dead_lettered(&first).is_empty(),
            "{case}: returned once, within the limit"
        );
        if closes {
            broker.open(2, 1);
        }
        let again = broker.get(2, 1, "work", false);
        let delivered = &again.deliveries()[0];
        assert!(delivered.redelivered, "{case}");
        assert_eq!(
            header(delivered, "x-delivery-count"),
            Some(&int(1)),
            "{case}"
        );
        let second = give_back(&mut broker, delivered.tag);
        let expected = (
            id,
            "work".to_owned(),
            DeadLetterReason::DeliveryLimit,
            "dlx".to_owned(),
        );
        assert_eq!(
            dead_lettered(&second),
            vec![expected],
            "{case}: {second:#?}"
        );
        assert_eq!(broker.ready_count(1, 1, "work"), 0, "{case}");
        let dead = take(&mut broker, "dlq");
        assert_eq!(
            deaths(&dead),
            vec![death("work", "delivery_limit", 1)],
            "{case}"
        );
    }
}

#[test]
fn delivery_limit_zero_dead_letters_on_the_first_return() {
    let mut broker = with_work_queue(dead_letter_args(&[("x-delivery-limit", int(0))]));
    publish(&mut broker, "work", "m");
    broker.connect(2);
    broker.get(2, 1, "work", false).assert_ok();
    let step = broker.reject(2, 1, 1, true);
    assert_eq!(dead_lettered(&step).len(), 1, "{step:#?}");
    assert_eq!(broker.drain("dlq"), vec!["m"]);
}

#[test]
fn queue_deletion_does_not_dead_letter() {
    let mut broker = with_work_queue(dead_letter_args(&[]));
    let ids = [
        publish(&mut broker, "work", "a"),
        publish(&mut broker, "work", "b"),
    ];
    broker.connect(2);
    broker.get(2, 1, "work", false).assert_ok();
    let delete = broker.send(
        1,
        1,
        Command::QueueDelete {
            queue: "work".into(),
            if_unused: false,
            if_empty: false,
        },
    );
    delete.assert_ok();
    assert!(dead_lettered(&delete).is_empty(), "{delete:#?}");
    assert_eq!(
        dropped(&delete),
        vec![(ids[1], Some("work".to_owned()), DropReason::QueueDeleted)]
    );
    let reject = broker.reject(2, 1, 1, false);
    reject.assert_ok();
    assert!(
        dead_lettered(&reject).is_empty(),
        "a delivery of a deleted queue is not dead-lettered: {reject:#?}"
    );
    assert_eq!(broker.ready_count(1, 1, "dlq"), 0);
}

#[test]
fn queue_expiry_does_not_dead_letter() {
    let mut broker = with_work_queue(dead_letter_args(&[("x-expires", int(1_000))]));
    publish(&mut broker, "work", "a");
    let step = broker.run_for(5_000);
    assert!(dead_lettered(&step).is_empty(), "{step:#?}");
    assert!(
        dropped(&step)
            .iter()
            .any(|(_, queue, reason)| queue.as_deref() == Some("work")
                && *reason == DropReason::QueueDeleted),
        "{step:#?}"
    );
    broker.open(1, 2);
    broker
        .send(1, 2, support::passive_declare("work"))
        .assert_channel_error(brokerlab_core::ReplyCode::NotFound);
    assert_eq!(broker.ready_count(1, 1, "dlq"), 0);
}

#[test]
fn purge_does_not_dead_letter() {
    let mut broker = with_work_queue(dead_letter_args(&[]));
    publish(&mut broker, "work", "a");
    let step = broker.send(
        1,
        1,
        Command::QueuePurge {
            queue: "work".into(),
        },
    );
    assert!(dead_lettered(&step).is_empty(), "{step:#?}");
    assert_eq!(broker.ready_count(1, 1, "dlq"), 0);
}

#[test]
fn dead_letter_routing_key_routes_while_x_death_keeps_the_original_key() {
    let mut broker = Harness::default();
    broker.connect(1);
    broker.declare_exchange(1, 1, "dlx", "direct").assert_ok();
    broker.declare(1, 1, "dead", FieldTable::new()).assert_ok();
    broker
        .declare(1, 1, "by-original-key", FieldTable::new())
        .assert_ok();
    broker.bind(1, 1, "dead", "dlx", "dead-key").assert_ok();
    broker
        .bind(1, 1, "by-original-key", "dlx", "work")
        .assert_ok();
    let arguments = dead_letter_args(&[("x-dead-letter-routing-key", string("dead-key"))]);
    broker.declare(1, 1, "work", arguments).assert_ok();
    publish(&mut broker, "work", "m");
    broker.connect(2);
    get_and_reject(&mut broker, "work");
    let delivered = take(&mut broker, "dead");
    assert_eq!(delivered.message.exchange().as_str(), "dlx");
    assert_eq!(delivered.message.routing_key().as_str(), "dead-key");
    let entry = &x_death(&delivered.message)[0];
    assert_eq!(
        entry.get("routing-keys"),
        Some(&FieldValue::Array(vec![string("work")]))
    );
    assert_eq!(entry.get("exchange"), Some(&string("")));
    assert_eq!(broker.ready_count(1, 1, "by-original-key"), 0);
}

#[test]
fn dead_letter_keeps_the_original_routing_key_without_x_dead_letter_routing_key() {
    let mut broker = Harness::default();
    broker.connect(1);
    broker.declare_exchange(1, 1, "dlx", "direct").assert_ok();
    broker.declare(1, 1, "dead", FieldTable::new()).assert_ok();
    broker
        .declare(1, 1, "other-key", FieldTable::new())
        .assert_ok();
    broker
        .bind(1, 1, "dead", "dlx", "orders.created")
        .assert_ok();
    broker.bind(1, 1, "other-key", "dlx", "work").assert_ok();
    broker
        .declare(1, 1, "work", dead_letter_args(&[]))
        .assert_ok();
    broker
        .bind(1, 1, "work", "amq.direct", "orders.created")
        .assert_ok();
    publish_to(&mut broker, "amq.direct", "orders.created", "m");
    broker.connect(2);
    get_and_reject(&mut broker, "work");
    let delivered = take(&mut broker, "dead");
    assert_eq!(delivered.message.exchange().as_str(), "dlx");
    assert_eq!(delivered.message.routing_key().as_str(), "orders.created");
    assert_eq!(broker.ready_count(1, 1, "other-key"), 0);
}

#[test]
fn dead_letter_to_the_default_exchange_routes_by_queue_name() {
    let mut broker = Harness::default();
    broker.connect(1);
    broker.declare(1, 1, "dlq", FieldTable::new()).assert_ok();
    let arguments = table(&[
        ("x-dead-letter-exchange", string("")),
        ("x-dead-letter-routing-key", string("dlq")),
    ]);
    broker.declare(1, 1, "work", arguments).assert_ok();
    let id = publish(&mut broker, "work", "m");
    broker.connect(2);
    let step = get_and_reject(&mut broker, "work");
    assert_eq!(
        dead_lettered(&step),
        vec![(
            id,
            "work".to_owned(),
            DeadLetterReason::Rejected,
            String::new()
        )]
    );
    let delivered = take(&mut broker, "dlq");
    assert_eq!(delivered.message.exchange().as_str(), "");
    assert_eq!(delivered.message.routing_key().as_str(), "dlq");
}

#[test]
fn dead_lettered_copy_goes_to_every_queue_the_dead_letter_exchange_routes_to() {
    let mut broker = with_work_queue(dead_letter_args(&[]));
    broker.declare(1, 1, "audit", FieldTable::new()).assert_ok();
    broker.bind(1, 1, "audit", "dlx", "work").assert_ok();
    let id = publish(&mut broker, "work", "m");
    broker.connect(2);
    let step = get_and_reject(&mut broker, "work");
    let mut enqueued: Vec<String> = step
        .events()
        .into_iter()
        .filter_map(|event| match event {
            Event::Enqueued { message, queue } if message == id => Some(queue.to_string()),
            _ => None,
        })
        .collect();
    enqueued.sort();
    assert_eq!(enqueued, vec!["audit", "dlq"]);
}

#[test]
fn missing_dead_letter_exchange_drops_the_message() {
    let reasons: [(DeadLetterReason, &[(&str, FieldValue)]); 5] = [
        (DeadLetterReason::Rejected, &[]),
        (
            DeadLetterReason::Expired,
            &[("x-message-ttl", FieldValue::I64(100))],
        ),
        (
            DeadLetterReason::MaxLen,
            &[("x-max-length", FieldValue::I64(0))],
        ),
        (
            DeadLetterReason::MaxLen,
            &[
                ("x-max-length", FieldValue::I64(0)),
                ("x-overflow", FieldValue::string("reject-publish-dlx")),
            ],
        ),
        (
            DeadLetterReason::DeliveryLimit,
            &[("x-delivery-limit", FieldValue::I64(0))],
        ),
    ];
    for (reason, extra) in reasons {
        let mut broker = Harness::default();
        broker.connect(1);
        let mut arguments = table(extra);
        arguments.insert("x-dead-letter-exchange".into(), string("no-such-exchange"));
        broker.declare(1, 1, "work", arguments).assert_ok();
        broker.connect(2);
        let publish_step = broker.publish(1, 1, "", "work", "m");
        let id = published(&publish_step)[0];
        let mut all = publish_step;
        match reason {
            DeadLetterReason::Rejected => all.extend(get_and_reject(&mut broker, "work")),
            DeadLetterReason::Expired => all.extend(broker.run_for(1_000)),
            DeadLetterReason::MaxLen => {}
            DeadLetterReason::DeliveryLimit => {
                broker.get(2, 1, "work", false).assert_ok();
                all.extend(broker.reject(2, 1, 1, true));
            }
        }
        all.assert_ok();
        let expected = (
            id,
            Some("work".to_owned()),
            DropReason::DeadLetterExchangeMissing(reason),
        );
        assert_eq!(
            dropped(&all),
            vec![expected],
            "{reason:?} {extra:?}: {all:#?}"
        );
        assert_eq!(
            broker
                .broker
                .dropped_count(DropReason::DeadLetterExchangeMissing(reason)),
            1,
            "a counter records it beside the event"
        );
        assert!(
            dead_lettered(&all).is_empty(),
            "{reason:?}: nothing reached a dead-letter exchange"
        );
        assert!(
            channel_answers(&mut broker, 1, 1),
            "{reason:?}: the broker carries on"
        );
        assert_eq!(broker.ready_count(1, 1, "work"), 0, "{reason:?}");
    }
}

#[test]
fn dead_letter_exchange_deleted_after_declare_drops_the_message() {
    let mut broker = with_work_queue(dead_letter_args(&[]));
    broker
        .send(
            1,
            1,
            Command::ExchangeDelete {
                exchange: "dlx".into(),
                if_unused: false,
            },
        )
        .assert_ok();
    let id = publish(&mut broker, "work", "m");
    broker.connect(2);
    let step = get_and_reject(&mut broker, "work");
    let expected = (
        id,
        Some("work".to_owned()),
        DropReason::DeadLetterExchangeMissing(DeadLetterReason::Rejected),
    );
    assert_eq!(dropped(&step), vec![expected]);
    assert!(dead_lettered(&step).is_empty());
}

#[test]
fn queue_without_dead_letter_exchange_drops_the_message() {
    let mut broker = with_work_queue(FieldTable::new());
    let id = publish(&mut broker, "work", "m");
    broker.connect(2);
    let step = get_and_reject(&mut broker, "work");
    let expected = (
        id,
        Some("work".to_owned()),
        DropReason::NoDeadLetterExchange(DeadLetterReason::Rejected),
    );
    assert_eq!(dropped(&step), vec![expected]);
}

#[test]
fn dead_letter_exchange_that_routes_nowhere_drops_the_message() {
    let mut broker = Harness::default();
    broker.connect(1);
    broker.declare_exchange(1, 1, "dlx", "direct").assert_ok();
    broker
        .declare(1, 1, "work", dead_letter_args(&[]))
        .assert_ok();
    let id = publish(&mut broker, "work", "m");
    broker.connect(2);
    let step = get_and_reject(&mut broker, "work");
    let drops = dropped(&step);
    assert_eq!(drops.len(), 1, "{step:#?}");
    assert_eq!(drops[0].0, id);
    assert_eq!(drops[0].2, DropReason::Unroutable);
}

#[test]
fn expiration_is_removed_and_kept_as_original_expiration() {
    for reason in ["rejected", "expired"] {
        let mut broker = with_work_queue(dead_letter_args(&[]));
        publish_with(&mut broker, "work", "m", expiring("60000"));
        if reason == "rejected" {
            broker.connect(2);
            get_and_reject(&mut broker, "work");
        } else {
            broker.run_for(60_000);
        }
        let delivered = take(&mut broker, "dlq");
        assert_eq!(delivered.message.properties().expiration, None, "{reason}");
        let entry = &x_death(&delivered.message)[0];
        assert_eq!(entry.get("reason"), Some(&string(reason)));
        assert_eq!(
            entry.get("original-expiration"),
            Some(&string("60000")),
            "{reason}"
        );
    }
}

#[test]
fn x_death_has_no_original_expiration_without_an_expiration_property() {
    let mut broker = with_work_queue(dead_letter_args(&[("x-message-ttl", int(100))]));
    publish(&mut broker, "work", "m");
    broker.run_for(100);
    let delivered = take(&mut broker, "dlq");
    assert!(!x_death(&delivered.message)[0].contains_key("original-expiration"));
}

#[test]
fn dead_lettered_message_does_not_expire_again_without_a_ttl() {
    let mut broker = with_work_queue(dead_letter_args(&[]));
    publish_with(&mut broker, "work", "m", expiring("100"));
    broker.run_for(100);
    let later = broker.run_for(3_600_000);
    assert!(
        !later
            .events()
            .iter()
            .any(|event| matches!(event, Event::Expired { .. })),
        "{later:#?}"
    );
    assert_eq!(broker.drain("dlq"), vec!["m"]);
}

#[test]
fn dead_lettered_message_arrives_with_redelivered_false() {
    let mut broker = with_work_queue(dead_letter_args(&[]));
    publish(&mut broker, "work", "m");
    broker.connect(2);
    broker.get(2, 1, "work", false).assert_ok();
    broker.reject(2, 1, 1, true).assert_ok();
    let again = broker.get(2, 1, "work", false);
    assert!(
        again.deliveries()[0].redelivered,
        "the work queue redelivered it"
    );
    broker.connect(3);
    broker.consume(3, 1, "dlq", "c", false).assert_ok();
    let step = broker.reject(2, 1, 2, false);
    let deliveries = step.deliveries();
    assert_eq!(deliveries.len(), 1, "{step:#?}");
    assert!(!deliveries[0].redelivered);
    assert!(step.events().iter().any(|event| matches!(event, Event::Delivered { queue, redelivered: false, .. } if &**queue == "dlq")));
}

#[test]
fn x_death_entry_has_queue_reason_count_time_exchange_and_routing_keys() {
    let mut broker = with_work_queue(dead_letter_args(&[]));
    broker
        .bind(1, 1, "work", "amq.topic", "orders.*")
        .assert_ok();
    publish_to(&mut broker, "amq.topic", "orders.created", "m");
    broker.connect(2);
    broker.advance(5_000);
    get_and_reject(&mut broker, "work");
    let delivered = take(&mut broker, "dlq");
    let expected = table(&[
        ("count", FieldValue::I64(1)),
        ("queue", string("work")),
        ("reason", string("rejected")),
        ("time", FieldValue::Timestamp(broker.now_ms / 1_000)),
        ("exchange", string("amq.topic")),
        (
            "routing-keys",
            FieldValue::Array(vec![string("orders.created")]),
        ),
    ]);
    assert_eq!(x_death(&delivered.message), vec![expected]);
}

#[test]
fn x_death_lists_deaths_newest_first() {
    let mut broker = with_work_queue(dead_letter_args(&[]));
    // dlq itself expires into `final` through the default exchange.
    broker
        .send(
            1,
            1,
            Command::QueueDelete {
                queue: "dlq".into(),
                if_unused: false,
                if_empty: false,
            },
        )
        .assert_ok();
    let dlq_arguments = table(&[
        ("x-message-ttl", int(100)),
        ("x-dead-letter-exchange", string("")),
        ("x-dead-letter-routing-key", string("final")),
    ]);
    broker.declare(1, 1, "dlq", dlq_arguments).assert_ok();
    broker.bind(1, 1, "dlq", "dlx", "#").assert_ok();
    broker.declare(1, 1, "final", FieldTable::new()).assert_ok();
    publish(&mut broker, "work", "m");
    broker.connect(2);
    get_and_reject(&mut broker, "work");
    broker.run_for(100);
    let delivered = take(&mut broker, "final");
    assert_eq!(
        deaths(&delivered),
        vec![death("dlq", "expired", 1), death("work", "rejected", 1)]
    );
}

#[test]
fn x_death_counts_repeated_deaths_in_one_entry() {
    let mut broker = Harness::default();
    broker.connect(1);
    let arguments = table(&[
        ("x-dead-letter-exchange", string("")),
        ("x-dead-letter-routing-key", string("work")),
    ]);
    broker.declare(1, 1, "work", arguments).assert_ok();
    publish(&mut broker, "work", "m");
    broker.connect(2);
    for round in 1..=3 {
        let step = get_and_reject(&mut broker, "work");
        assert_eq!(
            dead_lettered(&step).len(),
            1,
            "round {round}: a rejected death never cycles"
        );
    }
    let delivered = take(&mut broker, "work");
    assert_eq!(deaths(&delivered), vec![death("work", "rejected", 3)]);
}

#[test]
fn x_death_repeated_death_moves_to_the_front() {
    let mut broker = Harness::default();
    broker.connect(1);
    let to = |queue: &str| {
        table(&[
            ("x-dead-letter-exchange", string("")),
            ("x-dead-letter-routing-key", string(queue)),
        ])
    };
    broker.declare(1, 1, "a", to("b")).assert_ok();
    broker.declare(1, 1, "b", to("a")).assert_ok();
    publish(&mut broker, "a", "m");
    broker.connect(2);
    get_and_reject(&mut broker, "a");
    get_and_reject(&mut broker, "b");
    let step = broker.get(2, 1, "a", false);
    assert_eq!(
        deaths(&step.deliveries()[0]),
        vec![death("b", "rejected", 1), death("a", "rejected", 1)]
    );
    let tag = step.deliveries()[0].tag;
    broker.reject(2, 1, tag, false).assert_ok();
    let delivered = take(&mut broker, "b");
    assert_eq!(
        deaths(&delivered),
        vec![death("a", "rejected", 2), death("b", "rejected", 1)]
    );
}

#[test]
fn x_first_death_headers_are_set_once() {
    let mut broker = Harness::default();
    broker.connect(1);
    let to = |queue: &str| {
        table(&[
            ("x-dead-letter-exchange", string("")),
            ("x-dead-letter-routing-key", string(queue)),
        ])
    };
    broker.declare(1, 1, "a", to("b")).assert_ok();
    let mut b_arguments = to("c");
    b_arguments.insert("x-message-ttl".into(), int(100));
    broker.declare(1, 1, "b", b_arguments).assert_ok();
    broker.declare(1, 1, "c", FieldTable::new()).assert_ok();
    broker.bind(1, 1, "a", "amq.direct", "to-a").assert_ok();
    publish_to(&mut broker, "amq.direct", "to-a", "m");
    broker.connect(2);
    get_and_reject(&mut broker, "a");
    let first = broker.get(2, 1, "b", false);
    let first = &first.deliveries()[0];
    assert_eq!(header(first, "x-first-death-queue"), Some(&string("a")));
    assert_eq!(
        header(first, "x-first-death-reason"),
        Some(&string("rejected"))
    );
    assert_eq!(
        header(first, "x-first-death-exchange"),
        Some(&string("amq.direct"))
    );
    broker.reject(2, 1, first.tag, true).assert_ok();
    broker.run_for(100);
    let last = take(&mut broker, "c");
    assert_eq!(
        deaths(&last),
        vec![death("b", "expired", 1), death("a", "rejected", 1)]
    );
    assert_eq!(header(&last, "x-first-death-queue"), Some(&string("a")));
    assert_eq!(
        header(&last, "x-first-death-reason"),
        Some(&string("rejected"))
    );
    assert_eq!(
        header(&last, "x-first-death-exchange"),
        Some(&string("amq.direct"))
    );
    assert_eq!(
        x_death(&last.message)[0].get("exchange"),
        Some(&string("")),
        "b got it from the default exchange"
    );
}

#[test]
fn other_properties_and_headers_survive_dead_lettering() {
    let headers = table(&[("app", string("value")), ("n", int(7))]);
    let properties = Properties {
        content_type: Some("text/plain".into()),
        headers: Some(Arc::new(headers.clone())),
        delivery_mode: Some(2),
        priority: Some(3),
        correlation_id: Some("corr".into()),
        reply_to: Some("replies".into()),
        expiration: Some("60000".into()),
        message_id: Some("id-1".into()),
        timestamp: Some(1_700_000_000),
        kind: Some("kind".into()),
        app_id: Some("app".into()),
        ..Properties::default()
    };
    let mut broker = with_work_queue(dead_letter_args(&[]));
    publish_with(&mut broker, "work", "body", properties.clone());
    broker.connect(2);
    get_and_reject(&mut broker, "work");
    let delivered = take(&mut broker, "dlq");
    let mut rewritten = (**delivered.message.properties()).clone();
    let mut rewritten_headers = FieldTable::clone(&rewritten.headers.take().expect("headers"));
    for name in [
        "x-death",
        "x-first-death-queue",
        "x-first-death-reason",
        "x-first-death-exchange",
    ] {
        assert!(rewritten_headers.remove(name).is_some(), "{name} added");
    }
    assert_eq!(rewritten_headers, headers, "application headers are kept");
    let expected = Properties {
        expiration: None,
        headers: None,
        ..properties
    };
    assert_eq!(rewritten, expected, "only expiration and headers change");
    assert_eq!(delivered.body_str(), "body");
}

#[test]
fn dead_lettering_keeps_the_message_id() {
    let mut broker = with_work_queue(dead_letter_args(&[]));
    let id = publish(&mut broker, "work", "m");
    broker.connect(2);
    let step = get_and_reject(&mut broker, "work");
    assert!(
        step.events().contains(&Event::Enqueued {
            message: id,
            queue: "dlq".into()
        }),
        "{step:#?}"
    );
    assert_eq!(take(&mut broker, "dlq").message.id, id);
}

#[test]
fn nack_multiple_dead_letters_each_message_in_order() {
    let mut broker = with_work_queue(dead_letter_args(&[]));
    for body in ["a", "b", "c"] {
        publish(&mut broker, "work", body);
    }
    broker.connect(2);
    for _ in 0..3 {
        broker.get(2, 1, "work", false).assert_ok();
    }
    let step = broker.nack(2, 1, 0, true, false);
    assert_eq!(dead_lettered(&step).len(), 3);
    assert_eq!(broker.drain("dlq"), vec!["a", "b", "c"]);
}

#[test]
fn self_dead_lettering_expired_messages_never_come_back() {
    let mut broker = Harness::default();
    broker.connect(1);
    let arguments = table(&[
        ("x-message-ttl", int(100)),
        ("x-dead-letter-exchange", string("")),
        ("x-dead-letter-routing-key", string("q")),
    ]);
    broker.declare(1, 1, "q", arguments).assert_ok();
    let id = publish(&mut broker, "q", "m");
    let step = broker.run_for(100);
    assert!(
        dropped(&step).contains(&(
            id,
            Some("q".to_owned()),
            DropReason::DeadLetterCycle(DeadLetterReason::Expired)
        )),
        "{step:#?}"
    );
    assert!(!step.events().contains(&Event::Enqueued {
        message: id,
        queue: "q".into()
    }));
    let later = broker.run_for(10_000);
    assert!(later.events().is_empty(), "nothing loops: {later:#?}");
    assert_eq!(broker.ready_count(1, 1, "q"), 0);
}

#[test]
fn another_queue_bound_to_the_same_dead_letter_exchange_gets_an_expired_message_once() {
    let mut broker = Harness::default();
    broker.connect(1);
    broker.declare_exchange(1, 1, "dlx", "fanout").assert_ok();
    let arguments = dead_letter_args(&[("x-message-ttl", int(100))]);
    broker.declare(1, 1, "q", arguments).assert_ok();
    broker.declare(1, 1, "other", FieldTable::new()).assert_ok();
    broker.bind(1, 1, "q", "dlx", "").assert_ok();
    broker.bind(1, 1, "other", "dlx", "").assert_ok();
    let id = publish(&mut broker, "q", "m");
    let step = broker.run_for(100);
    assert!(
        step.events().contains(&Event::Enqueued {
            message: id,
            queue: "other".into()
        }),
        "{step:#?}"
    );
    assert!(
        !step.events().contains(&Event::Enqueued {
            message: id,
            queue: "q".into()
        }),
        "{step:#?}"
    );
    broker.run_for(10_000);
    assert_eq!(broker.drain("other"), vec!["m"]);
    assert_eq!(broker.ready_count(1, 1, "q"), 0);
}

#[test]
fn automatic_expiry_loop_between_two_queues_ends() {
    let mut broker = Harness::default();
    broker.connect(1);
    let expiring_into = |queue: &str| {
        table(&[
            ("x-message-ttl", int(100)),
            ("x-dead-letter-exchange", string("")),
            ("x-dead-letter-routing-key", string(queue)),
        ])
    };
    broker.declare(1, 1, "a", expiring_into("b")).assert_ok();
    broker.declare(1, 1, "b", expiring_into("a")).assert_ok();
    let id = publish(&mut broker, "a", "m");
    let step = broker.run_for(10_000);
    let hops: Vec<String> = dead_lettered(&step)
        .into_iter()
        .map(|(_, queue, _, _)| queue)
        .collect();
    assert_eq!(
        hops,
        vec!["a", "b"],
        "a -> b, then b -> a would cycle: {step:#?}"
    );
    assert!(dropped(&step).contains(&(
        id,
        Some("b".to_owned()),
        DropReason::DeadLetterCycle(DeadLetterReason::Expired)
    )));
    assert_eq!(broker.ready_count(1, 1, "a"), 0);
    assert_eq!(broker.ready_count(1, 1, "b"), 0);
}

#[test]
fn self_dead_lettering_by_maxlen_is_dropped_as_a_cycle() {
    let mut broker = Harness::default();
    broker.connect(1);
    let arguments = table(&[
        ("x-max-length", int(1)),
        ("x-dead-letter-exchange", string("")),
        ("x-dead-letter-routing-key", string("q")),
    ]);
    broker.declare(1, 1, "q", arguments).assert_ok();
    let a = publish(&mut broker, "q", "a");
    let step = broker.publish(1, 1, "", "q", "b");
    assert!(
        dropped(&step).contains(&(
            a,
            Some("q".to_owned()),
            DropReason::DeadLetterCycle(DeadLetterReason::MaxLen)
        )),
        "{step:#?}"
    );
    assert_eq!(broker.drain("q"), vec!["b"]);
}

#[test]
fn rejected_self_dead_lettering_is_not_a_cycle() {
    let mut broker = Harness::default();
    broker.connect(1);
    let arguments = table(&[
        ("x-dead-letter-exchange", string("")),
        ("x-dead-letter-routing-key", string("q")),
    ]);
    broker.declare(1, 1, "q", arguments).assert_ok();
    let id = publish(&mut broker, "q", "m");
    broker.connect(2);
    let step = get_and_reject(&mut broker, "q");
    assert!(
        step.events().contains(&Event::Enqueued {
            message: id,
            queue: "q".into()
        }),
        "{step:#?}"
    );
    let delivered = take(&mut broker, "q");
    assert!(!delivered.redelivered);
    assert_eq!(deaths(&delivered), vec![death("q", "rejected", 1)]);
}

#[test]
fn reject_retry_loop_keeps_working_with_growing_x_death_counts() {
    let mut broker = Harness::default();
    broker.connect(1);
    let work = table(&[
        ("x-dead-letter-exchange", string("")),
        ("x-dead-letter-routing-key", string("retry")),
    ]);
    let retry = table(&[
        ("x-message-ttl", int(100)),
        ("x-dead-letter-exchange", string("")),
        ("x-dead-letter-routing-key", string("work")),
    ]);
    broker.declare(1, 1, "work", work).assert_ok();
    broker.declare(1, 1, "retry", retry).assert_ok();
    let id = publish(&mut broker, "work", "m");
    broker.connect(2);
    broker.consume(2, 1, "work", "worker", false).assert_ok();
    let mut tag = 1;
    for round in 1..=4_i64 {
        let reject = broker.reject(2, 1, tag, false);
        reject.assert_ok();
        assert!(
            reject.events().contains(&Event::Enqueued {
                message: id,
                queue: "retry".into()
            }),
            "round {round}"
        );
        let back = broker.run_for(100);
        let deliveries = back.deliveries();
        assert_eq!(
            deliveries.len(),
            1,
            "round {round}: back in the work queue: {back:#?}"
        );
        assert_eq!(deliveries[0].message.id, id);
        assert!(!deliveries[0].redelivered, "round {round}");
        assert_eq!(
            deaths(&deliveries[0]),
            vec![
                death("retry", "expired", round),
                death("work", "rejected", round)
            ],
            "round {round}"
        );
        tag = deliveries[0].tag;
    }
}

#[test]
fn x_delivery_count_is_exposed_on_redelivery() {
    let mut broker = with_work_queue(dead_letter_args(&[("x-delivery-limit", int(5))]));
    publish(&mut broker, "work", "m");
    broker.connect(2);
    let first = broker.get(2, 1, "work", false);
    assert_eq!(
        header(&first.deliveries()[0], "x-delivery-count"),
        None,
        "not on the first delivery"
    );
    for expected in 1..=2 {
        let tag = expected as u64;
        broker.reject(2, 1, tag, true).assert_ok();
        let again = broker.get(2, 1, "work", false);
        assert_eq!(
            header(&again.deliveries()[0], "x-delivery-count"),
            Some(&int(expected))
        );
    }
}

#[test]
fn automatic_loop_after_a_rejection_still_ends() {
    // a rejects into b; b and a then expire into each other. The rejection
    // lets the message back into a once, but the loop after it is automatic.
    let mut broker = Harness::default();
    broker.connect(1);
    let into = |queue: &str, ttl_ms: Option<i64>| {
        let mut arguments = table(&[
            ("x-dead-letter-exchange", string("")),
            ("x-dead-letter-routing-key", string(queue)),
        ]);
        if let Some(ms) = ttl_ms {
            arguments.insert("x-message-ttl".into(), int(ms));
        }
        arguments
    };
    broker
        .declare(1, 1, "a", into("b", Some(1_000)))
        .assert_ok();
    broker.declare(1, 1, "b", into("a", Some(100))).assert_ok();
    let id = publish(&mut broker, "a", "m");
    broker.connect(2);
    get_and_reject(&mut broker, "a");
    let step = broker.run_for(60_000);
    let hops: Vec<(String, DeadLetterReason)> = dead_lettered(&step)
        .into_iter()
        .map(|(_, queue, reason, _)| (queue, reason))
        .collect();
    assert_eq!(
        hops,
        vec![
            ("b".to_owned(), DeadLetterReason::Expired),
            ("a".to_owned(), DeadLetterReason::Expired)
        ],
        "{step:#?}"
    );
    let cycle = DropReason::DeadLetterCycle(DeadLetterReason::Expired);
    assert!(
        dropped(&step).contains(&(id, Some("a".to_owned()), cycle)),
        "{step:#?}"
    );
    assert_eq!(broker.ready_count(1, 1, "a"), 0);
    assert_eq!(broker.ready_count(1, 1, "b"), 0);
}

#[test]
fn x_last_death_headers_are_never_added() {
    // RabbitMQ 3.13 adds x-last-death-queue/-reason/-exchange; 3.10 does not.
    let mut broker = Harness::default();
    broker.connect(1);
    let to = |queue: &str| {
        table(&[
            ("x-dead-letter-exchange", string("")),
            ("x-dead-letter-routing-key", string(queue)),
        ])
    };
    broker.declare(1, 1, "a", to("b")).assert_ok();
    let mut b_arguments = to("c");
    b_arguments.insert("x-message-ttl".into(), int(100));
    broker.declare(1, 1, "b", b_arguments).assert_ok();
    broker.declare(1, 1, "c", FieldTable::new()).assert_ok();
    publish(&mut broker, "a", "m");
    broker.connect(2);
    get_and_reject(&mut broker, "a");
    broker.run_for(100);
    let delivered = take(&mut broker, "c");
    assert_eq!(
        deaths(&delivered),
        vec![death("b", "expired", 1), death("a", "rejected", 1)]
    );
    let headers = delivered
        .message
        .properties()
        .headers
        .as_ref()
        .expect("dead-lettering sets headers");
    let mut names: Vec<&str> = headers.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        vec![
            "x-death",
            "x-first-death-exchange",
            "x-first-death-queue",
            "x-first-death-reason"
        ]
    );
}
