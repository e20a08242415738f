//! The broker actor: the production `brokerlab_core::Broker`, driven by its
//! calling protocol inside a stateright actor.
//!
//! Every message from a client becomes one `Broker::handle` call at the
//! actor's logical clock, and the outputs are drained at once: replies go back
//! over the network to the client that owns the connection, log records wait
//! in `pending` for the disk. Two untimed timers stand for what a real driver
//! waits on: `Sync` (the disk finished writing; the broker hears
//! `Input::Synced` and releases the confirms that waited for it) and
//! `Deadline` (the broker's next deadline is reached: the clock jumps to it
//! and the broker hears `Input::Timeout`). Either may fire at any point, which
//! is exactly the freedom a real disk and a real clock have.
//!
//! The synced records are the actor's stateright `Storage`: after a crash the
//! actor starts again from them with `Broker::recover`, having lost its
//! memory, its unsynced records and every connection.
//!
//! A connection the core pauses (`Output::Pause`: credit flow or the memory
//! alarm) is not read: the actor takes no segment from it until the core
//! resumes it, and what it sent waits in the network, as bytes wait in a
//! socket a server stopped reading.

use crate::actors::Node;
use crate::clients::{parse_body, MessageSet};
use crate::network::{Sequencing, Turn};
use crate::shared::Shared;
use crate::steps::Steps;
use crate::wire::{Frame, Incarnation, Log, Msg, Timer};
use brokerlab_core::group::GroupRequest;
use brokerlab_core::record::{Change, Record};
use brokerlab_core::saga::{self, Phase};
use brokerlab_core::{
    Broker, ChannelId, Command, Config, ConnectionId, Event, EventRef, Input, Instant, MessageId,
    Mutant, Output, PubSubReply, PublishProperties, Reply, SqsCommand, SqsReply, StreamCommand,
    StreamReply,
};
use stateright::actor::{Id, Out};
use stateright::{Rewrite, RewritePlan};
use std::collections::{BTreeMap, BTreeSet};

/// The connection the operator uses to provision the broker before clients arrive.
const ADMIN: ConnectionId = ConnectionId(0);

/// The broker actor's configuration.
#[derive(Clone, Debug)]
pub struct BrokerActor {
    /// The core's configuration (a mutant is selected here).
    pub config: Config,
    /// Commands the operator runs on a fresh broker (declaring the queues).
    pub setup: Vec<Command>,
    /// Stream commands the operator runs on a fresh broker after `setup`
    /// (creating the topics).
    pub stream_setup: Vec<StreamCommand>,
    /// SQS actions the operator runs on a fresh broker after those
    /// (creating the queues).
    pub sqs_setup: Vec<SqsCommand>,
    /// Whether the synced log is kept as stateright storage (only crash models
    /// need it; the others forget synced records, which keeps their states small).
    pub keep_log: bool,
    /// How many client actors the model has (actors 1 to `clients`): after a
    /// crash each hears that its connections are gone.
    pub clients: usize,
    /// Whether segments are numbered and taken in turn (over an unordered network).
    pub sequenced: bool,
    /// Its steps, remembered (a fresh table for each model).
    pub steps: Steps,
}

