//! The properties every brokerlab model checks, the history they read, and
//! the symmetry that treats consumers as interchangeable.
//!
//! The history is stateright's auxiliary state, written as messages leave
//! their sender: what the producer published and what the broker handed out,
//! in the order it did. Checkers observe the message path this way rather
//! than reach into the broker; the one exception is `no-lost-confirmed`,
//! which asks the broker for its queue contents through `Broker::snapshot`,
//! the same public view a store compacts the log with.

use crate::actors::{Node, NodeState};
use crate::clients::{parse_body, ConsumerState, MessageSet, ProducerState, BROKER};
use crate::group_member::MemberState;
use crate::network::Turn;
use crate::pubsub::PubSubHistory;
use crate::sqs::SqsHistory;
use crate::wire::{Choice, Frame, Incarnation, Msg, Timer};
use brokerlab_core::record::Change;
use brokerlab_core::Name;
use brokerlab_core::{Command, ConnectionId, Reply};
use stateright::actor::{ActorModel, ActorModelState, Envelope, Id, Network};
use stateright::{Expectation, Rewrite, RewritePlan};

/// A model of the brokerlab core.
pub type BrokerModel = ActorModel<Node, Settings, History>;

/// A state of a brokerlab model.
pub type State = ActorModelState<Node, History>;

/// What the properties need to know of the model's configuration.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// How many messages the producer publishes (numbers 1 to this).
    pub messages: u8,
    /// The consumers' prefetch count.
    pub prefetch: u16,
    /// How many times the broker may crash (and recover) in one run.
    pub crashes: u8,
    /// The routing key dead-lettered messages carry, when the model dead-letters.
    pub dead_letter_key: Option<Name>,
    /// Whether a message that expired is done with (its queue has no
    /// dead-letter exchange, so expiry drops it).
    pub expiry_drops: bool,
    /// How many partitions a stream model's topic has.
    pub partitions: u8,
    /// The highest consumer group generation a model explores (0: no bound).
    pub generations_max: i32,
    /// Whether each consumer reads a queue of its own (a fanout or an
    /// event bus): deliveries are then judged per consumer, so the copy
    /// each queue takes is not a redelivery of another's.
    pub per_consumer: bool,
    /// Whether message `n` carries priority `n` (the producer publishes
    /// each once, on one connection, so confirm `n` is message `n`).
    pub priorities: bool,
    /// Whether every message carries its number as its `correlation_id`
    /// (requests, and the replies that copy it).
    pub correlated: bool,
}

/// What was published and delivered, as the messages left their senders.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct History {
    /// Every `(producer incarnation, number)` published.
    pub published: Keys,
    /// Every `(producer incarnation, number)` the broker handed out.
    pub delivered: Keys,
    /// The latest message handed out with `redelivered=false`.
    pub last_fresh: Option<(Incarnation, u8)>,
    /// Some message was handed out a second time.
    pub delivered_again: bool,
    /// A message handed out before was handed out again without the redelivered flag.
    pub unflagged_redelivery: bool,
    /// A message no producer published was handed out.
    pub phantom: bool,
    /// A message handed out for the first time came before one handed out earlier.
    pub fifo_broken: bool,
    /// How many times the broker came back from a crash (counted by the
    /// resets it sends the producer as it restarts).
    pub restarts: u8,
    /// A dead-lettered message was handed out.
    pub dead_lettered: bool,
    /// A dead-lettered message was handed out without an `x-death` header.
    pub death_unrecorded: bool,
    /// What the Pub/Sub model records (nothing in the other models).
    pub pubsub: PubSubHistory,
    /// What the SQS model records (nothing in the other models).
    pub sqs: SqsHistory,
    /// What each consumer was handed, where each reads a queue of its own
    /// (`Settings::per_consumer`; empty in the other models).
    pub by_consumer: Vec<Handed>,
    /// The messages the broker confirmed (where `Settings::priorities`).
    pub confirm_sent: MessageSet,
    /// A message was handed out for the first time while a message of a
    /// higher priority, already confirmed, had never been handed out.
    pub priority_inverted: bool,
    /// A message was handed out with a `correlation_id` that is not the
    /// number its body names (where `Settings::correlated`).
    pub uncorrelated: bool,
}

