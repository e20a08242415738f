//! Writes the seeds of the kafka_requests target: each request the Kafka
//! listener serves, at each version it serves, encoded as a client encodes it
//! (size, header, then the message with its fields at their defaults); a
//! produce of a record batch per codec (none, gzip, snappy, lz4, zstd) with
//! keys and headers, one of them null; a SASL/PLAIN exchange as guest; and a
//! pipelined conversation (ApiVersions, Metadata, Produce, Fetch).
//!
//! `cargo run --no-default-features --example kafka_seeds -- OUT_DIR`

use brokerlab_server::fuzzing::KAFKA_SERVED;
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    produce_request::{PartitionProduceData, TopicProduceData},
    ApiKey, ApiVersionsRequest, CreatePartitionsRequest, CreateTopicsRequest, DeleteGroupsRequest,
    DeleteTopicsRequest, DescribeConfigsRequest, DescribeGroupsRequest, FetchRequest,
    FindCoordinatorRequest, HeartbeatRequest, InitProducerIdRequest, JoinGroupRequest,
    LeaveGroupRequest, ListGroupsRequest, ListOffsetsRequest, MetadataRequest, OffsetCommitRequest,
    OffsetFetchRequest, ProduceRequest, RequestHeader, SaslAuthenticateRequest,
    SaslHandshakeRequest, SyncGroupRequest, TopicName,
};
use kafka_protocol::protocol::{Encodable, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use std::io::Write;
use std::path::Path;

/// A request as it goes on the wire: its size, its header, then `body`.
fn frame(api: ApiKey, version: i16, correlation_id: i32, body: &impl Encodable) -> Vec<u8> {
    let mut header = RequestHeader::default();
    header.request_api_key = api as i16;
    header.request_api_version = version;
    header.correlation_id = correlation_id;
    header.client_id = Some(StrBytes::from_static_str("seed"));
    let mut out = BytesMut::new();
    header
        .encode(&mut out, api.request_header_version(version))
        .expect("a header encodes");
    body.encode(&mut out, version).expect("a request encodes");
    let mut sized = i32::try_from(out.len())
        .expect("small")
        .to_be_bytes()
        .to_vec();
    sized.extend_from_slice(&out);
    sized
}

/// `api`'s request at `version` with its fields at their defaults.
fn default_request(api: ApiKey, version: i16) -> Vec<u8> {
    macro_rules! default {
        ($request:ty) => {
            frame(api, version, 1, &<$request>::default())
        };
    }
    match api {
        ApiKey::Produce => default!(ProduceRequest),
        ApiKey::Fetch => default!(FetchRequest),
        ApiKey::ListOffsets => default!(ListOffsetsRequest),
        ApiKey::Metadata => default!(MetadataRequest),
        ApiKey::OffsetCommit => default!(OffsetCommitRequest),
        ApiKey::OffsetFetch => default!(OffsetFetchRequest),
        ApiKey::FindCoordinator => default!(FindCoordinatorRequest),
        ApiKey::JoinGroup => default!(JoinGroupRequest),
        ApiKey::Heartbeat => default!(HeartbeatRequest),
        ApiKey::LeaveGroup => default!(LeaveGroupRequest),
        ApiKey::SyncGroup => default!(SyncGroupRequest),
        ApiKey::ApiVersions => default!(ApiVersionsRequest),
        ApiKey::CreateTopics => default!(CreateTopicsRequest),
        ApiKey::DeleteTopics => default!(DeleteTopicsRequest),
        ApiKey::InitProducerId => default!(InitProducerIdRequest),
        ApiKey::DescribeGroups => default!(DescribeGroupsRequest),
        ApiKey::ListGroups => default!(ListGroupsRequest),
        ApiKey::DeleteGroups => default!(DeleteGroupsRequest),
        ApiKey::CreatePartitions => default!(CreatePartitionsRequest),
        ApiKey::DescribeConfigs => default!(DescribeConfigsRequest),
        ApiKey::SaslHandshake => default!(SaslHandshakeRequest),
        ApiKey::SaslAuthenticate => default!(SaslAuthenticateRequest),
        other => panic!("{other:?} is not served"),
    }
}

/// The records section of a batch, compressed by `codec`'s own crate.
fn compress(records: &[u8], codec: Compression) -> std::io::Result<Vec<u8>> {
    Ok(match codec {
        Compression::None => records.to_vec(),
        Compression::Gzip => {
            let mut gzip = flate2::write::GzEncoder::new(Vec::new(), Default::default());
            gzip.write_all(records)?;
            gzip.finish()?
        }
        Compression::Snappy => snap::raw::Encoder::new().compress_vec(records)?,
        Compression::Lz4 => {
            let mut lz4 = lz4_flex::frame::FrameEncoder::new(Vec::new());
            lz4.write_all(records)?;
            lz4.finish()?
        }
        Compression::Zstd => {
            ruzstd::encoding::compress_to_vec(records, ruzstd::encoding::CompressionLevel::Fastest)
        }
    })
}

/// A produce (v9) to `topic` of three keyed records compressed by `codec`.
fn produce(topic: &str, codec: Compression, correlation_id: i32) -> Vec<u8> {
    let records: Vec<Record> = (0..3)
        .map(|index| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: index,
            sequence: -1,
            timestamp: 1_700_000_000_000,
            key: Some(Bytes::from(format!("key-{index}"))),
            value: Some(Bytes::from(format!("value {index} of an order"))),
            headers: vec![
                (
                    StrBytes::from_static_str("trace"),
                    Some(Bytes::from_static(b"abc")),
                ),
                (StrBytes::from_static_str("none"), None),
            ],
        })
        .collect();
    let options = RecordEncodeOptions {
        version: 2,
        compression: codec,
    };
    let mut batch = BytesMut::new();
    let compressor = |records: &mut BytesMut, out: &mut BytesMut, codec| {
        out.extend_from_slice(&compress(records, codec)?);
        Ok(())
    };
    RecordBatchEncoder::encode_with_custom_compression(
        &mut batch,
        &records,
        &options,
        Some(compressor),
    )
    .expect("a batch encodes");
    let mut partition = PartitionProduceData::default();
    partition.records = Some(batch.freeze());
    let mut data = TopicProduceData::default();
    data.name = TopicName(StrBytes::from_string(topic.to_owned()));
    data.partition_data = vec![partition];
    let mut request = ProduceRequest::default();
    request.acks = -1;
    request.timeout_ms = 5_000;
    request.topic_data = vec![data];
    frame(ApiKey::Produce, 9, correlation_id, &request)
}

