//! Rule tests for RabbitMQ's stream queues over AMQP 0-9-1 (SEMANTICS.md
//! section 8, last bullet; core/RULES.md section 8c), driven through the
//! broker: a queue declared with `x-queue-type: stream` is a one-partition
//! topic of the streams; messages are appended as records; consumers read
//! from an offset of their own under prefetch, acks are credit. Every
//! answer here was checked against RabbitMQ 3.10.8 with pika, except where
//! a test says RabbitMQ crashes (541) and brokerlab refuses cleanly.

mod support;

use brokerlab_core::{
    Command, FieldTable, FieldValue, Properties, Reply, ReplyCode, StreamCommand, StreamReply,
};
use support::{int, string, table, Harness, Step};

/// The stream type argument, with `more`.
fn stream_args(more: &[(&str, FieldValue)]) -> FieldTable {
    let mut arguments = table(more);
    arguments.insert("x-queue-type".into(), string("stream"));
    arguments
}

fn declare_with(
    queue: &str,
    durable: bool,
    exclusive: bool,
    auto_delete: bool,
    arguments: FieldTable,
) -> Command {
    Command::QueueDeclare {
        queue: queue.into(),
        passive: false,
        durable,
        exclusive,
        auto_delete,
        arguments,
    }
}

fn declare_stream(queue: &str, more: &[(&str, FieldValue)]) -> Command {
    declare_with(queue, true, false, false, stream_args(more))
}

fn consume_from(queue: &str, tag: &str, offset: Option<FieldValue>) -> Command {
    let arguments = offset
        .map(|offset| table(&[("x-stream-offset", offset)]))
        .unwrap_or_default();
    Command::BasicConsume {
        queue: queue.into(),
        consumer_tag: tag.into(),
        no_ack: false,
        exclusive: false,
        arguments,
    }
}

/// A broker with connection 1 (channel 1) and stream `s` holding `count`
/// synced messages `m0`, `m1`...
fn stream_with(count: usize) -> Harness {
    let mut broker = Harness::default();
    broker.connect(1);
    broker.send(1, 1, declare_stream("s", &[])).assert_ok();
    for index in 0..count {
        broker
            .publish(1, 1, "", "s", &format!("m{index}"))
            .assert_ok();
    }
    broker.sync();
    broker
}

/// The `x-stream-offset` header of each delivery of a step.
fn offsets(step: &Step) -> Vec<i64> {
    step.deliveries()
        .iter()
        .map(|delivered| {
            let headers = delivered.message.properties().headers.as_ref();
            match headers.and_then(|headers| headers.get("x-stream-offset")) {
                Some(FieldValue::I64(offset)) => *offset,
                other => panic!("a stream delivery carries a long x-stream-offset, not {other:?}"),
            }
        })
        .collect()
}

/// Consumes `s` on a fresh channel of connection 1 with prefetch 100 from `offset`.
fn read_from(broker: &mut Harness, channel: u16, offset: Option<FieldValue>) -> Step {
    broker.open(1, channel);
    broker.qos(1, channel, 100, false);
    broker.send(1, channel, consume_from("s", "c", offset))
}

// ---------------------------------------------------------------------------
// Declare
// ---------------------------------------------------------------------------

#[test]
fn stream_queue_is_declared_durable_and_its_declare_ok_counts_nothing() {
    let mut broker = stream_with(3);
    broker.qos(1, 1, 10, false);
    broker.send(1, 1, consume_from("s", "c", None)).assert_ok();
    let redeclared = broker.send(1, 1, declare_stream("s", &[]));
    assert_eq!(redeclared.declare_ok(), Some(("s".into(), 0, 0)));
}

#[test]
fn stream_queue_log_is_a_one_partition_topic_named_after_vhost_and_queue() {
    let broker = stream_with(2);
    let topic = broker
        .broker
        .streams()
        .topic("_2f.s")
        .expect("the stream's log");
    assert_eq!(topic.partitions().len(), 1);
    assert_eq!(topic.partitions()[0].log_end_offset(), 2);
    assert!(topic.config().durable);
    assert_eq!(
        topic.config().retention_ms,
        None,
        "no x-max-age keeps every record"
    );
}

