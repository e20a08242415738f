//! Exchanges, queues and bindings: declare, delete, bind, unbind, purge, and
//! the access rules (reserved names, exclusive queues, equivalence) around them.

use super::{Broker, Exchange, Fault, Held, SERVER_NAMED_QUEUE_PREFIX};
use crate::arena::Id;
use crate::args::stream::classic_redeclared_as_stream;
use crate::args::{QueueArgs, StreamArgs};
use crate::field::FieldTable;
use crate::message::Name;
use crate::protocol::{DropReason, Event, ExchangeKind, Reply, ReplyCode};
use crate::queue::{Queue, Ready};
use crate::record::{BindingEnd, Change};
use crate::routing::{Bindings, Destination};

/// The longest exchange or queue name, routing key or consumer tag (an AMQP short string).
const NAME_LENGTH_MAX: usize = 255;

/// Flags of exchange.declare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ExchangeFlags {
    pub(super) durable: bool,
    pub(super) auto_delete: bool,
    pub(super) internal: bool,
}

/// Flags of queue.declare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct QueueFlags {
    pub(super) durable: bool,
    pub(super) exclusive: bool,
    pub(super) auto_delete: bool,
}

/// Refuses a name longer than an AMQP short string.
#[inline]
pub(super) fn check_length(what: &str, name: &str) -> Result<(), Fault> {
    if name.len() > NAME_LENGTH_MAX {
        return Err(Fault::new(
            ReplyCode::SyntaxError,
            format!("{what} longer than {NAME_LENGTH_MAX} bytes"),
        ));
    }
    Ok(())
}

fn default_exchange_refused() -> Fault {
    Fault::new(
        ReplyCode::AccessRefused,
        "operation not permitted on the default exchange",
    )
}

impl Broker {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn insert_exchange(
        &mut self,
        vhost: &Name,
        name: Name,
        kind: ExchangeKind,
        durable: bool,
        auto_delete: bool,
        internal: bool,
        arguments: FieldTable,
    ) -> Id {
        if kind == ExchangeKind::Saga {
            // Checked when declared: a recovered definition was valid then.
            if let Ok(definition) = crate::saga::Definition::parse(&arguments) {
                self.sagas
                    .define(vhost.clone(), name.clone(), definition, durable);
            }
        }
        let bindings = Bindings::new(kind);
        let exchange = Exchange {
            name: name.clone(),
            kind,
            durable,
            auto_delete,
            internal,
            arguments,
            bindings,
        };
        let id = self.exchanges.insert(exchange);
        self.route_memo.forget();
        self.vhosts
            .get_mut(vhost)
            .expect("vhost exists")
            .exchanges
            .insert(name, id);
        id
    }

    /// The exchange of that name, or 404.
    pub(super) fn find_exchange(&self, vhost: &str, name: &str) -> Result<Id, Fault> {
        self.vhosts[vhost]
            .exchanges
            .get(name)
            .copied()
            .ok_or_else(|| {
                Fault::new(
                    ReplyCode::NotFound,
                    format!("no exchange '{name}' in vhost '{vhost}'"),
                )
            })
    }

    pub(super) fn declare_exchange(
        &mut self,
        channel: Id,
        name: &str,
        kind_name: &str,
        passive: bool,
        flags: ExchangeFlags,
        arguments: FieldTable,
    ) -> Result<(), Fault> {
        check_length("exchange name", name)?;
        let vhost = self.vhost_of(channel);
        if name.is_empty() {
            return Err(default_exchange_refused());
        }
        if passive {
            self.find_exchange(&vhost, name)?;
            self.reply(channel, Reply::ExchangeDeclareOk);
            return Ok(());
        }
        let Some(kind) = ExchangeKind::parse(kind_name) else {
            return Err(Fault::new(
                ReplyCode::CommandInvalid,
                format!("unknown exchange type '{kind_name}'"),
            ));
        };
        match self.vhosts[&vhost].exchanges.get(name).copied() {
            Some(existing) => self.check_exchange_equivalent(existing, &vhost, kind, flags)?,
            None if name.starts_with("amq.") => {
                return Err(Fault::new(
                    ReplyCode::AccessRefused,
                    format!("exchange name '{name}' contains reserved prefix 'amq.*'"),
                ));
            }
            None => {
                if kind == ExchangeKind::Saga {
                    Broker::saga_definition(&vhost, name, &arguments)?;
                }
                if flags.durable {
                    self.persist(Change::ExchangeDeclared {
                        vhost: vhost.clone(),
                        name: name.into(),
                        kind,
                        auto_delete: flags.auto_delete,
                        internal: flags.internal,
                        arguments: arguments.clone(),
                    });
                }
                self.insert_exchange(
                    &vhost,
                    name.into(),
                    kind,
                    flags.durable,
                    flags.auto_delete,
                    flags.internal,
                    arguments,
                );
            }
        }
        self.reply(channel, Reply::ExchangeDeclareOk);
        Ok(())
    }

