//! The simulated disk: unsynced writes lost on a crash, torn and flipped
//! writes cut at the last valid record, every choice from the caller's RNG.

mod common;

use brokerlab_core::record::Record;
use brokerlab_store::{CrashFaults, SimStore, Store, StoreError};
use common::{declared, enqueued};
use proptest::prelude::*;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Every fault, every time it can happen.
const EVERY_FAULT: CrashFaults = CrashFaults {
    writeback_per_mille: 1000,
    torn_write_per_mille: 1000,
    flip_bits_per_mille: 1000,
};

fn recovered_store() -> SimStore {
    let mut store = SimStore::new();
    assert!(store.recover().expect("an empty disk recovers").is_empty());
    store
}

fn append_all(store: &mut SimStore, records: &[Record]) {
    for record in records {
        store.append(record).expect("test records fit in a frame");
    }
}

#[test]
fn unsynced_writes_are_lost_on_crash() {
    let mut store = recovered_store();
    let records: Vec<Record> = (1..=6).map(|lsn| enqueued(lsn, 20)).collect();
    append_all(&mut store, &records[..4]);
    assert_eq!(store.sync().expect("a sim sync never fails"), Some(4));
    append_all(&mut store, &records[4..]);
    assert!(store.unsynced_bytes() > 0);
    store.crash(&mut ChaCha8Rng::seed_from_u64(1), CrashFaults::NONE);
    assert_eq!(
        store.recover().expect("a crash is recoverable"),
        records[..4]
    );
    assert_eq!(store.unsynced_bytes(), 0);
}

#[test]
fn torn_write_is_cut_at_the_last_valid_record() {
    for seed in 0..64 {
        let mut store = recovered_store();
        let records: Vec<Record> = (1..=5).map(|lsn| enqueued(lsn, 50)).collect();
        append_all(&mut store, &records[..2]);
        store.sync().expect("a sim sync never fails");
        append_all(&mut store, &records[2..]);
        let torn_only = CrashFaults {
            torn_write_per_mille: 1000,
            ..CrashFaults::NONE
        };
        store.crash(&mut ChaCha8Rng::seed_from_u64(seed), torn_only);
        let durable_before = store.durable_log().len();
        assert_eq!(
            store.recover().expect("a torn write is recoverable"),
            records[..2],
            "seed {seed}"
        );
        assert!(
            store.durable_log().len() < durable_before,
            "the torn bytes are cut (seed {seed})"
        );
    }
}

#[test]
fn crash_is_deterministic_for_a_given_rng() {
    let run = |seed: u64| {
        let mut store = recovered_store();
        append_all(
            &mut store,
            &(1..=30)
                .map(|lsn| enqueued(lsn, lsn as usize * 3))
                .collect::<Vec<_>>(),
        );
        store.crash(&mut ChaCha8Rng::seed_from_u64(seed), EVERY_FAULT);
        store
    };
    assert_eq!(run(7), run(7));
    let distinct = (0..16)
        .map(run)
        .map(|store| store.durable_log().to_vec())
        .collect::<std::collections::BTreeSet<_>>();
    assert!(distinct.len() > 1, "different seeds make different crashes");
}

#[test]
fn compaction_replaces_the_log_and_appends_follow_it() {
    let mut store = recovered_store();
    append_all(
        &mut store,
        &(1..=40).map(|lsn| enqueued(lsn, 100)).collect::<Vec<_>>(),
    );
    store.sync().expect("a sim sync never fails");
    let before = store.len_bytes();
    let snapshot = vec![declared(40, "q"), enqueued(40, 100)];
    store
        .compact(&snapshot)
        .expect("a current snapshot installs");
    assert!(
        store.len_bytes() < before / 10,
        "the log's size follows the live data"
    );
    assert_eq!(store.sync().expect("a sim sync never fails"), Some(40));
    store
        .append(&enqueued(41, 10))
        .expect("appends follow the snapshot");
    store.sync().expect("a sim sync never fails");
    store.crash(&mut ChaCha8Rng::seed_from_u64(3), EVERY_FAULT);
    let mut expected = snapshot;
    expected.push(enqueued(41, 10));
    assert_eq!(store.recover().expect("a compacted log recovers"), expected);
}

#[test]
fn stale_snapshot_is_refused() {
    let mut store = recovered_store();
    append_all(&mut store, &[enqueued(1, 1), enqueued(2, 1)]);
    match store.compact(&[declared(1, "q")]) {
        Err(StoreError::StaleSnapshot {
            snapshot_lsn: 1,
            appended_lsn: 2,
        }) => {}
        other => panic!("expected a stale snapshot refusal, got {other:?}"),
    }
    assert_eq!(store.sync().expect("the store stays usable"), Some(2));
}