/// The broker actor's state: the core and what its driver keeps around it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BrokerState {
    /// The production broker.
    pub broker: Broker,
    /// The logical clock; it moves only when a deadline fires.
    pub now: Instant,
    /// Which client incarnation each live connection belongs to.
    pub connections: BTreeMap<ConnectionId, (Id, Incarnation)>,
    /// The id of the next connection.
    pub next_connection: u64,
    /// Records appended but not yet synced (when the log is kept).
    pub pending: Vec<Record>,
    /// The lsn of the last record appended and not yet synced (the records
    /// themselves are kept only when the log is).
    pub unsynced_upto: Option<u64>,
    /// Records synced (the storage), when the log is kept.
    pub log: Log,
    /// What the driver saw of message expiry.
    pub expiry: Expiry,
    /// Segment counts per connection (over an unordered network; empty otherwise).
    pub sequencing: Sequencing,
    /// The message of the panic in the broker's last step, if it panicked
    /// (the rest is its state before that step; it takes no more steps).
    pub panicked: Option<String>,
    /// The connections the core paused: not read until it resumes them.
    pub paused: BTreeSet<ConnectionId>,
    /// A group accepted (logged) an offset commit that named a generation
    /// other than the group's current one: what generation fencing forbids.
    pub stale_commit_accepted: bool,
    /// The step a saga was at when the broker took an abort of it while it
    /// was running (the saga model runs one saga): from then on, no command
    /// of a later step may be sent. Lost with a crash, as the abort may be.
    pub saga_aborted_at: Option<u32>,
    /// In some step the core's counters (`Broker::counters`, what a
    /// metrics dashboard reads) grew by other than the deliveries and
    /// redeliveries it sent in that step.
    pub counters_drifted: bool,
}

/// The driver's watch on expiring messages, from the core's own outputs:
/// each logged message with a deadline (its `Enqueued` record carries it),
/// whether one was handed out at or after its deadline, and which expired.
/// Messages without a deadline are never tracked, so models without TTL
/// carry nothing here.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Expiry {
    /// Each tracked message's number and deadline.
    pub deadlines: BTreeMap<MessageId, (u8, Instant)>,
    /// Messages that expired in their queue.
    pub expired: MessageSet,
    /// A message was handed out at or after its deadline.
    pub expired_delivery: bool,
}

impl Expiry {
    /// Notes what one output of the broker at `now` says about deadlines.
    fn observe(&mut self, now: Instant, output: &Output) {
        match output {
            Output::Persist(record) => self.observe_change(&record.change),
            Output::Reply {
                reply: Reply::Deliver { message, .. },
                ..
            } => {
                if let Some((_, at)) = self.deadlines.get(&message.id) {
                    self.expired_delivery |= now >= *at;
                }
            }
            Output::Reply { .. }
            | Output::Pause { .. }
            | Output::Stream { .. }
            | Output::PubSub { .. }
            | Output::Sqs { .. }
            | Output::PubSubPublished { .. } => {}
        }
    }

    /// Notes the deadline an `Enqueued` record carries, in an atomic
    /// record too (an SQS message is logged with its deduplication id).
    fn observe_change(&mut self, change: &Change) {
        match change {
            Change::Enqueued {
                message,
                expires_at,
                ..
            } => {
                let number = parse_body(&message.body).map_or(0, |(_, number)| number);
                match expires_at {
                    Some(at) => self.deadlines.insert(message.id, (number, *at)),
                    None => self.deadlines.remove(&message.id),
                };
            }
            Change::Atomic { changes } => {
                for change in changes {
                    self.observe_change(change);
                }
            }
            _ => {}
        }
    }

    /// Notes what one event says about deadlines (after the step's outputs:
    /// a message that expires is not delivered in the same step).
    fn observe_event(&mut self, event: EventRef<'_>) {
        match event {
            Event::Expired { message, .. } => {
                if let Some((number, _)) = self.deadlines.remove(&message) {
                    if number != 0 {
                        self.expired.insert(number);
                    }
                }
            }
            Event::Acked { message, .. }
            | Event::DeadLettered { message, .. }
            | Event::Dropped { message, .. } => {
                self.deadlines.remove(&message);
            }
            _ => {}
        }
    }
}

impl BrokerState {
    /// The connection of a client's incarnation, if the broker holds it.
    #[must_use]
    pub fn connection_of(&self, client: Id, incarnation: Incarnation) -> Option<ConnectionId> {
        self.connections
            .iter()
            .find(|(_, owner)| **owner == (client, incarnation))
            .map(|(conn, _)| *conn)
    }
}