#[test]
fn non_durable_exclusive_or_auto_delete_stream_is_precondition_failed() {
    let cases = [
        (
            false,
            false,
            false,
            "invalid property 'non-durable' for queue 's' in vhost '/'",
        ),
        (
            true,
            true,
            false,
            "invalid property 'exclusive-owner' for queue 's' in vhost '/'",
        ),
        (
            true,
            false,
            true,
            "invalid property 'auto-delete' for queue 's' in vhost '/'",
        ),
        (
            false,
            true,
            true,
            "invalid property 'auto-delete' for queue 's' in vhost '/'",
        ),
    ];
    for (durable, exclusive, auto_delete, text) in cases {
        let mut broker = Harness::default();
        broker.connect(1);
        let step = broker.send(
            1,
            1,
            declare_with("s", durable, exclusive, auto_delete, stream_args(&[])),
        );
        step.assert_channel_error(ReplyCode::PreconditionFailed);
        assert_eq!(
            step.close().unwrap().2,
            format!("PRECONDITION_FAILED - {text}")
        );
    }
}

#[test]
fn server_named_stream_is_precondition_failed() {
    let mut broker = Harness::default();
    broker.connect(1);
    let step = broker.send(1, 1, declare_stream("", &[]));
    step.assert_channel_error(ReplyCode::PreconditionFailed);
    assert_eq!(
        step.close().unwrap().2,
        "PRECONDITION_FAILED - Cannot declare a server-named queue for type rabbit_stream_queue"
    );
}

#[test]
fn stream_retention_arguments_are_validated_with_rabbitmq_texts() {
    let accepted: [(&str, FieldValue); 8] = [
        ("x-max-length-bytes", int(1000)),
        ("x-max-length-bytes", int(0)),
        ("x-max-age", string("7D")),
        ("x-max-age", string("1h")),
        ("x-max-age", string("1Y")),
        ("x-stream-max-segment-size-bytes", int(1_000_000)),
        ("x-initial-cluster-size", int(1)),
        ("x-foo", int(1)),
    ];
    for (name, value) in accepted {
        let mut broker = Harness::default();
        broker.connect(1);
        broker
            .send(1, 1, declare_stream("s", &[(name, value)]))
            .assert_ok();
    }
    let refused: [(&str, FieldValue, &str); 7] = [
        ("x-max-length-bytes", int(-1), "{value_negative,-1}"),
        (
            "x-max-length-bytes",
            string("abc"),
            "\"expected integer, got longstr\"",
        ),
        ("x-max-age", string("1d"), "invalid_max_age"),
        ("x-max-age", string("0s"), "invalid_max_age"),
        ("x-max-age", string("1.5h"), "invalid_max_age"),
        (
            "x-max-age",
            FieldValue::I32(10),
            "{unacceptable_type,signedint}",
        ),
        (
            "x-stream-max-segment-size-bytes",
            string("x"),
            "\"expected integer, got longstr\"",
        ),
    ];
    for (name, value, error) in refused {
        let mut broker = Harness::default();
        broker.connect(1);
        let step = broker.send(1, 1, declare_stream("s", &[(name, value)]));
        step.assert_channel_error(ReplyCode::PreconditionFailed);
        assert_eq!(
            step.close().unwrap().2,
            format!(
                "PRECONDITION_FAILED - invalid arg '{name}' for queue 's' in vhost '/': {error}"
            )
        );
    }
}

/// Differs: RabbitMQ 3.10.8 crashes (541 INTERNAL_ERROR, connection) on
/// an `x-max-age` that does not start with a digit.
#[test]
fn max_age_without_leading_digits_is_refused_as_invalid() {
    for age in ["abc", "-1h", ""] {
        let mut broker = Harness::default();
        broker.connect(1);
        let step = broker.send(1, 1, declare_stream("s", &[("x-max-age", string(age))]));
        step.assert_channel_error(ReplyCode::PreconditionFailed);
        assert!(step.close().unwrap().2.ends_with(": invalid_max_age"));
    }
}

