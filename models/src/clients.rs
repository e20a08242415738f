//! The client actors: a producer with publisher confirms and a consumer with
//! prefetch that acks or nacks with requeue, and may lose its connection.
//!
//! Clients pipeline their commands as AMQP allows (each connection keeps
//! them in order: the network's link, or the sequencing the endpoints do
//! over an unordered network, see `network`), which keeps the models small without hiding anything from
//! the broker. A message's body is `[incarnation, number]`: the producer's incarnation
//! it was published on and its number, 1 to N, so checkers can follow it
//! end to end without the broker's internal ids.

use crate::actors::Node;
use crate::network::{ClientSequencing, Turn};
use crate::shared::Shared;
use crate::wire::{Choice, Frame, Incarnation, Msg, Settle, Timer};
use brokerlab_core::Name;
use brokerlab_core::{ChannelId, Command, FieldTable, Properties, Reply};
use bytes::Bytes;
use stateright::actor::{model_timeout, Id, Out};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The one channel every client uses.
pub const CHANNEL: ChannelId = ChannelId(1);

/// The broker's actor index in every model (its id is `Id::from(BROKER)`).
pub const BROKER: usize = 0;

/// A set of message numbers (1 to 31), as a bitmask.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageSet(u32);

impl MessageSet {
    /// The largest message number a set holds.
    pub const NUMBER_MAX: u8 = 31;

    /// Adds `number`.
    pub fn insert(&mut self, number: u8) {
        assert!(
            (1..=Self::NUMBER_MAX).contains(&number),
            "message number {number}"
        );
        self.0 |= 1 << number;
    }

    /// Whether `number` is in the set.
    #[must_use]
    pub fn contains(self, number: u8) -> bool {
        number <= Self::NUMBER_MAX && self.0 & (1 << number) != 0
    }

    /// The union of two sets.
    #[must_use]
    pub fn union(self, other: MessageSet) -> MessageSet {
        MessageSet(self.0 | other.0)
    }

    /// The numbers 1 to `last`.
    #[must_use]
    pub fn upto(last: u8) -> MessageSet {
        assert!(last <= Self::NUMBER_MAX, "message number {last}");
        MessageSet(((1u32 << last) - 1) << 1)
    }

    /// The members of both sets.
    #[must_use]
    pub fn intersection(self, other: MessageSet) -> MessageSet {
        MessageSet(self.0 & other.0)
    }

    /// Whether every member of `self` is in `other`.
    #[must_use]
    pub fn is_subset(self, other: MessageSet) -> bool {
        self.0 & !other.0 == 0
    }

    /// The members, in increasing order.
    pub fn iter(self) -> impl Iterator<Item = u8> {
        (1..=Self::NUMBER_MAX).filter(move |number| self.contains(*number))
    }
}

/// The body of message `number` published on `incarnation`.
#[must_use]
pub fn body(incarnation: Incarnation, number: u8) -> Bytes {
    Bytes::from(vec![incarnation, number])
}

/// The `(incarnation, number)` a body carries, if it is one of the model's.
#[must_use]
pub fn parse_body(body: &[u8]) -> Option<(Incarnation, u8)> {
    match body {
        [incarnation, number] => Some((*incarnation, *number)),
        _ => None,
    }
}

/// Sends frames on the client's connection `incarnation`, in one segment numbered `seq`.
fn send(out: &mut Out<Node>, incarnation: Incarnation, seq: u8, frames: Vec<Frame>) {
    let frames = Shared::new(frames);
    let msg = Msg::Frames {
        incarnation,
        seq,
        frames,
    };
    out.send(Id::from(BROKER), msg);
}

impl ClientSequencing {
    /// The number of the client's next segment (always 0 when not sequenced,
    /// so the ordered networks' states stay as they were).
    fn next_sent(&mut self, sequenced: bool) -> u8 {
        if !sequenced {
            return 0;
        }
        let seq = self.sent;
        self.sent = seq.checked_add(1).expect("a bounded number of segments");
        seq
    }

