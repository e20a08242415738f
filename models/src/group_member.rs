//! The consumer group member actor: a Kafka consumer of the classic
//! protocol, speaking to the broker in the core's own group requests.
//!
//! A member joins with an empty member id, and the leader (the member the
//! join reply names) runs the core's `range` assignor over the members'
//! subscriptions and hands the assignment back in its SyncGroup. Once a
//! member holds its partitions it fetches their committed offsets, and then
//! may, whenever the checker says so: heartbeat, process the next record of
//! a partition it holds and commit the offset after it (at-least-once),
//! leave (a bounded number of times), or crash and start again (bounded).
//! A heartbeat answered REBALANCE_IN_PROGRESS makes it rejoin with its id,
//! one answered UNKNOWN_MEMBER_ID rejoin as a new member.
//!
//! The member keeps its partitions, with the generation they were given
//! in, until its next SyncGroup answers: an eager consumer revokes them
//! before it rejoins, and a member that does not is what the coordinator's
//! generation fence is for. A commit carries the generation of the
//! partitions it holds. At most one group request besides a commit is in
//! flight at a time, and at most one commit, so each link stays short.

use crate::actors::Node;
use crate::clients::BROKER;
use crate::shared::Shared;
use crate::wire::{Frame, Incarnation, Msg, Timer};
use brokerlab_core::group::consumer_protocol::{
    decode_assignment, encode_subscription, leader_assignments, MemberAssignment, Subscription,
};
use brokerlab_core::group::{
    CommitPartition, ErrorCode, GroupReply, GroupRequest, Heartbeat, JoinGroup, JoinProtocol,
    JoinResponse, LeaveGroup, LeavingMember, OffsetCommit, OffsetFetch, SyncAssignment, SyncGroup,
    SyncResponse,
};
use brokerlab_core::{StreamCommand, StreamReply};
use stateright::actor::{model_timeout, Id, Out};
use std::collections::BTreeMap;

/// The group every member joins.
pub const GROUP: &str = "g";

/// The topic every member subscribes to.
pub const TOPIC: &str = "t";

/// The most partitions a model's topic has.
pub const PARTITIONS_MAX: usize = 4;

/// How long a member may stay silent before the coordinator removes it.
pub const SESSION_TIMEOUT_MS: u64 = 10_000;

/// A group member's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupMember {
    /// How many partitions the topic has.
    pub partitions: u8,
    /// How many records each partition holds (the most offsets a member commits).
    pub records: u8,
    /// How many times it may leave the group.
    pub leaves: u8,
    /// How many times its process may crash and start again.
    pub restarts: u8,
}

/// The request a member waits for, besides a commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Awaiting {
    /// Nothing: the member may heartbeat, leave or crash.
    Nothing,
    /// A JoinGroup.
    Join,
    /// A SyncGroup.
    Sync,
    /// An OffsetFetch of its partitions.
    Fetch,
    /// A Heartbeat.
    Heartbeat,
    /// A LeaveGroup: the member is done once answered.
    Leave,
    /// Nothing ever again: the member left.
    Left,
}

/// A group member's state. It names no actor (its member id is the
/// coordinator's), so members alike in configuration are interchangeable.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MemberState {
    /// The current connection (one more after each crash or broker restart).
    pub incarnation: Incarnation,
    /// Its member id; empty until a join answers.
    pub member_id: String,
    /// The generation its last join answered.
    pub generation: i32,
    /// The partitions it holds (a bitmask) and the generation they were given in.
    pub held: Option<(i32, u8)>,
    /// The next offset to process, per partition (of the held ones, once fetched).
    pub positions: [u8; PARTITIONS_MAX],
    /// Whether the held partitions' committed offsets were fetched.
    pub fetched: bool,
    /// The request in flight besides a commit.
    pub awaiting: Awaiting,
    /// The commit in flight: partition and offset.
    pub committing: Option<(u8, u8)>,
    /// The checker's record, kept across crashes: per partition, the
    /// highest offset a commit of this member was acknowledged with (0: none).
    pub acknowledged: [u8; PARTITIONS_MAX],
    /// Leaves left.
    pub leaves: u8,
    /// Crashes left.
    pub restarts: u8,
    /// The message of the panic in the member's last step, if it panicked.
    pub panicked: Option<String>,
}

