//! Partitioned streams (SEMANTICS.md section 8): topics and partitions,
//! the batch log, fetches and the long poll, acknowledgement levels,
//! retention, ListOffsets and durability.

mod support;

use brokerlab_core::stream::{Acks, FetchPartition, OffsetSpec, StreamRecord, TopicConfig};
use brokerlab_core::{Config, StreamCommand, StreamError, StreamLimits, StreamReply};
use std::sync::Arc;
use support::streams::{
    batch, create, durable, fetch, fetch_command, fetched, list, memory, produce, produced, record,
    send, values_from, CONN,
};
use support::Harness;

fn harness_with(limits: StreamLimits) -> Harness {
    Harness::new(Config {
        streams: limits,
        ..Config::default()
    })
}

// Topics.

#[test]
fn topic_names_follow_kafkas_rules() {
    let mut h = Harness::default();
    let longest = "a".repeat(249);
    for name in ["t", "a.b_c-D9", "..a", longest.as_str()] {
        assert_eq!(create(&mut h, name, 1, memory()), Ok(()), "{name}");
    }
    let too_long = "a".repeat(250);
    for name in ["", ".", "..", "a b", "a/b", "é", too_long.as_str()] {
        assert_eq!(
            create(&mut h, name, 1, memory()),
            Err(StreamError::InvalidTopic),
            "{name:?}"
        );
    }
    assert_eq!(StreamError::InvalidTopic.code(), 17);
}

#[test]
fn creating_an_existing_topic_is_topic_already_exists() {
    let mut h = Harness::default();
    assert_eq!(create(&mut h, "t", 1, durable()), Ok(()));
    assert_eq!(
        create(&mut h, "t", 3, memory()),
        Err(StreamError::TopicAlreadyExists)
    );
    assert_eq!(StreamError::TopicAlreadyExists.code(), 36);
}

#[test]
fn a_topic_needs_at_least_one_partition() {
    let mut h = Harness::default();
    assert_eq!(
        create(&mut h, "t", 0, memory()),
        Err(StreamError::InvalidPartitions)
    );
    assert!(h.broker.streams().topic("t").is_none());
}

#[test]
fn a_segment_below_kafkas_minimum_or_a_batch_beyond_a_log_frame_is_invalid_config() {
    let mut h = Harness::default();
    let config = TopicConfig {
        segment_bytes: 13,
        ..memory()
    };
    assert_eq!(
        create(&mut h, "t", 1, config),
        Err(StreamError::InvalidConfig)
    );
}

#[test]
fn topics_past_the_limit_are_a_policy_violation() {
    let mut h = harness_with(StreamLimits {
        topics_max: 2,
        ..StreamLimits::default()
    });
    assert_eq!(create(&mut h, "a", 1, memory()), Ok(()));
    assert_eq!(create(&mut h, "b", 1, memory()), Ok(()));
    assert_eq!(
        create(&mut h, "c", 1, memory()),
        Err(StreamError::PolicyViolation)
    );
}

#[test]
fn each_partition_is_a_log_of_its_own() {
    let mut h = Harness::default();
    create(&mut h, "t", 3, memory()).unwrap();
    assert_eq!(
        produce(&mut h, "t", 0, batch(&["a", "b"]))
            .unwrap()
            .base_offset,
        0
    );
    assert_eq!(
        produce(&mut h, "t", 2, batch(&["c"])).unwrap().base_offset,
        0
    );
    assert_eq!(
        produce(&mut h, "t", 0, batch(&["d"])).unwrap().base_offset,
        2
    );
    let zero = fetch(&mut h, "t", 0, 0).unwrap();
    assert_eq!(
        values_from(&zero, 0),
        [(0, "a".into()), (1, "b".into()), (2, "d".into())]
    );
    assert!(fetch(&mut h, "t", 1, 0).unwrap().batches.is_empty());
    assert_eq!(
        values_from(&fetch(&mut h, "t", 2, 0).unwrap(), 0),
        [(0, "c".into())]
    );
}

#[test]
fn growing_a_topic_adds_partitions_each_addressable_on_its_own() {
    let mut h = Harness::default();
    create(&mut h, "t", 1, durable()).unwrap();
    let mut step = h.stream(CONN, 9, grow("t", 3));
    assert!(
        step.stream_replies().is_empty(),
        "a durable change is acknowledged once synced"
    );
    step.extend(h.sync());
    assert_eq!(
        step.stream_replies(),
        [(
            CONN,
            9,
            StreamReply::PartitionsCreated {
                topic: "t".into(),
                result: Ok(())
            }
        )]
    );
    assert_eq!(
        produce(&mut h, "t", 2, batch(&["x"])).unwrap().base_offset,
        0
    );
    assert_eq!(
        produce(&mut h, "t", 3, batch(&["x"])),
        Err(StreamError::UnknownTopicOrPartition)
    );
}

fn grow(topic: &str, count: u32) -> StreamCommand {
    StreamCommand::CreatePartitions {
        topic: topic.into(),
        count,
    }
}

