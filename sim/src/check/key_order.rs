//! `key-order`: the records of one key from one producer stand in a
//! partition's log in the order they were produced.
//!
//! A key always goes to one partition, and a producer sends a partition's
//! batches in order (one at a time without idempotence; with it, sequence
//! numbers keep them in order), so along a partition's log the first copy
//! of each record of a key comes in produce order. Later copies (a retry
//! stored twice) are not counted: a reader that starts at a group's
//! committed offset may meet a retried copy before the first copy of a
//! later record, and that is the log's order, not a fault. The log is
//! judged as the readers saw it, every offset any reader was handed.

use super::stream::name;
use super::Violation;
use crate::history::{Entry, History, StreamValue};
use crate::workload::Topology;
use std::collections::{BTreeMap, BTreeSet};

/// The checker's name.
pub const NAME: &str = "key-order";

/// The first record whose first copy in its partition's log stands after
/// the first copy of a later record of its key and producer, if any.
#[must_use]
pub fn check(history: &History, _: &Topology) -> Option<Violation> {
    // Per partition, by offset: the record read there and when it was first read.
    let mut logs: BTreeMap<u32, BTreeMap<u64, (StreamValue, u64)>> = BTreeMap::new();
    for timed in history.entries() {
        if let Entry::StreamPoll {
            partition, records, ..
        } = &timed.entry
        {
            let log = logs.entry(*partition).or_default();
            for (offset, value) in records {
                if let Some(value) = value {
                    log.entry(*offset).or_insert((*value, timed.at_ns));
                }
            }
        }
    }
    for (partition, log) in &logs {
        let mut seen: BTreeSet<u64> = BTreeSet::new();
        let mut newest: BTreeMap<(u64, u32), u64> = BTreeMap::new();
        for (offset, (value, at_ns)) in log {
            let payload = value.stamp.payload;
            if !seen.insert(payload) {
                continue;
            }
            let (producer, number) = (payload >> 32, payload & 0xffff_ffff);
            let before = newest.insert((producer, value.key), number);
            if let Some(before) = before.filter(|before| *before > number) {
                let detail = format!(
                    "{} of key k{} stands at offset {offset} of partition {partition}, after \
                     m{producer}.{before}",
                    name(value),
                    value.key
                );
                return Some(Violation::safety(NAME, *at_ns, detail).about(value.stamp.attempt));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::fixtures::*;

    #[test]
    fn each_key_read_in_produce_order_passes() {
        // Records 1 and 3 have key k1, 2 has key k0; a retry of 1 is read again.
        let history = History::from_entries([stream_poll(0, 0, &[(0, 2), (1, 1), (2, 1), (3, 3)])]);
        assert_eq!(check(&history, &topology()), None);
    }

    #[test]
    fn a_reader_starting_among_retried_copies_passes() {
        // 1 and 3 (key k1) at 0 and 1, then a retried copy of 1 at 2: a
        // reader that starts at 1 meets 3 before a copy of 1.
        let history = History::from_entries([
            stream_poll(0, 0, &[(0, 1), (1, 3), (2, 1)]),
            stream_poll(1, 0, &[(1, 3), (2, 1)]),
        ]);
        assert_eq!(check(&history, &topology()), None);
    }

    #[test]
    fn a_record_read_after_a_later_one_of_its_key_is_out_of_order() {
        let history = History::from_entries([stream_poll(0, 0, &[(0, 3), (1, 1)])]);
        let violation = check(&history, &topology()).expect("3 before 1, both k1");
        assert_eq!(violation.checker, NAME);
    }
}