/// Request ids: one per kind, since at most one of a kind is in flight.
const JOIN: u64 = 1;
const SYNC: u64 = 2;
const FETCH: u64 = 3;
const HEARTBEAT: u64 = 4;
const COMMIT: u64 = 5;
const LEAVE: u64 = 6;

impl GroupMember {
    /// Joins the group as a new member.
    pub fn start(&self, out: &mut Out<Node>) -> MemberState {
        assert!((1..=PARTITIONS_MAX).contains(&usize::from(self.partitions)));
        let mut state = MemberState {
            incarnation: 1,
            member_id: String::new(),
            generation: -1,
            held: None,
            positions: [0; PARTITIONS_MAX],
            fetched: false,
            awaiting: Awaiting::Nothing,
            committing: None,
            acknowledged: [0; PARTITIONS_MAX],
            leaves: self.leaves,
            restarts: self.restarts,
            panicked: None,
        };
        self.join(&mut state, out);
        out.set_timer(Timer::Heartbeat, model_timeout());
        out.set_timer(Timer::Consume, model_timeout());
        if self.leaves > 0 {
            out.set_timer(Timer::Leave, model_timeout());
        }
        if self.restarts > 0 {
            out.set_timer(Timer::Restart, model_timeout());
        }
        state
    }

    /// Replies on the current connection; a reset (the broker restarted)
    /// makes the member start over on a new connection.
    pub fn on_msg(&self, state: &mut MemberState, msg: Msg, out: &mut Out<Node>) {
        let replies = match msg {
            Msg::StreamReplies {
                incarnation,
                replies,
                ..
            } if incarnation == state.incarnation => replies,
            Msg::Reset => return self.start_over(state, out),
            _ => return,
        };
        for (request, reply) in replies.iter() {
            let StreamReply::Group(reply) = reply else {
                continue;
            };
            match (*request, reply) {
                (JOIN, GroupReply::Join(join)) => self.joined(state, join, out),
                (SYNC, GroupReply::Sync(sync)) => self.synced(state, sync, out),
                (FETCH, GroupReply::OffsetFetch { partitions, .. }) => {
                    for fetched in partitions {
                        let position = u8::try_from(fetched.offset.max(0)).expect("a small offset");
                        state.positions[partition_index(fetched.partition)] = position;
                    }
                    state.fetched = true;
                    state.awaiting = Awaiting::Nothing;
                }
                (HEARTBEAT, GroupReply::Heartbeat { error }) => {
                    self.heartbeat_answered(state, *error, out)
                }
                (COMMIT, GroupReply::OffsetCommit { partitions }) => {
                    let (partition, offset) = state.committing.take().expect("a commit in flight");
                    if partitions.iter().all(|p| p.error == ErrorCode::NONE) {
                        let acknowledged = &mut state.acknowledged[usize::from(partition)];
                        *acknowledged = (*acknowledged).max(offset);
                    }
                }
                (LEAVE, GroupReply::Leave(_)) => {
                    state.held = None;
                    state.awaiting = Awaiting::Left;
                }
                (request, reply) => panic!("reply {reply:?} to request {request}"),
            }
        }
    }

