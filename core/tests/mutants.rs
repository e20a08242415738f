//! Each mutant breaks exactly the rule it is named after: the same scenario
//! run on the correct broker and on the mutant differs in that rule.

#![cfg(feature = "mutants")]

mod support;

use brokerlab_core::{Command, Config, FieldTable, Mutant, Properties};
use support::{int, string, table, Harness};

fn broker(mutant: Option<Mutant>) -> Harness {
    Harness::new(Config {
        mutant,
        ..Config::default()
    })
}

/// Publishes `bodies` to queue `q` through the default exchange from connection 1.
fn publish_all(broker: &mut Harness, bodies: &[&str]) {
    for body in bodies {
        broker.publish(1, 1, "", "q", body).assert_ok();
    }
}

/// a, b, c delivered to one consumer, a and b nacked with requeue, then the
/// consumer is cancelled: what is ready, in order.
fn requeue_scenario(mutant: Option<Mutant>) -> Vec<String> {
    let mut broker = broker(mutant);
    broker.connect(1);
    broker.declare(1, 1, "q", FieldTable::new()).assert_ok();
    broker.qos(1, 1, 2, false).assert_ok();
    broker.consume(1, 1, "q", "c", false).assert_ok();
    publish_all(&mut broker, &["a", "b", "c"]);
    broker
        .send(
            1,
            1,
            Command::BasicCancel {
                consumer_tag: "c".into(),
            },
        )
        .assert_ok();
    broker.nack(1, 1, 2, true, true).assert_ok();
    broker.drain("q")
}

#[test]
fn lose_on_requeue_drops_requeued_messages() {
    assert_eq!(requeue_scenario(None), vec!["a", "b", "c"]);
    assert_eq!(requeue_scenario(Some(Mutant::LoseOnRequeue)), vec!["c"]);
}

#[test]
fn requeue_to_tail_loses_the_original_position() {
    assert_eq!(
        requeue_scenario(Some(Mutant::RequeueToTail)),
        vec!["c", "a", "b"]
    );
}

#[test]
fn no_redelivered_flag_hides_redeliveries() {
    for (mutant, flagged) in [(None, true), (Some(Mutant::NoRedeliveredFlag), false)] {
        let mut broker = broker(mutant);
        broker.connect(1);
        broker.declare(1, 1, "q", FieldTable::new()).assert_ok();
        publish_all(&mut broker, &["a"]);
        broker.get(1, 1, "q", false).assert_ok();
        broker.reject(1, 1, 1, true).assert_ok();
        let again = broker.get(1, 1, "q", false);
        assert_eq!(again.deliveries()[0].redelivered, flagged, "{mutant:?}");
    }
}

#[test]
fn deliver_expired_hands_out_expired_messages() {
    for (mutant, delivered) in [(None, 0), (Some(Mutant::DeliverExpired), 1)] {
        let mut broker = broker(mutant);
        broker.connect(1);
        broker
            .declare(1, 1, "q", table(&[("x-message-ttl", int(10))]))
            .assert_ok();
        publish_all(&mut broker, &["a"]);
        broker.advance(20);
        assert_eq!(
            broker.get(1, 1, "q", true).deliveries().len(),
            delivered,
            "{mutant:?}"
        );
    }
}

#[test]
fn ignore_prefetch_exceeds_the_prefetch_count() {
    for (mutant, delivered) in [(None, 1), (Some(Mutant::IgnorePrefetch), 3)] {
        let mut broker = broker(mutant);
        broker.connect(1);
        broker.declare(1, 1, "q", FieldTable::new()).assert_ok();
        broker.qos(1, 1, 1, false).assert_ok();
        publish_all(&mut broker, &["a", "b", "c"]);
        let consumed = broker.consume(1, 1, "q", "c", false);
        assert_eq!(consumed.deliveries().len(), delivered, "{mutant:?}");
    }
}

#[test]
fn confirm_unroutable_as_nack_nacks_what_no_queue_took() {
    for (mutant, acked) in [(None, true), (Some(Mutant::ConfirmUnroutableAsNack), false)] {
        let mut broker = broker(mutant);
        broker.connect(1);
        broker.send(1, 1, Command::ConfirmSelect).assert_ok();
        let step = broker.publish(1, 1, "", "nowhere", "a");
        assert_eq!(step.confirms(), vec![(1, acked)], "{mutant:?}");
    }
}

