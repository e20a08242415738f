//! Access control for stream connections (Kafka's clients): once a
//! connection says which user it authenticated as
//! (`StreamCommand::Authenticated`), every command it sends is checked
//! against that user's permissions on [`STREAM_VHOST`], RabbitMQ's three
//! patterns mapped onto Kafka's resources as Kafka's own ACLs divide them:
//!
//! | the command | needs | refused with |
//! |---|---|---|
//! | CreateTopic, DeleteTopic, CreatePartitions | configure on the topic | TOPIC_AUTHORIZATION_FAILED (29) |
//! | Metadata creating missing topics | configure on every missing topic it names | none is created: UNKNOWN_TOPIC_OR_PARTITION |
//! | Produce | write on the topic | TOPIC_AUTHORIZATION_FAILED |
//! | Fetch, ListOffsets, DescribeConfigs of a topic, Metadata naming a topic | read on the topic | TOPIC_AUTHORIZATION_FAILED, partition by partition; a Metadata listing every topic leaves out the unreadable ones |
//! | a group request (join, sync, heartbeat, leave, commit, fetch offsets, describe) | read on the group | GROUP_AUTHORIZATION_FAILED (30); ListGroups leaves out the unreadable groups |
//! | an offset commit | read on each partition's topic | every partition TOPIC_AUTHORIZATION_FAILED, nothing committed |
//! | DeleteGroups | configure on each group | every group GROUP_AUTHORIZATION_FAILED, nothing deleted |
//!
//! A request naming several groups or topics is refused whole when one of
//! them is refused (Kafka answers each on its own); Fetch and Metadata
//! alone answer each partition or topic on its own.
//!
//! A connection that never authenticates (served anonymously) and a user
//! whose permissions admit everything are not checked.

use super::Broker;
use crate::access::{Operation, Permissions};
use crate::group::{
    CommittedPartition, DescribedGroup, ErrorCode, GroupReply, GroupRequest, GroupState,
    JoinResponse, LeaveResponse, SyncResponse,
};
use crate::protocol::ConnectionId;
use crate::stream::{FetchedPartition, StreamCommand, StreamError, StreamReply};
use bytes::Bytes;
use std::sync::Arc;

/// The vhost whose permissions apply to stream connections: Kafka has no
/// vhosts, and its topics live beside the default vhost's queues.
pub(crate) const STREAM_VHOST: &str = "/";

impl Broker {
    /// `StreamCommand::Authenticated`: the connection's commands are
    /// checked against `user`'s permissions from now on.
    pub(super) fn stream_authenticated(&mut self, conn: ConnectionId, user: &str) {
        match self.restrictions_of(user, STREAM_VHOST) {
            Some(permissions) => {
                self.stream_permissions.insert(conn, permissions);
            }
            None => {
                self.stream_permissions.remove(&conn);
            }
        }
    }

