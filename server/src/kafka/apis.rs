//! Kafka's requests mapped onto the core's stream commands and group
//! requests, and the core's answers onto Kafka's responses. kafka-protocol
//! decodes and encodes every message; nothing here reads or writes a field
//! by hand except the fixed prefix that says which message follows (API
//! key, version, correlation id), read to pick the decoder and to answer
//! an unsupported ApiVersions in the v0 format.

use super::compression::{Inflater, DECOMPRESSED_MAX_BYTES};
use super::Context;
use crate::broker_task::KafkaReply;
use brokerlab_core::group::{
    CommitPartition, ErrorCode, GroupReply, GroupRequest, GroupState, Heartbeat, JoinGroup,
    JoinProtocol, LeaveGroup, LeavingMember, OffsetCommit, OffsetFetch, SyncAssignment, SyncGroup,
};
use brokerlab_core::stream::{
    validate_topic_name, Acks, Batch, FetchPartition, OffsetSpec, ProducedBatch, StreamCommand,
    StreamError, StreamRecord, StreamReply,
};
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    api_versions_response, create_partitions_response, create_topics_response,
    delete_groups_response, delete_topics_response, describe_groups_response, fetch_response,
    find_coordinator_response, join_group_response, leave_group_response, list_groups_response,
    list_offsets_response, metadata_response, offset_commit_response, offset_fetch_response,
    produce_response, ApiKey, ApiVersionsRequest, ApiVersionsResponse, BrokerId,
    CreatePartitionsRequest, CreatePartitionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    DeleteGroupsRequest, DeleteGroupsResponse, DeleteTopicsRequest, DeleteTopicsResponse,
    DescribeConfigsResponse, DescribeGroupsRequest, DescribeGroupsResponse, FetchRequest,
    FetchResponse, FindCoordinatorRequest, FindCoordinatorResponse, GroupId, HeartbeatRequest,
    HeartbeatResponse, InitProducerIdRequest, InitProducerIdResponse, JoinGroupRequest,
    JoinGroupResponse, LeaveGroupRequest, LeaveGroupResponse, ListGroupsRequest,
    ListGroupsResponse, ListOffsetsRequest, ListOffsetsResponse, MetadataRequest, MetadataResponse,
    OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse,
    ProduceRequest, ProduceResponse, ProducerId, RequestHeader, ResponseHeader, SyncGroupRequest,
    SyncGroupResponse, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
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

fn metadata(
    correlation_id: i32,
    version: i16,
    request: MetadataRequest,
    context: &Context,
    advertised: SocketAddr,
) -> Dispatch {
    let names: Option<Vec<String>> = match request.topics {
        // v0 names every topic with an empty list; later versions with null.
        Some(topics) if version == 0 && topics.is_empty() => None,
        Some(topics) => Some(
            topics
                .into_iter()
                .filter_map(|topic| topic.name.map(|name| name.0.to_string()))
                .collect(),
        ),
        None => None,
    };
    let allowed = version < 4 || request.allow_auto_topic_creation;
    let create = context.auto_create_partitions.filter(|_| allowed);
    let answer = Answer::Metadata {
        version,
        advertised,
        topics: Vec::new(),
    };
    let command = StreamCommand::Metadata {
        topics: names,
        create_partitions: create,
    };
    Dispatch::asking(correlation_id, answer, vec![command])
}

fn find_coordinator(
    correlation_id: i32,
    version: i16,
    request: FindCoordinatorRequest,
    advertised: SocketAddr,
) -> Dispatch {
    let mut response = FindCoordinatorResponse::default();
    let host = str_bytes(&advertised.ip().to_string());
    let port = i32::from(advertised.port());
    if version >= 4 {
        response.coordinators = request
            .coordinator_keys
            .into_iter()
            .map(|key| {
                let mut coordinator = find_coordinator_response::Coordinator::default();
                coordinator.key = key;
                coordinator.node_id = BrokerId(NODE_ID);
                coordinator.host = host.clone();
                coordinator.port = port;
                coordinator
            })
            .collect();
    } else {
        response.node_id = BrokerId(NODE_ID);
        response.host = host;
        response.port = port;
    }
    let built = Built::FindCoordinator(version, response);
    Dispatch::ready(correlation_id, Answer::Built(built))
}

fn group(correlation_id: i32, api: ApiKey, version: i16, request: GroupRequest) -> Dispatch {
    let answer = Answer::Group {
        api,
        version,
        reply: None,
    };
    Dispatch::asking(correlation_id, answer, vec![StreamCommand::Group(request)])
}

/// The batches of one partition's records, as the core takes them, or
/// Kafka's error for the partition: CORRUPT_MESSAGE when they do not decode
/// (a bad CRC, a truncated batch, bytes that are not their codec's) or hold
/// no record, and the inflater's refusal when a compressed batch grows past
/// the request's budget or uses a codec its version may not.
fn produced_batches(
    records: Option<Bytes>,
    inflater: &Inflater,
) -> Result<Vec<ProducedBatch>, i16> {
    let mut records = records.ok_or(CORRUPT_MESSAGE)?;
    let inflate = |records: &mut Bytes, compression| Ok(inflater.inflate(records, compression)?);
    let mut sets = Vec::new();
    while !records.is_empty() {
        let set = RecordBatchDecoder::decode_with_custom_compression(&mut records, Some(inflate))
            .map_err(|_| inflater.take_refusal().unwrap_or(CORRUPT_MESSAGE))?;
        sets.push(set);
    }
    let mut batches = Vec::with_capacity(sets.len());
    for set in sets {
        let first = set.records.first().ok_or(CORRUPT_MESSAGE)?;
        let batch = ProducedBatch {
            producer_id: first.producer_id,
            producer_epoch: first.producer_epoch,
            base_sequence: first.sequence,
            records: set
                .records
                .into_iter()
                .map(|record| StreamRecord {
                    timestamp_ms: record.timestamp,
                    key: record.key,
                    value: record.value,
                    headers: record
                        .headers
                        .into_iter()
                        .map(|(name, value)| (name.to_string(), value))
                        .collect(),
                })
                .collect(),
        };
        batches.push(batch);
    }
    if batches.is_empty() {
        return Err(CORRUPT_MESSAGE);
    }
    Ok(batches)
}

