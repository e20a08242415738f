//! Pub/Sub channels with Redis's semantics: at-most-once fan-out to the
//! connections subscribed at the moment of a publish, with nothing stored.
//!
//! A connection subscribes to channels by name and to patterns (Redis's
//! globs, [`glob`]); a publish goes to every subscriber of its channel
//! (`message`) and once more for every pattern of theirs that matches it
//! (`pmessage`), so a connection subscribed to `news.tech` and to
//! `news.*` receives the message twice, and the publish counts both, as
//! Redis counts them. Nobody subscribed: the message is gone, and the
//! publish counts 0. Channels live in one namespace for the whole broker,
//! as Redis's do per database-independent server.
//!
//! Redis's slow-subscriber rule is a rule here too: every delivery is
//! charged to its subscriber's output buffer ([`delivery_bytes`]) until the
//! driver reports it written ([`PubSubCommand::Written`]); a subscriber
//! whose buffer reaches the hard limit, or stays at or over the soft limit
//! for longer than its time, is disconnected when the next delivery is
//! charged, as Redis checks its `client-output-buffer-limit pubsub` when
//! it adds output ([`PubSubConfig`]). The delivery that finds the limit is
//! not sent; the subscriber's subscriptions are gone at once.
//!
//! The state is pure: [`PubSub`] judges commands and leaves its answers in
//! an outbox that the broker (`broker/pubsub.rs`) moves to its outputs.
//! Maps are `BTreeMap`s, so the order of deliveries never depends on a
//! hasher: per subscriber, the channel's `message` first, then one
//! `pmessage` per matching pattern in byte order.

pub mod glob;
mod invariants;
#[cfg(test)]
mod tests;

use crate::protocol::ConnectionId;
use crate::time::Instant;
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};

/// The charge of a delivery beyond its channel, pattern and payload bytes:
/// about what RESP's framing of a `pmessage` adds.
pub const DELIVERY_OVERHEAD_BYTES: u64 = 64;

/// The bounds and the slow-subscriber rule of the Pub/Sub channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PubSubConfig {
    /// A subscriber with this many bytes of deliveries not yet written is
    /// disconnected (Redis's pubsub hard limit, 32 MiB by default); 0 sets
    /// no hard limit, as in Redis.
    pub output_buffer_hard_bytes: u64,
    /// A subscriber at or over this many bytes for longer than
    /// `output_buffer_soft_ms` is disconnected (Redis's pubsub soft limit,
    /// 8 MiB by default); 0 sets no soft limit, as in Redis.
    pub output_buffer_soft_bytes: u64,
    /// How long a subscriber may stay over the soft limit (Redis's 60 s).
    pub output_buffer_soft_ms: u64,
    /// Most channels and patterns one connection may be subscribed to at
    /// once. Redis has no such bound; past it a subscribe is refused with
    /// [`PubSubError::TooManySubscriptions`].
    pub subscriptions_per_connection_max: usize,
}

impl Default for PubSubConfig {
    fn default() -> PubSubConfig {
        PubSubConfig {
            output_buffer_hard_bytes: 32 * 1024 * 1024,
            output_buffer_soft_bytes: 8 * 1024 * 1024,
            output_buffer_soft_ms: 60_000,
            subscriptions_per_connection_max: 100_000,
        }
    }
}

