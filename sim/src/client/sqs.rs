//! SQS clients: producers and consumers of the `sqs-visibility` workload,
//! speaking the core's `SqsCommand`s on their connection, each action a
//! numbered request answered by one `SqsReply`.
//!
//! Every client creates the workload's queues first on each connection it
//! opens (CreateQueue answers with the existing queue when its attributes
//! are the same), as AMQP clients declare theirs.
//!
//! A producer sends its messages one action at a time, to the standard
//! and the FIFO queue in turn, some in batches; what was in flight when its
//! connection dropped it sends again on the next one (with the same
//! deduplication id on the FIFO queue: a retry after a lost answer), and now
//! and then it sends an acknowledged FIFO message again on purpose.
//!
//! A consumer receives (some long polls), then works on each message: most
//! it deletes after a short while, some only after their visibility timeout
//! ran out (their handle may be stale by then), some it gives up on (they
//! come back, and are redriven after enough receives), and on some it
//! disconnects before deleting, as a crash would. Once the faults are over
//! and every producer is done it drains: it receives from the standard, the
//! FIFO and the dead-letter queue in turn and deletes at once, and stops
//! after a long poll of each found nothing in a row.

use super::{Context, Outbox};
use crate::history::{sqs_body, sqs_sent, Entry, SqsHandle, SqsSeen, SqsSendEntry, SqsSentId};
use crate::plan::{Span, MS};
use crate::workload::sqs_visibility::{self, SqsParams, DLQ, FIFO, WORK};
use brokerlab_core::sqs::{Received, SendEntry};
use brokerlab_core::{ConnectionId, SqsCommand, SqsReply};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// What an SQS client is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SqsRole {
    /// Sends `messages` messages, a gap apart.
    Producer {
        /// Messages to send.
        messages: u64,
        /// Pause between two sends.
        gap: Span,
    },
    /// Receives, works and deletes.
    Consumer {
        /// How long it works on a message it handles promptly.
        work: Span,
    },
}

/// What the SQS clients share, as a test harness does, to know when the
/// consumers may drain: the producers still at work, and whether the
/// faults are over.
#[derive(Clone, Debug, Default)]
pub struct SqsProgress {
    /// SQS producers not yet done.
    pub producers_left: usize,
    /// The heal phase has begun.
    pub healing: bool,
}

impl SqsProgress {
    /// Whether consumers drain now: no fault and no send is to come.
    #[must_use]
    pub fn draining(&self) -> bool {
        self.healing && self.producers_left == 0
    }
}

/// A send action: to which queue, which messages, and whether it repeats an
/// acknowledged one on purpose.
#[derive(Clone, Debug, PartialEq, Eq)]
struct SendBatch {
    queue: &'static str,
    seqs: Vec<u64>,
    resend: bool,
}

/// What a consumer does with a message it received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    /// Deletes it when its work is done.
    Delete,
    /// Gives it up: never deletes it.
    Abandon,
    /// Disconnects before deleting it.
    Disconnect,
}

/// A message a consumer works on.
#[derive(Clone, Debug)]
struct Held {
    queue: &'static str,
    handle: SqsHandle,
    due_ns: u64,
    fate: Fate,
}

/// A request awaiting its answer.
#[derive(Clone, Debug)]
enum Pending {
    Create,
    Send(SendBatch),
    Receive {
        queue: &'static str,
        drain: bool,
        wait_s: u32,
    },
    Delete,
}

/// An SQS producer or consumer.
#[derive(Clone, Debug)]
pub struct SqsClient {
    id: usize,
    role: SqsRole,
    params: SqsParams,
    conn: Option<ConnectionId>,
    pub(super) outbox: Outbox,
    next_request: u64,
    pending: BTreeMap<u64, Pending>,
    next_ns: Option<u64>,
    /// Producer: messages not yet sent, per queue (standard, FIFO).
    unsent: [VecDeque<u64>; 2],
    turn: usize,
    /// Producer: the send awaiting its answer.
    in_flight: Option<SendBatch>,
    /// Producer: a send to make again on the next connection.
    retry: Option<SendBatch>,
    /// Producer: FIFO messages acknowledged, which it may send again.
    acked_fifo: Vec<u64>,
    /// Producer: has told the others it is done.
    counted_done: bool,
    /// Consumer: a receive awaits its answer.
    polling: bool,
    /// Consumer: the messages it works on.
    held: Vec<Held>,
    /// Consumer, draining: which queue is next, and how many receives in a row found nothing.
    drain_turn: usize,
    empty_streak: u32,
    finished: bool,
}

