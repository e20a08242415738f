//! SEMANTICS.md section 4, consuming and acknowledging: consumer tags,
//! no-ack, exclusive consumers, round-robin dispatch under prefetch, delivery
//! tags, ack/nack/reject (with `multiple`), requeue to the original position,
//! basic.cancel, basic.get, basic.recover, cancel notifications on queue
//! deletion and the consumer timeout.
//!
//! Every test is named after the rule it checks and asserts the reply codes
//! as well as what the error closes (the channel or the whole connection).

mod support;

use brokerlab_core::{Command, Config, DropReason, Event, FieldTable, MessageId, Reply, ReplyCode};
use support::{channel_answers, passive_declare, Delivered, Harness, Step};

/// A broker with connection 1 (channel 1 open) and queue `name`.
fn with_queue(name: &str) -> Harness {
    let mut broker = Harness::default();
    broker.connect(1);
    broker.declare(1, 1, name, FieldTable::new()).assert_ok();
    broker
}

/// Publishes each body to `queue` through the default exchange, from connection 1.
fn publish_all(broker: &mut Harness, queue: &str, bodies: &[&str]) -> Step {
    let mut all = Step::default();
    for body in bodies {
        let step = broker.publish(1, 1, "", queue, body);
        step.assert_ok();
        all.extend(step);
    }
    all
}

/// A basic.consume with `exclusive` set.
fn exclusive_consume(queue: &str, tag: &str) -> Command {
    Command::BasicConsume {
        queue: queue.into(),
        consumer_tag: tag.into(),
        no_ack: false,
        exclusive: true,
        arguments: FieldTable::new(),
    }
}

/// (body, redelivered) of each delivery.
fn seen(deliveries: &[Delivered]) -> Vec<(String, bool)> {
    deliveries
        .iter()
        .map(|delivery| (delivery.body_str(), delivery.redelivered))
        .collect()
}

/// The delivery tags of the step's deliveries.
fn tags(step: &Step) -> Vec<u64> {
    step.deliveries()
        .iter()
        .map(|delivery| delivery.tag)
        .collect()
}

/// The connections the step's deliveries went to.
fn receivers(step: &Step) -> Vec<u64> {
    step.deliveries()
        .iter()
        .map(|delivery| delivery.conn)
        .collect()
}

/// The ids of the events of one kind, in order.
fn ids(step: &Step, kind: fn(&Event) -> Option<MessageId>) -> Vec<MessageId> {
    step.events().iter().filter_map(kind).collect()
}

fn acked(event: &Event) -> Option<MessageId> {
    match event {
        Event::Acked { message, .. } => Some(*message),
        _ => None,
    }
}

fn requeued(event: &Event) -> Option<MessageId> {
    match event {
        Event::Requeued { message, .. } => Some(*message),
        _ => None,
    }
}

fn published(event: &Event) -> Option<MessageId> {
    match event {
        Event::Published { message, .. } => Some(*message),
        _ => None,
    }
}

/// The consumer count of a queue, by a passive declare on connection 1, channel 1.
fn consumer_count(broker: &mut Harness, queue: &str) -> u32 {
    let step = broker.send(1, 1, passive_declare(queue));
    step.declare_ok()
        .map(|(_, _, consumers)| consumers)
        .expect("the queue exists")
}

/// Something a client does that gives its deliveries back, for table-driven tests.
type Trigger = fn(&mut Harness) -> Step;

/// How a delivery is settled, for table-driven tests.
#[derive(Clone, Copy, Debug)]
enum Verb {
    Ack,
    NackRequeue,
    NackDiscard,
    RejectRequeue,
    RejectDiscard,
}

impl Verb {
    fn command(self, delivery_tag: u64, multiple: bool) -> Command {
        match self {
            Verb::Ack => Command::BasicAck {
                delivery_tag,
                multiple,
            },
            Verb::NackRequeue => Command::BasicNack {
                delivery_tag,
                multiple,
                requeue: true,
            },
            Verb::NackDiscard => Command::BasicNack {
                delivery_tag,
                multiple,
                requeue: false,
            },
            Verb::RejectRequeue => Command::BasicReject {
                delivery_tag,
                requeue: true,
            },
            Verb::RejectDiscard => Command::BasicReject {
                delivery_tag,
                requeue: false,
            },
        }
    }

    /// The ids the step settled the way this verb settles.
    fn settled(self, step: &Step) -> Vec<MessageId> {
        step.events()
            .iter()
            .filter_map(|event| match (self, event) {
                (Verb::Ack, Event::Acked { message, .. }) => Some(*message),
                (Verb::NackRequeue | Verb::RejectRequeue, Event::Requeued { message, .. }) => {
                    Some(*message)
                }
                (
                    Verb::NackDiscard | Verb::RejectDiscard,
                    Event::Dropped {
                        message,
                        reason: DropReason::NoDeadLetterExchange(_),
                        ..
                    },
                ) => Some(*message),
                _ => None,
            })
            .collect()
    }
}

#[test]
fn consume_with_a_client_tag_is_answered_with_that_tag() {
    let mut broker = with_queue("q");
    broker.connect(2);
    let step = broker.consume(2, 1, "q", "my-tag", false);
    assert_eq!(
        step.replies(2, 1),
        vec![Reply::ConsumeOk {
            consumer_tag: "my-tag".into()
        }]
    );
    let delivery = publish_all(&mut broker, "q", &["m"]).deliveries();
    assert_eq!(delivery[0].consumer_tag.as_deref(), Some("my-tag"));
}

#[test]
fn consume_without_a_tag_gets_a_server_generated_amq_ctag() {
    let mut broker = with_queue("q");
    broker.declare(1, 1, "r", FieldTable::new()).assert_ok();
    broker.connect(2);
    let mut generated = Vec::new();
    for queue in ["q", "r"] {
        let step = broker.consume(2, 1, queue, "", false);
        step.assert_ok();
        let replies = step.replies(2, 1);
        let [Reply::ConsumeOk { consumer_tag }] = replies.as_slice() else {
            panic!("consume-ok: {step:#?}");
        };
        assert!(consumer_tag.starts_with("amq.ctag-"), "{consumer_tag}");
        assert!(consumer_tag.len() > "amq.ctag-".len(), "{consumer_tag}");
        generated.push(consumer_tag.to_string());
    }
    assert_ne!(
        generated[0], generated[1],
        "generated tags are unique on the channel"
    );
    let deliveries = publish_all(&mut broker, "r", &["m"]).deliveries();
    assert_eq!(
        deliveries[0].consumer_tag.as_deref(),
        Some(generated[1].as_str())
    );
}

#[test]
fn reusing_a_consumer_tag_on_a_channel_closes_the_connection_with_530() {
    for reuse_generated in [false, true] {
        let mut broker = with_queue("q");
        broker.declare(1, 1, "r", FieldTable::new()).assert_ok();
        broker.connect(2);
        broker.open(2, 2);
        let first = broker.consume(2, 1, "q", if reuse_generated { "" } else { "c" }, false);
        let replies = first.replies(2, 1);
        let [Reply::ConsumeOk { consumer_tag }] = replies.as_slice() else {
            panic!("consume-ok: {first:#?}");
        };
        let step = broker.consume(2, 1, "r", consumer_tag, false);
        step.assert_connection_error(ReplyCode::NotAllowed);
        assert!(
            !channel_answers(&mut broker, 2, 1),
            "generated={reuse_generated}"
        );
        assert!(
            !channel_answers(&mut broker, 2, 2),
            "generated={reuse_generated}: the whole connection"
        );
        assert!(
            channel_answers(&mut broker, 1, 1),
            "generated={reuse_generated}: other connections stay"
        );
        assert_eq!(
            consumer_count(&mut broker, "q"),
            0,
            "the closed connection's consumers are gone"
        );
        assert_eq!(consumer_count(&mut broker, "r"), 0);
    }
}

#[test]
fn the_same_consumer_tag_on_another_channel_is_allowed() {
    let mut broker = with_queue("q");
    broker.connect(2);
    broker.open(2, 2);
    broker.consume(2, 1, "q", "c", false).assert_ok();
    broker.consume(2, 2, "q", "c", false).assert_ok();
    broker.connect(3);
    broker.consume(3, 1, "q", "c", false).assert_ok();
    assert_eq!(consumer_count(&mut broker, "q"), 3);
}