#[test]
fn classic_only_arguments_are_refused_on_a_stream() {
    let refused = [
        ("x-max-length", int(10)),
        ("x-message-ttl", int(1000)),
        ("x-expires", int(10_000)),
        ("x-dead-letter-exchange", string("dlx")),
        ("x-overflow", string("reject-publish")),
        ("x-max-priority", int(5)),
        ("x-single-active-consumer", FieldValue::Bool(true)),
        ("x-queue-mode", string("lazy")),
        ("x-max-in-memory-length", int(10)),
        ("x-delivery-limit", int(3)),
        ("x-quorum-initial-group-size", int(3)),
        ("x-queue-master-locator", string("min-masters")),
    ];
    for (name, value) in refused {
        let mut broker = Harness::default();
        broker.connect(1);
        let step = broker.send(1, 1, declare_stream("s", &[(name, value)]));
        step.assert_channel_error(ReplyCode::PreconditionFailed);
        assert_eq!(
            step.close().unwrap().2,
            format!("PRECONDITION_FAILED - invalid arg '{name}' for queue 's' in vhost '/' of queue type rabbit_stream_queue")
        );
    }
}

#[test]
fn stream_redeclared_with_different_arguments_is_precondition_failed() {
    let cases: [(FieldTable, FieldTable, &str); 5] = [
        (
            stream_args(&[("x-max-age", string("1h"))]),
            stream_args(&[("x-max-age", string("2h"))]),
            "inequivalent arg 'x-max-age' for queue 's' in vhost '/': received '2h' but current is '1h'",
        ),
        (
            stream_args(&[]),
            stream_args(&[("x-max-length-bytes", FieldValue::I32(100))]),
            "inequivalent arg 'x-max-length-bytes' for queue 's' in vhost '/': received the value '100' of type 'signedint' but current is none",
        ),
        (
            stream_args(&[]),
            FieldTable::new(),
            "inequivalent arg 'x-queue-type' for queue 's' in vhost '/': received none but current is the value 'stream' of type 'longstr'",
        ),
        (
            stream_args(&[]),
            table(&[("x-queue-type", string("classic"))]),
            "inequivalent arg 'x-queue-type' for queue 's' in vhost '/': received 'classic' but current is 'stream'",
        ),
        (
            FieldTable::new(),
            stream_args(&[]),
            "inequivalent arg 'x-queue-type' for queue 's' in vhost '/': received the value 'stream' of type 'longstr' but current is none",
        ),
    ];
    for (first, second, text) in cases {
        let mut broker = Harness::default();
        broker.connect(1);
        broker
            .send(1, 1, declare_with("s", true, false, false, first))
            .assert_ok();
        let step = broker.send(1, 1, declare_with("s", true, false, false, second));
        step.assert_channel_error(ReplyCode::PreconditionFailed);
        assert_eq!(
            step.close().unwrap().2,
            format!("PRECONDITION_FAILED - {text}")
        );
    }
}

// ---------------------------------------------------------------------------
// Publish
// ---------------------------------------------------------------------------

#[test]
fn published_message_becomes_a_record_and_its_confirm_waits_for_sync() {
    let mut broker = Harness::default();
    broker.connect(1);
    broker.send(1, 1, declare_stream("s", &[])).assert_ok();
    broker.send(1, 1, Command::ConfirmSelect);
    let published = broker.publish(1, 1, "", "s", "hello");
    assert_eq!(
        published.confirms(),
        vec![],
        "a confirm waits for the record's sync"
    );
    let partition = &broker.broker.streams().topic("_2f.s").unwrap().partitions()[0];
    let batch = partition.batch_at(0).expect("the record is in the log");
    assert_eq!(batch.records()[0].value.as_deref(), Some(&b"hello"[..]));
    assert_eq!(broker.sync().confirms(), vec![(1, true)]);
}

#[test]
fn exchange_routes_into_a_stream_queue_as_into_any_queue() {
    let mut broker = stream_with(0);
    broker.declare_exchange(1, 1, "t", "topic").assert_ok();
    broker.bind(1, 1, "s", "t", "a.*").assert_ok();
    broker.publish(1, 1, "t", "a.b", "one").assert_ok();
    broker.publish(1, 1, "t", "b.b", "two").assert_ok();
    broker.sync();
    let step = read_from(&mut broker, 2, Some(string("first")));
    assert_eq!(step.bodies(), vec!["one"]);
    let message = &step.deliveries()[0].message;
    assert_eq!(
        (message.exchange().as_str(), message.routing_key().as_str()),
        ("t", "a.b")
    );
}

