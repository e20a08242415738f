//! The `saga` model: the broker orchestrates one saga of one to three
//! steps (SEMANTICS.md section 10) for participants whose replies may be
//! lost, duplicated or delayed, under step timeouts, an abort and a crash.
//!
//! The orchestrator is the production core: the saga is the durable `x-saga`
//! exchange `order`, whose step `k` sends its command to the queue `do-k`
//! and its compensation to `undo-k` (each with a timeout and a retry limit).
//! The operator (actor 1) publishes the start of saga `order-1` with
//! confirms and, in the standard configuration, its abort right after, which
//! the broker may take at any point of the saga; after a crash it publishes
//! again whatever the broker did not confirm (the at-least-once publisher).
//! Participant `k` (actor 2 + k) consumes `do-k` and `undo-k` and answers
//! each saga message it holds, whenever it chooses (a delayed reply):
//! it does the work and replies, refuses a command (a failure reply,
//! bounded), does the work but its reply is lost (bounded), or replies
//! twice (bounded). It is idempotent by the correlation id: a command's
//! work is done once and a repeated command is answered with the outcome it
//! had; a compensation's work is done once; a command that comes after its
//! step was compensated is refused without a reply, as a participant that
//! remembers the compensation must. The broker's step deadlines may be
//! reached at any point (the broker actor's `Deadline` timer), so replies
//! also come late, after a retry or after compensation began; and the
//! broker may crash (bounded) and recover from its synced records, after
//! which every client connects again.
//!
//! Checked, in every reachable state, from what the participants did:
//! - `saga-atomicity`: a saga the broker ended `completed` had every
//!   step's command done and none compensated; one it ended `compensated`
//!   had every step whose command was done compensated (a saga that needs
//!   attention is the operator's);
//! - `compensation-order`: compensations are done in reverse order, one at
//!   a time: no step is compensated while a later step's command is done
//!   and not compensated;
//! - `no-double-compensation`: no participant is sent a step's
//!   compensation afresh twice (distinct messages of its first attempt;
//!   retries and redeliveries of one are not a second compensation);
//! - `no-forward-after-abort`: once the broker took an abort of the
//!   running saga, no later step's command is done;
//! - no step panics (`no-panic`, which also holds the core's own
//!   invariants, checked after every step of the real broker).
//!
//! Each terminal state must be reachable: `completed`, `compensated` and
//! `failed-needs-attention` (a compensation whose reply never came).
//!
//! Two configurations are checked exhaustively (`models/tests/saga.rs`
//! pins their state counts): the standard one ([`Saga::default`]), two
//! steps with an abort and duplicated replies, and the crash one
//! ([`Saga::crashing`]), one step and a broker crash, which is what a
//! transition logged apart from the message it sends gets wrong. A crash
//! multiplies the states by every point at which the disk may have synced,
//! so the two are kept apart: two steps, an abort, duplicates and a crash
//! together run to millions of states.

use crate::actors::Node;
use crate::broker_actor::{BrokerActor, BrokerState};
use crate::clients::{BROKER, CHANNEL};
use crate::properties::{self, BrokerModel, History, Settings, State, PRODUCER};
use crate::shared::Shared;
use crate::wire::{Answer, Choice, Frame, Incarnation, Msg};
use brokerlab_core::saga::{self, Action, Phase};
use brokerlab_core::{
    Command, FieldTable, FieldValue, MessageId, Mutant, Properties, Reply, SharedMessage,
};
use bytes::Bytes;
use stateright::actor::{Envelope, Id, Network, Out};
use stateright::Expectation;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The saga exchange of the model.
pub const SAGA: &str = "order";
/// The id of the saga the operator starts.
pub const SAGA_ID: &str = "order-1";
/// Each step's timeout. The model's clock jumps from deadline to deadline,
/// so its length changes no interleaving; it only names the instants.
const TIMEOUT_MS: i64 = 1_000;
/// The operator's actor index.
const OPERATOR: usize = PRODUCER;
/// The first participant's actor index.
const FIRST_PARTICIPANT: usize = OPERATOR + 1;