fn produce(correlation_id: i32, version: i16, request: ProduceRequest) -> Dispatch {
    let acks = Acks::from_kafka(request.acks);
    let inflater = Inflater::new(version, DECOMPRESSED_MAX_BYTES);
    let mut response = ProduceResponse::default();
    let mut commands = Vec::new();
    let mut parts = Vec::new();
    for (topic_index, topic) in request.topic_data.into_iter().enumerate() {
        let name = topic.name.0.to_string();
        let mut topic_response = produce_response::TopicProduceResponse::default();
        topic_response.name = topic.name;
        for (partition_index, partition) in topic.partition_data.into_iter().enumerate() {
            let mut partition_response = produce_response::PartitionProduceResponse::default();
            partition_response.index = partition.index;
            partition_response.base_offset = -1;
            match (acks, produced_batches(partition.records, &inflater)) {
                (Err(error), _) => partition_response.error_code = error.code(),
                (Ok(_), Err(code)) => partition_response.error_code = code,
                (Ok(acks), Ok(batches)) => {
                    for batch in batches {
                        commands.push(Command {
                            command: StreamCommand::Produce {
                                topic: name.clone(),
                                // A negative partition is none of the topic's.
                                partition: u32::try_from(partition.index).unwrap_or(u32::MAX),
                                acks,
                                batch,
                            },
                            answered: acks != Acks::None,
                        });
                        parts.push((topic_index, partition_index));
                    }
                }
            }
            topic_response.partition_responses.push(partition_response);
        }
        response.responses.push(topic_response);
    }
    let answer = if request.acks == 0 {
        Answer::Encoded(None)
    } else {
        // Parts the core does not answer (none here unless acks=0) are left out.
        Answer::Produce {
            version,
            response,
            parts,
        }
    };
    Dispatch {
        correlation_id,
        answer,
        commands,
    }
}

fn fetch(correlation_id: i32, version: i16, request: FetchRequest) -> Dispatch {
    let mut partitions = Vec::new();
    let mut topics = Vec::new();
    for topic in request.topics {
        let name = topic.topic.0.to_string();
        let mut indexes = Vec::new();
        for partition in topic.partitions {
            partitions.push(FetchPartition {
                topic: name.clone(),
                partition: u32::try_from(partition.partition).unwrap_or(u32::MAX),
                // A negative offset is out of range.
                offset: u64::try_from(partition.fetch_offset).unwrap_or(u64::MAX),
                max_bytes: u64::try_from(partition.partition_max_bytes).unwrap_or(0),
            });
            indexes.push(partition.partition);
        }
        topics.push((name, indexes));
    }
    let command = StreamCommand::Fetch {
        partitions,
        max_wait_ms: u64::try_from(request.max_wait_ms).unwrap_or(0),
        min_bytes: u64::try_from(request.min_bytes).unwrap_or(0),
        max_bytes: u64::try_from(request.max_bytes).unwrap_or(0),
    };
    let answer = Answer::Fetch {
        version,
        topics,
        fetched: None,
    };
    Dispatch::asking(correlation_id, answer, vec![command])
}

fn list_offsets(correlation_id: i32, version: i16, request: ListOffsetsRequest) -> Dispatch {
    let mut response = ListOffsetsResponse::default();
    let mut commands = Vec::new();
    let mut parts = Vec::new();
    for (topic_index, topic) in request.topics.into_iter().enumerate() {
        let name = topic.name.0.to_string();
        let mut topic_response = list_offsets_response::ListOffsetsTopicResponse::default();
        topic_response.name = topic.name;
        for (partition_index, partition) in topic.partitions.into_iter().enumerate() {
            let mut partition_response =
                list_offsets_response::ListOffsetsPartitionResponse::default();
            partition_response.partition_index = partition.partition_index;
            partition_response.timestamp = -1;
            partition_response.offset = -1;
            let spec = match partition.timestamp {
                -2 => OffsetSpec::Earliest,
                -1 => OffsetSpec::Latest,
                at => OffsetSpec::Timestamp(at),
            };
            commands.push(StreamCommand::ListOffsets {
                topic: name.clone(),
                partition: u32::try_from(partition.partition_index).unwrap_or(u32::MAX),
                spec,
            });
            parts.push((topic_index, partition_index));
            topic_response.partitions.push(partition_response);
        }
        response.topics.push(topic_response);
    }
    let answer = Answer::ListOffsets {
        version,
        response,
        parts,
    };
    Dispatch::asking(correlation_id, answer, commands)
}

