//! The broker's log on disk: a `FileStore` on a thread of its own, with group commit.
//!
//! The broker task sends the records of each of its steps as one batch; the
//! log thread appends every batch that is waiting, syncs once for all of them
//! and publishes the highest durable lsn, which the broker task feeds to the
//! core as `Input::Synced`. The core holds publisher confirms of persistent
//! messages until then, so a confirm never goes out before its fsync.
//!
//! A store failure is fatal: after a failed write or fsync nobody knows what
//! is on disk, so the thread stops, the broker task sees the lsn channel
//! close, and the server shuts down rather than confirm anything more.

use brokerlab_core::record::Record;
use brokerlab_core::{Broker, Config};
use brokerlab_store::{FileStore, Store, StoreError};
use std::path::Path;
use std::thread::JoinHandle;
use tokio::sync::{mpsc, watch};

/// Batches waiting for the log thread; the broker task waits when it is full,
/// which slows publishers to the disk's pace.
const QUEUED_BATCHES_MAX: usize = 256;

/// Batches appended before one sync, so that a sync is never put off forever.
const BATCHES_PER_SYNC_MAX: usize = 1024;

/// The broker task's side of the log.
#[derive(Debug)]
pub struct LogHandle {
    /// Where record batches go, in the order the broker emitted them.
    pub records: mpsc::Sender<Vec<Record>>,
    /// The highest durable lsn; closed when the log thread stops.
    pub synced: watch::Receiver<u64>,
}

/// The log thread, to join at shutdown.
#[derive(Debug)]
pub struct LogThread(JoinHandle<Result<(), StoreError>>);

impl LogThread {
    /// Waits until the thread has synced its last batch and stopped.
    pub fn join(self) -> Result<(), StoreError> {
        // A panic on the log thread is a bug in the store; pass it on.
        self.0
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }
}

/// Opens the log in `dir`, recovers the broker from it, compacts the log to
/// the recovered state and starts the log thread.
pub fn open(dir: &Path, config: Config) -> Result<(Broker, LogHandle, LogThread), StoreError> {
    let mut store = FileStore::open(dir)?;
    let records = store.recover()?;
    let recovered = records.len();
    let broker = Broker::recover(config, records);
    // Compacting at start keeps the log's size following the live data
    // across restarts, at the cost of one rewrite per start.
    store.compact(&broker.snapshot())?;
    tracing::info!(
        dir = %dir.display(),
        records = recovered,
        last_lsn = broker.last_lsn(),
        "recovered the log"
    );
    let (records_tx, records_rx) = mpsc::channel(QUEUED_BATCHES_MAX);
    let (synced_tx, synced_rx) = watch::channel(broker.last_lsn());
    let thread = std::thread::Builder::new()
        .name("brokerlab-log".into())
        .spawn(move || {
            let result = run(store, records_rx, synced_tx);
            if let Err(error) = &result {
                tracing::error!(%error, "the log failed; stopping the server");
            }
            result
        })
        .map_err(StoreError::Io)?;
    let handle = LogHandle {
        records: records_tx,
        synced: synced_rx,
    };
    Ok((broker, handle, LogThread(thread)))
}

/// The log thread: append what is waiting, sync once, publish the lsn; until
/// the broker task drops its sender.
fn run(
    mut store: FileStore,
    mut batches: mpsc::Receiver<Vec<Record>>,
    synced: watch::Sender<u64>,
) -> Result<(), StoreError> {
    while let Some(batch) = batches.blocking_recv() {
        append_all(&mut store, &batch)?;
        for _ in 1..BATCHES_PER_SYNC_MAX {
            match batches.try_recv() {
                Ok(batch) => append_all(&mut store, &batch)?,
                Err(_) => break,
            }
        }
        if let Some(upto) = store.sync()? {
            synced.send_replace(upto);
        }
    }
    Ok(())
}

fn append_all(store: &mut FileStore, batch: &[Record]) -> Result<(), StoreError> {
    batch.iter().try_for_each(|record| store.append(record))
}
