//! The `pubsub` model: Redis Pub/Sub's at-most-once fan-out, to the
//! connections subscribed at the moment of a publish, with nothing stored.
//!
//! The broker is the production core, spoken to in its Pub/Sub commands
//! (`Input::PubSub` in, `Output::PubSub` and `Output::PubSubPublished` out,
//! each delivery handed to its receiver; a connection is opened by its
//! first command, as a Redis client opens no vhost). The publisher, actor
//! 1, PUBLISHes its messages to the channel `news` one at a time, each
//! after the broker answered the one before with its receiver count. Two
//! subscribers (actors 2 and 3) each choose, at any point: to SUBSCRIBE
//! (the first by the channel's name, the second by the pattern `new*`
//! with PSUBSCRIBE, or by the name too when `pattern` is off), once the
//! broker confirmed, to UNSUBSCRIBE again or to drop the connection (its
//! subscription goes with it), and once unsubscribed to subscribe again,
//! each a bounded number of times. A subscriber holds one subscription at a
//! time and waits for the broker's confirmation before its next deed; it
//! reads whatever the broker pushes to it.
//!
//! The history (stateright's auxiliary state) records, as messages leave
//! their sender: the messages published, the publishes the broker answered,
//! the answered publishes as they stood when the broker confirmed each
//! subscriber's current subscription, and what the broker handed each
//! subscriber. Checked, in every reachable state:
//! - `pubsub-not-before-subscribe`: no subscriber is handed a message whose
//!   publish the broker answered before it confirmed that subscriber's
//!   current subscription (Redis keeps nothing for a later subscriber;
//!   handing it over is store and forward);
//! - `pubsub-at-most-once`: no subscriber is handed one message twice,
//!   across its subscriptions and connections;
//! - `pubsub-no-phantom`: a subscriber is handed only messages the
//!   publisher published, on the channel they were published to;
//! - `receivers-counted`: the receiver count a PUBLISH answers is the
//!   number of subscriptions it was handed to;
//! - no step panics (`no-panic`, which also holds the core's own
//!   invariants, checked after every step of the real broker).
//!
//! Reachable (sometimes): `message-received` (a subscriber is handed a
//! message), `message-missed` (a publish reaches fewer subscribers than
//! there are, one of them not subscribed at that moment) and
//! `published-to-two` (a publish reaches both subscribers).
//!
//! Deliveries are not reported written (`PubSubCommand::Written`): the
//! model's few small messages stay far below the output buffer's limits,
//! so the slow-subscriber rule never cuts a subscriber off here.

use crate::actors::Node;
use crate::broker_actor::BrokerActor;
use crate::clients::{MessageSet, BROKER};
use crate::properties::{BrokerModel, History, Settings, State, PRODUCER};
use crate::shared::Shared;
use crate::wire::{Choice, Deed, Frame, Incarnation, Msg};
use brokerlab_core::{Mutant, PubSubCommand, PubSubReply};
use bytes::Bytes;
use stateright::actor::{Envelope, Id, Network, Out};
use stateright::Expectation;

/// The channel the publisher publishes to.
pub const CHANNEL: &[u8] = b"news";
/// The pattern the pattern subscriber subscribes to (it matches [`CHANNEL`]).
pub const PATTERN: &[u8] = b"new*";
/// The publisher's actor index.
const PUBLISHER: usize = PRODUCER;
/// The first subscriber's actor index.
const FIRST_SUBSCRIBER: usize = PUBLISHER + 1;
/// How many subscribers the model has.
pub const SUBSCRIBERS: usize = 2;
/// The most messages the publisher may publish (numbers 1 to this).
pub const MESSAGES_MAX: u8 = 4;

/// The `pubsub` model's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PubSub {
    /// How many messages the publisher publishes (1 to [`MESSAGES_MAX`]).
    pub messages: u8,
    /// Whether the second subscriber subscribes by pattern (PSUBSCRIBE);
    /// otherwise both subscribe by the channel's name.
    pub pattern: bool,
    /// How many times each subscriber may subscribe.
    pub subscriptions: u8,
    /// How many times each subscriber's connection may drop.
    pub drops: u8,
    /// A deliberately broken broker, or `None` for the real one.
    pub mutant: Option<Mutant>,
}

impl Default for PubSub {
    /// The standard configuration: two messages; one subscriber by name
    /// and one by pattern, each subscribing up to twice and each of whose
    /// connections may drop once.
    fn default() -> PubSub {
        PubSub {
            messages: 2,
            pattern: true,
            subscriptions: 2,
            drops: 1,
            mutant: None,
        }
    }
}

