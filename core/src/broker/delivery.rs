//! The message path into queues: publish, route, enqueue, confirms and
//! returns. What a queue does with a message it will not keep (dead-letter
//! or drop) is in `dead_lettering`.

use super::durability::PendingConfirm;
use super::entities::check_length;
use super::{Broker, Exchange, Fault, Held};
use crate::arena::{Arena, Id};
use crate::args::{parse_expiration, Overflow};
use crate::channel::PendingPublish;
use crate::config::Mutant;
use crate::message::Name;
use crate::message::SharedMessage;
use crate::message::{Message, MessageId};
use crate::protocol::{
    ChannelId, ConnectionId, DeadLetterReason, DropReason, Event, ExchangeKind, PublishProperties,
    Reply, ReplyCode,
};
use crate::queue::{Entry, Expiry};
use crate::routing::{Destination, RouteRules};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A publish's message id, and where it was published.
struct Published {
    id: MessageId,
    conn: ConnectionId,
    number: ChannelId,
}

/// What the queues a publish was routed to did with it.
#[derive(Default)]
struct Enqueued {
    /// Some queue refused it (reject-publish overflow).
    refused: bool,
    /// The highest lsn of the `Enqueued` records it was logged under.
    durable_lsn: Option<u64>,
}

impl Broker {
    /// basic.publish (immediate=false): validates, sets its TTL, then routes
    /// it now or, in a transaction, at commit.
    pub(super) fn publish(
        &mut self,
        channel: Id,
        mut publish: PendingPublish,
    ) -> Result<(), Fault> {
        let state = &mut self.channels[channel];
        // Noted before anything can refuse the publish, so that the driver
        // and the broker agree on what a later repeat carries (an
        // immediate=true publish, refused before this, closes the connection).
        state.note_properties(&mut publish.properties);
        let properties = state.properties_of(&publish.properties);
        let (has_user_id, has_expiration, has_reply_to) = (
            properties.user_id.is_some(),
            properties.expiration.is_some(),
            properties.reply_to.is_some(),
        );
        // What else the publish needs from its channel, read in this one look-up.
        let in_transaction = state.tx.is_some();
        let counters = &mut self.counters.0;
        counters.received += 1;
        counters.received_confirm += u64::from(state.next_confirm_seq.is_some());
        let last_exchange = state
            .last_exchange
            .as_ref()
            .filter(|(last, _)| *last == publish.exchange)
            .map(|&(_, id)| id);
        self.check_publish_sizes(&publish)?;
        let start = self.publish_start(channel, last_exchange, &publish.exchange)?;
        if let Start::Exchange(id) = start {
            if self.exchanges[id].kind == ExchangeKind::Saga {
                let properties = self.channels[channel].properties_of(&publish.properties);
                Broker::check_saga_start(properties.message_id.as_ref(), &publish.exchange)?;
            }
        }
        // After the exchange and before user_id, as RabbitMQ rewrites it.
        if has_reply_to {
            self.address_replies(channel, &mut publish)?;
        }
        // After the exchange, as RabbitMQ checks them (`rabbit_channel`, and
        // a run against RabbitMQ 3.10.8: a publish with a foreign user_id to a
        // missing exchange gets 404, to an internal one 403).
        if has_user_id {
            self.check_user_id(channel, &publish)?;
        }
        if has_expiration {
            let properties = self.channels[channel].properties_of(&publish.properties);
            let expiration = properties
                .expiration
                .as_deref()
                .expect("the publish has one");
            let ttl_ms = parse_expiration(expiration)
                .map_err(|text| Fault::worded(ReplyCode::PreconditionFailed, text))?;
            publish.ttl_ms = Some(ttl_ms);
        }
        if in_transaction {
            self.hold_in_transaction(channel, publish);
        } else {
            self.route_publish(channel, publish, start);
        }
        Ok(())
    }

