//! The model's one actor type: a broker or a client, as stateright wants a
//! single `Actor` per model.

use crate::broker_actor::{BrokerActor, BrokerState};
use crate::clients::{Consumer, ConsumerState, Producer, ProducerState};
use crate::group_member::{GroupMember, MemberState};
use crate::network::Links;
use crate::panics;
use crate::properties::{self, BrokerModel, History, Settings};
use crate::pubsub::{Publisher, PublisherState, Subscriber, SubscriberState};
use crate::saga::{Operator, OperatorState, Participant, ParticipantState};
use crate::shared::Shared;
use crate::sqs::{SqsConsumer, SqsConsumerState, SqsSender, SqsSenderState};
use crate::steps::Stimulus;
use crate::stream_producer::{StreamProducer, StreamProducerState};
use crate::stream_reader::{StreamReader, StreamReaderState};
use crate::wire::{Choice, Log, Msg, Timer};
use stateright::actor::{Actor, Id, Out};
use stateright::{Rewrite, RewritePlan};
use std::borrow::Cow;

/// An actor of a brokerlab model. The broker's variant carries the core's
/// whole `Config`; a model holds one of each actor, built once, so the size
/// difference costs nothing.
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Node {
    /// The broker (always actor 0).
    Broker(BrokerActor),
    /// A publishing client.
    Producer(Producer),
    /// A consuming client.
    Consumer(Consumer),
    /// A consumer group member.
    Member(GroupMember),
    /// An idempotent stream producer.
    StreamProducer(StreamProducer),
    /// A stream reader.
    StreamReader(StreamReader),
    /// The operator who starts and aborts a saga.
    SagaOperator(Operator),
    /// A saga participant: the consumer of one step's commands and compensations.
    Participant(Participant),
    /// A Pub/Sub publisher.
    Publisher(Publisher),
    /// A Pub/Sub subscriber.
    Subscriber(Subscriber),
    /// An SQS sender.
    SqsSender(SqsSender),
    /// An SQS consumer.
    SqsConsumer(SqsConsumer),
}

/// The state of an actor of a brokerlab model.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum NodeState {
    /// The broker's (shared between states and hashed once, as it is large).
    Broker(Shared<BrokerState>),
    /// A producer's.
    Producer(ProducerState),
    /// A consumer's.
    Consumer(ConsumerState),
    /// A group member's.
    Member(MemberState),
    /// An idempotent stream producer's.
    StreamProducer(StreamProducerState),
    /// A stream reader's.
    StreamReader(StreamReaderState),
    /// The saga operator's.
    SagaOperator(OperatorState),
    /// A saga participant's.
    Participant(ParticipantState),
    /// A Pub/Sub publisher's.
    Publisher(PublisherState),
    /// A Pub/Sub subscriber's.
    Subscriber(SubscriberState),
    /// An SQS sender's.
    SqsSender(SqsSenderState),
    /// An SQS consumer's.
    SqsConsumer(SqsConsumerState),
}

impl NodeState {
    /// The broker's state, if this is the broker.
    #[must_use]
    pub fn as_broker(&self) -> Option<&BrokerState> {
        match self {
            NodeState::Broker(state) => Some(state),
            _ => None,
        }
    }

    /// The producer's state, if this is a producer.
    #[must_use]
    pub fn as_producer(&self) -> Option<&ProducerState> {
        match self {
            NodeState::Producer(state) => Some(state),
            _ => None,
        }
    }

    /// The consumer's state, if this is a consumer.
    #[must_use]
    pub fn as_consumer(&self) -> Option<&ConsumerState> {
        match self {
            NodeState::Consumer(state) => Some(state),
            _ => None,
        }
    }

    /// The group member's state, if this is a group member.
    #[must_use]
    pub fn as_member(&self) -> Option<&MemberState> {
        match self {
            NodeState::Member(state) => Some(state),
            _ => None,
        }
    }

    /// The stream producer's state, if this is the stream producer.
    #[must_use]
    pub fn as_stream_producer(&self) -> Option<&StreamProducerState> {
        match self {
            NodeState::StreamProducer(state) => Some(state),
            _ => None,
        }
    }

