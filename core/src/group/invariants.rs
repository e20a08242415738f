//! The coordinator's internal consistency, checked whole.
//!
//! A group says several things twice: its state and the requests it holds
//! parked, its members and their deadlines and the timer table, its leader
//! and its members, its instance ids and its static members.
//! [`Groups::check_invariants`] recomputes each and asserts that they
//! agree, and that generations only grow; the property tests call it after
//! every step. It walks everything: it is for the lab, not a server's
//! every request.

use super::messages::GroupState;
use super::state::Group;
use super::{Groups, Timer};
use crate::time::Instant;
use std::collections::BTreeSet;

impl Groups {
    /// Asserts the coordinator's internal consistency; panics, naming the
    /// invariant, at the first that does not hold.
    pub fn check_invariants(&self) {
        assert!(
            self.groups.len() <= self.config.groups_max,
            "invariant: groups within groups_max"
        );
        assert!(
            self.replies.queue.len() <= self.replies.max,
            "invariant: replies within replies_max"
        );
        let mut timers = BTreeSet::new();
        for (id, group) in &self.groups {
            assert_eq!(
                &group.id, id,
                "invariant: a group is filed under its own id"
            );
            check_group(group, self.config.group_members_max);
            timers.extend(group_timers(group));
        }
        assert!(
            timers == self.timers.set,
            "invariant: the timer table holds exactly the deadlines of the groups and members"
        );
        self.check_generations();
    }

    /// Generations only grow within one creation of a group.
    fn check_generations(&self) {
        // A check that panicked midway leaves a map that is still whole.
        let mut checked =
            (self.generations_checked.lock()).unwrap_or_else(std::sync::PoisonError::into_inner);
        checked.retain(|id, _| self.groups.contains_key(id));
        for (id, group) in &self.groups {
            let now = (group.incarnation, group.generation);
            if let Some(&(incarnation, generation)) = checked.get(id) {
                assert!(
                    incarnation != group.incarnation || generation <= group.generation,
                    "invariant: the generation of group '{id}' never goes back ({generation} then {})",
                    group.generation
                );
            }
            checked.insert(id.clone(), now);
        }
    }
}

fn check_group(group: &Group, members_max: usize) {
    let id = &group.id;
    assert!(
        group.state != GroupState::Dead,
        "invariant: no Dead group is kept ('{id}')"
    );
    assert!(
        group.generation >= 0,
        "invariant: generations start at 0 ('{id}')"
    );
    assert!(
        group.size() <= members_max,
        "invariant: group '{id}' within group_members_max"
    );
    assert_eq!(
        group.state == GroupState::Empty,
        group.members.is_empty() && group.state != GroupState::PreparingRebalance,
        "invariant: group '{id}' is Empty exactly when it has no members and is not rebalancing"
    );
    check_leader(group);
    check_parked(group);
    check_static_members(group);
    check_assignments(group);
    check_deadlines(group);
}

fn check_leader(group: &Group) {
    let id = &group.id;
    match &group.leader {
        Some(leader) => assert!(
            group.members.contains_key(leader),
            "invariant: the leader of '{id}' is a member"
        ),
        None => assert!(
            group.members.is_empty(),
            "invariant: a group with members has a leader ('{id}')"
        ),
    }
    // A rebalance keeps the last generation's protocol until it completes.
    let chosen = matches!(
        group.state,
        GroupState::CompletingRebalance | GroupState::Stable
    );
    assert!(
        !chosen || group.protocol_name.is_some(),
        "invariant: completing or stable '{id}' has a chosen protocol"
    );
    assert!(
        group.state != GroupState::Empty || group.protocol_name.is_none(),
        "invariant: Empty '{id}' has no chosen protocol"
    );
    if !group.members.is_empty() {
        assert!(
            group.protocol_type.is_some(),
            "invariant: a group with members has a protocol type ('{id}')"
        );
    }
}

fn check_parked(group: &Group) {
    let id = &group.id;
    for member in group.members.values() {
        assert!(
            member.id.as_str() != "",
            "invariant: member ids are not empty ('{id}')"
        );
        if member.awaiting_join.is_some() {
            assert_eq!(
                group.state,
                GroupState::PreparingRebalance,
                "invariant: joins are parked only while '{id}' prepares a rebalance"
            );
        }
        if member.awaiting_sync.is_some() {
            assert_eq!(
                group.state,
                GroupState::CompletingRebalance,
                "invariant: syncs are parked only while '{id}' completes a rebalance"
            );
        }
        assert!(
            !group.pending_members.contains_key(&member.id),
            "invariant: a handed-out id of '{id}' is not yet a member"
        );
    }
    for pending in &group.pending_sync {
        assert!(
            group.members.contains_key(pending),
            "invariant: members awaited in sync are members of '{id}'"
        );
    }
    if !group.pending_sync.is_empty() {
        assert!(
            matches!(
                group.state,
                GroupState::CompletingRebalance | GroupState::Stable
            ),
            "invariant: '{id}' awaits syncs only after a join phase"
        );
    }
}

