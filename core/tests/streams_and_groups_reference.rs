//! The streams and the consumer group coordinator, driven through the
//! `Broker` as a Kafka front end would (`Input::Stream`, replies as
//! `Output::Stream`), against a plain reference model written for reading:
//! a `Vec` of values per partition with offsets from 0, and one classic
//! group (members, generation, state, the leader, assignments, committed
//! offsets) following Kafka's `GroupCoordinator` and `KafkaApis` rule by
//! rule. Random sequences of creates, produces, fetches, joins, syncs,
//! heartbeats, commits, offset fetches, leaves and time passing, valid
//! and not (a wrong generation, an unknown member, an unknown topic, an
//! offset past the end), must get the same replies from both after every
//! step (RULES.md section 8a, row 8a.35). Most group ops are random;
//! `Op::Poll` lets a client act as a well-behaved consumer (join, sync,
//! heartbeat), so that the group reaches Stable often enough, and a
//! coverage test checks that the states and errors compared are reached.
//! Two brokers fed the same inputs must give the same outputs.
//!
//! Where the core differed from Kafka, a regression test at the end pins
//! Kafka's behaviour.
//!
//! What the model leaves out: static members (`group.instance.id`),
//! disconnects, crashes, retention, idempotent producers, parked
//! (long-polling) fetches, and more than one protocol per member. The
//! store syncs after every input, so a reply waiting for its record goes
//! out in the same step. Replies are compared as a set per step, ordered
//! by connection and request id: the order across connections is not a
//! rule, and putting one connection's replies in request order is the
//! front end's job.

mod support;

use brokerlab_core::group::{
    CommitPartition, ErrorCode, GroupReply, GroupRequest, GroupState, GroupsConfig, Heartbeat,
    JoinGroup, JoinProtocol, LeaveGroup, LeavingMember, OffsetCommit, OffsetFetch, SyncAssignment,
    SyncGroup,
};
use brokerlab_core::stream::{Acks, FetchPartition, OffsetSpec, ProducedBatch, TopicConfig};
use brokerlab_core::{Config, ConnectionId, Input, StreamCommand, StreamError, StreamReply};
use proptest::prelude::*;
use std::collections::BTreeMap;
use support::streams::{record, records_of};
use support::{Harness, Step};

/// The group every client joins; `OTHER_GROUP` is never joined.
const GROUP: &str = "g";
const OTHER_GROUP: &str = "h";
/// Topic names the ops pick from; `a` exists from the start with 2 partitions.
const TOPICS: [&str; 3] = ["a", "b", "c"];
/// The protocol type consumers join with, and one a group of consumers refuses.
const CONSUMER: &str = "consumer";
const OTHER_TYPE: &str = "connect";
/// The one protocol every member supports.
const PROTOCOL: &str = "range";
/// The connection stream commands come on; client `k` uses connection `k + 1`.
const STREAM_CONN: u64 = 10;
const CLIENTS: usize = 3;

/// A topic configuration with nothing that acts on its own: not durable
/// (records are visible once appended) and no retention.
fn plain_topic() -> TopicConfig {
    TopicConfig {
        durable: false,
        retention_ms: None,
        retention_bytes: None,
        ..TopicConfig::default()
    }
}

// What a client sees of a reply: the projection both sides are compared on.

/// One fetched partition: its high watermark, log start and the records
/// at or after the offset asked for.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Read {
    high_watermark: u64,
    log_start_offset: u64,
    records: Vec<(u64, String)>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Seen {
    TopicCreated(String, Result<(), StreamError>),
    Produced(String, u32, Result<(u64, u64), StreamError>),
    Fetched(Vec<(String, u32, Result<Read, StreamError>)>),
    Listed(String, u32, Result<(Option<u64>, u64, u64), StreamError>),
    Joined {
        error: ErrorCode,
        generation: i32,
        member_id: String,
        leader: String,
        protocol: Option<String>,
        /// The member list (id, metadata), sorted; only the leader gets it.
        members: Vec<(String, Vec<u8>)>,
    },
    Synced {
        error: ErrorCode,
        assignment: Vec<u8>,
    },
    Heartbeat(ErrorCode),
    Left {
        error: ErrorCode,
        members: Vec<(String, ErrorCode)>,
    },
    Committed(Vec<(String, i32, ErrorCode)>),
    OffsetsFetched {
        error: ErrorCode,
        offsets: Vec<(String, i32, i64)>,
    },
}

/// A reply as (connection, request id, what the client sees).
type Answer = (u64, u64, Seen);

fn project(conn: u64, request: u64, reply: StreamReply, asked: &StreamCommand) -> Answer {
    let seen = match reply {
        StreamReply::TopicCreated { topic, result } => Seen::TopicCreated(topic, result),
        StreamReply::Produced {
            topic,
            partition,
            result,
        } => Seen::Produced(
            topic,
            partition,
            result.map(|p| (p.base_offset, p.log_start_offset)),
        ),
        StreamReply::Fetched { partitions } => {
            let StreamCommand::Fetch {
                partitions: wanted, ..
            } = asked
            else {
                panic!("a fetch reply to {asked:?}");
            };
            assert_eq!(partitions.len(), wanted.len(), "one answer per partition");
            let reads = partitions.into_iter().zip(wanted);
            let reads = reads.map(|(got, wanted)| {
                let result = got.result.map(|data| Read {
                    high_watermark: data.high_watermark,
                    log_start_offset: data.log_start_offset,
                    records: (data.batches.iter())
                        .flat_map(records_of)
                        .filter(|(at, _)| *at >= wanted.offset)
                        .collect(),
                });
                (got.topic, got.partition, result)
            });
            Seen::Fetched(reads.collect())
        }
        StreamReply::Offsets {
            topic,
            partition,
            result,
        } => Seen::Listed(
            topic,
            partition,
            result.map(|l| (l.offset, l.log_start_offset, l.high_watermark)),
        ),
        StreamReply::Group(reply) => project_group(reply),
        other => panic!("no op asks for {other:?}"),
    };
    (conn, request, seen)
}

fn project_group(reply: GroupReply) -> Seen {
    match reply {
        GroupReply::Join(join) => {
            let mut members: Vec<(String, Vec<u8>)> = (join.members.into_iter())
                .map(|m| (m.member_id, m.metadata.to_vec()))
                .collect();
            members.sort();
            Seen::Joined {
                error: join.error,
                generation: join.generation,
                member_id: join.member_id,
                leader: join.leader,
                protocol: join.protocol_name,
                members,
            }
        }
        GroupReply::Sync(sync) => Seen::Synced {
            error: sync.error,
            assignment: sync.assignment.to_vec(),
        },
        GroupReply::Heartbeat { error } => Seen::Heartbeat(error),
        GroupReply::Leave(leave) => Seen::Left {
            error: leave.error,
            members: (leave.members.into_iter())
                .map(|m| (m.member_id, m.error))
                .collect(),
        },
        GroupReply::OffsetCommit { partitions } => Seen::Committed(
            (partitions.into_iter())
                .map(|p| (p.topic, p.partition, p.error))
                .collect(),
        ),
        GroupReply::OffsetFetch { error, partitions } => Seen::OffsetsFetched {
            error,
            offsets: (partitions.into_iter())
                .map(|p| (p.topic, p.partition, p.offset))
                .collect(),
        },
        other => panic!("no op asks for {other:?}"),
    }
}

// The reference model.

mod model {
    //! Streams as `Vec`s of values, and one classic group as Kafka's
    //! `GroupCoordinator` runs it (dynamic members only). Every rule cites
    //! the Kafka behaviour it follows; nothing here is read from the core.

    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum State {
        Empty,
        PreparingRebalance,
        CompletingRebalance,
        Stable,
    }

    impl State {
        pub fn core(self) -> GroupState {
            match self {
                State::Empty => GroupState::Empty,
                State::PreparingRebalance => GroupState::PreparingRebalance,
                State::CompletingRebalance => GroupState::CompletingRebalance,
                State::Stable => GroupState::Stable,
            }
        }
    }

    /// A request waiting for its reply: (connection, request id).
    type Parked = (u64, u64);

