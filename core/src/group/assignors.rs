//! Client-side assignors, as the group leader runs them: Kafka's
//! `RangeAssignor`, `RoundRobinAssignor` and `CooperativeStickyAssignor`,
//! as plain deterministic functions of the members' subscriptions and the
//! topics' partition counts.
//!
//! Members are ordered as Kafka's `MemberInfo` orders them: static members
//! first by instance id, then dynamic members by member id. Topics missing
//! from the partition counts are skipped. Every member appears in the
//! result, and each member's partitions are listed sorted.
//!
//! The cooperative-sticky assignor follows Kafka's constrained path (every
//! member subscribed to the same topics) step by step: owned partitions
//! are kept up to the quota, the rest go round robin to the members below
//! it. With differing subscriptions it keeps owned partitions, gives each
//! free partition to the least-loaded subscriber and moves partitions from
//! the most- to the least-loaded until balanced, a simpler search than
//! Kafka's general path with the same two properties checked by the tests.
//! Either way a partition changing owner is revoked first: it is left out
//! of the new owner's assignment this generation, so it is absent from
//! both, and the next rebalance hands it over.

use super::consumer_protocol::TopicPartition;
use std::collections::{BTreeMap, BTreeSet};

/// One member as the leader sees it: its subscription, and for the
/// cooperative assignor what it owns now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AssignorMember {
    /// Member id.
    pub member_id: String,
    /// Its `group.instance.id`, if static.
    pub group_instance_id: Option<String>,
    /// Subscribed topics.
    pub topics: Vec<String>,
    /// Partitions it owns now (cooperative protocols).
    pub owned: Vec<TopicPartition>,
    /// The generation its owned partitions are of, -1 when unknown.
    pub generation: i32,
}

/// Member id → its partitions, sorted.
pub type GroupAssignment = BTreeMap<String, Vec<TopicPartition>>;

/// Runs the assignor Kafka names `name` (`range`, `roundrobin`,
/// `cooperative-sticky`); `None` for any other name.
#[must_use]
pub fn assign(
    name: &str,
    members: &[AssignorMember],
    partitions_per_topic: &BTreeMap<String, i32>,
) -> Option<GroupAssignment> {
    match name {
        "range" => Some(range(members, partitions_per_topic)),
        "roundrobin" => Some(round_robin(members, partitions_per_topic)),
        "cooperative-sticky" => Some(cooperative_sticky(members, partitions_per_topic)),
        _ => None,
    }
}

/// Kafka's member order: static members by instance id, then the others by member id.
fn sorted(members: &[AssignorMember]) -> Vec<&AssignorMember> {
    let mut sorted: Vec<&AssignorMember> = members.iter().collect();
    sorted.sort_by(|a, b| member_key(a).cmp(&member_key(b)));
    sorted
}

fn member_key(member: &AssignorMember) -> (bool, &str) {
    match &member.group_instance_id {
        Some(instance) => (false, instance),
        None => (true, &member.member_id),
    }
}

fn empty_assignment(members: &[AssignorMember]) -> GroupAssignment {
    (members.iter())
        .map(|member| (member.member_id.clone(), Vec::new()))
        .collect()
}

fn finish(mut assignment: GroupAssignment) -> GroupAssignment {
    for partitions in assignment.values_mut() {
        partitions.sort();
    }
    assignment
}

fn subscribes(member: &AssignorMember, topic: &str) -> bool {
    member.topics.iter().any(|subscribed| subscribed == topic)
}

/// RangeAssignor: per topic, its subscribers in order each take a
/// contiguous range of partitions/subscribers, the first
/// partitions%subscribers one more.
#[must_use]
pub fn range(
    members: &[AssignorMember],
    partitions_per_topic: &BTreeMap<String, i32>,
) -> GroupAssignment {
    let mut assignment = empty_assignment(members);
    let order = sorted(members);
    for (topic, &count) in partitions_per_topic {
        let subscribers: Vec<&&AssignorMember> = order
            .iter()
            .filter(|member| subscribes(member, topic))
            .collect();
        if subscribers.is_empty() || count <= 0 {
            continue;
        }
        let n = subscribers.len();
        let partitions = usize::try_from(count).expect("checked positive");
        let (per_member, extra) = (partitions / n, partitions % n);
        for (i, member) in subscribers.into_iter().enumerate() {
            let start = per_member * i + i.min(extra);
            let len = per_member + usize::from(i < extra);
            let list = assignment
                .get_mut(&member.member_id)
                .expect("every member listed");
            for partition in start..start + len {
                let partition = i32::try_from(partition).expect("below count");
                list.push(TopicPartition::new(topic, partition));
            }
        }
    }
    finish(assignment)
}

