//! What the HTTP listeners ask of the broker task, and what it answers.
//!
//! The broker task is the only owner of the `Broker`, so the metrics and
//! management listeners never read it: they send a request through the
//! task's inbox and wait for the answer. A [`Snapshot`] is a copy of what
//! the core lists and counts, taken between two steps. A [`Manage`] request
//! runs commands on a connection of its own, which the broker task opens,
//! drives and closes within one step: changes go through the core's rules
//! and its access control like any client's, and reach the log like any
//! client's.

use brokerlab_core::{
    BindingInfo, Broker, ChannelInfo, Command, ConnectionId, ConnectionInfo, ConsumerInfo,
    Counters, ExchangeInfo, Name, QueueInfo, Reply,
};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use tokio::sync::oneshot;

/// The first connection id of the management requests' connections; the
/// accept loop numbers sockets from 1 and never reaches it.
pub(crate) const MANAGEMENT_CONNECTIONS_FIRST: u64 = 1 << 63;

/// A copy of the broker's listings and counters at one moment.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// The vhosts, by name.
    pub vhosts: Vec<Name>,
    /// Every queue, by vhost and name.
    pub queues: Vec<QueueInfo>,
    /// Every exchange, by vhost and name.
    pub exchanges: Vec<ExchangeInfo>,
    /// Every explicit binding, by vhost and source.
    pub bindings: Vec<BindingInfo>,
    /// Every open client connection, by id.
    pub connections: Vec<ConnectionInfo>,
    /// Every open channel, by connection and number.
    pub channels: Vec<ChannelInfo>,
    /// Every queue consumer.
    pub consumers: Vec<ConsumerInfo>,
    /// The message path's totals.
    pub counters: Counters,
    /// Body bytes the broker holds (`Broker::held_bytes`).
    pub held_bytes: u64,
    /// The memory alarm is raised.
    pub memory_alarm: bool,
    /// Each connection's peer address.
    pub peers: BTreeMap<ConnectionId, SocketAddr>,
}

impl Snapshot {
    /// Copies what `broker` lists and counts.
    pub(crate) fn of(broker: &Broker, peers: &BTreeMap<ConnectionId, SocketAddr>) -> Snapshot {
        Snapshot {
            vhosts: broker.vhost_names().cloned().collect(),
            queues: broker.queue_infos(),
            exchanges: broker.exchange_infos(),
            bindings: broker.binding_infos(),
            connections: broker.connection_infos(),
            channels: broker.channel_infos(),
            consumers: broker.consumer_infos(),
            counters: *broker.counters(),
            held_bytes: broker.held_bytes(),
            memory_alarm: broker.memory_alarm_raised(),
            peers: peers.clone(),
        }
    }
}

/// Commands to run as `user` on `vhost`, on one channel of a connection
/// of their own, stopping at the first that fails.
#[derive(Debug)]
pub struct Manage {
    /// The user the commands run as (the core applies its permissions).
    pub user: String,
    /// The vhost the connection opens.
    pub vhost: String,
    /// The commands, in order.
    pub commands: Vec<Command>,
    /// Where the replies go: one per command, or why one failed.
    pub done: oneshot::Sender<Result<Vec<Reply>, Refusal>>,
}

/// Why a management command failed: the reply code and text the core
/// closed its channel or connection with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// AMQP's reply code (404, 403, 406, 530, ...).
    pub code: u16,
    /// The core's words.
    pub text: String,
}
