//! The core's vocabulary: what drivers feed in (`Input`, `Command`) and what
//! the broker asks of them (`Output`, `Reply`, `Event`).
//!
//! Commands are protocol-neutral: they carry what AMQP 0-9-1 methods carry but
//! no frame layout, so another front end can drive the same core.

use crate::field::FieldTable;
use crate::message::Name;
use crate::message::SharedMessage;
use crate::message::{MessageId, Properties};
use bytes::Bytes;
use std::fmt;
use std::sync::Arc;

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

/// An exchange type.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum ExchangeKind {
    /// Exact routing-key match.
    Direct,
    /// Every bound queue.
    Fanout,
    /// Dotted routing-key patterns with `*` and `#`.
    Topic,
    /// Header matching with `x-match`.
    Headers,
    /// A saga (`x-saga`): a publish starts or aborts one, and nothing is
    /// routed through it (see [`crate::saga`]).
    Saga,
}

impl ExchangeKind {
    /// Parses an AMQP exchange type name.
    #[must_use]
    pub fn parse(name: &str) -> Option<ExchangeKind> {
        match name {
            "direct" => Some(ExchangeKind::Direct),
            "fanout" => Some(ExchangeKind::Fanout),
            "topic" => Some(ExchangeKind::Topic),
            "headers" => Some(ExchangeKind::Headers),
            crate::saga::definition::EXCHANGE_TYPE => Some(ExchangeKind::Saga),
            _ => None,
        }
    }

    /// The AMQP name of this type.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ExchangeKind::Direct => "direct",
            ExchangeKind::Fanout => "fanout",
            ExchangeKind::Topic => "topic",
            ExchangeKind::Headers => "headers",
            ExchangeKind::Saga => crate::saga::definition::EXCHANGE_TYPE,
        }
    }
}