    /// A checker's choice: heartbeat, process and commit, leave, or crash.
    pub fn on_timeout(&self, state: &mut MemberState, timer: &Timer, out: &mut Out<Node>) {
        let idle = state.awaiting == Awaiting::Nothing && state.held.is_some();
        match timer {
            Timer::Heartbeat => {
                out.set_timer(Timer::Heartbeat, model_timeout());
                if idle {
                    state.awaiting = Awaiting::Heartbeat;
                    let heartbeat = GroupRequest::Heartbeat(Heartbeat {
                        group: GROUP.into(),
                        generation: state.generation,
                        member_id: state.member_id.clone(),
                        group_instance_id: None,
                    });
                    send(out, state.incarnation, HEARTBEAT, heartbeat);
                }
            }
            Timer::Consume => {
                out.set_timer(Timer::Consume, model_timeout());
                self.consume(state, out);
            }
            Timer::Leave if state.leaves > 0 => {
                out.set_timer(Timer::Leave, model_timeout());
                if !idle {
                    return;
                }
                state.leaves -= 1;
                state.awaiting = Awaiting::Leave;
                let leave = GroupRequest::Leave(LeaveGroup {
                    group: GROUP.into(),
                    members: vec![LeavingMember {
                        member_id: state.member_id.clone(),
                        group_instance_id: None,
                    }],
                });
                send(out, state.incarnation, LEAVE, leave);
            }
            Timer::Restart if state.restarts > 0 && state.awaiting != Awaiting::Left => {
                state.restarts -= 1;
                if state.restarts > 0 {
                    out.set_timer(Timer::Restart, model_timeout());
                }
                self.start_over(state, out);
            }
            _ => {}
        }
    }

    /// Processes the next record of the first held partition that has
    /// one, and commits the offset after it with the held generation.
    fn consume(&self, state: &mut MemberState, out: &mut Out<Node>) {
        let Some((generation, mask)) = state.held else {
            return;
        };
        if !state.fetched || state.committing.is_some() || state.awaiting == Awaiting::Left {
            return;
        }
        let partitions = 0..self.partitions;
        let mut open = partitions.filter(|p| mask & (1 << p) != 0);
        let Some(partition) = open.find(|p| state.positions[usize::from(*p)] < self.records) else {
            return;
        };
        state.positions[usize::from(partition)] += 1;
        let offset = state.positions[usize::from(partition)];
        state.committing = Some((partition, offset));
        let commit = GroupRequest::OffsetCommit(OffsetCommit {
            group: GROUP.into(),
            generation,
            member_id: state.member_id.clone(),
            group_instance_id: None,
            partitions: vec![CommitPartition {
                topic: TOPIC.into(),
                partition: i32::from(partition),
                offset: i64::from(offset),
                metadata: String::new(),
            }],
        });
        send(out, state.incarnation, COMMIT, commit);
    }

    /// The crashed process (or one whose broker restarted) starts again on
    /// a new connection, knowing nothing but the checker's record.
    fn start_over(&self, state: &mut MemberState, out: &mut Out<Node>) {
        // The broker may already hold a connection this reset overtook: close it.
        out.send(
            Id::from(BROKER),
            frames(state.incarnation, vec![Frame::Disconnect]),
        );
        state.incarnation = state
            .incarnation
            .checked_add(1)
            .expect("a bounded number of crashes");
        state.member_id.clear();
        state.generation = -1;
        state.held = None;
        state.positions = [0; PARTITIONS_MAX];
        state.fetched = false;
        state.committing = None;
        if state.awaiting != Awaiting::Left {
            self.join(state, out);
        }
    }

    fn join(&self, state: &mut MemberState, out: &mut Out<Node>) {
        state.awaiting = Awaiting::Join;
        let subscription = Subscription {
            topics: vec![TOPIC.into()],
            ..Subscription::default()
        };
        let join = GroupRequest::Join(JoinGroup {
            group: GROUP.into(),
            member_id: state.member_id.clone(),
            group_instance_id: None,
            client_id: "m".into(),
            session_timeout_ms: SESSION_TIMEOUT_MS,
            rebalance_timeout_ms: 2 * SESSION_TIMEOUT_MS,
            protocol_type: "consumer".into(),
            protocols: vec![JoinProtocol {
                name: "range".into(),
                metadata: encode_subscription(&subscription, 0),
            }],
            require_known_member_id: false,
        });
        send(out, state.incarnation, JOIN, join);
    }

