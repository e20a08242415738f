//! The message path (SEMANTICS.md sections 2, 3 and 5): publish with
//! mandatory and confirms, enqueue under TTL, length limits and priorities,
//! dispatch to consumers under prefetch, requeue, expiry at the heads, and
//! dead-lettering with its cycle rule.

use super::{Consumer, Entry, Fault, Model, Msg, Reason, Unacked};
use crate::reference_model::observe::{SeenHeaders, SeenMessage, SeenReply};
use brokerlab_core::args::{parse_expiration, Overflow};
use brokerlab_core::{FieldTable, FieldValue, Reply, ReplyCode};

/// A basic.publish.
pub struct Publish<'a> {
    pub exchange: &'a str,
    pub key: &'a str,
    pub mandatory: bool,
    pub expiration: Option<&'a str>,
    pub priority: Option<u8>,
    pub body: &'a [u8],
}

/// RabbitMQ's cycle rule: the dead-lettered message (its history already
/// updated) is dropped for `target` when it died there before and every
/// death since then was automatic (none `rejected`).
fn is_cycle(msg: &Msg, reason: Reason, target: &str) -> bool {
    if reason == Reason::Rejected {
        return false;
    }
    let Some(last) = msg.deaths.iter().position(|(queue, _)| queue == target) else {
        return false;
    };
    msg.deaths[..=last]
        .iter()
        .all(|(_, reason)| *reason != Reason::Rejected)
}

impl Model {
    pub(super) fn publish(
        &mut self,
        conn: u64,
        number: u16,
        publish: Publish<'_>,
    ) -> Result<(), Fault> {
        if !publish.exchange.is_empty() && !self.exchange_exists(publish.exchange) {
            return Err(ReplyCode::NotFound);
        }
        let ttl_ms = match publish.expiration {
            Some(expiration) => {
                Some(parse_expiration(expiration).map_err(|_| ReplyCode::PreconditionFailed)?)
            }
            None => None,
        };
        let id = self.next_message_id;
        self.next_message_id += 1;
        let chan = self.chan_mut(conn, number);
        let confirm = chan.next_confirm;
        if let Some(seq) = confirm {
            chan.next_confirm = Some(seq + 1);
        }
        let msg = Msg {
            id,
            exchange: publish.exchange.to_owned(),
            routing_key: publish.key.to_owned(),
            priority: publish.priority,
            expiration: publish.expiration.map(str::to_owned),
            body: publish.body.to_vec(),
            deaths: Vec::new(),
            dead_lettered: false,
        };
        let targets = self.route(publish.exchange, publish.key);
        let mut refused = false;
        for &target in &targets {
            refused |= !self.enqueue(target, &msg, ttl_ms);
        }
        // The return comes before the confirm (SEMANTICS.md section 3).
        if targets.is_empty() && publish.mandatory {
            let reply = SeenReply::Return {
                code: ReplyCode::NoRoute,
                text: "NO_ROUTE".to_owned(),
                message: view(&msg, None),
            };
            self.reply(conn, number, reply);
        }
        if let Some(seq) = confirm {
            // Only a reject-publish refusal is nacked; unroutable is acked.
            let reply = if refused {
                Reply::ConfirmNack {
                    delivery_tag: seq,
                    multiple: false,
                }
            } else {
                Reply::ConfirmAck {
                    delivery_tag: seq,
                    multiple: false,
                }
            };
            self.reply_other(conn, number, reply);
        }
        Ok(())
    }

    /// Puts a message in a queue; `false` when a reject-publish queue refuses it.
    fn enqueue(&mut self, uid: u64, msg: &Msg, message_ttl_ms: Option<u64>) -> bool {
        let now_ms = self.now_ms;
        let queue = self.queue_mut(uid);
        if queue.args.overflow != Overflow::DropHead && queue.would_overflow(msg.body.len() as u64)
        {
            if queue.args.overflow == Overflow::RejectPublishDlx {
                self.dead_letter_or_drop(uid, msg, Reason::MaxLen);
            }
            return false;
        }
        // The effective TTL is the lower of the queue's and the message's.
        let ttl_ms = match (queue.args.message_ttl_ms, message_ttl_ms) {
            (Some(queue_ttl), Some(message_ttl)) => Some(queue_ttl.min(message_ttl)),
            (queue_ttl, message_ttl) => queue_ttl.or(message_ttl),
        };
        let max_level = queue.args.max_priority.unwrap_or(0);
        let entry = Entry {
            msg: msg.clone(),
            seq: queue.next_seq,
            expires_at_ms: ttl_ms.map(|ttl| now_ms + ttl),
            redelivered: false,
            returns: 0,
            level: msg.priority.unwrap_or(0).min(max_level),
        };
        queue.next_seq += 1;
        // A consumer that is already waiting gets the message before its TTL
        // is looked at: that is how a TTL of 0 reaches it.
        if queue.ready.is_empty() {
            if let Some(consumer) = self.next_consumer(uid) {
                self.deliver(consumer, uid, entry);
                return true;
            }
        }
        self.queue_mut(uid).insert(entry);
        self.enforce_length_limit(uid);
        self.run_queue(uid);
        true
    }

