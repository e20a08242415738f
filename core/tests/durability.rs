//! SEMANTICS.md section 6: what survives a restart, and when a publisher
//! confirm may go out. The harness keeps every `Persist` record; a crash
//! recovers a new broker from a prefix of them.

mod support;

use brokerlab_core::record::Change;
use brokerlab_core::{Command, FieldTable, Output, Properties, Reply};
use support::{int, string, table, Harness, Step};

fn persistent() -> Properties {
    Properties {
        delivery_mode: Some(2),
        ..Properties::default()
    }
}

fn durable_declare(queue: &str, arguments: FieldTable) -> Command {
    Command::QueueDeclare {
        queue: queue.into(),
        passive: false,
        durable: true,
        exclusive: false,
        auto_delete: false,
        arguments,
    }
}

/// A broker with connection 1 in confirm mode and the durable queue `q`.
fn confirming(arguments: FieldTable) -> Harness {
    let mut broker = Harness::default();
    broker.connect(1);
    broker.send(1, 1, Command::ConfirmSelect).assert_ok();
    broker
        .send(1, 1, durable_declare("q", arguments))
        .assert_ok();
    broker
}

fn publish_persistent(broker: &mut Harness, body: &str) -> Step {
    broker.publish_with(1, 1, "", "q", body, persistent())
}

fn persisted(step: &Step) -> Vec<Change> {
    step.outputs
        .iter()
        .filter_map(|output| match output {
            Output::Persist(record) => Some(record.change.clone()),
            _ => None,
        })
        .collect()
}

/// Every message of `queue` as (body, redelivered), taken with basic.get from a fresh connection.
fn contents(broker: &mut Harness, queue: &str) -> Vec<(String, bool)> {
    broker.connect(50);
    let mut seen = Vec::new();
    for _ in 0..1_000 {
        let step = broker.get(50, 1, queue, true);
        match step.deliveries().first() {
            Some(delivery) => seen.push((delivery.body_str(), delivery.redelivered)),
            None => break,
        }
    }
    broker.disconnect(50);
    seen
}

fn messages(bodies: &[(&str, bool)]) -> Vec<(String, bool)> {
    bodies
        .iter()
        .map(|(body, redelivered)| ((*body).to_owned(), *redelivered))
        .collect()
}

#[test]
fn persistent_message_in_durable_queue_is_confirmed_only_after_sync() {
    let mut broker = confirming(FieldTable::new());
    let step = publish_persistent(&mut broker, "a");
    assert!(
        matches!(persisted(&step)[..], [Change::Enqueued { seq: 0, .. }]),
        "{step:#?}"
    );
    assert_eq!(step.confirms(), vec![], "not durable yet");
    assert_eq!(broker.sync().confirms(), vec![(1, true)]);
}

#[test]
fn transient_message_or_transient_queue_is_confirmed_at_once_and_not_logged() {
    let mut broker = confirming(FieldTable::new());
    broker.declare(1, 1, "t", FieldTable::new()).assert_ok();
    let transient = broker.publish(1, 1, "", "q", "transient body");
    assert_eq!(transient.confirms(), vec![(1, true)]);
    let into_transient_queue = broker.publish_with(1, 1, "", "t", "persistent body", persistent());
    assert_eq!(into_transient_queue.confirms(), vec![(2, true)]);
    assert!(persisted(&transient).is_empty() && persisted(&into_transient_queue).is_empty());
}

#[test]
fn confirms_may_overtake_a_persistent_message_waiting_for_the_disk() {
    let mut broker = confirming(FieldTable::new());
    assert_eq!(publish_persistent(&mut broker, "a").confirms(), vec![]);
    assert_eq!(
        broker.publish(1, 1, "", "nowhere", "b").confirms(),
        vec![(2, true)]
    );
    assert_eq!(broker.sync().confirms(), vec![(1, true)]);
}

#[test]
fn confirm_waiting_for_the_disk_is_dropped_with_its_channel() {
    let mut broker = confirming(FieldTable::new());
    publish_persistent(&mut broker, "a");
    broker.send(1, 1, Command::ChannelClose).assert_ok();
    let synced = broker.sync();
    assert!(synced.all_replies().is_empty(), "{synced:#?}");
}

