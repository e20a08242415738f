//! The broker state machine: its state, its inputs and outputs. Connections,
//! channels and the dispatch of commands live in `session`, entities
//! (exchanges, queues, bindings) in `entities`, the message path (publish,
//! route, enqueue, deliver, settle, dead-letter) in `delivery`, direct
//! reply-to in `direct_reply`, time (TTL, x-expires, consumer timeout) in
//! `timers`, and the plumbing of the streams ([`crate::stream`]) in
//! `streams`.

mod confirms;
mod consumers;
mod counters;
mod dead_lettering;
mod delivery;
mod direct_reply;
mod durability;
mod entities;
mod events;
mod flow;
mod groups;
mod inspect;
mod invariants;
mod pubsub;
mod recovery;
mod sagas;
mod session;
mod sqs;
mod stream_access;
mod stream_queues;
mod streams;
mod timers;
mod transactions;

use crate::access::Permissions;
use crate::arena::{Arena, Id};
use crate::channel::{Channel, Consumer};
use crate::config::{Config, MESSAGE_SIZE_LIMIT_BYTES};
use crate::field::FieldTable;
use crate::message::Name;
use crate::message::SharedMessage;
use crate::pool::MessagePool;
use crate::protocol::{
    ChannelId, ConnectionId, DeadLetterReason, DropReason, Event, ExchangeKind, Input, Output,
    Reply, ReplyCode,
};
use crate::queue::Queue;
use crate::routing::{BindingSources, Bindings, Destination};
use crate::time::Instant;
use crate::unobserved::Unobserved;
use counters::Tally;
pub use counters::{Counters, DeadLetterCounts};
pub(crate) use direct_reply::REPLY_QUEUE;
use events::Held;
pub use events::{EventRef, NameRef};
pub use inspect::{
    BindingInfo, ChannelInfo, ConnectionInfo, ConsumerInfo, ExchangeInfo, QueueInfo,
};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::sync::Arc;

/// An exchange.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Exchange {
    name: Name,
    kind: ExchangeKind,
    durable: bool,
    auto_delete: bool,
    internal: bool,
    arguments: FieldTable,
    bindings: Bindings,
}

/// A virtual host's names.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
struct Vhost {
    exchanges: BTreeMap<Name, Id>,
    queues: BTreeMap<Name, Id>,
}

/// An open connection.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Connection {
    /// The authenticated user, which a publish's `user_id` must match.
    user: String,
    vhost: Name,
    channels: BTreeSet<ChannelId>,
    exclusive_queues: BTreeSet<Id>,
    /// The broker closed it with an error: commands are ignored until `Disconnect`.
    closing: bool,
    /// The highest channel number it may open: what it agreed to, at most
    /// the broker's `channel_max`.
    channel_max: u16,
    /// Under credit flow, the consumed queues it published into while they
    /// were over the high mark; empty otherwise.
    flow: Vec<Id>,
    /// The memory alarm blocked it (it published while the alarm was raised).
    blocked: bool,
    /// The driver was last told to stop reading it (`Output::Pause`).
    paused: bool,
    /// What its user may do on its vhost, when access control restricts
    /// it; `None` when everything is allowed.
    permissions: Option<Arc<Permissions>>,
}

/// A deadline the broker must act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Timer {
    /// A message at the head of this queue expires.
    QueueHead(Id),
    /// This queue may have been unused for its `x-expires`.
    QueueExpires(Id),
    /// A delivery on this channel may have waited past the consumer timeout.
    ConsumerTimeout(Id),
    /// A queue holding back a connection in credit flow may count as stalled.
    CreditFlow,
    /// An SQS queue has a visibility deadline, a delay, a long poll or a
    /// deduplication id due.
    Sqs(Id),
}

/// A message on its way to a dead-letter exchange, already rewritten.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct DeadLetter {
    message: SharedMessage,
    vhost: Name,
    queue: Name,
    reason: DeadLetterReason,
    /// The record of the message leaving its queue, logged in one atomic
    /// record with its dead-letter copies.
    removal: Option<crate::record::Change>,
}