/// What one consumer was handed, in a model where each consumer reads a
/// queue of its own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Handed {
    /// Every `(producer incarnation, number)` handed to it.
    pub delivered: Keys,
    /// The latest handed to it with `redelivered=false`.
    pub last_fresh: Option<(Incarnation, u8)>,
}

/// A set of `(producer incarnation, number)` keys: a message set per incarnation,
/// copied without allocating (states copy their history at every step).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Keys([MessageSet; Keys::SESSIONS]);

impl Keys {
    /// Producer incarnations a history follows (1 to this): one, and one more
    /// per crash the models allow.
    pub const SESSIONS: usize = 4;

    /// Adds `key`; returns whether it was new.
    pub fn insert(&mut self, (incarnation, number): (Incarnation, u8)) -> bool {
        let index = usize::from(incarnation);
        assert!(
            (1..=Self::SESSIONS).contains(&index),
            "producer incarnation {incarnation}"
        );
        let fresh = !self.0[index - 1].contains(number);
        self.0[index - 1].insert(number);
        fresh
    }

    /// Whether `key` is in the set.
    #[must_use]
    pub fn contains(&self, (incarnation, number): (Incarnation, u8)) -> bool {
        let index = usize::from(incarnation);
        (1..=Self::SESSIONS).contains(&index) && self.0[index - 1].contains(number)
    }
}

impl Rewrite<Id> for History {
    fn rewrite<S>(&self, _plan: &RewritePlan<Id, S>) -> History {
        self.clone()
    }
}

/// Records publishes and deliveries as they leave their sender.
pub fn record_msg_out(
    settings: &Settings,
    history: &History,
    envelope: Envelope<&Msg>,
) -> Option<History> {
    let mut next = history.clone();
    match envelope.msg {
        Msg::Frames { frames, .. } => {
            for frame in frames.iter() {
                if let Frame::Command {
                    command: Command::BasicPublish { body, .. },
                    ..
                } = frame
                {
                    if let Some(key) = parse_body(body) {
                        next.published.insert(key);
                    }
                }
            }
        }
        Msg::Reset => {
            if usize::from(envelope.dst) == PRODUCER {
                next.restarts += 1;
            }
        }
        Msg::StreamReplies { .. } | Msg::PubSubReplies { .. } | Msg::SqsReplies { .. } => {}
        Msg::Replies { replies, .. } => {
            let to = usize::from(envelope.dst);
            let consumer = (settings.per_consumer && to > PRODUCER).then(|| to - PRODUCER - 1);
            for (_, reply) in replies.iter() {
                if let Reply::ConfirmAck {
                    delivery_tag,
                    multiple,
                } = *reply
                {
                    if settings.priorities && to == PRODUCER {
                        next.confirmed(settings, delivery_tag, multiple);
                    }
                }
                if let Reply::Deliver {
                    redelivered,
                    message,
                    ..
                } = reply
                {
                    let dead = settings.dead_letter_key.as_ref();
                    if dead.is_some_and(|key| key == message.routing_key()) {
                        // A dead-lettered copy is a new message in another
                        // queue: it is checked for its death record only.
                        let headers = message.properties().headers.as_ref();
                        next.dead_lettered = true;
                        next.death_unrecorded |=
                            !headers.is_some_and(|h| h.contains_key("x-death"));
                    } else {
                        if settings.correlated {
                            let number = parse_body(&message.body).map(|(_, number)| number);
                            let correlation = message.properties().correlation_id.as_deref();
                            next.uncorrelated |= correlation.and_then(|id| id.parse().ok())
                                != number
                                || number.is_none();
                        }
                        next = next.delivery(parse_body(&message.body), *redelivered, consumer);
                    }
                }
            }
        }
    }
    (next != *history).then_some(next)
}

