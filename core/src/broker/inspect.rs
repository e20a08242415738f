//! What a driver may read of the broker for metrics and a management API:
//! its vhosts, exchanges, queues, bindings, connections, channels and
//! consumers as plain values, and its counters. Reading changes nothing;
//! every change goes through [`Broker::handle`] like any client's.

use super::{Broker, Counters};
use crate::arena::Id;
use crate::field::FieldTable;
use crate::message::Name;
use crate::protocol::{ChannelId, ConnectionId, ExchangeKind};
use crate::routing::Destination;
use std::collections::BTreeMap;

/// A queue as a management API lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueInfo {
    /// Its vhost.
    pub vhost: Name,
    /// Its name.
    pub name: Name,
    /// Survives a restart.
    pub durable: bool,
    /// Owned by one connection, and deleted with it.
    pub exclusive: bool,
    /// Deleted when its last consumer goes.
    pub auto_delete: bool,
    /// A stream queue (`x-queue-type: stream`), whose messages are records
    /// of a stream's log rather than ready messages.
    pub stream: bool,
    /// Its arguments as declared.
    pub arguments: FieldTable,
    /// Messages ready to be delivered.
    pub messages_ready: u64,
    /// Body bytes of the ready messages.
    pub messages_ready_bytes: u64,
    /// Messages delivered and not yet settled.
    pub messages_unacknowledged: u64,
    /// Body bytes of the unsettled messages.
    pub messages_unacknowledged_bytes: u64,
    /// Its consumers.
    pub consumers: u64,
}

/// An exchange as a management API lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExchangeInfo {
    /// Its vhost.
    pub vhost: Name,
    /// Its name (empty for the default exchange).
    pub name: Name,
    /// Its type.
    pub kind: ExchangeKind,
    /// Survives a restart.
    pub durable: bool,
    /// Deleted when its last binding goes.
    pub auto_delete: bool,
    /// Takes no publishes, only exchange-to-exchange bindings.
    pub internal: bool,
    /// Its arguments as declared.
    pub arguments: FieldTable,
}

/// A binding from an exchange to a queue or another exchange.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindingInfo {
    /// The vhost of both ends.
    pub vhost: Name,
    /// The exchange it is bound to.
    pub source: Name,
    /// The queue or exchange messages go to.
    pub destination: Name,
    /// Whether the destination is a queue (else an exchange).
    pub destination_is_queue: bool,
    /// The binding key.
    pub routing_key: String,
    /// The binding arguments.
    pub arguments: FieldTable,
}

/// An open connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// The driver's id for it.
    pub conn: ConnectionId,
    /// Its authenticated user.
    pub user: String,
    /// The vhost it opened.
    pub vhost: Name,
    /// Its open channels.
    pub channels: u64,
    /// The highest channel number it may open.
    pub channel_max: u16,
    /// The memory alarm blocked it.
    pub blocked: bool,
    /// The driver was told to stop reading it (credit flow or the memory alarm).
    pub paused: bool,
}

/// An open channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelInfo {
    /// Its connection.
    pub conn: ConnectionId,
    /// Its number on the connection.
    pub number: ChannelId,
    /// Its consumers (a direct reply-to consumer included).
    pub consumers: u64,
    /// Its deliveries not yet settled.
    pub messages_unacknowledged: u64,
    /// The prefetch given to its new consumers (0 = unlimited).
    pub prefetch_count: u16,
    /// The prefetch shared by the whole channel (0 = unlimited).
    pub global_prefetch_count: u16,
    /// In confirm mode.
    pub confirm: bool,
    /// In a transaction.
    pub transactional: bool,
}

/// A consumer of a queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerInfo {
    /// Its connection.
    pub conn: ConnectionId,
    /// Its channel.
    pub channel: ChannelId,
    /// Its tag, unique on its channel.
    pub tag: Name,
    /// The vhost of its queue.
    pub vhost: Name,
    /// The queue it consumes from.
    pub queue: Name,
    /// Deliveries are settled when sent.
    pub no_ack: bool,
    /// No other consumer may use the queue.
    pub exclusive: bool,
    /// Unsettled deliveries it may hold (0 = unlimited).
    pub prefetch_count: u16,
}

impl Broker {
    /// What the broker counted since it started.
    #[must_use]
    pub fn counters(&self) -> &Counters {
        &self.counters.0
    }

    /// The vhosts, by name.
    pub fn vhost_names(&self) -> impl Iterator<Item = &Name> {
        self.vhosts.keys()
    }

