//! The record format: every frame checked, a torn tail cut at the last valid
//! record, corruption before the tail refused with its offset.

mod common;

use brokerlab_store::frame::{self, FORMAT_VERSION, HEADER_BYTES, MAX_PAYLOAD_BYTES};
use brokerlab_store::StoreError;
use common::{declared, encode_all, enqueued, expected_after_damage};

fn small_log() -> Vec<brokerlab_core::record::Record> {
    vec![
        enqueued(1, 5),
        declared(2, "audit"),
        enqueued(3, 0),
        enqueued(4, 40),
    ]
}

/// Reads `log` and returns how many records came back, or the corruption's offsets.
fn outcome(records: &[brokerlab_core::record::Record], log: &[u8]) -> Result<usize, (u64, u64)> {
    match frame::read_log(log) {
        Ok(found) => {
            assert_eq!(
                found.records,
                records[..found.records.len()],
                "recovery returns a prefix of the log"
            );
            let valid: usize = encode_all(&found.records).0.len();
            assert_eq!(
                found.valid_bytes, valid as u64,
                "the log is cut right after the last valid record"
            );
            assert_eq!(
                found.valid_bytes + found.torn_bytes,
                log.len() as u64,
                "everything after the cut is torn"
            );
            Ok(found.records.len())
        }
        Err(StoreError::Corrupt {
            offset,
            next_valid_offset,
        }) => Err((offset, next_valid_offset)),
        Err(other) => panic!("unexpected error {other}"),
    }
}

#[test]
fn a_frame_round_trips_its_record() {
    let records = small_log();
    let (log, starts) = encode_all(&records);
    assert_eq!(log[starts[1]], FORMAT_VERSION);
    let found = frame::read_log(log.as_slice()).expect("an undamaged log reads back");
    assert_eq!(found.records, records);
    assert_eq!((found.valid_bytes, found.torn_bytes), (log.len() as u64, 0));
}

#[test]
fn an_empty_log_holds_no_records() {
    let found = frame::read_log(&[][..]).expect("an empty log reads back");
    assert!(found.records.is_empty());
    assert_eq!((found.valid_bytes, found.torn_bytes), (0, 0));
}

#[test]
fn every_truncation_recovers_exactly_the_whole_frames_before_it() {
    let records = small_log();
    let (log, starts) = encode_all(&records);
    for len in 0..=log.len() {
        let expected = expected_after_damage(&starts, log.len(), len, None);
        assert_eq!(
            outcome(&records, &log[..len]),
            expected,
            "log truncated to {len} bytes"
        );
    }
}

#[test]
fn every_single_bit_flip_is_detected_and_never_replayed() {
    let records = small_log();
    let (log, starts) = encode_all(&records);
    for bit in 0..log.len() * 8 {
        let mut damaged = log.clone();
        damaged[bit / 8] ^= 1 << (bit % 8);
        let expected = expected_after_damage(&starts, log.len(), log.len(), Some(bit / 8));
        assert_eq!(outcome(&records, &damaged), expected, "bit {bit} flipped");
    }
}

#[test]
fn torn_tail_is_cut_at_the_last_valid_record() {
    let records = small_log();
    let (log, starts) = encode_all(&records);
    let found = frame::read_log(&log[..starts[3] + 7]).expect("a torn tail is not an error");
    assert_eq!(found.records, records[..3]);
    assert_eq!((found.valid_bytes, found.torn_bytes), (starts[3] as u64, 7));
}

#[test]
fn corruption_before_the_tail_names_its_offset() {
    let records = small_log();
    let (mut log, starts) = encode_all(&records);
    log[starts[1] + HEADER_BYTES + 2] ^= 0x10;
    match frame::read_log(log.as_slice()) {
        Err(StoreError::Corrupt {
            offset,
            next_valid_offset,
        }) => {
            assert_eq!(
                (offset, next_valid_offset),
                (starts[1] as u64, starts[2] as u64)
            );
        }
        other => panic!("expected corruption at byte {}, got {other:?}", starts[1]),
    }
}