/// A Pub/Sub command, or a report of the driver's.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PubSubCommand {
    /// SUBSCRIBE: one `Subscribed` answer per channel, in order.
    Subscribe {
        /// The channels, repeats allowed (each answered).
        channels: Vec<Bytes>,
    },
    /// UNSUBSCRIBE: one `Unsubscribed` answer per channel, or per channel
    /// held when none is named (or one with no name when none is held).
    Unsubscribe {
        /// The channels; empty means all.
        channels: Vec<Bytes>,
    },
    /// PSUBSCRIBE: one `Subscribed` answer per pattern, in order.
    PatternSubscribe {
        /// The patterns.
        patterns: Vec<Bytes>,
    },
    /// PUNSUBSCRIBE, as `Unsubscribe` for patterns.
    PatternUnsubscribe {
        /// The patterns; empty means all.
        patterns: Vec<Bytes>,
    },
    /// PUBLISH: deliveries to the current subscribers, and the count of
    /// deliveries as the answer.
    Publish {
        /// The channel.
        channel: Bytes,
        /// The payload.
        message: Bytes,
    },
    /// PUBSUB CHANNELS: the channels with at least one subscriber (by
    /// name, not by pattern), those matching `pattern` when given.
    Channels {
        /// A glob the channels must match.
        pattern: Option<Bytes>,
    },
    /// PUBSUB NUMSUB: each channel's subscribers by name.
    NumSub {
        /// The channels asked about.
        channels: Vec<Bytes>,
    },
    /// PUBSUB NUMPAT: the pattern subscriptions of all connections.
    NumPat,
    /// Drops every subscription of the connection and answers nothing (RESET).
    Reset,
    /// The driver wrote deliveries of this connection worth `bytes`
    /// ([`delivery_bytes`] of each): they leave its output buffer.
    Written {
        /// The sum of the deliveries' charges.
        bytes: u64,
    },
}

/// Whether a subscription is to a channel or to a pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SubscriptionKind {
    /// By channel name (SUBSCRIBE).
    Channel,
    /// By glob pattern (PSUBSCRIBE).
    Pattern,
}

/// A refusal of a Pub/Sub command.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PubSubError {
    /// The connection holds `subscriptions_per_connection_max`
    /// subscriptions already (a bound of brokerlab's; Redis has none).
    TooManySubscriptions {
        /// The bound.
        max: usize,
    },
}

impl std::fmt::Display for PubSubError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PubSubError::TooManySubscriptions { max } => write!(
                f,
                "ERR this connection already holds {max} subscriptions, the most it may"
            ),
        }
    }
}

/// Why a subscriber was disconnected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SlowSubscriber {
    /// Its output buffer reached the hard limit.
    HardLimit,
    /// Its output buffer stayed at or over the soft limit for longer than allowed.
    SoftLimit,
}

/// What the Pub/Sub channels answer or deliver.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PubSubReply {
    /// A subscription taken (or held already): the connection's
    /// subscriptions of both kinds now.
    Subscribed {
        /// Channel or pattern.
        kind: SubscriptionKind,
        /// Its name.
        name: Bytes,
        /// The connection's subscriptions now.
        count: usize,
    },
    /// A subscription dropped (or never held); `name` is `None` when an
    /// unsubscribe from all found none.
    Unsubscribed {
        /// Channel or pattern.
        kind: SubscriptionKind,
        /// Its name.
        name: Option<Bytes>,
        /// The connection's subscriptions now.
        count: usize,
    },
    /// A message for a subscriber: by its channel (`pattern` is `None`) or
    /// by one of its patterns.
    Message {
        /// The pattern that matched, for a `pmessage`.
        pattern: Option<Bytes>,
        /// The channel it was published to.
        channel: Bytes,
        /// The payload.
        message: Bytes,
    },
    /// A publish's answer: how many deliveries it made.
    Published {
        /// Deliveries made, a subscriber by channel and by pattern counted each time.
        receivers: u64,
    },
    /// PUBSUB CHANNELS' answer, in byte order.
    Channels(Vec<Bytes>),
    /// PUBSUB NUMSUB's answer, in the order asked.
    NumSub(Vec<(Bytes, u64)>),
    /// PUBSUB NUMPAT's answer.
    NumPat(u64),
    /// A refusal.
    Error(PubSubError),
    /// The subscriber fell too far behind: close its connection. Its
    /// subscriptions are already gone.
    Disconnect(SlowSubscriber),
}