impl PubSub {
    /// The actor model: the broker (actor 0), the publisher (1) and the
    /// subscribers (2 and 3).
    #[must_use]
    pub fn into_model(self) -> BrokerModel {
        assert!(
            (1..=MESSAGES_MAX).contains(&self.messages),
            "one to {MESSAGES_MAX} messages"
        );
        let broker = BrokerActor::new(self.mutant, Vec::new(), 1 + SUBSCRIBERS);
        let publisher = Publisher {
            messages: self.messages,
        };
        let subscribers = (0..SUBSCRIBERS).map(|index| {
            Node::Subscriber(Subscriber {
                index: index as u8 + 1,
                pattern: self.pattern && index == 1,
                subscriptions: self.subscriptions,
                drops: self.drops,
            })
        });
        let settings = Settings {
            messages: self.messages,
            ..Settings::default()
        };
        BrokerModel::new(settings, History::default())
            .actor(Node::Broker(broker))
            .actor(Node::Publisher(publisher))
            .actors(subscribers)
            .init_network(Network::new_ordered([]))
            .record_msg_out(record_msg_out)
            .property(Expectation::Always, "no-panic", crate::properties::no_panic)
            .property(
                Expectation::Always,
                "pubsub-not-before-subscribe",
                not_before_subscribe,
            )
            .property(Expectation::Always, "pubsub-at-most-once", at_most_once)
            .property(Expectation::Always, "pubsub-no-phantom", no_phantom)
            .property(Expectation::Always, "receivers-counted", receivers_counted)
            .property(Expectation::Sometimes, "message-received", message_received)
            .property(Expectation::Sometimes, "message-missed", message_missed)
            .property(Expectation::Sometimes, "published-to-two", published_to_two)
    }
}

/// The body of message `number`.
fn body(number: u8) -> Bytes {
    Bytes::from(number.to_string())
}

/// The number a body names, if it is one of the model's.
fn parse(body: &[u8]) -> Option<u8> {
    let number: u8 = std::str::from_utf8(body).ok()?.parse().ok()?;
    (1..=MESSAGES_MAX).contains(&number).then_some(number)
}

/// Sends `frames` on connection `incarnation`, in one segment.
fn send(out: &mut Out<Node>, incarnation: Incarnation, frames: Vec<Frame>) {
    let msg = Msg::Frames {
        incarnation,
        seq: 0,
        frames: Shared::new(frames),
    };
    out.send(Id::from(BROKER), msg);
}

/// The publisher: publishes its messages one at a time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Publisher {
    /// How many messages it publishes.
    pub messages: u8,
}

/// The publisher's state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PublisherState {
    /// The last message it published (whose answer it awaits until the
    /// broker answered as many publishes).
    pub published: u8,
    /// How many of its publishes the broker answered.
    pub answered: u8,
    /// The message of the panic in the client's last step, if it panicked.
    pub panicked: Option<String>,
}

impl Publisher {
    /// Publishes the first message.
    pub fn start(&self, out: &mut Out<Node>) -> PublisherState {
        let mut state = PublisherState {
            published: 0,
            answered: 0,
            panicked: None,
        };
        self.publish_next(&mut state, out);
        state
    }

    fn publish_next(&self, state: &mut PublisherState, out: &mut Out<Node>) {
        if state.published == self.messages {
            return;
        }
        state.published += 1;
        let command = PubSubCommand::Publish {
            channel: Bytes::from_static(CHANNEL),
            message: body(state.published),
        };
        send(out, 1, vec![Frame::PubSub(command)]);
    }

    /// A publish answered: the next one.
    pub fn on_msg(&self, state: &mut PublisherState, msg: Msg, out: &mut Out<Node>) {
        let Msg::PubSubReplies { replies, .. } = msg else {
            return;
        };
        for reply in replies.iter() {
            if let PubSubReply::Published { .. } = reply {
                state.answered += 1;
                assert_eq!(state.answered, state.published, "one answer per publish");
                self.publish_next(state, out);
            }
        }
    }
}

/// A subscriber: subscribes, unsubscribes, drops its connection and
/// subscribes again, as it chooses, a bounded number of times.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscriber {
    /// Its number among the subscribers (1 on), for its name.
    pub index: u8,
    /// Whether it subscribes by [`PATTERN`] (else by [`CHANNEL`]'s name).
    pub pattern: bool,
    /// How many times it may subscribe.
    pub subscriptions: u8,
    /// How many times its connection may drop.
    pub drops: u8,
}