    fn check_exchange_equivalent(
        &self,
        id: Id,
        vhost: &str,
        kind: ExchangeKind,
        flags: ExchangeFlags,
    ) -> Result<(), Fault> {
        let exchange = &self.exchanges[id];
        let differences = [
            (
                "type",
                kind.as_str().to_owned(),
                exchange.kind.as_str().to_owned(),
            ),
            (
                "durable",
                flags.durable.to_string(),
                exchange.durable.to_string(),
            ),
            (
                "auto_delete",
                flags.auto_delete.to_string(),
                exchange.auto_delete.to_string(),
            ),
            (
                "internal",
                flags.internal.to_string(),
                exchange.internal.to_string(),
            ),
        ];
        for (arg, received, current) in differences {
            if received != current {
                return Err(Fault::new(
                    ReplyCode::PreconditionFailed,
                    format!(
                        "inequivalent arg '{arg}' for exchange '{}' in vhost '{vhost}': received '{received}' but current is '{current}'",
                        exchange.name
                    ),
                ));
            }
        }
        Ok(())
    }

    pub(super) fn delete_exchange_command(
        &mut self,
        channel: Id,
        name: &str,
        if_unused: bool,
    ) -> Result<(), Fault> {
        check_length("exchange name", name)?;
        let vhost = self.vhost_of(channel);
        if name.is_empty() {
            return Err(default_exchange_refused());
        }
        if name.starts_with("amq.") {
            return Err(Fault::new(
                ReplyCode::AccessRefused,
                format!("deletion of system exchange '{name}' in vhost '{vhost}' refused"),
            ));
        }
        // Deleting a missing exchange succeeds, as in RabbitMQ 3.x.
        if let Some(&id) = self.vhosts[&vhost].exchanges.get(name) {
            if if_unused && !self.exchanges[id].bindings.is_empty() {
                return Err(Fault::new(
                    ReplyCode::PreconditionFailed,
                    format!("exchange '{name}' in vhost '{vhost}' in use"),
                ));
            }
            self.delete_exchange(&vhost, id);
        }
        self.reply(channel, Reply::ExchangeDeleteOk);
        Ok(())
    }

    /// Removes an exchange, the bindings from it, and the bindings to it from other exchanges.
    pub(super) fn delete_exchange(&mut self, vhost: &Name, id: Id) {
        let exchange = self.exchanges.remove(id).expect("exchange exists");
        self.route_memo.forget();
        if exchange.kind == ExchangeKind::Saga {
            self.sagas.remove(vhost, &exchange.name);
        }
        if exchange.durable {
            let (vhost, name) = (vhost.clone(), exchange.name.clone());
            self.persist(Change::ExchangeDeleted { vhost, name });
        }
        self.vhosts
            .get_mut(vhost)
            .expect("vhost exists")
            .exchanges
            .remove(&exchange.name);
        for (destination, _, _) in exchange.bindings.iter() {
            self.binding_sources.unbound(id, destination, 1);
        }
        self.remove_bindings_to(vhost, Destination::Exchange(id));
    }

    /// Removes every binding leading to `destination`, then deletes auto-delete
    /// exchanges that lost their last binding.
    /// It visits only the exchanges bound to `destination`.
    fn remove_bindings_to(&mut self, vhost: &Name, destination: Destination) {
        for (source, count) in self.binding_sources.take(destination) {
            // An auto-delete exchange deleted on the way took its bindings
            // out of the index with it.
            let Some(exchange) = self.exchanges.get_mut(source) else {
                continue;
            };
            let removed = exchange.bindings.remove_destination(destination);
            assert_eq!(removed, count as usize, "the index counts every binding");
            self.auto_delete_exchange(vhost, source);
        }
    }

    /// Deletes an auto-delete exchange whose last binding just went.
    fn auto_delete_exchange(&mut self, vhost: &Name, id: Id) {
        let Some(exchange) = self.exchanges.get(id) else {
            return;
        };
        if exchange.auto_delete && exchange.bindings.is_empty() {
            self.delete_exchange(vhost, id);
        }
    }