/// A client command, one per AMQP method the broker acts on.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Command {
    /// channel.open.
    ChannelOpen,
    /// channel.close from the client; answered with `ChannelCloseOk`.
    ChannelClose,
    /// channel.close-ok: the client acknowledges a close the broker started.
    ChannelCloseOk,
    /// exchange.declare.
    ExchangeDeclare {
        /// Exchange name.
        exchange: String,
        /// Type name as the client sent it (`direct`, `fanout`, `topic`, `headers`).
        kind: String,
        /// Only check that it exists.
        passive: bool,
        /// Survives a restart.
        durable: bool,
        /// Deleted when its last binding goes.
        auto_delete: bool,
        /// Clients may not publish to it directly.
        internal: bool,
        /// Declare arguments.
        arguments: FieldTable,
    },
    /// exchange.delete.
    ExchangeDelete {
        /// Exchange name.
        exchange: String,
        /// Refuse (406) when it has bindings.
        if_unused: bool,
    },
    /// exchange.bind: route from `source` to the exchange `destination`.
    ExchangeBind {
        /// Destination exchange.
        destination: String,
        /// Source exchange.
        source: String,
        /// Binding key.
        routing_key: String,
        /// Binding arguments.
        arguments: FieldTable,
    },
    /// exchange.unbind.
    ExchangeUnbind {
        /// Destination exchange.
        destination: String,
        /// Source exchange.
        source: String,
        /// Binding key.
        routing_key: String,
        /// Binding arguments.
        arguments: FieldTable,
    },
    /// queue.declare.
    QueueDeclare {
        /// Queue name; empty asks the broker for a unique name.
        queue: String,
        /// Only check that it exists (and is accessible).
        passive: bool,
        /// Survives a restart.
        durable: bool,
        /// Owned by this connection and deleted with it.
        exclusive: bool,
        /// Deleted when its last consumer goes.
        auto_delete: bool,
        /// Queue arguments (`x-message-ttl`, `x-max-length`, ...).
        arguments: FieldTable,
    },
    /// queue.bind.
    QueueBind {
        /// Queue name (empty: the channel's last declared queue).
        queue: String,
        /// Exchange name.
        exchange: String,
        /// Binding key.
        routing_key: String,
        /// Binding arguments.
        arguments: FieldTable,
    },
    /// queue.unbind.
    QueueUnbind {
        /// Queue name (empty: the channel's last declared queue).
        queue: String,
        /// Exchange name.
        exchange: String,
        /// Binding key.
        routing_key: String,
        /// Binding arguments.
        arguments: FieldTable,
    },
    /// queue.purge: remove every ready message.
    QueuePurge {
        /// Queue name (empty: the channel's last declared queue).
        queue: String,
    },
    /// queue.delete.
    QueueDelete {
        /// Queue name (empty: the channel's last declared queue).
        queue: String,
        /// Refuse (406) when it has consumers.
        if_unused: bool,
        /// Refuse (406) when it has ready messages.
        if_empty: bool,
    },
    /// basic.qos.
    BasicQos {
        /// Byte window; anything but 0 is refused with 540, as RabbitMQ does.
        prefetch_size: u32,
        /// Unacknowledged deliveries allowed; 0 is unlimited.
        prefetch_count: u16,
        /// `true`: the limit is shared by the channel; `false`: per new consumer.
        global: bool,
    },
    /// basic.publish with its content.
    BasicPublish {
        /// Exchange name (empty: the default exchange).
        exchange: Name,
        /// Routing key.
        routing_key: Name,
        /// Return the message (312) when no queue takes it.
        mandatory: bool,
        /// Unsupported (540), as in RabbitMQ 3.x.
        immediate: bool,
        /// Basic properties, given or repeated from the channel's last publish.
        properties: PublishProperties,
        /// Body.
        body: Bytes,
    },
    /// basic.consume.
    BasicConsume {
        /// Queue name (empty: the channel's last declared queue).
        queue: String,
        /// Consumer tag; empty asks the broker for one.
        consumer_tag: String,
        /// Deliveries are settled when sent.
        no_ack: bool,
        /// No other consumer may use the queue.
        exclusive: bool,
        /// Consumer arguments.
        arguments: FieldTable,
    },
    /// basic.cancel.
    BasicCancel {
        /// The consumer to cancel.
        consumer_tag: String,
    },
    /// basic.get.
    BasicGet {
        /// Queue name (empty: the channel's last declared queue).
        queue: String,
        /// The message is settled when sent.
        no_ack: bool,
    },
    /// basic.ack.
    BasicAck {
        /// Delivery tag (0 with `multiple`: every outstanding one).
        delivery_tag: u64,
        /// Settle every outstanding tag up to and including this one.
        multiple: bool,
    },
    /// basic.nack.
    BasicNack {
        /// Delivery tag (0 with `multiple`: every outstanding one).
        delivery_tag: u64,
        /// Settle every outstanding tag up to and including this one.
        multiple: bool,
        /// Requeue rather than dead-letter or drop.
        requeue: bool,
    },
    /// basic.reject.
    BasicReject {
        /// Delivery tag.
        delivery_tag: u64,
        /// Requeue rather than dead-letter or drop.
        requeue: bool,
    },
    /// basic.recover (and basic.recover-async).
    BasicRecover {
        /// Must be `true`; `false` is refused with 540, as RabbitMQ does.
        requeue: bool,
    },
    /// confirm.select.
    ConfirmSelect,
    /// tx.select.
    TxSelect,
    /// tx.commit.
    TxCommit,
    /// tx.rollback.
    TxRollback,
}

