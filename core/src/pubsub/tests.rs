//! The Pub/Sub rules, one test each, on the state alone.

use super::*;

const A: ConnectionId = ConnectionId(1);
const B: ConnectionId = ConnectionId(2);
const PUBLISHER: ConnectionId = ConnectionId(9);
const NOW: Instant = Instant(1_000_000_000);

fn b(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

fn names(list: &[&str]) -> Vec<Bytes> {
    list.iter().map(|name| b(name)).collect()
}

/// Runs a command and gives back the outbox, checking the invariants.
fn run(
    pubsub: &mut PubSub,
    now: Instant,
    conn: ConnectionId,
    command: PubSubCommand,
) -> Vec<(ConnectionId, PubSubReply)> {
    pubsub.handle(now, conn, command);
    pubsub.check_invariants();
    pubsub.take_outbox()
}

fn subscribe(pubsub: &mut PubSub, conn: ConnectionId, channels: &[&str]) {
    let channels = names(channels);
    run(pubsub, NOW, conn, PubSubCommand::Subscribe { channels });
}

fn psubscribe(pubsub: &mut PubSub, conn: ConnectionId, patterns: &[&str]) {
    let patterns = names(patterns);
    run(
        pubsub,
        NOW,
        conn,
        PubSubCommand::PatternSubscribe { patterns },
    );
}

fn publish_at(
    pubsub: &mut PubSub,
    now: Instant,
    channel: &str,
    message: &str,
) -> Vec<(ConnectionId, PubSubReply)> {
    let command = PubSubCommand::Publish {
        channel: b(channel),
        message: b(message),
    };
    run(pubsub, now, PUBLISHER, command)
}

fn publish(pubsub: &mut PubSub, channel: &str, message: &str) -> Vec<(ConnectionId, PubSubReply)> {
    publish_at(pubsub, NOW, channel, message)
}

fn receivers(outbox: &[(ConnectionId, PubSubReply)]) -> u64 {
    match outbox.last() {
        Some((PUBLISHER, PubSubReply::Published { receivers })) => *receivers,
        other => panic!("a publish ends with its count: {other:?}"),
    }
}

fn messages_to(outbox: &[(ConnectionId, PubSubReply)], conn: ConnectionId) -> Vec<PubSubReply> {
    outbox
        .iter()
        .filter(|(to, reply)| *to == conn && matches!(reply, PubSubReply::Message { .. }))
        .map(|(_, reply)| reply.clone())
        .collect()
}

#[test]
fn publish_reaches_only_the_current_subscribers_and_counts_them() {
    let mut pubsub = PubSub::default();
    assert_eq!(receivers(&publish(&mut pubsub, "news", "early")), 0);
    subscribe(&mut pubsub, A, &["news"]);
    subscribe(&mut pubsub, B, &["news"]);
    let outbox = publish(&mut pubsub, "news", "hello");
    assert_eq!(receivers(&outbox), 2);
    for conn in [A, B] {
        assert_eq!(
            messages_to(&outbox, conn),
            [PubSubReply::Message {
                pattern: None,
                channel: b("news"),
                message: b("hello")
            }]
        );
    }
}

#[test]
fn a_late_subscriber_gets_nothing_published_before_it_subscribed() {
    let mut pubsub = PubSub::default();
    subscribe(&mut pubsub, A, &["news"]);
    publish(&mut pubsub, "news", "first");
    subscribe(&mut pubsub, B, &["news"]);
    let outbox = publish(&mut pubsub, "news", "second");
    assert_eq!(messages_to(&outbox, B).len(), 1, "only what came after");
    let outbox = run(
        &mut pubsub,
        NOW,
        B,
        PubSubCommand::Unsubscribe { channels: vec![] },
    );
    assert!(messages_to(&outbox, B).is_empty());
}

#[test]
fn publish_counts_a_subscriber_matching_channel_and_pattern_twice() {
    let mut pubsub = PubSub::default();
    subscribe(&mut pubsub, A, &["news.tech"]);
    psubscribe(&mut pubsub, A, &["news.*", "*"]);
    let outbox = publish(&mut pubsub, "news.tech", "x");
    assert_eq!(receivers(&outbox), 3);
    let got = messages_to(&outbox, A);
    assert_eq!(
        got,
        [
            PubSubReply::Message {
                pattern: None,
                channel: b("news.tech"),
                message: b("x")
            },
            PubSubReply::Message {
                pattern: Some(b("*")),
                channel: b("news.tech"),
                message: b("x")
            },
            PubSubReply::Message {
                pattern: Some(b("news.*")),
                channel: b("news.tech"),
                message: b("x")
            },
        ],
        "the channel's message first, then each matching pattern's"
    );
}

#[test]
fn subscribe_answers_each_name_with_the_count_of_subscriptions_of_both_kinds() {
    let mut pubsub = PubSub::default();
    let outbox = run(
        &mut pubsub,
        NOW,
        A,
        PubSubCommand::Subscribe {
            channels: names(&["a", "b", "a"]),
        },
    );
    let counts: Vec<_> = outbox
        .iter()
        .map(|(_, reply)| match reply {
            PubSubReply::Subscribed { name, count, .. } => (name.clone(), *count),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        counts,
        [(b("a"), 1), (b("b"), 2), (b("a"), 2)],
        "a repeat is answered and counted once"
    );
    let outbox = run(
        &mut pubsub,
        NOW,
        A,
        PubSubCommand::PatternSubscribe {
            patterns: names(&["a*"]),
        },
    );
    assert_eq!(
        outbox,
        [(
            A,
            PubSubReply::Subscribed {
                kind: SubscriptionKind::Pattern,
                name: b("a*"),
                count: 3
            }
        )]
    );
}

#[test]
fn unsubscribe_from_all_answers_each_held_channel_or_one_nameless_answer_when_none() {
    let mut pubsub = PubSub::default();
    let outbox = run(
        &mut pubsub,
        NOW,
        A,
        PubSubCommand::Unsubscribe { channels: vec![] },
    );
    assert_eq!(
        outbox,
        [(
            A,
            PubSubReply::Unsubscribed {
                kind: SubscriptionKind::Channel,
                name: None,
                count: 0
            }
        )]
    );
    subscribe(&mut pubsub, A, &["b", "a"]);
    psubscribe(&mut pubsub, A, &["p*"]);
    let outbox = run(
        &mut pubsub,
        NOW,
        A,
        PubSubCommand::Unsubscribe { channels: vec![] },
    );
    assert_eq!(
        outbox,
        [
            (
                A,
                PubSubReply::Unsubscribed {
                    kind: SubscriptionKind::Channel,
                    name: Some(b("a")),
                    count: 2
                }
            ),
            (
                A,
                PubSubReply::Unsubscribed {
                    kind: SubscriptionKind::Channel,
                    name: Some(b("b")),
                    count: 1
                }
            ),
        ]
    );
    let outbox = run(
        &mut pubsub,
        NOW,
        A,
        PubSubCommand::PatternUnsubscribe {
            patterns: names(&["q*", "p*"]),
        },
    );
    assert_eq!(
        outbox,
        [
            (
                A,
                PubSubReply::Unsubscribed {
                    kind: SubscriptionKind::Pattern,
                    name: Some(b("q*")),
                    count: 1
                }
            ),
            (
                A,
                PubSubReply::Unsubscribed {
                    kind: SubscriptionKind::Pattern,
                    name: Some(b("p*")),
                    count: 0
                }
            ),
        ],
        "a pattern never held is answered with the count unchanged"
    );
}

#[test]
fn pubsub_channels_lists_channels_with_subscribers_by_name_matching_the_pattern() {
    let mut pubsub = PubSub::default();
    subscribe(&mut pubsub, A, &["news.tech", "sport"]);
    subscribe(&mut pubsub, B, &["news.art"]);
    psubscribe(&mut pubsub, B, &["weather.*"]);
    let all = run(
        &mut pubsub,
        NOW,
        B,
        PubSubCommand::Channels { pattern: None },
    );
    assert_eq!(
        all,
        [(
            B,
            PubSubReply::Channels(names(&["news.art", "news.tech", "sport"]))
        )]
    );
    let news = run(
        &mut pubsub,
        NOW,
        B,
        PubSubCommand::Channels {
            pattern: Some(b("news.*")),
        },
    );
    assert_eq!(
        news,
        [(B, PubSubReply::Channels(names(&["news.art", "news.tech"])))]
    );
    run(
        &mut pubsub,
        NOW,
        A,
        PubSubCommand::Unsubscribe {
            channels: names(&["sport"]),
        },
    );
    let all = run(
        &mut pubsub,
        NOW,
        B,
        PubSubCommand::Channels { pattern: None },
    );
    assert_eq!(
        all,
        [(B, PubSubReply::Channels(names(&["news.art", "news.tech"])))],
        "a channel with no subscriber is gone"
    );
}

#[test]
fn pubsub_numsub_counts_subscribers_by_name_and_numpat_every_pattern_subscription() {
    let mut pubsub = PubSub::default();
    subscribe(&mut pubsub, A, &["x"]);
    subscribe(&mut pubsub, B, &["x"]);
    psubscribe(&mut pubsub, A, &["x*", "y*"]);
    psubscribe(&mut pubsub, B, &["x*"]);
    let numsub = run(
        &mut pubsub,
        NOW,
        A,
        PubSubCommand::NumSub {
            channels: names(&["x", "nobody", "x"]),
        },
    );
    assert_eq!(
        numsub,
        [(
            A,
            PubSubReply::NumSub(vec![(b("x"), 2), (b("nobody"), 0), (b("x"), 2)])
        )]
    );
    let numpat = run(&mut pubsub, NOW, A, PubSubCommand::NumPat);
    assert_eq!(numpat, [(A, PubSubReply::NumPat(3))]);
}

#[test]
fn disconnect_and_reset_drop_every_subscription() {
    let mut pubsub = PubSub::default();
    subscribe(&mut pubsub, A, &["x"]);
    psubscribe(&mut pubsub, A, &["*"]);
    subscribe(&mut pubsub, B, &["x"]);
    pubsub.disconnect(A);
    pubsub.check_invariants();
    assert_eq!(receivers(&publish(&mut pubsub, "x", "m")), 1);
    let outbox = run(&mut pubsub, NOW, B, PubSubCommand::Reset);
    assert!(outbox.is_empty(), "RESET answers nothing of the core's");
    assert_eq!(receivers(&publish(&mut pubsub, "x", "m")), 0);
}

#[test]
fn deliveries_keep_each_publishers_order() {
    let mut pubsub = PubSub::default();
    subscribe(&mut pubsub, A, &["c"]);
    let mut got = Vec::new();
    for n in 0..10 {
        got.extend(messages_to(&publish(&mut pubsub, "c", &n.to_string()), A));
    }
    let expected: Vec<_> = (0..10)
        .map(|n| PubSubReply::Message {
            pattern: None,
            channel: b("c"),
            message: b(&n.to_string()),
        })
        .collect();
    assert_eq!(got, expected);
}

fn small_limits(hard: u64, soft: u64, soft_ms: u64) -> PubSub {
    PubSub::new(PubSubConfig {
        output_buffer_hard_bytes: hard,
        output_buffer_soft_bytes: soft,
        output_buffer_soft_ms: soft_ms,
        ..PubSubConfig::default()
    })
}

/// A payload whose delivery on channel `c` is charged exactly `bytes`.
fn payload_charged(bytes: u64) -> String {
    "m".repeat(usize::try_from(bytes - DELIVERY_OVERHEAD_BYTES - 1).unwrap())
}

#[test]
fn slow_subscriber_at_the_hard_limit_is_disconnected_and_its_delivery_dropped() {
    let mut pubsub = small_limits(1000, 0, 0);
    subscribe(&mut pubsub, A, &["c"]);
    psubscribe(&mut pubsub, A, &["*"]);
    subscribe(&mut pubsub, B, &["c"]);
    let outbox = publish(&mut pubsub, "c", &payload_charged(600));
    assert_eq!(
        messages_to(&outbox, A).len(),
        1,
        "the pattern's delivery reached the limit"
    );
    assert!(outbox.contains(&(A, PubSubReply::Disconnect(SlowSubscriber::HardLimit))));
    assert_eq!(
        receivers(&outbox),
        3,
        "Redis counts a receiver it then disconnects"
    );
    assert_eq!(pubsub.subscriptions(A), 0);
    assert_eq!(pubsub.dropped_slow(), 1);
    assert_eq!(messages_to(&outbox, B).len(), 1, "others are not held back");
}

#[test]
fn written_bytes_leave_the_output_buffer_so_a_subscriber_that_keeps_up_stays() {
    let mut pubsub = small_limits(1000, 0, 0);
    subscribe(&mut pubsub, A, &["c"]);
    for _ in 0..100 {
        let outbox = publish(&mut pubsub, "c", &payload_charged(600));
        let written: u64 = messages_to(&outbox, A).iter().map(delivery_bytes).sum();
        assert_eq!(written, 600);
        run(
            &mut pubsub,
            NOW,
            A,
            PubSubCommand::Written { bytes: written },
        );
    }
    assert_eq!(pubsub.pending_bytes(A), 0);
    assert_eq!(pubsub.subscriptions(A), 1);
}

#[test]
fn slow_subscriber_over_the_soft_limit_for_longer_than_its_time_is_disconnected() {
    let mut pubsub = small_limits(0, 500, 60_000);
    subscribe(&mut pubsub, A, &["c"]);
    let message = payload_charged(300);
    publish_at(&mut pubsub, NOW, "c", &message);
    let outbox = publish_at(&mut pubsub, NOW, "c", &message);
    assert_eq!(
        messages_to(&outbox, A).len(),
        1,
        "over the soft limit: its clock starts"
    );
    let outbox = publish_at(&mut pubsub, NOW.plus_ms(60_000), "c", &message);
    assert_eq!(messages_to(&outbox, A).len(), 1, "still within its time");
    let outbox = publish_at(&mut pubsub, NOW.plus_ms(60_001), "c", &message);
    assert!(outbox.contains(&(A, PubSubReply::Disconnect(SlowSubscriber::SoftLimit))));
}

#[test]
fn soft_limit_clock_restarts_once_the_buffer_is_back_under_it() {
    let mut pubsub = small_limits(0, 500, 1_000);
    subscribe(&mut pubsub, A, &["c"]);
    let message = payload_charged(300);
    publish_at(&mut pubsub, NOW, "c", &message);
    publish_at(&mut pubsub, NOW, "c", &message);
    run(&mut pubsub, NOW, A, PubSubCommand::Written { bytes: 600 });
    publish_at(&mut pubsub, NOW.plus_ms(5_000), "c", &message);
    let outbox = publish_at(&mut pubsub, NOW.plus_ms(5_000), "c", &message);
    assert_eq!(
        messages_to(&outbox, A).len(),
        1,
        "a new stretch over the limit starts a new clock"
    );
    let outbox = publish_at(&mut pubsub, NOW.plus_ms(6_001), "c", &message);
    assert!(outbox.contains(&(A, PubSubReply::Disconnect(SlowSubscriber::SoftLimit))));
}

#[test]
fn subscriptions_past_the_connection_bound_are_refused() {
    let mut pubsub = PubSub::new(PubSubConfig {
        subscriptions_per_connection_max: 2,
        ..PubSubConfig::default()
    });
    let outbox = run(
        &mut pubsub,
        NOW,
        A,
        PubSubCommand::Subscribe {
            channels: names(&["a", "b", "a", "c"]),
        },
    );
    assert_eq!(outbox.len(), 4);
    assert_eq!(
        outbox[3],
        (
            A,
            PubSubReply::Error(PubSubError::TooManySubscriptions { max: 2 })
        )
    );
    assert_eq!(pubsub.subscriptions(A), 2);
}

#[test]
fn pubsub_rules_hold_under_random_commands() {
    use proptest::prelude::*;
    let command = prop_oneof![
        (0..3u64, prop::collection::vec("[ab]{0,2}", 0..3)).prop_map(|(c, n)| (c, 0, n)),
        (0..3u64, prop::collection::vec("[ab*?]{0,2}", 0..3)).prop_map(|(c, n)| (c, 1, n)),
        (0..3u64, prop::collection::vec("[ab]{0,2}", 0..2)).prop_map(|(c, n)| (c, 2, n)),
        (0..3u64, prop::collection::vec("[ab*?]{0,2}", 0..2)).prop_map(|(c, n)| (c, 3, n)),
        (0..3u64, "[ab]{0,2}").prop_map(|(c, n)| (c, 4, vec![n])),
        (0..3u64, Just(())).prop_map(|(c, ())| (c, 5, vec![])),
    ];
    proptest!(ProptestConfig::with_cases(256), |(commands in prop::collection::vec(command, 0..40))| {
        let mut pubsub = PubSub::new(PubSubConfig { output_buffer_hard_bytes: 0, ..PubSubConfig::default() });
        for (conn, kind, names) in commands {
            let names: Vec<Bytes> = names.iter().map(|n| b(n)).collect();
            let conn = ConnectionId(conn);
            let command = match kind {
                0 => PubSubCommand::Subscribe { channels: names },
                1 => PubSubCommand::PatternSubscribe { patterns: names },
                2 => PubSubCommand::Unsubscribe { channels: names },
                3 => PubSubCommand::PatternUnsubscribe { patterns: names },
                4 => PubSubCommand::Publish { channel: names[0].clone(), message: b("m") },
                _ => PubSubCommand::Reset,
            };
            // What a reference count says the publish reaches.
            let expected = if let PubSubCommand::Publish { channel, .. } = &command {
                let by_name = pubsub.channels.get(channel).map_or(0, BTreeSet::len);
                let by_pattern: usize = pubsub.patterns.iter()
                    .filter(|(pattern, _)| glob::matches(pattern, channel))
                    .map(|(_, subscribers)| subscribers.len())
                    .sum();
                Some((by_name + by_pattern) as u64)
            } else {
                None
            };
            let outbox = run(&mut pubsub, NOW, conn, command);
            if let Some(expected) = expected {
                let delivered = outbox.iter().filter(|(_, r)| matches!(r, PubSubReply::Message { .. })).count() as u64;
                prop_assert_eq!(delivered, expected);
                prop_assert_eq!(outbox.last(), Some(&(conn, PubSubReply::Published { receivers: expected })));
            }
        }
    });
}