    pub(super) fn bind_exchange(
        &mut self,
        channel: Id,
        destination: &str,
        source: &str,
        routing_key: &str,
        arguments: &FieldTable,
        bind: bool,
    ) -> Result<(), Fault> {
        check_length("exchange name", destination)?;
        check_length("exchange name", source)?;
        check_length("routing key", routing_key)?;
        let vhost = self.vhost_of(channel);
        if destination.is_empty() || source.is_empty() {
            return Err(default_exchange_refused());
        }
        let source_id = self.find_exchange(&vhost, source)?;
        let destination_id = self.find_exchange(&vhost, destination)?;
        let kind = self.exchanges[source_id].kind;
        Bindings::validate_arguments(kind, arguments)
            .map_err(|text| Fault::worded(ReplyCode::PreconditionFailed, text))?;
        let destination = Destination::Exchange(destination_id);
        self.change_binding(&vhost, source_id, destination, routing_key, arguments, bind);
        let reply = if bind {
            Reply::ExchangeBindOk
        } else {
            Reply::ExchangeUnbindOk
        };
        self.reply(channel, reply);
        Ok(())
    }

    /// The queue a command names: an empty name means the channel's last declared queue.
    pub(super) fn resolve_queue_name(&self, channel: Id, name: &str) -> Result<Name, Fault> {
        check_length("queue name", name)?;
        if !name.is_empty() {
            return Ok(name.into());
        }
        self.channels[channel]
            .last_queue
            .clone()
            .ok_or_else(|| Fault::new(ReplyCode::NotFound, "no previously declared queue"))
    }

    /// The queue of that name, usable from this channel's connection: 404 if
    /// missing, 405 if it is another connection's exclusive queue.
    pub(super) fn find_queue(&self, channel: Id, name: &str) -> Result<Id, Fault> {
        let vhost = self.vhost_of(channel);
        let queue = self.vhosts[&vhost]
            .queues
            .get(name)
            .copied()
            .ok_or_else(|| {
                Fault::new(
                    ReplyCode::NotFound,
                    format!("no queue '{name}' in vhost '{vhost}'"),
                )
            })?;
        self.check_exclusive_access(channel, queue)?;
        Ok(queue)
    }

    fn check_exclusive_access(&self, channel: Id, queue: Id) -> Result<(), Fault> {
        let queue = &self.queues[queue];
        match queue.owner {
            Some(owner) if owner != self.channels[channel].conn => Err(Self::locked(queue)),
            _ => Ok(()),
        }
    }

    fn locked(queue: &Queue) -> Fault {
        Fault::new(
            ReplyCode::ResourceLocked,
            format!(
                "cannot obtain exclusive access to locked queue '{}' in vhost '{}'. It could be originally declared on another connection or the exclusive property value does not match that of the original declaration.",
                queue.name, queue.vhost
            ),
        )
    }

    pub(super) fn declare_queue(
        &mut self,
        channel: Id,
        name: &str,
        passive: bool,
        flags: QueueFlags,
        arguments: &FieldTable,
    ) -> Result<(), Fault> {
        let given = flags;
        // An exclusive queue dies with its connection, so RabbitMQ declares
        // (and compares) it as non-durable whatever the flag says.
        let flags = QueueFlags {
            durable: flags.durable && !flags.exclusive,
            ..flags
        };
        let vhost = self.vhost_of(channel);
        // A passive declare names its queue literally: RabbitMQ expands the
        // empty name to the last declared queue only in the other commands.
        let name: Name = name.into();
        check_length("queue name", &name)?;
        if Self::is_reply_queue_name(&name) {
            return self.declare_reply_queue(channel, &name);
        }
        // RabbitMQ refuses the reserved prefix on every non-passive declare,
        // before looking the queue up: even a server-named queue cannot be
        // redeclared by its name.
        if !passive && name.starts_with("amq.") {
            return Err(Fault::new(
                ReplyCode::AccessRefused,
                format!("queue name '{name}' contains reserved prefix 'amq.*'"),
            ));
        }
        let id = if passive {
            // A passive declare asks the queue for its counts, which RabbitMQ counts as a use.
            let existing = self.find_queue(channel, &name)?;
            self.touch_queue(existing);
            existing
        } else if let Some(&existing) = self.vhosts[&vhost].queues.get(&name) {
            self.check_queue_equivalent(channel, existing, flags, arguments)?;
            self.touch_queue(existing);
            existing
        } else if crate::sqs::attributes::is_sqs(arguments) {
            return Err(Fault::new(
                ReplyCode::PreconditionFailed,
                format!("queue '{name}' in vhost '{vhost}': a queue of type 'sqs' is created through the SQS API"),
            ));
        } else if StreamArgs::is_stream(arguments) {
            self.check_queue_limit(&vhost, &name)?;
            self.declare_stream_queue(channel, name, given, arguments)?
        } else {
            let name = if name.is_empty() {
                self.generate_name(SERVER_NAMED_QUEUE_PREFIX)
            } else {
                name
            };
            self.check_queue_limit(&vhost, &name)?;
            let args = QueueArgs::parse(arguments, &name, &vhost)
                .map_err(|text| Fault::worded(ReplyCode::PreconditionFailed, text))?;
            self.insert_queue(channel, name, flags, args, arguments)
        };
        let reply = self.declare_ok(id);
        self.channels[channel].last_queue = Some(self.queues[id].name.clone());
        self.reply(channel, reply);
        Ok(())
    }

