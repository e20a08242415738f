//! `at-least-once`: every acknowledged record is processed by the group:
//! read by a member and then covered by an acknowledged commit.
//!
//! A member commits the position its work on a poll reached, so a
//! partition's acknowledged commits (and the committed offsets members
//! fetch, which show a commit whose acknowledgement was lost) cover what
//! the group has processed;
//! a record a member read but whose commit never came through is read
//! again by the partition's next owner. At the end of the heal phase every
//! member has committed what it read, so each acknowledged record must lie
//! below some acknowledged commit of its partition and have been read,
//! unless a reset passed over it (retention took it first). Judged on the
//! settled run, and only on a run whose readers read in a group.

use super::stream::{acknowledged, name, Reads};
use super::Violation;
use crate::history::{Entry, History};
use crate::workload::Topology;
use std::collections::BTreeMap;

/// The checker's name.
pub const NAME: &str = "at-least-once";

/// The first acknowledged record the group did not process, if any.
#[must_use]
pub fn check(history: &History, _: &Topology) -> Option<Violation> {
    let mut committed: BTreeMap<u32, u64> = BTreeMap::new();
    let mut in_a_group = false;
    for timed in history.entries() {
        match &timed.entry {
            Entry::GroupAssigned { .. } => in_a_group = true,
            Entry::GroupCommitted {
                partition, offset, ..
            }
            | Entry::GroupOffsetFetched {
                partition,
                offset: Some(offset),
                ..
            } => {
                let highest = committed.entry(*partition).or_default();
                *highest = (*highest).max(*offset);
            }
            _ => {}
        }
    }
    if !in_a_group {
        return None;
    }
    let reads = Reads::of(history);
    acknowledged(history).into_iter().find_map(|acked| {
        if reads.passed_over(acked.partition, acked.offset) {
            return None;
        }
        let read = reads.payloads.contains(&acked.value.stamp.payload);
        let covered = committed
            .get(&acked.partition)
            .is_some_and(|offset| acked.offset < *offset);
        let missing = match (read, covered) {
            (true, true) => return None,
            (false, _) => "never read",
            (true, false) => "read, but no commit past it was acknowledged",
        };
        let detail = format!(
            "{} was acknowledged to producer {} at offset {} of partition {}, and {missing}",
            name(&acked.value),
            acked.producer,
            acked.offset,
            acked.partition
        );
        Some(Violation::safety(NAME, acked.at_ns, detail).about(acked.value.stamp.attempt))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::fixtures::*;

    #[test]
    fn records_read_and_committed_past_pass() {
        let history = History::from_entries([
            group_assigned(0, 1, &[0]),
            stream_ack(0, 0, 0, &[1, 2]),
            stream_poll(0, 0, &[(0, 1), (1, 2)]),
            group_committed(0, 1, 0, 2),
        ]);
        assert_eq!(check(&history, &topology()), None);
    }

    #[test]
    fn a_record_read_but_never_committed_past_is_a_violation() {
        let history = History::from_entries([
            group_assigned(0, 1, &[0]),
            stream_ack(0, 0, 0, &[1, 2]),
            stream_poll(0, 0, &[(0, 1), (1, 2)]),
            group_committed(0, 1, 0, 1),
        ]);
        let violation = check(&history, &topology()).expect("offset 1 not committed");
        assert_eq!(violation.checker, NAME);
    }

    #[test]
    fn readers_outside_a_group_are_not_judged() {
        let history = History::from_entries([stream_ack(0, 0, 0, &[1])]);
        assert_eq!(check(&history, &topology()), None);
    }
}
