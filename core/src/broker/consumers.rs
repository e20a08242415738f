//! The message path out of queues: consumers and round-robin dispatch under
//! prefetch, basic.get, acknowledgements and requeue, and recover.

use super::direct_reply;
use super::entities::count_u32;
use super::{Broker, Fault, Held};
use crate::arena::Id;
use crate::channel::{Consumer, Settle, Unacked};
use crate::config::Mutant;
use crate::field::FieldValue;
use crate::in_place;
use crate::message::Message;
use crate::message::Name;
use crate::message::SharedMessage;
use crate::protocol::{DeadLetterReason, DropReason, Event, Output, Reply, ReplyCode};
use crate::queue::Entry;
use std::sync::Arc;

impl Broker {
    pub(super) fn consume(
        &mut self,
        channel: Id,
        queue: &str,
        tag: String,
        no_ack: bool,
        exclusive: bool,
        arguments: &crate::field::FieldTable,
    ) -> Result<(), Fault> {
        // RabbitMQ checks the tag before it looks up the queue.
        super::entities::check_length("consumer tag", &tag)?;
        if self.channels[channel].consumers.contains_key(tag.as_str()) {
            return Err(Fault::new(
                ReplyCode::NotAllowed,
                format!("attempt to reuse consumer tag '{tag}'"),
            ));
        }
        if let Some(max) = self.config.consumers_per_channel_max {
            if self.channels[channel].consumers.len() >= max {
                return Err(Fault::new(
                    ReplyCode::NotAllowed,
                    format!("reached maximum ({max}) of consumers per channel"),
                ));
            }
        }
        let name = self.resolve_queue_name(channel, queue)?;
        if name == direct_reply::REPLY_QUEUE {
            return self.consume_replies(channel, tag, no_ack);
        }
        let queue = self.find_queue(channel, &name)?;
        self.refuse_on_sqs(queue, "basic.consume")?;
        let tag: Name = if tag.is_empty() {
            self.generate_name("amq.ctag-")
        } else {
            tag.into()
        };
        let stream_offset = match self.queues[queue].stream {
            Some(_) => Some(self.stream_consumer_start(channel, queue, no_ack, arguments)?),
            None => None,
        };
        let state = &self.queues[queue];
        // A stream queue ignores exclusivity: every consumer reads it all.
        let exclusive = exclusive && stream_offset.is_none();
        let exclusive_held = state
            .consumers
            .iter()
            .any(|&consumer| self.consumers[consumer].exclusive);
        if exclusive_held || (exclusive && !state.consumers.is_empty()) {
            return Err(Fault::new(
                ReplyCode::AccessRefused,
                format!(
                    "queue '{}' in vhost '{}' in exclusive use",
                    state.name, state.vhost
                ),
            ));
        }
        let prefetch = self.channels[channel].consumer_prefetch;
        let consumer = self.consumers.insert(Consumer {
            tag: tag.clone(),
            channel,
            queue,
            no_ack,
            exclusive,
            prefetch,
            unacked: 0,
            stream_offset,
        });
        self.channels[channel]
            .consumers
            .insert(tag.clone(), consumer);
        let state = &mut self.queues[queue];
        state.consumers.push(consumer);
        state.had_consumer = true;
        state.last_used = self.now;
        self.reply(channel, Reply::ConsumeOk { consumer_tag: tag });
        self.run_queue(queue);
        Ok(())
    }

    /// basic.cancel: the consumer goes; its unacknowledged deliveries stay with the channel.
    pub(super) fn cancel(&mut self, channel: Id, tag: &str) {
        if self.cancel_replies(channel, tag) {
            return;
        }
        // Cancelling an unknown tag is answered with cancel-ok, as in RabbitMQ.
        let consumer = self.channels[channel].consumers.get(tag).copied();
        if let (Some(consumer), true) = (consumer, self.is_mutant(Mutant::CancelForgetsUnacked)) {
            // The mutant takes the consumer's deliveries off its channel,
            // with nothing put back and nothing said.
            for tag in self.channels[channel].outstanding_of(consumer) {
                let unacked = self.channels[channel].take(tag);
                self.held_bytes -= unacked.entry.size_bytes();
                self.uncount_delivery(unacked.consumer);
            }
        }
        let touched = consumer.and_then(|consumer| self.remove_consumer(consumer));
        self.reply(
            channel,
            Reply::CancelOk {
                consumer_tag: tag.into(),
            },
        );
        self.run_queues(touched.into_iter().collect());
    }