#[test]
fn shrinking_or_keeping_the_partition_count_is_invalid_partitions() {
    let mut h = Harness::default();
    create(&mut h, "t", 3, memory()).unwrap();
    for count in [2, 3] {
        let reply = h.stream(CONN, 1, grow("t", count)).stream_reply();
        let expected = StreamReply::PartitionsCreated {
            topic: "t".into(),
            result: Err(StreamError::InvalidPartitions),
        };
        assert_eq!(reply, expected);
    }
    assert_eq!(StreamError::InvalidPartitions.code(), 37);
    assert_eq!(h.broker.streams().topic("t").unwrap().partitions().len(), 3);
}

#[test]
fn deleting_a_topic_makes_its_partitions_unknown() {
    let mut h = Harness::default();
    create(&mut h, "t", 1, memory()).unwrap();
    produce(&mut h, "t", 0, batch(&["a"])).unwrap();
    let delete = StreamCommand::DeleteTopic { topic: "t".into() };
    let reply = h.stream(CONN, 1, delete.clone()).stream_reply();
    assert_eq!(
        reply,
        StreamReply::TopicDeleted {
            topic: "t".into(),
            result: Ok(())
        }
    );
    assert_eq!(
        fetch(&mut h, "t", 0, 0),
        Err(StreamError::UnknownTopicOrPartition)
    );
    let again = h.stream(CONN, 2, delete).stream_reply();
    let unknown = StreamReply::TopicDeleted {
        topic: "t".into(),
        result: Err(StreamError::UnknownTopicOrPartition),
    };
    assert_eq!(again, unknown);
    assert_eq!(
        create(&mut h, "t", 1, memory()),
        Ok(()),
        "the name is free again"
    );
    assert!(fetch(&mut h, "t", 0, 0).unwrap().batches.is_empty());
}

// The log.

#[test]
fn offsets_start_at_zero_and_run_on_across_batches() {
    let mut h = Harness::default();
    create(&mut h, "t", 1, memory()).unwrap();
    let bases: Vec<u64> = [vec!["a"], vec!["b", "c", "d"], vec!["e", "f"]]
        .iter()
        .map(|values| produce(&mut h, "t", 0, batch(values)).unwrap().base_offset)
        .collect();
    assert_eq!(bases, [0, 1, 4]);
    let all = fetch(&mut h, "t", 0, 0).unwrap();
    let offsets: Vec<u64> = values_from(&all, 0).iter().map(|(at, _)| *at).collect();
    assert_eq!(offsets, [0, 1, 2, 3, 4, 5]);
    assert_eq!(all.high_watermark, 6);
}

#[test]
fn a_fetch_inside_a_batch_returns_the_whole_batch() {
    let mut h = Harness::default();
    create(&mut h, "t", 1, memory()).unwrap();
    produce(&mut h, "t", 0, batch(&["a", "b"])).unwrap();
    produce(&mut h, "t", 0, batch(&["c", "d", "e"])).unwrap();
    let data = fetch(&mut h, "t", 0, 3).unwrap();
    assert_eq!(data.batches.len(), 1, "only the batch holding offset 3");
    assert_eq!(
        data.batches[0].base_offset(),
        2,
        "the whole batch, from its base"
    );
    assert_eq!(values_from(&data, 3), [(3, "d".into()), (4, "e".into())]);
}

#[test]
fn a_fetch_hands_out_the_stored_batch_without_copying_it() {
    let mut h = Harness::default();
    create(&mut h, "t", 1, memory()).unwrap();
    produce(&mut h, "t", 0, batch(&["a", "b"])).unwrap();
    let first = fetch(&mut h, "t", 0, 0).unwrap();
    let second = fetch(&mut h, "t", 0, 1).unwrap();
    assert!(Arc::ptr_eq(&first.batches[0], &second.batches[0]));
}

#[test]
fn reads_are_non_destructive_and_every_reader_sees_everything() {
    let mut h = Harness::default();
    create(&mut h, "t", 1, memory()).unwrap();
    produce(&mut h, "t", 0, batch(&["a", "b", "c"])).unwrap();
    let reads: Vec<_> = (0..3)
        .map(|_| values_from(&fetch(&mut h, "t", 0, 0).unwrap(), 0))
        .collect();
    assert_eq!(reads[0].len(), 3);
    assert!(reads.iter().all(|read| *read == reads[0]));
}

#[test]
fn a_fetch_below_log_start_or_above_the_end_is_offset_out_of_range() {
    let mut h = Harness::default();
    let config = TopicConfig {
        segment_bytes: 100,
        retention_bytes: Some(0),
        ..memory()
    };
    create(&mut h, "t", 1, config).unwrap();
    for value in ["a", "b", "c"] {
        produce(&mut h, "t", 0, batch(&[value])).unwrap();
    }
    let start = list(&mut h, "t", 0, OffsetSpec::Earliest).unwrap().unwrap();
    assert!(start > 0, "retention moved the log start");
    assert_eq!(
        fetch(&mut h, "t", 0, start - 1),
        Err(StreamError::OffsetOutOfRange)
    );
    assert_eq!(fetch(&mut h, "t", 0, 4), Err(StreamError::OffsetOutOfRange));
    assert!(
        fetch(&mut h, "t", 0, 3).unwrap().batches.is_empty(),
        "the end itself is in range"
    );
    assert_eq!(StreamError::OffsetOutOfRange.code(), 1);
}

