//! `stale-commit-fenced`: no offset commit naming a generation older than
//! one already handed out is acknowledged.
//!
//! The coordinator accepts a commit only from a member of the group's
//! current generation: that fence is what keeps a member that has not yet
//! heard of a rebalance from committing over the partitions' new owners.
//! Generations are durable before any member hears of them, so once some
//! member was told of generation `g` (its SyncGroup answered), a commit
//! sent after that which names a generation below `g` must be refused.

use super::Violation;
use crate::history::{Entry, History};
use crate::workload::Topology;

/// The checker's name.
pub const NAME: &str = "stale-commit-fenced";

/// The first acknowledged commit sent after a newer generation was handed out, if any.
#[must_use]
pub fn check(history: &History, _: &Topology) -> Option<Violation> {
    // The generations handed out, with when each was first heard of, in history order.
    let mut handed_out: Vec<(u64, i32)> = Vec::new();
    for timed in history.entries() {
        match &timed.entry {
            Entry::GroupAssigned { generation, .. } => {
                handed_out.push((timed.at_ns, *generation));
            }
            Entry::GroupCommitted {
                reader,
                sent_ns,
                generation,
                partition,
                offset,
            } => {
                let newer = (handed_out.iter())
                    .filter(|(at_ns, _)| at_ns < sent_ns)
                    .map(|(_, handed)| *handed)
                    .max()
                    .filter(|newest| newest > generation);
                if let Some(newest) = newer {
                    let detail = format!(
                        "reader {reader}'s commit of {offset} in partition {partition} named \
                         generation {generation} and was acknowledged, though generation \
                         {newest} had been handed out before it was sent"
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
    fn commits_of_the_newest_generation_pass() {
        let history = History::from_entries([
            group_assigned(0, 1, &[0]),
            group_committed_sent(0, 1, 1, 0, 3),
            group_assigned(1, 2, &[0]),
            // Sent before generation 2 was handed out: not stale when sent.
            group_committed_sent(0, 1, 1, 0, 4),
            group_committed_sent(1, 3, 2, 0, 5),
        ]);
        assert_eq!(check(&history, &topology()), None);
    }

    #[test]
    fn a_commit_of_an_old_generation_acknowledged_is_a_violation() {
        let history = History::from_entries([
            group_assigned(0, 1, &[0]),
            group_assigned(1, 2, &[0]),
            group_committed_sent(0, 2, 1, 0, 4),
        ]);
        let violation = check(&history, &topology()).expect("generation 1 after 2");
        assert_eq!(violation.checker, NAME);
    }
}
