//! An AMQP message as a stream record: the body is the record's value and
//! the exchange, routing key and basic properties travel in one record
//! header, [`ENVELOPE_HEADER`], so that a consumer of the stream queue gets
//! the message back as it was published. A record without that header
//! (from a Kafka producer) reads as a message to the default exchange whose
//! headers are the record's headers, as long strings.
//!
//! The header's bytes: a version byte, the exchange and the routing key,
//! a 16-bit mask of the properties present, then each present property in
//! [`Properties`]'s field order. Strings and tables are prefixed by their
//! length in 32 bits; table values by their AMQP type letter. Integers are
//! big-endian, as on the AMQP wire.

use crate::field::{FieldTable, FieldValue};
use crate::message::{Name, Properties};
use bytes::Bytes;
use std::sync::Arc;

/// The record header holding the exchange, the routing key and the properties.
pub(crate) const ENVELOPE_HEADER: &str = "x-amqp-0-9-1";

const VERSION: u8 = 1;

/// The deepest nesting of tables and arrays decoded; deeper is malformed.
const DEPTH_MAX: usize = 64;

/// The header value for a message published to `exchange` with `routing_key` and `properties`.
pub(crate) fn encode(exchange: &str, routing_key: &str, properties: &Properties) -> Bytes {
    let mut out = vec![VERSION];
    put_bytes(&mut out, exchange.as_bytes());
    put_bytes(&mut out, routing_key.as_bytes());
    let p = properties;
    let strings = [
        &p.content_type,
        &p.content_encoding,
        &p.correlation_id,
        &p.reply_to,
        &p.expiration,
        &p.message_id,
        &p.kind,
        &p.user_id,
        &p.app_id,
        &p.cluster_id,
    ];
    let mut mask: u16 = 0;
    for (bit, present) in strings.iter().map(|s| s.is_some()).enumerate() {
        mask |= u16::from(present) << bit;
    }
    mask |= u16::from(p.headers.is_some()) << 10;
    mask |= u16::from(p.delivery_mode.is_some()) << 11;
    mask |= u16::from(p.priority.is_some()) << 12;
    mask |= u16::from(p.timestamp.is_some()) << 13;
    out.extend_from_slice(&mask.to_be_bytes());
    for text in strings.into_iter().flatten() {
        put_bytes(&mut out, text.as_bytes());
    }
    if let Some(headers) = &p.headers {
        put_table(&mut out, headers);
    }
    out.extend(p.delivery_mode);
    out.extend(p.priority);
    if let Some(timestamp) = p.timestamp {
        out.extend_from_slice(&timestamp.to_be_bytes());
    }
    Bytes::from(out)
}

/// The exchange, routing key and properties a header value holds; `None` when it is malformed.
pub(crate) fn decode(bytes: &[u8]) -> Option<(Name, Name, Properties)> {
    let mut reader = Reader { bytes };
    if reader.u8()? != VERSION {
        return None;
    }
    let exchange = Name::from(reader.text()?);
    let routing_key = Name::from(reader.text()?);
    let mask = u16::from_be_bytes(reader.array()?);
    let present = |bit: u16| mask & (1 << bit) != 0;
    let mut strings: [Option<String>; 10] = Default::default();
    for (bit, slot) in (0..).zip(strings.iter_mut()) {
        if present(bit) {
            *slot = Some(reader.text()?);
        }
    }
    let [content_type, content_encoding, correlation_id, reply_to, expiration, message_id, kind, user_id, app_id, cluster_id] =
        strings;
    let headers = if present(10) {
        Some(Arc::new(reader.table(0)?))
    } else {
        None
    };
    let delivery_mode = if present(11) {
        Some(reader.u8()?)
    } else {
        None
    };
    let priority = if present(12) {
        Some(reader.u8()?)
    } else {
        None
    };
    let timestamp = if present(13) {
        Some(u64::from_be_bytes(reader.array()?))
    } else {
        None
    };
    if !reader.bytes.is_empty() {
        return None;
    }
    let properties = Properties {
        content_type,
        content_encoding,
        headers,
        delivery_mode,
        priority,
        correlation_id,
        reply_to,
        expiration,
        message_id,
        timestamp,
        kind,
        user_id,
        app_id,
        cluster_id,
    };
    Some((exchange, routing_key, properties))
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    // A record is bounded far below 4 GiB (the broker's message size limit).
    let length = u32::try_from(bytes.len()).expect("a field shorter than 4 GiB");
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(bytes);
}