/// Queues a draining consumer receives from, in turn.
const DRAIN_ORDER: [&str; 3] = [WORK, FIFO, DLQ];

impl SqsClient {
    /// Client `id` (a producer's or a consumer's number) in `role`.
    #[must_use]
    pub fn new(id: usize, role: SqsRole, params: SqsParams) -> SqsClient {
        let mut unsent = [VecDeque::new(), VecDeque::new()];
        if let SqsRole::Producer { messages, .. } = role {
            for seq in 0..messages {
                let index = usize::from(sqs_visibility::queue_of(seq) == FIFO);
                unsent[index].push_back(seq);
            }
        }
        SqsClient {
            id,
            role,
            params,
            conn: None,
            outbox: Outbox::default(),
            next_request: 0,
            pending: BTreeMap::new(),
            next_ns: None,
            unsent,
            turn: 0,
            in_flight: None,
            retry: None,
            acked_fifo: Vec::new(),
            counted_done: false,
            polling: false,
            held: Vec::new(),
            drain_turn: 0,
            empty_streak: 0,
            finished: false,
        }
    }

    fn request(&mut self, pending: Pending, command: SqsCommand) -> u64 {
        self.next_request += 1;
        let request = self.next_request;
        self.pending.insert(request, pending);
        self.outbox.send_sqs(request, command);
        request
    }

    pub(super) fn handle_open(&mut self, context: &mut Context<'_>, conn: ConnectionId) {
        self.conn = Some(conn);
        for (queue, attributes) in sqs_visibility::create_queues(self.params.visibility_s) {
            self.request(
                Pending::Create,
                SqsCommand::CreateQueue { queue, attributes },
            );
        }
        match self.role {
            SqsRole::Producer { .. } => self.next_ns = Some(context.now_ns),
            SqsRole::Consumer { .. } => {
                if !self.finished {
                    self.poll(context);
                }
            }
        }
    }

    pub(super) fn handle_reply(
        &mut self,
        context: &mut Context<'_>,
        request: u64,
        reply: SqsReply,
    ) {
        let Some(conn) = self.conn else {
            return;
        };
        let Some(pending) = self.pending.remove(&request) else {
            return;
        };
        match pending {
            Pending::Create => {}
            Pending::Send(batch) => self.sent(context, conn, request, batch, reply),
            Pending::Receive {
                queue,
                drain,
                wait_s,
            } => self.received(context, conn, request, queue, drain, wait_s, reply),
            Pending::Delete => {
                let results = match reply {
                    SqsReply::Settled(results) => {
                        results.iter().map(|(_, result)| result.is_ok()).collect()
                    }
                    _ => Vec::new(),
                };
                let entry = Entry::SqsDeleted {
                    consumer: self.id,
                    conn,
                    request,
                    results,
                };
                context.history.record(context.now_ns, entry);
            }
        }
    }

    pub(super) fn handle_closed(&mut self, _: &mut Context<'_>) {
        self.outbox.clear();
        self.conn = None;
        self.pending.clear();
        self.next_ns = None;
        if let Some(batch) = self.in_flight.take() {
            // The answer is lost: send again on the next connection.
            self.retry = Some(batch);
        }
        // What the consumer held it forgets: those messages come back when
        // their visibility runs out.
        self.polling = false;
        self.held.clear();
    }

    pub(super) fn handle_timeout(&mut self, context: &mut Context<'_>) {
        if self.conn.is_none() {
            return;
        }
        self.next_ns = None;
        match self.role {
            SqsRole::Producer { .. } => self.send_next(context),
            SqsRole::Consumer { .. } => self.work(context),
        }
    }

    // The producer.

