//! The file-backed log for the server.
//!
//! One directory holds one log file, [`LOG_FILE_NAME`]. Appends are encoded
//! into a buffer and written out when it fills or at the next sync; a sync is
//! one `fdatasync` for everything appended since the last (group commit), so
//! the cost of the disk flush is shared by every record in the batch.
//!
//! Compaction writes the snapshot to [`COMPACTION_FILE_NAME`], syncs it,
//! renames it over the log and syncs the directory. The rename is the commit
//! point: a crash before it leaves the old log (and a leftover file that
//! recovery deletes), a crash after it leaves the new one.
//!
//! The store is synchronous and uses `std::fs`: a server runs it on a thread
//! of its own (or `spawn_blocking`) and sends it records in batches.

use crate::frame;
use crate::{Store, StoreError};
use brokerlab_core::record::Record;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The log's file name inside the store's directory.
pub const LOG_FILE_NAME: &str = "log";

/// The file a compaction writes before renaming it over the log; one found
/// on opening is what a crash left of an unfinished compaction.
pub const COMPACTION_FILE_NAME: &str = "log.compacting";

/// Encoded records wait in memory up to this many bytes before a write.
const WRITE_BUFFER_BYTES: usize = 1 << 20;

/// Bytes the reader asks the file for at a time during recovery.
const READ_BUFFER_BYTES: usize = 1 << 20;

/// Where a store is in its calling protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Opened; recovery has not succeeded yet.
    NeedsRecovery,
    /// Recovered: appends, syncs and compactions are accepted.
    Open,
    /// An operation failed: the disk's state is unknown until a restart.
    Failed,
}

/// The steps of a compaction, in order; a crash may come between any two.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum CompactionStep {
    /// The snapshot is written to the compaction file.
    WriteNewLog,
    /// The compaction file is synced.
    SyncNewLog,
    /// The compaction file is renamed over the log.
    Rename,
    /// The directory is synced, making the rename durable.
    SyncDirectory,
}

/// A log in a directory of its own, with group commit.
///
/// Open it with [`FileStore::open`], then follow the calling protocol of
/// [`Store`]: recover first, then append, sync and compact. Two stores must
/// never have the same directory open.
#[derive(Debug)]
pub struct FileStore {
    dir: PathBuf,
    /// The log file; appends go to its end.
    log: File,
    /// Frames encoded but not yet written to the file.
    pending: Vec<u8>,
    /// Bytes in the file.
    file_bytes: u64,
    /// Whether bytes were written to the file since its last sync.
    unsynced: bool,
    phase: Phase,
    /// The lsn of the last appended record (or recovered, or installed snapshot).
    appended_lsn: Option<u64>,
    /// The lsn up to which every record is durable.
    durable_lsn: Option<u64>,
}

