//! `pubsub-no-phantom`: a Pub/Sub subscriber reads only what a publisher
//! published, on the channel it was published to, after it was sent.

use super::Violation;
use crate::history::{Entry, History};
use crate::workload::Topology;
use bytes::Bytes;
use std::collections::BTreeMap;

/// The checker's name.
pub const NAME: &str = "pubsub-no-phantom";

/// The first message read that no publisher sent (before it), if any.
#[must_use]
pub fn check(history: &History, _: &Topology) -> Option<Violation> {
    let mut sent: BTreeMap<(usize, u64), Bytes> = BTreeMap::new();
    for timed in history.entries() {
        match &timed.entry {
            Entry::PubSubPublish {
                publisher,
                seq,
                channel,
                ..
            } => {
                sent.insert((*publisher, *seq), channel.clone());
            }
            Entry::PubSubMessage {
                subscriber,
                channel,
                sent: named,
                ..
            } => {
                let detail = match named {
                    None => "a body no publisher wrote".to_owned(),
                    Some(key) => match sent.get(key) {
                        Some(published) if published == channel => continue,
                        Some(published) => format!(
                            "message {} of publisher {} on {}, published on {}",
                            key.1,
                            key.0,
                            String::from_utf8_lossy(channel),
                            String::from_utf8_lossy(published)
                        ),
                        None => {
                            format!("message {} of publisher {}, never published", key.1, key.0)
                        }
                    },
                };
                return Some(Violation::safety(
                    NAME,
                    timed.at_ns,
                    format!("subscriber {subscriber} read {detail}"),
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
    use crate::check::pubsub_fixtures::*;

    #[test]
    fn reading_a_published_message_passes() {
        let history = History::from_entries([subscribe(1), publish(0), message(1, 0)]);
        assert_eq!(check(&history, &Topology::default()), None);
    }

    #[test]
    fn reading_a_message_never_published_is_a_phantom() {
        let history = History::from_entries([subscribe(1), publish(0), message(1, 1)]);
        let violation = check(&history, &Topology::default()).expect("never published");
        assert_eq!(violation.checker, NAME);
    }
}
