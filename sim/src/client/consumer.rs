//! A consumer with prefetch that acks, and now and then hands a message back.
//!
//! On every connection it opens a channel, sends the workload's declarations,
//! sets its prefetch and starts consuming its queue. Each delivery is "worked
//! on" for a drawn time, then acked, or (with the workload's chances) nacked
//! or rejected with requeue, or rejected without requeue so that it is
//! dead-lettered. A consumer that gives up after a retry limit acks a message
//! whose `x-death` says it was rejected that often. An idempotent consumer
//! checks the store of processed message ids shared by the workload's
//! consumers before applying a message's effect, and records the effect and
//! the id in one step (the seed document's pattern). A responder
//! (request-reply) answers each request it would ack: it publishes a reply
//! to the request's `reply_to` with its `correlation_id`, persistent and
//! with publisher confirms, and acks the request only once the reply is
//! confirmed, so a crash in between duplicates a reply and never loses one.
//! A consumer with a circuit breaker calls a downstream that fails
//! `BREAKER_FAILURE_PER_MILLE` of the time and nacks a failed message with
//! requeue; after `BREAKER_THRESHOLD` failures in a row it cancels its
//! consumer, then nacks with requeue everything it holds (and whatever
//! arrives before the broker's cancel-ok, after which nothing more comes
//! for that consumer), and consumes again once the cancel-ok is in and
//! `BREAKER_PAUSE_NS` have passed. When its connection
//! drops, the deliveries it held go back to the queue on the broker's side,
//! and it reconnects.

use super::{Context, Outbox, CHANNEL};
use crate::history::{Deaths, Entry, Settle, Stamp};
use crate::plan::Span;
use brokerlab_core::Name;
use brokerlab_core::{ChannelId, Command, ConnectionId, Properties, Reply};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Most deliveries a consumer holds at once. A broker that ignores prefetch
/// may send more than the prefetch, which a checker must see rather than a
/// client assertion, so the bound is far above any prefetch.
const HELD_MAX: usize = 65_536;

/// Attempt numbers of replies carry this bit, apart from producers' attempts.
const REPLY_ATTEMPTS: u64 = 1 << 62;

/// How often a circuit breaker's downstream fails, in a thousand calls.
const BREAKER_FAILURE_PER_MILLE: u16 = 400;

/// Failures in a row that open a circuit breaker.
const BREAKER_THRESHOLD: u8 = 2;

/// How long a circuit breaker stays open.
const BREAKER_PAUSE_NS: u64 = 100_000_000;

/// How a consumer behaves.
#[derive(Clone, Debug)]
pub struct ConsumerSpec {
    /// The consumer's index among the run's consumers.
    pub id: usize,
    /// The workload's declarations, sent on every new connection.
    pub setup: Arc<[Command]>,
    /// The queue it consumes from.
    pub queue: Name,
    /// basic.qos prefetch_count (per consumer).
    pub prefetch: u16,
    /// How long it works on one message.
    pub work: Span,
    /// Chance in a thousand that it hands a message back with requeue.
    pub requeue_per_mille: u16,
    /// Chance in a thousand that it rejects a message without requeue.
    pub discard_per_mille: u16,
    /// Acks a message unprocessed once `x-death` counts this many rejections here.
    pub give_up_after: Option<u64>,
    /// Deduplicates by message id before applying a message's effect.
    pub idempotent: bool,
    /// Answers each request with a reply to its `reply_to`.
    pub respond: bool,
    /// Guards its downstream with a circuit breaker.
    pub breaker: bool,
}

/// Where a reply goes: the request's `reply_to` and `correlation_id`.
#[derive(Clone, Debug)]
struct ReplyTo {
    queue: Name,
    correlation: Option<String>,
}

/// A delivery being worked on.
#[derive(Clone, Debug)]
struct Held {
    how: Settle,
    payload: Option<u64>,
    reply_to: Option<ReplyTo>,
}

