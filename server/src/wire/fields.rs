//! Field tables and basic properties: AMQP's encoding (amq-protocol's types)
//! to the core's protocol-neutral `FieldValue` and `Properties`, and back.
//!
//! The mapping is one to one, type by type, because the core's header
//! matching and argument checks depend on a value's AMQP type. The one lossy
//! case is the deprecated short string, which the core stores as a long string
//! (RabbitMQ does the same: it never sends short strings in tables).

use amq_protocol::protocol::BasicProperties;
use amq_protocol::types::{
    AMQPValue, DecimalValue, FieldArray, FieldTable as AmqpTable, LongString, ShortString,
    MAX_SHORT_STRING_LENGTH,
};
use brokerlab_core::{FieldTable, FieldValue, Properties};
use bytes::Bytes;
use std::sync::Arc;

/// A short string from text, cut at a character boundary to the 255 bytes
/// AMQP can carry (reply texts quoting long names can be longer).
#[must_use]
pub fn short(text: &str) -> ShortString {
    let mut end = text.len().min(MAX_SHORT_STRING_LENGTH);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    ShortString::from(&text[..end])
}

/// A field table as the core holds it.
#[must_use]
pub fn table_from_amqp(table: &AmqpTable) -> FieldTable {
    table
        .inner()
        .iter()
        .map(|(name, value)| (name.as_str().to_owned(), value_from_amqp(value)))
        .collect()
}

/// A field table as AMQP encodes it.
#[must_use]
pub fn table_to_amqp(table: &FieldTable) -> AmqpTable {
    let mut amqp = AmqpTable::default();
    for (name, value) in table {
        amqp.insert(short(name), value_to_amqp(value));
    }
    amqp
}

fn value_from_amqp(value: &AMQPValue) -> FieldValue {
    match value {
        AMQPValue::Boolean(v) => FieldValue::Bool(*v),
        AMQPValue::ShortShortInt(v) => FieldValue::I8(*v),
        AMQPValue::ShortShortUInt(v) => FieldValue::U8(*v),
        AMQPValue::ShortInt(v) => FieldValue::I16(*v),
        AMQPValue::ShortUInt(v) => FieldValue::U16(*v),
        AMQPValue::LongInt(v) => FieldValue::I32(*v),
        AMQPValue::LongUInt(v) => FieldValue::U32(*v),
        AMQPValue::LongLongInt(v) => FieldValue::I64(*v),
        AMQPValue::Float(v) => FieldValue::F32(v.to_bits()),
        AMQPValue::Double(v) => FieldValue::F64(v.to_bits()),
        AMQPValue::DecimalValue(v) => FieldValue::Decimal {
            scale: v.scale,
            value: v.value,
        },
        AMQPValue::ShortString(v) => FieldValue::string(v.as_str()),
        AMQPValue::LongString(v) => FieldValue::LongString(Bytes::copy_from_slice(v.as_bytes())),
        AMQPValue::FieldArray(v) => {
            FieldValue::Array(v.as_slice().iter().map(value_from_amqp).collect())
        }
        AMQPValue::Timestamp(v) => FieldValue::Timestamp(*v),
        AMQPValue::FieldTable(v) => FieldValue::Table(table_from_amqp(v)),
        AMQPValue::ByteArray(v) => FieldValue::ByteArray(Bytes::copy_from_slice(v.as_slice())),
        AMQPValue::Void => FieldValue::Void,
    }
}

fn value_to_amqp(value: &FieldValue) -> AMQPValue {
    match value {
        FieldValue::Bool(v) => AMQPValue::Boolean(*v),
        FieldValue::I8(v) => AMQPValue::ShortShortInt(*v),
        FieldValue::U8(v) => AMQPValue::ShortShortUInt(*v),
        FieldValue::I16(v) => AMQPValue::ShortInt(*v),
        FieldValue::U16(v) => AMQPValue::ShortUInt(*v),
        FieldValue::I32(v) => AMQPValue::LongInt(*v),
        FieldValue::U32(v) => AMQPValue::LongUInt(*v),
        FieldValue::I64(v) => AMQPValue::LongLongInt(*v),
        FieldValue::F32(bits) => AMQPValue::Float(f32::from_bits(*bits)),
        FieldValue::F64(bits) => AMQPValue::Double(f64::from_bits(*bits)),
        FieldValue::Decimal { scale, value } => AMQPValue::DecimalValue(DecimalValue {
            scale: *scale,
            value: *value,
        }),
        FieldValue::LongString(v) => AMQPValue::LongString(LongString::from(v.to_vec())),
        FieldValue::Array(values) => AMQPValue::FieldArray(FieldArray::from(
            values.iter().map(value_to_amqp).collect::<Vec<_>>(),
        )),
        FieldValue::Timestamp(v) => AMQPValue::Timestamp(*v),
        FieldValue::Table(table) => AMQPValue::FieldTable(table_to_amqp(table)),
        FieldValue::ByteArray(v) => AMQPValue::ByteArray(v.to_vec().into()),
        FieldValue::Void => AMQPValue::Void,
    }
}

