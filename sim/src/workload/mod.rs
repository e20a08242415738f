//! Workloads: the seed document's patterns, as a topology and client nodes.
//!
//! A workload decides which exchanges, queues and bindings a run has (its
//! [`Topology`]), and how its clients use them; the fault plan decides what
//! goes wrong around them; the checkers judge the history either way. Each
//! workload is one small module that builds its topology.
//!
//! The topology also carries the workload's own plain routing table: for
//! every publish target, the queues the message must reach. It is written
//! by hand in each module, not computed by the broker's router, so the
//! checkers hold the broker to what a RabbitMQ user expects.

pub mod circuit_breaker;
pub mod dlq_retry;
pub mod idempotent;
pub mod mixed;
pub mod priority;
pub mod pubsub;
pub mod pubsub_redis;
pub mod request_reply;
pub mod saga;
pub mod sqs_visibility;
pub mod stream_idempotent;
pub mod stream_keyed;
pub mod streams;
pub mod topic;
pub mod ttl;
pub mod work_queue;

use crate::client::{Client, Consumer, ConsumerSpec, Producer, ProducerSpec};
use crate::plan::{WorkloadParams, MIXED_STREAM_PRODUCERS, MIXED_STREAM_READERS};
use brokerlab_core::Name;
use brokerlab_core::{Command, FieldTable, FieldValue};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A workload, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// Competing consumers on one durable queue, with prefetch and acks.
    WorkQueue,
    /// A fanout exchange copies every message to each subscriber's queue.
    Pubsub,
    /// A topic exchange routes by `*` and `#` patterns.
    Topic,
    /// Rejected messages wait in a TTL queue and come back, until a retry limit.
    DlqRetry,
    /// Messages that outlive their TTL are dead-lettered, never delivered.
    Ttl,
    /// A priority queue delivers higher priorities first.
    Priority,
    /// Duplicates arrive; a consumer that dedupes applies each effect once.
    IdempotentConsumer,
    /// Requesters publish with reply_to and correlation_id; responders answer.
    RequestReply,
    /// Every topology above at once, sharing one broker.
    Mixed,
    /// Keyed producers and readers of a partitioned stream, under every fault.
    StreamKeyed,
    /// Idempotent stream producers retrying through dropped links.
    StreamIdempotent,
    /// Orchestrated sagas run by the broker, with participants that fail,
    /// reply twice or late, and crash.
    Saga,
    /// Redis Pub/Sub channels: at-most-once fan-out to the subscribers of
    /// the moment, with subscribers that leave and stall.
    PubsubRedis,
    /// SQS queues: visibility timeouts, receipt handles, redrive to a
    /// dead-letter queue, FIFO groups and deduplication.
    SqsVisibility,
    /// Consumers with a circuit breaker: after failures they cancel, hand
    /// back what they hold, and consume again after a pause.
    CircuitBreaker,
}

impl Workload {
    /// Every workload, in the order a sweep runs them.
    pub const ALL: [Workload; 15] = [
        Workload::WorkQueue,
        Workload::Pubsub,
        Workload::Topic,
        Workload::DlqRetry,
        Workload::Ttl,
        Workload::Priority,
        Workload::IdempotentConsumer,
        Workload::Mixed,
        Workload::RequestReply,
        Workload::StreamKeyed,
        Workload::StreamIdempotent,
        Workload::Saga,
        Workload::PubsubRedis,
        Workload::SqsVisibility,
        Workload::CircuitBreaker,
    ];

