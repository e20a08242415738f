//! `nonmonotonic-poll`: a reader's successive polls of a partition never go
//! back (Jepsen's Kafka anomaly).
//!
//! Outside a seek (its start, or a reset by its policy), the next record a
//! reader is handed is never below its position: a broker that hands out
//! records below the offset asked for, or out of offset order, makes the
//! reader read them twice.

use super::stream::{first_jump, Jump};
use super::Violation;
use crate::history::History;
use crate::workload::Topology;

/// The checker's name.
pub const NAME: &str = "nonmonotonic-poll";

/// The first record a reader was handed below its position, if any.
#[must_use]
pub fn check(history: &History, _: &Topology) -> Option<Violation> {
    let (at_ns, detail, attempt) = first_jump(history, Jump::Back)?;
    Some(Violation::safety(NAME, at_ns, detail).about(attempt))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::fixtures::*;

    #[test]
    fn a_reset_back_to_the_log_start_is_no_violation() {
        let history = History::from_entries([
            stream_seek(0, 0, None, 5),
            stream_poll(0, 0, &[(5, 1)]),
            stream_seek(0, 0, Some(6), 0),
            stream_poll(0, 0, &[(0, 2)]),
        ]);
        assert_eq!(check(&history, &topology()), None);
    }

    #[test]
    fn a_poll_below_the_position_goes_back() {
        let history = History::from_entries([
            stream_seek(0, 0, None, 0),
            stream_poll(0, 0, &[(0, 1), (1, 2)]),
            stream_poll(0, 0, &[(1, 2)]),
        ]);
        let violation = check(&history, &topology()).expect("offset 1 again");
        assert_eq!(violation.checker, NAME);
    }
}
