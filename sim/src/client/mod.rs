//! Client nodes: sans-IO state machines that talk to the broker in commands
//! and replies, like the core itself.
//!
//! A client never sees the network: the simulation tells it when its
//! connection opened ([`Client::handle_open`]) or closed
//! ([`Client::handle_closed`]), hands it replies and timeouts, and drains the
//! commands it wants sent ([`Client::poll_command`]) and its next deadline
//! ([`Client::poll_timeout`]). What a client sees and does goes into the
//! history as it happens, which is how the checkers learn about the run.
//!
//! AMQP clients (producers and consumers) speak the core's `Command`s on a
//! channel; stream clients (stream producers and readers) speak its
//! `StreamCommand`s, each a numbered request answered by one `StreamReply`.

pub mod consumer;
pub mod membership;
pub mod producer;
pub mod pubsub;
pub mod saga;
pub mod sqs;
pub mod stream_producer;
pub mod stream_reader;

use crate::history::History;
use crate::random::SimRng;
use brokerlab_core::stream::{StreamCommand, StreamRecord, StreamReply};
use brokerlab_core::{ChannelId, Command, ConnectionId, Reply};
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

pub use consumer::{Consumer, ConsumerSpec};
pub use membership::GroupSpec;
pub use producer::{Producer, ProducerSpec};
pub use pubsub::{PubSubClient, PubSubRole};
pub use saga::{
    SagaObserver, SagaParticipant, SagaParticipantSpec, SagaStarter, SagaStarterSpec, SagaStore,
};
pub use sqs::{SqsClient, SqsProgress, SqsRole};
pub use stream_producer::{StreamProducer, StreamProducerSpec};
pub use stream_reader::{StreamReader, StreamReaderSpec};

/// Most commands a client may have waiting to be sent at once.
const OUTBOX_MAX: usize = 1024;

/// The channel every workload client uses (one channel per connection is enough here).
pub const CHANNEL: ChannelId = ChannelId(1);

/// Consumer numbers of requesters (as consumers of their reply queues) start here.
pub const REQUESTER_BASE: usize = 1000;
/// Producer numbers of responders (as publishers of replies) start here.
pub const RESPONDER_BASE: usize = 2000;

/// basic.qos with a per-consumer prefetch.
#[must_use]
pub fn qos(prefetch_count: u16) -> Command {
    Command::BasicQos {
        prefetch_size: 0,
        prefetch_count,
        global: false,
    }
}

/// basic.consume of `queue` with acks, under `tag`.
#[must_use]
pub fn consume(queue: &str, tag: &str) -> Command {
    Command::BasicConsume {
        queue: queue.to_owned(),
        consumer_tag: tag.to_owned(),
        no_ack: false,
        exclusive: false,
        arguments: Default::default(),
    }
}

/// What a client's handler may use: the time, the run's randomness, the history.
pub struct Context<'a> {
    /// Simulated time, in nanoseconds.
    pub now_ns: u64,
    /// The run's one random source.
    pub rng: &'a mut SimRng,
    /// Where the client records what it sees and does.
    pub history: &'a mut History,
    /// Logical messages whose effect an idempotent consumer applied: the
    /// store the workload's consumers share, which survives their crashes.
    pub processed: &'a mut BTreeSet<u64>,
    /// What the stream clients share to know when the workload is done.
    pub streams: &'a mut StreamProgress,
    /// The saga participants' store of idempotency keys, which survives
    /// their crashes.
    pub sagas: &'a mut SagaStore,
    /// What the SQS clients share to know when to drain.
    pub sqs: &'a mut SqsProgress,
}

/// What a stream workload's clients share, as a test harness does, to
/// know when they are done: how many producers are still at work, where
/// each partition's acknowledged records end, and how far the readers'
/// group has committed.
#[derive(Clone, Debug, Default)]
pub struct StreamProgress {
    /// Stream producers not yet done: a reader stops once none is left
    /// and a poll sent after that finds nothing more (its final poll).
    pub producers_left: usize,
    /// Per partition, the offset after the last acknowledged record.
    pub acked_end: BTreeMap<u32, u64>,
    /// Per partition, the highest offset a group member heard committed.
    pub committed: BTreeMap<u32, u64>,
}