    /// The command as the connection may run it: as it came, narrowed to
    /// what its user may see, or `None` when it was refused whole (and
    /// answered here).
    pub(super) fn stream_access(
        &mut self,
        conn: ConnectionId,
        request: u64,
        command: StreamCommand,
    ) -> Option<StreamCommand> {
        let Some(permissions) = self.stream_permissions.get(&conn).map(Arc::clone) else {
            return Some(command);
        };
        let may = |operation, name: &str| permissions.allows(operation, name);
        let refused = StreamError::TopicAuthorizationFailed;
        let reply = match command {
            StreamCommand::CreateTopic { ref topic, .. } if !may(Operation::Configure, topic) => {
                StreamReply::TopicCreated {
                    topic: topic.clone(),
                    result: Err(refused),
                }
            }
            StreamCommand::DeleteTopic { topic } if !may(Operation::Configure, &topic) => {
                StreamReply::TopicDeleted {
                    topic,
                    result: Err(refused),
                }
            }
            StreamCommand::CreatePartitions { topic, .. } if !may(Operation::Configure, &topic) => {
                StreamReply::PartitionsCreated {
                    topic,
                    result: Err(refused),
                }
            }
            StreamCommand::Produce {
                topic, partition, ..
            } if !may(Operation::Write, &topic) => StreamReply::Produced {
                topic,
                partition,
                result: Err(refused),
            },
            StreamCommand::DescribeTopic { topic } if !may(Operation::Read, &topic) => {
                StreamReply::TopicConfig {
                    topic,
                    result: Err(refused),
                }
            }
            StreamCommand::ListOffsets {
                topic, partition, ..
            } if !may(Operation::Read, &topic) => StreamReply::Offsets {
                topic,
                partition,
                result: Err(refused),
            },
            StreamCommand::Fetch {
                partitions,
                max_wait_ms,
                min_bytes,
                max_bytes,
            } => {
                // Past the bound the fetch goes on, to be refused whole as usual.
                let bounded = partitions.len() <= self.streams.limits.fetch_partitions_max;
                let readable =
                    |asked: &crate::stream::FetchPartition| may(Operation::Read, &asked.topic);
                if !bounded || partitions.iter().all(readable) {
                    return Some(StreamCommand::Fetch {
                        partitions,
                        max_wait_ms,
                        min_bytes,
                        max_bytes,
                    });
                }
                // Answered at once, as any fetch with a failed partition is.
                let readable: Vec<_> = (partitions.iter())
                    .filter(|asked| may(Operation::Read, &asked.topic))
                    .cloned()
                    .collect();
                let mut read = self.streams.read_now(&readable, max_bytes).into_iter();
                let partitions = (partitions.into_iter())
                    .map(|asked| match may(Operation::Read, &asked.topic) {
                        true => read.next().expect("one read per readable partition"),
                        false => FetchedPartition {
                            topic: asked.topic,
                            partition: asked.partition,
                            result: Err(refused),
                        },
                    })
                    .collect();
                StreamReply::Fetched { partitions }
            }
            StreamCommand::Metadata {
                topics,
                create_partitions,
            } => return Some(self.metadata_access(conn, request, topics, create_partitions)),
            StreamCommand::Group(group_request) => {
                if matches!(group_request, GroupRequest::List { .. }) {
                    self.restricted_replies.insert((conn, request), false);
                }
                match group_refusal(&permissions, group_request) {
                    Ok(group_request) => return Some(StreamCommand::Group(group_request)),
                    Err(reply) => StreamReply::Group(reply),
                }
            }
            command => return Some(command),
        };
        self.stream_reply(conn, request, reply, None);
        None
    }

    /// Metadata for a restricted connection: unreadable topics named are
    /// refused (and not created), a missing topic is created only with
    /// configure on it, and a listing of every topic leaves out those the
    /// user may not read. The reply is filtered when it is sent
    /// (`restrict_reply`).
    fn metadata_access(
        &mut self,
        conn: ConnectionId,
        request: u64,
        topics: Option<Vec<String>>,
        create_partitions: Option<u32>,
    ) -> StreamCommand {
        let Some(permissions) = self.stream_permissions.get(&conn).map(Arc::clone) else {
            return StreamCommand::Metadata {
                topics,
                create_partitions,
            };
        };
        self.restricted_replies
            .insert((conn, request), topics.is_some());
        let create_partitions = create_partitions.filter(|_| {
            topics.as_ref().is_some_and(|names| {
                names.iter().all(|name| {
                    permissions.allows(Operation::Configure, name)
                        || self.streams.topic(name).is_some()
                })
            })
        });
        StreamCommand::Metadata {
            topics,
            create_partitions,
        }
    }

    /// A reply as a restricted connection sees it: a Metadata listing
    /// without the topics its user may not read (or, for topics it named,
    /// with them refused), a ListGroups without the unreadable groups.
    pub(super) fn restrict_reply(
        &mut self,
        conn: ConnectionId,
        request: u64,
        reply: StreamReply,
    ) -> StreamReply {
        if self.restricted_replies.is_empty() {
            return reply;
        }
        let Some(named) = self.restricted_replies.remove(&(conn, request)) else {
            return reply;
        };
        let Some(permissions) = self.stream_permissions.get(&conn) else {
            return reply;
        };
        let readable = |name: &str| permissions.allows(Operation::Read, name);
        match reply {
            StreamReply::Metadata { topics } => {
                // A topic named is answered, refused when unreadable; a
                // listing of every topic leaves the unreadable ones out.
                let topics = (topics.into_iter())
                    .filter_map(|(name, listed)| match (readable(&name), named) {
                        (true, _) => Some((name, listed)),
                        (false, true) => Some((name, Err(StreamError::TopicAuthorizationFailed))),
                        (false, false) => None,
                    })
                    .collect();
                StreamReply::Metadata { topics }
            }
            StreamReply::Group(GroupReply::List { groups }) => {
                let groups = groups
                    .into_iter()
                    .filter(|listed| readable(&listed.group))
                    .collect();
                StreamReply::Group(GroupReply::List { groups })
            }
            other => other,
        }
    }