    /// The stream reader's state, if this is the stream reader.
    #[must_use]
    pub fn as_stream_reader(&self) -> Option<&StreamReaderState> {
        match self {
            NodeState::StreamReader(state) => Some(state),
            _ => None,
        }
    }

    /// The saga participant's state, if this is a saga participant.
    #[must_use]
    pub fn as_participant(&self) -> Option<&ParticipantState> {
        match self {
            NodeState::Participant(state) => Some(state),
            _ => None,
        }
    }
}

impl NodeState {
    /// The message of the panic in the actor's last step, if it panicked.
    #[must_use]
    pub fn panicked(&self) -> Option<&str> {
        match self {
            NodeState::Broker(state) => state.panicked.as_deref(),
            NodeState::Producer(state) => state.panicked.as_deref(),
            NodeState::Consumer(state) => state.panicked.as_deref(),
            NodeState::Member(state) => state.panicked.as_deref(),
            NodeState::StreamProducer(state) => state.panicked.as_deref(),
            NodeState::StreamReader(state) => state.panicked.as_deref(),
            NodeState::SagaOperator(state) => state.panicked.as_deref(),
            NodeState::Participant(state) => state.panicked.as_deref(),
            NodeState::Publisher(state) => state.panicked.as_deref(),
            NodeState::Subscriber(state) => state.panicked.as_deref(),
            NodeState::SqsSender(state) => state.panicked.as_deref(),
            NodeState::SqsConsumer(state) => state.panicked.as_deref(),
        }
    }
}

impl Rewrite<Id> for NodeState {
    fn rewrite<S>(&self, plan: &RewritePlan<Id, S>) -> NodeState {
        match self {
            // Most renamings leave the broker's connection owners as they
            // were: then the (large) broker state is shared, not copied.
            NodeState::Broker(state) => match state.renames_a_client(plan) {
                true => NodeState::Broker(Shared::new(state.rewrite(plan))),
                false => NodeState::Broker(state.clone()),
            },
            other => other.clone(),
        }
    }
}

/// A client's state, which records a panic in the client's step.
trait ClientState: Clone + PartialEq {
    /// Whether a step of the client panicked.
    fn panicked(&self) -> bool;
    /// Records the panic of a step.
    fn halt(&mut self, panicked: String);
}

impl ClientState for ProducerState {
    fn panicked(&self) -> bool {
        self.panicked.is_some()
    }

    fn halt(&mut self, panicked: String) {
        self.panicked = Some(panicked);
    }
}

/// Client states that record their step's panic in a `panicked` field.
macro_rules! client_state {
    ($($state:ty),*) => {$(
        impl ClientState for $state {
            fn panicked(&self) -> bool {
                self.panicked.is_some()
            }

            fn halt(&mut self, panicked: String) {
                self.panicked = Some(panicked);
            }
        }
    )*};
}

client_state!(
    ConsumerState,
    MemberState,
    StreamProducerState,
    StreamReaderState,
    OperatorState,
    ParticipantState,
    PublisherState,
    SubscriberState,
    SqsSenderState,
    SqsConsumerState
);

/// Runs a client handler on a copy of its state and keeps the copy only if
/// it changed, so that a step that does nothing is not a new state. A
/// client that panicked takes no step; a step that panics records the panic
/// in the state as it was and has no effects.
fn update_client<T, F>(
    state: &mut Cow<NodeState>,
    wrap: fn(T) -> NodeState,
    current: &T,
    out: &mut Out<Node>,
    f: F,
) where
    T: ClientState,
    F: FnOnce(&mut T, &mut Out<Node>),
{
    if current.panicked() {
        return;
    }
    let mut next = current.clone();
    let mut taken = Out::new();
    match panics::catching(|| f(&mut next, &mut taken)) {
        Ok(()) => out.append(&mut taken),
        Err(panicked) => {
            next = current.clone();
            next.halt(panicked);
        }
    }
    if next != *current {
        *state = Cow::Owned(wrap(next));
    }
}

impl Actor for Node {
    type Msg = Msg;
    type State = NodeState;
    type Timer = Timer;
    type Random = Choice;
    type Storage = Log;

