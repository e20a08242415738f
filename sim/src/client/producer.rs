//! A producer with publisher confirms that retries what was not confirmed.
//!
//! It owns a fixed set of logical messages and is done when every one has
//! been confirmed (basic.ack) at least once. Publishes are paced by a drawn
//! gap and limited by a window of unconfirmed ones. A publish that is nacked,
//! that waits longer than the confirm timeout, or whose connection drops
//! before its confirm, is published again: that is what real producers do,
//! and it is why consumers see duplicates. Every message is persistent;
//! logical message `i` goes to the workload's target `i % targets`, with the
//! priority and expiration that target asks for, on every attempt.
//!
//! A requester (request-reply) is a producer with a reply queue of its own:
//! every request carries `reply_to` (that queue) and `correlation_id` (the
//! logical message), it consumes its reply queue on the same channel, and it
//! is done once every request is confirmed and answered. Duplicate replies
//! (a request published twice, or redelivered to a responder) are acked and
//! otherwise ignored.

use super::{Context, Outbox, CHANNEL};
use crate::history::{Entry, Settle, Stamp};
use crate::plan::Span;
use crate::workload::Target;
use brokerlab_core::Name;
use brokerlab_core::{ChannelId, Command, ConnectionId, Message, Properties, Reply};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

/// The requester's prefetch on its reply queue.
const REPLIES_PREFETCH: u16 = 64;

/// Most publishes a producer keeps track of at once (unconfirmed, including
/// ones already published again): far above any window a plan draws.
const IN_FLIGHT_MAX: usize = 4096;

/// How a producer behaves.
#[derive(Clone, Debug)]
pub struct ProducerSpec {
    /// The producer's index among the run's producers.
    pub id: usize,
    /// The workload's declarations, sent on every new connection.
    pub setup: Arc<[Command]>,
    /// Where its messages go, in turn.
    pub targets: Arc<[Target]>,
    /// Logical messages it must get confirmed.
    pub messages: u64,
    /// Most unconfirmed publishes outstanding.
    pub window: usize,
    /// Pause between two publishes.
    pub gap: Span,
    /// How long to wait for a confirm before publishing again.
    pub confirm_timeout_ns: u64,
    /// The requester's reply queue, for request-reply.
    pub replies: Option<Name>,
}

/// A publish waiting for its confirm.
#[derive(Clone, Copy, Debug)]
struct InFlight {
    stamp: Stamp,
    sent_at_ns: u64,
    /// Already published again after a timeout: it no longer counts towards
    /// the window, but its confirm still counts if it comes.
    retried: bool,
}

/// The producer state machine.
#[derive(Clone, Debug)]
pub struct Producer {
    spec: ProducerSpec,
    pub(super) outbox: Outbox,
    conn: Option<ConnectionId>,
    /// Logical messages `0..fresh` have been published at least once.
    fresh: u64,
    /// Logical messages to publish again, oldest first.
    retry: VecDeque<u64>,
    confirmed: BTreeSet<u64>,
    /// Unconfirmed publishes on the current connection, by confirm sequence number.
    in_flight: BTreeMap<u64, InFlight>,
    next_seq: u64,
    next_publish_ns: u64,
    attempts: u64,
    /// Logical messages answered (request-reply).
    answered: BTreeSet<u64>,
}

impl Producer {
    /// A producer that has published nothing yet.
    #[must_use]
    pub fn new(spec: ProducerSpec) -> Producer {
        assert!(spec.window > 0, "a producer needs room for one publish");
        assert!(spec.messages < 1 << 32, "message numbers fit in 32 bits");
        assert!(!spec.targets.is_empty(), "a producer publishes somewhere");
        Producer {
            spec,
            outbox: Outbox::default(),
            conn: None,
            fresh: 0,
            retry: VecDeque::new(),
            confirmed: BTreeSet::new(),
            in_flight: BTreeMap::new(),
            next_seq: 1,
            next_publish_ns: 0,
            attempts: 0,
            answered: BTreeSet::new(),
        }
    }

    /// Whether every logical message has been confirmed.
    #[must_use]
    pub fn is_done(&self) -> bool {
        let answered =
            self.spec.replies.is_none() || self.answered.len() as u64 == self.spec.messages;
        self.confirmed.len() as u64 == self.spec.messages && answered
    }

