//! An SQS message as a core message: its message attributes, group and
//! deduplication ids and send time ride in headers under `x-sqs-`, so that
//! the log, dead-lettering and an AMQP consumer of the same queue see one
//! message.

use super::{AttributeValue, MessageAttribute, SendEntry};
use crate::field::{FieldTable, FieldValue};
use crate::message::{Envelope, Message, MessageId, Name, Properties};
use std::sync::Arc;

const ATTRIBUTES: &str = "x-sqs-attributes";
const GROUP_ID: &str = "x-sqs-group-id";
const DEDUPLICATION_ID: &str = "x-sqs-deduplication-id";
const SENT_MS: &str = "x-sqs-sent-ms";
const SEQUENCE_NUMBER: &str = "x-sqs-sequence-number";

/// The UUID-shaped SQS message id of core message `id`.
#[must_use]
pub fn message_id(id: MessageId) -> String {
    let n = id.0;
    format!(
        "{:08x}-{:04x}-4000-8000-{:012x}",
        n >> 48,
        (n >> 32) & 0xffff,
        n & 0xffff_ffff
    )
}

/// The deduplication id of a body in a queue with
/// `ContentBasedDeduplication`: its SHA-256, in hex.
#[must_use]
pub fn content_deduplication_id(body: &[u8]) -> String {
    use sha2::Digest;
    use std::fmt::Write;
    let digest = sha2::Sha256::digest(body);
    let mut hex = String::with_capacity(64);
    for byte in digest {
        write!(hex, "{byte:02x}").expect("a String takes every write");
    }
    hex
}

/// The bytes a message counts against the size limits: its body, and each
/// attribute's name, type and value, as SQS counts them.
#[must_use]
pub fn size(entry: &SendEntry) -> usize {
    let attributes: usize = entry
        .attributes
        .iter()
        .map(|attribute| {
            let value = match &attribute.value {
                AttributeValue::String(text) => text.len(),
                AttributeValue::Binary(bytes) => bytes.len(),
            };
            attribute.name.len() + attribute.data_type.len() + value
        })
        .sum();
    entry.body.len() + attributes
}

/// The core message for a send to `queue`, with `id`, at `now_ms`, with
/// the deduplication id it was sent under (given, or the body's digest).
pub(crate) fn to_message(
    entry: &SendEntry,
    id: MessageId,
    queue: &Name,
    now_ms: u64,
    sequence_number: Option<&str>,
    deduplication_id: Option<&str>,
) -> Message {
    let mut headers = FieldTable::new();
    if !entry.attributes.is_empty() {
        let attributes = entry
            .attributes
            .iter()
            .map(|attribute| {
                let mut fields = FieldTable::new();
                fields.insert(
                    "DataType".to_owned(),
                    FieldValue::string(&attribute.data_type),
                );
                let value = match &attribute.value {
                    AttributeValue::String(text) => ("StringValue", FieldValue::string(text)),
                    AttributeValue::Binary(bytes) => {
                        ("BinaryValue", FieldValue::ByteArray(bytes.clone()))
                    }
                };
                fields.insert(value.0.to_owned(), value.1);
                (attribute.name.clone(), FieldValue::Table(fields))
            })
            .collect();
        headers.insert(ATTRIBUTES.to_owned(), FieldValue::Table(attributes));
    }
    for (key, value) in [
        (GROUP_ID, entry.group_id.as_deref()),
        (DEDUPLICATION_ID, deduplication_id),
        (SEQUENCE_NUMBER, sequence_number),
    ] {
        if let Some(value) = value {
            headers.insert(key.to_owned(), FieldValue::string(value));
        }
    }
    headers.insert(
        SENT_MS.to_owned(),
        FieldValue::I64(i64::try_from(now_ms).unwrap_or(i64::MAX)),
    );
    let properties = Properties {
        headers: Some(Arc::new(headers)),
        delivery_mode: Some(2),
        message_id: Some(message_id(id)),
        ..Properties::default()
    };
    Message {
        id,
        envelope: Envelope::shared(Name::default(), queue.clone(), Arc::new(properties)),
        body: entry.body.clone().into(),
    }
}

/// What a received message carries, read back from its headers.
pub(crate) struct Fields {
    pub(crate) message_id: String,
    pub(crate) attributes: Vec<MessageAttribute>,
    pub(crate) group_id: Option<String>,
    pub(crate) deduplication_id: Option<String>,
    pub(crate) sequence_number: Option<String>,
    pub(crate) sent_ms: u64,
}

/// The SQS fields of a core message (one published over AMQP has only an id).
pub(crate) fn fields(message: &Message) -> Fields {
    let headers = message.properties().headers.as_ref();
    let header = |key: &str| headers.and_then(|headers| headers.get(key));
    let text = |key: &str| header(key).and_then(FieldValue::as_str).map(str::to_owned);
    let attributes = match header(ATTRIBUTES) {
        Some(FieldValue::Table(attributes)) => attributes
            .iter()
            .filter_map(|(name, fields)| attribute(name, fields))
            .collect(),
        _ => Vec::new(),
    };
    Fields {
        message_id: message
            .properties()
            .message_id
            .clone()
            .unwrap_or_else(|| message_id(message.id)),
        attributes,
        group_id: text(GROUP_ID),
        deduplication_id: text(DEDUPLICATION_ID),
        sequence_number: text(SEQUENCE_NUMBER),
        sent_ms: header(SENT_MS)
            .and_then(FieldValue::as_integer)
            .and_then(|ms| u64::try_from(ms).ok())
            .unwrap_or(0),
    }
}

/// The group of a message in a FIFO queue (`None` for one without).
pub(crate) fn group_id(message: &Message) -> Option<&str> {
    message
        .properties()
        .headers
        .as_ref()?
        .get(GROUP_ID)?
        .as_str()
}

fn attribute(name: &str, fields: &FieldValue) -> Option<MessageAttribute> {
    let FieldValue::Table(fields) = fields else {
        return None;
    };
    let data_type = fields.get("DataType")?.as_str()?.to_owned();
    let value = match (fields.get("StringValue"), fields.get("BinaryValue")) {
        (Some(value), _) => AttributeValue::String(value.as_str()?.to_owned()),
        (None, Some(FieldValue::ByteArray(bytes))) => AttributeValue::Binary(bytes.clone()),
        _ => return None,
    };
    Some(MessageAttribute {
        name: name.to_owned(),
        data_type,
        value,
    })
}
