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

use crate::message::{Body, Envelope, Message, MessageId, SharedEnvelope, SharedMessage};
use bytes::Bytes;
use std::sync::Arc;
use triomphe::UniqueArc;

/// The most message allocations the pool keeps: a multiple ack of a full
/// default prefetch window fits, and the memory it pins stays small because a
/// pooled message keeps no body and no headers (see `MessagePool::recycle`).
pub(crate) const MESSAGE_POOL_MAX: usize = 256;

/// Message allocations whose only reference the broker dropped.
#[derive(Default)]
pub(crate) struct MessagePool {
    /// Each one unique: no other reference points to it.
    free: Vec<UniqueArc<Message>>,
    /// Stands in for the envelope of a pooled message whose properties had
    /// headers, so that the pool never pins a large header table.
    empty_envelope: Option<SharedEnvelope>,
}

impl MessagePool {
    /// A message in an `Arc`, reusing a pooled allocation when there is one.
    /// An envelope that the pooled message holds already stays, with no
    /// reference count change.
    pub(crate) fn allocate(
        &mut self,
        id: MessageId,
        envelope: &SharedEnvelope,
        body: Bytes,
    ) -> SharedMessage {
        let body = Body::from(body);
        match self.free.pop() {
            Some(mut pooled) => {
                pooled.id = id;
                // Overwriting drops the previous occupant's envelope here,
                // where the allocator's per-thread cache takes it cheaply.
                if !SharedEnvelope::ptr_eq(&pooled.envelope, envelope) {
                    pooled.envelope = SharedEnvelope::clone(envelope);
                }
                // `recycle` left the empty body, which owns nothing: replaced
                // without the call that would drop it.
                debug_assert!(pooled.body.is_empty(), "a pooled message keeps no body");
                std::mem::forget(std::mem::replace(&mut pooled.body, body));
                pooled.shareable()
            }
            None => SharedMessage::new(Message {
                id,
                envelope: SharedEnvelope::clone(envelope),
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
        unique.body = Body::new();
        if unique.envelope.properties.headers.is_some() {
            let empty = self
                .empty_envelope
                .get_or_insert_with(|| Envelope::shared("", "", Arc::default()));
            unique.envelope = empty.clone();
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
    use crate::message::Properties;

    fn envelope(properties: Properties) -> SharedEnvelope {
        Envelope::shared("x", "k", Arc::new(properties))
    }

    fn message(id: u64) -> Message {
        Message {
            id: MessageId(id),
            envelope: envelope(Properties::default()),
            body: Bytes::from_static(b"body").into(),
        }
    }

    /// Allocates `message` from the pool.
    fn allocate(pool: &mut MessagePool, message: Message) -> SharedMessage {
        pool.allocate(message.id, &message.envelope, message.body.to_bytes())
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
        let with_headers = Message {
            envelope: envelope(Properties {
                headers: Some(Default::default()),
                ..Default::default()
            }),
            ..message(1)
        };
        pool.recycle(SharedMessage::new(with_headers));
        let pooled = &pool.free[0];
        assert!(pooled.body.is_empty());
        assert_eq!(pooled.properties().headers, None);
    }

    #[test]
    fn an_envelope_a_pooled_message_holds_stays_without_a_count_change() {
        let mut pool = MessagePool::default();
        let shared = envelope(Properties {
            delivery_mode: Some(2),
            ..Default::default()
        });
        let first = pool.allocate(MessageId(1), &shared, Bytes::new());
        let count = SharedEnvelope::count(&shared);
        assert_eq!(count, 2, "the message holds a reference");
        pool.recycle(first);
        let second = pool.allocate(MessageId(2), &shared, Bytes::new());
        assert!(SharedEnvelope::ptr_eq(&second.envelope, &shared));
        let count = SharedEnvelope::count(&shared);
        assert_eq!(count, 2, "still the one reference");
        assert_eq!(second.id, MessageId(2));
    }

    #[test]
    fn another_envelope_replaces_a_pooled_messages() {
        let mut pool = MessagePool::default();
        pool.recycle(SharedMessage::new(message(1)));
        let shared = envelope(Properties {
            priority: Some(3),
            ..Default::default()
        });
        let second = pool.allocate(MessageId(2), &shared, Bytes::new());
        assert!(SharedEnvelope::ptr_eq(&second.envelope, &shared));
        assert_eq!(second.properties().priority, Some(3));
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
