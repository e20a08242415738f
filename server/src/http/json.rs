//! The management API's JSON: the broker's listings in the shapes and
//! field names RabbitMQ's management API gives them, and AMQP field tables
//! to and from JSON as RabbitMQ converts them.

use crate::inspect::Snapshot;
use brokerlab_core::{
    BindingInfo, ChannelInfo, ConnectionId, ConnectionInfo, ConsumerInfo, ExchangeInfo, FieldTable,
    FieldValue, QueueInfo,
};
use serde_json::{json, Map, Value};
use std::net::SocketAddr;

/// The node name every object reports.
pub(crate) const NODE: &str = "brokerlab@localhost";

/// The RabbitMQ version whose management API this one follows.
pub(crate) const RABBITMQ_VERSION: &str = "3.10.8";

/// Deepest nesting of arrays and tables a JSON argument may have (the
/// wire's bound, `FIELD_NESTING_MAX`).
const NESTING_MAX: usize = 32;

/// A field table as RabbitMQ's management API writes it: numbers as
/// numbers, strings as strings, byte arrays as text when they are UTF-8.
pub(crate) fn table(table: &FieldTable) -> Value {
    Value::Object(
        table
            .iter()
            .map(|(key, value)| (key.clone(), field(value)))
            .collect(),
    )
}

fn field(value: &FieldValue) -> Value {
    match value {
        FieldValue::Bool(v) => json!(v),
        FieldValue::I8(v) => json!(v),
        FieldValue::U8(v) => json!(v),
        FieldValue::I16(v) => json!(v),
        FieldValue::U16(v) => json!(v),
        FieldValue::I32(v) => json!(v),
        FieldValue::U32(v) => json!(v),
        FieldValue::I64(v) => json!(v),
        FieldValue::Timestamp(v) => json!(v),
        FieldValue::F32(bits) => json!(f32::from_bits(*bits)),
        FieldValue::F64(bits) => json!(f64::from_bits(*bits)),
        FieldValue::Decimal { scale, value } => {
            json!(f64::from(*value) / 10f64.powi(i32::from(*scale)))
        }
        FieldValue::LongString(bytes) | FieldValue::ByteArray(bytes) => {
            json!(String::from_utf8_lossy(bytes))
        }
        FieldValue::Array(values) => Value::Array(values.iter().map(field).collect()),
        FieldValue::Table(nested) => table(nested),
        FieldValue::Void => Value::Null,
    }
}

/// A JSON object as a field table, as RabbitMQ's management API reads
/// arguments: integers as `long`, other numbers as `double`, strings as
/// long strings.
pub(crate) fn to_table(object: &Map<String, Value>) -> Result<FieldTable, String> {
    to_table_within(object, 0)
}

fn to_table_within(object: &Map<String, Value>, depth: usize) -> Result<FieldTable, String> {
    if depth > NESTING_MAX {
        return Err(format!("arguments nest deeper than {NESTING_MAX} levels"));
    }
    object
        .iter()
        .map(|(key, value)| Ok((key.clone(), to_field(value, depth)?)))
        .collect()
}

