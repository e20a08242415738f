//! The trace of a run: every event the simulation dispatched, in order.
//!
//! A run always keeps a 64-bit FNV-1a digest of its events (their `Hash`
//! encoding, with the time), printed in the summary, so two runs of one seed
//! can be compared at a glance; the text lines are kept only when asked for,
//! for the determinism test and for reading a failing run.

use crate::plan::Millis;
use std::fmt::Debug;
use std::hash::{Hash, Hasher};

/// FNV-1a: simple, fixed and the same on every machine, unlike std's hasher.
#[derive(Clone, Copy, Debug)]
struct Fnv1a(u64);

impl Hasher for Fnv1a {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// The digest, and the lines when kept.
#[derive(Clone, Debug)]
pub struct Trace {
    digest: Fnv1a,
    lines: Option<Vec<String>>,
}

impl Trace {
    /// A trace that keeps its text lines when `keep_lines` is set.
    #[must_use]
    pub fn new(keep_lines: bool) -> Trace {
        Trace {
            digest: Fnv1a(0xcbf2_9ce4_8422_2325),
            lines: keep_lines.then(Vec::new),
        }
    }

    /// Adds one dispatched event.
    pub fn record(&mut self, at_ns: u64, event: &(impl Hash + Debug)) {
        at_ns.hash(&mut self.digest);
        event.hash(&mut self.digest);
        if let Some(lines) = &mut self.lines {
            lines.push(format!("{} {event:?}", Millis(at_ns)));
        }
    }

    /// The digest of every event so far.
    #[must_use]
    pub fn digest(&self) -> u64 {
        self.digest.finish()
    }

    /// The kept lines (`None` when not kept).
    #[must_use]
    pub fn lines(&self) -> Option<&[String]> {
        self.lines.as_deref()
    }
}
