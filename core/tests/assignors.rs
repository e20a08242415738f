//! The client-side assignors and the consumer protocol's bytes. The range
//! and roundrobin cases are Kafka's own `RangeAssignorTest` and
//! `RoundRobinAssignorTest` cases (without racks), with their expectations.

use brokerlab_core::group::assignors::{self, AssignorMember, GroupAssignment};
use brokerlab_core::group::consumer_protocol::{
    decode_assignment, decode_subscription, encode_assignment, encode_subscription,
    MemberAssignment, Subscription, TopicPartition,
};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition::new(topic, partition)
}

fn member(id: &str, topics: &[&str]) -> AssignorMember {
    AssignorMember {
        member_id: id.into(),
        topics: topics.iter().map(|t| (*t).to_owned()).collect(),
        generation: -1,
        ..AssignorMember::default()
    }
}

fn static_member(id: &str, instance: &str, topics: &[&str]) -> AssignorMember {
    AssignorMember {
        group_instance_id: Some(instance.into()),
        ..member(id, topics)
    }
}

fn owning(mut member: AssignorMember, owned: &[TopicPartition], generation: i32) -> AssignorMember {
    member.owned = owned.to_vec();
    member.generation = generation;
    member
}

fn topics(counts: &[(&str, i32)]) -> BTreeMap<String, i32> {
    counts.iter().map(|(t, n)| ((*t).to_owned(), *n)).collect()
}

fn of(assignment: &GroupAssignment, member: &str) -> Vec<TopicPartition> {
    assignment[member].clone()
}

#[test]
fn range_gives_one_member_without_topics_nothing() {
    let assignment = assignors::range(&[member("consumer1", &[])], &topics(&[]));
    assert_eq!(of(&assignment, "consumer1"), vec![]);
}

#[test]
fn range_skips_a_subscribed_topic_that_does_not_exist() {
    let assignment = assignors::range(&[member("consumer1", &["topic"])], &topics(&[]));
    assert_eq!(of(&assignment, "consumer1"), vec![]);
}

#[test]
fn range_gives_a_single_member_every_partition_of_its_topic() {
    let assignment = assignors::range(&[member("consumer", &["topic"])], &topics(&[("topic", 3)]));
    assert_eq!(
        of(&assignment, "consumer"),
        vec![tp("topic", 0), tp("topic", 1), tp("topic", 2)]
    );
}

#[test]
fn range_assigns_only_partitions_of_subscribed_topics() {
    let counts = topics(&[("topic", 3), ("other", 3)]);
    let assignment = assignors::range(&[member("consumer", &["topic"])], &counts);
    assert_eq!(
        of(&assignment, "consumer"),
        vec![tp("topic", 0), tp("topic", 1), tp("topic", 2)]
    );
}

#[test]
fn range_leaves_a_member_without_a_partition_when_there_are_fewer_partitions() {
    let members = [
        member("consumer1", &["topic"]),
        member("consumer2", &["topic"]),
    ];
    let assignment = assignors::range(&members, &topics(&[("topic", 1)]));
    assert_eq!(of(&assignment, "consumer1"), vec![tp("topic", 0)]);
    assert_eq!(of(&assignment, "consumer2"), vec![]);
}

#[test]
fn range_splits_a_topic_into_contiguous_ranges_by_member_order() {
    let members = [
        member("consumer1", &["topic"]),
        member("consumer2", &["topic"]),
    ];
    let assignment = assignors::range(&members, &topics(&[("topic", 2)]));
    assert_eq!(of(&assignment, "consumer1"), vec![tp("topic", 0)]);
    assert_eq!(of(&assignment, "consumer2"), vec![tp("topic", 1)]);
}

#[test]
fn range_assigns_each_topic_among_its_own_subscribers() {
    let members = [
        member("consumer1", &["topic1"]),
        member("consumer2", &["topic1", "topic2"]),
        member("consumer3", &["topic1"]),
    ];
    let assignment = assignors::range(&members, &topics(&[("topic1", 3), ("topic2", 2)]));
    assert_eq!(of(&assignment, "consumer1"), vec![tp("topic1", 0)]);
    assert_eq!(
        of(&assignment, "consumer2"),
        vec![tp("topic1", 1), tp("topic2", 0), tp("topic2", 1)]
    );
    assert_eq!(of(&assignment, "consumer3"), vec![tp("topic1", 2)]);
}

