//! Compaction interrupted at every step: the disk is left as a crash at that
//! step would leave it, and recovery must find the old log or the new one.

use super::{CompactionStep, FileStore, COMPACTION_FILE_NAME, LOG_FILE_NAME};
use crate::Store;
use brokerlab_core::record::{Change, Record};
use std::fs;
use std::path::Path;

const STEPS: [CompactionStep; 4] = [
    CompactionStep::WriteNewLog,
    CompactionStep::SyncNewLog,
    CompactionStep::Rename,
    CompactionStep::SyncDirectory,
];

fn removed(lsn: u64, seq: u64) -> Record {
    Record {
        lsn,
        change: Change::Removed {
            vhost: "/".into(),
            queue: format!("queue-{seq}").into(),
            seq,
        },
    }
}

/// A store in `dir` with records 1..=20 synced and 21..=24 appended but not
/// synced; returns it with the synced records.
fn store_with_history(dir: &Path) -> (FileStore, Vec<Record>) {
    let mut store = FileStore::open(dir).expect("a temp dir opens");
    assert!(store.recover().expect("a new log recovers").is_empty());
    let records: Vec<Record> = (1..=24).map(|lsn| removed(lsn, lsn * 7)).collect();
    for record in &records[..20] {
        store
            .append(record)
            .expect("appends to a healthy disk succeed");
    }
    assert_eq!(
        store.sync().expect("a sync on a healthy disk succeeds"),
        Some(20)
    );
    for record in &records[20..] {
        store
            .append(record)
            .expect("appends to a healthy disk succeed");
    }
    (store, records[..20].to_vec())
}

/// Reopens `dir` as a restarted server would, checks that the leftover file
/// is gone and that appends continue after the recovered records.
fn reopen(dir: &Path) -> Vec<Record> {
    let mut store = FileStore::open(dir).expect("the dir reopens");
    let recovered = store
        .recover()
        .expect("an interrupted compaction is recoverable");
    assert!(
        !dir.join(COMPACTION_FILE_NAME).exists(),
        "recovery removes the unfinished compaction's file"
    );
    let next = removed(1000, 1);
    store.append(&next).expect("appends follow recovery");
    store.sync().expect("a sync on a healthy disk succeeds");
    drop(store);
    let mut again = FileStore::open(dir).expect("the dir reopens");
    let mut expected = recovered.clone();
    expected.push(next);
    assert_eq!(again.recover().expect("the log stays valid"), expected);
    recovered
}

#[test]
fn compaction_interrupted_at_any_step_recovers_a_valid_log() {
    let snapshot = vec![removed(24, 1), removed(24, 2)];
    for step in STEPS {
        let dir = tempfile::tempdir().expect("a temp dir");
        let (mut store, old) = store_with_history(dir.path());
        store
            .compact_through(&snapshot, step)
            .expect("compaction on a healthy disk succeeds");
        // The process dies here: nothing after this step happens.
        drop(store);
        let recovered = reopen(dir.path());
        let expected = if step >= CompactionStep::Rename {
            &snapshot
        } else {
            &old
        };
        assert_eq!(&recovered, expected, "killed after {step:?}");
    }
}

#[test]
fn a_torn_compaction_file_never_replaces_the_log() {
    // Power lost before the new log was synced: any prefix of it may be on
    // the disk, beside the intact old log.
    let snapshot: Vec<Record> = (1..=10).map(|seq| removed(24, seq)).collect();
    let dir = tempfile::tempdir().expect("a temp dir");
    let (mut store, old) = store_with_history(dir.path());
    store
        .compact_through(&snapshot, CompactionStep::WriteNewLog)
        .expect("compaction on a healthy disk succeeds");
    drop(store);
    let whole =
        fs::read(dir.path().join(COMPACTION_FILE_NAME)).expect("the compaction file was written");
    let log = fs::read(dir.path().join(LOG_FILE_NAME)).expect("the old log is there");
    for len in (0..=whole.len()).step_by(11) {
        fs::write(dir.path().join(COMPACTION_FILE_NAME), &whole[..len])
            .expect("a temp dir is writable");
        assert_eq!(
            reopen(dir.path()),
            old,
            "compaction file torn at {len} bytes"
        );
        // `reopen` appended a record: put the old log back for the next length.
        fs::write(dir.path().join(LOG_FILE_NAME), &log).expect("a temp dir is writable");
    }
}