/// The output-buffer charge of a delivery: its channel, pattern and
/// payload bytes and [`DELIVERY_OVERHEAD_BYTES`]; 0 for any other answer.
#[must_use]
pub fn delivery_bytes(reply: &PubSubReply) -> u64 {
    match reply {
        PubSubReply::Message {
            pattern,
            channel,
            message,
        } => charge(pattern.as_ref(), channel, message),
        _ => 0,
    }
}

/// The output-buffer charge of a delivery of `message` on `channel`, by `pattern`.
#[must_use]
pub fn charge(pattern: Option<&Bytes>, channel: &Bytes, message: &Bytes) -> u64 {
    let len = pattern.map_or(0, Bytes::len) + channel.len() + message.len();
    u64::try_from(len).map_or(u64::MAX, |len| len.saturating_add(DELIVERY_OVERHEAD_BYTES))
}

/// A publish's deliveries, handed out together: the message once, and
/// each receiver with the pattern it matched by (`None`: by the channel),
/// a subscriber by channel and by pattern listed each time, each
/// subscriber's by channel first.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Published {
    /// The channel published to.
    pub channel: Bytes,
    /// The message.
    pub message: Bytes,
    /// The receivers, in order.
    pub receivers: Vec<(ConnectionId, Option<Bytes>)>,
}

impl Published {
    /// Each receiver's delivery as a reply of its own, in order.
    pub fn replies(&self) -> impl Iterator<Item = (ConnectionId, PubSubReply)> + '_ {
        self.receivers.iter().map(|(conn, pattern)| {
            let delivery = PubSubReply::Message {
                pattern: pattern.clone(),
                channel: self.channel.clone(),
                message: self.message.clone(),
            };
            (*conn, delivery)
        })
    }
}

/// What the channels hand out, in the order the connections must see it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Handout {
    /// An answer, delivery or disconnection for one connection.
    Reply(ConnectionId, PubSubReply),
    /// A publish's deliveries to all its receivers.
    Published(Published),
}

/// One connection's subscriptions and output buffer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
struct Subscriber {
    channels: BTreeSet<Bytes>,
    patterns: BTreeSet<Bytes>,
    /// Bytes of deliveries not yet reported written.
    pending_bytes: u64,
    /// When its buffer was first seen at or over the soft limit, while it stays there.
    soft_since: Option<Instant>,
}

impl Subscriber {
    fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }
}

/// The Pub/Sub channels: subscriptions, and each subscriber's output buffer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PubSub {
    config: PubSubConfig,
    subscribers: BTreeMap<ConnectionId, Subscriber>,
    /// Each channel's subscribers by name; no channel without one.
    channels: BTreeMap<Bytes, BTreeSet<ConnectionId>>,
    /// Each pattern's subscribers; no pattern without one.
    patterns: BTreeMap<Bytes, BTreeSet<ConnectionId>>,
    /// Answers and deliveries to hand out, in order.
    outbox: Vec<Handout>,
    /// Deliveries dropped because their subscriber was too slow, for metrics.
    dropped_slow: u64,
    /// The `pubsub-store-and-forward` mutant: the last messages published
    /// to each channel, handed to a later subscriber of the channel.
    #[cfg(feature = "mutants")]
    retained: Option<BTreeMap<Bytes, std::collections::VecDeque<Bytes>>>,
}

/// How many messages per channel the `pubsub-store-and-forward` mutant keeps.
#[cfg(feature = "mutants")]
const RETAINED_PER_CHANNEL: usize = 8;

impl PubSub {
    /// Channels with no subscriber, under `config`.
    #[must_use]
    pub fn new(config: PubSubConfig) -> PubSub {
        PubSub {
            config,
            ..PubSub::default()
        }
    }

    /// Behaves as the `pubsub-store-and-forward` mutant (or not).
    #[cfg(feature = "mutants")]
    pub(crate) fn set_store_and_forward(&mut self, on: bool) {
        self.retained = on.then(BTreeMap::new);
    }

