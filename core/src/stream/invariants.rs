//! The streams' internal consistency, checked whole by
//! [`Broker::check_invariants`](crate::Broker::check_invariants): logs whose
//! offsets run on without gaps, counted bytes that are the sums of what
//! they count, producer windows within their bound, and the index of
//! parked fetches agreeing with their deadlines.

use super::partition::Partition;
use super::producer::PRODUCER_WINDOW_BATCHES;
use super::Streams;
use crate::time::Instant;
use std::collections::{BTreeMap, BTreeSet};

impl Streams {
    /// Asserts every stream invariant at time `now`, with the store synced up to `synced_lsn`.
    pub(crate) fn check_invariants(&self, now: Instant, synced_lsn: u64) {
        assert_eq!(
            self.names.len(),
            self.topics.len(),
            "invariant: every topic is named once"
        );
        for (name, id) in &self.names {
            let (own_name, topic) = &self.topics[id];
            assert_eq!(own_name, name, "invariant: a topic's name leads to it");
            assert_eq!(topic.id, *id, "invariant: a topic is filed under its id");
            for partition in &topic.partitions {
                check_offsets(partition);
                check_bytes(partition);
                self.check_producers(partition);
                if let Some(ms) = topic.config.retention_ms {
                    self.check_retention_deadline(partition, ms, now);
                }
            }
        }
        self.check_parked(now);
        assert!(
            self.unsynced.iter().all(|batch| batch.lsn > synced_lsn)
                && self.after_sync.keys().all(|lsn| *lsn > synced_lsn),
            "invariant: only records not yet synced hold batches back or replies"
        );
    }

    fn check_producers(&self, partition: &Partition) {
        assert!(
            partition.producers.len() <= self.limits.producers_per_partition_max,
            "invariant: a partition remembers a bounded number of producers"
        );
        for (_, window) in partition.producers.iter() {
            assert!(
                window.batches.len() <= PRODUCER_WINDOW_BATCHES,
                "invariant: a producer window holds at most five batches"
            );
            let increasing = window
                .batches
                .iter()
                .zip(window.batches.iter().skip(1))
                .all(|(older, newer)| older.last_offset < newer.base_offset);
            assert!(
                increasing
                    && window
                        .batches
                        .iter()
                        .all(|b| b.base_offset <= b.last_offset),
                "invariant: a producer window's batches are in increasing offset order"
            );
        }
    }

    fn check_retention_deadline(&self, partition: &Partition, retention_ms: u64, now: Instant) {
        if let Some(deadline) = partition.age_deadline(retention_ms).filter(|at| *at > now) {
            assert!(
                self.retention_deadline
                    .is_some_and(|armed| armed <= deadline),
                "invariant: a segment that will age out has a retention deadline at or before it"
            );
        }
    }

    /// The parked fetches, their deadlines, the partitions they watch and
    /// the per-connection counts say the same thing, within the limits.
    fn check_parked(&self, now: Instant) {
        let deadlines: BTreeSet<(Instant, u64)> = self
            .parked
            .iter()
            .map(|(id, fetch)| (fetch.deadline, *id))
            .collect();
        assert_eq!(
            deadlines, self.fetch_deadlines,
            "invariant: the fetch deadlines are the parked fetches' deadlines"
        );
        let mut watchers: BTreeMap<(u64, u32), BTreeSet<u64>> = BTreeMap::new();
        let mut per_connection = BTreeMap::new();
        for (id, fetch) in &self.parked {
            for key in &fetch.watched {
                watchers.entry(*key).or_default().insert(*id);
            }
            *per_connection.entry(fetch.conn).or_insert(0) += 1;
            assert!(
                fetch.bytes_ready < fetch.min_bytes,
                "invariant: a parked fetch waits for bytes it does not have"
            );
            assert!(
                fetch.deadline <= now.plus_ms(self.limits.fetch_wait_ms_max),
                "invariant: a parked fetch waits no longer than the limit"
            );
        }
        assert_eq!(
            watchers, self.watchers,
            "invariant: the watched partitions index the parked fetches reading them"
        );
        assert_eq!(
            per_connection, self.parked_per_connection,
            "invariant: the parked fetches are counted per connection"
        );
        assert!(
            self.parked.len() <= self.limits.parked_fetches_max
                && per_connection
                    .values()
                    .all(|count| *count <= self.limits.parked_fetches_per_connection_max),
            "invariant: parked fetches are within their limits"
        );
    }
}

/// Offsets run on without a gap from the log start through every segment
/// and batch to the log end; the high watermark lies between them.
fn check_offsets(partition: &Partition) {
    let mut next = partition.log_start_offset;
    for segment in &partition.segments {
        assert!(
            !segment.batches.is_empty(),
            "invariant: a segment holds batches"
        );
        assert_eq!(
            segment.base_offset, next,
            "invariant: offsets are contiguous across segments"
        );
        for batch in &segment.batches {
            assert_eq!(
                batch.base_offset(),
                next,
                "invariant: offsets are contiguous across batches"
            );
            assert!(
                !batch.records().is_empty(),
                "invariant: a batch holds records"
            );
            next = batch.end_offset();
        }
    }
    assert_eq!(
        next, partition.log_end_offset,
        "invariant: the last batch ends at the log end"
    );
    assert!(
        partition.log_start_offset <= partition.high_watermark
            && partition.high_watermark <= partition.log_end_offset,
        "invariant: log start <= high watermark <= log end"
    );
}

/// Each segment's bytes are its batches' sizes, and the partition's are its segments'.
fn check_bytes(partition: &Partition) {
    let mut total = 0;
    for segment in &partition.segments {
        let sum: u64 = segment.batches.iter().map(|batch| batch.size_bytes()).sum();
        assert_eq!(
            segment.size_bytes, sum,
            "invariant: a segment's byte count is the sum of its batches' sizes"
        );
        total += sum;
    }
    assert_eq!(
        partition.size_bytes, total,
        "invariant: a partition's byte count is the sum of its segments'"
    );
}