#[test]
fn range_gives_the_first_members_one_extra_partition_per_topic() {
    let members = [
        member("consumer1", &["topic1", "topic2"]),
        member("consumer2", &["topic1", "topic2"]),
    ];
    let assignment = assignors::range(&members, &topics(&[("topic1", 3), ("topic2", 3)]));
    assert_eq!(
        of(&assignment, "consumer1"),
        vec![
            tp("topic1", 0),
            tp("topic1", 1),
            tp("topic2", 0),
            tp("topic2", 1)
        ]
    );
    assert_eq!(
        of(&assignment, "consumer2"),
        vec![tp("topic1", 2), tp("topic2", 2)]
    );
}

#[test]
fn range_orders_static_members_by_instance_id_before_member_id() {
    let counts = topics(&[("topic1", 3), ("topic2", 3)]);
    let both = ["topic1", "topic2"];
    let two_static = [
        static_member("consumer-b", "instance1", &both),
        static_member("consumer-a", "instance2", &both),
    ];
    let one_static = [
        static_member("consumer-b", "instance1", &both),
        member("consumer-a", &both),
    ];
    for members in [&two_static[..], &one_static[..]] {
        let assignment = assignors::range(members, &counts);
        assert_eq!(
            of(&assignment, "consumer-b"),
            vec![
                tp("topic1", 0),
                tp("topic1", 1),
                tp("topic2", 0),
                tp("topic2", 1)
            ]
        );
        assert_eq!(
            of(&assignment, "consumer-a"),
            vec![tp("topic1", 2), tp("topic2", 2)]
        );
    }
}

#[test]
fn roundrobin_deals_partitions_in_turn_skipping_members_not_subscribed() {
    let members = [
        member("consumer1", &["topic1"]),
        member("consumer2", &["topic1", "topic2"]),
        member("consumer3", &["topic1"]),
    ];
    let assignment = assignors::round_robin(&members, &topics(&[("topic1", 3), ("topic2", 2)]));
    assert_eq!(of(&assignment, "consumer1"), vec![tp("topic1", 0)]);
    assert_eq!(
        of(&assignment, "consumer2"),
        vec![tp("topic1", 1), tp("topic2", 0), tp("topic2", 1)]
    );
    assert_eq!(of(&assignment, "consumer3"), vec![tp("topic1", 2)]);
}

#[test]
fn roundrobin_deals_every_topic_partition_across_members_in_order() {
    let both = ["topic1", "topic2"];
    let counts = topics(&[("topic1", 3), ("topic2", 3)]);
    let dynamic = [member("consumer1", &both), member("consumer2", &both)];
    let assignment = assignors::round_robin(&dynamic, &counts);
    assert_eq!(
        of(&assignment, "consumer1"),
        vec![tp("topic1", 0), tp("topic1", 2), tp("topic2", 1)]
    );
    assert_eq!(
        of(&assignment, "consumer2"),
        vec![tp("topic1", 1), tp("topic2", 0), tp("topic2", 2)]
    );
}

#[test]
fn roundrobin_orders_static_members_by_instance_id_before_member_id() {
    let both = ["topic1", "topic2"];
    let counts = topics(&[("topic1", 3), ("topic2", 3)]);
    let two_static = [
        static_member("consumer-b", "instance1", &both),
        static_member("consumer-a", "instance2", &both),
    ];
    let one_static = [
        static_member("consumer-b", "instance1", &both),
        member("consumer-a", &both),
    ];
    for members in [&two_static[..], &one_static[..]] {
        let assignment = assignors::round_robin(members, &counts);
        assert_eq!(
            of(&assignment, "consumer-b"),
            vec![tp("topic1", 0), tp("topic1", 2), tp("topic2", 1)]
        );
        assert_eq!(
            of(&assignment, "consumer-a"),
            vec![tp("topic1", 1), tp("topic2", 0), tp("topic2", 2)]
        );
    }
}

#[test]
fn assign_knows_kafkas_assignor_names_only() {
    let members = [member("c", &["t"])];
    let counts = topics(&[("t", 2)]);
    for name in ["range", "roundrobin", "cooperative-sticky"] {
        assert_eq!(
            assignors::assign(name, &members, &counts).expect(name)["c"].len(),
            2
        );
    }
    assert!(assignors::assign("sticky-ish", &members, &counts).is_none());
}

#[test]
fn cooperative_sticky_balances_a_first_assignment() {
    let members = [
        member("a", &["t"]),
        member("b", &["t"]),
        member("c", &["t"]),
    ];
    let assignment = assignors::cooperative_sticky(&members, &topics(&[("t", 7)]));
    let sizes: Vec<usize> = assignment.values().map(Vec::len).collect();
    assert_eq!(sizes, vec![3, 2, 2]);
}

