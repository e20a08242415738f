//! The classic consumer group protocol and committed offsets, rule by rule
//! (Kafka's `GroupMetadataManager`, `ClassicGroup`, `OffsetMetadataManager`).
//! Every step drains the coordinator and checks its invariants.

use brokerlab_core::group::assignors::{self, AssignorMember};
use brokerlab_core::group::consumer_protocol::{
    decode_assignment, decode_subscription, encode_assignment, encode_subscription,
    MemberAssignment, Subscription,
};
use brokerlab_core::group::*;
use brokerlab_core::{ConnectionId, Instant};
use bytes::Bytes;
use proptest::prelude::*;
use std::collections::BTreeMap;

const G: &str = "g";

/// A coordinator driven with a virtual clock; every reply and change kept.
struct Lab {
    groups: Groups,
    now: Instant,
    request: u64,
    replies: Vec<(Requester, GroupReply)>,
    changes: Vec<GroupChange>,
}

impl Lab {
    fn new() -> Lab {
        Lab::with(GroupsConfig::default())
    }

    fn with(config: GroupsConfig) -> Lab {
        Lab {
            groups: Groups::new(config),
            now: Instant(0),
            request: 0,
            replies: Vec::new(),
            changes: Vec::new(),
        }
    }

    fn drain(&mut self) {
        while let Some(change) = self.groups.poll_change() {
            self.changes.push(change);
        }
        while let Some(reply) = self.groups.poll_output() {
            self.replies.push(reply);
        }
        self.groups.check_invariants();
    }

    fn send(&mut self, conn: u64, request: GroupRequest) -> Requester {
        self.request += 1;
        let from = Requester {
            conn: ConnectionId(conn),
            request: self.request,
        };
        self.groups.handle_request(self.now, from, request);
        self.drain();
        from
    }

    /// Moves the clock by `ms`, firing every deadline on the way.
    fn wait(&mut self, ms: u64) {
        let end = self.now.plus_ms(ms);
        while let Some(at) = self.groups.poll_timeout().filter(|at| *at <= end) {
            self.now = at;
            self.groups.handle_timeout(at);
            self.drain();
        }
        self.now = end;
    }

    /// Waits until the group leaves PreparingRebalance (bounded).
    fn settle(&mut self) {
        for _ in 0..100 {
            if self.groups.group_state(G) != Some(GroupState::PreparingRebalance) {
                return;
            }
            let at = self
                .groups
                .poll_timeout()
                .expect("a rebalancing group has a deadline");
            self.wait(at.0.saturating_sub(self.now.0) / 1_000_000 + 1);
        }
        panic!("still rebalancing after 100 deadlines");
    }

    fn reply(&mut self, to: Requester) -> Option<GroupReply> {
        let at = self.replies.iter().position(|(r, _)| *r == to)?;
        Some(self.replies.remove(at).1)
    }

    fn join_reply(&mut self, to: Requester) -> JoinResponse {
        match self.reply(to) {
            Some(GroupReply::Join(join)) => join,
            other => panic!("expected a join response to {to:?}, got {other:?}"),
        }
    }

    fn sync_reply(&mut self, to: Requester) -> SyncResponse {
        match self.reply(to) {
            Some(GroupReply::Sync(sync)) => sync,
            other => panic!("expected a sync response to {to:?}, got {other:?}"),
        }
    }

    fn error_of(&mut self, to: Requester) -> ErrorCode {
        match self.reply(to).expect("a reply") {
            GroupReply::Join(r) => r.error,
            GroupReply::Sync(r) => r.error,
            GroupReply::Heartbeat { error } => error,
            GroupReply::OffsetCommit { partitions } => partitions[0].error,
            other => panic!("no single error in {other:?}"),
        }
    }

    /// A dynamic member joins an Empty group and the group settles: returns its id.
    fn join_alone(&mut self, client: &str) -> String {
        let to = self.send(1, join("", client));
        self.settle();
        self.join_reply(to).member_id
    }

    /// Joins `clients` (all at once), settles, and syncs everyone with empty
    /// assignments: returns the member ids.
    fn stable_group(&mut self, clients: &[&str]) -> Vec<String> {
        let joins: Vec<Requester> = clients.iter().map(|c| self.send(1, join("", c))).collect();
        self.settle();
        let ids: Vec<String> = joins
            .iter()
            .map(|to| self.join_reply(*to).member_id)
            .collect();
        let generation = self.groups.generation(G).expect("the group");
        for id in &ids {
            let to = self.send(1, sync(id, generation, Vec::new()));
            assert_eq!(self.sync_reply(to).error, ErrorCode::NONE);
        }
        assert_eq!(self.groups.group_state(G), Some(GroupState::Stable));
        ids
    }
}

fn protocol(name: &str) -> JoinProtocol {
    JoinProtocol {
        name: name.into(),
        metadata: Bytes::from(format!("meta-{name}")),
    }
}