/// The `saga` model's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Saga {
    /// How many steps the saga has, one participant each (1 to 3).
    pub steps: u8,
    /// How many times a step's command or compensation is sent again after
    /// its timeout before the broker gives up on it.
    pub retries: u8,
    /// How many commands each participant may refuse (a failure reply).
    pub failures: u8,
    /// How many replies each participant may lose. The standard
    /// configurations lose none: a step's deadline may pass before the
    /// broker takes its reply, which it then ignores (it no longer waits
    /// for it), so a late reply already shows what a lost one would.
    pub losses: u8,
    /// How many replies each participant may send twice.
    pub duplicates: u8,
    /// Whether the operator aborts the saga (at any point of it).
    pub abort: bool,
    /// How many times the broker may crash and recover.
    pub crashes: u8,
    /// A deliberately broken broker, or `None` for the real one.
    pub mutant: Option<Mutant>,
}

impl Default for Saga {
    /// The standard configuration: two steps without retries, an abort the
    /// broker may take at any point, and replies that may come twice, late
    /// (after the step's deadline moved the saga on) or never; no crash
    /// ([`Saga::crashing`] has one).
    fn default() -> Saga {
        Saga {
            steps: 2,
            retries: 0,
            failures: 0,
            losses: 0,
            duplicates: 1,
            abort: true,
            crashes: 0,
            mutant: None,
        }
    }
}

/// The saga exchange's arguments: step `k` sends its command to `do-k`
/// and its compensation to `undo-k` through the default exchange.
fn definition(steps: u8, retries: u8) -> FieldTable {
    let steps = (0..steps)
        .map(|step| {
            let table: FieldTable = [
                ("name", FieldValue::string(&format!("step-{step}"))),
                ("command", FieldValue::string(&command_queue(step))),
                (
                    "compensation",
                    FieldValue::string(&compensation_queue(step)),
                ),
                ("timeout-ms", FieldValue::I64(TIMEOUT_MS)),
                ("retries", FieldValue::I64(i64::from(retries))),
            ]
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value))
            .collect();
            FieldValue::Table(table)
        })
        .collect();
    std::iter::once((
        saga::definition::STEPS_ARG.to_owned(),
        FieldValue::Array(steps),
    ))
    .collect()
}

/// The queue of step `step`'s commands.
fn command_queue(step: u8) -> String {
    format!("do-{step}")
}

/// The queue of step `step`'s compensations.
fn compensation_queue(step: u8) -> String {
    format!("undo-{step}")
}

/// The operator's commands on a fresh broker: the saga exchange (durable:
/// its instances are logged) and a durable queue per command and compensation.
fn setup(steps: u8, retries: u8) -> Vec<Command> {
    let exchange = Command::ExchangeDeclare {
        exchange: SAGA.into(),
        kind: saga::definition::EXCHANGE_TYPE.into(),
        passive: false,
        durable: true,
        auto_delete: false,
        internal: false,
        arguments: definition(steps, retries),
    };
    let queues = (0..steps)
        .flat_map(|step| [command_queue(step), compensation_queue(step)])
        .map(|queue| Command::QueueDeclare {
            queue,
            passive: false,
            durable: true,
            exclusive: false,
            auto_delete: false,
            arguments: FieldTable::new(),
        });
    std::iter::once(exchange).chain(queues).collect()
}

impl Saga {
    /// The crash configuration: one step without retries whose reply may
    /// come late or never, no abort, no duplicated reply, and one crash of
    /// the broker at any point, after which it recovers from its synced
    /// records, every client connects again and the operator publishes
    /// again what was not confirmed.
    #[must_use]
    pub fn crashing() -> Saga {
        Saga {
            steps: 1,
            duplicates: 0,
            abort: false,
            crashes: 1,
            ..Saga::default()
        }
    }