#[test]
fn cooperative_sticky_keeps_owned_partitions_when_balanced() {
    let owned_a = [tp("t", 1), tp("t", 3)];
    let owned_b = [tp("t", 0), tp("t", 2)];
    let members = [
        owning(member("a", &["t"]), &owned_a, 1),
        owning(member("b", &["t"]), &owned_b, 1),
    ];
    let assignment = assignors::cooperative_sticky(&members, &topics(&[("t", 4)]));
    assert_eq!(of(&assignment, "a"), owned_a.to_vec());
    assert_eq!(of(&assignment, "b"), owned_b.to_vec());
}

#[test]
fn cooperative_sticky_revokes_a_moving_partition_before_reassigning_it() {
    let owned = [tp("t", 0), tp("t", 1), tp("t", 2), tp("t", 3)];
    let first = [owning(member("a", &["t"]), &owned, 1), member("b", &["t"])];
    let counts = topics(&[("t", 4)]);
    let revoking = assignors::cooperative_sticky(&first, &counts);
    // Two partitions leave a: in this generation neither member has them.
    assert_eq!(of(&revoking, "a"), vec![tp("t", 0), tp("t", 1)]);
    assert_eq!(of(&revoking, "b"), vec![]);
    // Next generation a owns only what it kept: b now gets the two.
    let second = [
        owning(member("a", &["t"]), &revoking["a"], 2),
        owning(member("b", &["t"]), &[], 2),
    ];
    let handed = assignors::cooperative_sticky(&second, &counts);
    assert_eq!(of(&handed, "a"), vec![tp("t", 0), tp("t", 1)]);
    assert_eq!(of(&handed, "b"), vec![tp("t", 2), tp("t", 3)]);
}

#[test]
fn cooperative_sticky_gives_a_departed_members_partitions_at_once() {
    let members = [
        owning(member("a", &["t"]), &[tp("t", 0)], 1),
        owning(member("b", &["t"]), &[tp("t", 1)], 1),
    ];
    let assignment = assignors::cooperative_sticky(&members, &topics(&[("t", 4)]));
    let all: BTreeSet<TopicPartition> = assignment.values().flatten().cloned().collect();
    assert_eq!(
        all.len(),
        4,
        "partitions owned by nobody present are assigned now"
    );
}

#[test]
fn cooperative_sticky_lets_a_newer_generation_claim_win_and_revokes_a_doubly_claimed_partition() {
    let counts = topics(&[("t", 2)]);
    let newer_wins = [
        owning(member("a", &["t"]), &[tp("t", 0)], 1),
        owning(member("b", &["t"]), &[tp("t", 0)], 2),
    ];
    let assignment = assignors::cooperative_sticky(&newer_wins, &counts);
    assert_eq!(of(&assignment, "b"), vec![tp("t", 0)]);
    let doubly = [
        owning(member("a", &["t"]), &[tp("t", 0)], 2),
        owning(member("b", &["t"]), &[tp("t", 0)], 2),
    ];
    let assignment = assignors::cooperative_sticky(&doubly, &counts);
    assert!(
        assignment.values().flatten().all(|p| *p != tp("t", 0)),
        "claimed twice in one generation: revoked first"
    );
}

#[test]
fn cooperative_sticky_balances_members_with_different_subscriptions() {
    let members = [
        member("a", &["t1", "t2"]),
        member("b", &["t2"]),
        member("c", &["t1"]),
    ];
    let assignment = assignors::cooperative_sticky(&members, &topics(&[("t1", 3), ("t2", 3)]));
    let sizes: Vec<usize> = assignment.values().map(Vec::len).collect();
    assert_eq!(sizes, vec![2, 2, 2]);
    assert!(of(&assignment, "b").iter().all(|p| p.topic == "t2"));
    assert!(of(&assignment, "c").iter().all(|p| p.topic == "t1"));
}

fn subscription_strategy() -> impl Strategy<Value = (Vec<String>, u8)> {
    (proptest::collection::vec("[a-c]{1,2}", 0..4), 0u8..6)
}

