use crate::kafka::compression::{Inflater, DECOMPRESSED_MAX_BYTES};
use crate::kafka::Context;
use brokerlab_core::stream::StreamRecord;
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest,
    DescribeGroupsRequest, FetchRequest, FindCoordinatorRequest, HeartbeatRequest,
    InitProducerIdRequest, JoinGroupRequest, LeaveGroupRequest, ListGroupsRequest,
    ListOffsetsRequest, MetadataRequest, OffsetCommitRequest, OffsetFetchRequest, ProduceRequest,
    RequestHeader, SyncGroupRequest,
};
use kafka_protocol::protocol::{Encodable, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use std::net::SocketAddr;

use super::requests::produced_batches;
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
        let records: Vec<&StreamRecord> = batches.iter().flat_map(|batch| &batch.records).collect();
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
        DeleteGroupsRequest, DescribeConfigsRequest, SaslAuthenticateRequest, SaslHandshakeRequest,
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