    /// The actor model: the broker (actor 0), the operator (1) and the
    /// participants (2 on, participant `k` answering step `k`).
    #[must_use]
    pub fn into_model(self) -> BrokerModel {
        assert!((1..=3).contains(&self.steps), "one to three steps");
        assert!(self.crashes <= properties::CRASHES_MAX, "too many crashes");
        let clients = 1 + usize::from(self.steps);
        let broker = BrokerActor {
            keep_log: self.crashes > 0,
            ..BrokerActor::new(self.mutant, setup(self.steps, self.retries), clients)
        };
        let operator = Operator { abort: self.abort };
        let participants = (0..self.steps).map(|step| {
            Node::Participant(Participant {
                step,
                failures: self.failures,
                losses: self.losses,
                duplicates: self.duplicates,
            })
        });
        let settings = Settings {
            crashes: self.crashes,
            ..Settings::default()
        };
        BrokerModel::new(settings, History::default())
            .actor(Node::Broker(broker))
            .actor(Node::SagaOperator(operator))
            .actors(participants)
            .init_network(Network::new_ordered([]))
            .max_crashes(usize::from(self.crashes.min(1)))
            .record_msg_out(record_restarts)
            .within_boundary(properties::within_crash_bounds)
            .property(Expectation::Always, "no-panic", properties::no_panic)
            .property(Expectation::Always, "saga-atomicity", saga_atomicity)
            .property(
                Expectation::Always,
                "compensation-order",
                compensation_order,
            )
            .property(
                Expectation::Always,
                "no-double-compensation",
                no_double_compensation,
            )
            .property(
                Expectation::Always,
                "no-forward-after-abort",
                no_forward_after_abort,
            )
            .property(Expectation::Sometimes, "completed", completed)
            .property(Expectation::Sometimes, "compensated", compensated)
            .property(
                Expectation::Sometimes,
                "failed-needs-attention",
                failed_needs_attention,
            )
    }
}

/// Counts the broker's restarts (the resets it sends the operator as it
/// comes back), which bound its crashes.
fn record_restarts(_: &Settings, history: &History, envelope: Envelope<&Msg>) -> Option<History> {
    if !matches!(envelope.msg, Msg::Reset) || usize::from(envelope.dst) != OPERATOR {
        return None;
    }
    let mut next = history.clone();
    next.restarts += 1;
    Some(next)
}

/// Sends frames on a client's connection `incarnation`, in one segment.
fn send(out: &mut Out<Node>, incarnation: Incarnation, frames: Vec<Frame>) {
    let msg = Msg::Frames {
        incarnation,
        seq: 0,
        frames: Shared::new(frames),
    };
    out.send(Id::from(BROKER), msg);
}

/// A command on the client's channel.
fn command(command: Command) -> Frame {
    Frame::Command {
        channel: CHANNEL,
        command,
    }
}

/// A publish of `properties` with an empty body.
fn publish(exchange: &str, routing_key: &str, properties: Properties) -> Frame {
    command(Command::BasicPublish {
        exchange: exchange.into(),
        routing_key: routing_key.into(),
        mandatory: false,
        immediate: false,
        properties: Arc::new(properties).into(),
        body: Bytes::new(),
    })
}

/// What the operator publishes to the saga exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Publish {
    /// The start of the saga.
    Start,
    /// Its abort.
    Abort,
}

/// The operator: starts the saga and (optionally) aborts it, with confirms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operator {
    /// Whether it publishes the abort after the start.
    pub abort: bool,
}

/// The operator's state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OperatorState {
    /// The current connection.
    pub incarnation: Incarnation,
    /// Publishes awaiting a confirm, by confirm sequence number.
    pub awaiting: BTreeMap<u64, Publish>,
    /// The message of the panic in the client's last step, if it panicked.
    pub panicked: Option<String>,
}

impl Operator {
    /// Connects, selects confirms and publishes the start (and the abort).
    pub fn start(&self, out: &mut Out<Node>) -> OperatorState {
        let mut state = OperatorState {
            incarnation: 1,
            awaiting: BTreeMap::new(),
            panicked: None,
        };
        let publishes = match self.abort {
            true => vec![Publish::Start, Publish::Abort],
            false => vec![Publish::Start],
        };
        self.publish(&mut state, publishes, out);
        state
    }

    /// Opens the state's incarnation and publishes each in its own segment,
    /// so that the broker may take the saga's steps between them.
    fn publish(&self, state: &mut OperatorState, publishes: Vec<Publish>, out: &mut Out<Node>) {
        let setup = vec![
            Frame::Connect,
            command(Command::ChannelOpen),
            command(Command::ConfirmSelect),
        ];
        send(out, state.incarnation, setup);
        for (seq, what) in (1..).zip(publishes) {
            let mut properties = Properties {
                message_id: Some(SAGA_ID.to_owned()),
                delivery_mode: Some(2),
                ..Properties::default()
            };
            if what == Publish::Abort {
                let headers = [(saga::ABORT_HEADER.to_owned(), FieldValue::Bool(true))];
                properties.headers = Some(Arc::new(headers.into_iter().collect()));
            }
            send(out, state.incarnation, vec![publish(SAGA, "", properties)]);
            state.awaiting.insert(seq, what);
        }
    }

