//! Consumer groups: Kafka's classic group protocol and committed offsets,
//! as a sans-IO coordinator.
//!
//! [`Groups`] is the group coordinator of one broker: every group by id,
//! each moving through Kafka's classic states (Empty, PreparingRebalance,
//! CompletingRebalance, Stable; Dead for a deleted group) exactly as
//! Kafka's `GroupMetadataManager` and `ClassicGroup` move it. Members join
//! (JoinGroup), the leader hands back an assignment that the coordinator
//! passes on unread (SyncGroup), members keep their place with heartbeats
//! and leave; a member silent past its session timeout is removed and the
//! group rebalances. Offsets are committed and fetched per group; each
//! accepted commit is a durable [`GroupChange`].
//!
//! # The calling protocol
//!
//! Feed each request with [`Groups::handle_request`] and the driver's time;
//! wake the coordinator at [`Groups::poll_timeout`] with
//! [`Groups::handle_timeout`]; tell it of a closed connection with
//! [`Groups::handle_disconnect`]. After every input, drain
//! [`Groups::poll_change`] and make those changes durable, then drain
//! [`Groups::poll_output`] and send those replies: a commit's reply then
//! never leaves before its change is durable. Replies to a request may
//! come later than the request (a join waits for the rebalance), which is
//! why every request names its [`Requester`].
//!
//! ```
//! use brokerlab_core::group::{
//!     GroupReply, GroupRequest, Groups, GroupsConfig, JoinGroup, JoinProtocol, Requester,
//! };
//! use brokerlab_core::{ConnectionId, Instant};
//!
//! let mut groups = Groups::new(GroupsConfig::default());
//! let requester = Requester { conn: ConnectionId(1), request: 7 };
//! let join = JoinGroup {
//!     group: "billing".into(),
//!     member_id: String::new(),
//!     group_instance_id: None,
//!     client_id: "consumer".into(),
//!     session_timeout_ms: 10_000,
//!     rebalance_timeout_ms: 60_000,
//!     protocol_type: "consumer".into(),
//!     protocols: vec![JoinProtocol { name: "range".into(), metadata: Default::default() }],
//!     require_known_member_id: false,
//! };
//! groups.handle_request(Instant(0), requester, GroupRequest::Join(join));
//! assert!(groups.poll_output().is_none()); // the initial rebalance delay
//! let at = groups.poll_timeout().unwrap();
//! groups.handle_timeout(at);
//! let (to, reply) = groups.poll_output().unwrap();
//! assert_eq!(to, requester);
//! assert!(matches!(reply, GroupReply::Join(join) if join.generation == 1));
//! groups.check_invariants();
//! ```
//!
//! # What is not durable
//!
//! Committed offsets, group deletions and each group's generation (with
//! how many member ids were handed out) are durable: after
//! [`Groups::recover`] every group is Empty with its offsets at its last
//! logged generation, and members rejoin when their requests meet
//! UNKNOWN_MEMBER_ID. No generation or member id is handed out twice, so
//! a member from before a restart is fenced rather than taken for a new
//! one. Kafka also persists membership and assignments; a client cannot
//! tell the difference beyond one extra rebalance after a coordinator
//! restart. A driver answers a join only once the generation it names is
//! durable (the broker does).

pub mod assignors;
pub mod consumer_protocol;
mod invariants;
mod join;
mod membership;
mod messages;
mod offsets;
mod state;

pub use messages::*;
pub use offsets::GroupChange;

use crate::config::Mutant;
use crate::protocol::ConnectionId;
use crate::time::Instant;
use crate::unobserved::Unobserved;
use state::{Group, Parked};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Mutex;

/// The coordinator's limits and Kafka's group settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GroupsConfig {
    /// `group.initial.rebalance.delay.ms`: how long an Empty group waits for more members.
    pub initial_rebalance_delay_ms: u64,
    /// How long a new member's parked join may wait before it is dropped (Kafka: 5 minutes).
    pub new_member_join_timeout_ms: u64,
    /// `group.min.session.timeout.ms`.
    pub session_timeout_min_ms: u64,
    /// `group.max.session.timeout.ms`.
    pub session_timeout_max_ms: u64,
    /// `group.max.size`: members (and ids handed out to join) per group.
    pub group_members_max: usize,
    /// Groups the coordinator holds.
    pub groups_max: usize,
    /// Replies queued for the driver at once.
    pub replies_max: usize,
    /// `offset.metadata.max.bytes`.
    pub offset_metadata_bytes_max: usize,
}

