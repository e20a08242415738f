//! The broker's internal consistency, checked whole.
//!
//! The message path keeps several structures that say the same thing twice
//! for speed: a vhost's names and the arenas, the exchanges' bindings and
//! the index of who is bound to what, the queues' ready entries and the
//! channels' delivery rings, the counters of unacknowledged deliveries, the
//! timers and the deadlines they stand for, the count of held bytes and
//! the pauses the driver was told of. [`Broker::check_invariants`]
//! recomputes each from scratch and asserts that the two agree, so a
//! driver that calls it after every step (the simulator, the models, the
//! property tests, the fuzzers) finds a broken invariant at the step that
//! broke it, as TigerBeetle's simulator does. It walks everything it
//! checks: it is for the lab, not for a server's every step.

use super::{Broker, Timer};
use crate::arena::Id;
use crate::protocol::ExchangeKind;
use crate::routing::Destination;
use std::collections::{BTreeMap, BTreeSet};

impl Broker {
    /// Asserts the broker's internal consistency; panics, naming the
    /// invariant, at the first that does not hold. See the module's
    /// documentation for what is checked and what it costs.
    pub fn check_invariants(&self) {
        self.check_names();
        self.check_binding_index();
        self.check_queues();
        let unacked = self.check_channels();
        self.check_entries_held_once(&unacked);
        self.check_connections();
        self.check_timers();
        self.check_held_bytes();
        self.check_pauses();
        self.streams.check_invariants(self.now, self.synced_lsn);
        self.check_stream_queues();
        self.groups.check_invariants();
        self.pubsub.check_invariants();
        self.check_sagas();
        self.check_sqs();
    }

    /// The SQS queues are the queues with SQS state, each durable and with
    /// no consumer. In each, a message is ready, in flight or delayed,
    /// never two of these; every message in flight has its visibility
    /// deadline and every deadline its message; a receipt is kept only for
    /// a ready message; a FIFO group counts its messages in flight; a
    /// deduplication id has its end; a long poll waits only while nothing
    /// can be taken or its deadline is not reached, and the queue's timer
    /// is armed for its next deadline (from the first input after a
    /// recovery). SQS answers wait only for records
    /// not yet synced.
    fn check_sqs(&self) {
        let with_state: BTreeSet<Id> = self
            .queues
            .iter()
            .filter(|(_, queue)| queue.sqs.is_some())
            .map(|(id, _)| id)
            .collect();
        assert_eq!(
            with_state, self.sqs_queues,
            "invariant: the SQS queues are the queues with SQS state"
        );
        for &id in &self.sqs_queues {
            let queue = &self.queues[id];
            let sqs = queue.sqs.as_deref().expect("checked above");
            assert!(
                queue.durable && queue.consumers.is_empty(),
                "an SQS queue is durable and has no consumer"
            );
            let ready: BTreeSet<u64> = queue.ready.iter().map(|entry| entry.seq).collect();
            for (&seq, in_flight) in &sqs.in_flight {
                assert_eq!(
                    in_flight.entry.seq, seq,
                    "an SQS message in flight is filed under its seq"
                );
                assert!(
                    !ready.contains(&seq),
                    "invariant: an SQS message is ready or in flight, not both"
                );
                assert!(
                    sqs.visible_at.contains(&(in_flight.visible_at, seq)),
                    "invariant: an SQS message in flight has its visibility deadline"
                );
            }
            assert_eq!(
                sqs.visible_at.len(),
                sqs.in_flight.len(),
                "invariant: every visibility deadline has its message"
            );
            for (&(_, seq), entry) in &sqs.delayed {
                assert_eq!(
                    entry.seq, seq,
                    "a delayed SQS message is filed under its seq"
                );
                assert!(
                    !ready.contains(&seq) && !sqs.in_flight.contains_key(&seq),
                    "invariant: a delayed SQS message is neither ready nor in flight"
                );
            }
            for seq in sqs.receipts.keys() {
                assert!(
                    ready.contains(seq),
                    "invariant: an SQS receipt is kept only for a ready message"
                );
            }
            if sqs.attributes.fifo {
                let mut groups: BTreeMap<&str, usize> = BTreeMap::new();
                for in_flight in sqs.in_flight.values() {
                    if let Some(group) = crate::sqs::message::group_id(&in_flight.entry.message) {
                        *groups.entry(group).or_default() += 1;
                    }
                }
                let counted: BTreeMap<&str, usize> = sqs
                    .groups_in_flight
                    .iter()
                    .map(|(group, &count)| (group.as_str(), count))
                    .collect();
                assert_eq!(
                    groups, counted,
                    "invariant: a FIFO group counts its messages in flight"
                );
            }
            assert_eq!(
                sqs.deduplication.len(),
                sqs.deduplication_ends.len(),
                "invariant: every deduplication id has its end"
            );
            for (end, deduplication_id) in &sqs.deduplication_ends {
                assert_eq!(
                    sqs.deduplication
                        .get(deduplication_id)
                        .map(|first| first.until),
                    Some(*end),
                    "invariant: every deduplication id has its end"
                );
            }
            // A recovered queue's timer is armed at the broker's first input.
            let recovered = self.recovered_queues.contains(&id);
            if let Some(next) = sqs.next_deadline().filter(|_| !recovered) {
                let armed = sqs
                    .timer
                    .is_some_and(|armed| armed <= next.max(crate::time::Instant(self.now.0 + 1)));
                assert!(
                    armed,
                    "invariant: an SQS queue's timer is armed for its next deadline"
                );
            }
            if !sqs.attributes.fifo
                && !queue.ready.is_empty()
                && sqs.in_flight.len() < crate::sqs::IN_FLIGHT_MAX_STANDARD
            {
                assert!(
                    sqs.waiting.is_empty(),
                    "invariant: no long poll waits on a standard queue with visible messages"
                );
            }
        }
        for &lsn in self.sqs_pending.keys() {
            assert!(
                lsn > self.synced_lsn && lsn < self.next_lsn,
                "invariant: an SQS answer waits only for a record not yet synced"
            );
        }
    }

