//! `inconsistent-offsets`: one offset of a partition never holds two
//! records (Jepsen's Kafka anomaly).
//!
//! Every acknowledgement says at which offsets its records are, and every
//! poll at which offsets it found its records; taken together, an offset
//! must name one logical record. A broker that acknowledges a record a
//! crash then takes back, and gives its offset to another, breaks it.

use super::stream::name;
use super::Violation;
use crate::history::{Entry, History, StreamValue};
use crate::workload::Topology;
use std::collections::BTreeMap;

/// The checker's name.
pub const NAME: &str = "inconsistent-offsets";

/// The first offset seen holding a second record, if any.
#[must_use]
pub fn check(history: &History, _: &Topology) -> Option<Violation> {
    let mut held: BTreeMap<(u32, u64), StreamValue> = BTreeMap::new();
    for timed in history.entries() {
        let placed: Vec<(u32, u64, StreamValue)> = match &timed.entry {
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
        for (partition, offset, value) in placed {
            let first = *held.entry((partition, offset)).or_insert(value);
            if first.stamp.payload != value.stamp.payload {
                let detail = format!(
                    "offset {offset} of partition {partition} holds {} and {}",
                    name(&first),
                    name(&value)
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
    fn an_offset_read_as_acknowledged_passes() {
        let history = History::from_entries([
            stream_send(0, 0, &[1, 2]),
            stream_ack(0, 0, 10, &[1, 2]),
            stream_poll(0, 0, &[(10, 1), (11, 2)]),
        ]);
        assert_eq!(check(&history, &topology()), None);
    }

    #[test]
    fn an_offset_read_holding_another_record_than_acknowledged_is_inconsistent() {
        let history = History::from_entries([
            stream_send(0, 0, &[1]),
            stream_ack(0, 0, 10, &[1]),
            stream_poll(0, 0, &[(10, 2)]),
        ]);
        let violation = check(&history, &topology()).expect("offset 10 holds two records");
        assert_eq!(violation.checker, NAME);
    }
}
