//! A bounded pool of message allocations, so that the steady publish →
//! deliver → ack path reuses the `SharedMessage` an ack frees rather than
//! returning it to the allocator and asking for a new one at the next publish.
//!
//! A multiple ack frees many messages at once, more than the allocator's
//! per-thread cache holds, and the allocator's slow path then costs more than
//! the rest of the message's trip through the broker (measured with callgrind:
//! `scripts/instructions-per-message.sh`). The pool holds only messages no one
//! else can see (the broker held the last reference), so reusing one is
//! invisible: the broker keeps it `Unobserved`, out of its state.

use crate::message::{Message, MessageId, Name, Properties, SharedMessage};
use bytes::Bytes;
use std::sync::Arc;
use triomphe::UniqueArc;

/// The properties of a message to allocate.
pub(crate) enum PropertiesSource<'a> {
    /// Its own reference, which the message takes.
    Given(Arc<Properties>),
    /// A reference kept elsewhere (a channel's last properties), cloned only
    /// when the pooled message does not hold it already.
    Shared(&'a Arc<Properties>),
}

/// The most message allocations the pool keeps: a multiple ack of a full
/// default prefetch window fits, and the memory it pins stays small because a
/// pooled message keeps no body and no headers (see `MessagePool::recycle`).
pub(crate) const MESSAGE_POOL_MAX: usize = 256;

/// Message allocations whose only reference the broker dropped.
#[derive(Default)]
pub(crate) struct MessagePool {
    /// Each one unique: no other reference points to it.
    free: Vec<UniqueArc<Message>>,
    /// Stands in for the properties of a pooled message that had headers,
    /// so that the pool never pins a large header table.
    empty_properties: Option<Arc<Properties>>,
}

impl MessagePool {
    /// A message in an `Arc`, reusing a pooled allocation when there is one.
    /// Shared properties that the pooled message already holds stay, with no
    /// reference count change.
    pub(crate) fn allocate(
        &mut self,
        id: MessageId,
        exchange: Name,
        routing_key: Name,
        properties: PropertiesSource<'_>,
        body: Bytes,
    ) -> SharedMessage {
        match self.free.pop() {
            Some(mut pooled) => {
                // Overwriting drops the previous occupant's exchange, routing
                // key and properties here, one at a time, where the allocator's
                // per-thread cache takes them cheaply.
                pooled.id = id;
                pooled.exchange = exchange;
                pooled.routing_key = routing_key;
                match properties {
                    PropertiesSource::Given(given) => pooled.properties = given,
                    PropertiesSource::Shared(shared) => {
                        if !Arc::ptr_eq(&pooled.properties, shared) {
                            pooled.properties = Arc::clone(shared);
                        }
                    }
                }
                // `recycle` left the empty body, which owns nothing: replaced
                // without the call that would drop it.
                debug_assert!(pooled.body.is_empty(), "a pooled message keeps no body");
                std::mem::forget(std::mem::replace(&mut pooled.body, body));
                pooled.shareable()
            }
            None => SharedMessage::new(Message {
                id,
                exchange,
                routing_key,
                properties: match properties {
                    PropertiesSource::Given(given) => given,
                    PropertiesSource::Shared(shared) => Arc::clone(shared),
                },
                body,
            }),
        }
    }

    /// Keeps the allocation of a message the broker is done with, if the
    /// broker held its last reference and the pool has room; otherwise drops
    /// it as usual.
    pub(crate) fn recycle(&mut self, message: SharedMessage) {
        if self.free.len() >= MESSAGE_POOL_MAX {
            return;
        }
        let Ok(mut unique) = SharedMessage::try_unique(message) else {
            return;
        };
        // A body can be large and headers can be many: release them now. The
        // other fields are AMQP short strings, at most 255 bytes each.
        unique.body = Bytes::new();
        if unique.properties.headers.is_some() {
            let empty = self.empty_properties.get_or_insert_with(Arc::default);
            unique.properties = empty.clone();
        }
        self.free.push(unique);
        assert!(self.free.len() <= MESSAGE_POOL_MAX, "the pool is bounded");
    }
}