    /// Confirms settle the publishes they name; a reset (the broker
    /// restarted) makes it connect again and publish once more what it
    /// holds no confirm for.
    pub fn on_msg(&self, state: &mut OperatorState, msg: Msg, out: &mut Out<Node>) {
        let replies = match msg {
            Msg::Replies {
                incarnation,
                replies,
                ..
            } if incarnation == state.incarnation => replies,
            Msg::Reset => {
                send(out, state.incarnation, vec![Frame::Disconnect]);
                state.incarnation = state
                    .incarnation
                    .checked_add(1)
                    .expect("a bounded number of crashes");
                let unconfirmed = std::mem::take(&mut state.awaiting).into_values().collect();
                return self.publish(state, unconfirmed, out);
            }
            _ => return,
        };
        for (_, reply) in replies.iter() {
            let (tag, multiple) = match *reply {
                Reply::ConfirmAck {
                    delivery_tag,
                    multiple,
                }
                | Reply::ConfirmNack {
                    delivery_tag,
                    multiple,
                } => (delivery_tag, multiple),
                _ => continue,
            };
            match multiple {
                true => state.awaiting.retain(|seq, _| *seq > tag),
                false => {
                    state.awaiting.remove(&tag);
                }
            }
        }
    }
}

/// A saga participant: answers step `step`'s commands and compensations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Participant {
    /// The step it serves.
    pub step: u8,
    /// How many commands it may refuse.
    pub failures: u8,
    /// How many replies it may lose.
    pub losses: u8,
    /// How many replies it may send twice.
    pub duplicates: u8,
}

/// A participant's state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ParticipantState {
    /// The current connection.
    pub incarnation: Incarnation,
    /// The command's outcome once decided: `Some(true)` when its work was done.
    pub outcome: Option<bool>,
    /// Whether the compensation's work was done.
    pub compensated: bool,
    /// A command waits for its answer.
    pub command_held: bool,
    /// A compensation waits for its answer.
    pub compensation_held: bool,
    /// The first compensation sent afresh (its first attempt), by message id.
    pub compensation_sent: Option<MessageId>,
    /// A second, distinct compensation was sent afresh.
    pub compensation_sent_twice: bool,
    /// Failure replies it may still send.
    pub failures_left: u8,
    /// Replies it may still lose.
    pub losses_left: u8,
    /// Replies it may still send twice.
    pub duplicates_left: u8,
    /// The message of the panic in the client's last step, if it panicked.
    pub panicked: Option<String>,
}

impl ParticipantState {
    /// Whether the command's work was done.
    #[must_use]
    pub fn applied(&self) -> bool {
        self.outcome == Some(true)
    }
}

/// The key of a participant's one choice: how to answer which saga message.
const ANSWER: &str = "";

impl Participant {
    /// Connects and consumes its step's queues.
    pub fn start(&self, out: &mut Out<Node>) -> ParticipantState {
        let state = ParticipantState {
            incarnation: 1,
            outcome: None,
            compensated: false,
            command_held: false,
            compensation_held: false,
            compensation_sent: None,
            compensation_sent_twice: false,
            failures_left: self.failures,
            losses_left: self.losses,
            duplicates_left: self.duplicates,
            panicked: None,
        };
        self.subscribe(&state, out);
        state
    }

    fn subscribe(&self, state: &ParticipantState, out: &mut Out<Node>) {
        let consume = |queue: String, tag: &str| {
            command(Command::BasicConsume {
                queue,
                consumer_tag: tag.to_owned(),
                no_ack: true,
                exclusive: false,
                arguments: FieldTable::new(),
            })
        };
        let frames = vec![
            Frame::Connect,
            command(Command::ChannelOpen),
            consume(command_queue(self.step), "do"),
            consume(compensation_queue(self.step), "undo"),
        ];
        send(out, state.incarnation, frames);
    }