/// Every partition of the subscribed topics that exist, topics sorted.
fn all_partitions(
    members: &[AssignorMember],
    partitions_per_topic: &BTreeMap<String, i32>,
) -> Vec<TopicPartition> {
    let topics: BTreeSet<&str> = (members.iter())
        .flat_map(|member| member.topics.iter().map(String::as_str))
        .collect();
    let mut partitions = Vec::new();
    for topic in topics {
        if let Some(&count) = partitions_per_topic.get(topic) {
            partitions.extend((0..count).map(|partition| TopicPartition::new(topic, partition)));
        }
    }
    partitions
}

/// RoundRobinAssignor: every partition in topic order goes to the next
/// member in a circle, skipping members not subscribed to its topic.
#[must_use]
pub fn round_robin(
    members: &[AssignorMember],
    partitions_per_topic: &BTreeMap<String, i32>,
) -> GroupAssignment {
    let mut assignment = empty_assignment(members);
    let order = sorted(members);
    let mut next = 0;
    for partition in all_partitions(members, partitions_per_topic) {
        // A partition's topic comes from some member's subscription, so the
        // circle finds a subscriber within one turn.
        let skipped = (0..order.len())
            .find(|skip| subscribes(order[(next + skip) % order.len()], &partition.topic))
            .expect("a subscriber of the partition's topic");
        let member = order[(next + skipped) % order.len()];
        assignment
            .get_mut(&member.member_id)
            .expect("listed")
            .push(partition);
        next = (next + skipped + 1) % order.len();
    }
    finish(assignment)
}

/// What the members own, deduplicated as Kafka does: a claim from an
/// older generation yields to a newer one; two claims of one generation
/// leave the partition with no owner, marked as having had several.
struct Owned {
    owner: BTreeMap<TopicPartition, (String, i32)>,
    several: BTreeSet<TopicPartition>,
}

fn owned_partitions(members: &[&AssignorMember], all: &BTreeSet<TopicPartition>) -> Owned {
    let mut owned = Owned {
        owner: BTreeMap::new(),
        several: BTreeSet::new(),
    };
    for member in members {
        for partition in member.owned.iter().filter(|p| all.contains(*p)) {
            let claim = (member.member_id.clone(), member.generation);
            match owned.owner.get(partition) {
                None if !owned.several.contains(partition) => {
                    owned.owner.insert(partition.clone(), claim);
                }
                Some((_, generation)) if *generation < member.generation => {
                    owned.owner.insert(partition.clone(), claim);
                }
                Some((_, generation)) if *generation == member.generation => {
                    owned.owner.remove(partition);
                    owned.several.insert(partition.clone());
                }
                _ => {}
            }
        }
    }
    owned
}

/// CooperativeStickyAssignor: balanced, keeping owned partitions where the
/// balance allows, and revoking a moving partition before reassigning it.
#[must_use]
pub fn cooperative_sticky(
    members: &[AssignorMember],
    partitions_per_topic: &BTreeMap<String, i32>,
) -> GroupAssignment {
    let mut order: Vec<&AssignorMember> = members.iter().collect();
    order.sort_by(|a, b| a.member_id.cmp(&b.member_id));
    let all_list = all_partitions(members, partitions_per_topic);
    let all: BTreeSet<TopicPartition> = all_list.iter().cloned().collect();
    let owned = owned_partitions(&order, &all);
    let same_topics = |a: &AssignorMember, b: &AssignorMember| {
        a.topics.iter().collect::<BTreeSet<_>>() == b.topics.iter().collect::<BTreeSet<_>>()
    };
    let equal = order.windows(2).all(|pair| same_topics(pair[0], pair[1]));
    let mut assignment = if equal {
        constrained(&order, &all_list, &owned)
    } else {
        general(&order, &all_list, &owned)
    };
    // Revoke before reassigning: a partition whose previous owner is still
    // here, or that had several, is held back from its new owner.
    for (member, partitions) in &mut assignment {
        partitions.retain(|partition| {
            let previous = owned.owner.get(partition).map(|(owner, _)| owner);
            !owned.several.contains(partition) && previous.is_none_or(|owner| owner == member)
        });
    }
    finish(assignment)
}

/// Owned partitions a member may keep, in Kafka's order (partition, then topic).
fn keepable(member: &AssignorMember, owned: &Owned) -> Vec<TopicPartition> {
    let mut kept: Vec<TopicPartition> = (owned.owner.iter())
        .filter(|(_, (owner, _))| *owner == member.member_id)
        .map(|(partition, _)| partition.clone())
        .filter(|partition| subscribes(member, &partition.topic))
        .collect();
    kept.sort_by(|a, b| (a.partition, &a.topic).cmp(&(b.partition, &b.topic)));
    kept
}

