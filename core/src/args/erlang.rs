//! Values as RabbitMQ's reply texts print them: the Erlang term a field
//! value becomes once its AMQP type is dropped, Erlang's `=:=` on those terms,
//! and Erlang's `~p` of them, on one line.

use crate::field::{FieldTable, FieldValue};

/// A value as RabbitMQ holds it once the AMQP type is dropped: the Erlang term.
#[derive(PartialEq)]
enum Term<'a> {
    Integer(i128),
    Float(f64),
    Atom(&'static str),
    Binary(&'a [u8]),
    Decimal(u8, u32),
    /// An array is a list of typed elements, so it compares by type too.
    Array(&'a [FieldValue]),
    /// A table is a list of named, typed fields.
    Table(&'a FieldTable),
    /// An empty array and an empty table are the same Erlang term, `[]`.
    EmptyList,
}

fn erlang_term(value: &FieldValue) -> Term<'_> {
    match value {
        FieldValue::Bool(true) => Term::Atom("true"),
        FieldValue::Bool(false) => Term::Atom("false"),
        FieldValue::Void => Term::Atom("undefined"),
        FieldValue::I8(n) => Term::Integer(i128::from(*n)),
        FieldValue::U8(n) => Term::Integer(i128::from(*n)),
        FieldValue::I16(n) => Term::Integer(i128::from(*n)),
        FieldValue::U16(n) => Term::Integer(i128::from(*n)),
        FieldValue::I32(n) => Term::Integer(i128::from(*n)),
        FieldValue::U32(n) => Term::Integer(i128::from(*n)),
        FieldValue::I64(n) => Term::Integer(i128::from(*n)),
        FieldValue::Timestamp(seconds) => Term::Integer(i128::from(*seconds)),
        // RabbitMQ reads a 32-bit float into an Erlang (64-bit) float.
        FieldValue::F32(bits) => Term::Float(f64::from(f32::from_bits(*bits))),
        FieldValue::F64(bits) => Term::Float(f64::from_bits(*bits)),
        FieldValue::Decimal { scale, value } => Term::Decimal(*scale, *value),
        FieldValue::LongString(bytes) | FieldValue::ByteArray(bytes) => Term::Binary(bytes),
        FieldValue::Array(items) if items.is_empty() => Term::EmptyList,
        FieldValue::Array(items) => Term::Array(items),
        FieldValue::Table(fields) if fields.is_empty() => Term::EmptyList,
        FieldValue::Table(fields) => Term::Table(fields),
    }
}

/// Erlang's `=:=` on the untyped values, which is what RabbitMQ's argument equivalence comes down to.
pub(super) fn same_erlang_term(a: &FieldValue, b: &FieldValue) -> bool {
    erlang_term(a) == erlang_term(b)
}

/// `rabbit_misc:val/1` of a bare value: a binary as its text, anything else as `~p`.
pub(super) fn bare_value(value: &FieldValue) -> String {
    match value {
        FieldValue::LongString(bytes) | FieldValue::ByteArray(bytes) => {
            format!("'{}'", String::from_utf8_lossy(bytes))
        }
        other => format!("'{}'", print_term(other)),
    }
}

/// `rabbit_misc:val/1` of a typed value, or `none` for a missing one.
pub(super) fn typed_value(value: Option<&FieldValue>) -> String {
    match value {
        None => "none".to_owned(),
        Some(value) => format!(
            "the value {} of type '{}'",
            bare_value(value),
            value.type_name()
        ),
    }
}

/// Erlang's `~p` of the untyped value, on one line (Erlang wraps terms longer than a line).
pub(super) fn print_term(value: &FieldValue) -> String {
    match erlang_term(value) {
        Term::Integer(n) => n.to_string(),
        Term::Float(x) => erlang_float(x),
        Term::Atom(atom) => atom.to_owned(),
        Term::Binary(bytes) => erlang_binary(bytes),
        Term::Decimal(scale, digits) => format!("{{{scale},{digits}}}"),
        Term::EmptyList => "[]".to_owned(),
        Term::Array(items) => {
            let items: Vec<String> = items
                .iter()
                .map(|item| format!("{{{},{}}}", item.type_name(), print_term(item)))
                .collect();
            format!("[{}]", items.join(","))
        }
        Term::Table(fields) => {
            let fields: Vec<String> = fields
                .iter()
                .map(|(name, item)| {
                    let name = erlang_binary(name.as_bytes());
                    format!("{{{name},{},{}}}", item.type_name(), print_term(item))
                })
                .collect();
            format!("[{}]", fields.join(","))
        }
    }
}

/// Erlang's `~p` of a float (`float_to_list(X, [short])`): the shortest digits
/// that read back the same, in plain notation unless the exponent form is
/// shorter (`100.0`, `1.0e3`, `0.0001`, `1.0e-5`) or the float is too large
/// to hold every integer (2^53 and up), which always takes the exponent form.
fn erlang_float(x: f64) -> String {
    const EXACT_INTEGERS_END: f64 = 9_007_199_254_740_992.0;
    if x == 0.0 {
        return if x.is_sign_negative() { "-0.0" } else { "0.0" }.to_owned();
    }
    // Erlang has no NaN or infinity (RabbitMQ cannot decode a table holding
    // one), but a client can send them: these texts are brokerlab's own.
    if x.is_nan() {
        return "nan".to_owned();
    }
    if x.is_infinite() {
        return if x < 0.0 { "-inf" } else { "inf" }.to_owned();
    }
    // Rust's `{:e}` also writes the shortest round-trip digits of a finite
    // float, as `d.ddde-x`, so the split and the parse below cannot fail.
    let scientific = format!("{:e}", x.abs());
    let (mantissa, exponent) = scientific
        .split_once('e')
        .expect("LowerExp writes an exponent");
    let exponent: i32 = exponent
        .parse()
        .expect("LowerExp writes an integer exponent");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let sign = if x < 0.0 { "-" } else { "" };
    let (first, rest) = digits.split_at(1);
    let rest = if rest.is_empty() { "0" } else { rest };
    let exponent_form = format!("{first}.{rest}e{exponent}");
    let body = match plain_form(exponent + 1, &digits) {
        Some(plain) if x.abs() < EXACT_INTEGERS_END && plain.len() <= exponent_form.len() => plain,
        _ => exponent_form,
    };
    format!("{sign}{body}")
}

/// `digits` read as `0.digits * 10^place`, in plain notation.
fn plain_form(place: i32, digits: &str) -> Option<String> {
    let length = i32::try_from(digits.len()).ok()?;
    let zeros = |count: i32| "0".repeat(usize::try_from(count).unwrap_or(0));
    Some(if place <= 0 {
        format!("0.{}{digits}", zeros(-place))
    } else if place < length {
        let (whole, fraction) = digits.split_at(usize::try_from(place).ok()?);
        format!("{whole}.{fraction}")
    } else {
        format!("{digits}{}.0", zeros(place - length))
    })
}

/// Erlang's `~p` of a binary: `<<"text">>` when every byte is printable Latin-1, else `<<1,2,3>>`.
fn erlang_binary(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "<<>>".to_owned();
    }
    match printable_latin1(bytes) {
        Some(text) => format!("<<\"{text}\">>"),
        None => format!("<<{}>>", byte_list(bytes)),
    }
}

/// Erlang's `~p` of a string (a list of character codes): `"text"` when printable Latin-1, else `[1,2,3]`.
pub(super) fn erlang_string(bytes: &[u8]) -> String {
    match printable_latin1(bytes) {
        Some(text) => format!("\"{text}\""),
        None => format!("[{}]", byte_list(bytes)),
    }
}

fn byte_list(bytes: &[u8]) -> String {
    let codes: Vec<String> = bytes.iter().map(u8::to_string).collect();
    codes.join(",")
}

/// The text between the quotes of Erlang's `~p` of a printable Latin-1 string, or None when it is not one.
/// Bytes from 160 up are printable Latin-1 and pass through as they are, as they do in RabbitMQ's reply text.
fn printable_latin1(bytes: &[u8]) -> Option<String> {
    let mut escaped = Vec::with_capacity(bytes.len());
    for &byte in bytes {
        let escape: Option<&[u8]> = match byte {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0x0b => Some(b"\\v"),
            0x08 => Some(b"\\b"),
            0x0c => Some(b"\\f"),
            0x1b => Some(b"\\e"),
            32..=126 | 160..=255 => None,
            _ => return None,
        };
        match escape {
            Some(sequence) => escaped.extend_from_slice(sequence),
            None => escaped.push(byte),
        }
    }
    Some(String::from_utf8_lossy(&escaped).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_array_and_empty_table_are_the_same_erlang_term() {
        assert!(same_erlang_term(
            &FieldValue::Array(Vec::new()),
            &FieldValue::Table(FieldTable::new())
        ));
        assert!(!same_erlang_term(
            &FieldValue::Array(vec![FieldValue::I64(1)]),
            &FieldValue::Array(vec![FieldValue::I8(1)])
        ));
    }

    #[test]
    fn nan_and_infinities_print_without_a_panic() {
        assert_eq!(erlang_float(f64::NAN), "nan");
        assert_eq!(erlang_float(-f64::NAN), "nan");
        assert_eq!(erlang_float(f64::INFINITY), "inf");
        assert_eq!(erlang_float(f64::NEG_INFINITY), "-inf");
    }

    #[test]
    fn floats_print_as_erlang_prints_them() {
        // Expected texts are Erlang/OTP 25's `io_lib:format("~p", [X])`.
        let cases = [
            (1.0, "1.0"),
            (100.0, "100.0"),
            (1000.0, "1.0e3"),
            (10.0, "10.0"),
            (12345.0, "12345.0"),
            (1.5, "1.5"),
            (1.0e15, "1.0e15"),
            (2.0e21, "2.0e21"),
            (123_456_789.0, "123456789.0"),
            (1_234_567.125, "1234567.125"),
            (0.1, "0.1"),
            (0.5, "0.5"),
            (0.05, "0.05"),
            (0.0001, "0.0001"),
            (0.00001, "1.0e-5"),
            (1.5e-5, "1.5e-5"),
            (0.1 + 0.2, "0.30000000000000004"),
            (-2.5, "-2.5"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.797_693_134_862_315_7e308, "1.7976931348623157e308"),
            (5.0e-324, "5.0e-324"),
            (12_345_678_901_234_567.0, "1.2345678901234568e16"),
            (9_007_199_254_740_991.0, "9007199254740991.0"),
            (9_007_199_254_740_992.0, "9.007199254740992e15"),
            (123_456_789_012_345.6, "123456789012345.6"),
            (1.0e14, "1.0e14"),
            (1.23e5, "1.23e5"),
            (0.000_123_456_789, "1.23456789e-4"),
            (0.001_234_5, "0.0012345"),
            (0.000_123_4, "1.234e-4"),
            (1.0e100, "1.0e100"),
        ];
        for (x, printed) in cases {
            assert_eq!(erlang_float(x), printed, "{x}");
        }
    }
}
