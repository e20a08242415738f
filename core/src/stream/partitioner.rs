//! Kafka's partitioners, as plain functions for clients and front ends:
//! partitioning happens in the client, so the broker only offers the rules.
//!
//! A keyed record goes to `(murmur2(key) & 0x7fffffff) % partitions` (the
//! Java client's and kafkajs' default). A keyless record goes where the
//! uniform sticky partitioner (KIP-794) points: one partition until
//! `batch.size` bytes were produced to it, then another drawn at random. The
//! core draws no randomness, so the caller hands the draw in.

/// Kafka's murmur2 seed.
const SEED: u32 = 0x9747_b28c;

/// Kafka's `Utils.murmur2`: the 32-bit MurmurHash2 of `data` with seed
/// 0x9747b28c, as a Java `int`.
#[must_use]
pub fn murmur2(data: &[u8]) -> i32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let length = data.len();
    // Java's `int` length: keys longer than 2 GiB are not keys.
    let mut h = SEED ^ (length as u32);
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() == 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    i32::from_ne_bytes(h.to_ne_bytes())
}

/// Kafka's `Utils.toPositive`: the number with its sign bit cleared.
#[must_use]
pub fn to_positive(number: i32) -> u32 {
    u32::from_ne_bytes((number & 0x7fff_ffff).to_ne_bytes())
}

/// The partition of a keyed record among `partitions` (at least 1).
#[must_use]
pub fn partition_for_key(key: &[u8], partitions: u32) -> u32 {
    assert!(partitions > 0, "a topic has at least one partition");
    to_positive(murmur2(key)) % partitions
}

/// The uniform sticky partitioner's state for one topic (KIP-794, Kafka's
/// `BuiltInPartitioner` without the adaptive weighting): keyless records
/// stick to one partition until `batch_size_bytes` were produced to it
/// (or twice that when switching was not allowed), then move to a
/// partition drawn at random.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StickyPartitioner {
    batch_size_bytes: u64,
    current: Option<u32>,
    produced_bytes: u64,
}

impl StickyPartitioner {
    /// A partitioner switching after `batch_size_bytes` (the producer's `batch.size`, at least 1).
    #[must_use]
    pub fn new(batch_size_bytes: u64) -> StickyPartitioner {
        assert!(batch_size_bytes > 0, "batch.size is at least 1");
        StickyPartitioner {
            batch_size_bytes,
            current: None,
            produced_bytes: 0,
        }
    }

    /// The partition for the next keyless record among `partitions`:
    /// the current one, or when there is none (or the topic shrank under
    /// it) `random % partitions`, as Kafka picks with a fresh draw.
    pub fn partition(&mut self, partitions: u32, random: u32) -> u32 {
        assert!(partitions > 0, "a topic has at least one partition");
        match self.current {
            Some(current) if current < partitions => current,
            _ => {
                let chosen = random % partitions;
                self.current = Some(chosen);
                self.produced_bytes = 0;
                chosen
            }
        }
    }

    /// Counts `bytes` produced to the current partition; once they reach
    /// `batch.size` (and `switch_allowed`, the batch being ready to send) or
    /// twice `batch.size`, the next record goes to a newly drawn partition.
    pub fn produced(&mut self, bytes: u64, switch_allowed: bool) {
        self.produced_bytes = self.produced_bytes.saturating_add(bytes);
        let enough = self.produced_bytes >= self.batch_size_bytes && switch_allowed;
        if enough || self.produced_bytes >= self.batch_size_bytes.saturating_mul(2) {
            self.current = None;
            self.produced_bytes = 0;
        }
    }

    /// The partition it sticks to, if it has chosen one.
    #[must_use]
    pub fn current(&self) -> Option<u32> {
        self.current
    }
}