fn to_field(value: &Value, depth: usize) -> Result<FieldValue, String> {
    Ok(match value {
        Value::Null => FieldValue::Void,
        Value::Bool(v) => FieldValue::Bool(*v),
        Value::Number(number) => match number.as_i64() {
            Some(integer) => FieldValue::I64(integer),
            None => FieldValue::F64(number.as_f64().unwrap_or(f64::NAN).to_bits()),
        },
        Value::String(text) => FieldValue::string(text),
        Value::Array(values) => FieldValue::Array(
            values
                .iter()
                .map(|value| to_field(value, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(object) => FieldValue::Table(to_table_within(object, depth + 1)?),
    })
}

/// RabbitMQ's name of a connection: `peer -> listener`.
pub(crate) fn connection_name(
    snapshot: &Snapshot,
    conn: ConnectionId,
    listen: SocketAddr,
) -> String {
    match snapshot.peers.get(&conn) {
        Some(peer) => format!("{peer} -> {listen}"),
        None => format!("connection {} -> {listen}", conn.0),
    }
}

pub(crate) fn queue(info: &QueueInfo) -> Value {
    let messages = info.messages_ready + info.messages_unacknowledged;
    json!({
        "name": info.name,
        "vhost": info.vhost,
        "type": if info.stream { "stream" } else { "classic" },
        "durable": info.durable,
        "auto_delete": info.auto_delete,
        "exclusive": info.exclusive,
        "arguments": table(&info.arguments),
        "node": NODE,
        "state": "running",
        "policy": null,
        "exclusive_consumer_tag": null,
        "consumers": info.consumers,
        "messages": messages,
        "messages_ready": info.messages_ready,
        "messages_unacknowledged": info.messages_unacknowledged,
        "message_bytes": info.messages_ready_bytes + info.messages_unacknowledged_bytes,
        "message_bytes_ready": info.messages_ready_bytes,
        "message_bytes_unacknowledged": info.messages_unacknowledged_bytes,
    })
}

pub(crate) fn exchange(info: &ExchangeInfo) -> Value {
    json!({
        "name": info.name,
        "vhost": info.vhost,
        "type": info.kind.as_str(),
        "durable": info.durable,
        "auto_delete": info.auto_delete,
        "internal": info.internal,
        "arguments": table(&info.arguments),
        "user_who_performed_action": "rmq-internal",
    })
}

/// RabbitMQ's key of a binding among those between the same two ends.
fn properties_key(info: &BindingInfo) -> String {
    if info.arguments.is_empty() {
        return info.routing_key.clone();
    }
    let arguments = serde_json::to_string(&table(&info.arguments)).unwrap_or_default();
    let hash = arguments
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3)
        });
    format!("{}~{hash:016x}", info.routing_key)
}

pub(crate) fn binding(info: &BindingInfo) -> Value {
    json!({
        "source": info.source,
        "vhost": info.vhost,
        "destination": info.destination,
        "destination_type": if info.destination_is_queue { "queue" } else { "exchange" },
        "routing_key": info.routing_key,
        "arguments": table(&info.arguments),
        "properties_key": properties_key(info),
    })
}

/// The default exchange's implicit binding to `queue`, by its name.
pub(crate) fn default_binding(queue: &QueueInfo) -> BindingInfo {
    BindingInfo {
        vhost: queue.vhost.clone(),
        source: "".into(),
        destination: queue.name.clone(),
        destination_is_queue: true,
        routing_key: queue.name.to_string(),
        arguments: FieldTable::new(),
    }
}

pub(crate) fn connection(snapshot: &Snapshot, info: &ConnectionInfo, listen: SocketAddr) -> Value {
    let peer = snapshot.peers.get(&info.conn);
    json!({
        "name": connection_name(snapshot, info.conn, listen),
        "node": NODE,
        "type": "network",
        "protocol": "AMQP 0-9-1",
        "state": if info.blocked { "blocked" } else if info.paused { "flow" } else { "running" },
        "user": info.user,
        "vhost": info.vhost,
        "channels": info.channels,
        "channel_max": info.channel_max,
        "peer_host": peer.map(|peer| peer.ip().to_string()),
        "peer_port": peer.map(SocketAddr::port),
        "host": listen.ip().to_string(),
        "port": listen.port(),
    })
}

/// A channel's connection, or `None` when it closed.
fn connection_of(snapshot: &Snapshot, conn: ConnectionId) -> Option<&ConnectionInfo> {
    snapshot
        .connections
        .iter()
        .find(|connection| connection.conn == conn)
}

pub(crate) fn channel(snapshot: &Snapshot, info: &ChannelInfo, listen: SocketAddr) -> Value {
    let connection_name = connection_name(snapshot, info.conn, listen);
    let connection = connection_of(snapshot, info.conn);
    let peer = snapshot.peers.get(&info.conn);
    json!({
        "name": format!("{connection_name} ({})", info.number.0),
        "number": info.number.0,
        "node": NODE,
        "state": "running",
        "user": connection.map(|c| c.user.clone()),
        "vhost": connection.map(|c| c.vhost.to_string()),
        "connection_details": {
            "name": connection_name,
            "peer_host": peer.map(|peer| peer.ip().to_string()),
            "peer_port": peer.map(SocketAddr::port),
        },
        "consumer_count": info.consumers,
        "messages_unacknowledged": info.messages_unacknowledged,
        "prefetch_count": info.prefetch_count,
        "global_prefetch_count": info.global_prefetch_count,
        "confirm": info.confirm,
        "transactional": info.transactional,
    })
}