    #[derive(Debug)]
    pub struct Member {
        pub id: String,
        metadata: Vec<u8>,
        /// How long it may stay silent before it is removed.
        silence_ms: u64,
        rebalance_ms: u64,
        join: Option<Parked>,
        sync: Option<Parked>,
        /// The leader's bytes for this member, this generation.
        assignment: Vec<u8>,
        /// Joined and not yet through a completed join: may expire while its join waits.
        is_new: bool,
        /// When the member is removed unless heard from.
        deadline: Option<u64>,
    }

    /// The join phase's deadline; `initial` is (this delay, remaining
    /// rebalance time) while an Empty group waits for more members
    /// (Kafka's `InitialDelayedJoin`).
    #[derive(Debug)]
    struct JoinTimer {
        at: u64,
        initial: Option<(u64, u64)>,
    }

    #[derive(Debug)]
    pub struct Group {
        pub state: State,
        previous: State,
        pub generation: i32,
        protocol_type: Option<String>,
        leader: Option<String>,
        /// In order of arrival: the first present member leads when the leader goes.
        pub members: Vec<Member>,
        /// Ids handed out with MEMBER_ID_REQUIRED, with their deadlines.
        pending: Vec<(String, u64)>,
        /// Members of this generation that have not sent SyncGroup.
        pending_sync: Vec<String>,
        new_member_added: bool,
        join_timer: Option<JoinTimer>,
        sync_timer: Option<(u64, i32)>,
        offsets: BTreeMap<(String, i32), i64>,
    }

    /// A deadline, in the order simultaneous ones fire: members' (by id),
    /// then the join phase's, then the sync wait's. Kafka leaves the order
    /// of simultaneous timers open; this is the core's deterministic one.
    #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
    enum Timer {
        Heartbeat(String),
        Join,
        Sync,
    }

    #[derive(Debug)]
    pub struct Model {
        config: GroupsConfig,
        pub now: u64,
        /// Topic name → one `Vec` of values per partition, offsets from 0.
        topics: BTreeMap<String, Vec<Vec<String>>>,
        pub group: Option<Group>,
        /// The coordinator's member id counter: ids are `<client id>-<n>`.
        member_ids: u64,
        replies: Vec<Answer>,
    }

    impl Model {
        pub fn new(config: GroupsConfig, now: u64) -> Model {
            Model {
                config,
                now,
                topics: BTreeMap::new(),
                group: None,
                member_ids: 0,
                replies: Vec::new(),
            }
        }

        /// The replies of one input, taken.
        pub fn take_replies(&mut self) -> Vec<Answer> {
            std::mem::take(&mut self.replies)
        }

        fn reply(&mut self, (conn, request): Parked, seen: Seen) {
            self.replies.push((conn, request, seen));
        }

        pub fn handle(&mut self, conn: u64, request: u64, command: &StreamCommand) {
            let to = (conn, request);
            match command {
                StreamCommand::CreateTopic {
                    topic, partitions, ..
                } => {
                    let result = if self.topics.contains_key(topic) {
                        Err(StreamError::TopicAlreadyExists)
                    } else if *partitions == 0 {
                        Err(StreamError::InvalidPartitions)
                    } else {
                        let logs = vec![Vec::new(); *partitions as usize];
                        self.topics.insert(topic.clone(), logs);
                        Ok(())
                    };
                    self.reply(to, Seen::TopicCreated(topic.clone(), result));
                }
                StreamCommand::Produce {
                    topic,
                    partition,
                    batch,
                    ..
                } => {
                    let result = match self.log_mut(topic, *partition) {
                        None => Err(StreamError::UnknownTopicOrPartition),
                        Some(log) => {
                            let base = log.len() as u64;
                            for record in &batch.records {
                                let value = record.value.as_deref().unwrap_or_default();
                                log.push(String::from_utf8_lossy(value).into_owned());
                            }
                            Ok((base, 0))
                        }
                    };
                    self.reply(to, Seen::Produced(topic.clone(), *partition, result));
                }
                StreamCommand::Fetch { partitions, .. } => {
                    let reads = partitions.iter().map(|asked| {
                        let result = match self.log(&asked.topic, asked.partition) {
                            None => Err(StreamError::UnknownTopicOrPartition),
                            Some(log) if asked.offset > log.len() as u64 => {
                                Err(StreamError::OffsetOutOfRange)
                            }
                            Some(log) => Ok(Read {
                                high_watermark: log.len() as u64,
                                log_start_offset: 0,
                                records: (asked.offset..log.len() as u64)
                                    .map(|at| (at, log[at as usize].clone()))
                                    .collect(),
                            }),
                        };
                        (asked.topic.clone(), asked.partition, result)
                    });
                    let seen = Seen::Fetched(reads.collect());
                    self.reply(to, seen);
                }
                StreamCommand::ListOffsets {
                    topic,
                    partition,
                    spec,
                } => {
                    let result = match self.log(topic, *partition) {
                        None => Err(StreamError::UnknownTopicOrPartition),
                        Some(log) => {
                            let end = log.len() as u64;
                            let offset = match spec {
                                OffsetSpec::Earliest => 0,
                                OffsetSpec::Latest => end,
                                OffsetSpec::Timestamp(_) => panic!("not generated"),
                            };
                            Ok((Some(offset), 0, end))
                        }
                    };
                    self.reply(to, Seen::Listed(topic.clone(), *partition, result));
                }
                StreamCommand::Group(request) => {
                    self.group_request(to, request);
                    // A deadline armed at now (the join phase of a group
                    // whose members all left: the longest rebalance
                    // timeout of no member is 0) runs at once.
                    self.fire_due();
                }
                other => panic!("not generated: {other:?}"),
            }
        }

        fn log(&self, topic: &str, partition: u32) -> Option<&Vec<String>> {
            self.topics.get(topic)?.get(partition as usize)
        }

        fn log_mut(&mut self, topic: &str, partition: u32) -> Option<&mut Vec<String>> {
            self.topics.get_mut(topic)?.get_mut(partition as usize)
        }

        fn group_request(&mut self, to: Parked, request: &GroupRequest) {
            match request {
                GroupRequest::Join(join) => self.join(to, join),
                GroupRequest::Sync(sync) => self.sync(to, sync),
                GroupRequest::Heartbeat(heartbeat) => self.heartbeat(to, heartbeat),
                GroupRequest::Leave(leave) => self.leave(to, leave),
                GroupRequest::OffsetCommit(commit) => self.commit(to, commit),
                GroupRequest::OffsetFetch(fetch) => self.offset_fetch(to, fetch),
                other => panic!("not generated: {other:?}"),
            }
        }

        fn group(&mut self) -> &mut Group {
            self.group.as_mut().expect("the group exists")
        }

        fn new_group() -> Group {
            Group {
                state: State::Empty,
                previous: State::Empty,
                generation: 0,
                protocol_type: None,
                leader: None,
                members: Vec::new(),
                pending: Vec::new(),
                pending_sync: Vec::new(),
                new_member_added: false,
                join_timer: None,
                sync_timer: None,
                offsets: BTreeMap::new(),
            }
        }

        fn join_error(&mut self, to: Parked, error: ErrorCode, member_id: &str) {
            let seen = Seen::Joined {
                error,
                generation: -1,
                member_id: member_id.to_owned(),
                leader: String::new(),
                protocol: None,
                members: Vec::new(),
            };
            self.reply(to, seen);
        }

        // JoinGroup.

        fn join(&mut self, to: Parked, join: &JoinGroup) {
            let sessions = self.config.session_timeout_min_ms..=self.config.session_timeout_max_ms;
            if !sessions.contains(&join.session_timeout_ms) {
                return self.join_error(to, ErrorCode::INVALID_SESSION_TIMEOUT, &join.member_id);
            }
            if self.group.is_none() {
                // Created for a new member; a known member id names a group that must exist.
                if !join.member_id.is_empty() {
                    return self.join_error(to, ErrorCode::UNKNOWN_MEMBER_ID, &join.member_id);
                }
                self.group = Some(Model::new_group());
            }
            if join.member_id.is_empty() {
                self.join_new_member(to, join);
            } else {
                self.join_known_member(to, join);
            }
        }