fn text(value: &Option<ShortString>) -> Option<String> {
    value.as_ref().map(|value| value.as_str().to_owned())
}

/// The core's properties from a content header's.
#[must_use]
pub fn properties_from_amqp(amqp: &BasicProperties) -> Properties {
    Properties {
        content_type: text(amqp.content_type()),
        content_encoding: text(amqp.content_encoding()),
        headers: amqp
            .headers()
            .as_ref()
            .map(|table| Arc::new(table_from_amqp(table))),
        delivery_mode: *amqp.delivery_mode(),
        priority: *amqp.priority(),
        correlation_id: text(amqp.correlation_id()),
        reply_to: text(amqp.reply_to()),
        expiration: text(amqp.expiration()),
        message_id: text(amqp.message_id()),
        timestamp: *amqp.timestamp(),
        kind: text(amqp.kind()),
        user_id: text(amqp.user_id()),
        app_id: text(amqp.app_id()),
        cluster_id: text(amqp.cluster_id()),
    }
}

/// A content header's properties from the core's.
#[must_use]
pub fn properties_to_amqp(properties: &Properties) -> BasicProperties {
    let mut amqp = BasicProperties::default();
    if let Some(value) = &properties.content_type {
        amqp = amqp.with_content_type(short(value));
    }
    if let Some(value) = &properties.content_encoding {
        amqp = amqp.with_content_encoding(short(value));
    }
    if let Some(value) = &properties.headers {
        amqp = amqp.with_headers(table_to_amqp(value));
    }
    if let Some(value) = properties.delivery_mode {
        amqp = amqp.with_delivery_mode(value);
    }
    if let Some(value) = properties.priority {
        amqp = amqp.with_priority(value);
    }
    if let Some(value) = &properties.correlation_id {
        amqp = amqp.with_correlation_id(short(value));
    }
    if let Some(value) = &properties.reply_to {
        amqp = amqp.with_reply_to(short(value));
    }
    if let Some(value) = &properties.expiration {
        amqp = amqp.with_expiration(short(value));
    }
    if let Some(value) = &properties.message_id {
        amqp = amqp.with_message_id(short(value));
    }
    if let Some(value) = properties.timestamp {
        amqp = amqp.with_timestamp(value);
    }
    if let Some(value) = &properties.kind {
        amqp = amqp.with_type(short(value));
    }
    if let Some(value) = &properties.user_id {
        amqp = amqp.with_user_id(short(value));
    }
    if let Some(value) = &properties.app_id {
        amqp = amqp.with_app_id(short(value));
    }
    if let Some(value) = &properties.cluster_id {
        amqp = amqp.with_cluster_id(short(value));
    }
    amqp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_values_round_trip_type_for_type() {
        let mut table = FieldTable::new();
        table.insert("s16".into(), FieldValue::I16(-3));
        table.insert("u32".into(), FieldValue::U32(7));
        table.insert("text".into(), FieldValue::string("é"));
        table.insert("float".into(), FieldValue::F64(1.5f64.to_bits()));
        table.insert(
            "nested".into(),
            FieldValue::Array(vec![FieldValue::Table(FieldTable::new()), FieldValue::Void]),
        );
        assert_eq!(table_from_amqp(&table_to_amqp(&table)), table);
    }

    #[test]
    fn short_strings_are_cut_at_a_character_boundary() {
        let long = "é".repeat(200);
        let cut = short(&long);
        assert!(cut.as_str().len() <= MAX_SHORT_STRING_LENGTH);
        assert_eq!(cut.as_str().len(), 254, "127 two-byte characters fit");
    }

    #[test]
    fn properties_round_trip() {
        let properties = Properties {
            delivery_mode: Some(2),
            kind: Some("t".into()),
            timestamp: Some(9),
            ..Properties::default()
        };
        assert_eq!(
            properties_from_amqp(&properties_to_amqp(&properties)),
            properties
        );
    }
}
