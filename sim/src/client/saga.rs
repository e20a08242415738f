//! The saga workload's clients: starters, participants and the observer.
//!
//! A starter starts its sagas by publishing to the saga exchange with
//! publisher confirms (`message_id` = the saga id), a few at a time; a
//! start not confirmed when its connection drops, or nacked, is published
//! again with the same id. Once a start is confirmed the starter may
//! abort the saga a while later, with an abort confirmed and retried the
//! same way. It is done when every start and every abort it decided on
//! is confirmed.
//!
//! A participant serves one step: it consumes the step's command and
//! compensation queues with manual acks on one channel with publisher
//! confirms. It is idempotent by correlation id, in a store that survives
//! its crashes ([`SagaStore`]): a key seen before is answered with the
//! outcome recorded for it and not applied again; a compensation records
//! a refusal for its command's key if that command never came, so a
//! command that arrives after its compensation is refused, not applied.
//! It applies what it accepts when it receives it, and then replies after
//! its work: per message it may reply twice, reply after the step's
//! timeout, or crash before replying (its connection drops, and what it
//! held comes back). A command it holds is acked once its replies are
//! confirmed, so a crash in between repeats a reply and never loses one.
//!
//! The observer consumes the outcome queue and acks what it gets.

use super::{Context, Outbox, CHANNEL};
use crate::history::{Entry, SagaAction};
use crate::plan::{Span, MS};
use crate::workload::saga::{self, SagaParams};
use brokerlab_core::saga::{parse_correlation_id, ABORT_HEADER, OUTCOME_HEADER};
use brokerlab_core::{ChannelId, Command, ConnectionId, FieldTable, FieldValue, Message};
use brokerlab_core::{Properties, Reply};
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

/// Most deliveries or publishes a saga client tracks at once.
const TRACKED_MAX: usize = 65_536;

/// The observer's prefetch.
const OBSERVER_PREFETCH: u16 = 64;

/// What the participants keep on disk: the outcome recorded for each
/// idempotency key (correlation id) they have seen, `true` for success.
#[derive(Clone, Debug, Default)]
pub struct SagaStore {
    outcomes: BTreeMap<String, bool>,
}

/// The id of saga `index` of starter `starter`.
#[must_use]
pub fn saga_id(starter: usize, index: u64) -> String {
    format!("s{starter}-{index}")
}

fn publish(exchange: &str, routing_key: &str, properties: Properties, body: Bytes) -> Command {
    Command::BasicPublish {
        exchange: exchange.into(),
        routing_key: routing_key.into(),
        mandatory: false,
        immediate: false,
        properties: Arc::new(properties).into(),
        body,
    }
}

fn header<'a>(message: &'a Message, name: &str) -> Option<&'a FieldValue> {
    message.properties().headers.as_ref()?.get(name)
}

/// How a starter behaves.
#[derive(Clone, Debug)]
pub struct SagaStarterSpec {
    /// The starter's index among the run's starters.
    pub id: usize,
    /// The workload's declarations, sent on every new connection.
    pub setup: Arc<[Command]>,
    /// Sagas it starts.
    pub sagas: u64,
    /// Most unconfirmed starts outstanding.
    pub window: usize,
    /// Pause between two starts.
    pub gap: Span,
    /// Chance in a thousand that it aborts a confirmed saga.
    pub abort_per_mille: u16,
    /// How long after the confirm an abort may come, at most, in milliseconds.
    pub abort_within_ms: u64,
}

/// A start or an abort waiting for its confirm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sent {
    Start(u64),
    Abort(u64),
}

/// The starter state machine.
#[derive(Clone, Debug)]
pub struct SagaStarter {
    spec: SagaStarterSpec,
    pub(super) outbox: Outbox,
    conn: Option<ConnectionId>,
    /// Sagas `0..fresh` have been started at least once.
    fresh: u64,
    /// Starts to publish again, oldest first.
    retry: VecDeque<u64>,
    confirmed: BTreeSet<u64>,
    /// Aborts to publish, by (when, saga).
    aborts_due: BTreeSet<(u64, u64)>,
    /// Aborts decided on and not yet confirmed.
    aborts_left: BTreeSet<u64>,
    in_flight: BTreeMap<u64, Sent>,
    next_seq: u64,
    next_start_ns: u64,
}

