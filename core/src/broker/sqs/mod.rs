//! The broker's side of the SQS queues (see [`crate::sqs`]): the actions on
//! queues of kind `sqs`, their visibility deadlines, delays, long polls
//! and deduplication window, and the answers, a send's held until its
//! records are synced.
//!
//! This module takes each action and answers it, and keeps the queue's
//! timer; a queue's life and attributes are in `queues`, sending in
//! `send`, receiving, deleting, visibility and long polls in `receive`.

mod queues;
mod receive;
mod send;

pub(super) use queues::sqs_queue_args;

use super::{Broker, Timer};
use crate::arena::Id;
use crate::message::SharedMessage;
use crate::protocol::{ConnectionId, Output};
use crate::queue::Entry;
use crate::sqs::queue::SqsQueue;
use crate::sqs::{SqsCommand, SqsError, SqsErrorKind, SqsReply, BATCH_ENTRIES_MAX};
use crate::time::Instant;
use crate::Mutant;

impl Broker {
    /// `Input::Sqs`: runs an action and answers it (a long poll later).
    pub(super) fn sqs_command(&mut self, conn: ConnectionId, request: u64, command: SqsCommand) {
        // A delete or a change of visibility may free a message, or a FIFO
        // group, for a long poll: it is served after the action's answer,
        // which is what freed it.
        let frees = match &command {
            SqsCommand::Delete { queue, .. } | SqsCommand::ChangeVisibility { queue, .. } => {
                Some(queue.clone())
            }
            _ => None,
        };
        let answer = self.sqs_action(conn, request, command);
        match answer {
            Answer::Now(reply) => self.sqs_reply(conn, request, reply),
            Answer::AfterSync(lsn, reply) => self.sqs_reply_after(lsn, conn, request, reply),
            Answer::Waiting => {}
        }
        if let Some(id) = frees.and_then(|queue| self.sqs_queue(&queue).ok()) {
            self.serve_sqs_waiting(id);
            self.arm_head_timer(id);
            self.arm_sqs_timer(id);
        }
    }

    fn sqs_action(&mut self, conn: ConnectionId, request: u64, command: SqsCommand) -> Answer {
        let result = match command {
            SqsCommand::CreateQueue { queue, attributes } => self
                .sqs_create(&queue, &attributes)
                .map(|()| Answer::Now(SqsReply::Queue(queue))),
            SqsCommand::GetQueueUrl { queue } => self
                .sqs_queue(&queue)
                .map(|_| Answer::Now(SqsReply::Queue(queue))),
            SqsCommand::ListQueues {
                prefix,
                max_results,
                after,
            } => self
                .sqs_list(&prefix, max_results, after.as_deref())
                .map(Answer::Now),
            SqsCommand::DeleteQueue { queue } => self.sqs_queue(&queue).map(|id| {
                self.sqs_delete_queue(id);
                Answer::Now(SqsReply::Done)
            }),
            SqsCommand::GetQueueAttributes { queue, names } => self
                .sqs_queue(&queue)
                .and_then(|id| self.sqs_attributes(id, &names))
                .map(|attributes| Answer::Now(SqsReply::Attributes(attributes))),
            SqsCommand::SetQueueAttributes { queue, attributes } => self
                .sqs_queue(&queue)
                .and_then(|id| self.sqs_set_attributes(id, &attributes))
                .map(|()| Answer::Now(SqsReply::Done)),
            SqsCommand::PurgeQueue { queue } => self
                .sqs_queue(&queue)
                .and_then(|id| self.sqs_purge(id))
                .map(|()| Answer::Now(SqsReply::Done)),
            SqsCommand::Send {
                queue,
                entries,
                batch,
            } => self
                .sqs_queue(&queue)
                .and_then(|id| self.sqs_send(id, entries, batch)),
            SqsCommand::Receive {
                queue,
                max_messages,
                visibility_timeout,
                wait_time_seconds,
            } => self.sqs_queue(&queue).and_then(|id| {
                let receive =
                    self.check_receive(id, max_messages, visibility_timeout, wait_time_seconds)?;
                Ok(self.sqs_receive_or_wait(id, conn, request, receive))
            }),
            SqsCommand::Delete {
                queue,
                entries,
                batch,
            } => self.sqs_queue(&queue).and_then(|id| {
                check_batch(entries.iter().map(|(id, _)| id.as_str()), batch)?;
                let results = entries
                    .into_iter()
                    .map(|(entry, handle)| (entry, self.sqs_delete(id, &handle)))
                    .collect();
                Ok(Answer::Now(SqsReply::Settled(results)))
            }),
            SqsCommand::ChangeVisibility {
                queue,
                entries,
                batch,
            } => self.sqs_queue(&queue).and_then(|id| {
                check_batch(entries.iter().map(|(id, _, _)| id.as_str()), batch)?;
                let results = entries
                    .into_iter()
                    .map(|(entry, handle, timeout)| {
                        (entry, self.sqs_change_visibility(id, &handle, timeout))
                    })
                    .collect();
                Ok(Answer::Now(SqsReply::Settled(results)))
            }),
        };
        result.unwrap_or_else(|error| Answer::Now(SqsReply::Error(error)))
    }