        fn join_new_member(&mut self, to: Parked, join: &JoinGroup) {
            if !self.group().supports(&join.protocol_type) {
                return self.join_error(to, ErrorCode::INCONSISTENT_GROUP_PROTOCOL, "");
            }
            self.member_ids += 1;
            let id = format!("{}-{}", join.client_id, self.member_ids);
            if join.require_known_member_id {
                // JoinGroup v4+: the id is handed out, to join with.
                let deadline = self.now + join.session_timeout_ms;
                self.group().pending.push((id.clone(), deadline));
                return self.join_error(to, ErrorCode::MEMBER_ID_REQUIRED, &id);
            }
            self.add_member(to, join, id);
        }

        fn join_known_member(&mut self, to: Parked, join: &JoinGroup) {
            let id = join.member_id.as_str();
            if !self.group().supports(&join.protocol_type) {
                return self.join_error(to, ErrorCode::INCONSISTENT_GROUP_PROTOCOL, id);
            }
            let group = self.group();
            if let Some(at) = group.pending.iter().position(|(p, _)| p == id) {
                group.pending.remove(at);
                return self.add_member(to, join, id.to_owned());
            }
            let Some(member) = group.members.iter().find(|m| m.id == id) else {
                return self.join_error(to, ErrorCode::UNKNOWN_MEMBER_ID, id);
            };
            let unchanged = member.metadata == metadata_of(join);
            let leads = group.leader.as_deref() == Some(id);
            match group.state {
                // The same metadata again: the member missed its join
                // response; it gets the current generation once more.
                State::CompletingRebalance if unchanged => {
                    let seen = self.group().join_response(id, leads);
                    self.reply(to, seen);
                }
                // A follower with unchanged metadata goes on to SyncGroup;
                // the leader's join asks for a new assignment.
                State::Stable if unchanged && !leads => {
                    let seen = self.group().join_response(id, false);
                    self.reply(to, seen);
                }
                State::PreparingRebalance | State::CompletingRebalance | State::Stable => {
                    let member = self.member_mut(id).expect("found above");
                    member.metadata = metadata_of(join);
                    member.silence_ms = join.session_timeout_ms;
                    member.rebalance_ms = join.rebalance_timeout_ms;
                    // An earlier parked join of the member is dropped unanswered.
                    member.join = Some(to);
                    self.rebalance_or_complete_join();
                }
                State::Empty => unreachable!("an Empty group has no members"),
            }
        }

        fn add_member(&mut self, to: Parked, join: &JoinGroup, id: String) {
            let now = self.now;
            let new_member_deadline = now + self.config.new_member_join_timeout_ms;
            let group = self.group();
            if group.state == State::PreparingRebalance && group.previous == State::Empty {
                group.new_member_added = true;
            }
            if group.members.is_empty() {
                group.protocol_type = Some(join.protocol_type.clone());
            }
            if group.leader.is_none() {
                group.leader = Some(id.clone());
            }
            // A new member cannot heartbeat before its join completes:
            // Kafka bounds its wait by the new-member join timeout.
            group.members.push(Member {
                id,
                metadata: metadata_of(join),
                silence_ms: join.session_timeout_ms,
                rebalance_ms: join.rebalance_timeout_ms,
                join: Some(to),
                sync: None,
                assignment: Vec::new(),
                is_new: true,
                deadline: Some(new_member_deadline),
            });
            self.rebalance_or_complete_join();
        }

        fn member_mut(&mut self, id: &str) -> Option<&mut Member> {
            self.group().members.iter_mut().find(|m| m.id == id)
        }

        /// Kafka's `maybePrepareRebalanceOrCompleteJoin`.
        fn rebalance_or_complete_join(&mut self) {
            match self.group().state {
                State::Empty | State::CompletingRebalance | State::Stable => {
                    self.prepare_rebalance()
                }
                State::PreparingRebalance => self.complete_join_if_ready(),
            }
        }

        /// Kafka's `maybeCompleteJoinPhase` (a `DelayedJoin`'s
        /// `tryComplete`): never during the initial delay
        /// (`InitialDelayedJoin.tryComplete` is false), else once every
        /// member rejoined and no handed-out id is still to join.
        fn complete_join_if_ready(&mut self) {
            let group = self.group();
            if group.state == State::PreparingRebalance
                && group.previous != State::Empty
                && group.all_joined()
            {
                self.complete_join();
            }
        }

        /// Kafka's `prepareRebalance`.
        fn prepare_rebalance(&mut self) {
            let now = self.now;
            let delay_ms = self.config.initial_rebalance_delay_ms;
            if self.group().state == State::CompletingRebalance {
                // Parked syncs are answered REBALANCE_IN_PROGRESS, their deadlines restarted.
                self.propagate(ErrorCode::REBALANCE_IN_PROGRESS);
            }
            let group = self.group();
            group.pending_sync.clear();
            group.sync_timer = None;
            let initial = group.state == State::Empty;
            if initial {
                let remaining_ms = group.rebalance_ms().saturating_sub(delay_ms);
                group.join_timer = Some(JoinTimer {
                    at: now + delay_ms,
                    initial: Some((delay_ms, remaining_ms)),
                });
            }
            group.transition(State::PreparingRebalance);
            if !initial {
                if group.all_joined() {
                    self.complete_join();
                } else {
                    let at = now + group.rebalance_ms();
                    group.join_timer = Some(JoinTimer { at, initial: None });
                }
            }
        }

        /// Kafka's `onCompleteJoin`: members that did not rejoin go, the
        /// generation moves on, each member gets its join response (the
        /// leader with the member list) and the sync wait starts.
        fn complete_join(&mut self) {
            let now = self.now;
            let group = self.group();
            group.join_timer = None;
            let laggards: Vec<String> = (group.members.iter())
                .filter(|m| m.join.is_none())
                .map(|m| m.id.clone())
                .collect();
            for id in laggards {
                self.remove_member(&id);
            }
            let group = self.group();
            group.generation += 1;
            group.pending_sync.clear();
            if group.members.is_empty() {
                group.transition(State::Empty);
                return;
            }
            group.transition(State::CompletingRebalance);
            let mut answers = Vec::new();
            let ids: Vec<String> = group.members.iter().map(|m| m.id.clone()).collect();
            for id in ids {
                let leads = group.leader.as_deref() == Some(id.as_str());
                let seen = group.join_response(&id, leads);
                let member = group
                    .members
                    .iter_mut()
                    .find(|m| m.id == id)
                    .expect("listed");
                member.deadline = Some(now + member.silence_ms);
                member.is_new = false;
                let to = member.join.take().expect("every member left has rejoined");
                answers.push((to, seen));
                group.pending_sync.push(id);
            }
            group.sync_timer = Some((now + group.rebalance_ms(), group.generation));
            for (to, seen) in answers {
                self.reply(to, seen);
            }
        }

        /// Removes a member: its parked join or sync is answered
        /// UNKNOWN_MEMBER_ID, and if it led, the first to have arrived leads.
        fn remove_member(&mut self, id: &str) {
            let group = self.group();
            let at = (group.members.iter())
                .position(|m| m.id == id)
                .expect("a member");
            let member = group.members.remove(at);
            group.pending_sync.retain(|p| p != id);
            if group.leader.as_deref() == Some(id) {
                group.leader = group.members.first().map(|m| m.id.clone());
            }
            if let Some(to) = member.join {
                self.join_error(to, ErrorCode::UNKNOWN_MEMBER_ID, "");
            }
            if let Some(to) = member.sync {
                let seen = Seen::Synced {
                    error: ErrorCode::UNKNOWN_MEMBER_ID,
                    assignment: Vec::new(),
                };
                self.reply(to, seen);
            }
        }

        // SyncGroup.