    /// Whether it still needs a connection: to publish, or (a requester,
    /// always) to consume its replies, late duplicates included.
    #[must_use]
    pub fn wants_connection(&self) -> bool {
        self.spec.replies.is_some() || !self.is_done()
    }

    pub(super) fn handle_open(&mut self, context: &mut Context<'_>, conn: ConnectionId) {
        assert!(
            self.in_flight.is_empty(),
            "nothing is in flight on a new connection"
        );
        self.conn = Some(conn);
        // Confirm numbers start at 1 on every channel that selects confirms.
        self.next_seq = 1;
        self.outbox.send(CHANNEL, Command::ChannelOpen);
        self.outbox.send(CHANNEL, Command::ConfirmSelect);
        for command in self.spec.setup.iter() {
            self.outbox.send(CHANNEL, command.clone());
        }
        if let Some(replies) = &self.spec.replies {
            self.outbox.send(CHANNEL, super::qos(REPLIES_PREFETCH));
            self.outbox
                .send(CHANNEL, super::consume(replies, "replies"));
            let entry = Entry::Consume {
                consumer: super::REQUESTER_BASE + self.spec.id,
                conn,
                channel: CHANNEL,
                prefetch: REPLIES_PREFETCH,
            };
            context.history.record(context.now_ns, entry);
        }
        self.next_publish_ns = context.now_ns;
    }

    pub(super) fn handle_reply(&mut self, context: &mut Context<'_>, _: ChannelId, reply: Reply) {
        match reply {
            Reply::ConfirmAck {
                delivery_tag,
                multiple,
            } => self.confirmed_upto(context, delivery_tag, multiple, true),
            Reply::ConfirmNack {
                delivery_tag,
                multiple,
            } => self.confirmed_upto(context, delivery_tag, multiple, false),
            Reply::Deliver {
                delivery_tag,
                redelivered,
                message,
                ..
            } => self.answer(context, delivery_tag, redelivered, &message),
            // A broker-initiated close is not part of this workload: start over.
            Reply::Close { .. } | Reply::Cancel { .. } => self.outbox.close(),
            _ => {}
        }
    }

    fn confirmed_upto(&mut self, context: &mut Context<'_>, seq: u64, multiple: bool, ack: bool) {
        let settled: Vec<u64> = if multiple {
            self.in_flight.range(..=seq).map(|(seq, _)| *seq).collect()
        } else {
            vec![seq]
        };
        for seq in settled {
            // A confirm for a number not in flight answers a publish made
            // before a reconnect numbered from 1 again: nothing to do.
            let Some(publish) = self.in_flight.remove(&seq) else {
                continue;
            };
            let producer = self.spec.id;
            let stamp = publish.stamp;
            let entry = Entry::Confirm {
                producer,
                stamp,
                ack,
            };
            context.history.record(context.now_ns, entry);
            let index = stamp.payload & 0xffff_ffff;
            if ack {
                self.confirmed.insert(index);
                self.retry.retain(|waiting| *waiting != index);
            } else {
                self.schedule_retry(index);
            }
        }
    }

    /// A reply arrived: record it, ack it, and count its request answered.
    fn answer(
        &mut self,
        context: &mut Context<'_>,
        delivery_tag: u64,
        redelivered: bool,
        message: &Message,
    ) {
        let conn = self.conn.expect("replies arrive on an open connection");
        let stamp = Stamp::decode(&message.body);
        let consumer = super::REQUESTER_BASE + self.spec.id;
        let queue = self.spec.replies.clone().expect("only requesters consume");
        let entry = Entry::Deliver {
            consumer,
            conn,
            channel: CHANNEL,
            queue,
            delivery_tag,
            redelivered,
            message: message.id,
            stamp,
            deaths: None,
        };
        context.history.record(context.now_ns, entry);
        let correlation = message.properties().correlation_id.clone();
        let entry = Entry::Answer {
            requester: self.spec.id,
            correlation: correlation.clone(),
            payload: stamp.map(|stamp| stamp.payload),
        };
        context.history.record(context.now_ns, entry);
        if let Some(payload) = correlation.and_then(|text| text.parse::<u64>().ok()) {
            if payload >> 32 == self.spec.id as u64 {
                self.answered.insert(payload & 0xffff_ffff);
            }
        }
        self.outbox.send(
            CHANNEL,
            Command::BasicAck {
                delivery_tag,
                multiple: false,
            },
        );
        let entry = Entry::Settle {
            consumer,
            conn,
            channel: CHANNEL,
            delivery_tag,
            how: Settle::Ack,
        };
        context.history.record(context.now_ns, entry);
    }