fn create_topics(
    correlation_id: i32,
    version: i16,
    request: CreateTopicsRequest,
    context: &Context,
) -> Dispatch {
    let mut response = CreateTopicsResponse::default();
    let mut commands = Vec::new();
    let mut parts = Vec::new();
    for (index, topic) in request.topics.into_iter().enumerate() {
        let name = topic.name.0.to_string();
        let mut result = create_topics_response::CreatableTopicResult::default();
        result.name = topic.name;
        let partitions = if topic.num_partitions == -1 {
            Some(context.default_partitions)
        } else {
            u32::try_from(topic.num_partitions).ok()
        };
        result.num_partitions = partitions.map_or(-1, |count| i32::try_from(count).unwrap_or(-1));
        result.replication_factor = 1;
        if topic.replication_factor > 1 {
            // One node: no topic has more than one replica.
            result.error_code = INVALID_REPLICATION_FACTOR;
        } else {
            match super::configs::from_create(&topic.configs) {
                Err(reason) => {
                    result.error_code = StreamError::InvalidConfig.code();
                    result.error_message = Some(StrBytes::from_string(reason));
                }
                Ok(_) if request.validate_only => {
                    if let Err(error) = validate_topic_name(&name) {
                        result.error_code = error.code();
                    }
                }
                Ok(config) => {
                    commands.push(StreamCommand::CreateTopic {
                        topic: name,
                        // 0 is refused by the core as INVALID_PARTITIONS, as Kafka refuses it.
                        partitions: partitions.unwrap_or(0),
                        config,
                    });
                    parts.push(index);
                }
            }
        }
        response.topics.push(result);
    }
    let answer = Answer::CreateTopics {
        version,
        response,
        parts,
    };
    Dispatch::asking(correlation_id, answer, commands)
}

/// A topic's result in CreateTopics or CreatePartitions: the core's
/// refusal, if any, as the error code and its name as the message.
fn refused(code: &mut i16, message: &mut Option<StrBytes>, result: Result<(), StreamError>) {
    if let Err(error) = result {
        *code = error.code();
        *message = Some(str_bytes(error.name()));
    }
}

/// CreatePartitions: each topic grown to its new count by the core
/// (INVALID_PARTITIONS for a count not above the current one); one node
/// takes no replica assignment, and `validate_only` checks the names alone.
fn create_partitions(
    correlation_id: i32,
    version: i16,
    request: CreatePartitionsRequest,
) -> Dispatch {
    let mut response = CreatePartitionsResponse::default();
    let mut commands = Vec::new();
    let mut parts = Vec::new();
    for (index, topic) in request.topics.into_iter().enumerate() {
        let name = topic.name.0.to_string();
        let mut result = create_partitions_response::CreatePartitionsTopicResult::default();
        result.name = topic.name;
        if request.validate_only {
            if let Err(error) = validate_topic_name(&name) {
                result.error_code = error.code();
            }
        } else {
            commands.push(StreamCommand::CreatePartitions {
                topic: name,
                // A negative count is refused by the core as 0 is.
                count: u32::try_from(topic.count).unwrap_or(0),
            });
            parts.push(index);
        }
        response.results.push(result);
    }
    let answer = Answer::CreatePartitions {
        version,
        response,
        parts,
    };
    Dispatch::asking(correlation_id, answer, commands)
}

fn delete_topics(correlation_id: i32, version: i16, request: DeleteTopicsRequest) -> Dispatch {
    let names: Vec<Option<String>> = if version >= 6 {
        request
            .topics
            .into_iter()
            .map(|topic| topic.name.map(|name| name.0.to_string()))
            .collect()
    } else {
        request
            .topic_names
            .into_iter()
            .map(|name| Some(name.0.to_string()))
            .collect()
    };
    let mut response = DeleteTopicsResponse::default();
    let mut commands = Vec::new();
    let mut parts = Vec::new();
    for (index, name) in names.into_iter().enumerate() {
        let mut result = delete_topics_response::DeletableTopicResult::default();
        match name {
            Some(name) => {
                result.name = Some(topic_name(&name));
                commands.push(StreamCommand::DeleteTopic { topic: name });
                parts.push(index);
            }
            None => result.error_code = UNKNOWN_TOPIC_ID,
        }
        response.responses.push(result);
    }
    let answer = Answer::DeleteTopics {
        version,
        response,
        parts,
    };
    Dispatch::asking(correlation_id, answer, commands)
}

impl Answer {
    /// Takes the core's answer for `part` of the request.
    pub fn fill(&mut self, part: usize, reply: KafkaReply) {
        let KafkaReply::Stream { reply, .. } = reply;
        self.fill_stream(part, reply);
    }