        fn sync(&mut self, to: Parked, sync: &SyncGroup) {
            let error = |error| Seen::Synced {
                error,
                assignment: Vec::new(),
            };
            let refusal = match &self.group {
                None => Some(ErrorCode::UNKNOWN_MEMBER_ID),
                Some(group) if !group.members.iter().any(|m| m.id == sync.member_id) => {
                    Some(ErrorCode::UNKNOWN_MEMBER_ID)
                }
                Some(group) if sync.generation != group.generation => {
                    Some(ErrorCode::ILLEGAL_GENERATION)
                }
                Some(group) if group.state == State::PreparingRebalance => {
                    Some(ErrorCode::REBALANCE_IN_PROGRESS)
                }
                Some(_) => None,
            };
            if let Some(code) = refusal {
                return self.reply(to, error(code));
            }
            let group = self.group();
            group.pending_sync.retain(|p| *p != sync.member_id);
            match group.state {
                State::CompletingRebalance => {
                    // A later sync of the member replaces its parked one.
                    self.member_mut(&sync.member_id).expect("known").sync = Some(to);
                    let group = self.group();
                    if group.leader.as_deref() == Some(sync.member_id.as_str()) {
                        // Members the leader left out get empty assignments.
                        for member in &mut group.members {
                            let given = (sync.assignments.iter())
                                .find(|a| a.member_id == member.id)
                                .map(|a| a.assignment.to_vec());
                            member.assignment = given.unwrap_or_default();
                        }
                        self.propagate(ErrorCode::NONE);
                        self.group().transition(State::Stable);
                    }
                }
                State::Stable => {
                    let member = self.member_mut(&sync.member_id).expect("known");
                    let seen = Seen::Synced {
                        error: ErrorCode::NONE,
                        assignment: member.assignment.clone(),
                    };
                    self.reply(to, seen);
                }
                State::Empty | State::PreparingRebalance => unreachable!("refused above"),
            }
        }

        /// Answers every parked sync (with its assignment, or `error`) and
        /// restarts the heartbeat deadline of each member answered.
        fn propagate(&mut self, error: ErrorCode) {
            let now = self.now;
            let mut answers = Vec::new();
            for member in &mut self.group().members {
                if let Some(to) = member.sync.take() {
                    let assignment = if error == ErrorCode::NONE {
                        member.assignment.clone()
                    } else {
                        Vec::new()
                    };
                    answers.push((to, Seen::Synced { error, assignment }));
                    member.deadline = Some(now + member.silence_ms);
                }
            }
            for (to, seen) in answers {
                self.reply(to, seen);
            }
        }

        // Heartbeat.

        fn heartbeat(&mut self, to: Parked, heartbeat: &Heartbeat) {
            let now = self.now;
            let error = match self.group.as_mut() {
                None => ErrorCode::UNKNOWN_MEMBER_ID,
                Some(group) => {
                    let generation = group.generation;
                    let state = group.state;
                    let member = (group.members.iter_mut()).find(|m| m.id == heartbeat.member_id);
                    match member {
                        None => ErrorCode::UNKNOWN_MEMBER_ID,
                        Some(_) if heartbeat.generation != generation => {
                            ErrorCode::ILLEGAL_GENERATION
                        }
                        Some(member) => {
                            member.deadline = Some(now + member.silence_ms);
                            if state == State::PreparingRebalance {
                                ErrorCode::REBALANCE_IN_PROGRESS
                            } else {
                                ErrorCode::NONE
                            }
                        }
                    }
                }
            };
            self.reply(to, Seen::Heartbeat(error));
        }

        // LeaveGroup.

        fn leave(&mut self, to: Parked, leave: &LeaveGroup) {
            if self.group.is_none() {
                // Kafka (`GroupCoordinator.handleLeaveGroup`): no error for
                // the request, UNKNOWN_MEMBER_ID for each member.
                let members = (leave.members.iter())
                    .map(|m| (m.member_id.clone(), ErrorCode::UNKNOWN_MEMBER_ID))
                    .collect();
                let seen = Seen::Left {
                    error: ErrorCode::NONE,
                    members,
                };
                return self.reply(to, seen);
            }
            let mut members = Vec::new();
            for leaving in &leave.members {
                let id = leaving.member_id.as_str();
                let group = self.group();
                let error = if let Some(at) = group.pending.iter().position(|(p, _)| p == id) {
                    group.pending.remove(at);
                    ErrorCode::NONE
                } else if !id.is_empty() && group.members.iter().any(|m| m.id == id) {
                    self.remove_member(id);
                    ErrorCode::NONE
                } else {
                    ErrorCode::UNKNOWN_MEMBER_ID
                };
                members.push((id.to_owned(), error));
            }
            if members.iter().any(|(_, error)| *error == ErrorCode::NONE) {
                match self.group().state {
                    State::Stable | State::CompletingRebalance => self.rebalance_or_complete_join(),
                    State::PreparingRebalance => self.complete_join_if_ready(),
                    State::Empty => {}
                }
            }
            let error = ErrorCode::NONE;
            self.reply(to, Seen::Left { error, members });
        }

        // OffsetCommit and OffsetFetch.

        fn commit(&mut self, to: Parked, commit: &OffsetCommit) {
            let mut outcomes = Vec::new();
            for partition in &commit.partitions {
                // KafkaApis answers a partition of an unknown topic itself;
                // the coordinator sees only the known ones.
                let known = u32::try_from(partition.partition)
                    .ok()
                    .and_then(|p| self.log(&partition.topic, p))
                    .is_some();
                let error = if known {
                    self.commit_one(commit, partition)
                } else {
                    ErrorCode(StreamError::UnknownTopicOrPartition.code())
                };
                outcomes.push((partition.topic.clone(), partition.partition, error));
            }
            self.reply(to, Seen::Committed(outcomes));
        }

        fn commit_one(&mut self, commit: &OffsetCommit, partition: &CommitPartition) -> ErrorCode {
            let now = self.now;
            if self.group.is_none() {
                if commit.generation >= 0 {
                    // A missing group, before OffsetCommit v9.
                    return ErrorCode::ILLEGAL_GENERATION;
                }
                // A commit outside group management makes a "simple" group.
                self.group = Some(Model::new_group());
            }
            let group = self.group();
            if let Err(error) = group.validate_offset_commit(commit) {
                return error;
            }
            // A commit keeps its member alive in Stable and PreparingRebalance.
            let keeps_alive = matches!(group.state, State::Stable | State::PreparingRebalance);
            let member = (group.members.iter_mut()).find(|m| m.id == commit.member_id);
            if let (true, Some(member)) = (keeps_alive, member) {
                member.deadline = Some(now + member.silence_ms);
            }
            let key = (partition.topic.clone(), partition.partition);
            group.offsets.insert(key, partition.offset);
            ErrorCode::NONE
        }

        fn offset_fetch(&mut self, to: Parked, fetch: &OffsetFetch) {
            let offsets = match self.group.as_ref().filter(|_| fetch.group == GROUP) {
                Some(group) => group.offsets.clone(),
                None => BTreeMap::new(),
            };
            let listed = match &fetch.partitions {
                Some(asked) => (asked.iter())
                    .map(|(t, p)| (t.clone(), *p, *offsets.get(&(t.clone(), *p)).unwrap_or(&-1)))
                    .collect(),
                None => (offsets.into_iter())
                    .map(|((t, p), offset)| (t, p, offset))
                    .collect(),
            };
            let error = ErrorCode::NONE;
            self.reply(
                to,
                Seen::OffsetsFetched {
                    error,
                    offsets: listed,
                },
            );
        }

        // Time.

        /// The earliest deadline, if any.
        pub fn next_deadline(&self) -> Option<u64> {
            self.next_timer().map(|(at, _)| at)
        }

        fn next_timer(&self) -> Option<(u64, Timer)> {
            let group = self.group.as_ref()?;
            let members = (group.members.iter())
                .filter_map(|m| Some((m.deadline?, Timer::Heartbeat(m.id.clone()))));
            let pending =
                (group.pending.iter()).map(|(id, at)| (*at, Timer::Heartbeat(id.clone())));
            let join = (group.join_timer.iter()).map(|t| (t.at, Timer::Join));
            let sync = (group.sync_timer.iter()).map(|(at, _)| (*at, Timer::Sync));
            members.chain(pending).chain(join).chain(sync).min()
        }

        /// Runs every deadline due by now, earliest first.
        pub fn fire_due(&mut self) {
            while let Some((at, timer)) = self.next_timer().filter(|(at, _)| *at <= self.now) {
                match timer {
                    Timer::Heartbeat(id) => self.fire_heartbeat(&id, at),
                    Timer::Join => self.fire_join(),
                    Timer::Sync => self.fire_sync(),
                }
            }
        }

