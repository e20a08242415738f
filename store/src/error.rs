//! What can go wrong with a log, and what each failure tells the driver.
//!
//! Corruption is kept apart from IO failure on purpose: a corrupt log must not
//! be "repaired" by retrying, while an IO failure says nothing about the log's
//! contents.

use std::fmt;
use std::io;

/// A store operation failed.
#[derive(Debug)]
pub enum StoreError {
    /// The operating system failed a read, write, sync or rename.
    Io(io::Error),
    /// A damaged frame with valid frames after it: the log is corrupt before
    /// its tail, and cutting it there would drop records that were durable.
    Corrupt {
        /// Byte offset of the damaged frame.
        offset: u64,
        /// Byte offset of the first valid frame found after it.
        next_valid_offset: u64,
    },
    /// A frame whose checksum holds but whose payload is not a record this
    /// version can read: written by another version, or a bug, never a torn
    /// write.
    Undecodable {
        /// Byte offset of the frame.
        offset: u64,
    },
    /// A record whose encoding exceeds [`crate::frame::MAX_PAYLOAD_BYTES`]:
    /// it was not appended.
    RecordTooLarge {
        /// The record's lsn.
        lsn: u64,
        /// Its encoded size.
        payload_bytes: usize,
    },
    /// A snapshot older than the last appended record: installing it would
    /// lose the records after it, so it was refused.
    StaleSnapshot {
        /// The lsn the snapshot's records carry.
        snapshot_lsn: u64,
        /// The lsn of the last appended record.
        appended_lsn: u64,
    },
    /// An earlier operation failed, so what is on disk is unknown: the store
    /// does nothing more until the driver restarts and recovers.
    Failed,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Io(error) => write!(f, "log IO failed: {error}"),
            StoreError::Corrupt { offset, next_valid_offset } => write!(
                f,
                "log corrupt at byte {offset}: damaged frame with a valid frame at byte {next_valid_offset} after it"
            ),
            StoreError::Undecodable { offset } => {
                write!(f, "log frame at byte {offset} has a valid checksum but is not a record this version reads")
            }
            StoreError::RecordTooLarge { lsn, payload_bytes } => {
                write!(f, "record {lsn} encodes to {payload_bytes} bytes, more than one frame holds")
            }
            StoreError::StaleSnapshot { snapshot_lsn, appended_lsn } => write!(
                f,
                "snapshot at lsn {snapshot_lsn} is older than the last appended record {appended_lsn}"
            ),
            StoreError::Failed => write!(f, "the log failed earlier; restart and recover"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Io(error) => Some(error),
            _ => None,
        }
    }
}

impl From<io::Error> for StoreError {
    fn from(error: io::Error) -> Self {
        StoreError::Io(error)
    }
}