/// The consumer state machine.
#[derive(Clone, Debug)]
pub struct Consumer {
    spec: ConsumerSpec,
    pub(super) outbox: Outbox,
    conn: Option<ConnectionId>,
    /// Deliveries being worked on, by (when they will be settled, delivery tag).
    held: BTreeMap<(u64, u64), Held>,
    /// A responder's replies waiting for their confirms, by confirm
    /// sequence number: the request's delivery tag, and the reply's stamp.
    replying: BTreeMap<u64, (u64, Stamp)>,
    next_seq: u64,
    replies: u64,
    /// The circuit breaker's failures in a row.
    failures: u8,
    /// While the circuit breaker is open: when it closes.
    open_until: Option<u64>,
    /// The breaker's cancel is not yet answered: deliveries to the
    /// cancelled consumer may still come.
    cancel_pending: bool,
}

impl Consumer {
    /// A consumer with no connection yet.
    #[must_use]
    pub fn new(spec: ConsumerSpec) -> Consumer {
        assert!(spec.prefetch > 0, "the workload always limits prefetch");
        Consumer {
            spec,
            outbox: Outbox::default(),
            conn: None,
            held: BTreeMap::new(),
            replying: BTreeMap::new(),
            next_seq: 1,
            replies: 0,
            failures: 0,
            open_until: None,
            cancel_pending: false,
        }
    }

    pub(super) fn handle_open(&mut self, context: &mut Context<'_>, conn: ConnectionId) {
        assert!(self.held.is_empty(), "nothing is held on a new connection");
        self.conn = Some(conn);
        // A new connection consumes afresh, with the breaker closed.
        self.failures = 0;
        self.open_until = None;
        self.cancel_pending = false;
        self.outbox.send(CHANNEL, Command::ChannelOpen);
        if self.spec.respond {
            self.outbox.send(CHANNEL, Command::ConfirmSelect);
            self.next_seq = 1;
        }
        for command in self.spec.setup.iter() {
            self.outbox.send(CHANNEL, command.clone());
        }
        self.outbox.send(CHANNEL, super::qos(self.spec.prefetch));
        self.consume(context, conn);
    }

    /// The consumer's tag.
    fn tag(&self) -> String {
        format!("consumer-{}", self.spec.id)
    }

    /// Starts consuming the queue on the connection's channel.
    fn consume(&mut self, context: &mut Context<'_>, conn: ConnectionId) {
        let tag = self.tag();
        self.outbox
            .send(CHANNEL, super::consume(&self.spec.queue, &tag));
        let entry = Entry::Consume {
            consumer: self.spec.id,
            conn,
            channel: CHANNEL,
            prefetch: self.spec.prefetch,
        };
        context.history.record(context.now_ns, entry);
    }

    /// The circuit breaker opens: cancel the consumer first, so nothing
    /// handed back comes here again, then nack with requeue all it holds.
    fn open_breaker(&mut self, context: &mut Context<'_>, conn: ConnectionId) {
        let consumer_tag = self.tag();
        self.outbox
            .send(CHANNEL, Command::BasicCancel { consumer_tag });
        let held = std::mem::take(&mut self.held);
        for (_, delivery_tag) in held.into_keys() {
            self.settle(context, conn, delivery_tag, Settle::Nack);
        }
        self.open_until = Some(context.now_ns + BREAKER_PAUSE_NS);
        self.cancel_pending = true;
    }

    pub(super) fn handle_reply(
        &mut self,
        context: &mut Context<'_>,
        channel: ChannelId,
        reply: Reply,
    ) {
        match reply {
            Reply::Deliver {
                delivery_tag,
                redelivered,
                message,
                ..
            } => {
                let conn = self.conn.expect("replies arrive on an open connection");
                let stamp = Stamp::decode(&message.body);
                let deaths = Deaths::of(message.properties());
                let gives_up = self.gives_up(deaths.as_ref());
                let entry = Entry::Deliver {
                    consumer: self.spec.id,
                    conn,
                    channel,
                    queue: self.spec.queue.clone(),
                    delivery_tag,
                    redelivered,
                    message: message.id,
                    stamp,
                    deaths,
                };
                context.history.record(context.now_ns, entry);
                let payload = stamp.map(|stamp| stamp.payload);
                let reply_to = self.spec.respond.then(|| ReplyTo {
                    queue: message
                        .properties()
                        .reply_to
                        .as_deref()
                        .unwrap_or("")
                        .into(),
                    correlation: message.properties().correlation_id.clone(),
                });
                self.hold(context, delivery_tag, payload, gives_up, reply_to);
            }
            Reply::ConfirmAck {
                delivery_tag,
                multiple,
            } => self.replies_confirmed(context, delivery_tag, multiple, true),
            Reply::ConfirmNack {
                delivery_tag,
                multiple,
            } => self.replies_confirmed(context, delivery_tag, multiple, false),
            Reply::CancelOk { .. } => self.cancel_pending = false,
            // Cancelled or closed by the broker: not part of this workload; start over.
            Reply::Cancel { .. } | Reply::Close { .. } => self.outbox.close(),
            _ => {}
        }
    }