/// Kafka's `ConstrainedAssignmentBuilder` without racks: owned partitions
/// are kept up to the quotas, the rest go round robin to members below the
/// minimum quota, then to members at it until enough hold the maximum.
fn constrained(
    order: &[&AssignorMember],
    all: &[TopicPartition],
    owned: &Owned,
) -> GroupAssignment {
    let mut assignment: GroupAssignment = BTreeMap::new();
    if order.is_empty() {
        return assignment;
    }
    let (min_quota, extra) = (all.len() / order.len(), all.len() % order.len());
    let max_quota = min_quota + usize::from(extra > 0);
    let mut over_min = 0;
    let mut under_min: Vec<String> = Vec::new();
    let mut at_min: std::collections::VecDeque<String> = Default::default();
    let mut taken: BTreeSet<TopicPartition> = BTreeSet::new();
    for member in order {
        let kept = keepable(member, owned);
        let id = member.member_id.clone();
        let keep = if kept.len() < min_quota {
            under_min.push(id.clone());
            kept.len()
        } else if kept.len() >= max_quota && over_min < extra {
            over_min += 1;
            if over_min == extra {
                at_min.clear();
            }
            max_quota
        } else {
            if over_min < extra {
                at_min.push_back(id.clone());
            }
            min_quota
        };
        taken.extend(kept[..keep].iter().cloned());
        assignment.insert(id, kept[..keep].to_vec());
    }
    let unassigned: Vec<&TopicPartition> = all.iter().filter(|p| !taken.contains(*p)).collect();
    let mut cursor = 0;
    for partition in unassigned {
        let member = if cursor < under_min.len() {
            cursor += 1;
            under_min[cursor - 1].clone()
        } else if under_min.is_empty() {
            // The quotas leave room for every partition, as Kafka asserts.
            at_min
                .pop_front()
                .expect("a member below the maximum quota")
        } else {
            cursor = 1;
            under_min[0].clone()
        };
        let list = assignment.get_mut(&member).expect("every member listed");
        list.push(partition.clone());
        if list.len() == min_quota && under_min.contains(&member) {
            cursor -= 1;
            under_min.retain(|id| *id != member);
            at_min.push_back(member);
        } else if list.len() == max_quota && max_quota > min_quota {
            over_min += 1;
        }
    }
    assert!(
        over_min <= extra,
        "no more members above the minimum quota than the remainder"
    );
    assignment
}

/// Differing subscriptions: keep what is owned and subscribed, give each
/// free partition to its least-loaded subscriber, then move partitions from
/// the most- to the least-loaded subscriber until no move narrows the gap.
fn general(order: &[&AssignorMember], all: &[TopicPartition], owned: &Owned) -> GroupAssignment {
    let mut assignment: GroupAssignment = BTreeMap::new();
    let mut taken: BTreeSet<TopicPartition> = BTreeSet::new();
    for member in order {
        let kept = keepable(member, owned);
        taken.extend(kept.iter().cloned());
        assignment.insert(member.member_id.clone(), kept);
    }
    let least_loaded = |assignment: &GroupAssignment, topic: &str| {
        (order.iter())
            .filter(|member| subscribes(member, topic))
            .min_by_key(|member| (assignment[&member.member_id].len(), &member.member_id))
            .map(|member| member.member_id.clone())
    };
    for partition in all.iter().filter(|p| !taken.contains(*p)) {
        let member = least_loaded(&assignment, &partition.topic).expect("a subscriber");
        assignment
            .get_mut(&member)
            .expect("listed")
            .push(partition.clone());
    }
    // Each move lowers the sum of squared loads, so this ends; the bound says so.
    let moves_max = all.len() * all.len() + 1;
    for moves in 0.. {
        assert!(moves < moves_max, "balancing ends");
        let Some((from, to, partition)) = best_move(order, &assignment) else {
            break;
        };
        let list = assignment.get_mut(&from).expect("listed");
        list.retain(|p| *p != partition);
        assignment.get_mut(&to).expect("listed").push(partition);
    }
    assignment
}

/// A partition whose move from its member to another subscriber would
/// leave the two at least two closer, from the most-loaded member first.
fn best_move(
    order: &[&AssignorMember],
    assignment: &GroupAssignment,
) -> Option<(String, String, TopicPartition)> {
    let mut by_load: Vec<&&AssignorMember> = order.iter().collect();
    by_load.sort_by_key(|member| {
        (
            std::cmp::Reverse(assignment[&member.member_id].len()),
            &member.member_id,
        )
    });
    for from in by_load {
        let load = assignment[&from.member_id].len();
        for partition in &assignment[&from.member_id] {
            let to = (order.iter())
                .filter(|member| subscribes(member, &partition.topic))
                .filter(|member| assignment[&member.member_id].len() + 1 < load)
                .min_by_key(|member| (assignment[&member.member_id].len(), &member.member_id));
            if let Some(to) = to {
                return Some((
                    from.member_id.clone(),
                    to.member_id.clone(),
                    partition.clone(),
                ));
            }
        }
    }
    None
}
