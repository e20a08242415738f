//! `no-lost-confirmed`: every copy of a message the broker confirmed is
//! eventually consumed, across broker crashes.
//!
//! A confirm (basic.ack to the publisher) is the broker's promise to keep
//! the message in every queue it was routed to. The promise is about that
//! one publish, so the checker follows publish attempts, not logical
//! messages: a producer's retry that got consumed does not excuse losing the
//! confirmed original. The queues a copy must reach are the workload's own
//! routing table (the `routes` of the publish), not what the broker says it
//! did; a copy counts as consumed when the broker acked it (`Event::Acked`)
//! in its queue or in a queue its dead letters reach (the topology's sinks:
//! an expired or rejected message consumed from its dead-letter queue was
//! not lost).

use super::attempts::Attempts;
use super::Violation;
use crate::history::{Entry, History, Stamp};
use crate::workload::Topology;
use brokerlab_core::Event;
use brokerlab_core::Name;
use std::collections::BTreeMap;

/// The checker's name.
pub const NAME: &str = "no-lost-confirmed";

/// The first confirmed publish with a copy never consumed, if any (run it on a finished run).
#[must_use]
pub fn check(history: &History, topology: &Topology) -> Option<Violation> {
    let mut attempts = Attempts::default();
    let mut confirmed: BTreeMap<u64, (u64, Stamp)> = BTreeMap::new();
    let mut deliveries: BTreeMap<u64, u64> = BTreeMap::new();
    // Per attempt: acks per queue.
    let mut consumed: BTreeMap<u64, BTreeMap<Name, u64>> = BTreeMap::new();
    for timed in history.entries() {
        attempts.observe(&timed.entry);
        match &timed.entry {
            Entry::Confirm {
                stamp, ack: true, ..
            } => {
                confirmed
                    .entry(stamp.attempt)
                    .or_insert((timed.at_ns, *stamp));
            }
            Entry::Deliver {
                stamp: Some(stamp), ..
            } => *deliveries.entry(stamp.attempt).or_default() += 1,
            Entry::Broker {
                event: Event::Acked { message, queue },
                ..
            } => {
                if let Some(attempt) = attempts.of(*message) {
                    let acks = consumed.entry(attempt).or_default();
                    *acks.entry(queue.clone()).or_default() += 1;
                }
            }
            _ => {}
        }
    }
    let mut lost: Vec<(u64, u64, Stamp, Name)> = Vec::new();
    for (attempt, (at_ns, stamp)) in &confirmed {
        let routes = attempts
            .published(*attempt)
            .map(|published| published.routes.clone())
            .unwrap_or_default();
        let mut acks = consumed.remove(attempt).unwrap_or_default();
        for queue in routes.iter() {
            let sink = topology
                .sinks(queue)
                .into_iter()
                .find(|sink| acks.get(sink).is_some_and(|count| *count > 0));
            match sink {
                Some(sink) => *acks.get_mut(&sink).expect("found above") -= 1,
                None => lost.push((*at_ns, *attempt, *stamp, queue.clone())),
            }
        }
    }
    let (at_ns, attempt, stamp, queue) = lost.iter().min()?.clone();
    let delivered = deliveries.get(&attempt).copied().unwrap_or(0);
    Some(Violation::safety(NAME, at_ns, format!(
            "{} confirmed cop(ies) never consumed; first: message {:#x} (attempt {:#x}) in \
             queue {queue}, confirmed here, delivered {delivered} time(s) in all, never acked there",
            lost.len(),
            stamp.payload,
            attempt
        )).about(attempt))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::fixtures::*;
    use crate::history::Settle;

    #[test]
    fn a_confirmed_message_that_is_consumed_passes() {
        let history = History::from_entries([
            publish(1),
            broker_published(1),
            confirm(1),
            consume(1),
            deliver(1, 1, false),
            settle(1, Settle::Ack),
            broker_acked(1),
        ]);
        assert_eq!(check(&history, &topology()), None);
    }

    #[test]
    fn a_confirmed_message_requeued_and_never_seen_again_is_lost() {
        let history = History::from_entries([
            publish(1),
            broker_published(1),
            confirm(1),
            publish(2),
            consume(1),
            deliver(1, 1, false),
            settle(1, Settle::Nack),
        ]);
        let violation = check(&history, &topology()).expect("message 1 was lost");
        assert_eq!(violation.checker, NAME);
        assert!(violation.detail.contains("delivered 1 time"), "{violation}");
    }

    #[test]
    fn a_fanout_copy_consumed_from_one_queue_only_is_lost() {
        let topology = crate::workload::pubsub::topology();
        let mut publish = publish(1);
        if let Entry::Publish { routes, .. } = &mut publish {
            *routes = topology.targets[0].queues.clone();
        }
        let acked = |queue: &str| {
            broker(Event::Acked {
                message: brokerlab_core::MessageId(1),
                queue: queue.into(),
            })
        };
        let all = History::from_entries([
            publish.clone(),
            broker_published(1),
            confirm(1),
            acked("events.audit"),
            acked("events.billing"),
            acked("events.search"),
        ]);
        assert_eq!(check(&all, &topology), None);
        let partial = History::from_entries([
            publish,
            broker_published(1),
            confirm(1),
            acked("events.audit"),
            acked("events.audit"),
        ]);
        let violation = check(&partial, &topology).expect("two copies lost");
        assert!(violation.detail.starts_with("2 confirmed"), "{violation}");
    }
}
