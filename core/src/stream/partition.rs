//! A partition: an append-only log of batches with offsets from 0, kept in
//! segments so that retention deletes whole segments from the oldest end.
//!
//! Offsets run from the log start (the base of the oldest segment, or the
//! log end when no segment is left) to the log end (the offset the next
//! record gets). Only offsets below the high watermark are served: on a
//! durable topic those whose records the store has synced, so that no reader
//! sees a record a crash could take back.

use super::batch::Batch;
use super::error::StreamError;
use super::producer::Producers;
use crate::time::Instant;
use std::collections::VecDeque;
use std::sync::Arc;

/// A run of consecutive batches: the unit retention deletes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Segment {
    /// The offset of its first record.
    pub(crate) base_offset: u64,
    /// Its batches, in offset order.
    pub(crate) batches: Vec<Arc<Batch>>,
    /// The sum of its batches' sizes.
    pub(crate) size_bytes: u64,
}

impl Segment {
    /// The offset after its last record.
    pub(crate) fn end_offset(&self) -> u64 {
        self.batches
            .last()
            .map_or(self.base_offset, |batch| batch.end_offset())
    }

    /// When its newest batch was appended.
    fn last_appended_at(&self) -> Instant {
        self.batches
            .last()
            .map_or(Instant::default(), |batch| batch.appended_at())
    }
}

/// One partition's log and its producers' state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Partition {
    pub(crate) segments: VecDeque<Segment>,
    /// The first offset held (or the log end when nothing is).
    pub(crate) log_start_offset: u64,
    /// The offset the next record gets.
    pub(crate) log_end_offset: u64,
    /// Offsets below it may be served.
    pub(crate) high_watermark: u64,
    /// The sum of the segments' sizes.
    pub(crate) size_bytes: u64,
    pub(crate) producers: Producers,
}

/// What a fetch from one partition found.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FetchedData {
    /// The offset after the last record a reader may see.
    pub high_watermark: u64,
    /// The first offset held.
    pub log_start_offset: u64,
    /// Whole batches, the first holding the offset asked for; the reader
    /// skips the records below it.
    pub batches: Vec<Arc<Batch>>,
}

impl Partition {
    /// Appends a batch at the log end, rolling to a new segment first when
    /// the batch would take the active one past `segment_bytes`.
    pub fn append(&mut self, batch: Arc<Batch>, segment_bytes: u64) {
        assert_eq!(
            batch.base_offset(),
            self.log_end_offset,
            "appends go at the log end"
        );
        assert!(!batch.records().is_empty(), "a stored batch holds records");
        let size = batch.size_bytes();
        let roll = self.segments.back().is_none_or(|active| {
            !active.batches.is_empty() && active.size_bytes + size > segment_bytes
        });
        if roll {
            self.segments.push_back(Segment {
                base_offset: self.log_end_offset,
                batches: Vec::new(),
                size_bytes: 0,
            });
        }
        let active = self.segments.back_mut().expect("rolled above if empty");
        active.size_bytes += size;
        self.size_bytes += size;
        self.log_end_offset = batch.end_offset();
        active.batches.push(batch);
    }

    /// The bytes of the batches from the one holding `offset` up to the
    /// high watermark: what a fetch at `offset` could be given now.
    #[must_use]
    pub fn visible_bytes_from(&self, offset: u64) -> u64 {
        self.batches_from(offset)
            .take_while(|batch| batch.end_offset() <= self.high_watermark)
            .map(|batch| batch.size_bytes())
            .sum()
    }

    /// Serves whole batches from the one holding `offset`, up to the high
    /// watermark, while they fit `budget_bytes`; the first batch is served
    /// whatever its size when `at_least_one` (so a reader makes progress).
    pub fn fetch(
        &self,
        offset: u64,
        budget_bytes: u64,
        at_least_one: bool,
    ) -> Result<FetchedData, StreamError> {
        if offset < self.log_start_offset || offset > self.log_end_offset {
            return Err(StreamError::OffsetOutOfRange);
        }
        let mut batches = Vec::new();
        let mut taken_bytes = 0;
        for batch in self.batches_from(offset) {
            if batch.end_offset() > self.high_watermark {
                break;
            }
            let first = batches.is_empty() && at_least_one;
            if !first && taken_bytes + batch.size_bytes() > budget_bytes {
                break;
            }
            taken_bytes += batch.size_bytes();
            batches.push(Arc::clone(batch));
        }
        Ok(FetchedData {
            high_watermark: self.high_watermark,
            log_start_offset: self.log_start_offset,
            batches,
        })
    }

