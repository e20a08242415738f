//! `one-owner`: no partition is assigned to two members of one generation
//! (the KIP-848 specification's NoDoubleClientAssignment).
//!
//! A generation's assignment is the leader's, handed out by the
//! coordinator one member at a time in its SyncGroup answers; the members
//! of one generation together hold each partition at most once. A member
//! heard its assignment when its SyncGroup answered (`GroupAssigned`); two
//! such answers of one generation naming one partition for two readers
//! mean two members process it at once, which a coordinator that hands a
//! member its old partitions again, without the leader's say, does.

use super::Violation;
use crate::history::{Entry, History};
use crate::workload::Topology;
use std::collections::BTreeMap;

/// The checker's name.
pub const NAME: &str = "one-owner";

/// The first assignment that gives a partition already held in its
/// generation by another reader, if any.
#[must_use]
pub fn check(history: &History, _: &Topology) -> Option<Violation> {
    let mut owners: BTreeMap<(i32, u32), usize> = BTreeMap::new();
    for timed in history.entries() {
        let Entry::GroupAssigned {
            reader,
            generation,
            partitions,
        } = &timed.entry
        else {
            continue;
        };
        for partition in partitions {
            let owner = *owners.entry((*generation, *partition)).or_insert(*reader);
            if owner != *reader {
                let detail = format!(
                    "partition {partition} was assigned to reader {reader} in generation \
                     {generation}, in which reader {owner} holds it"
                );
                return Some(Violation::safety(NAME, timed.at_ns, detail));
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
    fn each_partition_held_once_per_generation_passes() {
        let history = History::from_entries([
            group_assigned(0, 1, &[0, 1, 2]),
            group_assigned(0, 2, &[0, 1]),
            group_assigned(1, 2, &[2]),
            // The same member told again in its generation holds it still.
            group_assigned(1, 2, &[2]),
        ]);
        assert_eq!(check(&history, &topology()), None);
    }

    #[test]
    fn a_partition_given_to_two_members_of_one_generation_is_a_violation() {
        let history = History::from_entries([
            group_assigned(0, 1, &[0, 1]),
            group_assigned(0, 2, &[0, 1]),
            group_assigned(1, 2, &[1]),
        ]);
        let violation = check(&history, &topology()).expect("partition 1 held twice");
        assert_eq!(violation.checker, NAME);
    }
}
