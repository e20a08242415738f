//! Replaying a log into a broker, and the snapshot that compacts a log.
//!
//! Replay builds a plain picture of the durable state keyed by names, change
//! by change, and installs it into a fresh broker at the end: entities first,
//! then bindings, then each queue's messages in sequence order.

use super::{Broker, Vhost, PREDECLARED};
use crate::arena::Id;
use crate::args::{QueueArgs, StreamArgs};
use crate::field::FieldTable;
use crate::message::{Name, SharedMessage};
use crate::protocol::ExchangeKind;
use crate::queue::{Entry, Expiry, Queue, Ready, StreamQueue};
use crate::record::{BindingEnd, Change};
use crate::routing::Destination;
use crate::time::Instant;
use std::collections::{BTreeMap, BTreeSet};

type Key = (Name, Name);

#[derive(Debug)]
struct ExchangeState {
    kind: ExchangeKind,
    auto_delete: bool,
    internal: bool,
    arguments: FieldTable,
}

#[derive(Debug)]
struct QueueState {
    auto_delete: bool,
    arguments: FieldTable,
    messages: BTreeMap<u64, MessageState>,
    /// An SQS FIFO queue's deduplication ids, with their first sends.
    deduplicated: BTreeMap<String, crate::sqs::queue::Deduplicated>,
}

#[derive(Debug)]
struct MessageState {
    message: SharedMessage,
    expires_at: Option<Instant>,
    delivery_count: u32,
}

/// The durable state a log describes, as its records are replayed.
#[derive(Debug, Default)]
pub(super) struct Replay {
    /// The highest message id any record names, removed messages included.
    max_message_id: u64,
    exchanges: BTreeMap<Key, ExchangeState>,
    queues: BTreeMap<Key, QueueState>,
    bindings: BTreeSet<(Name, Name, BindingEnd, String, FieldTable)>,
    streams: crate::stream::Streams,
    /// The consumer groups' changes, in log order.
    groups: Vec<crate::group::GroupChange>,
    /// The saga instances' records, in log order: (vhost, exchange, instance).
    sagas: Vec<(Name, Name, crate::saga::Instance)>,
    /// Messages saga transitions sent that no later `Enqueued` record
    /// shows in a queue, by message id.
    saga_sends: BTreeMap<u64, (crate::saga::InstanceKey, SharedMessage)>,
}

impl Replay {
    /// An empty picture, for a broker configured with `config`.
    pub(super) fn new(config: &crate::config::Config) -> Replay {
        Replay {
            streams: crate::stream::Streams::for_config(config),
            ..Replay::default()
        }
    }

