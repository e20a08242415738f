//! SEMANTICS.md section 3, publishing: properties travel unchanged,
//! `mandatory` and `immediate`, publisher confirms (numbering, acks, nacks on
//! reject-publish overflow, the confirm/tx exclusion), the message size limit,
//! the `expiration` property, and transactions.
//!
//! Every test is named after the rule it checks and asserts the reply codes
//! as well as what the error closes (the channel or the whole connection).

mod support;

use brokerlab_core::{
    Command, Config, DropReason, Event, FieldTable, FieldValue, MessageId, Properties,
    PublishProperties, Reply, ReplyCode, SharedEnvelope,
};
use bytes::Bytes;
use std::sync::Arc;
use support::{channel_answers, expiring, int, priority, string, table, Harness, Step};

/// A basic.publish with every flag spelled out.
fn publish_command(
    exchange: &str,
    key: &str,
    body: Bytes,
    mandatory: bool,
    immediate: bool,
    properties: Properties,
) -> Command {
    Command::BasicPublish {
        exchange: exchange.into(),
        routing_key: key.into(),
        mandatory,
        immediate,
        properties: Arc::new(properties).into(),
        body,
    }
}

/// A mandatory publish with default properties.
fn mandatory(exchange: &str, key: &str, body: &str) -> Command {
    let body = Bytes::copy_from_slice(body.as_bytes());
    publish_command(exchange, key, body, true, false, Properties::default())
}

/// A broker with connection 1 (channel 1 open) and queue `name`.
fn with_queue(name: &str, arguments: FieldTable) -> Harness {
    let mut broker = Harness::default();
    broker.connect(1);
    broker.declare(1, 1, name, arguments).assert_ok();
    broker
}

/// Turns publisher confirms on and checks the select-ok.
fn confirm_select(broker: &mut Harness, conn: u64, channel: u16) {
    let step = broker.send(conn, channel, Command::ConfirmSelect);
    assert_eq!(step.replies(conn, channel), vec![Reply::ConfirmSelectOk]);
}

/// Turns transactions on and checks the select-ok.
fn tx_select(broker: &mut Harness, conn: u64, channel: u16) {
    let step = broker.send(conn, channel, Command::TxSelect);
    assert_eq!(step.replies(conn, channel), vec![Reply::TxSelectOk]);
}

/// The ids and confirm numbers of the `Published` events, in order.
fn published(step: &Step) -> Vec<(MessageId, Option<u64>)> {
    step.events()
        .into_iter()
        .filter_map(|event| match event {
            Event::Published {
                message,
                confirm_seq,
                ..
            } => Some((message, confirm_seq)),
            _ => None,
        })
        .collect()
}

/// The `Confirmed` events: (message, channel, seq, ack).
fn confirmed(step: &Step) -> Vec<(MessageId, u16, u64, bool)> {
    step.events()
        .into_iter()
        .filter_map(|event| match event {
            Event::Confirmed {
                message,
                channel,
                confirm_seq,
                ack,
                ..
            } => Some((message, channel.0, confirm_seq, ack)),
            _ => None,
        })
        .collect()
}

/// The queues named by `Enqueued` events, in order.
fn enqueued(step: &Step) -> Vec<String> {
    step.events()
        .into_iter()
        .filter_map(|event| match event {
            Event::Enqueued { queue, .. } => Some(queue.to_string()),
            _ => None,
        })
        .collect()
}

/// Every basic property set, headers of many field types included.
fn every_property() -> Properties {
    let headers = table(&[
        ("string", string("text")),
        ("long", int(-7)),
        ("int", FieldValue::I32(42)),
        ("byte", FieldValue::U8(255)),
        ("bool", FieldValue::Bool(true)),
        ("void", FieldValue::Void),
        ("float", FieldValue::F64(1.5f64.to_bits())),
        (
            "decimal",
            FieldValue::Decimal {
                scale: 2,
                value: 314,
            },
        ),
        ("timestamp", FieldValue::Timestamp(1_700_000_000)),
        (
            "bytes",
            FieldValue::ByteArray(Bytes::from_static(&[0, 1, 255])),
        ),
        (
            "array",
            FieldValue::Array(vec![int(1), string("two"), FieldValue::Void]),
        ),
        (
            "nested",
            FieldValue::Table(table(&[("inner", string("value"))])),
        ),
    ]);
    Properties {
        content_type: Some("application/json".into()),
        content_encoding: Some("gzip".into()),
        headers: Some(Arc::new(headers)),
        delivery_mode: Some(2),
        priority: Some(7),
        correlation_id: Some("correlation-1".into()),
        reply_to: Some("replies".into()),
        expiration: Some("60000".into()),
        message_id: Some("message-1".into()),
        timestamp: Some(1_700_000_000),
        kind: Some("order.created".into()),
        user_id: Some("guest".into()),
        app_id: Some("brokerlab-tests".into()),
        cluster_id: Some("cluster-1".into()),
    }
}

/// A body that is not UTF-8, to show bodies are carried as bytes.
fn binary_body() -> Bytes {
    Bytes::from_static(&[0, 159, 146, 150, 255, b'\n'])
}

#[test]
fn all_properties_travel_unchanged_to_the_consumer() {
    let mut broker = with_queue("q", FieldTable::new());
    broker.connect(2);
    broker.consume(2, 1, "q", "c", false).assert_ok();
    let command = publish_command("", "q", binary_body(), false, false, every_property());
    let step = broker.send(1, 1, command);
    step.assert_ok();
    let deliveries = step.deliveries();
    assert_eq!(deliveries.len(), 1, "{step:#?}");
    let message = &deliveries[0].message;
    assert_eq!(**message.properties(), every_property());
    assert_eq!(message.body, binary_body());
    assert_eq!(message.exchange().as_str(), "");
    assert_eq!(message.routing_key().as_str(), "q");
}