impl BrokerState {
    /// Whether renaming actors by `plan` renames a client the broker state
    /// names (as a connection's owner, or in its sequencing).
    #[must_use]
    pub fn renames_a_client<S>(&self, plan: &RewritePlan<Id, S>) -> bool {
        let renamed = |client: &Id| plan.rewrite(client) != *client;
        self.connections.values().any(|(client, _)| renamed(client))
            || self.sequencing.opened.keys().any(renamed)
            || self
                .sequencing
                .counts
                .keys()
                .any(|(client, _)| renamed(client))
    }
}

// Symmetry renames client actors: the only actor ids the broker keeps are the
// owners of its connections.
impl Rewrite<Id> for BrokerState {
    fn rewrite<S>(&self, plan: &RewritePlan<Id, S>) -> BrokerState {
        let connections = self
            .connections
            .iter()
            .map(|(conn, (client, incarnation))| (*conn, (plan.rewrite(client), *incarnation)))
            .collect();
        let sequencing = Sequencing {
            counts: (self.sequencing.counts.iter())
                .map(|((client, incarnation), counts)| {
                    ((plan.rewrite(client), *incarnation), *counts)
                })
                .collect(),
            opened: (self.sequencing.opened.iter())
                .map(|(client, incarnation)| (plan.rewrite(client), *incarnation))
                .collect(),
        };
        BrokerState {
            connections,
            sequencing,
            ..self.clone()
        }
    }
}

impl BrokerActor {
    /// The broker of a model with `clients` client actors, provisioned by
    /// `setup`: the real core (or `mutant`) without a consumer timeout (in
    /// the models a deadline would only be another way for a connection to
    /// lose its deliveries), forgetting synced records, over links that need
    /// no sequencing, with a fresh step table.
    #[must_use]
    pub fn new(mutant: Option<Mutant>, setup: Vec<Command>, clients: usize) -> BrokerActor {
        BrokerActor {
            config: Config {
                events: true,
                consumer_timeout_ms: None,
                mutant,
                ..Config::default()
            },
            setup,
            stream_setup: Vec::new(),
            sqs_setup: Vec::new(),
            keep_log: false,
            clients,
            sequenced: false,
            steps: Steps::default(),
        }
    }

    /// The broker with `setup` run on it as it starts: SQS actions that
    /// create its queues.
    #[must_use]
    pub fn with_sqs_setup(self, setup: Vec<SqsCommand>) -> BrokerActor {
        BrokerActor {
            sqs_setup: setup,
            ..self
        }
    }

    /// The state of a broker that panicked as it started (provisioning or
    /// recovering): an empty broker that takes no step.
    #[must_use]
    pub fn halted(&self, panicked: String) -> BrokerState {
        BrokerState {
            panicked: Some(panicked),
            ..BrokerState::new(Broker::new(self.config.clone()))
        }
    }

    /// A fresh broker provisioned by `setup`, or one recovered from its synced
    /// log after a crash (whose clients then hear that their connections are gone).
    pub fn start(&self, storage: &Option<Log>, out: &mut Out<Node>) -> BrokerState {
        let state = match storage {
            Some(log) => {
                let mut state =
                    BrokerState::new(Broker::recover(self.config.clone(), log.0.iter().cloned()));
                state.log = log.clone();
                for client in 1..=self.clients {
                    out.send(Id::from(client), Msg::Reset);
                }
                state
            }
            None => {
                let mut state = self.provisioned();
                if self.keep_log {
                    out.save(state.log.clone());
                } else {
                    state.log = Log::default();
                }
                state
            }
        };
        state.arm_deadline(out);
        state
    }