    /// Every saga instance is consistent with its definition and exactly
    /// the running ones wait on a deadline; each saga exchange exists and
    /// is of type `x-saga`; a saga message is held back only while its
    /// record is not synced (or, after a recovery, until the first input).
    fn check_sagas(&self) {
        self.sagas.assert_invariants();
        for ((vhost, exchange), _) in self.sagas.iter() {
            let id = self.vhosts[vhost].exchanges.get(exchange);
            let kind = id.map(|&id| self.exchanges[id].kind);
            assert_eq!(kind, Some(ExchangeKind::Saga), "a saga has its exchange");
        }
        for (&lsn, sends) in &self.saga_outbox {
            assert!(
                lsn == 0 || lsn > self.synced_lsn,
                "a synced saga message is routed"
            );
            assert!(lsn < self.next_lsn, "a held saga message has its record");
            assert!(!sends.is_empty(), "no empty outbox entry");
        }
    }

    /// The stream queues are the queues with a log, each durable, its
    /// topic named after it, with no ready entry; exactly their consumers
    /// read from an offset, and every delivery of theirs still unsettled
    /// is of a record below its consumer's offset.
    fn check_stream_queues(&self) {
        let with_log: BTreeSet<Id> = self
            .queues
            .iter()
            .filter(|(_, queue)| queue.stream.is_some())
            .map(|(id, _)| id)
            .collect();
        assert_eq!(
            with_log, self.stream_queues,
            "invariant: the stream queues are the queues with a log"
        );
        for &id in &self.stream_queues {
            let queue = &self.queues[id];
            let stream = queue.stream.as_ref().expect("checked above");
            assert!(
                queue.durable && queue.ready.is_empty() && queue.owner.is_none(),
                "invariant: a stream queue is durable, not exclusive, and holds nothing ready"
            );
            assert_eq!(
                super::stream_queues::topic_name(&queue.vhost, &queue.name).as_ref(),
                Some(&stream.topic),
                "invariant: a stream queue's log is the topic named after it"
            );
        }
        for (_, consumer) in self.consumers.iter() {
            assert_eq!(
                consumer.stream_offset.is_some(),
                self.stream_queues.contains(&consumer.queue),
                "invariant: exactly a stream queue's consumers read from an offset"
            );
        }
        for (_, channel) in self.channels.iter() {
            for unacked in channel.unacked() {
                let next = unacked
                    .consumer
                    .and_then(|consumer| self.consumers.get(consumer))
                    .filter(|consumer| consumer.queue == unacked.queue)
                    .and_then(|consumer| consumer.stream_offset);
                assert!(
                    next.is_none_or(|next| unacked.entry.seq < next),
                    "invariant: a stream delivery is of a record below its consumer's offset"
                );
            }
        }
    }