#[test]
fn the_first_batch_is_served_whatever_its_size_and_max_bytes_bounds_the_rest() {
    let mut h = Harness::default();
    create(&mut h, "t", 1, memory()).unwrap();
    for _ in 0..3 {
        produce(&mut h, "t", 0, batch(&["0123456789"])).unwrap();
    }
    let batch_bytes = 61 + 10;
    let fetch_with = |max_bytes| StreamCommand::Fetch {
        partitions: vec![FetchPartition {
            topic: "t".into(),
            partition: 0,
            offset: 0,
            max_bytes,
        }],
        max_wait_ms: 0,
        min_bytes: 1,
        max_bytes: u64::MAX,
    };
    let tiny = fetched(&h.stream(CONN, 1, fetch_with(1))).unwrap();
    assert_eq!(
        tiny.batches.len(),
        1,
        "progress: one batch even past max_bytes"
    );
    let two = fetched(&h.stream(CONN, 1, fetch_with(2 * batch_bytes))).unwrap();
    assert_eq!(two.batches.len(), 2);
}

#[test]
fn an_empty_batch_is_corrupt_message() {
    let mut h = Harness::default();
    create(&mut h, "t", 1, memory()).unwrap();
    assert_eq!(
        produce(&mut h, "t", 0, batch(&[])),
        Err(StreamError::CorruptMessage)
    );
    assert_eq!(StreamError::CorruptMessage.code(), 2);
}

#[test]
fn a_batch_larger_than_max_message_bytes_is_message_too_large() {
    let mut h = Harness::default();
    let config = TopicConfig {
        max_message_bytes: 100,
        ..memory()
    };
    create(&mut h, "t", 1, config).unwrap();
    let big = "x".repeat(40);
    assert_eq!(
        produce(&mut h, "t", 0, batch(&[big.as_str()])),
        Err(StreamError::MessageTooLarge)
    );
    assert!(produce(&mut h, "t", 0, batch(&["small"])).is_ok());
    assert_eq!(StreamError::MessageTooLarge.code(), 10);
}

#[test]
fn a_batch_larger_than_a_segment_is_record_list_too_large() {
    let mut h = Harness::default();
    let config = TopicConfig {
        segment_bytes: 70,
        ..memory()
    };
    create(&mut h, "t", 1, config).unwrap();
    assert_eq!(
        produce(&mut h, "t", 0, batch(&["0123456789"])),
        Err(StreamError::RecordListTooLarge)
    );
    assert_eq!(StreamError::RecordListTooLarge.code(), 18);
}

#[test]
fn producing_to_an_unknown_topic_or_partition_is_refused() {
    let mut h = Harness::default();
    assert_eq!(
        produce(&mut h, "none", 0, batch(&["a"])),
        Err(StreamError::UnknownTopicOrPartition)
    );
    create(&mut h, "t", 2, memory()).unwrap();
    assert_eq!(
        produce(&mut h, "t", 2, batch(&["a"])),
        Err(StreamError::UnknownTopicOrPartition)
    );
    assert_eq!(StreamError::UnknownTopicOrPartition.code(), 3);
}

#[test]
fn stream_errors_carry_kafkas_codes() {
    let codes = [
        (StreamError::OffsetOutOfRange, 1),
        (StreamError::CorruptMessage, 2),
        (StreamError::UnknownTopicOrPartition, 3),
        (StreamError::MessageTooLarge, 10),
        (StreamError::InvalidTopic, 17),
        (StreamError::RecordListTooLarge, 18),
        (StreamError::InvalidRequiredAcks, 21),
        (StreamError::TopicAlreadyExists, 36),
        (StreamError::InvalidPartitions, 37),
        (StreamError::InvalidConfig, 40),
        (StreamError::InvalidRequest, 42),
        (StreamError::PolicyViolation, 44),
        (StreamError::OutOfOrderSequenceNumber, 45),
        (StreamError::InvalidProducerEpoch, 47),
        (StreamError::UnknownProducerId, 59),
    ];
    for (error, code) in codes {
        assert_eq!(error.code(), code, "{}", error.name());
    }
}

// Acknowledgement levels.

#[test]
fn acks_other_than_0_1_and_minus_1_are_invalid_required_acks() {
    assert_eq!(Acks::from_kafka(0), Ok(Acks::None));
    assert_eq!(Acks::from_kafka(1), Ok(Acks::Appended));
    assert_eq!(Acks::from_kafka(-1), Ok(Acks::Synced));
    for acks in [2, -2, i16::MAX] {
        assert_eq!(
            Acks::from_kafka(acks),
            Err(StreamError::InvalidRequiredAcks)
        );
    }
    assert_eq!(StreamError::InvalidRequiredAcks.code(), 21);
}

