//! What travels between the model's actors, and the tags of their timers,
//! choices and storage.
//!
//! Clients speak to the broker actor in the core's own protocol-neutral
//! vocabulary (`Command` in, `Reply` out), wrapped with a incarnation number: a
//! client opens a new incarnation for every connection it makes, so the broker
//! actor can tell a connection from the one it replaced, and a client can
//! ignore replies that were in flight on a connection it has already dropped
//! (as a closed socket would swallow them).

use crate::shared::Shared;
use brokerlab_core::record::Record;
use brokerlab_core::{
    ChannelId, Command, PubSubCommand, PubSubReply, Reply, SqsCommand, SqsReply, StreamCommand,
    StreamReply,
};
use stateright::actor::Id;
use stateright::{Rewrite, RewritePlan};
use std::cmp::Ordering;

/// A client's connection number: one more for every connection it opens.
pub type Incarnation = u8;

/// A message on the model's network: what one TCP segment carries.
///
/// Clients pipeline their frames as AMQP allows, and the broker answers all
/// it has for a connection after one input in one segment. Batching frames
/// this way changes no protocol step; it only spares the checker from
/// interleaving replies that no client waits for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Msg {
    /// Frames from a client on its connection `incarnation`, in order.
    Frames {
        /// The connection they travel on.
        incarnation: Incarnation,
        /// The segment's number on its connection (0 over an ordered network,
        /// where nothing needs it).
        seq: u8,
        /// The frames.
        frames: Shared<Vec<Frame>>,
    },
    /// Replies from the broker on a client's connection `incarnation`, in order.
    Replies {
        /// The connection they travel on.
        incarnation: Incarnation,
        /// The segment's number on its connection (0 over an ordered network).
        seq: u8,
        /// Each reply with its channel (0 for the connection itself).
        replies: Shared<Vec<(ChannelId, Reply)>>,
    },
    /// Stream replies (group replies among them) from the broker on a
    /// client's connection `incarnation`, in order, each with its request id.
    StreamReplies {
        /// The connection they travel on.
        incarnation: Incarnation,
        /// The segment's number on its connection (0 over an ordered network).
        seq: u8,
        /// Each reply with the id of the request it answers.
        replies: Shared<Vec<(u64, StreamReply)>>,
    },
    /// Pub/Sub answers and deliveries from the broker on a client's
    /// connection `incarnation`, in order.
    PubSubReplies {
        /// The connection they travel on.
        incarnation: Incarnation,
        /// The segment's number on its connection (0 over an ordered network).
        seq: u8,
        /// The answers and deliveries.
        replies: Shared<Vec<PubSubReply>>,
    },
    /// SQS answers from the broker on a client's connection `incarnation`,
    /// in order, each with its request id.
    SqsReplies {
        /// The connection they travel on.
        incarnation: Incarnation,
        /// The segment's number on its connection (0 over an ordered network).
        seq: u8,
        /// Each answer with the id of the request it answers.
        replies: Shared<Vec<(u64, SqsReply)>>,
    },
    /// The broker restarted after a crash: every connection the client had
    /// to it is gone. A crashed process's sockets are closed by its kernel,
    /// so the peers hear of it; the model tells them when the broker is back,
    /// which loses nothing, since a crashed broker hears nobody meanwhile.
    Reset,
}

/// What a client can send on a connection.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Frame {
    /// The client opens the connection (the broker answers `ConnectionOpenOk`).
    Connect,
    /// A command on one channel.
    Command {
        /// The channel.
        channel: ChannelId,
        /// The command.
        command: Command,
    },
    /// The connection drops (the broker sees the socket close).
    Disconnect,
    /// A stream command (a group request among them), numbered by the
    /// client; the first one on a connection opens it (a Kafka client
    /// opens no vhost).
    Stream {
        /// The client's id for the request, carried by its reply.
        request: u64,
        /// The command.
        command: StreamCommand,
    },
    /// A Pub/Sub command (RESP); the first one on a connection opens it (a
    /// Redis client opens no vhost).
    PubSub(PubSubCommand),
    /// An SQS action, numbered by the client; the first one on a
    /// connection opens it (an SQS client opens no vhost).
    Sqs {
        /// The client's id for the request, carried by its answer.
        request: u64,
        /// The action.
        command: SqsCommand,
    },
}