#[test]
fn all_properties_travel_unchanged_through_a_stored_message_and_basic_get() {
    let mut broker = with_queue("q", FieldTable::new());
    let command = publish_command("", "q", binary_body(), false, false, every_property());
    broker.send(1, 1, command).assert_ok();
    let step = broker.get(1, 1, "q", false);
    let deliveries = step.deliveries();
    assert_eq!(deliveries.len(), 1, "{step:#?}");
    assert_eq!(**deliveries[0].message.properties(), every_property());
    assert_eq!(deliveries[0].message.body, binary_body());
}

#[test]
fn all_properties_travel_unchanged_to_every_queue_a_topic_exchange_routes_to() {
    let mut broker = with_queue("q1", FieldTable::new());
    broker.declare(1, 1, "q2", FieldTable::new()).assert_ok();
    broker.bind(1, 1, "q1", "amq.topic", "order.*").assert_ok();
    broker.bind(1, 1, "q2", "amq.topic", "#").assert_ok();
    let command = publish_command(
        "amq.topic",
        "order.created",
        binary_body(),
        false,
        false,
        every_property(),
    );
    broker.send(1, 1, command).assert_ok();
    for queue in ["q1", "q2"] {
        let step = broker.get(1, 1, queue, true);
        let deliveries = step.deliveries();
        assert_eq!(deliveries.len(), 1, "{queue}: {step:#?}");
        let message = &deliveries[0].message;
        assert_eq!(**message.properties(), every_property(), "{queue}");
        assert_eq!(message.exchange().as_str(), "amq.topic", "{queue}");
        assert_eq!(message.routing_key().as_str(), "order.created", "{queue}");
    }
}

/// A queued message holds its exchange and routing key by pointer: a
/// channel's publishes in a row on one route share it, and a publish on
/// another route (or from another channel) gets its own.
#[test]
fn messages_published_in_a_row_on_one_route_share_it() {
    let mut broker = with_queue("q", FieldTable::new());
    broker.open(1, 2).assert_ok();
    broker.publish(1, 1, "", "q", "a").assert_ok();
    broker.publish(1, 1, "", "q", "b").assert_ok();
    broker
        .publish(1, 1, "amq.direct", "q", "unrouted")
        .assert_ok();
    broker.publish(1, 1, "", "q", "c").assert_ok();
    broker.publish(1, 2, "", "q", "d").assert_ok();
    let mut got = Vec::new();
    for _ in 0..4 {
        let step = broker.get(1, 1, "q", true);
        got.push(step.deliveries()[0].message.clone());
    }
    let bodies: Vec<&[u8]> = got.iter().map(|message| &message.body[..]).collect();
    assert_eq!(bodies, [&b"a"[..], b"b", b"c", b"d"]);
    assert!(SharedEnvelope::ptr_eq(&got[0].envelope, &got[1].envelope));
    assert!(
        !SharedEnvelope::ptr_eq(&got[1].envelope, &got[2].envelope),
        "another route came between"
    );
    assert!(
        !SharedEnvelope::ptr_eq(&got[2].envelope, &got[3].envelope),
        "another channel"
    );
    assert!(got
        .iter()
        .all(|message| message.exchange().is_empty() && message.routing_key() == "q"));
}

#[test]
fn properties_are_unchanged_on_redelivery() {
    let mut broker = with_queue("q", FieldTable::new());
    let command = publish_command("", "q", binary_body(), false, false, every_property());
    broker.send(1, 1, command).assert_ok();
    let first = broker.get(1, 1, "q", false);
    assert_eq!(first.deliveries()[0].tag, 1);
    broker.reject(1, 1, 1, true).assert_ok();
    let again = broker.get(1, 1, "q", false);
    let deliveries = again.deliveries();
    assert!(deliveries[0].redelivered);
    assert_eq!(**deliveries[0].message.properties(), every_property());
}

/// A basic.publish to the default exchange whose properties repeat the
/// channel's last publish's.
fn repeated(key: &str, body: &'static str) -> Command {
    Command::BasicPublish {
        exchange: "".into(),
        routing_key: key.into(),
        mandatory: false,
        immediate: false,
        properties: PublishProperties::Repeated,
        body: Bytes::from_static(body.as_bytes()),
    }
}

/// The properties of the next message `basic.get` takes from `queue`.
fn got_properties(broker: &mut Harness, queue: &str) -> Properties {
    let step = broker.get(1, 1, queue, true);
    let deliveries = step.deliveries();
    assert_eq!(deliveries.len(), 1, "{step:#?}");
    (**deliveries[0].message.properties()).clone()
}

/// The priorities of the next `count` messages `basic.get` takes from `queue`.
fn got_priorities(broker: &mut Harness, queue: &str, count: usize) -> Vec<Option<u8>> {
    (0..count)
        .map(|_| got_properties(broker, queue).priority)
        .collect()
}

#[test]
fn publishes_given_properties_equal_to_the_channels_last_share_one_copy_of_them() {
    let mut broker = with_queue("q", FieldTable::new());
    let persistent = Properties {
        delivery_mode: Some(2),
        ..Properties::default()
    };
    for body in ["one", "two"] {
        let command = publish_command("", "q", Bytes::from(body), false, false, persistent.clone());
        broker.send(1, 1, command).assert_ok();
    }
    let other = Properties::default();
    let command = publish_command("", "q", Bytes::from("three"), false, false, other.clone());
    broker.send(1, 1, command).assert_ok();
    let got: Vec<Arc<Properties>> = (0..3)
        .map(|_| {
            broker.get(1, 1, "q", true).deliveries()[0]
                .message
                .properties()
                .clone()
        })
        .collect();
    assert!(Arc::ptr_eq(&got[0], &got[1]), "equal properties, one copy");
    assert!(!Arc::ptr_eq(&got[1], &got[2]));
    assert_eq!((&*got[1], &*got[2]), (&persistent, &other));
}

