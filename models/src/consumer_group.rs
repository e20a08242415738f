//! The `consumer-group` model: two or three members of one Kafka consumer
//! group share the partitions of one topic through the broker's group
//! coordinator.
//!
//! The protocol is Kafka's classic group protocol. Each member joins with
//! an empty member id; the coordinator waits its initial rebalance delay,
//! completes the join into generation 1 and names a leader, which runs the
//! core's `range` assignor over the members' subscriptions and hands the
//! assignment back in its SyncGroup; the coordinator passes each member its
//! part unread. Members fetch their partitions' committed offsets, process
//! records and commit the offset after each (an accepted commit is answered
//! once its record is synced), heartbeat, leave (bounded) and crash and
//! start again (bounded). Every deadline of the coordinator (the initial
//! delay, session timeouts, the end of a join or sync wait) may be reached
//! at any point, as the broker actor's `Deadline` timer does for every
//! model: a member may be timed out however often it heartbeats. The broker
//! may crash (bounded) and recover from its synced records, after which the
//! group is Empty with its committed offsets and the members join again.
//! Generations are bounded (`generations_max`): states past it are not
//! explored.
//!
//! Everything the coordinator does is the production core's, run through
//! `Input::Stream`; the members are the model's (see `group_member`).
//!
//! Checked, in every reachable state: no step panics; no partition is held
//! by two members in one generation (`one-owner`, judged from what the
//! members hold); the offset the group has committed for a partition is
//! never below one a member's commit was acknowledged with
//! (`committed-offset-monotone`: acknowledged commits never go backwards,
//! across crashes too); the broker never accepts a commit naming a
//! generation other than the group's (`stale-commit-fenced`). When nothing
//! more is in flight and the group is Stable, every partition is held by
//! exactly one member of the current generation (`eventually-owned`). A
//! second generation must be reached (`rebalanced`) and some commit
//! acknowledged (`offset-acknowledged`), so a model that does nothing fails.

use crate::actors::Node;
use crate::broker_actor::{BrokerActor, BrokerState};
use crate::clients::BROKER;
use crate::group_member::{Awaiting, GroupMember, MemberState, GROUP, PARTITIONS_MAX, TOPIC};
use crate::properties::{self, BrokerModel, History, Settings, State};
use brokerlab_core::group::GroupState;
use brokerlab_core::stream::{StreamCommand, TopicConfig};
use brokerlab_core::Mutant;
use stateright::actor::Network;
use stateright::Expectation;
use std::collections::BTreeSet;

/// The `consumer-group` model's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerGroup {
    /// How many members share the topic (2 or 3).
    pub members: u8,
    /// How many partitions the topic has (2 to 4).
    pub partitions: u8,
    /// How many records each partition holds.
    pub records: u8,
    /// How many times each member may leave.
    pub leaves_per_member: u8,
    /// How many times each member's process may crash and start again.
    pub restarts_per_member: u8,
    /// How many times the broker may crash and recover.
    pub crashes: u8,
    /// The highest generation explored.
    pub generations_max: i32,
    /// A deliberately broken broker, or `None` for the real one.
    pub mutant: Option<Mutant>,
}

impl Default for ConsumerGroup {
    /// The standard configuration: two members, two partitions of two
    /// records, up to generation 2, no crash (`--crashes 1` lets the
    /// broker crash once: some 3.8 million states, a minute in release).
    fn default() -> ConsumerGroup {
        ConsumerGroup {
            members: 2,
            partitions: 2,
            records: 2,
            leaves_per_member: 0,
            restarts_per_member: 0,
            crashes: 0,
            generations_max: 2,
            mutant: None,
        }
    }
}

impl ConsumerGroup {
    /// The actor model: the broker (actor 0) and the members (1 on).
    #[must_use]
    pub fn into_model(self) -> BrokerModel {
        assert!((1..=3).contains(&self.members), "one to three members");
        let partitions = usize::from(self.partitions);
        assert!((1..=PARTITIONS_MAX).contains(&partitions), "partitions");
        assert!(self.crashes <= properties::CRASHES_MAX, "too many crashes");
        // The topic the members commit offsets of: a commit naming a
        // partition the broker lacks is UNKNOWN_TOPIC_OR_PARTITION.
        let create = StreamCommand::CreateTopic {
            topic: TOPIC.into(),
            partitions: u32::from(self.partitions),
            config: TopicConfig {
                retention_ms: None,
                ..TopicConfig::default()
            },
        };
        let broker = BrokerActor {
            keep_log: self.crashes > 0,
            stream_setup: vec![create],
            ..BrokerActor::new(self.mutant, Vec::new(), usize::from(self.members))
        };
        let member = GroupMember {
            partitions: self.partitions,
            records: self.records,
            leaves: self.leaves_per_member,
            restarts: self.restarts_per_member,
        };
        let settings = Settings {
            crashes: self.crashes,
            partitions: self.partitions,
            generations_max: self.generations_max,
            ..Settings::default()
        };
        let members = (0..self.members).map(|_| Node::Member(member.clone()));
        BrokerModel::new(settings, History::default())
            .actor(Node::Broker(broker))
            .actors(members)
            .init_network(Network::new_ordered([]))
            .max_crashes(usize::from(self.crashes.min(1)))
            .record_msg_out(properties::record_msg_out)
            .within_boundary(within_bounds)
            .property(Expectation::Always, "no-panic", properties::no_panic)
            .property(Expectation::Always, "one-owner", one_owner)
            .property(
                Expectation::Always,
                "committed-offset-monotone",
                committed_offset_monotone,
            )
            .property(
                Expectation::Always,
                "stale-commit-fenced",
                stale_commit_fenced,
            )
            .property(Expectation::Always, "eventually-owned", eventually_owned)
            .property(Expectation::Sometimes, "rebalanced", rebalanced)
            .property(
                Expectation::Sometimes,
                "offset-acknowledged",
                offset_acknowledged,
            )
    }
}

