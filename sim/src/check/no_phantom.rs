//! `no-phantom`: nothing is delivered that was never published.
//!
//! Every delivery must carry a body some producer wrote, from a publish that
//! the history shows before the delivery, with the same logical message.

use super::Violation;
use crate::history::{Entry, History};
use crate::workload::Topology;
use std::collections::BTreeMap;

/// The checker's name.
pub const NAME: &str = "no-phantom";

/// The first delivery of something never published, if any.
#[must_use]
pub fn check(history: &History, _: &Topology) -> Option<Violation> {
    let mut published: BTreeMap<u64, u64> = BTreeMap::new();
    for timed in history.entries() {
        match &timed.entry {
            Entry::Publish { stamp, .. } => {
                published.insert(stamp.attempt, stamp.payload);
            }
            Entry::Deliver {
                consumer,
                delivery_tag,
                stamp,
                ..
            } => {
                let detail = match stamp {
                    None => "a body no producer wrote".to_owned(),
                    Some(stamp) => match published.get(&stamp.attempt) {
                        Some(payload) if *payload == stamp.payload => continue,
                        Some(payload) => format!(
                            "attempt {:#x} as message {:#x}, published as {payload:#x}",
                            stamp.attempt, stamp.payload
                        ),
                        None => format!("attempt {:#x}, never published", stamp.attempt),
                    },
                };
                return Some(Violation::safety(
                    NAME,
                    timed.at_ns,
                    format!("consumer {consumer} got delivery {delivery_tag} of {detail}"),
                ));
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
    fn delivering_a_published_message_passes() {
        let history = History::from_entries([publish(1), consume(1), deliver(1, 1, false)]);
        assert_eq!(check(&history, &topology()), None);
    }

    #[test]
    fn delivering_before_the_publish_is_a_phantom() {
        let history = History::from_entries([consume(1), deliver(1, 1, false), publish(1)]);
        let violation = check(&history, &topology()).expect("delivered before published");
        assert_eq!(violation.checker, NAME);
    }
}