/// An error caused by client input: closes the channel or the connection.
#[derive(Debug)]
struct Fault {
    code: ReplyCode,
    text: String,
}

impl Fault {
    /// A fault whose text is prefixed with the code's name, as RabbitMQ words it.
    fn new(code: ReplyCode, text: impl fmt::Display) -> Fault {
        Fault {
            code,
            text: format!("{} - {}", code.name(), text),
        }
    }

    /// A fault whose text already carries the code's name.
    fn worded(code: ReplyCode, text: String) -> Fault {
        Fault { code, text }
    }
}

/// The broker: one sans-IO state machine holding every exchange, queue,
/// binding, connection, channel, consumer and message.
///
/// # Calling protocol
///
/// 1. Feed every event with [`Broker::handle`], passing the driver's current
///    time. Time never goes backwards for the broker: an earlier `now` counts
///    as the latest one seen.
/// 2. After every `handle`, drain [`Broker::poll_output`] until it returns
///    `None`, carrying out each output in order (replies to clients, records
///    to the log). With [`Config::events`] on, also drain the events, with
///    [`Broker::drain_events`] or [`Broker::poll_event`]: they are a stream of
///    their own, in the order things happened, and they wait (in memory)
///    until they are drained.
/// 3. Then wait until [`Broker::poll_timeout`] (if any) and call `handle` with
///    [`Input::Timeout`]. Any `handle` call also runs the timers that are due.
///
/// Client errors never panic: they become `Reply::Close` with RabbitMQ's reply
/// code. A broken internal invariant is an assertion failure.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Broker {
    config: Config,
    now: Instant,
    vhosts: BTreeMap<Name, Vhost>,
    exchanges: Arena<Exchange>,
    /// The exchanges bound to each queue and exchange (the reverse of
    /// every exchange's bindings).
    binding_sources: BindingSources,
    queues: Arena<Queue>,
    channels: Arena<Channel>,
    consumers: Arena<Consumer>,
    channel_index: BTreeMap<(ConnectionId, ChannelId), Id>,
    closing_channels: BTreeSet<(ConnectionId, ChannelId)>,
    connections: BTreeMap<ConnectionId, Connection>,
    timers: BTreeSet<(Instant, Timer)>,
    dead_letters: VecDeque<DeadLetter>,
    outputs: VecDeque<Output>,
    /// Events recorded since they were last all drained, when
    /// `config.events` is on: a list read from `events_taken` (a queue costs
    /// more per event, and the list empties whenever the driver catches up).
    events: Vec<Event<Held>>,
    /// How many of `events` `poll_event` gave out.
    events_taken: usize,
    /// The names `events` hold by place; emptied with them.
    event_names: Vec<Name>,
    next_message_id: u64,
    next_generated_name: u64,
    /// The key of the next direct reply-to consumer, in its reply-to name.
    next_reply_key: u64,
    /// Scratch space for routing, kept to avoid an allocation per publish; always empty between calls.
    route_scratch: Vec<Destination>,
    /// Scratch space for routing targets; always empty between calls.
    target_scratch: Vec<Id>,
    /// Scratch space for the queues a settle touched; always empty between calls.
    touched_scratch: Vec<Id>,
    /// The lsn of the next record.
    next_lsn: u64,
    /// Changes gathered into one atomic record while a dead letter is moved.
    atomic: Option<Vec<crate::record::Change>>,
    /// Every record up to here is durable.
    synced_lsn: u64,
    /// Publisher confirms waiting for a record to be synced, by that record's lsn.
    pending_confirms: BTreeMap<u64, Vec<durability::PendingConfirm>>,
    /// Queues recovered from a log, whose timers start at the first input.
    recovered_queues: Vec<Id>,
    /// Messages dropped for good, by reason: a counter beside each `Dropped` event.
    dropped: BTreeMap<DropReason, u64>,
    /// What the message path counted, for metrics (see `counters`).
    counters: Tally,
    /// Body bytes held: ready in queues, delivered and not yet settled,
    /// and buffered in transactions (see `held_bytes`).
    held_bytes: u64,
    /// Bytes the driver holds for the broker (`Input::DriverHeld`).
    driver_held_bytes: u64,
    /// The memory alarm is raised: a publishing connection is blocked.
    alarm_raised: bool,
    /// Connections a queue may be holding back in credit flow (those with a
    /// non-empty `flow`).
    flow_candidates: BTreeSet<ConnectionId>,
    /// The credit-flow timer's deadline, if armed.
    flow_timer: Option<Instant>,
    /// Stream topics, their parked fetches and idempotent producers.
    streams: crate::stream::Streams,
    /// The stream queues, which a sync may give records to deliver.
    stream_queues: BTreeSet<Id>,
    /// The consumer group coordinator: groups, members and committed offsets.
    groups: crate::group::Groups,
    /// What the users of authenticated stream connections may do, for
    /// those whose permissions do not admit everything (`stream_access`).
    stream_permissions: BTreeMap<ConnectionId, Arc<Permissions>>,
    /// Stream requests of those connections whose replies are filtered
    /// before they go (Metadata, and whether it named its topics; ListGroups).
    restricted_replies: BTreeMap<(ConnectionId, u64), bool>,
    /// The sagas: definitions, instances and their deadlines.
    sagas: crate::saga::Sagas,
    /// Saga messages waiting for their transition's record to be synced,
    /// by its lsn (0 for those a recovery sends again), with their saga.
    saga_outbox: BTreeMap<u64, Vec<(crate::saga::InstanceKey, SharedMessage)>>,
    /// The Pub/Sub channels: subscriptions and subscribers' output buffers.
    pubsub: crate::pubsub::PubSub,
    /// The SQS queues.
    sqs_queues: BTreeSet<Id>,
    /// SQS answers waiting for a record to be synced, by its lsn.
    sqs_pending: BTreeMap<u64, Vec<(ConnectionId, u64, crate::sqs::SqsReply)>>,
    /// The last receipt nonce issued: a receipt handle is never issued twice.
    sqs_receipt_nonce: u64,
    /// Allocations of acknowledged messages, reused by the next publishes.
    message_pool: Unobserved<MessagePool>,
    /// The channel the last command named, found without the two map
    /// lookups: drivers hand over a connection's commands in runs.
    last_channel: Unobserved<Option<(ConnectionId, ChannelId, Id)>>,
    /// The queues the last publish was routed to, for a publisher that
    /// repeats its exchange and routing key; forgotten whenever an
    /// exchange, a queue or a binding comes or goes.
    route_memo: Unobserved<delivery::RouteMemo>,
}