// ---------------------------------------------------------------------------
// Consume
// ---------------------------------------------------------------------------

#[test]
fn consuming_a_stream_needs_a_consumer_prefetch() {
    for global in [None, Some(true)] {
        let mut broker = stream_with(1);
        if let Some(global) = global {
            broker.qos(1, 1, 10, global);
        }
        let step = broker.send(1, 1, consume_from("s", "c", None));
        step.assert_channel_error(ReplyCode::PreconditionFailed);
        assert_eq!(
            step.close().unwrap().2,
            "PRECONDITION_FAILED - consumer prefetch count is not set for 'queue 's' in vhost '/''"
        );
    }
}

#[test]
fn automatic_acknowledgement_on_a_stream_is_not_implemented() {
    let mut broker = stream_with(1);
    broker.qos(1, 1, 10, false);
    let step = broker.consume(1, 1, "s", "c", true);
    step.assert_connection_error(ReplyCode::NotImplemented);
    assert_eq!(
        step.close().unwrap().2,
        "NOT_IMPLEMENTED - automatic acknowledgement not supported by stream queues queue 's' in vhost '/'"
    );
}

#[test]
fn stream_offset_is_checked_before_prefetch_and_prefetch_before_no_ack() {
    let mut broker = stream_with(0);
    let step = broker.send(1, 1, consume_from("s", "c", Some(string("0s"))));
    assert_eq!(
        step.close().unwrap().2,
        "PRECONDITION_FAILED - invalid arg 'x-stream-offset' for queue 's' in vhost '/': {invalid_stream_offset_arg,{longstr,<<\"0s\">>}}"
    );
    let mut broker = stream_with(0);
    let step = broker.consume(1, 1, "s", "c", true);
    step.assert_channel_error(ReplyCode::PreconditionFailed);
}

/// Differs: RabbitMQ 3.10.8 crashes (541 INTERNAL_ERROR, connection) on an
/// offset string that does not start with a digit and on a boolean.
#[test]
fn stream_offset_rabbitmq_crashes_on_is_refused_as_invalid() {
    let cases = [
        (string("abc"), "{longstr,<<\"abc\">>}"),
        (string("-1h"), "{longstr,<<\"-1h\">>}"),
        (string("FIRST"), "{longstr,<<\"FIRST\">>}"),
        (string(""), "{longstr,<<>>}"),
        (FieldValue::Bool(true), "{bool,true}"),
    ];
    for (offset, term) in cases {
        let mut broker = stream_with(1);
        let step = read_from(&mut broker, 2, Some(offset));
        step.assert_channel_error(ReplyCode::PreconditionFailed);
        assert_eq!(
            step.close().unwrap().2,
            format!("PRECONDITION_FAILED - invalid arg 'x-stream-offset' for queue 's' in vhost '/': {{invalid_stream_offset_arg,{term}}}")
        );
    }
}

#[test]
fn consumer_from_first_gets_every_record_with_its_offset_header() {
    let mut broker = stream_with(0);
    let mut headers = FieldTable::new();
    headers.insert("a".into(), FieldValue::I32(1));
    headers.insert("x-stream-offset".into(), int(77));
    let properties = Properties {
        content_type: Some("text/plain".into()),
        headers: Some(std::sync::Arc::new(headers)),
        delivery_mode: Some(2),
        priority: Some(3),
        correlation_id: Some("cid".into()),
        timestamp: Some(1_234_567_890),
        ..Properties::default()
    };
    broker
        .publish_with(1, 1, "", "s", "m0", properties.clone())
        .assert_ok();
    broker.publish(1, 1, "", "s", "m1").assert_ok();
    broker.sync();
    let step = read_from(&mut broker, 2, Some(string("first")));
    assert_eq!(step.bodies(), vec!["m0", "m1"]);
    assert_eq!(offsets(&step), vec![0, 1]);
    let delivered = &step.deliveries()[0];
    assert!(!delivered.redelivered);
    assert_eq!(
        (
            delivered.message.exchange().as_str(),
            delivered.message.routing_key().as_str()
        ),
        ("", "s")
    );
    let mut expected = properties;
    let expected_headers = std::sync::Arc::make_mut(expected.headers.as_mut().unwrap());
    expected_headers.insert("x-stream-offset".into(), int(0));
    assert_eq!(
        **delivered.message.properties(),
        expected,
        "properties kept, the offset header the record's"
    );
}

