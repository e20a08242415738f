//! Staying in a group and leaving it: SyncGroup hands out the leader's
//! assignment, heartbeats keep a member in, LeaveGroup and a passed heartbeat
//! deadline remove members, and members that never sync are dropped when
//! the sync wait ends. Kafka's `classicGroupSync`, `classicGroupHeartbeat`,
//! `classicGroupLeave`, `expireClassicGroupMemberHeartbeat` and
//! `expirePendingSync`, rule by rule.

use super::messages::{
    ErrorCode, GroupReply, GroupState, Heartbeat, JoinResponse, LeaveGroup, LeaveResponse,
    LeftMember, Requester, SyncGroup, SyncResponse,
};
use super::state::{Group, Parked};
use super::{Groups, Step, Timer};
use crate::time::Instant;
use std::collections::BTreeMap;

impl Groups {
    pub(super) fn handle_sync(&mut self, from: Requester, sync: SyncGroup) {
        let group = sync.group.clone();
        let error = if group.is_empty() {
            Some(ErrorCode::INVALID_GROUP_ID)
        } else if self
            .group_state(&group)
            .is_none_or(|s| s == GroupState::Empty)
        {
            Some(ErrorCode::UNKNOWN_MEMBER_ID)
        } else {
            None
        };
        match error {
            Some(error) => self
                .replies
                .push(from, GroupReply::Sync(SyncResponse::error(error))),
            None => {
                self.with_group(&group, |group, step| group.sync(step, from, sync));
            }
        }
    }

    pub(super) fn handle_heartbeat(&mut self, from: Requester, heartbeat: Heartbeat) {
        let error = if heartbeat.group.is_empty() {
            ErrorCode::INVALID_GROUP_ID
        } else {
            let group = heartbeat.group.clone();
            let outcome = self.with_group(&group, |group, step| group.heartbeat(step, &heartbeat));
            outcome.unwrap_or(ErrorCode::UNKNOWN_MEMBER_ID)
        };
        self.replies.push(from, GroupReply::Heartbeat { error });
    }

    pub(super) fn handle_leave(&mut self, from: Requester, leave: LeaveGroup) {
        let reply = if leave.group.is_empty() {
            LeaveResponse {
                error: ErrorCode::INVALID_GROUP_ID,
                members: Vec::new(),
            }
        } else {
            let group = leave.group.clone();
            let outcome = self.with_group(&group, |group, step| group.leave(step, &leave));
            // Kafka's handleLeaveGroup: a missing group answers NONE, and
            // UNKNOWN_MEMBER_ID for each member named.
            outcome.unwrap_or_else(|| LeaveResponse {
                error: ErrorCode::NONE,
                members: (leave.members.iter())
                    .map(|leaving| LeftMember {
                        member_id: leaving.member_id.clone(),
                        group_instance_id: leaving.group_instance_id.clone(),
                        error: ErrorCode::UNKNOWN_MEMBER_ID,
                    })
                    .collect(),
            })
        };
        self.replies.push(from, GroupReply::Leave(reply));
    }

    pub(super) fn fire_heartbeat(&mut self, group: &str, member: &str, at: Instant) {
        // A timer names a present group: a dropped group's timers go with it.
        let fired = self.with_group(group, |group, step| group.fire_heartbeat(step, member, at));
        assert!(fired.is_some(), "a heartbeat timer names a present group");
    }

    pub(super) fn fire_join(&mut self, group: &str, at: Instant) {
        let fired = self.with_group(group, |group, step| group.fire_join(step, at));
        assert!(fired.is_some(), "a join timer names a present group");
    }

    pub(super) fn fire_sync(&mut self, group: &str, at: Instant) {
        let fired = self.with_group(group, |group, step| group.fire_sync(step, at));
        assert!(fired.is_some(), "a sync timer names a present group");
    }
}

