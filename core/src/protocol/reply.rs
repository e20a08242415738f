//! What the broker answers a client: AMQP 0-9-1's reply codes, the
//! scope a close applies to, and the replies.

use super::Method;
use crate::message::Name;
use crate::message::SharedMessage;
use std::fmt;

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