#[test]
fn a_repeated_publish_carries_the_properties_of_the_channels_last_publish() {
    let mut broker = with_queue("q", FieldTable::new());
    let persistent = Properties {
        delivery_mode: Some(2),
        message_id: Some("m-1".into()),
        ..Properties::default()
    };
    let first = publish_command("", "q", binary_body(), false, false, persistent.clone());
    broker.send(1, 1, first).assert_ok();
    broker.send(1, 1, repeated("q", "again")).assert_ok();
    broker.send(1, 1, repeated("q", "and again")).assert_ok();
    for _ in 0..3 {
        assert_eq!(got_properties(&mut broker, "q"), persistent);
    }
}

#[test]
fn a_repeated_publish_follows_the_last_given_properties() {
    let mut broker = with_queue("q", FieldTable::new());
    let first = publish_command("", "q", binary_body(), false, false, priority(1));
    let second = publish_command("", "q", binary_body(), false, false, priority(2));
    broker.send(1, 1, first).assert_ok();
    broker.send(1, 1, second).assert_ok();
    broker.send(1, 1, repeated("q", "third")).assert_ok();
    assert_eq!(
        got_priorities(&mut broker, "q", 3),
        vec![Some(1), Some(2), Some(2)]
    );
}

#[test]
fn a_repeated_publish_on_a_channel_that_never_published_carries_the_default_properties() {
    let mut broker = with_queue("q", FieldTable::new());
    broker.send(1, 1, repeated("q", "first")).assert_ok();
    assert_eq!(got_properties(&mut broker, "q"), Properties::default());
}

#[test]
fn a_repeat_is_of_its_own_channels_last_publish_not_another_channels() {
    let mut broker = with_queue("q", FieldTable::new());
    broker.open(1, 2).assert_ok();
    let on_one = publish_command("", "q", binary_body(), false, false, priority(1));
    let on_two = publish_command("", "q", binary_body(), false, false, priority(2));
    broker.send(1, 1, on_one).assert_ok();
    broker.send(1, 2, on_two).assert_ok();
    broker.send(1, 1, repeated("q", "repeat on 1")).assert_ok();
    assert_eq!(
        got_priorities(&mut broker, "q", 3),
        vec![Some(1), Some(2), Some(1)]
    );
}

#[test]
fn a_repeated_publish_expires_by_the_repeated_expiration() {
    let mut broker = with_queue("q", FieldTable::new());
    let expiring_now = publish_command("", "q", binary_body(), false, false, expiring("0"));
    broker.send(1, 1, expiring_now).assert_ok();
    broker.send(1, 1, repeated("q", "also expires")).assert_ok();
    let step = broker.get(1, 1, "q", true);
    assert!(
        step.deliveries().is_empty(),
        "both expired at once: {step:#?}"
    );
}

#[test]
fn a_transactions_repeated_publish_keeps_the_properties_it_was_published_with() {
    let mut broker = with_queue("q", FieldTable::new());
    tx_select(&mut broker, 1, 1);
    let first = publish_command("", "q", binary_body(), false, false, priority(1));
    let second = publish_command("", "q", binary_body(), false, false, priority(2));
    broker.send(1, 1, first).assert_ok();
    broker.send(1, 1, repeated("q", "repeat of 1")).assert_ok();
    broker.send(1, 1, second).assert_ok();
    let commit = broker.send(1, 1, Command::TxCommit);
    assert_eq!(commit.replies(1, 1), vec![Reply::TxCommitOk]);
    assert_eq!(
        got_priorities(&mut broker, "q", 3),
        vec![Some(1), Some(1), Some(2)]
    );
}

#[test]
fn mandatory_unroutable_is_returned_with_312_no_route() {
    let mut broker = Harness::default();
    broker.connect(1);
    let properties = Properties {
        message_id: Some("m-1".into()),
        ..Properties::default()
    };
    let command = publish_command(
        "amq.direct",
        "nowhere",
        Bytes::from_static(b"lost"),
        true,
        false,
        properties.clone(),
    );
    let step = broker.send(1, 1, command);
    step.assert_ok();
    let replies = step.replies(1, 1);
    let [Reply::Return {
        code,
        text,
        message,
    }] = replies.as_slice()
    else {
        panic!("one basic.return: {step:#?}");
    };
    assert_eq!(*code, ReplyCode::NoRoute);
    assert_eq!(code.code(), 312);
    assert_eq!(text, "NO_ROUTE");
    assert_eq!(message.exchange().as_str(), "amq.direct");
    assert_eq!(message.routing_key().as_str(), "nowhere");
    assert_eq!(&message.body[..], b"lost");
    assert_eq!(**message.properties(), properties);
    let id = published(&step)[0].0;
    assert!(
        step.events().contains(&Event::Returned { message: id }),
        "{step:#?}"
    );
    assert!(
        !step
            .events()
            .iter()
            .any(|event| matches!(event, Event::Dropped { .. })),
        "a returned message is not also dropped: {step:#?}"
    );
    assert!(
        channel_answers(&mut broker, 1, 1),
        "a return does not close the channel"
    );
}

#[test]
fn mandatory_unroutable_is_returned_before_its_confirm() {
    let mut broker = Harness::default();
    broker.connect(1);
    confirm_select(&mut broker, 1, 1);
    let step = broker.send(1, 1, mandatory("amq.direct", "nowhere", "m"));
    step.assert_ok();
    let replies = step.replies(1, 1);
    assert!(
        matches!(
            replies.as_slice(),
            [
                Reply::Return {
                    code: ReplyCode::NoRoute,
                    ..
                },
                Reply::ConfirmAck {
                    delivery_tag: 1,
                    ..
                }
            ]
        ),
        "basic.return, then basic.ack: {replies:#?}"
    );
    let id = published(&step)[0].0;
    let order: Vec<Event> = step
        .events()
        .into_iter()
        .filter(|event| matches!(event, Event::Returned { .. } | Event::Confirmed { .. }))
        .collect();
    assert!(
        matches!(
            order.as_slice(),
            [Event::Returned { message: returned }, Event::Confirmed { message: acked, confirm_seq: 1, ack: true, .. }]
                if *returned == id && *acked == id
        ),
        "{order:#?}"
    );
}