#[test]
fn durable_entities_survive_a_restart_and_transient_ones_do_not() {
    let mut broker = Harness::default();
    broker.connect(1);
    for (exchange, durable) in [("dx", true), ("tx", false)] {
        let declare = Command::ExchangeDeclare {
            exchange: exchange.into(),
            kind: "direct".into(),
            passive: false,
            durable,
            auto_delete: false,
            internal: false,
            arguments: FieldTable::new(),
        };
        broker.send(1, 1, declare).assert_ok();
    }
    broker
        .send(1, 1, durable_declare("dq", FieldTable::new()))
        .assert_ok();
    broker.declare(1, 1, "tq", FieldTable::new()).assert_ok();
    broker.bind(1, 1, "dq", "dx", "k").assert_ok();
    broker.bind(1, 1, "tq", "dx", "k").assert_ok();
    broker.bind(1, 1, "dq", "tx", "k").assert_ok();
    broker.crash_and_recover(broker.log.len());
    broker.connect(1);
    broker
        .send(1, 1, support::passive_declare("dq"))
        .assert_ok();
    broker
        .send(1, 1, support::passive_declare("tq"))
        .assert_channel_error(brokerlab_core::ReplyCode::NotFound);
    broker.open(1, 2);
    broker
        .publish_with(1, 2, "dx", "k", "routed", persistent())
        .assert_ok();
    assert_eq!(
        contents(&mut broker, "dq"),
        messages(&[("routed", false)]),
        "the durable binding survived"
    );
    let missing = broker.publish(1, 2, "tx", "k", "x");
    missing.assert_channel_error(brokerlab_core::ReplyCode::NotFound);
}

#[test]
fn exclusive_queue_does_not_survive_a_restart() {
    let mut broker = Harness::default();
    broker.connect(1);
    let declare = Command::QueueDeclare {
        queue: "mine".into(),
        passive: false,
        durable: true,
        exclusive: true,
        auto_delete: false,
        arguments: FieldTable::new(),
    };
    broker.send(1, 1, declare).assert_ok();
    assert!(broker.log.is_empty(), "{:?}", broker.log);
}

#[test]
fn persistent_messages_survive_in_queue_order_and_transient_ones_do_not() {
    let mut broker = confirming(FieldTable::new());
    publish_persistent(&mut broker, "a");
    broker.publish(1, 1, "", "q", "transient");
    publish_persistent(&mut broker, "b");
    publish_persistent(&mut broker, "c");
    broker.sync();
    broker.crash_and_recover(broker.log.len());
    assert_eq!(
        contents(&mut broker, "q"),
        messages(&[("a", true), ("b", true), ("c", true)]),
        "every recovered message may have gone out before the crash, so each is flagged"
    );
}

#[test]
fn delivered_but_unacked_message_comes_back_redelivered() {
    let mut broker = confirming(FieldTable::new());
    for body in ["a", "b", "c"] {
        publish_persistent(&mut broker, body);
    }
    broker.connect(2);
    broker.get(2, 1, "q", false).assert_ok();
    broker.get(2, 1, "q", false).assert_ok();
    broker.ack(2, 1, 1, false).assert_ok();
    broker.sync();
    broker.crash_and_recover(broker.log.len());
    assert_eq!(
        contents(&mut broker, "q"),
        messages(&[("b", true), ("c", true)])
    );
}

#[test]
fn unsynced_ack_may_come_back_as_a_redelivery() {
    let mut broker = confirming(FieldTable::new());
    publish_persistent(&mut broker, "a");
    broker.connect(2);
    broker.get(2, 1, "q", false).assert_ok();
    let before_ack = broker.log.len();
    broker.ack(2, 1, 1, false).assert_ok();
    assert!(matches!(
        broker.log.last().map(|record| &record.change),
        Some(Change::Removed { .. })
    ));
    broker.crash_and_recover(before_ack);
    assert_eq!(contents(&mut broker, "q"), messages(&[("a", true)]));
}

