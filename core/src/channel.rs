//! A channel: its delivery tags and unacknowledged deliveries, prefetch
//! limits, consumers, publisher-confirm counter and transaction buffer.
//!
//! Delivery tags grow by one per delivery, so the unacknowledged deliveries
//! are a ring indexed by `tag - first_tag`: settling is O(1), and settling with
//! `multiple` walks the front of the ring. The ring holds at most
//! [`RING_SLOTS_MAX`] tags: a delivery still unsettled when newer ones push
//! it out of the window moves to a map of stragglers, so one old unsettled
//! tag never keeps the slots of every tag settled after it.

use crate::access::Permissions;
use crate::arena::Id;
use crate::in_place;
use crate::message::Properties;
use crate::message::{Envelope, Name, SharedEnvelope, SharedMessage};
use crate::protocol::{ChannelId, ConnectionId, PublishProperties};
use crate::queue::Entry;
use crate::time::Instant;
use bytes::Bytes;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// The most tags a channel's ring covers, settled ones included.
pub(crate) const RING_SLOTS_MAX: usize = 4096;

/// How a delivery is settled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Settle {
    /// basic.ack: the message is done.
    Ack,
    /// basic.nack or basic.reject with requeue=true.
    Requeue,
    /// basic.nack or basic.reject with requeue=false: dead-letter or drop.
    Discard,
}

impl Settle {
    /// The settle a nack or reject asks for.
    pub(crate) fn from_requeue(requeue: bool) -> Settle {
        if requeue {
            Settle::Requeue
        } else {
            Settle::Discard
        }
    }
}

/// A delivery not yet acknowledged.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Unacked {
    /// The queue it came from (possibly deleted since).
    pub(crate) queue: Id,
    /// The queue's name once the queue is deleted, for the events that
    /// settle the delivery then; while the queue lives it has the name
    /// (events name it by id then), and a delivery does not copy it.
    pub(crate) queue_gone: Option<Box<Name>>,
    /// The queue entry, to requeue it where it was.
    pub(crate) entry: Entry,
    /// The consumer it went to (`None` for basic.get).
    pub(crate) consumer: Option<Id>,
    /// When it was delivered, for the consumer timeout.
    pub(crate) delivered_at: Instant,
    /// A settle waiting for tx.commit.
    pub(crate) pending: Option<Settle>,
}

/// What an ack needs of the delivery it settles (`Channel::take_acked`).
pub(crate) struct Acked {
    /// The message.
    pub(crate) message: SharedMessage,
    /// Its position in its queue, for the log.
    pub(crate) seq: u64,
    /// Its life is logged.
    pub(crate) logged: bool,
    /// The queue it came from (possibly deleted since).
    pub(crate) queue: Id,
    /// That queue's name, if it was deleted.
    pub(crate) queue_gone: Option<Box<Name>>,
    /// The consumer it went to (`None` for basic.get).
    pub(crate) consumer: Option<Id>,
}

/// A validated publish, routed at once or, in a transaction, at tx.commit.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct PendingPublish {
    /// Exchange name.
    pub(crate) exchange: Name,
    /// Routing key.
    pub(crate) routing_key: Name,
    /// Basic properties; `Repeated` only while the publish is being routed
    /// at once, since a transaction's publishes are routed after later ones
    /// may have changed the channel's last properties.
    pub(crate) properties: PublishProperties,
    /// Body.
    pub(crate) body: Bytes,
    /// Its per-message TTL, parsed from `expiration`.
    pub(crate) ttl_ms: Option<u64>,
    /// Whether to return it when unroutable.
    pub(crate) mandatory: bool,
}

/// A client consumer.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Consumer {
    /// Its tag, unique on its channel.
    pub(crate) tag: Name,
    /// The channel it delivers to.
    pub(crate) channel: Id,
    /// The queue it consumes from.
    pub(crate) queue: Id,
    /// Deliveries are settled when sent.
    pub(crate) no_ack: bool,
    /// No other consumer may use the queue.
    pub(crate) exclusive: bool,
    /// Unacknowledged deliveries allowed (0 = unlimited).
    pub(crate) prefetch: u16,
    /// Its unacknowledged deliveries.
    pub(crate) unacked: u32,
    /// On a stream queue, the offset of the next record it gets; `None` on a classic queue.
    pub(crate) stream_offset: Option<u64>,
}