#[test]
fn mandatory_unroutable_is_returned_for_every_exchange_type() {
    let cases = [
        ("default exchange, no such queue", "", "no-such-queue"),
        ("direct, no binding", "amq.direct", "k"),
        ("fanout, no binding", "amq.fanout", "k"),
        ("topic, no matching binding", "amq.topic", "x.y"),
        ("headers, no binding", "amq.headers", "k"),
        ("direct, binding for another key", "bound.direct", "other"),
        ("topic, pattern that does not match", "amq.topic", "b.a"),
    ];
    for (case, exchange, key) in cases {
        let mut broker = with_queue("q", FieldTable::new());
        broker
            .declare_exchange(1, 1, "bound.direct", "direct")
            .assert_ok();
        broker.bind(1, 1, "q", "bound.direct", "k").assert_ok();
        broker.bind(1, 1, "q", "amq.topic", "a.*").assert_ok();
        let step = broker.send(1, 1, mandatory(exchange, key, case));
        step.assert_ok();
        let returns: Vec<_> = step
            .replies(1, 1)
            .into_iter()
            .filter_map(|reply| match reply {
                Reply::Return { code, message, .. } => Some((code, message)),
                _ => None,
            })
            .collect();
        assert_eq!(returns.len(), 1, "{case}: {step:#?}");
        assert_eq!(returns[0].0, ReplyCode::NoRoute, "{case}");
        assert_eq!(returns[0].1.exchange().as_str(), exchange, "{case}");
        assert_eq!(returns[0].1.routing_key().as_str(), key, "{case}");
        assert_eq!(broker.ready_count(1, 1, "q"), 0, "{case}");
    }
}

#[test]
fn mandatory_routable_message_is_not_returned() {
    let mut broker = with_queue("q", FieldTable::new());
    confirm_select(&mut broker, 1, 1);
    let step = broker.send(1, 1, mandatory("", "q", "m"));
    step.assert_ok();
    assert!(
        !step
            .replies(1, 1)
            .iter()
            .any(|reply| matches!(reply, Reply::Return { .. })),
        "{step:#?}"
    );
    assert_eq!(step.confirms(), vec![(1, true)]);
    assert_eq!(enqueued(&step), vec!["q"]);
}

#[test]
fn non_mandatory_unroutable_is_dropped_silently() {
    let mut broker = Harness::default();
    broker.connect(1);
    let step = broker.publish(1, 1, "amq.direct", "nowhere", "m");
    step.assert_ok();
    assert_eq!(step.all_replies(), vec![], "nothing is sent to anyone");
    let id = published(&step)[0].0;
    assert!(
        step.events().contains(&Event::Dropped {
            message: id,
            queue: None,
            reason: DropReason::Unroutable
        }),
        "{step:#?}"
    );
    assert!(!step.events().contains(&Event::Returned { message: id }));
    assert!(channel_answers(&mut broker, 1, 1));
}

#[test]
fn non_mandatory_unroutable_is_still_acked_with_confirms() {
    let mut broker = Harness::default();
    broker.connect(1);
    confirm_select(&mut broker, 1, 1);
    let step = broker.publish(1, 1, "", "no-such-queue", "m");
    step.assert_ok();
    assert_eq!(step.confirms(), vec![(1, true)]);
    assert!(
        !step
            .replies(1, 1)
            .iter()
            .any(|reply| matches!(reply, Reply::Return { .. })),
        "{step:#?}"
    );
    let id = published(&step)[0].0;
    assert_eq!(confirmed(&step), vec![(id, 1, 1, true)]);
}

#[test]
fn immediate_publish_closes_the_connection_with_540() {
    for routable in [true, false] {
        let mut broker = with_queue("q", FieldTable::new());
        broker.open(1, 2);
        broker.connect(2);
        broker.consume(2, 1, "q", "c", false).assert_ok();
        let key = if routable { "q" } else { "nowhere" };
        let command = publish_command(
            "",
            key,
            Bytes::from_static(b"m"),
            false,
            true,
            Properties::default(),
        );
        let step = broker.send(1, 1, command);
        step.assert_connection_error(ReplyCode::NotImplemented);
        assert!(
            step.deliveries().is_empty(),
            "routable={routable}: {step:#?}"
        );
        assert!(enqueued(&step).is_empty(), "routable={routable}");
        assert!(!channel_answers(&mut broker, 1, 1), "routable={routable}");
        assert!(
            !channel_answers(&mut broker, 1, 2),
            "every channel goes with the connection"
        );
        assert!(
            channel_answers(&mut broker, 2, 1),
            "other connections are untouched"
        );
    }
}

#[test]
fn confirms_are_numbered_from_one_per_channel() {
    let mut broker = with_queue("q", FieldTable::new());
    broker.open(1, 2);
    broker.connect(2);
    confirm_select(&mut broker, 1, 1);
    confirm_select(&mut broker, 1, 2);
    confirm_select(&mut broker, 2, 1);
    let order = [(1, 1), (1, 2), (1, 1), (2, 1), (1, 2), (1, 1)];
    let mut seen: Vec<(u64, u16, u64)> = Vec::new();
    for (conn, channel) in order {
        let step = broker.publish(conn, channel, "", "q", "m");
        step.assert_ok();
        let confirms = step.confirms();
        assert_eq!(confirms.len(), 1, "{step:#?}");
        assert!(confirms[0].1, "acked");
        assert_eq!(
            published(&step)[0].1,
            Some(confirms[0].0),
            "Published carries the number"
        );
        seen.push((conn, channel, confirms[0].0));
    }
    assert_eq!(
        seen,
        vec![
            (1, 1, 1),
            (1, 2, 1),
            (1, 1, 2),
            (2, 1, 1),
            (1, 2, 2),
            (1, 1, 3)
        ]
    );
}

