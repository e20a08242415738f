//! brokerlab-store: the broker's log on disk, for the drivers.
//!
//! The core is sans-IO: it emits `Output::Persist(Record)` and learns what is
//! durable through `Input::Synced { upto }`. Between the two sits a driver and
//! one of the stores here, behind the small [`Store`] trait:
//!
//! - [`SimStore`], a simulated disk for the simulator: it keeps written bytes
//!   apart from durable ones and, on a crash the caller asks for, loses the
//!   unsynced bytes, tears the last write or flips bits in it, every choice
//!   drawn from an RNG the caller passes in.
//! - [`FileStore`], a file-backed log for the server: buffered appends, one
//!   `fdatasync` per group of records, compaction installed by
//!   write-then-rename.
//!
//! Both write the same format ([`frame`]): versioned, length-prefixed,
//! checksummed frames around a postcard encoding of each record. Recovery cuts
//! a torn tail at the last valid record and refuses corruption before the tail
//! with an error naming its offset: nothing damaged is ever replayed.

#![forbid(unsafe_code)]

pub mod error;
pub mod file;
pub mod frame;
pub mod sim;

pub use error::StoreError;
pub use file::FileStore;
pub use sim::{CrashFaults, SimStore};

use brokerlab_core::record::Record;

/// A broker's log, as a driver uses it.
///
/// Calling protocol:
///
/// 1. [`recover`](Store::recover) first, once: it reads the log back, cuts a
///    torn tail, and returns the records to give `Broker::recover`. A store is
///    opened (or, for [`SimStore`], crashed) in the "needs recovery" state, and
///    `append`, `sync` and `compact` panic until recovery has succeeded.
/// 2. [`append`](Store::append) every `Output::Persist(record)` in the order
///    the broker emitted them.
/// 3. [`sync`](Store::sync) after a batch of appends (group commit): when it
///    returns `Some(upto)` higher than before, feed `Input::Synced { upto }`.
/// 4. [`compact`](Store::compact) now and then with `broker.snapshot()`,
///    taken after every record the broker emitted has been appended: the log
///    is replaced by the snapshot, and appends continue after it. The
///    snapshot's records carry the lsn it covers up to, as `Broker::snapshot`
///    numbers them; that is how a stale snapshot is recognised.
///
/// After any error other than [`StoreError::RecordTooLarge`] and
/// [`StoreError::StaleSnapshot`], the store refuses further work with
/// [`StoreError::Failed`]: what reached the disk is unknown (a failed fsync may
/// have dropped pages), so the only way on is a restart and recovery.
pub trait Store {
    /// Reads the log back: every valid record, in log order.
    ///
    /// A torn tail (a damaged frame with no valid frame after it) is cut off
    /// and the log continues from the last valid record; a damaged frame with
    /// a valid frame after it is [`StoreError::Corrupt`], and the log is left
    /// as it is for someone to look at.
    fn recover(&mut self) -> Result<Vec<Record>, StoreError>;

    /// Adds a record to the log; it is not durable until the next `sync`.
    fn append(&mut self, record: &Record) -> Result<(), StoreError>;

    /// Makes every appended record durable and returns the lsn of the last
    /// one (`None` while the log has never held a record).
    fn sync(&mut self) -> Result<Option<u64>, StoreError>;

    /// Replaces the log, atomically, by `snapshot` (the broker's live state,
    /// covering every record appended so far); later appends follow it.
    ///
    /// Everything appended before is durable once this returns, as part of
    /// the snapshot. A snapshot older than the last appended record would lose
    /// records, so it is refused with [`StoreError::StaleSnapshot`].
    fn compact(&mut self, snapshot: &[Record]) -> Result<(), StoreError>;

    /// Size of the log in bytes, written or buffered, durable or not.
    fn len_bytes(&self) -> u64;
}

/// Checks a snapshot against the last appended record and returns the lsn
/// that is durable once it is installed.
///
/// `Broker::snapshot` numbers every record with the broker's last lsn, so a
/// record numbered below the last appended one means the snapshot was taken
/// before that record and would lose it.
fn snapshot_lsn(snapshot: &[Record], appended_lsn: Option<u64>) -> Result<Option<u64>, StoreError> {
    let oldest = snapshot.iter().map(|record| record.lsn).min();
    if let (Some(snapshot_lsn), Some(appended_lsn)) = (oldest, appended_lsn) {
        if snapshot_lsn < appended_lsn {
            return Err(StoreError::StaleSnapshot {
                snapshot_lsn,
                appended_lsn,
            });
        }
    }
    let newest = snapshot.iter().map(|record| record.lsn).max();
    Ok(newest.max(appended_lsn))
}