#[test]
fn acks_none_gives_no_reply_but_the_batch_is_stored() {
    let mut h = Harness::default();
    create(&mut h, "t", 1, durable()).unwrap();
    let mut step = send(&mut h, "t", 0, Acks::None, batch(&["a"]));
    step.extend(h.sync());
    assert!(step.stream_replies().is_empty());
    assert_eq!(
        values_from(&fetch(&mut h, "t", 0, 0).unwrap(), 0),
        [(0, "a".into())]
    );
}

#[test]
fn acks_on_append_reply_at_once_before_the_sync() {
    let mut h = Harness::default();
    create(&mut h, "t", 1, durable()).unwrap();
    let step = send(&mut h, "t", 0, Acks::Appended, batch(&["a"]));
    assert_eq!(produced(&step).unwrap().base_offset, 0);
    assert_eq!(step.changes().len(), 1, "the batch is logged");
}

#[test]
fn acks_after_sync_reply_only_once_the_batch_record_is_synced() {
    let mut h = Harness::default();
    create(&mut h, "t", 1, durable()).unwrap();
    let step = send(&mut h, "t", 0, Acks::Synced, batch(&["a"]));
    assert!(step.stream_replies().is_empty(), "nothing before the sync");
    let synced = h.sync();
    assert_eq!(produced(&synced).unwrap().base_offset, 0);
}

#[test]
fn a_topic_that_is_not_durable_logs_nothing_and_acks_at_once() {
    let mut h = Harness::default();
    let step = h.stream(
        CONN,
        1,
        StreamCommand::CreateTopic {
            topic: "t".into(),
            partitions: 1,
            config: memory(),
        },
    );
    assert!(step.changes().is_empty());
    let step = send(&mut h, "t", 0, Acks::Synced, batch(&["a"]));
    assert!(step.changes().is_empty());
    assert_eq!(produced(&step).unwrap().base_offset, 0);
}

#[test]
fn a_durable_topic_serves_only_synced_records() {
    let mut h = Harness::default();
    create(&mut h, "t", 1, durable()).unwrap();
    send(&mut h, "t", 0, Acks::Appended, batch(&["a"]));
    let before = fetch(&mut h, "t", 0, 0).unwrap();
    assert!(
        before.batches.is_empty(),
        "no reader sees a record a crash could take back"
    );
    assert_eq!(before.high_watermark, 0);
    assert_eq!(list(&mut h, "t", 0, OffsetSpec::Latest), Ok(Some(0)));
    h.sync();
    assert_eq!(
        values_from(&fetch(&mut h, "t", 0, 0).unwrap(), 0),
        [(0, "a".into())]
    );
    assert_eq!(list(&mut h, "t", 0, OffsetSpec::Latest), Ok(Some(1)));
}

// The long poll.

#[test]
fn a_fetch_at_the_end_waits_and_is_answered_when_min_bytes_arrive() {
    let mut h = Harness::default();
    create(&mut h, "t", 1, memory()).unwrap();
    let waiting = h.stream(CONN, 42, fetch_command("t", 0, 0, 5_000, 100));
    assert!(
        waiting.stream_replies().is_empty(),
        "nothing to read yet: it waits"
    );
    assert_eq!(h.broker.streams().parked_fetches(), 1);
    let small = send(&mut h, "t", 0, Acks::None, batch(&["a"]));
    assert!(
        small.stream_replies().is_empty(),
        "62 bytes are below min_bytes"
    );
    let big = "x".repeat(60);
    let step = send(&mut h, "t", 0, Acks::None, batch(&[big.as_str()]));
    let replies = step.stream_replies();
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].1, 42, "answered under its own request id");
    let StreamReply::Fetched { partitions } = &replies[0].2 else {
        panic!("a fetch reply");
    };
    assert_eq!(partitions[0].result.as_ref().unwrap().batches.len(), 2);
    assert_eq!(h.broker.streams().parked_fetches(), 0);
}

#[test]
fn a_waiting_fetch_is_answered_at_its_deadline_with_what_there_is() {
    let mut h = Harness::default();
    let forever = TopicConfig {
        retention_ms: None,
        ..memory()
    };
    create(&mut h, "t", 1, forever).unwrap();
    h.stream(CONN, 1, fetch_command("t", 0, 0, 500, 1_000_000));
    send(&mut h, "t", 0, Acks::None, batch(&["a"]));
    let deadline_ns = (h.now_ms + 500) * 1_000_000;
    assert_eq!(h.broker.poll_timeout().map(|at| at.0), Some(deadline_ns));
    assert!(h.advance(499).stream_replies().is_empty());
    let step = h.advance(1);
    assert_eq!(values_from(&fetched(&step).unwrap(), 0), [(0, "a".into())]);
    assert_eq!(
        h.broker.poll_timeout(),
        None,
        "the deadline went with the fetch"
    );
}

