//! `duplicate`: a record of an idempotent producer is stored at one offset
//! only (Jepsen's Kafka anomaly).
//!
//! An idempotent producer sends a batch again with the same sequence
//! numbers, and the broker must acknowledge the repeat with the original
//! offsets instead of appending it. Across acknowledgements and polls, a
//! logical record of such a producer must therefore be at one offset. A
//! producer without idempotence may store a record twice when it retries:
//! that is Kafka's at-least-once, and not judged here.

use super::stream::name;
use super::Violation;
use crate::history::{Entry, History, StreamValue};
use crate::workload::Topology;
use std::collections::{BTreeMap, BTreeSet};

/// The checker's name.
pub const NAME: &str = "duplicate";

/// The first record of an idempotent producer seen at a second offset, if any.
#[must_use]
pub fn check(history: &History, _: &Topology) -> Option<Violation> {
    let mut idempotent: BTreeSet<u64> = BTreeSet::new();
    let mut placed: BTreeMap<u64, (u32, u64)> = BTreeMap::new();
    for timed in history.entries() {
        let found: Vec<(u32, u64, StreamValue)> = match &timed.entry {
            Entry::StreamSend {
                producer,
                idempotent: true,
                ..
            } => {
                idempotent.insert(*producer as u64);
                continue;
            }
            Entry::StreamAck {
                partition,
                base_offset,
                records,
                ..
            } => (0_u64..)
                .zip(records.iter())
                .map(|(index, value)| (*partition, base_offset + index, *value))
                .collect(),
            Entry::StreamPoll {
                partition, records, ..
            } => records
                .iter()
                .filter_map(|(offset, value)| Some((*partition, *offset, (*value)?)))
                .collect(),
            _ => continue,
        };
        for (partition, offset, value) in found {
            if !idempotent.contains(&(value.stamp.payload >> 32)) {
                continue;
            }
            let first = *placed
                .entry(value.stamp.payload)
                .or_insert((partition, offset));
            if first != (partition, offset) {
                let detail = format!(
                    "{} of an idempotent producer is at offset {} of partition {} and at \
                     offset {offset} of partition {partition}",
                    name(&value),
                    first.1,
                    first.0
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
    fn a_repeated_batch_acknowledged_at_its_original_offsets_passes() {
        let history = History::from_entries([
            idempotent_send(0, 0, &[1, 2]),
            stream_ack(0, 0, 10, &[1, 2]),
            idempotent_send(0, 0, &[1, 2]),
            stream_ack(0, 0, 10, &[1, 2]),
            stream_poll(0, 0, &[(10, 1), (11, 2)]),
        ]);
        assert_eq!(check(&history, &topology()), None);
    }

    #[test]
    fn a_record_of_an_idempotent_producer_at_two_offsets_is_a_duplicate() {
        let history = History::from_entries([
            idempotent_send(0, 0, &[1]),
            stream_ack(0, 0, 10, &[1]),
            idempotent_send(0, 0, &[1]),
            stream_ack(0, 0, 11, &[1]),
        ]);
        let violation = check(&history, &topology()).expect("record 1 at 10 and 11");
        assert_eq!(violation.checker, NAME);
    }

    #[test]
    fn a_producer_without_idempotence_may_store_a_retry_twice() {
        let history = History::from_entries([
            stream_send(0, 0, &[1]),
            stream_ack(0, 0, 10, &[1]),
            stream_ack(0, 0, 11, &[1]),
        ]);
        assert_eq!(check(&history, &topology()), None);
    }
}
