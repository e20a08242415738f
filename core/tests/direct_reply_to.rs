//! Direct reply-to, as RabbitMQ 3.10.8 answers it (every text and code
//! below was read off a run against it): the pseudo-queue
//! `amq.rabbitmq.reply-to`, the per-channel reply-to name a request's
//! `reply_to` is rewritten to, replies delivered straight to the reply
//! consumer, and the error for each misuse.
//!
//! Every test is named after the rule it checks.

mod support;

use brokerlab_core::{
    CloseScope, Command, Config, DropReason, Event, FieldTable, Properties, Reply, ReplyCode,
};
use bytes::Bytes;
use std::sync::Arc;
use support::{channel_answers, consume, declare, passive_declare, publish, table, Harness, Step};

const REPLY_TO: &str = "amq.rabbitmq.reply-to";

/// Connection 1 is the RPC client (channel 1), connection 2 the RPC server
/// (channel 1, with its request queue "rpc").
fn rpc_pair() -> Harness {
    let mut broker = Harness::default();
    broker.connect(1);
    broker.connect(2);
    broker.declare(2, 1, "rpc", FieldTable::new()).assert_ok();
    broker
}

/// Properties asking for a reply on the pseudo-queue.
fn asking() -> Properties {
    Properties {
        reply_to: Some(REPLY_TO.into()),
        correlation_id: Some("c1".into()),
        ..Properties::default()
    }
}

/// The client's reply consumer "r" on connection 1, channel 1, and a
/// request sent; returns the reply-to name the server received.
fn request(broker: &mut Harness) -> String {
    broker.consume(1, 1, REPLY_TO, "r", true).assert_ok();
    broker
        .publish_with(1, 1, "", "rpc", "ping", asking())
        .assert_ok();
    let step = broker.get(2, 1, "rpc", true);
    let delivered = step.deliveries();
    assert_eq!(delivered.len(), 1, "{:#?}", step.outputs);
    delivered[0]
        .message
        .properties()
        .reply_to
        .clone()
        .expect("the request carries a reply-to")
}

fn mandatory(exchange: &str, key: &str, body: &str) -> Command {
    Command::BasicPublish {
        exchange: exchange.into(),
        routing_key: key.into(),
        mandatory: true,
        immediate: false,
        properties: Arc::new(Properties::default()).into(),
        body: Bytes::copy_from_slice(body.as_bytes()),
    }
}

fn close_text(step: &Step) -> String {
    step.close().expect("the step closed something").2
}