fn check_static_members(group: &Group) {
    let id = &group.id;
    let statics = group
        .members
        .values()
        .filter(|member| member.instance_id.is_some())
        .count();
    assert_eq!(
        statics,
        group.static_members.len(),
        "invariant: one instance id per static member of '{id}'"
    );
    for (instance, member) in &group.static_members {
        let holder = group.members.get(member);
        assert!(
            holder.is_some_and(|holder| holder.instance_id.as_deref() == Some(instance.as_str())),
            "invariant: instance '{instance}' of '{id}' maps to the member holding it"
        );
    }
}

fn check_assignments(group: &Group) {
    let id = &group.id;
    for member in group.members.values() {
        if let Some((generation, _)) = &member.assignment {
            assert!(
                matches!(
                    group.state,
                    GroupState::Stable | GroupState::CompletingRebalance
                ),
                "invariant: assignments exist only in a stable or completing group ('{id}')"
            );
            assert_eq!(
                *generation, group.generation,
                "invariant: assignments in '{id}' are of the current generation"
            );
        } else {
            assert!(
                group.state != GroupState::Stable,
                "invariant: every member of stable '{id}' has its assignment"
            );
        }
    }
}

fn check_deadlines(group: &Group) {
    let id = &group.id;
    for member in group.members.values() {
        if member.session_deadline.is_none() {
            assert!(
                member.excused_from_heartbeats(),
                "invariant: only a member with a parked request in '{id}' goes without a deadline"
            );
        }
    }
    assert_eq!(
        group.join_timer.is_some(),
        group.state == GroupState::PreparingRebalance,
        "invariant: '{id}' has a join deadline exactly while it prepares a rebalance"
    );
    if let Some(timer) = &group.join_timer {
        assert!(
            timer.initial.is_none() || group.previous_state == GroupState::Empty,
            "invariant: the initial delay is for a group that was Empty ('{id}')"
        );
    }
    if group.sync_timer.is_some() || !group.pending_sync.is_empty() {
        assert!(
            group.sync_timer.is_some(),
            "invariant: members awaited in sync have a deadline ('{id}')"
        );
        assert!(
            matches!(
                group.state,
                GroupState::CompletingRebalance | GroupState::Stable
            ),
            "invariant: '{id}' has a sync deadline only after a join phase"
        );
    }
}

/// The timer entries a group's stored deadlines stand for.
fn group_timers(group: &Group) -> Vec<(Instant, Timer)> {
    let id = || group.id.clone();
    let mut timers = Vec::new();
    for member in group.members.values() {
        if let Some(at) = member.session_deadline {
            timers.push((
                at,
                Timer::Heartbeat {
                    group: id(),
                    member: member.id.clone(),
                },
            ));
        }
    }
    for (member, at) in &group.pending_members {
        timers.push((
            *at,
            Timer::Heartbeat {
                group: id(),
                member: member.clone(),
            },
        ));
    }
    if let Some(timer) = &group.join_timer {
        timers.push((timer.at, Timer::Join { group: id() }));
    }
    if let Some((at, _)) = group.sync_timer {
        timers.push((at, Timer::Sync { group: id() }));
    }
    timers
}

#[cfg(test)]
mod tests {
    use super::super::messages::*;
    use super::super::{Groups, GroupsConfig};
    use crate::protocol::ConnectionId;
    use crate::time::Instant;