    /// Deliveries: holds each saga message for an answer. A reset (the
    /// broker restarted) loses the connection: consume again on a new one.
    pub fn on_msg(&self, state: &mut ParticipantState, msg: Msg, out: &mut Out<Node>) {
        match msg {
            Msg::Replies {
                incarnation,
                replies,
                ..
            } if incarnation == state.incarnation => {
                for (_, reply) in replies.iter() {
                    if let Reply::Deliver { message, .. } = reply {
                        self.hold(state, message);
                    }
                }
            }
            Msg::Reset => {
                send(out, state.incarnation, vec![Frame::Disconnect]);
                state.incarnation = state
                    .incarnation
                    .checked_add(1)
                    .expect("a bounded number of crashes");
                self.subscribe(state, out);
            }
            _ => return,
        }
        self.offer(state, out);
    }

    fn hold(&self, state: &mut ParticipantState, message: &SharedMessage) {
        let named =
            (message.properties().correlation_id.as_deref()).and_then(saga::parse_correlation_id);
        let Some((action, step, id)) = named else {
            panic!("a saga message without a correlation id");
        };
        assert_eq!(id, SAGA_ID, "a message of another saga");
        assert_eq!(step, u32::from(self.step), "a message of another step");
        match action {
            // A command after the compensation is refused, unanswered.
            Action::Command => state.command_held |= !state.compensated,
            Action::Compensation => {
                if attempt(message) == Some(1) {
                    match state.compensation_sent {
                        None => state.compensation_sent = Some(message.id),
                        Some(first) => state.compensation_sent_twice |= first != message.id,
                    }
                }
                state.compensation_held = true;
            }
        }
    }

    /// Offers every way to answer every saga message held.
    fn offer(&self, state: &ParticipantState, out: &mut Out<Node>) {
        let mut choices = Vec::new();
        for (undo, held) in [(false, state.command_held), (true, state.compensation_held)] {
            if !held {
                continue;
            }
            choices.push(Choice::Answer {
                undo,
                how: Answer::Reply,
            });
            if !undo && state.outcome.is_none() && state.failures_left > 0 {
                choices.push(Choice::Answer {
                    undo,
                    how: Answer::Fail,
                });
            }
            if state.losses_left > 0 {
                choices.push(Choice::Answer {
                    undo,
                    how: Answer::Lose,
                });
            }
            if state.duplicates_left > 0 {
                choices.push(Choice::Answer {
                    undo,
                    how: Answer::Twice,
                });
            }
        }
        out.choose_random(ANSWER, choices);
    }

    /// The chosen answer to a saga message held.
    pub fn on_choice(&self, state: &mut ParticipantState, choice: &Choice, out: &mut Out<Node>) {
        let Choice::Answer { undo, how } = *choice else {
            return;
        };
        let success = match undo {
            false if state.command_held => {
                state.command_held = false;
                match (state.outcome, how) {
                    (Some(outcome), _) => outcome,
                    (None, Answer::Fail) => {
                        state.failures_left -= 1;
                        *state.outcome.insert(false)
                    }
                    (None, _) => *state.outcome.insert(true),
                }
            }
            true if state.compensation_held => {
                state.compensation_held = false;
                state.compensated = true;
                // A command not yet done is refused from now on.
                state.command_held &= state.outcome.is_some();
                true
            }
            _ => return,
        };
        let replies = match how {
            Answer::Reply | Answer::Fail => 1,
            Answer::Lose => {
                state.losses_left -= 1;
                0
            }
            Answer::Twice => {
                state.duplicates_left -= 1;
                2
            }
        };
        let action = match undo {
            true => Action::Compensation,
            false => Action::Command,
        };
        let outcome = match success {
            true => "success",
            false => "failure",
        };
        let properties = Properties {
            correlation_id: Some(saga::correlation_id(action, u32::from(self.step), SAGA_ID)),
            headers: Some(Arc::new(FieldTable::from([(
                saga::OUTCOME_HEADER.to_owned(),
                FieldValue::string(outcome),
            )]))),
            ..Properties::default()
        };
        let reply_to = format!("{}{SAGA}", saga::REPLY_PREFIX);
        let frames = (0..replies)
            .map(|_| publish("", &reply_to, properties.clone()))
            .collect::<Vec<_>>();
        if !frames.is_empty() {
            send(out, state.incarnation, frames);
        }
        self.offer(state, out);
    }
}

