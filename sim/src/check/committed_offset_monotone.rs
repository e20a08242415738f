//! `committed-offset-monotone`: a group's committed offset of a partition
//! never goes back below an acknowledged commit.
//!
//! Members commit the position their work reached, and a new owner starts
//! at the committed offset, so under the generation fence the committed
//! offset only grows. Once a commit's acknowledgement reached its member,
//! an OffsetFetch sent after that must answer at least that offset: a
//! lower answer means the coordinator let a stale member's commit through,
//! or lost or rolled back a commit it had acknowledged (a recovery that
//! replays old commits over new ones).

use super::Violation;
use crate::history::{Entry, History};
use crate::workload::Topology;
use std::collections::BTreeMap;

/// The checker's name.
pub const NAME: &str = "committed-offset-monotone";

/// The first committed offset fetched below one acknowledged before the fetch was sent, if any.
#[must_use]
pub fn check(history: &History, _: &Topology) -> Option<Violation> {
    // Per partition, the acknowledged commits in the order their acknowledgements arrived.
    let mut acknowledged: BTreeMap<u32, Vec<(u64, u64, usize)>> = BTreeMap::new();
    for timed in history.entries() {
        match &timed.entry {
            Entry::GroupCommitted {
                reader,
                partition,
                offset,
                ..
            } => {
                let commits = acknowledged.entry(*partition).or_default();
                commits.push((timed.at_ns, *offset, *reader));
            }
            Entry::GroupOffsetFetched {
                reader,
                sent_ns,
                partition,
                offset,
            } => {
                let commits = acknowledged.get(partition).map_or(&[][..], Vec::as_slice);
                let before = commits.iter().filter(|(at_ns, ..)| at_ns < sent_ns);
                let Some(&(_, highest, by)) = before.max_by_key(|(_, offset, _)| *offset) else {
                    continue;
                };
                if offset.is_none_or(|offset| offset < highest) {
                    let found = offset.map_or("none".to_owned(), |o| o.to_string());
                    let detail = format!(
                        "reader {reader} fetched partition {partition}'s committed offset as \
                         {found}, after reader {by}'s commit of {highest} was acknowledged"
                    );
                    return Some(Violation::safety(NAME, timed.at_ns, detail));
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::fixtures::*;

    #[test]
    fn fetches_at_or_above_every_acknowledged_commit_pass() {
        let history = History::from_entries([
            group_committed(0, 1, 0, 4),
            group_committed(0, 1, 0, 9),
            group_fetched(1, 2, 0, Some(9)),
            group_committed(1, 2, 0, 12),
            // Sent before the commit of 12 was acknowledged: 9 is all it may see.
            group_fetched(0, 2, 0, Some(9)),
        ]);
        assert_eq!(check(&history, &topology()), None);
    }

    #[test]
    fn a_fetch_below_an_acknowledged_commit_is_a_violation() {
        let history = History::from_entries([
            group_committed(0, 1, 0, 4),
            group_committed(0, 1, 0, 9),
            group_fetched(1, 2, 0, Some(4)),
        ]);
        let violation = check(&history, &topology()).expect("offset 9 went back to 4");
        assert_eq!(violation.checker, NAME);
    }

    #[test]
    fn a_fetch_that_finds_no_commit_after_one_was_acknowledged_is_a_violation() {
        let history =
            History::from_entries([group_committed(0, 1, 0, 4), group_fetched(1, 1, 0, None)]);
        assert!(check(&history, &topology()).is_some());
    }
}
