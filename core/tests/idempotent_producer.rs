//! The idempotent producer (SEMANTICS.md section 8): producer ids and
//! epochs, the per-partition window of five batches, duplicates,
//! fencing, sequence order, and their survival across a crash.

mod support;

use brokerlab_core::stream::{Acks, PRODUCER_WINDOW_BATCHES};
use brokerlab_core::{StreamError, StreamReply};
use support::streams::{
    batch, create, durable, fetch, idempotent, init_producer, memory, produce, produced, send,
    values_from,
};
use support::Harness;

fn topic(h: &mut Harness) {
    create(h, "t", 2, durable()).unwrap();
}

#[test]
fn init_producer_id_issues_new_ids_in_order_with_epoch_zero_once_synced() {
    let mut h = Harness::default();
    let step = h.stream(
        support::streams::CONN,
        1,
        brokerlab_core::StreamCommand::InitProducerId,
    );
    assert!(
        step.stream_replies().is_empty(),
        "an issued id is logged before it is given"
    );
    let reply = h.sync().stream_reply();
    assert_eq!(
        reply,
        StreamReply::ProducerIdIssued {
            producer_id: 0,
            producer_epoch: 0
        }
    );
    assert_eq!(init_producer(&mut h), 1);
}

#[test]
fn a_repeated_batch_is_acknowledged_with_its_original_offsets() {
    let mut h = Harness::default();
    topic(&mut h);
    let id = init_producer(&mut h);
    produce(&mut h, "t", 0, batch(&["other"])).unwrap();
    let first = produce(&mut h, "t", 0, idempotent(id, 0, 0, &["a", "b"])).unwrap();
    assert_eq!((first.base_offset, first.duplicate), (1, false));
    let log_len = h.log.len();
    let again = produce(&mut h, "t", 0, idempotent(id, 0, 0, &["a", "b"])).unwrap();
    assert_eq!((again.base_offset, again.duplicate), (1, true));
    assert_eq!(h.log.len(), log_len, "nothing appended, nothing logged");
    assert_eq!(values_from(&fetch(&mut h, "t", 0, 0).unwrap(), 0).len(), 3);
}

#[test]
fn a_batch_repeating_any_of_the_last_five_is_a_duplicate_and_an_older_one_is_out_of_order() {
    let mut h = Harness::default();
    topic(&mut h);
    let id = init_producer(&mut h);
    for sequence in 0..6 {
        produce(&mut h, "t", 0, idempotent(id, 0, sequence, &["v"])).unwrap();
    }
    assert_eq!(PRODUCER_WINDOW_BATCHES, 5);
    for sequence in 1..6 {
        let again = produce(&mut h, "t", 0, idempotent(id, 0, sequence, &["v"])).unwrap();
        assert_eq!(
            (again.base_offset, again.duplicate),
            (sequence as u64, true)
        );
    }
    assert_eq!(
        produce(&mut h, "t", 0, idempotent(id, 0, 0, &["v"])),
        Err(StreamError::OutOfOrderSequenceNumber),
        "the sixth-newest batch is forgotten"
    );
}

#[test]
fn a_batch_overlapping_a_stored_one_without_repeating_it_is_out_of_order() {
    let mut h = Harness::default();
    topic(&mut h);
    let id = init_producer(&mut h);
    produce(&mut h, "t", 0, idempotent(id, 0, 0, &["a", "b"])).unwrap();
    assert_eq!(
        produce(&mut h, "t", 0, idempotent(id, 0, 1, &["b"])),
        Err(StreamError::OutOfOrderSequenceNumber)
    );
}

#[test]
fn a_lower_epoch_is_fenced_with_invalid_producer_epoch() {
    let mut h = Harness::default();
    topic(&mut h);
    let id = init_producer(&mut h);
    produce(&mut h, "t", 0, idempotent(id, 1, 0, &["a"])).unwrap();
    assert_eq!(
        produce(&mut h, "t", 0, idempotent(id, 0, 1, &["b"])),
        Err(StreamError::InvalidProducerEpoch)
    );
    assert_eq!(StreamError::InvalidProducerEpoch.code(), 47);
}

#[test]
fn a_new_epoch_must_start_at_sequence_zero() {
    let mut h = Harness::default();
    topic(&mut h);
    let id = init_producer(&mut h);
    produce(&mut h, "t", 0, idempotent(id, 0, 0, &["a"])).unwrap();
    assert_eq!(
        produce(&mut h, "t", 0, idempotent(id, 1, 1, &["b"])),
        Err(StreamError::OutOfOrderSequenceNumber)
    );
    assert!(produce(&mut h, "t", 0, idempotent(id, 1, 0, &["b"])).is_ok());
    assert!(
        produce(&mut h, "t", 0, idempotent(id, 1, 0, &["b"]))
            .unwrap()
            .duplicate
    );
}

#[test]
fn a_sequence_that_does_not_follow_the_last_is_out_of_order() {
    let mut h = Harness::default();
    topic(&mut h);
    let id = init_producer(&mut h);
    produce(&mut h, "t", 0, idempotent(id, 0, 0, &["a", "b"])).unwrap();
    for gap in [3, 10] {
        assert_eq!(
            produce(&mut h, "t", 0, idempotent(id, 0, gap, &["c"])),
            Err(StreamError::OutOfOrderSequenceNumber)
        );
    }
    assert_eq!(
        produce(&mut h, "t", 0, idempotent(id, 0, 2, &["c"]))
            .unwrap()
            .base_offset,
        2
    );
    assert_eq!(StreamError::OutOfOrderSequenceNumber.code(), 45);
}