#[test]
fn a_cancelled_consumer_tag_can_be_reused() {
    let mut broker = with_queue("q");
    broker.connect(2);
    broker.consume(2, 1, "q", "c", false).assert_ok();
    let cancel = broker.send(
        2,
        1,
        Command::BasicCancel {
            consumer_tag: "c".into(),
        },
    );
    assert_eq!(
        cancel.replies(2, 1),
        vec![Reply::CancelOk {
            consumer_tag: "c".into()
        }]
    );
    broker.consume(2, 1, "q", "c", false).assert_ok();
    assert_eq!(consumer_count(&mut broker, "q"), 1);
}

#[test]
fn no_ack_delivery_is_settled_when_sent() {
    let mut broker = with_queue("q");
    broker.connect(2);
    broker.open(2, 2);
    broker.consume(2, 1, "q", "c", true).assert_ok();
    let step = publish_all(&mut broker, "q", &["a"]);
    let id = ids(&step, published)[0];
    assert_eq!(tags(&step), vec![1]);
    assert_eq!(
        ids(&step, acked),
        vec![id],
        "settled in the same step it was sent: {step:#?}"
    );
    let close = broker.send(2, 1, Command::ChannelClose);
    assert!(
        ids(&close, requeued).is_empty(),
        "nothing to requeue: {close:#?}"
    );
    assert_eq!(broker.drain("q"), Vec::<String>::new());
}

#[test]
fn acking_a_no_ack_delivery_closes_the_channel_with_406() {
    let mut broker = with_queue("q");
    broker.connect(2);
    broker.open(2, 2);
    broker.consume(2, 1, "q", "c", true).assert_ok();
    publish_all(&mut broker, "q", &["a"]);
    broker
        .ack(2, 1, 1, false)
        .assert_channel_error(ReplyCode::PreconditionFailed);
    assert!(!channel_answers(&mut broker, 2, 1));
    assert!(
        channel_answers(&mut broker, 2, 2),
        "only the channel closes"
    );
}

#[test]
fn no_ack_consumer_is_not_limited_by_prefetch() {
    let mut broker = with_queue("q");
    broker.connect(2);
    broker.qos(2, 1, 1, false).assert_ok();
    broker.qos(2, 1, 1, true).assert_ok();
    broker.consume(2, 1, "q", "c", true).assert_ok();
    let step = publish_all(&mut broker, "q", &["a", "b", "c", "d"]);
    assert_eq!(step.bodies(), vec!["a", "b", "c", "d"]);
}

#[test]
fn exclusive_consume_is_refused_with_403_when_another_consumer_exists() {
    // (where the existing consumer is, whether it is exclusive itself)
    let cases = [
        ("same channel", 2, 1),
        ("other channel", 2, 2),
        ("other connection", 3, 1),
    ];
    for (case, conn, channel) in cases {
        let mut broker = with_queue("q");
        broker.connect(2);
        broker.open(2, 2);
        broker.open(2, 3);
        broker.connect(3);
        broker
            .consume(conn, channel, "q", "existing", false)
            .assert_ok();
        let step = broker.send(2, 3, exclusive_consume("q", "exclusive"));
        step.assert_channel_error(ReplyCode::AccessRefused);
        assert!(
            !step
                .replies(2, 3)
                .iter()
                .any(|reply| matches!(reply, Reply::ConsumeOk { .. })),
            "{case}"
        );
        assert!(
            !channel_answers(&mut broker, 2, 3),
            "{case}: the channel is closed"
        );
        assert!(
            channel_answers(&mut broker, 2, 2),
            "{case}: the connection is not"
        );
        assert_eq!(consumer_count(&mut broker, "q"), 1, "{case}");
    }
}

#[test]
fn consume_is_refused_with_403_while_an_exclusive_consumer_exists() {
    for (case, exclusive) in [("plain consume", false), ("exclusive consume", true)] {
        for (conn, channel) in [(2, 1), (2, 2), (3, 1)] {
            let mut broker = with_queue("q");
            broker.connect(2);
            broker.open(2, 2);
            broker.connect(3);
            broker
                .send(2, 1, exclusive_consume("q", "owner"))
                .assert_ok();
            let command = if exclusive {
                exclusive_consume("q", "other")
            } else {
                support::consume("q", "other", false)
            };
            let step = broker.send(conn, channel, command);
            step.assert_channel_error(ReplyCode::AccessRefused);
            // The refusal closes the refused channel, and with it the
            // exclusive consumer when that channel is the owner's.
            let expected = if (conn, channel) == (2, 1) { 0 } else { 1 };
            assert_eq!(
                consumer_count(&mut broker, "q"),
                expected,
                "{case} from {conn}/{channel}"
            );
        }
    }
}

#[test]
fn exclusive_consumer_leaving_lets_others_consume() {
    let mut broker = with_queue("q");
    broker.connect(2);
    broker.connect(3);
    broker
        .send(2, 1, exclusive_consume("q", "owner"))
        .assert_ok();
    broker
        .send(
            2,
            1,
            Command::BasicCancel {
                consumer_tag: "owner".into(),
            },
        )
        .assert_ok();
    broker.consume(3, 1, "q", "next", false).assert_ok();
    let step = publish_all(&mut broker, "q", &["m"]);
    assert_eq!(receivers(&step), vec![3]);
}

#[test]
fn dispatch_round_robins_over_consumers() {
    let mut broker = with_queue("q");
    for conn in [2, 3, 4] {
        broker.connect(conn);
        broker.consume(conn, 1, "q", "c", false).assert_ok();
    }
    let step = publish_all(&mut broker, "q", &["a", "b", "c", "d", "e", "f", "g"]);
    assert_eq!(receivers(&step), vec![2, 3, 4, 2, 3, 4, 2]);
}

#[test]
fn dispatch_round_robins_over_consumers_of_one_channel() {
    let mut broker = with_queue("q");
    broker.connect(2);
    broker.consume(2, 1, "q", "x", false).assert_ok();
    broker.consume(2, 1, "q", "y", false).assert_ok();
    let step = publish_all(&mut broker, "q", &["a", "b", "c", "d"]);
    let consumers: Vec<_> = step
        .deliveries()
        .iter()
        .map(|delivery| delivery.consumer_tag.clone().unwrap())
        .collect();
    assert_eq!(consumers, vec!["x", "y", "x", "y"]);
    assert_eq!(
        tags(&step),
        vec![1, 2, 3, 4],
        "one tag sequence for the channel"
    );
}

#[test]
fn round_robin_skips_consumers_without_capacity() {
    let mut broker = with_queue("q");
    broker.connect(2);
    broker.connect(3);
    broker.connect(4);
    broker.qos(2, 1, 1, false).assert_ok();
    broker.qos(3, 1, 2, false).assert_ok();
    for conn in [2, 3, 4] {
        broker.consume(conn, 1, "q", "c", false).assert_ok();
    }
    let step = publish_all(&mut broker, "q", &["a", "b", "c", "d", "e", "f"]);
    assert_eq!(receivers(&step), vec![2, 3, 4, 3, 4, 4]);
    let freed = broker.ack(2, 1, 1, false);
    assert!(freed.deliveries().is_empty(), "nothing is waiting");
    let next = publish_all(&mut broker, "q", &["g"]);
    assert_eq!(
        receivers(&next),
        vec![2],
        "the consumer with room again is next in turn"
    );
}

#[test]
fn round_robin_continues_after_a_consumer_is_cancelled() {
    let mut broker = with_queue("q");
    for conn in [2, 3, 4] {
        broker.connect(conn);
        broker.consume(conn, 1, "q", "c", false).assert_ok();
    }
    assert_eq!(receivers(&publish_all(&mut broker, "q", &["a"])), vec![2]);
    broker
        .send(
            3,
            1,
            Command::BasicCancel {
                consumer_tag: "c".into(),
            },
        )
        .assert_ok();
    let step = publish_all(&mut broker, "q", &["b", "c", "d", "e"]);
    assert_eq!(receivers(&step), vec![4, 2, 4, 2]);
}

