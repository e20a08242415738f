//! What clients ask of the broker: exchange kinds, commands (an AMQP
//! 0-9-1 method's fields without its frame layout) and the properties
//! a publish carries.

use crate::field::FieldTable;
use crate::message::Name;
use crate::message::Properties;
use bytes::Bytes;
use std::sync::Arc;

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