#[test]
fn the_sequence_wraps_after_i32_max_to_zero() {
    let mut h = Harness::default();
    topic(&mut h);
    let id = init_producer(&mut h);
    produce(&mut h, "t", 0, idempotent(id, 0, i32::MAX - 1, &["a", "b"])).unwrap();
    assert_eq!(
        produce(&mut h, "t", 0, idempotent(id, 0, i32::MAX, &["c"])),
        Err(StreamError::OutOfOrderSequenceNumber)
    );
    assert!(produce(&mut h, "t", 0, idempotent(id, 0, 0, &["c"])).is_ok());
    // A batch that itself crosses i32::MAX ends at a wrapped sequence.
    assert_eq!(brokerlab_core::stream::last_sequence(i32::MAX, 3), 1);
}

#[test]
fn with_no_state_for_the_producer_any_sequence_is_accepted() {
    let mut h = Harness::default();
    topic(&mut h);
    let id = init_producer(&mut h);
    assert_eq!(
        produce(&mut h, "t", 0, idempotent(id, 3, 77, &["a"]))
            .unwrap()
            .base_offset,
        0
    );
    assert_eq!(
        produce(&mut h, "t", 0, idempotent(id, 3, 78, &["b"]))
            .unwrap()
            .base_offset,
        1
    );
}

#[test]
fn producer_state_is_kept_per_partition() {
    let mut h = Harness::default();
    topic(&mut h);
    let id = init_producer(&mut h);
    produce(&mut h, "t", 0, idempotent(id, 0, 0, &["a"])).unwrap();
    let other = produce(&mut h, "t", 1, idempotent(id, 0, 0, &["a"])).unwrap();
    assert!(
        !other.duplicate,
        "the same sequence on another partition is new"
    );
}

#[test]
fn a_producer_id_never_issued_is_unknown_producer_id() {
    let mut h = Harness::default();
    topic(&mut h);
    assert_eq!(
        produce(&mut h, "t", 0, idempotent(0, 0, 0, &["a"])),
        Err(StreamError::UnknownProducerId)
    );
    assert_eq!(StreamError::UnknownProducerId.code(), 59);
}

#[test]
fn producer_fields_out_of_range_are_corrupt_message() {
    let mut h = Harness::default();
    topic(&mut h);
    let id = init_producer(&mut h);
    for bad in [
        idempotent(id, -1, 0, &["a"]),
        idempotent(id, 0, -5, &["a"]),
        idempotent(-2, 0, 0, &["a"]),
    ] {
        assert_eq!(
            produce(&mut h, "t", 0, bad),
            Err(StreamError::CorruptMessage)
        );
    }
}

#[test]
fn batches_without_a_producer_id_are_never_deduplicated() {
    let mut h = Harness::default();
    create(&mut h, "t", 1, memory()).unwrap();
    assert_eq!(
        produce(&mut h, "t", 0, batch(&["a"])).unwrap().base_offset,
        0
    );
    assert_eq!(
        produce(&mut h, "t", 0, batch(&["a"])).unwrap().base_offset,
        1
    );
}

#[test]
fn a_repeated_batch_with_acks_after_sync_waits_for_the_records_logged_so_far() {
    let mut h = Harness::default();
    topic(&mut h);
    let id = init_producer(&mut h);
    send(&mut h, "t", 0, Acks::Appended, idempotent(id, 0, 0, &["a"]));
    let retry = send(&mut h, "t", 0, Acks::Synced, idempotent(id, 0, 0, &["a"]));
    assert!(
        retry.stream_replies().is_empty(),
        "its original is not synced yet"
    );
    let synced = h.sync();
    let again = produced(&synced).unwrap();
    assert_eq!((again.base_offset, again.duplicate), (0, true));
}

#[test]
fn producer_state_and_issued_ids_survive_recovery() {
    let mut h = Harness::default();
    topic(&mut h);
    let id = init_producer(&mut h);
    produce(&mut h, "t", 0, idempotent(id, 0, 0, &["a"])).unwrap();
    produce(&mut h, "t", 0, idempotent(id, 0, 1, &["b"])).unwrap();
    let records = h.log.len();
    h.crash_and_recover(records);
    let retried = produce(&mut h, "t", 0, idempotent(id, 0, 1, &["b"])).unwrap();
    assert_eq!(
        (retried.base_offset, retried.duplicate),
        (1, true),
        "still deduplicated"
    );
    assert_eq!(
        produce(&mut h, "t", 0, idempotent(id, 0, 5, &["c"])),
        Err(StreamError::OutOfOrderSequenceNumber)
    );
    assert_eq!(init_producer(&mut h), id + 1, "no id is issued twice");
}

#[test]
fn producer_state_survives_a_snapshot_after_its_batches_aged_out() {
    let mut h = Harness::default();
    let config = brokerlab_core::stream::TopicConfig {
        segment_bytes: 100,
        retention_bytes: Some(0),
        ..durable()
    };
    create(&mut h, "t", 1, config).unwrap();
    let id = init_producer(&mut h);
    produce(&mut h, "t", 0, idempotent(id, 0, 0, &["a"])).unwrap();
    produce(&mut h, "t", 0, idempotent(id, 0, 1, &["b"])).unwrap();
    produce(&mut h, "t", 0, batch(&["c"])).unwrap();
    let snapshot = h.broker.snapshot();
    let config = h.broker.config().clone();
    h.broker = brokerlab_core::Broker::recover(config, snapshot);
    h.log.clear();
    assert_eq!(
        produce(&mut h, "t", 0, idempotent(id, 0, 3, &["d"])),
        Err(StreamError::OutOfOrderSequenceNumber),
        "the window came back without its batches"
    );
    assert!(produce(&mut h, "t", 0, idempotent(id, 0, 2, &["d"])).is_ok());
}