#[test]
fn confirm_numbering_continues_after_a_second_confirm_select() {
    let mut broker = with_queue("q", FieldTable::new());
    confirm_select(&mut broker, 1, 1);
    assert_eq!(
        broker.publish(1, 1, "", "q", "a").confirms(),
        vec![(1, true)]
    );
    confirm_select(&mut broker, 1, 1);
    assert_eq!(
        broker.publish(1, 1, "", "q", "b").confirms(),
        vec![(2, true)]
    );
}

#[test]
fn publishes_before_confirm_select_are_not_numbered() {
    let mut broker = with_queue("q", FieldTable::new());
    let before = broker.publish(1, 1, "", "q", "a");
    assert_eq!(before.confirms(), vec![]);
    assert_eq!(published(&before)[0].1, None);
    confirm_select(&mut broker, 1, 1);
    let after = broker.publish(1, 1, "", "q", "b");
    assert_eq!(after.confirms(), vec![(1, true)]);
    assert_eq!(published(&after)[0].1, Some(1));
}

#[test]
fn confirm_numbering_starts_again_on_a_new_channel() {
    let mut broker = with_queue("q", FieldTable::new());
    confirm_select(&mut broker, 1, 1);
    broker.publish(1, 1, "", "q", "a").assert_ok();
    broker.publish(1, 1, "", "q", "b").assert_ok();
    assert_eq!(
        broker.send(1, 1, Command::ChannelClose).replies(1, 1),
        vec![Reply::ChannelCloseOk]
    );
    broker.open(1, 1);
    confirm_select(&mut broker, 1, 1);
    assert_eq!(
        broker.publish(1, 1, "", "q", "c").confirms(),
        vec![(1, true)]
    );
}

#[test]
fn every_publish_is_confirmed_once_and_the_confirm_names_its_message() {
    let mut broker = with_queue("q", FieldTable::new());
    confirm_select(&mut broker, 1, 1);
    let keys = ["q", "nowhere", "q", "nowhere", "q"];
    for (index, key) in keys.into_iter().enumerate() {
        let step = broker.publish(1, 1, "", key, "m");
        let seq = index as u64 + 1;
        let id = published(&step)[0].0;
        assert_eq!(
            confirmed(&step),
            vec![(id, 1, seq, true)],
            "{key}: {step:#?}"
        );
        assert_eq!(step.confirms(), vec![(seq, true)]);
    }
}

#[test]
fn reject_publish_overflow_is_nacked() {
    let cases = [
        (
            "x-max-length",
            table(&[
                ("x-max-length", int(1)),
                ("x-overflow", string("reject-publish")),
            ]),
        ),
        (
            "x-max-length-bytes",
            table(&[
                ("x-max-length-bytes", int(1)),
                ("x-overflow", string("reject-publish")),
            ]),
        ),
    ];
    for (case, arguments) in cases {
        let mut broker = with_queue("q", arguments);
        confirm_select(&mut broker, 1, 1);
        assert_eq!(
            broker.publish(1, 1, "", "q", "a").confirms(),
            vec![(1, true)],
            "{case}"
        );
        let refused = broker.publish(1, 1, "", "q", "b");
        refused.assert_ok();
        assert_eq!(refused.confirms(), vec![(2, false)], "{case}: {refused:#?}");
        let id = published(&refused)[0].0;
        assert_eq!(confirmed(&refused), vec![(id, 1, 2, false)], "{case}");
        let dropped = Event::Dropped {
            message: id,
            queue: Some("q".into()),
            reason: DropReason::RejectPublish,
        };
        assert!(refused.events().contains(&dropped), "{case}: {refused:#?}");
        assert_eq!(
            broker.drain("q"),
            vec!["a"],
            "{case}: the queue kept the old message"
        );
    }
}

#[test]
fn reject_publish_nack_leaves_the_message_in_other_queues() {
    let full = table(&[
        ("x-max-length", int(0)),
        ("x-overflow", string("reject-publish")),
    ]);
    let mut broker = with_queue("full", full);
    broker.declare(1, 1, "open", FieldTable::new()).assert_ok();
    broker.bind(1, 1, "full", "amq.fanout", "").assert_ok();
    broker.bind(1, 1, "open", "amq.fanout", "").assert_ok();
    confirm_select(&mut broker, 1, 1);
    let step = broker.publish(1, 1, "amq.fanout", "", "m");
    assert_eq!(step.confirms(), vec![(1, false)], "{step:#?}");
    assert_eq!(enqueued(&step), vec!["open"]);
    assert_eq!(broker.drain("open"), vec!["m"]);
    assert_eq!(broker.drain("full"), Vec::<String>::new());
}

#[test]
fn reject_publish_acks_again_once_there_is_room() {
    let arguments = table(&[
        ("x-max-length", int(1)),
        ("x-overflow", string("reject-publish")),
    ]);
    let mut broker = with_queue("q", arguments);
    confirm_select(&mut broker, 1, 1);
    assert_eq!(
        broker.publish(1, 1, "", "q", "a").confirms(),
        vec![(1, true)]
    );
    assert_eq!(
        broker.publish(1, 1, "", "q", "b").confirms(),
        vec![(2, false)]
    );
    assert_eq!(broker.get(1, 1, "q", true).bodies(), vec!["a"]);
    assert_eq!(
        broker.publish(1, 1, "", "q", "c").confirms(),
        vec![(3, true)]
    );
    assert_eq!(broker.drain("q"), vec!["c"]);
}

#[test]
fn drop_head_overflow_is_acked() {
    let mut broker = with_queue("q", table(&[("x-max-length", int(1))]));
    confirm_select(&mut broker, 1, 1);
    assert_eq!(
        broker.publish(1, 1, "", "q", "a").confirms(),
        vec![(1, true)]
    );
    assert_eq!(
        broker.publish(1, 1, "", "q", "b").confirms(),
        vec![(2, true)]
    );
    assert_eq!(broker.drain("q"), vec!["b"]);
}