    fn on_start(&self, _id: Id, storage: &Option<Log>, out: &mut Out<Self>) -> NodeState {
        match self {
            Node::Broker(broker) => {
                let mut taken = Out::new();
                let state = match panics::catching(|| broker.start(storage, &mut taken)) {
                    Ok(state) => {
                        out.append(&mut taken);
                        state
                    }
                    Err(panicked) => broker.halted(panicked),
                };
                NodeState::Broker(Shared::new(state))
            }
            Node::Producer(producer) => NodeState::Producer(producer.start(out)),
            Node::Consumer(consumer) => NodeState::Consumer(consumer.start(out)),
            Node::Member(member) => NodeState::Member(member.start(out)),
            Node::StreamProducer(producer) => NodeState::StreamProducer(producer.start(out)),
            Node::StreamReader(reader) => NodeState::StreamReader(reader.start(out)),
            Node::SagaOperator(operator) => NodeState::SagaOperator(operator.start(out)),
            Node::Participant(participant) => NodeState::Participant(participant.start(out)),
            Node::Publisher(publisher) => NodeState::Publisher(publisher.start(out)),
            Node::Subscriber(subscriber) => NodeState::Subscriber(subscriber.start(out)),
            Node::SqsSender(sender) => NodeState::SqsSender(sender.start(out)),
            Node::SqsConsumer(consumer) => NodeState::SqsConsumer(consumer.start(out)),
        }
    }

    fn on_msg(&self, _id: Id, state: &mut Cow<NodeState>, src: Id, msg: Msg, out: &mut Out<Self>) {
        match (self, state.as_ref().clone_shallow()) {
            (Node::Broker(broker), Shallow::Broker) => {
                // A segment the broker does not take now (or ever, once it
                // panicked) changes nothing: left as a no-op, stateright's unordered networks do not
                // offer it as a step (it waits for its turn, or is a copy).
                if let NodeState::Broker(inner) = state.as_ref() {
                    if broker.takes(inner, src, &msg) {
                        let next = broker
                            .steps
                            .step(broker, inner, Stimulus::Msg(src, msg), out);
                        *state = Cow::Owned(NodeState::Broker(next));
                    }
                }
            }
            (Node::Producer(producer), Shallow::Producer(current)) => {
                update_client(state, NodeState::Producer, &current, out, |next, out| {
                    producer.on_msg(next, msg, out)
                });
            }
            (Node::Consumer(consumer), Shallow::Consumer(current)) => {
                update_client(state, NodeState::Consumer, &current, out, |next, out| {
                    consumer.on_msg(next, msg, out)
                });
            }
            (Node::Member(member), Shallow::Member(current)) => {
                update_client(state, NodeState::Member, &current, out, |next, out| {
                    member.on_msg(next, msg, out)
                });
            }
            (Node::StreamProducer(producer), Shallow::StreamProducer(current)) => {
                update_client(
                    state,
                    NodeState::StreamProducer,
                    &current,
                    out,
                    |next, out| producer.on_msg(next, msg, out),
                );
            }
            (Node::StreamReader(reader), Shallow::StreamReader(current)) => {
                update_client(
                    state,
                    NodeState::StreamReader,
                    &current,
                    out,
                    |next, out| reader.on_msg(next, msg, out),
                );
            }
            (Node::SagaOperator(operator), Shallow::SagaOperator(current)) => {
                update_client(
                    state,
                    NodeState::SagaOperator,
                    &current,
                    out,
                    |next, out| operator.on_msg(next, msg, out),
                );
            }
            (Node::Participant(participant), Shallow::Participant(current)) => {
                update_client(state, NodeState::Participant, &current, out, |next, out| {
                    participant.on_msg(next, msg, out)
                });
            }
            (Node::Publisher(publisher), Shallow::Publisher(current)) => {
                update_client(state, NodeState::Publisher, &current, out, |next, out| {
                    publisher.on_msg(next, msg, out)
                });
            }
            (Node::Subscriber(subscriber), Shallow::Subscriber(current)) => {
                update_client(state, NodeState::Subscriber, &current, out, |next, out| {
                    subscriber.on_msg(next, msg, out)
                });
            }
            (Node::SqsSender(sender), Shallow::SqsSender(current)) => {
                update_client(state, NodeState::SqsSender, &current, out, |next, out| {
                    sender.on_msg(next, msg, out)
                });
            }
            (Node::SqsConsumer(consumer), Shallow::SqsConsumer(current)) => {
                update_client(state, NodeState::SqsConsumer, &current, out, |next, out| {
                    consumer.on_msg(next, msg, out)
                });
            }
            _ => unreachable!("every actor keeps the state its on_start made"),
        }
    }