    /// A fresh broker after the operator ran `setup`, its records already synced.
    fn provisioned(&self) -> BrokerState {
        let mut state = BrokerState::new(Broker::new(self.config.clone()));
        let broker = &mut state.broker;
        let connect = Input::Connect {
            conn: ADMIN,
            user: "guest".to_owned(),
            vhost: "/".to_owned(),
            channel_max: u16::MAX,
        };
        broker.handle(Instant(0), connect);
        let channel = ChannelId(1);
        let commands = std::iter::once(Command::ChannelOpen).chain(self.setup.iter().cloned());
        for command in commands {
            let input = Input::Command {
                conn: ADMIN,
                channel,
                command,
            };
            broker.handle(Instant(0), input);
        }
        for (request, command) in (1..).zip(self.stream_setup.iter().cloned()) {
            let command = Box::new(command);
            broker.handle(
                Instant(0),
                Input::Stream {
                    conn: ADMIN,
                    request,
                    command,
                },
            );
        }
        for (request, command) in (1..).zip(self.sqs_setup.iter().cloned()) {
            let command = Box::new(command);
            broker.handle(
                Instant(0),
                Input::Sqs {
                    conn: ADMIN,
                    request,
                    command,
                },
            );
        }
        broker.handle(Instant(0), Input::Disconnect { conn: ADMIN });
        let mut records = Vec::new();
        while let Some(output) = broker.poll_output() {
            if let Output::Persist(record) = output {
                records.push(*record);
            }
        }
        let upto = broker.last_lsn();
        broker.handle(Instant(0), Input::Synced { upto });
        while broker.poll_output().is_some() {}
        state.log = Log(Shared::new(records));
        state
    }

    /// Whether the broker takes `msg` from `src` now: always over an
    /// ordered network; over an unordered one, when it is the next segment
    /// of its connection (otherwise it waits, or is a copy to discard, and
    /// taking it would change nothing).
    #[must_use]
    pub fn takes(&self, state: &BrokerState, src: Id, msg: &Msg) -> bool {
        if state.panicked.is_some() {
            return false;
        }
        match msg {
            Msg::Frames { incarnation, .. } if state.is_paused(src, *incarnation) => false,
            Msg::Frames {
                incarnation, seq, ..
            } if self.sequenced => state.sequencing.turn(src, *incarnation, *seq) == Turn::Take,
            Msg::Frames { .. } => true,
            Msg::Replies { .. }
            | Msg::StreamReplies { .. }
            | Msg::PubSubReplies { .. }
            | Msg::SqsReplies { .. }
            | Msg::Reset => false,
        }
    }

    /// Frames from a client: each is one input, and the replies of all of
    /// them leave together, one segment per connection.
    pub fn on_msg(&self, state: &mut BrokerState, src: Id, msg: Msg, out: &mut Out<Node>) {
        let Msg::Frames {
            incarnation,
            seq,
            frames,
        } = msg
        else {
            return;
        };
        if self.sequenced {
            state.sequencing.taken(src, incarnation, seq);
        }
        let mut replies = Replies::default();
        for frame in frames.iter().cloned() {
            let input = match frame {
                Frame::Connect => {
                    let conn = ConnectionId(state.next_connection);
                    state.next_connection += 1;
                    state.connections.insert(conn, (src, incarnation));
                    Input::Connect {
                        conn,
                        user: "guest".to_owned(),
                        vhost: "/".to_owned(),
                        channel_max: u16::MAX,
                    }
                }
                // Frames for a connection the broker does not hold (lost in
                // a crash) go nowhere, as on a dead socket.
                Frame::Command { channel, command } => {
                    match state.connection_of(src, incarnation) {
                        Some(conn) => {
                            if let Some(step) = aborts_running_saga(&state.broker, &command) {
                                state.saga_aborted_at.get_or_insert(step);
                            }
                            Input::Command {
                                conn,
                                channel,
                                command,
                            }
                        }
                        None => continue,
                    }
                }
                Frame::Disconnect => match state.connection_of(src, incarnation) {
                    Some(conn) => {
                        state.sequencing.closed(src, incarnation);
                        state.connections.remove(&conn);
                        state.paused.remove(&conn);
                        Input::Disconnect { conn }
                    }
                    None => continue,
                },
                Frame::Stream { request, command } => {
                    let conn = state.stream_connection(src, incarnation);
                    let stale = stale_commit(&state.broker, &command);
                    let logged = state.broker.last_lsn();
                    let input = Input::Stream {
                        conn,
                        request,
                        command: Box::new(command),
                    };
                    self.handle(state, input, &mut replies, out);
                    state.stale_commit_accepted |= stale && state.broker.last_lsn() > logged;
                    continue;
                }
                Frame::PubSub(command) => Input::PubSub {
                    conn: state.stream_connection(src, incarnation),
                    command: Box::new(command),
                },
                Frame::Sqs { request, command } => Input::Sqs {
                    conn: state.stream_connection(src, incarnation),
                    request,
                    command: Box::new(command),
                },
            };
            self.handle(state, input, &mut replies, out);
        }
        replies.send(state, self.sequenced, out);
    }

