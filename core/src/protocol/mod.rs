//! The core's vocabulary: what drivers feed in (`Input`, `Command`) and what
//! the broker asks of them (`Output`, `Reply`, `Event`).
//!
//! Commands are protocol-neutral: they carry what AMQP 0-9-1 methods carry but
//! no frame layout, so another front end can drive the same core.
//!
//! Inputs and outputs are here; the commands a client sends are in
//! `command`, the broker's replies to it in `reply`, and the events it
//! reports to the lab in `event`. Each is re-exported here.

mod command;
mod event;
mod reply;

pub use command::*;
pub use event::*;
pub use reply::*;

/// A client connection, numbered by the driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnectionId(pub u64);

/// A channel number within a connection (AMQP channels are 1..=channel_max).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChannelId(pub u16);

/// Everything that can happen to the broker.
///
/// A word-sized tag, as `Output` has, keeps the payload 8-byte aligned, so
/// that moving a command out of it copies whole words.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[repr(u64)]
pub enum Input {
    /// A client connected and authenticated as `user` on `vhost`.
    Connect {
        /// The new connection.
        conn: ConnectionId,
        /// Authenticated user name.
        user: String,
        /// Virtual host the client opened.
        vhost: String,
        /// The highest channel number the connection agreed to (tune-ok's
        /// `channel_max`); the broker's own
        /// [`Config::channel_max`](crate::Config::channel_max) bounds it.
        channel_max: u16,
    },
    /// The connection is gone (closed cleanly or dropped): everything it held is released.
    Disconnect {
        /// The connection that went away.
        conn: ConnectionId,
    },
    /// A client command on one channel.
    Command {
        /// Connection the command came on.
        conn: ConnectionId,
        /// Channel the command came on.
        channel: ChannelId,
        /// The command itself.
        command: Command,
    },
    /// A client command the driver refuses on its own authority (a rule of
    /// the driver's, not the broker's; the broker's own access control is
    /// [`Config::access`](crate::Config::access)): the core checks the
    /// channel as for any command, then answers as if the command had
    /// failed with `code` and `text`, without carrying it out.
    Refused {
        /// Connection the command came on.
        conn: ConnectionId,
        /// Channel the command came on.
        channel: ChannelId,
        /// The command refused.
        command: Command,
        /// The reply code to fail it with.
        code: ReplyCode,
        /// The reply text, as RabbitMQ words it.
        text: String,
    },
    /// Time has reached `poll_timeout()`: expire messages, queues and deliveries.
    Timeout,
    /// The store made every record up to this log sequence number durable.
    Synced {
        /// The highest durable lsn.
        upto: u64,
    },
    /// A stream command (see [`crate::stream`]): answered with
    /// [`Output::Stream`] carrying the same `request`, so that a front end
    /// can put its answers back in request order. The connection needs no
    /// `Connect` (a Kafka client opens no vhost); its `Disconnect` drops
    /// what it waits for.
    Stream {
        /// Connection the command came on.
        conn: ConnectionId,
        /// The front end's number for the request.
        request: u64,
        /// The command, boxed so that `Input` stays small to move.
        command: Box<crate::stream::StreamCommand>,
    },
    /// A Pub/Sub command (see [`crate::pubsub`]), answered with
    /// [`Output::PubSub`]s. Like a stream command's connection, its
    /// connection needs no `Connect`; its `Disconnect` drops its subscriptions.
    PubSub {
        /// Connection the command came on.
        conn: ConnectionId,
        /// The command, boxed so that `Input` stays small to move.
        command: Box<crate::pubsub::PubSubCommand>,
    },
    /// An SQS action (see [`crate::sqs`]), answered with [`Output::Sqs`]
    /// carrying the same `request`: at once, or for a receive that waits
    /// in a long poll, when a message arrives or its wait runs out. The
    /// connection needs no `Connect`; its `Disconnect` drops its waits.
    Sqs {
        /// Connection the action came on.
        conn: ConnectionId,
        /// The front end's number for the request.
        request: u64,
        /// The action, boxed so that `Input` stays small to move.
        command: Box<crate::sqs::SqsCommand>,
    },
    /// The bytes of messages the driver holds for the broker outside it
    /// (bodies still arriving, say): the memory alarm weighs them with the
    /// broker's own. A driver gives it when the figure changes.
    DriverHeld {
        /// Bytes held by the driver now.
        bytes: u64,
    },
}

/// Everything the broker asks its driver to do.
///
/// Its tag is a whole word so that its payload starts 8-byte aligned: with
/// a two-byte tag the payload started at offset 2, and every output moved
/// out of the queue was copied in overlapping pieces that stalled the
/// driver's loop on store forwarding (a tenth of the message path's time).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[repr(u64)]
pub enum Output {
    /// Send a reply to a client.
    Reply {
        /// Destination connection.
        conn: ConnectionId,
        /// Destination channel (0 for connection-level replies).
        channel: ChannelId,
        /// The reply.
        reply: Reply,
    },
    /// Append a record to the log; answer later with `Input::Synced`. Boxed
    /// so that the common outputs stay small to move.
    Persist(Box<crate::record::Record>),
    /// Answer a stream command (boxed so that the common outputs stay small to move).
    Stream {
        /// Destination connection.
        conn: ConnectionId,
        /// The request it answers.
        request: u64,
        /// The answer.
        reply: Box<crate::stream::StreamReply>,
    },
    /// A Pub/Sub answer or delivery for a connection, in the order the
    /// connection must see them (boxed so that the common outputs stay small).
    PubSub {
        /// Destination connection.
        conn: ConnectionId,
        /// The answer, delivery or disconnection.
        reply: Box<crate::pubsub::PubSubReply>,
    },
    /// Answer an SQS action (boxed so that the common outputs stay small to move).
    Sqs {
        /// Destination connection.
        conn: ConnectionId,
        /// The request it answers.
        request: u64,
        /// The answer.
        reply: Box<crate::sqs::SqsReply>,
    },
    /// Stop (`paused`) or resume reading a connection: it is in credit flow
    /// ([`Flow`](crate::Flow)) or blocked by the memory alarm
    /// ([`MemoryAlarm`](crate::MemoryAlarm)). Given only when the answer
    /// changes. What the connection already sent is still handled; a paused
    /// connection is not taken for dead for not being read.
    Pause {
        /// The connection.
        conn: ConnectionId,
        /// Stop reading it (`true`) or read it again (`false`).
        paused: bool,
    },
    /// A Pub/Sub publish's deliveries, one output for all its receivers
    /// (each receiver's as [`Published::replies`](crate::pubsub::Published::replies)
    /// gives it), in its place among each receiver's [`Output::PubSub`]s.
    PubSubPublished {
        /// The message and its receivers.
        published: Box<crate::pubsub::Published>,
    },
}