fn main() {
    let out = std::env::args().nth(1).expect("OUT_DIR");
    let out = Path::new(&out);
    std::fs::create_dir_all(out).expect("the seed directory");
    let write = |name: String, bytes: &[u8]| {
        std::fs::write(out.join(name), bytes).expect("a seed is written");
    };
    for &(api, min, max) in KAFKA_SERVED {
        for version in min..=max {
            let name = format!("default-{api:?}-v{version}").to_lowercase();
            write(name, &default_request(api, version));
        }
    }
    let codecs = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];
    for codec in codecs {
        let name = format!("produce-{codec:?}").to_lowercase();
        write(name, &produce("orders", codec, 5));
    }
    let mut handshake = SaslHandshakeRequest::default();
    handshake.mechanism = StrBytes::from_static_str("PLAIN");
    let mut authenticate = SaslAuthenticateRequest::default();
    authenticate.auth_bytes = Bytes::from_static(b"\0guest\0guest");
    let mut sasl = frame(ApiKey::SaslHandshake, 1, 1, &handshake);
    sasl.extend(frame(ApiKey::SaslAuthenticate, 2, 2, &authenticate));
    sasl.extend(produce("orders", Compression::Lz4, 3));
    write("sasl-plain-guest-then-produce".into(), &sasl);
    let mut metadata = MetadataRequest::default();
    metadata.topics = None;
    let mut pipelined = frame(ApiKey::ApiVersions, 3, 1, &ApiVersionsRequest::default());
    pipelined.extend(frame(ApiKey::Metadata, 12, 2, &metadata));
    pipelined.extend(produce("orders", Compression::Gzip, 3));
    pipelined.extend(frame(ApiKey::Fetch, 12, 4, &FetchRequest::default()));
    write("pipelined-conversation".into(), &pipelined);
}