    /// Runs one command of connection `conn` at `now`; its answers wait in the outbox.
    pub fn handle(&mut self, now: Instant, conn: ConnectionId, command: PubSubCommand) {
        match command {
            PubSubCommand::Subscribe { channels } => {
                for channel in channels {
                    self.subscribe(conn, SubscriptionKind::Channel, channel);
                }
            }
            PubSubCommand::PatternSubscribe { patterns } => {
                for pattern in patterns {
                    self.subscribe(conn, SubscriptionKind::Pattern, pattern);
                }
            }
            PubSubCommand::Unsubscribe { channels } => {
                self.unsubscribe(conn, SubscriptionKind::Channel, channels);
            }
            PubSubCommand::PatternUnsubscribe { patterns } => {
                self.unsubscribe(conn, SubscriptionKind::Pattern, patterns);
            }
            PubSubCommand::Publish { channel, message } => {
                let receivers = self.publish(now, channel, message);
                self.outbox
                    .push(Handout::Reply(conn, PubSubReply::Published { receivers }));
            }
            PubSubCommand::Channels { pattern } => {
                let channels = self
                    .channels
                    .keys()
                    .filter(|channel| pattern.as_ref().is_none_or(|p| glob::matches(p, channel)))
                    .cloned()
                    .collect();
                self.outbox
                    .push(Handout::Reply(conn, PubSubReply::Channels(channels)));
            }
            PubSubCommand::NumSub { channels } => {
                let counts = channels
                    .into_iter()
                    .map(|channel| {
                        let count = self.channels.get(&channel).map_or(0, BTreeSet::len);
                        (channel, count as u64)
                    })
                    .collect();
                self.outbox
                    .push(Handout::Reply(conn, PubSubReply::NumSub(counts)));
            }
            PubSubCommand::NumPat => {
                let count = self.patterns.values().map(BTreeSet::len).sum::<usize>();
                self.outbox
                    .push(Handout::Reply(conn, PubSubReply::NumPat(count as u64)));
            }
            PubSubCommand::Reset => self.disconnect(conn),
            PubSubCommand::Written { bytes } => self.written(conn, bytes),
        }
    }

    /// The connection is gone: its subscriptions go with it.
    pub fn disconnect(&mut self, conn: ConnectionId) {
        let Some(subscriber) = self.subscribers.remove(&conn) else {
            return;
        };
        for channel in subscriber.channels {
            remove_subscriber(&mut self.channels, &channel, conn);
        }
        for pattern in subscriber.patterns {
            remove_subscriber(&mut self.patterns, &pattern, conn);
        }
    }

    /// Whether the outbox is empty.
    #[must_use]
    pub fn outbox_is_empty(&self) -> bool {
        self.outbox.is_empty()
    }

    /// Takes the answers and deliveries waiting, in order.
    pub fn take_handouts(&mut self) -> Vec<Handout> {
        std::mem::take(&mut self.outbox)
    }

    /// Takes the answers and deliveries waiting, in order, each delivery
    /// as a reply of its own.
    pub fn take_outbox(&mut self) -> Vec<(ConnectionId, PubSubReply)> {
        let mut replies = Vec::new();
        for handout in self.take_handouts() {
            match handout {
                Handout::Reply(conn, reply) => replies.push((conn, reply)),
                Handout::Published(published) => replies.extend(published.replies()),
            }
        }
        replies
    }

    /// The connection's subscriptions of both kinds.
    #[must_use]
    pub fn subscriptions(&self, conn: ConnectionId) -> usize {
        self.subscribers.get(&conn).map_or(0, Subscriber::count)
    }

    /// The bytes of deliveries to `conn` not yet reported written.
    #[must_use]
    pub fn pending_bytes(&self, conn: ConnectionId) -> u64 {
        self.subscribers.get(&conn).map_or(0, |s| s.pending_bytes)
    }

    /// Deliveries dropped since the start because their subscriber was too slow.
    #[must_use]
    pub fn dropped_slow(&self) -> u64 {
        self.dropped_slow
    }