    /// Every exchange and queue is named once in its vhost, under its own
    /// name, and every name leads to a live entity.
    fn check_names(&self) {
        let (mut exchanges, mut queues) = (0, 0);
        for (vhost_name, vhost) in &self.vhosts {
            for (name, &id) in &vhost.exchanges {
                let exchange = self.exchanges.get(id);
                assert!(
                    exchange.is_some_and(|exchange| exchange.name == *name),
                    "invariant: the name of exchange '{name}' leads to that exchange"
                );
                exchanges += 1;
            }
            for (name, &id) in &vhost.queues {
                let queue = self.queues.get(id);
                assert!(
                    queue.is_some_and(|queue| queue.name == *name && queue.vhost == *vhost_name),
                    "invariant: the name of queue '{name}' leads to that queue, in its vhost"
                );
                queues += 1;
            }
        }
        assert_eq!(
            exchanges,
            self.exchanges.iter().count(),
            "invariant: every exchange is named in its vhost"
        );
        assert_eq!(
            queues,
            self.queues.iter().count(),
            "invariant: every queue is named in its vhost"
        );
    }

    /// The index of binding sources counts exactly the bindings the
    /// exchanges hold, and every binding leads to a live queue or exchange.
    fn check_binding_index(&self) {
        let mut counted: BTreeMap<(Destination, Id), u32> = BTreeMap::new();
        for (source, exchange) in self.exchanges.iter() {
            for (destination, _, _) in exchange.bindings.iter() {
                let alive = match destination {
                    Destination::Queue(queue) => self.queues.get(queue).is_some(),
                    Destination::Exchange(exchange) => self.exchanges.get(exchange).is_some(),
                };
                assert!(alive, "invariant: a binding leads to a live destination");
                *counted.entry((destination, source)).or_default() += 1;
            }
        }
        let indexed: BTreeMap<(Destination, Id), u32> = self
            .binding_sources
            .iter()
            .map(|(destination, source, count)| ((destination, source), count))
            .collect();
        assert_eq!(
            counted, indexed,
            "invariant: the binding index counts every exchange's bindings"
        );
    }

    /// Each queue's ready entries are in sequence order within their
    /// priority level, its counts and bytes are their sums, and its
    /// consumers are live consumers of that queue, each listed once.
    fn check_queues(&self) {
        for (id, queue) in self.queues.iter() {
            let (mut len, mut bytes) = (0, 0);
            let mut last_seq: BTreeMap<u8, u64> = BTreeMap::new();
            for entry in queue.ready.iter() {
                len += 1;
                bytes += entry.size_bytes();
                assert!(
                    usize::from(entry.level) < queue.ready.level_count(),
                    "invariant: an entry's level is one of its queue's"
                );
                assert!(
                    entry.seq < queue.next_seq,
                    "invariant: an entry's sequence number was given out"
                );
                if let Some(last) = last_seq.insert(entry.level, entry.seq) {
                    assert!(
                        last < entry.seq,
                        "invariant: ready entries are in sequence order within a level"
                    );
                }
            }
            assert_eq!(
                len,
                queue.ready.len(),
                "invariant: a queue counts its ready entries"
            );
            assert_eq!(
                bytes,
                queue.ready.bytes(),
                "invariant: a queue's ready bytes are its entries' sizes"
            );
            let listed: BTreeSet<Id> = queue.consumers.iter().copied().collect();
            assert_eq!(
                listed.len(),
                queue.consumers.len(),
                "invariant: a queue lists each consumer once"
            );
            for &consumer in &queue.consumers {
                assert!(
                    self.consumers
                        .get(consumer)
                        .is_some_and(|consumer| consumer.queue == id),
                    "invariant: a queue's consumers consume from it"
                );
            }
        }
        for (id, consumer) in self.consumers.iter() {
            assert!(
                self.queues
                    .get(consumer.queue)
                    .is_some_and(|queue| queue.consumers.contains(&id)),
                "invariant: a consumer is listed by its queue"
            );
        }
    }