impl Group {
    fn sync(&mut self, step: &mut Step<'_>, from: Requester, sync: SyncGroup) {
        let inconsistent = |asked: &Option<String>, ours: &Option<String>| {
            asked.is_some() && ours.is_some() && asked != ours
        };
        let error = match self.validate_member(&sync.member_id, sync.group_instance_id.as_deref()) {
            Err(error) => Some(error),
            Ok(()) if sync.generation != self.generation => Some(ErrorCode::ILLEGAL_GENERATION),
            Ok(())
                if inconsistent(&sync.protocol_type, &self.protocol_type)
                    || inconsistent(&sync.protocol_name, &self.protocol_name) =>
            {
                Some(ErrorCode::INCONSISTENT_GROUP_PROTOCOL)
            }
            Ok(()) if self.state == GroupState::PreparingRebalance => {
                Some(ErrorCode::REBALANCE_IN_PROGRESS)
            }
            Ok(()) => None,
        };
        if let Some(error) = error {
            step.replies
                .push(from, GroupReply::Sync(SyncResponse::error(error)));
            return;
        }
        self.pending_sync.remove(&sync.member_id);
        match self.state {
            GroupState::CompletingRebalance => {
                let member = self.members.get_mut(&sync.member_id).expect("validated");
                member.awaiting_sync = Some(Parked(Some(from)));
                if self.leader.as_deref() == Some(sync.member_id.as_str()) {
                    self.assign_and_propagate(step, sync);
                }
            }
            GroupState::Stable => {
                let reply = self.sync_response(&sync.member_id);
                step.replies.push(from, GroupReply::Sync(reply));
            }
            GroupState::Empty | GroupState::PreparingRebalance | GroupState::Dead => {
                unreachable!("a validated sync reaches a completing or stable group")
            }
        }
    }

    /// The leader's assignment: each member gets its bytes (empty when the
    /// leader gave none), parked syncs are answered, and the group is Stable.
    fn assign_and_propagate(&mut self, step: &mut Step<'_>, sync: SyncGroup) {
        let mut given: BTreeMap<String, bytes::Bytes> = BTreeMap::new();
        for assignment in sync.assignments {
            given.insert(assignment.member_id, assignment.assignment);
        }
        let generation = self.generation;
        for (id, member) in &mut self.members {
            let bytes = given.remove(id).unwrap_or_default();
            // The mutant hands a member its last generation's partitions
            // again, which the leader may have given to another member.
            let bytes = member.previous_assignment.take().unwrap_or(bytes);
            member.assignment = Some((generation, bytes));
        }
        self.propagate(step, ErrorCode::NONE);
        self.transition(GroupState::Stable);
    }

    /// Kafka's `resetAndPropagateAssignmentWithError`.
    pub(super) fn reset_and_propagate(&mut self, step: &mut Step<'_>, error: ErrorCode) {
        assert_eq!(self.state, GroupState::CompletingRebalance);
        for member in self.members.values_mut() {
            member.assignment = None;
        }
        self.propagate(step, error);
    }

    /// Answers every parked sync (with the member's assignment, or the
    /// error) and restarts the heartbeat deadline of each member answered.
    fn propagate(&mut self, step: &mut Step<'_>, error: ErrorCode) {
        let ids: Vec<String> = (self.members.values())
            .filter(|member| member.awaiting_sync.is_some())
            .map(|member| member.id.clone())
            .collect();
        for id in ids {
            let reply = if error == ErrorCode::NONE {
                self.sync_response(&id)
            } else {
                SyncResponse::error(error)
            };
            let member = self.members.get_mut(&id).expect("listed above");
            let parked = member.awaiting_sync.take().expect("listed above");
            let deadline = step.now.plus_ms(member.session_timeout_ms);
            step.replies.answer(parked, GroupReply::Sync(reply));
            self.set_session_deadline(step, &id, Some(deadline));
        }
    }

    fn sync_response(&self, id: &str) -> SyncResponse {
        let member = &self.members[id];
        let assignment = member.assignment.as_ref();
        assert!(assignment.is_none_or(|(generation, _)| *generation == self.generation));
        SyncResponse {
            error: ErrorCode::NONE,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            assignment: assignment
                .map(|(_, bytes)| bytes.clone())
                .unwrap_or_default(),
        }
    }

    fn heartbeat(&mut self, step: &mut Step<'_>, heartbeat: &Heartbeat) -> ErrorCode {
        let id = heartbeat.member_id.as_str();
        if let Err(error) = self.validate_member(id, heartbeat.group_instance_id.as_deref()) {
            return error;
        }
        if heartbeat.generation != self.generation {
            return ErrorCode::ILLEGAL_GENERATION;
        }
        let deadline = step.now.plus_ms(self.members[id].session_timeout_ms);
        self.set_session_deadline(step, id, Some(deadline));
        match self.state {
            GroupState::PreparingRebalance => ErrorCode::REBALANCE_IN_PROGRESS,
            // Members heartbeat between their join and sync responses.
            GroupState::CompletingRebalance | GroupState::Stable => ErrorCode::NONE,
            GroupState::Empty | GroupState::Dead => unreachable!("a validated member's group"),
        }
    }

