//! What the SQS checkers share: the copies of messages whose send was
//! acknowledged, the receipt handles each receive issued, and which deletes
//! carried a message's current handle, all read from the clients' history.
//!
//! A copy is one message the broker holds: its message id with the body a
//! producer wrote (a retried send to a standard queue makes a second copy,
//! with another id; a FIFO retry within the deduplication window answers
//! with the first one's id). The broker's life splits the history into
//! epochs at each crash: what a client hears after a crash was answered by
//! the broker's new life, as a crash closes every connection.
//!
//! A handle's rank among a copy's handles in one queue is (epoch, receive
//! count): within a life of the broker each receive counts one more. A
//! delete carries the copy's current handle when no handle of higher rank
//! had been heard of before its answer (or, unanswered, before it was sent):
//! a correct broker deletes with nothing else, and hands out no handle of a
//! copy it deleted, in that life.

use crate::history::{Entry, History};
use brokerlab_core::ConnectionId;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// A copy: its message id, and the producer and sequence number its body names.
pub(crate) type Copy = (Arc<str>, (usize, u64));

/// A request, by its connection and number.
pub(crate) type RequestKey = (ConnectionId, u64);

/// The broker's epoch of each entry: how many crashes came before it.
pub(crate) fn epochs(history: &History) -> Vec<u32> {
    let mut epoch = 0;
    history
        .entries()
        .iter()
        .map(|timed| {
            if timed.entry == Entry::Crash {
                epoch += 1;
            }
            epoch
        })
        .collect()
}

/// An acknowledged copy: in which queue, and where its first acknowledgement stands.
#[derive(Clone, Debug)]
pub(crate) struct Acked {
    pub(crate) queue: Arc<str>,
    pub(crate) index: usize,
}

/// The copies whose send was acknowledged, each with its first acknowledgement.
pub(crate) fn acked(history: &History) -> BTreeMap<Copy, Acked> {
    let mut acked = BTreeMap::new();
    for (index, timed) in history.entries().iter().enumerate() {
        if let Entry::SqsSent { queue, results, .. } = &timed.entry {
            for (body, id) in results {
                if let Some(id) = id {
                    acked
                        .entry((id.message_id.clone(), *body))
                        .or_insert_with(|| Acked {
                            queue: queue.clone(),
                            index,
                        });
                }
            }
        }
    }
    acked
}

/// A receipt handle heard of: its rank and where.
#[derive(Clone, Debug)]
struct Issued {
    rank: (u32, u32),
    handle: Arc<str>,
    index: usize,
}

/// A delete of one copy in one queue, judged.
#[derive(Clone, Debug)]
pub(crate) struct Delete {
    pub(crate) copy: Copy,
    pub(crate) queue: Arc<str>,
    /// It carried the copy's current handle.
    pub(crate) current: bool,
}

/// A delete sent: the copy, its queue, the handle, where it was sent, and
/// where it was answered with what success.
type Sent = (Copy, Arc<str>, Arc<str>, usize, Option<(usize, bool)>);

/// Every delete of a copy the history shows, each judged current or not.
pub(crate) fn deletes(history: &History) -> Vec<Delete> {
    let entries = history.entries();
    let epochs = epochs(history);
    let mut answers: BTreeMap<RequestKey, (usize, &[bool])> = BTreeMap::new();
    for (index, timed) in entries.iter().enumerate() {
        if let Entry::SqsDeleted {
            conn,
            request,
            results,
            ..
        } = &timed.entry
        {
            answers.insert((*conn, *request), (index, results.as_slice()));
        }
    }
    let mut issued: BTreeMap<(Copy, Arc<str>), Vec<Issued>> = BTreeMap::new();
    let mut sent: Vec<Sent> = Vec::new();
    for (index, timed) in entries.iter().enumerate() {
        match &timed.entry {
            Entry::SqsReceived {
                queue, messages, ..
            } => {
                for seen in messages {
                    let Some(body) = seen.body else {
                        continue;
                    };
                    let key = ((seen.message_id.clone(), body), queue.clone());
                    issued.entry(key).or_default().push(Issued {
                        rank: (epochs[index], seen.receive_count),
                        handle: seen.handle.clone(),
                        index,
                    });
                }
            }
            Entry::SqsDelete {
                conn,
                request,
                queue,
                entries: handles,
                ..
            } => {
                let answer = answers.get(&(*conn, *request));
                for (position, handle) in handles.iter().enumerate() {
                    let Some(body) = handle.body else {
                        continue;
                    };
                    let answered = answer.map(|(at, results)| {
                        (*at, results.get(position).copied().unwrap_or(false))
                    });
                    sent.push((
                        (handle.message_id.clone(), body),
                        queue.clone(),
                        handle.handle.clone(),
                        index,
                        answered,
                    ));
                }
            }
            _ => {}
        }
    }
    sent.into_iter()
        .map(|(copy, queue, handle, index, answered)| {
            let handles = issued
                .get(&(copy.clone(), queue.clone()))
                .map_or(&[][..], Vec::as_slice);
            // The handle as the consumer had it: the latest issue of it before the delete.
            let own = handles
                .iter()
                .filter(|issued| issued.index < index && issued.handle == handle)
                .map(|issued| issued.rank)
                .max();
            let current = match (own, answered) {
                (None, _) | (_, Some((_, false))) => false,
                (Some(rank), Some((at, true))) => !handles
                    .iter()
                    .any(|issued| issued.index < at && issued.rank > rank),
                (Some(rank), None) => !handles
                    .iter()
                    .any(|issued| issued.index < index && issued.rank > rank),
            };
            Delete {
                copy,
                queue,
                current,
            }
        })
        .collect()
}