#[test]
fn consumer_starts_at_next_by_default() {
    for offset in [None, Some(string("next"))] {
        let mut broker = stream_with(3);
        assert_eq!(
            read_from(&mut broker, 2, offset).bodies(),
            Vec::<String>::new()
        );
        broker.publish(1, 1, "", "s", "new");
        let step = broker.sync();
        assert_eq!(step.bodies(), vec!["new"]);
        assert_eq!(offsets(&step), vec![3]);
    }
}

#[test]
fn consumer_from_last_starts_at_the_last_message() {
    let mut broker = stream_with(3);
    let step = read_from(&mut broker, 2, Some(string("last")));
    assert_eq!(
        (step.bodies(), offsets(&step)),
        (vec!["m2".to_owned()], vec![2])
    );
    let mut empty = stream_with(0);
    assert!(read_from(&mut empty, 2, Some(string("last")))
        .deliveries()
        .is_empty());
    empty.publish(1, 1, "", "s", "new");
    assert_eq!(offsets(&empty.sync()), vec![0]);
}

#[test]
fn consumer_from_an_offset_starts_there_below_the_start_at_first_and_past_the_end_waits_for_it() {
    let mut broker = stream_with(5);
    assert_eq!(
        offsets(&read_from(&mut broker, 2, Some(int(2)))),
        vec![2, 3, 4]
    );
    assert_eq!(
        offsets(&read_from(&mut broker, 3, Some(int(-1)))),
        vec![0, 1, 2, 3, 4]
    );
    assert_eq!(
        offsets(&read_from(&mut broker, 4, Some(FieldValue::I32(0)))),
        vec![0, 1, 2, 3, 4]
    );
    assert_eq!(
        offsets(&read_from(&mut broker, 5, Some(int(6)))),
        Vec::<i64>::new()
    );
    broker.publish(1, 1, "", "s", "m5");
    broker.publish(1, 1, "", "s", "m6");
    let step = broker.sync();
    let on_channel_5: Vec<u64> = step
        .deliveries()
        .iter()
        .filter(|delivered| delivered.channel == 5)
        .map(|delivered| delivered.tag)
        .collect();
    assert_eq!(
        on_channel_5.len(),
        1,
        "offset 5 is skipped, offset 6 delivered"
    );
}

#[test]
fn consumer_from_a_timestamp_or_interval_starts_at_the_first_record_that_late() {
    let mut broker = Harness {
        now_ms: 1_700_000_000_000,
        ..Harness::default()
    };
    broker.connect(1);
    broker.send(1, 1, declare_stream("s", &[])).assert_ok();
    broker.publish(1, 1, "", "s", "old");
    broker.advance(2 * 3_600_000);
    broker.publish(1, 1, "", "s", "new");
    broker.sync();
    let seconds = |ms: u64| FieldValue::Timestamp(ms / 1000);
    let cases = [
        (seconds(broker.now_ms - 3 * 3_600_000), vec!["old", "new"]),
        (seconds(broker.now_ms - 1_000), vec!["new"]),
        (seconds(broker.now_ms + 1_000), vec![]),
        (string("3h"), vec!["old", "new"]),
        (string("30m"), vec!["new"]),
        (string("7D"), vec!["old", "new"]),
    ];
    for (channel, (offset, bodies)) in (2..).zip(cases) {
        let step = read_from(&mut broker, channel, Some(offset));
        assert_eq!(step.bodies(), bodies);
    }
}