impl SagaStarter {
    /// A starter that has started nothing yet.
    #[must_use]
    pub fn new(spec: SagaStarterSpec) -> SagaStarter {
        assert!(spec.window > 0, "a starter needs room for one start");
        SagaStarter {
            spec,
            outbox: Outbox::default(),
            conn: None,
            fresh: 0,
            retry: VecDeque::new(),
            confirmed: BTreeSet::new(),
            aborts_due: BTreeSet::new(),
            aborts_left: BTreeSet::new(),
            in_flight: BTreeMap::new(),
            next_seq: 1,
            next_start_ns: 0,
        }
    }

    /// Whether every start and every abort decided on is confirmed.
    #[must_use]
    pub fn is_done(&self) -> bool {
        self.confirmed.len() as u64 == self.spec.sagas && self.aborts_left.is_empty()
    }

    pub(super) fn handle_open(&mut self, context: &mut Context<'_>, conn: ConnectionId) {
        assert!(
            self.in_flight.is_empty(),
            "nothing in flight on a new connection"
        );
        self.conn = Some(conn);
        self.next_seq = 1;
        self.outbox.send(CHANNEL, Command::ChannelOpen);
        self.outbox.send(CHANNEL, Command::ConfirmSelect);
        for command in self.spec.setup.iter() {
            self.outbox.send(CHANNEL, command.clone());
        }
        self.next_start_ns = context.now_ns;
    }

    pub(super) fn handle_reply(&mut self, context: &mut Context<'_>, _: ChannelId, reply: Reply) {
        let (seq, multiple, ack) = match reply {
            Reply::ConfirmAck {
                delivery_tag,
                multiple,
            } => (delivery_tag, multiple, true),
            Reply::ConfirmNack {
                delivery_tag,
                multiple,
            } => (delivery_tag, multiple, false),
            Reply::Close { .. } | Reply::Cancel { .. } => {
                self.outbox.close();
                return;
            }
            _ => return,
        };
        let settled: Vec<u64> = if multiple {
            self.in_flight.range(..=seq).map(|(seq, _)| *seq).collect()
        } else {
            vec![seq]
        };
        for seq in settled {
            let Some(sent) = self.in_flight.remove(&seq) else {
                continue;
            };
            let (index, abort) = match sent {
                Sent::Start(index) => (index, false),
                Sent::Abort(index) => (index, true),
            };
            let entry = Entry::SagaConfirm {
                starter: self.spec.id,
                saga: saga_id(self.spec.id, index).into(),
                abort,
                ack,
            };
            context.history.record(context.now_ns, entry);
            match (sent, ack) {
                (Sent::Start(index), true) => {
                    self.retry.retain(|waiting| *waiting != index);
                    if self.confirmed.insert(index) && context.rng.chance(self.spec.abort_per_mille)
                    {
                        let after_ns = context.rng.between(0, self.spec.abort_within_ms) * MS;
                        self.aborts_due.insert((context.now_ns + after_ns, index));
                        self.aborts_left.insert(index);
                    }
                }
                (Sent::Start(index), false) => self.retry_start(index),
                (Sent::Abort(index), true) => {
                    self.aborts_left.remove(&index);
                }
                (Sent::Abort(index), false) => {
                    self.aborts_due.insert((context.now_ns, index));
                }
            }
        }
    }

    fn retry_start(&mut self, index: u64) {
        if !self.confirmed.contains(&index) && !self.retry.contains(&index) {
            self.retry.push_back(index);
        }
    }

    pub(super) fn handle_closed(&mut self, context: &mut Context<'_>) {
        self.conn = None;
        self.outbox.clear();
        for sent in std::mem::take(&mut self.in_flight).into_values() {
            match sent {
                Sent::Start(index) => self.retry_start(index),
                Sent::Abort(index) => {
                    self.aborts_due.insert((context.now_ns, index));
                }
            }
        }
    }

    fn starts_in_flight(&self) -> usize {
        (self.in_flight.values())
            .filter(|sent| matches!(sent, Sent::Start(_)))
            .count()
    }

    fn can_start(&self) -> bool {
        let has_work = !self.retry.is_empty() || self.fresh < self.spec.sagas;
        self.conn.is_some() && self.starts_in_flight() < self.spec.window && has_work
    }