#[test]
fn delivery_count_and_x_death_survive_a_restart() {
    let mut broker = confirming(FieldTable::new());
    let arguments = table(&[
        ("x-dead-letter-exchange", string("")),
        ("x-dead-letter-routing-key", string("q")),
        ("x-delivery-limit", int(5)),
    ]);
    broker
        .send(1, 1, durable_declare("work", arguments))
        .assert_ok();
    broker
        .publish_with(1, 1, "", "work", "job", persistent())
        .assert_ok();
    broker.connect(2);
    broker.get(2, 1, "work", false).assert_ok();
    broker.reject(2, 1, 1, true).assert_ok();
    broker.get(2, 1, "work", false).assert_ok();
    broker.reject(2, 1, 2, false).assert_ok();
    broker.get(2, 1, "q", false).assert_ok();
    broker.reject(2, 1, 3, true).assert_ok();
    let before = broker.get(2, 1, "q", false).deliveries()[0].message.clone();
    broker.sync();
    broker.crash_and_recover(broker.log.len());
    broker.connect(3);
    let after = broker.get(3, 1, "q", false).deliveries()[0].clone();
    assert!(after.redelivered);
    assert_eq!(
        after.message.properties(),
        before.properties(),
        "x-death and every other header kept"
    );
    assert_eq!(support::x_death(&after.message).len(), 1);
}

#[test]
fn delivery_count_survives_a_restart_for_the_delivery_limit() {
    let mut broker = confirming(FieldTable::new());
    broker
        .send(
            1,
            1,
            durable_declare("limited", table(&[("x-delivery-limit", int(1))])),
        )
        .assert_ok();
    broker
        .publish_with(1, 1, "", "limited", "job", persistent())
        .assert_ok();
    broker.connect(2);
    broker.get(2, 1, "limited", false).assert_ok();
    broker.reject(2, 1, 1, true).assert_ok();
    broker.sync();
    broker.crash_and_recover(broker.log.len());
    broker.connect(2);
    let again = broker.get(2, 1, "limited", false);
    assert_eq!(
        again.deliveries().len(),
        1,
        "returned once: still under the limit"
    );
    broker.reject(2, 1, 1, true).assert_ok();
    assert!(
        contents(&mut broker, "limited").is_empty(),
        "the second return is over the limit"
    );
}

#[test]
fn expiry_time_survives_a_restart() {
    let mut broker = confirming(table(&[("x-message-ttl", int(1_000))]));
    publish_persistent(&mut broker, "a");
    broker.sync();
    broker.now_ms += 400;
    broker.crash_and_recover(broker.log.len());
    broker.now_ms += 400;
    assert_eq!(
        contents(&mut broker, "q"),
        messages(&[("a", true)]),
        "800 ms old, alive"
    );
    let mut broker2 = confirming(table(&[("x-message-ttl", int(1_000))]));
    publish_persistent(&mut broker2, "a");
    broker2.sync();
    broker2.crash_and_recover(broker2.log.len());
    broker2.now_ms += 1_500;
    assert!(
        contents(&mut broker2, "q").is_empty(),
        "1500 ms old, expired across the restart"
    );
}

/// A scripted history, crashed at every record boundary: whatever prefix of
/// the log survives, recovery gives a valid queue.
#[test]
fn crash_at_every_record_boundary_recovers_a_valid_queue() {
    let mut broker = confirming(FieldTable::new());
    for body in ["a", "b", "c", "d"] {
        publish_persistent(&mut broker, body);
    }
    broker.connect(2);
    broker.get(2, 1, "q", false).assert_ok();
    broker.get(2, 1, "q", false).assert_ok();
    broker.ack(2, 1, 2, false).assert_ok();
    broker.reject(2, 1, 1, true).assert_ok();
    broker.get(2, 1, "q", false).assert_ok();
    broker.ack(2, 1, 3, false).assert_ok();
    let log = broker.log.clone();
    for cut in 0..=log.len() {
        let mut crashed = Harness {
            log: log.clone(),
            ..Harness::default()
        };
        crashed.crash_and_recover(cut);
        let prefix = &log[..cut];
        let declared = prefix
            .iter()
            .any(|record| matches!(record.change, Change::QueueDeclared { .. }));
        if !declared {
            continue;
        }
        let seen = contents(&mut crashed, "q");
        let bodies: Vec<&str> = seen.iter().map(|(body, _)| body.as_str()).collect();
        let mut sorted = bodies.clone();
        sorted.sort_unstable();
        assert_eq!(bodies, sorted, "cut {cut}: queue order preserved: {seen:?}");
        for (seq, body) in ["a", "b", "c", "d"].iter().enumerate() {
            let seq = seq as u64;
            let enqueued = prefix
                .iter()
                .any(|r| matches!(r.change, Change::Enqueued { seq: s, .. } if s == seq));
            let removed = prefix
                .iter()
                .any(|r| matches!(r.change, Change::Removed { seq: s, .. } if s == seq));
            let present = seen.iter().find(|(b, _)| b == body);
            assert_eq!(present.is_some(), enqueued && !removed, "cut {cut}: {body}");
            if let Some((_, redelivered)) = present {
                assert!(
                    *redelivered,
                    "cut {cut}: recovered {body} is flagged redelivered"
                );
            }
        }
    }
}