/// The AMQP method a client command stands for: one byte, so that a close
/// can name the method that failed without growing every reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Method {
    /// `channel.open`.
    ChannelOpen,
    /// `channel.close`.
    ChannelClose,
    /// `channel.close-ok`.
    ChannelCloseOk,
    /// `exchange.declare`.
    ExchangeDeclare,
    /// `exchange.delete`.
    ExchangeDelete,
    /// `exchange.bind`.
    ExchangeBind,
    /// `exchange.unbind`.
    ExchangeUnbind,
    /// `queue.declare`.
    QueueDeclare,
    /// `queue.bind`.
    QueueBind,
    /// `queue.unbind`.
    QueueUnbind,
    /// `queue.purge`.
    QueuePurge,
    /// `queue.delete`.
    QueueDelete,
    /// `basic.qos`.
    BasicQos,
    /// `basic.publish`.
    BasicPublish,
    /// `basic.consume`.
    BasicConsume,
    /// `basic.cancel`.
    BasicCancel,
    /// `basic.get`.
    BasicGet,
    /// `basic.ack`.
    BasicAck,
    /// `basic.nack`.
    BasicNack,
    /// `basic.reject`.
    BasicReject,
    /// `basic.recover`.
    BasicRecover,
    /// `confirm.select`.
    ConfirmSelect,
    /// `tx.select`.
    TxSelect,
    /// `tx.commit`.
    TxCommit,
    /// `tx.rollback`.
    TxRollback,
}

impl Method {
    /// The method's name (`queue.declare`), as RabbitMQ writes it.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Method::ChannelOpen => "channel.open",
            Method::ChannelClose => "channel.close",
            Method::ChannelCloseOk => "channel.close-ok",
            Method::ExchangeDeclare => "exchange.declare",
            Method::ExchangeDelete => "exchange.delete",
            Method::ExchangeBind => "exchange.bind",
            Method::ExchangeUnbind => "exchange.unbind",
            Method::QueueDeclare => "queue.declare",
            Method::QueueBind => "queue.bind",
            Method::QueueUnbind => "queue.unbind",
            Method::QueuePurge => "queue.purge",
            Method::QueueDelete => "queue.delete",
            Method::BasicQos => "basic.qos",
            Method::BasicPublish => "basic.publish",
            Method::BasicConsume => "basic.consume",
            Method::BasicCancel => "basic.cancel",
            Method::BasicGet => "basic.get",
            Method::BasicAck => "basic.ack",
            Method::BasicNack => "basic.nack",
            Method::BasicReject => "basic.reject",
            Method::BasicRecover => "basic.recover",
            Method::ConfirmSelect => "confirm.select",
            Method::TxSelect => "tx.select",
            Method::TxCommit => "tx.commit",
            Method::TxRollback => "tx.rollback",
        }
    }
}

impl Command {
    /// The AMQP method the command stands for.
    #[must_use]
    pub fn method(&self) -> Method {
        match self {
            Command::ChannelOpen => Method::ChannelOpen,
            Command::ChannelClose => Method::ChannelClose,
            Command::ChannelCloseOk => Method::ChannelCloseOk,
            Command::ExchangeDeclare { .. } => Method::ExchangeDeclare,
            Command::ExchangeDelete { .. } => Method::ExchangeDelete,
            Command::ExchangeBind { .. } => Method::ExchangeBind,
            Command::ExchangeUnbind { .. } => Method::ExchangeUnbind,
            Command::QueueDeclare { .. } => Method::QueueDeclare,
            Command::QueueBind { .. } => Method::QueueBind,
            Command::QueueUnbind { .. } => Method::QueueUnbind,
            Command::QueuePurge { .. } => Method::QueuePurge,
            Command::QueueDelete { .. } => Method::QueueDelete,
            Command::BasicQos { .. } => Method::BasicQos,
            Command::BasicPublish { .. } => Method::BasicPublish,
            Command::BasicConsume { .. } => Method::BasicConsume,
            Command::BasicCancel { .. } => Method::BasicCancel,
            Command::BasicGet { .. } => Method::BasicGet,
            Command::BasicAck { .. } => Method::BasicAck,
            Command::BasicNack { .. } => Method::BasicNack,
            Command::BasicReject { .. } => Method::BasicReject,
            Command::BasicRecover { .. } => Method::BasicRecover,
            Command::ConfirmSelect => Method::ConfirmSelect,
            Command::TxSelect => Method::TxSelect,
            Command::TxCommit => Method::TxCommit,
            Command::TxRollback => Method::TxRollback,
        }
    }
}