    fn sqs_reply(&mut self, conn: ConnectionId, request: u64, reply: SqsReply) {
        self.outputs.push_back(Output::Sqs {
            conn,
            request,
            reply: Box::new(reply),
        });
    }

    /// Answers once record `lsn` is synced (at once if it is).
    fn sqs_reply_after(&mut self, lsn: u64, conn: ConnectionId, request: u64, reply: SqsReply) {
        if lsn <= self.synced_lsn || self.is_mutant(Mutant::ConfirmBeforeSync) {
            self.sqs_reply(conn, request, reply);
        } else {
            self.sqs_pending
                .entry(lsn)
                .or_default()
                .push((conn, request, reply));
        }
    }

    /// Sends the answers waiting for records up to `upto`.
    pub(super) fn release_sqs_replies(&mut self, upto: u64) {
        while let Some(entry) = self.sqs_pending.first_entry() {
            if *entry.key() > upto {
                break;
            }
            for (conn, request, reply) in entry.remove() {
                self.sqs_reply(conn, request, reply);
            }
        }
    }

    /// The SQS queue named `name`.
    fn sqs_queue(&self, name: &str) -> Result<Id, SqsError> {
        let vhost = self
            .vhosts
            .get(self.config.sqs.vhost.as_str())
            .ok_or_else(SqsError::no_queue)?;
        let &id = vhost.queues.get(name).ok_or_else(SqsError::no_queue)?;
        if self.queues[id].sqs.is_none() {
            return Err(SqsError::no_queue());
        }
        Ok(id)
    }

    fn sqs_state(&mut self, id: Id) -> &mut SqsQueue {
        self.queues[id].sqs.as_deref_mut().expect("an SQS queue")
    }

    /// A message became visible in the queue (a send, a dead letter, an
    /// AMQP publish): the long polls take it.
    pub(super) fn run_sqs_queue(&mut self, id: Id) {
        self.expire_heads(id);
        self.serve_sqs_waiting(id);
        self.arm_head_timer(id);
        self.arm_sqs_timer(id);
    }

    /// The queue's timer fired: act on what is due, then re-arm.
    pub(super) fn fire_sqs(&mut self, id: Id, at: Instant) {
        let Some(sqs) = self
            .queues
            .get_mut(id)
            .and_then(|queue| queue.sqs.as_deref_mut())
        else {
            return;
        };
        if sqs.timer == Some(at) {
            sqs.timer = None;
        }
        self.sqs_due(id);
        self.arm_sqs_timer(id);
    }