    /// Whether the client takes segment `seq` of connection `incarnation` now
    /// (its current connection is `current`), counting it if so.
    fn take(
        &mut self,
        sequenced: bool,
        current: Incarnation,
        incarnation: Incarnation,
        seq: u8,
    ) -> bool {
        if !sequenced {
            return incarnation == current;
        }
        let take = self.turn(current, incarnation, seq) == Turn::Take;
        if take {
            self.taken += 1;
        }
        take
    }
}

/// A command on the client's channel.
fn command(command: Command) -> Frame {
    Frame::Command {
        channel: CHANNEL,
        command,
    }
}

/// A producer that publishes messages 1 to N, persistent, with confirms.
#[derive(Clone, Debug)]
pub struct Producer {
    /// The queue it publishes to through the default exchange, or the
    /// routing key it publishes with to `exchange`.
    pub queue: Name,
    /// The exchange it publishes to (empty: the default exchange).
    pub exchange: Name,
    /// Whether message `n` carries priority `n` (later messages rank
    /// higher), for a queue with `x-max-priority`.
    pub priorities: bool,
    /// The queue replies go to, when the producer is a requester: message
    /// `n` then carries it as `reply_to`, and `n` as its `correlation_id`.
    pub reply_to: Option<Name>,
    /// How many messages it publishes.
    pub messages: u8,
    /// Whether it then publishes one more (number `messages + 1`) with a
    /// routing key no queue is bound by, which the broker drops.
    pub stray: bool,
    /// Whether it numbers its segments and takes replies in turn (over an
    /// unordered network).
    pub sequenced: bool,
}

/// The routing key of the producer's stray message.
pub const NOWHERE: &str = "nowhere";

/// The producer's state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ProducerState {
    /// The current connection.
    pub incarnation: Incarnation,
    /// Publishes awaiting a confirm: confirm sequence number to message number.
    pub awaiting: BTreeMap<u64, u8>,
    /// Messages the broker confirmed with basic.ack.
    pub confirmed: MessageSet,
    /// Messages the broker refused with basic.nack.
    pub refused: MessageSet,
    /// Segment counts of the current connection (when sequenced).
    pub link: ClientSequencing,
    /// The message of the panic in the client's last step, if it panicked
    /// (the rest is its state before that step; it takes no more steps).
    pub panicked: Option<String>,
}

impl Producer {
    /// A producer of `messages` messages to `queue`.
    #[must_use]
    pub fn new(queue: Name, messages: u8) -> Producer {
        Producer {
            queue,
            exchange: Name::default(),
            priorities: false,
            reply_to: None,
            messages,
            stray: false,
            sequenced: false,
        }
    }

    /// Connects, selects confirms and publishes every message.
    pub fn start(&self, out: &mut Out<Node>) -> ProducerState {
        assert!(self.messages < MessageSet::NUMBER_MAX, "too many messages");
        let mut state = ProducerState {
            incarnation: 1,
            awaiting: BTreeMap::new(),
            confirmed: MessageSet::default(),
            refused: MessageSet::default(),
            link: ClientSequencing::default(),
            panicked: None,
        };
        self.publish(&mut state, 1..=self.messages + u8::from(self.stray), out);
        state
    }

    /// Opens the state's incarnation and publishes `numbers` on it, in order,
    /// each in its own segment (so the broker may act between them).
    fn publish(
        &self,
        state: &mut ProducerState,
        numbers: impl Iterator<Item = u8>,
        out: &mut Out<Node>,
    ) {
        let incarnation = state.incarnation;
        let setup = vec![
            Frame::Connect,
            command(Command::ChannelOpen),
            command(Command::ConfirmSelect),
        ];
        let seq = state.link.next_sent(self.sequenced);
        send(out, incarnation, seq, setup);
        let properties = Arc::new(Properties {
            delivery_mode: Some(2),
            ..Properties::default()
        });
        assert!(
            state.awaiting.is_empty(),
            "a new connection confirms afresh"
        );
        for (seq, number) in (1..).zip(numbers) {
            let routing_key = match number > self.messages {
                true => NOWHERE.into(),
                false => self.queue.clone(),
            };
            let properties = match (self.priorities, &self.reply_to) {
                (false, None) => properties.clone(),
                (priorities, reply_to) => Arc::new(Properties {
                    priority: priorities.then_some(number),
                    reply_to: reply_to.as_ref().map(ToString::to_string),
                    correlation_id: reply_to.as_ref().map(|_| number.to_string()),
                    ..(*properties).clone()
                }),
            };
            let publish = Command::BasicPublish {
                exchange: self.exchange.clone(),
                routing_key,
                mandatory: false,
                immediate: false,
                properties: properties.into(),
                body: body(incarnation, number),
            };
            let segment = state.link.next_sent(self.sequenced);
            send(out, incarnation, segment, vec![command(publish)]);
            state.awaiting.insert(seq, number);
        }
    }

