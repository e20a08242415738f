//! JoinGroup and the join phase: who may join, new and known members,
//! static members replacing their old member id, the start of a rebalance
//! (with the initial delay of an Empty group), and its completion into a
//! new generation. Kafka's `GroupMetadataManager.classicGroupJoin*`,
//! `prepareRebalance` and `completeClassicGroupJoin`, rule by rule.

use super::messages::{ErrorCode, GroupReply, GroupState, JoinGroup, JoinResponse, Requester};
use super::state::{Group, JoinTimer, Member, Parked};
use super::{GroupChange, Groups, GroupsConfig, Step, Timer};
use crate::config::Mutant;
use crate::time::Instant;

impl Groups {
    pub(super) fn handle_join(&mut self, from: Requester, join: JoinGroup) {
        if let Some(error) = join_refusal(&self.config, &join) {
            let reply = JoinResponse::error(error, &join.member_id);
            self.replies.push(from, GroupReply::Join(reply));
            return;
        }
        if !self.groups.contains_key(&join.group) {
            // A known member id names a group that must exist.
            let error = if !join.member_id.is_empty() {
                Some(ErrorCode::UNKNOWN_MEMBER_ID)
            } else if !self.create_group(&join.group) {
                Some(ErrorCode::COORDINATOR_NOT_AVAILABLE)
            } else {
                None
            };
            if let Some(error) = error {
                let reply = JoinResponse::error(error, &join.member_id);
                self.replies.push(from, GroupReply::Join(reply));
                return;
            }
        }
        let group = join.group.clone();
        self.with_group(&group, |group, step| group.join(step, from, join));
    }
}

/// What the coordinator refuses before looking at the group.
fn join_refusal(config: &GroupsConfig, join: &JoinGroup) -> Option<ErrorCode> {
    let session = config.session_timeout_min_ms..=config.session_timeout_max_ms;
    if join.group.is_empty() {
        Some(ErrorCode::INVALID_GROUP_ID)
    } else if !session.contains(&join.session_timeout_ms) {
        Some(ErrorCode::INVALID_SESSION_TIMEOUT)
    } else {
        None
    }
}

impl Group {
    fn join(&mut self, step: &mut Step<'_>, from: Requester, join: JoinGroup) {
        if !self.accepts_joining(&join.member_id, step.config.group_members_max) {
            let reply = JoinResponse::error(ErrorCode::GROUP_MAX_SIZE_REACHED, "");
            step.replies.push(from, GroupReply::Join(reply));
        } else if join.member_id.is_empty() {
            self.join_new_member(step, from, join);
        } else {
            self.join_known_member(step, from, join);
        }
    }

    /// Members and handed-out ids may always come back; anyone else only
    /// while the group (members plus handed-out ids) is below its bound.
    fn accepts_joining(&self, member_id: &str, members_max: usize) -> bool {
        self.members.contains_key(member_id)
            || self.pending_members.contains_key(member_id)
            || self.size() < members_max
    }

    fn join_new_member(&mut self, step: &mut Step<'_>, from: Requester, join: JoinGroup) {
        if !self.supports(&join.protocol_type, &join.protocols) {
            let reply = JoinResponse::error(ErrorCode::INCONSISTENT_GROUP_PROTOCOL, "");
            step.replies.push(from, GroupReply::Join(reply));
            return;
        }
        // Kafka appends a UUID to the client id (the instance id for a
        // static member); a counter keeps the coordinator deterministic.
        *step.member_ids += 1;
        let prefix = join.group_instance_id.as_deref().unwrap_or(&join.client_id);
        let id = format!("{prefix}-{}", step.member_ids);
        assert!(!self.members.contains_key(&id) && !self.pending_members.contains_key(&id));
        let replaced = (join.group_instance_id.as_ref()).and_then(|i| self.static_members.get(i));
        match replaced.cloned() {
            Some(old) => self.replace_static_member(step, from, join, &old, id),
            None if join.group_instance_id.is_none() && join.require_known_member_id => {
                let at = step.now.plus_ms(join.session_timeout_ms);
                self.pending_members.insert(id.clone(), at);
                let timer = Timer::Heartbeat {
                    group: self.id.clone(),
                    member: id.clone(),
                };
                step.timers.arm(at, timer);
                let reply = JoinResponse::error(ErrorCode::MEMBER_ID_REQUIRED, &id);
                step.replies.push(from, GroupReply::Join(reply));
            }
            None => self.add_member(step, from, join, id),
        }
    }