/// A channel's consumer of the direct reply-to pseudo-queue
/// (`amq.rabbitmq.reply-to`): no queue, no acknowledgements, no prefetch.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ReplyConsumer {
    /// Its tag. RabbitMQ keeps it apart from the channel's other consumers:
    /// a queue consumer may take the same tag.
    pub(crate) tag: Name,
    /// The key in the channel's reply-to name, unique in the broker: a
    /// reply to the name of an earlier reply consumer finds no key of its own.
    pub(crate) key: u64,
}

/// An open channel.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Channel {
    /// Its connection.
    pub(crate) conn: ConnectionId,
    /// Its number.
    pub(crate) number: ChannelId,
    /// Prefetch given to consumers created from now on (basic.qos global=false).
    pub(crate) consumer_prefetch: u16,
    /// Prefetch shared by the whole channel (basic.qos global=true; 0 = unlimited).
    pub(crate) channel_prefetch: u16,
    /// Unacknowledged consumer deliveries of the channel, counted against
    /// the channel-wide prefetch (basic.get deliveries are not, as in RabbitMQ).
    pub(crate) unacked_count: u32,
    /// Unacknowledged deliveries by tag; `None` marks a settled tag not yet trimmed.
    deliveries: VecDeque<Option<Unacked>>,
    /// The tag of `deliveries[0]`.
    first_tag: u64,
    /// Unacknowledged deliveries older than `first_tag`, pushed out of the
    /// ring by newer ones (see [`RING_SLOTS_MAX`]).
    stragglers: BTreeMap<u64, Unacked>,
    /// The tag of the next delivery.
    next_tag: u64,
    /// Consumers by tag.
    pub(crate) consumers: BTreeMap<Name, Id>,
    /// The direct reply-to consumer, if the channel consumes from `amq.rabbitmq.reply-to`.
    pub(crate) reply_consumer: Option<ReplyConsumer>,
    /// Publisher confirms: the next publish sequence number, once confirm.select was seen.
    pub(crate) next_confirm_seq: Option<u64>,
    /// tx.select was seen: publishes and settles wait for tx.commit.
    pub(crate) tx: Option<Vec<PendingPublish>>,
    /// The last queue declared on the channel, for empty queue names.
    pub(crate) last_queue: Option<Name>,
    /// The exchange this channel last published to, by name: publishers
    /// mostly repeat one exchange, and this spares the name lookups. The id is
    /// generation-checked, so a deleted exchange never answers for its name.
    pub(crate) last_exchange: Option<(Name, Id)>,
    /// The consumer-timeout deadline already armed, if any.
    pub(crate) timeout_armed: Option<Instant>,
    /// The properties of the channel's last basic.publish, which a
    /// `PublishProperties::Repeated` publish carries again.
    pub(crate) last_properties: Option<Arc<Properties>>,
    /// The envelope of the channel's last basic.publish, which the next
    /// publish to the same exchange with the same routing key and properties
    /// shares.
    pub(crate) last_envelope: Option<SharedEnvelope>,
    /// Its connection's permissions when access control restricts them
    /// (kept here so a command finds them with its channel).
    pub(crate) permissions: Option<Arc<Permissions>>,
}

impl Channel {
    /// A freshly opened channel.
    pub(crate) fn new(conn: ConnectionId, number: ChannelId) -> Channel {
        Channel {
            conn,
            number,
            consumer_prefetch: 0,
            channel_prefetch: 0,
            unacked_count: 0,
            deliveries: VecDeque::new(),
            first_tag: 1,
            stragglers: BTreeMap::new(),
            next_tag: 1,
            consumers: BTreeMap::new(),
            reply_consumer: None,
            next_confirm_seq: None,
            tx: None,
            last_queue: None,
            last_exchange: None,
            timeout_armed: None,
            last_properties: None,
            last_envelope: None,
            permissions: None,
        }
    }