proptest! {
    #[test]
    fn every_assignor_assigns_each_partition_at_most_once_and_only_to_subscribers(
        subscriptions in proptest::collection::vec(subscription_strategy(), 1..5),
        owned_seed in proptest::collection::vec(0u8..8, 0..6),
    ) {
        let counts = topics(&[("a", 3), ("b", 2), ("c", 5), ("aa", 1)]);
        let members: Vec<AssignorMember> = subscriptions.iter().enumerate().map(|(i, (topics, _))| {
            let mut m = member(&format!("m{i}"), &topics.iter().map(String::as_str).collect::<Vec<_>>());
            m.owned = owned_seed.iter().filter(|s| usize::from(**s) % subscriptions.len() == i)
                .map(|s| tp("c", i32::from(*s % 5))).collect();
            m.generation = 1;
            m
        }).collect();
        for name in ["range", "roundrobin", "cooperative-sticky"] {
            let assignment = assignors::assign(name, &members, &counts).expect("known");
            let mut seen = BTreeSet::new();
            for m in &members {
                for p in &assignment[&m.member_id] {
                    prop_assert!(m.topics.contains(&p.topic), "{name}: only subscribed topics");
                    prop_assert!(seen.insert(p.clone()), "{name}: {p:?} assigned twice");
                }
            }
            if name != "cooperative-sticky" {
                let subscribed: BTreeSet<&String> = members.iter().flat_map(|m| &m.topics).collect();
                let expected: i32 = counts.iter().filter(|(t, _)| subscribed.contains(t)).map(|(_, n)| n).sum();
                prop_assert_eq!(seen.len(), usize::try_from(expected).unwrap(), "{}: every partition", name);
            }
        }
    }

    #[test]
    fn decoding_any_bytes_is_an_error_or_a_value_never_a_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = decode_subscription(&bytes);
        let _ = decode_assignment(&bytes);
    }
}

#[test]
fn a_subscription_survives_encoding_at_every_version() {
    let subscription = Subscription {
        topics: vec!["b".into(), "a".into()],
        user_data: Some(bytes::Bytes::from_static(b"ud")),
        owned_partitions: vec![tp("b", 1), tp("a", 0)],
        generation: 7,
        rack_id: Some("r1".into()),
    };
    for version in 0..=3 {
        let decoded =
            decode_subscription(&encode_subscription(&subscription, version)).expect("valid");
        assert_eq!(decoded.topics, vec!["a".to_owned(), "b".to_owned()]);
        assert_eq!(decoded.user_data, subscription.user_data);
        let owned = if version >= 1 {
            vec![tp("a", 0), tp("b", 1)]
        } else {
            vec![]
        };
        assert_eq!(decoded.owned_partitions, owned);
        assert_eq!(decoded.generation, if version >= 2 { 7 } else { -1 });
        assert_eq!(
            decoded.rack_id,
            if version >= 3 {
                Some("r1".into())
            } else {
                None
            }
        );
    }
}

#[test]
fn a_version_0_subscription_is_kafkas_bytes() {
    let subscription = Subscription {
        topics: vec!["t".into()],
        ..Subscription::default()
    };
    let bytes = encode_subscription(&subscription, 0);
    // version 0, one topic "t", null user data.
    assert_eq!(
        &bytes[..],
        &[0, 0, 0, 0, 0, 1, 0, 1, b't', 0xff, 0xff, 0xff, 0xff]
    );
}

#[test]
fn an_assignment_survives_encoding_with_partitions_grouped_by_topic() {
    let assignment = MemberAssignment {
        partitions: vec![tp("t", 2), tp("u", 0), tp("t", 0)],
        user_data: None,
    };
    let bytes = encode_assignment(&assignment, 1);
    let decoded = decode_assignment(&bytes).expect("valid");
    assert_eq!(decoded.partitions, vec![tp("t", 2), tp("t", 0), tp("u", 0)]);
    assert_eq!(decoded.user_data, None);
}

#[test]
fn a_newer_version_is_read_as_the_newest_known_and_a_negative_one_is_an_error() {
    let subscription = Subscription {
        topics: vec!["t".into()],
        generation: 3,
        ..Subscription::default()
    };
    let mut bytes = encode_subscription(&subscription, 3).to_vec();
    bytes[1] = 9;
    assert_eq!(
        decode_subscription(&bytes).expect("read as v3").generation,
        3
    );
    bytes[0] = 0xff;
    assert!(decode_subscription(&bytes).is_err());
}

#[test]
fn truncated_bytes_are_an_error() {
    let assignment = MemberAssignment {
        partitions: vec![tp("t", 2)],
        user_data: Some("x".into()),
    };
    let bytes = encode_assignment(&assignment, 0);
    for cut in 0..bytes.len() {
        assert!(decode_assignment(&bytes[..cut]).is_err(), "cut at {cut}");
    }
}