#[test]
fn dlx_drops_x_death_loses_the_death_history() {
    for (mutant, deaths) in [(None, 1), (Some(Mutant::DlxDropsXDeath), 0)] {
        let mut broker = broker(mutant);
        broker.connect(1);
        broker.declare(1, 1, "dead", FieldTable::new()).assert_ok();
        let arguments = table(&[
            ("x-dead-letter-exchange", string("")),
            ("x-dead-letter-routing-key", string("dead")),
        ]);
        broker.declare(1, 1, "q", arguments).assert_ok();
        publish_all(&mut broker, &["a"]);
        broker.get(1, 1, "q", false).assert_ok();
        broker.reject(1, 1, 1, false).assert_ok();
        let dead = broker.get(1, 1, "dead", true);
        assert_eq!(
            support::x_death(&dead.deliveries()[0].message).len(),
            deaths,
            "{mutant:?}"
        );
    }
}

#[test]
fn double_deliver_hands_one_message_to_two_consumers() {
    for (mutant, deliveries) in [(None, 3), (Some(Mutant::DoubleDeliver), 4)] {
        let mut broker = broker(mutant);
        broker.connect(1);
        broker.declare(1, 1, "q", FieldTable::new()).assert_ok();
        broker.consume(1, 1, "q", "c1", false).assert_ok();
        broker.consume(1, 1, "q", "c2", false).assert_ok();
        let mut delivered = 0;
        for body in ["a", "b", "c"] {
            let step = broker.publish_with(1, 1, "", "q", body, Properties::default());
            delivered += step.deliveries().len();
        }
        assert_eq!(delivered, deliveries, "{mutant:?}");
    }
}

#[test]
fn every_mutant_has_a_name_that_selects_it() {
    for mutant in Mutant::ALL {
        assert_eq!(Mutant::from_name(mutant.name()), Some(mutant));
    }
    assert_eq!(Mutant::from_name("no-such-mutant"), None);
}

#[test]
fn confirm_before_sync_confirms_a_persistent_message_the_disk_may_lose() {
    let persistent = Properties {
        delivery_mode: Some(2),
        ..Properties::default()
    };
    for (mutant, confirms) in [
        (None, vec![]),
        (Some(Mutant::ConfirmBeforeSync), vec![(1, true)]),
    ] {
        let mut broker = broker(mutant);
        broker.connect(1);
        broker.send(1, 1, Command::ConfirmSelect).assert_ok();
        let declare = Command::QueueDeclare {
            queue: "q".into(),
            passive: false,
            durable: true,
            exclusive: false,
            auto_delete: false,
            arguments: FieldTable::new(),
        };
        broker.send(1, 1, declare).assert_ok();
        let step = broker.publish_with(1, 1, "", "q", "a", persistent.clone());
        assert_eq!(step.confirms(), confirms, "{mutant:?}");
    }
}

/// One member, Stable in generation 1 with assignment `p0`, then
/// rejoining into generation 2 (a leader's rejoin rebalances).
fn group_in_its_second_generation(h: &mut Harness) -> String {
    use support::groups::*;
    let member = stable_alone(h);
    send(h, 1, 3, join(&member));
    let (_, generation, _) = joined(reply_to(&h.sync(), 1, 3));
    assert_eq!(generation, 2);
    member
}

#[test]
fn accept_stale_generation_commit_accepts_a_commit_from_an_older_generation() {
    use brokerlab_core::group::{ErrorCode, GroupReply};
    use support::groups::*;
    for (mutant, error) in [
        (None, ErrorCode::ILLEGAL_GENERATION),
        (Some(Mutant::AcceptStaleGenerationCommit), ErrorCode::NONE),
    ] {
        let mut h = broker(mutant);
        let member = group_in_its_second_generation(&mut h);
        send(&mut h, 1, 4, sync(&member, 2, &[(&member, "p0")]));
        let mut step = send(&mut h, 1, 5, commit(&member, 1, 3));
        step.extend(h.sync());
        let GroupReply::OffsetCommit { partitions } = reply_to(&step, 1, 5) else {
            panic!("expected OffsetCommit");
        };
        assert_eq!(partitions[0].error, error, "{mutant:?}");
    }
}

#[test]
fn assign_without_revoke_hands_a_member_its_last_generations_assignment() {
    use brokerlab_core::group::GroupReply;
    use support::groups::*;
    for (mutant, assigned) in [
        (None, &b"p1"[..]),
        (Some(Mutant::AssignWithoutRevoke), &b"p0"[..]),
    ] {
        let mut h = broker(mutant);
        let member = group_in_its_second_generation(&mut h);
        let step = send(&mut h, 1, 4, sync(&member, 2, &[(&member, "p1")]));
        let GroupReply::Sync(sync) = reply_to(&step, 1, 4) else {
            panic!("expected Sync");
        };
        assert_eq!(&sync.assignment[..], assigned, "{mutant:?}");
    }
}