    fn fill_stream(&mut self, part: usize, reply: StreamReply) {
        match (self, reply) {
            (Answer::Metadata { topics, .. }, StreamReply::Metadata { topics: listed }) => {
                *topics = listed;
            }
            (
                Answer::Produce {
                    response, parts, ..
                },
                StreamReply::Produced { result, .. },
            ) => {
                let Some(&(topic, partition)) = parts.get(part) else {
                    return;
                };
                let Some(answer) = response
                    .responses
                    .get_mut(topic)
                    .and_then(|topic| topic.partition_responses.get_mut(partition))
                else {
                    return;
                };
                match result {
                    Ok(produced) => {
                        let base = i64::try_from(produced.base_offset).unwrap_or(i64::MAX);
                        if answer.base_offset == -1 || base < answer.base_offset {
                            answer.base_offset = base;
                        }
                        answer.log_start_offset =
                            i64::try_from(produced.log_start_offset).unwrap_or(i64::MAX);
                    }
                    Err(error) if answer.error_code == 0 => answer.error_code = error.code(),
                    Err(_) => {}
                }
            }
            (Answer::Fetch { fetched, .. }, StreamReply::Fetched { partitions }) => {
                *fetched = Some(partitions);
            }
            (
                Answer::ListOffsets {
                    version,
                    response,
                    parts,
                },
                StreamReply::Offsets { result, .. },
            ) => {
                let Some(&(topic, partition)) = parts.get(part) else {
                    return;
                };
                let Some(answer) = response
                    .topics
                    .get_mut(topic)
                    .and_then(|topic| topic.partitions.get_mut(partition))
                else {
                    return;
                };
                match result {
                    Ok(listed) => {
                        answer.offset = listed
                            .offset
                            .map_or(-1, |offset| i64::try_from(offset).unwrap_or(i64::MAX));
                        answer.timestamp = listed.timestamp_ms.unwrap_or(-1);
                        // The field is in v4 and later; the encoder refuses it set before.
                        if *version >= 4 {
                            answer.leader_epoch = 0;
                        }
                    }
                    Err(error) => answer.error_code = error.code(),
                }
            }
            (
                Answer::CreateTopics {
                    response, parts, ..
                },
                StreamReply::TopicCreated { result, .. },
            ) => {
                if let Some(answer) = parts.get(part).and_then(|&i| response.topics.get_mut(i)) {
                    refused(&mut answer.error_code, &mut answer.error_message, result);
                }
            }
            (
                Answer::DescribeConfigs {
                    version,
                    response,
                    parts,
                    keys,
                },
                StreamReply::TopicConfig { result, .. },
            ) => {
                let Some(&index) = parts.get(part) else {
                    return;
                };
                let wanted = keys.get(index).and_then(Option::as_deref);
                if let Some(answer) = response.results.get_mut(index) {
                    super::configs::fill(answer, wanted, *version, result);
                }
            }
            (
                Answer::CreatePartitions {
                    response, parts, ..
                },
                StreamReply::PartitionsCreated { result, .. },
            ) => {
                if let Some(answer) = parts.get(part).and_then(|&i| response.results.get_mut(i)) {
                    refused(&mut answer.error_code, &mut answer.error_message, result);
                }
            }
            (
                Answer::DeleteTopics {
                    response, parts, ..
                },
                StreamReply::TopicDeleted { result, .. },
            ) => {
                if let Some(answer) = parts.get(part).and_then(|&i| response.responses.get_mut(i)) {
                    if let Err(error) = result {
                        answer.error_code = error.code();
                    }
                }
            }
            (Answer::Group { reply, .. }, StreamReply::Group(group_reply)) => {
                *reply = Some(group_reply);
            }
            (
                Answer::InitProducerId { reply, .. },
                StreamReply::ProducerIdIssued {
                    producer_id,
                    producer_epoch,
                },
            ) => *reply = Some((producer_id, producer_epoch)),
            _ => tracing::warn!("a stream reply of another kind than its request's"),
        }
    }

    /// Every answer is in: the response is encoded.
    pub fn finish(&mut self, correlation_id: i32) -> io::Result<()> {
        let encoded = match self {
            Answer::Encoded(_) => return Ok(()),
            Answer::Built(built) => match built {
                Built::ApiVersions(version, response) => {
                    encode(correlation_id, ApiKey::ApiVersions, *version, response)?
                }
                Built::FindCoordinator(version, response) => {
                    encode(correlation_id, ApiKey::FindCoordinator, *version, response)?
                }
                Built::InitProducerId(version, response) => {
                    encode(correlation_id, ApiKey::InitProducerId, *version, response)?
                }
            },
            Answer::Produce {
                version, response, ..
            } => encode(correlation_id, ApiKey::Produce, *version, response)?,
            Answer::Fetch {
                version,
                topics,
                fetched,
            } => {
                let response = fetch_response(topics, fetched.take().unwrap_or_default())?;
                encode(correlation_id, ApiKey::Fetch, *version, &response)?
            }
            Answer::ListOffsets {
                version, response, ..
            } => encode(correlation_id, ApiKey::ListOffsets, *version, response)?,
            Answer::Metadata {
                version,
                advertised,
                topics,
            } => {
                let response = metadata_response(*advertised, topics);
                encode(correlation_id, ApiKey::Metadata, *version, &response)?
            }
            Answer::CreateTopics {
                version, response, ..
            } => encode(correlation_id, ApiKey::CreateTopics, *version, response)?,
            Answer::DeleteTopics {
                version, response, ..
            } => encode(correlation_id, ApiKey::DeleteTopics, *version, response)?,
            Answer::CreatePartitions {
                version, response, ..
            } => encode(correlation_id, ApiKey::CreatePartitions, *version, response)?,
            Answer::DescribeConfigs {
                version, response, ..
            } => encode(correlation_id, ApiKey::DescribeConfigs, *version, response)?,
            Answer::Group {
                api,
                version,
                reply,
            } => {
                let Some(reply) = reply.take() else {
                    return Err(closed("group request unanswered"));
                };
                group_response(correlation_id, *api, *version, reply)?
            }
            Answer::InitProducerId { version, reply } => {
                let mut response = InitProducerIdResponse::default();
                let (producer_id, producer_epoch) = reply.unwrap_or((-1, -1));
                response.producer_id = ProducerId(producer_id);
                response.producer_epoch = producer_epoch;
                encode(correlation_id, ApiKey::InitProducerId, *version, &response)?
            }
        };
        *self = Answer::Encoded(Some(encoded));
        Ok(())
    }