    /// Makes sure the queue's timer is armed for its next deadline.
    fn arm_sqs_timer(&mut self, id: Id) {
        let now = self.now;
        let sqs = self.sqs_state(id);
        let Some(next) = sqs.next_deadline() else {
            return;
        };
        // What is due now was acted on; the mutant's in-flight messages
        // never come back, and re-arming for them would spin.
        let next = next.max(Instant(now.0 + 1));
        if sqs.timer.is_none_or(|armed| next < armed) {
            sqs.timer = Some(next);
            self.timers.insert((next, Timer::Sqs(id)));
        }
    }

    fn disarm_sqs_timer(&mut self, id: Id) {
        if let Some(at) = self.sqs_state(id).timer.take() {
            self.timers.remove(&(at, Timer::Sqs(id)));
        }
    }

    /// The messages an SQS queue holds, visible, in flight and delayed, in
    /// the order they were sent; `None` when there is no such SQS queue.
    #[must_use]
    pub fn sqs_messages(&self, queue: &str) -> Option<Vec<SharedMessage>> {
        let id = self.sqs_queue(queue).ok()?;
        let state = &self.queues[id];
        let sqs = state.sqs.as_deref().expect("an SQS queue");
        let mut entries: Vec<&Entry> = state.ready.iter().collect();
        entries.extend(sqs.in_flight.values().map(|in_flight| &in_flight.entry));
        entries.extend(sqs.delayed.values());
        entries.sort_by_key(|entry| entry.seq);
        Some(
            entries
                .into_iter()
                .map(|entry| entry.message.clone())
                .collect(),
        )
    }

    /// 406 for what AMQP cannot do to an SQS queue: consume from it
    /// (its messages are received through the SQS API, with a visibility timeout).
    pub(super) fn refuse_on_sqs(&self, queue: Id, what: &str) -> Result<(), super::Fault> {
        let state = &self.queues[queue];
        if state.sqs.is_none() {
            return Ok(());
        }
        Err(super::Fault::new(
            crate::protocol::ReplyCode::PreconditionFailed,
            format!(
                "{what} not supported by SQS queue '{}' in vhost '{}': receive through the SQS API",
                state.name, state.vhost
            ),
        ))
    }

    /// A connection went away: its long polls are dropped unanswered.
    pub(super) fn disconnect_sqs(&mut self, conn: ConnectionId) {
        for &id in &self.sqs_queues {
            let sqs = self.queues[id].sqs.as_deref_mut().expect("an SQS queue");
            sqs.waiting.retain(|waiting| waiting.conn != conn);
        }
    }
}

/// What an action's answer waits for.
enum Answer {
    Now(SqsReply),
    AfterSync(u64, SqsReply),
    Waiting,
}

/// A batch's entry count and ids (a single action's one entry passes).
fn check_batch<'a>(
    ids: impl ExactSizeIterator<Item = &'a str>,
    batch: bool,
) -> Result<(), SqsError> {
    if !batch {
        return Ok(());
    }
    let count = ids.len();
    if count == 0 {
        return Err(SqsError::new(
            SqsErrorKind::EmptyBatchRequest,
            "There should be at least one SendMessageBatchRequestEntry in the request.",
        ));
    }
    if count > BATCH_ENTRIES_MAX {
        return Err(SqsError::new(
            SqsErrorKind::TooManyEntriesInBatchRequest,
            format!("Maximum number of entries per request are 10. You have sent {count}."),
        ));
    }
    let mut seen: Vec<&str> = Vec::with_capacity(count);
    for id in ids {
        let valid = (1..=80).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(SqsError::new(
                SqsErrorKind::InvalidBatchEntryId,
                "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.",
            ));
        }
        if seen.contains(&id) {
            return Err(SqsError::new(
                SqsErrorKind::BatchEntryIdsNotDistinct,
                format!("Id {id} repeated."),
            ));
        }
        seen.push(id);
    }
    Ok(())
}