    /// Unregisters a consumer from its queue and channel; deletes an
    /// auto-delete queue that lost its last consumer. Returns the queue if it
    /// still exists (a single-active-consumer queue may have a new active one).
    pub(super) fn remove_consumer(&mut self, consumer: Id) -> Option<Id> {
        let removed = self.consumers.remove(consumer).expect("consumer exists");
        self.channels[removed.channel]
            .consumers
            .remove(&removed.tag);
        let queue = &mut self.queues[removed.queue];
        let position = queue
            .consumers
            .iter()
            .position(|&other| other == consumer)
            .expect("consumer is registered");
        queue.consumers.remove(position);
        if position < queue.cursor {
            queue.cursor -= 1;
        }
        if queue.cursor >= queue.consumers.len() {
            queue.cursor = 0;
        }
        if !queue.consumers.is_empty() {
            return Some(removed.queue);
        }
        if queue.auto_delete && queue.had_consumer {
            self.delete_queue(removed.queue, false);
            return None;
        }
        self.touch_queue(removed.queue);
        Some(removed.queue)
    }

    pub(super) fn qos(
        &mut self,
        channel: Id,
        prefetch_size: u32,
        prefetch_count: u16,
        global: bool,
    ) -> Result<(), Fault> {
        if prefetch_size != 0 {
            return Err(Fault::new(
                ReplyCode::NotImplemented,
                format!("prefetch_size!=0 ({prefetch_size})"),
            ));
        }
        let state = &mut self.channels[channel];
        if global {
            state.channel_prefetch = prefetch_count;
        } else {
            state.consumer_prefetch = prefetch_count;
        }
        self.reply(channel, Reply::QosOk);
        // A larger channel-wide limit may let waiting messages go out now.
        let queues = self.queues_consumed_by(channel);
        self.run_queues(queues);
        Ok(())
    }

    pub(super) fn queues_consumed_by(&self, channel: Id) -> Vec<Id> {
        self.channels[channel]
            .consumers
            .values()
            .map(|&consumer| self.consumers[consumer].queue)
            .collect()
    }

    pub(super) fn get(&mut self, channel: Id, queue: &str, no_ack: bool) -> Result<(), Fault> {
        let name = self.resolve_queue_name(channel, queue)?;
        let queue = self.find_queue(channel, &name)?;
        self.refuse_on_stream(queue, "basic.get")?;
        self.refuse_on_sqs(queue, "basic.get")?;
        self.touch_queue(queue);
        self.expire_heads(queue);
        let Some(entry) = self.queues[queue].ready.pop() else {
            self.counters.0.get_empty += 1;
            self.reply(channel, Reply::GetEmpty);
            return Ok(());
        };
        self.held_bytes -= entry.size_bytes();
        // Expired messages the get uncovers go at once, and get-ok does not count them.
        self.expire_heads(queue);
        let message_count = count_u32(self.queues[queue].ready.len());
        let get_ok = |delivery_tag, redelivered, message| Reply::GetOk {
            delivery_tag,
            redelivered,
            message_count,
            message,
        };
        self.hand_out(channel, None, queue, entry, no_ack, get_ok);
        self.arm_head_timer(queue);
        Ok(())
    }