impl StreamProgress {
    /// Whether the producers are done and the group has committed past
    /// every acknowledged record: its members may stop.
    #[must_use]
    pub fn group_is_done(&self) -> bool {
        self.producers_left == 0
            && (self.acked_end.iter())
                .all(|(partition, end)| self.committed.get(partition) >= Some(end))
    }

    /// A member heard `offset` committed in `partition`.
    pub fn committed(&mut self, partition: u32, offset: u64) {
        let committed = self.committed.entry(partition).or_default();
        *committed = (*committed).max(offset);
    }
}

/// What a client sends on its connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outgoing {
    /// An AMQP command on a channel.
    Command(ChannelId, Command),
    /// A stream command, under its request number.
    Stream(u64, StreamCommand),
    /// A Pub/Sub command.
    PubSub(brokerlab_core::PubSubCommand),
    /// An SQS action, under its request number.
    Sqs(u64, brokerlab_core::SqsCommand),
}

/// Commands a client wants sent, and whether it wants its connection closed.
#[derive(Clone, Debug, Default)]
pub struct Outbox {
    commands: VecDeque<Outgoing>,
    close: bool,
}

impl Outbox {
    /// Queues a command for the client's connection.
    pub fn send(&mut self, channel: ChannelId, command: Command) {
        self.push(Outgoing::Command(channel, command));
    }

    /// Queues a stream command, numbered `request`, for the client's connection.
    pub fn send_stream(&mut self, request: u64, command: StreamCommand) {
        self.push(Outgoing::Stream(request, command));
    }

    /// Queues a Pub/Sub command for the client's connection.
    pub fn send_pubsub(&mut self, command: brokerlab_core::PubSubCommand) {
        self.push(Outgoing::PubSub(command));
    }

    /// Queues an SQS action, numbered `request`, for the client's connection.
    pub fn send_sqs(&mut self, request: u64, command: brokerlab_core::SqsCommand) {
        self.push(Outgoing::Sqs(request, command));
    }

    fn push(&mut self, outgoing: Outgoing) {
        assert!(
            self.commands.len() < OUTBOX_MAX,
            "client outbox bound reached"
        );
        self.commands.push_back(outgoing);
    }

    /// Asks for the connection to be closed (after the queued commands).
    pub fn close(&mut self) {
        self.close = true;
    }

    /// Forgets everything queued: the connection it was meant for is gone.
    pub fn clear(&mut self) {
        self.commands.clear();
        self.close = false;
    }
}

/// A client node of the simulation.
#[derive(Clone, Debug)]
pub enum Client {
    /// Publishes with confirms and retries.
    Producer(Producer),
    /// Consumes with prefetch, acks and requeues.
    Consumer(Consumer),
    /// Produces keyed records to a stream, acknowledged after sync, with retries.
    StreamProducer(StreamProducer),
    /// Reads the partitions it owns with long polls.
    StreamReader(StreamReader),
    /// Starts sagas, and aborts some.
    SagaStarter(SagaStarter),
    /// Serves one saga step: its commands and compensations.
    SagaParticipant(SagaParticipant),
    /// Consumes the sagas' outcomes.
    SagaObserver(SagaObserver),
    /// Publishes to, or subscribes to, Redis Pub/Sub channels.
    PubSub(PubSubClient),
    /// Sends to, or receives from and deletes in, SQS queues.
    Sqs(SqsClient),
}

impl Client {
    /// The connection `conn` is open (connection.open-ok arrived).
    pub fn handle_open(&mut self, context: &mut Context<'_>, conn: ConnectionId) {
        match self {
            Client::Producer(producer) => producer.handle_open(context, conn),
            Client::Consumer(consumer) => consumer.handle_open(context, conn),
            Client::StreamProducer(producer) => producer.handle_open(context, conn),
            Client::StreamReader(reader) => reader.handle_open(context, conn),
            Client::SagaStarter(starter) => starter.handle_open(context, conn),
            Client::SagaParticipant(participant) => participant.handle_open(context, conn),
            Client::SagaObserver(observer) => observer.handle_open(context, conn),
            Client::PubSub(client) => client.handle_open(context, conn),
            Client::Sqs(client) => client.handle_open(context, conn),
        }
    }