    fn on_timeout(&self, _id: Id, state: &mut Cow<NodeState>, timer: &Timer, out: &mut Out<Self>) {
        match (self, state.as_ref().clone_shallow()) {
            (Node::Broker(broker), Shallow::Broker) => {
                // A broker that panicked takes no step.
                if let NodeState::Broker(inner) = state.as_ref() {
                    if inner.panicked.is_none() {
                        let stimulus = Stimulus::Timer(timer.clone());
                        let next = broker.steps.step(broker, inner, stimulus, out);
                        *state = Cow::Owned(NodeState::Broker(next));
                    }
                }
            }
            (Node::Consumer(consumer), Shallow::Consumer(current)) => {
                update_client(state, NodeState::Consumer, &current, out, |next, out| {
                    consumer.on_timeout(next, timer, out)
                });
            }
            (Node::Member(member), Shallow::Member(current)) => {
                update_client(state, NodeState::Member, &current, out, |next, out| {
                    member.on_timeout(next, timer, out)
                });
            }
            (Node::StreamProducer(producer), Shallow::StreamProducer(current)) => {
                update_client(
                    state,
                    NodeState::StreamProducer,
                    &current,
                    out,
                    |next, out| producer.on_timeout(next, timer, out),
                );
            }
            _ => {}
        }
    }

    fn on_random(&self, _id: Id, state: &mut Cow<NodeState>, choice: &Choice, out: &mut Out<Self>) {
        match (self, state.as_ref().clone_shallow()) {
            (Node::Consumer(consumer), Shallow::Consumer(current)) => {
                update_client(state, NodeState::Consumer, &current, out, |next, out| {
                    consumer.on_choice(next, choice, out)
                });
            }
            (Node::Participant(participant), Shallow::Participant(current)) => {
                update_client(state, NodeState::Participant, &current, out, |next, out| {
                    participant.on_choice(next, choice, out)
                });
            }
            (Node::Subscriber(subscriber), Shallow::Subscriber(current)) => {
                update_client(state, NodeState::Subscriber, &current, out, |next, out| {
                    subscriber.on_choice(next, choice, out)
                });
            }
            (Node::SqsConsumer(consumer), Shallow::SqsConsumer(current)) => {
                update_client(state, NodeState::SqsConsumer, &current, out, |next, out| {
                    consumer.on_choice(next, choice, out)
                });
            }
            _ => {}
        }
    }

    fn name(&self) -> String {
        match self {
            Node::Broker(_) => "broker".to_owned(),
            Node::Producer(_) => "producer".to_owned(),
            Node::Consumer(_) => "consumer".to_owned(),
            Node::Member(_) => "member".to_owned(),
            Node::StreamProducer(_) => "stream producer".to_owned(),
            Node::StreamReader(_) => "stream reader".to_owned(),
            Node::SagaOperator(_) => "operator".to_owned(),
            Node::Participant(participant) => format!("participant {}", participant.step),
            Node::Publisher(_) => "publisher".to_owned(),
            Node::Subscriber(subscriber) => format!("subscriber {}", subscriber.index),
            Node::SqsSender(_) => "sender".to_owned(),
            Node::SqsConsumer(consumer) => sqs_consumer_name(consumer).to_owned(),
        }
    }
}

/// A client's state copied out (cheap), or a marker for the broker's (whose
/// copy is not cheap and which is always changed in place).
enum Shallow {
    Broker,
    Producer(ProducerState),
    Consumer(ConsumerState),
    Member(MemberState),
    StreamProducer(StreamProducerState),
    StreamReader(StreamReaderState),
    SagaOperator(OperatorState),
    Participant(ParticipantState),
    Publisher(PublisherState),
    Subscriber(SubscriberState),
    SqsSender(SqsSenderState),
    SqsConsumer(SqsConsumerState),
}

/// "careful consumer" or "careless consumer".
pub(crate) fn sqs_consumer_name(consumer: &SqsConsumer) -> &'static str {
    match consumer.careful {
        true => "careful consumer",
        false => "careless consumer",
    }
}