    /// The next consumer of the queue with room for a delivery, round-robin.
    #[inline]
    pub(super) fn next_consumer(&mut self, queue: Id) -> Option<Id> {
        let state = &self.queues[queue];
        if state.args.single_active_consumer || state.consumers.len() == 1 {
            // Only the earliest registered consumer receives; the next takes
            // over when it goes. A lone consumer is the same case.
            let active = *state.consumers.first()?;
            return self.has_room(active).then_some(active);
        }
        // Round-robin from the cursor, wrapping by comparison: a division
        // per delivery costs more than the rest of this lookup.
        let count = state.consumers.len();
        let mut index = state.cursor;
        for _ in 0..count {
            if index >= count {
                index = 0;
            }
            let consumer = state.consumers[index];
            index += 1;
            if self.has_room(consumer) {
                self.queues[queue].cursor = if index == count { 0 } else { index };
                return Some(consumer);
            }
        }
        None
    }

    /// Prefetch, the one place it is decided: whether `consumer` may take
    /// one more delivery. A no-ack consumer always may; otherwise its own
    /// limit (basic.qos global=false, 0 for none) and its channel's shared
    /// limit (global=true) must both leave room, counted in unacknowledged
    /// consumer deliveries (basic.get's are not counted, as in RabbitMQ).
    #[inline]
    pub(super) fn has_room(&self, consumer: Id) -> bool {
        let consumer = &self.consumers[consumer];
        if consumer.no_ack || self.is_mutant(Mutant::IgnorePrefetch) {
            return true;
        }
        let channel = &self.channels[consumer.channel];
        let below = |limit: u16, count: u32| limit == 0 || count < u32::from(limit);
        below(consumer.prefetch, consumer.unacked)
            && below(channel.channel_prefetch, channel.unacked_count)
    }

    /// Delivers a ready entry to a consumer.
    pub(super) fn deliver(&mut self, consumer: Id, queue: Id, entry: Entry) {
        if self.is_mutant(Mutant::DoubleDeliver) && entry.message.id.0.is_multiple_of(2) {
            self.deliver_to_another(consumer, queue, &entry);
        }
        self.deliver_one(consumer, queue, entry);
    }

    /// The `double-deliver` mutant: a copy of the entry to another consumer
    /// of the queue, if it has one.
    #[cold]
    #[inline(never)]
    fn deliver_to_another(&mut self, consumer: Id, queue: Id, entry: &Entry) {
        let other = self.queues[queue]
            .consumers
            .iter()
            .copied()
            .find(|&other| other != consumer);
        if let Some(other) = other {
            self.deliver_one(other, queue, entry.clone());
        }
    }

    pub(super) fn deliver_one(&mut self, consumer: Id, queue: Id, entry: Entry) {
        if self.config.flow.is_some() {
            self.queues[queue].last_delivery = Some(self.now);
        }
        let state = &mut self.consumers[consumer];
        let (channel, no_ack, consumer_tag) = (state.channel, state.no_ack, state.tag.clone());
        if !no_ack {
            state.unacked += 1;
        }
        let deliver = |delivery_tag, redelivered, message| Reply::Deliver {
            consumer_tag,
            delivery_tag,
            redelivered,
            message,
        };
        self.hand_out(channel, Some(consumer), queue, entry, no_ack, deliver);
    }

    /// Takes a delivery tag for an entry leaving its queue, records it as
    /// unacknowledged (unless no-ack), emits `Delivered`, and sends the reply
    /// that `reply` makes of the tag, the redelivered flag and the message.
    fn hand_out(
        &mut self,
        channel: Id,
        consumer: Option<Id>,
        queue: Id,
        entry: Entry,
        no_ack: bool,
        reply: impl FnOnce(u64, bool, SharedMessage) -> Reply,
    ) {
        let counts_deliveries = self.queues[queue].args.delivery_limit.is_some();
        let redelivered = entry.redelivered && !self.is_mutant(Mutant::NoRedeliveredFlag);
        let id = entry.message.id;
        let (tag, message);
        if no_ack {
            // Settled as it is sent: the reply takes the entry's reference to
            // the message rather than a copy of it (two atomic instructions).
            self.log_removed(queue, &entry);
            message = self.as_sent(outgoing_owned(entry, counts_deliveries));
            tag = self.channels[channel].record_settled_delivery();
        } else {
            message = self.as_sent(outgoing(&entry, counts_deliveries));
            let delivered_at = self.now;
            self.held_bytes += entry.size_bytes();
            tag = self.channels[channel].record_delivery(|| Unacked {
                queue,
                queue_gone: None,
                entry,
                consumer,
                delivered_at,
                pending: None,
            });
        }
        // The mutant leaves consumers' redeliveries out of the count.
        let counted =
            redelivered && !(consumer.is_some() && self.is_mutant(Mutant::RedeliveriesUncounted));
        self.counters
            .0
            .delivery(consumer.is_some(), no_ack, counted);
        let state = &self.channels[channel];
        let (conn, number) = (state.conn, state.number);
        self.emit(|| Event::Delivered {
            message: id,
            queue: Held::queue(queue),
            conn,
            channel: number,
            delivery_tag: tag,
            redelivered,
        });
        in_place::push_back(&mut self.outputs, || Output::Reply {
            conn,
            channel: number,
            reply: reply(tag, redelivered, message),
        });
        if no_ack {
            self.emit(|| Event::Acked {
                message: id,
                queue: Held::queue(queue),
            });
        } else {
            self.arm_consumer_timeout(channel);
        }
    }