    /// Applies one change. Changes about entities or messages the log does
    /// not hold (already deleted, or compacted away) are ignored.
    pub(super) fn apply(&mut self, change: Change) {
        if self.streams.replay(&change) {
            return;
        }
        match change {
            Change::MessageIdsIssued { upto } => {
                self.max_message_id = self.max_message_id.max(upto)
            }
            Change::ExchangeDeclared {
                vhost,
                name,
                kind,
                auto_delete,
                internal,
                arguments,
            } => {
                self.exchanges.insert(
                    (vhost, name),
                    ExchangeState {
                        kind,
                        auto_delete,
                        internal,
                        arguments,
                    },
                );
            }
            Change::ExchangeDeleted { vhost, name } => {
                self.sagas.retain(|(v, e, _)| *v != vhost || *e != name);
                self.saga_sends
                    .retain(|_, ((v, e, _), _)| **v != *vhost || **e != *name);
                self.bindings.retain(|(v, source, destination, _, _)| {
                    *v != vhost
                        || (*source != name && *destination != BindingEnd::Exchange(name.clone()))
                });
                self.exchanges.remove(&(vhost, name));
            }
            Change::QueueDeclared {
                vhost,
                name,
                auto_delete,
                arguments,
            } => {
                let state = QueueState {
                    auto_delete,
                    arguments,
                    messages: BTreeMap::new(),
                    deduplicated: BTreeMap::new(),
                };
                self.queues.insert((vhost, name), state);
            }
            Change::QueueArguments {
                vhost,
                name,
                arguments,
            } => {
                if let Some(state) = self.queues.get_mut(&(vhost, name)) {
                    state.arguments = arguments;
                }
            }
            Change::SqsDeduplicated {
                vhost,
                queue,
                id,
                until,
                message_id,
                sequence_number,
            } => {
                if let Some(state) = self.queues.get_mut(&(vhost, queue)) {
                    let first = crate::sqs::queue::Deduplicated {
                        until,
                        message_id,
                        sequence_number,
                        lsn: None,
                    };
                    state.deduplicated.insert(id, first);
                }
            }
            Change::QueueDeleted { vhost, name } => {
                self.bindings.retain(|(v, _, destination, _, _)| {
                    *v != vhost || *destination != BindingEnd::Queue(name.clone())
                });
                self.queues.remove(&(vhost, name));
            }
            Change::Bound {
                vhost,
                source,
                destination,
                routing_key,
                arguments,
            } => {
                self.bindings
                    .insert((vhost, source, destination, routing_key, arguments));
            }
            Change::Unbound {
                vhost,
                source,
                destination,
                routing_key,
                arguments,
            } => {
                self.bindings
                    .remove(&(vhost, source, destination, routing_key, arguments));
            }
            Change::Enqueued {
                vhost,
                queue,
                seq,
                message,
                expires_at,
                delivery_count,
            } => {
                self.max_message_id = self.max_message_id.max(message.id.0);
                self.saga_sends.remove(&message.id.0);
                if let Some(state) = self.queues.get_mut(&(vhost, queue)) {
                    let message = MessageState {
                        message,
                        expires_at,
                        delivery_count,
                    };
                    state.messages.insert(seq, message);
                }
            }
            Change::Returned {
                vhost,
                queue,
                seq,
                delivery_count,
            } => {
                if let Some(message) = self.message(vhost, queue, seq) {
                    message.delivery_count = delivery_count;
                }
            }
            Change::Removed { vhost, queue, seq } => {
                if let Some(state) = self.queues.get_mut(&(vhost, queue)) {
                    state.messages.remove(&seq);
                }
            }
            Change::Atomic { changes } => {
                for change in changes {
                    self.apply(change);
                }
            }
            Change::Group(change) => self.groups.push(change),
            Change::Saga {
                vhost,
                exchange,
                instance,
                sends,
            } => {
                for message in sends {
                    self.max_message_id = self.max_message_id.max(message.id.0);
                    let key = (
                        vhost.as_str().into(),
                        exchange.as_str().into(),
                        instance.id.clone(),
                    );
                    self.saga_sends.insert(message.id.0, (key, message));
                }
                self.sagas.push((vhost, exchange, instance));
            }
            Change::TopicCreated { .. }
            | Change::TopicDeleted { .. }
            | Change::PartitionsCreated { .. }
            | Change::BatchAppended { .. }
            | Change::LogStartMoved { .. }
            | Change::ProducerIdsIssued { .. }
            | Change::ProducerState { .. } => unreachable!("the streams replayed it above"),
        }
    }

    fn message(&mut self, vhost: Name, queue: Name, seq: u64) -> Option<&mut MessageState> {
        self.queues.get_mut(&(vhost, queue))?.messages.get_mut(&seq)
    }

    /// Installs the replayed state into a fresh broker. Entities of vhosts the
    /// configuration no longer has, and queue arguments that no longer parse,
    /// are left out rather than trusted.
    pub(super) fn install(mut self, broker: &mut Broker) {
        self.streams.recovered(broker.now);
        broker.streams = std::mem::take(&mut self.streams);
        broker.groups = broker.recovered_groups(std::mem::take(&mut self.groups));
        broker.next_message_id = broker.next_message_id.max(self.max_message_id + 1);
        for ((vhost, name), exchange) in self.exchanges {
            let Some((vhost, names)) = broker.vhosts.get_key_value(vhost.as_str()) else {
                continue;
            };
            if names.exchanges.contains_key(name.as_str()) {
                continue;
            }
            let vhost = vhost.clone();
            let ExchangeState {
                kind,
                auto_delete,
                internal,
                arguments,
            } = exchange;
            broker.insert_exchange(&vhost, name, kind, true, auto_delete, internal, arguments);
        }
        for ((vhost, name), queue) in self.queues {
            install_queue(broker, &vhost, &name, queue);
        }
        for (vhost, exchange, instance) in self.sagas {
            broker.sagas.install(&vhost, &exchange, instance);
        }
        // Sent again at the first input, once the broker's lsns are set.
        let unsent: Vec<_> = self.saga_sends.into_values().collect();
        if !unsent.is_empty() {
            broker.saga_outbox.insert(0, unsent);
        }
        for (vhost, source, destination, routing_key, arguments) in self.bindings {
            install_binding(
                broker,
                &vhost,
                &source,
                &destination,
                &routing_key,
                &arguments,
            );
        }
    }
}

