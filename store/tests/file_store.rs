//! The file-backed store: group commit, kill-and-recover in a temp dir with
//! the log truncated at random offsets and bits flipped, compaction.

mod common;

use brokerlab_core::record::Record;
use brokerlab_store::file::{COMPACTION_FILE_NAME, LOG_FILE_NAME};
use brokerlab_store::{FileStore, Store, StoreError};
use common::{declared, encode_all, enqueued, expected_after_damage};
use proptest::prelude::*;
use std::fs;
use std::path::Path;

fn open(dir: &Path) -> FileStore {
    FileStore::open(dir).expect("a temp dir opens")
}

/// Opens `dir`, recovers it, appends `records` and syncs: returns the store.
fn write_log(dir: &Path, records: &[Record]) -> FileStore {
    let mut store = open(dir);
    store.recover().expect("the log recovers");
    for record in records {
        store
            .append(record)
            .expect("appends to a healthy disk succeed");
    }
    store.sync().expect("a sync on a healthy disk succeeds");
    store
}

fn log_path(dir: &Path) -> std::path::PathBuf {
    dir.join(LOG_FILE_NAME)
}

fn records(count: u64, body_bytes: usize) -> Vec<Record> {
    (1..=count).map(|lsn| enqueued(lsn, body_bytes)).collect()
}

#[test]
fn synced_records_survive_a_reopen() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let written = records(50, 64);
    drop(write_log(dir.path(), &written));
    assert_eq!(
        open(dir.path()).recover().expect("the log recovers"),
        written
    );
}

#[test]
fn sync_reports_the_last_appended_lsn_once_for_the_whole_group() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut store = open(dir.path());
    store.recover().expect("a new log recovers");
    assert_eq!(store.sync().expect("an empty sync succeeds"), None);
    for record in records(64, 1024) {
        store
            .append(&record)
            .expect("appends to a healthy disk succeed");
    }
    assert_eq!(
        store.len_bytes(),
        encode_all(&records(64, 1024)).0.len() as u64
    );
    assert_eq!(
        store.sync().expect("a sync on a healthy disk succeeds"),
        Some(64)
    );
    assert_eq!(
        fs::metadata(log_path(dir.path()))
            .expect("the log exists")
            .len(),
        store.len_bytes()
    );
}

#[test]
fn appends_beyond_the_write_buffer_reach_the_file_in_order() {
    let dir = tempfile::tempdir().expect("a temp dir");
    // 3 MiB of records: the 1 MiB write buffer fills several times over.
    let written = records(48, 64 * 1024);
    drop(write_log(dir.path(), &written));
    assert_eq!(
        open(dir.path()).recover().expect("the log recovers"),
        written
    );
}

#[test]
fn torn_tail_is_cut_at_the_last_valid_record() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let written = records(5, 100);
    drop(write_log(dir.path(), &written));
    let (_, starts) = encode_all(&written);
    let file = fs::OpenOptions::new()
        .write(true)
        .open(log_path(dir.path()))
        .expect("the log exists");
    file.set_len(starts[4] as u64 + 9)
        .expect("the log can be truncated");
    drop(file);
    let mut store = open(dir.path());
    assert_eq!(
        store.recover().expect("a torn tail is not an error"),
        written[..4]
    );
    assert_eq!(
        fs::metadata(log_path(dir.path()))
            .expect("the log exists")
            .len(),
        starts[4] as u64,
        "the cut is made on disk"
    );
    store
        .append(&enqueued(5, 1))
        .expect("appends follow the cut");
    store.sync().expect("a sync on a healthy disk succeeds");
    drop(store);
    let mut expected = written[..4].to_vec();
    expected.push(enqueued(5, 1));
    assert_eq!(
        open(dir.path()).recover().expect("the log recovers"),
        expected
    );
}

#[test]
fn corruption_before_the_tail_names_its_offset_and_leaves_the_log_alone() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let written = records(5, 100);
    drop(write_log(dir.path(), &written));
    let (_, starts) = encode_all(&written);
    let mut bytes = fs::read(log_path(dir.path())).expect("the log exists");
    bytes[starts[2] + 40] ^= 0x04;
    fs::write(log_path(dir.path()), &bytes).expect("a temp dir is writable");
    match open(dir.path()).recover() {
        Err(StoreError::Corrupt {
            offset,
            next_valid_offset,
        }) => {
            assert_eq!(
                (offset, next_valid_offset),
                (starts[2] as u64, starts[3] as u64)
            );
        }
        other => panic!("expected corruption at byte {}, got {other:?}", starts[2]),
    }
    assert_eq!(
        fs::read(log_path(dir.path())).expect("the log exists"),
        bytes,
        "a corrupt log is not cut"
    );
}

#[test]
fn leftover_compaction_file_is_discarded_on_recovery() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let written = records(3, 10);
    drop(write_log(dir.path(), &written));
    let (snapshot, _) = encode_all(&[declared(3, "q")]);
    fs::write(dir.path().join(COMPACTION_FILE_NAME), snapshot).expect("a temp dir is writable");
    assert_eq!(
        open(dir.path()).recover().expect("the log recovers"),
        written
    );
    assert!(!dir.path().join(COMPACTION_FILE_NAME).exists());
}