#[test]
fn prefetch_count_limits_each_consumer() {
    let mut broker = with_queue("q");
    broker.connect(2);
    broker.qos(2, 1, 2, false).assert_ok();
    broker.consume(2, 1, "q", "c", false).assert_ok();
    let step = publish_all(&mut broker, "q", &["a", "b", "c", "d", "e"]);
    assert_eq!(step.bodies(), vec!["a", "b"]);
    assert_eq!(broker.ready_count(1, 1, "q"), 3);
    assert_eq!(broker.ack(2, 1, 1, false).bodies(), vec!["c"]);
    assert_eq!(broker.ack(2, 1, 3, true).bodies(), vec!["d", "e"]);
}

#[test]
fn per_consumer_prefetch_applies_only_to_consumers_created_after_it() {
    let mut broker = with_queue("before");
    broker.declare(1, 1, "after", FieldTable::new()).assert_ok();
    broker.connect(2);
    broker.consume(2, 1, "before", "early", false).assert_ok();
    broker.qos(2, 1, 1, false).assert_ok();
    broker.consume(2, 1, "after", "late", false).assert_ok();
    let early = publish_all(&mut broker, "before", &["a", "b", "c"]);
    assert_eq!(
        early.bodies(),
        vec!["a", "b", "c"],
        "the earlier consumer stays unlimited"
    );
    let late = publish_all(&mut broker, "after", &["a", "b", "c"]);
    assert_eq!(
        late.bodies(),
        vec!["a"],
        "the later consumer has prefetch 1"
    );
}

#[test]
fn lowering_per_consumer_prefetch_does_not_change_existing_consumers() {
    let mut broker = with_queue("q");
    broker.connect(2);
    broker.qos(2, 1, 1, false).assert_ok();
    broker.consume(2, 1, "q", "c", false).assert_ok();
    assert_eq!(
        publish_all(&mut broker, "q", &["a", "b", "c"]).bodies(),
        vec!["a"]
    );
    let step = broker.qos(2, 1, 0, false);
    step.assert_ok();
    assert!(
        step.deliveries().is_empty(),
        "the consumer keeps prefetch 1: {step:#?}"
    );
    assert_eq!(broker.ack(2, 1, 1, false).bodies(), vec!["b"]);
}

#[test]
fn per_consumer_prefetch_counts_each_consumer_separately() {
    let mut broker = with_queue("q1");
    broker.declare(1, 1, "q2", FieldTable::new()).assert_ok();
    broker.connect(2);
    broker.qos(2, 1, 1, false).assert_ok();
    broker.consume(2, 1, "q1", "c1", false).assert_ok();
    broker.consume(2, 1, "q2", "c2", false).assert_ok();
    assert_eq!(
        publish_all(&mut broker, "q1", &["a", "b"]).bodies(),
        vec!["a"]
    );
    assert_eq!(
        publish_all(&mut broker, "q2", &["c", "d"]).bodies(),
        vec!["c"]
    );
}

#[test]
fn global_prefetch_limits_the_channel_as_a_whole() {
    let mut broker = with_queue("q1");
    broker.declare(1, 1, "q2", FieldTable::new()).assert_ok();
    broker.connect(2);
    broker.consume(2, 1, "q1", "c1", false).assert_ok();
    broker.consume(2, 1, "q2", "c2", false).assert_ok();
    broker.qos(2, 1, 3, true).assert_ok();
    let first = publish_all(&mut broker, "q1", &["a", "b"]);
    let second = publish_all(&mut broker, "q2", &["c", "d"]);
    assert_eq!(first.bodies(), vec!["a", "b"]);
    assert_eq!(
        second.bodies(),
        vec!["c"],
        "three unacked on the channel in all"
    );
    let ack = broker.ack(2, 1, 1, false);
    assert_eq!(ack.bodies(), vec!["d"]);
}

#[test]
fn per_consumer_and_global_prefetch_both_apply() {
    let mut broker = with_queue("q1");
    broker.declare(1, 1, "q2", FieldTable::new()).assert_ok();
    broker.declare(1, 1, "q3", FieldTable::new()).assert_ok();
    broker.connect(2);
    broker.qos(2, 1, 2, false).assert_ok();
    broker.qos(2, 1, 3, true).assert_ok();
    for (queue, tag) in [("q1", "c1"), ("q2", "c2"), ("q3", "c3")] {
        broker.consume(2, 1, queue, tag, false).assert_ok();
    }
    assert_eq!(
        publish_all(&mut broker, "q1", &["a1", "b1", "c1"]).bodies(),
        vec!["a1", "b1"]
    );
    assert_eq!(
        publish_all(&mut broker, "q2", &["a2", "b2"]).bodies(),
        vec!["a2"]
    );
    assert_eq!(
        publish_all(&mut broker, "q3", &["a3"]).bodies(),
        Vec::<String>::new()
    );
    // Acking a q1 delivery frees room on the channel; q1's consumer would be at
    // its own limit again only after taking c1, and the others have room too.
    let step = broker.ack(2, 1, 1, false);
    assert_eq!(
        step.deliveries().len(),
        1,
        "one slot freed on the channel: {step:#?}"
    );
}

#[test]
fn prefetch_count_zero_is_unlimited() {
    for global in [false, true] {
        let mut broker = with_queue("q");
        broker.connect(2);
        broker.qos(2, 1, 0, global).assert_ok();
        broker.consume(2, 1, "q", "c", false).assert_ok();
        let bodies: Vec<String> = (0..50).map(|n| n.to_string()).collect();
        let bodies: Vec<&str> = bodies.iter().map(String::as_str).collect();
        assert_eq!(
            publish_all(&mut broker, "q", &bodies).deliveries().len(),
            50,
            "global={global}"
        );
    }
}

#[test]
fn raising_global_prefetch_releases_waiting_messages() {
    let mut broker = with_queue("q");
    broker.connect(2);
    broker.qos(2, 1, 1, true).assert_ok();
    broker.consume(2, 1, "q", "c", false).assert_ok();
    assert_eq!(
        publish_all(&mut broker, "q", &["a", "b", "c"]).bodies(),
        vec!["a"]
    );
    let step = broker.qos(2, 1, 0, true);
    assert_eq!(step.bodies(), vec!["b", "c"]);
}

#[test]
fn prefetch_size_other_than_zero_closes_the_connection_with_540() {
    for global in [false, true] {
        let mut broker = Harness::default();
        broker.connect(1);
        broker.open(1, 2);
        let step = broker.send(
            1,
            1,
            Command::BasicQos {
                prefetch_size: 1024,
                prefetch_count: 10,
                global,
            },
        );
        step.assert_connection_error(ReplyCode::NotImplemented);
        assert!(!step.replies(1, 1).contains(&Reply::QosOk));
        assert!(
            !channel_answers(&mut broker, 1, 2),
            "global={global}: the whole connection closes"
        );
    }
}

#[test]
fn delivery_tags_start_at_one_and_grow_by_one_per_channel() {
    let mut broker = with_queue("q1");
    broker.declare(1, 1, "q2", FieldTable::new()).assert_ok();
    broker.connect(2);
    broker.open(2, 2);
    broker.consume(2, 1, "q1", "c", false).assert_ok();
    broker.consume(2, 2, "q2", "c", false).assert_ok();
    let mut by_channel: [Vec<u64>; 2] = [Vec::new(), Vec::new()];
    for queue in ["q1", "q2", "q2", "q1", "q1", "q2", "q1"] {
        for delivery in publish_all(&mut broker, queue, &["m"]).deliveries() {
            by_channel[usize::from(delivery.channel) - 1].push(delivery.tag);
        }
    }
    assert_eq!(by_channel, [vec![1, 2, 3, 4], vec![1, 2, 3]]);
}

#[test]
fn delivery_tags_start_again_at_one_on_a_new_channel() {
    let mut broker = with_queue("q");
    publish_all(&mut broker, "q", &["a", "b", "c"]);
    broker.connect(2);
    assert_eq!(tags(&broker.get(2, 1, "q", true)), vec![1]);
    assert_eq!(tags(&broker.get(2, 1, "q", true)), vec![2]);
    broker.send(2, 1, Command::ChannelClose);
    broker.open(2, 1);
    assert_eq!(tags(&broker.get(2, 1, "q", true)), vec![1]);
}

