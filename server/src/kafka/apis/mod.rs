//! Kafka's requests mapped onto the core's stream commands and group
//! requests, and the core's answers onto Kafka's responses. kafka-protocol
//! decodes and encodes every message; nothing here reads or writes a field
//! by hand except the fixed prefix that says which message follows (API
//! key, version, correlation id), read to pick the decoder and to answer
//! an unsupported ApiVersions in the v0 format.
//!
//! `requests` maps each request onto the core's commands; `responses`
//! builds each response from the core's answers.

mod requests;
mod responses;
#[cfg(test)]
mod tests;

use super::Context;
use brokerlab_core::group::{
    CommitPartition, GroupReply, GroupRequest, GroupState, Heartbeat, JoinGroup, JoinProtocol,
    LeaveGroup, LeavingMember, OffsetCommit, OffsetFetch, SyncAssignment, SyncGroup,
};
use brokerlab_core::stream::{StreamCommand, StreamError};
use bytes::Bytes;
use kafka_protocol::messages::{
    api_versions_response, ApiKey, ApiVersionsRequest, ApiVersionsResponse,
    CreatePartitionsResponse, CreateTopicsResponse, DeleteGroupsRequest, DeleteTopicsResponse,
    DescribeConfigsResponse, DescribeGroupsRequest, FindCoordinatorResponse, HeartbeatRequest,
    InitProducerIdRequest, InitProducerIdResponse, JoinGroupRequest, LeaveGroupRequest,
    ListGroupsRequest, ListOffsetsResponse, OffsetCommitRequest, OffsetFetchRequest,
    ProduceResponse, ProducerId, RequestHeader, ResponseHeader, SyncGroupRequest, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use requests::{
    create_partitions, create_topics, delete_topics, fetch, find_coordinator, group, list_offsets,
    metadata, produce,
};
use responses::state_named;
use std::io;
use std::net::SocketAddr;

/// The broker's node id: the only node of its cluster.
const NODE_ID: i32 = 0;

/// The cluster id Metadata gives.
const CLUSTER_ID: &str = "brokerlab";

/// Kafka's UNSUPPORTED_VERSION.
const UNSUPPORTED_VERSION: i16 = 35;
/// Kafka's CORRUPT_MESSAGE.
const CORRUPT_MESSAGE: i16 = 2;
/// Kafka's INVALID_REPLICATION_FACTOR.
const INVALID_REPLICATION_FACTOR: i16 = 38;
/// Kafka's TRANSACTIONAL_ID_AUTHORIZATION_FAILED: transactions are not served.
const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;
/// Kafka's UNKNOWN_TOPIC_ID: topics are named, never numbered, here.
const UNKNOWN_TOPIC_ID: i16 = 100;

/// The APIs served and their versions. The lowest is kafka-protocol's
/// lowest; the highest stops before versions that need what the core
/// lacks (topic ids from Produce v13 and Fetch v13, the new consumer
/// protocol's member epochs in OffsetCommit v9 and OffsetFetch v8,
/// ListOffsets' max-timestamp lookup from v7).
pub const SERVED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 12),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::ListOffsets, 1, 6),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::OffsetCommit, 2, 8),
    (ApiKey::OffsetFetch, 1, 7),
    (ApiKey::FindCoordinator, 0, 6),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::InitProducerId, 0, 5),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::ListGroups, 0, 4),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::SaslHandshake, 1, 1),
    (ApiKey::SaslAuthenticate, 0, 2),
];

/// A command for the core, and whether the core answers it (a produce
/// with acks=0 is not answered).
pub struct Command {
    pub command: StreamCommand,
    pub answered: bool,
}

/// What one request asks: the commands for the core (each answer fills
/// the part of its index), and the answer being built.
pub struct Dispatch {
    pub correlation_id: i32,
    pub answer: Answer,
    pub commands: Vec<Command>,
}

impl Dispatch {
    pub(super) fn ready(correlation_id: i32, answer: Answer) -> Dispatch {
        Dispatch {
            correlation_id,
            answer,
            commands: Vec::new(),
        }
    }

    pub(super) fn asking(
        correlation_id: i32,
        answer: Answer,
        commands: Vec<StreamCommand>,
    ) -> Dispatch {
        let commands = commands
            .into_iter()
            .map(|command| Command {
                command,
                answered: true,
            })
            .collect();
        Dispatch {
            correlation_id,
            answer,
            commands,
        }
    }
}