    /// The encoded response, once there is one (`Some(None)`: nothing to send).
    pub fn take_encoded(&mut self) -> Option<Option<Vec<u8>>> {
        match self {
            Answer::Encoded(encoded) => Some(encoded.take()),
            _ => None,
        }
    }
}

fn metadata_response(
    advertised: SocketAddr,
    topics: &[(String, Result<u32, StreamError>)],
) -> MetadataResponse {
    let mut response = MetadataResponse::default();
    let mut broker = metadata_response::MetadataResponseBroker::default();
    broker.node_id = BrokerId(NODE_ID);
    broker.host = str_bytes(&advertised.ip().to_string());
    broker.port = i32::from(advertised.port());
    response.brokers = vec![broker];
    response.cluster_id = Some(str_bytes(CLUSTER_ID));
    response.controller_id = BrokerId(NODE_ID);
    response.topics = topics
        .iter()
        .map(|(name, listed)| {
            let mut topic = metadata_response::MetadataResponseTopic::default();
            topic.name = Some(topic_name(name));
            match listed {
                Ok(count) => {
                    topic.partitions = (0..*count)
                        .map(|index| {
                            let mut partition =
                                metadata_response::MetadataResponsePartition::default();
                            partition.partition_index = i32::try_from(index).unwrap_or(i32::MAX);
                            partition.leader_id = BrokerId(NODE_ID);
                            partition.leader_epoch = 0;
                            partition.replica_nodes = vec![BrokerId(NODE_ID)];
                            partition.isr_nodes = vec![BrokerId(NODE_ID)];
                            partition
                        })
                        .collect();
                }
                Err(error) => topic.error_code = error.code(),
            }
            topic
        })
        .collect();
    response
}

/// The records of one partition's batches as Kafka's record batches v2.
fn encode_batches(batches: &[std::sync::Arc<Batch>]) -> io::Result<Bytes> {
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    let mut buf = BytesMut::new();
    for batch in batches {
        let idempotent = batch.producer_id() != brokerlab_core::stream::NO_PRODUCER_ID;
        let records: Vec<Record> = batch
            .records()
            .iter()
            .enumerate()
            .map(|(index, record)| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id: batch.producer_id(),
                producer_epoch: batch.producer_epoch(),
                timestamp_type: TimestampType::Creation,
                offset: i64::try_from(batch.base_offset() + index as u64).unwrap_or(i64::MAX),
                sequence: if idempotent {
                    batch
                        .base_sequence()
                        .wrapping_add(i32::try_from(index).unwrap_or(i32::MAX))
                } else {
                    -1
                },
                timestamp: record.timestamp_ms,
                key: record.key.clone(),
                value: record.value.clone(),
                headers: record
                    .headers
                    .iter()
                    .map(|(name, value)| (str_bytes(name), value.clone()))
                    .collect(),
            })
            .collect();
        RecordBatchEncoder::encode(&mut buf, &records, &options)
            .map_err(|_| closed("a batch could not be encoded"))?;
    }
    Ok(buf.freeze())
}

fn fetch_response(
    topics: &[(String, Vec<i32>)],
    fetched: Vec<brokerlab_core::stream::FetchedPartition>,
) -> io::Result<FetchResponse> {
    let mut response = FetchResponse::default();
    let mut fetched = fetched.into_iter();
    for (name, partitions) in topics {
        let mut topic = fetch_response::FetchableTopicResponse::default();
        topic.topic = topic_name(name);
        for &index in partitions {
            let mut data = fetch_response::PartitionData::default();
            data.partition_index = index;
            match fetched.next().map(|partition| partition.result) {
                Some(Ok(found)) => {
                    let high_watermark = i64::try_from(found.high_watermark).unwrap_or(i64::MAX);
                    data.high_watermark = high_watermark;
                    data.last_stable_offset = high_watermark;
                    data.log_start_offset =
                        i64::try_from(found.log_start_offset).unwrap_or(i64::MAX);
                    data.records = Some(encode_batches(&found.batches)?);
                }
                Some(Err(error)) => {
                    data.error_code = error.code();
                    data.high_watermark = -1;
                    data.records = Some(Bytes::new());
                }
                None => {
                    data.error_code = StreamError::UnknownTopicOrPartition.code();
                    data.high_watermark = -1;
                    data.records = Some(Bytes::new());
                }
            }
            topic.partitions.push(data);
        }
        response.responses.push(topic);
    }
    Ok(response)
}