    /// Replies: confirms settle the publishes they name. A reset (the broker
    /// restarted) loses the connection: the producer connects again and
    /// publishes once more every message it holds no confirm for, as a
    /// publisher that wants at-least-once delivery must.
    pub fn on_msg(&self, state: &mut ProducerState, msg: Msg, out: &mut Out<Node>) {
        let (incarnation, seq, replies) = match msg {
            Msg::Replies {
                incarnation,
                seq,
                replies,
            } => (incarnation, seq, replies),
            Msg::Reset => return self.reconnect(state, out),
            Msg::Frames { .. }
            | Msg::StreamReplies { .. }
            | Msg::PubSubReplies { .. }
            | Msg::SqsReplies { .. } => return,
        };
        if !state
            .link
            .take(self.sequenced, state.incarnation, incarnation, seq)
        {
            return;
        }
        for (_, reply) in replies.iter() {
            let (tag, multiple, ack) = match *reply {
                Reply::ConfirmAck {
                    delivery_tag,
                    multiple,
                } => (delivery_tag, multiple, true),
                Reply::ConfirmNack {
                    delivery_tag,
                    multiple,
                } => (delivery_tag, multiple, false),
                _ => continue,
            };
            state.settle(tag, multiple, ack);
        }
    }

    fn reconnect(&self, state: &mut ProducerState, out: &mut Out<Node>) {
        // The broker may already hold the new connection this reset overtook
        // (it restarted before the producer's frames reached it): close it.
        let seq = state.link.next_sent(self.sequenced);
        send(out, state.incarnation, seq, vec![Frame::Disconnect]);
        state.incarnation = state
            .incarnation
            .checked_add(1)
            .expect("a bounded number of crashes");
        state.link = ClientSequencing::default();
        let unconfirmed: Vec<u8> = std::mem::take(&mut state.awaiting).into_values().collect();
        self.publish(state, unconfirmed.into_iter(), out);
    }
}

impl ProducerState {
    /// A confirm (ack or nack) of publish `tag`, or of every one up to it.
    fn settle(&mut self, tag: u64, multiple: bool, ack: bool) {
        let settled: Vec<u64> = match multiple {
            true => self.awaiting.range(..=tag).map(|(seq, _)| *seq).collect(),
            false => vec![tag],
        };
        for seq in settled {
            if let Some(number) = self.awaiting.remove(&seq) {
                match ack {
                    true => self.confirmed.insert(number),
                    false => self.refused.insert(number),
                }
            }
        }
    }
}

/// The tag of every consumer's subscription.
const CONSUMER_TAG: &str = "worker";

/// A consumer with a prefetch limit that settles each delivery by a choice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consumer {
    /// The queue it consumes from.
    pub queue: Name,
    /// Its basic.qos prefetch count.
    pub prefetch: u16,
    /// How many deliveries it may nack with requeue.
    pub requeues: u8,
    /// How many deliveries it may reject (nack without requeue: dead-letter them).
    pub rejects: u8,
    /// How many times its connection may drop (it reconnects each time).
    pub drops: u8,
    /// When its work takes effect, and whether it suppresses duplicates.
    pub effect: Effect,
    /// How many times its circuit breaker may open: it cancels its
    /// consumer, then nacks with requeue all it holds (and whatever comes
    /// before the cancel-ok), and consumes again once the cancel is
    /// answered.
    pub breaks: u8,
    /// Whether it answers each request it acks: first it publishes a reply
    /// (persistent, the same body) to the request's `reply_to` through the
    /// default exchange, carrying the request's `correlation_id`.
    pub responds: bool,
    /// Whether it numbers its segments and takes replies in turn (over an
    /// unordered network).
    pub sequenced: bool,
}