    /// The workload's name, as selected on the command line.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Workload::WorkQueue => "work-queue",
            Workload::Pubsub => "pubsub",
            Workload::Topic => "topic",
            Workload::DlqRetry => "dlq-retry",
            Workload::Ttl => "ttl",
            Workload::Priority => "priority",
            Workload::IdempotentConsumer => "idempotent-consumer",
            Workload::Mixed => "mixed",
            Workload::RequestReply => "request-reply",
            Workload::StreamKeyed => "stream-keyed",
            Workload::StreamIdempotent => "stream-idempotent",
            Workload::Saga => "saga",
            Workload::PubsubRedis => "pubsub-redis",
            Workload::SqsVisibility => "sqs-visibility",
            Workload::CircuitBreaker => "circuit-breaker",
        }
    }

    /// The workload's place in [`Workload::ALL`].
    #[must_use]
    pub fn index(self) -> u64 {
        Workload::ALL
            .iter()
            .position(|known| *known == self)
            .expect("ALL lists every workload") as u64
    }

    /// The workload with this name.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Workload> {
        Workload::ALL
            .into_iter()
            .find(|workload| workload.name() == name)
    }

    /// Fewest consumers the workload needs: one per queue it drains.
    #[must_use]
    pub fn consumers_min(self) -> usize {
        match self {
            Workload::WorkQueue
            | Workload::DlqRetry
            | Workload::Priority
            | Workload::IdempotentConsumer
            | Workload::RequestReply
            | Workload::CircuitBreaker
            | Workload::StreamKeyed
            | Workload::StreamIdempotent => 1,
            Workload::Ttl => 2,
            // A subscriber by channel and one by pattern.
            Workload::PubsubRedis => 2,
            // One works slowly while another receives the message again.
            Workload::SqsVisibility => 2,
            // One per subscriber queue.
            Workload::Pubsub => 3,
            Workload::Topic => 4,
            // Two steps' participants and the observer.
            Workload::Saga => 3,
            // One per queue of every topology.
            Workload::Mixed => 13,
        }
    }

    /// The workload's exchanges, queues, bindings and routing table.
    #[must_use]
    pub fn topology(self, params: &WorkloadParams) -> Topology {
        match self {
            Workload::WorkQueue => work_queue::topology(),
            Workload::Pubsub => pubsub::topology(),
            Workload::Topic => topic::topology(),
            Workload::DlqRetry => dlq_retry::topology(params),
            Workload::Ttl => ttl::topology(params),
            Workload::Priority => priority::topology(),
            Workload::IdempotentConsumer => idempotent::topology(),
            Workload::Mixed => mixed::topology(params),
            Workload::RequestReply => request_reply::topology(params),
            Workload::CircuitBreaker => circuit_breaker::topology(),
            Workload::Saga => saga::topology(params),
            // Streams and Pub/Sub channels have no exchange or queue.
            Workload::StreamKeyed | Workload::StreamIdempotent | Workload::PubsubRedis => {
                Topology::default()
            }
            // SQS queues are created by the clients' own actions.
            Workload::SqsVisibility => Topology {
                sqs: Some(sqs_visibility::setup()),
                ..Topology::default()
            },
        }
    }

    /// Whether the workload's clients are stream producers and readers.
    #[must_use]
    pub fn is_stream(self) -> bool {
        matches!(self, Workload::StreamKeyed | Workload::StreamIdempotent)
    }

    /// The run's clients: producers first, then consumers.
    #[must_use]
    pub fn clients(self, params: &WorkloadParams) -> Vec<Client> {
        if self.is_stream() {
            return streams::clients(params);
        }
        if self == Workload::Saga {
            return saga::clients(params);
        }
        if self == Workload::PubsubRedis {
            return pubsub_redis::clients(params);
        }
        if self == Workload::SqsVisibility {
            return sqs_visibility::clients(params);
        }
        let topology = self.topology(params);
        let setup: Arc<[Command]> = topology.setup.clone().into();
        let targets: Arc<[Target]> = topology.targets.clone().into();
        let producers = (0..params.producers).map(|id| {
            Client::Producer(Producer::new(ProducerSpec {
                id,
                setup: setup.clone(),
                targets: targets.clone(),
                messages: params.messages_per_producer,
                window: params.publish_window,
                gap: params.publish_gap,
                confirm_timeout_ns: params.confirm_timeout_ns,
                replies: topology
                    .requesters
                    .then(|| request_reply::reply_queue(id).into()),
            }))
        });
        let consumers = (0..params.consumers).map(|id| {
            let queue = topology.consume_from[id % topology.consume_from.len()].clone();
            let habits = topology.queues[&queue].habits;
            Client::Consumer(Consumer::new(ConsumerSpec {
                id,
                setup: setup.clone(),
                queue,
                prefetch: params.prefetch,
                work: if id >= params.consumers - params.slow_consumers {
                    params.slow_work
                } else {
                    params.work
                },
                requeue_per_mille: params.requeue_per_mille,
                discard_per_mille: habits.discard_per_mille,
                give_up_after: habits.give_up_after,
                idempotent: habits.idempotent,
                respond: habits.respond,
                breaker: habits.breaker,
            }))
        });
        let mut clients: Vec<Client> = producers.chain(consumers).collect();
        if self == Workload::Mixed {
            // Streams share the broker too: a stream producer and two
            // readers in a consumer group, numbered after the AMQP clients.
            let producer_ids = params.producers..params.producers + MIXED_STREAM_PRODUCERS;
            let reader_ids = params.consumers..params.consumers + MIXED_STREAM_READERS;
            clients.extend(streams::clients_numbered(params, producer_ids, reader_ids));
        }
        clients
    }
}

/// Where a producer publishes one message, and where it must arrive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The exchange published to.
    pub exchange: Name,
    /// The routing key.
    pub routing_key: Name,
    /// The queues the message must reach (the workload's routing table).
    pub queues: Arc<[Name]>,
    /// Priorities set: message `i` gets priority `i % (priorities + 1)`; 0 sets none.
    pub priorities: u8,
    /// A per-message TTL (the expiration property) set on every other message.
    pub expiration_ms: Option<u64>,
}