fn returned(step: &Step) -> Vec<(ReplyCode, String)> {
    step.all_replies()
        .into_iter()
        .filter_map(|(_, _, reply)| match reply {
            Reply::Return { code, message, .. } => {
                Some((code, String::from_utf8_lossy(&message.body).into_owned()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn consuming_the_pseudo_queue_with_no_ack_needs_no_queue() {
    let mut broker = rpc_pair();
    let step = broker.consume(1, 1, REPLY_TO, "r", true);
    assert_eq!(
        step.replies(1, 1),
        vec![Reply::ConsumeOk {
            consumer_tag: "r".into()
        }]
    );
}

#[test]
fn a_reply_consumer_without_a_tag_gets_a_generated_one() {
    let mut broker = rpc_pair();
    let step = broker.consume(1, 1, REPLY_TO, "", true);
    let replies = step.replies(1, 1);
    let [Reply::ConsumeOk { consumer_tag }] = replies.as_slice() else {
        panic!("{:#?}", step.outputs);
    };
    assert!(consumer_tag.starts_with("amq.ctag-"), "{consumer_tag}");
}

#[test]
fn consuming_the_pseudo_queue_with_acknowledgements_is_a_406_channel_error() {
    let mut broker = rpc_pair();
    let step = broker.consume(1, 1, REPLY_TO, "r", false);
    step.assert_channel_error(ReplyCode::PreconditionFailed);
    assert_eq!(
        close_text(&step),
        "PRECONDITION_FAILED - reply consumer cannot acknowledge"
    );
}

#[test]
fn a_second_reply_consumer_on_a_channel_is_a_406_channel_error() {
    let mut broker = rpc_pair();
    broker.consume(1, 1, REPLY_TO, "r1", true).assert_ok();
    let step = broker.consume(1, 1, REPLY_TO, "r2", true);
    step.assert_channel_error(ReplyCode::PreconditionFailed);
    assert_eq!(
        close_text(&step),
        "PRECONDITION_FAILED - reply consumer already set"
    );
}

#[test]
fn each_channel_has_its_own_reply_consumer() {
    let mut broker = rpc_pair();
    broker.open(1, 2);
    broker.consume(1, 1, REPLY_TO, "r1", true).assert_ok();
    broker.consume(1, 2, REPLY_TO, "r2", true).assert_ok();
}

#[test]
fn a_reply_consumer_may_not_take_a_queue_consumers_tag_530() {
    let mut broker = rpc_pair();
    broker.declare(1, 1, "q", FieldTable::new()).assert_ok();
    broker.consume(1, 1, "q", "t", true).assert_ok();
    let step = broker.consume(1, 1, REPLY_TO, "t", true);
    step.assert_connection_error(ReplyCode::NotAllowed);
    assert_eq!(
        close_text(&step),
        "NOT_ALLOWED - attempt to reuse consumer tag 't'"
    );
}

#[test]
fn a_queue_consumer_may_take_the_reply_consumers_tag() {
    let mut broker = rpc_pair();
    broker.consume(1, 1, REPLY_TO, "t", true).assert_ok();
    broker.declare(1, 1, "q", FieldTable::new()).assert_ok();
    broker.consume(1, 1, "q", "t", true).assert_ok();
}

#[test]
fn cancelling_the_reply_consumer_answers_cancel_ok_and_frees_the_channel_for_another() {
    let mut broker = rpc_pair();
    broker.consume(1, 1, REPLY_TO, "r", true).assert_ok();
    let step = broker.send(
        1,
        1,
        Command::BasicCancel {
            consumer_tag: "r".into(),
        },
    );
    assert_eq!(
        step.replies(1, 1),
        vec![Reply::CancelOk {
            consumer_tag: "r".into()
        }]
    );
    broker.consume(1, 1, REPLY_TO, "r", true).assert_ok();
}

#[test]
fn a_request_asking_for_the_pseudo_queue_carries_the_channels_reply_name() {
    let mut broker = rpc_pair();
    let name = request(&mut broker);
    assert_eq!(name, "amq.rabbitmq.reply-to.1.1.1");
}

#[test]
fn the_reply_name_changes_with_each_reply_consumer() {
    let mut broker = rpc_pair();
    let first = request(&mut broker);
    let cancel = Command::BasicCancel {
        consumer_tag: "r".into(),
    };
    broker.send(1, 1, cancel).assert_ok();
    let second = request(&mut broker);
    assert_ne!(first, second);
}

#[test]
fn the_channel_keeps_the_properties_the_client_sent_for_a_repeat() {
    let mut broker = rpc_pair();
    request(&mut broker);
    let repeat = Command::BasicPublish {
        exchange: "".into(),
        routing_key: "rpc".into(),
        mandatory: false,
        immediate: false,
        properties: brokerlab_core::PublishProperties::Repeated,
        body: Bytes::from_static(b"again"),
    };
    broker.send(1, 1, repeat).assert_ok();
    let step = broker.get(2, 1, "rpc", true);
    let delivered = step.deliveries();
    assert_eq!(
        delivered[0].message.properties().reply_to.as_deref(),
        Some("amq.rabbitmq.reply-to.1.1.1")
    );
}

#[test]
fn asking_for_replies_without_a_reply_consumer_on_the_channel_is_a_406_channel_error() {
    let mut broker = rpc_pair();
    broker.open(1, 2);
    broker.consume(1, 2, REPLY_TO, "r", true).assert_ok();
    let step = broker.publish_with(1, 1, "", "rpc", "ping", asking());
    step.assert_channel_error(ReplyCode::PreconditionFailed);
    assert_eq!(
        close_text(&step),
        "PRECONDITION_FAILED - fast reply consumer does not exist"
    );
    assert_eq!(broker.ready_count(2, 1, "rpc"), 0);
}

#[test]
fn a_transactional_request_without_a_reply_consumer_is_refused_when_published() {
    let mut broker = rpc_pair();
    broker.send(1, 1, Command::TxSelect).assert_ok();
    let step = broker.publish_with(1, 1, "", "rpc", "ping", asking());
    step.assert_channel_error(ReplyCode::PreconditionFailed);
}

#[test]
fn a_missing_exchange_is_refused_before_a_missing_reply_consumer() {
    let mut broker = rpc_pair();
    let step = broker.publish_with(1, 1, "nosuch", "rpc", "ping", asking());
    step.assert_channel_error(ReplyCode::NotFound);
}

#[test]
fn other_reply_to_values_pass_unchanged() {
    let mut broker = rpc_pair();
    broker.consume(1, 1, REPLY_TO, "r", true).assert_ok();
    for reply_to in ["amq.rabbitmq.reply-to.foo", "amq.rabbitmq.Reply-To", "rpc"] {
        let properties = Properties {
            reply_to: Some(reply_to.into()),
            ..Properties::default()
        };
        broker
            .publish_with(1, 1, "", "rpc", "ping", properties)
            .assert_ok();
        let step = broker.get(2, 1, "rpc", true);
        assert_eq!(
            step.deliveries()[0]
                .message
                .properties()
                .reply_to
                .as_deref(),
            Some(reply_to)
        );
    }
}

#[test]
fn a_reply_through_the_default_exchange_goes_straight_to_the_reply_consumer() {
    let mut broker = rpc_pair();
    let name = request(&mut broker);
    let properties = Properties {
        correlation_id: Some("c1".into()),
        ..Properties::default()
    };
    let step = broker.publish_with(2, 1, "", &name, "pong", properties);
    step.assert_ok();
    let delivered = step.deliveries();
    assert_eq!(delivered.len(), 1, "{:#?}", step.outputs);
    let reply = &delivered[0];
    assert_eq!((reply.conn, reply.channel), (1, 1));
    assert_eq!(reply.consumer_tag.as_deref(), Some("r"));
    assert!(!reply.redelivered);
    assert_eq!(reply.message.exchange().as_str(), "");
    assert_eq!(reply.message.routing_key().as_str(), name);
    assert_eq!(reply.body_str(), "pong");
    assert_eq!(
        reply.message.properties().correlation_id.as_deref(),
        Some("c1")
    );
    let id = reply.message.id;
    let events = step.events();
    assert!(events.contains(&Event::RepliedDirectly {
        message: id,
        conn: brokerlab_core::ConnectionId(1),
        channel: brokerlab_core::ChannelId(1),
    }));
    assert!(
        !events
            .iter()
            .any(|event| matches!(event, Event::Dropped { .. } | Event::Enqueued { .. })),
        "{events:?}"
    );
    assert_eq!(broker.broker.dropped_count(DropReason::Unroutable), 0);
}

#[test]
fn a_direct_reply_carries_the_channels_next_delivery_tag_without_taking_it() {
    let mut broker = Harness::default();
    broker.connect(1);
    broker.consume(1, 1, REPLY_TO, "r", true).assert_ok();
    broker.declare(1, 1, "q", FieldTable::new()).assert_ok();
    broker.consume(1, 1, "q", "c", false).assert_ok();
    let step = broker.publish_with(1, 1, "", "q", "q1", asking());
    let name = step.deliveries()[0]
        .message
        .properties()
        .reply_to
        .clone()
        .expect("rewritten");
    let mut tags = vec![("q1".to_owned(), step.deliveries()[0].tag)];
    for (key, body) in [(name.as_str(), "r1"), ("q", "q2"), (name.as_str(), "r2")] {
        let step = broker.publish(1, 1, "", key, body);
        let delivered = step.deliveries();
        tags.push((delivered[0].body_str(), delivered[0].tag));
    }
    let expected = [("q1", 1), ("r1", 2), ("q2", 2), ("r2", 3)];
    let expected: Vec<(String, u64)> = expected
        .iter()
        .map(|(body, tag)| ((*body).to_owned(), *tag))
        .collect();
    assert_eq!(tags, expected);
    broker.ack(1, 1, 2, false).assert_ok();
}

#[test]
fn a_mandatory_direct_reply_is_delivered_and_also_returned_no_route() {
    let mut broker = rpc_pair();
    let name = request(&mut broker);
    let step = broker.send(2, 1, mandatory("", &name, "pong"));
    assert_eq!(step.bodies(), vec!["pong"]);
    assert_eq!(returned(&step), vec![(ReplyCode::NoRoute, "pong".into())]);
}

#[test]
fn a_confirmed_direct_reply_is_acked() {
    let mut broker = rpc_pair();
    let name = request(&mut broker);
    broker.send(2, 1, Command::ConfirmSelect).assert_ok();
    let step = broker.publish(2, 1, "", &name, "pong");
    assert_eq!(step.bodies(), vec!["pong"]);
    assert_eq!(step.confirms(), vec![(1, true)]);
}

#[test]
fn a_transactional_reply_is_delivered_at_commit() {
    let mut broker = rpc_pair();
    let name = request(&mut broker);
    broker.send(2, 1, Command::TxSelect).assert_ok();
    assert!(broker.publish(2, 1, "", &name, "pong").bodies().is_empty());
    let step = broker.send(2, 1, Command::TxCommit);
    assert_eq!(step.bodies(), vec!["pong"]);
}

#[test]
fn a_reply_after_the_reply_consumer_is_cancelled_is_dropped_or_returned() {
    let mut broker = rpc_pair();
    let name = request(&mut broker);
    let cancel = Command::BasicCancel {
        consumer_tag: "r".into(),
    };
    broker.send(1, 1, cancel).assert_ok();
    let step = broker.publish(2, 1, "", &name, "late");
    assert!(step.deliveries().is_empty());
    assert_eq!(broker.broker.dropped_count(DropReason::Unroutable), 1);
    let step = broker.send(2, 1, mandatory("", &name, "late"));
    assert!(step.deliveries().is_empty());
    assert_eq!(returned(&step), vec![(ReplyCode::NoRoute, "late".into())]);
}

#[test]
fn a_reply_to_the_name_of_an_earlier_reply_consumer_is_dropped() {
    let mut broker = rpc_pair();
    let first = request(&mut broker);
    let cancel = Command::BasicCancel {
        consumer_tag: "r".into(),
    };
    broker.send(1, 1, cancel).assert_ok();
    broker.consume(1, 1, REPLY_TO, "r", true).assert_ok();
    let step = broker.publish(2, 1, "", &first, "stale");
    assert!(step.deliveries().is_empty());
}

#[test]
fn a_reply_after_the_channel_closes_is_dropped() {
    let mut broker = rpc_pair();
    let name = request(&mut broker);
    broker.send(1, 1, Command::ChannelClose).assert_ok();
    broker.open(1, 1);
    assert!(broker
        .publish(2, 1, "", &name, "late")
        .deliveries()
        .is_empty());
    broker.disconnect(1);
    assert!(broker
        .publish(2, 1, "", &name, "late")
        .deliveries()
        .is_empty());
}

#[test]
fn a_reply_through_another_exchange_is_not_delivered() {
    let mut broker = rpc_pair();
    let name = request(&mut broker);
    let step = broker.publish(2, 1, "amq.direct", &name, "pong");
    assert!(step.deliveries().is_empty());
}

#[test]
fn a_reply_to_a_name_the_broker_never_gave_is_unroutable() {
    let mut broker = rpc_pair();
    request(&mut broker);
    for name in [
        "amq.rabbitmq.reply-to.1.1.2",
        "amq.rabbitmq.reply-to.garbage",
        REPLY_TO,
    ] {
        let step = broker.send(2, 1, mandatory("", name, "pong"));
        assert!(step.deliveries().is_empty(), "{name}");
        assert_eq!(returned(&step), vec![(ReplyCode::NoRoute, "pong".into())]);
    }
}

#[test]
fn a_message_dead_lettered_to_a_reply_name_goes_to_the_reply_consumer() {
    let mut broker = rpc_pair();
    let name = request(&mut broker);
    let arguments = table(&[
        ("x-dead-letter-exchange", support::string("")),
        ("x-dead-letter-routing-key", support::string(&name)),
        ("x-message-ttl", support::int(0)),
    ]);
    broker.declare(2, 1, "dying", arguments).assert_ok();
    let step = broker.publish(2, 1, "", "dying", "dead");
    let delivered = step.deliveries();
    assert_eq!(delivered.len(), 1, "{:#?}", step.outputs);
    assert_eq!(
        (delivered[0].conn, delivered[0].body_str()),
        (1, "dead".into())
    );
    assert!(delivered[0]
        .message
        .properties()
        .headers
        .as_ref()
        .is_some_and(|headers| headers.contains_key("x-death")));
}

#[test]
fn declaring_the_pseudo_queue_is_passive_whatever_the_flags_and_counts_one_consumer() {
    let mut broker = rpc_pair();
    let durable_exclusive = Command::QueueDeclare {
        queue: REPLY_TO.into(),
        passive: false,
        durable: true,
        exclusive: true,
        auto_delete: true,
        arguments: FieldTable::new(),
    };
    for command in [
        declare(REPLY_TO, FieldTable::new()),
        passive_declare(REPLY_TO),
        durable_exclusive,
    ] {
        let step = broker.send(1, 1, command);
        assert_eq!(step.declare_ok(), Some((REPLY_TO.into(), 0, 1)));
    }
}

#[test]
fn declaring_a_live_reply_name_from_any_connection_counts_one_consumer() {
    let mut broker = rpc_pair();
    let name = request(&mut broker);
    for command in [passive_declare(&name), declare(&name, FieldTable::new())] {
        let step = broker.send(2, 1, command);
        assert_eq!(step.declare_ok(), Some((name.clone(), 0, 1)));
    }
}

#[test]
fn declaring_any_other_name_under_the_pseudo_queues_is_a_404_channel_error() {
    for name in [
        "amq.rabbitmq.reply-to.abc",
        "amq.rabbitmq.reply-tox",
        "amq.rabbitmq.reply-to.1.1.1",
    ] {
        for command in [passive_declare(name), declare(name, FieldTable::new())] {
            let mut broker = rpc_pair();
            let step = broker.send(1, 1, command);
            step.assert_channel_error(ReplyCode::NotFound);
            assert_eq!(
                close_text(&step),
                format!("NOT_FOUND - no queue '{name}' in vhost '/'")
            );
        }
    }
}

#[test]
fn the_pseudo_queue_is_no_queue_for_get_bind_purge_or_consuming_a_reply_name() {
    let commands = [
        Command::BasicGet {
            queue: REPLY_TO.into(),
            no_ack: true,
        },
        support::bind(REPLY_TO, "amq.direct", "k", FieldTable::new()),
        Command::QueuePurge {
            queue: REPLY_TO.into(),
        },
    ];
    for command in commands {
        let mut broker = rpc_pair();
        let step = broker.send(1, 1, command);
        step.assert_channel_error(ReplyCode::NotFound);
        assert_eq!(
            close_text(&step),
            "NOT_FOUND - no queue 'amq.rabbitmq.reply-to' in vhost '/'"
        );
    }
    let mut broker = rpc_pair();
    let name = request(&mut broker);
    let step = broker.send(2, 1, consume(&name, "c", true));
    step.assert_channel_error(ReplyCode::NotFound);
}

#[test]
fn deleting_the_pseudo_queue_answers_delete_ok_with_no_messages() {
    let mut broker = rpc_pair();
    let step = broker.send(
        1,
        1,
        Command::QueueDelete {
            queue: REPLY_TO.into(),
            if_unused: false,
            if_empty: false,
        },
    );
    assert_eq!(
        step.replies(1, 1),
        vec![Reply::QueueDeleteOk { message_count: 0 }]
    );
}

#[test]
fn consuming_the_empty_name_after_declaring_the_pseudo_queue_consumes_replies() {
    let mut broker = rpc_pair();
    broker
        .send(1, 1, declare(REPLY_TO, FieldTable::new()))
        .assert_ok();
    broker.consume(1, 1, "", "r", true).assert_ok();
    broker
        .publish_with(1, 1, "", "rpc", "ping", asking())
        .assert_ok();
    let step = broker.consume(1, 1, "", "r2", false);
    assert_eq!(
        close_text(&step),
        "PRECONDITION_FAILED - reply consumer cannot acknowledge"
    );
}

#[test]
fn a_refusal_closes_only_the_channel() {
    let mut broker = rpc_pair();
    broker.open(1, 2);
    let step = broker.consume(1, 1, REPLY_TO, "r", false);
    assert_eq!(step.close().map(|close| close.0), Some(CloseScope::Channel));
    assert!(channel_answers(&mut broker, 1, 2));
}

#[test]
fn replies_need_no_events_to_be_delivered() {
    let mut broker = Harness::new(Config {
        events: false,
        ..Config::default()
    });
    broker.connect(1);
    broker.connect(2);
    broker.declare(2, 1, "rpc", FieldTable::new()).assert_ok();
    let name = request(&mut broker);
    let step = broker.send(2, 1, publish("", &name, "pong", Properties::default()));
    assert_eq!(step.bodies(), vec!["pong"]);
}