#[test]
fn a_fetch_waits_no_longer_than_the_broker_limit() {
    let mut h = harness_with(StreamLimits {
        fetch_wait_ms_max: 100,
        ..StreamLimits::default()
    });
    create(&mut h, "t", 1, memory()).unwrap();
    h.stream(CONN, 1, fetch_command("t", 0, 0, u64::MAX, 1));
    let step = h.advance(100);
    assert!(fetched(&step).unwrap().batches.is_empty());
}

#[test]
fn fetches_past_the_parking_limits_are_answered_at_once() {
    let mut h = harness_with(StreamLimits {
        parked_fetches_per_connection_max: 2,
        parked_fetches_max: 3,
        ..StreamLimits::default()
    });
    create(&mut h, "t", 1, memory()).unwrap();
    for request in 0..2 {
        assert!(h
            .stream(CONN, request, fetch_command("t", 0, 0, 1_000, 1))
            .stream_replies()
            .is_empty());
    }
    let third = h.stream(CONN, 2, fetch_command("t", 0, 0, 1_000, 1));
    assert!(
        fetched(&third).unwrap().batches.is_empty(),
        "past the connection's limit"
    );
    assert!(h
        .stream(CONN + 1, 0, fetch_command("t", 0, 0, 1_000, 1))
        .stream_replies()
        .is_empty());
    let over = h.stream(CONN + 2, 0, fetch_command("t", 0, 0, 1_000, 1));
    assert_eq!(over.stream_replies().len(), 1, "past the total limit");
    assert_eq!(h.broker.streams().parked_fetches(), 3);
}

#[test]
fn a_disconnect_drops_the_connections_parked_fetches() {
    let mut h = Harness::default();
    create(&mut h, "t", 1, memory()).unwrap();
    h.stream(CONN, 1, fetch_command("t", 0, 0, 1_000, 1));
    h.stream(CONN + 1, 1, fetch_command("t", 0, 0, 1_000, 1));
    h.input(brokerlab_core::Input::Disconnect {
        conn: brokerlab_core::ConnectionId(CONN),
    });
    assert_eq!(h.broker.streams().parked_fetches(), 1);
    let step = send(&mut h, "t", 0, Acks::None, batch(&["a"]));
    let replies = step.stream_replies();
    assert_eq!(replies.len(), 1);
    assert_eq!(
        replies[0].0,
        CONN + 1,
        "only the connection still there is answered"
    );
}

#[test]
fn deleting_a_topic_answers_the_fetches_waiting_on_it() {
    let mut h = Harness::default();
    create(&mut h, "t", 1, memory()).unwrap();
    h.stream(CONN, 1, fetch_command("t", 0, 0, 1_000, 1));
    let step = h.stream(CONN, 2, StreamCommand::DeleteTopic { topic: "t".into() });
    let replies = step.stream_replies();
    assert_eq!(replies.len(), 2, "the fetch and the delete");
    let StreamReply::Fetched { partitions } = &replies[0].2 else {
        panic!("the fetch first");
    };
    assert_eq!(
        partitions[0].result,
        Err(StreamError::UnknownTopicOrPartition)
    );
}

#[test]
fn a_fetch_naming_too_many_partitions_is_invalid_request() {
    let mut h = harness_with(StreamLimits {
        fetch_partitions_max: 1,
        ..StreamLimits::default()
    });
    create(&mut h, "t", 2, memory()).unwrap();
    let asked = |partition| FetchPartition {
        topic: "t".into(),
        partition,
        offset: 0,
        max_bytes: 1_000,
    };
    let command = StreamCommand::Fetch {
        partitions: vec![asked(0), asked(1)],
        max_wait_ms: 1_000,
        min_bytes: 1,
        max_bytes: 1_000,
    };
    let StreamReply::Fetched { partitions } = h.stream(CONN, 1, command).stream_reply() else {
        panic!("a fetch reply");
    };
    assert!(partitions
        .iter()
        .all(|p| p.result == Err(StreamError::InvalidRequest)));
}

#[test]
fn a_fetch_of_several_partitions_waits_for_bytes_on_any_of_them() {
    let mut h = Harness::default();
    create(&mut h, "t", 2, memory()).unwrap();
    let asked = |partition| FetchPartition {
        topic: "t".into(),
        partition,
        offset: 0,
        max_bytes: 1_000,
    };
    let command = StreamCommand::Fetch {
        partitions: vec![asked(0), asked(1)],
        max_wait_ms: 1_000,
        min_bytes: 1,
        max_bytes: 1_000,
    };
    assert!(h.stream(CONN, 1, command).stream_replies().is_empty());
    let step = send(&mut h, "t", 1, Acks::None, batch(&["b"]));
    let StreamReply::Fetched { partitions } = step.stream_reply() else {
        panic!("a fetch reply");
    };
    assert!(partitions[0].result.as_ref().unwrap().batches.is_empty());
    assert_eq!(partitions[1].result.as_ref().unwrap().batches.len(), 1);
}

// Retention and ListOffsets.