        /// A heartbeat deadline passed: a handed-out id lapses; a member
        /// that is new or has nothing parked is removed (Kafka's
        /// `onExpireHeartbeat`, `hasSatisfiedHeartbeat`).
        fn fire_heartbeat(&mut self, id: &str, at: u64) {
            let group = self.group();
            if let Some(index) = group.pending.iter().position(|(p, d)| p == id && *d == at) {
                group.pending.remove(index);
                self.complete_join_after_expiry();
                return;
            }
            let member = self.member_mut(id).expect("a member's deadline");
            member.deadline = None;
            let excused = !member.is_new && (member.join.is_some() || member.sync.is_some());
            if excused {
                return;
            }
            self.remove_member(id);
            match self.group().state {
                State::Stable | State::CompletingRebalance => self.rebalance_or_complete_join(),
                State::PreparingRebalance => self.complete_join_after_expiry(),
                State::Empty => {}
            }
        }

        /// After an expiry in PreparingRebalance: Kafka's
        /// `checkAndComplete` on the join, which never completes the
        /// initial delay early.
        fn complete_join_after_expiry(&mut self) {
            self.complete_join_if_ready();
        }

        /// The join phase's deadline: the initial delay goes on while
        /// members keep arriving and rebalance time remains, else the
        /// join completes.
        fn fire_join(&mut self) {
            let now = self.now;
            let delay_ms = self.config.initial_rebalance_delay_ms;
            let group = self.group();
            let timer = group.join_timer.take().expect("armed");
            match timer.initial {
                Some((this_delay, remaining)) if group.new_member_added && remaining != 0 => {
                    group.new_member_added = false;
                    let next_delay = delay_ms.min(remaining);
                    group.join_timer = Some(JoinTimer {
                        at: now + next_delay,
                        initial: Some((next_delay, remaining.saturating_sub(this_delay))),
                    });
                }
                _ => self.complete_join(),
            }
        }

        /// The sync wait ended: members of this generation that never
        /// synced are removed and the group rebalances without them.
        fn fire_sync(&mut self) {
            let group = self.group();
            let (_, generation) = group.sync_timer.take().expect("armed");
            let syncing = matches!(group.state, State::CompletingRebalance | State::Stable);
            if generation != group.generation || !syncing || group.pending_sync.is_empty() {
                return;
            }
            for id in std::mem::take(&mut group.pending_sync) {
                self.remove_member(&id);
            }
            self.prepare_rebalance();
        }
    }

    fn metadata_of(join: &JoinGroup) -> Vec<u8> {
        (join.protocols.iter())
            .find(|p| p.name == PROTOCOL)
            .map(|p| p.metadata.to_vec())
            .unwrap_or_default()
    }

    impl Group {
        fn transition(&mut self, next: State) {
            self.previous = self.state;
            self.state = next;
        }

        /// Kafka's `supportsProtocols`, with one protocol common to all.
        fn supports(&self, protocol_type: &str) -> bool {
            if self.state == State::Empty {
                !protocol_type.is_empty()
            } else {
                self.protocol_type.as_deref() == Some(protocol_type)
            }
        }

        fn all_joined(&self) -> bool {
            self.members.iter().all(|m| m.join.is_some()) && self.pending.is_empty()
        }

        fn rebalance_ms(&self) -> u64 {
            self.members
                .iter()
                .map(|m| m.rebalance_ms)
                .max()
                .unwrap_or(0)
        }

        fn join_response(&self, id: &str, with_members: bool) -> Seen {
            let mut members: Vec<(String, Vec<u8>)> = Vec::new();
            if with_members {
                members = (self.members.iter())
                    .map(|m| (m.id.clone(), m.metadata.clone()))
                    .collect();
                members.sort();
            }
            Seen::Joined {
                error: ErrorCode::NONE,
                generation: self.generation,
                member_id: id.to_owned(),
                leader: self.leader.clone().unwrap_or_default(),
                protocol: Some(PROTOCOL.to_owned()),
                members,
            }
        }

        /// Kafka's `validateOffsetCommit`.
        fn validate_offset_commit(&self, commit: &OffsetCommit) -> Result<(), ErrorCode> {
            if commit.generation < 0 && self.state == State::Empty {
                return Ok(());
            }
            if commit.generation >= 0 || !commit.member_id.is_empty() {
                if !self.members.iter().any(|m| m.id == commit.member_id) {
                    return Err(ErrorCode::UNKNOWN_MEMBER_ID);
                }
                if commit.generation != self.generation {
                    return Err(ErrorCode::ILLEGAL_GENERATION);
                }
            } else if self.state != State::Empty {
                return Err(ErrorCode::UNKNOWN_MEMBER_ID);
            }
            if self.state == State::CompletingRebalance {
                return Err(ErrorCode::REBALANCE_IN_PROGRESS);
            }
            Ok(())
        }
    }
}

// The ops and the driver.

/// Who a client says it is in a sync, heartbeat, commit or leave.
#[derive(Clone, Copy, Debug)]
enum Who {
    /// Its member id and the generation it joined.
    Itself,
    /// Its member id and the generation before.
    Stale,
    /// Its member id and the generation after.
    Ahead,
    /// A member id nobody was given.
    Stranger,
    /// Outside group management: no member id, generation -1 (commits only).
    Simple,
}

#[derive(Clone, Debug)]
enum Op {
    CreateTopic {
        topic: usize,
        partitions: u32,
    },
    Produce {
        topic: usize,
        partition: u32,
        records: usize,
    },
    /// Reads each (topic, partition) at `back` offsets before one past its end.
    Fetch {
        reads: Vec<(usize, u32, u64)>,
    },
    ListOffsets {
        topic: usize,
        partition: u32,
        latest: bool,
    },
    Join {
        client: usize,
        /// Join as new (no member id) even if the client has one.
        fresh: bool,
        require_known: bool,
        metadata: u8,
        other_type: bool,
        /// The join's `session_timeout_ms`.
        silence_ms: u64,
        rebalance_ms: u64,
    },
    Sync {
        client: usize,
        who: Who,
        /// The leader leaves the last member out of its assignment.
        omit_one: bool,
    },
    Heartbeat {
        client: usize,
        who: Who,
    },
    Commit {
        client: usize,
        who: Who,
        topic: usize,
        partition: i32,
        offset: i64,
    },
    FetchOffsets {
        other_group: bool,
        asked: Option<Vec<(usize, i32)>>,
    },
    Leave {
        client: usize,
        who: Who,
    },
    Advance {
        ms: u64,
    },
    /// The client's next step as a well-behaved consumer takes it: join
    /// (again), sync after a join, heartbeat once synced.
    Poll {
        client: usize,
    },
}

fn who() -> impl Strategy<Value = Who> {
    prop_oneof![
        12 => Just(Who::Itself),
        1 => Just(Who::Stale),
        1 => Just(Who::Ahead),
        1 => Just(Who::Stranger),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let client = 0..CLIENTS;
    let topic = prop_oneof![4 => Just(0usize), 1 => Just(1usize), 1 => Just(2usize)];
    prop_oneof![
        1 => (1..3usize, 0..4u32).prop_map(|(topic, partitions)| Op::CreateTopic { topic, partitions }),
        3 => (topic.clone(), 0..3u32, 1..4usize)
            .prop_map(|(topic, partition, records)| Op::Produce { topic, partition, records }),
        3 => prop::collection::vec((topic.clone(), 0..3u32, 0..5u64), 1..3)
            .prop_map(|reads| Op::Fetch { reads }),
        1 => (topic.clone(), 0..3u32, any::<bool>())
            .prop_map(|(topic, partition, latest)| Op::ListOffsets { topic, partition, latest }),
        8 => (
            client.clone(),
            prop::bool::weighted(0.1),
            prop::bool::weighted(0.25),
            prop_oneof![9 => Just(0u8), 1 => Just(1u8)],
            prop::bool::weighted(0.1),
            prop_oneof![6 => Just(10_000u64), 3 => Just(6_000u64), 1 => Just(1_000u64)],
            prop_oneof![1 => Just(2_000u64), 3 => Just(9_000u64), 3 => Just(30_000u64)],
        )
            .prop_map(
                |(client, fresh, require_known, metadata, other_type, silence_ms, rebalance_ms)| {
                    Op::Join {
                        client,
                        fresh,
                        require_known,
                        metadata,
                        other_type,
                        silence_ms,
                        rebalance_ms,
                    }
                }
            ),
        5 => (client.clone(), who(), prop::bool::weighted(0.2))
            .prop_map(|(client, who, omit_one)| Op::Sync { client, who, omit_one }),
        4 => (client.clone(), who()).prop_map(|(client, who)| Op::Heartbeat { client, who }),
        3 => (
            client.clone(),
            prop_oneof![5 => who(), 1 => Just(Who::Simple)],
            topic.clone(),
            0..3i32,
            0..20i64,
        )
            .prop_map(|(client, who, topic, partition, offset)| Op::Commit {
                client,
                who,
                topic,
                partition,
                offset,
            }),
        2 => (
            prop::bool::weighted(0.2),
            prop::option::weighted(0.7, prop::collection::vec((topic, 0..3i32), 1..3)),
        )
            .prop_map(|(other_group, asked)| Op::FetchOffsets { other_group, asked }),
        2 => (client.clone(), who()).prop_map(|(client, who)| Op::Leave { client, who }),
        16 => client.prop_map(|client| Op::Poll { client }),
        6 => prop_oneof![
            5 => 0..1_500u64,
            4 => 2_500..3_500u64,
            2 => 5_000..12_000u64,
            1 => 25_000..35_000u64,
            1 => Just(300_000u64),
        ]
        .prop_map(|ms| Op::Advance { ms }),
    ]
}

/// What a well-behaved client sends next (`Op::Poll`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Next {
    #[default]
    Join,
    Sync,
    Heartbeat,
}