#[test]
fn acks_are_credit_and_prefetch_bounds_unacked_deliveries() {
    let mut broker = stream_with(5);
    broker.qos(1, 1, 2, false);
    let step = broker.send(1, 1, consume_from("s", "c", Some(string("first"))));
    assert_eq!(offsets(&step), vec![0, 1]);
    assert_eq!(offsets(&broker.ack(1, 1, 1, false)), vec![2]);
    assert_eq!(offsets(&broker.ack(1, 1, 3, true)), vec![3, 4]);
    broker.ack(1, 1, 5, true).assert_ok();
    let step = broker.ack(1, 1, 5, false);
    step.assert_channel_error(ReplyCode::PreconditionFailed);
    assert_eq!(
        step.close().unwrap().2,
        "PRECONDITION_FAILED - unknown delivery tag 5"
    );
}

#[test]
fn several_consumers_each_see_every_record_and_reads_remove_nothing() {
    let mut broker = stream_with(3);
    broker.qos(1, 1, 10, false);
    broker.send(1, 1, consume_from("s", "a", Some(string("first"))));
    let step = broker.send(1, 1, consume_from("s", "b", Some(string("first"))));
    assert_eq!(offsets(&step), vec![0, 1, 2]);
    broker.connect(2);
    broker.qos(2, 1, 10, false);
    let exclusive = Command::BasicConsume {
        queue: "s".into(),
        consumer_tag: "x".into(),
        no_ack: false,
        exclusive: true,
        arguments: table(&[("x-stream-offset", string("first"))]),
    };
    let step = broker.send(2, 1, exclusive);
    assert_eq!(
        offsets(&step),
        vec![0, 1, 2],
        "exclusive is ignored on a stream"
    );
    broker.ack(2, 1, 3, true).assert_ok();
    let log = &broker.broker.streams().topic("_2f.s").unwrap().partitions()[0];
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 3));
}

#[test]
fn records_reach_consumers_once_synced() {
    let mut broker = stream_with(0);
    broker.qos(1, 1, 10, false);
    broker.send(1, 1, consume_from("s", "c", None)).assert_ok();
    assert!(broker.publish(1, 1, "", "s", "m").deliveries().is_empty());
    assert_eq!(broker.sync().bodies(), vec!["m"]);
}

#[test]
fn basic_get_and_purge_on_a_stream_are_not_implemented() {
    for (command, what) in [
        (
            Command::BasicGet {
                queue: "s".into(),
                no_ack: false,
            },
            "basic.get",
        ),
        (
            Command::BasicGet {
                queue: "s".into(),
                no_ack: true,
            },
            "basic.get",
        ),
        (Command::QueuePurge { queue: "s".into() }, "queue.purge"),
    ] {
        let mut broker = stream_with(1);
        let step = broker.send(1, 1, command);
        step.assert_connection_error(ReplyCode::NotImplemented);
        assert_eq!(
            step.close().unwrap().2,
            format!(
                "NOT_IMPLEMENTED - {what} not supported by stream queues queue 's' in vhost '/'"
            )
        );
    }
}

#[test]
fn nack_and_reject_of_stream_deliveries_are_not_implemented() {
    for requeue in [true, false] {
        for reject in [true, false] {
            let mut broker = stream_with(2);
            read_from(&mut broker, 2, Some(string("first")));
            let step = if reject {
                broker.reject(1, 2, 1, requeue)
            } else {
                broker.nack(1, 2, 2, true, requeue)
            };
            step.assert_connection_error(ReplyCode::NotImplemented);
            assert_eq!(
                step.close().unwrap().2,
                "NOT_IMPLEMENTED - basic.nack and basic.reject not supported by stream queues queue 's' in vhost '/'"
            );
        }
    }
}

/// Differs: RabbitMQ 3.10.8 crashes (541 INTERNAL_ERROR) on basic.recover
/// of a channel holding stream deliveries.
#[test]
fn recover_of_stream_deliveries_is_not_implemented() {
    let mut broker = stream_with(1);
    read_from(&mut broker, 2, Some(string("first")));
    let step = broker.send(1, 2, Command::BasicRecover { requeue: true });
    step.assert_connection_error(ReplyCode::NotImplemented);
    assert_eq!(
        step.close().unwrap().2,
        "NOT_IMPLEMENTED - basic.recover not supported by stream queues queue 's' in vhost '/'"
    );
}

