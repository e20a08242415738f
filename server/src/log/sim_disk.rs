//! The broker's disk under madsim: the simulator's in-memory `SimStore`,
//! whose synced bytes are written into madsim's simulated file system.
//!
//! madsim keeps a node's files when the node is killed and restarted, and
//! drops everything in its memory; so a restarted broker recovers exactly
//! what its log had synced, as from a file on a real disk after a crash.
//! Only synced bytes are ever written to the file, so there is no torn tail
//! to cut; the file is read back with the same frame decoder as the real log.

use brokerlab_core::record::Record;
use brokerlab_store::{frame, SimStore, Store, StoreError};
use madsim::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// The log file's name in the data directory.
const LOG_FILE: &str = "brokerlab-sim.log";

/// A `SimStore` kept on the node's simulated disk.
pub struct SimDisk {
    /// The log in memory; `write_synced` puts its durable part on the disk.
    store: SimStore,
    /// Records read from the disk at open, for `recover`.
    found: Option<Vec<Record>>,
    path: PathBuf,
    /// The log file, once written.
    file: Option<File>,
    /// Bytes of the durable log already in the file.
    written_bytes: usize,
    /// A compaction replaced the log: the file is rewritten whole.
    replaced: bool,
}

impl SimDisk {
    /// Reads the log in `dir` from the node's simulated disk (nothing, the
    /// first time); `recover` then hands its records out.
    pub async fn open(dir: &Path) -> Result<SimDisk, StoreError> {
        let path = dir.join(LOG_FILE);
        let bytes = match madsim::fs::read(&path).await {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(error) => return Err(StoreError::Io(error)),
        };
        let found = frame::read_log(bytes.as_slice())?;
        assert_eq!(
            found.valid_bytes,
            bytes.len() as u64,
            "only synced, whole records are written to the simulated disk"
        );
        Ok(SimDisk {
            store: SimStore::new(),
            found: Some(found.records),
            path,
            file: None,
            written_bytes: bytes.len(),
            replaced: false,
        })
    }

    /// Writes what the store has synced since the last call to the disk.
    pub async fn write_synced(&mut self) -> Result<(), StoreError> {
        if self.replaced || self.file.is_none() {
            self.file = Some(File::create(&self.path).await?);
            self.written_bytes = 0;
            self.replaced = false;
        }
        let durable = self.store.durable_log();
        let file = self.file.as_ref().expect("the file was created above");
        file.write_all_at(&durable[self.written_bytes..], self.written_bytes as u64)
            .await?;
        file.sync_all().await?;
        self.written_bytes = durable.len();
        Ok(())
    }
}

impl Store for SimDisk {
    /// The records read at open, put back into the in-memory store as its log.
    fn recover(&mut self) -> Result<Vec<Record>, StoreError> {
        let records = self
            .found
            .take()
            .expect("recover is called once, after opening");
        self.store.recover()?;
        for record in &records {
            self.store.append(record)?;
        }
        self.store.sync()?;
        Ok(records)
    }

    fn append(&mut self, record: &Record) -> Result<(), StoreError> {
        self.store.append(record)
    }

    fn sync(&mut self) -> Result<Option<u64>, StoreError> {
        self.store.sync()
    }

    fn compact(&mut self, snapshot: &[Record]) -> Result<(), StoreError> {
        self.store.compact(snapshot)?;
        self.replaced = true;
        Ok(())
    }

    fn len_bytes(&self) -> u64 {
        self.store.len_bytes()
    }
}