    fn join(member_id: &str, client: &str) -> GroupRequest {
        GroupRequest::Join(JoinGroup {
            group: "g".into(),
            member_id: member_id.into(),
            group_instance_id: None,
            client_id: client.into(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 10_000,
            protocol_type: "consumer".into(),
            protocols: vec![JoinProtocol {
                name: "range".into(),
                metadata: Default::default(),
            }],
            require_known_member_id: false,
        })
    }

    /// A Stable group of two members, "a-1" (leader) and "b-2".
    fn stable() -> Groups {
        let mut groups = Groups::new(GroupsConfig::default());
        let from = |request| Requester {
            conn: ConnectionId(1),
            request,
        };
        groups.handle_request(Instant(0), from(1), join("", "a"));
        groups.handle_request(Instant(0), from(2), join("", "b"));
        let mut at = Instant(0);
        while groups.group_state("g") == Some(GroupState::PreparingRebalance) {
            at = groups.poll_timeout().expect("the initial delay");
            groups.handle_timeout(at);
        }
        for (request, member) in [(3, "a-1"), (4, "b-2")] {
            let sync = SyncGroup {
                group: "g".into(),
                generation: 1,
                member_id: member.into(),
                group_instance_id: None,
                protocol_type: None,
                protocol_name: None,
                assignments: Vec::new(),
            };
            groups.handle_request(at, from(request), GroupRequest::Sync(sync));
        }
        while groups.poll_output().is_some() {}
        assert_eq!(groups.group_state("g"), Some(GroupState::Stable));
        groups.check_invariants();
        groups
    }

    fn group(groups: &mut Groups) -> &mut super::Group {
        groups.groups.get_mut("g").expect("the group")
    }

    #[test]
    #[should_panic(expected = "never goes back")]
    fn a_generation_going_back_breaks_the_invariant() {
        let mut groups = stable();
        let group = group(&mut groups);
        group.generation = 0;
        for member in group.members.values_mut() {
            member.assignment = Some((0, Default::default()));
        }
        groups.check_invariants();
    }

    #[test]
    #[should_panic(expected = "the leader of 'g' is a member")]
    fn a_leader_that_is_not_a_member_breaks_the_invariant() {
        let mut groups = stable();
        group(&mut groups).leader = Some("nobody".into());
        groups.check_invariants();
    }

    #[test]
    #[should_panic(expected = "joins are parked only while")]
    fn a_parked_join_in_a_stable_group_breaks_the_invariant() {
        let mut groups = stable();
        let member = group(&mut groups).members.get_mut("b-2").expect("b");
        member.awaiting_join = Some(super::super::state::Parked(None));
        groups.check_invariants();
    }

    #[test]
    #[should_panic(expected = "syncs are parked only while")]
    fn a_parked_sync_in_a_stable_group_breaks_the_invariant() {
        let mut groups = stable();
        let member = group(&mut groups).members.get_mut("b-2").expect("b");
        member.awaiting_sync = Some(super::super::state::Parked(None));
        groups.check_invariants();
    }

    #[test]
    #[should_panic(expected = "the timer table holds exactly")]
    fn a_member_deadline_missing_from_the_timer_table_breaks_the_invariant() {
        let mut groups = stable();
        let member = group(&mut groups).members.get_mut("b-2").expect("b");
        member.session_deadline = member.session_deadline.map(|at| at.plus_ms(1));
        groups.check_invariants();
    }

    #[test]
    #[should_panic(expected = "goes without a deadline")]
    fn a_member_without_a_deadline_or_a_parked_request_breaks_the_invariant() {
        let mut groups = stable();
        let member = group(&mut groups).members.get_mut("b-2").expect("b");
        member.session_deadline = None;
        groups.check_invariants();
    }

    #[test]
    #[should_panic(expected = "is Empty exactly when it has no members")]
    fn an_empty_group_with_members_breaks_the_invariant() {
        let mut groups = stable();
        group(&mut groups).state = GroupState::Empty;
        groups.check_invariants();
    }

    #[test]
    #[should_panic(expected = "join deadline exactly while")]
    fn a_rebalancing_group_without_a_join_deadline_breaks_the_invariant() {
        let mut groups = stable();
        let group = group(&mut groups);
        group.state = GroupState::PreparingRebalance;
        group.protocol_name = None;
        for member in group.members.values_mut() {
            member.assignment = None;
        }
        group.pending_sync.clear();
        groups.check_invariants();
    }

    #[test]
    #[should_panic(expected = "are of the current generation")]
    fn an_assignment_of_an_old_generation_breaks_the_invariant() {
        let mut groups = stable();
        let member = group(&mut groups).members.get_mut("b-2").expect("b");
        member.assignment = Some((0, Default::default()));
        groups.check_invariants();
    }

    #[test]
    #[should_panic(expected = "every member of stable 'g' has its assignment")]
    fn a_stable_member_without_an_assignment_breaks_the_invariant() {
        let mut groups = stable();
        group(&mut groups)
            .members
            .get_mut("b-2")
            .expect("b")
            .assignment = None;
        groups.check_invariants();
    }

    #[test]
    #[should_panic(expected = "maps to the member holding it")]
    fn an_instance_id_mapped_to_another_member_breaks_the_invariant() {
        let mut groups = stable();
        let group = group(&mut groups);
        group.members.get_mut("a-1").expect("a").instance_id = Some("i".into());
        group.static_members.insert("i".into(), "b-2".into());
        groups.check_invariants();
    }

    #[test]
    #[should_panic(expected = "within group_members_max")]
    fn a_group_past_its_size_bound_breaks_the_invariant() {
        let mut groups = stable();
        groups.config.group_members_max = 1;
        groups.check_invariants();
    }
}