#[test]
fn size_retention_deletes_whole_oldest_segments_and_moves_the_log_start() {
    let mut h = Harness::default();
    // Each one-record batch of 10 bytes weighs 71: two fit a segment of 150.
    let config = TopicConfig {
        segment_bytes: 150,
        retention_bytes: Some(200),
        ..durable()
    };
    create(&mut h, "t", 1, config).unwrap();
    for _ in 0..6 {
        produce(&mut h, "t", 0, batch(&["0123456789"])).unwrap();
    }
    // Segments [0,1] [2,3] [4,5]: deleting [0,1] leaves 284 >= 200 bytes;
    // deleting [2,3] too would leave 142.
    assert_eq!(list(&mut h, "t", 0, OffsetSpec::Earliest), Ok(Some(2)));
    assert_eq!(fetch(&mut h, "t", 0, 1), Err(StreamError::OffsetOutOfRange));
    assert_eq!(values_from(&fetch(&mut h, "t", 0, 2).unwrap(), 2).len(), 4);
    let logged = h.log.iter().any(|record| {
        matches!(
            record.change,
            brokerlab_core::record::Change::LogStartMoved {
                log_start_offset: 2,
                ..
            }
        )
    });
    assert!(logged, "the moved log start is logged");
}

#[test]
fn age_retention_deletes_segments_once_their_newest_batch_is_older_than_retention() {
    let mut h = Harness::default();
    let config = TopicConfig {
        segment_bytes: 100,
        retention_ms: Some(1_000),
        ..memory()
    };
    create(&mut h, "t", 1, config).unwrap();
    produce(&mut h, "t", 0, batch(&["a"])).unwrap();
    h.advance(500);
    produce(&mut h, "t", 0, batch(&["b"])).unwrap();
    let first_deadline = h.broker.poll_timeout().expect("age retention is armed");
    assert_eq!(first_deadline.0, (h.now_ms + 500) * 1_000_000);
    h.advance(500);
    assert_eq!(list(&mut h, "t", 0, OffsetSpec::Earliest), Ok(Some(1)));
    h.advance(500);
    assert_eq!(
        list(&mut h, "t", 0, OffsetSpec::Earliest),
        Ok(Some(2)),
        "all aged out"
    );
    assert_eq!(list(&mut h, "t", 0, OffsetSpec::Latest), Ok(Some(2)));
    assert_eq!(h.broker.poll_timeout(), None);
    assert_eq!(
        produce(&mut h, "t", 0, batch(&["c"])).unwrap().base_offset,
        2
    );
}

#[test]
fn list_offsets_gives_earliest_latest_and_the_first_offset_at_or_after_a_timestamp() {
    let mut h = Harness::default();
    create(&mut h, "t", 1, memory()).unwrap();
    let stamped = |stamps: &[i64]| {
        let records: Vec<StreamRecord> = stamps.iter().map(|at| record("v", *at)).collect();
        brokerlab_core::stream::ProducedBatch::plain(records)
    };
    produce(&mut h, "t", 0, stamped(&[100, 300])).unwrap();
    produce(&mut h, "t", 0, stamped(&[200, 400])).unwrap();
    assert_eq!(list(&mut h, "t", 0, OffsetSpec::Earliest), Ok(Some(0)));
    assert_eq!(list(&mut h, "t", 0, OffsetSpec::Latest), Ok(Some(4)));
    assert_eq!(list(&mut h, "t", 0, OffsetSpec::Timestamp(50)), Ok(Some(0)));
    assert_eq!(
        list(&mut h, "t", 0, OffsetSpec::Timestamp(250)),
        Ok(Some(1))
    );
    assert_eq!(
        list(&mut h, "t", 0, OffsetSpec::Timestamp(350)),
        Ok(Some(3))
    );
    assert_eq!(list(&mut h, "t", 0, OffsetSpec::Timestamp(401)), Ok(None));
    assert_eq!(
        list(&mut h, "t", 1, OffsetSpec::Earliest),
        Err(StreamError::UnknownTopicOrPartition)
    );
}

#[test]
fn list_offsets_by_timestamp_gives_the_found_records_timestamp_and_none_otherwise() {
    let mut h = Harness::default();
    create(&mut h, "t", 1, memory()).unwrap();
    let records = [record("a", 100), record("b", 300)].to_vec();
    produce(
        &mut h,
        "t",
        0,
        brokerlab_core::stream::ProducedBatch::plain(records),
    )
    .unwrap();
    let listed = |h: &mut Harness, spec| {
        let command = StreamCommand::ListOffsets {
            topic: "t".into(),
            partition: 0,
            spec,
        };
        match h.stream(9, 1, command).stream_reply() {
            StreamReply::Offsets { result, .. } => result.expect("a known partition"),
            other => panic!("expected Offsets, got {other:?}"),
        }
    };
    let found = listed(&mut h, OffsetSpec::Timestamp(250));
    assert_eq!((found.offset, found.timestamp_ms), (Some(1), Some(300)));
    let past = listed(&mut h, OffsetSpec::Timestamp(301));
    assert_eq!((past.offset, past.timestamp_ms), (None, None));
    let earliest = listed(&mut h, OffsetSpec::Earliest);
    assert_eq!((earliest.offset, earliest.timestamp_ms), (Some(0), None));
}

