//! A stream reader's part in a consumer group: Kafka's classic group
//! protocol as a consumer speaks it, in the core's own group requests.
//!
//! The member joins with an empty member id and keeps the id the
//! coordinator gives it across reconnects. The leader (the member the join
//! reply names) runs the core's `range` assignor over the members'
//! subscriptions and hands the assignment back in its SyncGroup; every
//! member then fetches its partitions' committed offsets and starts there.
//! Heartbeats go at a third of the session timeout, from a background
//! thread as in Kafka's clients since KIP-62, so a reader's work does not
//! stop them; a member cut off or clogged past its session timeout is
//! removed by the coordinator and rejoins when it hears so.
//!
//! A member keeps the partitions it holds, with the generation they were
//! given in, until its next SyncGroup answers, and commits with that
//! generation: an eager consumer revokes them before it rejoins, and one
//! that does not is what the coordinator's generation fence is for. What
//! it sees goes into the history: each assignment, each committed offset
//! fetched (with when the fetch was sent), each acknowledged commit.

use super::Context;
use crate::history::Entry;
use brokerlab_core::group::consumer_protocol::{
    decode_assignment, encode_subscription, leader_assignments, MemberAssignment, Subscription,
};
use brokerlab_core::group::{
    CommitPartition, ErrorCode, GroupRequest, Heartbeat, JoinGroup, JoinProtocol, JoinResponse,
    OffsetCommit, OffsetFetch, SyncAssignment, SyncGroup, SyncResponse,
};
use std::collections::BTreeMap;
use std::sync::Arc;

/// How a reader takes part in a consumer group.
#[derive(Clone, Debug)]
pub struct GroupSpec {
    /// The group's name.
    pub group: Arc<str>,
    /// How long the coordinator waits for a heartbeat before removing the member.
    pub session_timeout_ms: u64,
}

impl GroupSpec {
    /// The gap between two heartbeats: a third of the session timeout, as Kafka's clients default to.
    #[must_use]
    pub fn heartbeat_ns(&self) -> u64 {
        self.session_timeout_ms * crate::plan::MS / 3
    }
}

/// Where a member stands in the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// Not in the group on this connection (none yet, or the topic is not ready).
    Outside,
    /// A JoinGroup is in flight, or waits to be sent again at `retry_ns`.
    Joining,
    /// A SyncGroup is in flight.
    Syncing,
    /// The OffsetFetch of the partitions just assigned is in flight.
    Fetching,
    /// In the group with its partitions and their positions.
    Member,
}

/// The partitions a member holds, and the generation they were given in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Held {
    pub(super) generation: i32,
    pub(super) partitions: Vec<u32>,
}

/// A commit in flight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Commit {
    pub(super) request: u64,
    /// The generation it names.
    generation: i32,
    sent_ns: u64,
    offsets: BTreeMap<u32, u64>,
}

/// What a reply asks of the reader.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Next {
    /// Nothing more.
    Nothing,
    /// Send this group request.
    Send(GroupRequest),
    /// Start at these offsets in the partitions just assigned (the
    /// committed offset, or `None` where nothing is committed).
    Start(Vec<(u32, Option<u64>)>),
}

/// A member's group state.
#[derive(Clone, Debug)]
pub(super) struct Membership {
    pub(super) spec: GroupSpec,
    topic: Arc<str>,
    partition_count: u32,
    member_id: String,
    /// The generation its last join answered.
    generation: i32,
    pub(super) phase: Phase,
    /// The join, sync or offset fetch in flight: its request, and when it was sent.
    pub(super) pending: Option<(u64, u64)>,
    /// When a failed join is sent again.
    pub(super) retry_ns: u64,
    /// The heartbeat in flight.
    pub(super) heartbeat: Option<u64>,
    pub(super) next_heartbeat_ns: u64,
    /// The commit in flight.
    pub(super) committing: Option<Commit>,
    /// Per held partition, the offset last acknowledged as committed (or fetched as such).
    pub(super) committed: BTreeMap<u32, u64>,
    pub(super) held: Option<Held>,
}

impl Membership {
    pub(super) fn new(spec: GroupSpec, topic: Arc<str>, partition_count: u32) -> Membership {
        Membership {
            spec,
            topic,
            partition_count,
            member_id: String::new(),
            generation: -1,
            phase: Phase::Outside,
            pending: None,
            retry_ns: 0,
            heartbeat: None,
            next_heartbeat_ns: 0,
            committing: None,
            committed: BTreeMap::new(),
            held: None,
        }
    }