    fn subscribe(&mut self, conn: ConnectionId, kind: SubscriptionKind, name: Bytes) {
        let max = self.config.subscriptions_per_connection_max;
        let subscriber = self.subscribers.entry(conn).or_default();
        let held = match kind {
            SubscriptionKind::Channel => &mut subscriber.channels,
            SubscriptionKind::Pattern => &mut subscriber.patterns,
        };
        if !held.contains(&name) {
            if subscriber.count() >= max {
                if subscriber.count() == 0 && subscriber.pending_bytes == 0 {
                    self.subscribers.remove(&conn);
                }
                let error = PubSubError::TooManySubscriptions { max };
                self.outbox
                    .push(Handout::Reply(conn, PubSubReply::Error(error)));
                return;
            }
            let held = match kind {
                SubscriptionKind::Channel => &mut subscriber.channels,
                SubscriptionKind::Pattern => &mut subscriber.patterns,
            };
            held.insert(name.clone());
            let index = match kind {
                SubscriptionKind::Channel => &mut self.channels,
                SubscriptionKind::Pattern => &mut self.patterns,
            };
            index.entry(name.clone()).or_default().insert(conn);
        }
        let count = self.subscriptions(conn);
        debug_assert!(count <= max, "a subscriber holds at most its bound");
        let reply = PubSubReply::Subscribed {
            kind,
            name: name.clone(),
            count,
        };
        self.outbox.push(Handout::Reply(conn, reply));
        #[cfg(feature = "mutants")]
        if let Some(retained) = self.retained.as_ref() {
            // The mutant: what was published before the subscription follows it.
            for (channel, messages) in retained {
                let pattern = match kind {
                    SubscriptionKind::Channel if *channel == name => None,
                    SubscriptionKind::Pattern if glob::matches(&name, channel) => {
                        Some(name.clone())
                    }
                    _ => continue,
                };
                for message in messages {
                    let delivery = PubSubReply::Message {
                        pattern: pattern.clone(),
                        channel: channel.clone(),
                        message: message.clone(),
                    };
                    self.outbox.push(Handout::Reply(conn, delivery));
                }
            }
        }
    }

    fn unsubscribe(&mut self, conn: ConnectionId, kind: SubscriptionKind, names: Vec<Bytes>) {
        let names = if names.is_empty() {
            let held = self.subscribers.get(&conn).map(|subscriber| match kind {
                SubscriptionKind::Channel => subscriber.channels.iter().cloned().collect(),
                SubscriptionKind::Pattern => subscriber.patterns.iter().cloned().collect(),
            });
            let held: Vec<Bytes> = held.unwrap_or_default();
            if held.is_empty() {
                let count = self.subscriptions(conn);
                let reply = PubSubReply::Unsubscribed {
                    kind,
                    name: None,
                    count,
                };
                self.outbox.push(Handout::Reply(conn, reply));
                return;
            }
            held
        } else {
            names
        };
        for name in names {
            if let Some(subscriber) = self.subscribers.get_mut(&conn) {
                let (held, index) = match kind {
                    SubscriptionKind::Channel => (&mut subscriber.channels, &mut self.channels),
                    SubscriptionKind::Pattern => (&mut subscriber.patterns, &mut self.patterns),
                };
                if held.remove(&name) {
                    remove_subscriber(index, &name, conn);
                }
                if subscriber.count() == 0 && subscriber.pending_bytes == 0 {
                    self.subscribers.remove(&conn);
                }
            }
            let count = self.subscriptions(conn);
            let reply = PubSubReply::Unsubscribed {
                kind,
                name: Some(name),
                count,
            };
            self.outbox.push(Handout::Reply(conn, reply));
        }
    }