    /// The body within the broker's message size limit (406), the exchange
    /// name and the routing key within AMQP's short strings.
    #[inline(always)]
    fn check_publish_sizes(&self, publish: &PendingPublish) -> Result<(), Fault> {
        let size_max = self.config.max_message_size_bytes;
        if publish.body.len() > size_max {
            return Err(Fault::new(
                ReplyCode::PreconditionFailed,
                format!(
                    "message size {} is larger than configured max size {size_max}",
                    publish.body.len()
                ),
            ));
        }
        check_length("exchange name", &publish.exchange)?;
        check_length("routing key", &publish.routing_key)
    }

    /// Where a publish to `exchange` starts routing: the default exchange,
    /// or an existing exchange (404) that is not internal (403).
    #[inline(always)]
    fn publish_start(
        &mut self,
        channel: Id,
        last_exchange: Option<Id>,
        exchange: &Name,
    ) -> Result<Start, Fault> {
        if exchange.is_empty() {
            return Ok(Start::Default);
        }
        let id = self.publish_exchange(channel, last_exchange, exchange)?;
        if self.exchanges[id].internal {
            let vhost = &self.connections[&self.channels[channel].conn].vhost;
            return Err(Fault::new(
                ReplyCode::AccessRefused,
                format!("cannot publish to internal exchange '{exchange}' in vhost '{vhost}'"),
            ));
        }
        Ok(Start::Exchange(id))
    }

    /// A `user_id` property must name the connection's user (406).
    #[cold]
    fn check_user_id(&self, channel: Id, publish: &PendingPublish) -> Result<(), Fault> {
        let state = &self.channels[channel];
        let properties = state.properties_of(&publish.properties);
        let user_id = properties
            .user_id
            .as_ref()
            .expect("the publish has a user_id");
        let user = &self.connections[&state.conn].user;
        if user_id != user {
            return Err(Fault::new(
                ReplyCode::PreconditionFailed,
                format!("user_id property set to '{user_id}' but authenticated user was '{user}'"),
            ));
        }
        Ok(())
    }

    /// Keeps a transaction's publish until tx.commit routes it.
    fn hold_in_transaction(&mut self, channel: Id, mut publish: PendingPublish) {
        let state = &mut self.channels[channel];
        if matches!(publish.properties, PublishProperties::Repeated) {
            // Routed at commit, when later publishes may have changed the
            // channel's last properties: a repeat is resolved now.
            let repeated = Arc::clone(state.properties_of(&publish.properties));
            publish.properties = PublishProperties::Given(repeated);
        }
        let body_bytes = publish.body.len() as u64;
        state
            .tx
            .as_mut()
            .expect("the channel is transactional")
            .push(publish);
        self.held_bytes += body_bytes;
    }

    /// The exchange a channel publishes to: `last`, the channel's last one
    /// when it had the same name, if it still exists; else looked up (404).
    #[inline]
    fn publish_exchange(
        &mut self,
        channel: Id,
        last: Option<Id>,
        name: &Name,
    ) -> Result<Id, Fault> {
        // A live id names the exchange it was issued for: names never
        // change, and a deleted exchange's id finds nothing.
        if let Some(id) = last.filter(|&id| self.exchanges.get(id).is_some()) {
            return Ok(id);
        }
        let vhost = &self.connections[&self.channels[channel].conn].vhost;
        let id = self.find_exchange(vhost, name)?;
        self.channels[channel].last_exchange = Some((name.clone(), id));
        Ok(id)
    }

    /// Where a publish to `exchange` starts routing, looked up now (a
    /// transaction's publishes are routed at commit, by then the exchange may be gone).
    pub(super) fn start_of(&self, vhost: &str, exchange: &str) -> Start {
        if exchange.is_empty() {
            return Start::Default;
        }
        self.vhosts[vhost]
            .exchanges
            .get(exchange)
            .map_or(Start::Nowhere, |&id| Start::Exchange(id))
    }