    /// A reply arrived on the open connection.
    pub fn handle_reply(&mut self, context: &mut Context<'_>, channel: ChannelId, reply: Reply) {
        match self {
            Client::Producer(producer) => producer.handle_reply(context, channel, reply),
            Client::Consumer(consumer) => consumer.handle_reply(context, channel, reply),
            Client::SagaStarter(starter) => starter.handle_reply(context, channel, reply),
            Client::SagaParticipant(participant) => {
                participant.handle_reply(context, channel, reply);
            }
            Client::SagaObserver(observer) => observer.handle_reply(context, channel, reply),
            // Stream and Pub/Sub clients hear nothing on a channel after connection.open-ok.
            Client::StreamProducer(_)
            | Client::StreamReader(_)
            | Client::PubSub(_)
            | Client::Sqs(_) => {}
        }
    }

    /// A Pub/Sub answer or delivery arrived on the open connection.
    pub fn handle_pubsub_reply(
        &mut self,
        context: &mut Context<'_>,
        reply: brokerlab_core::PubSubReply,
    ) {
        if let Client::PubSub(client) = self {
            client.handle_reply(context, reply);
        }
    }

    /// The answer to SQS request `request` arrived on the open connection.
    pub fn handle_sqs_reply(
        &mut self,
        context: &mut Context<'_>,
        request: u64,
        reply: brokerlab_core::SqsReply,
    ) {
        if let Client::Sqs(client) = self {
            client.handle_reply(context, request, reply);
        }
    }

    /// The reply to stream request `request` arrived on the open connection.
    pub fn handle_stream_reply(
        &mut self,
        context: &mut Context<'_>,
        request: u64,
        reply: StreamReply,
    ) {
        match self {
            Client::StreamProducer(producer) => producer.handle_reply(context, request, reply),
            Client::StreamReader(reader) => reader.handle_reply(context, request, reply),
            Client::Producer(_)
            | Client::Consumer(_)
            | Client::SagaStarter(_)
            | Client::SagaParticipant(_)
            | Client::SagaObserver(_)
            | Client::PubSub(_)
            | Client::Sqs(_) => {
                unreachable!("AMQP, Pub/Sub and SQS clients send no stream request")
            }
        }
    }

    /// The connection is gone; everything in flight on it is lost.
    pub fn handle_closed(&mut self, context: &mut Context<'_>) {
        match self {
            Client::Producer(producer) => producer.handle_closed(context),
            Client::Consumer(consumer) => consumer.handle_closed(context),
            Client::StreamProducer(producer) => producer.handle_closed(context),
            Client::StreamReader(reader) => reader.handle_closed(context),
            Client::SagaStarter(starter) => starter.handle_closed(context),
            Client::SagaParticipant(participant) => participant.handle_closed(context),
            Client::SagaObserver(observer) => observer.handle_closed(),
            Client::PubSub(client) => client.handle_closed(context),
            Client::Sqs(client) => client.handle_closed(context),
        }
    }

    /// Time has reached [`Client::poll_timeout`].
    pub fn handle_timeout(&mut self, context: &mut Context<'_>) {
        match self {
            Client::Producer(producer) => producer.handle_timeout(context),
            Client::Consumer(consumer) => consumer.handle_timeout(context),
            Client::StreamProducer(producer) => producer.handle_timeout(context),
            Client::StreamReader(reader) => reader.handle_timeout(context),
            Client::SagaStarter(starter) => starter.handle_timeout(context),
            Client::SagaParticipant(participant) => participant.handle_timeout(context),
            Client::SagaObserver(_) => {}
            Client::PubSub(client) => client.handle_timeout(context),
            Client::Sqs(client) => client.handle_timeout(context),
        }
    }

