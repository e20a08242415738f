//! `redrive-accounting`: an SQS message appears in the dead-letter queue
//! only after it was received `maxReceiveCount` times from its queue, and
//! every message received that often and never deleted there ends in the
//! dead-letter queue.
//!
//! The receives counted are those the consumers heard of, plus the
//! receives whose answer never came (one of them may have taken the
//! message), or the `ApproximateReceiveCount` the broker reported, whichever
//! is higher; no receive of the queue may report more than
//! `maxReceiveCount`. A broker crash may count a message's receives anew
//! from what its log kept, which only delays a redrive.
//!
//! Judged on the settled run only (the consumers drained the dead-letter
//! queue).

use super::sqs::{acked, deleted_current, describe, Copy, RequestKey};
use super::Violation;
use crate::history::{Entry, History};
use crate::workload::Topology;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// The checker's name.
pub const NAME: &str = "redrive-accounting";

/// Receives of one copy from the queue with the redrive policy.
#[derive(Clone, Copy, Debug, Default)]
struct Receives {
    heard: u32,
    count_max: u32,
}

/// The first message redriven too early, received too often, or not redriven.
#[must_use]
pub fn check(history: &History, topology: &Topology) -> Option<Violation> {
    let setup = topology.sqs.as_ref()?;
    let max = setup.max_receive_count;
    let mut receives: BTreeMap<Copy, Receives> = BTreeMap::new();
    let mut unanswered: BTreeSet<RequestKey> = BTreeSet::new();
    let mut redriven: BTreeSet<Copy> = BTreeSet::new();
    for timed in history.entries() {
        match &timed.entry {
            Entry::SqsReceive {
                conn,
                request,
                queue,
                ..
            } if &**queue == setup.work => {
                unanswered.insert((*conn, *request));
            }
            Entry::SqsReceived {
                conn,
                request,
                queue,
                messages,
                ..
            } if &**queue == setup.work => {
                unanswered.remove(&(*conn, *request));
                for seen in messages {
                    let Some(body) = seen.body else {
                        continue;
                    };
                    let copy = (seen.message_id.clone(), body);
                    if seen.receive_count > max {
                        return Some(Violation::safety(
                            NAME,
                            timed.at_ns,
                            format!(
                                "{} was received from {} with ApproximateReceiveCount {}, past \
                                 maxReceiveCount {max}: it should have gone to {}",
                                describe(&copy),
                                setup.work,
                                seen.receive_count,
                                setup.dlq
                            ),
                        ));
                    }
                    let counted = receives.entry(copy).or_default();
                    counted.heard += 1;
                    counted.count_max = counted.count_max.max(seen.receive_count);
                }
            }
            Entry::SqsReceived {
                queue, messages, ..
            } if &**queue == setup.dlq => {
                for seen in messages {
                    let Some(body) = seen.body else {
                        continue;
                    };
                    let copy = (seen.message_id.clone(), body);
                    if !redriven.insert(copy.clone()) {
                        continue;
                    }
                    let counted = receives.get(&copy).copied().unwrap_or_default();
                    let lost = u32::try_from(unanswered.len()).unwrap_or(u32::MAX);
                    let at_least = counted.heard.saturating_add(lost).max(counted.count_max);
                    if at_least < max {
                        return Some(Violation::safety(
                            NAME,
                            timed.at_ns,
                            format!(
                                "{} reached {} after {} receive(s) from {} ({} heard, {lost} \
                                 unanswered, count {}), fewer than maxReceiveCount {max}",
                                describe(&copy),
                                setup.dlq,
                                at_least,
                                setup.work,
                                counted.heard,
                                counted.count_max
                            ),
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    let deleted = deleted_current(history);
    let end_ns = history.entries().last().map_or(0, |timed| timed.at_ns);
    let work: Arc<str> = Arc::from(setup.work);
    for (copy, acked) in acked(history) {
        if acked.queue != work {
            continue;
        }
        let counted = receives.get(&copy).copied().unwrap_or_default();
        let often = counted.heard.max(counted.count_max) >= max;
        if often && !deleted.contains(&(copy.clone(), work.clone())) && !redriven.contains(&copy) {
            return Some(Violation::safety(
                NAME,
                end_ns,
                format!(
                    "{} was received {} time(s) from {} (maxReceiveCount {max}) and never \
                     deleted there, yet never reached {}",
                    describe(&copy),
                    counted.heard.max(counted.count_max),
                    setup.work,
                    setup.dlq
                ),
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::sqs::fixtures::*;
    use super::*;

    fn run(entries: Vec<Entry>) -> Option<Violation> {
        check(&History::from_entries(entries), &topology())
    }

    fn received_times(times: u32) -> Vec<Entry> {
        let (work, _, _) = QUEUES;
        let mut history = vec![send(work, 1, 0), sent(work, 1, 0, id(0))];
        for count in 1..=times {
            let request = u64::from(count);
            history.push(receive(0, work, request));
            let handle = format!("h{count}");
            history.push(received(
                0,
                work,
                request,
                vec![seen(work, 0, &handle, count)],
            ));
        }
        history
    }

    #[test]
    fn a_message_redriven_after_max_receives_passes() {
        let (_, dlq, _) = QUEUES;
        let mut history = received_times(3);
        history.push(receive(1, dlq, 1));
        history.push(received(1, dlq, 1, vec![seen(dlq, 0, "d1", 1)]));
        history.push(delete(1, dlq, 2, 0, "d1"));
        history.push(deleted(1, 2, true));
        assert_eq!(run(history), None);
    }

    #[test]
    fn a_message_redriven_too_early_fails() {
        let (_, dlq, _) = QUEUES;
        let mut history = received_times(2);
        history.push(receive(1, dlq, 1));
        history.push(received(1, dlq, 1, vec![seen(dlq, 0, "d1", 1)]));
        let violation = run(history).expect("too early");
        assert!(
            violation.detail.contains("fewer than"),
            "{}",
            violation.detail
        );
    }

    #[test]
    fn a_message_received_max_times_and_never_redriven_fails() {
        let violation = run(received_times(3)).expect("not redriven");
        assert!(
            violation.detail.contains("never reached"),
            "{}",
            violation.detail
        );
    }

    #[test]
    fn a_receive_past_max_receive_count_fails() {
        assert!(run(received_times(4)).is_some());
    }
}