impl Consumer {
    /// A consumer of `queue` that acks, or settles otherwise within the given bounds.
    #[must_use]
    pub fn new(queue: Name, prefetch: u16) -> Consumer {
        Consumer {
            queue,
            prefetch,
            requeues: 0,
            rejects: 0,
            drops: 0,
            effect: Effect::OnAck,
            breaks: 0,
            responds: false,
            sequenced: false,
        }
    }
}

/// When a consumer's work on a message takes effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// When it acks: the work and the ack are one step.
    OnAck,
    /// When the delivery arrives, before the ack (which may be lost with the
    /// connection, so the message comes again).
    OnReceipt {
        /// Whether it remembers what it did and skips a message it has seen
        /// (the idempotent consumer).
        dedup: bool,
    },
}

/// A delivery the consumer holds, unsettled.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Held {
    /// Its delivery tag.
    pub tag: u64,
    /// The message number.
    pub number: u8,
    /// The redelivered flag it came with.
    pub redelivered: bool,
    /// Where a responder's reply goes, kept from the request.
    pub reply: Option<ReplyTo>,
}

/// A request's `reply_to` and `correlation_id`, and the producer
/// incarnation its body names (the reply carries the same body).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReplyTo {
    /// The queue the reply goes to.
    pub queue: Name,
    /// The request's correlation id, copied into the reply.
    pub correlation_id: Option<Name>,
    /// The producer incarnation of the request's body.
    pub incarnation: Incarnation,
}

/// The consumer's state. It names no actor, so consumers are interchangeable.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConsumerState {
    /// The current connection.
    pub incarnation: Incarnation,
    /// Deliveries of the current connection not yet settled, in arrival order.
    pub held: Vec<Held>,
    /// Messages it acked (with `Effect::OnAck`, it processed them).
    pub acked: MessageSet,
    /// Messages whose work took effect (with `Effect::OnReceipt`).
    pub applied: MessageSet,
    /// The work of some message took effect twice.
    pub applied_twice: bool,
    /// A duplicate arrived and was skipped.
    pub suppressed: bool,
    /// Nacks with requeue it may still send.
    pub requeues_left: u8,
    /// Rejects it may still send.
    pub rejects_left: u8,
    /// Connection drops it may still suffer.
    pub drops_left: u8,
    /// Times its circuit breaker may still open.
    pub breaks_left: u8,
    /// Its circuit breaker is open: it cancelled its consumer and waits
    /// for the cancel-ok.
    pub breaker_open: bool,
    /// Segment counts of the current connection (when sequenced).
    pub link: ClientSequencing,
    /// The message of the panic in the client's last step, if it panicked
    /// (the rest is its state before that step; it takes no more steps).
    pub panicked: Option<String>,
}

impl Consumer {
    /// Connects and subscribes.
    pub fn start(&self, out: &mut Out<Node>) -> ConsumerState {
        let mut state = ConsumerState {
            incarnation: 1,
            held: Vec::new(),
            acked: MessageSet::default(),
            applied: MessageSet::default(),
            applied_twice: false,
            suppressed: false,
            requeues_left: self.requeues,
            rejects_left: self.rejects,
            drops_left: self.drops,
            breaks_left: self.breaks,
            breaker_open: false,
            link: ClientSequencing::default(),
            panicked: None,
        };
        self.subscribe(&mut state, out);
        state
    }

    fn subscribe(&self, state: &mut ConsumerState, out: &mut Out<Node>) {
        let qos = Command::BasicQos {
            prefetch_size: 0,
            prefetch_count: self.prefetch,
            global: false,
        };
        let frames = vec![
            Frame::Connect,
            command(Command::ChannelOpen),
            command(qos),
            command(self.consume()),
        ];
        let seq = state.link.next_sent(self.sequenced);
        send(out, state.incarnation, seq, frames);
    }

    /// basic.consume of its queue.
    fn consume(&self) -> Command {
        Command::BasicConsume {
            queue: self.queue.to_string(),
            consumer_tag: CONSUMER_TAG.to_owned(),
            no_ack: false,
            exclusive: false,
            arguments: FieldTable::new(),
        }
    }

