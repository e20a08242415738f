//! `reply-correlated`: a requester gets only replies to its own requests.
//!
//! Each reply must carry a `correlation_id` naming a logical message the
//! requester itself sent (its number in the high bits), and its body must
//! name the same message: a reply to someone else's request, or one whose
//! correlation and body disagree, is a mix-up between request and reply.

use super::Violation;
use crate::history::{Entry, History};
use crate::workload::Topology;
use std::collections::BTreeSet;

/// The checker's name.
pub const NAME: &str = "reply-correlated";

/// The first reply that answers the wrong request, if any.
#[must_use]
pub fn check(history: &History, _: &Topology) -> Option<Violation> {
    let mut requested: BTreeSet<u64> = BTreeSet::new();
    for timed in history.entries() {
        match &timed.entry {
            Entry::Publish { stamp, .. } => {
                requested.insert(stamp.payload);
            }
            Entry::Answer {
                requester,
                correlation,
                payload,
            } => {
                let correlated = correlation
                    .as_deref()
                    .and_then(|text| text.parse::<u64>().ok());
                let fine = correlated.is_some_and(|asked| {
                    asked >> 32 == *requester as u64
                        && *payload == Some(asked)
                        && requested.contains(&asked)
                });
                if !fine {
                    return Some(Violation::safety(
                        NAME,
                        timed.at_ns,
                        format!(
                            "requester {requester} got a reply with correlation id {correlation:?} \
                             for message {payload:?}"
                        ),
                    ));
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

    fn answer(requester: usize, correlation: &str, payload: u64) -> Entry {
        Entry::Answer {
            requester,
            correlation: Some(correlation.to_owned()),
            payload: Some(payload),
        }
    }

    #[test]
    fn a_reply_to_ones_own_request_passes() {
        let history = History::from_entries([publish(1), answer(0, "1", 1)]);
        assert_eq!(check(&history, &topology()), None);
    }

    #[test]
    fn a_reply_to_another_requesters_request_fails() {
        let other = 1 << 32 | 1;
        let mut request = publish(1);
        if let Entry::Publish { stamp, .. } = &mut request {
            stamp.payload = other;
        }
        let history = History::from_entries([request, answer(0, &other.to_string(), other)]);
        let violation = check(&history, &topology()).expect("not its request");
        assert_eq!(violation.checker, NAME);
    }

    #[test]
    fn a_reply_whose_body_and_correlation_disagree_fails() {
        let history = History::from_entries([publish(1), publish(2), answer(0, "1", 2)]);
        assert!(check(&history, &topology()).is_some());
    }
}