#[test]
fn basic_get_counts_toward_delivery_tags() {
    let mut broker = with_queue("q1");
    broker.declare(1, 1, "q2", FieldTable::new()).assert_ok();
    publish_all(&mut broker, "q2", &["g1", "g2"]);
    broker.connect(2);
    broker.consume(2, 1, "q1", "c", false).assert_ok();
    assert_eq!(tags(&publish_all(&mut broker, "q1", &["d1"])), vec![1]);
    assert_eq!(tags(&broker.get(2, 1, "q2", false)), vec![2]);
    assert_eq!(tags(&publish_all(&mut broker, "q1", &["d2"])), vec![3]);
    assert_eq!(tags(&broker.get(2, 1, "q2", true)), vec![4]);
    assert_eq!(
        tags(&broker.get(2, 1, "q2", true)),
        Vec::<u64>::new(),
        "get-empty takes no tag"
    );
    assert_eq!(tags(&publish_all(&mut broker, "q1", &["d3"])), vec![5]);
    broker.ack(2, 1, 5, true).assert_ok();
}

#[test]
fn no_ack_deliveries_take_delivery_tags_too() {
    let mut broker = with_queue("q1");
    broker.declare(1, 1, "q2", FieldTable::new()).assert_ok();
    publish_all(&mut broker, "q2", &["g"]);
    broker.connect(2);
    broker.consume(2, 1, "q1", "c", true).assert_ok();
    assert_eq!(
        tags(&publish_all(&mut broker, "q1", &["a", "b"])),
        vec![1, 2]
    );
    assert_eq!(tags(&broker.get(2, 1, "q2", false)), vec![3]);
    broker.ack(2, 1, 3, false).assert_ok();
}

#[test]
fn multiple_settles_every_outstanding_tag_up_to_and_including_it() {
    for verb in [Verb::Ack, Verb::NackRequeue, Verb::NackDiscard] {
        let mut broker = with_queue("q");
        let published_step = publish_all(&mut broker, "q", &["1", "2", "3", "4", "5"]);
        let id = ids(&published_step, published);
        broker.connect(2);
        for _ in 0..5 {
            broker.get(2, 1, "q", false).assert_ok();
        }
        let step = broker.send(2, 1, verb.command(3, true));
        step.assert_ok();
        assert_eq!(verb.settled(&step), id[..3].to_vec(), "{verb:?}: {step:#?}");
        broker.ack(2, 1, 4, false).assert_ok();
        broker.ack(2, 1, 5, false).assert_ok();
        broker
            .ack(2, 1, 3, false)
            .assert_channel_error(ReplyCode::PreconditionFailed);
    }
}

#[test]
fn multiple_skips_tags_already_settled() {
    let mut broker = with_queue("q");
    let id = ids(
        &publish_all(&mut broker, "q", &["1", "2", "3", "4", "5"]),
        published,
    );
    broker.connect(2);
    for _ in 0..5 {
        broker.get(2, 1, "q", false).assert_ok();
    }
    broker.ack(2, 1, 2, false).assert_ok();
    let step = broker.ack(2, 1, 4, true);
    step.assert_ok();
    assert_eq!(ids(&step, acked), vec![id[0], id[2], id[3]]);
    broker.ack(2, 1, 5, false).assert_ok();
}

#[test]
fn tag_zero_with_multiple_settles_every_outstanding_delivery() {
    for verb in [Verb::Ack, Verb::NackRequeue, Verb::NackDiscard] {
        let mut broker = with_queue("q");
        let id = ids(
            &publish_all(&mut broker, "q", &["1", "2", "3", "4"]),
            published,
        );
        broker.connect(2);
        broker.qos(2, 1, 4, false).assert_ok();
        broker.consume(2, 1, "q", "c", false).assert_ok();
        broker.ack(2, 1, 2, false).assert_ok();
        let step = broker.send(2, 1, verb.command(0, true));
        step.assert_ok();
        assert_eq!(
            verb.settled(&step),
            vec![id[0], id[2], id[3]],
            "{verb:?}: {step:#?}"
        );
        // A requeue redelivers to the consumer at once; those are outstanding again.
        let redelivered = if matches!(verb, Verb::NackRequeue) {
            3
        } else {
            0
        };
        assert_eq!(step.deliveries().len(), redelivered, "{verb:?}");
        let rest = broker.ack(2, 1, 0, true);
        rest.assert_ok();
        assert_eq!(ids(&rest, acked).len(), redelivered, "{verb:?}");
    }
}

#[test]
fn unknown_delivery_tag_closes_the_channel_with_406() {
    let cases = [
        (
            "ack of a tag never sent",
            Command::BasicAck {
                delivery_tag: 7,
                multiple: false,
            },
        ),
        (
            "ack multiple of a tag never sent",
            Command::BasicAck {
                delivery_tag: 7,
                multiple: true,
            },
        ),
        (
            "nack of a tag never sent",
            Command::BasicNack {
                delivery_tag: 7,
                multiple: false,
                requeue: true,
            },
        ),
        (
            "reject of a tag never sent",
            Command::BasicReject {
                delivery_tag: 7,
                requeue: false,
            },
        ),
        (
            "ack of tag 0 without multiple",
            Command::BasicAck {
                delivery_tag: 0,
                multiple: false,
            },
        ),
        (
            "reject of tag 0",
            Command::BasicReject {
                delivery_tag: 0,
                requeue: true,
            },
        ),
    ];
    for (case, command) in cases {
        let mut broker = with_queue("q");
        publish_all(&mut broker, "q", &["a"]);
        broker.connect(2);
        broker.open(2, 2);
        assert_eq!(tags(&broker.get(2, 1, "q", false)), vec![1]);
        let step = broker.send(2, 1, command);
        step.assert_channel_error(ReplyCode::PreconditionFailed);
        assert!(
            !channel_answers(&mut broker, 2, 1),
            "{case}: the channel is closed"
        );
        assert!(
            channel_answers(&mut broker, 2, 2),
            "{case}: the connection is not"
        );
        let again = broker.get(2, 2, "q", false);
        assert_eq!(
            seen(&again.deliveries()),
            vec![("a".to_owned(), true)],
            "{case}: the delivery was requeued"
        );
    }
}

#[test]
fn already_settled_tag_closes_the_channel_with_406() {
    let firsts = [
        Verb::Ack,
        Verb::NackRequeue,
        Verb::NackDiscard,
        Verb::RejectRequeue,
        Verb::RejectDiscard,
    ];
    let seconds = [Verb::Ack, Verb::NackRequeue, Verb::RejectDiscard];
    for first in firsts {
        for second in seconds {
            let mut broker = with_queue("q");
            publish_all(&mut broker, "q", &["a", "b"]);
            broker.connect(2);
            broker.open(2, 2);
            // Two outstanding deliveries, so that the tag space is not empty afterwards.
            broker.get(2, 1, "q", false).assert_ok();
            broker.get(2, 1, "q", false).assert_ok();
            broker.send(2, 1, first.command(1, false)).assert_ok();
            let step = broker.send(2, 1, second.command(1, false));
            step.assert_channel_error(ReplyCode::PreconditionFailed);
            assert!(
                !channel_answers(&mut broker, 2, 1),
                "{first:?} then {second:?}"
            );
            assert!(
                channel_answers(&mut broker, 2, 2),
                "{first:?} then {second:?}"
            );
        }
    }
}

#[test]
fn settling_a_tag_of_another_channel_closes_the_channel_with_406() {
    let mut broker = with_queue("q");
    publish_all(&mut broker, "q", &["a"]);
    broker.connect(2);
    broker.open(2, 2);
    assert_eq!(tags(&broker.get(2, 1, "q", false)), vec![1]);
    broker
        .ack(2, 2, 1, false)
        .assert_channel_error(ReplyCode::PreconditionFailed);
    broker.ack(2, 1, 1, false).assert_ok();
}