// Durability.

#[test]
fn a_crash_after_sync_loses_no_acknowledged_batch() {
    let mut h = Harness::default();
    create(&mut h, "t", 2, durable()).unwrap();
    let mut acknowledged = Vec::new();
    for (index, value) in ["a", "b", "c", "d"].iter().enumerate() {
        let partition = index as u32 % 2;
        let offset = produce(&mut h, "t", partition, batch(&[value]))
            .unwrap()
            .base_offset;
        acknowledged.push((partition, offset, value.to_string()));
    }
    // Appended, never synced: the crash may take it.
    send(&mut h, "t", 0, Acks::Appended, batch(&["lost"]));
    let synced = h
        .log
        .iter()
        .filter(|record| record.lsn < h.broker.last_lsn())
        .count();
    h.crash_and_recover(synced);
    for (partition, offset, value) in acknowledged {
        let read = values_from(&fetch(&mut h, "t", partition, offset).unwrap(), offset);
        assert_eq!(read[0], (offset, value));
    }
    assert_eq!(list(&mut h, "t", 0, OffsetSpec::Latest), Ok(Some(2)));
    assert_eq!(
        produce(&mut h, "t", 0, batch(&["e"])).unwrap().base_offset,
        2
    );
}

#[test]
fn recovery_restores_offsets_log_start_and_retention_deadlines() {
    let mut h = Harness::default();
    let config = TopicConfig {
        segment_bytes: 150,
        retention_bytes: Some(200),
        retention_ms: Some(60_000),
        ..durable()
    };
    create(&mut h, "t", 1, config).unwrap();
    for _ in 0..6 {
        produce(&mut h, "t", 0, batch(&["0123456789"])).unwrap();
    }
    let before = h.broker.streams().topic("t").unwrap().clone();
    let records = h.log.len();
    h.crash_and_recover(records);
    assert_eq!(
        h.broker.streams().topic("t").unwrap().partitions(),
        before.partitions()
    );
    assert_eq!(list(&mut h, "t", 0, OffsetSpec::Earliest), Ok(Some(2)));
    assert_eq!(list(&mut h, "t", 0, OffsetSpec::Latest), Ok(Some(6)));
    assert!(
        h.broker.poll_timeout().is_some(),
        "age retention is armed again"
    );
}

#[test]
fn a_snapshot_recovers_the_same_streams() {
    let mut h = Harness::default();
    let config = TopicConfig {
        segment_bytes: 150,
        retention_bytes: Some(200),
        ..durable()
    };
    create(&mut h, "t", 2, config).unwrap();
    create(&mut h, "memory", 1, memory()).unwrap();
    let producer = support::streams::init_producer(&mut h);
    for sequence in 0..6 {
        let batch = support::streams::idempotent(producer, 0, sequence, &["0123456789"]);
        produce(&mut h, "t", 1, batch).unwrap();
    }
    let snapshot = h.broker.snapshot();
    let recovered = brokerlab_core::Broker::recover(Config::default(), snapshot);
    recovered.check_invariants();
    let (live, again) = (h.broker.streams(), recovered.streams());
    assert_eq!(live.topic("t"), again.topic("t"));
    assert!(
        again.topic("memory").is_none(),
        "a topic that is not durable is not kept"
    );
    let next = |b: &brokerlab_core::Broker| {
        b.streams().topic("t").unwrap().partitions()[1].log_start_offset()
    };
    assert_eq!(next(&recovered), 2);
}

// The log against a plain model.