/// The model's boundary: the broker's crashes, and the group's generations.
fn within_bounds(settings: &Settings, state: &State) -> bool {
    let groups = broker_state(state).map(|broker| broker.broker.groups());
    let generation = groups.and_then(|groups| groups.generation(GROUP));
    properties::within_crash_bounds(settings, state)
        && generation.is_none_or(|generation| generation <= settings.generations_max)
}

fn broker_state(state: &State) -> Option<&BrokerState> {
    state.actor_states[BROKER].as_broker()
}

/// The broker, when it is up and did not panic (a panic is `no-panic`'s).
fn live_broker(state: &State) -> Option<&BrokerState> {
    let broker = broker_state(state)?;
    (!state.crashed[BROKER] && broker.panicked.is_none()).then_some(broker)
}

fn members(state: &State) -> impl Iterator<Item = &MemberState> {
    state
        .actor_states
        .iter()
        .filter_map(|actor| actor.as_member())
}

/// `one-owner`: no two members hold one partition in the same generation.
pub fn one_owner(_: &BrokerModel, state: &State) -> bool {
    let held: Vec<(i32, u8)> = members(state).filter_map(|member| member.held).collect();
    held.iter().enumerate().all(|(index, (generation, mask))| {
        let others = held[index + 1..].iter();
        others
            .filter(|(other, _)| other == generation)
            .all(|(_, other)| other & mask == 0)
    })
}

/// `committed-offset-monotone`: the group's committed offset of each
/// partition is at least every offset a commit of it was acknowledged with.
pub fn committed_offset_monotone(model: &BrokerModel, state: &State) -> bool {
    let Some(broker) = live_broker(state) else {
        return true;
    };
    let groups = broker.broker.groups();
    (0..model.cfg.partitions).all(|partition| {
        let committed = groups.committed_offset(GROUP, TOPIC, i32::from(partition));
        let acknowledged = members(state).map(|member| member.acknowledged[usize::from(partition)]);
        let acknowledged = i64::from(acknowledged.max().unwrap_or(0));
        acknowledged == 0 || committed.is_some_and(|committed| committed >= acknowledged)
    })
}

/// `stale-commit-fenced`: the broker accepted no commit naming a generation
/// other than the group's current one.
pub fn stale_commit_fenced(_: &BrokerModel, state: &State) -> bool {
    broker_state(state).is_none_or(|broker| !broker.stale_commit_accepted)
}

/// `eventually-owned`: once nothing more is in flight and the group is
/// Stable, each partition is held by exactly one member of its generation.
pub fn eventually_owned(model: &BrokerModel, state: &State) -> bool {
    let Some(broker) = live_broker(state) else {
        return true;
    };
    let groups = broker.broker.groups();
    if !properties::is_quiet(state) || groups.group_state(GROUP) != Some(GroupState::Stable) {
        return true;
    }
    // A member whose client is gone (crashed, or its join was in flight
    // across a broker crash) holds its partitions until its incarnation
    // timeout, which may still come: the group is not settled yet.
    let current: Vec<&MemberState> = (members(state))
        .filter(|member| member.awaiting != Awaiting::Left && !member.member_id.is_empty())
        .collect();
    let clients: BTreeSet<&str> = current
        .iter()
        .map(|member| member.member_id.as_str())
        .collect();
    if groups.members(GROUP).collect::<BTreeSet<&str>>() != clients {
        return true;
    }
    let generation = groups.generation(GROUP);
    let masks: Vec<u8> = (current.into_iter())
        .filter_map(|member| member.held)
        .filter(|(held, _)| Some(*held) == generation)
        .map(|(_, mask)| mask)
        .collect();
    (0..model.cfg.partitions).all(|partition| {
        let owners = masks.iter().filter(|mask| *mask & (1 << partition) != 0);
        owners.count() == 1
    })
}

/// `rebalanced` (sometimes): the group is Stable in a generation past the first.
pub fn rebalanced(_: &BrokerModel, state: &State) -> bool {
    live_broker(state).is_some_and(|broker| {
        let groups = broker.broker.groups();
        groups.group_state(GROUP) == Some(GroupState::Stable)
            && groups
                .generation(GROUP)
                .is_some_and(|generation| generation >= 2)
    })
}

/// `offset-acknowledged` (sometimes): a member's commit was acknowledged.
pub fn offset_acknowledged(_: &BrokerModel, state: &State) -> bool {
    members(state).any(|member| member.acknowledged.iter().any(|offset| *offset > 0))
}