#[test]
fn settling_after_the_queue_was_deleted_is_silent() {
    let verbs = [
        Verb::Ack,
        Verb::NackRequeue,
        Verb::NackDiscard,
        Verb::RejectRequeue,
        Verb::RejectDiscard,
    ];
    for verb in verbs {
        for multiple in [false, true] {
            if multiple && matches!(verb, Verb::RejectRequeue | Verb::RejectDiscard) {
                continue;
            }
            let mut broker = with_queue("q");
            publish_all(&mut broker, "q", &["a", "b"]);
            broker.connect(2);
            broker.consume(2, 1, "q", "c", false).assert_ok();
            let deleted = broker.send(
                1,
                1,
                Command::QueueDelete {
                    queue: "q".into(),
                    if_unused: false,
                    if_empty: false,
                },
            );
            deleted.assert_ok();
            let step = broker.send(2, 1, verb.command(if multiple { 2 } else { 1 }, multiple));
            step.assert_ok();
            assert!(
                step.all_replies().is_empty(),
                "{verb:?} multiple={multiple}: nothing is sent: {step:#?}"
            );
            assert!(
                channel_answers(&mut broker, 2, 1),
                "{verb:?} multiple={multiple}"
            );
            let probe = broker.send(1, 1, passive_declare("q"));
            probe.assert_channel_error(ReplyCode::NotFound);
        }
    }
}

#[test]
fn settling_after_the_queue_was_deleted_names_the_queue_in_its_events() {
    for verb in [Verb::Ack, Verb::NackRequeue] {
        let mut broker = with_queue("q");
        publish_all(&mut broker, "q", &["a"]);
        broker.connect(2);
        broker.consume(2, 1, "q", "c", false).assert_ok();
        let delete = Command::QueueDelete {
            queue: "q".into(),
            if_unused: false,
            if_empty: false,
        };
        broker.send(1, 1, delete).assert_ok();
        let step = broker.send(2, 1, verb.command(1, false));
        let expected = match verb {
            Verb::Ack => Event::Acked {
                message: MessageId(1),
                queue: "q".into(),
            },
            _ => Event::Dropped {
                message: MessageId(1),
                queue: Some("q".into()),
                reason: DropReason::QueueDeleted,
            },
        };
        assert_eq!(step.events(), vec![expected], "{verb:?}");
    }
}

#[test]
fn requeue_after_the_queue_was_redeclared_does_not_reach_the_new_queue() {
    let mut broker = with_queue("q");
    publish_all(&mut broker, "q", &["old"]);
    broker.connect(2);
    assert_eq!(broker.get(2, 1, "q", false).bodies(), vec!["old"]);
    broker
        .send(
            1,
            1,
            Command::QueueDelete {
                queue: "q".into(),
                if_unused: false,
                if_empty: false,
            },
        )
        .assert_ok();
    broker.declare(1, 1, "q", FieldTable::new()).assert_ok();
    broker.reject(2, 1, 1, true).assert_ok();
    assert_eq!(
        broker.drain("q"),
        Vec::<String>::new(),
        "the new queue is another queue"
    );
}

#[test]
fn unbinding_a_missing_binding_is_not_an_error() {
    let unbind = |key: &str| Command::QueueUnbind {
        queue: "q".into(),
        exchange: "amq.direct".into(),
        routing_key: key.into(),
        arguments: FieldTable::new(),
    };
    let mut broker = with_queue("q");
    broker.bind(1, 1, "q", "amq.direct", "bound").assert_ok();
    for key in ["never-bound", "bound", "bound"] {
        let step = broker.send(1, 1, unbind(key));
        assert_eq!(step.replies(1, 1), vec![Reply::QueueUnbindOk], "{key}");
    }
    assert!(channel_answers(&mut broker, 1, 1));
    let step = broker.publish(1, 1, "amq.direct", "bound", "m");
    assert!(
        !step
            .events()
            .iter()
            .any(|event| matches!(event, Event::Enqueued { .. })),
        "the binding is gone"
    );
}

#[test]
fn requeued_message_keeps_its_position() {
    let mut broker = with_queue("q");
    publish_all(&mut broker, "q", &["a", "b", "c", "d", "e"]);
    broker.connect(2);
    for expected in ["a", "b", "c"] {
        assert_eq!(broker.get(2, 1, "q", false).bodies(), vec![expected]);
    }
    broker.nack(2, 1, 2, false, true).assert_ok();
    broker.send(2, 1, Command::ChannelClose);
    broker.connect(3);
    let mut order = Vec::new();
    for _ in 0..5 {
        order.extend(seen(&broker.get(3, 1, "q", true).deliveries()));
    }
    let expected = [
        ("a", true),
        ("b", true),
        ("c", true),
        ("d", false),
        ("e", false),
    ];
    assert_eq!(
        order,
        expected
            .map(|(body, redelivered)| (body.to_owned(), redelivered))
            .to_vec()
    );
}

#[test]
fn requeues_in_any_order_restore_publish_order() {
    let mut broker = with_queue("q");
    publish_all(&mut broker, "q", &["1", "2", "3", "4", "5"]);
    broker.connect(2);
    for _ in 0..4 {
        broker.get(2, 1, "q", false).assert_ok();
    }
    for tag in [3, 1, 4, 2] {
        broker.reject(2, 1, tag, true).assert_ok();
    }
    assert_eq!(broker.drain("q"), vec!["1", "2", "3", "4", "5"]);
}

#[test]
fn requeued_message_is_delivered_next_with_redelivered_set() {
    let triggers: [(&str, Trigger); 8] = [
        ("nack requeue", |broker| broker.nack(2, 1, 1, false, true)),
        ("nack multiple requeue", |broker| {
            broker.nack(2, 1, 0, true, true)
        }),
        ("reject requeue", |broker| broker.reject(2, 1, 1, true)),
        ("basic.recover", |broker| {
            broker.send(2, 1, Command::BasicRecover { requeue: true })
        }),
        ("channel close", |broker| {
            broker.send(2, 1, Command::ChannelClose)
        }),
        ("disconnect", |broker| broker.disconnect(2)),
        ("channel error", |broker| broker.ack(2, 1, 99, false)),
        ("connection error", |broker| {
            broker.send(2, 1, Command::BasicRecover { requeue: false })
        }),
    ];
    for (case, trigger) in triggers {
        let mut broker = with_queue("q");
        broker.connect(2);
        broker.qos(2, 1, 1, false).assert_ok();
        broker.consume(2, 1, "q", "c", false).assert_ok();
        let publish = publish_all(&mut broker, "q", &["a", "b", "c"]);
        let first = ids(&publish, published)[0];
        assert_eq!(publish.bodies(), vec!["a"]);
        let step = trigger(&mut broker);
        assert_eq!(ids(&step, requeued), vec![first], "{case}: {step:#?}");
        let mut order = seen(&step.deliveries());
        broker.connect(3);
        order.extend(seen(&broker.consume(3, 1, "q", "c", true).deliveries()));
        let expected = [("a", true), ("b", false), ("c", false)];
        assert_eq!(
            order,
            expected
                .map(|(body, redelivered)| (body.to_owned(), redelivered))
                .to_vec(),
            "{case}"
        );
    }
}

#[test]
fn closing_a_channel_requeues_every_unacked_message_of_it() {
    let mut broker = with_queue("q");
    broker.connect(2);
    broker.connect(3);
    broker.consume(2, 1, "q", "c", false).assert_ok();
    broker.qos(3, 1, 1, false).assert_ok();
    broker.consume(3, 1, "q", "c", false).assert_ok();
    let step = publish_all(&mut broker, "q", &["a", "b", "c", "d", "e"]);
    assert_eq!(receivers(&step), vec![2, 3, 2, 2, 2]);
    broker.ack(2, 1, 2, false).assert_ok();
    let close = broker.send(2, 1, Command::ChannelClose);
    assert_eq!(close.replies(2, 1), vec![Reply::ChannelCloseOk]);
    let id = ids(&step, published);
    assert_eq!(
        ids(&close, requeued),
        vec![id[0], id[3], id[4]],
        "a, d and e were unacked"
    );
    assert_eq!(broker.ack(3, 1, 1, false).bodies(), vec!["a"]);
    let next = broker.ack(3, 1, 2, false);
    assert_eq!(seen(&next.deliveries()), vec![("d".to_owned(), true)]);
    assert_eq!(broker.drain("q"), vec!["e"]);
}

