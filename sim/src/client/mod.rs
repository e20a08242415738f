//! Client nodes: sans-IO state machines that talk to the broker in commands
//! and replies, like the core itself.
//!
//! A client never sees the network: the simulation tells it when its
//! connection opened ([`Client::handle_open`]) or closed
//! ([`Client::handle_closed`]), hands it replies and timeouts, and drains the
//! commands it wants sent ([`Client::poll_command`]) and its next deadline
//! ([`Client::poll_timeout`]). What a client sees and does goes into the
//! history as it happens, which is how the checkers learn about the run.

pub mod consumer;
pub mod producer;

use crate::history::History;
use crate::random::SimRng;
use brokerlab_core::{ChannelId, Command, ConnectionId, Reply};
use std::collections::{BTreeSet, VecDeque};

pub use consumer::{Consumer, ConsumerSpec};
pub use producer::{Producer, ProducerSpec};

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
}

/// Commands a client wants sent, and whether it wants its connection closed.
#[derive(Clone, Debug, Default)]
pub struct Outbox {
    commands: VecDeque<(ChannelId, Command)>,
    close: bool,
}

impl Outbox {
    /// Queues a command for the client's connection.
    pub fn send(&mut self, channel: ChannelId, command: Command) {
        assert!(
            self.commands.len() < OUTBOX_MAX,
            "client outbox bound reached"
        );
        self.commands.push_back((channel, command));
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
}

impl Client {
    /// The connection `conn` is open (connection.open-ok arrived).
    pub fn handle_open(&mut self, context: &mut Context<'_>, conn: ConnectionId) {
        match self {
            Client::Producer(producer) => producer.handle_open(context, conn),
            Client::Consumer(consumer) => consumer.handle_open(context, conn),
        }
    }

    /// A reply arrived on the open connection.
    pub fn handle_reply(&mut self, context: &mut Context<'_>, channel: ChannelId, reply: Reply) {
        match self {
            Client::Producer(producer) => producer.handle_reply(context, channel, reply),
            Client::Consumer(consumer) => consumer.handle_reply(context, channel, reply),
        }
    }

    /// The connection is gone; everything in flight on it is lost.
    pub fn handle_closed(&mut self, context: &mut Context<'_>) {
        match self {
            Client::Producer(producer) => producer.handle_closed(context),
            Client::Consumer(consumer) => consumer.handle_closed(context),
        }
    }

    /// Time has reached [`Client::poll_timeout`].
    pub fn handle_timeout(&mut self, context: &mut Context<'_>) {
        match self {
            Client::Producer(producer) => producer.handle_timeout(context),
            Client::Consumer(consumer) => consumer.handle_timeout(context),
        }
    }

    /// The next command to send, in order.
    #[must_use]
    pub fn poll_command(&mut self) -> Option<(ChannelId, Command)> {
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
        }
    }

    /// Whether the client wants a connection (a producer that is done does not).
    #[must_use]
    pub fn wants_connection(&self) -> bool {
        match self {
            Client::Producer(producer) => producer.wants_connection(),
            Client::Consumer(_) => true,
        }
    }

    /// Whether the client has finished its part of the workload.
    #[must_use]
    pub fn is_done(&self) -> bool {
        match self {
            Client::Producer(producer) => producer.is_done(),
            Client::Consumer(_) => true,
        }
    }

    fn outbox(&mut self) -> &mut Outbox {
        match self {
            Client::Producer(producer) => &mut producer.outbox,
            Client::Consumer(consumer) => &mut consumer.outbox,
        }
    }
}