    /// Forgets a stream connection's user when it goes.
    pub(super) fn stream_access_disconnect(&mut self, conn: ConnectionId) {
        self.stream_permissions.remove(&conn);
        let requests: Vec<(ConnectionId, u64)> = (self.restricted_replies)
            .range((conn, 0)..=(conn, u64::MAX))
            .map(|(key, _)| *key)
            .collect();
        for key in requests {
            self.restricted_replies.remove(&key);
        }
    }
}

/// A group request as the user may send it (`Ok`, as it came), or its
/// refusal, shaped as the coordinator's reply to it. The request passes
/// through by value; the large refusal is built only when refused.
#[allow(clippy::result_large_err)]
fn group_refusal(
    permissions: &Permissions,
    request: GroupRequest,
) -> Result<GroupRequest, GroupReply> {
    let group = |name: &str| permissions.allows(Operation::Read, name);
    let denied = ErrorCode::GROUP_AUTHORIZATION_FAILED;
    match request {
        GroupRequest::Join(join) if !group(&join.group) => Err(GroupReply::Join(JoinResponse {
            error: denied,
            generation: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            member_id: String::new(),
            members: Vec::new(),
        })),
        GroupRequest::Sync(sync) if !group(&sync.group) => Err(GroupReply::Sync(SyncResponse {
            error: denied,
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
        })),
        GroupRequest::Heartbeat(beat) if !group(&beat.group) => {
            Err(GroupReply::Heartbeat { error: denied })
        }
        GroupRequest::Leave(leave) if !group(&leave.group) => {
            Err(GroupReply::Leave(LeaveResponse {
                error: denied,
                members: Vec::new(),
            }))
        }
        GroupRequest::OffsetCommit(commit) if !group(&commit.group) => {
            Err(committed(commit.partitions, denied))
        }
        GroupRequest::OffsetCommit(commit)
            if !(commit.partitions.iter())
                .all(|part| permissions.allows(Operation::Read, &part.topic)) =>
        {
            let topic_denied = ErrorCode::TOPIC_AUTHORIZATION_FAILED;
            Err(committed(commit.partitions, topic_denied))
        }
        GroupRequest::OffsetFetch(fetch) if !group(&fetch.group) => Err(GroupReply::OffsetFetch {
            error: denied,
            partitions: Vec::new(),
        }),
        GroupRequest::Describe { groups } if !groups.iter().all(|name| group(name)) => {
            let groups = (groups.into_iter())
                .map(|name| DescribedGroup {
                    error: denied,
                    group: name,
                    state: GroupState::Dead,
                    protocol_type: String::new(),
                    protocol_data: String::new(),
                    members: Vec::new(),
                })
                .collect();
            Err(GroupReply::Describe { groups })
        }
        GroupRequest::Delete { groups }
            if !(groups.iter()).all(|name| permissions.allows(Operation::Configure, name)) =>
        {
            let groups = groups.into_iter().map(|name| (name, denied)).collect();
            Err(GroupReply::Delete { groups })
        }
        request => Ok(request),
    }
}

/// Every partition of a refused offset commit, with `error`.
fn committed(partitions: Vec<crate::group::CommitPartition>, error: ErrorCode) -> GroupReply {
    let partitions = (partitions.into_iter())
        .map(|part| CommittedPartition {
            topic: part.topic,
            partition: part.partition,
            error,
        })
        .collect();
    GroupReply::OffsetCommit { partitions }
}