    fn leave(&mut self, step: &mut Step<'_>, leave: &LeaveGroup) -> LeaveResponse {
        let mut members = Vec::with_capacity(leave.members.len());
        for leaving in &leave.members {
            let error = self.leave_one(
                step,
                &leaving.member_id,
                leaving.group_instance_id.as_deref(),
            );
            members.push(LeftMember {
                member_id: leaving.member_id.clone(),
                group_instance_id: leaving.group_instance_id.clone(),
                error,
            });
        }
        if members.iter().any(|left| left.error == ErrorCode::NONE) {
            match self.state {
                GroupState::Stable | GroupState::CompletingRebalance => {
                    self.rebalance_or_complete_join(step)
                }
                GroupState::PreparingRebalance => self.complete_join_if_ready(step),
                GroupState::Empty | GroupState::Dead => {}
            }
        }
        LeaveResponse {
            error: ErrorCode::NONE,
            members,
        }
    }

    /// One member of a LeaveGroup: by instance id alone (an administrator
    /// removing a static member), a handed-out id, or a member.
    fn leave_one(&mut self, step: &mut Step<'_>, id: &str, instance: Option<&str>) -> ErrorCode {
        if id.is_empty() {
            let held = instance.and_then(|instance| self.static_members.get(instance));
            let Some(holder) = held.cloned() else {
                return ErrorCode::UNKNOWN_MEMBER_ID;
            };
            self.remove_member(step, &holder);
            return ErrorCode::NONE;
        }
        if let Some(at) = self.pending_members.remove(id) {
            let member = id.to_owned();
            step.timers.disarm(
                at,
                Timer::Heartbeat {
                    group: self.id.clone(),
                    member,
                },
            );
            return ErrorCode::NONE;
        }
        match self.validate_member(id, instance) {
            Ok(()) => {
                self.remove_member(step, id);
                ErrorCode::NONE
            }
            Err(error) => error,
        }
    }

    /// Removes a member: its parked join or sync is answered
    /// UNKNOWN_MEMBER_ID, its deadline disarmed, and the first member to
    /// have arrived leads if it led.
    pub(super) fn remove_member(&mut self, step: &mut Step<'_>, id: &str) {
        let mut member = self
            .members
            .remove(id)
            .expect("a removed member was present");
        if let Some(parked) = member.awaiting_join.take() {
            let reply = JoinResponse::error(ErrorCode::UNKNOWN_MEMBER_ID, "");
            step.replies.answer(parked, GroupReply::Join(reply));
        }
        if let Some(parked) = member.awaiting_sync.take() {
            let reply = SyncResponse::error(ErrorCode::UNKNOWN_MEMBER_ID);
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
        if let Some(instance) = &member.instance_id {
            let holder = self.static_members.remove(instance);
            assert_eq!(holder.as_deref(), Some(id));
        }
        self.pending_sync.remove(id);
        if self.leader.as_deref() == Some(id) {
            self.leader = self.first_arrived(|_| true);
        }
        assert_eq!(self.leader.is_some(), !self.members.is_empty());
    }

    /// A heartbeat deadline passed: a handed-out id lapses; a member not
    /// excused (its join or sync parked) is removed and the group rebalances.
    fn fire_heartbeat(&mut self, step: &mut Step<'_>, id: &str, at: Instant) {
        // The initial rebalance delay is never cut short (Kafka's
        // InitialDelayedJoin does not complete early): an expiry completes
        // only a rebalance that is not the initial one.
        if let Some(deadline) = self.pending_members.remove(id) {
            assert_eq!(deadline, at);
            self.complete_join_if_ready(step);
            return;
        }
        let member = self
            .members
            .get_mut(id)
            .expect("a heartbeat timer names a member");
        assert_eq!(member.session_deadline.take(), Some(at));
        if member.excused_from_heartbeats() {
            // The deadline is set again when the parked request is answered.
            return;
        }
        self.remove_member(step, id);
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.rebalance_or_complete_join(step)
            }
            GroupState::PreparingRebalance => self.complete_join_if_ready(step),
            _ => {}
        }
    }

    /// The sync wait ended: members of this generation that never sent
    /// SyncGroup are removed, and the group rebalances without them.
    fn fire_sync(&mut self, step: &mut Step<'_>, at: Instant) {
        let (deadline, generation) = self
            .sync_timer
            .take()
            .expect("a fired sync timer was armed");
        assert_eq!(deadline, at);
        let syncing = matches!(
            self.state,
            GroupState::CompletingRebalance | GroupState::Stable
        );
        if generation != self.generation || !syncing || self.pending_sync.is_empty() {
            return;
        }
        let laggards: Vec<String> = std::mem::take(&mut self.pending_sync).into_iter().collect();
        for id in laggards {
            self.remove_member(step, &id);
        }
        self.prepare_rebalance(step);
    }
}