    /// Channels are indexed under their connection and number; each
    /// channel's counter of consumer deliveries and each consumer's own
    /// counter agree with the delivery records; a channel's consumers are
    /// live consumers on it. Returns the (queue, sequence number) of every
    /// unacknowledged entry whose queue still exists.
    fn check_channels(&self) -> Vec<(Id, u64)> {
        let mut held = Vec::new();
        let mut by_consumer: BTreeMap<Id, u32> = BTreeMap::new();
        assert_eq!(
            self.channel_index.len(),
            self.channels.iter().count(),
            "invariant: every channel is indexed once"
        );
        for (&(conn, number), &id) in &self.channel_index {
            let channel = self.channels.get(id);
            assert!(
                channel.is_some_and(|channel| channel.conn == conn && channel.number == number),
                "invariant: the channel index leads to the channel with that number"
            );
            assert!(
                self.connections
                    .get(&conn)
                    .is_some_and(|connection| connection.channels.contains(&number)),
                "invariant: a channel's connection lists it"
            );
        }
        let mut reply_keys = BTreeSet::new();
        for (id, channel) in self.channels.iter() {
            channel.check_delivery_records();
            if let Some(consumer) = &channel.reply_consumer {
                assert!(
                    consumer.key < self.next_reply_key && reply_keys.insert(consumer.key),
                    "invariant: a reply consumer's key was issued to it alone"
                );
            }
            let mut consumer_deliveries = 0;
            for unacked in channel.unacked() {
                if let Some(consumer) = unacked.consumer {
                    consumer_deliveries += 1;
                    *by_consumer.entry(consumer).or_default() += 1;
                }
                // A stream queue's records are read, not held: several
                // consumers may hold deliveries of one offset.
                let classic = self
                    .queues
                    .get(unacked.queue)
                    .is_some_and(|queue| queue.stream.is_none());
                if unacked.queue_gone.is_none() && classic {
                    held.push((unacked.queue, unacked.entry.seq));
                }
            }
            assert_eq!(
                consumer_deliveries, channel.unacked_count,
                "invariant: a channel counts its consumers' unacknowledged deliveries"
            );
            for (tag, &consumer) in &channel.consumers {
                assert!(
                    self.consumers
                        .get(consumer)
                        .is_some_and(|consumer| consumer.channel == id && consumer.tag == *tag),
                    "invariant: a channel's consumers are on it, under their tags"
                );
            }
        }
        for (id, consumer) in self.consumers.iter() {
            assert!(
                self.channels
                    .get(consumer.channel)
                    .is_some_and(|channel| channel.consumers.get(&consumer.tag) == Some(&id)),
                "invariant: a consumer is listed by its channel"
            );
            let recorded = by_consumer.get(&id).copied().unwrap_or(0);
            assert_eq!(
                recorded, consumer.unacked,
                "invariant: a consumer counts its unacknowledged deliveries"
            );
        }
        held
    }

    /// Every entry of a queue is in exactly one place: ready in its queue,
    /// or in one delivery record.
    fn check_entries_held_once(&self, unacked: &[(Id, u64)]) {
        let mut seen: BTreeSet<(Id, u64)> = BTreeSet::new();
        for (id, queue) in self.queues.iter() {
            for entry in queue.ready.iter() {
                assert!(
                    seen.insert((id, entry.seq)),
                    "invariant: an entry is ready in its queue once"
                );
            }
        }
        for &held in unacked {
            assert!(
                seen.insert(held),
                "invariant: an entry is either ready or in one delivery record"
            );
        }
    }

    /// A connection's exclusive queues are owned by it, and every exclusive
    /// queue's owner is a connection that lists it.
    fn check_connections(&self) {
        for (&conn, connection) in &self.connections {
            for &queue in &connection.exclusive_queues {
                assert!(
                    self.queues
                        .get(queue)
                        .is_some_and(|queue| queue.owner == Some(conn)),
                    "invariant: a connection's exclusive queues are owned by it"
                );
            }
        }
        for (id, queue) in self.queues.iter() {
            if let Some(owner) = queue.owner {
                assert!(
                    self.connections
                        .get(&owner)
                        .is_some_and(|connection| connection.exclusive_queues.contains(&id)),
                    "invariant: an exclusive queue's owner lists it"
                );
            }
        }
    }

    /// The held bytes are the sizes of every ready entry, every delivered
    /// entry not yet settled and every publish a transaction holds.
    fn check_held_bytes(&self) {
        let ready: u64 = self
            .queues
            .iter()
            .map(|(_, queue)| queue.ready.bytes())
            .sum();
        let unacked: u64 = self
            .channels
            .iter()
            .flat_map(|(_, channel)| channel.unacked())
            .map(|unacked| unacked.entry.size_bytes())
            .sum();
        let in_transactions: u64 = self
            .channels
            .iter()
            .filter_map(|(_, channel)| channel.tx.as_deref())
            .map(super::transactions::tx_bytes)
            .sum();
        let sqs: u64 = self
            .queues
            .iter()
            .filter_map(|(_, queue)| queue.sqs.as_deref())
            .map(crate::sqs::queue::SqsQueue::held_bytes)
            .sum();
        assert_eq!(
            self.held_bytes,
            ready + unacked + in_transactions + sqs,
            "invariant: the held bytes are the ready and unacknowledged entries' and the transactions' bodies"
        );
    }