    pub(super) fn handle_timeout(&mut self, context: &mut Context<'_>) {
        if self.conn.is_none() {
            return;
        }
        while let Some(&(at_ns, index)) = self.aborts_due.first() {
            if at_ns > context.now_ns {
                break;
            }
            self.aborts_due.pop_first();
            self.send(context, Sent::Abort(index));
        }
        if self.can_start() && self.next_start_ns <= context.now_ns {
            let index = self.retry.pop_front().unwrap_or_else(|| {
                self.fresh += 1;
                self.fresh - 1
            });
            self.send(context, Sent::Start(index));
            self.next_start_ns = context.now_ns + self.spec.gap.draw(context.rng);
        }
    }

    fn send(&mut self, context: &mut Context<'_>, sent: Sent) {
        assert!(
            self.in_flight.len() < TRACKED_MAX,
            "starter in-flight bound"
        );
        let (index, abort) = match sent {
            Sent::Start(index) => (index, false),
            Sent::Abort(index) => (index, true),
        };
        let id = saga_id(self.spec.id, index);
        let headers = abort.then(|| {
            let mut headers = FieldTable::new();
            headers.insert(ABORT_HEADER.into(), FieldValue::Bool(true));
            headers
        });
        let properties = Properties {
            delivery_mode: Some(2),
            message_id: Some(id.clone()),
            headers: headers.map(Arc::new),
            ..Properties::default()
        };
        let body = Bytes::from(format!("{{\"order\":\"{id}\"}}"));
        self.outbox
            .send(CHANNEL, publish(saga::EXCHANGE, "", properties, body));
        self.in_flight.insert(self.next_seq, sent);
        self.next_seq += 1;
        let (starter, saga) = (self.spec.id, id.into());
        let entry = if abort {
            Entry::SagaAbort { starter, saga }
        } else {
            Entry::SagaStart { starter, saga }
        };
        context.history.record(context.now_ns, entry);
    }

    pub(super) fn poll_timeout(&self) -> Option<u64> {
        self.conn?;
        let start = self.can_start().then_some(self.next_start_ns);
        let abort = self.aborts_due.first().map(|(at_ns, _)| *at_ns);
        start.into_iter().chain(abort).min()
    }
}

/// How a participant behaves.
#[derive(Clone, Debug)]
pub struct SagaParticipantSpec {
    /// The step it serves (its index among the participants).
    pub step: usize,
    /// The workload's declarations, sent on every new connection.
    pub setup: Arc<[Command]>,
    /// The steps' timeouts and the participants' habits.
    pub params: SagaParams,
    /// basic.qos prefetch_count of each of its two consumers.
    pub prefetch: u16,
    /// How long it works on a message before replying.
    pub work: Span,
}

/// A reply to send once its time comes.
#[derive(Clone, Debug)]
struct Pending {
    reply_to: String,
    correlation: String,
    saga: Arc<str>,
    action: SagaAction,
    step: u32,
    success: bool,
    copies: u32,
}

/// The participant state machine.
#[derive(Clone, Debug)]
pub struct SagaParticipant {
    spec: SagaParticipantSpec,
    pub(super) outbox: Outbox,
    conn: Option<ConnectionId>,
    /// Replies to send, by (when, delivery tag).
    held: BTreeMap<(u64, u64), Pending>,
    /// Replies waiting for their confirms: the delivery tag they answer.
    replying: BTreeMap<u64, u64>,
    /// Deliveries waiting for their replies' confirms: how many remain,
    /// and whether one was nacked.
    answering: BTreeMap<u64, (u32, bool)>,
    next_seq: u64,
}

impl SagaParticipant {
    /// A participant with no connection yet.
    #[must_use]
    pub fn new(spec: SagaParticipantSpec) -> SagaParticipant {
        SagaParticipant {
            spec,
            outbox: Outbox::default(),
            conn: None,
            held: BTreeMap::new(),
            replying: BTreeMap::new(),
            answering: BTreeMap::new(),
            next_seq: 1,
        }
    }