/// The basic properties of a publish.
///
/// AMQP carries them in full in every content header, and publishers mostly
/// repeat them. A driver that sees a channel's publish repeat the properties of
/// the channel's previous publish can say so with `Repeated`, and neither side
/// then touches the shared allocation's reference count: the broker reuses the
/// properties it kept, and a pooled message that already holds them keeps them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PublishProperties {
    /// These properties (shared: the message keeps this allocation).
    Given(Arc<Properties>),
    /// The properties of the previous basic.publish on the same channel, or
    /// the default (empty) properties when the channel has not published yet.
    Repeated,
}

impl From<Arc<Properties>> for PublishProperties {
    fn from(properties: Arc<Properties>) -> Self {
        PublishProperties::Given(properties)
    }
}

impl From<Properties> for PublishProperties {
    fn from(properties: Properties) -> Self {
        PublishProperties::Given(Arc::new(properties))
    }
}

/// AMQP 0-9-1 reply codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u16)]
pub enum ReplyCode {
    /// 311: the message is too large.
    ContentTooLarge = 311,
    /// 312: a mandatory message could not be routed.
    NoRoute = 312,
    /// 320: the server closed the connection.
    ConnectionForced = 320,
    /// 402: invalid virtual host path.
    InvalidPath = 402,
    /// 403: access refused.
    AccessRefused = 403,
    /// 404: no such entity.
    NotFound = 404,
    /// 405: resource locked (an exclusive queue of another connection).
    ResourceLocked = 405,
    /// 406: precondition failed.
    PreconditionFailed = 406,
    /// 501: bad frame.
    FrameError = 501,
    /// 502: bad field.
    SyntaxError = 502,
    /// 503: invalid command.
    CommandInvalid = 503,
    /// 504: channel not open, or opened twice.
    ChannelError = 504,
    /// 505: unexpected frame.
    UnexpectedFrame = 505,
    /// 506: resource exhausted.
    ResourceError = 506,
    /// 530: not allowed.
    NotAllowed = 530,
    /// 540: not implemented.
    NotImplemented = 540,
    /// 541: internal error.
    InternalError = 541,
}

impl ReplyCode {
    /// The numeric code.
    #[must_use]
    pub fn code(self) -> u16 {
        self as u16
    }

    /// RabbitMQ's name for the code, which prefixes its reply texts.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            ReplyCode::ContentTooLarge => "CONTENT_TOO_LARGE",
            ReplyCode::NoRoute => "NO_ROUTE",
            ReplyCode::ConnectionForced => "CONNECTION_FORCED",
            ReplyCode::InvalidPath => "INVALID_PATH",
            ReplyCode::AccessRefused => "ACCESS_REFUSED",
            ReplyCode::NotFound => "NOT_FOUND",
            ReplyCode::ResourceLocked => "RESOURCE_LOCKED",
            ReplyCode::PreconditionFailed => "PRECONDITION_FAILED",
            ReplyCode::FrameError => "FRAME_ERROR",
            ReplyCode::SyntaxError => "SYNTAX_ERROR",
            ReplyCode::CommandInvalid => "COMMAND_INVALID",
            ReplyCode::ChannelError => "CHANNEL_ERROR",
            ReplyCode::UnexpectedFrame => "UNEXPECTED_FRAME",
            ReplyCode::ResourceError => "RESOURCE_ERROR",
            ReplyCode::NotAllowed => "NOT_ALLOWED",
            ReplyCode::NotImplemented => "NOT_IMPLEMENTED",
            ReplyCode::InternalError => "INTERNAL_ERROR",
        }
    }

    /// Whether the code is a hard error that closes the whole connection.
    #[must_use]
    pub fn closes_connection(self) -> bool {
        !matches!(
            self,
            ReplyCode::ContentTooLarge
                | ReplyCode::NoRoute
                | ReplyCode::AccessRefused
                | ReplyCode::NotFound
                | ReplyCode::ResourceLocked
                | ReplyCode::PreconditionFailed
        )
    }
}

impl fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code(), self.name())
    }
}

