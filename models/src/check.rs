//! Running a model through the checker and reading its verdicts: what
//! `brokerlab check` prints and what the tests assert.
//!
//! Without symmetry the checker searches breadth first, so counterexamples
//! are short (stateright 0.31 hands out work in batches, so not always the
//! very shortest). Symmetry reduction runs depth first, because that is where
//! stateright applies it.

use crate::actors::Node;
use crate::clients::parse_body;
use crate::properties::{self, BrokerModel, State};
use crate::wire::{Answer, Choice, Deed, Frame, Msg, Settle, Timer};
use brokerlab_core::group::{GroupReply, GroupRequest};
use brokerlab_core::{
    Command, PubSubCommand, PubSubReply, PublishProperties, Reply, SqsCommand, SqsReply,
    StreamCommand, StreamReply,
};
use stateright::actor::{ActorModelAction, Id};
use stateright::{Checker, Expectation, HasDiscoveries, Model, Path};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

pub use crate::catalog::{model_by_name, Overrides, MODELS, NETWORK_MODELS};

/// How to run the checker.
#[derive(Clone, Debug)]
pub struct Options {
    /// Worker threads.
    pub threads: usize,
    /// Explore no deeper than this many steps (`None`: exhaustively).
    pub depth: Option<usize>,
    /// Explore one state per class of consumer renamings (depth first).
    pub symmetry: bool,
    /// Stop at the first failing property instead of exploring everything.
    pub stop_at_failure: bool,
    /// Stop as soon as this property has a discovery (a counterexample or an example).
    pub stop_at_property: Option<&'static str>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            threads: 1,
            depth: None,
            symmetry: false,
            stop_at_failure: false,
            stop_at_property: None,
        }
    }
}

/// One property's verdict.
#[derive(Clone, Debug)]
pub struct Verdict {
    /// The property's name.
    pub name: &'static str,
    /// `Always` (safety, and the terminal-state liveness checks) or `Sometimes`.
    pub expectation: Expectation,
    /// Whether the property holds over what was explored.
    pub holds: bool,
    /// For a failed `Always`: the steps from the initial state to the violation.
    pub counterexample: Option<Vec<String>>,
    /// For a failed `Always`: the messages in flight in the violating state
    /// (what the last step sent is often the violation itself).
    pub in_flight: Vec<String>,
    /// For a failed `Always`: the counterexample as a sequence chart.
    pub chart: Option<String>,
    /// For a failed `Always`: each actor that panicked on the way, with the
    /// panic's message (`"broker: an entry is in a queue once (at ...)"`).
    pub panics: Vec<String>,
}

/// What a checker run found.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Whether symmetry reduction was applied (asked for, and the model's
    /// consumers are interchangeable).
    pub symmetry: bool,
    /// States generated, repeats included.
    pub states: usize,
    /// Distinct states (or classes, under symmetry).
    pub unique_states: usize,
    /// The deepest step reached.
    pub max_depth: usize,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
    /// Every property's verdict, in the model's order.
    pub verdicts: Vec<Verdict>,
}

impl Outcome {
    /// Whether every property holds.
    #[must_use]
    pub fn all_hold(&self) -> bool {
        self.verdicts.iter().all(|verdict| verdict.holds)
    }

    /// The verdict of the property `name`.
    ///
    /// # Panics
    /// When the model has no such property.
    #[must_use]
    pub fn verdict(&self, name: &str) -> &Verdict {
        self.verdicts
            .iter()
            .find(|verdict| verdict.name == name)
            .unwrap_or_else(|| panic!("no property named {name}"))
    }