    /// A connection was told to pause exactly when it is blocked or in
    /// flow; the connections in flow are the credit-flow candidates and
    /// have a timer; only a raised alarm blocks.
    fn check_pauses(&self) {
        for (conn, connection) in &self.connections {
            assert_eq!(
                connection.paused,
                connection.blocked || !connection.flow.is_empty(),
                "invariant: a connection is paused exactly while blocked or in flow"
            );
            assert_eq!(
                self.flow_candidates.contains(conn),
                !connection.flow.is_empty(),
                "invariant: the credit-flow candidates are the connections in flow"
            );
            assert!(
                self.alarm_raised || !connection.blocked,
                "invariant: only a raised memory alarm blocks a connection"
            );
        }
        assert!(
            self.flow_candidates
                .iter()
                .all(|conn| self.connections.contains_key(conn)),
            "invariant: the credit-flow candidates are open connections"
        );
        if let Some(at) = self.flow_timer {
            assert!(
                self.timers.contains(&(at, Timer::CreditFlow)),
                "invariant: an armed credit-flow deadline is in the timers"
            );
        }
        assert!(
            self.flow_candidates.is_empty() || self.flow_timer.is_some(),
            "invariant: a connection in flow has a credit-flow timer"
        );
    }

    /// Every deadline a queue or channel holds as armed is in the timer
    /// set, and no deadline is missing: a ready head that expires later
    /// has a timer at or before it (once a recovered queue has seen its
    /// first input), and a channel with deliveries under a
    /// consumer timeout has one armed.
    fn check_timers(&self) {
        for (id, queue) in self.queues.iter() {
            if let Some(at) = queue.head_timer {
                assert!(
                    self.timers.contains(&(at, Timer::QueueHead(id))),
                    "invariant: an armed head-expiry deadline is in the timers"
                );
            }
            if let Some(at) = queue.expires_timer {
                assert!(
                    self.timers.contains(&(at, Timer::QueueExpires(id))),
                    "invariant: an armed x-expires deadline is in the timers"
                );
            }
            // A recovered queue's timers start at the broker's first input.
            let recovered = self.recovered_queues.contains(&id);
            let next_expiry = queue.ready.next_expiry().filter(|&next| next > self.now);
            if let Some(next) = next_expiry.filter(|_| !recovered) {
                assert!(
                    queue.head_timer.is_some_and(|armed| armed <= next),
                    "invariant: a ready head that will expire has a timer for it \
                     (queue '{}' at {:?}: head expires at {next:?}, armed {:?})",
                    queue.name,
                    self.now,
                    queue.head_timer
                );
            }
        }
        for (id, channel) in self.channels.iter() {
            if let Some(at) = channel.timeout_armed {
                assert!(
                    self.timers.contains(&(at, Timer::ConsumerTimeout(id))),
                    "invariant: an armed consumer-timeout deadline is in the timers"
                );
            }
            if self.config.consumer_timeout_ms.is_some() && channel.oldest_delivery().is_some() {
                assert!(
                    channel.timeout_armed.is_some(),
                    "invariant: a channel holding deliveries under a consumer timeout has it armed"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Timer;
    use crate::config::Config;
    use crate::field::{FieldTable, FieldValue};
    use crate::protocol::{ChannelId, Command, ConnectionId, Input, PublishProperties};
    use crate::time::Instant;
    use crate::Broker;
    use std::panic::{catch_unwind, AssertUnwindSafe};

    const CONN: ConnectionId = ConnectionId(1);
    const CHANNEL: ChannelId = ChannelId(1);

    fn command(broker: &mut Broker, command: Command) {
        let input = Input::Command {
            conn: CONN,
            channel: CHANNEL,
            command,
        };
        broker.handle(Instant(1_000_000), input);
        while broker.poll_output().is_some() {}
    }

    /// A broker with an exclusive queue "q" (a 60 s message TTL) bound to
    /// amq.direct, three messages in it and one of them delivered to a
    /// consumer with a prefetch of 1, unacknowledged. Every invariant holds.
    fn busy_broker() -> Broker {
        let mut broker = Broker::new(Config::default());
        let connect = Input::Connect {
            conn: CONN,
            user: "guest".into(),
            vhost: "/".into(),
            channel_max: u16::MAX,
        };
        broker.handle(Instant(1_000_000), connect);
        command(&mut broker, Command::ChannelOpen);
        let arguments = FieldTable::from([("x-message-ttl".to_owned(), FieldValue::I32(60_000))]);
        command(
            &mut broker,
            Command::QueueDeclare {
                queue: "q".into(),
                passive: false,
                durable: false,
                exclusive: true,
                auto_delete: false,
                arguments,
            },
        );
        command(
            &mut broker,
            Command::QueueBind {
                queue: "q".into(),
                exchange: "amq.direct".into(),
                routing_key: "k".into(),
                arguments: FieldTable::new(),
            },
        );
        for body in ["a", "b", "c"] {
            let publish = Command::BasicPublish {
                exchange: "".into(),
                routing_key: "q".into(),
                mandatory: false,
                immediate: false,
                properties: PublishProperties::Repeated,
                body: body.into(),
            };
            command(&mut broker, publish);
        }
        let qos = Command::BasicQos {
            prefetch_size: 0,
            prefetch_count: 1,
            global: false,
        };
        command(&mut broker, qos);
        let consume = Command::BasicConsume {
            queue: "q".into(),
            consumer_tag: "c".into(),
            no_ack: false,
            exclusive: false,
            arguments: FieldTable::new(),
        };
        command(&mut broker, consume);
        broker.check_invariants();
        broker
    }

    /// Breaks a busy broker with `break_it` and asserts that the check
    /// fails naming `invariant`.
    fn fires(invariant: &str, break_it: impl FnOnce(&mut Broker)) {
        let mut broker = busy_broker();
        break_it(&mut broker);
        let panic = catch_unwind(AssertUnwindSafe(|| broker.check_invariants()))
            .expect_err("the broken invariant is found");
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|text| (*text).to_owned()))
            .unwrap_or_default();
        assert!(
            message.contains(invariant),
            "expected '{invariant}', got '{message}'"
        );
    }

    fn queue_id(broker: &Broker) -> crate::arena::Id {
        broker.vhosts["/"].queues["q"]
    }

    fn channel_id(broker: &Broker) -> crate::arena::Id {
        broker.channel_index[&(CONN, CHANNEL)]
    }

    #[test]
    fn a_reply_consumer_key_never_issued_is_found() {
        fires("a reply consumer's key was issued to it alone", |broker| {
            let channel = channel_id(broker);
            broker.channels[channel].reply_consumer = Some(crate::channel::ReplyConsumer {
                tag: "r".into(),
                key: broker.next_reply_key,
            });
        });
    }

    #[test]
    fn a_busy_broker_holds_every_invariant() {
        let broker = busy_broker();
        let queue = &broker.queues[queue_id(&broker)];
        assert_eq!(queue.ready.len(), 2, "two ready, one delivered");
        assert_eq!(broker.channels[channel_id(&broker)].unacked_count, 1);
    }

    #[test]
    fn a_name_leading_to_another_entity_is_found() {
        fires("leads to that queue", |broker| {
            let id = queue_id(broker);
            let vhost = broker.vhosts.get_mut("/").expect("the default vhost");
            vhost.queues.insert("other".into(), id);
        });
    }

    #[test]
    fn an_exchange_missing_from_its_vhost_is_found() {
        fires("every exchange is named", |broker| {
            let vhost = broker.vhosts.get_mut("/").expect("the default vhost");
            vhost.exchanges.remove("amq.fanout");
        });
    }

    #[test]
    fn a_binding_index_that_disagrees_with_the_bindings_is_found() {
        fires("the binding index counts", |broker| {
            let queue = queue_id(broker);
            let fanout = broker.vhosts["/"].exchanges["amq.fanout"];
            broker
                .binding_sources
                .bound(fanout, super::Destination::Queue(queue));
        });
    }

    #[test]
    fn a_ready_entry_out_of_sequence_order_is_found() {
        fires("was given out", |broker| {
            let queue = queue_id(broker);
            broker.queues[queue].next_seq = 0;
        });
    }

    #[test]
    fn a_channel_miscounting_its_deliveries_is_found() {
        fires("a channel counts", |broker| {
            let channel = channel_id(broker);
            broker.channels[channel].unacked_count += 1;
        });
    }

    #[test]
    fn a_straggler_inside_the_channels_ring_is_found() {
        fires("a straggler is older than the channel's ring", |broker| {
            let channel = channel_id(broker);
            broker.channels[channel].misplace_as_straggler(1);
        });
    }

    #[test]
    fn a_consumer_miscounting_its_deliveries_is_found() {
        fires("a consumer counts", |broker| {
            let consumer = broker.channels[channel_id(broker)].consumers["c"];
            broker.consumers[consumer].unacked = 0;
        });
    }

    #[test]
    fn a_delivered_entry_also_ready_is_found() {
        fires("either ready or in one delivery record", |broker| {
            let channel = channel_id(broker);
            let entry = broker.channels[channel]
                .unacked()
                .next()
                .expect("one delivery")
                .entry
                .clone();
            let queue = queue_id(broker);
            broker.queues[queue].ready.requeue(entry);
        });
    }

    #[test]
    fn a_consumer_its_queue_does_not_list_is_found() {
        fires("a consumer is listed by its queue", |broker| {
            let queue = queue_id(broker);
            broker.queues[queue].consumers.clear();
        });
    }

    #[test]
    fn a_channel_missing_from_the_index_is_found() {
        fires("every channel is indexed once", |broker| {
            broker.channel_index.clear();
        });
    }

    #[test]
    fn an_exclusive_queue_its_owner_does_not_list_is_found() {
        fires("owner lists it", |broker| {
            let connection = broker.connections.get_mut(&CONN).expect("connected");
            connection.exclusive_queues.clear();
        });
    }

    #[test]
    fn an_armed_deadline_missing_from_the_timers_is_found() {
        fires("an armed head-expiry deadline is in the timers", |broker| {
            let queue = queue_id(broker);
            let at = broker.queues[queue]
                .head_timer
                .expect("a TTL queue arms its head");
            broker.timers.remove(&(at, Timer::QueueHead(queue)));
        });
    }

    #[test]
    fn a_ready_head_without_its_expiry_timer_is_found() {
        fires("a ready head that will expire has a timer", |broker| {
            let queue = queue_id(broker);
            let at = broker.queues[queue].head_timer.take().expect("armed");
            broker.timers.remove(&(at, Timer::QueueHead(queue)));
        });
    }

    #[test]
    fn held_bytes_that_disagree_with_the_entries_are_found() {
        fires("the held bytes", |broker| broker.held_bytes += 1);
    }

    #[test]
    fn a_pause_the_connection_does_not_need_is_found() {
        fires("paused exactly while blocked or in flow", |broker| {
            broker.connections.get_mut(&CONN).expect("connected").paused = true;
        });
    }

    #[test]
    fn a_queue_bound_to_one_of_many_exchanges_is_indexed_under_that_one_alone() {
        // Deleting a queue visits the exchanges its index names, not every
        // exchange of its vhost (which took 93 s for 100,000 exchanges).
        let mut broker = busy_broker();
        for index in 0..1_000 {
            let declare = Command::ExchangeDeclare {
                exchange: format!("x{index}"),
                kind: "fanout".into(),
                passive: false,
                durable: false,
                auto_delete: false,
                internal: false,
                arguments: FieldTable::new(),
            };
            command(&mut broker, declare);
        }
        let queue = super::Destination::Queue(queue_id(&broker));
        let direct = broker.vhosts["/"].exchanges["amq.direct"];
        let sources: Vec<_> = broker
            .binding_sources
            .iter()
            .filter(|(destination, _, _)| *destination == queue)
            .map(|(_, source, count)| (source, count))
            .collect();
        assert_eq!(sources, [(direct, 1)]);
        let delete = Command::QueueDelete {
            queue: "q".into(),
            if_unused: false,
            if_empty: false,
        };
        command(&mut broker, delete);
        assert_eq!(broker.binding_sources.iter().count(), 0);
        assert!(broker.exchanges[direct].bindings.is_empty());
        broker.check_invariants();
    }

    /// A broker with a memory topic "s" of one partition holding three
    /// batches over two segments (one from an idempotent producer), and
    /// a fetch parked on partition 0 of a second topic "w".
    fn stream_broker() -> Broker {
        use crate::stream::{Acks, ProducedBatch, StreamCommand, StreamRecord, TopicConfig};
        let mut broker = busy_broker();
        let stream = |broker: &mut Broker, command: StreamCommand| {
            let input = Input::Stream {
                conn: CONN,
                request: 0,
                command: Box::new(command),
            };
            broker.handle(Instant(1_000_000), input);
            while broker.poll_output().is_some() {}
        };
        let config = TopicConfig {
            durable: false,
            segment_bytes: 150,
            ..TopicConfig::default()
        };
        for topic in ["s", "w"] {
            let create = StreamCommand::CreateTopic {
                topic: topic.into(),
                partitions: 1,
                config,
            };
            stream(&mut broker, create);
        }
        stream(&mut broker, StreamCommand::InitProducerId);
        let synced = broker.last_lsn();
        broker.handle(Instant(1_000_000), Input::Synced { upto: synced });
        while broker.poll_output().is_some() {}
        let record = StreamRecord {
            value: Some("0123456789".into()),
            ..StreamRecord::default()
        };
        for producer_id in [-1, 0, -1] {
            let batch = ProducedBatch {
                producer_id,
                producer_epoch: 0,
                base_sequence: 0,
                records: vec![record.clone()],
            };
            let produce = StreamCommand::Produce {
                topic: "s".into(),
                partition: 0,
                acks: Acks::Appended,
                batch,
            };
            stream(&mut broker, produce);
        }
        let fetch = StreamCommand::Fetch {
            partitions: vec![crate::stream::FetchPartition {
                topic: "w".into(),
                partition: 0,
                offset: 0,
                max_bytes: 1_000,
            }],
            max_wait_ms: 1_000,
            min_bytes: 1,
            max_bytes: 1_000,
        };
        stream(&mut broker, fetch);
        broker.check_invariants();
        broker
    }

    /// Breaks a stream broker with `break_it` and asserts that the check
    /// fails naming `invariant`.
    fn fires_on_streams(invariant: &str, break_it: impl FnOnce(&mut Broker)) {
        let mut broker = stream_broker();
        break_it(&mut broker);
        let panic = catch_unwind(AssertUnwindSafe(|| broker.check_invariants()))
            .expect_err("the broken invariant is found");
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|text| (*text).to_owned()))
            .unwrap_or_default();
        assert!(
            message.contains(invariant),
            "expected '{invariant}', got '{message}'"
        );
    }