impl NodeState {
    fn clone_shallow(&self) -> Shallow {
        match self {
            NodeState::Broker(_) => Shallow::Broker,
            NodeState::Producer(state) => Shallow::Producer(state.clone()),
            NodeState::Consumer(state) => Shallow::Consumer(state.clone()),
            NodeState::Member(state) => Shallow::Member(state.clone()),
            NodeState::StreamProducer(state) => Shallow::StreamProducer(state.clone()),
            NodeState::StreamReader(state) => Shallow::StreamReader(state.clone()),
            NodeState::SagaOperator(state) => Shallow::SagaOperator(state.clone()),
            NodeState::Participant(state) => Shallow::Participant(state.clone()),
            NodeState::Publisher(state) => Shallow::Publisher(state.clone()),
            NodeState::Subscriber(state) => Shallow::Subscriber(state.clone()),
            NodeState::SqsSender(state) => Shallow::SqsSender(state.clone()),
            NodeState::SqsConsumer(state) => Shallow::SqsConsumer(state.clone()),
        }
    }
}

/// The actors of a model with one producer: the broker (actor 0), the
/// producer (1) and the consumers (2 on), on the network `links` (the
/// endpoints sequence their segments where it does not keep order), with
/// the properties every model checks.
#[must_use]
pub fn base_model(
    settings: Settings,
    links: Links,
    mut broker: BrokerActor,
    mut producer: Producer,
    mut consumers: Vec<Consumer>,
) -> BrokerModel {
    assert!(
        settings.crashes <= properties::CRASHES_MAX,
        "too many crashes"
    );
    assert!(
        settings.crashes == 0 || !links.sequenced(),
        "the unordered networks are for models without crashes (see `Links`)"
    );
    broker.sequenced = links.sequenced();
    producer.sequenced = links.sequenced();
    for consumer in &mut consumers {
        consumer.sequenced = links.sequenced();
    }
    let crashes = usize::from(settings.crashes.min(1));
    let model = BrokerModel::new(settings, History::default())
        .actor(Node::Broker(broker))
        .actor(Node::Producer(producer))
        .actors(consumers.into_iter().map(Node::Consumer))
        .init_network(links.network())
        .lossy_network(links.lossy())
        .max_crashes(crashes);
    properties::standard(model)
}

#[cfg(test)]
mod tests {
    use super::{Node, NodeState};
    use crate::clients::Producer;
    use crate::wire::Msg;
    use stateright::actor::{Actor, Id, Out};
    use std::borrow::Cow;

    /// A producer on the last of its connections: a reset makes it
    /// reconnect on a connection number that does not exist, and its step
    /// panics.
    fn producer_out_of_incarnations() -> (Node, NodeState) {
        let producer = Producer::new("work".into(), 1);
        let mut state = producer.start(&mut Out::new());
        state.incarnation = u8::MAX;
        (Node::Producer(producer), NodeState::Producer(state))
    }

    #[test]
    fn a_step_that_panics_is_recorded_in_the_state_it_started_from_without_effects() {
        let (node, before) = producer_out_of_incarnations();
        let mut state = Cow::Borrowed(&before);
        let mut out = Out::new();
        node.on_msg(Id::from(1), &mut state, Id::from(0), Msg::Reset, &mut out);
        assert!(out.is_empty(), "{out:?}");
        let panicked = state.panicked().expect("the step panicked");
        assert!(
            panicked.starts_with("a bounded number of crashes"),
            "{panicked}"
        );
        let mut expected = before.as_producer().expect("a producer").clone();
        expected.panicked = Some(panicked.to_owned());
        assert_eq!(state.as_producer(), Some(&expected));
    }

    #[test]
    fn an_actor_that_panicked_takes_no_more_steps() {
        let (node, before) = producer_out_of_incarnations();
        let mut state = Cow::Borrowed(&before);
        node.on_msg(
            Id::from(1),
            &mut state,
            Id::from(0),
            Msg::Reset,
            &mut Out::new(),
        );
        let panicked = state.into_owned();
        let mut state = Cow::Borrowed(&panicked);
        let mut out = Out::new();
        node.on_msg(Id::from(1), &mut state, Id::from(0), Msg::Reset, &mut out);
        assert!(matches!(state, Cow::Borrowed(_)) && out.is_empty());
    }
}
