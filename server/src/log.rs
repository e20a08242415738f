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
//!
//! Under madsim (`--cfg madsim`) a thread and real files would escape the
//! simulation, so the log is a task instead, and the store is a `SimStore`
//! whose synced bytes are mirrored into madsim's file system (`sim_disk`),
//! where they outlive a node's restart. This is the one place that switches
//! between the two; the group commit is the same.

#[cfg(madsim)]
mod sim_disk;

use brokerlab_core::record::Record;
use brokerlab_core::{Broker, Config};
use brokerlab_store::{Store, StoreError};
use std::path::Path;
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

/// The log thread (a task under madsim), to join at shutdown.
#[derive(Debug)]
pub struct LogThread {
    #[cfg(not(madsim))]
    thread: std::thread::JoinHandle<Result<(), StoreError>>,
    #[cfg(madsim)]
    task: tokio::task::JoinHandle<Result<(), StoreError>>,
}

/// The log thread's side of the log.
struct LogInbox {
    batches: mpsc::Receiver<Vec<Record>>,
    synced: watch::Sender<u64>,
}

/// Recovers the broker from a store just opened, compacts the store to the
/// recovered state, and makes the channels between the broker task and the log.
fn recover(
    store: &mut impl Store,
    dir: &Path,
    config: Config,
) -> Result<(Broker, LogHandle, LogInbox), StoreError> {
    let records = store.recover()?;
    let recovered = records.len();
    // The server's one use of the broker's events is its trace log: unless a
    // subscriber wants them, the broker does not build them (four events per
    // message are a fifth of the core's work, reports/bench-core.md).
    let config = Config {
        events: config.events || tracing::enabled!(tracing::Level::TRACE),
        ..config
    };
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
    let handle = LogHandle {
        records: records_tx,
        synced: synced_rx,
    };
    let inbox = LogInbox {
        batches: records_rx,
        synced: synced_tx,
    };
    Ok((broker, handle, inbox))
}

/// Appends `first` and every batch already waiting after it, up to the
/// bound, so that one sync covers them all.
fn append_waiting(
    store: &mut impl Store,
    first: &[Record],
    batches: &mut mpsc::Receiver<Vec<Record>>,
) -> Result<(), StoreError> {
    append_all(store, first)?;
    for _ in 1..BATCHES_PER_SYNC_MAX {
        match batches.try_recv() {
            Ok(batch) => append_all(store, &batch)?,
            Err(_) => break,
        }
    }
    Ok(())
}

fn append_all(store: &mut impl Store, batch: &[Record]) -> Result<(), StoreError> {
    batch.iter().try_for_each(|record| store.append(record))
}

fn report_failure(result: Result<(), StoreError>) -> Result<(), StoreError> {
    if let Err(error) = &result {
        tracing::error!(%error, "the log failed; stopping the server");
    }
    result
}

#[cfg(not(madsim))]
mod on_a_thread {
    use super::*;
    use brokerlab_store::FileStore;

    /// Opens the log in `dir`, recovers the broker from it, compacts the log to
    /// the recovered state and starts the log thread.
    pub async fn open(
        dir: &Path,
        config: Config,
    ) -> Result<(Broker, LogHandle, LogThread), StoreError> {
        let mut store = FileStore::open(dir)?;
        let (broker, handle, inbox) = recover(&mut store, dir, config)?;
        let thread = std::thread::Builder::new()
            .name("brokerlab-log".into())
            .spawn(move || report_failure(run(store, inbox)))
            .map_err(StoreError::Io)?;
        Ok((broker, handle, LogThread { thread }))
    }

    impl LogThread {
        /// Waits until the thread has synced its last batch and stopped.
        pub async fn join(self) -> Result<(), StoreError> {
            let thread = self.thread;
            let joined = tokio::task::spawn_blocking(move || thread.join())
                .await
                .map_err(|error| StoreError::Io(std::io::Error::other(error)))?;
            // A panic on the log thread is a bug in the store; pass it on.
            joined.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        }
    }

    /// The log thread: append what is waiting, sync once, publish the lsn; until
    /// the broker task drops its sender.
    fn run(mut store: FileStore, mut inbox: LogInbox) -> Result<(), StoreError> {
        while let Some(batch) = inbox.batches.blocking_recv() {
            append_waiting(&mut store, &batch, &mut inbox.batches)?;
            if let Some(upto) = store.sync()? {
                inbox.synced.send_replace(upto);
            }
        }
        Ok(())
    }
}

#[cfg(madsim)]
mod on_a_task {
    use super::*;
    use sim_disk::SimDisk;

    /// Opens the log in `dir` on the node's simulated disk, recovers the
    /// broker from it, compacts the log to the recovered state and starts
    /// the log task.
    pub async fn open(
        dir: &Path,
        config: Config,
    ) -> Result<(Broker, LogHandle, LogThread), StoreError> {
        let mut disk = SimDisk::open(dir).await?;
        let (broker, handle, inbox) = recover(&mut disk, dir, config)?;
        disk.write_synced().await?;
        let task = tokio::spawn(async move { report_failure(run(disk, inbox).await) });
        Ok((broker, handle, LogThread { task }))
    }

    impl LogThread {
        /// Waits until the task has synced its last batch and stopped.
        pub async fn join(self) -> Result<(), StoreError> {
            self.task
                .await
                .map_err(|error| StoreError::Io(std::io::Error::other(error)))?
        }
    }

    /// The log task: as the thread does, with the synced bytes written to
    /// the simulated disk before the lsn is published.
    async fn run(mut disk: SimDisk, mut inbox: LogInbox) -> Result<(), StoreError> {
        while let Some(batch) = inbox.batches.recv().await {
            append_waiting(&mut disk, &batch, &mut inbox.batches)?;
            if let Some(upto) = disk.sync()? {
                disk.write_synced().await?;
                inbox.synced.send_replace(upto);
            }
        }
        Ok(())
    }
}

#[cfg(madsim)]
pub use on_a_task::open;
#[cfg(not(madsim))]
pub use on_a_thread::open;