    pub(super) fn handle_closed(&mut self, _: &mut Context<'_>) {
        self.conn = None;
        self.outbox.clear();
        for publish in std::mem::take(&mut self.in_flight).into_values() {
            self.schedule_retry(publish.stamp.payload & 0xffff_ffff);
        }
    }

    pub(super) fn handle_timeout(&mut self, context: &mut Context<'_>) {
        let now_ns = context.now_ns;
        let timeout_ns = self.spec.confirm_timeout_ns;
        let mut expired = Vec::new();
        for publish in self.in_flight.values_mut() {
            if !publish.retried && publish.sent_at_ns + timeout_ns <= now_ns {
                publish.retried = true;
                expired.push(publish.stamp.payload & 0xffff_ffff);
            }
        }
        for index in expired {
            self.schedule_retry(index);
        }
        if self.can_publish() && self.next_publish_ns <= now_ns {
            self.publish(context);
        }
    }

    /// The next publish time when a publish is possible, and the earliest confirm deadline.
    pub(super) fn poll_timeout(&self) -> Option<u64> {
        let publish = self.can_publish().then_some(self.next_publish_ns);
        let deadline = self
            .in_flight
            .values()
            .filter(|publish| !publish.retried)
            .map(|publish| publish.sent_at_ns + self.spec.confirm_timeout_ns)
            .min();
        publish.into_iter().chain(deadline).min()
    }

    fn can_publish(&self) -> bool {
        let window_used = self.in_flight.values().filter(|p| !p.retried).count();
        let has_work = !self.retry.is_empty() || self.fresh < self.spec.messages;
        self.conn.is_some() && window_used < self.spec.window && has_work
    }

    fn schedule_retry(&mut self, index: u64) {
        if !self.confirmed.contains(&index) && !self.retry.contains(&index) {
            self.retry.push_back(index);
        }
        assert!(
            self.retry.len() as u64 <= self.spec.messages,
            "retry queue bound"
        );
    }

    fn publish(&mut self, context: &mut Context<'_>) {
        let conn = self.conn.expect("can_publish checked the connection");
        let index = match self.retry.pop_front() {
            Some(index) => index,
            None => {
                self.fresh += 1;
                self.fresh - 1
            }
        };
        let id = self.spec.id as u64;
        self.attempts += 1;
        let stamp = Stamp {
            payload: id << 32 | index,
            attempt: id << 32 | self.attempts,
        };
        assert!(
            self.in_flight.len() < IN_FLIGHT_MAX,
            "in-flight bound reached"
        );
        let seq = self.next_seq;
        self.next_seq += 1;
        let target = &self.spec.targets[(index % self.spec.targets.len() as u64) as usize];
        let priority =
            (target.priorities > 0).then(|| (index % (u64::from(target.priorities) + 1)) as u8);
        let expiration_ms = target.expiration_ms.filter(|_| index % 2 == 1);
        let properties = Properties {
            delivery_mode: Some(2),
            message_id: Some(stamp.payload.to_string()),
            priority,
            expiration: expiration_ms.map(|ms| ms.to_string()),
            reply_to: self.spec.replies.as_ref().map(ToString::to_string),
            correlation_id: self
                .spec
                .replies
                .as_ref()
                .map(|_| stamp.payload.to_string()),
            ..Properties::default()
        };
        let routes = target.queues.clone();
        self.outbox.send(
            CHANNEL,
            Command::BasicPublish {
                exchange: target.exchange.clone(),
                routing_key: target.routing_key.clone(),
                mandatory: false,
                immediate: false,
                properties: Arc::new(properties).into(),
                body: stamp.encode(),
            },
        );
        let sent_at_ns = context.now_ns;
        let in_flight = InFlight {
            stamp,
            sent_at_ns,
            retried: false,
        };
        self.in_flight.insert(seq, in_flight);
        let entry = Entry::Publish {
            producer: self.spec.id,
            conn,
            channel: CHANNEL,
            seq,
            stamp,
            routes,
            priority,
            expiration_ms,
        };
        context.history.record(sent_at_ns, entry);
        self.next_publish_ns = sent_at_ns + self.spec.gap.draw(context.rng);
    }
}