    /// Numbers the message, routes it to its queues from `start`, then returns and confirms it.
    pub(super) fn route_publish(&mut self, channel: Id, pending: PendingPublish, start: Start) {
        let PendingPublish {
            exchange,
            routing_key,
            properties,
            body,
            ttl_ms,
            mandatory,
        } = pending;
        let id = MessageId(self.next_message_id);
        self.next_message_id += 1;
        let route_alone = self.is_mutant(Mutant::PropertiesCachedByRoute);
        let state = &mut self.channels[channel];
        let confirm_seq = state.next_confirm_seq;
        if let Some(seq) = confirm_seq {
            state.next_confirm_seq = Some(seq + 1);
        }
        let publish = Published {
            id,
            conn: state.conn,
            number: state.number,
        };
        // The remembered route is looked up by the publish's own key, before
        // the key moves into the message (reading it back from there waits on
        // the stores that just wrote it).
        let mut targets = std::mem::take(&mut self.target_scratch);
        let remembered = match self.route_memo.get(channel, start, &routing_key) {
            Some(remembered) => {
                targets.extend_from_slice(remembered);
                true
            }
            None => false,
        };
        let envelope = state.note_envelope(exchange, routing_key, &properties, route_alone);
        let message = self.message_pool.allocate(id, envelope, body);
        self.emit(|| Event::Published {
            message: id,
            conn: publish.conn,
            channel: publish.number,
            confirm_seq,
        });
        if !remembered {
            if let Start::Exchange(exchange) = start {
                if self.exchanges[exchange].kind == ExchangeKind::Saga {
                    self.target_scratch = targets;
                    self.publish_to_saga(channel, exchange, message, &publish, confirm_seq);
                    return;
                }
            }
            self.route_message(channel, start, &message, &mut targets);
        }
        let mut routed = !targets.is_empty();
        self.counters.0.routed += u64::from(routed);
        let (unrouted, mut enqueued) = self.enqueue_everywhere(&targets, message, ttl_ms);
        self.note_publisher_pressure(publish.conn, &targets);
        targets.clear();
        self.target_scratch = targets;
        if let Some(message) = unrouted {
            if start == Start::Default && Broker::is_saga_reply(message.routing_key()) {
                let vhost = self.connections[&publish.conn].vhost.clone();
                enqueued.durable_lsn = self.saga_reply(&vhost, &message);
                routed = true;
                self.message_pool.recycle(message);
            } else {
                self.unroutable(channel, start, message, mandatory);
            }
        }
        if let Some(seq) = confirm_seq {
            self.confirm_publish(channel, &publish, seq, routed, enqueued);
        }
    }

    /// A publish to a saga exchange: starts or aborts a saga, and is
    /// confirmed once the transition's record is synced (nacked when the
    /// exchange runs as many sagas as it may).
    fn publish_to_saga(
        &mut self,
        channel: Id,
        exchange: Id,
        message: SharedMessage,
        publish: &Published,
        confirm_seq: Option<u64>,
    ) {
        let vhost = self.connections[&publish.conn].vhost.clone();
        let name = self.exchanges[exchange].name.clone();
        let (refused, durable_lsn) = self.saga_publish(&vhost, &name, &message);
        self.counters.0.routed += 1;
        self.message_pool.recycle(message);
        if let Some(seq) = confirm_seq {
            let enqueued = Enqueued {
                refused,
                durable_lsn,
            };
            self.confirm_publish(channel, publish, seq, true, enqueued);
        }
    }

    /// Routes a message whose route is not remembered into `targets`, and
    /// remembers the route when the key alone decided it.
    #[inline(always)]
    fn route_message(
        &mut self,
        channel: Id,
        start: Start,
        message: &SharedMessage,
        targets: &mut Vec<Id>,
    ) {
        let conn = self.channels[channel].conn;
        // Only the default exchange needs the vhost's queue names.
        let queues =
            (start == Start::Default).then(|| &self.vhosts[&*self.connections[&conn].vhost].queues);
        let rules = self.route_rules();
        let by_key_alone = route(
            queues,
            &self.exchanges,
            &mut self.route_scratch,
            start,
            message,
            targets,
            rules,
        );
        if by_key_alone {
            self.route_memo
                .remember(channel, start, message.routing_key(), targets);
        }
    }