#[test]
fn confirm_select_in_tx_mode_closes_the_channel_with_406() {
    let mut broker = Harness::default();
    broker.connect(1);
    broker.open(1, 2);
    tx_select(&mut broker, 1, 1);
    let step = broker.send(1, 1, Command::ConfirmSelect);
    step.assert_channel_error(ReplyCode::PreconditionFailed);
    assert!(!step.replies(1, 1).contains(&Reply::ConfirmSelectOk));
    assert!(!channel_answers(&mut broker, 1, 1), "the channel is closed");
    assert!(channel_answers(&mut broker, 1, 2), "the connection is not");
}

#[test]
fn tx_select_in_confirm_mode_closes_the_channel_with_406() {
    let mut broker = Harness::default();
    broker.connect(1);
    broker.open(1, 2);
    confirm_select(&mut broker, 1, 1);
    let step = broker.send(1, 1, Command::TxSelect);
    step.assert_channel_error(ReplyCode::PreconditionFailed);
    assert!(!step.replies(1, 1).contains(&Reply::TxSelectOk));
    assert!(!channel_answers(&mut broker, 1, 1), "the channel is closed");
    assert!(channel_answers(&mut broker, 1, 2), "the connection is not");
}

#[test]
fn message_larger_than_max_size_closes_the_channel_with_406() {
    let cases = [(0, true), (7, true), (8, true), (9, false), (1000, false)];
    for (size, accepted) in cases {
        let config = Config {
            max_message_size_bytes: 8,
            ..Config::default()
        };
        let mut broker = Harness::new(config);
        broker.connect(1);
        broker.open(1, 2);
        broker.declare(1, 2, "q", FieldTable::new()).assert_ok();
        confirm_select(&mut broker, 1, 1);
        let body = Bytes::from(vec![b'x'; size]);
        let step = broker.send(
            1,
            1,
            publish_command("", "q", body, false, false, Properties::default()),
        );
        if accepted {
            step.assert_ok();
            assert_eq!(step.confirms(), vec![(1, true)], "size {size}");
            assert_eq!(broker.ready_count(1, 2, "q"), 1, "size {size}");
        } else {
            step.assert_channel_error(ReplyCode::PreconditionFailed);
            assert_eq!(
                step.confirms(),
                vec![],
                "size {size}: a refused message is not confirmed"
            );
            assert!(
                published(&step).is_empty(),
                "size {size}: nothing was published"
            );
            assert!(
                !channel_answers(&mut broker, 1, 1),
                "size {size}: the channel is closed"
            );
            assert!(
                channel_answers(&mut broker, 1, 2),
                "size {size}: the connection is not"
            );
            assert_eq!(broker.ready_count(1, 2, "q"), 0, "size {size}");
        }
    }
}

#[test]
fn default_max_message_size_is_16_mib() {
    const MIB: usize = 1024 * 1024;
    assert_eq!(Config::default().max_message_size_bytes, 16 * MIB);
    let mut broker = with_queue("q", FieldTable::new());
    broker.open(1, 2);
    let at_limit = Bytes::from(vec![0u8; 16 * MIB]);
    broker
        .send(
            1,
            1,
            publish_command("", "q", at_limit, false, false, Properties::default()),
        )
        .assert_ok();
    let over = Bytes::from(vec![0u8; 16 * MIB + 1]);
    let step = broker.send(
        1,
        1,
        publish_command("", "q", over, false, false, Properties::default()),
    );
    step.assert_channel_error(ReplyCode::PreconditionFailed);
    assert_eq!(broker.ready_count(1, 2, "q"), 1);
}

#[test]
fn invalid_expiration_closes_the_channel_with_406() {
    let cases = [
        "abc",
        "",
        "-1",
        "-100",
        "1.5",
        "1e3",
        " 5",
        "5 ",
        "10ms",
        "315360000001",
        "99999999999999999999999",
    ];
    for expiration in cases {
        let mut broker = with_queue("q", FieldTable::new());
        broker.open(1, 2);
        let properties = Properties {
            expiration: Some(expiration.into()),
            ..Properties::default()
        };
        let step = broker.publish_with(1, 1, "", "q", "m", properties);
        step.assert_channel_error(ReplyCode::PreconditionFailed);
        assert!(enqueued(&step).is_empty(), "{expiration:?}");
        assert!(
            !channel_answers(&mut broker, 1, 1),
            "{expiration:?}: the channel is closed"
        );
        assert!(
            channel_answers(&mut broker, 1, 2),
            "{expiration:?}: the connection is not"
        );
        assert_eq!(broker.ready_count(1, 2, "q"), 0, "{expiration:?}");
    }
}

#[test]
fn valid_expiration_is_accepted() {
    let cases = ["0", "1", "60000", "007", "315360000000"];
    for expiration in cases {
        let mut broker = with_queue("q", FieldTable::new());
        broker.connect(2);
        broker.consume(2, 1, "q", "c", false).assert_ok();
        let properties = Properties {
            expiration: Some(expiration.into()),
            ..Properties::default()
        };
        let step = broker.publish_with(1, 1, "", "q", "m", properties);
        step.assert_ok();
        let deliveries = step.deliveries();
        assert_eq!(
            deliveries.len(),
            1,
            "{expiration:?}: a waiting consumer gets it: {step:#?}"
        );
        assert_eq!(
            deliveries[0].message.properties().expiration.as_deref(),
            Some(expiration)
        );
    }
}