/// What each step of a script output, and its events.
type Seen = Vec<(Vec<Output>, Vec<brokerlab_core::Event>)>;

/// The redelivered flag of messages published before `first_new_id`: the
/// only difference recovery makes (it flags every recovered message).
fn without_recovered_flags(steps: Seen, first_new_id: u64) -> Seen {
    let old = |message: &brokerlab_core::MessageId| message.0 < first_new_id;
    let clear = |output: Output| match output {
        Output::Reply {
            conn,
            channel,
            reply:
                Reply::Deliver {
                    consumer_tag,
                    delivery_tag,
                    redelivered,
                    message,
                },
        } => {
            let redelivered = redelivered && !old(&message.id);
            Output::Reply {
                conn,
                channel,
                reply: Reply::Deliver {
                    consumer_tag,
                    delivery_tag,
                    redelivered,
                    message,
                },
            }
        }
        other => other,
    };
    let clear_event = |event: brokerlab_core::Event| match event {
        brokerlab_core::Event::Delivered {
            message,
            queue,
            conn,
            channel,
            delivery_tag,
            redelivered,
        } => brokerlab_core::Event::Delivered {
            redelivered: redelivered && !old(&message),
            message,
            queue,
            conn,
            channel,
            delivery_tag,
        },
        other => other,
    };
    steps
        .into_iter()
        .map(|(outputs, events)| {
            (
                outputs.into_iter().map(clear).collect(),
                events.into_iter().map(clear_event).collect(),
            )
        })
        .collect()
}

/// After recovery the broker behaves exactly like one that never crashed, for
/// everything durable: the same commands give the same outputs, but for the
/// redelivered flag that recovery sets on every message it brings back.
#[test]
fn recovered_broker_continues_like_one_that_never_crashed() {
    let mut original = confirming(table(&[("x-max-length", int(10))]));
    for body in ["a", "b", "c"] {
        publish_persistent(&mut original, body);
    }
    original.connect(2);
    original.get(2, 1, "q", false).assert_ok();
    original.ack(2, 1, 1, false).assert_ok();
    original.disconnect(2);
    original.disconnect(1);
    original.sync();
    let mut recovered = Harness {
        log: original.log.clone(),
        ..Harness::default()
    };
    recovered.crash_and_recover(original.log.len());
    let script = |broker: &mut Harness| -> Seen {
        let steps = [
            broker.connect(7),
            broker.send(7, 1, Command::ConfirmSelect),
            broker.publish_with(7, 1, "", "q", "d", persistent()),
            broker.sync(),
            broker.qos(7, 1, 2, false),
            broker.consume(7, 1, "q", "c", false),
            broker.ack(7, 1, 2, true),
            broker.send(7, 1, support::passive_declare("q")),
        ];
        steps
            .into_iter()
            .map(|step| (step.outputs, step.events))
            .collect()
    };
    let (after_recovery, without_crash) = (script(&mut recovered), script(&mut original));
    let recovered_deliveries = after_recovery
        .iter()
        .flat_map(|(outputs, _)| outputs)
        .filter(|output| {
            matches!(
                output,
                Output::Reply {
                    reply: Reply::Deliver {
                        redelivered: true,
                        ..
                    },
                    ..
                }
            )
        });
    assert_eq!(recovered_deliveries.count(), 2, "b and c come back flagged");
    assert_eq!(
        without_recovered_flags(after_recovery, 4),
        without_recovered_flags(without_crash, 4)
    );
}