/// What a broker-initiated close shuts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CloseScope {
    /// channel.close: the channel is gone; the client answers with `ChannelCloseOk`.
    Channel,
    /// connection.close: every channel is gone; the driver closes the socket.
    Connection,
}

/// A reply the driver sends to one client, on one channel.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Reply {
    /// connection.open-ok (answer to `Input::Connect`).
    ConnectionOpenOk,
    /// connection.blocked: the memory alarm blocks the connection. Drivers
    /// send it only to clients that announced the `connection.blocked`
    /// capability, as RabbitMQ does; RabbitMQ's reason is "low on memory".
    ConnectionBlocked,
    /// connection.unblocked: the memory alarm released the connection.
    ConnectionUnblocked,
    /// channel.open-ok.
    ChannelOpenOk,
    /// channel.close-ok (answer to the client's `ChannelClose`).
    ChannelCloseOk,
    /// The broker closes the channel or the connection with an error.
    Close {
        /// Channel or connection.
        scope: CloseScope,
        /// Reply code.
        code: ReplyCode,
        /// Reply text, as RabbitMQ words it (`NOT_FOUND - no queue 'q' in vhost '/'`).
        text: String,
        /// The method whose command failed, when a command caused the
        /// close; AMQP puts its class and method ids in the close frame.
        /// `None` for closes the broker decides on its own (a consumer
        /// timeout, an unknown vhost at connect).
        method: Option<Method>,
    },
    /// exchange.declare-ok.
    ExchangeDeclareOk,
    /// exchange.delete-ok.
    ExchangeDeleteOk,
    /// exchange.bind-ok.
    ExchangeBindOk,
    /// exchange.unbind-ok.
    ExchangeUnbindOk,
    /// queue.declare-ok.
    QueueDeclareOk {
        /// The queue's name (the generated one for a server-named queue).
        queue: Name,
        /// Ready messages.
        message_count: u32,
        /// Consumers.
        consumer_count: u32,
    },
    /// queue.bind-ok.
    QueueBindOk,
    /// queue.unbind-ok.
    QueueUnbindOk,
    /// queue.purge-ok.
    QueuePurgeOk {
        /// Ready messages removed.
        message_count: u32,
    },
    /// queue.delete-ok.
    QueueDeleteOk {
        /// Ready messages removed.
        message_count: u32,
    },
    /// basic.qos-ok.
    QosOk,
    /// basic.consume-ok.
    ConsumeOk {
        /// The consumer's tag (the generated one when the client left it empty).
        consumer_tag: Name,
    },
    /// basic.cancel-ok.
    CancelOk {
        /// The cancelled consumer.
        consumer_tag: Name,
    },
    /// basic.cancel from the broker: the consumer's queue was deleted.
    Cancel {
        /// The cancelled consumer.
        consumer_tag: Name,
    },
    /// basic.deliver.
    Deliver {
        /// The consumer it is for.
        consumer_tag: Name,
        /// Per-channel delivery tag.
        delivery_tag: u64,
        /// Delivered before (requeued or recovered).
        redelivered: bool,
        /// The message, with its exchange, routing key, properties and body.
        message: SharedMessage,
    },
    /// basic.get-ok.
    GetOk {
        /// Per-channel delivery tag.
        delivery_tag: u64,
        /// Delivered before.
        redelivered: bool,
        /// Ready messages left in the queue.
        message_count: u32,
        /// The message.
        message: SharedMessage,
    },
    /// basic.get-empty.
    GetEmpty,
    /// basic.return.
    Return {
        /// Why (312 NO_ROUTE).
        code: ReplyCode,
        /// Reply text.
        text: String,
        /// The returned message.
        message: SharedMessage,
    },
    /// basic.ack from the broker: publisher confirm.
    ConfirmAck {
        /// Publish sequence number.
        delivery_tag: u64,
        /// Every sequence number up to this one.
        multiple: bool,
    },
    /// basic.nack from the broker: the broker refused the message.
    ConfirmNack {
        /// Publish sequence number.
        delivery_tag: u64,
        /// Every sequence number up to this one.
        multiple: bool,
    },
    /// basic.recover-ok.
    RecoverOk,
    /// confirm.select-ok.
    ConfirmSelectOk,
    /// tx.select-ok.
    TxSelectOk,
    /// tx.commit-ok.
    TxCommitOk,
    /// tx.rollback-ok.
    TxRollbackOk,
}