    /// The message as it goes out: the `dlx-drops-x-death` mutant loses its
    /// death history on the way (the broker itself keeps it, so its cycle
    /// detection still ends loops).
    #[inline(always)]
    fn as_sent(&self, mut message: SharedMessage) -> SharedMessage {
        if self.is_mutant(Mutant::DlxDropsXDeath) {
            let properties = SharedMessage::make_mut(&mut message).properties_mut();
            if let Some(headers) = properties.headers.as_mut() {
                Arc::make_mut(headers).retain(|name, _| {
                    !name.starts_with("x-death") && !name.starts_with("x-first-death")
                });
            }
        }
        message
    }

    /// Expires what is due at the heads, then delivers to consumers with room
    /// until the queue is empty or nobody has room.
    pub(super) fn run_queue(&mut self, queue: Id) {
        let Some(state) = self.queues.get(queue) else {
            return;
        };
        if state.stream.is_some() {
            self.run_stream_queue(queue);
            return;
        }
        if state.sqs.is_some() {
            self.run_sqs_queue(queue);
            return;
        }
        self.expire_heads(queue);
        while !self.queues[queue].ready.is_empty() {
            let Some(consumer) = self.next_consumer(queue) else {
                break;
            };
            let entry = self.queues[queue]
                .ready
                .pop()
                .expect("the queue has a ready message");
            self.held_bytes -= entry.size_bytes();
            self.deliver(consumer, queue, entry);
            self.expire_heads(queue);
        }
        self.arm_head_timer(queue);
    }

    /// Runs each queue once, in id order.
    pub(super) fn run_queues(&mut self, mut queues: Vec<Id>) {
        self.run_touched_queues(&mut queues);
    }

    /// Runs each queue once, in id order, and leaves `queues` empty.
    fn run_touched_queues(&mut self, queues: &mut Vec<Id>) {
        if queues.len() > 1 {
            queues.sort_unstable();
            queues.dedup();
        }
        for queue in queues.drain(..) {
            self.run_queue(queue);
        }
    }

    /// Removes expired messages from the heads of the queue (dead-lettering them with reason `expired`).
    pub(super) fn expire_heads(&mut self, queue: Id) {
        if self.is_mutant(Mutant::DeliverExpired) {
            return;
        }
        while let Some(entry) = self.queues[queue].ready.pop_expired(self.now) {
            self.held_bytes -= entry.size_bytes();
            if let Some(sqs) = self.queues[queue].sqs.as_deref_mut() {
                // An SQS message past its retention period: its handles die with it.
                sqs.receipts.remove(&entry.seq);
            }
            self.event(Event::Expired {
                message: entry.message.id,
                queue: Held::queue(queue),
            });
            self.remove_and_dead_letter(queue, &entry, DeadLetterReason::Expired);
        }
    }

