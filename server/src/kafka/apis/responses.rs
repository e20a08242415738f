//! The core's answers onto Kafka's responses: each answer filled part
//! by part from the core's replies, then encoded.

use super::requests::refused;
use super::{closed, encode, str_bytes, topic_name, Answer, Built, CLUSTER_ID, NODE_ID};
use crate::broker_task::KafkaReply;
use brokerlab_core::group::{ErrorCode, GroupReply, GroupState};
use brokerlab_core::stream::{Batch, StreamError, StreamReply};
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    delete_groups_response, describe_groups_response, fetch_response, join_group_response,
    leave_group_response, list_groups_response, metadata_response, offset_commit_response,
    offset_fetch_response, ApiKey, BrokerId, DeleteGroupsResponse, DescribeGroupsResponse,
    FetchResponse, GroupId, HeartbeatResponse, InitProducerIdResponse, JoinGroupResponse,
    LeaveGroupResponse, ListGroupsResponse, MetadataResponse, OffsetCommitResponse,
    OffsetFetchResponse, ProducerId, SyncGroupResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use std::io;
use std::net::SocketAddr;

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
                    crate::kafka::configs::fill(answer, wanted, *version, result);
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

pub(super) fn metadata_response(
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
pub(super) fn encode_batches(batches: &[std::sync::Arc<Batch>]) -> io::Result<Bytes> {
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

pub(super) fn fetch_response(
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

pub(super) fn group_response(
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
pub(super) fn state_named(name: &StrBytes) -> Option<GroupState> {
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