/// Where a subscriber's subscription is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Not subscribed.
    Off,
    /// SUBSCRIBE sent, not yet confirmed.
    Asking,
    /// Subscribed.
    On,
    /// UNSUBSCRIBE sent, not yet confirmed.
    Leaving,
}

/// A subscriber's state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SubscriberState {
    /// The current connection.
    pub incarnation: Incarnation,
    /// Where its subscription is.
    pub phase: Phase,
    /// Subscribes it may still make.
    pub subscriptions_left: u8,
    /// Drops its connection may still take.
    pub drops_left: u8,
    /// The message of the panic in the client's last step, if it panicked.
    pub panicked: Option<String>,
}

/// The key of a subscriber's one choice: its next deed.
const DEED: &str = "";

impl Subscriber {
    /// Starts unsubscribed, free to subscribe.
    pub fn start(&self, out: &mut Out<Node>) -> SubscriberState {
        let state = SubscriberState {
            incarnation: 1,
            phase: Phase::Off,
            subscriptions_left: self.subscriptions,
            drops_left: self.drops,
            panicked: None,
        };
        self.offer(&state, out);
        state
    }

    /// Offers the deeds its phase allows.
    fn offer(&self, state: &SubscriberState, out: &mut Out<Node>) {
        let deeds = match state.phase {
            Phase::Off if state.subscriptions_left > 0 => vec![Deed::Subscribe],
            Phase::On if state.drops_left > 0 => vec![Deed::Unsubscribe, Deed::Drop],
            Phase::On => vec![Deed::Unsubscribe],
            _ => Vec::new(),
        };
        match deeds.is_empty() {
            true => out.remove_random(DEED),
            false => out.choose_random(DEED, deeds.into_iter().map(Choice::PubSub).collect()),
        }
    }

    /// The broker's confirmations move its phase on; deliveries are read
    /// (the history judges them as the broker hands them out).
    pub fn on_msg(&self, state: &mut SubscriberState, msg: Msg, out: &mut Out<Node>) {
        let Msg::PubSubReplies {
            incarnation,
            replies,
            ..
        } = msg
        else {
            return;
        };
        if incarnation != state.incarnation {
            return;
        }
        let before = state.phase;
        for reply in replies.iter() {
            match reply {
                PubSubReply::Subscribed { .. } => state.phase = Phase::On,
                PubSubReply::Unsubscribed { .. } => state.phase = Phase::Off,
                PubSubReply::Message { .. } => {}
                other => panic!("a subscriber is not answered {other:?}"),
            }
        }
        if state.phase != before {
            self.offer(state, out);
        }
    }

    /// The chosen deed.
    pub fn on_choice(&self, state: &mut SubscriberState, choice: &Choice, out: &mut Out<Node>) {
        let Choice::PubSub(deed) = *choice else {
            return;
        };
        let command = match (deed, self.pattern) {
            (Deed::Subscribe, false) => PubSubCommand::Subscribe {
                channels: vec![Bytes::from_static(CHANNEL)],
            },
            (Deed::Subscribe, true) => PubSubCommand::PatternSubscribe {
                patterns: vec![Bytes::from_static(PATTERN)],
            },
            (Deed::Unsubscribe, false) => PubSubCommand::Unsubscribe {
                channels: Vec::new(),
            },
            (Deed::Unsubscribe, true) => PubSubCommand::PatternUnsubscribe {
                patterns: Vec::new(),
            },
            (Deed::Drop, _) => {
                send(out, state.incarnation, vec![Frame::Disconnect]);
                state.drops_left -= 1;
                state.incarnation += 1;
                state.phase = Phase::Off;
                return self.offer(state, out);
            }
        };
        state.phase = match deed {
            Deed::Subscribe => {
                state.subscriptions_left -= 1;
                Phase::Asking
            }
            _ => Phase::Leaving,
        };
        send(out, state.incarnation, vec![Frame::PubSub(command)]);
        self.offer(state, out);
    }
}

