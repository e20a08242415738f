//! Publishes in progress: basic.publish, then a content header, then body
//! frames, reassembled into one `Command::BasicPublish`.
//!
//! A body is kept up to one byte past the broker's message size limit: that
//! is enough for the core to refuse it (406) while the server never holds
//! more than the limit, whatever size a header claims. Nothing is reserved
//! for what a header announces: the body grows as its frames arrive, so a
//! client cannot make the server hold more than it has sent. A body still
//! incomplete after a frame is counted in the bytes the memory alarm
//! watches until it completes or is dropped.

use crate::wire::fields::properties_from_amqp;
use crate::wire::inbound::{PublishStart, Refusal};
use amq_protocol::frame::AMQPContentHeader;
use brokerlab_core::{Command, PublishProperties, ReplyCode};
use bytes::BytesMut;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The content class of basic messages, the only one with content.
const BASIC_CLASS_ID: u16 = 60;

/// Bytes of bodies still being received, across every connection; the
/// memory alarm adds them to what the queues hold.
pub type AssemblingBytes = Arc<AtomicU64>;

/// The part of the shared count that one incomplete body added, given back
/// when it is dropped (completed, or its channel or connection closed).
#[derive(Debug)]
struct Counted {
    shared: AssemblingBytes,
    bytes: u64,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.shared.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

/// A publish waiting for its content.
#[derive(Debug)]
pub struct Assembly {
    start: PublishStart,
    header: Option<Header>,
    body: BytesMut,
    received_bytes: u64,
    /// Set once the body spans more than one frame (most bodies do not).
    counted: Option<Counted>,
}

#[derive(Debug)]
struct Header {
    body_bytes: u64,
    properties: PublishProperties,
}

fn unexpected(text: &str) -> Refusal {
    Refusal::new(ReplyCode::UnexpectedFrame, text)
}

impl Assembly {
    /// A publish whose method frame has arrived.
    #[must_use]
    pub fn new(start: PublishStart) -> Assembly {
        Assembly {
            start,
            header: None,
            body: BytesMut::new(),
            received_bytes: 0,
            counted: None,
        }
    }

    /// Takes the content header; the command when the body is empty.
    pub fn header(&mut self, header: AMQPContentHeader) -> Result<Option<Command>, Refusal> {
        if self.header.is_some() {
            return Err(unexpected("a second content header"));
        }
        if header.class_id != BASIC_CLASS_ID {
            return Err(unexpected("content header of a class other than basic"));
        }
        self.header = Some(Header {
            body_bytes: header.body_size,
            // Given every time: the broker notices a repeat of the
            // channel's last properties and shares those instead.
            properties: PublishProperties::Given(Arc::new(properties_from_amqp(
                &header.properties,
            ))),
        });
        Ok(self.complete())
    }

    /// Takes a body frame; the command when the body is complete. A body
    /// still incomplete is counted in `assembling`.
    pub fn body(
        &mut self,
        data: &[u8],
        limit_bytes: usize,
        assembling: &AssemblingBytes,
    ) -> Result<Option<Command>, Refusal> {
        let Some(header) = &self.header else {
            return Err(unexpected("content body before its header"));
        };
        self.received_bytes += data.len() as u64;
        if self.received_bytes > header.body_bytes {
            return Err(unexpected("content body larger than its header said"));
        }
        let room = (limit_bytes + 1).saturating_sub(self.body.len());
        let kept = &data[..data.len().min(room)];
        self.body.extend_from_slice(kept);
        if self.received_bytes < header.body_bytes && !kept.is_empty() {
            let counted = self.counted.get_or_insert_with(|| Counted {
                shared: Arc::clone(assembling),
                bytes: 0,
            });
            counted.bytes += kept.len() as u64;
            assembling.fetch_add(kept.len() as u64, Ordering::Relaxed);
        }
        Ok(self.complete())
    }

    fn complete(&mut self) -> Option<Command> {
        if self.received_bytes < self.header.as_ref()?.body_bytes {
            return None;
        }
        let header = self.header.take()?;
        self.counted = None;
        Some(Command::BasicPublish {
            exchange: self.start.exchange.as_str().into(),
            routing_key: self.start.routing_key.as_str().into(),
            mandatory: self.start.mandatory,
            immediate: self.start.immediate,
            properties: header.properties,
            body: std::mem::take(&mut self.body).freeze(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use amq_protocol::protocol::BasicProperties;

    fn start() -> Assembly {
        Assembly::new(PublishStart {
            exchange: String::new(),
            routing_key: "q".into(),
            mandatory: false,
            immediate: false,
        })
    }

    fn header(body_size: u64) -> AMQPContentHeader {
        AMQPContentHeader {
            class_id: BASIC_CLASS_ID,
            body_size,
            properties: BasicProperties::default(),
        }
    }

    #[test]
    fn body_frames_are_reassembled_in_order() {
        let mut assembly = start();
        assert_eq!(assembly.header(header(5)), Ok(None));
        let assembling = AssemblingBytes::default();
        assert_eq!(assembly.body(b"he", 100, &assembling), Ok(None));
        let Ok(Some(Command::BasicPublish { body, .. })) = assembly.body(b"llo", 100, &assembling)
        else {
            panic!("the body is complete");
        };
        assert_eq!(&body[..], b"hello");
    }

    #[test]
    fn an_oversize_body_is_kept_only_one_byte_past_the_limit() {
        let mut assembly = start();
        assert_eq!(assembly.header(header(10)), Ok(None));
        let assembling = AssemblingBytes::default();
        let Ok(Some(Command::BasicPublish { body, .. })) = assembly.body(&[1; 10], 4, &assembling)
        else {
            panic!("the body is complete");
        };
        assert_eq!(body.len(), 5, "enough for the core to see it is too large");
    }

    #[test]
    fn more_body_than_announced_is_an_unexpected_frame() {
        let mut assembly = start();
        assert_eq!(assembly.header(header(1)), Ok(None));
        let assembling = AssemblingBytes::default();
        let refusal = assembly
            .body(b"xy", 100, &assembling)
            .expect_err("2 bytes > 1");
        assert_eq!(refusal.code, ReplyCode::UnexpectedFrame);
    }

    #[test]
    fn a_header_announcing_a_large_body_reserves_nothing_for_it() {
        let mut assembly = start();
        let gibibyte = 1 << 30;
        assert_eq!(assembly.header(header(gibibyte)), Ok(None));
        assert_eq!(
            assembly.body.capacity(),
            0,
            "nothing held before the body arrives"
        );
        let assembling = AssemblingBytes::default();
        assert_eq!(
            assembly.body(&[7; 4096], usize::MAX - 1, &assembling),
            Ok(None)
        );
        assert!(
            assembly.body.capacity() < 2 * 4096 + 64,
            "what arrived, give or take the growth: {}",
            assembly.body.capacity()
        );
    }

    #[test]
    fn an_incomplete_body_is_counted_until_it_completes_or_is_dropped() {
        let assembling = AssemblingBytes::default();
        let mut completed = start();
        let mut dropped = start();
        for assembly in [&mut completed, &mut dropped] {
            assert_eq!(assembly.header(header(6)), Ok(None));
            assert_eq!(assembly.body(b"abc", 100, &assembling), Ok(None));
        }
        assert_eq!(assembling.load(Ordering::Relaxed), 6);
        assert!(matches!(
            completed.body(b"def", 100, &assembling),
            Ok(Some(_))
        ));
        assert_eq!(assembling.load(Ordering::Relaxed), 3);
        drop(dropped);
        assert_eq!(assembling.load(Ordering::Relaxed), 0);
    }
}