fn group_response(
    correlation_id: i32,
    api: ApiKey,
    version: i16,
    reply: GroupReply,
) -> io::Result<Vec<u8>> {
    let nullable = |text: Option<String>| text.map(|text| str_bytes(&text));
    match reply {
        GroupReply::Join(join) => {
            let mut response = JoinGroupResponse::default();
            response.error_code = join.error.0;
            response.generation_id = join.generation;
            if version >= 7 {
                response.protocol_type = nullable(join.protocol_type);
                response.protocol_name = nullable(join.protocol_name);
            } else {
                response.protocol_name = Some(str_bytes(&join.protocol_name.unwrap_or_default()));
            }
            response.leader = str_bytes(&join.leader);
            response.member_id = str_bytes(&join.member_id);
            response.members = join
                .members
                .into_iter()
                .map(|member| {
                    let mut entry = join_group_response::JoinGroupResponseMember::default();
                    entry.member_id = str_bytes(&member.member_id);
                    if version >= 5 {
                        entry.group_instance_id = nullable(member.group_instance_id);
                    }
                    entry.metadata = member.metadata;
                    entry
                })
                .collect();
            encode(correlation_id, api, version, &response)
        }
        GroupReply::Sync(sync) => {
            let mut response = SyncGroupResponse::default();
            response.error_code = sync.error.0;
            if version >= 5 {
                response.protocol_type = nullable(sync.protocol_type);
                response.protocol_name = nullable(sync.protocol_name);
            }
            response.assignment = sync.assignment;
            encode(correlation_id, api, version, &response)
        }
        GroupReply::Heartbeat { error } => {
            let mut response = HeartbeatResponse::default();
            response.error_code = error.0;
            encode(correlation_id, api, version, &response)
        }
        GroupReply::Leave(leave) => {
            let mut response = LeaveGroupResponse::default();
            if version >= 3 {
                response.error_code = leave.error.0;
                response.members = leave
                    .members
                    .into_iter()
                    .map(|member| {
                        let mut entry = leave_group_response::MemberResponse::default();
                        entry.member_id = str_bytes(&member.member_id);
                        entry.group_instance_id = nullable(member.group_instance_id);
                        entry.error_code = member.error.0;
                        entry
                    })
                    .collect();
            } else {
                // One member, as v0-2 ask: its error is the response's.
                let member_error = leave.members.first().map_or(0, |member| member.error.0);
                response.error_code = if leave.error == ErrorCode::NONE {
                    member_error
                } else {
                    leave.error.0
                };
            }
            encode(correlation_id, api, version, &response)
        }
        GroupReply::OffsetCommit { partitions } => {
            let mut response = OffsetCommitResponse::default();
            for partition in partitions {
                let position = response
                    .topics
                    .iter()
                    .position(|topic| topic.name.0.as_str() == partition.topic);
                let index = position.unwrap_or_else(|| {
                    let mut topic = offset_commit_response::OffsetCommitResponseTopic::default();
                    topic.name = topic_name(&partition.topic);
                    response.topics.push(topic);
                    response.topics.len() - 1
                });
                let mut entry = offset_commit_response::OffsetCommitResponsePartition::default();
                entry.partition_index = partition.partition;
                entry.error_code = partition.error.0;
                response.topics[index].partitions.push(entry);
            }
            encode(correlation_id, api, version, &response)
        }
        GroupReply::OffsetFetch { error, partitions } => {
            let mut response = OffsetFetchResponse::default();
            if version >= 2 {
                response.error_code = error.0;
            }
            for partition in partitions {
                let position = response
                    .topics
                    .iter()
                    .position(|topic| topic.name.0.as_str() == partition.topic);
                let index = position.unwrap_or_else(|| {
                    let mut topic = offset_fetch_response::OffsetFetchResponseTopic::default();
                    topic.name = topic_name(&partition.topic);
                    response.topics.push(topic);
                    response.topics.len() - 1
                });
                let mut entry = offset_fetch_response::OffsetFetchResponsePartition::default();
                entry.partition_index = partition.partition;
                entry.committed_offset = partition.offset;
                entry.committed_leader_epoch = -1;
                entry.metadata = Some(str_bytes(&partition.metadata));
                if version < 2 {
                    entry.error_code = error.0;
                }
                response.topics[index].partitions.push(entry);
            }
            encode(correlation_id, api, version, &response)
        }
        GroupReply::Describe { groups } => {
            let mut response = DescribeGroupsResponse::default();
            response.groups = (groups.into_iter())
                .map(|described| {
                    let mut group = describe_groups_response::DescribedGroup::default();
                    group.error_code = described.error.0;
                    group.group_id = GroupId(str_bytes(&described.group));
                    group.group_state = str_bytes(described.state.name());
                    group.protocol_type = str_bytes(&described.protocol_type);
                    group.protocol_data = str_bytes(&described.protocol_data);
                    group.members = (described.members.into_iter())
                        .map(|member| {
                            let mut entry =
                                describe_groups_response::DescribedGroupMember::default();
                            entry.member_id = str_bytes(&member.member_id);
                            if version >= 4 {
                                entry.group_instance_id = nullable(member.group_instance_id);
                            }
                            entry.client_id = str_bytes(&member.client_id);
                            entry.client_host = str_bytes("/127.0.0.1");
                            entry.member_metadata = member.metadata;
                            entry.member_assignment = member.assignment;
                            entry
                        })
                        .collect();
                    if version >= 3 {
                        // Not asked for, or not computed: Kafka's "unknown".
                        group.authorized_operations = i32::MIN;
                    }
                    group
                })
                .collect();
            encode(correlation_id, api, version, &response)
        }
        GroupReply::List { groups } => {
            let mut response = ListGroupsResponse::default();
            response.groups = (groups.into_iter())
                .map(|listed| {
                    let mut group = list_groups_response::ListedGroup::default();
                    group.group_id = GroupId(str_bytes(&listed.group));
                    group.protocol_type = str_bytes(&listed.protocol_type);
                    if version >= 4 {
                        group.group_state = str_bytes(listed.state.name());
                    }
                    group
                })
                .collect();
            encode(correlation_id, api, version, &response)
        }
        GroupReply::Delete { groups } => {
            let mut response = DeleteGroupsResponse::default();
            response.results = (groups.into_iter())
                .map(|(group, error)| {
                    let mut result = delete_groups_response::DeletableGroupResult::default();
                    result.group_id = GroupId(str_bytes(&group));
                    result.error_code = error.0;
                    result
                })
                .collect();
            encode(correlation_id, api, version, &response)
        }
    }
}

