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
    pub headers: Option<Arc<FieldTable>>,
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

/// What a message carries besides its id and body: where it was published
/// (or dead-lettered) to, and its properties.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Envelope {
    /// Exchange it was published (or dead-lettered) to.
    pub exchange: Name,
    /// Routing key it was published (or dead-lettered) with.
    pub routing_key: Name,
    /// Basic properties.
    pub properties: Arc<Properties>,
}

/// An envelope shared by the messages that carry it. A channel's publishes in
/// a row to one exchange with one routing key and the same properties share
/// one (`Channel::last_envelope`), so a queued message holds a pointer rather
/// than two names and a pointer: 48 bytes, a third of a queued 16-byte
/// message (`reports/memory-vs-rabbitmq.md`). Serialized as the `Envelope` it
/// points to, so records keep their layout.
pub type SharedEnvelope = triomphe::Arc<Envelope>;

impl Envelope {
    /// The envelope for `exchange`, `routing_key` and `properties`, in an
    /// allocation of its own.
    #[must_use]
    pub fn shared(
        exchange: impl Into<Name>,
        routing_key: impl Into<Name>,
        properties: Arc<Properties>,
    ) -> SharedEnvelope {
        triomphe::Arc::new(Envelope {
            exchange: exchange.into(),
            routing_key: routing_key.into(),
            properties,
        })
    }

    /// Whether this envelope is for `exchange`, `routing_key` and the very
    /// same `properties` (the same allocation).
    #[inline]
    #[must_use]
    pub fn is(&self, exchange: &str, routing_key: &str, properties: &Arc<Properties>) -> bool {
        Arc::ptr_eq(&self.properties, properties)
            && self.routing_key == routing_key
            && self.exchange == exchange
    }
}

/// A message body: its bytes, of any length.
///
/// A body of at most [`Body::INLINE_MAX`] bytes (the small events, commands
/// and ids that make up much of a broker's traffic) is kept inline, in the
/// message's own allocation; a larger one is `Bytes`, shared and never
/// copied. An inline body spares an allocation of its own: 16 of the 104
/// bytes a queued 16-byte message took (`reports/memory-vs-rabbitmq.md`).
/// Either way it is the same size as `Bytes`, and compares, hashes and
/// serializes as its bytes.
#[derive(Clone)]
pub struct Body(BodyRepr);

#[derive(Clone)]
enum BodyRepr {
    Inline {
        len: u8,
        bytes: [u8; Body::INLINE_MAX],
    },
    Shared(Bytes),
}

const _: () = assert!(std::mem::size_of::<Body>() == std::mem::size_of::<Bytes>());

impl Body {
    /// The longest body kept inline.
    pub const INLINE_MAX: usize = 23;

    /// The empty body.
    #[must_use]
    pub const fn new() -> Body {
        Body(BodyRepr::Inline {
            len: 0,
            bytes: [0; Body::INLINE_MAX],
        })
    }

    /// The body as `Bytes`: a shared body's own, an inline body's copied.
    #[must_use]
    pub fn to_bytes(&self) -> Bytes {
        match &self.0 {
            BodyRepr::Inline { .. } => Bytes::copy_from_slice(self),
            BodyRepr::Shared(bytes) => bytes.clone(),
        }
    }

    /// Whether the body is kept inline.
    #[must_use]
    pub fn is_inline(&self) -> bool {
        matches!(self.0, BodyRepr::Inline { .. })
    }
}

impl Default for Body {
    fn default() -> Body {
        Body::new()
    }
}

impl From<Bytes> for Body {
    /// Keeps a short body inline (its `Bytes` is dropped), a longer one as it is.
    #[inline]
    fn from(bytes: Bytes) -> Body {
        let len = bytes.len();
        if len > Body::INLINE_MAX {
            return Body(BodyRepr::Shared(bytes));
        }
        let mut inline = [0; Body::INLINE_MAX];
        inline[..len].copy_from_slice(&bytes);
        Body(BodyRepr::Inline {
            len: len as u8,
            bytes: inline,
        })
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Body {
        Body::from(Bytes::from(bytes))
    }
}

impl From<&[u8]> for Body {
    fn from(bytes: &[u8]) -> Body {
        Body::from(Bytes::copy_from_slice(bytes))
    }
}

impl std::ops::Deref for Body {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        match &self.0 {
            BodyRepr::Inline { len, bytes } => &bytes[..usize::from(*len)],
            BodyRepr::Shared(bytes) => bytes,
        }
    }
}

impl AsRef<[u8]> for Body {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl PartialEq for Body {
    fn eq(&self, other: &Body) -> bool {
        **self == **other
    }
}

impl Eq for Body {}

impl PartialEq<Bytes> for Body {
    fn eq(&self, other: &Bytes) -> bool {
        **self == **other
    }
}

impl PartialEq<[u8]> for Body {
    fn eq(&self, other: &[u8]) -> bool {
        **self == *other
    }
}

impl std::hash::Hash for Body {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (**self).hash(state);
    }
}

impl std::fmt::Debug for Body {
    /// As `Bytes` shows itself: `b"..."`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            BodyRepr::Inline { .. } => std::fmt::Debug::fmt(&Bytes::copy_from_slice(self), f),
            BodyRepr::Shared(bytes) => std::fmt::Debug::fmt(bytes, f),
        }
    }
}

impl serde::Serialize for Body {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self)
    }
}

impl<'de> serde::Deserialize<'de> for Body {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Body, D::Error> {
        Bytes::deserialize(deserializer).map(Body::from)
    }
}

/// A message as a queue holds it: immutable and shared between the queues it
/// was routed to (an `Arc`, so fan-out and delivery copy a pointer, not a body).
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Message {
    /// Broker-assigned identity.
    pub id: MessageId,
    /// Its exchange, routing key and properties.
    pub envelope: SharedEnvelope,
    /// Body.
    pub body: Body,
}

impl Message {
    /// Exchange it was published (or dead-lettered) to.
    #[inline]
    #[must_use]
    pub fn exchange(&self) -> &Name {
        &self.envelope.exchange
    }

    /// Routing key it was published (or dead-lettered) with.
    #[inline]
    #[must_use]
    pub fn routing_key(&self) -> &Name {
        &self.envelope.routing_key
    }

    /// Basic properties.
    #[inline]
    #[must_use]
    pub fn properties(&self) -> &Arc<Properties> {
        &self.envelope.properties
    }

    /// The properties to change, copied first where they are shared.
    pub fn properties_mut(&mut self) -> &mut Properties {
        Arc::make_mut(&mut SharedEnvelope::make_mut(&mut self.envelope).properties)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_of_up_to_23_bytes_is_inline_and_a_longer_one_is_shared() {
        let short = Body::from(&[7u8; Body::INLINE_MAX][..]);
        assert!(short.is_inline());
        assert_eq!(&short[..], &[7u8; Body::INLINE_MAX][..]);
        let bytes = Bytes::from(vec![7u8; Body::INLINE_MAX + 1]);
        let long = Body::from(bytes.clone());
        assert!(!long.is_inline());
        assert_eq!(
            long.to_bytes().as_ptr(),
            bytes.as_ptr(),
            "shared, not copied"
        );
        assert_eq!(long, bytes);
    }
}
