//! `poll-skip`: a reader's successive polls of a partition skip no offset
//! (Jepsen's Kafka anomaly).
//!
//! A reader reads on from its position: offsets are contiguous, so the
//! next record it is handed is at exactly its position, unless it moved
//! (started, or reset by its policy, which is a seek in the history).
//! A fetch that leaves out records between the position and what it hands
//! out makes the reader skip them for good.

use super::stream::{first_jump, Jump};
use super::Violation;
use crate::history::History;
use crate::workload::Topology;

/// The checker's name.
pub const NAME: &str = "poll-skip";

/// The first record a reader was handed past its position, if any.
#[must_use]
pub fn check(history: &History, _: &Topology) -> Option<Violation> {
    let (at_ns, detail, attempt) = first_jump(history, Jump::Skip)?;
    Some(Violation::safety(NAME, at_ns, detail).about(attempt))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::fixtures::*;

    #[test]
    fn polls_that_read_on_from_the_position_pass() {
        let history = History::from_entries([
            stream_seek(0, 0, None, 0),
            stream_poll(0, 0, &[(0, 1), (1, 2)]),
            stream_poll(0, 0, &[(2, 3)]),
            stream_seek(0, 0, Some(3), 7),
            stream_poll(0, 0, &[(7, 4)]),
        ]);
        assert_eq!(check(&history, &topology()), None);
    }

    #[test]
    fn a_poll_past_the_position_is_a_skip() {
        let history = History::from_entries([
            stream_seek(0, 0, None, 0),
            stream_poll(0, 0, &[(0, 1), (1, 2)]),
            stream_poll(0, 0, &[(3, 3)]),
        ]);
        let violation = check(&history, &topology()).expect("offset 2 skipped");
        assert_eq!(violation.checker, NAME);
    }
}
