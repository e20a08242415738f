//! A simulated disk for the deterministic simulator.
//!
//! [`SimStore`] holds the log in memory as two parts: the bytes that reached
//! the disk (durable: they survive every crash) and the writes made since the
//! last sync (in the page cache: a crash loses them). A crash is something the
//! caller asks for, with [`CrashFaults`] saying which misfortunes may come with
//! it; each choice is drawn from the RNG the caller passes, so a seed replays
//! the same crash byte for byte. There is no clock, no thread and no hash map.
//!
//! The fault model is the one the log format is built to survive: unsynced
//! writes reach the disk in order or not at all, except that the first one not
//! to reach it whole may be torn (a prefix of it did) and the last one to
//! (partly) reach it may hold flipped bits. Recovery then returns every synced
//! record and perhaps some unsynced ones, never a damaged one. Media
//! corruption of durable bytes is a different fault, outside what a log can
//! survive: [`SimStore::flip_durable_bit`] injects it, for tests that recovery
//! refuses it.

use crate::frame;
use crate::{Store, StoreError};
use brokerlab_core::record::Record;
use rand_core::Rng;

/// The misfortunes a crash may bring, each a chance in a thousand drawn anew
/// at every crash from the caller's RNG.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct CrashFaults {
    /// Chance that some unsynced writes reached the disk before the crash: a
    /// random number of them, whole and in order.
    pub writeback_per_mille: u16,
    /// Chance that the first unsynced write not to reach the disk whole was
    /// torn: a random number of its first bytes (at least one, not all) did.
    pub torn_write_per_mille: u16,
    /// Chance that bits were flipped in the last write that (partly) reached
    /// the disk, like garbage in a half-written sector.
    pub flip_bits_per_mille: u16,
}

impl CrashFaults {
    /// The plain crash: every unsynced byte is lost, nothing else happens.
    pub const NONE: CrashFaults = CrashFaults {
        writeback_per_mille: 0,
        torn_write_per_mille: 0,
        flip_bits_per_mille: 0,
    };

    /// Asserts that every chance is at most a thousand in a thousand.
    fn assert_valid(self) {
        for per_mille in [
            self.writeback_per_mille,
            self.torn_write_per_mille,
            self.flip_bits_per_mille,
        ] {
            assert!(
                per_mille <= 1000,
                "a chance per mille is at most 1000: {self:?}"
            );
        }
    }
}

/// Bits flipped at most when a crash flips bits.
const FLIPPED_BITS_MAX: u64 = 8;

/// An in-memory log that loses its unsynced writes when the caller crashes it.
///
/// Use it through [`Store`], and call [`crash`](SimStore::crash) (or
/// [`crash_while_compacting`](SimStore::crash_while_compacting)) when the
/// simulated node dies; then [`recover`](Store::recover) before anything else,
/// as after opening. Cloning it copies the disk.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct SimStore {
    /// Bytes of the log on the disk: they survive every crash.
    durable: Vec<u8>,
    /// Bytes written after `durable` since the last sync.
    unsynced: Vec<u8>,
    /// Where each unsynced write (one per appended record) ends in `unsynced`.
    write_ends: Vec<usize>,
    /// Whether recovery has run since the store was made or crashed.
    recovered: bool,
    /// The lsn of the last appended record (or recovered, or installed snapshot).
    appended_lsn: Option<u64>,
    /// The lsn up to which every record is durable.
    durable_lsn: Option<u64>,
}

impl SimStore {
    /// An empty disk, which needs [`recover`](Store::recover) like any other.
    #[must_use]
    pub fn new() -> SimStore {
        SimStore::default()
    }

    /// The node crashed: unsynced writes are lost, except as `faults` and
    /// `rng` decide, and the store needs recovery.
    ///
    /// # Panics
    /// When a chance in `faults` is above 1000 per mille.
    pub fn crash<R: Rng + ?Sized>(&mut self, rng: &mut R, faults: CrashFaults) {
        faults.assert_valid();
        let writes = self.write_ends.len();
        let whole = if chance(rng, faults.writeback_per_mille) {
            below(rng, writes as u64 + 1) as usize
        } else {
            0
        };
        let write_start = |index: usize| {
            if index == 0 {
                0
            } else {
                self.write_ends[index - 1]
            }
        };
        // `kept` bytes of the unsynced ones reach the disk; the last write
        // among them starts at `last_start`.
        let mut kept = write_start(whole);
        let mut last_start = write_start(whole.saturating_sub(1));
        if whole < writes && chance(rng, faults.torn_write_per_mille) {
            let (start, end) = (write_start(whole), self.write_ends[whole]);
            // A frame is longer than one byte, so the write can be torn strictly inside.
            assert!(end - start > 1, "a write holds a whole frame");
            kept = start + 1 + below(rng, (end - start - 1) as u64) as usize;
            last_start = start;
        }
        if kept > 0 && chance(rng, faults.flip_bits_per_mille) {
            let flips = 1 + below(rng, FLIPPED_BITS_MAX);
            for _ in 0..flips {
                let bit = last_start * 8 + below(rng, ((kept - last_start) * 8) as u64) as usize;
                self.unsynced[bit / 8] ^= 1 << (bit % 8);
            }
        }
        self.durable.extend_from_slice(&self.unsynced[..kept]);
        self.unsynced.clear();
        self.write_ends.clear();
        self.recovered = false;
    }