#[test]
fn a_zeroed_tail_is_cut_as_torn() {
    // After a crash some file systems show the file's new length with zeros
    // where the data never arrived.
    let records = small_log();
    let (mut log, _) = encode_all(&records);
    let valid = log.len();
    log.extend_from_slice(&[0; 4096]);
    let found = frame::read_log(log.as_slice()).expect("zeros after the log are a torn tail");
    assert_eq!(found.records, records);
    assert_eq!((found.valid_bytes, found.torn_bytes), (valid as u64, 4096));
}

#[test]
fn a_damaged_length_is_never_trusted() {
    // A length of 4 GiB with a failed length check must not make the reader
    // skip over the valid frames after it.
    let records = small_log();
    let (mut log, starts) = encode_all(&records);
    log[starts[0] + 4] = 0xff;
    assert_eq!(outcome(&records, &log), Err((0, starts[1] as u64)));
}

#[test]
fn a_checked_frame_that_is_not_a_record_is_undecodable() {
    let (mut log, _) = encode_all(&[enqueued(1, 3)]);
    let payload = [0xffu8; 3];
    let length_check = crc32c::crc32c(&[FORMAT_VERSION, 3, 0, 0, 0]);
    let body_check = crc32c::crc32c_append(length_check, &payload);
    let start = log.len();
    log.extend_from_slice(&[FORMAT_VERSION, 3, 0, 0, 0]);
    log.extend_from_slice(&length_check.to_le_bytes());
    log.extend_from_slice(&body_check.to_le_bytes());
    log.extend_from_slice(&payload);
    match frame::read_log(log.as_slice()) {
        Err(StoreError::Undecodable { offset }) => assert_eq!(offset, start as u64),
        other => panic!("expected an undecodable frame at byte {start}, got {other:?}"),
    }
}

#[test]
fn a_record_too_large_for_a_frame_is_refused_and_leaves_the_buffer_as_it_was() {
    let mut buffer = vec![7u8; 3];
    let huge = enqueued(9, MAX_PAYLOAD_BYTES as usize);
    match frame::encode(&huge, &mut buffer) {
        Err(StoreError::RecordTooLarge {
            lsn: 9,
            payload_bytes,
        }) => assert!(payload_bytes > MAX_PAYLOAD_BYTES as usize),
        other => panic!("expected RecordTooLarge, got {other:?}"),
    }
    assert_eq!(buffer, [7, 7, 7]);
}

#[test]
fn find_frame_skips_bytes_that_are_not_a_frame_start() {
    let (log, _) = encode_all(&[enqueued(1, 30)]);
    let mut shifted = vec![FORMAT_VERSION, 0, 0];
    shifted.extend_from_slice(&log);
    assert_eq!(frame::find_frame(&shifted), Some(3));
    assert_eq!(frame::find_frame(&log[1..]), None);
}