    /// Enqueues the message on every target. The last queue takes the
    /// broker's reference to the message and the others a copy of it: every
    /// change of a reference count is an atomic instruction, and few
    /// instructions on this path cost more. Gives back the message when no
    /// queue took it, and what the queues did.
    #[inline(always)]
    fn enqueue_everywhere(
        &mut self,
        targets: &[Id],
        message: SharedMessage,
        ttl_ms: Option<u64>,
    ) -> (Option<SharedMessage>, Enqueued) {
        let mut enqueued = Enqueued::default();
        let mut message = Some(message);
        let last = targets.len().saturating_sub(1);
        for (index, &queue) in targets.iter().enumerate() {
            let copy = if index == last {
                message.take().expect("the last queue takes the message")
            } else {
                message
                    .clone()
                    .expect("the message is kept until the last queue")
            };
            match self.enqueue(queue, copy, ttl_ms) {
                Err(Refused) => enqueued.refused = true,
                Ok(lsn) => enqueued.durable_lsn = enqueued.durable_lsn.max(lsn),
            }
        }
        assert_eq!(
            message.is_none(),
            !targets.is_empty(),
            "the last queue took the message"
        );
        assert_eq!(
            message.is_none(),
            !targets.is_empty(),
            "a queue took it or none was routed to"
        );
        (message, enqueued)
    }

    /// Credit flow and the memory alarm, after a publish into `targets`.
    #[inline(always)]
    fn note_publisher_pressure(&mut self, conn: ConnectionId, targets: &[Id]) {
        if let Some(flow) = self.config.flow {
            self.note_backlog(conn, targets, flow);
        }
        if self.alarm_raised {
            self.block_publisher(conn);
        }
    }

    /// A message no queue took: a reply to a direct reply-to name goes
    /// straight to its consumer; otherwise it is returned when mandatory,
    /// else dropped.
    fn unroutable(&mut self, channel: Id, start: Start, message: SharedMessage, mandatory: bool) {
        let id = message.id;
        let replied = start == Start::Default && self.deliver_reply(&message);
        if mandatory {
            let text = ReplyCode::NoRoute.name().to_owned();
            self.reply(
                channel,
                Reply::Return {
                    code: ReplyCode::NoRoute,
                    text,
                    message,
                },
            );
            self.event(Event::Returned { message: id });
            return;
        }
        if !replied {
            self.event(Event::Dropped {
                message: id,
                queue: None,
                reason: DropReason::Unroutable,
            });
        }
        // An unroutable message ends here.
        self.message_pool.recycle(message);
    }

    /// Confirms a publish: a nack when a queue refused it, else an ack once
    /// what it wrote is synced (at once when it wrote nothing).
    #[inline(always)]
    fn confirm_publish(
        &mut self,
        channel: Id,
        publish: &Published,
        seq: u64,
        routed: bool,
        enqueued: Enqueued,
    ) {
        // The mutant nacks what no queue took.
        let nacks_unroutable = self.is_mutant(Mutant::ConfirmUnroutableAsNack) && !routed;
        if enqueued.refused || nacks_unroutable {
            let reply = Reply::ConfirmNack {
                delivery_tag: seq,
                multiple: false,
            };
            self.reply(channel, reply);
            let confirmed = Event::Confirmed {
                message: publish.id,
                conn: publish.conn,
                channel: publish.number,
                confirm_seq: seq,
                ack: false,
            };
            self.event(confirmed);
            return;
        }
        // A persistent message in a durable queue is confirmed once its record is synced.
        let pending = PendingConfirm {
            channel,
            conn: publish.conn,
            number: publish.number,
            seq,
            message: publish.id,
        };
        self.confirm_after(enqueued.durable_lsn, pending);
    }