impl History {
    /// The history after the broker hands out `key` with the flag
    /// `redelivered`, to consumer number `consumer` where each consumer
    /// reads a queue of its own (`None`: one queue for all).
    fn delivery(
        &self,
        key: Option<(Incarnation, u8)>,
        redelivered: bool,
        consumer: Option<usize>,
    ) -> History {
        let mut next = self.clone();
        let Some(key) = key.filter(|key| self.published.contains(*key)) else {
            next.phantom = true;
            return next;
        };
        let mut handed = match consumer {
            Some(consumer) => {
                if next.by_consumer.len() <= consumer {
                    next.by_consumer.resize(consumer + 1, Handed::default());
                }
                next.by_consumer[consumer]
            }
            None => Handed {
                delivered: self.delivered,
                last_fresh: self.last_fresh,
            },
        };
        let before = handed.delivered;
        if !handed.delivered.insert(key) {
            next.delivered_again = true;
            next.unflagged_redelivery |= !redelivered;
        }
        if !redelivered {
            // Fresh deliveries leave the queue in publish order, and one
            // producer publishes in (incarnation, number) order.
            next.fifo_broken |= handed.last_fresh.is_some_and(|last| key <= last);
            handed.last_fresh = Some(key.max(handed.last_fresh.unwrap_or(key)));
            // Message m ranks m: a confirmed higher one never handed out
            // was ready in the queue, ahead of this one.
            let (incarnation, number) = key;
            next.priority_inverted |= (number + 1..=MessageSet::NUMBER_MAX).any(|higher| {
                self.confirm_sent.contains(higher) && !before.contains((incarnation, higher))
            });
        }
        next.delivered.insert(key);
        match consumer {
            Some(consumer) => next.by_consumer[consumer] = handed,
            None => next.last_fresh = handed.last_fresh,
        }
        next
    }

    /// Records the broker's confirm of publish `tag` (or of every one up
    /// to it): message `tag`, where the producer publishes each message
    /// once, in order, on one connection.
    fn confirmed(&mut self, settings: &Settings, tag: u64, multiple: bool) {
        let tag = u8::try_from(tag).expect("a confirm of one of the model's messages");
        assert!(
            tag <= settings.messages,
            "confirm {tag} of a message never published"
        );
        let first = if multiple { 1 } else { tag };
        for number in first..=tag {
            self.confirm_sent.insert(number);
        }
    }
}

/// The most crashes a model allows: each gives the producer one more
/// incarnation, and the history follows `Keys::SESSIONS` of them.
pub const CRASHES_MAX: u8 = Keys::SESSIONS as u8 - 1;

/// The producer's actor index in every model.
pub const PRODUCER: usize = BROKER + 1;

/// The producer's state (actor 1 in every model).
fn producer(state: &State) -> &ProducerState {
    state.actor_states[PRODUCER]
        .as_producer()
        .expect("actor 1 is the producer")
}

/// The model's boundary: only the broker crashes (stateright would crash
/// any actor), and no more often than the configuration says. A crash beyond
/// the bound leads out of the checked space.
pub fn within_crash_bounds(settings: &Settings, state: &State) -> bool {
    let clients_up = state
        .crashed
        .iter()
        .skip(BROKER + 1)
        .all(|crashed| !crashed);
    let crash_allowed = !state.crashed[BROKER] || state.history.restarts < settings.crashes;
    clients_up && crash_allowed
}

/// Every consumer's state with its actor id.
fn consumers(state: &State) -> impl Iterator<Item = (Id, &ConsumerState)> {
    state
        .actor_states
        .iter()
        .enumerate()
        .filter_map(|(index, node)| node.as_consumer().map(|c| (Id::from(index), c)))
}

/// The messages some consumer acked.
fn acked(state: &State) -> MessageSet {
    consumers(state).fold(MessageSet::default(), |all, (_, c)| all.union(c.acked))
}

/// The messages done with: acked, or expired where expiry drops them.
fn done(model: &BrokerModel, state: &State) -> MessageSet {
    let expired = match (
        model.cfg.expiry_drops,
        state.actor_states[BROKER].as_broker(),
    ) {
        (true, Some(broker)) => broker.expiry.expired,
        _ => MessageSet::default(),
    };
    acked(state).union(expired)
}

/// Whether every message was confirmed and is done with.
fn all_done(model: &BrokerModel, state: &State) -> bool {
    let done = done(model, state);
    (1..=model.cfg.messages)
        .all(|number| producer(state).confirmed.contains(number) && done.contains(number))
}