#[test]
fn offset_regress_on_recovery_recovers_an_older_committed_offset() {
    use support::groups::*;
    for (mutant, recovered) in [(None, 9), (Some(Mutant::OffsetRegressOnRecovery), 5)] {
        let mut h = broker(mutant);
        let member = stable_alone(&mut h);
        send(&mut h, 1, 3, commit(&member, 1, 5));
        send(&mut h, 1, 4, commit(&member, 1, 9));
        h.sync();
        h.crash_and_recover(h.log.len());
        assert_eq!(committed(&mut h), recovered, "{mutant:?}");
    }
}

/// Connection 1 subscribes to `news`, "first" is published, then connection
/// 2 subscribes and "second" is published: the messages connection 2 gets.
fn late_subscriber_scenario(mutant: Option<Mutant>) -> Vec<bytes::Bytes> {
    use brokerlab_core::pubsub::{PubSubCommand, PubSubReply};
    use brokerlab_core::{Broker, ConnectionId, Input, Instant, Output};
    let mut broker = Broker::new(Config {
        mutant,
        ..Config::default()
    });
    let news = || bytes::Bytes::from_static(b"news");
    let mut received = Vec::new();
    let mut run = |broker: &mut Broker, conn: u64, command: PubSubCommand| {
        let input = Input::PubSub {
            conn: ConnectionId(conn),
            command: Box::new(command),
        };
        broker.handle(Instant(1), input);
        while let Some(output) = broker.poll_output() {
            let replies = match output {
                Output::PubSub { conn, reply } => vec![(conn, *reply)],
                Output::PubSubPublished { published } => published.replies().collect(),
                _ => Vec::new(),
            };
            for (conn, reply) in replies {
                if let (2, PubSubReply::Message { message, .. }) = (conn.0, reply) {
                    received.push(message);
                }
            }
        }
    };
    let subscribe = || PubSubCommand::Subscribe {
        channels: vec![news()],
    };
    let publish = |message: &'static [u8]| PubSubCommand::Publish {
        channel: news(),
        message: bytes::Bytes::from_static(message),
    };
    run(&mut broker, 1, subscribe());
    run(&mut broker, 3, publish(b"first"));
    run(&mut broker, 2, subscribe());
    run(&mut broker, 3, publish(b"second"));
    received
}

#[test]
fn pubsub_store_and_forward_hands_a_late_subscriber_what_came_before() {
    let message = |body: &'static [u8]| bytes::Bytes::from_static(body);
    assert_eq!(late_subscriber_scenario(None), [message(b"second")]);
    assert_eq!(
        late_subscriber_scenario(Some(Mutant::PubSubStoreAndForward)),
        [message(b"first"), message(b"second")]
    );
}

/// A publish to a fanout exchange bound to queues `a` and `b`: which of
/// them took it.
fn fanout_scenario(mutant: Option<Mutant>) -> Vec<Vec<String>> {
    let mut broker = broker(mutant);
    broker.connect(1);
    broker
        .declare_exchange(1, 1, "events", "fanout")
        .assert_ok();
    for queue in ["a", "b"] {
        broker.declare(1, 1, queue, FieldTable::new()).assert_ok();
        broker.bind(1, 1, queue, "events", "").assert_ok();
    }
    broker.publish(1, 1, "events", "", "m").assert_ok();
    vec![broker.drain("a"), broker.drain("b")]
}

#[test]
fn fanout_to_one_queue_leaves_the_other_subscribers_without_a_copy() {
    assert_eq!(fanout_scenario(None), [vec!["m"], vec!["m"]]);
    assert_eq!(
        fanout_scenario(Some(Mutant::FanoutToOneQueue)),
        [vec!["m".to_owned()], vec![]]
    );
}

/// Publishes with key `order` to a topic exchange where queue `q` is
/// bound by `order.#`: what `q` took.
fn topic_hash_scenario(mutant: Option<Mutant>) -> Vec<String> {
    let mut broker = broker(mutant);
    broker.connect(1);
    broker.declare_exchange(1, 1, "bus", "topic").assert_ok();
    broker.declare(1, 1, "q", FieldTable::new()).assert_ok();
    broker.bind(1, 1, "q", "bus", "order.#").assert_ok();
    broker.publish(1, 1, "bus", "order", "zero").assert_ok();
    broker
        .publish(1, 1, "bus", "order.created", "one")
        .assert_ok();
    broker.drain("q")
}

#[test]
fn topic_hash_needs_a_word_misses_a_key_the_hash_matches_with_zero_words() {
    assert_eq!(topic_hash_scenario(None), vec!["zero", "one"]);
    assert_eq!(
        topic_hash_scenario(Some(Mutant::TopicHashNeedsAWord)),
        vec!["one"]
    );
}