/// A response being built from the core's answers.
pub enum Answer {
    /// Encoded and ready (`None`: nothing goes back, as for acks=0).
    Encoded(Option<Vec<u8>>),
    /// Answered already, waiting only to be encoded.
    Built(Built),
    /// Produce: each part is one batch of the partition at (topic, partition).
    Produce {
        version: i16,
        response: ProduceResponse,
        parts: Vec<(usize, usize)>,
    },
    /// Fetch: the partitions asked, by topic, in order.
    Fetch {
        version: i16,
        topics: Vec<(String, Vec<i32>)>,
        fetched: Option<Vec<brokerlab_core::stream::FetchedPartition>>,
    },
    /// ListOffsets: each part is the partition at (topic, partition).
    ListOffsets {
        version: i16,
        response: ListOffsetsResponse,
        parts: Vec<(usize, usize)>,
    },
    /// Metadata: the topic listing to come.
    Metadata {
        version: i16,
        advertised: SocketAddr,
        topics: Vec<(String, Result<u32, StreamError>)>,
    },
    /// CreateTopics: each part is the topic at that index of `parts`.
    CreateTopics {
        version: i16,
        response: CreateTopicsResponse,
        parts: Vec<usize>,
    },
    /// CreatePartitions: likewise.
    CreatePartitions {
        version: i16,
        response: CreatePartitionsResponse,
        parts: Vec<usize>,
    },
    /// DeleteTopics: likewise.
    DeleteTopics {
        version: i16,
        response: DeleteTopicsResponse,
        parts: Vec<usize>,
    },
    /// A group request, answered by one group reply.
    Group {
        api: ApiKey,
        version: i16,
        reply: Option<GroupReply>,
    },
    /// InitProducerId.
    InitProducerId {
        version: i16,
        reply: Option<(i64, i16)>,
    },
    /// DescribeConfigs: each part is the topic resource at that index of
    /// the results; `keys` are the configuration keys each resource asked for.
    DescribeConfigs {
        version: i16,
        response: DescribeConfigsResponse,
        parts: Vec<usize>,
        keys: Vec<Option<Vec<String>>>,
    },
}

/// A response with nothing left to wait for.
pub enum Built {
    ApiVersions(i16, ApiVersionsResponse),
    FindCoordinator(i16, FindCoordinatorResponse),
    InitProducerId(i16, InitProducerIdResponse),
}

fn str_bytes(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_owned())
}

fn topic_name(text: &str) -> TopicName {
    TopicName(str_bytes(text))
}