    /// A join answered: the member syncs (the leader with the assignment
    /// it computed), or joins again.
    fn joined(&self, state: &mut MemberState, join: &JoinResponse, out: &mut Out<Node>) {
        if join.error != ErrorCode::NONE {
            if join.error == ErrorCode::UNKNOWN_MEMBER_ID {
                state.member_id.clear();
            }
            return self.join(state, out);
        }
        state.member_id.clone_from(&join.member_id);
        state.generation = join.generation;
        let assignments = match join.leader == join.member_id {
            true => self.assign(join),
            false => Vec::new(),
        };
        state.awaiting = Awaiting::Sync;
        let sync = GroupRequest::Sync(SyncGroup {
            group: GROUP.into(),
            generation: join.generation,
            member_id: join.member_id.clone(),
            group_instance_id: None,
            protocol_type: None,
            protocol_name: None,
            assignments,
        });
        send(out, state.incarnation, SYNC, sync);
    }

    /// The leader's assignment: the core's range assignor over the members'
    /// subscriptions, as a Kafka consumer's leader computes it.
    fn assign(&self, join: &JoinResponse) -> Vec<SyncAssignment> {
        let counts = BTreeMap::from([(TOPIC.to_owned(), i32::from(self.partitions))]);
        let assignments = leader_assignments(&join.members, "range", &counts, 0);
        let assignments = assignments.expect("the core knows range");
        assert_eq!(
            assignments.len(),
            join.members.len(),
            "every member is assigned"
        );
        assignments
    }

    /// A sync answered: the member holds its partitions and fetches their
    /// committed offsets, or joins again.
    fn synced(&self, state: &mut MemberState, sync: &SyncResponse, out: &mut Out<Node>) {
        if sync.error != ErrorCode::NONE {
            if sync.error == ErrorCode::UNKNOWN_MEMBER_ID {
                state.member_id.clear();
            }
            return self.join(state, out);
        }
        // The coordinator hands empty bytes to a member the leader gave nothing.
        let assignment = match sync.assignment.is_empty() {
            true => MemberAssignment::default(),
            false => decode_assignment(&sync.assignment).expect("the leader's bytes decode"),
        };
        let mask = (assignment.partitions.iter())
            .map(|partition| 1u8 << partition_index(partition.partition))
            .fold(0, |mask, bit| mask | bit);
        state.held = Some((state.generation, mask));
        state.positions = [0; PARTITIONS_MAX];
        state.fetched = false;
        state.awaiting = Awaiting::Fetch;
        let held = (0..self.partitions).filter(|p| mask & (1 << p) != 0);
        let fetch = GroupRequest::OffsetFetch(OffsetFetch {
            group: GROUP.into(),
            partitions: Some(held.map(|p| (TOPIC.to_owned(), i32::from(p))).collect()),
        });
        send(out, state.incarnation, FETCH, fetch);
    }

    fn heartbeat_answered(&self, state: &mut MemberState, error: ErrorCode, out: &mut Out<Node>) {
        state.awaiting = Awaiting::Nothing;
        match error {
            ErrorCode::NONE => {}
            ErrorCode::UNKNOWN_MEMBER_ID => {
                state.member_id.clear();
                self.join(state, out);
            }
            _ => self.join(state, out),
        }
    }
}

/// A partition number as an index into the member's tables.
fn partition_index(partition: i32) -> usize {
    let index = usize::try_from(partition).expect("a partition number is not negative");
    assert!(
        index < PARTITIONS_MAX,
        "partition {partition} within PARTITIONS_MAX"
    );
    index
}

fn frames(incarnation: Incarnation, frames: Vec<Frame>) -> Msg {
    Msg::Frames {
        incarnation,
        seq: 0,
        frames: Shared::new(frames),
    }
}

/// Sends group request `request` as request `id` on connection `incarnation`.
fn send(out: &mut Out<Node>, incarnation: Incarnation, id: u64, request: GroupRequest) {
    let command = StreamCommand::Group(request);
    let frame = Frame::Stream {
        request: id,
        command,
    };
    out.send(Id::from(BROKER), frames(incarnation, vec![frame]));
}