    /// 406 when the vhost holds as many queues as it may.
    fn check_queue_limit(&self, vhost: &Name, name: &str) -> Result<(), Fault> {
        match self.config.queues_per_vhost_max {
            Some(max) if self.vhosts[vhost].queues.len() >= max => Err(Fault::new(
                ReplyCode::PreconditionFailed,
                format!(
                    "cannot declare queue '{name}': queue limit in vhost '{vhost}' ({max}) is reached"
                ),
            )),
            _ => Ok(()),
        }
    }

    fn check_queue_equivalent(
        &self,
        channel: Id,
        id: Id,
        flags: QueueFlags,
        arguments: &FieldTable,
    ) -> Result<(), Fault> {
        let queue = &self.queues[id];
        self.check_exclusive_access(channel, id)?;
        if queue.owner.is_some() != flags.exclusive {
            return Err(Self::locked(queue));
        }
        for (arg, received, current) in [
            ("durable", flags.durable, queue.durable),
            ("auto_delete", flags.auto_delete, queue.auto_delete),
        ] {
            if received != current {
                return Err(Fault::new(
                    ReplyCode::PreconditionFailed,
                    format!(
                        "inequivalent arg '{arg}' for queue '{}' in vhost '{}': received '{received}' but current is '{current}'",
                        queue.name, queue.vhost
                    ),
                ));
            }
        }
        // RabbitMQ compares a redeclare's arguments without validating them.
        let equivalent = match &queue.stream {
            Some(stream) => stream
                .args
                .check_equivalent(arguments, &queue.name, &queue.vhost),
            None => {
                classic_redeclared_as_stream(arguments, &queue.name, &queue.vhost).and_then(|()| {
                    queue
                        .args
                        .check_equivalent(arguments, &queue.name, &queue.vhost)
                })
            }
        };
        equivalent.map_err(|text| Fault::worded(ReplyCode::PreconditionFailed, text))
    }

    pub(super) fn insert_queue(
        &mut self,
        channel: Id,
        name: Name,
        flags: QueueFlags,
        args: QueueArgs,
        arguments: &FieldTable,
    ) -> Id {
        let conn = self.channels[channel].conn;
        let vhost = self.vhost_of(channel);
        let levels = args.max_priority.map_or(1, |max| usize::from(max) + 1);
        let queue = Queue {
            name: name.clone(),
            vhost: vhost.clone(),
            durable: flags.durable,
            owner: flags.exclusive.then_some(conn),
            auto_delete: flags.auto_delete,
            args,
            arguments: arguments.clone(),
            ready: Ready::new(levels),
            next_seq: 0,
            consumers: Vec::new(),
            cursor: 0,
            had_consumer: false,
            last_used: self.now,
            head_timer: None,
            expires_timer: None,
            last_delivery: None,
            stream: None,
            sqs: None,
        };
        if flags.durable {
            self.persist(Change::QueueDeclared {
                vhost: vhost.clone(),
                name: name.clone(),
                auto_delete: flags.auto_delete,
                arguments: arguments.clone(),
            });
        }
        let id = self.queues.insert(queue);
        self.route_memo.forget();
        self.vhosts
            .get_mut(&vhost)
            .expect("vhost exists")
            .queues
            .insert(name, id);
        if flags.exclusive {
            self.connections
                .get_mut(&conn)
                .expect("connection is open")
                .exclusive_queues
                .insert(id);
        }
        self.touch_queue(id);
        id
    }

