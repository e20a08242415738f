//! What the stream checkers share: the facts a stream history states, read
//! from the clients' side alone (what producers sent and were acknowledged
//! at which offsets, where readers started or reset, what each poll
//! returned).

use crate::history::{Entry, History, StreamValue};
use std::collections::{BTreeMap, BTreeSet};

/// A record acknowledged at an offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Acked {
    /// When the acknowledgement arrived.
    pub(super) at_ns: u64,
    /// The producer.
    pub(super) producer: usize,
    /// The partition.
    pub(super) partition: u32,
    /// The offset the acknowledgement gives it.
    pub(super) offset: u64,
    /// The record.
    pub(super) value: StreamValue,
}

/// Every record an acknowledgement placed, in the order acknowledged.
pub(super) fn acknowledged(history: &History) -> Vec<Acked> {
    let mut acked = Vec::new();
    for timed in history.entries() {
        if let Entry::StreamAck {
            producer,
            partition,
            base_offset,
            records,
            ..
        } = &timed.entry
        {
            for (index, value) in records.iter().enumerate() {
                acked.push(Acked {
                    at_ns: timed.at_ns,
                    producer: *producer,
                    partition: *partition,
                    offset: base_offset + index as u64,
                    value: *value,
                });
            }
        }
    }
    acked
}

/// What the readers read, and which offsets their resets passed over.
#[derive(Clone, Debug, Default)]
pub(super) struct Reads {
    /// Every logical record read, anywhere.
    pub(super) payloads: BTreeSet<u64>,
    /// Per partition, the highest offset read.
    pub(super) highest: BTreeMap<u32, u64>,
    /// Per partition, the ranges `from..to` a reset moved a reader over
    /// (retention took them, or the policy skipped them).
    pub(super) skipped: BTreeMap<u32, Vec<(u64, u64)>>,
}

impl Reads {
    /// The reads of a whole history.
    pub(super) fn of(history: &History) -> Reads {
        let mut reads = Reads::default();
        for timed in history.entries() {
            match &timed.entry {
                Entry::StreamPoll {
                    partition, records, ..
                } => {
                    for (offset, value) in records {
                        let highest = reads.highest.entry(*partition).or_default();
                        *highest = (*highest).max(*offset);
                        if let Some(value) = value {
                            reads.payloads.insert(value.stamp.payload);
                        }
                    }
                }
                Entry::StreamSeek {
                    partition,
                    from: Some(from),
                    offset,
                    ..
                } if from < offset => {
                    let ranges = reads.skipped.entry(*partition).or_default();
                    ranges.push((*from, *offset));
                }
                _ => {}
            }
        }
        reads
    }

    /// Whether a reset moved a reader over `offset` of `partition`.
    pub(super) fn passed_over(&self, partition: u32, offset: u64) -> bool {
        self.skipped.get(&partition).is_some_and(|ranges| {
            ranges
                .iter()
                .any(|(from, to)| (*from..*to).contains(&offset))
        })
    }
}

/// A logical record's producer and number, as `m<producer>.<number>`.
pub(super) fn name(value: &StreamValue) -> String {
    let payload = value.stamp.payload;
    format!("m{}.{}", payload >> 32, payload & 0xffff_ffff)
}

/// How a reader's next record stands to its position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Jump {
    /// Past the position: records were skipped.
    Skip,
    /// Below the position: the reader went back.
    Back,
}

/// The first record of a poll, in history order, that jumps as `jump`
/// from the position its reader was at (set by its seeks, advanced by each
/// record it read): when, and a sentence.
pub(super) fn first_jump(history: &History, jump: Jump) -> Option<(u64, String, u64)> {
    let mut positions: BTreeMap<(usize, u32), u64> = BTreeMap::new();
    for timed in history.entries() {
        match &timed.entry {
            Entry::StreamSeek {
                reader,
                partition,
                offset,
                ..
            } => {
                positions.insert((*reader, *partition), *offset);
            }
            Entry::StreamPoll {
                reader,
                partition,
                records,
            } => {
                for (offset, value) in records {
                    let position = positions.insert((*reader, *partition), offset + 1);
                    let found = match position {
                        Some(position) if *offset > position => Jump::Skip,
                        Some(position) if *offset < position => Jump::Back,
                        _ => continue,
                    };
                    if found == jump {
                        let expected = position.expect("matched above");
                        let detail = format!(
                            "reader {reader} at offset {expected} of partition {partition} \
                             was handed offset {offset} next"
                        );
                        let attempt = value.map_or(0, |v| v.stamp.attempt);
                        return Some((timed.at_ns, detail, attempt));
                    }
                }
            }
            _ => {}
        }
    }
    None
}
