//! Messages and their AMQP basic properties.

use crate::field::FieldTable;
use bytes::Bytes;
use std::sync::Arc;

/// A name: of an exchange, a queue or a consumer, or a routing key. These are
/// AMQP short strings (at most 255 bytes), and most are short: up to 23 bytes
/// are kept inline (`smol_str`), so copying a name into a delivery or an
/// event copies bytes. An `Arc<str>` would cost two atomic instructions per
/// copy (one to count it, one to drop it), the largest cost of the message
/// path (`reports/bench-core.md`).
pub type Name = smol_str::SmolStr;

/// The broker's identity for a published message. It is assigned at publish,
/// in publish order, and kept through requeues and dead-lettering, so checkers
/// can follow one message across queues. A recovered broker numbers on from
/// the highest id its log names: ids of messages that were gone before a crash
/// (and compacted out of the log) may be issued again, so end-to-end identity
/// across restarts belongs in the `message_id` property.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct MessageId(pub u64);

/// The AMQP basic properties. Every one travels unchanged to the consumer,
/// except where dead-lettering rewrites `expiration` and `headers`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Properties {
    /// MIME content type.
    pub content_type: Option<String>,
    /// MIME content encoding.
    pub content_encoding: Option<String>,
    /// Application headers.
    pub headers: Option<FieldTable>,
    /// 1 = transient, 2 = persistent.
    pub delivery_mode: Option<u8>,
    /// Message priority, 0 to 255.
    pub priority: Option<u8>,
    /// Application correlation identifier.
    pub correlation_id: Option<String>,
    /// Address to reply to.
    pub reply_to: Option<String>,
    /// Per-message TTL: a string holding a non-negative integer of milliseconds.
    pub expiration: Option<String>,
    /// Application message identifier.
    pub message_id: Option<String>,
    /// Message timestamp, in seconds.
    pub timestamp: Option<u64>,
    /// Message type name (AMQP's `type`).
    pub kind: Option<String>,
    /// Creating user id.
    pub user_id: Option<String>,
    /// Creating application id.
    pub app_id: Option<String>,
    /// Deprecated cluster id.
    pub cluster_id: Option<String>,
}

impl Properties {
    /// Whether `delivery_mode` asks for a persistent message.
    #[must_use]
    pub fn is_persistent(&self) -> bool {
        self.delivery_mode == Some(2)
    }
}

/// A message as the broker shares it between the queues it was routed to,
/// their unacknowledged deliveries and the deliver replies that carry it.
///
/// A `triomphe::Arc`, which has no weak count: asking whether the broker
/// holds the last reference (to reuse the allocation of an acked message,
/// `pool.rs`) is a plain load, where `std::sync::Arc::get_mut` takes an atomic
/// compare-and-swap, among the costliest instructions of the message path.
pub type SharedMessage = triomphe::Arc<Message>;

/// A message as a queue holds it: immutable and shared between the queues it
/// was routed to (an `Arc`, so fan-out and delivery copy a pointer, not a body).
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Message {
    /// Broker-assigned identity.
    pub id: MessageId,
    /// Exchange it was published (or dead-lettered) to.
    pub exchange: Name,
    /// Routing key it was published (or dead-lettered) with.
    pub routing_key: Name,
    /// Basic properties.
    pub properties: Arc<Properties>,
    /// Body.
    pub body: Bytes,
}
