//! One group's state: its members, its generation and chosen protocol, the
//! requests parked until a rebalance step completes, and its deadlines.
//! The rules that move it live in `join.rs` and `membership.rs`; this file
//! holds what a group is and the questions asked of it.

use super::messages::{ErrorCode, GroupState, JoinMember, JoinProtocol, Requester};
use crate::time::Instant;
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};

/// A request waiting for its reply. The requester is `None` once its
/// connection is gone: the member still counts as waiting (as in Kafka,
/// where the response goes to a closed socket), but the reply is dropped.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Parked(pub(crate) Option<Requester>);

/// One member of a group.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Member {
    pub(crate) id: String,
    pub(crate) instance_id: Option<String>,
    pub(crate) client_id: String,
    pub(crate) session_timeout_ms: u64,
    pub(crate) rebalance_timeout_ms: u64,
    pub(crate) protocols: Vec<JoinProtocol>,
    /// The JoinGroup parked until the join phase completes.
    pub(crate) awaiting_join: Option<Parked>,
    /// The SyncGroup parked until the leader's assignment arrives.
    pub(crate) awaiting_sync: Option<Parked>,
    /// The assignment of `generation`, as the leader gave it.
    pub(crate) assignment: Option<(i32, Bytes)>,
    /// The last generation's assignment, kept through a rebalance only by
    /// the `assign-without-revoke` mutant; always `None` otherwise.
    pub(crate) previous_assignment: Option<Bytes>,
    /// Joined and not yet through a completed join phase: such a member
    /// expires on its deadline even while its join is parked.
    pub(crate) is_new: bool,
    /// When the member is removed unless heard from; `None` while it is
    /// excused from heartbeats (its join or sync is parked).
    pub(crate) session_deadline: Option<Instant>,
    /// Order of arrival in the group: the earliest present member leads.
    pub(crate) arrival: u64,
}

impl Member {
    /// Kafka's `hasSatisfiedHeartbeat`: a member that is not new and whose
    /// join or sync is parked does not expire.
    pub(crate) fn excused_from_heartbeats(&self) -> bool {
        !self.is_new && (self.awaiting_join.is_some() || self.awaiting_sync.is_some())
    }

    /// Whether the member supports exactly these protocols, in this order, with this metadata.
    pub(crate) fn matches(&self, protocols: &[JoinProtocol]) -> bool {
        self.protocols == protocols
    }

    /// The member's metadata for `protocol`.
    pub(crate) fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|supported| supported.name == protocol)
            .map_or_else(Bytes::new, |supported| supported.metadata.clone())
    }
}

/// The join timer: the initial delay of a group that was Empty (extended
/// while members keep arriving, as Kafka's `InitialDelayedJoin`), or the
/// rebalance timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct JoinTimer {
    pub(crate) at: Instant,
    /// For the initial delay: this delay and what remains of the rebalance timeout.
    pub(crate) initial: Option<(u64, u64)>,
}

/// One classic group.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Group {
    pub(crate) id: String,
    /// Which creation of this group id: generations are compared within one.
    pub(crate) incarnation: u64,
    pub(crate) state: GroupState,
    pub(crate) previous_state: GroupState,
    pub(crate) generation: i32,
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol_name: Option<String>,
    pub(crate) leader: Option<String>,
    pub(crate) members: BTreeMap<String, Member>,
    /// `group.instance.id` → member id.
    pub(crate) static_members: BTreeMap<String, String>,
    /// Ids given with MEMBER_ID_REQUIRED, not yet joined, with their deadlines.
    pub(crate) pending_members: BTreeMap<String, Instant>,
    /// Members of the current generation that have not sent SyncGroup.
    pub(crate) pending_sync: BTreeSet<String>,
    /// A member arrived during the initial delay: extend it.
    pub(crate) new_member_added: bool,
    pub(crate) join_timer: Option<JoinTimer>,
    /// When members that have not synced are removed, for which generation.
    pub(crate) sync_timer: Option<(Instant, i32)>,
    pub(crate) offsets: BTreeMap<(String, i32), Committed>,
}

/// A committed offset.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Committed {
    pub(crate) offset: i64,
    pub(crate) metadata: String,
}

impl Group {
    pub(crate) fn new(id: String, incarnation: u64) -> Group {
        Group {
            id,
            incarnation,
            state: GroupState::Empty,
            previous_state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: BTreeMap::new(),
            static_members: BTreeMap::new(),
            pending_members: BTreeMap::new(),
            pending_sync: BTreeSet::new(),
            new_member_added: false,
            join_timer: None,
            sync_timer: None,
            offsets: BTreeMap::new(),
        }
    }

    /// Moves to `next`, asserting that Kafka's classic state machine allows it.
    pub(crate) fn transition(&mut self, next: GroupState) {
        use GroupState::*;
        let allowed = match next {
            Empty => self.state == PreparingRebalance,
            PreparingRebalance => matches!(self.state, Stable | CompletingRebalance | Empty),
            CompletingRebalance => self.state == PreparingRebalance,
            Stable => self.state == CompletingRebalance,
            Dead => true,
        };
        assert!(allowed, "group transition {:?} -> {next:?}", self.state);
        self.previous_state = self.state;
        self.state = next;
    }