/// Publishes `low` (priority 1) then `high` (priority 5) to a queue with
/// `x-max-priority` 9: the order it hands them out in.
fn priority_scenario(mutant: Option<Mutant>) -> Vec<String> {
    let mut broker = broker(mutant);
    broker.connect(1);
    broker
        .declare(1, 1, "q", table(&[("x-max-priority", int(9))]))
        .assert_ok();
    for (body, priority) in [("low", 1), ("high", 5)] {
        let properties = Properties {
            priority: Some(priority),
            ..Properties::default()
        };
        broker
            .publish_with(1, 1, "", "q", body, properties)
            .assert_ok();
    }
    broker.drain("q")
}

#[test]
fn priority_ignored_hands_out_a_lower_priority_message_first() {
    assert_eq!(priority_scenario(None), vec!["high", "low"]);
    assert_eq!(
        priority_scenario(Some(Mutant::PriorityIgnored)),
        vec!["low", "high"]
    );
}

/// Two replies in a row to queue `q` with correlation ids `1` and `2`:
/// the correlation id each carries when it is handed out.
fn replies_scenario(mutant: Option<Mutant>) -> Vec<Option<String>> {
    let mut broker = broker(mutant);
    broker.connect(1);
    broker.declare(1, 1, "q", FieldTable::new()).assert_ok();
    for correlation in ["1", "2"] {
        let properties = Properties {
            correlation_id: Some(correlation.into()),
            ..Properties::default()
        };
        broker
            .publish_with(1, 1, "", "q", correlation, properties)
            .assert_ok();
    }
    (0..2)
        .map(|_| {
            let got = broker.get(1, 1, "q", true);
            got.deliveries()[0]
                .message
                .properties()
                .correlation_id
                .clone()
        })
        .collect()
}

#[test]
fn properties_cached_by_route_gives_a_reply_the_correlation_id_of_the_one_before() {
    let ids = |ids: [&str; 2]| ids.map(|id| Some(id.to_owned())).to_vec();
    assert_eq!(replies_scenario(None), ids(["1", "2"]));
    assert_eq!(
        replies_scenario(Some(Mutant::PropertiesCachedByRoute)),
        ids(["1", "1"])
    );
}

/// A consumer holding `a` and `b` cancels, then nacks both with requeue
/// (a circuit breaker opening): whether the nack was accepted, and what
/// the queue then holds.
fn breaker_opens_scenario(mutant: Option<Mutant>) -> (bool, Vec<String>) {
    let mut broker = broker(mutant);
    broker.connect(1);
    broker.declare(1, 1, "q", FieldTable::new()).assert_ok();
    broker.qos(1, 1, 2, false).assert_ok();
    broker.consume(1, 1, "q", "breaker", false).assert_ok();
    publish_all(&mut broker, &["a", "b"]);
    let cancel = Command::BasicCancel {
        consumer_tag: "breaker".into(),
    };
    broker.send(1, 1, cancel).assert_ok();
    let accepted = broker.nack(1, 1, 2, true, true).close().is_none();
    (accepted, broker.drain("q"))
}

#[test]
fn cancel_forgets_unacked_loses_what_the_cancelled_consumer_held() {
    assert_eq!(
        breaker_opens_scenario(None),
        (true, vec!["a".into(), "b".into()])
    );
    assert_eq!(
        breaker_opens_scenario(Some(Mutant::CancelForgetsUnacked)),
        (false, vec![])
    );
}

/// A persistent message in a durable queue is handed to a consumer that
/// holds it when the broker stops; after the restart it is handed out
/// again: with which redelivered flag.
fn held_at_restart_scenario(mutant: Option<Mutant>) -> bool {
    let mut broker = broker(mutant);
    broker.connect(1);
    let declare = Command::QueueDeclare {
        queue: "q".into(),
        passive: false,
        durable: true,
        exclusive: false,
        auto_delete: false,
        arguments: FieldTable::new(),
    };
    broker.send(1, 1, declare).assert_ok();
    let persistent = Properties {
        delivery_mode: Some(2),
        ..Properties::default()
    };
    broker
        .publish_with(1, 1, "", "q", "held", persistent)
        .assert_ok();
    let first = broker.get(1, 1, "q", false);
    assert!(!first.deliveries()[0].redelivered);
    broker.sync();
    broker.crash_and_recover(broker.log.len());
    broker.connect(2);
    broker.get(2, 1, "q", false).deliveries()[0].redelivered
}

#[test]
fn recovered_unflagged_hands_out_a_message_held_at_the_restart_as_new() {
    assert!(held_at_restart_scenario(None));
    assert!(!held_at_restart_scenario(Some(Mutant::RecoveredUnflagged)));
}