pub(super) fn closed(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

/// The versions served of an API, if it is served.
pub(super) fn served(api: ApiKey) -> Option<(i16, i16)> {
    SERVED
        .iter()
        .find(|(key, _, _)| *key == api)
        .map(|(_, min, max)| (*min, *max))
}

/// The ApiVersions response listing every API served.
fn api_versions(error_code: i16, only_api_versions: bool) -> ApiVersionsResponse {
    let mut response = ApiVersionsResponse::default();
    response.error_code = error_code;
    response.api_keys = SERVED
        .iter()
        .filter(|(key, _, _)| !only_api_versions || *key == ApiKey::ApiVersions)
        .map(|(key, min, max)| {
            let mut api = api_versions_response::ApiVersion::default();
            api.api_key = *key as i16;
            api.min_version = *min;
            api.max_version = *max;
            api
        })
        .collect();
    response
}

/// Encodes a response frame: size, header, body.
pub(super) fn encode<R: Encodable>(
    correlation_id: i32,
    api: ApiKey,
    version: i16,
    body: &R,
) -> io::Result<Vec<u8>> {
    let mut header = ResponseHeader::default();
    header.correlation_id = correlation_id;
    let mut buf = Vec::with_capacity(64);
    buf.extend_from_slice(&[0; 4]);
    let encoded = header
        .encode(&mut buf, api.response_header_version(version))
        .and_then(|()| body.encode(&mut buf, version));
    if let Err(error) = encoded {
        tracing::error!(?api, version, %error, "a Kafka response could not be encoded");
        return Err(closed("response not encodable"));
    }
    let size = i32::try_from(buf.len() - 4).map_err(|_| closed("response too large"))?;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    Ok(buf)
}

/// Decodes a request body of type `R`; a body that does not decode closes the connection.
pub(super) fn body<R: Decodable>(frame: &mut Bytes, version: i16) -> io::Result<R> {
    R::decode(frame, version).map_err(|_| closed("request body does not decode"))
}

/// Reads one request frame (without its size) and says what it asks.
pub fn dispatch(frame: Bytes, context: &Context, advertised: SocketAddr) -> io::Result<Dispatch> {
    if frame.len() < 8 {
        return Err(closed("request shorter than its header"));
    }
    let api_key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let api = ApiKey::try_from(api_key).map_err(|()| closed("unknown API key"))?;
    let (min, max) = served(api).ok_or_else(|| closed("API not served"))?;
    if api == ApiKey::ApiVersions && version > max {
        // Kafka answers in the v0 format, naming the versions it serves.
        let response = api_versions(UNSUPPORTED_VERSION, true);
        let encoded = encode(correlation_id, api, 0, &response)?;
        return Ok(Dispatch::ready(
            correlation_id,
            Answer::Encoded(Some(encoded)),
        ));
    }
    if version < min || version > max {
        return Err(closed("API version not served"));
    }
    let mut frame = frame;
    let header = RequestHeader::decode(&mut frame, api.request_header_version(version))
        .map_err(|_| closed("request header does not decode"))?;
    let client_id = header
        .client_id
        .as_ref()
        .map_or_else(String::new, |id| id.to_string());
    let frame = &mut frame;
    let dispatch = match api {
        ApiKey::ApiVersions => {
            let _: ApiVersionsRequest = body(frame, version)?;
            let built = Built::ApiVersions(version, api_versions(0, false));
            Dispatch::ready(correlation_id, Answer::Built(built))
        }
        ApiKey::Metadata => metadata(
            correlation_id,
            version,
            body(frame, version)?,
            context,
            advertised,
        ),
        ApiKey::Produce => produce(correlation_id, version, body(frame, version)?),
        ApiKey::Fetch => fetch(correlation_id, version, body(frame, version)?),
        ApiKey::ListOffsets => list_offsets(correlation_id, version, body(frame, version)?),
        ApiKey::FindCoordinator => {
            find_coordinator(correlation_id, version, body(frame, version)?, advertised)
        }
        ApiKey::JoinGroup => {
            let request: JoinGroupRequest = body(frame, version)?;
            let join = JoinGroup {
                group: request.group_id.0.to_string(),
                member_id: request.member_id.to_string(),
                group_instance_id: request.group_instance_id.map(|id| id.to_string()),
                client_id,
                session_timeout_ms: u64::try_from(request.session_timeout_ms).unwrap_or(0),
                rebalance_timeout_ms: if version >= 1 {
                    u64::try_from(request.rebalance_timeout_ms).unwrap_or(0)
                } else {
                    u64::try_from(request.session_timeout_ms).unwrap_or(0)
                },
                protocol_type: request.protocol_type.to_string(),
                protocols: request
                    .protocols
                    .into_iter()
                    .map(|protocol| JoinProtocol {
                        name: protocol.name.to_string(),
                        metadata: protocol.metadata,
                    })
                    .collect(),
                require_known_member_id: version >= 4,
            };
            group(correlation_id, api, version, GroupRequest::Join(join))
        }
        ApiKey::SyncGroup => {
            let request: SyncGroupRequest = body(frame, version)?;
            let sync = SyncGroup {
                group: request.group_id.0.to_string(),
                generation: request.generation_id,
                member_id: request.member_id.to_string(),
                group_instance_id: request.group_instance_id.map(|id| id.to_string()),
                protocol_type: request.protocol_type.map(|name| name.to_string()),
                protocol_name: request.protocol_name.map(|name| name.to_string()),
                assignments: request
                    .assignments
                    .into_iter()
                    .map(|assignment| SyncAssignment {
                        member_id: assignment.member_id.to_string(),
                        assignment: assignment.assignment,
                    })
                    .collect(),
            };
            group(correlation_id, api, version, GroupRequest::Sync(sync))
        }
        ApiKey::Heartbeat => {
            let request: HeartbeatRequest = body(frame, version)?;
            let heartbeat = Heartbeat {
                group: request.group_id.0.to_string(),
                generation: request.generation_id,
                member_id: request.member_id.to_string(),
                group_instance_id: request.group_instance_id.map(|id| id.to_string()),
            };
            group(
                correlation_id,
                api,
                version,
                GroupRequest::Heartbeat(heartbeat),
            )
        }
        ApiKey::LeaveGroup => {
            let request: LeaveGroupRequest = body(frame, version)?;
            let members = if version >= 3 {
                request
                    .members
                    .into_iter()
                    .map(|member| LeavingMember {
                        member_id: member.member_id.to_string(),
                        group_instance_id: member.group_instance_id.map(|id| id.to_string()),
                    })
                    .collect()
            } else {
                vec![LeavingMember {
                    member_id: request.member_id.to_string(),
                    group_instance_id: None,
                }]
            };
            let leave = LeaveGroup {
                group: request.group_id.0.to_string(),
                members,
            };
            group(correlation_id, api, version, GroupRequest::Leave(leave))
        }
        ApiKey::OffsetCommit => {
            let request: OffsetCommitRequest = body(frame, version)?;
            let partitions = request
                .topics
                .into_iter()
                .flat_map(|topic| {
                    let name = topic.name.0.to_string();
                    topic
                        .partitions
                        .into_iter()
                        .map(move |partition| CommitPartition {
                            topic: name.clone(),
                            partition: partition.partition_index,
                            offset: partition.committed_offset,
                            metadata: partition
                                .committed_metadata
                                .map_or_else(String::new, |text| text.to_string()),
                        })
                })
                .collect();
            let commit = OffsetCommit {
                group: request.group_id.0.to_string(),
                generation: request.generation_id_or_member_epoch,
                member_id: request.member_id.to_string(),
                group_instance_id: request.group_instance_id.map(|id| id.to_string()),
                partitions,
            };
            group(
                correlation_id,
                api,
                version,
                GroupRequest::OffsetCommit(commit),
            )
        }
        ApiKey::OffsetFetch => {
            let request: OffsetFetchRequest = body(frame, version)?;
            let partitions = request.topics.map(|topics| {
                topics
                    .into_iter()
                    .flat_map(|topic| {
                        let name = topic.name.0.to_string();
                        topic
                            .partition_indexes
                            .into_iter()
                            .map(move |partition| (name.clone(), partition))
                    })
                    .collect()
            });
            let fetch = OffsetFetch {
                group: request.group_id.0.to_string(),
                partitions,
            };
            group(
                correlation_id,
                api,
                version,
                GroupRequest::OffsetFetch(fetch),
            )
        }
        ApiKey::DescribeGroups => {
            let request: DescribeGroupsRequest = body(frame, version)?;
            let groups = (request.groups.into_iter()).map(|group| group.0.to_string());
            let describe = GroupRequest::Describe {
                groups: groups.collect(),
            };
            group(correlation_id, api, version, describe)
        }
        ApiKey::ListGroups => {
            let request: ListGroupsRequest = body(frame, version)?;
            // A state Kafka does not know matches no group.
            let named = request.states_filter.iter().map(state_named);
            let states: Option<Vec<GroupState>> = named.collect();
            match states {
                Some(states) => group(correlation_id, api, version, GroupRequest::List { states }),
                None => {
                    let reply = GroupReply::List { groups: Vec::new() };
                    let answer = Answer::Group {
                        api,
                        version,
                        reply: Some(reply),
                    };
                    Dispatch::ready(correlation_id, answer)
                }
            }
        }
        ApiKey::DeleteGroups => {
            let request: DeleteGroupsRequest = body(frame, version)?;
            let groups = (request.groups_names.into_iter()).map(|group| group.0.to_string());
            let delete = GroupRequest::Delete {
                groups: groups.collect(),
            };
            group(correlation_id, api, version, delete)
        }
        ApiKey::InitProducerId => {
            let request: InitProducerIdRequest = body(frame, version)?;
            if request.transactional_id.is_some() {
                let mut response = InitProducerIdResponse::default();
                response.error_code = TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
                response.producer_id = ProducerId(-1);
                response.producer_epoch = -1;
                let built = Built::InitProducerId(version, response);
                Dispatch::ready(correlation_id, Answer::Built(built))
            } else {
                let answer = Answer::InitProducerId {
                    version,
                    reply: None,
                };
                Dispatch::asking(correlation_id, answer, vec![StreamCommand::InitProducerId])
            }
        }
        ApiKey::CreateTopics => {
            create_topics(correlation_id, version, body(frame, version)?, context)
        }
        ApiKey::DeleteTopics => delete_topics(correlation_id, version, body(frame, version)?),
        ApiKey::CreatePartitions => {
            create_partitions(correlation_id, version, body(frame, version)?)
        }
        ApiKey::DescribeConfigs => super::configs::describe_configs(
            correlation_id,
            version,
            body(frame, version)?,
            context,
        ),
        _ => return Err(closed("API not served")),
    };
    Ok(dispatch)
}