    /// Puts a message into a queue, or straight to a waiting consumer when the
    /// queue is empty. Returns the lsn of its `Enqueued` record when it is
    /// logged, and `Refused` when the queue refused it (reject-publish overflow).
    pub(super) fn enqueue(
        &mut self,
        id: Id,
        message: SharedMessage,
        ttl_ms: Option<u64>,
    ) -> Result<Option<u64>, Refused> {
        let now = self.now;
        let ignores_priority = self.is_mutant(Mutant::PriorityIgnored);
        let queue = &mut self.queues[id];
        if queue.stream.is_some() {
            return self.append_to_stream(id, message);
        }
        if queue.args.overflow != Overflow::DropHead
            && queue.would_overflow(message.body.len() as u64)
        {
            if queue.args.overflow == Overflow::RejectPublishDlx {
                self.dead_letter_or_drop(id, &message, DeadLetterReason::MaxLen);
            } else {
                let event = Event::Dropped {
                    message: message.id,
                    queue: Some(Held::queue(id)),
                    reason: DropReason::RejectPublish,
                };
                self.event(event);
            }
            return Err(Refused);
        }
        let ttl_ms = match (queue.args.message_ttl_ms, ttl_ms) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let entry = Entry {
            seq: queue.next_seq,
            expires: Expiry::new(ttl_ms.map(|ms| now.plus_ms(ms))),
            redelivered: false,
            delivery_count: 0,
            level: match ignores_priority {
                true => 0,
                false => queue.level_of(&message),
            },
            logged: queue.durable && message.properties().is_persistent(),
            message,
        };
        queue.next_seq += 1;
        let was_empty = queue.ready.is_empty();
        self.emit(|| Event::Enqueued {
            message: entry.message.id,
            queue: Held::queue(id),
        });
        let lsn = self.log_enqueued(id, &entry);
        // A message that finds the queue empty and a consumer with room is
        // delivered at once, before its TTL is looked at: this is how a TTL of
        // 0 reaches a waiting consumer.
        if was_empty {
            if let Some(consumer) = self.next_consumer(id) {
                self.deliver(consumer, id, entry);
                return Ok(lsn);
            }
        }
        self.held_bytes += entry.size_bytes();
        self.queues[id].ready.push(entry);
        self.enforce_length_limit(id);
        self.run_queue(id);
        Ok(lsn)
    }

    /// The queues `message` routes to from `start` in `vhost`, for a
    /// message the broker sends itself (a dead letter, a saga's message):
    /// no publisher, so none of the publish path's memo.
    pub(super) fn route_from(&mut self, vhost: &Name, start: Start, message: &Message) -> Vec<Id> {
        let mut targets = Vec::new();
        let rules = self.route_rules();
        let queues = Some(&self.vhosts[vhost].queues);
        route(
            queues,
            &self.exchanges,
            &mut self.route_scratch,
            start,
            message,
            &mut targets,
            rules,
        );
        targets
    }

    /// Routes a message the broker sends itself (a saga's command,
    /// compensation or outcome) from its exchange in `vhost` to its queues.
    pub(super) fn route_saga_message(&mut self, vhost: &Name, message: SharedMessage) {
        let start = self.start_of(vhost, message.exchange());
        let targets = self.route_from(vhost, start, &message);
        if targets.is_empty() {
            self.event(Event::Dropped {
                message: message.id,
                queue: None,
                reason: DropReason::Unroutable,
            });
            return;
        }
        for target in targets {
            // Nobody's to confirm; a refusal is already an event.
            let _ = self.enqueue(target, message.clone(), None);
        }
    }

    /// The routing rules: as they are, or as a routing mutant breaks them.
    fn route_rules(&self) -> RouteRules {
        RouteRules {
            hash_needs_a_word: self.is_mutant(Mutant::TopicHashNeedsAWord),
            fanout_to_one_queue: self.is_mutant(Mutant::FanoutToOneQueue),
        }
    }