/// What a client knows from its replies.
#[derive(Clone, Debug, Default)]
struct Client {
    member_id: String,
    generation: i32,
    /// The member list of its last join response, when it led.
    members: Vec<String>,
    next: Next,
    /// The request (a join or sync) it waits the answer to, if any.
    waiting: Option<u64>,
}

impl Client {
    fn learn(&mut self, seen: &Seen) {
        if let Seen::Joined {
            error,
            generation,
            member_id,
            members,
            ..
        } = seen
        {
            match *error {
                ErrorCode::NONE => {
                    self.member_id.clone_from(member_id);
                    self.generation = *generation;
                    self.members = members.iter().map(|(id, _)| id.clone()).collect();
                    self.next = Next::Sync;
                }
                ErrorCode::MEMBER_ID_REQUIRED => self.member_id.clone_from(member_id),
                ErrorCode::UNKNOWN_MEMBER_ID => *self = Client::default(),
                _ => {}
            }
        }
        let error = match seen {
            Seen::Synced { error, .. } | Seen::Heartbeat(error) => *error,
            _ => return,
        };
        match error {
            ErrorCode::NONE => self.next = Next::Heartbeat,
            ErrorCode::REBALANCE_IN_PROGRESS | ErrorCode::ILLEGAL_GENERATION => {
                self.next = Next::Join
            }
            _ => {}
        }
    }

    fn identity(&self, who: Who) -> (String, i32) {
        match who {
            Who::Itself => (self.member_id.clone(), self.generation),
            Who::Stale => (self.member_id.clone(), self.generation - 1),
            Who::Ahead => (self.member_id.clone(), self.generation + 1),
            Who::Stranger => ("stranger-1".to_owned(), self.generation),
            Who::Simple => (String::new(), -1),
        }
    }
}

/// The broker under test, its model (when checked), a twin broker fed the
/// same inputs (when determinism is checked), and the clients.
struct Run {
    h: Harness,
    model: Option<model::Model>,
    twin: Option<Harness>,
    clients: Vec<Client>,
    next_request: u64,
    next_value: u64,
    /// The requests a client sent as itself, by request id.
    sent_as_itself: Vec<u64>,
    /// How often each kind of outcome was seen (see `outcome`).
    outcomes: BTreeMap<String, usize>,
}

fn broker_config() -> Config {
    Config {
        events: true,
        ..Config::default()
    }
}

impl Run {
    fn new(with_model: bool, with_twin: bool) -> Run {
        let h = Harness::new(broker_config());
        let model = with_model.then(|| model::Model::new(h.broker.config().groups, h.now_ms));
        let twin = with_twin.then(|| Harness::new(broker_config()));
        let mut run = Run {
            h,
            model,
            twin,
            clients: vec![Client::default(); CLIENTS],
            next_request: 0,
            next_value: 0,
            sent_as_itself: Vec::new(),
            outcomes: BTreeMap::new(),
        };
        run.request(
            STREAM_CONN,
            StreamCommand::CreateTopic {
                topic: TOPICS[0].into(),
                partitions: 2,
                config: plain_topic(),
            },
        );
        run
    }

    /// Feeds one input, then lets the store sync what it logged; the twin
    /// must answer exactly as the broker did and end in the same state.
    fn feed(&mut self, input: Input) -> Step {
        let mut step = self.h.input(input.clone());
        let upto = self.h.log.last().map_or(0, |record| record.lsn);
        let synced = Input::Synced { upto };
        step.extend(self.h.input(synced.clone()));
        if let Some(twin) = &mut self.twin {
            twin.now_ms = self.h.now_ms;
            let mut again = twin.input(input);
            again.extend(twin.input(synced));
            assert_eq!(step.outputs, again.outputs, "the same input, other outputs");
            assert_eq!(step.events, again.events, "the same input, other events");
            assert!(
                self.h.broker == twin.broker,
                "the same inputs left two brokers in different states"
            );
        }
        step
    }

    /// Sends a command as a new request; returns what was answered in the step.
    fn request(&mut self, conn: u64, command: StreamCommand) -> Vec<Answer> {
        self.next_request += 1;
        let request = self.next_request;
        let input = Input::Stream {
            conn: ConnectionId(conn),
            request,
            command: Box::new(command.clone()),
        };
        let step = self.feed(input);
        if let Some(model) = &mut self.model {
            model.now = self.h.now_ms;
            model.handle(conn, request, &command);
        }
        let answers = self.answers(&step, |asked_request| {
            (asked_request == request).then(|| command.clone())
        });
        self.check(&answers);
        answers
    }

    /// The step's stream replies, projected. A reply to an earlier
    /// request (a join or sync answered later) is always a group reply.
    fn answers(
        &self,
        step: &Step,
        command_of: impl Fn(u64) -> Option<StreamCommand>,
    ) -> Vec<Answer> {
        let mut answers: Vec<Answer> = (step.stream_replies().into_iter())
            .map(|(conn, request, reply)| {
                let asked = command_of(request)
                    .unwrap_or(StreamCommand::Group(GroupRequest::List { states: vec![] }));
                project(conn, request, reply, &asked)
            })
            .collect();
        answers.sort_by_key(|a| (a.0, a.1));
        answers
    }

    /// Compares the step's replies (and the group's state) with the model's,
    /// and lets the clients learn from them.
    fn check(&mut self, answers: &[Answer]) {
        if let Some(model) = &mut self.model {
            let mut expected = model.take_replies();
            expected.sort_by_key(|a| (a.0, a.1));
            assert_eq!(
                answers,
                &expected[..],
                "the broker's replies, then the model's"
            );
            let groups = self.h.broker.groups();
            let (state, generation, members) = match &model.group {
                None => (None, None, Vec::new()),
                Some(group) => {
                    let mut ids: Vec<&str> = group.members.iter().map(|m| m.id.as_str()).collect();
                    ids.sort();
                    (Some(group.state.core()), Some(group.generation), ids)
                }
            };
            assert_eq!(groups.group_state(GROUP), state, "the group's state");
            assert_eq!(
                groups.generation(GROUP),
                generation,
                "the group's generation"
            );
            assert_eq!(groups.members(GROUP).collect::<Vec<_>>(), members);
        }
        let state = self.h.broker.groups().group_state(GROUP);
        *self.outcomes.entry(format!("{state:?}")).or_default() += 1;
        for (conn, request, seen) in answers {
            *self.outcomes.entry(outcome(seen)).or_default() += 1;
            if let Some(client) = self.clients.get_mut((*conn as usize).wrapping_sub(1)) {
                if client.waiting == Some(*request) {
                    client.waiting = None;
                }
                client.learn(seen);
                // Told its own member id is unknown, a client forgets it (and joins anew).
                if self.sent_as_itself.contains(request) && unknown_member(seen) {
                    *client = Client::default();
                }
            }
        }
    }

