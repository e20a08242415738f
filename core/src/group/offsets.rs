//! Committed offsets and the admin answers: OffsetCommit (Kafka's
//! `ClassicGroup.validateOffsetCommit` and `OffsetMetadataManager`),
//! OffsetFetch, DescribeGroups, ListGroups and DeleteGroups, and the
//! durable changes that rebuild the offsets after a restart.
//!
//! A committed offset is the next offset the group will read. Every
//! accepted commit is a [`GroupChange`]; [`Groups::recover`] replays them
//! and [`Groups::snapshot`] gives the changes of the live state.

use super::messages::{
    CommittedPartition, DescribedGroup, DescribedMember, ErrorCode, FetchedOffset, GroupReply,
    GroupState, ListedGroup, OffsetCommit, OffsetFetch, Requester,
};
use super::state::{Committed, Group};
use super::{Groups, GroupsConfig, Step};
use crate::config::Mutant;
use serde::{Deserialize, Serialize};

/// A durable change of the coordinator's state.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum GroupChange {
    /// A group committed an offset for a partition.
    OffsetCommitted {
        /// The group.
        group: String,
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// The next offset to read.
        offset: i64,
        /// The client's metadata string.
        metadata: String,
    },
    /// A group was deleted, with its offsets.
    GroupDeleted {
        /// The group.
        group: String,
    },
    /// A group's join completed into a new generation. A recovered group
    /// goes on from this generation, and the coordinator's member ids from
    /// this count, so no member id or generation handed out before a
    /// restart is handed out again (a member from before the restart is
    /// then fenced, never taken for a new one).
    GenerationStarted {
        /// The group.
        group: String,
        /// Its new generation.
        generation: i32,
        /// How many member ids the coordinator had handed out.
        member_ids: u64,
    },
}

impl Groups {
    pub(super) fn handle_offset_commit(
        &mut self,
        from: Requester,
        mut commit: OffsetCommit,
        known: &dyn Fn(&str, i32) -> bool,
    ) {
        let (named, unknown): (Vec<_>, Vec<_>) = (commit.partitions.drain(..))
            .partition(|partition| known(&partition.topic, partition.partition));
        let unknown = (unknown.into_iter()).map(|partition| CommittedPartition {
            topic: partition.topic,
            partition: partition.partition,
            error: ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
        });
        let mut answered: Vec<CommittedPartition> = unknown.collect();
        if named.is_empty() && !answered.is_empty() {
            let reply = GroupReply::OffsetCommit {
                partitions: answered,
            };
            return self.replies.push(from, reply);
        }
        commit.partitions = named;
        let refusal = if commit.group.is_empty() {
            Some(ErrorCode::INVALID_GROUP_ID)
        } else if self.groups.contains_key(&commit.group) {
            None
        } else if commit.generation >= 0 {
            // OffsetCommit before v9 answers a missing group so.
            Some(ErrorCode::ILLEGAL_GENERATION)
        } else if !self.create_group(&commit.group) {
            Some(ErrorCode::COORDINATOR_NOT_AVAILABLE)
        } else {
            // A commit outside group management makes a "simple" group.
            None
        };
        let partitions = match refusal {
            Some(error) => every_partition(&commit, error),
            None => {
                let group = commit.group.clone();
                let outcome = self.with_group(&group, |group, step| group.commit(step, &commit));
                outcome.expect("the group exists or was just created")
            }
        };
        answered.extend(partitions);
        let reply = GroupReply::OffsetCommit {
            partitions: answered,
        };
        self.replies.push(from, reply);
    }

    pub(super) fn handle_offset_fetch(&mut self, from: Requester, fetch: OffsetFetch) {
        let group = self.groups.get(&fetch.group);
        let committed = |topic: &str, partition: i32| {
            let key = (topic.to_owned(), partition);
            group.and_then(|group| group.offsets.get(&key))
        };
        let fetched =
            |(topic, partition): (&str, i32), committed: Option<&Committed>| FetchedOffset {
                topic: topic.to_owned(),
                partition,
                offset: committed.map_or(-1, |c| c.offset),
                metadata: committed.map(|c| c.metadata.clone()).unwrap_or_default(),
            };
        let partitions = match &fetch.partitions {
            Some(asked) => (asked.iter())
                .map(|(topic, partition)| {
                    fetched((topic, *partition), committed(topic, *partition))
                })
                .collect(),
            None => (group.iter().flat_map(|group| &group.offsets))
                .map(|((topic, partition), c)| fetched((topic, *partition), Some(c)))
                .collect(),
        };
        let error = if fetch.group.is_empty() {
            ErrorCode::INVALID_GROUP_ID
        } else {
            ErrorCode::NONE
        };
        self.replies
            .push(from, GroupReply::OffsetFetch { error, partitions });
    }