#[test]
fn crash_while_compacting_leaves_the_old_or_the_new_log() {
    let mut outcomes = std::collections::BTreeSet::new();
    for seed in 0..32 {
        let mut store = recovered_store();
        let old: Vec<Record> = (1..=8).map(|lsn| enqueued(lsn, 30)).collect();
        append_all(&mut store, &old[..6]);
        store.sync().expect("a sim sync never fails");
        append_all(&mut store, &old[6..]);
        let snapshot = vec![declared(8, "q"), enqueued(8, 30)];
        store
            .crash_while_compacting(&snapshot, &mut ChaCha8Rng::seed_from_u64(seed), EVERY_FAULT)
            .expect("a current snapshot is accepted");
        let recovered = store
            .recover()
            .expect("a crash while compacting is recoverable");
        if recovered == snapshot {
            outcomes.insert("new");
        } else {
            assert!(
                recovered.len() >= 6 && recovered[..] == old[..recovered.len()],
                "seed {seed}: {recovered:?}"
            );
            outcomes.insert("old");
        }
    }
    assert_eq!(outcomes.len(), 2, "both outcomes happen");
}

#[test]
fn durable_bit_flip_before_the_tail_is_refused_with_its_offset() {
    let mut store = recovered_store();
    append_all(
        &mut store,
        &[enqueued(1, 10), enqueued(2, 10), enqueued(3, 10)],
    );
    store.sync().expect("a sim sync never fails");
    let second_frame = common::encode_all(&[enqueued(1, 10)]).0.len() as u64;
    store.flip_durable_bit((second_frame + 20) * 8 + 3);
    store.crash(&mut ChaCha8Rng::seed_from_u64(0), CrashFaults::NONE);
    match store.recover() {
        Err(StoreError::Corrupt { offset, .. }) => assert_eq!(offset, second_frame),
        other => panic!("expected corruption at byte {second_frame}, got {other:?}"),
    }
}

#[test]
#[should_panic(expected = "recovered")]
fn append_before_recovery_is_a_driver_bug() {
    let mut store = SimStore::new();
    let _ = store.append(&enqueued(1, 1));
}

/// One step of a driver's life, for the property below.
#[derive(Clone, Debug)]
enum Step {
    Append(usize),
    Sync,
    Compact,
    Crash(u64, CrashFaults),
    CrashWhileCompacting(u64, CrashFaults),
}

fn faults() -> impl Strategy<Value = CrashFaults> {
    (0..=1000u16, 0..=1000u16, 0..=1000u16).prop_map(|(writeback, torn, flip)| CrashFaults {
        writeback_per_mille: writeback,
        torn_write_per_mille: torn,
        flip_bits_per_mille: flip,
    })
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0..200usize).prop_map(Step::Append),
        2 => Just(Step::Sync),
        1 => Just(Step::Compact),
        2 => (any::<u64>(), faults()).prop_map(|(seed, faults)| Step::Crash(seed, faults)),
        1 => (any::<u64>(), faults()).prop_map(|(seed, faults)| Step::CrashWhileCompacting(seed, faults)),
    ]
}

/// The log as the driver knows it: what it holds, and how much is synced.
struct Model {
    log: Vec<Record>,
    synced: usize,
}

impl Model {
    fn last_lsn(&self) -> u64 {
        self.log.iter().map(|record| record.lsn).max().unwrap_or(0)
    }

    fn snapshot(&self) -> Vec<Record> {
        let lsn = self.last_lsn();
        vec![declared(lsn, "q"), enqueued(lsn, self.log.len())]
    }

    /// Checks a recovery against the log before the crash, then adopts it.
    fn recovered(&mut self, recovered: Vec<Record>) -> Result<(), TestCaseError> {
        prop_assert!(
            recovered.len() >= self.synced,
            "every synced record survives"
        );
        prop_assert!(recovered.len() <= self.log.len());
        prop_assert_eq!(
            &recovered[..],
            &self.log[..recovered.len()],
            "recovery returns a prefix, never garbage"
        );
        self.synced = recovered.len();
        self.log = recovered;
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn synced_records_survive_every_crash_and_nothing_damaged_is_replayed(steps in prop::collection::vec(step(), 1..60)) {
        let mut store = recovered_store();
        let mut model = Model { log: Vec::new(), synced: 0 };
        for step in steps {
            match step {
                Step::Append(body_bytes) => {
                    let record = enqueued(model.last_lsn() + 1, body_bytes);
                    store.append(&record).expect("test records fit in a frame");
                    model.log.push(record);
                }
                Step::Sync => {
                    let upto = store.sync().expect("a sim sync never fails");
                    prop_assert_eq!(upto, model.log.last().map(|record| record.lsn));
                    model.synced = model.log.len();
                }
                Step::Compact => {
                    let snapshot = model.snapshot();
                    store.compact(&snapshot).expect("a current snapshot installs");
                    model.synced = snapshot.len();
                    model.log = snapshot;
                }
                Step::Crash(seed, faults) => {
                    store.crash(&mut ChaCha8Rng::seed_from_u64(seed), faults);
                    model.recovered(store.recover().expect("a crash is recoverable"))?;
                }
                Step::CrashWhileCompacting(seed, faults) => {
                    let snapshot = model.snapshot();
                    store.crash_while_compacting(&snapshot, &mut ChaCha8Rng::seed_from_u64(seed), faults)
                        .expect("a current snapshot is accepted");
                    let recovered = store.recover().expect("a crash while compacting is recoverable");
                    if recovered == snapshot {
                        model.synced = snapshot.len();
                        model.log = snapshot;
                    } else {
                        model.recovered(recovered)?;
                    }
                }
            }
        }
    }
}