/// The copies deleted with their current handle, by queue.
pub(crate) fn deleted_current(history: &History) -> BTreeSet<(Copy, Arc<str>)> {
    deletes(history)
        .into_iter()
        .filter(|delete| delete.current)
        .map(|delete| (delete.copy, delete.queue))
        .collect()
}

/// How a copy reads in a violation: `m<producer>:<seq> (<message id>)`.
pub(crate) fn describe(copy: &Copy) -> String {
    let (id, (producer, seq)) = copy;
    format!("m{producer}:{seq} ({id})")
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Hand-made SQS history entries for the checkers' tests.

    use crate::history::{Entry, SqsHandle, SqsSeen, SqsSendEntry, SqsSentId};
    use crate::workload::sqs_visibility::{DLQ, FIFO, WORK};
    use brokerlab_core::ConnectionId;
    use std::sync::Arc;

    pub const PRODUCER: ConnectionId = ConnectionId(1);

    /// Consumer `consumer`'s connection.
    pub fn conn(consumer: usize) -> ConnectionId {
        ConnectionId(10 + consumer as u64)
    }

    pub fn id(seq: u64) -> Arc<str> {
        Arc::from(format!("id-{seq}").as_str())
    }

    fn dedup(seq: u64) -> Arc<str> {
        Arc::from(format!("d0-{seq}").as_str())
    }

    /// Producer 0 sends message `seq` to `queue` (FIFO: group `g0`) as request `request`.
    pub fn send(queue: &str, request: u64, seq: u64) -> Entry {
        let fifo = queue == FIFO;
        Entry::SqsSend {
            producer: 0,
            conn: PRODUCER,
            request,
            queue: Arc::from(queue),
            entries: vec![SqsSendEntry {
                body: (0, seq),
                group: fifo.then(|| Arc::from("g0")),
                dedup: fifo.then(|| dedup(seq)),
            }],
        }
    }

    /// The answer to request `request`: message `seq` got id `id`.
    pub fn sent(queue: &str, request: u64, seq: u64, id: Arc<str>) -> Entry {
        let fifo = queue == FIFO;
        Entry::SqsSent {
            producer: 0,
            conn: PRODUCER,
            request,
            queue: Arc::from(queue),
            results: vec![(
                (0, seq),
                Some(SqsSentId {
                    message_id: id,
                    sequence: fifo.then_some(seq),
                }),
            )],
        }
    }

    /// Producer 0's message `seq` as received with `handle`, `count` times so far.
    pub fn seen(queue: &str, seq: u64, handle: &str, count: u32) -> SqsSeen {
        let fifo = queue == FIFO;
        SqsSeen {
            message_id: id(seq),
            body: Some((0, seq)),
            handle: Arc::from(handle),
            receive_count: count,
            group: fifo.then(|| Arc::from("g0")),
            dedup: fifo.then(|| dedup(seq)),
            sequence: fifo.then_some(seq),
        }
    }

    /// Consumer `consumer` sends receive `request` to `queue`.
    pub fn receive(consumer: usize, queue: &str, request: u64) -> Entry {
        Entry::SqsReceive {
            consumer,
            conn: conn(consumer),
            request,
            queue: Arc::from(queue),
            wait_s: 0,
        }
    }

    /// Consumer `consumer` hears receive `request` answered with `messages`.
    pub fn received(consumer: usize, queue: &str, request: u64, messages: Vec<SqsSeen>) -> Entry {
        Entry::SqsReceived {
            consumer,
            conn: conn(consumer),
            request,
            queue: Arc::from(queue),
            messages,
        }
    }

    /// Consumer `consumer` deletes message `seq` with `handle`, as request `request`.
    pub fn delete(consumer: usize, queue: &str, request: u64, seq: u64, handle: &str) -> Entry {
        Entry::SqsDelete {
            consumer,
            conn: conn(consumer),
            request,
            queue: Arc::from(queue),
            entries: vec![SqsHandle {
                message_id: id(seq),
                body: Some((0, seq)),
                handle: Arc::from(handle),
            }],
        }
    }

    /// Consumer `consumer` hears delete `request` answered.
    pub fn deleted(consumer: usize, request: u64, ok: bool) -> Entry {
        Entry::SqsDeleted {
            consumer,
            conn: conn(consumer),
            request,
            results: vec![ok],
        }
    }

    /// The topology of an `sqs-visibility` run.
    pub fn topology() -> crate::workload::Topology {
        crate::Workload::SqsVisibility
            .topology(&crate::Options::swarm(0, crate::Workload::SqsVisibility).workload)
    }

    /// Names the queues, so tests read well.
    pub const QUEUES: (&str, &str, &str) = (WORK, DLQ, FIFO);
}