    pub(super) fn handle_open(&mut self, _: &mut Context<'_>, conn: ConnectionId) {
        assert!(self.held.is_empty(), "nothing is held on a new connection");
        self.conn = Some(conn);
        self.next_seq = 1;
        self.outbox.send(CHANNEL, Command::ChannelOpen);
        self.outbox.send(CHANNEL, Command::ConfirmSelect);
        for command in self.spec.setup.iter() {
            self.outbox.send(CHANNEL, command.clone());
        }
        self.outbox.send(CHANNEL, super::qos(self.spec.prefetch));
        let step = self.spec.step;
        let queues = [saga::command_queue(step), saga::compensation_queue(step)];
        for (queue, tag) in queues.iter().zip(["do", "undo"]) {
            self.outbox.send(CHANNEL, super::consume(queue, tag));
        }
    }

    pub(super) fn handle_reply(&mut self, context: &mut Context<'_>, _: ChannelId, reply: Reply) {
        match reply {
            Reply::Deliver {
                delivery_tag,
                redelivered,
                message,
                ..
            } => self.receive(context, delivery_tag, redelivered, &message),
            Reply::ConfirmAck {
                delivery_tag,
                multiple,
            } => self.confirmed(delivery_tag, multiple, true),
            Reply::ConfirmNack {
                delivery_tag,
                multiple,
            } => self.confirmed(delivery_tag, multiple, false),
            Reply::Close { .. } | Reply::Cancel { .. } => self.outbox.close(),
            _ => {}
        }
    }

    fn receive(
        &mut self,
        context: &mut Context<'_>,
        delivery_tag: u64,
        redelivered: bool,
        message: &Message,
    ) {
        let properties = message.properties();
        let named = (properties.correlation_id.as_deref()).and_then(parse_correlation_id);
        let (Some((action, step, id)), Some(reply_to)) = (named, properties.reply_to.clone())
        else {
            // Not a saga message: nothing to answer.
            self.ack(delivery_tag);
            return;
        };
        let attempt = header(message, "x-saga-attempt")
            .and_then(FieldValue::as_integer)
            .and_then(|attempt| u32::try_from(attempt).ok())
            .unwrap_or(0);
        let saga: Arc<str> = id.into();
        let participant = self.spec.step;
        let entry = Entry::SagaReceived {
            participant,
            saga: saga.clone(),
            action,
            step,
            attempt,
            message: message.id,
            redelivered,
        };
        context.history.record(context.now_ns, entry);
        let correlation = properties.correlation_id.clone().expect("parsed above");
        let params = self.spec.params;
        let store = &mut context.sagas.outcomes;
        let success = match store.get(&correlation) {
            Some(success) => *success,
            None => {
                let success = match action {
                    SagaAction::Command => !context.rng.chance(params.fail_per_mille),
                    SagaAction::Compensation => {
                        // A command that comes after its compensation is refused.
                        let command =
                            brokerlab_core::saga::correlation_id(SagaAction::Command, step, id);
                        store.entry(command).or_insert(false);
                        true
                    }
                };
                store.insert(correlation.clone(), success);
                if success {
                    let entry = Entry::SagaApplied {
                        participant,
                        saga: saga.clone(),
                        action,
                        step,
                    };
                    context.history.record(context.now_ns, entry);
                }
                success
            }
        };
        if context.rng.chance(params.crash_per_mille) {
            // Crashes before replying: what it holds comes back.
            self.outbox.close();
            return;
        }
        let work_ns = self.spec.work.draw(context.rng);
        let delay_ns = if context.rng.chance(params.late_per_mille) {
            let timeout_ns = params.timeout_ms[(step as usize).min(saga::STEPS_MAX - 1)] * MS;
            timeout_ns + context.rng.between(0, timeout_ns) + work_ns
        } else {
            work_ns
        };
        let copies = if context.rng.chance(params.twice_per_mille) {
            2
        } else {
            1
        };
        assert!(self.held.len() < TRACKED_MAX, "held deliveries bound");
        let pending = Pending {
            reply_to,
            correlation,
            saga,
            action,
            step,
            success,
            copies,
        };
        self.held
            .insert((context.now_ns + delay_ns, delivery_tag), pending);
    }

    fn confirmed(&mut self, seq: u64, multiple: bool, ack: bool) {
        let settled: Vec<u64> = if multiple {
            self.replying.range(..=seq).map(|(seq, _)| *seq).collect()
        } else {
            vec![seq]
        };
        for seq in settled {
            let Some(delivery_tag) = self.replying.remove(&seq) else {
                continue;
            };
            let Some((left, nacked)) = self.answering.get_mut(&delivery_tag) else {
                continue;
            };
            *left -= 1;
            *nacked |= !ack;
            if *left > 0 {
                continue;
            }
            let nacked = *nacked;
            self.answering.remove(&delivery_tag);
            if nacked {
                // Answered again when it comes back.
                self.outbox.send(
                    CHANNEL,
                    Command::BasicReject {
                        delivery_tag,
                        requeue: true,
                    },
                );
            } else {
                self.ack(delivery_tag);
            }
        }
    }