    /// Lets `ms` pass, stopping at each deadline of the broker's or the
    /// model's on the way, so each fires at its own time.
    fn advance(&mut self, ms: u64) {
        let end = self.h.now_ms + ms;
        loop {
            let broker_next = (self.h.broker.poll_timeout()).map(|at| at.0.div_ceil(1_000_000));
            let model_next = self.model.as_ref().and_then(model::Model::next_deadline);
            let next = [broker_next, model_next]
                .into_iter()
                .flatten()
                .filter(|at| *at > self.h.now_ms && *at < end)
                .min();
            let Some(at) = next else { break };
            self.tick(at);
        }
        self.tick(end);
    }

    fn tick(&mut self, at: u64) {
        self.h.now_ms = at;
        let step = self.feed(Input::Timeout);
        if let Some(model) = &mut self.model {
            model.now = at;
            model.fire_due();
        }
        let answers = self.answers(&step, |_| None);
        self.check(&answers);
    }

    fn run(&mut self, op: &Op) {
        let polled = match op {
            Op::Poll { client } => {
                let polled = self.poll(*client);
                if matches!(polled, Op::Join { .. } | Op::Sync { .. }) {
                    self.clients[*client].waiting = Some(self.next_request + 1);
                }
                Some(polled)
            }
            _ => None,
        };
        match polled.as_ref().unwrap_or(op) {
            Op::Advance { ms } => self.advance(*ms),
            op => {
                let (conn, command) = self.command(op);
                let who = match op {
                    Op::Sync { who, .. }
                    | Op::Heartbeat { who, .. }
                    | Op::Commit { who, .. }
                    | Op::Leave { who, .. } => Some(*who),
                    _ => None,
                };
                if matches!(who, Some(Who::Itself)) {
                    self.sent_as_itself.push(self.next_request + 1);
                }
                self.request(conn, command);
            }
        }
    }

    fn command(&mut self, op: &Op) -> (u64, StreamCommand) {
        let client_conn = |client: usize| client as u64 + 1;
        match op {
            Op::CreateTopic { topic, partitions } => {
                let command = StreamCommand::CreateTopic {
                    topic: TOPICS[*topic].into(),
                    partitions: *partitions,
                    config: plain_topic(),
                };
                (STREAM_CONN, command)
            }
            Op::Produce {
                topic,
                partition,
                records,
            } => {
                let values = (0..*records).map(|_| {
                    self.next_value += 1;
                    record(&format!("v{}", self.next_value), 0)
                });
                let command = StreamCommand::Produce {
                    topic: TOPICS[*topic].into(),
                    partition: *partition,
                    acks: Acks::Appended,
                    batch: ProducedBatch::plain(values.collect()),
                };
                (STREAM_CONN, command)
            }
            Op::Fetch { reads } => {
                let partitions = reads.iter().map(|&(topic, partition, back)| {
                    let end = self.log_end(TOPICS[topic], partition);
                    FetchPartition {
                        topic: TOPICS[topic].into(),
                        partition,
                        offset: (end + 1).saturating_sub(back),
                        max_bytes: u64::MAX,
                    }
                });
                let command = StreamCommand::Fetch {
                    partitions: partitions.collect(),
                    max_wait_ms: 0,
                    min_bytes: 1,
                    max_bytes: u64::MAX,
                };
                (STREAM_CONN, command)
            }
            Op::ListOffsets {
                topic,
                partition,
                latest,
            } => {
                let spec = if *latest {
                    OffsetSpec::Latest
                } else {
                    OffsetSpec::Earliest
                };
                let command = StreamCommand::ListOffsets {
                    topic: TOPICS[*topic].into(),
                    partition: *partition,
                    spec,
                };
                (STREAM_CONN, command)
            }
            Op::Join {
                client,
                fresh,
                require_known,
                metadata,
                other_type,
                silence_ms,
                rebalance_ms,
            } => {
                let known = &self.clients[*client].member_id;
                let join = JoinGroup {
                    group: GROUP.into(),
                    member_id: if *fresh { String::new() } else { known.clone() },
                    group_instance_id: None,
                    client_id: format!("c{client}"),
                    session_timeout_ms: *silence_ms,
                    rebalance_timeout_ms: *rebalance_ms,
                    protocol_type: if *other_type { OTHER_TYPE } else { CONSUMER }.into(),
                    protocols: vec![JoinProtocol {
                        name: PROTOCOL.into(),
                        metadata: vec![*metadata].into(),
                    }],
                    require_known_member_id: *require_known,
                };
                (client_conn(*client), group(GroupRequest::Join(join)))
            }
            Op::Sync {
                client,
                who,
                omit_one,
            } => {
                let client = &self.member_client(*client);
                let me = &self.clients[*client];
                let (member_id, generation) = me.identity(*who);
                // A leader deals the partitions of topic `a` out in turn.
                let mut members = me.members.clone();
                if *omit_one {
                    members.pop();
                }
                let assignments = members.iter().enumerate().map(|(index, id)| {
                    let partitions: Vec<String> = (0..2)
                        .filter(|p| p % members.len() == index)
                        .map(|p| format!("a-{p}"))
                        .collect();
                    SyncAssignment {
                        member_id: id.clone(),
                        assignment: partitions.join(",").into_bytes().into(),
                    }
                });
                let sync = SyncGroup {
                    group: GROUP.into(),
                    generation,
                    member_id,
                    group_instance_id: None,
                    protocol_type: None,
                    protocol_name: None,
                    assignments: assignments.collect(),
                };
                (client_conn(*client), group(GroupRequest::Sync(sync)))
            }
            Op::Heartbeat { client, who } => {
                let client = &self.member_client(*client);
                let (member_id, generation) = self.clients[*client].identity(*who);
                let heartbeat = Heartbeat {
                    group: GROUP.into(),
                    generation,
                    member_id,
                    group_instance_id: None,
                };
                (
                    client_conn(*client),
                    group(GroupRequest::Heartbeat(heartbeat)),
                )
            }
            Op::Commit {
                client,
                who,
                topic,
                partition,
                offset,
            } => {
                let client = &self.member_client(*client);
                let (member_id, generation) = self.clients[*client].identity(*who);
                let commit = OffsetCommit {
                    group: GROUP.into(),
                    generation,
                    member_id,
                    group_instance_id: None,
                    partitions: vec![CommitPartition {
                        topic: TOPICS[*topic].into(),
                        partition: *partition,
                        offset: *offset,
                        metadata: String::new(),
                    }],
                };
                (
                    client_conn(*client),
                    group(GroupRequest::OffsetCommit(commit)),
                )
            }
            Op::FetchOffsets { other_group, asked } => {
                let fetch = OffsetFetch {
                    group: if *other_group { OTHER_GROUP } else { GROUP }.into(),
                    partitions: asked.as_ref().map(|asked| {
                        (asked.iter())
                            .map(|(topic, partition)| (TOPICS[*topic].to_owned(), *partition))
                            .collect()
                    }),
                };
                (STREAM_CONN, group(GroupRequest::OffsetFetch(fetch)))
            }
            Op::Leave { client, who } => {
                let client = &self.member_client(*client);
                let (member_id, _) = self.clients[*client].identity(*who);
                let leave = LeaveGroup {
                    group: GROUP.into(),
                    members: vec![LeavingMember {
                        member_id,
                        group_instance_id: None,
                    }],
                };
                (client_conn(*client), group(GroupRequest::Leave(leave)))
            }
            Op::Advance { .. } | Op::Poll { .. } => unreachable!("no request of its own"),
        }
    }

    /// What a well-behaved client sends next.
    fn poll(&self, client: usize) -> Op {
        let who = Who::Itself;
        if self.clients[client].waiting.is_some() {
            // It waits for its answer.
            return Op::Advance { ms: 500 };
        }
        match self.clients[client].next {
            Next::Join => Op::Join {
                client,
                fresh: false,
                require_known: false,
                metadata: 0,
                other_type: false,
                silence_ms: 10_000,
                rebalance_ms: 30_000,
            },
            Next::Sync => Op::Sync {
                client,
                who,
                omit_one: false,
            },
            Next::Heartbeat => Op::Heartbeat { client, who },
        }
    }