#[test]
fn basic_cancel_does_not_requeue_delivered_messages() {
    let mut broker = with_queue("q");
    broker.connect(2);
    broker.qos(2, 1, 2, false).assert_ok();
    broker.consume(2, 1, "q", "c", false).assert_ok();
    let step = publish_all(&mut broker, "q", &["a", "b", "c"]);
    assert_eq!(step.bodies(), vec!["a", "b"]);
    let cancel = broker.send(
        2,
        1,
        Command::BasicCancel {
            consumer_tag: "c".into(),
        },
    );
    assert_eq!(
        cancel.replies(2, 1),
        vec![Reply::CancelOk {
            consumer_tag: "c".into()
        }]
    );
    assert!(ids(&cancel, requeued).is_empty(), "{cancel:#?}");
    broker.connect(3);
    let other = broker.consume(3, 1, "q", "other", true);
    assert_eq!(
        other.bodies(),
        vec!["c"],
        "a and b stay with the cancelled consumer's channel"
    );
    let ack = broker.ack(2, 1, 2, true);
    ack.assert_ok();
    assert_eq!(
        ids(&ack, acked).len(),
        2,
        "the deliveries can still be acked: {ack:#?}"
    );
}

#[test]
fn unacked_messages_of_a_cancelled_consumer_are_requeued_when_its_channel_closes() {
    let mut broker = with_queue("q");
    broker.connect(2);
    broker.consume(2, 1, "q", "c", false).assert_ok();
    publish_all(&mut broker, "q", &["a", "b"]);
    broker
        .send(
            2,
            1,
            Command::BasicCancel {
                consumer_tag: "c".into(),
            },
        )
        .assert_ok();
    let close = broker.send(2, 1, Command::ChannelClose);
    assert_eq!(ids(&close, requeued).len(), 2, "{close:#?}");
    assert_eq!(broker.drain("q"), vec!["a", "b"]);
}

#[test]
fn cancelled_consumer_receives_nothing_more() {
    let mut broker = with_queue("q");
    broker.connect(2);
    broker.consume(2, 1, "q", "c", false).assert_ok();
    broker
        .send(
            2,
            1,
            Command::BasicCancel {
                consumer_tag: "c".into(),
            },
        )
        .assert_ok();
    let step = publish_all(&mut broker, "q", &["a"]);
    assert!(step.deliveries().is_empty(), "{step:#?}");
    assert_eq!(broker.ready_count(1, 1, "q"), 1);
}

#[test]
fn basic_get_returns_get_ok_with_the_remaining_message_count() {
    let mut broker = with_queue("q");
    publish_all(&mut broker, "q", &["a", "b", "c"]);
    broker.connect(2);
    for (body, remaining) in [("a", 2), ("b", 1), ("c", 0)] {
        let step = broker.get(2, 1, "q", false);
        let replies = step.replies(2, 1);
        let [Reply::GetOk {
            message_count,
            redelivered,
            message,
            ..
        }] = replies.as_slice()
        else {
            panic!("get-ok: {step:#?}");
        };
        assert_eq!(&message.body[..], body.as_bytes());
        assert_eq!(
            *message_count, remaining,
            "{body}: ready messages left, unacked ones not counted"
        );
        assert!(!redelivered);
    }
}

#[test]
fn basic_get_on_an_empty_queue_returns_get_empty() {
    let mut broker = with_queue("q");
    broker.connect(2);
    let step = broker.get(2, 1, "q", false);
    assert_eq!(step.replies(2, 1), vec![Reply::GetEmpty]);
    assert!(!step
        .events()
        .iter()
        .any(|event| matches!(event, Event::Delivered { .. })));
    publish_all(&mut broker, "q", &["a"]);
    assert_eq!(
        tags(&broker.get(2, 1, "q", false)),
        vec![1],
        "get-empty took no tag"
    );
}

#[test]
fn basic_get_is_settled_like_a_delivery() {
    let cases = [
        (Verb::Ack, vec!["b"]),
        (Verb::NackRequeue, vec!["a", "b"]),
        (Verb::RejectRequeue, vec!["a", "b"]),
        (Verb::RejectDiscard, vec!["b"]),
    ];
    for (verb, left) in cases {
        let mut broker = with_queue("q");
        let id = ids(&publish_all(&mut broker, "q", &["a", "b"]), published);
        broker.connect(2);
        broker.get(2, 1, "q", false).assert_ok();
        assert_eq!(
            broker.ready_count(1, 1, "q"),
            1,
            "{verb:?}: an unacked get leaves the queue"
        );
        let step = broker.send(2, 1, verb.command(1, false));
        step.assert_ok();
        let settled = match verb {
            Verb::RejectDiscard => step
                .events()
                .iter()
                .filter_map(|event| match event {
                    Event::Dropped { message, .. } => Some(*message),
                    _ => None,
                })
                .collect(),
            _ => verb.settled(&step),
        };
        assert_eq!(settled, vec![id[0]], "{verb:?}: {step:#?}");
        assert_eq!(broker.drain("q"), left, "{verb:?}");
    }
}

#[test]
fn unacked_basic_get_is_requeued_when_the_channel_closes() {
    let mut broker = with_queue("q");
    publish_all(&mut broker, "q", &["a"]);
    broker.connect(2);
    broker.get(2, 1, "q", false).assert_ok();
    let close = broker.send(2, 1, Command::ChannelClose);
    assert_eq!(ids(&close, requeued).len(), 1);
    let again = broker.get(1, 1, "q", true);
    assert_eq!(seen(&again.deliveries()), vec![("a".to_owned(), true)]);
}

#[test]
fn basic_get_with_no_ack_is_settled_when_sent() {
    let mut broker = with_queue("q");
    let id = ids(&publish_all(&mut broker, "q", &["a"]), published);
    broker.connect(2);
    broker.open(2, 2);
    let step = broker.get(2, 1, "q", true);
    assert_eq!(ids(&step, acked), id);
    broker
        .ack(2, 1, 1, false)
        .assert_channel_error(ReplyCode::PreconditionFailed);
    assert_eq!(
        broker.ready_count(2, 2, "q"),
        0,
        "closing the channel requeued nothing"
    );
}

#[test]
fn basic_recover_requeues_all_unacked_of_the_channel() {
    let mut broker = with_queue("q");
    broker.declare(1, 1, "other", FieldTable::new()).assert_ok();
    publish_all(&mut broker, "other", &["g"]);
    broker.connect(2);
    broker.connect(3);
    broker.consume(2, 1, "q", "c", false).assert_ok();
    broker.consume(3, 1, "q", "c", false).assert_ok();
    publish_all(&mut broker, "q", &["a", "b", "c", "d"]);
    broker.get(2, 1, "other", false).assert_ok();
    broker.ack(2, 1, 1, false).assert_ok();
    let step = broker.send(2, 1, Command::BasicRecover { requeue: true });
    assert!(step.replies(2, 1).contains(&Reply::RecoverOk), "{step:#?}");
    assert_eq!(
        ids(&step, requeued).len(),
        2,
        "c and g, not b and d of connection 3: {step:#?}"
    );
    assert_eq!(
        broker.ready_count(1, 1, "other"),
        1,
        "g is back in its queue"
    );
    let redelivered: Vec<_> = step
        .deliveries()
        .iter()
        .filter(|delivery| delivery.redelivered)
        .map(Delivered::body_str)
        .collect();
    assert!(redelivered.contains(&"c".to_owned()), "{step:#?}");
    for delivery in step.deliveries() {
        assert!(delivery.tag > 3, "redeliveries get new tags: {delivery:?}");
    }
    broker.ack(3, 1, 2, true).assert_ok();
}

#[test]
fn basic_recover_without_requeue_closes_the_connection_with_540() {
    let mut broker = with_queue("q");
    broker.connect(2);
    broker.open(2, 2);
    let step = broker.send(2, 1, Command::BasicRecover { requeue: false });
    step.assert_connection_error(ReplyCode::NotImplemented);
    assert!(!step.replies(2, 1).contains(&Reply::RecoverOk));
    assert!(!channel_answers(&mut broker, 2, 2));
    assert!(channel_answers(&mut broker, 1, 1));
}