    /// Replies: hold each delivery, and offer the choice of how to settle it.
    /// A reset (the broker restarted) loses the connection: reconnect.
    pub fn on_msg(&self, state: &mut ConsumerState, msg: Msg, out: &mut Out<Node>) {
        let (incarnation, seq, replies) = match msg {
            Msg::Replies {
                incarnation,
                seq,
                replies,
            } => (incarnation, seq, replies),
            Msg::Reset => return self.reconnect(state, out),
            Msg::Frames { .. }
            | Msg::StreamReplies { .. }
            | Msg::PubSubReplies { .. }
            | Msg::SqsReplies { .. } => return,
        };
        if !state
            .link
            .take(self.sequenced, state.incarnation, incarnation, seq)
        {
            return;
        }
        for (_, reply) in replies.iter() {
            if let (Reply::CancelOk { .. }, true) = (reply, state.breaker_open) {
                // Nothing more comes for the cancelled consumer: the
                // breaker closes (the pause is whatever happens meanwhile
                // elsewhere) and the consumer consumes again.
                state.breaker_open = false;
                let seq = state.link.next_sent(self.sequenced);
                send(out, state.incarnation, seq, vec![command(self.consume())]);
                continue;
            }
            if let (Reply::Deliver { delivery_tag, .. }, true) = (reply, state.breaker_open) {
                // Open, it hands back at once what came before the cancel-ok.
                let nack = Command::BasicNack {
                    delivery_tag: *delivery_tag,
                    multiple: false,
                    requeue: true,
                };
                let seq = state.link.next_sent(self.sequenced);
                send(out, state.incarnation, seq, vec![command(nack)]);
                continue;
            }
            if let Reply::Deliver {
                delivery_tag,
                redelivered,
                message,
                ..
            } = reply
            {
                let properties = message.properties();
                let reply = match (self.responds, &properties.reply_to) {
                    (true, Some(queue)) => {
                        parse_body(&message.body).map(|(incarnation, _)| ReplyTo {
                            queue: Name::from(queue.as_str()),
                            correlation_id: properties.correlation_id.as_deref().map(Name::from),
                            incarnation,
                        })
                    }
                    _ => None,
                };
                self.hold(
                    state,
                    *delivery_tag,
                    *redelivered,
                    &message.body,
                    reply,
                    out,
                );
            }
        }
    }

    fn hold(
        &self,
        state: &mut ConsumerState,
        tag: u64,
        redelivered: bool,
        body: &[u8],
        reply: Option<ReplyTo>,
        out: &mut Out<Node>,
    ) {
        // A body that is not the model's still counts as held (number 0), so
        // the phantom check sees it rather than the consumer hiding it.
        let number = parse_body(body).map_or(0, |(_, number)| number);
        state.held.push(Held {
            tag,
            number,
            redelivered,
            reply,
        });
        if let (Effect::OnReceipt { dedup }, true) = (self.effect, number != 0) {
            match (state.applied.contains(number), dedup) {
                (false, _) => state.applied.insert(number),
                (true, true) => state.suppressed = true,
                (true, false) => state.applied_twice = true,
            }
        }
        offer_settlements(state, out);
        if state.drops_left > 0 {
            out.set_timer(Timer::DropConnection, model_timeout());
        }
        if state.breaks_left > 0 {
            out.set_timer(Timer::OpenBreaker, model_timeout());
        }
    }