    /// States generated per second of the run.
    #[must_use]
    pub fn states_per_second(&self) -> f64 {
        self.states as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// A path through a model: states and the actions between them.
type ModelPath = Path<State, ActorModelAction<Msg, Timer, Choice>>;

/// Runs the checker over `model` and collects the verdicts. Each
/// counterexample is then cut to a shortest one (see `shortest`).
#[must_use]
pub fn check(model: BrokerModel, options: &Options) -> Outcome {
    let properties = model.properties();
    let copy = model.clone();
    let mut builder = model.checker().threads(options.threads.max(1));
    if let Some(depth) = options.depth {
        builder = builder.target_max_depth(depth);
    }
    if options.stop_at_failure {
        builder = builder.finish_when(HasDiscoveries::AnyFailures);
    }
    if let Some(name) = options.stop_at_property {
        builder = builder.finish_when(HasDiscoveries::AnyOf([name].into()));
    }
    let started = Instant::now();
    let symmetry = options.symmetry && consumers_interchangeable(&copy);
    let checker = if symmetry {
        let checker = builder.symmetry_fn(properties::representative).spawn_dfs();
        Box::new(checker.join()) as Box<dyn Checker<BrokerModel>>
    } else {
        Box::new(builder.spawn_bfs().join())
    };
    let elapsed = started.elapsed();
    let verdicts = properties
        .iter()
        .map(|property| {
            let discovery = checker.discovery(property.name);
            let holds = match property.expectation {
                Expectation::Sometimes => discovery.is_some(),
                Expectation::Always | Expectation::Eventually => discovery.is_none(),
            };
            let path = match (&property.expectation, discovery) {
                (Expectation::Sometimes, _) | (_, None) => None,
                (_, Some(path)) => Some(shortest(&copy, property.name, path, options.threads)),
            };
            Verdict {
                name: property.name,
                expectation: property.expectation.clone(),
                holds,
                in_flight: path
                    .as_ref()
                    .map(|path| in_flight(&copy, path.last_state()))
                    .unwrap_or_default(),
                chart: path.as_ref().map(|path| chart(&copy, path)),
                panics: path
                    .as_ref()
                    .map(|path| panics(&copy, path.last_state()))
                    .unwrap_or_default(),
                counterexample: path.map(|path| steps(&copy, path)),
            }
        })
        .collect();
    Outcome {
        symmetry,
        states: checker.state_count(),
        unique_states: checker.unique_state_count(),
        max_depth: checker.max_depth(),
        elapsed,
        verdicts,
    }
}

/// Whether every consumer of the model is configured alike, and every
/// group member, so renaming them is a symmetry (a dead-letter drain is
/// not a work consumer).
fn consumers_interchangeable(model: &BrokerModel) -> bool {
    let mut consumers = model.actors.iter().filter_map(|node| match node {
        Node::Consumer(consumer) => Some(consumer),
        _ => None,
    });
    let first = consumers.next();
    let mut members = model.actors.iter().filter_map(|node| match node {
        Node::Member(member) => Some(member),
        _ => None,
    });
    let first_member = members.next();
    consumers.all(|consumer| Some(consumer) == first)
        && members.all(|member| Some(member) == first_member)
}

/// A shortest counterexample to the `Always` property `name`, given one.
///
/// Stateright's breadth-first search keeps the last violation it meets, not
/// the first, and hands out work in batches, so its counterexample can be
/// longer than need be. A search bounded at depth d finds a violation
/// within d steps if there is one: a binary search over d finds the length
/// of the shortest, and a path of that length.
fn shortest(
    model: &BrokerModel,
    name: &'static str,
    known: ModelPath,
    threads: usize,
) -> ModelPath {
    let mut best = known;
    let (mut low, mut high) = (0, steps_of(&best));
    while low < high {
        let middle = (low + high) / 2;
        // Stateright counts the initial state as depth 1 and skips states at the target depth.
        let checker = model
            .clone()
            .checker()
            .threads(threads.max(1))
            .target_max_depth(middle + 2)
            .finish_when(HasDiscoveries::AnyOf([name].into()))
            .spawn_bfs()
            .join();
        match checker.discovery(name) {
            Some(path) => {
                high = steps_of(&path);
                best = path;
            }
            None => low = middle + 1,
        }
    }
    best
}

/// How many actions a path takes.
fn steps_of(path: &ModelPath) -> usize {
    path.clone().into_actions().len()
}

/// A path as readable steps, one per action.
fn steps(model: &BrokerModel, path: ModelPath) -> Vec<String> {
    path.into_actions()
        .into_iter()
        .map(|action| step(model, &action))
        .collect()
}

/// The width of one actor's column in a sequence chart.
const LANE_WIDTH: usize = 14;

/// A path as a sequence chart: one column per actor, one row per step, an
/// arrow from sender to recipient for each delivered message and a mark on
/// the actor's line for its timers, choices, crashes and recoveries.
fn chart(model: &BrokerModel, path: &ModelPath) -> String {
    let lanes = model.actors.len();
    let mut text = String::new();
    for index in 0..lanes {
        let _ = write!(text, "{:<LANE_WIDTH$}", actor_name(model, Id::from(index)));
    }
    text.push('\n');
    for (number, action) in path.clone().into_actions().iter().enumerate() {
        let mut row: Vec<char> = (0..lanes * LANE_WIDTH)
            .map(|column| if column % LANE_WIDTH == 0 { '|' } else { ' ' })
            .collect();
        let label = match action {
            ActorModelAction::Deliver { src, dst, msg } => {
                let (from, to) = (
                    usize::from(*src) * LANE_WIDTH,
                    usize::from(*dst) * LANE_WIDTH,
                );
                let (left, right) = (from.min(to), from.max(to));
                for cell in &mut row[left + 1..right] {
                    *cell = '-';
                }
                match from < to {
                    true => row[right - 1] = '>',
                    false => row[left + 1] = '<',
                }
                describe(msg)
            }
            other => {
                let actor = match other {
                    ActorModelAction::Timeout(id, _)
                    | ActorModelAction::Crash(id)
                    | ActorModelAction::Recover(id)
                    | ActorModelAction::SelectRandom { actor: id, .. } => *id,
                    ActorModelAction::Drop(envelope) => envelope.src,
                    ActorModelAction::Deliver { .. } => unreachable!("matched above"),
                };
                row[usize::from(actor) * LANE_WIDTH] = '*';
                step(model, other)
            }
        };
        let row: String = row.into_iter().collect();
        let _ = writeln!(text, "{row} {:>2}. {label}", number + 1);
    }
    text
}

/// The messages in flight in `state`, in words.
fn in_flight(model: &BrokerModel, state: &State) -> Vec<String> {
    properties::envelopes(&state.network)
        .into_iter()
        .map(|(src, dst, msg)| {
            let (src, dst) = (actor_name(model, src), actor_name(model, dst));
            format!("{src} -> {dst}: {}", describe(msg))
        })
        .collect()
}

/// The actors that panicked in `state`, each with its panic's message.
fn panics(model: &BrokerModel, state: &State) -> Vec<String> {
    properties::panicked(state)
        .into_iter()
        .map(|(id, message)| format!("{}: {message}", actor_name(model, id)))
        .collect()
}

/// One action in words.
fn step(model: &BrokerModel, action: &ActorModelAction<Msg, Timer, Choice>) -> String {
    let name = |id: &Id| actor_name(model, *id);
    match action {
        ActorModelAction::Deliver { src, dst, msg } => {
            format!("{} -> {}: {}", name(src), name(dst), describe(msg))
        }
        ActorModelAction::Drop(envelope) => format!(
            "the network loses {} -> {}: {}",
            name(&envelope.src),
            name(&envelope.dst),
            describe(&envelope.msg)
        ),
        ActorModelAction::Timeout(id, Timer::Sync) => format!("{}: the disk syncs", name(id)),
        ActorModelAction::Timeout(id, Timer::Deadline) => {
            format!("{}: the next deadline is reached", name(id))
        }
        ActorModelAction::Timeout(id, Timer::DropConnection) => {
            format!("{}: the connection drops", name(id))
        }
        ActorModelAction::Timeout(id, Timer::Heartbeat) => format!("{}: heartbeat", name(id)),
        ActorModelAction::Timeout(id, Timer::Consume) => {
            format!("{}: processes a record and commits", name(id))
        }
        ActorModelAction::Timeout(id, Timer::Leave) => format!("{}: leaves", name(id)),
        ActorModelAction::Timeout(id, Timer::Restart) => {
            format!("{}: crashes and starts again", name(id))
        }
        ActorModelAction::Timeout(id, Timer::OpenBreaker) => {
            format!("{}: its circuit breaker opens", name(id))
        }
        ActorModelAction::Timeout(id, Timer::Retry) => {
            format!("{}: sends its batch again", name(id))
        }
        ActorModelAction::Crash(id) => format!("{} crashes", name(id)),
        ActorModelAction::Recover(id) => format!("{} recovers", name(id)),
        ActorModelAction::SelectRandom {
            actor,
            random: Choice::Settle { tag, how },
            ..
        } => {
            let how = match how {
                Settle::Ack => "ack",
                Settle::Requeue => "nack with requeue",
                Settle::Reject => "reject",
            };
            format!("{} chooses to {how} delivery {tag}", name(actor))
        }
        ActorModelAction::SelectRandom {
            actor,
            random: Choice::Answer { undo, how },
            ..
        } => {
            let what = match undo {
                true => "compensation",
                false => "command",
            };
            let how = match how {
                Answer::Reply => "does the work and replies",
                Answer::Fail => "refuses it and replies failure",
                Answer::Lose => "does the work; its reply is lost",
                Answer::Twice => "does the work and replies twice",
            };
            format!("{} takes the {what}: {how}", name(actor))
        }
        ActorModelAction::SelectRandom {
            actor,
            random: Choice::PubSub(deed),
            ..
        } => {
            let deed = match deed {
                Deed::Subscribe => "subscribe",
                Deed::Unsubscribe => "unsubscribe",
                Deed::Drop => "drop its connection",
            };
            format!("{} chooses to {deed}", name(actor))
        }
        ActorModelAction::SelectRandom {
            actor,
            random: Choice::Sqs { crash },
            ..
        } => {
            let deed = match crash {
                true => "crash with the message it holds",
                false => "delete the message it holds",
            };
            format!("{} chooses to {deed}", name(actor))
        }
    }
}

/// "broker", "producer", "consumer 1", ...
fn actor_name(model: &BrokerModel, id: Id) -> String {
    let index = usize::from(id);
    match model.actors.get(index) {
        Some(Node::Broker(_)) => "broker".to_owned(),
        Some(Node::Producer(_)) => "producer".to_owned(),
        Some(Node::Consumer(_)) => {
            let first = model
                .actors
                .iter()
                .position(|node| matches!(node, Node::Consumer(_)))
                .unwrap_or(index);
            format!("consumer {}", index - first + 1)
        }
        Some(Node::Member(_)) => format!("member {index}"),
        Some(Node::StreamProducer(_)) => "producer".to_owned(),
        Some(Node::StreamReader(_)) => "reader".to_owned(),
        Some(Node::SagaOperator(_)) => "operator".to_owned(),
        Some(Node::Participant(participant)) => format!("participant {}", participant.step),
        Some(Node::Publisher(_)) => "publisher".to_owned(),
        Some(Node::Subscriber(subscriber)) => format!("subscriber {}", subscriber.index),
        Some(Node::SqsSender(_)) => "sender".to_owned(),
        Some(Node::SqsConsumer(consumer)) => crate::actors::sqs_consumer_name(consumer).to_owned(),
        None => format!("actor {index}"),
    }
}

/// A message in words.
fn describe(msg: &Msg) -> String {
    let (incarnation, parts): (_, Vec<String>) = match msg {
        Msg::Frames {
            incarnation,
            frames,
            ..
        } => (incarnation, frames.iter().map(describe_frame).collect()),
        Msg::Replies {
            incarnation,
            replies,
            ..
        } => (
            incarnation,
            replies
                .iter()
                .map(|(_, reply)| describe_reply(reply))
                .collect(),
        ),
        Msg::StreamReplies {
            incarnation,
            replies,
            ..
        } => (
            incarnation,
            replies
                .iter()
                .map(|(request, reply)| format!("{} (to {request})", describe_stream_reply(reply)))
                .collect(),
        ),
        Msg::PubSubReplies {
            incarnation,
            replies,
            ..
        } => (
            incarnation,
            replies.iter().map(describe_pubsub_reply).collect(),
        ),
        Msg::SqsReplies {
            incarnation,
            replies,
            ..
        } => (
            incarnation,
            replies
                .iter()
                .map(|(request, reply)| format!("{} (to {request})", describe_sqs_reply(reply)))
                .collect(),
        ),
        Msg::Reset => return "every connection reset (the broker restarted)".to_owned(),
    };
    format!("{} (connection {incarnation})", parts.join(", "))
}

fn describe_frame(frame: &Frame) -> String {
    match frame {
        Frame::Connect => "connect".to_owned(),
        Frame::Command { command, .. } => describe_command(command),
        Frame::Disconnect => "connection closed".to_owned(),
        Frame::Stream { request, command } => {
            format!("{} (request {request})", describe_stream_command(command))
        }
        Frame::PubSub(command) => describe_pubsub_command(command),
        Frame::Sqs { request, command } => {
            format!("{} (request {request})", describe_sqs_command(command))
        }
    }
}

/// An SQS message's body in words: its number, for the model's messages.
fn sqs_body(body: &[u8]) -> String {
    match crate::clients::parse_body(body) {
        Some((_, number)) => number.to_string(),
        None => String::from_utf8_lossy(body).into_owned(),
    }
}

/// An SQS action in words.
fn describe_sqs_command(command: &SqsCommand) -> String {
    match command {
        SqsCommand::Send { entries, .. } => {
            let messages: Vec<String> = entries
                .iter()
                .map(|entry| {
                    let body = sqs_body(&entry.body);
                    match &entry.deduplication_id {
                        Some(id) => format!("message {body} (deduplication id {id})"),
                        None => format!("message {body}"),
                    }
                })
                .collect();
            format!("send {}", messages.join(", "))
        }
        SqsCommand::Receive {
            wait_time_seconds, ..
        } => match wait_time_seconds {
            Some(wait) if *wait > 0 => format!("receive, waiting up to {wait} s"),
            _ => "receive".to_owned(),
        },
        SqsCommand::Delete { entries, .. } => {
            let handles: Vec<&str> = entries.iter().map(|(_, handle)| handle.as_str()).collect();
            format!("delete with handle {}", handles.join(", "))
        }
        other => format!("{other:?}"),
    }
}

/// An SQS answer in words.
fn describe_sqs_reply(reply: &SqsReply) -> String {
    match reply {
        SqsReply::Sent(results) => {
            let ids: Vec<String> = results
                .iter()
                .map(|(_, result)| match result {
                    Ok(sent) => format!("sent as {}", sent.message_id),
                    Err(error) => format!("refused: {error}"),
                })
                .collect();
            ids.join(", ")
        }
        SqsReply::Received(messages) if messages.is_empty() => "no message".to_owned(),
        SqsReply::Received(messages) => {
            let got: Vec<String> = messages
                .iter()
                .map(|message| {
                    format!(
                        "message {} (handle {}, receive {})",
                        sqs_body(&message.body),
                        message.receipt_handle,
                        message.receive_count
                    )
                })
                .collect();
            got.join(", ")
        }
        SqsReply::Settled(results) => {
            let settled: Vec<String> = results
                .iter()
                .map(|(_, result)| match result {
                    Ok(()) => "deleted (or a stale handle: nothing)".to_owned(),
                    Err(error) => format!("refused: {error}"),
                })
                .collect();
            settled.join(", ")
        }
        other => format!("{other:?}"),
    }
}

/// A Pub/Sub command in words.
fn describe_pubsub_command(command: &PubSubCommand) -> String {
    let names = |names: &[bytes::Bytes]| {
        let names: Vec<String> = names
            .iter()
            .map(|name| String::from_utf8_lossy(name).into_owned())
            .collect();
        names.join(" ")
    };
    match command {
        PubSubCommand::Subscribe { channels } => format!("SUBSCRIBE {}", names(channels)),
        PubSubCommand::PatternSubscribe { patterns } => format!("PSUBSCRIBE {}", names(patterns)),
        PubSubCommand::Unsubscribe { channels } => format!("UNSUBSCRIBE {}", names(channels)),
        PubSubCommand::PatternUnsubscribe { patterns } => {
            format!("PUNSUBSCRIBE {}", names(patterns))
        }
        PubSubCommand::Publish { channel, message } => format!(
            "PUBLISH {} m{}",
            String::from_utf8_lossy(channel),
            String::from_utf8_lossy(message)
        ),
        other => variant_name(other),
    }
}

/// A Pub/Sub answer or delivery in words.
fn describe_pubsub_reply(reply: &PubSubReply) -> String {
    let text = |bytes: &bytes::Bytes| String::from_utf8_lossy(bytes).into_owned();
    match reply {
        PubSubReply::Subscribed { name, .. } => format!("subscribed to {}", text(name)),
        PubSubReply::Unsubscribed { name, .. } => match name {
            Some(name) => format!("unsubscribed from {}", text(name)),
            None => "unsubscribed (held nothing)".to_owned(),
        },
        PubSubReply::Message {
            pattern,
            channel,
            message,
        } => match pattern {
            Some(pattern) => format!(
                "pmessage {} {} m{}",
                text(pattern),
                text(channel),
                text(message)
            ),
            None => format!("message {} m{}", text(channel), text(message)),
        },
        PubSubReply::Published { receivers } => format!("published, receivers: {receivers}"),
        other => variant_name(other),
    }
}

/// A stream command in words; a group request with the fields that matter.
fn describe_stream_command(command: &StreamCommand) -> String {
    match command {
        StreamCommand::Group(GroupRequest::Join(join)) => format!("join as '{}'", join.member_id),
        StreamCommand::Group(GroupRequest::Sync(sync)) => {
            format!(
                "sync generation {} ({} assignments)",
                sync.generation,
                sync.assignments.len()
            )
        }
        StreamCommand::Group(GroupRequest::Heartbeat(heartbeat)) => {
            format!("heartbeat generation {}", heartbeat.generation)
        }
        StreamCommand::Group(GroupRequest::OffsetCommit(commit)) => {
            let offsets = commit
                .partitions
                .iter()
                .map(|p| format!("p{}={}", p.partition, p.offset));
            let offsets: Vec<String> = offsets.collect();
            format!(
                "commit {} generation {}",
                offsets.join(" "),
                commit.generation
            )
        }
        StreamCommand::Group(request) => variant_name(request),
        StreamCommand::Produce {
            partition, batch, ..
        } => format!(
            "produce to p{partition} sequence {} ({} records)",
            batch.base_sequence,
            batch.records.len()
        ),
        StreamCommand::Fetch { partitions, .. } => {
            let asked = partitions
                .iter()
                .map(|p| format!("p{} from offset {}", p.partition, p.offset));
            let asked: Vec<String> = asked.collect();
            format!("fetch {}", asked.join(" "))
        }
        other => variant_name(other),
    }
}

/// A stream reply in words; a group reply with its error and generation.
fn describe_stream_reply(reply: &StreamReply) -> String {
    match reply {
        StreamReply::Group(GroupReply::Join(join)) => format!(
            "joined '{}' generation {} {:?}",
            join.member_id, join.generation, join.error
        ),
        StreamReply::Group(GroupReply::Sync(sync)) => {
            format!("synced {:?} {:?}", sync.error, &sync.assignment[..])
        }
        StreamReply::Group(GroupReply::Heartbeat { error }) => format!("heartbeat {error:?}"),
        StreamReply::Group(GroupReply::OffsetCommit { partitions }) => {
            let errors: Vec<String> = partitions
                .iter()
                .map(|p| format!("{:?}", p.error))
                .collect();
            format!("committed {}", errors.join(" "))
        }
        StreamReply::Group(reply) => variant_name(reply),
        StreamReply::Produced { result, .. } => format!("produced {result:?}"),
        StreamReply::Fetched { partitions } => {
            let answers = partitions.iter().map(|p| match &p.result {
                Ok(data) if data.batches.is_empty() => format!("p{}: nothing", p.partition),
                Ok(data) => {
                    let batches = data.batches.iter().map(|batch| {
                        format!("[{}..={}]", batch.base_offset(), batch.last_offset())
                    });
                    let batches: Vec<String> = batches.collect();
                    format!("p{}: batches {}", p.partition, batches.join(" "))
                }
                Err(error) => format!("p{}: {error:?}", p.partition),
            });
            let answers: Vec<String> = answers.collect();
            format!("fetched {}", answers.join(", "))
        }
        other => variant_name(other),
    }
}

fn describe_command(command: &Command) -> String {
    match command {
        Command::BasicPublish {
            exchange,
            properties: PublishProperties::Given(properties),
            body,
            ..
        } if crate::saga::is_saga_publish(exchange, properties) && parse_body(body).is_none() => {
            crate::saga::describe_publish(properties)
        }
        Command::BasicPublish {
            routing_key,
            properties: PublishProperties::Given(properties),
            body,
            ..
        } if properties.correlation_id.is_some() => format!(
            "publish {} to {routing_key} (correlation id '{}')",
            message_name(body),
            properties.correlation_id.as_deref().unwrap_or("")
        ),
        Command::BasicPublish { body, .. } => format!("publish {}", message_name(body)),
        Command::BasicAck { delivery_tag, .. } => format!("ack delivery {delivery_tag}"),
        Command::BasicNack {
            delivery_tag,
            requeue,
            ..
        } => format!("nack delivery {delivery_tag} (requeue={requeue})"),
        Command::BasicQos { prefetch_count, .. } => format!("qos prefetch={prefetch_count}"),
        other => variant_name(other),
    }
}

fn describe_reply(reply: &Reply) -> String {
    match reply {
        Reply::Deliver {
            delivery_tag,
            redelivered,
            message,
            ..
        } if message.properties().correlation_id.is_some()
            && parse_body(&message.body).is_none() =>
        {
            let mut text = format!(
                "deliver '{}' (attempt {}) as delivery {delivery_tag}",
                message.properties().correlation_id.as_deref().unwrap_or(""),
                crate::saga::attempt(message).unwrap_or(0)
            );
            if *redelivered {
                text.push_str(", redelivered");
            }
            text
        }
        Reply::Deliver {
            delivery_tag,
            redelivered,
            message,
            ..
        } => {
            let mut text = format!(
                "deliver {} as delivery {delivery_tag}",
                message_name(&message.body)
            );
            if let Some(correlation_id) = &message.properties().correlation_id {
                let _ = write!(text, " (correlation id '{correlation_id}')");
            }
            if *redelivered {
                text.push_str(", redelivered");
            }
            text
        }
        Reply::ConfirmAck {
            delivery_tag,
            multiple,
        } => format!("confirm publish {delivery_tag} (multiple={multiple})"),
        Reply::ConfirmNack { delivery_tag, .. } => format!("refuse publish {delivery_tag}"),
        Reply::Close { code, text, .. } => format!("close {code}: {text}"),
        other => variant_name(other),
    }
}

/// "m2" for the model's message 2 (with its producer incarnation when not the first).
fn message_name(body: &[u8]) -> String {
    match parse_body(body) {
        Some((1, number)) => format!("m{number}"),
        Some((incarnation, number)) => format!("m{number} (producer incarnation {incarnation})"),
        None => format!("a foreign message {body:?}"),
    }
}

/// The enum variant's name from its `Debug` output.
fn variant_name(value: &impl std::fmt::Debug) -> String {
    let text = format!("{value:?}");
    let end = text.find([' ', '{', '(']).unwrap_or(text.len());
    text[..end].to_owned()
}

/// The report `brokerlab check` prints: counts, timing, each verdict and
/// every counterexample as numbered steps.
#[must_use]
pub fn report(outcome: &Outcome, options: &Options) -> String {
    let mut text = String::new();
    let bounded = match options.depth {
        Some(depth) => format!(" (bounded at depth {depth})"),
        None => String::new(),
    };
    if options.symmetry && !outcome.symmetry {
        let _ = writeln!(text, "symmetry:        not applied (the consumers differ)");
    }
    let _ = writeln!(text, "states explored: {}", outcome.states);
    let _ = writeln!(text, "unique states:   {}{bounded}", outcome.unique_states);
    let _ = writeln!(text, "max depth:       {}", outcome.max_depth);
    let _ = writeln!(
        text,
        "time:            {:.3} s",
        outcome.elapsed.as_secs_f64()
    );
    let _ = writeln!(text, "states/s:        {:.0}", outcome.states_per_second());
    let _ = writeln!(text);
    for verdict in &outcome.verdicts {
        let (kind, word) = match (&verdict.expectation, verdict.holds) {
            (Expectation::Sometimes, true) => ("sometimes", "holds (example found)"),
            (Expectation::Sometimes, false) => ("sometimes", "FAILS (never happens)"),
            (_, true) => ("always", "holds"),
            (_, false) => ("always", "FAILS"),
        };
        let _ = writeln!(text, "  {kind:<9} {:<24} {word}", verdict.name);
    }
    for verdict in &outcome.verdicts {
        if let Some(steps) = &verdict.counterexample {
            let _ = writeln!(text, "\ncounterexample to {}:", verdict.name);
            for (index, step) in steps.iter().enumerate() {
                let _ = writeln!(text, "  {:>2}. {step}", index + 1);
            }
            for panic in &verdict.panics {
                let _ = writeln!(text, "  panicked: {panic}");
            }
            if !verdict.in_flight.is_empty() {
                let _ = writeln!(text, "  then in flight:");
                for message in &verdict.in_flight {
                    let _ = writeln!(text, "      {message}");
                }
            }
            if let Some(chart) = &verdict.chart {
                let _ = writeln!(
                    text,
                    "\nsequence chart of the counterexample to {}:",
                    verdict.name
                );
                text.push_str(chart);
            }
        }
    }
    text
}