    /// Takes note of a publish's properties: given ones equal to the
    /// channel's last become a repeat of those (so the messages of a
    /// publisher that repeats its properties share one copy), other given
    /// ones become the channel's last, and a repeat on a channel that never
    /// published finds the default properties.
    #[inline]
    pub(crate) fn note_properties(&mut self, properties: &mut PublishProperties) {
        match properties {
            PublishProperties::Given(given) => match &self.last_properties {
                Some(last) if Arc::ptr_eq(last, given) => {}
                Some(last) if **last == **given => *properties = PublishProperties::Repeated,
                _ => self.last_properties = Some(Arc::clone(given)),
            },
            PublishProperties::Repeated => {
                self.last_properties.get_or_insert_with(Arc::default);
            }
        }
    }

    /// The envelope of a publish with noted `properties`: the channel's
    /// last one when the publish repeats it, otherwise a new one that
    /// becomes the last. `route_alone` is the `properties-cached-by-route`
    /// mutant: a repeated exchange and routing key are taken for a repeat.
    #[inline]
    pub(crate) fn note_envelope(
        &mut self,
        exchange: Name,
        routing_key: Name,
        properties: &PublishProperties,
        route_alone: bool,
    ) -> &SharedEnvelope {
        let properties = self.properties_of(properties);
        let repeated = self.last_envelope.as_ref().is_some_and(|last| {
            if route_alone {
                last.exchange == exchange && last.routing_key == routing_key
            } else {
                last.is(&exchange, &routing_key, properties)
            }
        });
        if !repeated {
            let properties = Arc::clone(properties);
            self.last_envelope = Some(SharedEnvelope::new(Envelope {
                exchange,
                routing_key,
                properties,
            }));
        }
        self.last_envelope.as_ref().expect("noted just now")
    }