    /// Every queue, by vhost and name. Counting the unsettled deliveries
    /// visits every channel's, so this costs in proportion to them.
    #[must_use]
    pub fn queue_infos(&self) -> Vec<QueueInfo> {
        let unacked = self.unacked_by_queue();
        let mut infos = Vec::with_capacity(self.queues.iter().count());
        for ids in self.vhosts.values() {
            for &id in ids.queues.values() {
                let queue = &self.queues[id];
                let (messages, bytes) = unacked.get(&id).copied().unwrap_or((0, 0));
                infos.push(QueueInfo {
                    vhost: queue.vhost.clone(),
                    name: queue.name.clone(),
                    durable: queue.durable,
                    exclusive: queue.owner.is_some(),
                    auto_delete: queue.auto_delete,
                    stream: queue.stream.is_some(),
                    arguments: queue.arguments.clone(),
                    messages_ready: queue.ready.len() as u64,
                    messages_ready_bytes: queue.ready.bytes(),
                    messages_unacknowledged: messages,
                    messages_unacknowledged_bytes: bytes,
                    consumers: queue.consumers.len() as u64,
                });
            }
        }
        infos
    }

    /// Unsettled deliveries and their body bytes, by the queue they came from.
    fn unacked_by_queue(&self) -> BTreeMap<Id, (u64, u64)> {
        let mut unacked: BTreeMap<Id, (u64, u64)> = BTreeMap::new();
        for (_, channel) in self.channels.iter() {
            for delivery in channel.unacked() {
                let count = unacked.entry(delivery.queue).or_default();
                count.0 += 1;
                count.1 += delivery.entry.size_bytes();
            }
        }
        unacked
    }

    /// Every exchange, by vhost and name.
    #[must_use]
    pub fn exchange_infos(&self) -> Vec<ExchangeInfo> {
        let mut infos = Vec::new();
        for (vhost, ids) in &self.vhosts {
            for &id in ids.exchanges.values() {
                let exchange = &self.exchanges[id];
                infos.push(ExchangeInfo {
                    vhost: vhost.clone(),
                    name: exchange.name.clone(),
                    kind: exchange.kind,
                    durable: exchange.durable,
                    auto_delete: exchange.auto_delete,
                    internal: exchange.internal,
                    arguments: exchange.arguments.clone(),
                });
            }
        }
        infos
    }

    /// Every binding, by vhost and source exchange. The default exchange's
    /// implicit bindings (one to each queue, by its name) are not listed.
    #[must_use]
    pub fn binding_infos(&self) -> Vec<BindingInfo> {
        let mut infos = Vec::new();
        for (vhost, ids) in &self.vhosts {
            for &id in ids.exchanges.values() {
                let exchange = &self.exchanges[id];
                for (destination, routing_key, arguments) in exchange.bindings.iter() {
                    let (destination, destination_is_queue) = match destination {
                        Destination::Queue(queue) => (self.queues[queue].name.clone(), true),
                        Destination::Exchange(to) => (self.exchanges[to].name.clone(), false),
                    };
                    infos.push(BindingInfo {
                        vhost: vhost.clone(),
                        source: exchange.name.clone(),
                        destination,
                        destination_is_queue,
                        routing_key: routing_key.to_owned(),
                        arguments: arguments.clone(),
                    });
                }
            }
        }
        infos
    }

    /// Every open connection, by id.
    #[must_use]
    pub fn connection_infos(&self) -> Vec<ConnectionInfo> {
        self.connections
            .iter()
            .map(|(&conn, connection)| ConnectionInfo {
                conn,
                user: connection.user.clone(),
                vhost: connection.vhost.clone(),
                channels: connection.channels.len() as u64,
                channel_max: connection.channel_max,
                blocked: connection.blocked,
                paused: connection.paused,
            })
            .collect()
    }

    /// Every open channel, by connection and number.
    #[must_use]
    pub fn channel_infos(&self) -> Vec<ChannelInfo> {
        self.channel_index
            .values()
            .map(|&id| {
                let channel = &self.channels[id];
                ChannelInfo {
                    conn: channel.conn,
                    number: channel.number,
                    consumers: channel.consumers.len() as u64
                        + u64::from(channel.reply_consumer.is_some()),
                    messages_unacknowledged: channel.unacked().count() as u64,
                    prefetch_count: channel.consumer_prefetch,
                    global_prefetch_count: channel.channel_prefetch,
                    confirm: channel.next_confirm_seq.is_some(),
                    transactional: channel.tx.is_some(),
                }
            })
            .collect()
    }

    /// Every consumer of a queue, by connection, channel and tag (direct
    /// reply-to consumers, which consume no queue, are not listed).
    #[must_use]
    pub fn consumer_infos(&self) -> Vec<ConsumerInfo> {
        let mut infos = Vec::new();
        for &id in self.channel_index.values() {
            let channel = &self.channels[id];
            for &consumer in channel.consumers.values() {
                let consumer = &self.consumers[consumer];
                let queue = &self.queues[consumer.queue];
                infos.push(ConsumerInfo {
                    conn: channel.conn,
                    channel: channel.number,
                    tag: consumer.tag.clone(),
                    vhost: queue.vhost.clone(),
                    queue: queue.name.clone(),
                    no_ack: consumer.no_ack,
                    exclusive: consumer.exclusive,
                    prefetch_count: consumer.prefetch,
                });
            }
        }
        infos
    }
}