/// Adds what every model checks: the history, the crash bounds, the safety
/// properties that hold of every broker (first of them that no actor's step
/// panics), and the sometimes-property that a message is delivered at all.
#[must_use]
pub fn standard(model: BrokerModel) -> BrokerModel {
    model
        .record_msg_out(record_msg_out)
        .within_boundary(within_crash_bounds)
        .property(Expectation::Always, "no-panic", no_panic)
        .property(Expectation::Always, "no-phantom", no_phantom)
        .property(
            Expectation::Always,
            "redelivery-flagged",
            redelivery_flagged,
        )
        .property(
            Expectation::Always,
            "prefetch-respected",
            prefetch_respected,
        )
        .property(Expectation::Always, "one-owner", one_owner)
        .property(Expectation::Always, "no-lost-confirmed", no_lost_confirmed)
        .property(Expectation::Always, "counters-agree", counters_agree)
        .property(Expectation::Sometimes, "delivered", delivered)
}

/// `no-panic`: no actor's step panicked (a panic in the core is caught at
/// the actor's boundary and recorded in its state, see `panics`).
pub fn no_panic(_: &BrokerModel, state: &State) -> bool {
    no_panic_in(state)
}

fn no_panic_in(state: &State) -> bool {
    state
        .actor_states
        .iter()
        .all(|actor| actor.panicked().is_none())
}

/// Every actor whose step panicked, with the panic's message.
#[must_use]
pub fn panicked(state: &State) -> Vec<(Id, &str)> {
    let actors = state.actor_states.iter().enumerate();
    actors
        .filter_map(|(index, actor)| Some((Id::from(index), actor.panicked()?)))
        .collect()
}

/// `no-phantom`: every delivery is of a message that was published.
pub fn no_phantom(_: &BrokerModel, state: &State) -> bool {
    !state.history.phantom
}

/// `redelivery-flagged`: a message handed out before carries `redelivered=true`.
pub fn redelivery_flagged(_: &BrokerModel, state: &State) -> bool {
    !state.history.unflagged_redelivery
}

/// `fifo-without-redelivery`: messages handed out unflagged come in publish order.
pub fn fifo_without_redelivery(_: &BrokerModel, state: &State) -> bool {
    !state.history.fifo_broken
}

/// `prefetch-respected`: no consumer holds more unacked deliveries than its prefetch.
pub fn prefetch_respected(model: &BrokerModel, state: &State) -> bool {
    let prefetch = usize::from(model.cfg.prefetch);
    consumers(state).all(|(_, consumer)| consumer.held.len() <= prefetch)
}

/// `one-owner`: an unacked delivery belongs to at most one live connection
/// (where each consumer reads a queue of its own, each queue's copy is a
/// delivery of its own, held at most once).
pub fn one_owner(model: &BrokerModel, state: &State) -> bool {
    let broker = state.actor_states[BROKER].as_broker();
    let mut owned = MessageSet::default();
    for (id, consumer) in consumers(state) {
        if model.cfg.per_consumer {
            owned = MessageSet::default();
        }
        // A consumer may still hold deliveries of a connection the broker
        // already lost; those are nobody's any more.
        let live = broker.is_some_and(|b| b.connection_of(id, consumer.incarnation).is_some());
        if !live {
            continue;
        }
        // Number 0 is a body that is not the model's: `no-phantom` reports it.
        for held in consumer.held.iter().filter(|held| held.number != 0) {
            if owned.contains(held.number) {
                return false;
            }
            owned.insert(held.number);
        }
    }
    true
}

/// `counters-agree`: the broker's counters (what a metrics dashboard reads)
/// grew in every step by the deliveries and redeliveries it sent.
pub fn counters_agree(_: &BrokerModel, state: &State) -> bool {
    state.actor_states[BROKER]
        .as_broker()
        .is_none_or(|broker| !broker.counters_drifted)
}