    /// Whether the message was rejected here often enough to give up on it.
    fn gives_up(&self, deaths: Option<&Deaths>) -> bool {
        let (Some(limit), Some(deaths)) = (self.spec.give_up_after, deaths) else {
            return false;
        };
        deaths.count(&self.spec.queue, "rejected") >= limit
    }

    /// Decides how and when the delivery will be settled.
    fn hold(
        &mut self,
        context: &mut Context<'_>,
        delivery_tag: u64,
        payload: Option<u64>,
        gives_up: bool,
        reply_to: Option<ReplyTo>,
    ) {
        assert!(self.held.len() < HELD_MAX, "held deliveries bound reached");
        if self.spec.breaker {
            // Open, it hands back at once what reached it before the cancel;
            // closed, the downstream decides.
            let (how, settle_at_ns) = match self.open_until {
                Some(_) => (Settle::Nack, context.now_ns),
                None if context.rng.chance(BREAKER_FAILURE_PER_MILLE) => (
                    Settle::Nack,
                    context.now_ns + self.spec.work.draw(context.rng),
                ),
                None => (
                    Settle::Ack,
                    context.now_ns + self.spec.work.draw(context.rng),
                ),
            };
            let held = Held {
                how,
                payload,
                reply_to,
            };
            self.held.insert((settle_at_ns, delivery_tag), held);
            return;
        }
        let how = if gives_up {
            if let Some(payload) = payload {
                let entry = Entry::GaveUp {
                    consumer: self.spec.id,
                    payload,
                };
                context.history.record(context.now_ns, entry);
            }
            Settle::Ack
        } else if context.rng.chance(self.spec.discard_per_mille) {
            Settle::Discard
        } else if context.rng.chance(self.spec.requeue_per_mille) {
            if context.rng.chance(500) {
                Settle::Nack
            } else {
                Settle::Reject
            }
        } else {
            Settle::Ack
        };
        let settle_at_ns = context.now_ns + self.spec.work.draw(context.rng);
        let held = Held {
            how,
            payload,
            reply_to,
        };
        self.held.insert((settle_at_ns, delivery_tag), held);
    }

    /// Confirms of replies: ack (or, on a nack, requeue) their requests.
    fn replies_confirmed(
        &mut self,
        context: &mut Context<'_>,
        seq: u64,
        multiple: bool,
        ack: bool,
    ) {
        let Some(conn) = self.conn else {
            return;
        };
        let settled: Vec<u64> = if multiple {
            self.replying.range(..=seq).map(|(seq, _)| *seq).collect()
        } else {
            vec![seq]
        };
        for seq in settled {
            let Some((delivery_tag, stamp)) = self.replying.remove(&seq) else {
                continue;
            };
            let producer = super::RESPONDER_BASE + self.spec.id;
            let entry = Entry::Confirm {
                producer,
                stamp,
                ack,
            };
            context.history.record(context.now_ns, entry);
            let how = if ack { Settle::Ack } else { Settle::Nack };
            self.settle(context, conn, delivery_tag, how);
        }
    }

