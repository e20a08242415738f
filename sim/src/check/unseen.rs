//! `unseen`: every acknowledged record is read by the end of the run
//! (Jepsen's Kafka anomaly).
//!
//! Readers stop only once every producer is done and a poll sent after
//! that found nothing new, so at the end of the heal phase every
//! acknowledged record should have been read by someone, unless a
//! reader's reset passed over its offset (retention took it, or the reset
//! policy skipped it). Judged on the settled run.

use super::stream::{acknowledged, name, Reads};
use super::Violation;
use crate::history::History;
use crate::workload::Topology;

/// The checker's name.
pub const NAME: &str = "unseen";

/// The first acknowledged record nobody read, if any.
#[must_use]
pub fn check(history: &History, _: &Topology) -> Option<Violation> {
    let reads = Reads::of(history);
    acknowledged(history).into_iter().find_map(|acked| {
        let unseen = !reads.payloads.contains(&acked.value.stamp.payload)
            && !reads.passed_over(acked.partition, acked.offset);
        unseen.then(|| {
            let detail = format!(
                "{} was acknowledged to producer {} at offset {} of partition {} and never read",
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
    fn every_acknowledged_record_read_passes() {
        let history = History::from_entries([
            stream_ack(0, 0, 0, &[1]),
            stream_ack(0, 1, 0, &[2]),
            stream_poll(0, 0, &[(0, 1)]),
            stream_poll(1, 1, &[(0, 2)]),
        ]);
        assert_eq!(check(&history, &topology()), None);
    }

    #[test]
    fn an_acknowledged_record_never_read_is_unseen() {
        let history = History::from_entries([
            stream_ack(0, 0, 0, &[1]),
            stream_ack(0, 1, 0, &[2]),
            stream_poll(0, 0, &[(0, 1)]),
        ]);
        let violation = check(&history, &topology()).expect("record 2 never read");
        assert_eq!(violation.checker, NAME);
    }
}