    fn ack(&mut self, delivery_tag: u64) {
        self.outbox.send(
            CHANNEL,
            Command::BasicAck {
                delivery_tag,
                multiple: false,
            },
        );
    }

    pub(super) fn handle_closed(&mut self, _: &mut Context<'_>) {
        self.conn = None;
        self.outbox.clear();
        self.held.clear();
        self.replying.clear();
        self.answering.clear();
    }

    pub(super) fn handle_timeout(&mut self, context: &mut Context<'_>) {
        if self.conn.is_none() {
            return;
        }
        while let Some(entry) = self.held.first_entry() {
            let (at_ns, delivery_tag) = *entry.key();
            if at_ns > context.now_ns {
                break;
            }
            let pending = entry.remove();
            let outcome = if pending.success {
                "success"
            } else {
                "failure"
            };
            for _ in 0..pending.copies {
                let mut headers = FieldTable::new();
                headers.insert(OUTCOME_HEADER.into(), FieldValue::string(outcome));
                let properties = Properties {
                    delivery_mode: Some(2),
                    correlation_id: Some(pending.correlation.clone()),
                    headers: Some(Arc::new(headers)),
                    ..Properties::default()
                };
                let command = publish("", &pending.reply_to, properties, Bytes::new());
                self.outbox.send(CHANNEL, command);
                assert!(self.replying.len() < TRACKED_MAX, "replies in flight bound");
                self.replying.insert(self.next_seq, delivery_tag);
                self.next_seq += 1;
                let entry = Entry::SagaReplied {
                    participant: self.spec.step,
                    saga: pending.saga.clone(),
                    action: pending.action,
                    step: pending.step,
                    success: pending.success,
                };
                context.history.record(context.now_ns, entry);
            }
            self.answering.insert(delivery_tag, (pending.copies, false));
        }
    }

    pub(super) fn poll_timeout(&self) -> Option<u64> {
        self.held.keys().next().map(|(at_ns, _)| *at_ns)
    }
}

/// The observer: consumes the outcome queue.
#[derive(Clone, Debug)]
pub struct SagaObserver {
    setup: Arc<[Command]>,
    pub(super) outbox: Outbox,
}

impl SagaObserver {
    /// An observer with no connection yet.
    #[must_use]
    pub fn new(setup: Arc<[Command]>) -> SagaObserver {
        SagaObserver {
            setup,
            outbox: Outbox::default(),
        }
    }

    pub(super) fn handle_open(&mut self, _: &mut Context<'_>, _: ConnectionId) {
        self.outbox.send(CHANNEL, Command::ChannelOpen);
        for command in self.setup.iter() {
            self.outbox.send(CHANNEL, command.clone());
        }
        self.outbox.send(CHANNEL, super::qos(OBSERVER_PREFETCH));
        self.outbox
            .send(CHANNEL, super::consume(saga::OUTCOMES, "outcomes"));
    }

    pub(super) fn handle_reply(&mut self, context: &mut Context<'_>, _: ChannelId, reply: Reply) {
        match reply {
            Reply::Deliver {
                delivery_tag,
                message,
                ..
            } => {
                let text = |name: &str| -> Arc<str> {
                    header(&message, name)
                        .and_then(FieldValue::as_str)
                        .unwrap_or("")
                        .into()
                };
                let entry = Entry::SagaOutcome {
                    saga: text("x-saga-id"),
                    state: text("x-saga-state"),
                    message: message.id,
                };
                context.history.record(context.now_ns, entry);
                self.outbox.send(
                    CHANNEL,
                    Command::BasicAck {
                        delivery_tag,
                        multiple: false,
                    },
                );
            }
            Reply::Close { .. } | Reply::Cancel { .. } => self.outbox.close(),
            _ => {}
        }
    }

    pub(super) fn handle_closed(&mut self) {
        self.outbox.clear();
    }
}