/// The group state Kafka names so, if any.
fn state_named(name: &StrBytes) -> Option<GroupState> {
    let states = [
        GroupState::Empty,
        GroupState::PreparingRebalance,
        GroupState::CompletingRebalance,
        GroupState::Stable,
        GroupState::Dead,
    ];
    states
        .into_iter()
        .find(|state| state.name() == name.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_served_version_is_one_kafka_protocol_decodes() {
        for (api, min, max) in SERVED {
            let range = api.valid_versions();
            assert!(range.min <= *min && *max <= range.max, "{api:?}");
        }
    }

    #[test]
    fn a_repeated_header_key_keeps_each_of_its_values_in_order() {
        let header = |name: &str, value: &str| {
            (
                str_bytes(name),
                Some(Bytes::copy_from_slice(value.as_bytes())),
            )
        };
        let headers = vec![
            header("trace", "abc"),
            header("retry", "1"),
            header("trace", "def"),
        ];
        let record = plain_record(0, b"v", headers);
        let options = RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        };
        let mut encoded = BytesMut::new();
        RecordBatchEncoder::encode(&mut encoded, &[record], &options).expect("encodes");
        let batches = produced_batches(
            Some(encoded.freeze()),
            &Inflater::new(9, DECOMPRESSED_MAX_BYTES),
        )
        .expect("decodes");
        let headers: Vec<(&str, Option<&[u8]>)> = batches[0].records[0]
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_deref()))
            .collect();
        assert_eq!(
            headers,
            vec![
                ("trace", Some(&b"abc"[..])),
                ("retry", Some(&b"1"[..])),
                ("trace", Some(&b"def"[..]))
            ]
        );
    }

    /// A record of a producer that is not idempotent, without a key.
    fn plain_record(offset: i64, value: &[u8], headers: Vec<(StrBytes, Option<Bytes>)>) -> Record {
        Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset,
            sequence: -1,
            timestamp: 0,
            key: None,
            value: Some(Bytes::copy_from_slice(value)),
            headers,
        }
    }

    /// A record batch of `records` values compressed with `compression`
    /// by the codecs' own crates, as a client would send it.
    fn compressed_batch(compression: Compression, values: &[Vec<u8>]) -> Vec<u8> {
        use std::io::Write;
        let records: Vec<Record> = values
            .iter()
            .enumerate()
            .map(|(index, value)| {
                let offset = i64::try_from(index).unwrap();
                plain_record(offset, value, vec![(StrBytes::from_static_str("h"), None)])
            })
            .collect();
        let options = RecordEncodeOptions {
            version: 2,
            compression,
        };
        let compress = |records: &mut BytesMut, out: &mut BytesMut, codec| {
            let compressed = match codec {
                Compression::Gzip => {
                    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), Default::default());
                    gzip.write_all(records)?;
                    gzip.finish()?
                }
                Compression::Lz4 => {
                    let mut lz4 = lz4_flex::frame::FrameEncoder::new(Vec::new());
                    lz4.write_all(records)?;
                    lz4.finish()?
                }
                Compression::Snappy => snap::raw::Encoder::new().compress_vec(records)?,
                Compression::Zstd => ruzstd::encoding::compress_to_vec(
                    &records[..],
                    ruzstd::encoding::CompressionLevel::Fastest,
                ),
                Compression::None => records.to_vec(),
            };
            out.extend_from_slice(&compressed);
            Ok(())
        };
        let mut batch = BytesMut::new();
        RecordBatchEncoder::encode_with_custom_compression(
            &mut batch,
            &records,
            &options,
            Some(compress),
        )
        .expect("encodes");
        batch.to_vec()
    }

    /// Where a batch's CRC (crc32c of everything after it) sits.
    const CRC_AT: std::ops::Range<usize> = 17..21;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        #[test]
        fn a_damaged_batch_of_any_codec_is_refused_with_a_kafka_error_never_a_panic(
            codec in 0usize..5,
            values in proptest::collection::vec(proptest::collection::vec(0u8..4, 0..64), 1..8),
            damage in proptest::collection::vec((0usize..4096, proptest::prelude::any::<u8>()), 0..6),
            cut in 0usize..4096,
        ) {
            let compression = [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd][codec];
            let mut batch = compressed_batch(compression, &values);
            for (at, byte) in damage {
                // Past the CRC, so that the damage reaches the decompressor.
                let at = CRC_AT.end + at % (batch.len() - CRC_AT.end);
                batch[at] = byte;
            }
            batch.truncate(batch.len().min(CRC_AT.end + cut));
            if batch.len() >= CRC_AT.end {
                let crc = crc32c::crc32c(&batch[CRC_AT.end..]);
                batch[CRC_AT].copy_from_slice(&crc.to_be_bytes());
            }
            let inflater = Inflater::new(9, 1 << 20);
            match produced_batches(Some(Bytes::from(batch)), &inflater) {
                Ok(batches) => proptest::prop_assert!(!batches.is_empty()),
                Err(code) => proptest::prop_assert!(
                    [CORRUPT_MESSAGE, super::super::compression::MESSAGE_TOO_LARGE].contains(&code),
                    "error {}", code
                ),
            }
        }
    }

    #[test]
    fn an_undamaged_batch_of_every_codec_comes_back_with_its_null_header() {
        for compression in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let values = vec![b"one".to_vec(), b"two".to_vec()];
            let batch = compressed_batch(compression, &values);
            let inflater = Inflater::new(9, 1 << 20);
            let batches = produced_batches(Some(Bytes::from(batch)), &inflater).expect("decodes");
            let records: Vec<&StreamRecord> =
                batches.iter().flat_map(|batch| &batch.records).collect();
            let read: Vec<&[u8]> = records
                .iter()
                .map(|r| r.value.as_deref().unwrap())
                .collect();
            assert_eq!(read, [&b"one"[..], &b"two"[..]], "{compression:?}");
            assert_eq!(
                records[0].headers,
                vec![("h".to_owned(), None)],
                "{compression:?}"
            );
        }
    }

    #[test]
    fn a_batch_claiming_billions_of_records_is_corrupt_and_reserves_nothing_for_them() {
        // The record count sits after the 57 bytes of the batch header before it.
        const COUNT_AT: std::ops::Range<usize> = 57..61;
        let mut batch = compressed_batch(Compression::None, &[b"v".to_vec()]);
        batch[COUNT_AT].copy_from_slice(&i32::MAX.to_be_bytes());
        let crc = crc32c::crc32c(&batch[CRC_AT.end..]);
        batch[CRC_AT].copy_from_slice(&crc.to_be_bytes());
        let inflater = Inflater::new(9, 1 << 20);
        assert_eq!(
            produced_batches(Some(Bytes::from(batch)), &inflater).err(),
            Some(CORRUPT_MESSAGE)
        );
    }

    /// A request of `api` at `version` as a client encodes it (its header,
    /// then the message with its fields at their defaults), without the size.
    fn default_request(api: ApiKey, version: i16) -> Vec<u8> {
        use kafka_protocol::messages::{
            DeleteGroupsRequest, DescribeConfigsRequest, SaslAuthenticateRequest,
            SaslHandshakeRequest,
        };
        let mut out = BytesMut::new();
        let mut header = RequestHeader::default();
        header.request_api_key = api as i16;
        header.request_api_version = version;
        header.correlation_id = 7;
        header.client_id = Some(StrBytes::from_static_str("damaged"));
        header
            .encode(&mut out, api.request_header_version(version))
            .expect("a header encodes");
        macro_rules! body {
            ($request:ty) => {
                <$request>::default().encode(&mut out, version)
            };
        }
        let encoded = match api {
            ApiKey::Produce => body!(ProduceRequest),
            ApiKey::Fetch => body!(FetchRequest),
            ApiKey::ListOffsets => body!(ListOffsetsRequest),
            ApiKey::Metadata => body!(MetadataRequest),
            ApiKey::OffsetCommit => body!(OffsetCommitRequest),
            ApiKey::OffsetFetch => body!(OffsetFetchRequest),
            ApiKey::FindCoordinator => body!(FindCoordinatorRequest),
            ApiKey::JoinGroup => body!(JoinGroupRequest),
            ApiKey::Heartbeat => body!(HeartbeatRequest),
            ApiKey::LeaveGroup => body!(LeaveGroupRequest),
            ApiKey::SyncGroup => body!(SyncGroupRequest),
            ApiKey::ApiVersions => body!(ApiVersionsRequest),
            ApiKey::CreateTopics => body!(CreateTopicsRequest),
            ApiKey::DeleteTopics => body!(DeleteTopicsRequest),
            ApiKey::InitProducerId => body!(InitProducerIdRequest),
            ApiKey::DescribeGroups => body!(DescribeGroupsRequest),
            ApiKey::ListGroups => body!(ListGroupsRequest),
            ApiKey::DeleteGroups => body!(DeleteGroupsRequest),
            ApiKey::CreatePartitions => body!(CreatePartitionsRequest),
            ApiKey::DescribeConfigs => body!(DescribeConfigsRequest),
            ApiKey::SaslHandshake => body!(SaslHandshakeRequest),
            ApiKey::SaslAuthenticate => body!(SaslAuthenticateRequest),
            other => panic!("{other:?} is not served"),
        };
        encoded.expect("a default request encodes");
        out.to_vec()
    }

    fn context() -> Context {
        Context {
            to_broker: tokio::sync::mpsc::channel(1).0,
            shutdown: tokio::sync::watch::channel(false).1,
            auto_create_partitions: Some(1),
            default_partitions: 1,
            outgoing_buffer_max_bytes: 1 << 20,
            send_timeout: std::time::Duration::from_secs(1),
            users: std::sync::Arc::new(crate::Users::default()),
            anonymous_loopback: true,
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]

        #[test]
        fn a_damaged_request_of_any_served_api_is_answered_or_closed_never_a_panic(
            served in 0..SERVED.len(),
            version_pick in proptest::prelude::any::<u16>(),
            damage in proptest::collection::vec((0usize..256, proptest::prelude::any::<u8>()), 0..6),
            tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..48),
        ) {
            let (api, min, max) = SERVED[served];
            let version = min + i16::try_from(version_pick).unwrap_or(0).rem_euclid(max - min + 1);
            let mut frame = default_request(api, version);
            frame.extend_from_slice(&tail);
            // The fixed prefix (key, version, correlation id) stays: damage
            // past it reaches the header's and the message's decoders.
            for (at, byte) in damage {
                let at = 8 + at % (frame.len() - 8);
                frame[at] = byte;
            }
            let advertised = SocketAddr::from(([127, 0, 0, 1], 9092));
            // Ok is an answer or commands for the core; Err closes the connection.
            let _ = dispatch(Bytes::from(frame), &context(), advertised);
        }
    }
}