/// `no-lost-confirmed`: a confirmed message is acked by a consumer, still in
/// the broker, or (where expiry drops messages) expired. A broker that
/// panicked is judged by `no-panic` alone.
pub fn no_lost_confirmed(model: &BrokerModel, state: &State) -> bool {
    // A message no queue takes is confirmed and gone, as RabbitMQ does:
    // only the model's numbered messages are followed.
    let confirmed = producer(state)
        .confirmed
        .intersection(MessageSet::upto(model.cfg.messages));
    let acked = done(model, state);
    if confirmed.is_subset(acked) || state.crashed[BROKER] {
        return true;
    }
    let broker = state.actor_states[BROKER]
        .as_broker()
        .expect("actor 0 is the broker");
    if broker.panicked.is_some() {
        return true;
    }
    let mut stored = MessageSet::default();
    for record in broker.broker.snapshot() {
        if let Change::Enqueued { message, .. } = record.change {
            if let Some((_, number)) = parse_body(&message.body) {
                stored.insert(number);
            }
        }
    }
    confirmed.is_subset(acked.union(stored))
}

/// Whether nothing more can happen but optional faults: no message in
/// flight that its recipient would take, no delivery waiting to be settled,
/// nothing waiting for the disk. A run in which an actor panicked is never
/// quiet: it stopped, and `no-panic` says so.
pub fn is_quiet(state: &State) -> bool {
    if !no_panic_in(state) {
        return false;
    }
    let broker_idle = state.actor_states[BROKER]
        .as_broker()
        .is_some_and(|broker| broker.unsynced_upto.is_none());
    !anything_to_take(state)
        && !state.crashed[BROKER]
        && broker_idle
        && state
            .random_choices
            .iter()
            .all(|choices| choices.map.is_empty())
}

/// Whether some message in flight would be taken by its recipient. Over an
/// ordered network every message is; over the unordered ones a copy of a
/// segment already taken, or one of a connection already closed, stays in
/// the network for good and is never taken (see `network`).
fn anything_to_take(state: &State) -> bool {
    if let Network::Ordered(_) = state.network {
        // Each link's head is deliverable; the broker leaves the segments
        // of a connection the core paused where they are.
        return state.network.iter_deliverable().any(|envelope| {
            match (
                &*state.actor_states[usize::from(envelope.dst)],
                envelope.msg,
            ) {
                (NodeState::Broker(broker), Msg::Frames { incarnation, .. }) => {
                    !broker.is_paused(envelope.src, *incarnation)
                }
                _ => true,
            }
        });
    }
    state.network.iter_deliverable().any(|envelope| {
        let recipient = &*state.actor_states[usize::from(envelope.dst)];
        let (incarnation, seq) = match envelope.msg {
            Msg::Frames {
                incarnation, seq, ..
            }
            | Msg::Replies {
                incarnation, seq, ..
            }
            | Msg::StreamReplies {
                incarnation, seq, ..
            }
            | Msg::PubSubReplies {
                incarnation, seq, ..
            }
            | Msg::SqsReplies {
                incarnation, seq, ..
            } => (*incarnation, *seq),
            Msg::Reset => return true,
        };
        let turn = match recipient {
            NodeState::Broker(broker) => broker.sequencing.turn(envelope.src, incarnation, seq),
            NodeState::Producer(producer) => {
                producer.link.turn(producer.incarnation, incarnation, seq)
            }
            NodeState::Consumer(consumer) => {
                consumer.link.turn(consumer.incarnation, incarnation, seq)
            }
            // Stream, saga and Pub/Sub clients number nothing: every
            // segment is taken.
            NodeState::Member(_)
            | NodeState::Publisher(_)
            | NodeState::Subscriber(_)
            | NodeState::SqsSender(_)
            | NodeState::SqsConsumer(_)
            | NodeState::StreamProducer(_)
            | NodeState::StreamReader(_)
            | NodeState::SagaOperator(_)
            | NodeState::Participant(_) => Turn::Take,
        };
        turn == Turn::Take
    })
}

/// `quiet-means-done`: once nothing more can happen, every message was confirmed and acked.
///
/// This is the liveness check as a terminal-state check: stateright's
/// `Eventually` can miss a violation on a path that ends in a cycle.
pub fn quiet_means_done(model: &BrokerModel, state: &State) -> bool {
    !is_quiet(state) || all_done(model, state)
}

/// `crash-recovered` (sometimes): the broker came back from a crash and
/// every message was then confirmed and acked.
pub fn crash_recovered(model: &BrokerModel, state: &State) -> bool {
    state.history.restarts > 0 && all_done(model, state)
}