#[test]
fn snapshot_recovers_the_same_broker_as_the_full_log() {
    let mut broker = confirming(table(&[("x-max-priority", int(3))]));
    let declare = Command::ExchangeDeclare {
        exchange: "dx".into(),
        kind: "topic".into(),
        passive: false,
        durable: true,
        auto_delete: false,
        internal: false,
        arguments: FieldTable::new(),
    };
    broker.send(1, 1, declare).assert_ok();
    broker.bind(1, 1, "q", "dx", "a.#").assert_ok();
    for (body, priority) in [("low", 0), ("high", 3), ("mid", 1), ("gone", 2)] {
        let properties = Properties {
            priority: Some(priority),
            ..persistent()
        };
        broker
            .publish_with(1, 1, "dx", "a.b", body, properties)
            .assert_ok();
    }
    broker.connect(2);
    broker.get(2, 1, "q", false).assert_ok();
    broker.get(2, 1, "q", false).assert_ok();
    broker.ack(2, 1, 2, false).assert_ok();
    let snapshot = broker.broker.snapshot();
    let config = broker.broker.config().clone();
    let from_log = brokerlab_core::Broker::recover(config.clone(), broker.log.clone());
    let from_snapshot = brokerlab_core::Broker::recover(config, snapshot.clone());
    assert_eq!(from_snapshot, from_log);
    assert!(
        snapshot.len() < broker.log.len(),
        "the snapshot follows live data, not history"
    );
}

#[test]
fn synced_beyond_what_was_emitted_is_harmless() {
    let mut broker = confirming(FieldTable::new());
    publish_persistent(&mut broker, "a");
    let step = broker.input(brokerlab_core::Input::Synced { upto: u64::MAX });
    assert_eq!(step.confirms(), vec![(1, true)]);
    assert!(broker.broker.poll_output().is_none());
    assert!(!step.outputs.iter().any(|output| matches!(
        output,
        Output::Reply {
            reply: Reply::Close { .. },
            ..
        }
    )));
}

#[test]
fn recovered_broker_numbers_messages_past_every_id_in_its_log() {
    let mut broker = confirming(FieldTable::new());
    publish_persistent(&mut broker, "a");
    publish_persistent(&mut broker, "b");
    broker.connect(2);
    broker.get(2, 1, "q", true).assert_ok();
    broker.get(2, 1, "q", true).assert_ok();
    broker.crash_and_recover(broker.log.len());
    broker.connect(1);
    let step = broker.publish_with(1, 1, "", "q", "c", persistent());
    let published = step.events().into_iter().find_map(|event| match event {
        brokerlab_core::Event::Published { message, .. } => Some(message),
        _ => None,
    });
    assert_eq!(
        published,
        Some(brokerlab_core::MessageId(3)),
        "ids 1 and 2 are in the log, though removed"
    );
}

/// Publishes one persistent message to `work` (dead-lettering into `q`),
/// syncs, and rejects it without requeue: returns the records the reject logged.
fn reject_into_dead_letter_queue(broker: &mut Harness) -> (usize, Vec<Change>) {
    let arguments = table(&[
        ("x-dead-letter-exchange", string("")),
        ("x-dead-letter-routing-key", string("q")),
    ]);
    broker
        .send(1, 1, durable_declare("work", arguments))
        .assert_ok();
    broker
        .publish_with(1, 1, "", "work", "job", persistent())
        .assert_ok();
    broker.connect(2);
    broker.get(2, 1, "work", false).assert_ok();
    broker.sync();
    let before = broker.log.len();
    let step = broker.reject(2, 1, 1, false);
    step.assert_ok();
    (before, persisted(&step))
}

#[test]
fn dead_lettering_logs_the_copy_and_the_removal_in_one_record() {
    let mut broker = confirming(FieldTable::new());
    let (_, records) = reject_into_dead_letter_queue(&mut broker);
    let [Change::Atomic { changes }] = records.as_slice() else {
        panic!("one atomic record expected: {records:?}");
    };
    assert!(
        matches!(
            changes.as_slice(),
            [Change::Enqueued { queue: copy, .. }, Change::Removed { queue: source, .. }]
                if copy == "q" && source == "work"
        ),
        "{changes:?}"
    );
}

#[test]
fn crash_around_a_dead_letter_keeps_the_message_exactly_once() {
    for kept in 0..=1 {
        let mut broker = confirming(FieldTable::new());
        let (before, _) = reject_into_dead_letter_queue(&mut broker);
        broker.crash_and_recover(before + kept);
        let in_work = contents(&mut broker, "work").len();
        let in_dead_letters = contents(&mut broker, "q").len();
        let expected = if kept == 0 { (1, 0) } else { (0, 1) };
        assert_eq!(
            (in_work, in_dead_letters),
            expected,
            "{kept} of the reject's records kept"
        );
    }
}