/// The prefix of server-generated queue names, followed by a number.
const SERVER_NAMED_QUEUE_PREFIX: &str = "amq.gen-";

/// The predeclared exchanges of every vhost.
const PREDECLARED: [(&str, ExchangeKind); 6] = [
    ("", ExchangeKind::Direct),
    ("amq.direct", ExchangeKind::Direct),
    ("amq.fanout", ExchangeKind::Fanout),
    ("amq.topic", ExchangeKind::Topic),
    ("amq.headers", ExchangeKind::Headers),
    ("amq.match", ExchangeKind::Headers),
];

impl Broker {
    /// A broker with the configured vhosts and their predeclared exchanges.
    ///
    /// # Panics
    /// When `config.max_message_size_bytes` is above [`MESSAGE_SIZE_LIMIT_BYTES`]
    /// (a configuration error of the driver, not client input).
    #[must_use]
    pub fn new(config: Config) -> Broker {
        assert!(
            config.max_message_size_bytes <= MESSAGE_SIZE_LIMIT_BYTES,
            "max_message_size_bytes {} is above the limit of {MESSAGE_SIZE_LIMIT_BYTES}",
            config.max_message_size_bytes
        );
        let streams = crate::stream::Streams::for_config(&config);
        #[allow(unused_mut)]
        let mut groups = crate::group::Groups::new(config.groups);
        #[cfg(feature = "mutants")]
        groups.set_mutant(config.mutant);
        #[allow(unused_mut)]
        let mut pubsub = crate::pubsub::PubSub::new(config.pubsub);
        #[cfg(feature = "mutants")]
        pubsub.set_store_and_forward(config.mutant == Some(crate::Mutant::PubSubStoreAndForward));
        let mut broker = Broker {
            config,
            now: Instant::default(),
            vhosts: BTreeMap::new(),
            exchanges: Arena::default(),
            binding_sources: BindingSources::default(),
            queues: Arena::default(),
            channels: Arena::default(),
            consumers: Arena::default(),
            channel_index: BTreeMap::new(),
            closing_channels: BTreeSet::new(),
            connections: BTreeMap::new(),
            timers: BTreeSet::new(),
            dead_letters: VecDeque::new(),
            outputs: VecDeque::new(),
            events: Vec::new(),
            events_taken: 0,
            event_names: Vec::new(),
            next_message_id: 1,
            next_generated_name: 1,
            next_reply_key: 1,
            route_scratch: Vec::new(),
            target_scratch: Vec::new(),
            touched_scratch: Vec::new(),
            next_lsn: 1,
            atomic: None,
            synced_lsn: 0,
            pending_confirms: BTreeMap::new(),
            recovered_queues: Vec::new(),
            dropped: BTreeMap::new(),
            counters: Tally::default(),
            held_bytes: 0,
            driver_held_bytes: 0,
            alarm_raised: false,
            flow_candidates: BTreeSet::new(),
            flow_timer: None,
            streams,
            stream_queues: BTreeSet::new(),
            groups,
            stream_permissions: BTreeMap::new(),
            restricted_replies: BTreeMap::new(),
            sagas: crate::saga::Sagas::default(),
            saga_outbox: BTreeMap::new(),
            pubsub,
            sqs_queues: BTreeSet::new(),
            sqs_pending: BTreeMap::new(),
            sqs_receipt_nonce: 0,
            message_pool: Unobserved::default(),
            last_channel: Unobserved::default(),
            route_memo: Unobserved::default(),
        };
        for vhost in broker.config.vhosts.clone() {
            let vhost: Name = vhost.into();
            broker.vhosts.insert(vhost.clone(), Vhost::default());
            for (name, kind) in PREDECLARED {
                broker.insert_exchange(
                    &vhost,
                    name.into(),
                    kind,
                    true,
                    false,
                    false,
                    FieldTable::new(),
                );
            }
        }
        broker
    }

