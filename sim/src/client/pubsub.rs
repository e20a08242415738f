//! Redis Pub/Sub clients: publishers and subscribers of the `pubsub-redis`
//! workload, speaking the core's `PubSubCommand`s on their connection.
//!
//! A publisher publishes its messages one at a time, each body naming the
//! publisher and its sequence number, and records the receiver count the
//! broker answered. Pub/Sub is at most once, so a publish in flight when its
//! connection drops is not sent again: the publisher moves on to the next.
//!
//! A subscriber subscribes on every connection it opens (by channel or by
//! pattern), and records when it asked, when the broker confirmed and every
//! message it read. Reading a message tells the broker its bytes were
//! written (`PubSubCommand::Written`), as a socket's progress tells Redis.
//! Some subscribers leave now and then (close their connection and come
//! back); some stall: they stop reading for a while, so the bytes pile up in
//! their output buffer until the broker's limit cuts them off.

use super::{Context, Outbox};
use crate::history::{pubsub_body, pubsub_sent, Entry};
use crate::workload::pubsub_redis;
use brokerlab_core::pubsub::{delivery_bytes, PubSubCommand, PubSubReply};
use brokerlab_core::ConnectionId;
use bytes::Bytes;

/// How long a publisher waits after its first connection opened before it
/// publishes, so that the subscribers are usually in place.
const START_DELAY_NS: u64 = 20 * crate::plan::MS;
/// Most times a leaving subscriber leaves.
const LEAVES_MAX: u32 = 3;
/// Most times a stalling subscriber stalls.
const STALLS_MAX: u32 = 2;

/// What a Pub/Sub client is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PubSubRole {
    /// Publishes `messages` messages, a gap apart.
    Publisher {
        /// Messages to publish.
        messages: u64,
        /// Longest pause between two publishes, in nanoseconds.
        gap_high_ns: u64,
    },
    /// Subscribes and reads.
    Subscriber {
        /// PSUBSCRIBE to the workload's pattern (else SUBSCRIBE to its channel).
        pattern: bool,
        /// Leaves and comes back, now and then.
        leaves: bool,
        /// Stops reading for a while, now and then.
        stalls: bool,
    },
}

/// A subscriber's next planned deed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Plan {
    /// Close the connection.
    Leave,
    /// Stop reading.
    Stall,
    /// Read again.
    Resume,
}

/// A Pub/Sub publisher or subscriber.
#[derive(Clone, Debug)]
pub struct PubSubClient {
    id: usize,
    role: PubSubRole,
    conn: Option<ConnectionId>,
    pub(super) outbox: Outbox,
    /// Publisher: the next message to publish.
    next_seq: u64,
    /// Publisher: the message whose answer is awaited.
    in_flight: Option<u64>,
    /// Publisher: has published on some connection already.
    started: bool,
    /// When the next deed (a publish, or a subscriber's plan) is due.
    next_ns: Option<u64>,
    plan: Option<Plan>,
    /// Subscriber: messages arrived but not read (while stalled).
    unread: Vec<PubSubReply>,
    stalled: bool,
    leaves_left: u32,
    stalls_left: u32,
}

impl PubSubClient {
    /// Client `id` (a publisher's or a subscriber's number) in `role`.
    #[must_use]
    pub fn new(id: usize, role: PubSubRole) -> PubSubClient {
        PubSubClient {
            id,
            role,
            conn: None,
            outbox: Outbox::default(),
            next_seq: 0,
            in_flight: None,
            started: false,
            next_ns: None,
            plan: None,
            unread: Vec::new(),
            stalled: false,
            leaves_left: LEAVES_MAX,
            stalls_left: STALLS_MAX,
        }
    }

    pub(super) fn handle_open(&mut self, context: &mut Context<'_>, conn: ConnectionId) {
        self.conn = Some(conn);
        match self.role {
            PubSubRole::Publisher { .. } => {
                let delay = if self.started { 0 } else { START_DELAY_NS };
                self.started = true;
                self.next_ns = Some(context.now_ns + delay);
            }
            PubSubRole::Subscriber { pattern, .. } => {
                let (name, command) = if pattern {
                    let name = Bytes::from_static(pubsub_redis::PATTERN.as_bytes());
                    let command = PubSubCommand::PatternSubscribe {
                        patterns: vec![name.clone()],
                    };
                    (name, command)
                } else {
                    let name = Bytes::from_static(pubsub_redis::CHANNELS[0].as_bytes());
                    let command = PubSubCommand::Subscribe {
                        channels: vec![name.clone()],
                    };
                    (name, command)
                };
                let entry = Entry::PubSubSubscribe {
                    subscriber: self.id,
                    conn,
                    name,
                    pattern,
                };
                context.history.record(context.now_ns, entry);
                self.outbox.send_pubsub(command);
            }
        }
    }