fn join_with(member: &str, client: &str, protocols: &[&str]) -> JoinGroup {
    JoinGroup {
        group: G.into(),
        member_id: member.into(),
        group_instance_id: None,
        client_id: client.into(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 30_000,
        protocol_type: "consumer".into(),
        protocols: protocols.iter().map(|p| protocol(p)).collect(),
        require_known_member_id: false,
    }
}

fn join(member: &str, client: &str) -> GroupRequest {
    GroupRequest::Join(join_with(member, client, &["range"]))
}

fn static_join(member: &str, instance: &str) -> GroupRequest {
    let mut join = join_with(member, "c", &["range"]);
    join.group_instance_id = Some(instance.into());
    GroupRequest::Join(join)
}

fn sync(member: &str, generation: i32, assignments: Vec<(String, Bytes)>) -> GroupRequest {
    GroupRequest::Sync(SyncGroup {
        group: G.into(),
        generation,
        member_id: member.into(),
        group_instance_id: None,
        protocol_type: None,
        protocol_name: None,
        assignments: assignments
            .into_iter()
            .map(|(member_id, assignment)| SyncAssignment {
                member_id,
                assignment,
            })
            .collect(),
    })
}

fn heartbeat(member: &str, generation: i32) -> GroupRequest {
    GroupRequest::Heartbeat(Heartbeat {
        group: G.into(),
        generation,
        member_id: member.into(),
        group_instance_id: None,
    })
}

fn commit(member: &str, generation: i32, offset: i64) -> GroupRequest {
    GroupRequest::OffsetCommit(OffsetCommit {
        group: G.into(),
        generation,
        member_id: member.into(),
        group_instance_id: None,
        partitions: vec![CommitPartition {
            topic: "t".into(),
            partition: 0,
            offset,
            metadata: "m".into(),
        }],
    })
}

fn fetch(partitions: Option<Vec<(String, i32)>>) -> GroupRequest {
    GroupRequest::OffsetFetch(OffsetFetch {
        group: G.into(),
        partitions,
    })
}

fn leave(members: &[(&str, Option<&str>)]) -> GroupRequest {
    GroupRequest::Leave(LeaveGroup {
        group: G.into(),
        members: members
            .iter()
            .map(|(id, instance)| LeavingMember {
                member_id: (*id).into(),
                group_instance_id: instance.map(Into::into),
            })
            .collect(),
    })
}

// JoinGroup.

#[test]
fn an_empty_member_id_is_answered_member_id_required_with_an_id() {
    let mut lab = Lab::new();
    let mut request = join_with("", "client", &["range"]);
    request.require_known_member_id = true;
    let to = lab.send(1, GroupRequest::Join(request.clone()));
    let reply = lab.join_reply(to);
    assert_eq!(reply.error, ErrorCode::MEMBER_ID_REQUIRED);
    assert_eq!(
        reply.member_id, "client-1",
        "client id, a dash and a counter"
    );
    request.member_id = reply.member_id.clone();
    let to = lab.send(1, GroupRequest::Join(request));
    lab.settle();
    let joined = lab.join_reply(to);
    assert_eq!(
        (joined.error, joined.member_id.as_str(), joined.generation),
        (ErrorCode::NONE, "client-1", 1)
    );
}

#[test]
fn an_id_handed_out_and_never_used_lapses_after_the_session_timeout() {
    let mut lab = Lab::new();
    let mut request = join_with("", "client", &["range"]);
    request.require_known_member_id = true;
    let to = lab.send(1, GroupRequest::Join(request.clone()));
    let id = lab.join_reply(to).member_id;
    lab.wait(10_001);
    request.member_id = id;
    let to = lab.send(1, GroupRequest::Join(request));
    assert_eq!(lab.error_of(to), ErrorCode::UNKNOWN_MEMBER_ID);
}

#[test]
fn an_empty_group_waits_the_initial_rebalance_delay_before_completing_the_join() {
    let mut lab = Lab::new();
    let to = lab.send(1, join("", "a"));
    lab.wait(2_999);
    assert!(lab.reply(to).is_none(), "still inside the initial delay");
    assert_eq!(
        lab.groups.group_state(G),
        Some(GroupState::PreparingRebalance)
    );
    lab.wait(1);
    assert_eq!(lab.join_reply(to).generation, 1);
    assert_eq!(
        lab.groups.group_state(G),
        Some(GroupState::CompletingRebalance)
    );
}

#[test]
fn the_initial_delay_is_extended_while_members_keep_arriving_within_the_rebalance_timeout() {
    let mut lab = Lab::new();
    let first = lab.send(1, join("", "a"));
    lab.wait(2_000);
    let second = lab.send(1, join("", "b"));
    lab.wait(1_000);
    assert!(
        lab.reply(first).is_none(),
        "a member arrived: the delay starts again"
    );
    lab.wait(3_000);
    assert_eq!(lab.join_reply(first).generation, 1);
    assert_eq!(lab.join_reply(second).generation, 1);
}

#[test]
fn the_initial_delay_extensions_end_at_the_rebalance_timeout() {
    let mut lab = Lab::new();
    let mut request = join_with("", "a", &["range"]);
    request.rebalance_timeout_ms = 5_000;
    let first = lab.send(1, GroupRequest::Join(request.clone()));
    let mut elapsed = 0;
    while lab.reply(first).is_none() {
        request.client_id = format!("c{elapsed}");
        lab.send(1, GroupRequest::Join(request.clone()));
        lab.wait(500);
        elapsed += 500;
        assert!(elapsed <= 60_000);
    }
    // 3 s, then at most what remains of the 5 s rebalance timeout, once more.
    assert!(
        (5_000..=6_500).contains(&elapsed),
        "completed after {elapsed} ms"
    );
}

#[test]
fn each_completed_join_increments_the_generation() {
    let mut lab = Lab::new();
    let ids = lab.stable_group(&["a"]);
    assert_eq!(lab.groups.generation(G), Some(1));
    let to = lab.send(1, join(&ids[0], "a"));
    assert_eq!(
        lab.join_reply(to).generation,
        2,
        "the leader's rejoin rebalances at once"
    );
    assert_eq!(lab.groups.generation(G), Some(2));
}

#[test]
fn the_join_completes_when_every_known_member_has_rejoined() {
    let mut lab = Lab::new();
    let ids = lab.stable_group(&["a", "b"]);
    let first = lab.send(1, join(&ids[0], "a"));
    assert!(lab.reply(first).is_none(), "b has not rejoined");
    let second = lab.send(2, join(&ids[1], "b"));
    assert_eq!(lab.join_reply(first).generation, 2);
    assert_eq!(lab.join_reply(second).generation, 2);
}

#[test]
fn members_that_do_not_rejoin_before_the_rebalance_timeout_are_removed() {
    let mut lab = Lab::new();
    let ids = lab.stable_group(&["a", "b"]);
    let to = lab.send(1, join(&ids[0], "a"));
    // b keeps heartbeating (so it stays a member) but never rejoins.
    for _ in 0..6 {
        lab.wait(5_000);
        let hb = lab.send(2, heartbeat(&ids[1], 1));
        lab.reply(hb);
    }
    lab.wait(1);
    let reply = lab.join_reply(to);
    assert_eq!(reply.generation, 2);
    assert_eq!(reply.members.len(), 1, "only the rejoined member is left");
    let hb = lab.send(2, heartbeat(&ids[1], 2));
    assert_eq!(lab.error_of(hb), ErrorCode::UNKNOWN_MEMBER_ID);
}

#[test]
fn the_leader_is_the_first_member_to_join_and_only_it_gets_the_member_list() {
    let mut lab = Lab::new();
    let first = lab.send(1, join("", "a"));
    let second = lab.send(2, join("", "b"));
    lab.settle();
    let (leader, follower) = (lab.join_reply(first), lab.join_reply(second));
    assert_eq!(leader.leader, leader.member_id);
    assert_eq!(follower.leader, leader.member_id);
    assert_eq!(leader.members.len(), 2);
    assert!(leader.members.iter().all(|m| m.metadata == "meta-range"));
    assert!(follower.members.is_empty());
}

#[test]
fn the_leader_stays_the_leader_while_it_is_a_member() {
    let mut lab = Lab::new();
    let ids = lab.stable_group(&["a", "b"]);
    // b's new metadata starts a rebalance; a rejoins and still leads.
    let second = lab.send(
        2,
        GroupRequest::Join(join_with(&ids[1], "b", &["range", "roundrobin"])),
    );
    let first = lab.send(1, join(&ids[0], "a"));
    assert_eq!(lab.join_reply(second).leader, ids[0]);
    assert_eq!(lab.join_reply(first).members.len(), 2);
}

#[test]
fn the_protocol_with_most_first_choice_votes_among_common_ones_is_chosen() {
    let mut lab = Lab::new();
    let a = lab.send(
        1,
        GroupRequest::Join(join_with("", "a", &["roundrobin", "range", "x"])),
    );
    let b = lab.send(
        1,
        GroupRequest::Join(join_with("", "b", &["range", "roundrobin"])),
    );
    let c = lab.send(
        1,
        GroupRequest::Join(join_with("", "c", &["x", "range", "roundrobin"])),
    );
    lab.settle();
    // "x" is not common; c votes range, a roundrobin, b range.
    for to in [a, b, c] {
        assert_eq!(lab.join_reply(to).protocol_name.as_deref(), Some("range"));
    }
}

#[test]
fn a_tied_protocol_vote_goes_to_the_smallest_name() {
    let mut lab = Lab::new();
    let a = lab.send(
        1,
        GroupRequest::Join(join_with("", "a", &["roundrobin", "range"])),
    );
    let b = lab.send(
        1,
        GroupRequest::Join(join_with("", "b", &["range", "roundrobin"])),
    );
    lab.settle();
    assert_eq!(lab.join_reply(a).protocol_name.as_deref(), Some("range"));
    assert_eq!(lab.join_reply(b).protocol_name.as_deref(), Some("range"));
}

#[test]
fn a_protocol_type_mismatch_is_inconsistent_group_protocol() {
    let mut lab = Lab::new();
    lab.stable_group(&["a"]);
    let mut other = join_with("", "b", &["range"]);
    other.protocol_type = "connect".into();
    let to = lab.send(1, GroupRequest::Join(other));
    assert_eq!(lab.error_of(to), ErrorCode::INCONSISTENT_GROUP_PROTOCOL);
}

#[test]
fn a_member_with_no_common_protocol_is_inconsistent_group_protocol() {
    let mut lab = Lab::new();
    lab.stable_group(&["a"]);
    let to = lab.send(1, GroupRequest::Join(join_with("", "b", &["roundrobin"])));
    assert_eq!(lab.error_of(to), ErrorCode::INCONSISTENT_GROUP_PROTOCOL);
    let to = lab.send(1, GroupRequest::Join(join_with("", "b", &[])));
    assert_eq!(lab.error_of(to), ErrorCode::INCONSISTENT_GROUP_PROTOCOL);
}

#[test]
fn an_empty_group_id_is_invalid_group_id_and_a_session_timeout_out_of_range_is_invalid_session_timeout(
) {
    let mut lab = Lab::new();
    let mut request = join_with("", "a", &["range"]);
    request.group = String::new();
    let to = lab.send(1, GroupRequest::Join(request.clone()));
    assert_eq!(lab.error_of(to), ErrorCode::INVALID_GROUP_ID);
    request.group = G.into();
    request.session_timeout_ms = 5_999;
    let to = lab.send(1, GroupRequest::Join(request));
    assert_eq!(lab.error_of(to), ErrorCode::INVALID_SESSION_TIMEOUT);
}

#[test]
fn a_known_member_id_for_a_missing_group_is_unknown_member_id() {
    let mut lab = Lab::new();
    let to = lab.send(1, join("ghost-1", "a"));
    assert_eq!(lab.error_of(to), ErrorCode::UNKNOWN_MEMBER_ID);
    assert_eq!(lab.groups.group_state(G), None);
}

#[test]
fn a_follower_rejoining_a_stable_group_with_the_same_metadata_gets_the_current_generation() {
    let mut lab = Lab::new();
    let ids = lab.stable_group(&["a", "b"]);
    let to = lab.send(2, join(&ids[1], "b"));
    let reply = lab.join_reply(to);
    assert_eq!((reply.generation, reply.members.len()), (1, 0));
    assert_eq!(lab.groups.group_state(G), Some(GroupState::Stable));
}

// SyncGroup.

#[test]
fn the_leaders_assignment_reaches_each_member_unchanged() {
    let mut lab = Lab::new();
    let first = lab.send(1, join("", "a"));
    let second = lab.send(2, join("", "b"));
    lab.settle();
    let (a, b) = (
        lab.join_reply(first).member_id,
        lab.join_reply(second).member_id,
    );
    let follower = lab.send(2, sync(&b, 1, Vec::new()));
    assert!(
        lab.reply(follower).is_none(),
        "a follower waits for the leader"
    );
    assert_eq!(
        lab.groups.group_state(G),
        Some(GroupState::CompletingRebalance)
    );
    let bytes_a = Bytes::from_static(&[0, 1, 2, 255]);
    let bytes_b = Bytes::from_static(b"\x00opaque\xff");
    let leader = lab.send(
        1,
        sync(
            &a,
            1,
            vec![(a.clone(), bytes_a.clone()), (b.clone(), bytes_b.clone())],
        ),
    );
    assert_eq!(lab.sync_reply(leader).assignment, bytes_a);
    let reply = lab.sync_reply(follower);
    assert_eq!((reply.error, reply.assignment), (ErrorCode::NONE, bytes_b));
    assert_eq!(lab.groups.group_state(G), Some(GroupState::Stable));
    let late = lab.send(2, sync(&b, 1, Vec::new()));
    assert_eq!(
        lab.sync_reply(late).assignment,
        Bytes::from_static(b"\x00opaque\xff")
    );
}

#[test]
fn a_sync_from_a_stale_generation_is_illegal_generation() {
    let mut lab = Lab::new();
    let ids = lab.stable_group(&["a"]);
    let to = lab.send(1, sync(&ids[0], 0, Vec::new()));
    assert_eq!(lab.error_of(to), ErrorCode::ILLEGAL_GENERATION);
}

#[test]
fn a_sync_from_an_unknown_member_is_unknown_member_id() {
    let mut lab = Lab::new();
    lab.stable_group(&["a"]);
    let to = lab.send(1, sync("stranger", 1, Vec::new()));
    assert_eq!(lab.error_of(to), ErrorCode::UNKNOWN_MEMBER_ID);
}

#[test]
fn a_sync_during_preparing_rebalance_is_rebalance_in_progress() {
    let mut lab = Lab::new();
    let ids = lab.stable_group(&["a", "b"]);
    let rejoin = lab.send(1, join(&ids[0], "a"));
    let to = lab.send(2, sync(&ids[1], 1, Vec::new()));
    assert_eq!(lab.error_of(to), ErrorCode::REBALANCE_IN_PROGRESS);
    assert!(lab.reply(rejoin).is_none());
}

#[test]
fn a_parked_sync_is_answered_rebalance_in_progress_when_a_rebalance_starts() {
    let mut lab = Lab::new();
    let first = lab.send(1, join("", "a"));
    let second = lab.send(2, join("", "b"));
    lab.settle();
    let (_, b) = (
        lab.join_reply(first).member_id,
        lab.join_reply(second).member_id,
    );
    let parked = lab.send(2, sync(&b, 1, Vec::new()));
    lab.send(3, join("", "c"));
    assert_eq!(lab.error_of(parked), ErrorCode::REBALANCE_IN_PROGRESS);
}

#[test]
fn members_that_never_sync_are_removed_when_the_sync_wait_ends() {
    let mut lab = Lab::new();
    let first = lab.send(1, join("", "a"));
    let second = lab.send(2, join("", "b"));
    lab.settle();
    let (a, _) = (
        lab.join_reply(first).member_id,
        lab.join_reply(second).member_id,
    );
    let leader = lab.send(1, sync(&a, 1, Vec::new()));
    lab.sync_reply(leader);
    for _ in 0..7 {
        lab.wait(5_000);
        let hb = lab.send(1, heartbeat(&a, lab.groups.generation(G).unwrap()));
        lab.reply(hb);
    }
    let described = lab.send(
        1,
        GroupRequest::Describe {
            groups: vec![G.into()],
        },
    );
    let Some(GroupReply::Describe { groups }) = lab.reply(described) else {
        panic!()
    };
    assert_eq!(
        groups[0].members.len(),
        1,
        "b never synced within the rebalance timeout"
    );
}

// Heartbeat.

#[test]
fn a_heartbeat_in_a_stable_group_is_ok() {
    let mut lab = Lab::new();
    let ids = lab.stable_group(&["a"]);
    let to = lab.send(1, heartbeat(&ids[0], 1));
    assert_eq!(lab.error_of(to), ErrorCode::NONE);
}

#[test]
fn a_heartbeat_during_preparing_rebalance_is_rebalance_in_progress() {
    let mut lab = Lab::new();
    let ids = lab.stable_group(&["a", "b"]);
    lab.send(1, join(&ids[0], "a"));
    let to = lab.send(2, heartbeat(&ids[1], 1));
    assert_eq!(lab.error_of(to), ErrorCode::REBALANCE_IN_PROGRESS);
}

#[test]
fn a_heartbeat_between_join_and_sync_is_ok() {
    let mut lab = Lab::new();
    let id = lab.join_alone("a");
    assert_eq!(
        lab.groups.group_state(G),
        Some(GroupState::CompletingRebalance)
    );
    let to = lab.send(1, heartbeat(&id, 1));
    assert_eq!(lab.error_of(to), ErrorCode::NONE);
}

#[test]
fn a_heartbeat_from_a_stale_generation_is_illegal_generation() {
    let mut lab = Lab::new();
    let ids = lab.stable_group(&["a"]);
    let to = lab.send(1, heartbeat(&ids[0], 7));
    assert_eq!(lab.error_of(to), ErrorCode::ILLEGAL_GENERATION);
}

#[test]
fn a_heartbeat_from_an_unknown_member_is_unknown_member_id() {
    let mut lab = Lab::new();
    lab.stable_group(&["a"]);
    let to = lab.send(1, heartbeat("stranger", 1));
    assert_eq!(lab.error_of(to), ErrorCode::UNKNOWN_MEMBER_ID);
    let mut missing = Heartbeat {
        group: "nope".into(),
        generation: 1,
        member_id: "x".into(),
        group_instance_id: None,
    };
    let to = lab.send(1, GroupRequest::Heartbeat(missing.clone()));
    assert_eq!(lab.error_of(to), ErrorCode::UNKNOWN_MEMBER_ID);
    missing.group = String::new();
    let to = lab.send(1, GroupRequest::Heartbeat(missing));
    assert_eq!(lab.error_of(to), ErrorCode::INVALID_GROUP_ID);
}

#[test]
fn a_member_silent_past_its_session_timeout_is_removed_and_the_group_rebalances() {
    let mut lab = Lab::new();
    let ids = lab.stable_group(&["a", "b"]);
    for _ in 0..3 {
        lab.wait(4_000);
        let hb = lab.send(1, heartbeat(&ids[0], lab.groups.generation(G).unwrap()));
        lab.reply(hb);
    }
    // b went silent 12 s ago (session timeout 10 s): removed, and a is asked to rejoin.
    assert_eq!(
        lab.groups.group_state(G),
        Some(GroupState::PreparingRebalance)
    );
    let hb = lab.send(1, heartbeat(&ids[0], 1));
    assert_eq!(lab.error_of(hb), ErrorCode::REBALANCE_IN_PROGRESS);
    let to = lab.send(1, join(&ids[0], "a"));
    let reply = lab.join_reply(to);
    assert_eq!((reply.generation, reply.members.len()), (2, 1));
}

#[test]
fn heartbeats_keep_a_member_past_its_session_timeout() {
    let mut lab = Lab::new();
    let ids = lab.stable_group(&["a"]);
    for _ in 0..10 {
        lab.wait(9_000);
        let hb = lab.send(1, heartbeat(&ids[0], 1));
        assert_eq!(lab.error_of(hb), ErrorCode::NONE);
    }
    assert_eq!(lab.groups.group_state(G), Some(GroupState::Stable));
}

#[test]
fn a_last_member_timing_out_leaves_the_group_empty_at_a_new_generation() {
    let mut lab = Lab::new();
    lab.stable_group(&["a"]);
    lab.wait(10_001);
    assert_eq!(lab.groups.group_state(G), Some(GroupState::Empty));
    assert_eq!(lab.groups.generation(G), Some(2));
}

#[test]
fn a_parked_join_is_answered_unknown_member_id_when_its_member_is_removed() {
    let mut lab = Lab::new();
    let ids = lab.stable_group(&["a", "b"]);
    let parked = lab.send(1, join(&ids[0], "a"));
    assert!(
        lab.reply(parked).is_none(),
        "the leader's rejoin waits for b"
    );
    lab.send(1, leave(&[(&ids[0], None)]));
    let reply = lab.join_reply(parked);
    assert_eq!(reply.error, ErrorCode::UNKNOWN_MEMBER_ID);
}

#[test]
fn a_new_members_parked_join_expires_after_the_new_member_join_timeout() {
    let mut lab = Lab::new();
    let ids = lab.stable_group(&["a"]);
    let newcomer = lab.send(2, join("", "b"));
    // a never rejoins but keeps heartbeating: the join phase ends at the
    // rebalance timeout with b alone; a is removed as it did not rejoin.
    lab.wait(30_000);
    let reply = lab.join_reply(newcomer);
    assert_eq!((reply.error, reply.members.len()), (ErrorCode::NONE, 1));
    assert_ne!(reply.member_id, ids[0]);
}

// LeaveGroup.

#[test]
fn a_leaving_member_triggers_a_rebalance() {
    let mut lab = Lab::new();
    let ids = lab.stable_group(&["a", "b"]);
    let to = lab.send(2, leave(&[(&ids[1], None)]));
    let Some(GroupReply::Leave(reply)) = lab.reply(to) else {
        panic!()
    };
    assert_eq!(reply.members[0].error, ErrorCode::NONE);
    assert_eq!(
        lab.groups.group_state(G),
        Some(GroupState::PreparingRebalance)
    );
    let to = lab.send(1, join(&ids[0], "a"));
    assert_eq!(lab.join_reply(to).generation, 2);
}

#[test]
fn a_batch_leave_removes_every_member_named_and_reports_each() {
    let mut lab = Lab::new();
    let ids = lab.stable_group(&["a", "b", "c"]);
    let to = lab.send(
        1,
        leave(&[(&ids[0], None), ("stranger", None), (&ids[2], None)]),
    );
    let Some(GroupReply::Leave(reply)) = lab.reply(to) else {
        panic!()
    };
    let errors: Vec<ErrorCode> = reply.members.iter().map(|m| m.error).collect();
    assert_eq!(
        errors,
        vec![
            ErrorCode::NONE,
            ErrorCode::UNKNOWN_MEMBER_ID,
            ErrorCode::NONE
        ]
    );
    let to = lab.send(2, join(&ids[1], "b"));
    assert_eq!(lab.join_reply(to).members.len(), 1);
}

#[test]
fn every_member_leaving_leaves_the_group_empty() {
    let mut lab = Lab::new();
    let ids = lab.stable_group(&["a", "b"]);
    lab.send(1, leave(&[(&ids[0], None), (&ids[1], None)]));
    assert_eq!(lab.groups.group_state(G), Some(GroupState::Empty));
}

// Static membership.

#[test]
fn a_static_member_rejoining_with_a_new_member_id_replaces_the_old_one_and_fences_it() {
    let mut lab = Lab::new();
    let to = lab.send(1, static_join("", "inst"));
    lab.settle();
    let old = lab.join_reply(to).member_id;
    let to = lab.send(
        1,
        sync(&old, 1, vec![(old.clone(), Bytes::from_static(b"mine"))]),
    );
    lab.sync_reply(to);
    let to = lab.send(2, static_join("", "inst"));
    let reply = lab.join_reply(to);
    let new = reply.member_id;
    assert_ne!(new, old);
    assert!(
        new.starts_with("inst-"),
        "a static member's id starts with its instance id"
    );
    assert_eq!(
        lab.groups.group_state(G),
        Some(GroupState::Stable),
        "same protocol: no rebalance"
    );
    let mut stale = Heartbeat {
        group: G.into(),
        generation: 1,
        member_id: old,
        group_instance_id: Some("inst".into()),
    };
    let to = lab.send(1, GroupRequest::Heartbeat(stale.clone()));
    assert_eq!(lab.error_of(to), ErrorCode::FENCED_INSTANCE_ID);
    stale.member_id = new.clone();
    let to = lab.send(2, GroupRequest::Heartbeat(stale));
    assert_eq!(lab.error_of(to), ErrorCode::NONE);
    let to = lab.send(2, sync(&new, 1, Vec::new()));
    assert_eq!(
        lab.sync_reply(to).assignment,
        Bytes::from_static(b"mine"),
        "the assignment moves with the instance"
    );
}

#[test]
fn a_replaced_static_members_parked_join_is_answered_fenced_instance_id() {
    let mut lab = Lab::new();
    let a = lab.send(1, static_join("", "inst"));
    let b = lab.send(2, join("", "b"));
    lab.settle();
    let (old, b) = (lab.join_reply(a).member_id, lab.join_reply(b).member_id);
    for (conn, id) in [(1, &old), (2, &b)] {
        let to = lab.send(conn, sync(id, 1, Vec::new()));
        lab.reply(to);
    }
    let parked = lab.send(1, static_join(&old, "inst"));
    assert!(lab.reply(parked).is_none(), "b has not rejoined");
    lab.send(3, static_join("", "inst"));
    let reply = lab.join_reply(parked);
    assert_eq!(
        (reply.error, reply.member_id),
        (ErrorCode::FENCED_INSTANCE_ID, old)
    );
}

#[test]
fn a_known_instance_with_a_mismatched_member_id_is_fenced_instance_id() {
    let mut lab = Lab::new();
    let to = lab.send(1, static_join("", "inst"));
    lab.settle();
    lab.join_reply(to);
    let to = lab.send(2, static_join("impostor", "inst"));
    assert_eq!(lab.error_of(to), ErrorCode::FENCED_INSTANCE_ID);
}

#[test]
fn a_static_member_that_does_not_rejoin_stays_through_the_join_phase() {
    let mut lab = Lab::new();
    let b = lab.send(2, join("", "b"));
    let a = lab.send(1, static_join("", "inst"));
    lab.settle();
    let (dy, st) = (lab.join_reply(b).member_id, lab.join_reply(a).member_id);
    for (conn, id) in [(1, &st), (2, &dy)] {
        let to = lab.send(conn, sync(id, 1, Vec::new()));
        lab.reply(to);
    }
    let rejoin = lab.send(2, join(&dy, "b"));
    // It heartbeats (and hears REBALANCE_IN_PROGRESS) but never rejoins.
    for _ in 0..5 {
        lab.wait(5_000);
        let hb = lab.send(1, heartbeat(&st, 1));
        assert_eq!(lab.error_of(hb), ErrorCode::REBALANCE_IN_PROGRESS);
    }
    lab.wait(4_999);
    assert!(lab.reply(rejoin).is_none(), "the static member is awaited");
    lab.wait(1);
    let reply = lab.join_reply(rejoin);
    assert_eq!(
        reply.members.len(),
        2,
        "a static member is not dropped for missing the join"
    );
}

#[test]
fn a_static_member_leaves_by_instance_id_alone() {
    let mut lab = Lab::new();
    let to = lab.send(1, static_join("", "inst"));
    lab.settle();
    lab.join_reply(to);
    let to = lab.send(9, leave(&[("", Some("inst")), ("", Some("other"))]));
    let Some(GroupReply::Leave(reply)) = lab.reply(to) else {
        panic!()
    };
    assert_eq!(reply.members[0].error, ErrorCode::NONE);
    assert_eq!(reply.members[1].error, ErrorCode::UNKNOWN_MEMBER_ID);
    assert_eq!(lab.groups.group_state(G), Some(GroupState::Empty));
}

// Offsets.

#[test]
fn a_committed_offset_is_fetched_with_its_metadata() {
    let mut lab = Lab::new();
    let ids = lab.stable_group(&["a"]);
    let to = lab.send(1, commit(&ids[0], 1, 42));
    assert_eq!(lab.error_of(to), ErrorCode::NONE);
    let to = lab.send(1, fetch(Some(vec![("t".into(), 0), ("t".into(), 1)])));
    let Some(GroupReply::OffsetFetch { error, partitions }) = lab.reply(to) else {
        panic!()
    };
    assert_eq!(error, ErrorCode::NONE);
    assert_eq!(
        (partitions[0].offset, partitions[0].metadata.as_str()),
        (42, "m")
    );
    assert_eq!(
        (partitions[1].offset, partitions[1].metadata.as_str()),
        (-1, ""),
        "no commit: -1"
    );
}

#[test]
fn a_fetch_from_a_group_with_no_commits_is_minus_one() {
    let mut lab = Lab::new();
    let to = lab.send(1, fetch(Some(vec![("t".into(), 0)])));
    let Some(GroupReply::OffsetFetch { partitions, .. }) = lab.reply(to) else {
        panic!()
    };
    assert_eq!(partitions[0].offset, -1);
    let to = lab.send(1, fetch(None));
    let Some(GroupReply::OffsetFetch { partitions, .. }) = lab.reply(to) else {
        panic!()
    };
    assert!(partitions.is_empty());
}

#[test]
fn a_commit_with_generation_minus_one_to_an_empty_group_is_accepted() {
    let mut lab = Lab::new();
    let to = lab.send(1, commit("", -1, 5));
    assert_eq!(lab.error_of(to), ErrorCode::NONE);
    assert_eq!(lab.groups.group_state(G), Some(GroupState::Empty));
    let to = lab.send(1, commit("", -1, 6));
    assert_eq!(lab.error_of(to), ErrorCode::NONE);
}

#[test]
fn a_commit_with_generation_minus_one_to_a_group_with_members_is_unknown_member_id() {
    let mut lab = Lab::new();
    lab.stable_group(&["a"]);
    let to = lab.send(1, commit("", -1, 5));
    assert_eq!(lab.error_of(to), ErrorCode::UNKNOWN_MEMBER_ID);
}

#[test]
fn a_commit_from_an_unknown_member_is_unknown_member_id() {
    let mut lab = Lab::new();
    lab.stable_group(&["a"]);
    let to = lab.send(1, commit("stranger", 1, 5));
    assert_eq!(lab.error_of(to), ErrorCode::UNKNOWN_MEMBER_ID);
}

#[test]
fn a_commit_from_a_stale_generation_is_illegal_generation() {
    let mut lab = Lab::new();
    let ids = lab.stable_group(&["a"]);
    let to = lab.send(1, join(&ids[0], "a"));
    lab.join_reply(to);
    let to = lab.send(1, commit(&ids[0], 1, 5));
    assert_eq!(lab.error_of(to), ErrorCode::ILLEGAL_GENERATION);
    let to = lab.send(
        1,
        GroupRequest::OffsetCommit(OffsetCommit {
            group: "nope".into(),
            ..commit_body(&ids[0], 1)
        }),
    );
    assert_eq!(
        lab.error_of(to),
        ErrorCode::ILLEGAL_GENERATION,
        "a missing group, before OffsetCommit v9"
    );
}

fn commit_body(member: &str, generation: i32) -> OffsetCommit {
    match commit(member, generation, 1) {
        GroupRequest::OffsetCommit(body) => body,
        _ => unreachable!(),
    }
}

#[test]
fn a_commit_during_completing_rebalance_is_rebalance_in_progress() {
    let mut lab = Lab::new();
    let id = lab.join_alone("a");
    let to = lab.send(1, commit(&id, 1, 5));
    assert_eq!(lab.error_of(to), ErrorCode::REBALANCE_IN_PROGRESS);
    let commits =
        (lab.changes.iter()).filter(|change| matches!(change, GroupChange::OffsetCommitted { .. }));
    assert_eq!(commits.count(), 0, "nothing refused is durable");
}

#[test]
fn a_commit_with_metadata_past_the_bound_is_offset_metadata_too_large() {
    let mut lab = Lab::new();
    let mut body = commit_body("", -1);
    body.partitions[0].metadata = "x".repeat(4_097);
    let to = lab.send(1, GroupRequest::OffsetCommit(body));
    assert_eq!(lab.error_of(to), ErrorCode::OFFSET_METADATA_TOO_LARGE);
}

#[test]
fn a_commit_keeps_its_member_alive_in_a_stable_group() {
    let mut lab = Lab::new();
    let ids = lab.stable_group(&["a"]);
    for offset in 0..5 {
        lab.wait(8_000);
        let to = lab.send(1, commit(&ids[0], 1, offset));
        assert_eq!(lab.error_of(to), ErrorCode::NONE);
    }
    assert_eq!(lab.groups.group_state(G), Some(GroupState::Stable));
}

#[test]
fn each_accepted_commit_is_a_durable_change_and_recovery_rebuilds_the_offsets() {
    let mut lab = Lab::new();
    let ids = lab.stable_group(&["a"]);
    for offset in [3, 9, 7] {
        let to = lab.send(1, commit(&ids[0], 1, offset));
        lab.reply(to);
    }
    let commits =
        (lab.changes.iter()).filter(|change| matches!(change, GroupChange::OffsetCommitted { .. }));
    assert_eq!(commits.count(), 3);
    let mut recovered = Lab {
        groups: Groups::recover(GroupsConfig::default(), lab.changes.clone()),
        ..Lab::new()
    };
    recovered.groups.check_invariants();
    assert_eq!(recovered.groups.group_state(G), Some(GroupState::Empty));
    let to = recovered.send(1, fetch(None));
    let Some(GroupReply::OffsetFetch { partitions, .. }) = recovered.reply(to) else {
        panic!()
    };
    assert_eq!(partitions[0].offset, 7, "the last commit wins");
    assert_eq!(recovered.groups.snapshot(), lab.groups.snapshot());
    let compacted = Groups::recover(GroupsConfig::default(), lab.groups.snapshot());
    assert_eq!(compacted.snapshot(), lab.groups.snapshot());
}

// DescribeGroups, ListGroups, DeleteGroups.

#[test]
fn describe_shows_metadata_and_assignments_only_in_a_stable_group() {
    let mut lab = Lab::new();
    let id = lab.join_alone("a");
    let to = lab.send(
        1,
        GroupRequest::Describe {
            groups: vec![G.into(), "nope".into()],
        },
    );
    let Some(GroupReply::Describe { groups }) = lab.reply(to) else {
        panic!()
    };
    assert_eq!(groups[0].state, GroupState::CompletingRebalance);
    assert!(groups[0].members[0].metadata.is_empty() && groups[0].protocol_data.is_empty());
    assert_eq!(
        groups[1].state,
        GroupState::Dead,
        "a missing group is described Dead"
    );
    let to = lab.send(
        1,
        sync(&id, 1, vec![(id.clone(), Bytes::from_static(b"as"))]),
    );
    lab.reply(to);
    let to = lab.send(
        1,
        GroupRequest::Describe {
            groups: vec![G.into()],
        },
    );
    let Some(GroupReply::Describe { groups }) = lab.reply(to) else {
        panic!()
    };
    assert_eq!(
        (groups[0].state, groups[0].protocol_data.as_str()),
        (GroupState::Stable, "range")
    );
    assert_eq!(groups[0].members[0].assignment, Bytes::from_static(b"as"));
    assert_eq!(groups[0].members[0].metadata, Bytes::from("meta-range"));
}

#[test]
fn list_shows_every_group_or_those_in_the_states_asked_for() {
    let mut lab = Lab::new();
    lab.stable_group(&["a"]);
    let body = OffsetCommit {
        group: "simple".into(),
        ..commit_body("", -1)
    };
    lab.send(1, GroupRequest::OffsetCommit(body));
    let to = lab.send(1, GroupRequest::List { states: vec![] });
    let Some(GroupReply::List { groups }) = lab.reply(to) else {
        panic!()
    };
    assert_eq!(groups.len(), 2);
    let to = lab.send(
        1,
        GroupRequest::List {
            states: vec![GroupState::Empty],
        },
    );
    let Some(GroupReply::List { groups }) = lab.reply(to) else {
        panic!()
    };
    assert_eq!(
        (
            groups.len(),
            groups[0].group.as_str(),
            groups[0].protocol_type.as_str()
        ),
        (1, "simple", "")
    );
}

#[test]
fn deleting_an_empty_group_removes_it_with_its_offsets_and_a_group_with_members_is_non_empty_group()
{
    let mut lab = Lab::new();
    lab.send(1, commit("", -1, 5));
    let body = OffsetCommit {
        group: "busy".into(),
        ..commit_body("", -1)
    };
    lab.send(1, GroupRequest::OffsetCommit(body));
    let mut busy = join_with("", "a", &["range"]);
    busy.group = "busy".into();
    lab.send(1, GroupRequest::Join(busy));
    let to = lab.send(
        1,
        GroupRequest::Delete {
            groups: vec![G.into(), "busy".into(), "nope".into()],
        },
    );
    let Some(GroupReply::Delete { groups }) = lab.reply(to) else {
        panic!()
    };
    let errors: Vec<ErrorCode> = groups.iter().map(|(_, e)| *e).collect();
    assert_eq!(
        errors,
        vec![
            ErrorCode::NONE,
            ErrorCode::NON_EMPTY_GROUP,
            ErrorCode::GROUP_ID_NOT_FOUND
        ]
    );
    assert_eq!(lab.groups.group_state(G), None);
    let recovered = Groups::recover(GroupsConfig::default(), lab.changes.clone());
    assert_eq!(recovered.group_state(G), None, "the deletion is durable");
    assert_eq!(recovered.group_state("busy"), Some(GroupState::Empty));
}

// Bounds and connections.

#[test]
fn a_join_past_the_group_size_bound_is_group_max_size_reached() {
    let mut lab = Lab::with(GroupsConfig {
        group_members_max: 2,
        replies_max: 100,
        ..GroupsConfig::default()
    });
    let ids = lab.stable_group(&["a", "b"]);
    let to = lab.send(3, join("", "c"));
    assert_eq!(lab.error_of(to), ErrorCode::GROUP_MAX_SIZE_REACHED);
    let to = lab.send(1, join(&ids[0], "a"));
    assert!(lab.reply(to).is_none(), "a member may always rejoin");
}

#[test]
fn a_new_group_past_the_group_table_bound_is_coordinator_not_available_unless_one_is_disposable() {
    let mut lab = Lab::with(GroupsConfig {
        groups_max: 1,
        ..GroupsConfig::default()
    });
    lab.send(1, commit("", -1, 5));
    let mut other = join_with("", "a", &["range"]);
    other.group = "other".into();
    let to = lab.send(1, GroupRequest::Join(other.clone()));
    assert_eq!(lab.error_of(to), ErrorCode::COORDINATOR_NOT_AVAILABLE);
    lab.send(
        1,
        GroupRequest::Delete {
            groups: vec![G.into()],
        },
    );
    let mut bad = join_with("", "a", &[]);
    bad.group = "failed".into();
    lab.send(1, GroupRequest::Join(bad));
    assert_eq!(lab.groups.group_state("failed"), Some(GroupState::Empty));
    let to = lab.send(1, GroupRequest::Join(other));
    assert!(
        lab.reply(to).is_none(),
        "the Empty group with no offsets made room"
    );
    assert_eq!(lab.groups.group_state("failed"), None);
}

#[test]
#[should_panic(expected = "drains poll_output")]
fn a_driver_that_never_drains_the_replies_breaks_the_calling_protocol() {
    let config = GroupsConfig {
        group_members_max: 1,
        replies_max: 6,
        ..GroupsConfig::default()
    };
    let mut groups = Groups::new(config);
    for request in 0..10 {
        let from = Requester {
            conn: ConnectionId(1),
            request,
        };
        groups.handle_request(Instant(0), from, GroupRequest::List { states: vec![] });
    }
}

#[test]
fn a_disconnect_drops_the_replies_to_its_connection_but_keeps_its_members() {
    let mut lab = Lab::new();
    let ids = lab.stable_group(&["a", "b"]);
    let parked = lab.send(7, join(&ids[0], "a"));
    lab.groups.handle_disconnect(ConnectionId(7));
    lab.drain();
    let other = lab.send(2, join(&ids[1], "b"));
    assert_eq!(
        lab.join_reply(other).generation,
        2,
        "the disconnected member still counted as rejoined"
    );
    assert!(lab.reply(parked).is_none(), "its reply was dropped");
    let to = lab.send(2, GroupRequest::List { states: vec![] });
    lab.groups.handle_request(
        lab.now,
        Requester {
            conn: ConnectionId(3),
            request: 99,
        },
        GroupRequest::List { states: vec![] },
    );
    lab.groups.handle_disconnect(ConnectionId(3));
    lab.drain();
    assert!(lab.reply(to).is_some());
    assert!(
        lab.replies.is_empty(),
        "the queued reply to the closed connection is gone"
    );
}

// The whole protocol with the range assignor, as clients run it.

/// One simulated consumer: its id, its generation, what it was assigned.
#[derive(Clone, Debug, Default)]
struct Client {
    id: String,
    generation: i32,
    assigned: Vec<(String, i32)>,
    joining: Option<Requester>,
    syncing: Option<Requester>,
}

#[derive(Clone, Debug)]
enum Op {
    Join(usize),
    Sync(usize),
    Heartbeat(usize),
    Leave(usize),
    Commit(usize, i64),
    Wait(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..3usize).prop_map(Op::Join),
        (0..3usize).prop_map(Op::Sync),
        (0..3usize).prop_map(Op::Heartbeat),
        (0..3usize).prop_map(Op::Leave),
        ((0..3usize), 0..100i64).prop_map(|(c, o)| Op::Commit(c, o)),
        prop_oneof![Just(100u64), Just(3_000), Just(11_000), Just(31_000)].prop_map(Op::Wait),
    ]
}