    /// basic.ack, basic.nack and basic.reject.
    pub(super) fn settle(
        &mut self,
        channel: Id,
        tag: u64,
        multiple: bool,
        settle: Settle,
    ) -> Result<(), Fault> {
        let state = &self.channels[channel];
        let upto = if multiple && tag == 0 {
            u64::MAX
        } else if !state.is_outstanding(tag) {
            return Err(Fault::new(
                ReplyCode::PreconditionFailed,
                format!("unknown delivery tag {tag}"),
            ));
        } else {
            tag
        };
        let first = if multiple { 0 } else { tag };
        if settle != Settle::Ack && !self.stream_queues.is_empty() {
            let tags: Vec<u64> = self.channels[channel]
                .outstanding_upto(upto)
                .into_iter()
                .filter(|&outstanding| outstanding >= first)
                .collect();
            self.refuse_stream_settle(channel, &tags, "basic.nack and basic.reject")?;
        }
        if self.channels[channel].tx.is_some() {
            for tag in self.channels[channel].outstanding_upto(upto) {
                if tag >= first {
                    self.channels[channel].mark_pending(tag, settle);
                }
            }
            return Ok(());
        }
        // The consumers' queues may deliver again once their deliveries
        // are settled; so may a queue a delivery went back to.
        let mut touched = std::mem::take(&mut self.touched_scratch);
        touched.extend(
            self.channels[channel]
                .consumers
                .values()
                .map(|&consumer| self.consumers[consumer].queue),
        );
        let mut next = first;
        // Settling never adds a delivery to the channel, so the walk ends.
        while let Some(tag) = self.channels[channel].next_outstanding(next, upto) {
            touched.extend(self.settle_one(channel, tag, settle));
            next = tag + 1;
        }
        self.disarm_consumer_timeout(channel);
        self.run_touched_queues(&mut touched);
        self.touched_scratch = touched;
        Ok(())
    }

    /// Settles one delivery; returns the queue it was requeued to, if any.
    pub(super) fn settle_one(&mut self, channel: Id, tag: u64, settle: Settle) -> Option<Id> {
        if settle == Settle::Ack {
            self.ack_one(channel, tag);
            return None;
        }
        let unacked = self.channels[channel].take(tag);
        self.held_bytes -= unacked.entry.size_bytes();
        self.uncount_delivery(unacked.consumer);
        if settle == Settle::Requeue {
            return self.requeue(unacked);
        }
        if self.queues.get(unacked.queue).is_some() {
            self.remove_and_dead_letter(unacked.queue, &unacked.entry, DeadLetterReason::Rejected);
        } else {
            self.dropped_with_queue(&unacked);
        }
        None
    }

    /// Settles one delivery with an ack: the message leaves for good.
    #[inline(always)]
    fn ack_one(&mut self, channel: Id, tag: u64) {
        let acked = self.channels[channel].take_acked(tag);
        self.counters.0.acknowledged += 1;
        self.held_bytes -= acked.message.body.len() as u64;
        self.uncount_delivery(acked.consumer);
        if acked.logged {
            self.log_removal(acked.queue, acked.seq);
        }
        let queue = match acked.queue_gone {
            Some(name) => self.hold_name(*name),
            None => Held::queue(acked.queue),
        };
        self.emit(|| Event::Acked {
            message: acked.message.id,
            queue,
        });
        self.message_pool.recycle(acked.message);
    }

    /// A delivery to `consumer` (if it was not a basic.get) was settled.
    #[inline(always)]
    fn uncount_delivery(&mut self, consumer: Option<Id>) {
        if let Some(consumer) = consumer.and_then(|consumer| self.consumers.get_mut(consumer)) {
            consumer.unacked -= 1;
        }
    }

    /// The queue an unacknowledged delivery came from, as an event holds it:
    /// by id while it exists, else by the name the delivery kept.
    #[inline]
    fn unacked_queue(&mut self, unacked: &Unacked) -> Held {
        match &unacked.queue_gone {
            Some(name) => self.hold_name(Name::clone(name)),
            None => Held::queue(unacked.queue),
        }
    }

    fn dropped_with_queue(&mut self, unacked: &Unacked) {
        let queue = Some(self.unacked_queue(unacked));
        self.event(Event::Dropped {
            message: unacked.entry.message.id,
            queue,
            reason: DropReason::QueueDeleted,
        });
    }