impl Default for GroupsConfig {
    fn default() -> GroupsConfig {
        GroupsConfig {
            initial_rebalance_delay_ms: 3_000,
            new_member_join_timeout_ms: 300_000,
            session_timeout_min_ms: 6_000,
            session_timeout_max_ms: 1_800_000,
            group_members_max: 1_000,
            groups_max: 10_000,
            replies_max: 10_000,
            offset_metadata_bytes_max: 4_096,
        }
    }
}

impl GroupsConfig {
    /// The most replies one input can queue for one group: a reply to the
    /// request, a parked join and sync per member, and a fenced member's two.
    pub(crate) fn replies_per_group_max(&self) -> usize {
        2 * self.group_members_max + 3
    }
}

/// A deadline's meaning.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Timer {
    /// A member's (or a handed-out id's) session timeout: its heartbeat deadline.
    Heartbeat { group: String, member: String },
    /// The join phase's end: initial delay or rebalance timeout.
    Join { group: String },
    /// The end of the wait for SyncGroup from every member.
    Sync { group: String },
}

/// Every armed deadline, earliest first; each mirrors a deadline stored on
/// a group or member (`check_invariants` compares the two).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct Timers {
    pub(crate) set: BTreeSet<(Instant, Timer)>,
}

impl Timers {
    pub(crate) fn arm(&mut self, at: Instant, timer: Timer) {
        let fresh = self.set.insert((at, timer));
        assert!(fresh, "a timer is armed once");
    }

    pub(crate) fn disarm(&mut self, at: Instant, timer: Timer) {
        let armed = self.set.remove(&(at, timer));
        assert!(armed, "a disarmed timer was armed");
    }
}

/// The replies waiting for the driver, bounded.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Replies {
    pub(crate) queue: VecDeque<(Requester, GroupReply)>,
    pub(crate) max: usize,
}

impl Replies {
    pub(crate) fn push(&mut self, to: Requester, reply: GroupReply) {
        assert!(
            self.queue.len() < self.max,
            "replies queued past replies_max: the driver drains poll_output after every input"
        );
        self.queue.push_back((to, reply));
    }

    /// Answers a parked request, unless its connection is gone.
    pub(crate) fn answer(&mut self, parked: Parked, reply: GroupReply) {
        if let Some(to) = parked.0 {
            self.push(to, reply);
        }
    }
}

/// What one input's handling of one group needs besides the group.
pub(crate) struct Step<'a> {
    pub(crate) now: Instant,
    pub(crate) config: &'a GroupsConfig,
    pub(crate) timers: &'a mut Timers,
    pub(crate) replies: &'a mut Replies,
    pub(crate) changes: &'a mut VecDeque<GroupChange>,
    /// The counter behind assigned member ids.
    pub(crate) member_ids: &'a mut u64,
    /// The deliberately broken behaviour the coordinator runs with, if any.
    pub(crate) mutant: Option<Mutant>,
}

/// The group coordinator: every classic group by id, with its offsets.
/// See the module documentation for the calling protocol.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Groups {
    config: GroupsConfig,
    now: Instant,
    groups: BTreeMap<String, Group>,
    timers: Timers,
    replies: Replies,
    changes: VecDeque<GroupChange>,
    member_ids: u64,
    incarnations: u64,
    /// Each group's (incarnation, generation) at the last `check_invariants`,
    /// to check that generations only grow. Only the checks read it, so it
    /// is no part of the coordinator's identity (a clone checks afresh).
    generations_checked: Unobserved<Mutex<BTreeMap<String, (u64, i32)>>>,
    /// The deliberately broken behaviour the coordinator runs with (only
    /// ever set in a broker built with the `mutants` feature).
    mutant: Option<Mutant>,
}