/// Why a message left a queue to a dead-letter exchange.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum DeadLetterReason {
    /// Rejected or nacked with requeue=false.
    Rejected,
    /// Its TTL ran out.
    Expired,
    /// The queue was over its length limit.
    MaxLen,
    /// It was returned more times than `x-delivery-limit`.
    DeliveryLimit,
}

impl DeadLetterReason {
    /// RabbitMQ's name, as written in `x-death`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            DeadLetterReason::Rejected => "rejected",
            DeadLetterReason::Expired => "expired",
            DeadLetterReason::MaxLen => "maxlen",
            DeadLetterReason::DeliveryLimit => "delivery_limit",
        }
    }
}

/// Why a message was dropped for good, neither settled by a consumer nor dead-lettered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DropReason {
    /// No queue took it (and it was not returned).
    Unroutable,
    /// It left its queue for a dead-letter reason but the queue has no dead-letter exchange.
    NoDeadLetterExchange(DeadLetterReason),
    /// The dead-letter exchange does not exist.
    DeadLetterExchangeMissing(DeadLetterReason),
    /// Dead-lettering it would close an automatic cycle.
    DeadLetterCycle(DeadLetterReason),
    /// Refused by a full queue under `x-overflow: reject-publish`.
    RejectPublish,
    /// Removed by queue.purge.
    Purged,
    /// Its queue was deleted.
    QueueDeleted,
}

/// An observable fact, for checkers, metrics and tracing. Events carry message
/// identity so that nothing outside the core needs to reach into its state.
///
/// `N` is how the event holds the names of queues and exchanges: owned
/// ([`Name`], from [`Broker::poll_event`](crate::Broker::poll_event)) or lent
/// by the broker ([`EventRef`](crate::EventRef), from
/// [`Broker::drain_events`](crate::Broker::drain_events), which copies no name).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Event<N = Name> {
    /// A client published a message (before routing).
    Published {
        /// The message.
        message: MessageId,
        /// Publishing connection.
        conn: ConnectionId,
        /// Publishing channel.
        channel: ChannelId,
        /// Its publisher-confirm sequence number, when confirms are on.
        confirm_seq: Option<u64>,
    },
    /// A queue took the message (published, dead-lettered or transactionally committed).
    Enqueued {
        /// The message.
        message: MessageId,
        /// The queue.
        queue: N,
    },
    /// The message was handed to a consumer or to basic.get.
    Delivered {
        /// The message.
        message: MessageId,
        /// The queue it came from.
        queue: N,
        /// Receiving connection.
        conn: ConnectionId,
        /// Receiving channel.
        channel: ChannelId,
        /// Delivery tag on that channel.
        delivery_tag: u64,
        /// The redelivered flag it carried.
        redelivered: bool,
    },
    /// The delivery was settled positively (ack, or sent with no-ack): the message left the queue.
    Acked {
        /// The message.
        message: MessageId,
        /// The queue.
        queue: N,
    },
    /// The message went back to its queue, to be redelivered.
    Requeued {
        /// The message.
        message: MessageId,
        /// The queue.
        queue: N,
    },
    /// The message's TTL ran out in its queue (a `DeadLettered` or `Dropped` follows).
    Expired {
        /// The message.
        message: MessageId,
        /// The queue.
        queue: N,
    },
    /// The message left its queue for a dead-letter exchange.
    DeadLettered {
        /// The message.
        message: MessageId,
        /// The queue it died in.
        queue: N,
        /// Why.
        reason: DeadLetterReason,
        /// The dead-letter exchange it was published to.
        exchange: N,
    },
    /// The message was dropped for good.
    Dropped {
        /// The message.
        message: MessageId,
        /// The queue it left, if it had reached one.
        queue: Option<N>,
        /// Why.
        reason: DropReason,
    },
    /// The message was returned to its publisher (mandatory, unroutable).
    Returned {
        /// The message.
        message: MessageId,
    },
    /// The message went straight to the direct reply-to consumer of a
    /// channel, held by no queue (a reply published to the channel's
    /// `amq.rabbitmq.reply-to.*` name through the default exchange).
    RepliedDirectly {
        /// The message.
        message: MessageId,
        /// Receiving connection.
        conn: ConnectionId,
        /// Receiving channel.
        channel: ChannelId,
    },
    /// A publisher confirm (ack or nack) was sent for the message.
    Confirmed {
        /// The message.
        message: MessageId,
        /// Publishing connection.
        conn: ConnectionId,
        /// Publishing channel.
        channel: ChannelId,
        /// Confirm sequence number.
        confirm_seq: u64,
        /// `true` for basic.ack, `false` for basic.nack.
        ack: bool,
    },
    /// A publish to a saga exchange or a saga reply changed nothing: a
    /// duplicate start, a stale, duplicate or late reply, a reply to an
    /// ended saga (see [`crate::saga`]).
    SagaIgnored {
        /// The message that was ignored.
        message: MessageId,
        /// The saga exchange it was meant for.
        exchange: N,
        /// Why.
        reason: crate::saga::Ignored,
    },
    /// A saga's deadline acted: the step's command or compensation the
    /// saga was waiting on is sent again, or given up on (compensation
    /// begins, or the saga needs attention).
    SagaTimedOut {
        /// The saga exchange.
        exchange: N,
        /// The saga id.
        saga: N,
        /// What the saga was waiting on: a command or a compensation.
        action: crate::saga::Action,
        /// Its step.
        step: u32,
    },
}