fn put_table(out: &mut Vec<u8>, table: &FieldTable) {
    let count = u32::try_from(table.len()).expect("a table of fewer than 2^32 fields");
    out.extend_from_slice(&count.to_be_bytes());
    for (name, value) in table {
        put_bytes(out, name.as_bytes());
        put_value(out, value);
    }
}

fn put_value(out: &mut Vec<u8>, value: &FieldValue) {
    match value {
        FieldValue::Bool(v) => out.extend([b't', u8::from(*v)]),
        FieldValue::I8(v) => out.extend([b'b', v.to_be_bytes()[0]]),
        FieldValue::U8(v) => out.extend([b'B', *v]),
        FieldValue::I16(v) => put_tagged(out, b's', &v.to_be_bytes()),
        FieldValue::U16(v) => put_tagged(out, b'u', &v.to_be_bytes()),
        FieldValue::I32(v) => put_tagged(out, b'I', &v.to_be_bytes()),
        FieldValue::U32(v) => put_tagged(out, b'i', &v.to_be_bytes()),
        FieldValue::I64(v) => put_tagged(out, b'l', &v.to_be_bytes()),
        FieldValue::F32(v) => put_tagged(out, b'f', &v.to_be_bytes()),
        FieldValue::F64(v) => put_tagged(out, b'd', &v.to_be_bytes()),
        FieldValue::Decimal { scale, value } => {
            out.extend([b'D', *scale]);
            out.extend_from_slice(&value.to_be_bytes());
        }
        FieldValue::LongString(bytes) => {
            out.push(b'S');
            put_bytes(out, bytes);
        }
        FieldValue::ByteArray(bytes) => {
            out.push(b'x');
            put_bytes(out, bytes);
        }
        FieldValue::Timestamp(v) => put_tagged(out, b'T', &v.to_be_bytes()),
        FieldValue::Table(table) => {
            out.push(b'F');
            put_table(out, table);
        }
        FieldValue::Array(items) => {
            out.push(b'A');
            let count = u32::try_from(items.len()).expect("an array of fewer than 2^32 items");
            out.extend_from_slice(&count.to_be_bytes());
            for item in items {
                put_value(out, item);
            }
        }
        FieldValue::Void => out.push(b'V'),
    }
}

fn put_tagged(out: &mut Vec<u8>, tag: u8, bytes: &[u8]) {
    out.push(tag);
    out.extend_from_slice(bytes);
}