#[test]
fn compaction_shrinks_the_log_to_the_live_data_and_appends_follow_it() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut store = write_log(dir.path(), &records(200, 512));
    store
        .append(&enqueued(201, 512))
        .expect("appends to a healthy disk succeed");
    let before = store.len_bytes();
    let snapshot = vec![declared(201, "q"), enqueued(201, 512)];
    store
        .compact(&snapshot)
        .expect("compaction on a healthy disk succeeds");
    assert_eq!(store.len_bytes(), encode_all(&snapshot).0.len() as u64);
    assert!(
        store.len_bytes() < before / 50,
        "the log's size follows the live data, not the history"
    );
    assert_eq!(
        store.sync().expect("a sync on a healthy disk succeeds"),
        Some(201),
        "the snapshot is durable"
    );
    store
        .append(&enqueued(202, 8))
        .expect("appends follow the snapshot");
    store.sync().expect("a sync on a healthy disk succeeds");
    drop(store);
    let mut expected = snapshot;
    expected.push(enqueued(202, 8));
    assert_eq!(
        open(dir.path())
            .recover()
            .expect("a compacted log recovers"),
        expected
    );
}

#[test]
fn stale_snapshot_is_refused_and_the_store_stays_usable() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut store = write_log(dir.path(), &records(3, 10));
    match store.compact(&[declared(2, "q")]) {
        Err(StoreError::StaleSnapshot {
            snapshot_lsn: 2,
            appended_lsn: 3,
        }) => {}
        other => panic!("expected a stale snapshot refusal, got {other:?}"),
    }
    store
        .append(&enqueued(4, 10))
        .expect("the store stays usable");
    assert_eq!(store.sync().expect("the store stays usable"), Some(4));
}

#[test]
fn a_record_too_large_is_refused_and_the_store_stays_usable() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut store = write_log(dir.path(), &records(1, 10));
    let huge = enqueued(2, brokerlab_store::frame::MAX_PAYLOAD_BYTES as usize);
    assert!(matches!(
        store.append(&huge),
        Err(StoreError::RecordTooLarge { lsn: 2, .. })
    ));
    assert_eq!(store.sync().expect("the store stays usable"), Some(1));
    drop(store);
    assert_eq!(
        open(dir.path()).recover().expect("the log recovers"),
        records(1, 10)
    );
}

#[test]
#[should_panic(expected = "recovered after opening")]
fn append_before_recovery_is_a_driver_bug() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let _ = open(dir.path()).append(&enqueued(1, 1));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// The process is killed (the store dropped without a last sync), then
    /// the disk loses a random tail and may flip a bit: recovery returns
    /// exactly the whole undamaged frames before the damage, or names the
    /// damaged frame's offset when whole frames follow it.
    #[test]
    fn killed_then_truncated_or_flipped_log_recovers_a_prefix_never_garbage(
        bodies in prop::collection::vec(0..400usize, 1..40),
        sync_every in 1..10usize,
        truncate_at in any::<prop::sample::Index>(),
        flip in prop::option::of((any::<prop::sample::Index>(), 0..8u8)),
    ) {
        let dir = tempfile::tempdir().expect("a temp dir");
        let written: Vec<Record> = bodies.iter().enumerate().map(|(i, &body)| enqueued(i as u64 + 1, body)).collect();
        let mut store = write_log(dir.path(), &[]);
        for (i, record) in written.iter().enumerate() {
            store.append(record).expect("appends to a healthy disk succeed");
            if (i + 1) % sync_every == 0 {
                store.sync().expect("a sync on a healthy disk succeeds");
            }
        }
        // Make every byte reach the file, then die without running any more code.
        store.sync().expect("a sync on a healthy disk succeeds");
        drop(store);

        let (log, starts) = encode_all(&written);
        let mut bytes = fs::read(log_path(dir.path())).expect("the log exists");
        prop_assert_eq!(&bytes, &log);
        let len = truncate_at.index(log.len() + 1);
        let flipped_byte = flip.map(|(at, bit)| {
            let byte = at.index(log.len());
            bytes[byte] ^= 1 << bit;
            byte
        });
        bytes.truncate(len);
        fs::write(log_path(dir.path()), &bytes).expect("a temp dir is writable");

        let expected = expected_after_damage(&starts, log.len(), len, flipped_byte);
        match (open(dir.path()).recover(), expected) {
            (Ok(recovered), Ok(count)) => {
                prop_assert_eq!(&recovered[..], &written[..count]);
                // The cut is on disk: a second recovery finds the same records and no tail.
                prop_assert_eq!(fs::metadata(log_path(dir.path())).expect("the log exists").len(), starts.get(count).map_or(log.len(), |&start| start) as u64);
                prop_assert_eq!(open(dir.path()).recover().expect("the cut log recovers"), recovered);
            }
            (Err(StoreError::Corrupt { offset, next_valid_offset }), Err(expected)) => {
                prop_assert_eq!((offset, next_valid_offset), expected);
            }
            (got, expected) => prop_assert!(false, "recovery gave {:?}, expected {:?}", got.map(|r| r.len()), expected),
        }
    }
}