    fn join_known_member(&mut self, step: &mut Step<'_>, from: Requester, join: JoinGroup) {
        let id = join.member_id.clone();
        if !self.supports(&join.protocol_type, &join.protocols) {
            let reply = JoinResponse::error(ErrorCode::INCONSISTENT_GROUP_PROTOCOL, &id);
            step.replies.push(from, GroupReply::Join(reply));
            return;
        }
        if join.group_instance_id.is_none() {
            if let Some(at) = self.pending_members.remove(&id) {
                let timer = Timer::Heartbeat {
                    group: self.id.clone(),
                    member: id.clone(),
                };
                step.timers.disarm(at, timer);
                self.add_member(step, from, join, id);
                return;
            }
        }
        if let Err(error) = self.validate_member(&id, join.group_instance_id.as_deref()) {
            let reply = JoinResponse::error(error, &id);
            step.replies.push(from, GroupReply::Join(reply));
            return;
        }
        let unchanged = self.members[&id].matches(&join.protocols);
        let leads = self.leader.as_deref() == Some(id.as_str());
        match self.state {
            GroupState::PreparingRebalance => self.update_then_rebalance(step, from, &join),
            // The same metadata again (the member missed its join response):
            // the current generation, once more.
            GroupState::CompletingRebalance if unchanged => {
                let reply = self.current_join_response(&id, leads);
                step.replies.push(from, GroupReply::Join(reply));
            }
            // A follower with unchanged metadata goes on to SyncGroup; a
            // leader's join is how it asks for a new assignment.
            GroupState::Stable if unchanged && !leads => {
                let reply = self.current_join_response(&id, false);
                step.replies.push(from, GroupReply::Join(reply));
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.update_then_rebalance(step, from, &join)
            }
            GroupState::Empty | GroupState::Dead => {
                unreachable!("a group with a member is neither Empty nor Dead")
            }
        }
    }

    /// The join response for the current generation, with the member list for the leader.
    pub(super) fn current_join_response(
        &self,
        member_id: &str,
        with_members: bool,
    ) -> JoinResponse {
        JoinResponse {
            error: ErrorCode::NONE,
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            member_id: member_id.to_owned(),
            members: if with_members {
                self.join_members()
            } else {
                Vec::new()
            },
        }
    }

    fn update_then_rebalance(&mut self, step: &mut Step<'_>, from: Requester, join: &JoinGroup) {
        // Only called for a validated member.
        let member = self
            .members
            .get_mut(&join.member_id)
            .expect("a known member");
        update_member(member, from, join);
        self.rebalance_or_complete_join(step);
    }