    /// Whether the broker runs as the given mutant.
    #[cfg_attr(not(feature = "mutants"), allow(unused_variables))]
    pub(super) fn is_mutant(&self, mutant: Mutant) -> bool {
        #[cfg(feature = "mutants")]
        {
            self.config.mutant == Some(mutant)
        }
        #[cfg(not(feature = "mutants"))]
        {
            false
        }
    }
}

/// The queues a message reaches from `start`, sorted and without duplicates,
/// following exchange-to-exchange bindings (each exchange is visited once, so
/// cycles end). `queues` names the vhost's queues, needed for the default
/// exchange only; `scratch` is empty before and after. Returns whether the
/// routing key alone decided the route (no headers exchange was on the way).
fn route(
    queues: Option<&BTreeMap<Name, Id>>,
    exchanges: &Arena<Exchange>,
    scratch: &mut Vec<Destination>,
    start: Start,
    message: &Message,
    targets: &mut Vec<Id>,
    rules: RouteRules,
) -> bool {
    let start = match start {
        Start::Default => {
            // The default exchange: every queue is bound under its own name.
            let queues = queues.expect("the default exchange comes with its vhost's queues");
            targets.extend(queues.get(message.routing_key().as_str()).copied());
            return true;
        }
        Start::Nowhere => return true,
        Start::Exchange(start) => start,
    };
    let headers = message.properties().headers.as_deref();
    let mut by_key_alone = exchanges[start].kind != ExchangeKind::Headers;
    exchanges[start]
        .bindings
        .route(message.routing_key(), headers, scratch, rules);
    let mut visited = vec![];
    let mut index = 0;
    while index < scratch.len() {
        match scratch[index] {
            Destination::Queue(queue) => targets.push(queue),
            Destination::Exchange(exchange)
                if exchange != start && !visited.contains(&exchange) =>
            {
                visited.push(exchange);
                if let Some(exchange) = exchanges.get(exchange) {
                    by_key_alone &= exchange.kind != ExchangeKind::Headers;
                    exchange
                        .bindings
                        .route(message.routing_key(), headers, scratch, rules);
                }
            }
            Destination::Exchange(_) => {}
        }
        index += 1;
    }
    scratch.clear();
    if targets.len() > 1 {
        targets.sort_unstable();
        targets.dedup();
        if rules.fanout_to_one_queue && exchanges[start].kind == ExchangeKind::Fanout {
            targets.truncate(1);
        }
    }
    by_key_alone
}

/// The route of the last publish: the queues it reached from where it
/// started on its channel, under its routing key. Publishers mostly repeat
/// both, and this spares the lookups in the exchange's bindings. It is
/// valid while no exchange, queue or binding comes or goes (the broker
/// forgets it then) and only for routes that the routing key alone decides.
#[derive(Debug, Default)]
pub(super) struct RouteMemo {
    /// The channel (which fixes the vhost), the start and the routing key.
    key: Option<(Id, Start, Name)>,
    /// The queues, sorted and without duplicates.
    targets: Vec<Id>,
}

impl RouteMemo {
    /// The remembered queues, if the last route had this channel, start and key.
    #[inline]
    fn get(&self, channel: Id, start: Start, routing_key: &Name) -> Option<&[Id]> {
        let (last_channel, last_start, last_key) = self.key.as_ref()?;
        (*last_channel == channel && *last_start == start && last_key == routing_key)
            .then_some(self.targets.as_slice())
    }

    fn remember(&mut self, channel: Id, start: Start, routing_key: &Name, targets: &[Id]) {
        self.key = Some((channel, start, routing_key.clone()));
        self.targets.clear();
        self.targets.extend_from_slice(targets);
    }

    /// Forgets the route: the topology changed.
    pub(super) fn forget(&mut self) {
        self.key = None;
    }
}

/// Where routing starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Start {
    /// The default exchange: the queue named by the routing key.
    Default,
    /// An exchange and its bindings.
    Exchange(Id),
    /// An exchange that no longer exists: the message routes nowhere.
    Nowhere,
}

/// A queue refused a message (reject-publish overflow, or a stream's log refusing it).
#[derive(Debug)]
pub(super) struct Refused;