fn install_queue(broker: &mut Broker, vhost: &str, name: &str, state: QueueState) {
    let Some((vhost, _)) = broker.vhosts.get_key_value(vhost) else {
        return;
    };
    let vhost = vhost.clone();
    let stream = if StreamArgs::is_stream(&state.arguments) {
        let Ok(args) = StreamArgs::parse(&state.arguments, name, &vhost) else {
            return;
        };
        let Some(topic) = super::stream_queues::topic_name(&vhost, name) else {
            return;
        };
        Some(Box::new(StreamQueue { topic, args }))
    } else {
        None
    };
    let deduplicated = state.deduplicated;
    let sqs =
        crate::sqs::QueueAttributes::from_arguments(name, &state.arguments).map(|attributes| {
            let mut sqs = crate::sqs::queue::SqsQueue::new(attributes, Instant::default());
            // The window's ends pass at the first timer after recovery.
            for (id, first) in deduplicated {
                sqs.deduplication_ends.insert((first.until, id.clone()));
                sqs.deduplication.insert(id, first);
            }
            Box::new(sqs)
        });
    let args = match (&stream, &sqs) {
        (_, Some(sqs)) => super::sqs::sqs_queue_args(&sqs.attributes),
        (Some(_), None) => QueueArgs::default(),
        (None, None) => match QueueArgs::parse(&state.arguments, name, &vhost) {
            Ok(args) => args,
            Err(_) => return,
        },
    };
    let levels = args.max_priority.map_or(1, |max| usize::from(max) + 1);
    let mut queue = Queue {
        name: name.into(),
        vhost: vhost.clone(),
        durable: true,
        owner: None,
        auto_delete: state.auto_delete,
        args,
        arguments: state.arguments,
        ready: Ready::new(levels),
        next_seq: 0,
        consumers: Vec::new(),
        cursor: 0,
        had_consumer: false,
        last_used: Instant::default(),
        head_timer: None,
        expires_timer: None,
        last_delivery: None,
        stream,
        sqs,
    };
    for (seq, message) in state.messages {
        broker.next_message_id = broker.next_message_id.max(message.message.id.0 + 1);
        let entry = Entry {
            level: match broker.is_mutant(crate::Mutant::PriorityIgnored) {
                true => 0,
                false => queue.level_of(&message.message),
            },
            message: message.message,
            seq,
            expires: Expiry::new(message.expires_at),
            // The log does not wait for a delivery to be synced before the
            // message goes out, so any recovered message may have been handed
            // out before the crash: every one is flagged (the mutant flags
            // only those whose requeue was logged).
            redelivered: !broker.is_mutant(crate::Mutant::RecoveredUnflagged)
                || message.delivery_count > 0,
            delivery_count: message.delivery_count,
            logged: true,
        };
        broker.held_bytes += entry.size_bytes();
        queue.ready.push(entry);
        queue.next_seq = seq + 1;
    }
    if let Some(number) = name
        .strip_prefix(super::SERVER_NAMED_QUEUE_PREFIX)
        .and_then(|suffix| suffix.parse::<u64>().ok())
    {
        broker.next_generated_name = broker.next_generated_name.max(number + 1);
    }
    let is_stream = queue.stream.is_some();
    let is_sqs = queue.sqs.is_some();
    let id = broker.queues.insert(queue);
    if is_stream {
        broker.stream_queues.insert(id);
    }
    if is_sqs {
        broker.sqs_queues.insert(id);
    }
    broker
        .vhosts
        .get_mut(&vhost)
        .expect("vhost exists")
        .queues
        .insert(name.into(), id);
    broker.recovered_queues.push(id);
}

fn install_binding(
    broker: &mut Broker,
    vhost: &str,
    source: &str,
    destination: &BindingEnd,
    routing_key: &str,
    arguments: &FieldTable,
) {
    let Some(names) = broker.vhosts.get(vhost) else {
        return;
    };
    let Some(&source) = names.exchanges.get(source) else {
        return;
    };
    let destination = match destination {
        BindingEnd::Queue(name) => names
            .queues
            .get(name.as_str())
            .map(|&id| Destination::Queue(id)),
        BindingEnd::Exchange(name) => names
            .exchanges
            .get(name.as_str())
            .map(|&id| Destination::Exchange(id)),
    };
    let Some(destination) = destination else {
        return;
    };
    broker.route_memo.forget();
    let exchange = &mut broker.exchanges[source];
    if crate::routing::Bindings::validate_arguments(exchange.kind, arguments).is_ok()
        && exchange.bindings.add(destination, routing_key, arguments)
    {
        broker.binding_sources.bound(source, destination);
    }
}