#[test]
fn stream_records_round_trip_through_the_frame_format() {
    use brokerlab_core::record::{Change, Record};
    use brokerlab_core::stream::{
        Batch, BatchSequence, ProducedBatch, ProducerWindow, StreamRecord, TopicConfig,
    };
    use std::sync::Arc;
    let record = StreamRecord {
        timestamp_ms: 1_700_000_000_000,
        key: Some(b"key".to_vec().into()),
        value: Some(b"value".to_vec().into()),
        headers: vec![
            ("h".to_owned(), Some(b"v".to_vec().into())),
            ("null".to_owned(), None),
            ("empty".to_owned(), Some(Vec::new().into())),
        ],
    };
    let produced = ProducedBatch {
        producer_id: 3,
        producer_epoch: 1,
        base_sequence: 9,
        records: vec![record.clone(), StreamRecord::default()],
    };
    let batch = Batch::new(produced, 40, brokerlab_core::Instant(77));
    let window = ProducerWindow {
        epoch: 1,
        batches: [BatchSequence {
            first_sequence: 9,
            last_sequence: 10,
            base_offset: 40,
            last_offset: 41,
        }]
        .into(),
    };
    let changes = [
        Change::TopicCreated {
            topic: "t".into(),
            partitions: 2,
            config: TopicConfig::default(),
        },
        Change::BatchAppended {
            topic: "t".into(),
            partition: 1,
            batch: Arc::new(batch),
        },
        Change::LogStartMoved {
            topic: "t".into(),
            partition: 1,
            log_start_offset: 40,
        },
        Change::ProducerIdsIssued { upto: 3 },
        Change::ProducerState {
            topic: "t".into(),
            partition: 1,
            producer_id: 3,
            window,
        },
    ];
    let records: Vec<Record> = changes
        .into_iter()
        .enumerate()
        .map(|(index, change)| Record {
            lsn: index as u64 + 1,
            change,
        })
        .collect();
    let log = encode_all(&records).0;
    let found = frame::read_log(log.as_slice()).expect("a whole log reads back");
    assert_eq!(
        found.records, records,
        "sizes and timestamps are derived again on read"
    );
}

#[test]
fn a_stream_record_logged_before_header_values_could_be_null_reads_as_before() {
    use brokerlab_core::stream::StreamRecord;
    /// A record as logged when header values were bytes, never null.
    #[derive(serde::Serialize)]
    struct Before {
        timestamp_ms: i64,
        key: Option<bytes::Bytes>,
        value: Option<bytes::Bytes>,
        headers: Vec<(String, bytes::Bytes)>,
    }
    let before = Before {
        timestamp_ms: 5,
        key: None,
        value: Some(bytes::Bytes::from_static(b"v")),
        headers: vec![
            ("trace".to_owned(), bytes::Bytes::from_static(b"abc")),
            ("empty".to_owned(), bytes::Bytes::new()),
            ("ÿ-named".to_owned(), bytes::Bytes::from_static(b"x")),
        ],
    };
    let logged = postcard::to_allocvec(&before).expect("encodes");
    let read: StreamRecord = postcard::from_bytes(&logged).expect("decodes");
    assert_eq!(
        read.headers,
        vec![
            ("trace".to_owned(), Some(bytes::Bytes::from_static(b"abc"))),
            ("empty".to_owned(), Some(bytes::Bytes::new())),
            ("ÿ-named".to_owned(), Some(bytes::Bytes::from_static(b"x"))),
        ]
    );
    // And a record with a null value is written as before but for that header.
    let now = StreamRecord {
        timestamp_ms: 5,
        key: None,
        value: Some(bytes::Bytes::from_static(b"v")),
        headers: vec![("trace".to_owned(), Some(bytes::Bytes::from_static(b"abc")))],
    };
    let mut only_some = before;
    only_some.headers.truncate(1);
    assert_eq!(
        postcard::to_allocvec(&now).expect("encodes"),
        postcard::to_allocvec(&only_some).expect("encodes")
    );
}

#[test]
fn names_in_records_are_logged_as_the_strings_they_were_before() {
    use brokerlab_core::Name;
    // Records held vhost, queue and exchange names as `String`s before they
    // held `Name`s: both encode as the same bytes, short (held inline) or
    // long (held on the heap), so a log written before reads the same.
    let long = "a-queue-name-longer-than-twenty-three-bytes";
    let before = ("/".to_owned(), long.to_owned(), 7_u64);
    let now = (Name::from("/"), Name::from(long), 7_u64);
    let logged = postcard::to_allocvec(&before).expect("encodes");
    assert_eq!(postcard::to_allocvec(&now).expect("encodes"), logged);
    let read: (Name, Name, u64) = postcard::from_bytes(&logged).expect("decodes");
    assert_eq!(read, now);
}