    pub(super) fn handle_describe(&mut self, from: Requester, ids: &[String]) {
        let groups = ids
            .iter()
            .map(|id| match self.groups.get(id) {
                Some(group) => describe(group),
                None => DescribedGroup {
                    error: ErrorCode::NONE,
                    group: id.clone(),
                    state: GroupState::Dead,
                    protocol_type: String::new(),
                    protocol_data: String::new(),
                    members: Vec::new(),
                },
            })
            .collect();
        self.replies.push(from, GroupReply::Describe { groups });
    }

    pub(super) fn handle_list(&mut self, from: Requester, states: &[GroupState]) {
        let groups = (self.groups.values())
            .filter(|group| states.is_empty() || states.contains(&group.state))
            .map(|group| ListedGroup {
                group: group.id.clone(),
                protocol_type: group.protocol_type.clone().unwrap_or_default(),
                state: group.state,
            })
            .collect();
        self.replies.push(from, GroupReply::List { groups });
    }

    /// DeleteGroups: an Empty group goes, offsets and all (it is Dead).
    pub(super) fn handle_delete(&mut self, from: Requester, ids: &[String]) {
        let mut outcomes = Vec::with_capacity(ids.len());
        for id in ids {
            let error = match self.groups.get(id).map(|group| group.state) {
                None => ErrorCode::GROUP_ID_NOT_FOUND,
                Some(GroupState::Empty) => {
                    self.drop_group(id);
                    let group = id.clone();
                    self.changes.push_back(GroupChange::GroupDeleted { group });
                    ErrorCode::NONE
                }
                Some(_) => ErrorCode::NON_EMPTY_GROUP,
            };
            outcomes.push((id.clone(), error));
        }
        self.replies
            .push(from, GroupReply::Delete { groups: outcomes });
    }

    /// A coordinator rebuilt from the durable changes, in order: every
    /// group that has offsets or a generation, Empty, at its generation.
    #[must_use]
    pub fn recover(config: GroupsConfig, changes: impl IntoIterator<Item = GroupChange>) -> Groups {
        let mut groups = Groups::new(config);
        for change in changes {
            match change {
                GroupChange::OffsetCommitted {
                    group,
                    topic,
                    partition,
                    offset,
                    metadata,
                } => {
                    let offsets = &mut groups.recovered_group(&group).offsets;
                    offsets.insert((topic, partition), Committed { offset, metadata });
                }
                GroupChange::GroupDeleted { group } => {
                    if groups.groups.contains_key(&group) {
                        groups.drop_group(&group);
                    }
                }
                GroupChange::GenerationStarted {
                    group,
                    generation,
                    member_ids,
                } => {
                    groups.member_ids = groups.member_ids.max(member_ids);
                    let group = groups.recovered_group(&group);
                    group.generation = group.generation.max(generation);
                }
            }
        }
        groups
    }

    /// The group `id` of a coordinator being recovered, created Empty if new.
    fn recovered_group(&mut self, id: &str) -> &mut Group {
        if !self.groups.contains_key(id) {
            let created = self.create_group(id);
            assert!(created, "a recovered log fits groups_max");
        }
        self.groups.get_mut(id).expect("present or just created")
    }

    /// The changes that rebuild the live durable state: every group's
    /// generation and every committed offset.
    #[must_use]
    pub fn snapshot(&self) -> Vec<GroupChange> {
        let mut changes = Vec::new();
        for group in self.groups.values() {
            if group.generation > 0 {
                changes.push(GroupChange::GenerationStarted {
                    group: group.id.clone(),
                    generation: group.generation,
                    member_ids: self.member_ids,
                });
            }
            for ((topic, partition), committed) in &group.offsets {
                changes.push(GroupChange::OffsetCommitted {
                    group: group.id.clone(),
                    topic: topic.clone(),
                    partition: *partition,
                    offset: committed.offset,
                    metadata: committed.metadata.clone(),
                });
            }
        }
        changes
    }
}