    fn stream_log(broker: &mut Broker) -> &mut crate::stream::Partition {
        let id = broker.streams.names["s"];
        &mut broker
            .streams
            .topics
            .get_mut(&id)
            .expect("topic s")
            .1
            .partitions[0]
    }

    #[test]
    fn a_stream_broker_holds_every_invariant() {
        let mut broker = stream_broker();
        let log = stream_log(&mut broker);
        assert_eq!(
            log.segments.len(),
            2,
            "two batches fit a segment of 150 bytes"
        );
        assert_eq!(log.log_end_offset, 3);
        assert_eq!(broker.streams.parked_fetches(), 1);
    }

    #[test]
    fn a_gap_between_stream_batches_is_found() {
        fires_on_streams("offsets are contiguous across", |broker| {
            stream_log(broker).segments[1].base_offset += 1;
        });
    }

    #[test]
    fn a_log_end_past_the_last_batch_is_found() {
        fires_on_streams("the last batch ends at the log end", |broker| {
            stream_log(broker).log_end_offset += 1;
        });
    }

    #[test]
    fn a_log_start_past_the_high_watermark_is_found() {
        fires_on_streams("log start <= high watermark <= log end", |broker| {
            let log = stream_log(broker);
            log.segments.clear();
            log.size_bytes = 0;
            log.log_start_offset = log.log_end_offset;
            log.high_watermark = 0;
        });
    }