/// The live durable state of a broker as changes that recover it.
pub(super) fn snapshot(broker: &Broker) -> Vec<Change> {
    let mut changes = vec![Change::MessageIdsIssued {
        upto: broker.next_message_id - 1,
    }];
    for (vhost, names) in &broker.vhosts {
        snapshot_entities(broker, vhost, names, &mut changes);
        for &id in names.queues.values() {
            snapshot_messages(broker, id, &mut changes);
        }
    }
    broker.streams.snapshot(&mut changes);
    changes.extend(broker.groups.snapshot().into_iter().map(Change::Group));
    snapshot_sagas(broker, &mut changes);
    changes
}

/// Every instance of each durable saga, ended ones oldest first, with the
/// messages still waiting for their record to be synced.
fn snapshot_sagas(broker: &Broker, changes: &mut Vec<Change>) {
    for ((vhost, exchange), saga) in broker.sagas.iter() {
        if !saga.durable {
            continue;
        }
        for instance in saga.instances_in_log_order() {
            let sends = broker
                .saga_outbox
                .values()
                .flatten()
                .filter(|((v, e, id), _)| v == vhost && e == exchange && *id == instance.id)
                .map(|(_, message)| message.clone())
                .collect();
            changes.push(Change::Saga {
                vhost: vhost.clone(),
                exchange: exchange.clone(),
                instance: instance.clone(),
                sends,
            });
        }
    }
}

fn snapshot_entities(broker: &Broker, vhost: &Name, names: &Vhost, changes: &mut Vec<Change>) {
    let predeclared = |name: &str| {
        PREDECLARED
            .iter()
            .any(|(predeclared, _)| *predeclared == name)
    };
    for (name, &id) in &names.exchanges {
        let exchange = &broker.exchanges[id];
        if exchange.durable && !predeclared(name) {
            changes.push(Change::ExchangeDeclared {
                vhost: vhost.clone(),
                name: name.clone(),
                kind: exchange.kind,
                auto_delete: exchange.auto_delete,
                internal: exchange.internal,
                arguments: exchange.arguments.clone(),
            });
        }
    }
    for (name, &id) in &names.queues {
        let queue = &broker.queues[id];
        if queue.durable {
            changes.push(Change::QueueDeclared {
                vhost: vhost.clone(),
                name: name.clone(),
                auto_delete: queue.auto_delete,
                arguments: queue.arguments.clone(),
            });
        }
    }
    for (name, &id) in &names.exchanges {
        let exchange = &broker.exchanges[id];
        for (destination, routing_key, arguments) in exchange.bindings.iter() {
            if let Some(destination) = broker.durable_binding_end(exchange.durable, destination) {
                changes.push(Change::Bound {
                    vhost: vhost.clone(),
                    source: name.clone(),
                    destination,
                    routing_key: routing_key.to_owned(),
                    arguments: arguments.clone(),
                });
            }
        }
    }
}

fn snapshot_messages(broker: &Broker, id: Id, changes: &mut Vec<Change>) {
    let queue = &broker.queues[id];
    if !queue.durable {
        return;
    }
    // Ready entries, and the queue's entries held unacknowledged by
    // channels, in sequence order.
    let mut entries: Vec<&Entry> = queue.ready.iter().collect();
    for (_, channel) in broker.channels.iter() {
        entries.extend(
            channel
                .unacked()
                .filter(|unacked| unacked.queue == id)
                .map(|unacked| &unacked.entry),
        );
    }
    if let Some(sqs) = queue.sqs.as_deref() {
        entries.extend(sqs.in_flight.values().map(|in_flight| &in_flight.entry));
        entries.extend(sqs.delayed.values());
        for (id, first) in &sqs.deduplication {
            changes.push(Change::SqsDeduplicated {
                vhost: queue.vhost.clone(),
                queue: queue.name.clone(),
                id: id.clone(),
                until: first.until,
                message_id: first.message_id.clone(),
                sequence_number: first.sequence_number.clone(),
            });
        }
    }
    entries.retain(|entry| entry.logged);
    entries.sort_by_key(|entry| entry.seq);
    for entry in entries {
        changes.push(Change::Enqueued {
            vhost: queue.vhost.clone(),
            queue: queue.name.clone(),
            seq: entry.seq,
            message: entry.message.clone(),
            expires_at: entry.expires.at(),
            delivery_count: entry.delivery_count,
        });
    }
}
