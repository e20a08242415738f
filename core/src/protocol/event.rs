//! What the broker reports of each message and entity for the lab to
//! judge: why a message was dead-lettered or dropped, and the events.

use super::{ChannelId, ConnectionId};
use crate::message::MessageId;
use crate::message::Name;

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