impl Groups {
    /// A coordinator with no groups.
    #[must_use]
    pub fn new(config: GroupsConfig) -> Groups {
        assert!(config.group_members_max > 0 && config.groups_max > 0);
        assert!(
            config.replies_max > config.replies_per_group_max(),
            "replies_max holds at least one group's replies"
        );
        assert!(config.session_timeout_min_ms <= config.session_timeout_max_ms);
        let replies = Replies {
            queue: VecDeque::new(),
            max: config.replies_max,
        };
        Groups {
            config,
            now: Instant::default(),
            groups: BTreeMap::new(),
            timers: Timers::default(),
            replies,
            changes: VecDeque::new(),
            member_ids: 0,
            incarnations: 0,
            generations_checked: Unobserved::default(),
            mutant: None,
        }
    }

    /// The coordinator runs as `mutant` (the broker's, in the lab).
    pub(crate) fn set_mutant(&mut self, mutant: Option<Mutant>) {
        self.mutant = mutant;
    }

    /// The mutant the coordinator runs as, if any.
    pub(crate) fn mutant(&self) -> Option<Mutant> {
        self.mutant
    }

    /// How many deadlines are armed.
    pub(crate) fn deadlines_armed(&self) -> usize {
        self.timers.set.len()
    }

    /// The coordinator's settings.
    #[must_use]
    pub fn config(&self) -> &GroupsConfig {
        &self.config
    }

    /// Handles one request; its reply comes out of `poll_output`, now or later.
    pub fn handle_request(&mut self, now: Instant, from: Requester, request: GroupRequest) {
        self.handle_request_among(now, from, request, &|_, _| true);
    }

    /// Handles one request of a broker whose partitions are those `known`
    /// names: an OffsetCommit's partitions it does not name are answered
    /// UNKNOWN_TOPIC_OR_PARTITION before the coordinator sees the rest, and
    /// one that names none of them never reaches the coordinator (Kafka's
    /// `KafkaApis.handleOffsetCommitRequest`).
    pub fn handle_request_among(
        &mut self,
        now: Instant,
        from: Requester,
        request: GroupRequest,
        known: &dyn Fn(&str, i32) -> bool,
    ) {
        self.advance(now);
        match request {
            GroupRequest::Join(join) => self.handle_join(from, join),
            GroupRequest::Sync(sync) => self.handle_sync(from, sync),
            GroupRequest::Heartbeat(heartbeat) => self.handle_heartbeat(from, heartbeat),
            GroupRequest::Leave(leave) => self.handle_leave(from, leave),
            GroupRequest::OffsetCommit(commit) => self.handle_offset_commit(from, commit, known),
            GroupRequest::OffsetFetch(fetch) => self.handle_offset_fetch(from, fetch),
            GroupRequest::Describe { groups } => self.handle_describe(from, &groups),
            GroupRequest::List { states } => self.handle_list(from, &states),
            GroupRequest::Delete { groups } => self.handle_delete(from, &groups),
        }
    }