pub(crate) fn consumer(snapshot: &Snapshot, info: &ConsumerInfo, listen: SocketAddr) -> Value {
    let connection_name = connection_name(snapshot, info.conn, listen);
    let connection = connection_of(snapshot, info.conn);
    let peer = snapshot.peers.get(&info.conn);
    json!({
        "consumer_tag": info.tag,
        "queue": { "name": info.queue, "vhost": info.vhost },
        "channel_details": {
            "name": format!("{connection_name} ({})", info.channel.0),
            "number": info.channel.0,
            "connection_name": connection_name,
            "node": NODE,
            "user": connection.map(|c| c.user.clone()),
            "peer_host": peer.map(|peer| peer.ip().to_string()),
            "peer_port": peer.map(SocketAddr::port),
        },
        "ack_required": !info.no_ack,
        "exclusive": info.exclusive,
        "prefetch_count": info.prefetch_count,
        "active": true,
        "activity_status": "up",
        "arguments": {},
    })
}

/// A vhost with its queues' message totals.
pub(crate) fn vhost(snapshot: &Snapshot, name: &str) -> Value {
    let queues = snapshot.queues.iter().filter(|queue| queue.vhost == name);
    let (ready, unacked) = queues.fold((0, 0), |(ready, unacked), queue| {
        (
            ready + queue.messages_ready,
            unacked + queue.messages_unacknowledged,
        )
    });
    json!({
        "name": name,
        "description": if name == "/" { "Default virtual host" } else { "" },
        "tags": [],
        "tracing": false,
        "messages": ready + unacked,
        "messages_ready": ready,
        "messages_unacknowledged": unacked,
    })
}

/// `/api/overview`: versions, object and message totals, and the counters
/// as RabbitMQ's `message_stats` names them.
pub(crate) fn overview(snapshot: &Snapshot, listen: SocketAddr) -> Value {
    let counters = &snapshot.counters;
    let (ready, unacked) = snapshot
        .queues
        .iter()
        .fold((0, 0), |(ready, unacked), queue| {
            (
                ready + queue.messages_ready,
                unacked + queue.messages_unacknowledged,
            )
        });
    json!({
        "management_version": RABBITMQ_VERSION,
        "rabbitmq_version": RABBITMQ_VERSION,
        "product_name": "brokerlab",
        "product_version": env!("CARGO_PKG_VERSION"),
        "rates_mode": "none",
        "cluster_name": NODE,
        "node": NODE,
        "object_totals": {
            "connections": snapshot.connections.len(),
            "channels": snapshot.channels.len(),
            "exchanges": snapshot.exchanges.len(),
            "queues": snapshot.queues.len(),
            "consumers": snapshot.consumers.len(),
        },
        "queue_totals": {
            "messages": ready + unacked,
            "messages_ready": ready,
            "messages_unacknowledged": unacked,
        },
        "message_stats": {
            "publish": counters.received,
            "confirm": counters.confirmed,
            "return_unroutable": counters.unroutable_returned,
            "drop_unroutable": counters.unroutable_dropped,
            "deliver": counters.delivered_consume_manual_ack,
            "deliver_no_ack": counters.delivered_consume_auto_ack,
            "get": counters.delivered_get_manual_ack,
            "get_no_ack": counters.delivered_get_auto_ack,
            "get_empty": counters.get_empty,
            "deliver_get": counters.delivered(),
            "redeliver": counters.redelivered,
            "ack": counters.acknowledged,
        },
        "listeners": [
            { "node": NODE, "protocol": "amqp", "ip_address": listen.ip().to_string(), "port": listen.port() },
        ],
        "contexts": [],
    })
}