    /// Returns an unacknowledged delivery to its queue at its original
    /// position, flagged as redelivered, unless it is over the delivery limit.
    /// Returns the queue, which the caller must run.
    pub(super) fn requeue(&mut self, unacked: Unacked) -> Option<Id> {
        let Some(queue) = self.queues.get_mut(unacked.queue) else {
            // Settling a delivery whose queue is gone is accepted silently.
            self.dropped_with_queue(&unacked);
            return None;
        };
        if queue.stream.is_some() {
            // A stream keeps every record: a delivery returned with its
            // channel is simply forgotten.
            return None;
        }
        let mut entry = unacked.entry;
        entry.redelivered = true;
        entry.delivery_count += 1;
        if queue
            .args
            .delivery_limit
            .is_some_and(|limit| u64::from(entry.delivery_count) > limit)
        {
            self.remove_and_dead_letter(unacked.queue, &entry, DeadLetterReason::DeliveryLimit);
            return Some(unacked.queue);
        }
        let event = Event::Requeued {
            message: entry.message.id,
            queue: Held::queue(unacked.queue),
        };
        self.event(event);
        self.log_returned(unacked.queue, &entry);
        if self.is_mutant(Mutant::LoseOnRequeue) {
            return Some(unacked.queue);
        }
        self.put_back(unacked.queue, entry);
        self.enforce_length_limit(unacked.queue);
        Some(unacked.queue)
    }

    #[cfg(feature = "mutants")]
    fn put_back(&mut self, queue: Id, entry: Entry) {
        self.held_bytes += entry.size_bytes();
        if self.is_mutant(Mutant::RequeueToTail) {
            self.queues[queue].ready.requeue_to_tail(entry);
        } else {
            self.queues[queue].ready.requeue(entry);
        }
    }

    #[cfg(not(feature = "mutants"))]
    fn put_back(&mut self, queue: Id, entry: Entry) {
        self.held_bytes += entry.size_bytes();
        self.queues[queue].ready.requeue(entry);
    }

    /// basic.recover: requeue every unacknowledged delivery of the channel.
    pub(super) fn basic_recover(&mut self, channel: Id, requeue: bool) -> Result<(), Fault> {
        if !requeue {
            return Err(Fault::new(ReplyCode::NotImplemented, "requeue=false"));
        }
        let tags = self.channels[channel].all_tags();
        self.refuse_stream_settle(channel, &tags, "basic.recover")?;
        let mut touched = self.queues_consumed_by(channel);
        for tag in self.channels[channel].all_tags() {
            touched.extend(self.settle_one(channel, tag, Settle::Requeue));
        }
        self.disarm_consumer_timeout(channel);
        self.reply(channel, Reply::RecoverOk);
        self.run_queues(touched);
        Ok(())
    }
}

/// The message as a consumer receives it: as stored, except that a queue with
/// a delivery limit tells a redelivery's count in `x-delivery-count`.
#[inline]
fn outgoing(entry: &Entry, counts_deliveries: bool) -> SharedMessage {
    if !counts_deliveries || entry.delivery_count == 0 {
        return entry.message.clone();
    }
    with_delivery_count(entry)
}

/// `outgoing` for an entry that leaves its queue with the delivery.
#[inline]
fn outgoing_owned(entry: Entry, counts_deliveries: bool) -> SharedMessage {
    if !counts_deliveries || entry.delivery_count == 0 {
        return entry.message;
    }
    with_delivery_count(&entry)
}

/// A copy of a redelivered entry's message that tells its delivery count.
#[cold]
fn with_delivery_count(entry: &Entry) -> SharedMessage {
    let mut message = Message::clone(&entry.message);
    let properties = message.properties_mut();
    let count = FieldValue::I64(i64::from(entry.delivery_count));
    Arc::make_mut(properties.headers.get_or_insert_with(Default::default))
        .insert("x-delivery-count".to_owned(), count);
    SharedMessage::new(message)
}