    /// Publishes the reply to a request; the request is acked when it is confirmed.
    fn reply(
        &mut self,
        context: &mut Context<'_>,
        conn: ConnectionId,
        delivery_tag: u64,
        payload: u64,
        reply_to: ReplyTo,
    ) {
        self.replies += 1;
        let id = self.spec.id as u64;
        let stamp = Stamp {
            payload,
            attempt: REPLY_ATTEMPTS | id << 32 | self.replies,
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        let properties = Properties {
            delivery_mode: Some(2),
            correlation_id: reply_to.correlation,
            ..Properties::default()
        };
        self.outbox.send(
            CHANNEL,
            Command::BasicPublish {
                exchange: "".into(),
                routing_key: reply_to.queue.clone(),
                mandatory: false,
                immediate: false,
                properties: Arc::new(properties).into(),
                body: stamp.encode(),
            },
        );
        assert!(self.replying.len() < HELD_MAX, "replies in flight bound");
        self.replying.insert(seq, (delivery_tag, stamp));
        let entry = Entry::Publish {
            producer: super::RESPONDER_BASE + self.spec.id,
            conn,
            channel: CHANNEL,
            seq,
            stamp,
            routes: Arc::from([reply_to.queue]),
            priority: None,
            expiration_ms: None,
        };
        context.history.record(context.now_ns, entry);
    }

    pub(super) fn handle_closed(&mut self, _: &mut Context<'_>) {
        self.conn = None;
        self.outbox.clear();
        // Unconfirmed replies are lost with their channel; their requests come back.
        self.replying.clear();
        // The broker requeues what the connection held; nothing to settle.
        self.held.clear();
    }

    pub(super) fn handle_timeout(&mut self, context: &mut Context<'_>) {
        let Some(conn) = self.conn else {
            return;
        };
        while let Some(entry) = self.held.first_entry() {
            let (settle_at_ns, delivery_tag) = *entry.key();
            if settle_at_ns > context.now_ns {
                break;
            }
            let Held {
                how,
                payload,
                reply_to,
            } = entry.remove();
            if self.spec.breaker && self.open_until.is_none() {
                self.failures = match how {
                    Settle::Nack => self.failures + 1,
                    _ => 0,
                };
                if self.failures < BREAKER_THRESHOLD {
                    self.settle(context, conn, delivery_tag, how);
                    continue;
                }
                // The failure that opens the breaker is handed back with
                // the rest, after the cancel.
                let held = Held {
                    how,
                    payload,
                    reply_to,
                };
                self.held.insert((settle_at_ns, delivery_tag), held);
                self.open_breaker(context, conn);
                continue;
            }
            if let (Settle::Ack, Some(payload), Some(reply_to)) = (how, payload, reply_to) {
                self.reply(context, conn, delivery_tag, payload, reply_to);
                continue;
            }
            if let (true, Settle::Ack, Some(payload)) = (self.spec.idempotent, how, payload) {
                // Check the store and apply the effect in one step, before the ack.
                if context.processed.insert(payload) {
                    let entry = Entry::Effect {
                        consumer: self.spec.id,
                        payload,
                    };
                    context.history.record(context.now_ns, entry);
                }
            }
            self.settle(context, conn, delivery_tag, how);
        }
        let pause_over = self.open_until.is_some_and(|until| until <= context.now_ns);
        if pause_over && !self.cancel_pending {
            // The breaker closes, with everything handed back: work comes again.
            self.open_until = None;
            self.failures = 0;
            self.consume(context, conn);
        }
    }

    /// Sends the settle of a delivery and records it.
    fn settle(
        &mut self,
        context: &mut Context<'_>,
        conn: ConnectionId,
        delivery_tag: u64,
        how: Settle,
    ) {
        let command = match how {
            Settle::Ack => Command::BasicAck {
                delivery_tag,
                multiple: false,
            },
            Settle::Nack => Command::BasicNack {
                delivery_tag,
                multiple: false,
                requeue: true,
            },
            Settle::Reject => Command::BasicReject {
                delivery_tag,
                requeue: true,
            },
            Settle::Discard => Command::BasicReject {
                delivery_tag,
                requeue: false,
            },
        };
        self.outbox.send(CHANNEL, command);
        let entry = Entry::Settle {
            consumer: self.spec.id,
            conn,
            channel: CHANNEL,
            delivery_tag,
            how,
        };
        context.history.record(context.now_ns, entry);
    }

    pub(super) fn poll_timeout(&self) -> Option<u64> {
        let settle = self
            .held
            .keys()
            .next()
            .map(|(settle_at_ns, _)| *settle_at_ns);
        // A breaker's pause ends on a connection only, once its cancel
        // is answered.
        let until = self
            .open_until
            .filter(|_| self.conn.is_some() && !self.cancel_pending);
        match (settle, until) {
            (Some(settle), Some(until)) => Some(settle.min(until)),
            (settle, until) => settle.or(until),
        }
    }
}