    /// Runs every deadline due at `now`: expired members are removed, join
    /// phases complete, members that never synced are dropped. Stops early
    /// when the reply queue could not hold one more group's replies; then
    /// `poll_timeout` still reports a due deadline.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
        let room = self.config.replies_per_group_max();
        while let Some((at, timer)) = self.timers.set.first().cloned() {
            if at > self.now || self.replies.queue.len() + room > self.replies.max {
                break;
            }
            self.timers.disarm(at, timer.clone());
            match timer {
                Timer::Heartbeat { group, member } => self.fire_heartbeat(&group, &member, at),
                Timer::Join { group } => self.fire_join(&group, at),
                Timer::Sync { group } => self.fire_sync(&group, at),
            }
        }
    }

    /// A connection closed: its queued replies are dropped, and replies to
    /// its parked requests will be. Its members stay until their session
    /// timeout passes, as in Kafka.
    pub fn handle_disconnect(&mut self, conn: ConnectionId) {
        self.replies.queue.retain(|(to, _)| to.conn != conn);
        for group in self.groups.values_mut() {
            for member in group.members.values_mut() {
                let parked = [&mut member.awaiting_join, &mut member.awaiting_sync];
                for Parked(requester) in parked.into_iter().flatten() {
                    if requester.is_some_and(|to| to.conn == conn) {
                        *requester = None;
                    }
                }
            }
        }
    }

    /// The next reply to send.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<(Requester, GroupReply)> {
        self.replies.queue.pop_front()
    }

    /// The next durable change to append; drain these before the replies.
    #[must_use]
    pub fn poll_change(&mut self) -> Option<GroupChange> {
        self.changes.pop_front()
    }

    /// The earliest deadline: a session timeout, a join phase's end or a sync wait's end.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.set.first().map(|(at, _)| *at)
    }

    /// The state of a group, `None` if there is no such group.
    #[must_use]
    pub fn group_state(&self, group: &str) -> Option<GroupState> {
        self.groups.get(group).map(|group| group.state)
    }

    /// A group's current generation, `None` if there is no such group.
    #[must_use]
    pub fn generation(&self, group: &str) -> Option<i32> {
        self.groups.get(group).map(|group| group.generation)
    }

    /// A group's member ids, in order; empty if there is no such group.
    pub fn members(&self, group: &str) -> impl Iterator<Item = &str> {
        let members = self
            .groups
            .get(group)
            .into_iter()
            .flat_map(|group| group.members.keys());
        members.map(String::as_str)
    }

    /// A group's committed offset of a partition (the next offset to
    /// read), `None` when it has none.
    #[must_use]
    pub fn committed_offset(&self, group: &str, topic: &str, partition: i32) -> Option<i64> {
        let group = self.groups.get(group)?;
        let committed = group.offsets.get(&(topic.to_owned(), partition))?;
        Some(committed.offset)
    }

    fn advance(&mut self, now: Instant) {
        assert!(now >= self.now, "time does not go backwards");
        assert!(
            self.replies.queue.len() + self.config.replies_per_group_max() <= self.replies.max,
            "the driver drains poll_output after every input"
        );
        self.now = now;
    }

    /// Runs `f` on group `id` (if present) with what it needs to act.
    fn with_group<R>(
        &mut self,
        id: &str,
        f: impl FnOnce(&mut Group, &mut Step<'_>) -> R,
    ) -> Option<R> {
        let group = self.groups.get_mut(id)?;
        let mut step = Step {
            now: self.now,
            config: &self.config,
            timers: &mut self.timers,
            replies: &mut self.replies,
            changes: &mut self.changes,
            member_ids: &mut self.member_ids,
            mutant: self.mutant,
        };
        Some(f(group, &mut step))
    }

    /// Creates an Empty group, making room by dropping a disposable one
    /// when the table is full; false when there is no room.
    fn create_group(&mut self, id: &str) -> bool {
        assert!(!self.groups.contains_key(id));
        if self.groups.len() >= self.config.groups_max {
            let disposable = self
                .groups
                .iter()
                .find(|(_, group)| group.is_disposable())
                .map(|(id, _)| id.clone());
            let Some(disposable) = disposable else {
                return false;
            };
            self.drop_group(&disposable);
        }
        self.incarnations += 1;
        let group = Group::new(id.to_owned(), self.incarnations);
        self.groups.insert(id.to_owned(), group);
        assert!(self.groups.len() <= self.config.groups_max);
        true
    }

    /// Removes a group with no members: it is Dead. Its timers go with it.
    fn drop_group(&mut self, id: &str) {
        // Only ever called with the id of a present group.
        let mut group = self.groups.remove(id).expect("the group dropped exists");
        assert!(
            group.members.is_empty(),
            "only a group without members is dropped"
        );
        for (member, at) in std::mem::take(&mut group.pending_members) {
            let timer = Timer::Heartbeat {
                group: id.to_owned(),
                member,
            };
            self.timers.disarm(at, timer);
        }
        if let Some(timer) = group.join_timer.take() {
            let group = id.to_owned();
            self.timers.disarm(timer.at, Timer::Join { group });
        }
        if let Some((at, _)) = group.sync_timer.take() {
            let group = id.to_owned();
            self.timers.disarm(at, Timer::Sync { group });
        }
        group.transition(GroupState::Dead);
    }
}
