//! Durability: the records the broker asks its driver to persist, confirms
//! that wait for them to be synced, and recovery from a log.
//!
//! What is logged: durable exchanges and queues (an exclusive queue dies with
//! its connection, so it never is), bindings whose two ends are durable, and
//! persistent messages in durable queues with what happens to them (returned,
//! removed). Deliveries are not logged: a delivery does not wait for the disk,
//! so recovery cannot know which messages went out and flags every recovered
//! message as redelivered. A publisher confirm for a logged message waits
//! until its `Enqueued` record is synced; everything else is confirmed at once.

use super::Broker;
use crate::arena::Id;
use crate::config::{Config, Mutant};
use crate::message::MessageId;
use crate::protocol::{ChannelId, ConnectionId, Event, Output, Reply};
use crate::queue::Entry;
use crate::record::{Change, Record};

/// A publisher confirm waiting for its message's records to be synced.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct PendingConfirm {
    pub(super) channel: Id,
    pub(super) conn: ConnectionId,
    pub(super) number: ChannelId,
    pub(super) seq: u64,
    pub(super) message: MessageId,
}

impl Broker {
    /// Emits a record and returns its log sequence number. While an atomic
    /// group is open the change joins it, and the lsn is the one the group's
    /// record will have.
    pub(super) fn persist(&mut self, change: Change) -> u64 {
        if let Some(group) = &mut self.atomic {
            group.push(change);
            return self.next_lsn;
        }
        let lsn = self.next_lsn;
        self.next_lsn += 1;
        self.outputs
            .push_back(Output::Persist(Box::new(Record { lsn, change })));
        lsn
    }

    /// Runs `body` with every change it persists gathered into one record,
    /// so that a crash keeps all of them or none.
    pub(super) fn persist_atomically(&mut self, body: impl FnOnce(&mut Broker)) {
        assert!(self.atomic.is_none(), "atomic groups do not nest");
        self.atomic = Some(Vec::new());
        body(self);
        let mut changes = self.atomic.take().expect("opened above");
        match changes.len() {
            0 => {}
            1 => {
                self.persist(changes.pop().expect("one change"));
            }
            _ => {
                self.persist(Change::Atomic { changes });
            }
        }
    }

    /// Logs that a logged entry entered queue `id`; returns the record's lsn.
    pub(super) fn log_enqueued(&mut self, id: Id, entry: &Entry) -> Option<u64> {
        if !entry.logged {
            return None;
        }
        let queue = &self.queues[id];
        let change = Change::Enqueued {
            vhost: queue.vhost.clone(),
            queue: queue.name.clone(),
            seq: entry.seq,
            message: entry.message.clone(),
            expires_at: entry.expires.at(),
            delivery_count: entry.delivery_count,
        };
        Some(self.persist(change))
    }

    /// Logs that a logged entry went back to queue `id` with its new delivery count.
    pub(super) fn log_returned(&mut self, id: Id, entry: &Entry) {
        if entry.logged {
            let queue = &self.queues[id];
            let (vhost, name) = (queue.vhost.clone(), queue.name.clone());
            let delivery_count = entry.delivery_count;
            self.persist(Change::Returned {
                vhost,
                queue: name,
                seq: entry.seq,
                delivery_count,
            });
        }
    }

    /// Logs that a logged entry left queue `id` for good (if the queue still exists).
    #[inline]
    pub(super) fn log_removed(&mut self, id: Id, entry: &Entry) {
        if entry.logged {
            self.log_removal(id, entry.seq);
        }
    }

    /// Logs that the logged entry `seq` left queue `id` for good (if the
    /// queue still exists), out of the hot path's line.
    pub(super) fn log_removal(&mut self, id: Id, seq: u64) {
        if let Some(queue) = self.queues.get(id) {
            let (vhost, name) = (queue.vhost.clone(), queue.name.clone());
            self.persist(Change::Removed {
                vhost,
                queue: name,
                seq,
            });
        }
    }