fn subscription() -> Bytes {
    encode_subscription(
        &Subscription {
            topics: vec!["t".into()],
            ..Subscription::default()
        },
        1,
    )
}

fn step(lab: &mut Lab, clients: &mut [Client], op: &Op) {
    let conn = |c: usize| u64::try_from(c).unwrap() + 1;
    match *op {
        Op::Join(c) if clients[c].joining.is_none() => {
            let mut request = join_with(&clients[c].id, &format!("c{c}"), &["range"]);
            request.protocols[0].metadata = subscription();
            clients[c].joining = Some(lab.send(conn(c), GroupRequest::Join(request)));
        }
        Op::Sync(c) if clients[c].syncing.is_none() && !clients[c].id.is_empty() => {
            clients[c].syncing = Some(lab.send(
                conn(c),
                sync(&clients[c].id, clients[c].generation, Vec::new()),
            ));
        }
        Op::Heartbeat(c) => {
            let to = lab.send(conn(c), heartbeat(&clients[c].id, clients[c].generation));
            lab.reply(to);
        }
        Op::Leave(c) if !clients[c].id.is_empty() => {
            let to = lab.send(conn(c), leave(&[(&clients[c].id, None)]));
            lab.reply(to);
            clients[c] = Client::default();
        }
        Op::Commit(c, offset) => {
            let to = lab.send(
                conn(c),
                commit(&clients[c].id, clients[c].generation, offset),
            );
            lab.reply(to);
        }
        Op::Wait(ms) => lab.wait(ms),
        _ => {}
    }
    deliver(lab, clients);
}