    /// Under drop-head, drops (or dead-letters) from the head while over a limit.
    fn enforce_length_limit(&mut self, uid: u64) {
        if self.queue(uid).unwrap().args.overflow != Overflow::DropHead {
            return;
        }
        while self.queue(uid).unwrap().is_over_limit() {
            let entry = self.queue_mut(uid).ready.remove(0);
            self.dead_letter_or_drop(uid, &entry.msg, Reason::MaxLen);
        }
    }

    /// Queues the dead-lettered copy of a message that left queue `uid`, or
    /// drops it when the queue has no dead-letter exchange.
    pub(super) fn dead_letter_or_drop(&mut self, uid: u64, msg: &Msg, reason: Reason) {
        let queue = self.queue(uid).unwrap();
        let Some(exchange) = &queue.args.dead_letter_exchange else {
            return;
        };
        let mut copy = msg.clone();
        // One history entry per (queue, reason), newest first.
        copy.deaths
            .retain(|(name, old)| !(*name == queue.name && *old == reason));
        copy.deaths.insert(0, (queue.name.clone(), reason));
        copy.exchange = exchange.to_string();
        if let Some(key) = &queue.args.dead_letter_routing_key {
            copy.routing_key = key.to_string();
        }
        copy.expiration = None;
        copy.dead_lettered = true;
        self.dead_letters.push((copy, reason));
    }

    /// Publishes a dead-lettered copy to its exchange. A missing exchange or
    /// no route drops it; so does a cycle, per target queue.
    pub(super) fn publish_dead_letter(&mut self, msg: Msg, reason: Reason) {
        if !self.exchange_exists(&msg.exchange) {
            return;
        }
        let targets = self.route(&msg.exchange, &msg.routing_key);
        for target in targets {
            let name = &self.queue(target).unwrap().name;
            if !is_cycle(&msg, reason, name) {
                self.enqueue(target, &msg, None);
            }
        }
    }

    /// Runs each queue once, in slot order (a choice, not a rule).
    pub(super) fn run_queues(&mut self, touched: Vec<u64>) {
        let mut queues: Vec<(usize, u64)> = touched
            .into_iter()
            .filter_map(|uid| Some((self.queue(uid)?.slot, uid)))
            .collect();
        queues.sort_unstable();
        queues.dedup();
        for (_, uid) in queues {
            self.run_queue(uid);
        }
    }

    /// Expires what is due at the heads, then delivers while a consumer has room.
    pub(super) fn run_queue(&mut self, uid: u64) {
        if self.queue(uid).is_none() {
            return;
        }
        self.expire_heads(uid);
        while !self.queue(uid).unwrap().ready.is_empty() {
            let Some(consumer) = self.next_consumer(uid) else {
                break;
            };
            let entry = self.queue_mut(uid).ready.remove(0);
            self.deliver(consumer, uid, entry);
            self.expire_heads(uid);
        }
    }

    /// Removes expired heads (highest priority level first), dead-lettering
    /// them with reason `expired`. Expired messages behind live ones stay.
    pub(super) fn expire_heads(&mut self, uid: u64) {
        let now_ms = self.now_ms;
        while let Some(index) = self.queue(uid).unwrap().expired_head(now_ms) {
            let entry = self.queue_mut(uid).ready.remove(index);
            self.dead_letter_or_drop(uid, &entry.msg, Reason::Expired);
        }
    }

    /// The next consumer with room, round-robin from the queue's cursor. The
    /// cursor moves past the consumer chosen: a choice, not a rule.
    pub(super) fn next_consumer(&mut self, uid: u64) -> Option<u64> {
        let queue = self.queue(uid).unwrap();
        let count = queue.consumers.len();
        for offset in 0..count {
            let index = (queue.cursor + offset) % count;
            let consumer = queue.consumers[index];
            if self.has_room(consumer) {
                self.queue_mut(uid).cursor = (index + 1) % count;
                return Some(consumer);
            }
        }
        None
    }