#[test]
fn queue_deletion_sends_basic_cancel_to_each_consumer() {
    let mut broker = with_queue("q");
    broker.declare(1, 1, "kept", FieldTable::new()).assert_ok();
    broker.connect(2);
    broker.open(2, 2);
    broker.connect(3);
    broker.consume(2, 1, "q", "c1", false).assert_ok();
    broker.consume(2, 2, "q", "c2", true).assert_ok();
    broker.consume(3, 1, "q", "c3", false).assert_ok();
    broker.consume(3, 1, "kept", "c4", false).assert_ok();
    let step = broker.send(
        1,
        1,
        Command::QueueDelete {
            queue: "q".into(),
            if_unused: false,
            if_empty: false,
        },
    );
    step.assert_ok();
    let mut cancels: Vec<(u64, u16, String)> = step
        .all_replies()
        .into_iter()
        .filter_map(|(conn, channel, reply)| match reply {
            Reply::Cancel { consumer_tag } => Some((conn, channel, consumer_tag.to_string())),
            _ => None,
        })
        .collect();
    cancels.sort();
    let expected = [(2, 1, "c1"), (2, 2, "c2"), (3, 1, "c3")];
    assert_eq!(
        cancels,
        expected
            .map(|(conn, channel, tag)| (conn, channel, tag.to_owned()))
            .to_vec()
    );
    assert!(step
        .replies(1, 1)
        .contains(&Reply::QueueDeleteOk { message_count: 0 }));
    broker.declare(1, 1, "q", FieldTable::new()).assert_ok();
    broker.consume(2, 1, "q", "c1", false).assert_ok();
    assert_eq!(
        consumer_count(&mut broker, "kept"),
        1,
        "consumers of other queues stay"
    );
}

#[test]
fn consumer_timeout_closes_the_channel_with_406_and_requeues() {
    let config = Config {
        consumer_timeout_ms: Some(1_000),
        ..Config::default()
    };
    let mut broker = Harness::new(config);
    broker.connect(1);
    broker.declare(1, 1, "q", FieldTable::new()).assert_ok();
    broker.connect(2);
    broker.open(2, 2);
    broker.consume(2, 1, "q", "c", false).assert_ok();
    let id = ids(&publish_all(&mut broker, "q", &["a", "b"]), published);
    let early = broker.advance(999);
    early.assert_ok();
    assert!(early.all_replies().is_empty(), "{early:#?}");
    // Past the timeout (the exact millisecond is not part of the rule).
    let step = broker.advance(2);
    step.assert_channel_error(ReplyCode::PreconditionFailed);
    let (_, _, text) = step.close().unwrap();
    assert!(text.contains("timed out"), "{text}");
    assert!(
        step.replies(2, 1)
            .iter()
            .any(|reply| matches!(reply, Reply::Close { .. })),
        "on the consumer's channel"
    );
    assert_eq!(ids(&step, requeued), id);
    assert!(
        channel_answers(&mut broker, 2, 2),
        "the connection stays open"
    );
    broker.connect(3);
    let again = broker.consume(3, 1, "q", "c", true);
    assert_eq!(
        seen(&again.deliveries()),
        vec![("a".to_owned(), true), ("b".to_owned(), true)]
    );
}

#[test]
fn consumer_timeout_does_not_fire_when_acked_in_time() {
    let config = Config {
        consumer_timeout_ms: Some(1_000),
        ..Config::default()
    };
    let mut broker = Harness::new(config);
    broker.connect(1);
    broker.declare(1, 1, "q", FieldTable::new()).assert_ok();
    broker.connect(2);
    broker.consume(2, 1, "q", "c", false).assert_ok();
    publish_all(&mut broker, "q", &["a"]);
    broker.advance(900).assert_ok();
    broker.ack(2, 1, 1, false).assert_ok();
    let later = broker.run_for(60_000);
    later.assert_ok();
    assert!(channel_answers(&mut broker, 2, 1));
}

#[test]
fn consumer_timeout_counts_from_the_oldest_unacked_delivery() {
    let config = Config {
        events: true,
        consumer_timeout_ms: Some(1_000),
        ..Config::default()
    };
    let mut broker = Harness::new(config);
    broker.connect(1);
    broker.declare(1, 1, "q", FieldTable::new()).assert_ok();
    broker.connect(2);
    broker.consume(2, 1, "q", "c", false).assert_ok();
    publish_all(&mut broker, "q", &["a"]);
    broker.advance(500).assert_ok();
    publish_all(&mut broker, "q", &["b"]);
    broker.advance(100).assert_ok();
    broker.ack(2, 1, 1, false).assert_ok();
    let before = broker.run_for(899);
    before.assert_ok();
    assert!(
        before.all_replies().is_empty(),
        "b has waited 999 ms: {before:#?}"
    );
    let at = broker.run_for(2);
    at.assert_channel_error(ReplyCode::PreconditionFailed);
    assert_eq!(ids(&at, requeued).len(), 1);
}

#[test]
fn consumer_timeout_applies_to_unacked_basic_get_deliveries() {
    // RabbitMQ 3.10 checks the oldest unacked delivery of the channel,
    // whether a consumer or basic.get took it.
    let config = Config {
        consumer_timeout_ms: Some(1_000),
        ..Config::default()
    };
    let mut broker = Harness::new(config);
    broker.connect(1);
    broker.declare(1, 1, "q", FieldTable::new()).assert_ok();
    publish_all(&mut broker, "q", &["a"]);
    broker.connect(2);
    broker.get(2, 1, "q", false).assert_ok();
    assert_eq!(
        broker.run_for(1_000).close(),
        None,
        "not yet longer than the timeout"
    );
    let step = broker.run_for(1);
    step.assert_channel_error(ReplyCode::PreconditionFailed);
    assert_eq!(broker.drain("q"), vec!["a"]);
}

#[test]
fn consumer_timeout_ignores_no_ack_deliveries() {
    let config = Config {
        consumer_timeout_ms: Some(1_000),
        ..Config::default()
    };
    let mut broker = Harness::new(config);
    broker.connect(1);
    broker.declare(1, 1, "q", FieldTable::new()).assert_ok();
    broker.connect(2);
    broker.consume(2, 1, "q", "c", true).assert_ok();
    publish_all(&mut broker, "q", &["a"]);
    broker.run_for(10_000).assert_ok();
    assert!(channel_answers(&mut broker, 2, 1));
}

#[test]
fn consumer_timeout_disabled_never_closes() {
    let config = Config {
        consumer_timeout_ms: None,
        ..Config::default()
    };
    let mut broker = Harness::new(config);
    broker.connect(1);
    broker.declare(1, 1, "q", FieldTable::new()).assert_ok();
    broker.connect(2);
    broker.consume(2, 1, "q", "c", false).assert_ok();
    publish_all(&mut broker, "q", &["a"]);
    broker.run_for(7 * 24 * 3_600_000).assert_ok();
    assert!(channel_answers(&mut broker, 2, 1));
    broker.ack(2, 1, 1, false).assert_ok();
}

#[test]
fn default_consumer_timeout_is_30_minutes() {
    const MINUTE_MS: u64 = 60_000;
    assert_eq!(Config::default().consumer_timeout_ms, Some(30 * MINUTE_MS));
    let mut broker = with_queue("q");
    broker.connect(2);
    broker.consume(2, 1, "q", "c", false).assert_ok();
    publish_all(&mut broker, "q", &["a"]);
    broker.run_for(30 * MINUTE_MS - 1).assert_ok();
    broker
        .run_for(2)
        .assert_channel_error(ReplyCode::PreconditionFailed);
}