    /// The configuration the broker runs with.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Feeds one input at time `now`, after running every timer due by then.
    #[inline]
    pub fn handle(&mut self, now: Instant, input: Input) {
        self.now = self.now.max(now);
        if !self.recovered_queues.is_empty() {
            self.touch_recovered_queues();
        }
        self.fire_timers();
        self.fire_stream_timers();
        self.fire_group_timers();
        self.fire_saga_timers();
        if self
            .saga_outbox
            .first_key_value()
            .is_some_and(|(&lsn, _)| lsn <= self.synced_lsn)
        {
            self.release_saga_sends(self.synced_lsn);
        }
        if !self.dead_letters.is_empty() {
            self.flush_dead_letters();
        }
        match input {
            Input::Connect {
                conn,
                user,
                vhost,
                channel_max,
            } => self.connect(conn, user, &vhost, channel_max),
            Input::Disconnect { conn } => self.disconnect(conn),
            Input::Command {
                conn,
                channel,
                command,
            } => self.command(conn, channel, command, None),
            Input::Refused {
                conn,
                channel,
                command,
                code,
                text,
            } => {
                let refusal = Fault { code, text };
                self.command(conn, channel, command, Some(refusal));
            }
            Input::Timeout => {}
            Input::Synced { upto } => self.synced(upto),
            Input::Stream {
                conn,
                request,
                command,
            } => self.stream_command(conn, request, *command),
            Input::DriverHeld { bytes } => self.driver_held_bytes = bytes,
            Input::PubSub { conn, command } => self.pubsub_command(conn, *command),
            Input::Sqs {
                conn,
                request,
                command,
            } => self.sqs_command(conn, request, *command),
        }
        if !self.dead_letters.is_empty() {
            self.flush_dead_letters();
        }
        self.update_pauses();
    }

