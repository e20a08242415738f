//! The idempotent producer's state in one partition, after Kafka's
//! `ProducerStateManager`: for each producer id, its epoch and the sequence
//! ranges of its last five batches, with the offsets they were stored at.
//!
//! The rules, checked in Kafka's order:
//! - a batch that exactly repeats one of the five (same epoch, same first
//!   and last sequence) is a duplicate: acknowledged with its original
//!   offsets, nothing appended;
//! - an epoch below the producer's is fenced (`INVALID_PRODUCER_EPOCH`);
//! - a new epoch must start at sequence 0;
//! - otherwise the first sequence must follow the last one (wrapping after
//!   `i32::MAX` to 0), else `OUT_OF_ORDER_SEQUENCE_NUMBER`;
//! - with no state for the producer, any sequence is accepted.

use super::batch::{last_sequence, Batch, ProducedBatch};
use super::error::StreamError;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// How many batches per producer a partition remembers for deduplication
/// (Kafka's `NUM_BATCHES_TO_RETAIN`; a producer has at most five in flight).
pub const PRODUCER_WINDOW_BATCHES: usize = 5;

/// One remembered batch: its sequence range and where it was stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BatchSequence {
    /// The sequence of its first record.
    pub first_sequence: i32,
    /// The sequence of its last record.
    pub last_sequence: i32,
    /// The offset of its first record.
    pub base_offset: u64,
    /// The offset of its last record.
    pub last_offset: u64,
}

/// A producer's state in one partition.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProducerWindow {
    /// The newest epoch seen.
    pub epoch: i16,
    /// Its last batches in this epoch, oldest first, at most [`PRODUCER_WINDOW_BATCHES`].
    pub batches: VecDeque<BatchSequence>,
}

impl ProducerWindow {
    /// The offset after its newest batch: producers with the oldest are evicted first.
    fn last_offset(&self) -> u64 {
        self.batches.back().map_or(0, |batch| batch.last_offset)
    }
}

/// What to do with a produced batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Append it.
    Append,
    /// It repeats a stored batch: acknowledge it with that batch's base offset.
    Duplicate(u64),
}

/// Every producer's state in one partition, by producer id.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Producers {
    windows: BTreeMap<i64, ProducerWindow>,
}

impl Producers {
    /// Judges a batch from an idempotent producer against its state.
    pub fn check(&self, batch: &ProducedBatch) -> Result<Verdict, StreamError> {
        assert!(
            batch.producer_id >= 0,
            "only idempotent batches are checked"
        );
        assert!(
            !batch.records.is_empty(),
            "empty batches are refused before"
        );
        let Some(window) = self.windows.get(&batch.producer_id) else {
            return Ok(Verdict::Append);
        };
        let first = batch.base_sequence;
        let last = last_sequence(first, batch.records.len());
        if batch.producer_epoch == window.epoch {
            let repeated = window
                .batches
                .iter()
                .find(|known| known.first_sequence == first && known.last_sequence == last);
            if let Some(known) = repeated {
                return Ok(Verdict::Duplicate(known.base_offset));
            }
        }
        if batch.producer_epoch < window.epoch {
            return Err(StreamError::InvalidProducerEpoch);
        }
        if batch.producer_epoch > window.epoch {
            return if first == 0 {
                Ok(Verdict::Append)
            } else {
                Err(StreamError::OutOfOrderSequenceNumber)
            };
        }
        match window.batches.back() {
            Some(newest) if !follows(newest.last_sequence, first) => {
                Err(StreamError::OutOfOrderSequenceNumber)
            }
            _ => Ok(Verdict::Append),
        }
    }

    /// Remembers an appended batch of an idempotent producer, evicting the
    /// producer whose newest batch is oldest when more than `producers_max`
    /// are known (a deterministic choice, so replay evicts the same one).
    pub fn record(&mut self, batch: &Batch, producers_max: usize) {
        assert!(
            batch.producer_id() >= 0,
            "only idempotent batches are recorded"
        );
        assert!(
            producers_max > 0,
            "a partition remembers at least one producer"
        );
        let window = self
            .windows
            .entry(batch.producer_id())
            .or_insert_with(|| ProducerWindow {
                epoch: batch.producer_epoch(),
                batches: VecDeque::new(),
            });
        if batch.producer_epoch() != window.epoch {
            window.epoch = batch.producer_epoch();
            window.batches.clear();
        }
        window.batches.push_back(BatchSequence {
            first_sequence: batch.base_sequence(),
            last_sequence: batch.last_sequence(),
            base_offset: batch.base_offset(),
            last_offset: batch.last_offset(),
        });
        if window.batches.len() > PRODUCER_WINDOW_BATCHES {
            window.batches.pop_front();
        }
        while self.windows.len() > producers_max {
            let oldest = self
                .windows
                .iter()
                .min_by_key(|(id, window)| (window.last_offset(), **id))
                .map(|(id, _)| *id)
                .expect("more than one producer is known");
            self.windows.remove(&oldest);
        }
    }

    /// Sets a producer's state as a snapshot recorded it.
    pub fn restore(&mut self, producer_id: i64, window: ProducerWindow) {
        self.windows.insert(producer_id, window);
    }

    /// Every producer's state, by id.
    pub fn iter(&self) -> impl Iterator<Item = (i64, &ProducerWindow)> {
        self.windows.iter().map(|(id, window)| (*id, window))
    }

    /// How many producers are known.
    #[must_use]
    pub fn len(&self) -> usize {
        self.windows.len()
    }

    /// No producer is known.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }

    /// A producer's state, for tests that break it by hand.
    #[cfg(test)]
    pub(crate) fn window_mut(&mut self, producer_id: i64) -> Option<&mut ProducerWindow> {
        self.windows.get_mut(&producer_id)
    }
}

/// Whether `next` is the sequence after `last`, as Kafka's `inSequence`:
/// one more, or 0 after `i32::MAX`.
#[must_use]
pub fn follows(last: i32, next: i32) -> bool {
    (last < i32::MAX && next == last + 1) || (last == i32::MAX && next == 0)
}