impl std::fmt::Debug for MessagePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MessagePool({} free)", self.free.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Allocates `message` from the pool, with its own properties.
    fn allocate(pool: &mut MessagePool, message: Message) -> SharedMessage {
        let Message {
            id,
            exchange,
            routing_key,
            properties,
            body,
        } = message;
        pool.allocate(
            id,
            exchange,
            routing_key,
            PropertiesSource::Given(properties),
            body,
        )
    }

    fn message(id: u64) -> Message {
        Message {
            id: MessageId(id),
            exchange: "x".into(),
            routing_key: "k".into(),
            properties: Arc::default(),
            body: Bytes::from_static(b"body"),
        }
    }

    #[test]
    fn recycled_allocation_carries_the_next_message() {
        let mut pool = MessagePool::default();
        let first = allocate(&mut pool, message(1));
        let address = SharedMessage::as_ptr(&first);
        pool.recycle(first);
        let second = allocate(&mut pool, message(2));
        assert_eq!(SharedMessage::as_ptr(&second), address);
        assert_eq!(*second, message(2));
    }

    #[test]
    fn shared_message_is_not_recycled() {
        let mut pool = MessagePool::default();
        let first = allocate(&mut pool, message(1));
        let kept = first.clone();
        pool.recycle(first);
        let second = allocate(&mut pool, message(2));
        assert_eq!(*kept, message(1), "the shared message is untouched");
        assert_ne!(SharedMessage::as_ptr(&second), SharedMessage::as_ptr(&kept));
    }

    #[test]
    fn pooled_message_keeps_no_body_or_headers() {
        let mut pool = MessagePool::default();
        let mut with_headers = message(1);
        Arc::make_mut(&mut with_headers.properties).headers = Some(Default::default());
        pool.recycle(SharedMessage::new(with_headers));
        let pooled = &pool.free[0];
        assert!(pooled.body.is_empty());
        assert_eq!(pooled.properties.headers, None);
    }

    /// Allocates message `id` from the pool, with properties kept elsewhere.
    fn allocate_shared(pool: &mut MessagePool, id: u64, shared: &Arc<Properties>) -> SharedMessage {
        let shared = PropertiesSource::Shared(shared);
        pool.allocate(MessageId(id), "x".into(), "k".into(), shared, Bytes::new())
    }

    #[test]
    fn shared_properties_a_pooled_message_holds_stay_without_a_count_change() {
        let mut pool = MessagePool::default();
        let shared = Arc::new(Properties {
            delivery_mode: Some(2),
            ..Default::default()
        });
        let first = allocate_shared(&mut pool, 1, &shared);
        assert_eq!(
            Arc::strong_count(&shared),
            2,
            "the message holds a reference"
        );
        pool.recycle(first);
        let second = allocate_shared(&mut pool, 2, &shared);
        assert!(Arc::ptr_eq(&second.properties, &shared));
        assert_eq!(Arc::strong_count(&shared), 2, "still the one reference");
        assert_eq!(second.id, MessageId(2));
    }

    #[test]
    fn other_shared_properties_replace_a_pooled_messages() {
        let mut pool = MessagePool::default();
        pool.recycle(SharedMessage::new(message(1)));
        let shared = Arc::new(Properties {
            priority: Some(3),
            ..Default::default()
        });
        let second = allocate_shared(&mut pool, 2, &shared);
        assert!(Arc::ptr_eq(&second.properties, &shared));
        assert_eq!(second.properties.priority, Some(3));
    }

    #[test]
    fn pool_is_bounded() {
        let mut pool = MessagePool::default();
        for id in 0..2 * MESSAGE_POOL_MAX as u64 {
            pool.recycle(SharedMessage::new(message(id)));
        }
        assert_eq!(pool.free.len(), MESSAGE_POOL_MAX);
    }
}