    /// The next thing the driver must do, in order; `None` when there is nothing left.
    #[must_use]
    #[inline]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When the broker next needs `Input::Timeout` (possibly early: a timer
    /// that finds nothing to do is harmless).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let queues = self.timers.first().map(|(at, _)| *at);
        let deadlines = [
            queues,
            self.streams.poll_timeout(),
            self.groups.poll_timeout(),
            self.sagas.poll_timeout(),
        ];
        deadlines.into_iter().flatten().min()
    }

    /// The stream topics, their logs and producers (see [`crate::stream`]).
    #[must_use]
    pub fn streams(&self) -> &crate::stream::Streams {
        &self.streams
    }

    /// The consumer group coordinator: its groups and committed offsets (see [`crate::group`]).
    #[must_use]
    pub fn groups(&self) -> &crate::group::Groups {
        &self.groups
    }

    /// The Pub/Sub channels and their subscribers (see [`crate::pubsub`]).
    #[must_use]
    pub fn pubsub(&self) -> &crate::pubsub::PubSub {
        &self.pubsub
    }

    /// The latest time the broker has seen.
    #[must_use]
    pub fn now(&self) -> Instant {
        self.now
    }

    /// How many messages were dropped for good for `reason` since the broker
    /// started (a counter beside the `Dropped` events, for metrics).
    #[must_use]
    pub fn dropped_count(&self, reason: DropReason) -> u64 {
        self.dropped.get(&reason).copied().unwrap_or(0)
    }

    /// Body bytes of the messages the broker holds: ready in queues, and
    /// delivered and not yet settled, counted once per queue a message is
    /// in; and publishes a transaction holds until its commit. The memory alarm ([`MemoryAlarm`](crate::MemoryAlarm)) weighs
    /// it; a driver may report it. Kept as a count, so it costs nothing to ask.
    #[must_use]
    pub fn held_bytes(&self) -> u64 {
        self.held_bytes
    }

    /// The queue a command on this channel names with `queue`: the name
    /// itself, or for the empty name the channel's last declared queue (as
    /// the command would resolve it). `None` when the channel is not open or
    /// has declared nothing. Drivers use it for access control before they
    /// hand the command over (see `Input::Refused`).
    #[must_use]
    pub fn queue_named(&self, conn: ConnectionId, channel: ChannelId, queue: &str) -> Option<Name> {
        let channel = *self.channel_index.get(&(conn, channel))?;
        self.resolve_queue_name(channel, queue).ok()
    }

    fn reply(&mut self, channel: Id, reply: Reply) {
        let channel = &self.channels[channel];
        let (conn, channel) = (channel.conn, channel.number);
        self.outputs.push_back(Output::Reply {
            conn,
            channel,
            reply,
        });
    }

    /// The vhost a channel's connection opened.
    fn vhost_of(&self, channel: Id) -> Name {
        let conn = self.channels[channel].conn;
        self.connections[&conn].vhost.clone()
    }

    /// The name the next server-named queue.declare will give its queue,
    /// so that a driver can check a permission on it before the declare
    /// runs, as RabbitMQ checks the generated name.
    #[must_use]
    pub fn next_server_named_queue(&self) -> String {
        format!("{SERVER_NAMED_QUEUE_PREFIX}{}", self.next_generated_name)
    }

    fn generate_name(&mut self, prefix: &str) -> Name {
        let name = format!("{prefix}{}", self.next_generated_name);
        self.next_generated_name += 1;
        name.into()
    }
}