    fn send_next(&mut self, context: &mut Context<'_>) {
        if self.in_flight.is_some() {
            return;
        }
        let batch = if let Some(batch) = self.retry.take() {
            batch
        } else if !self.acked_fifo.is_empty()
            && self.unsent.iter().any(|queue| !queue.is_empty())
            && context.rng.chance(self.params.resend_per_mille)
        {
            let index = context.rng.below(self.acked_fifo.len() as u64) as usize;
            SendBatch {
                queue: FIFO,
                seqs: vec![self.acked_fifo[index]],
                resend: true,
            }
        } else {
            let Some(index) = (0..2)
                .map(|step| (self.turn + step) % 2)
                .find(|index| !self.unsent[*index].is_empty())
            else {
                self.producer_done(context);
                return;
            };
            self.turn = (index + 1) % 2;
            let count = if context.rng.chance(self.params.batch_per_mille) {
                context.rng.between(2, 4) as usize
            } else {
                1
            };
            let queue = &mut self.unsent[index];
            let seqs: Vec<u64> = (0..count).filter_map(|_| queue.pop_front()).collect();
            SendBatch {
                queue: if index == 1 { FIFO } else { WORK },
                seqs,
                resend: false,
            }
        };
        self.send(context, batch);
    }

    fn send(&mut self, context: &mut Context<'_>, batch: SendBatch) {
        let Some(conn) = self.conn else {
            return;
        };
        let fifo = batch.queue == FIFO;
        let is_batch = batch.seqs.len() > 1;
        let mut recorded = Vec::with_capacity(batch.seqs.len());
        let mut entries = Vec::with_capacity(batch.seqs.len());
        for &seq in &batch.seqs {
            let group = fifo.then(|| sqs_visibility::group_of(self.id, seq, self.params.groups));
            let dedup = fifo.then(|| sqs_visibility::dedup_of(self.id, seq));
            recorded.push(SqsSendEntry {
                body: (self.id, seq),
                group: group.as_deref().map(Arc::from),
                dedup: dedup.as_deref().map(Arc::from),
            });
            entries.push(SendEntry {
                id: if is_batch {
                    format!("e{seq}")
                } else {
                    String::new()
                },
                body: sqs_body(self.id, seq),
                delay_seconds: None,
                attributes: Vec::new(),
                group_id: group,
                deduplication_id: dedup,
            });
        }
        let command = SqsCommand::Send {
            queue: batch.queue.to_owned(),
            entries,
            batch: is_batch,
        };
        self.in_flight = Some(batch.clone());
        let request = self.request(Pending::Send(batch.clone()), command);
        let entry = Entry::SqsSend {
            producer: self.id,
            conn,
            request,
            queue: Arc::from(batch.queue),
            entries: recorded,
        };
        context.history.record(context.now_ns, entry);
    }

    fn sent(
        &mut self,
        context: &mut Context<'_>,
        conn: ConnectionId,
        request: u64,
        batch: SendBatch,
        reply: SqsReply,
    ) {
        self.in_flight = None;
        let answers: Vec<Option<SqsSentId>> = match reply {
            SqsReply::Sent(results) => results
                .into_iter()
                .map(|(_, result)| {
                    result.ok().map(|sent| SqsSentId {
                        message_id: Arc::from(sent.message_id.as_str()),
                        sequence: sent.sequence_number.and_then(|seq| seq.parse().ok()),
                    })
                })
                .collect(),
            _ => Vec::new(),
        };
        let results: Vec<((usize, u64), Option<SqsSentId>)> = batch
            .seqs
            .iter()
            .enumerate()
            .map(|(index, seq)| ((self.id, *seq), answers.get(index).cloned().flatten()))
            .collect();
        let index = usize::from(batch.queue == FIFO);
        let mut failed = Vec::new();
        for ((_, seq), answer) in &results {
            match answer {
                Some(_) if batch.queue == FIFO && !batch.resend => self.acked_fifo.push(*seq),
                Some(_) => {}
                None if !batch.resend => failed.push(*seq),
                None => {}
            }
        }
        // What failed goes first again.
        for seq in failed.into_iter().rev() {
            self.unsent[index].push_front(seq);
        }
        let entry = Entry::SqsSent {
            producer: self.id,
            conn,
            request,
            queue: Arc::from(batch.queue),
            results,
        };
        context.history.record(context.now_ns, entry);
        if self.unsent.iter().all(VecDeque::is_empty) && self.retry.is_none() {
            self.producer_done(context);
        } else if let SqsRole::Producer { gap, .. } = self.role {
            self.next_ns = Some(context.now_ns + gap.draw(context.rng));
        }
    }