    fn add_member(&mut self, step: &mut Step<'_>, from: Requester, join: JoinGroup, id: String) {
        assert!(self.supports(&join.protocol_type, &join.protocols));
        assert!(self.size() < step.config.group_members_max);
        if self.state == GroupState::PreparingRebalance && self.previous_state == GroupState::Empty
        {
            self.new_member_added = true;
        }
        if let Some(instance) = &join.group_instance_id {
            let fresh = self.static_members.insert(instance.clone(), id.clone());
            assert!(fresh.is_none(), "an instance id is held by one member");
        }
        if self.members.is_empty() {
            self.protocol_type = Some(join.protocol_type.clone());
        }
        self.leader.get_or_insert_with(|| id.clone());
        // A new member cannot heartbeat until its join completes, and a
        // closed connection goes unnoticed while its join is parked:
        // Kafka bounds the wait by the new-member join timeout instead.
        let deadline = step.now.plus_ms(step.config.new_member_join_timeout_ms);
        let arrival = self
            .members
            .values()
            .map(|m| m.arrival)
            .max()
            .map_or(0, |a| a + 1);
        let member = Member {
            id: id.clone(),
            instance_id: join.group_instance_id,
            client_id: join.client_id,
            session_timeout_ms: join.session_timeout_ms,
            rebalance_timeout_ms: join.rebalance_timeout_ms,
            protocols: join.protocols,
            awaiting_join: Some(Parked(Some(from))),
            awaiting_sync: None,
            assignment: None,
            previous_assignment: None,
            is_new: true,
            session_deadline: Some(deadline),
            arrival,
        };
        let timer = Timer::Heartbeat {
            group: self.id.clone(),
            member: id.clone(),
        };
        step.timers.arm(deadline, timer);
        self.members.insert(id, member);
        self.rebalance_or_complete_join(step);
    }

    /// A static member rejoined with no member id: the new id takes the
    /// old one's place (assignment and leadership included), and whatever
    /// the old id had parked is answered FENCED_INSTANCE_ID.
    fn replace_static_member(
        &mut self,
        step: &mut Step<'_>,
        from: Requester,
        join: JoinGroup,
        old: &str,
        new: String,
    ) {
        let leader_before = self.leader.clone().unwrap_or_default();
        let mut member = self.take_member_fenced(step, old);
        member.id.clone_from(&new);
        member.is_new = false;
        if self.pending_sync.remove(old) {
            self.pending_sync.insert(new.clone());
        }
        if self.leader.as_deref() == Some(old) {
            self.leader = Some(new.clone());
        }
        let instance = member.instance_id.clone().expect("a static member");
        self.static_members.insert(instance, new.clone());
        let deadline = step.now.plus_ms(member.session_timeout_ms);
        member.session_deadline = Some(deadline);
        let timer = Timer::Heartbeat {
            group: self.id.clone(),
            member: new.clone(),
        };
        step.timers.arm(deadline, timer);
        update_member(&mut member, from, &join);
        self.members.insert(new.clone(), member);
        match self.state {
            GroupState::Stable
                if self.protocol_name.as_deref() == Some(&self.select_protocol()) =>
            {
                // Nothing the assignment depends on changed: no rebalance.
                let member = self.members.get_mut(&new).expect("just inserted");
                let parked = member.awaiting_join.take().expect("just parked");
                let mut reply = self.current_join_response(&new, false);
                reply.leader = leader_before;
                step.replies.answer(parked, GroupReply::Join(reply));
            }
            GroupState::Stable => self.rebalance_or_complete_join(step),
            GroupState::CompletingRebalance => self.prepare_rebalance(step),
            GroupState::PreparingRebalance => self.complete_join_if_ready(step),
            GroupState::Empty | GroupState::Dead => {
                unreachable!("a group with a static member is neither Empty nor Dead")
            }
        }
    }

    /// Takes a member out for replacement, answering its parked requests FENCED_INSTANCE_ID.
    fn take_member_fenced(&mut self, step: &mut Step<'_>, id: &str) -> Member {
        // Only called with the member id an instance id maps to.
        let mut member = self
            .members
            .remove(id)
            .expect("the static member is present");
        if let Some(parked) = member.awaiting_join.take() {
            let reply = JoinResponse::error(ErrorCode::FENCED_INSTANCE_ID, id);
            step.replies.answer(parked, GroupReply::Join(reply));
        }
        if let Some(parked) = member.awaiting_sync.take() {
            let reply = super::SyncResponse::error(ErrorCode::FENCED_INSTANCE_ID);
            step.replies.answer(parked, GroupReply::Sync(reply));
        }
        if let Some(at) = member.session_deadline.take() {
            let member = id.to_owned();
            step.timers.disarm(
                at,
                Timer::Heartbeat {
                    group: self.id.clone(),
                    member,
                },
            );
        }
        member
    }