impl Target {
    /// A target of `exchange` with `routing_key`, reaching `queues`.
    #[must_use]
    pub fn new(exchange: &str, routing_key: &str, queues: &[&str]) -> Target {
        Target {
            exchange: exchange.into(),
            routing_key: routing_key.into(),
            queues: queues.iter().map(|queue| Name::from(*queue)).collect(),
            priorities: 0,
            expiration_ms: None,
        }
    }

    /// The same target, with priorities `0..=priorities` set in turn.
    #[must_use]
    pub fn with_priorities(mut self, priorities: u8) -> Target {
        self.priorities = priorities;
        self
    }

    /// The same target, with a per-message TTL on every other message.
    #[must_use]
    pub fn with_expiration_ms(mut self, expiration_ms: u64) -> Target {
        self.expiration_ms = Some(expiration_ms);
        self
    }
}

/// How the consumers of one queue treat what they get.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Habits {
    /// Chance in a thousand of rejecting a delivery without requeue (it dead-letters).
    pub discard_per_mille: u16,
    /// Ack a message unprocessed once it has died this often (read from x-death).
    pub give_up_after: Option<u64>,
    /// Apply each logical message's effect once, deduplicating by message id.
    pub idempotent: bool,
    /// Answer each request on its `reply_to` queue (request-reply responders).
    pub respond: bool,
    /// Guard a failing downstream with a circuit breaker (see
    /// `circuit-breaker`).
    pub breaker: bool,
}

/// What the workload knows about one of its queues.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueSpec {
    /// Its x-message-ttl, in milliseconds.
    pub ttl_ms: Option<u64>,
    /// Whether it is a priority queue (deliveries by priority, FIFO within one).
    pub priorities: bool,
    /// The queues its dead letters reach.
    pub dead_letters_to: Vec<Name>,
    /// How its consumers behave.
    pub habits: Habits,
}

/// A workload's exchanges, queues and bindings, and its routing table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Topology {
    /// Declarations and bindings every client sends after opening its channel.
    pub setup: Vec<Command>,
    /// Where producers publish: message `i` of a producer goes to `targets[i % len]`.
    pub targets: Vec<Target>,
    /// The queues consumers drain: consumer `i` takes `consume_from[i % len]`.
    pub consume_from: Vec<Name>,
    /// Every queue, by name.
    pub queues: BTreeMap<Name, QueueSpec>,
    /// Producers are requesters: each sets `reply_to` to its own reply queue and consumes it.
    pub requesters: bool,
    /// The SQS queues of the run, if it has any.
    pub sqs: Option<sqs_visibility::SqsSetup>,
}

impl Topology {
    /// Declares a durable exchange.
    pub fn exchange(&mut self, name: &str, kind: &str) {
        self.setup.push(Command::ExchangeDeclare {
            exchange: name.to_owned(),
            kind: kind.to_owned(),
            passive: false,
            durable: true,
            auto_delete: false,
            internal: false,
            arguments: FieldTable::new(),
        });
    }

    /// Declares a durable queue with these arguments.
    pub fn queue(&mut self, name: &str, arguments: FieldTable, spec: QueueSpec) {
        self.setup.push(Command::QueueDeclare {
            queue: name.to_owned(),
            passive: false,
            durable: true,
            exclusive: false,
            auto_delete: false,
            arguments,
        });
        self.queues.insert(name.into(), spec);
    }

    /// Binds `queue` to `exchange` with `routing_key`.
    pub fn bind(&mut self, queue: &str, exchange: &str, routing_key: &str) {
        self.setup.push(Command::QueueBind {
            queue: queue.to_owned(),
            exchange: exchange.to_owned(),
            routing_key: routing_key.to_owned(),
            arguments: FieldTable::new(),
        });
    }

    /// The queues where a copy that entered `queue` may be consumed: the
    /// queue itself and every queue its dead letters reach, transitively.
    #[must_use]
    pub fn sinks(&self, queue: &str) -> Vec<Name> {
        let mut found: Vec<Name> = vec![queue.into()];
        let mut next = 0;
        while let Some(current) = found.get(next).cloned() {
            next += 1;
            let Some(spec) = self.queues.get(&current) else {
                continue;
            };
            for target in &spec.dead_letters_to {
                if !found.contains(target) {
                    found.push(target.clone());
                }
            }
        }
        found
    }

    /// Adds another topology's declarations, targets and queues to this one.
    pub fn merge(&mut self, other: Topology) {
        self.setup.extend(other.setup);
        self.targets.extend(other.targets);
        self.consume_from.extend(other.consume_from);
        self.queues.extend(other.queues);
    }
}

/// A field table from (name, value) pairs.
#[must_use]
pub fn arguments(pairs: &[(&str, FieldValue)]) -> FieldTable {
    pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), value.clone()))
        .collect()
}

/// A string field value.
#[must_use]
pub fn text(value: &str) -> FieldValue {
    FieldValue::LongString(value.to_owned().into())
}