    fn producer_done(&mut self, context: &mut Context<'_>) {
        if !self.counted_done {
            self.counted_done = true;
            context.sqs.producers_left -= 1;
        }
    }

    // The consumer.

    fn poll(&mut self, context: &mut Context<'_>) {
        let Some(conn) = self.conn else {
            return;
        };
        if self.polling || self.finished {
            return;
        }
        let drain = context.sqs.draining();
        let (queue, max_messages, wait_s) = if drain {
            let queue = DRAIN_ORDER[self.drain_turn % DRAIN_ORDER.len()];
            (queue, 10, self.params.visibility_s + 2)
        } else {
            let queue = if context.rng.chance(500) { WORK } else { FIFO };
            // Long polls of a second or two: a consumer waiting on one
            // queue does not hear of the other meanwhile.
            let wait_s = if context.rng.chance(500) {
                0
            } else {
                context.rng.between(1, 2) as u32
            };
            (queue, context.rng.between(1, 4) as u32, wait_s)
        };
        self.polling = true;
        let command = SqsCommand::Receive {
            queue: queue.to_owned(),
            max_messages,
            visibility_timeout: None,
            wait_time_seconds: Some(wait_s),
        };
        let pending = Pending::Receive {
            queue,
            drain,
            wait_s,
        };
        let request = self.request(pending, command);
        let entry = Entry::SqsReceive {
            consumer: self.id,
            conn,
            request,
            queue: Arc::from(queue),
            wait_s,
        };
        context.history.record(context.now_ns, entry);
    }

    #[allow(clippy::too_many_arguments)]
    fn received(
        &mut self,
        context: &mut Context<'_>,
        conn: ConnectionId,
        request: u64,
        queue: &'static str,
        drain: bool,
        wait_s: u32,
        reply: SqsReply,
    ) {
        self.polling = false;
        // An error answers nothing, and proves nothing empty.
        let (messages, failed) = match reply {
            SqsReply::Received(messages) => (messages, false),
            _ => (Vec::new(), true),
        };
        let seen: Vec<SqsSeen> = messages.iter().map(seen).collect();
        let entry = Entry::SqsReceived {
            consumer: self.id,
            conn,
            request,
            queue: Arc::from(queue),
            messages: seen.clone(),
        };
        context.history.record(context.now_ns, entry);
        let now = context.now_ns;
        if drain && !failed {
            if seen.is_empty() {
                self.empty_streak += 1;
                self.drain_turn += 1;
                if self.empty_streak >= DRAIN_ORDER.len() as u32 {
                    self.finished = true;
                    return;
                }
            } else {
                self.empty_streak = 0;
            }
        }
        let SqsRole::Consumer { work } = self.role else {
            return;
        };
        let visibility_ms = u64::from(self.params.visibility_s) * 1_000;
        let together = !drain && seen.len() > 1 && context.rng.chance(self.params.batch_per_mille);
        let mut batch_due = now;
        let receive_counts: Vec<u32> = messages.iter().map(|m| m.receive_count).collect();
        let first = self.held.len();
        for (message, receive_count) in seen.into_iter().zip(receive_counts) {
            let (fate, due_ns) = if drain {
                (Fate::Delete, now + context.rng.between(0, 2) * MS)
            } else if context.rng.chance(self.params.crash_per_mille) {
                (Fate::Disconnect, now + work.draw(context.rng))
            } else if context.rng.chance(abandon_per_mille(
                self.params.abandon_per_mille,
                receive_count,
            )) {
                (Fate::Abandon, now + work.draw(context.rng))
            } else if context.rng.chance(self.params.slow_per_mille) {
                let ms = context
                    .rng
                    .between(visibility_ms * 13 / 10, visibility_ms * 22 / 10);
                (Fate::Delete, now + ms * MS)
            } else {
                (Fate::Delete, now + work.draw(context.rng))
            };
            batch_due = batch_due.max(due_ns);
            self.held.push(Held {
                queue,
                handle: SqsHandle {
                    message_id: message.message_id,
                    body: message.body,
                    handle: message.handle,
                },
                due_ns,
                fate,
            });
        }
        if together {
            for held in &mut self.held[first..] {
                if held.fate == Fate::Delete {
                    held.due_ns = batch_due;
                }
            }
        }
        if self.held.is_empty() {
            let pause_ns = if wait_s == 0 && !drain {
                context.rng.between(10, 50) * MS
            } else {
                context.rng.between(0, 5) * MS
            };
            self.next_ns = Some(now + pause_ns);
        } else {
            self.arm_work();
        }
    }