    /// A timer fired: the disk synced, or a deadline was reached.
    pub fn on_timeout(&self, state: &mut BrokerState, timer: &Timer, out: &mut Out<Node>) {
        match timer {
            Timer::Sync => {
                let Some(upto) = state.unsynced_upto.take() else {
                    return;
                };
                if self.keep_log {
                    let pending = &mut state.pending;
                    state.log.0.update(|records| records.append(pending));
                    out.save(state.log.clone());
                }
                let mut replies = Replies::default();
                self.handle(state, Input::Synced { upto }, &mut replies, out);
                replies.send(state, self.sequenced, out);
            }
            Timer::Deadline => {
                if let Some(at) = state.broker.poll_timeout() {
                    state.now = state.now.max(at);
                }
                let mut replies = Replies::default();
                self.handle(state, Input::Timeout, &mut replies, out);
                replies.send(state, self.sequenced, out);
            }
            // The clients' timers.
            Timer::DropConnection
            | Timer::Heartbeat
            | Timer::Consume
            | Timer::Leave
            | Timer::Restart
            | Timer::Retry
            | Timer::OpenBreaker => {}
        }
    }

    /// Feeds one input and carries out every output.
    fn handle(
        &self,
        state: &mut BrokerState,
        input: Input,
        replies: &mut Replies,
        out: &mut Out<Node>,
    ) {
        let before = *state.broker.counters();
        // What the step handed out: deliveries, and of those redeliveries.
        let mut handed_out = (0_u64, 0_u64);
        state.broker.handle(state.now, input);
        while let Some(output) = state.broker.poll_output() {
            state.expiry.observe(state.now, &output);
            match output {
                Output::Reply {
                    conn,
                    channel,
                    reply,
                } => {
                    if let Reply::Deliver { redelivered, .. } | Reply::GetOk { redelivered, .. } =
                        &reply
                    {
                        handed_out.0 += 1;
                        handed_out.1 += u64::from(*redelivered);
                    }
                    // Replies to a connection already gone have no socket to go to.
                    if let Some(&owner) = state.connections.get(&conn) {
                        replies.push(owner, channel, reply);
                    }
                }
                Output::Persist(record) => {
                    if state.unsynced_upto.is_none() {
                        out.set_timer(Timer::Sync, stateright::actor::model_timeout());
                    }
                    state.unsynced_upto = Some(record.lsn);
                    if self.keep_log {
                        state.pending.push(*record);
                    }
                }
                Output::Pause { conn, paused } => {
                    let changed = match paused {
                        true => state.paused.insert(conn),
                        false => state.paused.remove(&conn),
                    };
                    assert!(changed, "the core says a pause only when it changes");
                }
                Output::Stream {
                    conn,
                    request,
                    reply,
                } => {
                    if let Some(&owner) = state.connections.get(&conn) {
                        replies.push_stream(owner, request, *reply);
                    }
                }
                Output::PubSub { conn, reply } => {
                    if let Some(&owner) = state.connections.get(&conn) {
                        replies.push_pubsub(owner, *reply);
                    }
                }
                Output::PubSubPublished { published } => {
                    for (conn, reply) in published.replies() {
                        if let Some(&owner) = state.connections.get(&conn) {
                            replies.push_pubsub(owner, reply);
                        }
                    }
                }
                Output::Sqs {
                    conn,
                    request,
                    reply,
                } => {
                    if let Some(&owner) = state.connections.get(&conn) {
                        replies.push_sqs(owner, request, *reply);
                    }
                }
            }
        }
        // A step's counts depend on the step alone (the counters are not
        // part of the broker's state, so a remembered step keeps another
        // path's totals): its increments must be what it handed out.
        let after = state.broker.counters();
        let counted = (
            after.delivered() - before.delivered(),
            after.redelivered - before.redelivered,
        );
        state.counters_drifted |= counted != handed_out;
        let expiry = &mut state.expiry;
        state
            .broker
            .drain_events(|event| expiry.observe_event(event));
        // Every state the checker reaches is checked whole; a broken
        // invariant panics, which the model reports as a `no-panic`
        // counterexample. A mutant breaks the core on purpose, so its inner
        // state need not hold: its models test that a property, watching
        // the clients, sees the broken rule.
        if self.config.mutant.is_none() {
            state.broker.check_invariants();
        }
        state.arm_deadline(out);
    }
}