    /// No-ack consumers always have room; others within their own prefetch
    /// and their channel's global one, which counts the channel's
    /// unacknowledged consumer deliveries (cancelled consumers' included,
    /// basic.get's not, as in RabbitMQ).
    fn has_room(&self, uid: u64) -> bool {
        let consumer = self.consumer(uid);
        if consumer.no_ack {
            return true;
        }
        let chan = self.chan(consumer.conn, consumer.channel).unwrap();
        let own = consumer.prefetch == 0 || consumer.unacked < u32::from(consumer.prefetch);
        let counted = chan
            .unacked
            .iter()
            .filter(|unacked| unacked.consumer.is_some())
            .count();
        let shared =
            chan.channel_prefetch == 0 || (counted as u64) < u64::from(chan.channel_prefetch);
        own && shared
    }

    pub(super) fn consumer(&self, uid: u64) -> &Consumer {
        self.consumers.iter().find(|c| c.uid == uid).unwrap()
    }

    pub(super) fn consumer_mut(&mut self, uid: u64) -> Option<&mut Consumer> {
        self.consumers.iter_mut().find(|c| c.uid == uid)
    }

    fn deliver(&mut self, uid: u64, queue: u64, entry: Entry) {
        let consumer = self.consumer_mut(uid).unwrap();
        if !consumer.no_ack {
            consumer.unacked += 1;
        }
        let consumer = self.consumer(uid).clone();
        let (delivery_tag, redelivered, message) = self.hand_out(
            consumer.conn,
            consumer.channel,
            Some(uid),
            queue,
            entry,
            consumer.no_ack,
        );
        let reply = SeenReply::Deliver {
            consumer_tag: consumer.tag,
            delivery_tag,
            redelivered,
            message,
        };
        self.reply(consumer.conn, consumer.channel, reply);
    }

    /// Takes the next delivery tag and records the delivery as unacknowledged
    /// unless no-ack; returns (tag, redelivered, message as sent).
    pub(super) fn hand_out(
        &mut self,
        conn: u64,
        number: u16,
        consumer: Option<u64>,
        queue: u64,
        entry: Entry,
        no_ack: bool,
    ) -> (u64, bool, SeenMessage) {
        let limit = self.queue(queue).unwrap().args.delivery_limit;
        // A queue with a delivery limit tells a redelivery's count.
        let delivery_count = (limit.is_some() && entry.returns > 0).then_some(entry.returns);
        let message = view(&entry.msg, delivery_count);
        let redelivered = entry.redelivered;
        let chan = self.chan_mut(conn, number);
        let tag = chan.next_tag;
        chan.next_tag += 1;
        if !no_ack {
            chan.unacked.push(Unacked {
                tag,
                queue,
                entry,
                consumer,
            });
        }
        (tag, redelivered, message)
    }

    /// Returns a delivery to its original place in its queue, flagged as
    /// redelivered, unless it is over the delivery limit; the length limit is
    /// enforced again. Returns the queue, which the caller must run.
    pub(super) fn requeue(&mut self, unacked: Unacked) -> Option<u64> {
        let queue = self.queue(unacked.queue)?;
        let mut entry = unacked.entry;
        entry.redelivered = true;
        entry.returns += 1;
        if queue
            .args
            .delivery_limit
            .is_some_and(|limit| u64::from(entry.returns) > limit)
        {
            self.dead_letter_or_drop(unacked.queue, &entry.msg, Reason::DeliveryLimit);
            return Some(unacked.queue);
        }
        self.queue_mut(unacked.queue).insert(entry);
        self.enforce_length_limit(unacked.queue);
        Some(unacked.queue)
    }
}

/// A message as a client receives it: dead-lettered ones lose `expiration`
/// (already removed from the copy) and their headers are not compared.
fn view(msg: &Msg, delivery_count: Option<u32>) -> SeenMessage {
    let headers = if msg.dead_lettered {
        SeenHeaders::DeadLettered
    } else {
        SeenHeaders::Exactly(delivery_count.map(|count| {
            let mut headers = FieldTable::new();
            headers.insert(
                "x-delivery-count".to_owned(),
                FieldValue::I64(i64::from(count)),
            );
            headers
        }))
    };
    SeenMessage {
        id: msg.id,
        exchange: msg.exchange.clone(),
        routing_key: msg.routing_key.clone(),
        body: msg.body.clone(),
        priority: msg.priority,
        expiration: msg.expiration.clone(),
        headers,
    }
}