    fn arm_work(&mut self) {
        self.next_ns = self.held.iter().map(|held| held.due_ns).min();
    }

    /// Acts on the messages whose work is done, then receives again once
    /// none is left.
    fn work(&mut self, context: &mut Context<'_>) {
        let Some(conn) = self.conn else {
            return;
        };
        let now = context.now_ns;
        let (due, kept): (Vec<Held>, Vec<Held>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|held| held.due_ns <= now);
        self.held = kept;
        if due.iter().any(|held| held.fate == Fate::Disconnect) {
            // A crash before deleting: the connection goes, and what was
            // held with it.
            self.held.clear();
            self.outbox.close();
            return;
        }
        for queue in DRAIN_ORDER {
            let handles: Vec<SqsHandle> = due
                .iter()
                .filter(|held| held.queue == queue && held.fate == Fate::Delete)
                .map(|held| held.handle.clone())
                .collect();
            if handles.is_empty() {
                continue;
            }
            let is_batch = handles.len() > 1;
            let entries = handles
                .iter()
                .enumerate()
                .map(|(index, handle)| {
                    let id = if is_batch {
                        format!("h{index}")
                    } else {
                        String::new()
                    };
                    (id, handle.handle.to_string())
                })
                .collect();
            let command = SqsCommand::Delete {
                queue: queue.to_owned(),
                entries,
                batch: is_batch,
            };
            let request = self.request(Pending::Delete, command);
            let entry = Entry::SqsDelete {
                consumer: self.id,
                conn,
                request,
                queue: Arc::from(queue),
                entries: handles,
            };
            context.history.record(now, entry);
        }
        if self.held.is_empty() {
            self.poll(context);
        } else {
            self.arm_work();
        }
    }

    /// Whether the client is a producer.
    #[must_use]
    pub fn is_producer(&self) -> bool {
        matches!(self.role, SqsRole::Producer { .. })
    }

    /// When the client next needs a timeout.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<u64> {
        self.next_ns
    }

    /// Whether the client has done its part: a producer has every message
    /// acknowledged; a consumer has drained the queues.
    #[must_use]
    pub fn is_done(&self) -> bool {
        match self.role {
            SqsRole::Producer { .. } => self.counted_done,
            SqsRole::Consumer { .. } => self.finished,
        }
    }

    /// Whether the client wants a connection.
    #[must_use]
    pub fn wants_connection(&self) -> bool {
        !self.is_done()
    }
}

/// The chance that a consumer gives up a message received `receive_count`
/// times: a message that failed once (a poison message) fails more often.
fn abandon_per_mille(first: u16, receive_count: u32) -> u16 {
    if receive_count > 1 {
        (first * 3).min(700)
    } else {
        first
    }
}

fn seen(message: &Received) -> SqsSeen {
    SqsSeen {
        message_id: Arc::from(message.message_id.as_str()),
        body: sqs_sent(&message.body),
        handle: Arc::from(message.receipt_handle.as_str()),
        receive_count: message.receive_count,
        group: message.group_id.as_deref().map(Arc::from),
        dedup: message.deduplication_id.as_deref().map(Arc::from),
        sequence: message
            .sequence_number
            .as_deref()
            .and_then(|seq| seq.parse().ok()),
    }
}
