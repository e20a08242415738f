//! Consumer group benches: one full rebalance of 100 members over 1,000
//! partitions, as clients run it. Every member joins an Empty group, the
//! initial delay passes, the leader decodes the subscriptions, runs the
//! assignor and encodes the assignments, and every member syncs; all
//! replies are drained. Target: under 1 ms per rebalance.
//!
//! `cargo bench -p brokerlab-core --bench groups`; `scripts/bench-groups.py`
//! writes the figure to reports/bench-groups.md.

use brokerlab_core::group::consumer_protocol::{
    encode_subscription, leader_assignments, Subscription,
};
use brokerlab_core::group::{
    GroupReply, GroupRequest, Groups, GroupsConfig, JoinGroup, JoinProtocol, Requester, SyncGroup,
};
use brokerlab_core::{ConnectionId, Instant};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use std::collections::BTreeMap;

/// Members per rebalance.
const MEMBERS: u64 = 100;
/// Topics, and partitions per topic: 1,000 partitions in all.
const TOPICS: usize = 10;
const PARTITIONS_PER_TOPIC: i32 = 100;

fn topics() -> Vec<String> {
    (0..TOPICS).map(|t| format!("topic-{t}")).collect()
}

/// One full rebalance; returns the number of replies drained.
fn rebalance(assignor: &str, subscription: &bytes::Bytes, counts: &BTreeMap<String, i32>) -> usize {
    let mut groups = Groups::new(GroupsConfig::default());
    let mut replies = Vec::with_capacity(2 * MEMBERS as usize);
    for conn in 0..MEMBERS {
        let join = JoinGroup {
            group: "bench".into(),
            member_id: String::new(),
            group_instance_id: None,
            client_id: "consumer".into(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 10_000,
            protocol_type: "consumer".into(),
            protocols: vec![JoinProtocol {
                name: assignor.into(),
                metadata: subscription.clone(),
            }],
            require_known_member_id: false,
        };
        let from = Requester {
            conn: ConnectionId(conn),
            request: 1,
        };
        groups.handle_request(Instant(0), from, GroupRequest::Join(join));
    }
    while let Some(at) = groups.poll_timeout().filter(|_| replies.is_empty()) {
        groups.handle_timeout(at);
        replies.extend(std::iter::from_fn(|| groups.poll_output()));
    }
    assert_eq!(replies.len(), MEMBERS as usize, "every member joined");
    let now = groups.poll_timeout().expect("the sync wait");
    let mut leader = None;
    for (from, reply) in &replies {
        let GroupReply::Join(join) = reply else {
            unreachable!("join responses")
        };
        if join.leader == join.member_id {
            leader = Some((*from, join.clone()));
            continue;
        }
        let sync = SyncGroup {
            group: "bench".into(),
            generation: join.generation,
            member_id: join.member_id.clone(),
            group_instance_id: None,
            protocol_type: None,
            protocol_name: None,
            assignments: Vec::new(),
        };
        groups.handle_request(
            now,
            Requester {
                request: 2,
                ..*from
            },
            GroupRequest::Sync(sync),
        );
    }
    let (from, join) = leader.expect("a leader");
    let assignments =
        leader_assignments(&join.members, assignor, counts, 1).expect("known assignor");
    let sync = SyncGroup {
        group: "bench".into(),
        generation: join.generation,
        member_id: join.member_id,
        group_instance_id: None,
        protocol_type: None,
        protocol_name: None,
        assignments,
    };
    groups.handle_request(
        now,
        Requester { request: 2, ..from },
        GroupRequest::Sync(sync),
    );
    let synced = std::iter::from_fn(|| groups.poll_output()).count();
    assert_eq!(synced, MEMBERS as usize, "every member synced");
    replies.len() + synced
}

fn bench_rebalance(c: &mut Criterion) {
    let subscription = encode_subscription(
        &Subscription {
            topics: topics(),
            ..Subscription::default()
        },
        1,
    );
    let counts: BTreeMap<String, i32> = topics()
        .into_iter()
        .map(|t| (t, PARTITIONS_PER_TOPIC))
        .collect();
    let mut group = c.benchmark_group("core");
    group.throughput(Throughput::Elements(1));
    group.bench_function("group/rebalance_100x1000", |b| {
        b.iter(|| black_box(rebalance("range", &subscription, &counts)));
    });
    group.bench_function("group/rebalance_100x1000_roundrobin", |b| {
        b.iter(|| black_box(rebalance("roundrobin", &subscription, &counts)));
    });
    group.finish();
}

criterion_group!(benches, bench_rebalance);
criterion_main!(benches);
