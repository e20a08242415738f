//! `nonmonotonic-send`: a producer's acknowledged offsets in one partition
//! only grow (Jepsen's Kafka anomaly).
//!
//! A producer sends a partition's batches in order, so each batch the
//! broker appends goes after the ones before it: the acknowledgements of a
//! producer's appends to one partition, in the order they arrive, carry
//! rising base offsets. An acknowledgement of a repeated batch (the broker
//! appended nothing and answers with the original offsets) is left out.

use super::Violation;
use crate::history::{Entry, History};
use crate::workload::Topology;
use std::collections::BTreeMap;

/// The checker's name.
pub const NAME: &str = "nonmonotonic-send";

/// The first append acknowledged below an earlier one of its producer and partition, if any.
#[must_use]
pub fn check(history: &History, _: &Topology) -> Option<Violation> {
    let mut last: BTreeMap<(usize, u32), u64> = BTreeMap::new();
    for timed in history.entries() {
        let Entry::StreamAck {
            producer,
            partition,
            base_offset,
            duplicate: false,
            records,
            ..
        } = &timed.entry
        else {
            continue;
        };
        let previous = last.insert((*producer, *partition), *base_offset);
        if previous.is_some_and(|previous| previous >= *base_offset) {
            let detail = format!(
                "producer {producer} was acknowledged at offset {base_offset} of partition \
                 {partition} after offset {}",
                previous.expect("checked above")
            );
            let attempt = records.first().map_or(0, |value| value.stamp.attempt);
            return Some(Violation::safety(NAME, timed.at_ns, detail).about(attempt));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::fixtures::*;

    #[test]
    fn rising_acknowledged_offsets_pass() {
        let history = History::from_entries([
            stream_ack(0, 0, 10, &[1, 2]),
            stream_ack(0, 0, 12, &[3]),
            stream_ack(0, 1, 0, &[4]),
        ]);
        assert_eq!(check(&history, &topology()), None);
    }

    #[test]
    fn an_append_acknowledged_below_an_earlier_one_is_nonmonotonic() {
        let history =
            History::from_entries([stream_ack(0, 0, 10, &[1]), stream_ack(0, 0, 10, &[2])]);
        let violation = check(&history, &topology()).expect("offset 10 twice");
        assert_eq!(violation.checker, NAME);
    }
}
