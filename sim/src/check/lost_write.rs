//! `lost-write`: no acknowledged record below the highest offset read in
//! its partition goes unread (Jepsen's Kafka anomaly).
//!
//! Readers read each partition in offset order, so once some reader has
//! read past an acknowledged record's offset, that record should have been
//! read. One never read, by anyone, by the end of the run, was lost, unless
//! a reader's reset passed over its offset (retention took it, or the
//! reset policy skipped it). Judged on the settled run.

use super::stream::{acknowledged, name, Reads};
use super::Violation;
use crate::history::History;
use crate::workload::Topology;

/// The checker's name.
pub const NAME: &str = "lost-write";

/// The first acknowledged record below a read offset that nobody read, if any.
#[must_use]
pub fn check(history: &History, _: &Topology) -> Option<Violation> {
    let reads = Reads::of(history);
    acknowledged(history).into_iter().find_map(|acked| {
        let highest = *reads.highest.get(&acked.partition)?;
        let lost = highest > acked.offset
            && !reads.payloads.contains(&acked.value.stamp.payload)
            && !reads.passed_over(acked.partition, acked.offset);
        lost.then(|| {
            let detail = format!(
                "{} was acknowledged to producer {} at offset {} of partition {}, \
                 which was read up to offset {highest}, and never read",
                name(&acked.value),
                acked.producer,
                acked.offset,
                acked.partition
            );
            Violation::safety(NAME, acked.at_ns, detail).about(acked.value.stamp.attempt)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::fixtures::*;

    #[test]
    fn every_record_below_the_highest_read_was_read() {
        let history = History::from_entries([
            stream_ack(0, 0, 0, &[1, 2]),
            stream_poll(0, 0, &[(0, 1), (1, 2)]),
        ]);
        assert_eq!(check(&history, &topology()), None);
    }

    #[test]
    fn a_record_a_reset_passed_over_is_not_lost() {
        let history = History::from_entries([
            stream_ack(0, 0, 0, &[1, 2]),
            stream_seek(0, 0, Some(0), 1),
            stream_poll(0, 0, &[(1, 2)]),
        ]);
        assert_eq!(check(&history, &topology()), None);
    }

    #[test]
    fn an_acknowledged_record_below_a_read_one_never_read_is_lost() {
        let history =
            History::from_entries([stream_ack(0, 0, 0, &[1, 2]), stream_poll(0, 0, &[(1, 2)])]);
        let violation = check(&history, &topology()).expect("record 1 at offset 0 lost");
        assert_eq!(violation.checker, NAME);
    }
}