    /// The batches from the one holding `offset` to the log end, found by
    /// binary search over segments and then over batches.
    fn batches_from(&self, offset: u64) -> impl Iterator<Item = &Arc<Batch>> {
        let segment = self
            .segments
            .partition_point(|segment| segment.end_offset() <= offset);
        let batch = self.segments.get(segment).map_or(0, |segment| {
            segment
                .batches
                .partition_point(|batch| batch.end_offset() <= offset)
        });
        self.segments
            .range(segment..)
            .enumerate()
            .flat_map(move |(index, segment)| {
                let skip = if index == 0 { batch } else { 0 };
                segment.batches[skip..].iter()
            })
    }

    /// The batch holding `offset`, if the log holds it.
    #[must_use]
    pub fn batch_at(&self, offset: u64) -> Option<&Arc<Batch>> {
        self.batches_from(offset)
            .next()
            .filter(|batch| batch.base_offset() <= offset)
    }

    /// The last batch below the high watermark (RabbitMQ's last chunk).
    #[must_use]
    pub fn last_visible_batch(&self) -> Option<&Arc<Batch>> {
        self.segments
            .iter()
            .rev()
            .flat_map(|segment| segment.batches.iter().rev())
            .find(|batch| batch.end_offset() <= self.high_watermark)
    }

    /// The first visible record whose timestamp is at least `timestamp_ms`,
    /// as Kafka finds it (the first batch whose largest timestamp reaches
    /// it, then the first record in it that does): its offset and timestamp.
    #[must_use]
    pub fn record_for_timestamp(&self, timestamp_ms: i64) -> Option<(u64, i64)> {
        self.batches_from(self.log_start_offset)
            .take_while(|batch| batch.end_offset() <= self.high_watermark)
            .find(|batch| batch.max_timestamp_ms() >= timestamp_ms)
            .and_then(|batch| batch.record_at_or_after(timestamp_ms))
    }

    /// Deletes oldest segments wholly below the high watermark while the
    /// rest still holds `retention_bytes` (Kafka keeps at least that much)
    /// or while their newest batch is older than `retention_ms`. Returns
    /// whether the log start moved.
    pub fn apply_retention(
        &mut self,
        now: Instant,
        retention_bytes: Option<u64>,
        retention_ms: Option<u64>,
    ) -> bool {
        let before = self.log_start_offset;
        while let Some(oldest) = self.segments.front() {
            if oldest.end_offset() > self.high_watermark {
                break;
            }
            let by_size =
                retention_bytes.is_some_and(|bytes| self.size_bytes - oldest.size_bytes >= bytes);
            let by_age =
                retention_ms.is_some_and(|ms| oldest.last_appended_at().plus_ms(ms) <= now);
            if !(by_size || by_age) {
                break;
            }
            self.delete_oldest_segment();
        }
        self.log_start_offset != before
    }

    /// When the oldest segment passes `retention_ms`, if it can be deleted then.
    #[must_use]
    pub fn age_deadline(&self, retention_ms: u64) -> Option<Instant> {
        let oldest = self.segments.front()?;
        Some(oldest.last_appended_at().plus_ms(retention_ms))
    }

    fn delete_oldest_segment(&mut self) {
        let oldest = self.segments.pop_front().expect("a segment to delete");
        self.size_bytes -= oldest.size_bytes;
        self.log_start_offset = self
            .segments
            .front()
            .map_or(self.log_end_offset, |next| next.base_offset);
        assert_eq!(
            self.log_start_offset,
            oldest.end_offset(),
            "segments are contiguous"
        );
    }

    /// Moves the log start to `offset` by deleting the segments wholly
    /// below it (replay of a logged retention; an empty log just starts
    /// there). Offsets inside a segment keep that segment.
    pub fn move_log_start(&mut self, offset: u64) {
        if self.segments.is_empty() {
            if offset > self.log_end_offset {
                self.log_start_offset = offset;
                self.log_end_offset = offset;
                self.high_watermark = offset;
            }
            return;
        }
        while self
            .segments
            .front()
            .is_some_and(|oldest| oldest.end_offset() <= offset)
        {
            self.delete_oldest_segment();
        }
    }

    /// The first offset held.
    #[must_use]
    pub fn log_start_offset(&self) -> u64 {
        self.log_start_offset
    }

    /// The offset the next record gets.
    #[must_use]
    pub fn log_end_offset(&self) -> u64 {
        self.log_end_offset
    }

    /// The offset after the last record a reader may see.
    #[must_use]
    pub fn high_watermark(&self) -> u64 {
        self.high_watermark
    }

    /// Every batch held, oldest first.
    pub fn batches(&self) -> impl Iterator<Item = &Arc<Batch>> {
        self.segments
            .iter()
            .flat_map(|segment| segment.batches.iter())
    }

    /// The idempotent producers' state.
    #[must_use]
    pub fn producers(&self) -> &Producers {
        &self.producers
    }
}