/// The attempt a saga message carries (`x-saga-attempt`).
#[must_use]
pub fn attempt(message: &SharedMessage) -> Option<i64> {
    let headers = message.properties().headers.as_ref()?;
    match headers.get("x-saga-attempt")? {
        FieldValue::I64(attempt) => Some(*attempt),
        _ => None,
    }
}

/// Whether a publish is the saga model's: to the saga exchange, or a reply.
#[must_use]
pub fn is_saga_publish(exchange: &str, properties: &Properties) -> bool {
    exchange == SAGA || properties.correlation_id.is_some()
}

/// A saga publish in words: a start, an abort or a reply.
#[must_use]
pub fn describe_publish(properties: &Properties) -> String {
    let header = |name: &str| {
        let headers = properties.headers.as_ref();
        headers.and_then(|headers| headers.get(name))
    };
    if let Some(correlation_id) = &properties.correlation_id {
        let outcome = header(saga::OUTCOME_HEADER).and_then(FieldValue::as_str);
        return format!("reply '{correlation_id}': {}", outcome.unwrap_or("?"));
    }
    let id = properties.message_id.as_deref().unwrap_or("");
    match header(saga::ABORT_HEADER) {
        Some(_) => format!("abort saga '{id}'"),
        None => format!("start saga '{id}'"),
    }
}

/// The broker, when it is up and did not panic (a panic is `no-panic`'s).
fn live_broker(state: &State) -> Option<&BrokerState> {
    let broker = state.actor_states[BROKER].as_broker()?;
    (!state.crashed[BROKER] && broker.panicked.is_none()).then_some(broker)
}

/// Where the broker's saga is, when the broker is up.
fn phase(state: &State) -> Option<Phase> {
    let broker = live_broker(state)?;
    let saga = broker.broker.sagas().saga("/", SAGA)?;
    saga.instance(SAGA_ID).map(|instance| instance.phase)
}

/// Every participant's state, in step order.
fn participants(state: &State) -> impl Iterator<Item = &ParticipantState> {
    state.actor_states[FIRST_PARTICIPANT..]
        .iter()
        .filter_map(|actor| actor.as_participant())
}

/// `saga-atomicity`: a saga ended `completed` had every command done and
/// no compensation; one ended `compensated` had every step whose command
/// was done compensated.
pub fn saga_atomicity(_: &BrokerModel, state: &State) -> bool {
    match phase(state) {
        Some(Phase::Completed) => participants(state).all(|p| p.applied() && !p.compensated),
        Some(Phase::Compensated) => participants(state).all(|p| !p.applied() || p.compensated),
        _ => true,
    }
}

/// `compensation-order`: no step is compensated while a later step's
/// command is done and not compensated (reverse order, one at a time).
pub fn compensation_order(_: &BrokerModel, state: &State) -> bool {
    let steps: Vec<&ParticipantState> = participants(state).collect();
    steps.iter().enumerate().all(|(index, earlier)| {
        !earlier.compensated
            || steps[index + 1..]
                .iter()
                .all(|later| !later.applied() || later.compensated)
    })
}

/// `no-double-compensation`: no step's compensation is sent afresh twice.
pub fn no_double_compensation(_: &BrokerModel, state: &State) -> bool {
    participants(state).all(|p| !p.compensation_sent_twice)
}

/// `no-forward-after-abort`: once the broker took an abort of the running
/// saga, no command of a later step than the one it was at is done.
pub fn no_forward_after_abort(_: &BrokerModel, state: &State) -> bool {
    let Some(at) = live_broker(state).and_then(|broker| broker.saga_aborted_at) else {
        return true;
    };
    participants(state)
        .enumerate()
        .all(|(step, p)| step <= at as usize || !p.applied())
}

/// `completed` (sometimes): the saga ends with every step done.
pub fn completed(_: &BrokerModel, state: &State) -> bool {
    phase(state) == Some(Phase::Completed)
}

/// `compensated` (sometimes): the saga ends with its steps compensated.
pub fn compensated(_: &BrokerModel, state: &State) -> bool {
    phase(state) == Some(Phase::Compensated)
}

/// `failed-needs-attention` (sometimes): a compensation went unanswered
/// (or failed) and the saga ends for an operator to look at.
pub fn failed_needs_attention(_: &BrokerModel, state: &State) -> bool {
    phase(state) == Some(Phase::FailedNeedsAttention)
}