    /// Delivers to every current subscriber of `channel`, by name and by
    /// pattern, as one handout; the count of deliveries. Each delivery is
    /// charged to its subscriber's output buffer first; a subscriber that
    /// it takes past the buffer's limits is disconnected instead, after
    /// what it was handed before (and gets nothing more of this publish).
    fn publish(&mut self, now: Instant, channel: Bytes, message: Bytes) -> u64 {
        let mut deliveries: Vec<(ConnectionId, Option<Bytes>)> = Vec::new();
        if let Some(subscribers) = self.channels.get(&channel) {
            deliveries.extend(subscribers.iter().map(|&conn| (conn, None)));
        }
        let by_channel = deliveries.len();
        for (pattern, subscribers) in &self.patterns {
            if glob::matches(pattern, &channel) {
                deliveries.extend(
                    subscribers
                        .iter()
                        .map(|&conn| (conn, Some(pattern.clone()))),
                );
            }
        }
        // Per subscriber, its channel's message first, then its patterns'
        // (the channel's subscribers come in connection order already).
        if deliveries.len() > by_channel {
            deliveries.sort_by_key(|(conn, pattern)| (*conn, pattern.is_some()));
        }
        let receivers = deliveries.len() as u64;
        #[cfg(feature = "mutants")]
        if let Some(retained) = self.retained.as_mut() {
            let kept = retained.entry(channel.clone()).or_default();
            kept.push_back(message.clone());
            if kept.len() > RETAINED_PER_CHANNEL {
                kept.pop_front();
            }
        }
        let mut disconnected = Vec::new();
        deliveries.retain(|(conn, pattern)| {
            let Some(subscriber) = self.subscribers.get_mut(conn) else {
                self.dropped_slow += 1;
                return false;
            };
            let bytes = charge(pattern.as_ref(), &channel, &message);
            subscriber.pending_bytes = subscriber.pending_bytes.saturating_add(bytes);
            let Some(reason) = self.config.slow_subscriber(subscriber, now) else {
                return true;
            };
            self.dropped_slow += 1;
            self.disconnect(*conn);
            disconnected.push(Handout::Reply(*conn, PubSubReply::Disconnect(reason)));
            false
        });
        if !deliveries.is_empty() {
            self.outbox.push(Handout::Published(Published {
                channel,
                message,
                receivers: deliveries,
            }));
        }
        self.outbox.extend(disconnected);
        receivers
    }

    fn written(&mut self, conn: ConnectionId, bytes: u64) {
        let Some(subscriber) = self.subscribers.get_mut(&conn) else {
            return;
        };
        subscriber.pending_bytes = subscriber.pending_bytes.saturating_sub(bytes);
        if subscriber.pending_bytes < self.config.output_buffer_soft_bytes {
            subscriber.soft_since = None;
        }
        if subscriber.count() == 0 && subscriber.pending_bytes == 0 {
            self.subscribers.remove(&conn);
        }
    }
}

impl PubSubConfig {
    /// Redis's `checkClientOutputBufferLimits` for a subscriber whose
    /// buffer was just charged: why it must go, if it must.
    fn slow_subscriber(&self, subscriber: &mut Subscriber, now: Instant) -> Option<SlowSubscriber> {
        let used = subscriber.pending_bytes;
        if self.output_buffer_hard_bytes > 0 && used >= self.output_buffer_hard_bytes {
            return Some(SlowSubscriber::HardLimit);
        }
        if self.output_buffer_soft_bytes == 0 || used < self.output_buffer_soft_bytes {
            subscriber.soft_since = None;
            return None;
        }
        match subscriber.soft_since {
            None => {
                subscriber.soft_since = Some(now);
                None
            }
            Some(since) if now <= since.plus_ms(self.output_buffer_soft_ms) => None,
            Some(_) => Some(SlowSubscriber::SoftLimit),
        }
    }
}

fn remove_subscriber(
    index: &mut BTreeMap<Bytes, BTreeSet<ConnectionId>>,
    name: &Bytes,
    conn: ConnectionId,
) {
    if let Some(subscribers) = index.get_mut(name) {
        subscribers.remove(&conn);
        if subscribers.is_empty() {
            index.remove(name);
        }
    }
}