/// Reads the header value front to back; every read is `None` past its end.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn take(&mut self, count: usize) -> Option<&[u8]> {
        if self.bytes.len() < count {
            return None;
        }
        let (taken, rest) = self.bytes.split_at(count);
        self.bytes = rest;
        Some(taken)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.array()?))
    }

    fn bytes(&mut self) -> Option<Bytes> {
        let length = usize::try_from(self.u32()?).ok()?;
        Some(Bytes::copy_from_slice(self.take(length)?))
    }

    fn text(&mut self) -> Option<String> {
        String::from_utf8(self.bytes()?.to_vec()).ok()
    }

    fn table(&mut self, depth: usize) -> Option<FieldTable> {
        if depth > DEPTH_MAX {
            return None;
        }
        let count = self.u32()?;
        let mut table = FieldTable::new();
        for _ in 0..count {
            let name = self.text()?;
            let value = self.value(depth + 1)?;
            table.insert(name, value);
        }
        Some(table)
    }

    fn value(&mut self, depth: usize) -> Option<FieldValue> {
        let value = match self.u8()? {
            b't' => FieldValue::Bool(self.u8()? != 0),
            b'b' => FieldValue::I8(i8::from_be_bytes(self.array()?)),
            b'B' => FieldValue::U8(self.u8()?),
            b's' => FieldValue::I16(i16::from_be_bytes(self.array()?)),
            b'u' => FieldValue::U16(u16::from_be_bytes(self.array()?)),
            b'I' => FieldValue::I32(i32::from_be_bytes(self.array()?)),
            b'i' => FieldValue::U32(self.u32()?),
            b'l' => FieldValue::I64(i64::from_be_bytes(self.array()?)),
            b'f' => FieldValue::F32(self.u32()?),
            b'd' => FieldValue::F64(u64::from_be_bytes(self.array()?)),
            b'D' => FieldValue::Decimal {
                scale: self.u8()?,
                value: self.u32()?,
            },
            b'S' => FieldValue::LongString(self.bytes()?),
            b'x' => FieldValue::ByteArray(self.bytes()?),
            b'T' => FieldValue::Timestamp(u64::from_be_bytes(self.array()?)),
            b'F' => FieldValue::Table(self.table(depth)?),
            b'A' => {
                if depth > DEPTH_MAX {
                    return None;
                }
                let count = self.u32()?;
                let mut items = Vec::new();
                for _ in 0..count {
                    items.push(self.value(depth + 1)?);
                }
                FieldValue::Array(items)
            }
            b'V' => FieldValue::Void,
            _ => return None,
        };
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_property_and_header_type_reads_back_as_written() {
        let mut nested = FieldTable::new();
        nested.insert("n".into(), FieldValue::I8(-3));
        let mut headers = FieldTable::new();
        let values = [
            FieldValue::Bool(true),
            FieldValue::U8(7),
            FieldValue::I16(-2),
            FieldValue::U16(9),
            FieldValue::I32(-5),
            FieldValue::U32(5),
            FieldValue::I64(-1 << 40),
            FieldValue::F32(1.5f32.to_bits()),
            FieldValue::F64(2.5f64.to_bits()),
            FieldValue::Decimal {
                scale: 2,
                value: 314,
            },
            FieldValue::string("text"),
            FieldValue::ByteArray(Bytes::from_static(b"\x00\x01")),
            FieldValue::Timestamp(1_234_567_890),
            FieldValue::Table(nested),
            FieldValue::Array(vec![FieldValue::Void, FieldValue::string("a")]),
            FieldValue::Void,
        ];
        for (index, value) in values.into_iter().enumerate() {
            headers.insert(format!("h{index}"), value);
        }
        let properties = Properties {
            content_type: Some("text/plain".into()),
            content_encoding: Some("gzip".into()),
            headers: Some(Arc::new(headers)),
            delivery_mode: Some(2),
            priority: Some(3),
            correlation_id: Some("c".into()),
            reply_to: Some("r".into()),
            expiration: Some("60000".into()),
            message_id: Some("m".into()),
            timestamp: Some(42),
            kind: Some("t".into()),
            user_id: Some("guest".into()),
            app_id: Some("app".into()),
            cluster_id: Some("cl".into()),
        };
        let bytes = encode("x", "k", &properties);
        let decoded = decode(&bytes).expect("a written envelope reads back");
        assert_eq!(decoded, (Name::from("x"), Name::from("k"), properties));
        let empty = encode("", "q", &Properties::default());
        assert_eq!(
            decode(&empty),
            Some((Name::from(""), Name::from("q"), Properties::default()))
        );
    }

    #[test]
    fn a_truncated_or_padded_envelope_is_malformed() {
        let bytes = encode(
            "x",
            "k",
            &Properties {
                app_id: Some("app".into()),
                ..Properties::default()
            },
        );
        for cut in 0..bytes.len() {
            assert_eq!(decode(&bytes[..cut]), None);
        }
        let mut padded = bytes.to_vec();
        padded.push(0);
        assert_eq!(decode(&padded), None);
    }
}