    /// Kafka's `canRebalance`: the states PreparingRebalance may follow.
    pub(crate) fn can_rebalance(&self) -> bool {
        matches!(
            self.state,
            GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty
        )
    }

    pub(crate) fn awaiting_join_count(&self) -> usize {
        self.members
            .values()
            .filter(|member| member.awaiting_join.is_some())
            .count()
    }

    /// Every member's join is parked and no id handed out is still to join.
    pub(crate) fn all_members_joined(&self) -> bool {
        self.awaiting_join_count() == self.members.len() && self.pending_members.is_empty()
    }

    /// The longest rebalance timeout of the members.
    pub(crate) fn rebalance_timeout_ms(&self) -> u64 {
        self.members
            .values()
            .map(|member| member.rebalance_timeout_ms)
            .max()
            .unwrap_or(0)
    }

    /// Kafka's `supportsProtocols`: an Empty group takes any non-empty
    /// protocol type and list; otherwise the type must be the group's and
    /// one protocol must be supported by every member.
    pub(crate) fn supports(&self, protocol_type: &str, protocols: &[JoinProtocol]) -> bool {
        if self.state == GroupState::Empty {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols
                .iter()
                .any(|protocol| self.supporters(&protocol.name) == self.members.len())
    }

    fn supporters(&self, protocol: &str) -> usize {
        self.members
            .values()
            .filter(|member| member.protocols.iter().any(|p| p.name == protocol))
            .count()
    }

    /// The protocol for the next generation: among those every member
    /// supports, the one most members name first; a tie goes to the
    /// smallest name, so the choice never depends on map order.
    pub(crate) fn select_protocol(&self) -> String {
        let mut members = self.members.values();
        // A protocol is chosen for members.
        let first = members.next().expect("a protocol is chosen for members");
        let mut common: BTreeSet<&str> = first.protocols.iter().map(|p| p.name.as_str()).collect();
        for member in members {
            common.retain(|name| member.protocols.iter().any(|p| p.name == *name));
        }
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for member in self.members.values() {
            let vote = member
                .protocols
                .iter()
                .find(|p| common.contains(p.name.as_str()));
            // A member joined only if it shared a protocol with every other member.
            let vote = vote.expect("every member supports a common protocol");
            *votes.entry(vote.name.as_str()).or_default() += 1;
        }
        let most = votes.values().copied().max().unwrap_or(0);
        let chosen = votes.iter().find(|(_, &count)| count == most);
        // `votes` has one entry per member at least, so a maximum exists.
        let (name, _) = chosen.expect("votes were cast");
        (*name).to_owned()
    }

    /// Checks a request's member id and instance id against the group:
    /// an instance held by another member id is FENCED_INSTANCE_ID; an
    /// unknown instance or member is UNKNOWN_MEMBER_ID.
    pub(crate) fn validate_member(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Result<(), ErrorCode> {
        if let Some(instance) = instance_id {
            match self.static_members.get(instance) {
                None => return Err(ErrorCode::UNKNOWN_MEMBER_ID),
                Some(holder) if holder != member_id => return Err(ErrorCode::FENCED_INSTANCE_ID),
                Some(_) => {}
            }
        }
        if self.members.contains_key(member_id) {
            Ok(())
        } else {
            Err(ErrorCode::UNKNOWN_MEMBER_ID)
        }
    }

    /// The member list the leader's join response carries, by member id.
    pub(crate) fn join_members(&self) -> Vec<JoinMember> {
        let protocol = self.protocol_name.as_deref().unwrap_or_default();
        self.members
            .values()
            .map(|member| JoinMember {
                member_id: member.id.clone(),
                group_instance_id: member.instance_id.clone(),
                metadata: member.metadata(protocol),
            })
            .collect()
    }

    /// The present member that arrived first, among those `eligible`.
    pub(crate) fn first_arrived(&self, eligible: impl Fn(&Member) -> bool) -> Option<String> {
        self.members
            .values()
            .filter(|member| eligible(member))
            .min_by_key(|member| member.arrival)
            .map(|member| member.id.clone())
    }

    /// Kafka's `maybeElectNewJoinedLeader`: a leader that did not rejoin
    /// gives way to the first member that did; false when none did.
    pub(crate) fn elect_joined_leader(&mut self) -> bool {
        let Some(leader) = &self.leader else {
            return false;
        };
        if self.members[leader].awaiting_join.is_some() {
            return true;
        }
        match self.first_arrived(|member| member.awaiting_join.is_some()) {
            Some(next) => {
                self.leader = Some(next);
                true
            }
            None => false,
        }
    }

    /// Members plus ids handed out and not yet joined: what the size bound counts.
    pub(crate) fn size(&self) -> usize {
        self.members.len() + self.pending_members.len()
    }

    /// An Empty group with nothing committed and nobody about to join:
    /// dropping it loses nothing.
    pub(crate) fn is_disposable(&self) -> bool {
        self.state == GroupState::Empty
            && self.offsets.is_empty()
            && self.pending_members.is_empty()
    }
}