// Stateright asks for a total order on messages (it sorts the actions it
// offers), but the core's types are `Eq + Hash` only. Messages compare by
// kind, connection and segment number, then by their shared part's hash
// (fixed keys, so the same in every run), and only when all of those are
// equal by their derived `Debug` output, which names every field: a total
// order consistent with `Eq`. Over an ordered network only the head of a
// link is offered, so ties are rare; over the unordered ones the segments
// of one link tie on actor ids, and the hash settles them cheaply.
impl Ord for Msg {
    fn cmp(&self, other: &Msg) -> Ordering {
        if self == other {
            return Ordering::Equal;
        }
        self.sort_key()
            .cmp(&other.sort_key())
            .then_with(|| format!("{self:?}").cmp(&format!("{other:?}")))
    }
}

impl Msg {
    /// Kind, connection, segment number and the shared part's hash.
    fn sort_key(&self) -> (u8, Incarnation, u8, u64) {
        match self {
            Msg::Frames {
                incarnation,
                seq,
                frames,
            } => (0, *incarnation, *seq, frames.hash_value()),
            Msg::Replies {
                incarnation,
                seq,
                replies,
            } => (1, *incarnation, *seq, replies.hash_value()),
            Msg::Reset => (2, 0, 0, 0),
            Msg::StreamReplies {
                incarnation,
                seq,
                replies,
            } => (3, *incarnation, *seq, replies.hash_value()),
            Msg::PubSubReplies {
                incarnation,
                seq,
                replies,
            } => (4, *incarnation, *seq, replies.hash_value()),
            Msg::SqsReplies {
                incarnation,
                seq,
                replies,
            } => (5, *incarnation, *seq, replies.hash_value()),
        }
    }
}

impl PartialOrd for Msg {
    fn partial_cmp(&self, other: &Msg) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

// Messages name no actor: renaming actors (symmetry) leaves them as they are.
impl Rewrite<Id> for Msg {
    fn rewrite<S>(&self, _plan: &RewritePlan<Id, S>) -> Msg {
        self.clone()
    }
}

/// The timers of the model's actors. Stateright timers are untimed: an armed
/// timer is an action the checker may take at any point.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timer {
    /// The broker's disk finishes writing everything appended so far.
    Sync,
    /// The broker's next deadline (`Broker::poll_timeout`) may be reached now.
    Deadline,
    /// A consumer's connection may drop now.
    DropConnection,
    /// A group member may send a heartbeat now.
    Heartbeat,
    /// A group member may process the next record of a partition it holds
    /// and commit its offset now.
    Consume,
    /// A group member may leave its group now.
    Leave,
    /// A group member's process may crash and start again now.
    Restart,
    /// The idempotent producer may send its unacknowledged batch again now.
    Retry,
    /// A consumer's circuit breaker may open now.
    OpenBreaker,
}

/// A client's nondeterministic choice.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Choice {
    /// A consumer settles the delivery `tag`.
    Settle {
        /// The delivery tag on the consumer's channel.
        tag: u64,
        /// How.
        how: Settle,
    },
    /// A saga participant answers the saga message it holds.
    Answer {
        /// Whether it is the compensation (else the command).
        undo: bool,
        /// How.
        how: Answer,
    },
    /// A Pub/Sub subscriber's next deed.
    PubSub(Deed),
    /// An SQS consumer deletes the message it holds, or crashes with it.
    Sqs {
        /// Crashes (else deletes).
        crash: bool,
    },
}

/// What a Pub/Sub subscriber does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Deed {
    /// SUBSCRIBE (or PSUBSCRIBE) on its connection.
    Subscribe,
    /// UNSUBSCRIBE (or PUNSUBSCRIBE) what it holds.
    Unsubscribe,
    /// Its connection drops (its subscription goes with it).
    Drop,
}

/// How a saga participant answers a command or compensation it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Answer {
    /// Does the work (once: it is idempotent by the correlation id) and
    /// replies with its outcome (success, for a command not yet decided).
    Reply,
    /// Refuses the command: no effect, and a failure reply.
    Fail,
    /// Does the work and replies, but the reply is lost.
    Lose,
    /// Does the work and replies twice.
    Twice,
}

/// How a consumer settles a delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Settle {
    /// basic.ack: done with it.
    Ack,
    /// basic.nack with requeue: give it back to be delivered again.
    Requeue,
    /// basic.nack without requeue: refuse it (it is dead-lettered or dropped).
    Reject,
}

impl Rewrite<Id> for Choice {
    fn rewrite<S>(&self, _plan: &RewritePlan<Id, S>) -> Choice {
        self.clone()
    }
}

/// The broker's disk as it survives a crash: the log records that were
/// synced (shared, as every state of a crash model carries them).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Log(pub Shared<Vec<Record>>);

impl Default for Log {
    fn default() -> Log {
        Log(Shared::new(Vec::new()))
    }
}

impl Rewrite<Id> for Log {
    fn rewrite<S>(&self, _plan: &RewritePlan<Id, S>) -> Log {
        self.clone()
    }
}