/// Hands each client its replies; a leader's join runs the range assignor
/// and sends the leader's SyncGroup at once, as real clients do.
fn deliver(lab: &mut Lab, clients: &mut [Client]) {
    for c in 0..clients.len() {
        if let Some(to) = clients[c].joining {
            if let Some(GroupReply::Join(reply)) = lab.reply(to) {
                clients[c].joining = None;
                on_join(lab, clients, c, reply);
            }
        }
        if let Some(to) = clients[c].syncing {
            if let Some(GroupReply::Sync(reply)) = lab.reply(to) {
                clients[c].syncing = None;
                if reply.error == ErrorCode::NONE {
                    let assignment = decode_assignment(&reply.assignment).unwrap_or_default();
                    clients[c].assigned = assignment
                        .partitions
                        .iter()
                        .map(|p| (p.topic.clone(), p.partition))
                        .collect();
                } else {
                    clients[c].assigned.clear();
                }
            }
        }
    }
}

fn on_join(lab: &mut Lab, clients: &mut [Client], c: usize, reply: JoinResponse) {
    clients[c].assigned.clear();
    match reply.error {
        ErrorCode::NONE => {}
        ErrorCode::MEMBER_ID_REQUIRED => {
            clients[c].id = reply.member_id;
            return;
        }
        _ => {
            clients[c] = Client::default();
            return;
        }
    }
    clients[c].id = reply.member_id.clone();
    clients[c].generation = reply.generation;
    if reply.leader != reply.member_id {
        return;
    }
    let members: Vec<AssignorMember> = reply
        .members
        .iter()
        .map(|m| AssignorMember {
            member_id: m.member_id.clone(),
            topics: decode_subscription(&m.metadata)
                .expect("our own bytes")
                .topics,
            generation: -1,
            ..AssignorMember::default()
        })
        .collect();
    let counts: BTreeMap<String, i32> = [("t".to_owned(), 4)].into();
    let assignment = assignors::range(&members, &counts);
    let assignments = assignment
        .into_iter()
        .map(|(member, partitions)| {
            (
                member,
                encode_assignment(
                    &MemberAssignment {
                        partitions,
                        user_data: None,
                    },
                    1,
                ),
            )
        })
        .collect();
    let to = lab.send(
        u64::try_from(c).unwrap() + 1,
        sync(&reply.member_id, reply.generation, assignments),
    );
    clients[c].syncing = Some(to);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn no_two_members_of_one_generation_are_assigned_the_same_partition(ops in proptest::collection::vec(op(), 1..60)) {
        let mut lab = Lab::new();
        let mut clients = vec![Client::default(); 3];
        let mut owners: BTreeMap<(i32, String, i32), String> = BTreeMap::new();
        for op in &ops {
            step(&mut lab, &mut clients, op);
            for client in &clients {
                for (topic, partition) in &client.assigned {
                    let key = (client.generation, topic.clone(), *partition);
                    let owner = owners.entry(key).or_insert_with(|| client.id.clone());
                    prop_assert_eq!(owner, &client.id, "two owners of one partition in one generation");
                }
            }
        }
    }
}