/// `priority-order`: a queue with priorities never hands out a message
/// while a higher-priority one waits in it.
pub fn priority_order(_: &BrokerModel, state: &State) -> bool {
    !state.history.priority_inverted
}

/// `priority-overtakes` (sometimes): a later message of a higher priority
/// was handed out before an earlier one.
pub fn priority_overtakes(_: &BrokerModel, state: &State) -> bool {
    state.history.fifo_broken
}

/// `reply-correlated`: every request and every reply is handed out with
/// the `correlation_id` its publisher gave it (a reply copies its
/// request's), so a requester matches each reply to its own request.
pub fn reply_correlated(_: &BrokerModel, state: &State) -> bool {
    !state.history.uncorrelated
}

/// `every-subscriber-served`: once nothing more can happen, every
/// consumer (each reading a queue of its own) acked every message.
pub fn every_subscriber_served(model: &BrokerModel, state: &State) -> bool {
    !is_quiet(state)
        || state.actor_states.iter().all(|actor| match &**actor {
            NodeState::Consumer(consumer) => {
                MessageSet::upto(model.cfg.messages).is_subset(consumer.acked)
            }
            _ => true,
        })
}

/// `oldest-first`: a consumer holds a message only when it has acked every
/// older one (one consumer with prefetch 1: the queue hands out its head,
/// and a requeued message goes back to its place at the head).
pub fn oldest_first(_: &BrokerModel, state: &State) -> bool {
    consumers(state).all(|(_, consumer)| {
        consumer.held.iter().all(|held| {
            (1..held.number).all(|older| {
                consumer.acked.contains(older) || consumer.held.iter().any(|h| h.number == older)
            })
        })
    })
}

/// `no-expired-delivery`: no message is handed out at or after its deadline.
pub fn no_expired_delivery(_: &BrokerModel, state: &State) -> bool {
    state.actor_states[BROKER]
        .as_broker()
        .is_none_or(|broker| !broker.expiry.expired_delivery)
}

/// `expired` (sometimes): some message expires in its queue.
pub fn expired(_: &BrokerModel, state: &State) -> bool {
    state.actor_states[BROKER]
        .as_broker()
        .is_some_and(|broker| broker.expiry.expired != MessageSet::default())
}

/// `x-death-recorded`: a dead-lettered message carries its `x-death` header.
pub fn x_death_recorded(_: &BrokerModel, state: &State) -> bool {
    !state.history.death_unrecorded
}

/// `dead-lettered` (sometimes): a dead-lettered message reaches a consumer.
pub fn dead_lettered(_: &BrokerModel, state: &State) -> bool {
    state.history.dead_lettered
}

/// `unroutable-acked`: the broker refuses no publish (with nothing here to
/// refuse for, even a message no queue takes is confirmed with basic.ack).
pub fn unroutable_acked(_: &BrokerModel, state: &State) -> bool {
    producer(state).refused == MessageSet::default()
}

/// `single-active`: at most one consumer holds deliveries on a live connection.
pub fn single_active(_: &BrokerModel, state: &State) -> bool {
    let broker = state.actor_states[BROKER].as_broker();
    let holding = consumers(state).filter(|(id, consumer)| {
        let live = broker.is_some_and(|b| b.connection_of(*id, consumer.incarnation).is_some());
        live && !consumer.held.is_empty()
    });
    holding.count() <= 1
}

/// `handed-over` (sometimes): two consumers each acked a message (the
/// single active consumer changed).
pub fn handed_over(_: &BrokerModel, state: &State) -> bool {
    let acking = consumers(state).filter(|(_, consumer)| consumer.acked != MessageSet::default());
    acking.count() >= 2
}

/// `exactly-once-effect`: no message's work takes effect twice, and once
/// nothing more can happen every message's work took effect.
pub fn exactly_once_effect(model: &BrokerModel, state: &State) -> bool {
    if consumers(state).any(|(_, consumer)| consumer.applied_twice) {
        return false;
    }
    let applied = consumers(state).fold(MessageSet::default(), |all, (_, c)| all.union(c.applied));
    !is_quiet(state) || MessageSet::upto(model.cfg.messages).is_subset(applied)
}