#[test]
fn tx_commit_publishes_the_buffered_messages() {
    let mut broker = with_queue("q", FieldTable::new());
    broker.connect(2);
    broker.consume(2, 1, "q", "c", false).assert_ok();
    tx_select(&mut broker, 1, 1);
    for body in ["a", "b"] {
        let step = broker.publish(1, 1, "", "q", body);
        step.assert_ok();
        assert_eq!(
            step.all_replies(),
            vec![],
            "{body}: nothing happens before commit"
        );
        assert!(published(&step).is_empty(), "{body}");
    }
    let commit = broker.send(1, 1, Command::TxCommit);
    commit.assert_ok();
    assert!(
        commit.replies(1, 1).contains(&Reply::TxCommitOk),
        "{commit:#?}"
    );
    assert_eq!(commit.bodies(), vec!["a", "b"]);
    assert_eq!(published(&commit).len(), 2);
    assert_eq!(enqueued(&commit), vec!["q", "q"]);
}

#[test]
fn tx_commit_settles_the_buffered_acks() {
    let mut broker = with_queue("q", FieldTable::new());
    broker.publish(1, 1, "", "q", "a").assert_ok();
    broker.publish(1, 1, "", "q", "b").assert_ok();
    broker.connect(2);
    tx_select(&mut broker, 2, 1);
    broker.consume(2, 1, "q", "c", false).assert_ok();
    for tag in [1, 2] {
        let ack = broker.ack(2, 1, tag, false);
        ack.assert_ok();
        assert!(
            !ack.events()
                .iter()
                .any(|event| matches!(event, Event::Acked { .. })),
            "tag {tag}: an ack in a transaction waits for commit: {ack:#?}"
        );
    }
    let commit = broker.send(2, 1, Command::TxCommit);
    assert!(commit.replies(2, 1).contains(&Reply::TxCommitOk));
    let acked = commit
        .events()
        .iter()
        .filter(|event| matches!(event, Event::Acked { .. }))
        .count();
    assert_eq!(acked, 2, "{commit:#?}");
    let close = broker.send(2, 1, Command::ChannelClose);
    assert!(
        !close
            .events()
            .iter()
            .any(|event| matches!(event, Event::Requeued { .. })),
        "committed acks are final: {close:#?}"
    );
    assert_eq!(broker.drain("q"), Vec::<String>::new());
}

#[test]
fn tx_commit_applies_the_buffered_requeues() {
    let mut broker = with_queue("q", FieldTable::new());
    broker.publish(1, 1, "", "q", "a").assert_ok();
    broker.publish(1, 1, "", "q", "b").assert_ok();
    tx_select(&mut broker, 1, 1);
    assert_eq!(broker.get(1, 1, "q", false).bodies(), vec!["a"]);
    let nack = broker.nack(1, 1, 1, false, true);
    nack.assert_ok();
    assert!(!nack
        .events()
        .iter()
        .any(|event| matches!(event, Event::Requeued { .. })));
    assert_eq!(
        broker.ready_count(1, 1, "q"),
        1,
        "the requeue waits for commit"
    );
    let commit = broker.send(1, 1, Command::TxCommit);
    assert!(
        commit
            .events()
            .iter()
            .any(|event| matches!(event, Event::Requeued { .. })),
        "{commit:#?}"
    );
    assert_eq!(broker.drain("q"), vec!["a", "b"]);
}

#[test]
fn tx_rollback_discards_the_buffered_publishes() {
    let mut broker = with_queue("q", FieldTable::new());
    tx_select(&mut broker, 1, 1);
    broker.publish(1, 1, "", "q", "a").assert_ok();
    let rollback = broker.send(1, 1, Command::TxRollback);
    assert_eq!(rollback.replies(1, 1), vec![Reply::TxRollbackOk]);
    let commit = broker.send(1, 1, Command::TxCommit);
    assert_eq!(commit.replies(1, 1), vec![Reply::TxCommitOk]);
    assert!(published(&commit).is_empty(), "{commit:#?}");
    assert_eq!(broker.ready_count(1, 1, "q"), 0);
}

#[test]
fn tx_rollback_discards_the_buffered_acks() {
    let mut broker = with_queue("q", FieldTable::new());
    broker.publish(1, 1, "", "q", "a").assert_ok();
    broker.connect(2);
    tx_select(&mut broker, 2, 1);
    assert_eq!(broker.get(2, 1, "q", false).bodies(), vec!["a"]);
    broker.ack(2, 1, 1, false).assert_ok();
    broker.send(2, 1, Command::TxRollback).assert_ok();
    let commit = broker.send(2, 1, Command::TxCommit);
    assert!(
        !commit
            .events()
            .iter()
            .any(|event| matches!(event, Event::Acked { .. })),
        "{commit:#?}"
    );
    let close = broker.send(2, 1, Command::ChannelClose);
    assert!(
        close
            .events()
            .iter()
            .any(|event| matches!(event, Event::Requeued { .. })),
        "the rolled-back ack left the delivery unacknowledged: {close:#?}"
    );
    assert_eq!(broker.drain("q"), vec!["a"]);
}

#[test]
fn tx_rollback_keeps_the_channel_transactional() {
    let mut broker = with_queue("q", FieldTable::new());
    tx_select(&mut broker, 1, 1);
    broker.send(1, 1, Command::TxRollback).assert_ok();
    let publish = broker.publish(1, 1, "", "q", "a");
    assert!(
        published(&publish).is_empty(),
        "still buffered after a rollback: {publish:#?}"
    );
    let commit = broker.send(1, 1, Command::TxCommit);
    assert_eq!(published(&commit).len(), 1);
    let again = broker.publish(1, 1, "", "q", "b");
    assert!(
        published(&again).is_empty(),
        "still buffered after a commit: {again:#?}"
    );
    assert_eq!(broker.drain("q"), vec!["a"]);
}

#[test]
fn uncommitted_publishes_are_lost_when_the_channel_closes() {
    let mut broker = with_queue("q", FieldTable::new());
    broker.open(1, 2);
    tx_select(&mut broker, 1, 2);
    broker.publish(1, 2, "", "q", "a").assert_ok();
    let close = broker.send(1, 2, Command::ChannelClose);
    assert!(published(&close).is_empty(), "{close:#?}");
    assert_eq!(broker.ready_count(1, 1, "q"), 0);
}

