//! Publishes in progress: basic.publish, then a content header, then body
//! frames, reassembled into one `Command::BasicPublish`.
//!
//! A body is kept up to one byte past the broker's message size limit: that
//! is enough for the core to refuse it (406) while the server never holds
//! more than the limit, whatever size a header claims.

use crate::wire::fields::properties_from_amqp;
use crate::wire::inbound::{PublishStart, Refusal};
use amq_protocol::frame::AMQPContentHeader;
use brokerlab_core::{Command, Properties, PublishProperties, ReplyCode};
use bytes::BytesMut;
use std::sync::Arc;

/// The content class of basic messages, the only one with content.
const BASIC_CLASS_ID: u16 = 60;

/// Bytes reserved for a body up front, whatever its header claims; the rest
/// grows as body frames actually arrive.
const BODY_RESERVE_MAX_BYTES: usize = 1 << 20;

/// The properties a channel last published with. A publish that carries the
/// same ones again goes to the broker as `PublishProperties::Repeated`:
/// publishers mostly repeat theirs, and a repeat costs neither an allocation
/// nor a shared reference count change, here or in the broker.
///
/// The broker keeps the channel's last properties too; the two agree because
/// this lives in the channel's state, which starts afresh whenever the
/// broker's channel does (opened, or closed by either side).
#[derive(Debug, Default)]
pub struct LastProperties(Option<Arc<Properties>>);

impl LastProperties {
    /// What a publish with `properties` tells the broker.
    pub fn publish(&mut self, properties: Properties) -> PublishProperties {
        if self.0.as_deref() == Some(&properties) {
            return PublishProperties::Repeated;
        }
        let shared = Arc::new(properties);
        self.0 = Some(Arc::clone(&shared));
        PublishProperties::Given(shared)
    }
}

/// A publish waiting for its content.
#[derive(Debug)]
pub struct Assembly {
    start: PublishStart,
    header: Option<Header>,
    body: BytesMut,
    received_bytes: u64,
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
        }
    }

    /// Takes the content header; the command when the body is empty.
    pub fn header(
        &mut self,
        header: AMQPContentHeader,
        limit_bytes: usize,
        last: &mut LastProperties,
    ) -> Result<Option<Command>, Refusal> {
        if self.header.is_some() {
            return Err(unexpected("a second content header"));
        }
        if header.class_id != BASIC_CLASS_ID {
            return Err(unexpected("content header of a class other than basic"));
        }
        let reserve = usize::try_from(header.body_size)
            .unwrap_or(usize::MAX)
            .min(limit_bytes + 1)
            .min(BODY_RESERVE_MAX_BYTES);
        self.body.reserve(reserve);
        self.header = Some(Header {
            body_bytes: header.body_size,
            properties: last.publish(properties_from_amqp(&header.properties)),
        });
        Ok(self.complete())
    }

    /// Takes a body frame; the command when the body is complete.
    pub fn body(&mut self, data: &[u8], limit_bytes: usize) -> Result<Option<Command>, Refusal> {
        let Some(header) = &self.header else {
            return Err(unexpected("content body before its header"));
        };
        self.received_bytes += data.len() as u64;
        if self.received_bytes > header.body_bytes {
            return Err(unexpected("content body larger than its header said"));
        }
        let room = (limit_bytes + 1).saturating_sub(self.body.len());
        self.body.extend_from_slice(&data[..data.len().min(room)]);
        Ok(self.complete())
    }

    fn complete(&mut self) -> Option<Command> {
        if self.received_bytes < self.header.as_ref()?.body_bytes {
            return None;
        }
        let header = self.header.take()?;
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
    fn a_publish_repeating_the_channels_last_properties_is_sent_as_a_repeat() {
        let mut last = LastProperties::default();
        assert_eq!(
            last.publish(Properties::default()),
            PublishProperties::Given(Arc::default()),
            "the channel's first publish gives its properties"
        );
        assert_eq!(
            last.publish(Properties::default()),
            PublishProperties::Repeated
        );
        let persistent = Properties {
            delivery_mode: Some(2),
            ..Properties::default()
        };
        assert_eq!(
            last.publish(persistent.clone()),
            PublishProperties::Given(Arc::new(persistent.clone())),
            "different properties are given"
        );
        assert_eq!(last.publish(persistent), PublishProperties::Repeated);
    }

    #[test]
    fn body_frames_are_reassembled_in_order() {
        let mut assembly = start();
        assert_eq!(
            assembly.header(header(5), 100, &mut LastProperties::default()),
            Ok(None)
        );
        assert_eq!(assembly.body(b"he", 100), Ok(None));
        let Ok(Some(Command::BasicPublish { body, .. })) = assembly.body(b"llo", 100) else {
            panic!("the body is complete");
        };
        assert_eq!(&body[..], b"hello");
    }

    #[test]
    fn an_oversize_body_is_kept_only_one_byte_past_the_limit() {
        let mut assembly = start();
        assert_eq!(
            assembly.header(header(10), 4, &mut LastProperties::default()),
            Ok(None)
        );
        let Ok(Some(Command::BasicPublish { body, .. })) = assembly.body(&[1; 10], 4) else {
            panic!("the body is complete");
        };
        assert_eq!(body.len(), 5, "enough for the core to see it is too large");
    }

    #[test]
    fn more_body_than_announced_is_an_unexpected_frame() {
        let mut assembly = start();
        assert_eq!(
            assembly.header(header(1), 100, &mut LastProperties::default()),
            Ok(None)
        );
        let refusal = assembly.body(b"xy", 100).expect_err("2 bytes > 1");
        assert_eq!(refusal.code, ReplyCode::UnexpectedFrame);
    }
}