    /// The chosen settlement of a held delivery.
    pub fn on_choice(&self, state: &mut ConsumerState, choice: &Choice, out: &mut Out<Node>) {
        let Choice::Settle { tag, how } = *choice else {
            return;
        };
        let Some(index) = state.held.iter().position(|held| held.tag == tag) else {
            return;
        };
        let held = state.held.remove(index);
        let mut frames = Vec::with_capacity(2);
        if let (Settle::Ack, Some(reply_to)) = (how, &held.reply) {
            // The reply goes before the ack, in the same segment.
            let properties = Properties {
                delivery_mode: Some(2),
                correlation_id: reply_to.correlation_id.as_ref().map(ToString::to_string),
                ..Properties::default()
            };
            let reply = Command::BasicPublish {
                exchange: "".into(),
                routing_key: reply_to.queue.clone(),
                mandatory: false,
                immediate: false,
                properties: Arc::new(properties).into(),
                body: body(reply_to.incarnation, held.number),
            };
            frames.push(self::command(reply));
        }
        let settle = match how {
            Settle::Ack => {
                if held.number != 0 {
                    state.acked.insert(held.number);
                }
                Command::BasicAck {
                    delivery_tag: tag,
                    multiple: false,
                }
            }
            Settle::Requeue | Settle::Reject => {
                let requeue = how == Settle::Requeue;
                match requeue {
                    true => state.requeues_left -= 1,
                    false => state.rejects_left -= 1,
                }
                Command::BasicNack {
                    delivery_tag: tag,
                    multiple: false,
                    requeue,
                }
            }
        };
        frames.push(self::command(settle));
        let seq = state.link.next_sent(self.sequenced);
        send(out, state.incarnation, seq, frames);
        // The checker took this choice away with every other one under the
        // key: offer the rest again, with the bounds as they are now.
        offer_settlements(state, out);
        if state.held.is_empty() {
            out.cancel_timer(Timer::DropConnection);
            out.cancel_timer(Timer::OpenBreaker);
        }
    }

    /// The connection drops while deliveries are held: the consumer forgets
    /// them (the broker requeues them) and reconnects.
    pub fn on_timeout(&self, state: &mut ConsumerState, timer: &Timer, out: &mut Out<Node>) {
        if *timer == Timer::OpenBreaker {
            return self.open_breaker(state, out);
        }
        if *timer != Timer::DropConnection || state.drops_left == 0 || state.held.is_empty() {
            return;
        }
        state.drops_left -= 1;
        self.reconnect(state, out);
    }

    /// The circuit breaker opens while deliveries are held: cancel the
    /// consumer first, then nack with requeue every held delivery.
    fn open_breaker(&self, state: &mut ConsumerState, out: &mut Out<Node>) {
        if state.breaker_open || state.breaks_left == 0 || state.held.is_empty() {
            return;
        }
        state.breaks_left -= 1;
        state.breaker_open = true;
        let mut frames = vec![command(Command::BasicCancel {
            consumer_tag: CONSUMER_TAG.to_owned(),
        })];
        for held in state.held.drain(..) {
            frames.push(command(Command::BasicNack {
                delivery_tag: held.tag,
                multiple: false,
                requeue: true,
            }));
        }
        out.remove_random(SETTLE);
        out.cancel_timer(Timer::DropConnection);
        let seq = state.link.next_sent(self.sequenced);
        send(out, state.incarnation, seq, frames);
    }

    /// Closes the current connection, forgetting its deliveries (the broker
    /// requeues them), and subscribes again on a new one.
    fn reconnect(&self, state: &mut ConsumerState, out: &mut Out<Node>) {
        state.held.clear();
        state.breaker_open = false;
        out.cancel_timer(Timer::OpenBreaker);
        out.remove_random(SETTLE);
        out.cancel_timer(Timer::DropConnection);
        let seq = state.link.next_sent(self.sequenced);
        send(out, state.incarnation, seq, vec![Frame::Disconnect]);
        state.incarnation = state
            .incarnation
            .checked_add(1)
            .expect("a bounded number of drops and crashes");
        state.link = ClientSequencing::default();
        self.subscribe(state, out);
    }
}

/// The key of the consumer's one choice: how to settle which held delivery.
///
/// One key for all of them, rather than one per delivery, because the
/// checker copies every key of every state it makes: an empty one copies
/// without allocating. It also keeps the offer true to the bounds: each
/// offer is made afresh from the consumer's state, so once its last nack
/// with requeue is spent no held delivery still offers one.
const SETTLE: &str = "";

/// Offers every way to settle every held delivery (or nothing, when none is held).
fn offer_settlements(state: &ConsumerState, out: &mut Out<Node>) {
    let mut choices = Vec::with_capacity(state.held.len() * 3);
    for held in &state.held {
        let tag = held.tag;
        choices.push(Choice::Settle {
            tag,
            how: Settle::Ack,
        });
        if state.requeues_left > 0 {
            choices.push(Choice::Settle {
                tag,
                how: Settle::Requeue,
            });
        }
        if state.rejects_left > 0 {
            choices.push(Choice::Settle {
                tag,
                how: Settle::Reject,
            });
        }
    }
    out.choose_random(SETTLE, choices);
}