#[test]
fn tx_commit_returns_mandatory_unroutable_messages() {
    let mut broker = Harness::default();
    broker.connect(1);
    tx_select(&mut broker, 1, 1);
    let publish = broker.send(1, 1, mandatory("amq.direct", "nowhere", "m"));
    assert_eq!(publish.all_replies(), vec![]);
    let commit = broker.send(1, 1, Command::TxCommit);
    commit.assert_ok();
    let replies = commit.replies(1, 1);
    assert!(
        matches!(
            replies.as_slice(),
            [
                Reply::Return {
                    code: ReplyCode::NoRoute,
                    ..
                },
                Reply::TxCommitOk
            ]
        ),
        "{replies:#?}"
    );
}

#[test]
fn tx_commit_and_rollback_without_tx_select_close_the_channel_with_406() {
    for command in [Command::TxCommit, Command::TxRollback] {
        let mut broker = Harness::default();
        broker.connect(1);
        broker.open(1, 2);
        let step = broker.send(1, 1, command.clone());
        step.assert_channel_error(ReplyCode::PreconditionFailed);
        assert!(
            !channel_answers(&mut broker, 1, 1),
            "{command:?}: the channel is closed"
        );
        assert!(
            channel_answers(&mut broker, 1, 2),
            "{command:?}: the connection is not"
        );
    }
}

#[test]
fn settling_a_tag_twice_in_one_transaction_closes_the_channel_with_406() {
    let mut broker = with_queue("q", FieldTable::new());
    broker.publish(1, 1, "", "q", "a").assert_ok();
    broker.open(1, 2);
    tx_select(&mut broker, 1, 2);
    assert_eq!(broker.get(1, 2, "q", false).bodies(), vec!["a"]);
    broker.ack(1, 2, 1, false).assert_ok();
    broker
        .ack(1, 2, 1, false)
        .assert_channel_error(ReplyCode::PreconditionFailed);
    assert!(channel_answers(&mut broker, 1, 1));
    assert_eq!(
        broker.drain("q"),
        vec!["a"],
        "the uncommitted ack was undone by the close"
    );
}

#[test]
fn mandatory_message_refused_by_reject_publish_is_nacked_not_returned() {
    let arguments = table(&[
        ("x-max-length", int(0)),
        ("x-overflow", string("reject-publish")),
    ]);
    let mut broker = with_queue("q", arguments);
    confirm_select(&mut broker, 1, 1);
    let step = broker.send(1, 1, mandatory("", "q", "m"));
    step.assert_ok();
    assert_eq!(
        step.replies(1, 1),
        vec![Reply::ConfirmNack {
            delivery_tag: 1,
            multiple: false
        }]
    );
}

// Validated user-id: a publish's user_id property, when set, must be the
// connection's authenticated user (RabbitMQ's `check_user_id_header`).

fn from_user(user_id: &str) -> Properties {
    Properties {
        user_id: Some(user_id.into()),
        ..Properties::default()
    }
}

#[test]
fn a_publish_whose_user_id_is_the_connections_user_is_routed() {
    let mut broker = with_queue("q", FieldTable::new());
    let step = broker.publish_with(1, 1, "", "q", "m", from_user("guest"));
    step.assert_ok();
    assert!(step
        .events()
        .iter()
        .any(|event| matches!(event, Event::Enqueued { .. })));
}

#[test]
fn a_publish_whose_user_id_is_another_user_is_precondition_failed_and_dropped() {
    let mut broker = with_queue("q", FieldTable::new());
    let step = broker.publish_with(1, 1, "", "q", "m", from_user("mallory"));
    step.assert_channel_error(ReplyCode::PreconditionFailed);
    let (_, _, text) = step.close().expect("the channel closed");
    assert_eq!(
        text,
        "PRECONDITION_FAILED - user_id property set to 'mallory' but authenticated user was 'guest'"
    );
    assert!(!step
        .events()
        .iter()
        .any(|event| matches!(event, Event::Enqueued { .. })));
}

/// The order of a publish's checks, as RabbitMQ 3.10.8 answered the same
/// publishes (pika, 2026-11-28): the exchange (404 missing, 403 internal)
/// before the user_id (406), and the user_id before the expiration (406).
#[test]
fn a_publishs_exchange_is_checked_before_its_user_id_and_its_user_id_before_its_expiration() {
    let mut broker = with_queue("q", FieldTable::new());
    broker
        .send(
            1,
            1,
            Command::ExchangeDeclare {
                exchange: "inside".into(),
                kind: "direct".into(),
                passive: false,
                durable: false,
                auto_delete: false,
                internal: true,
                arguments: FieldTable::new(),
            },
        )
        .assert_ok();
    let foreign_and_bad_expiration = Properties {
        expiration: Some("soon".into()),
        ..from_user("mallory")
    };
    let cases = [
        (
            "no-such-exchange",
            from_user("mallory"),
            ReplyCode::NotFound,
            "no exchange 'no-such-exchange' in vhost '/'",
        ),
        (
            "inside",
            from_user("mallory"),
            ReplyCode::AccessRefused,
            "cannot publish to internal exchange 'inside' in vhost '/'",
        ),
        (
            "",
            foreign_and_bad_expiration,
            ReplyCode::PreconditionFailed,
            "user_id property set to 'mallory' but authenticated user was 'guest'",
        ),
    ];
    for (exchange, properties, code, text) in cases {
        let step = broker.publish_with(1, 1, exchange, "q", "m", properties);
        step.assert_channel_error(code);
        let (_, _, said) = step.close().expect("the channel closed");
        assert_eq!(
            said,
            format!("{} - {text}", code.name()),
            "publish to '{exchange}'"
        );
        broker.send(1, 1, Command::ChannelCloseOk);
        broker.open(1, 1).assert_ok();
    }
}
