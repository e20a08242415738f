//! AMQP field values and tables, as carried by headers and arguments.
//!
//! Protocol-neutral in shape, but with AMQP's value types, because header
//! matching and argument validation depend on a value's type as well as its
//! content (the string "1" does not match the integer 1).

use bytes::Bytes;
use std::collections::BTreeMap;

/// A field table: names to values, kept in name order so iteration is deterministic.
pub type FieldTable = BTreeMap<String, FieldValue>;

/// One value in a field table or array. Floats are stored as their bit patterns
/// so that values are `Eq + Hash` (two floats are equal when their bits are).
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum FieldValue {
    /// `t`: boolean.
    Bool(bool),
    /// `b`: signed 8-bit integer.
    I8(i8),
    /// `B`: unsigned 8-bit integer.
    U8(u8),
    /// `s`: signed 16-bit integer.
    I16(i16),
    /// `u`: unsigned 16-bit integer.
    U16(u16),
    /// `I`: signed 32-bit integer.
    I32(i32),
    /// `i`: unsigned 32-bit integer.
    U32(u32),
    /// `l`: signed 64-bit integer.
    I64(i64),
    /// `f`: 32-bit float, as bits.
    F32(u32),
    /// `d`: 64-bit float, as bits.
    F64(u64),
    /// `D`: decimal, `value / 10^scale`.
    Decimal {
        /// Number of decimal digits after the point.
        scale: u8,
        /// The unscaled value.
        value: u32,
    },
    /// `S`: long string (bytes, usually UTF-8).
    LongString(Bytes),
    /// `A`: array of values.
    Array(Vec<FieldValue>),
    /// `T`: timestamp in seconds.
    Timestamp(u64),
    /// `F`: nested table.
    Table(FieldTable),
    /// `x`: byte array.
    ByteArray(Bytes),
    /// `V`: no value.
    Void,
}

impl FieldValue {
    /// A long-string value from text.
    #[must_use]
    pub fn string(text: &str) -> FieldValue {
        FieldValue::LongString(Bytes::copy_from_slice(text.as_bytes()))
    }

    /// The value as an integer, when it is one of the integer types.
    #[must_use]
    pub fn as_integer(&self) -> Option<i128> {
        match *self {
            FieldValue::I8(v) => Some(v.into()),
            FieldValue::U8(v) => Some(v.into()),
            FieldValue::I16(v) => Some(v.into()),
            FieldValue::U16(v) => Some(v.into()),
            FieldValue::I32(v) => Some(v.into()),
            FieldValue::U32(v) => Some(v.into()),
            FieldValue::I64(v) => Some(v.into()),
            _ => None,
        }
    }

    /// RabbitMQ's name of the value's AMQP type (from its table parser), as
    /// its reply texts print it.
    #[must_use]
    pub fn type_name(&self) -> &'static str {
        match self {
            FieldValue::Bool(_) => "bool",
            FieldValue::I8(_) => "byte",
            FieldValue::U8(_) => "unsignedbyte",
            FieldValue::I16(_) => "short",
            FieldValue::U16(_) => "unsignedshort",
            FieldValue::I32(_) => "signedint",
            FieldValue::U32(_) => "unsignedint",
            FieldValue::I64(_) => "long",
            FieldValue::F32(_) => "float",
            FieldValue::F64(_) => "double",
            FieldValue::Decimal { .. } => "decimal",
            FieldValue::LongString(_) => "longstr",
            FieldValue::Array(_) => "array",
            FieldValue::Timestamp(_) => "timestamp",
            FieldValue::Table(_) => "table",
            FieldValue::ByteArray(_) => "binary",
            FieldValue::Void => "void",
        }
    }

    /// The value as text, when it is a long string holding UTF-8.
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            FieldValue::LongString(bytes) => std::str::from_utf8(bytes).ok(),
            _ => None,
        }
    }
}