    /// A group member in its group rejoins (Kafka's `enforceRebalance`);
    /// returns whether the client is one.
    pub fn enforce_rebalance(&mut self, context: &mut Context<'_>) -> bool {
        match self {
            Client::StreamReader(reader) => reader.enforce_rebalance(context),
            _ => false,
        }
    }

    /// The next command to send, in order.
    #[must_use]
    pub fn poll_command(&mut self) -> Option<Outgoing> {
        self.outbox().commands.pop_front()
    }

    /// Whether the client wants its connection closed, once its commands are sent.
    #[must_use]
    pub fn poll_close(&mut self) -> bool {
        std::mem::take(&mut self.outbox().close)
    }

    /// When the client next needs [`Client::handle_timeout`].
    #[must_use]
    pub fn poll_timeout(&self) -> Option<u64> {
        match self {
            Client::Producer(producer) => producer.poll_timeout(),
            Client::Consumer(consumer) => consumer.poll_timeout(),
            Client::StreamProducer(producer) => producer.poll_timeout(),
            Client::StreamReader(reader) => reader.poll_timeout(),
            Client::SagaStarter(starter) => starter.poll_timeout(),
            Client::SagaParticipant(participant) => participant.poll_timeout(),
            Client::SagaObserver(_) => None,
            Client::PubSub(client) => client.poll_timeout(),
            Client::Sqs(client) => client.poll_timeout(),
        }
    }

    /// Whether the client wants a connection (a producer that is done does not).
    #[must_use]
    pub fn wants_connection(&self) -> bool {
        match self {
            Client::Producer(producer) => producer.wants_connection(),
            Client::Consumer(_) | Client::SagaParticipant(_) | Client::SagaObserver(_) => true,
            Client::StreamProducer(producer) => !producer.is_done(),
            Client::StreamReader(reader) => !reader.is_done(),
            Client::SagaStarter(starter) => !starter.is_done(),
            Client::PubSub(client) => client.wants_connection(),
            Client::Sqs(client) => client.wants_connection(),
        }
    }

    /// Whether the client has finished its part of the workload.
    #[must_use]
    pub fn is_done(&self) -> bool {
        match self {
            Client::Producer(producer) => producer.is_done(),
            Client::Consumer(_) | Client::SagaParticipant(_) | Client::SagaObserver(_) => true,
            Client::StreamProducer(producer) => producer.is_done(),
            Client::StreamReader(reader) => reader.is_done(),
            Client::SagaStarter(starter) => starter.is_done(),
            Client::PubSub(client) => client.is_done(),
            Client::Sqs(client) => client.is_done(),
        }
    }

    fn outbox(&mut self) -> &mut Outbox {
        match self {
            Client::Producer(producer) => &mut producer.outbox,
            Client::Consumer(consumer) => &mut consumer.outbox,
            Client::StreamProducer(producer) => &mut producer.outbox,
            Client::StreamReader(reader) => &mut reader.outbox,
            Client::SagaStarter(starter) => &mut starter.outbox,
            Client::SagaParticipant(participant) => &mut participant.outbox,
            Client::SagaObserver(observer) => &mut observer.outbox,
            Client::PubSub(client) => &mut client.outbox,
            Client::Sqs(client) => &mut client.outbox,
        }
    }
}

/// The key of key number `key`, as stream producers write it.
#[must_use]
pub fn stream_key(key: u32) -> Bytes {
    Bytes::from(format!("k{key}"))
}

/// The key number and stamp a stream record carries, or `None` when no
/// stream producer wrote it.
#[must_use]
pub fn stream_value(record: &StreamRecord) -> Option<crate::history::StreamValue> {
    let key = record.key.as_ref()?.strip_prefix(b"k")?;
    let key = std::str::from_utf8(key).ok()?.parse().ok()?;
    let stamp = crate::history::Stamp::decode(record.value.as_ref()?)?;
    Some(crate::history::StreamValue { key, stamp })
}