fn every_partition(commit: &OffsetCommit, error: ErrorCode) -> Vec<CommittedPartition> {
    (commit.partitions.iter())
        .map(|partition| CommittedPartition {
            topic: partition.topic.clone(),
            partition: partition.partition,
            error,
        })
        .collect()
}

impl Group {
    fn commit(&mut self, step: &mut Step<'_>, commit: &OffsetCommit) -> Vec<CommittedPartition> {
        let stale_accepted = step.mutant == Some(Mutant::AcceptStaleGenerationCommit);
        if let Err(error) = self.validate_offset_commit(commit, stale_accepted) {
            return every_partition(commit, error);
        }
        // A commit restarts a member's heartbeat deadline in Stable and PreparingRebalance.
        let restarts_deadline = matches!(
            self.state,
            GroupState::Stable | GroupState::PreparingRebalance
        );
        if restarts_deadline && self.members.contains_key(&commit.member_id) {
            let deadline = step
                .now
                .plus_ms(self.members[&commit.member_id].session_timeout_ms);
            self.set_session_deadline(step, &commit.member_id, Some(deadline));
        }
        let mut outcomes = Vec::with_capacity(commit.partitions.len());
        for partition in &commit.partitions {
            let error = if partition.metadata.len() > step.config.offset_metadata_bytes_max {
                ErrorCode::OFFSET_METADATA_TOO_LARGE
            } else {
                let key = (partition.topic.clone(), partition.partition);
                let committed = Committed {
                    offset: partition.offset,
                    metadata: partition.metadata.clone(),
                };
                self.offsets.insert(key, committed);
                step.changes.push_back(GroupChange::OffsetCommitted {
                    group: self.id.clone(),
                    topic: partition.topic.clone(),
                    partition: partition.partition,
                    offset: partition.offset,
                    metadata: partition.metadata.clone(),
                });
                ErrorCode::NONE
            };
            outcomes.push(CommittedPartition {
                topic: partition.topic.clone(),
                partition: partition.partition,
                error,
            });
        }
        outcomes
    }

    /// Kafka's `ClassicGroup.validateOffsetCommit`: generation -1 commits
    /// to an Empty group; otherwise a known member of the current
    /// generation, and not while the group waits for its assignment. With
    /// `stale_accepted` (a mutant) a known member's commit from an older
    /// generation passes.
    fn validate_offset_commit(
        &self,
        commit: &OffsetCommit,
        stale_accepted: bool,
    ) -> Result<(), ErrorCode> {
        if commit.generation < 0 && self.state == GroupState::Empty {
            return Ok(());
        }
        let managed = commit.generation >= 0
            || !commit.member_id.is_empty()
            || commit.group_instance_id.is_some();
        if managed {
            self.validate_member(&commit.member_id, commit.group_instance_id.as_deref())?;
            if stale_accepted && commit.generation < self.generation {
                return Ok(());
            }
            if commit.generation != self.generation {
                return Err(ErrorCode::ILLEGAL_GENERATION);
            }
        } else if self.state != GroupState::Empty {
            return Err(ErrorCode::UNKNOWN_MEMBER_ID);
        }
        if self.state == GroupState::CompletingRebalance {
            return Err(ErrorCode::REBALANCE_IN_PROGRESS);
        }
        Ok(())
    }
}

/// DescribeGroups' view of a group: metadata and assignments in Stable only.
fn describe(group: &Group) -> DescribedGroup {
    let stable = group.state == GroupState::Stable;
    let protocol = group.protocol_name.clone().unwrap_or_default();
    let members = (group.members.values())
        .map(|member| DescribedMember {
            member_id: member.id.clone(),
            group_instance_id: member.instance_id.clone(),
            client_id: member.client_id.clone(),
            metadata: if stable {
                member.metadata(&protocol)
            } else {
                bytes::Bytes::new()
            },
            assignment: match (&member.assignment, stable) {
                (Some((_, bytes)), true) => bytes.clone(),
                _ => bytes::Bytes::new(),
            },
        })
        .collect();
    DescribedGroup {
        error: ErrorCode::NONE,
        group: group.id.clone(),
        state: group.state,
        protocol_type: group.protocol_type.clone().unwrap_or_default(),
        protocol_data: if stable { protocol } else { String::new() },
        members,
    }
}