    pub(super) fn bind_queue(
        &mut self,
        channel: Id,
        queue: &str,
        exchange: &str,
        routing_key: &str,
        arguments: &FieldTable,
        bind: bool,
    ) -> Result<(), Fault> {
        check_length("exchange name", exchange)?;
        check_length("routing key", routing_key)?;
        let vhost = self.vhost_of(channel);
        // An empty queue name means the last declared queue and then an empty
        // routing key means that queue's name too, as in RabbitMQ.
        let routing_key: Name = if queue.is_empty() && routing_key.is_empty() {
            self.resolve_queue_name(channel, queue)?
        } else {
            routing_key.into()
        };
        let queue = self.resolve_queue_name(channel, queue)?;
        if exchange.is_empty() {
            return Err(default_exchange_refused());
        }
        let exchange_id = self.find_exchange(&vhost, exchange)?;
        let queue_id = self.find_queue(channel, &queue)?;
        let kind = self.exchanges[exchange_id].kind;
        Bindings::validate_arguments(kind, arguments)
            .map_err(|text| Fault::worded(ReplyCode::PreconditionFailed, text))?;
        let destination = Destination::Queue(queue_id);
        self.change_binding(
            &vhost,
            exchange_id,
            destination,
            &routing_key,
            arguments,
            bind,
        );
        let reply = if bind {
            Reply::QueueBindOk
        } else {
            Reply::QueueUnbindOk
        };
        self.reply(channel, reply);
        Ok(())
    }

    /// Adds or removes a binding (validated already), logging it when both of
    /// its ends are durable; an auto-delete source that loses its last binding goes.
    fn change_binding(
        &mut self,
        vhost: &Name,
        source: Id,
        destination: Destination,
        routing_key: &str,
        arguments: &FieldTable,
        bind: bool,
    ) {
        self.route_memo.forget();
        let exchange = &mut self.exchanges[source];
        let changed = if bind {
            exchange.bindings.add(destination, routing_key, arguments)
        } else {
            exchange
                .bindings
                .remove(destination, routing_key, arguments)
        };
        match (changed, bind) {
            (false, _) => {}
            (true, true) => self.binding_sources.bound(source, destination),
            (true, false) => self.binding_sources.unbound(source, destination, 1),
        }
        let exchange = &self.exchanges[source];
        let source_durable = exchange.durable;
        let source_name = exchange.name.clone();
        if let Some(end) = self
            .durable_binding_end(source_durable, destination)
            .filter(|_| changed)
        {
            let (vhost, routing_key, arguments) =
                (vhost.clone(), routing_key.to_owned(), arguments.clone());
            let change = if bind {
                Change::Bound {
                    vhost,
                    source: source_name,
                    destination: end,
                    routing_key,
                    arguments,
                }
            } else {
                Change::Unbound {
                    vhost,
                    source: source_name,
                    destination: end,
                    routing_key,
                    arguments,
                }
            };
            self.persist(change);
        }
        if !bind {
            self.auto_delete_exchange(vhost, source);
        }
    }

    /// The logged name of a binding's destination, when the binding is
    /// durable: its source and its destination both survive a restart.
    pub(super) fn durable_binding_end(
        &self,
        source_durable: bool,
        destination: Destination,
    ) -> Option<BindingEnd> {
        if !source_durable {
            return None;
        }
        match destination {
            Destination::Queue(id) => {
                let queue = &self.queues[id];
                queue.durable.then(|| BindingEnd::Queue(queue.name.clone()))
            }
            Destination::Exchange(id) => {
                let exchange = &self.exchanges[id];
                exchange
                    .durable
                    .then(|| BindingEnd::Exchange(exchange.name.clone()))
            }
        }
    }

    pub(super) fn purge_queue(&mut self, channel: Id, name: &str) -> Result<(), Fault> {
        let name = self.resolve_queue_name(channel, name)?;
        let id = self.find_queue(channel, &name)?;
        self.refuse_on_stream(id, "queue.purge")?;
        let entries = self.queues[id].ready.drain();
        if let Some(sqs) = self.queues[id].sqs.as_deref_mut() {
            sqs.receipts.clear();
        }
        self.held_bytes -= entries
            .iter()
            .map(crate::queue::Entry::size_bytes)
            .sum::<u64>();
        let message_count = count_u32(entries.len());
        for entry in entries {
            self.log_removed(id, &entry);
            let event = Event::Dropped {
                message: entry.message.id,
                queue: Some(Held::queue(id)),
                reason: DropReason::Purged,
            };
            self.event(event);
        }
        self.reply(channel, Reply::QueuePurgeOk { message_count });
        Ok(())
    }