    /// The connection is gone: what was in flight on it is lost. The
    /// member keeps its id, its partitions and its generation.
    pub(super) fn disconnected(&mut self) {
        self.phase = Phase::Outside;
        self.pending = None;
        self.heartbeat = None;
        self.committing = None;
    }

    /// A JoinGroup with its id (empty the first time), subscribing to the topic.
    pub(super) fn join(&mut self) -> GroupRequest {
        self.phase = Phase::Joining;
        let subscription = Subscription {
            topics: vec![self.topic.to_string()],
            ..Subscription::default()
        };
        GroupRequest::Join(JoinGroup {
            group: self.spec.group.to_string(),
            member_id: self.member_id.clone(),
            group_instance_id: None,
            client_id: "sim".into(),
            session_timeout_ms: self.spec.session_timeout_ms,
            rebalance_timeout_ms: 2 * self.spec.session_timeout_ms,
            protocol_type: "consumer".into(),
            protocols: vec![JoinProtocol {
                name: "range".into(),
                metadata: encode_subscription(&subscription, 0),
            }],
            require_known_member_id: false,
        })
    }

    /// A join answered: sync (the leader with its assignment), or join again.
    pub(super) fn joined(&mut self, reply: &JoinResponse, now_ns: u64) -> Next {
        if reply.error != ErrorCode::NONE {
            return self.rejoin_later(reply.error, now_ns);
        }
        self.member_id.clone_from(&reply.member_id);
        self.generation = reply.generation;
        self.phase = Phase::Syncing;
        let assignments = match reply.leader == reply.member_id {
            true => self.assign(reply),
            false => Vec::new(),
        };
        Next::Send(GroupRequest::Sync(SyncGroup {
            group: self.spec.group.to_string(),
            generation: reply.generation,
            member_id: reply.member_id.clone(),
            group_instance_id: None,
            protocol_type: None,
            protocol_name: None,
            assignments,
        }))
    }

    /// The leader's assignment: the core's range assignor over the members'
    /// subscriptions, as a Kafka consumer's leader computes it.
    fn assign(&self, reply: &JoinResponse) -> Vec<SyncAssignment> {
        let count = i32::try_from(self.partition_count).expect("a small partition count");
        let counts = BTreeMap::from([(self.topic.to_string(), count)]);
        leader_assignments(&reply.members, "range", &counts, 0).expect("the core knows range")
    }

    /// A sync answered: the member holds its partitions (recorded) and
    /// fetches their committed offsets, or joins again.
    pub(super) fn synced(
        &mut self,
        reply: &SyncResponse,
        reader: usize,
        context: &mut Context<'_>,
    ) -> Next {
        let now_ns = context.now_ns;
        if reply.error != ErrorCode::NONE {
            return self.rejoin_later(reply.error, now_ns);
        }
        // The coordinator hands empty bytes to a member the leader gave nothing.
        let assignment = match reply.assignment.is_empty() {
            true => Ok(MemberAssignment::default()),
            false => decode_assignment(&reply.assignment),
        };
        let Ok(assignment) = assignment else {
            return self.rejoin_later(ErrorCode::INCONSISTENT_GROUP_PROTOCOL, now_ns);
        };
        let mut partitions: Vec<u32> = (assignment.partitions.iter())
            .filter(|assigned| *assigned.topic == *self.topic)
            .filter_map(|assigned| u32::try_from(assigned.partition).ok())
            .collect();
        partitions.sort_unstable();
        partitions.dedup();
        let entry = Entry::GroupAssigned {
            reader,
            generation: self.generation,
            partitions: partitions.clone(),
        };
        context.history.record(now_ns, entry);
        self.held = Some(Held {
            generation: self.generation,
            partitions: partitions.clone(),
        });
        self.committed.clear();
        self.phase = Phase::Fetching;
        let topic = self.topic.to_string();
        Next::Send(GroupRequest::OffsetFetch(OffsetFetch {
            group: self.spec.group.to_string(),
            partitions: Some(
                (partitions.iter())
                    .map(|p| (topic.clone(), i32::try_from(*p).expect("a small partition")))
                    .collect(),
            ),
        }))
    }