#[test]
fn delivery_and_settles_emit_events_with_message_ids() {
    let mut broker = with_queue("q");
    broker.connect(2);
    broker.consume(2, 1, "q", "c", false).assert_ok();
    let step = publish_all(&mut broker, "q", &["a", "b"]);
    let id = ids(&step, published);
    let delivered: Vec<_> = step
        .events()
        .into_iter()
        .filter_map(|event| match event {
            Event::Delivered {
                message,
                queue,
                conn,
                channel,
                delivery_tag,
                redelivered,
            } => Some((
                message,
                queue.to_string(),
                conn.0,
                channel.0,
                delivery_tag,
                redelivered,
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        delivered,
        vec![
            (id[0], "q".to_owned(), 2, 1, 1, false),
            (id[1], "q".to_owned(), 2, 1, 2, false)
        ]
    );
    let ack = broker.ack(2, 1, 1, false);
    assert_eq!(
        ack.events(),
        vec![Event::Acked {
            message: id[0],
            queue: "q".into()
        }]
    );
    let requeue = broker.reject(2, 1, 2, true);
    let events = requeue.events();
    assert_eq!(
        events[0],
        Event::Requeued {
            message: id[1],
            queue: "q".into()
        }
    );
    assert!(
        matches!(events[1], Event::Delivered { message, delivery_tag: 3, redelivered: true, .. } if message == id[1]),
        "{events:#?}"
    );
}

#[test]
fn basic_get_does_not_count_against_global_prefetch() {
    // RabbitMQ 3.10's channel limiter counts consumer deliveries only: a
    // basic.get is not limited by basic.qos, and its ack is not reported to
    // the limiter (rabbit_channel:notify_limiter skips basic.get acks).
    let mut broker = with_queue("q1");
    broker.declare(1, 1, "q2", FieldTable::new()).assert_ok();
    publish_all(&mut broker, "q2", &["g1", "g2"]);
    broker.connect(2);
    broker.qos(2, 1, 1, true).assert_ok();
    assert_eq!(broker.get(2, 1, "q2", false).bodies(), vec!["g1"]);
    assert_eq!(
        broker.get(2, 1, "q2", false).bodies(),
        vec!["g2"],
        "basic.get ignores prefetch"
    );
    broker.consume(2, 1, "q1", "c", false).assert_ok();
    let step = publish_all(&mut broker, "q1", &["a", "b"]);
    assert_eq!(
        step.bodies(),
        vec!["a"],
        "the consumer still has its one slot: {step:#?}"
    );
}

#[test]
fn closing_a_connection_requeues_every_unacked_message_of_every_channel() {
    let mut broker = with_queue("q");
    broker.declare(1, 1, "r", FieldTable::new()).assert_ok();
    let on_q = publish_all(&mut broker, "q", &["a", "b", "c"]);
    let on_r = publish_all(&mut broker, "r", &["x", "y"]);
    broker.connect(2);
    broker.open(2, 2);
    let consumed = broker.consume(2, 1, "q", "c", false);
    assert_eq!(consumed.bodies(), vec!["a", "b", "c"]);
    assert_eq!(broker.get(2, 2, "r", false).bodies(), vec!["x"]);
    assert_eq!(broker.get(2, 2, "r", false).bodies(), vec!["y"]);
    broker.ack(2, 1, 2, false).assert_ok();
    broker.ack(2, 2, 1, false).assert_ok();
    let gone = broker.disconnect(2);
    let (q_ids, r_ids) = (ids(&on_q, published), ids(&on_r, published));
    let mut back = ids(&gone, requeued);
    back.sort();
    let mut expected = vec![q_ids[0], q_ids[2], r_ids[1]];
    expected.sort();
    assert_eq!(
        back, expected,
        "a and c of channel 1, y of channel 2: {gone:#?}"
    );
    broker.connect(3);
    let mut order = Vec::new();
    for queue in ["q", "q", "q", "r", "r"] {
        order.extend(seen(&broker.get(3, 1, queue, true).deliveries()));
    }
    let expected = [("a", true), ("c", true), ("y", true)];
    assert_eq!(
        order,
        expected
            .map(|(body, redelivered)| (body.to_owned(), redelivered))
            .to_vec()
    );
}

#[test]
fn a_command_the_driver_refuses_fails_with_its_code_and_is_not_carried_out() {
    use brokerlab_core::{ChannelId, CloseScope, ConnectionId, Input, ReplyCode};
    let mut broker = Harness::default();
    broker.connect(1);
    let refused = Input::Refused {
        conn: ConnectionId(1),
        channel: ChannelId(1),
        command: support::declare("secret", FieldTable::new()),
        code: ReplyCode::AccessRefused,
        text: "ACCESS_REFUSED - access to queue 'secret' in vhost '/' refused for user 'guest'"
            .to_owned(),
    };
    let step = broker.input(refused);
    let (scope, code, _) = step.close().expect("the channel is closed");
    assert_eq!(
        (scope, code),
        (CloseScope::Channel, ReplyCode::AccessRefused)
    );
    broker.connect(2);
    broker
        .send(2, 1, support::passive_declare("secret"))
        .assert_channel_error(ReplyCode::NotFound);
}

#[test]
fn a_consume_past_the_channels_bound_on_consumers_closes_the_connection_with_530() {
    let mut broker = Harness::new(Config {
        consumers_per_channel_max: Some(2),
        ..Config::default()
    });
    broker.connect(1);
    broker.declare(1, 1, "q", FieldTable::new()).assert_ok();
    broker.consume(1, 1, "q", "a", false).assert_ok();
    broker.consume(1, 1, "q", "b", false).assert_ok();
    broker
        .send(
            1,
            1,
            Command::BasicCancel {
                consumer_tag: "a".into(),
            },
        )
        .assert_ok();
    broker.consume(1, 1, "q", "c", false).assert_ok();
    let step = broker.consume(1, 1, "q", "d", false);
    step.assert_connection_error(ReplyCode::NotAllowed);
    let (_, _, text) = step.close().expect("a close");
    assert_eq!(
        text,
        "NOT_ALLOWED - reached maximum (2) of consumers per channel"
    );
}

/// More deliveries than a channel's ring of tags covers.
const PAST_THE_RING: usize = 5_000;

/// Connection 1 with queue "q" and one message taken by basic.get and left
/// unacknowledged (tag 1), then `PAST_THE_RING` messages delivered on the
/// same channel to a consumer (`no_ack` or acknowledged one by one).
fn old_delivery_then_many(no_ack: bool) -> Harness {
    let mut broker = Harness::default();
    broker.connect(1);
    broker.declare(1, 1, "q", FieldTable::new()).assert_ok();
    publish_all(&mut broker, "q", &["old"]);
    assert_eq!(broker.get(1, 1, "q", false).bodies(), vec!["old"]);
    broker.consume(1, 1, "q", "c", no_ack).assert_ok();
    for tag in 2..2 + PAST_THE_RING as u64 {
        let step = broker.publish(1, 1, "", "q", "new");
        assert_eq!(step.deliveries()[0].tag, tag);
        if !no_ack {
            broker.ack(1, 1, tag, false).assert_ok();
        }
    }
    broker
}

#[test]
fn an_old_unacked_delivery_is_still_settled_by_its_tag_after_many_newer_ones() {
    // The harness checks the invariants after every step, the ring's bound
    // among them: the old tag leaves the ring and waits on its own.
    for no_ack in [true, false] {
        let mut broker = old_delivery_then_many(no_ack);
        broker.ack(1, 1, 1, false).assert_ok();
        broker
            .ack(1, 1, 1, false)
            .assert_channel_error(ReplyCode::PreconditionFailed);
    }
}

#[test]
fn an_ack_with_multiple_settles_an_old_delivery_and_the_newer_ones_alike() {
    let mut broker = old_delivery_then_many(false);
    publish_all(&mut broker, "q", &["last"]);
    let last = 2 + PAST_THE_RING as u64;
    broker.ack(1, 1, last, true).assert_ok();
    broker.send(1, 1, Command::ChannelClose);
    broker.open(1, 1).assert_ok();
    assert_eq!(
        broker.ready_count(1, 1, "q"),
        0,
        "nothing was left to requeue"
    );
}

#[test]
fn closing_a_channel_requeues_an_old_unacked_delivery_too() {
    let mut broker = old_delivery_then_many(true);
    broker.send(1, 1, Command::ChannelClose);
    broker.open(1, 1).assert_ok();
    assert_eq!(broker.get(1, 1, "q", true).bodies(), vec!["old"]);
}