impl BrokerState {
    fn new(broker: Broker) -> BrokerState {
        BrokerState {
            broker,
            now: Instant(0),
            connections: BTreeMap::new(),
            next_connection: ADMIN.0 + 1,
            pending: Vec::new(),
            unsynced_upto: None,
            log: Log::default(),
            expiry: Expiry::default(),
            sequencing: Sequencing::default(),
            panicked: None,
            paused: BTreeSet::new(),
            stale_commit_accepted: false,
            saga_aborted_at: None,
            counters_drifted: false,
        }
    }

    /// Whether the connection of this client incarnation is paused.
    #[must_use]
    pub fn is_paused(&self, client: Id, incarnation: Incarnation) -> bool {
        !self.paused.is_empty()
            && self
                .connection_of(client, incarnation)
                .is_some_and(|conn| self.paused.contains(&conn))
    }

    /// The connection of a stream or Pub/Sub client's incarnation, opened by
    /// its first request (a Kafka or Redis client opens no vhost, so the core
    /// hears no `Connect`).
    fn stream_connection(&mut self, client: Id, incarnation: Incarnation) -> ConnectionId {
        if let Some(conn) = self.connection_of(client, incarnation) {
            return conn;
        }
        let conn = ConnectionId(self.next_connection);
        self.next_connection += 1;
        self.connections.insert(conn, (client, incarnation));
        conn
    }

    /// Arms the deadline timer when the broker has a deadline.
    fn arm_deadline(&self, out: &mut Out<Node>) {
        if self.broker.poll_timeout().is_some() {
            out.set_timer(Timer::Deadline, stateright::actor::model_timeout());
        }
    }
}

/// Whether `command` is an offset commit that names a generation other
/// than its group's current one (a commit outside group management, with
/// generation -1, names none).
fn stale_commit(broker: &Broker, command: &StreamCommand) -> bool {
    let StreamCommand::Group(GroupRequest::OffsetCommit(commit)) = command else {
        return false;
    };
    let current = broker.groups().generation(&commit.group);
    commit.generation >= 0 && current.is_some_and(|generation| generation != commit.generation)
}

/// The step of the running saga that `command` aborts, if it is an abort
/// (a publish to a saga exchange with the `x-saga-abort` header) of one.
fn aborts_running_saga(broker: &Broker, command: &Command) -> Option<u32> {
    let Command::BasicPublish {
        exchange,
        properties: PublishProperties::Given(properties),
        ..
    } = command
    else {
        return None;
    };
    let headers = properties.headers.as_ref()?;
    if !headers.contains_key(saga::ABORT_HEADER) {
        return None;
    }
    let id = properties.message_id.as_deref()?;
    let instance = broker.sagas().saga("/", exchange)?.instance(id)?;
    (instance.phase == Phase::Running).then_some(instance.step)
}