#[test]
fn stream_deliveries_unacked_when_their_channel_closes_are_forgotten() {
    let mut broker = stream_with(2);
    read_from(&mut broker, 2, Some(string("first")));
    broker.send(1, 2, Command::ChannelClose).assert_ok();
    let step = read_from(&mut broker, 3, Some(string("first")));
    assert_eq!(offsets(&step), vec![0, 1]);
    assert!(step
        .deliveries()
        .iter()
        .all(|delivered| !delivered.redelivered));
}

#[test]
fn deleting_a_stream_cancels_its_consumers_and_deletes_its_log_whatever_its_flags() {
    let mut broker = stream_with(3);
    read_from(&mut broker, 2, Some(string("first")));
    let delete = Command::QueueDelete {
        queue: "s".into(),
        if_unused: true,
        if_empty: true,
    };
    let step = broker.send(1, 1, delete);
    step.assert_ok();
    assert!(step
        .replies(1, 2)
        .iter()
        .any(|reply| matches!(reply, Reply::Cancel { .. })));
    assert!(step
        .replies(1, 1)
        .iter()
        .any(|reply| matches!(reply, Reply::QueueDeleteOk { message_count: 0 })));
    assert!(broker.broker.streams().topic("_2f.s").is_none());
    broker.ack(1, 2, 3, true).assert_ok();
}

#[test]
fn stream_queue_and_its_records_survive_a_restart() {
    let mut broker = stream_with(2);
    let records = broker.log.len();
    broker.crash_and_recover(records);
    broker.connect(1);
    broker.send(1, 1, declare_stream("s", &[])).assert_ok();
    broker.publish(1, 1, "", "s", "m2");
    broker.sync();
    let step = read_from(&mut broker, 2, Some(string("first")));
    assert_eq!(
        (step.bodies(), offsets(&step)),
        (vec!["m0".into(), "m1".into(), "m2".into()], vec![0, 1, 2])
    );
}

#[test]
fn size_retention_moves_the_first_offset_consumers_read_from() {
    let mut broker = Harness::default();
    broker.connect(1);
    let arguments = [
        ("x-max-length-bytes", int(1000)),
        ("x-stream-max-segment-size-bytes", int(500)),
    ];
    broker
        .send(1, 1, declare_stream("s", &arguments))
        .assert_ok();
    for _ in 0..100 {
        broker.publish(1, 1, "", "s", &"x".repeat(100));
        broker.sync();
    }
    let step = read_from(&mut broker, 2, Some(string("first")));
    let first = offsets(&step)[0];
    assert!(first > 80, "about 1000 bytes are kept, not {first}");
    assert_eq!(*offsets(&step).last().unwrap(), 99);
}

#[test]
fn a_record_from_another_front_end_reads_as_a_message_with_its_headers_and_null_as_void() {
    let mut broker = stream_with(0);
    let record = brokerlab_core::stream::StreamRecord {
        timestamp_ms: 0,
        key: None,
        value: Some("from kafka".into()),
        headers: vec![("h".into(), Some("v".into())), ("n".into(), None)],
    };
    let produce = StreamCommand::Produce {
        topic: "_2f.s".into(),
        partition: 0,
        acks: brokerlab_core::stream::Acks::Synced,
        batch: brokerlab_core::stream::ProducedBatch::plain(vec![record]),
    };
    broker.stream(1, 1, produce);
    let synced = broker.sync();
    assert!(matches!(
        synced.stream_replies()[0].2,
        StreamReply::Produced { result: Ok(_), .. }
    ));
    let step = read_from(&mut broker, 2, Some(string("first")));
    assert_eq!(step.bodies(), vec!["from kafka"]);
    let message = &step.deliveries()[0].message;
    assert_eq!(
        (message.exchange().as_str(), message.routing_key().as_str()),
        ("", "s")
    );
    let headers = message.properties().headers.as_ref().unwrap();
    assert_eq!(headers.get("h"), Some(&string("v")));
    assert_eq!(headers.get("n"), Some(&FieldValue::Void));
}
