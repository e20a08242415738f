//! Kafka's requests onto the core's stream commands and group requests:
//! each request's parts checked and turned into commands, its answer
//! waiting for the core's replies.

use super::{
    str_bytes, topic_name, Answer, Built, Command, Dispatch, CORRUPT_MESSAGE,
    INVALID_REPLICATION_FACTOR, NODE_ID, UNKNOWN_TOPIC_ID,
};
use crate::kafka::compression::{Inflater, DECOMPRESSED_MAX_BYTES};
use crate::kafka::Context;
use brokerlab_core::group::GroupRequest;
use brokerlab_core::stream::{
    validate_topic_name, Acks, FetchPartition, OffsetSpec, ProducedBatch, StreamCommand,
    StreamError, StreamRecord,
};
use bytes::Bytes;
use kafka_protocol::messages::{
    create_partitions_response, create_topics_response, delete_topics_response,
    find_coordinator_response, list_offsets_response, produce_response, ApiKey, BrokerId,
    CreatePartitionsRequest, CreatePartitionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    DeleteTopicsRequest, DeleteTopicsResponse, FetchRequest, FindCoordinatorRequest,
    FindCoordinatorResponse, ListOffsetsRequest, ListOffsetsResponse, MetadataRequest,
    ProduceRequest, ProduceResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;
use std::net::SocketAddr;

pub(super) fn metadata(
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

pub(super) fn find_coordinator(
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

pub(super) fn group(
    correlation_id: i32,
    api: ApiKey,
    version: i16,
    request: GroupRequest,
) -> Dispatch {
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
pub(super) fn produced_batches(
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

pub(super) fn produce(correlation_id: i32, version: i16, request: ProduceRequest) -> Dispatch {
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

pub(super) fn fetch(correlation_id: i32, version: i16, request: FetchRequest) -> Dispatch {
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

pub(super) fn list_offsets(
    correlation_id: i32,
    version: i16,
    request: ListOffsetsRequest,
) -> Dispatch {
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

pub(super) fn create_topics(
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
            match crate::kafka::configs::from_create(&topic.configs) {
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
pub(super) fn refused(
    code: &mut i16,
    message: &mut Option<StrBytes>,
    result: Result<(), StreamError>,
) {
    if let Err(error) = result {
        *code = error.code();
        *message = Some(str_bytes(error.name()));
    }
}

/// CreatePartitions: each topic grown to its new count by the core
/// (INVALID_PARTITIONS for a count not above the current one); one node
/// takes no replica assignment, and `validate_only` checks the names alone.
pub(super) fn create_partitions(
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

pub(super) fn delete_topics(
    correlation_id: i32,
    version: i16,
    request: DeleteTopicsRequest,
) -> Dispatch {
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