    #[test]
    fn a_segment_miscounting_its_bytes_is_found() {
        fires_on_streams("a segment's byte count is the sum", |broker| {
            stream_log(broker).segments[0].size_bytes += 1;
        });
    }

    #[test]
    fn a_partition_miscounting_its_bytes_is_found() {
        fires_on_streams("a partition's byte count is the sum", |broker| {
            stream_log(broker).size_bytes += 1;
        });
    }

    #[test]
    fn a_producer_window_of_six_batches_is_found() {
        fires_on_streams("at most five batches", |broker| {
            let window = stream_log(broker)
                .producers
                .window_mut(0)
                .expect("producer 0");
            let newest = *window.batches.back().expect("one batch");
            window.batches.extend([newest; 5]);
        });
    }

    #[test]
    fn a_producer_window_out_of_offset_order_is_found() {
        fires_on_streams("increasing offset order", |broker| {
            let window = stream_log(broker)
                .producers
                .window_mut(0)
                .expect("producer 0");
            let newest = *window.batches.back().expect("one batch");
            window.batches.push_back(newest);
        });
    }

    #[test]
    fn a_parked_fetch_without_its_deadline_is_found() {
        fires_on_streams(
            "the fetch deadlines are the parked fetches' deadlines",
            |broker| {
                broker.streams.fetch_deadlines.clear();
            },
        );
    }

    #[test]
    fn a_parked_fetch_missing_from_the_watch_index_is_found() {
        fires_on_streams("the watched partitions index", |broker| {
            broker.streams.watchers.clear();
        });
    }

    #[test]
    fn a_parked_fetch_miscounted_for_its_connection_is_found() {
        fires_on_streams("counted per connection", |broker| {
            broker.streams.parked_per_connection.insert(CONN, 2);
        });
    }

    #[test]
    fn a_parked_fetch_that_has_its_bytes_is_found() {
        fires_on_streams("waits for bytes it does not have", |broker| {
            let fetch = broker
                .streams
                .parked
                .values_mut()
                .next()
                .expect("one parked");
            fetch.bytes_ready = fetch.min_bytes;
        });
    }

    #[test]
    fn a_segment_aging_out_without_a_retention_deadline_is_found() {
        fires_on_streams("has a retention deadline", |broker| {
            broker.streams.retention_deadline = None;
        });
    }

    #[test]
    fn a_topic_name_leading_to_another_topic_is_found() {
        fires_on_streams("a topic's name leads to it", |broker| {
            let id = broker.streams.names["s"];
            broker.streams.names.insert("w".into(), id);
        });
    }
}
