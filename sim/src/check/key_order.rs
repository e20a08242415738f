//! `key-order`: a reader reads the records of one key from one producer in
//! the order they were produced, within a partition.
//!
//! A key always goes to one partition, and a producer sends a partition's
//! batches in order (one at a time without idempotence; with it, sequence
//! numbers keep them in order), so the first time a reader meets each
//! record of a key, it meets them in produce order. Records read again
//! (a retry stored twice, a reset) are not counted twice.

use super::stream::name;
use super::Violation;
use crate::history::{Entry, History};
use crate::workload::Topology;
use std::collections::{BTreeMap, BTreeSet};

/// The checker's name.
pub const NAME: &str = "key-order";

/// The first record a reader met after a later record of its key and producer, if any.
#[must_use]
pub fn check(history: &History, _: &Topology) -> Option<Violation> {
    let mut seen: BTreeSet<(usize, u32, u64)> = BTreeSet::new();
    let mut newest: BTreeMap<(usize, u32, u64, u32), u64> = BTreeMap::new();
    for timed in history.entries() {
        let Entry::StreamPoll {
            reader,
            partition,
            records,
        } = &timed.entry
        else {
            continue;
        };
        for value in records.iter().filter_map(|(_, value)| *value) {
            let payload = value.stamp.payload;
            if !seen.insert((*reader, *partition, payload)) {
                continue;
            }
            let (producer, number) = (payload >> 32, payload & 0xffff_ffff);
            let key = (*reader, *partition, producer, value.key);
            let before = newest.insert(key, number);
            if let Some(before) = before.filter(|before| *before > number) {
                newest.insert(key, before);
                let detail = format!(
                    "reader {reader} met {} of key k{} in partition {partition} after m{producer}.{before}",
                    name(&value),
                    value.key
                );
                return Some(
                    Violation::safety(NAME, timed.at_ns, detail).about(value.stamp.attempt),
                );
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
    fn a_record_read_after_a_later_one_of_its_key_is_out_of_order() {
        let history = History::from_entries([stream_poll(0, 0, &[(0, 3), (1, 1)])]);
        let violation = check(&history, &topology()).expect("3 before 1, both k1");
        assert_eq!(violation.checker, NAME);
    }
}