/// The replies for one client connection, with that connection's owner.
type Segment = ((Id, Incarnation), Vec<(ChannelId, Reply)>);

/// The stream replies for one client connection, with that connection's owner.
type StreamSegment = ((Id, Incarnation), Vec<(u64, StreamReply)>);

/// The Pub/Sub answers and deliveries for one client connection, with that
/// connection's owner.
type PubSubSegment = ((Id, Incarnation), Vec<PubSubReply>);

/// The SQS answers for one client connection, with that connection's owner.
type SqsSegment = ((Id, Incarnation), Vec<(u64, SqsReply)>);

/// Replies gathered for one segment per client connection, in order.
#[derive(Default)]
struct Replies {
    segments: Vec<Segment>,
    streams: Vec<StreamSegment>,
    pubsub: Vec<PubSubSegment>,
    sqs: Vec<SqsSegment>,
}

impl Replies {
    fn push_pubsub(&mut self, owner: (Id, Incarnation), reply: PubSubReply) {
        match self.pubsub.iter_mut().find(|(to, _)| *to == owner) {
            Some((_, replies)) => replies.push(reply),
            None => self.pubsub.push((owner, vec![reply])),
        }
    }

    fn push_sqs(&mut self, owner: (Id, Incarnation), request: u64, reply: SqsReply) {
        match self.sqs.iter_mut().find(|(to, _)| *to == owner) {
            Some((_, replies)) => replies.push((request, reply)),
            None => self.sqs.push((owner, vec![(request, reply)])),
        }
    }

    fn push_stream(&mut self, owner: (Id, Incarnation), request: u64, reply: StreamReply) {
        match self.streams.iter_mut().find(|(to, _)| *to == owner) {
            Some((_, replies)) => replies.push((request, reply)),
            None => self.streams.push((owner, vec![(request, reply)])),
        }
    }

    fn push(&mut self, owner: (Id, Incarnation), channel: ChannelId, reply: Reply) {
        match self.segments.iter_mut().find(|(to, _)| *to == owner) {
            Some((_, replies)) => replies.push((channel, reply)),
            None => self.segments.push((owner, vec![(channel, reply)])),
        }
    }

    /// Sends each segment, numbered when `sequenced` (a connection closed
    /// meanwhile gets nothing: it has no socket).
    fn send(self, state: &mut BrokerState, sequenced: bool, out: &mut Out<Node>) {
        // Stream clients keep their links in order: their segments are not numbered.
        for ((client, incarnation), replies) in self.streams {
            let replies = Shared::new(replies);
            let msg = Msg::StreamReplies {
                incarnation,
                seq: 0,
                replies,
            };
            out.send(client, msg);
        }
        // Pub/Sub clients keep their links in order too.
        for ((client, incarnation), replies) in self.pubsub {
            let replies = Shared::new(replies);
            let msg = Msg::PubSubReplies {
                incarnation,
                seq: 0,
                replies,
            };
            out.send(client, msg);
        }
        // SQS clients keep their links in order too.
        for ((client, incarnation), replies) in self.sqs {
            let replies = Shared::new(replies);
            let msg = Msg::SqsReplies {
                incarnation,
                seq: 0,
                replies,
            };
            out.send(client, msg);
        }
        for ((client, incarnation), replies) in self.segments {
            let seq = match sequenced {
                true => match state.sequencing.next_sent(client, incarnation) {
                    Some(seq) => seq,
                    None => continue,
                },
                false => 0,
            };
            let replies = Shared::new(replies);
            let msg = Msg::Replies {
                incarnation,
                seq,
                replies,
            };
            out.send(client, msg);
        }
    }
}