mod model {
    use super::support::streams::{batch, create, durable, fetch, list, send, values_from};
    use super::support::Harness;
    use brokerlab_core::stream::{Acks, OffsetSpec, TopicConfig};
    use brokerlab_core::StreamError;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Produce { values: Vec<usize>, synced: bool },
        Sync,
        Fetch { offset_back: u64 },
        Advance { ms: u64 },
        CrashAfterSync,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (prop::collection::vec(0usize..30, 1..5), any::<bool>())
                .prop_map(|(values, synced)| Op::Produce { values, synced }),
            2 => Just(Op::Sync),
            4 => (0u64..12).prop_map(|offset_back| Op::Fetch { offset_back }),
            1 => (0u64..3_000).prop_map(|ms| Op::Advance { ms }),
            1 => Just(Op::CrashAfterSync),
        ]
    }

    /// What the model knows: every value ever appended, by offset; how
    /// many are synced; and the highest log start seen.
    #[derive(Default)]
    struct Model {
        values: Vec<String>,
        synced: usize,
        log_start: u64,
    }

    impl Model {
        fn step(&mut self, h: &mut Harness, op: Op) {
            match op {
                Op::Produce { values, synced } => {
                    let values: Vec<String> = values
                        .iter()
                        .enumerate()
                        .map(|(index, len)| {
                            format!("{}:{}", self.values.len() + index, "x".repeat(*len))
                        })
                        .collect();
                    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
                    let acks = if synced { Acks::Synced } else { Acks::Appended };
                    let mut step = send(h, "t", 0, acks, batch(&refs));
                    if synced {
                        step.extend(h.sync());
                        self.synced = self.values.len() + values.len();
                    }
                    let base = super::produced(&step)
                        .expect("a valid batch is stored")
                        .base_offset;
                    assert_eq!(
                        base,
                        self.values.len() as u64,
                        "offsets run on from the log end"
                    );
                    self.values.extend(values);
                }
                Op::Sync => {
                    h.sync();
                    self.synced = self.values.len();
                }
                Op::Fetch { offset_back } => self.check_fetch(h, offset_back),
                Op::Advance { ms } => {
                    h.advance(ms);
                }
                Op::CrashAfterSync => {
                    h.sync();
                    self.synced = self.values.len();
                    let records = h.log.len();
                    h.crash_and_recover(records);
                }
            }
        }

        fn check_fetch(&mut self, h: &mut Harness, offset_back: u64) {
            let start = list(h, "t", 0, OffsetSpec::Earliest).unwrap().unwrap();
            assert!(start >= self.log_start, "the log start never moves back");
            assert!(
                start <= self.synced as u64,
                "retention reaches only synced records"
            );
            self.log_start = start;
            let end = self.values.len() as u64;
            let offset = (end + 2).saturating_sub(offset_back);
            let result = fetch(h, "t", 0, offset);
            if offset < start || offset > end {
                assert_eq!(
                    result,
                    Err(StreamError::OffsetOutOfRange),
                    "offset {offset}"
                );
                return;
            }
            let data = result.expect("an offset in range is served");
            assert_eq!(data.high_watermark, self.synced as u64);
            let expected: Vec<(u64, String)> = (offset..self.synced as u64)
                .map(|at| (at, self.values[at as usize].clone()))
                .collect();
            assert_eq!(values_from(&data, offset), expected);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn the_stream_log_agrees_with_a_plain_vec(ops in prop::collection::vec(op(), 1..60)) {
            let mut h = Harness::default();
            let config = TopicConfig {
                segment_bytes: 400,
                retention_bytes: Some(600),
                retention_ms: Some(5_000),
                ..durable()
            };
            create(&mut h, "t", 1, config).unwrap();
            let mut model = Model::default();
            for op in ops {
                model.step(&mut h, op);
            }
            model.check_fetch(&mut h, 12);
        }
    }
}

// Metadata.

fn metadata(
    h: &mut Harness,
    topics: Option<&[&str]>,
    create_partitions: Option<u32>,
) -> Vec<(String, Result<u32, StreamError>)> {
    let command = StreamCommand::Metadata {
        topics: topics.map(|names| names.iter().map(|name| (*name).to_owned()).collect()),
        create_partitions,
    };
    let mut step = h.stream(9, 7, command);
    step.extend(h.sync());
    match step.stream_reply() {
        StreamReply::Metadata { topics } => topics,
        other => panic!("expected Metadata, got {other:?}"),
    }
}

#[test]
fn metadata_lists_topics_and_names_a_missing_or_invalid_one_unknown_or_invalid() {
    let mut h = Harness::default();
    create(&mut h, "a", 2, memory()).unwrap();
    assert_eq!(metadata(&mut h, None, None), vec![("a".to_owned(), Ok(2))]);
    assert_eq!(
        metadata(&mut h, Some(&["a", "b", "no/slash"]), None),
        vec![
            ("a".to_owned(), Ok(2)),
            ("b".to_owned(), Err(StreamError::UnknownTopicOrPartition)),
            ("no/slash".to_owned(), Err(StreamError::InvalidTopic)),
        ]
    );
    assert!(h.broker.streams().topic("b").is_none(), "nothing created");
}

#[test]
fn metadata_with_auto_creation_creates_each_missing_topic_named_durably_before_answering() {
    let mut h = Harness::default();
    create(&mut h, "a", 2, memory()).unwrap();
    let command = StreamCommand::Metadata {
        topics: Some(vec!["a".into(), "b".into(), "no/slash".into()]),
        create_partitions: Some(3),
    };
    let step = h.stream(9, 7, command);
    assert!(
        step.stream_replies().is_empty(),
        "the answer waits for the creation's record"
    );
    let step = h.sync();
    match step.stream_reply() {
        StreamReply::Metadata { topics } => assert_eq!(
            topics,
            vec![
                ("a".to_owned(), Ok(2)),
                ("b".to_owned(), Ok(3)),
                ("no/slash".to_owned(), Err(StreamError::InvalidTopic)),
            ]
        ),
        other => panic!("expected Metadata, got {other:?}"),
    }
    // Created as CreateTopic creates it: it survives a crash.
    let records = h.log.len();
    h.crash_and_recover(records);
    assert_eq!(
        metadata(&mut h, Some(&["b"]), None),
        vec![("b".to_owned(), Ok(3))]
    );
}