    /// The node crashed while compacting with `snapshot`.
    ///
    /// The file store writes the new log aside and renames it over the old
    /// one, so the disk holds either log whole: the new one if the rename
    /// reached the disk, else the old one, whose unsynced writes then fare as
    /// in [`crash`](SimStore::crash). Which, is drawn from `rng`. A snapshot
    /// that [`compact`](Store::compact) would refuse is refused here too,
    /// before anything happens.
    pub fn crash_while_compacting<R: Rng + ?Sized>(
        &mut self,
        snapshot: &[Record],
        rng: &mut R,
        faults: CrashFaults,
    ) -> Result<(), StoreError> {
        self.assert_recovered();
        let (log, lsn) = self.compacted_log(snapshot)?;
        if below(rng, 2) == 0 {
            self.install(log, lsn);
        }
        self.crash(rng, faults);
        Ok(())
    }

    /// Flips bit `bit` (counted from the log's first byte) of the durable
    /// log: media corruption, which recovery refuses (or, inside the last
    /// record, cuts as a torn tail).
    ///
    /// # Panics
    /// When the durable log is shorter than `bit / 8 + 1` bytes.
    pub fn flip_durable_bit(&mut self, bit: u64) {
        let byte =
            usize::try_from(bit / 8).expect("a bit inside an in-memory log has a usize byte index");
        assert!(
            byte < self.durable.len(),
            "bit {bit} is past the durable log ({} bytes)",
            self.durable.len()
        );
        self.durable[byte] ^= 1 << (bit % 8);
    }

    /// Bytes written since the last sync, which a crash may lose.
    #[must_use]
    pub fn unsynced_bytes(&self) -> u64 {
        self.unsynced.len() as u64
    }

    /// The log as it stands on the disk, unsynced writes excluded.
    #[must_use]
    pub fn durable_log(&self) -> &[u8] {
        &self.durable
    }

    fn assert_recovered(&self) {
        assert!(
            self.recovered,
            "a SimStore is recovered after it is made or crashed, before any other call"
        );
    }

    /// The encoded snapshot, and the lsn durable once it is installed.
    fn compacted_log(&self, snapshot: &[Record]) -> Result<(Vec<u8>, Option<u64>), StoreError> {
        let lsn = crate::snapshot_lsn(snapshot, self.appended_lsn)?;
        let mut log = Vec::new();
        for record in snapshot {
            frame::encode(record, &mut log)?;
        }
        Ok((log, lsn))
    }

    /// Puts `log` on the disk in place of the old log and its unsynced writes.
    fn install(&mut self, log: Vec<u8>, lsn: Option<u64>) {
        self.durable = log;
        self.unsynced.clear();
        self.write_ends.clear();
        self.appended_lsn = lsn;
        self.durable_lsn = lsn;
    }
}

impl Store for SimStore {
    fn recover(&mut self) -> Result<Vec<Record>, StoreError> {
        assert!(
            !self.recovered,
            "recover is called once after the store is made or crashed"
        );
        debug_assert!(
            self.unsynced.is_empty(),
            "a store that needs recovery has written nothing since"
        );
        let found = frame::read_log(self.durable.as_slice())?;
        let valid_bytes =
            usize::try_from(found.valid_bytes).expect("an in-memory log's length is a usize");
        self.durable.truncate(valid_bytes);
        // The broker numbers its next record after the highest lsn it recovers.
        let lsn = found.records.iter().map(|record| record.lsn).max();
        self.appended_lsn = lsn;
        self.durable_lsn = lsn;
        self.recovered = true;
        Ok(found.records)
    }

    fn append(&mut self, record: &Record) -> Result<(), StoreError> {
        self.assert_recovered();
        frame::encode(record, &mut self.unsynced)?;
        self.write_ends.push(self.unsynced.len());
        self.appended_lsn = Some(record.lsn);
        Ok(())
    }

    fn sync(&mut self) -> Result<Option<u64>, StoreError> {
        self.assert_recovered();
        self.durable.append(&mut self.unsynced);
        self.write_ends.clear();
        self.durable_lsn = self.appended_lsn;
        Ok(self.durable_lsn)
    }

    fn compact(&mut self, snapshot: &[Record]) -> Result<(), StoreError> {
        self.assert_recovered();
        let (log, lsn) = self.compacted_log(snapshot)?;
        self.install(log, lsn);
        Ok(())
    }

    fn len_bytes(&self) -> u64 {
        (self.durable.len() + self.unsynced.len()) as u64
    }
}

/// Draws whether a chance of `per_mille` in a thousand comes true.
fn chance<R: Rng + ?Sized>(rng: &mut R, per_mille: u16) -> bool {
    below(rng, 1000) < u64::from(per_mille)
}

/// Draws a number in `0..bound`. The modulo's bias is negligible for bounds
/// far below 2^64, as every bound here is, and a seed replays it exactly.
fn below<R: Rng + ?Sized>(rng: &mut R, bound: u64) -> u64 {
    assert!(bound > 0, "a draw needs at least one outcome");
    rng.next_u64() % bound
}