/// `duplicate-suppressed` (sometimes): a consumer skipped a message it had seen.
pub fn duplicate_suppressed(_: &BrokerModel, state: &State) -> bool {
    consumers(state).any(|(_, consumer)| consumer.suppressed)
}

/// `delivered` (sometimes): some message reaches a consumer.
pub fn delivered(_: &BrokerModel, state: &State) -> bool {
    state.history.delivered != Keys::default()
}

/// `requeued` (sometimes): some message is handed out a second time.
pub fn requeued(_: &BrokerModel, state: &State) -> bool {
    state.history.delivered_again
}

/// The representative of a state's class under renaming consumers: the
/// consumers sorted by everything that belongs to them. Consumers name no
/// actor and the broker names them only as owners of connections (numbered
/// in arrival order), so two states that differ by which consumer is which
/// behave alike.
pub fn representative(state: &State) -> State {
    let keys: Vec<(bool, usize, Option<PeerKey>)> = (0..state.actor_states.len())
        .map(|index| match peer(&state.actor_states[index]) {
            // Consumers (or group members) sort after every other actor,
            // among themselves by key.
            Some(peer) => (true, 0, Some(peer_key(state, index, peer))),
            None => (false, index, None),
        })
        .collect();
    let plan = RewritePlan::<Id, _>::from_values_to_sort(&keys);
    ActorModelState {
        actor_states: plan.reindex(&state.actor_states),
        network: state.network.rewrite(&plan),
        timers_set: plan.reindex(&state.timers_set),
        random_choices: plan.reindex(&state.random_choices),
        crashed: plan.reindex(&state.crashed),
        actor_storages: plan.reindex(&state.actor_storages),
        history: state.history.clone(),
    }
}

/// The state of an actor symmetry may rename: a consumer, or a consumer
/// group member (the coordinator knows a member by its member id and its
/// connections, never by its actor).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Peer {
    Consumer(ConsumerState),
    Member(MemberState),
}

fn peer(node: &NodeState) -> Option<Peer> {
    let consumer = node.as_consumer().cloned().map(Peer::Consumer);
    consumer.or_else(|| node.as_member().cloned().map(Peer::Member))
}

/// Everything that belongs to one consumer or member: its state, timers
/// and pending choices, its messages in flight both ways and its
/// connections at the broker. Two with equal keys are indistinguishable,
/// so sorting by it makes the representative canonical (whatever the
/// search order).
type PeerKey = (
    Peer,
    Vec<Timer>,
    Vec<(String, Vec<Choice>)>,
    Vec<(bool, Msg)>,
    Vec<(ConnectionId, Incarnation)>,
);

fn peer_key(state: &State, index: usize, peer: Peer) -> PeerKey {
    let id = Id::from(index);
    let mut timers: Vec<Timer> = state.timers_set[index].iter().cloned().collect();
    timers.sort();
    let mut choices: Vec<(String, Vec<Choice>)> = state.random_choices[index]
        .map
        .iter()
        .map(|(key, choices)| (key.clone(), choices.clone()))
        .collect();
    choices.sort();
    let in_flight = envelopes(&state.network)
        .into_iter()
        .filter(|(src, dst, _)| *src == id || *dst == id)
        .map(|(src, _, msg)| (src == id, msg.clone()))
        .collect();
    let connections = state.actor_states[BROKER]
        .as_broker()
        .map(|broker| {
            let owned = broker.connections.iter();
            owned
                .filter(|(_, (owner, _))| *owner == id)
                .map(|(conn, (_, incarnation))| (*conn, *incarnation))
                .collect()
        })
        .unwrap_or_default();
    (peer, timers, choices, in_flight, connections)
}

/// Every message in flight, with its sender and recipient.
///
/// Stateright 0.31's `Network::iter_all` never advances within an ordered
/// link (it returns the link's first message forever), so ordered networks
/// are read through their links directly.
#[must_use]
pub fn envelopes(network: &Network<Msg>) -> Vec<(Id, Id, &Msg)> {
    match network {
        Network::Ordered(links) => links
            .iter()
            .flat_map(|((src, dst), messages)| messages.iter().map(|msg| (*src, *dst, msg)))
            .collect(),
        other => other
            .iter_all()
            .map(|envelope| (envelope.src, envelope.dst, envelope.msg))
            .collect(),
    }
}