    /// Kafka's `maybePrepareRebalanceOrCompleteJoin`.
    pub(super) fn rebalance_or_complete_join(&mut self, step: &mut Step<'_>) {
        if self.can_rebalance() {
            self.prepare_rebalance(step);
        } else {
            self.complete_join_if_ready(step);
        }
    }

    /// Kafka's `maybeCompleteJoinPhase`: during a rebalance that is not the
    /// initial one, once every member has rejoined.
    pub(super) fn complete_join_if_ready(&mut self, step: &mut Step<'_>) {
        if self.state == GroupState::PreparingRebalance
            && self.previous_state != GroupState::Empty
            && self.all_members_joined()
        {
            self.complete_join(step);
        }
    }

    /// Starts a rebalance: parked syncs are answered REBALANCE_IN_PROGRESS,
    /// and the join phase waits for the members (an Empty group waits the
    /// initial delay first).
    pub(super) fn prepare_rebalance(&mut self, step: &mut Step<'_>) {
        assert!(self.can_rebalance());
        if self.state == GroupState::CompletingRebalance {
            self.reset_and_propagate(step, ErrorCode::REBALANCE_IN_PROGRESS);
        }
        self.pending_sync.clear();
        self.set_sync_timer(step, None);
        let kept = step.mutant == Some(Mutant::AssignWithoutRevoke);
        for member in self.members.values_mut() {
            let assignment = member.assignment.take();
            if kept {
                member.previous_assignment = assignment.map(|(_, bytes)| bytes);
            }
        }
        let initial = self.state == GroupState::Empty;
        if initial {
            let delay_ms = step.config.initial_rebalance_delay_ms;
            let remaining_ms = self.rebalance_timeout_ms().saturating_sub(delay_ms);
            let at = step.now.plus_ms(delay_ms);
            let timer = JoinTimer {
                at,
                initial: Some((delay_ms, remaining_ms)),
            };
            self.set_join_timer(step, Some(timer));
        }
        self.transition(GroupState::PreparingRebalance);
        if !initial {
            if self.all_members_joined() {
                self.complete_join(step);
            } else {
                let at = step.now.plus_ms(self.rebalance_timeout_ms());
                self.set_join_timer(step, Some(JoinTimer { at, initial: None }));
            }
        }
    }