    pub(super) fn handle_reply(&mut self, context: &mut Context<'_>, reply: PubSubReply) {
        let Some(conn) = self.conn else {
            return;
        };
        match (self.role, reply) {
            (PubSubRole::Publisher { gap_high_ns, .. }, PubSubReply::Published { receivers }) => {
                let Some(seq) = self.in_flight.take() else {
                    return;
                };
                let entry = Entry::PubSubPublished {
                    publisher: self.id,
                    seq,
                    receivers,
                };
                context.history.record(context.now_ns, entry);
                self.next_seq = seq + 1;
                self.next_ns = Some(context.now_ns + context.rng.between(0, gap_high_ns));
            }
            (PubSubRole::Subscriber { leaves, stalls, .. }, PubSubReply::Subscribed { .. }) => {
                let entry = Entry::PubSubSubscribed {
                    subscriber: self.id,
                    conn,
                };
                context.history.record(context.now_ns, entry);
                self.plan_next(context, leaves, stalls);
            }
            (PubSubRole::Subscriber { .. }, reply @ PubSubReply::Message { .. }) => {
                if self.stalled {
                    self.unread.push(reply);
                } else {
                    self.read(context, vec![reply]);
                }
            }
            _ => {}
        }
    }

    /// Reads `messages`: records each, and tells the broker their bytes are written.
    fn read(&mut self, context: &mut Context<'_>, messages: Vec<PubSubReply>) {
        let Some(conn) = self.conn else {
            return;
        };
        let mut bytes = 0;
        for reply in messages {
            bytes += delivery_bytes(&reply);
            if let PubSubReply::Message {
                channel, message, ..
            } = reply
            {
                let entry = Entry::PubSubMessage {
                    subscriber: self.id,
                    conn,
                    channel,
                    sent: pubsub_sent(&message),
                };
                context.history.record(context.now_ns, entry);
            }
        }
        if bytes > 0 {
            self.outbox.send_pubsub(PubSubCommand::Written { bytes });
        }
    }

    /// Plans the subscriber's next leave or stall, if it has any left.
    fn plan_next(&mut self, context: &mut Context<'_>, leaves: bool, stalls: bool) {
        let ms = crate::plan::MS;
        if stalls && self.stalls_left > 0 {
            self.stalls_left -= 1;
            self.plan = Some(Plan::Stall);
            self.next_ns = Some(context.now_ns + context.rng.between(0, 100) * ms);
        } else if leaves && self.leaves_left > 0 {
            self.leaves_left -= 1;
            self.plan = Some(Plan::Leave);
            self.next_ns = Some(context.now_ns + context.rng.between(20, 300) * ms);
        } else {
            self.plan = None;
            self.next_ns = None;
        }
    }

    pub(super) fn handle_closed(&mut self, _: &mut Context<'_>) {
        self.outbox.clear();
        self.conn = None;
        // What was not read is gone with the connection.
        self.unread.clear();
        self.stalled = false;
        if let Some(seq) = self.in_flight.take() {
            // At most once: the publish may or may not have happened; it is not sent again.
            self.next_seq = seq + 1;
        }
        if matches!(self.role, PubSubRole::Subscriber { .. }) {
            self.plan = None;
        }
        self.next_ns = None;
    }

    pub(super) fn handle_timeout(&mut self, context: &mut Context<'_>) {
        let Some(conn) = self.conn else {
            return;
        };
        self.next_ns = None;
        match self.role {
            PubSubRole::Publisher { messages, .. } => {
                if self.in_flight.is_some() || self.next_seq >= messages {
                    return;
                }
                let seq = self.next_seq;
                let channel = pubsub_redis::channel_of(self.id, seq);
                let entry = Entry::PubSubPublish {
                    publisher: self.id,
                    conn,
                    seq,
                    channel: channel.clone(),
                };
                context.history.record(context.now_ns, entry);
                self.in_flight = Some(seq);
                self.outbox.send_pubsub(PubSubCommand::Publish {
                    channel,
                    message: pubsub_body(self.id, seq),
                });
            }
            PubSubRole::Subscriber { leaves, stalls, .. } => match self.plan.take() {
                Some(Plan::Leave) => self.outbox.close(),
                Some(Plan::Stall) => {
                    self.stalled = true;
                    self.plan = Some(Plan::Resume);
                    let ms = crate::plan::MS;
                    self.next_ns = Some(context.now_ns + context.rng.between(300, 1_000) * ms);
                }
                Some(Plan::Resume) => {
                    self.stalled = false;
                    let unread = std::mem::take(&mut self.unread);
                    self.read(context, unread);
                    self.plan_next(context, leaves, stalls);
                }
                None => {}
            },
        }
    }

    /// When the client next needs a timeout.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<u64> {
        self.next_ns
    }

    /// Whether the client has done its part: a publisher has published
    /// (or lost) every message; a subscriber is always done.
    #[must_use]
    pub fn is_done(&self) -> bool {
        match self.role {
            PubSubRole::Publisher { messages, .. } => {
                self.next_seq >= messages && self.in_flight.is_none()
            }
            PubSubRole::Subscriber { .. } => true,
        }
    }

    /// Whether the client wants a connection.
    #[must_use]
    pub fn wants_connection(&self) -> bool {
        match self.role {
            PubSubRole::Publisher { .. } => !self.is_done(),
            PubSubRole::Subscriber { .. } => true,
        }
    }
}