impl<N> Event<N> {
    /// The same event with each name passed through `f`.
    #[inline]
    pub fn map<M>(self, mut f: impl FnMut(N) -> M) -> Event<M> {
        match self {
            Event::Published {
                message,
                conn,
                channel,
                confirm_seq,
            } => Event::Published {
                message,
                conn,
                channel,
                confirm_seq,
            },
            Event::Enqueued { message, queue } => Event::Enqueued {
                message,
                queue: f(queue),
            },
            Event::Delivered {
                message,
                queue,
                conn,
                channel,
                delivery_tag,
                redelivered,
            } => Event::Delivered {
                message,
                queue: f(queue),
                conn,
                channel,
                delivery_tag,
                redelivered,
            },
            Event::Acked { message, queue } => Event::Acked {
                message,
                queue: f(queue),
            },
            Event::Requeued { message, queue } => Event::Requeued {
                message,
                queue: f(queue),
            },
            Event::Expired { message, queue } => Event::Expired {
                message,
                queue: f(queue),
            },
            Event::DeadLettered {
                message,
                queue,
                reason,
                exchange,
            } => Event::DeadLettered {
                message,
                queue: f(queue),
                reason,
                exchange: f(exchange),
            },
            Event::Dropped {
                message,
                queue,
                reason,
            } => Event::Dropped {
                message,
                queue: queue.map(f),
                reason,
            },
            Event::Returned { message } => Event::Returned { message },
            Event::RepliedDirectly {
                message,
                conn,
                channel,
            } => Event::RepliedDirectly {
                message,
                conn,
                channel,
            },
            Event::Confirmed {
                message,
                conn,
                channel,
                confirm_seq,
                ack,
            } => Event::Confirmed {
                message,
                conn,
                channel,
                confirm_seq,
                ack,
            },
            Event::SagaTimedOut {
                exchange,
                saga,
                action,
                step,
            } => Event::SagaTimedOut {
                exchange: f(exchange),
                saga: f(saga),
                action,
                step,
            },
            Event::SagaIgnored {
                message,
                exchange,
                reason,
            } => Event::SagaIgnored {
                message,
                exchange: f(exchange),
                reason,
            },
        }
    }
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