    /// Ends the join phase: dynamic members that did not rejoin are
    /// removed, the generation moves on, and every member gets its join
    /// response (the leader with the member list).
    pub(super) fn complete_join(&mut self, step: &mut Step<'_>) {
        assert_eq!(self.state, GroupState::PreparingRebalance);
        self.set_join_timer(step, None);
        let laggards: Vec<String> = (self.members.values())
            .filter(|member| member.awaiting_join.is_none() && member.instance_id.is_none())
            .map(|member| member.id.clone())
            .collect();
        for id in laggards {
            self.remove_member(step, &id);
        }
        if !self.elect_joined_leader() && !self.members.is_empty() {
            // Only static members that did not rejoin remain: wait for them
            // to rejoin or to time out.
            let at = step.now.plus_ms(self.rebalance_timeout_ms());
            self.set_join_timer(step, Some(JoinTimer { at, initial: None }));
            return;
        }
        self.next_generation();
        step.changes.push_back(GroupChange::GenerationStarted {
            group: self.id.clone(),
            generation: self.generation,
            member_ids: *step.member_ids,
        });
        if self.state == GroupState::Empty {
            return;
        }
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            let leads = self.leader.as_deref() == Some(id.as_str());
            let reply = self.current_join_response(&id, leads);
            let deadline = step.now.plus_ms(self.members[&id].session_timeout_ms);
            self.set_session_deadline(step, &id, Some(deadline));
            let member = self.members.get_mut(&id).expect("listed above");
            member.is_new = false;
            // A static member that did not rejoin stays, with no join to answer.
            if let Some(parked) = member.awaiting_join.take() {
                step.replies.answer(parked, GroupReply::Join(reply));
            }
            self.pending_sync.insert(id);
        }
        let at = step.now.plus_ms(self.rebalance_timeout_ms());
        self.set_sync_timer(step, Some((at, self.generation)));
    }

    /// Kafka's `initNextGeneration`.
    fn next_generation(&mut self) {
        let before = self.generation;
        self.generation = before.checked_add(1).expect("generations fit in an i32");
        if self.members.is_empty() {
            self.protocol_name = None;
            self.transition(GroupState::Empty);
        } else {
            self.protocol_name = Some(self.select_protocol());
            self.transition(GroupState::CompletingRebalance);
        }
        self.pending_sync.clear();
        assert!(self.generation > before);
    }

    /// The join timer fired: extend the initial delay while members keep
    /// arriving and the rebalance timeout allows, else complete the join.
    pub(super) fn fire_join(&mut self, step: &mut Step<'_>, at: Instant) {
        let timer = self
            .join_timer
            .take()
            .expect("a fired join timer was armed");
        assert_eq!(timer.at, at);
        match timer.initial {
            Some((delay_ms, remaining_ms)) if self.new_member_added && remaining_ms != 0 => {
                self.new_member_added = false;
                let next_delay_ms = step.config.initial_rebalance_delay_ms.min(remaining_ms);
                let next_remaining_ms = remaining_ms.saturating_sub(delay_ms);
                let timer = JoinTimer {
                    at: step.now.plus_ms(next_delay_ms),
                    initial: Some((next_delay_ms, next_remaining_ms)),
                };
                self.set_join_timer(step, Some(timer));
            }
            _ => self.complete_join(step),
        }
    }

    pub(super) fn set_join_timer(&mut self, step: &mut Step<'_>, timer: Option<JoinTimer>) {
        let group = self.id.clone();
        if let Some(old) = self.join_timer.take() {
            step.timers.disarm(
                old.at,
                Timer::Join {
                    group: group.clone(),
                },
            );
        }
        if let Some(new) = timer {
            step.timers.arm(new.at, Timer::Join { group });
        }
        self.join_timer = timer;
    }

    pub(super) fn set_sync_timer(&mut self, step: &mut Step<'_>, timer: Option<(Instant, i32)>) {
        let group = self.id.clone();
        if let Some((at, _)) = self.sync_timer.take() {
            step.timers.disarm(
                at,
                Timer::Sync {
                    group: group.clone(),
                },
            );
        }
        if let Some((at, _)) = timer {
            step.timers.arm(at, Timer::Sync { group });
        }
        self.sync_timer = timer;
    }

    pub(super) fn set_session_deadline(
        &mut self,
        step: &mut Step<'_>,
        id: &str,
        at: Option<Instant>,
    ) {
        let member = self.members.get_mut(id).expect("a member's deadline");
        let timer = Timer::Heartbeat {
            group: self.id.clone(),
            member: id.to_owned(),
        };
        if let Some(old) = member.session_deadline.take() {
            step.timers.disarm(old, timer.clone());
        }
        if let Some(new) = at {
            step.timers.arm(new, timer);
        }
        member.session_deadline = at;
    }
}

/// Takes a join's protocols and timeouts, and parks it.
fn update_member(member: &mut Member, from: Requester, join: &JoinGroup) {
    member.protocols.clone_from(&join.protocols);
    member.session_timeout_ms = join.session_timeout_ms;
    member.rebalance_timeout_ms = join.rebalance_timeout_ms;
    // A join parked earlier by the same member is dropped unanswered, as
    // Kafka drops it: its client has given up on it to send this one.
    member.awaiting_join = Some(Parked(Some(from)));
}