    pub(super) fn delete_queue_command(
        &mut self,
        channel: Id,
        name: &str,
        if_unused: bool,
        if_empty: bool,
    ) -> Result<(), Fault> {
        let name = self.resolve_queue_name(channel, name)?;
        let vhost = self.vhost_of(channel);
        // Deleting a missing queue succeeds with a count of 0, as in RabbitMQ 3.x.
        if !self.vhosts[&vhost].queues.contains_key(&name) {
            self.reply(channel, Reply::QueueDeleteOk { message_count: 0 });
            return Ok(());
        }
        let id = self.find_queue(channel, &name)?;
        let queue = &self.queues[id];
        // A stream queue is deleted whatever the two flags ask, as in RabbitMQ.
        if if_unused && !queue.consumers.is_empty() && queue.stream.is_none() {
            return Err(Fault::new(
                ReplyCode::PreconditionFailed,
                format!("queue '{name}' in vhost '{vhost}' in use"),
            ));
        }
        if if_empty && !queue.ready.is_empty() {
            return Err(Fault::new(
                ReplyCode::PreconditionFailed,
                format!("queue '{name}' in vhost '{vhost}' not empty"),
            ));
        }
        let message_count = self.delete_queue(id, true);
        self.reply(channel, Reply::QueueDeleteOk { message_count });
        Ok(())
    }

    /// Deletes a queue: cancels its consumers (notifying them when `notify`),
    /// drops its ready messages (deletion never dead-letters) and removes its
    /// bindings. Returns how many ready messages it held.
    pub(super) fn delete_queue(&mut self, id: Id, notify: bool) -> u32 {
        if self.queues[id].sqs.is_some() {
            self.release_sqs_queue(id);
        }
        let consumers = self.queues[id].consumers.clone();
        for consumer in consumers {
            let removed = self
                .consumers
                .remove(consumer)
                .expect("a queue's consumer exists");
            let channel = &mut self.channels[removed.channel];
            channel.consumers.remove(&removed.tag);
            if notify {
                self.reply(
                    removed.channel,
                    Reply::Cancel {
                        consumer_tag: removed.tag,
                    },
                );
            }
        }
        if self.queues[id].durable {
            let queue = &self.queues[id];
            let (vhost, name) = (queue.vhost.clone(), queue.name.clone());
            self.persist(Change::QueueDeleted { vhost, name });
        }
        if self.queues[id].stream.is_some() {
            self.delete_stream_topic(id);
        }
        self.disarm_queue_timers(id);
        let mut queue = self.queues.remove(id).expect("queue exists");
        self.route_memo.forget();
        self.name_queue_in_events(id, &queue.name);
        // Its deliveries still unacknowledged keep its name for their events.
        for channel in self.channels.values_mut() {
            for unacked in channel.unacked_mut().filter(|unacked| unacked.queue == id) {
                unacked.queue_gone = Some(Box::new(queue.name.clone()));
            }
        }
        let entries = queue.ready.drain();
        self.held_bytes -= entries
            .iter()
            .map(crate::queue::Entry::size_bytes)
            .sum::<u64>();
        // Held once for all of its drops: the queue is gone, its id names nothing.
        let held = (!entries.is_empty()).then(|| self.hold_name(queue.name.clone()));
        for entry in &entries {
            let event = Event::Dropped {
                message: entry.message.id,
                queue: held,
                reason: DropReason::QueueDeleted,
            };
            self.event(event);
        }
        self.vhosts
            .get_mut(&queue.vhost)
            .expect("vhost exists")
            .queues
            .remove(&queue.name);
        if let Some(owner) = queue.owner {
            if let Some(connection) = self.connections.get_mut(&owner) {
                connection.exclusive_queues.remove(&id);
            }
        }
        self.remove_bindings_to(&queue.vhost, Destination::Queue(id));
        count_u32(entries.len())
    }

    /// Marks a queue as used now, for `x-expires`.
    pub(super) fn touch_queue(&mut self, id: Id) {
        self.queues[id].last_used = self.now;
        self.arm_expires_timer(id);
    }
}

/// A count for a 32-bit protocol field, saturating.
pub(super) fn count_u32(count: usize) -> u32 {
    u32::try_from(count).unwrap_or(u32::MAX)
}
