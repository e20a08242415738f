//! Durability bench: the file store's group commit against its floor.
//!
//! `store/append_sync` appends a batch of 64 records with 1 KiB bodies to a
//! `FileStore` and syncs once; `store/floor/write_fdatasync` writes the same
//! batch's bytes, already encoded, with one `write` and one `fdatasync`. Both
//! run in the same process on the same disk, in a temp dir under the target
//! dir (not /tmp, which may be a tmpfs where fsync costs nothing).
//!
//! The disk's latency drifts between the two criterion benches (they run one
//! after the other), by more than the store adds. So the bench also runs the
//! two interleaved, batch by batch, alternating which goes first, and prints
//! the ratio of their medians: the figure the 1.5x target is checked against.
//!
//! `cargo bench -p brokerlab-store --bench append_sync`; the figures and the
//! ratio go into reports/bench-durability.md through
//! scripts/bench-durability.py.

use brokerlab_core::record::{Change, Record};
use brokerlab_core::SharedMessage;
use brokerlab_core::{Instant, Message, MessageId, Properties};
use brokerlab_store::{frame, FileStore, Store};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Records per sync: one group commit.
const BATCH_RECORDS: u64 = 64;
/// Body bytes of each record's message.
const BODY_BYTES: usize = 1024;
/// Batches of each kind in the interleaved run.
const PAIRED_ROUNDS: usize = 1000;

fn record(lsn: u64) -> Record {
    let message = Message {
        id: MessageId(lsn),
        envelope: brokerlab_core::Envelope::shared(
            "orders",
            "orders.new",
            Arc::new(Properties {
                delivery_mode: Some(2),
                ..Properties::default()
            }),
        ),
        body: vec![0x5a; BODY_BYTES].into(),
    };
    let change = Change::Enqueued {
        vhost: "/".into(),
        queue: "orders".into(),
        seq: lsn,
        message: SharedMessage::new(message),
        expires_at: Some(Instant(lsn)),
        delivery_count: 0,
    };
    Record { lsn, change }
}

/// A fresh directory for one bench, under the target dir cargo gives benches.
fn bench_dir(name: &str) -> tempfile::TempDir {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(root).expect("the target dir is writable");
    tempfile::Builder::new()
        .prefix(name)
        .tempdir_in(root)
        .expect("the target dir is writable")
}

fn append_sync(c: &mut Criterion) {
    let batch: Vec<Record> = (1..=BATCH_RECORDS).map(record).collect();
    let mut encoded = Vec::new();
    for record in &batch {
        frame::encode(record, &mut encoded).expect("a 1 KiB record fits in a frame");
    }
    eprintln!(
        "batch: {BATCH_RECORDS} records of {BODY_BYTES}-byte bodies, {} bytes per batch ({} bytes per frame)",
        encoded.len(),
        encoded.len() as u64 / BATCH_RECORDS
    );
    let mut group = c.benchmark_group("store");
    group.throughput(Throughput::Elements(BATCH_RECORDS));

    let store_dir = bench_dir("append_sync");
    let mut store = FileStore::open(store_dir.path()).expect("the bench dir opens");
    store.recover().expect("a new log recovers");
    group.bench_function("append_sync", |b| b.iter(|| sync_batch(&mut store, &batch)));

    let floor_dir = bench_dir("floor");
    let mut file: File = OpenOptions::new()
        .append(true)
        .create(true)
        .open(floor_dir.path().join("log"))
        .expect("the bench dir opens");
    group.bench_function("floor/write_fdatasync", |b| {
        b.iter(|| write_batch(&mut file, &encoded))
    });
    group.finish();

    let (store_ns, floor_ns) = paired_medians(
        || sync_batch(&mut store, &batch),
        || write_batch(&mut file, &encoded),
    );
    eprintln!(
        "paired: {PAIRED_ROUNDS} batches of each, interleaved: median group commit {:.0} µs, median floor {:.0} µs, ratio {:.2}",
        store_ns / 1e3,
        floor_ns / 1e3,
        store_ns / floor_ns
    );
}

fn sync_batch(store: &mut FileStore, batch: &[Record]) {
    for record in batch {
        store
            .append(record)
            .expect("appends to a healthy disk succeed");
    }
    store.sync().expect("a sync on a healthy disk succeeds");
}

fn write_batch(file: &mut File, encoded: &[u8]) {
    file.write_all(encoded)
        .expect("writes to a healthy disk succeed");
    file.sync_data().expect("a sync on a healthy disk succeeds");
}

/// Times `first` and `second` in alternation, each going first every other
/// round so that neither always meets a disk the other just flushed; returns
/// the median time of each, in nanoseconds.
fn paired_medians(mut first: impl FnMut(), mut second: impl FnMut()) -> (f64, f64) {
    let mut first_times = Vec::with_capacity(PAIRED_ROUNDS);
    let mut second_times = Vec::with_capacity(PAIRED_ROUNDS);
    for round in 0..PAIRED_ROUNDS {
        if round % 2 == 0 {
            first_times.push(timed(&mut first));
            second_times.push(timed(&mut second));
        } else {
            second_times.push(timed(&mut second));
            first_times.push(timed(&mut first));
        }
    }
    (median_ns(first_times), median_ns(second_times))
}

fn timed(run: &mut impl FnMut()) -> Duration {
    let start = std::time::Instant::now();
    run();
    start.elapsed()
}

fn median_ns(mut times: Vec<Duration>) -> f64 {
    times.sort_unstable();
    times[times.len() / 2].as_nanos() as f64
}

criterion_group!(benches, append_sync);
criterion_main!(benches);