/// What the Pub/Sub properties read, as messages left their senders.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PubSubHistory {
    /// The last message the publisher published.
    pub last_published: u8,
    /// The messages the publisher published.
    pub published: MessageSet,
    /// The messages whose publish the broker answered.
    pub answered: MessageSet,
    /// Per subscriber: the answered messages as they stood when the broker
    /// confirmed its current subscription.
    pub answered_at_subscribe: [MessageSet; SUBSCRIBERS],
    /// Per subscriber: the messages handed to it.
    pub handed: [MessageSet; SUBSCRIBERS],
    /// Per message number: how many subscriptions it was handed to.
    pub deliveries: [u8; MESSAGES_MAX as usize + 1],
    /// A subscriber was handed a message answered before its subscription.
    pub early: bool,
    /// A subscriber was handed a message twice.
    pub twice: bool,
    /// A subscriber was handed a message that was not published, or on
    /// another channel than its publish's.
    pub phantom: bool,
    /// A publish answered a receiver count other than its deliveries.
    pub miscounted: bool,
    /// A publish reached fewer subscribers than there are.
    pub missed: bool,
    /// A publish reached two subscribers.
    pub reached_two: bool,
}

/// Records publishes, answers, subscriptions and deliveries as they leave
/// their sender.
pub fn record_msg_out(
    _: &Settings,
    history: &History,
    envelope: Envelope<&Msg>,
) -> Option<History> {
    let mut next = history.pubsub;
    let (src, dst) = (usize::from(envelope.src), usize::from(envelope.dst));
    match envelope.msg {
        Msg::Frames { frames, .. } if src == PUBLISHER => {
            for frame in frames.iter() {
                if let Frame::PubSub(PubSubCommand::Publish { message, .. }) = frame {
                    if let Some(number) = parse(message) {
                        next.published.insert(number);
                        next.last_published = number;
                    }
                }
            }
        }
        Msg::PubSubReplies { replies, .. } if src == BROKER => {
            for reply in replies.iter() {
                next.observe(dst, reply);
            }
        }
        _ => return None,
    }
    (next != history.pubsub).then(|| History {
        pubsub: next,
        ..history.clone()
    })
}

impl PubSubHistory {
    /// Notes one answer or delivery of the broker's to actor `dst`.
    fn observe(&mut self, dst: usize, reply: &PubSubReply) {
        let subscriber = dst.checked_sub(FIRST_SUBSCRIBER);
        match (reply, subscriber) {
            (PubSubReply::Published { receivers }, None) => {
                // The publisher awaits one answer at a time: its last publish's.
                let number = self.last_published;
                self.answered.insert(number);
                let handed = u64::from(self.deliveries[usize::from(number)]);
                self.miscounted |= *receivers != handed;
                self.missed |= *receivers < SUBSCRIBERS as u64;
                self.reached_two |= *receivers >= 2;
            }
            (PubSubReply::Subscribed { .. }, Some(s)) => {
                self.answered_at_subscribe[s] = self.answered;
            }
            (
                PubSubReply::Message {
                    channel, message, ..
                },
                Some(s),
            ) => {
                let number = parse(message).filter(|number| self.published.contains(*number));
                let Some(number) = number.filter(|_| channel.as_ref() == CHANNEL) else {
                    self.phantom = true;
                    return;
                };
                self.early |= self.answered_at_subscribe[s].contains(number);
                self.twice |= self.handed[s].contains(number);
                self.handed[s].insert(number);
                let count = &mut self.deliveries[usize::from(number)];
                *count = count.saturating_add(1);
            }
            _ => {}
        }
    }
}

/// `pubsub-not-before-subscribe`: no subscriber is handed a message whose
/// publish was answered before its current subscription was confirmed.
pub fn not_before_subscribe(_: &BrokerModel, state: &State) -> bool {
    !state.history.pubsub.early
}

/// `pubsub-at-most-once`: no subscriber is handed one message twice.
pub fn at_most_once(_: &BrokerModel, state: &State) -> bool {
    !state.history.pubsub.twice
}

/// `pubsub-no-phantom`: every message handed out was published, on its channel.
pub fn no_phantom(_: &BrokerModel, state: &State) -> bool {
    !state.history.pubsub.phantom
}

/// `receivers-counted`: each publish's receiver count is the number of
/// subscriptions it was handed to.
pub fn receivers_counted(_: &BrokerModel, state: &State) -> bool {
    !state.history.pubsub.miscounted
}

/// `message-received` (sometimes): a subscriber is handed a message.
pub fn message_received(_: &BrokerModel, state: &State) -> bool {
    state
        .history
        .pubsub
        .handed
        .iter()
        .any(|handed| handed.iter().next().is_some())
}

/// `message-missed` (sometimes): a publish reaches fewer subscribers than
/// there are (one was not subscribed at that moment).
pub fn message_missed(_: &BrokerModel, state: &State) -> bool {
    state.history.pubsub.missed
}

/// `published-to-two` (sometimes): a publish reaches both subscribers.
pub fn published_to_two(_: &BrokerModel, state: &State) -> bool {
    state.history.pubsub.reached_two
}