impl FileStore {
    /// Opens (or creates) the log in `dir`, creating the directory if needed.
    /// Nothing is read or changed until [`recover`](Store::recover).
    pub fn open(dir: impl AsRef<Path>) -> Result<FileStore, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir)?;
        let log = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(dir.join(LOG_FILE_NAME))?;
        Ok(FileStore {
            dir,
            log,
            pending: Vec::with_capacity(WRITE_BUFFER_BYTES),
            file_bytes: 0,
            unsynced: false,
            phase: Phase::NeedsRecovery,
            appended_lsn: None,
            durable_lsn: None,
        })
    }

    /// The directory the log lives in.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Refuses work after a failure; panics on a call before recovery.
    fn check_open(&self) -> Result<(), StoreError> {
        match self.phase {
            Phase::Open => Ok(()),
            Phase::Failed => Err(StoreError::Failed),
            Phase::NeedsRecovery => {
                panic!("a FileStore is recovered after opening, before any other call")
            }
        }
    }

    /// Marks the store failed when `result` is an IO error: after a failed
    /// write or fsync the kernel may have dropped dirty pages, so retrying
    /// could report durable what is not.
    fn fail_on_error<T>(&mut self, result: io::Result<T>) -> Result<T, StoreError> {
        result.map_err(|error| {
            self.phase = Phase::Failed;
            StoreError::Io(error)
        })
    }

    /// Writes the pending frames to the file (without syncing it).
    fn write_pending(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.log.write_all(&self.pending)?;
        self.file_bytes += self.pending.len() as u64;
        self.unsynced = true;
        self.pending.clear();
        // One huge record must not pin a huge buffer for the store's lifetime.
        self.pending.shrink_to(2 * WRITE_BUFFER_BYTES);
        Ok(())
    }

    /// Reads the log back, cuts a torn tail and removes a leftover
    /// compaction file; every change is synced before it returns.
    fn recover_log(&mut self) -> Result<Vec<Record>, StoreError> {
        remove_if_present(&self.dir.join(COMPACTION_FILE_NAME))?;
        // A recovery that failed before may have moved the read position.
        (&self.log).seek(SeekFrom::Start(0))?;
        let found = frame::read_log(BufReader::with_capacity(READ_BUFFER_BYTES, &self.log))?;
        if found.torn_bytes > 0 {
            self.log.set_len(found.valid_bytes)?;
        }
        // The cut, and a log file created by `open`, are durable before any
        // append can follow them.
        self.log.sync_all()?;
        sync_directory(&self.dir)?;
        self.file_bytes = found.valid_bytes;
        // The broker numbers its next record after the highest lsn it recovers.
        let lsn = found.records.iter().map(|record| record.lsn).max();
        self.appended_lsn = lsn;
        self.durable_lsn = lsn;
        Ok(found.records)
    }

    /// Compacts with `snapshot`, stopping after step `last`: only tests stop
    /// early, to leave the disk as a crash at that step would.
    fn compact_through(
        &mut self,
        snapshot: &[Record],
        last: CompactionStep,
    ) -> Result<(), StoreError> {
        self.check_open()?;
        // Refusals (a stale snapshot, a record too large) come before any
        // change, so they leave the store usable.
        let lsn = crate::snapshot_lsn(snapshot, self.appended_lsn)?;
        let mut frames = Vec::new();
        for record in snapshot {
            frame::encode(record, &mut frames)?;
        }
        let result = self.install(&frames, last);
        let Some(new_log) = self.fail_on_error(result)? else {
            return Ok(());
        };
        // The pending frames are superseded: the snapshot covers them.
        self.pending.clear();
        self.log = new_log;
        self.file_bytes = frames.len() as u64;
        self.unsynced = false;
        self.appended_lsn = lsn;
        self.durable_lsn = lsn;
        Ok(())
    }

    /// Puts `frames` in place of the log, through step `last`; returns the
    /// new log file, opened for appends, once every step is done.
    fn install(&self, frames: &[u8], last: CompactionStep) -> io::Result<Option<File>> {
        let compaction_path = self.dir.join(COMPACTION_FILE_NAME);
        let mut new_log = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&compaction_path)?;
        new_log.write_all(frames)?;
        if last == CompactionStep::WriteNewLog {
            return Ok(None);
        }
        // The new log's bytes must be on the disk before it takes the log's
        // name, or a crash could leave a log that holds less than the old one.
        new_log.sync_all()?;
        if last == CompactionStep::SyncNewLog {
            return Ok(None);
        }
        fs::rename(&compaction_path, self.dir.join(LOG_FILE_NAME))?;
        if last == CompactionStep::Rename {
            return Ok(None);
        }
        // Until the directory is synced a crash may undo the rename; the
        // caller is told everything is durable only after this.
        sync_directory(&self.dir)?;
        Ok(Some(new_log))
    }
}

impl Store for FileStore {
    fn recover(&mut self) -> Result<Vec<Record>, StoreError> {
        assert_eq!(
            self.phase,
            Phase::NeedsRecovery,
            "recover is called once, after opening"
        );
        // A failed recovery leaves the store needing recovery: a corrupt log
        // stays as it is, and the driver decides what to do.
        let records = self.recover_log()?;
        self.phase = Phase::Open;
        Ok(records)
    }

    fn append(&mut self, record: &Record) -> Result<(), StoreError> {
        self.check_open()?;
        frame::encode(record, &mut self.pending)?;
        self.appended_lsn = Some(record.lsn);
        if self.pending.len() >= WRITE_BUFFER_BYTES {
            let result = self.write_pending();
            self.fail_on_error(result)?;
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<Option<u64>, StoreError> {
        self.check_open()?;
        let mut result = self.write_pending();
        if result.is_ok() && self.unsynced {
            result = self.log.sync_data();
        }
        self.fail_on_error(result)?;
        self.unsynced = false;
        self.durable_lsn = self.appended_lsn;
        Ok(self.durable_lsn)
    }

    fn compact(&mut self, snapshot: &[Record]) -> Result<(), StoreError> {
        self.compact_through(snapshot, CompactionStep::SyncDirectory)
    }

    fn len_bytes(&self) -> u64 {
        self.file_bytes + self.pending.len() as u64
    }
}

/// Syncs a directory, making the creation, renaming or removal of its
/// entries durable.
fn sync_directory(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Removes a file that may not exist.
fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        result => result,
    }
}

#[cfg(test)]
mod tests;