    /// The first client from `client` on (in turn) that has a member id,
    /// else `client`: requests that need one mostly come from clients that have one.
    fn member_client(&self, client: usize) -> usize {
        (0..CLIENTS)
            .map(|k| (client + k) % CLIENTS)
            .find(|k| !self.clients[*k].member_id.is_empty())
            .unwrap_or(client)
    }

    /// A partition's log end as the broker reports it (0 for an unknown one).
    fn log_end(&self, topic: &str, partition: u32) -> u64 {
        let streams = self.h.broker.streams();
        let partitions = streams.topic(topic).map(|t| t.partitions());
        let partition = partitions.and_then(|p| p.get(partition as usize));
        partition.map_or(0, |p| p.log_end_offset())
    }
}

fn unknown_member(seen: &Seen) -> bool {
    let unknown = ErrorCode::UNKNOWN_MEMBER_ID;
    match seen {
        Seen::Synced { error, .. } | Seen::Heartbeat(error) => *error == unknown,
        Seen::Committed(partitions) => partitions.iter().any(|p| p.2 == unknown),
        _ => false,
    }
}

/// A reply's kind and error, as the coverage check counts them.
fn outcome(seen: &Seen) -> String {
    let code = |result: Result<(), StreamError>| match result {
        Ok(()) => "NONE".to_owned(),
        Err(error) => error.name().to_owned(),
    };
    match seen {
        Seen::TopicCreated(_, result) => format!("create {}", code(*result)),
        Seen::Produced(_, _, result) => format!("produce {}", code(result.map(|_| ()))),
        Seen::Fetched(reads) => {
            let (_, _, first) = &reads[0];
            match first {
                Ok(read) if read.records.is_empty() => "fetch NONE, no records".to_owned(),
                Ok(_) => "fetch NONE, records".to_owned(),
                Err(error) => format!("fetch {}", error.name()),
            }
        }
        Seen::Listed(_, _, result) => format!("list {}", code(result.map(|_| ()))),
        Seen::Joined {
            error,
            member_id,
            leader,
            ..
        } if *error == ErrorCode::NONE && member_id == leader => "join NONE, leader".to_owned(),
        Seen::Joined { error, .. } => format!("join {error:?}"),
        Seen::Synced { error, assignment } if assignment.is_empty() => {
            format!("sync {error:?}, empty")
        }
        Seen::Synced { error, .. } => format!("sync {error:?}, assigned"),
        Seen::Heartbeat(error) => format!("heartbeat {error:?}"),
        Seen::Left { error, members } => match members.first() {
            Some((_, member_error)) => format!("leave {member_error:?}"),
            None => format!("leave {error:?}"),
        },
        Seen::Committed(partitions) => format!("commit {:?}", partitions[0].2),
        Seen::OffsetsFetched { offsets, .. } => match offsets.iter().any(|o| o.2 >= 0) {
            true => "offset fetch, committed".to_owned(),
            false => "offset fetch, none".to_owned(),
        },
    }
}

fn group(request: GroupRequest) -> StreamCommand {
    StreamCommand::Group(request)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn stream_and_group_replies_agree_with_a_plain_model(ops in prop::collection::vec(op(), 1..60)) {
        let mut run = Run::new(true, false);
        for op in &ops {
            run.run(op);
        }
    }

    #[test]
    fn same_stream_inputs_give_the_same_outputs(ops in prop::collection::vec(op(), 1..60)) {
        let mut run = Run::new(false, true);
        for op in &ops {
            run.run(op);
        }
    }
}

/// The outcomes the random ops must reach within the coverage run, so
/// that agreement is not agreement on nothing.
const OUTCOMES_REACHED: [&str; 20] = [
    "Some(CompletingRebalance)",
    "Some(Stable)",
    "join NONE, leader",
    "join NONE",
    "join MEMBER_ID_REQUIRED",
    "join INCONSISTENT_GROUP_PROTOCOL",
    "join UNKNOWN_MEMBER_ID",
    "sync NONE, assigned",
    "sync ILLEGAL_GENERATION, empty",
    "sync REBALANCE_IN_PROGRESS, empty",
    "heartbeat NONE",
    "heartbeat REBALANCE_IN_PROGRESS",
    "commit NONE",
    "commit ILLEGAL_GENERATION",
    "commit REBALANCE_IN_PROGRESS",
    "leave NONE",
    "offset fetch, committed",
    "fetch NONE, records",
    "fetch OFFSET_OUT_OF_RANGE",
    "fetch UNKNOWN_TOPIC_OR_PARTITION",
];

#[test]
fn the_random_ops_reach_every_group_state_and_the_errors_compared() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let ops = prop::collection::vec(op(), 1..60);
    let mut reached: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..128 {
        let ops = ops.new_tree(&mut runner).expect("a case").current();
        let mut run = Run::new(true, false);
        for op in &ops {
            run.run(op);
        }
        for (outcome, count) in run.outcomes {
            *reached.entry(outcome).or_default() += count;
        }
    }
    for outcome in OUTCOMES_REACHED {
        assert!(
            reached.contains_key(outcome),
            "never reached: {outcome} (reached: {reached:?})"
        );
    }
}

// Where the core differed from Kafka until this model found it: each test
// asserts Kafka's behaviour.

#[test]
fn an_offset_commit_for_an_unknown_topic_or_partition_is_unknown_topic_or_partition() {
    let mut run = Run::new(false, false);
    let unknown = ErrorCode(StreamError::UnknownTopicOrPartition.code());
    // KafkaApis.handleOffsetCommitRequest answers such partitions itself.
    for (topic, partition) in [("b", 0), ("a", 5)] {
        let commit = OffsetCommit {
            group: GROUP.into(),
            generation: -1,
            member_id: String::new(),
            group_instance_id: None,
            partitions: vec![CommitPartition {
                topic: topic.into(),
                partition,
                offset: 3,
                metadata: String::new(),
            }],
        };
        let answers = run.request(1, group(GroupRequest::OffsetCommit(commit)));
        let expected = Seen::Committed(vec![(topic.to_owned(), partition, unknown)]);
        assert_eq!(answers[0].2, expected);
    }
    let committed = run.h.broker.groups().committed_offset(GROUP, "b", 0);
    assert_eq!(
        committed, None,
        "nothing is committed for a topic that does not exist"
    );
}

#[test]
fn a_leave_from_a_missing_group_reports_each_member_unknown() {
    let mut run = Run::new(false, false);
    let leave = LeaveGroup {
        group: GROUP.into(),
        members: vec![LeavingMember {
            member_id: "c0-1".into(),
            group_instance_id: None,
        }],
    };
    let answers = run.request(1, group(GroupRequest::Leave(leave)));
    // GroupCoordinator.handleLeaveGroup: NONE for the request, each member UNKNOWN_MEMBER_ID.
    let expected = Seen::Left {
        error: ErrorCode::NONE,
        members: vec![("c0-1".into(), ErrorCode::UNKNOWN_MEMBER_ID)],
    };
    assert_eq!(answers[0].2, expected);
}

#[test]
fn a_lapsed_member_id_does_not_end_the_initial_rebalance_delay_early() {
    let mut run = Run::new(false, false);
    let join = |client, require_known| Op::Join {
        client,
        fresh: false,
        require_known,
        metadata: 0,
        other_type: false,
        silence_ms: 10_000,
        rebalance_ms: 30_000,
    };
    // Client 0 is handed an id, which lapses 10 s later, and never joins with it.
    run.run(&join(0, true));
    run.run(&Op::Advance { ms: 7_001 });
    // Client 1 joins the Empty group: the initial delay runs 3 s, to 1 ms past the lapse.
    run.run(&join(1, false));
    run.run(&Op::Advance { ms: 2_999 });
    // Kafka's InitialDelayedJoin never completes early (tryComplete is false):
    // the lapse of a handed-out id leaves the join waiting for the delay's end.
    assert_eq!(
        run.h.broker.groups().group_state(GROUP),
        Some(GroupState::PreparingRebalance)
    );
    assert_eq!(run.clients[1].generation, 0, "no join answered yet");
    run.run(&Op::Advance { ms: 1 });
    assert_eq!(run.clients[1].generation, 1);
}