    /// Holds a confirm until record `lsn` is synced, or sends it now if it is.
    pub(super) fn confirm_after(&mut self, lsn: Option<u64>, pending: PendingConfirm) {
        match lsn {
            // The mutant confirms what the disk may still lose.
            Some(lsn) if lsn > self.synced_lsn && !self.is_mutant(Mutant::ConfirmBeforeSync) => {
                self.pending_confirms.entry(lsn).or_default().push(pending)
            }
            _ => self.send_confirm(pending),
        }
    }

    fn send_confirm(&mut self, pending: PendingConfirm) {
        // A confirm for a channel that closed meanwhile has nobody to go to.
        if self.channels.get(pending.channel).is_none() {
            return;
        }
        let reply = Reply::ConfirmAck {
            delivery_tag: pending.seq,
            multiple: false,
        };
        self.outputs.push_back(Output::Reply {
            conn: pending.conn,
            channel: pending.number,
            reply,
        });
        self.event(Event::Confirmed {
            message: pending.message,
            conn: pending.conn,
            channel: pending.number,
            confirm_seq: pending.seq,
            ack: true,
        });
    }

    /// `Input::Synced`: every record up to `upto` is durable; release the confirms waiting for them.
    pub(super) fn synced(&mut self, upto: u64) {
        // The store cannot have synced records the broker never emitted; clamp a confused driver.
        let upto = upto.min(self.next_lsn - 1);
        if upto <= self.synced_lsn {
            return;
        }
        self.synced_lsn = upto;
        while let Some(entry) = self.pending_confirms.first_entry() {
            if *entry.key() > upto {
                break;
            }
            for pending in entry.remove() {
                self.send_confirm(pending);
            }
        }
        self.synced_streams(upto);
        self.release_saga_sends(upto);
        self.release_sqs_replies(upto);
    }

    /// The highest log sequence number the broker has emitted (0 before the first record).
    #[must_use]
    pub fn last_lsn(&self) -> u64 {
        self.next_lsn - 1
    }

    /// Arms the `x-expires` timers of recovered queues from the first time the broker sees.
    pub(super) fn touch_recovered_queues(&mut self) {
        for id in std::mem::take(&mut self.recovered_queues) {
            if self.queues.get(id).is_some() {
                self.touch_queue(id);
                self.run_queue(id);
            }
        }
    }

    /// Rebuilds a broker from its log: durable exchanges, queues and bindings,
    /// and the persistent messages of durable queues in queue order. Every
    /// recovered message is ready again and flagged redelivered (it may have
    /// been handed out before the crash); delivery counts, x-death headers and
    /// expiry times are kept.
    #[must_use]
    pub fn recover(config: Config, records: impl IntoIterator<Item = Record>) -> Broker {
        let mut state = super::recovery::Replay::new(&config);
        let mut last_lsn = 0;
        for record in records {
            last_lsn = last_lsn.max(record.lsn);
            state.apply(record.change);
        }
        let mut broker = Broker::new(config);
        state.install(&mut broker);
        broker.next_lsn = last_lsn + 1;
        broker.synced_lsn = last_lsn;
        // Receipt handles issued before the crash are never issued again:
        // the nonces of this run start past any of a run that wrote at
        // most `last_lsn` records. (A broker without SQS queues keeps 0,
        // so that its state does not depend on the log's length.)
        if !broker.sqs_queues.is_empty() {
            broker.sqs_receipt_nonce = last_lsn << 24;
        }
        broker
    }

    /// The live durable state as records, all numbered with the current last
    /// lsn: a log holding them, followed by the records emitted after it,
    /// recovers the same broker. Stores compact their log with it.
    #[must_use]
    pub fn snapshot(&self) -> Vec<Record> {
        let lsn = self.last_lsn();
        super::recovery::snapshot(self)
            .into_iter()
            .map(|change| Record { lsn, change })
            .collect()
    }
}