    /// The properties a noted publish carries.
    #[inline]
    pub(crate) fn properties_of<'a>(
        &'a self,
        properties: &'a PublishProperties,
    ) -> &'a Arc<Properties> {
        match properties {
            PublishProperties::Given(given) => given,
            PublishProperties::Repeated => self
                .last_properties
                .as_ref()
                .expect("a repeat is noted before it is read"),
        }
    }

    /// Takes the next delivery tag and records what must be settled under
    /// it: the record `make` builds, in its slot.
    #[inline(always)]
    pub(crate) fn record_delivery(&mut self, make: impl FnOnce() -> Unacked) -> u64 {
        let tag = self.take_tag();
        in_place::push_back(&mut self.deliveries, || Some(make()));
        if self
            .deliveries
            .back()
            .and_then(Option::as_ref)
            .is_some_and(|unacked| unacked.consumer.is_some())
        {
            self.unacked_count += 1;
        }
        if self.deliveries.len() > RING_SLOTS_MAX {
            self.push_out_oldest();
        }
        self.check_ring();
        tag
    }

    /// Moves the ring's oldest slot out: an unsettled delivery becomes a
    /// straggler, and settled slots behind it are trimmed.
    #[cold]
    fn push_out_oldest(&mut self) {
        let oldest = self.deliveries.pop_front().expect("the ring is full");
        let unacked = oldest.expect("a settled front slot is trimmed at once");
        let previous = self.stragglers.insert(self.first_tag, unacked);
        assert!(previous.is_none(), "a tag is in the ring or a straggler");
        self.first_tag += 1;
        self.trim();
        assert!(self.deliveries.len() <= RING_SLOTS_MAX);
    }

    /// Drops settled slots off the front of the ring.
    #[inline(always)]
    fn trim(&mut self) {
        while self.deliveries.front().is_some_and(Option::is_none) {
            self.deliveries.pop_front();
            self.first_tag += 1;
        }
    }

    /// Takes the next delivery tag for a delivery settled when sent.
    #[inline]
    pub(crate) fn record_settled_delivery(&mut self) -> u64 {
        let tag = self.take_tag();
        if self.deliveries.is_empty() {
            self.first_tag = self.next_tag;
        } else {
            self.deliveries.push_back(None);
            if self.deliveries.len() > RING_SLOTS_MAX {
                self.push_out_oldest();
            }
        }
        self.check_ring();
        tag
    }

    /// The tag the next delivery will take, left to it: a direct reply
    /// carries it too, as in RabbitMQ 3.10.
    pub(crate) fn next_tag(&self) -> u64 {
        self.next_tag
    }

    #[inline(always)]
    fn take_tag(&mut self) -> u64 {
        let tag = self.next_tag;
        self.next_tag += 1;
        tag
    }

    #[inline(always)]
    fn check_ring(&self) {
        assert_eq!(
            self.first_tag + self.deliveries.len() as u64,
            self.next_tag,
            "ring covers tags"
        );
        assert!(
            self.deliveries.len() <= RING_SLOTS_MAX,
            "the ring is bounded"
        );
    }

    /// Asserts the shape of the channel's delivery records: the ring covers
    /// the tags from its first to the next, is bounded and trimmed (its
    /// first slot unsettled), and every straggler is older than the ring.
    pub(crate) fn check_delivery_records(&self) {
        assert_eq!(
            self.first_tag + self.deliveries.len() as u64,
            self.next_tag,
            "invariant: a channel's ring covers its tags up to the next"
        );
        assert!(
            self.deliveries.len() <= RING_SLOTS_MAX,
            "invariant: a channel's ring holds at most RING_SLOTS_MAX tags"
        );
        assert!(
            self.deliveries.front().is_none_or(Option::is_some),
            "invariant: a channel's ring starts at an unsettled delivery"
        );
        assert!(
            self.stragglers
                .last_key_value()
                .is_none_or(|(&tag, _)| tag < self.first_tag),
            "invariant: a straggler is older than the channel's ring"
        );
    }

    /// Moves the delivery under `tag` to the stragglers, breaking the
    /// records' shape when it is in the ring (for the invariants' tests).
    #[cfg(test)]
    pub(crate) fn misplace_as_straggler(&mut self, tag: u64) {
        let index = usize::try_from(tag - self.first_tag).expect("tag is in the ring");
        let unacked = self.deliveries[index].clone().expect("tag is outstanding");
        self.stragglers.insert(tag, unacked);
    }

    /// Whether `tag` is outstanding (delivered, not settled, not waiting for commit).
    pub(crate) fn is_outstanding(&self, tag: u64) -> bool {
        self.slot(tag)
            .is_some_and(|unacked| unacked.pending.is_none())
    }

    fn slot(&self, tag: u64) -> Option<&Unacked> {
        let Some(index) = tag.checked_sub(self.first_tag) else {
            return self.stragglers.get(&tag);
        };
        self.deliveries.get(usize::try_from(index).ok()?)?.as_ref()
    }

    /// The first outstanding delivery's tag from `from` up to and including `upto`.
    /// Mostly the first slot it looks at, when acks come in order.
    pub(crate) fn next_outstanding(&self, from: u64, upto: u64) -> Option<u64> {
        if from < self.first_tag && from <= upto {
            let straggler = self
                .stragglers
                .range(from..=upto)
                .find(|(_, unacked)| unacked.pending.is_none());
            if let Some((&tag, _)) = straggler {
                return Some(tag);
            }
        }
        let mut tag = from.max(self.first_tag);
        while tag <= upto {
            let index = usize::try_from(tag - self.first_tag).ok()?;
            let slot = self.deliveries.get(index)?;
            if slot
                .as_ref()
                .is_some_and(|unacked| unacked.pending.is_none())
            {
                return Some(tag);
            }
            tag += 1;
        }
        None
    }

    /// Tags of the outstanding deliveries up to and including `upto` (all of them for `u64::MAX`).
    pub(crate) fn outstanding_upto(&self, upto: u64) -> Vec<u64> {
        self.slots()
            .take_while(|(tag, _)| *tag <= upto)
            .filter(|(_, unacked)| unacked.pending.is_none())
            .map(|(tag, _)| tag)
            .collect()
    }

    /// Every unacknowledged delivery with its tag, oldest first: the
    /// stragglers, then the ring.
    fn slots(&self) -> impl Iterator<Item = (u64, &Unacked)> {
        let ring = (self.first_tag..)
            .zip(self.deliveries.iter())
            .filter_map(|(tag, slot)| Some((tag, slot.as_ref()?)));
        self.stragglers
            .iter()
            .map(|(&tag, unacked)| (tag, unacked))
            .chain(ring)
    }

    /// The unacknowledged delivery under `tag`, mutably.
    fn slot_mut(&mut self, tag: u64) -> &mut Unacked {
        let Some(index) = tag.checked_sub(self.first_tag) else {
            return self.stragglers.get_mut(&tag).expect("tag is outstanding");
        };
        let index = usize::try_from(index).expect("tag is in the ring");
        self.deliveries[index].as_mut().expect("tag is outstanding")
    }

    /// The queue the delivery under `tag` came from, if it is unsettled.
    pub(crate) fn queue_of(&self, tag: u64) -> Option<Id> {
        self.slot(tag).map(|unacked| unacked.queue)
    }

    /// Marks an outstanding delivery as settled at the next tx.commit.
    pub(crate) fn mark_pending(&mut self, tag: u64, settle: Settle) {
        self.slot_mut(tag).pending = Some(settle);
    }

    /// Removes an unacknowledged delivery, trimming settled tags off the front.
    #[inline(always)]
    pub(crate) fn take(&mut self, tag: u64) -> Unacked {
        self.take_then(tag, |unacked| unacked)
    }

    /// Removes an acknowledged delivery and gives what the ack needs of it.
    /// The record is taken apart where it is taken out, so that only those
    /// fields are read from its slot: moving the whole record out went
    /// through a copy on the stack that stalled on store forwarding.
    #[inline(always)]
    pub(crate) fn take_acked(&mut self, tag: u64) -> Acked {
        self.take_then(tag, |unacked| {
            let Unacked {
                queue,
                queue_gone,
                entry,
                consumer,
                ..
            } = unacked;
            Acked {
                message: entry.message,
                seq: entry.seq,
                logged: entry.logged,
                queue,
                queue_gone,
                consumer,
            }
        })
    }

    #[inline(always)]
    fn take_then<R>(&mut self, tag: u64, open: impl FnOnce(Unacked) -> R) -> R {
        let Some(index) = tag.checked_sub(self.first_tag) else {
            return open(self.take_straggler(tag));
        };
        let index = usize::try_from(index).expect("tag is in the ring");
        // Settled in order, as most are, the oldest leaves the ring at once.
        let unacked = if index == 0 {
            self.first_tag += 1;
            let front = self.deliveries.pop_front().expect("tag is in the ring");
            front.expect("tag is outstanding")
        } else {
            self.deliveries[index].take().expect("tag is outstanding")
        };
        if unacked.consumer.is_some() {
            self.unacked_count -= 1;
        }
        let opened = open(unacked);
        self.trim();
        opened
    }

    #[cold]
    fn take_straggler(&mut self, tag: u64) -> Unacked {
        let unacked = self.stragglers.remove(&tag).expect("tag is outstanding");
        if unacked.consumer.is_some() {
            self.unacked_count -= 1;
        }
        unacked
    }

    /// Tags of the outstanding deliveries to `consumer`, oldest first.
    pub(crate) fn outstanding_of(&self, consumer: Id) -> Vec<u64> {
        self.slots()
            .filter(|(_, unacked)| unacked.pending.is_none() && unacked.consumer == Some(consumer))
            .map(|(tag, _)| tag)
            .collect()
    }

    /// Tags of every unacknowledged delivery (pending or not), oldest first.
    pub(crate) fn all_tags(&self) -> Vec<u64> {
        self.slots().map(|(tag, _)| tag).collect()
    }

    /// Tags whose settle waits for tx.commit, with how they settle.
    pub(crate) fn pending_settles(&self) -> Vec<(u64, Settle)> {
        self.slots()
            .filter_map(|(tag, unacked)| Some((tag, unacked.pending?)))
            .collect()
    }

    /// Forgets every settle waiting for tx.commit (tx.rollback).
    pub(crate) fn clear_pending(&mut self) {
        for unacked in self.unacked_mut() {
            unacked.pending = None;
        }
    }

    /// Every unacknowledged delivery, oldest first.
    pub(crate) fn unacked(&self) -> impl Iterator<Item = &Unacked> {
        self.slots().map(|(_, unacked)| unacked)
    }

    /// Every unacknowledged delivery, mutably.
    pub(crate) fn unacked_mut(&mut self) -> impl Iterator<Item = &mut Unacked> {
        self.stragglers
            .values_mut()
            .chain(self.deliveries.iter_mut().flatten())
    }

    /// The oldest unacknowledged delivery's time.
    pub(crate) fn oldest_delivery(&self) -> Option<Instant> {
        self.unacked().map(|unacked| unacked.delivered_at).next()
    }
}