    /// The committed offsets of the partitions just assigned (recorded),
    /// or, on an error, another fetch.
    pub(super) fn offsets_fetched(
        &mut self,
        error: ErrorCode,
        partitions: &[brokerlab_core::group::FetchedOffset],
        (reader, sent_ns): (usize, u64),
        context: &mut Context<'_>,
    ) -> Next {
        let now_ns = context.now_ns;
        if error != ErrorCode::NONE {
            return self.rejoin_later(error, now_ns);
        }
        let held = self.held.as_ref().expect("a fetch follows an assignment");
        let mut starts = Vec::with_capacity(held.partitions.len());
        for partition in &held.partitions {
            let fetched = partitions
                .iter()
                .find(|f| *f.topic == *self.topic && u32::try_from(f.partition) == Ok(*partition));
            let offset = fetched.and_then(|f| u64::try_from(f.offset).ok());
            let entry = Entry::GroupOffsetFetched {
                reader,
                sent_ns,
                partition: *partition,
                offset,
            };
            context.history.record(now_ns, entry);
            if let Some(offset) = offset {
                self.committed.insert(*partition, offset);
                context.streams.committed(*partition, offset);
            }
            starts.push((*partition, offset));
        }
        self.phase = Phase::Member;
        self.next_heartbeat_ns = now_ns + self.spec.heartbeat_ns();
        Next::Start(starts)
    }

    /// A heartbeat answered: nothing, or a rejoin.
    pub(super) fn heartbeat_answered(&mut self, error: ErrorCode, now_ns: u64) -> Next {
        self.heartbeat = None;
        self.next_heartbeat_ns = now_ns + self.spec.heartbeat_ns();
        match error {
            ErrorCode::NONE => Next::Nothing,
            _ if self.phase != Phase::Member => Next::Nothing,
            error => self.rejoin_now(error),
        }
    }

    /// A commit answered: the acknowledged offsets recorded, or a rejoin.
    pub(super) fn commit_answered(
        &mut self,
        errors: &[ErrorCode],
        reader: usize,
        context: &mut Context<'_>,
    ) -> Next {
        let commit = self.committing.take().expect("a commit in flight");
        let generation = commit.generation;
        if let Some(error) = errors.iter().copied().find(|e| *e != ErrorCode::NONE) {
            return match self.phase {
                Phase::Member => self.rejoin_now(error),
                _ => Next::Nothing,
            };
        }
        for (partition, offset) in commit.offsets {
            let entry = Entry::GroupCommitted {
                reader,
                sent_ns: commit.sent_ns,
                generation,
                partition,
                offset,
            };
            context.history.record(context.now_ns, entry);
            context.streams.committed(partition, offset);
            if self
                .held
                .as_ref()
                .is_some_and(|h| h.generation == generation)
            {
                self.committed.insert(partition, offset);
            }
        }
        Next::Nothing
    }

    /// An OffsetCommit of these positions with the held generation.
    pub(super) fn commit(
        &mut self,
        request: u64,
        offsets: BTreeMap<u32, u64>,
        now_ns: u64,
    ) -> GroupRequest {
        let held = self.held.as_ref().expect("a member commits what it holds");
        let commit = GroupRequest::OffsetCommit(OffsetCommit {
            group: self.spec.group.to_string(),
            generation: held.generation,
            member_id: self.member_id.clone(),
            group_instance_id: None,
            partitions: (offsets.iter())
                .map(|(partition, offset)| CommitPartition {
                    topic: self.topic.to_string(),
                    partition: i32::try_from(*partition).expect("a small partition"),
                    offset: i64::try_from(*offset).expect("an offset below 2^63"),
                    metadata: String::new(),
                })
                .collect(),
        });
        self.committing = Some(Commit {
            request,
            generation: held.generation,
            sent_ns: now_ns,
            offsets,
        });
        commit
    }

    /// A Heartbeat for the generation it is in.
    pub(super) fn heartbeat(&mut self, request: u64) -> GroupRequest {
        self.heartbeat = Some(request);
        GroupRequest::Heartbeat(Heartbeat {
            group: self.spec.group.to_string(),
            generation: self.generation,
            member_id: self.member_id.clone(),
            group_instance_id: None,
        })
    }

    /// Joins again at once, as a new member if the coordinator forgot this one.
    fn rejoin_now(&mut self, error: ErrorCode) -> Next {
        if matches!(
            error,
            ErrorCode::UNKNOWN_MEMBER_ID | ErrorCode::FENCED_INSTANCE_ID
        ) {
            self.member_id.clear();
        }
        Next::Send(self.join())
    }

    /// A join, sync or fetch failed: join again after a heartbeat's gap
    /// (at once for the errors that ask for exactly that).
    fn rejoin_later(&mut self, error: ErrorCode, now_ns: u64) -> Next {
        match error {
            ErrorCode::UNKNOWN_MEMBER_ID
            | ErrorCode::REBALANCE_IN_PROGRESS
            | ErrorCode::ILLEGAL_GENERATION => self.rejoin_now(error),
            _ => {
                self.phase = Phase::Joining;
                self.retry_ns = now_ns + self.spec.heartbeat_ns();
                Next::Nothing
            }
        }
    }
}
