//! The headers exchange's rule: the `x-match` modes, how a binding's
//! arguments are matched against a message's headers (values compared as
//! RabbitMQ compares them), and RabbitMQ's reply text for an invalid
//! `x-match`, which prints the value as Erlang's `~p` does.

use super::Destination;
use crate::field::{FieldTable, FieldValue};

/// The binding argument that selects the headers-exchange matching rule.
const X_MATCH: &str = "x-match";

/// Checks a headers binding's arguments: `x-match` must be absent or a string
/// among all, any, all-with-x, any-with-x; the error is RabbitMQ's 406 reply
/// text.
pub(super) fn validate_arguments(arguments: &FieldTable) -> Result<(), String> {
    match arguments.get(X_MATCH) {
        None => Ok(()),
        Some(value) if MatchMode::parse(value).is_some() => Ok(()),
        Some(value) => Err(invalid_x_match(value)),
    }
}

/// The headers-exchange rule of one binding, parsed once at bind time.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct HeadersBinding {
    /// Where a match leads.
    pub(super) destination: Destination,
    /// `all`/`all-with-x` (every criterion) rather than `any`/`any-with-x` (one).
    require_all: bool,
    /// The arguments compared with the headers: never `x-match`, and `x-`
    /// arguments only in the `-with-x` modes.
    criteria: FieldTable,
}

impl HeadersBinding {
    /// Parses a binding's arguments.
    pub(super) fn new(destination: Destination, arguments: &FieldTable) -> HeadersBinding {
        // RabbitMQ treats an unknown x-match as `all` (bindings from before it
        // validated); ours are validated, so this only matters in principle.
        let mode = arguments
            .get(X_MATCH)
            .and_then(MatchMode::parse)
            .unwrap_or(MatchMode::All);
        let with_x = matches!(mode, MatchMode::AllWithX | MatchMode::AnyWithX);
        let criteria = arguments
            .iter()
            .filter(|(name, _)| *name != X_MATCH && (with_x || !name.starts_with("x-")))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        let require_all = matches!(mode, MatchMode::All | MatchMode::AllWithX);
        HeadersBinding {
            destination,
            require_all,
            criteria,
        }
    }

    /// Whether a message with these headers matches: `all` with no criteria
    /// matches everything, `any` with none matches nothing.
    pub(super) fn matches(&self, headers: &FieldTable) -> bool {
        let mut criteria = self.criteria.iter();
        if self.require_all {
            criteria.all(|(name, expected)| header_matches(headers.get(name), expected))
        } else {
            criteria.any(|(name, expected)| header_matches(headers.get(name), expected))
        }
    }
}

/// Whether a header satisfies one criterion: a void criterion asks only that
/// the header be present; any other needs the same type and the same value.
fn header_matches(header: Option<&FieldValue>, expected: &FieldValue) -> bool {
    match header {
        None => false,
        Some(_) if *expected == FieldValue::Void => true,
        Some(actual) => same_value(actual, expected),
    }
}

/// Whether two header values are equal as RabbitMQ compares them (Erlang's
/// `==` on the values without their AMQP types, since RabbitMQ 3.6): integers
/// of any width and timestamps compare by number, integers and floats
/// numerically, long strings and byte arrays by bytes; anything else must be
/// the same variant with the same content. A string never equals a number.
fn same_value(actual: &FieldValue, expected: &FieldValue) -> bool {
    match (number(actual), number(expected)) {
        (Some(Number::Integer(a)), Some(Number::Integer(b))) => return a == b,
        (Some(a), Some(b)) => return a.as_f64() == b.as_f64(),
        _ => {}
    }
    match (actual, expected) {
        (
            FieldValue::LongString(a) | FieldValue::ByteArray(a),
            FieldValue::LongString(b) | FieldValue::ByteArray(b),
        ) => a == b,
        _ => actual == expected,
    }
}

/// A numeric header value.
#[derive(Clone, Copy)]
enum Number {
    Integer(i128),
    Float(f64),
}

impl Number {
    fn as_f64(self) -> f64 {
        match self {
            // Header integers are at most 64 bits wide, which f64 holds approximately, as Erlang compares them.
            Number::Integer(value) => value as f64,
            Number::Float(value) => value,
        }
    }
}

fn number(value: &FieldValue) -> Option<Number> {
    match *value {
        FieldValue::Timestamp(seconds) => Some(Number::Integer(i128::from(seconds))),
        FieldValue::F32(bits) => Some(Number::Float(f64::from(f32::from_bits(bits)))),
        FieldValue::F64(bits) => Some(Number::Float(f64::from_bits(bits))),
        _ => value.as_integer().map(Number::Integer),
    }
}

/// The `x-match` modes of a headers binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MatchMode {
    /// Every non-`x-` argument must match.
    All,
    /// At least one non-`x-` argument must match.
    Any,
    /// Every argument but `x-match` must match.
    AllWithX,
    /// At least one argument but `x-match` must match.
    AnyWithX,
}

impl MatchMode {
    /// The mode an `x-match` value names, if it is a valid one.
    fn parse(value: &FieldValue) -> Option<MatchMode> {
        match value {
            FieldValue::LongString(text) => match text.as_ref() {
                b"all" => Some(MatchMode::All),
                b"any" => Some(MatchMode::Any),
                b"all-with-x" => Some(MatchMode::AllWithX),
                b"any-with-x" => Some(MatchMode::AnyWithX),
                _ => None,
            },
            _ => None,
        }
    }
}

/// RabbitMQ's 406 reply text for an invalid `x-match`, the value written as
/// Erlang's `~p` writes it.
fn invalid_x_match(value: &FieldValue) -> String {
    match value {
        FieldValue::LongString(text) => format!(
            "PRECONDITION_FAILED - Invalid x-match field value {}; \
             expected all, any, all-with-x, or any-with-x",
            erlang_binary(text)
        ),
        other => format!(
            "PRECONDITION_FAILED - Invalid x-match field type {} (value {}); expected longstr",
            other.type_name(),
            erlang_term(other)
        ),
    }
}

/// A value as Erlang's `~p` prints RabbitMQ's parsed form of it (for short
/// values; `~p` also breaks long terms across lines, which this does not).
fn erlang_term(value: &FieldValue) -> String {
    match value {
        FieldValue::Bool(flag) => flag.to_string(),
        FieldValue::F32(bits) => erlang_float(f64::from(f32::from_bits(*bits))),
        FieldValue::F64(bits) => erlang_float(f64::from_bits(*bits)),
        FieldValue::Decimal { scale, value } => format!("{{{scale},{value}}}"),
        FieldValue::LongString(bytes) | FieldValue::ByteArray(bytes) => erlang_binary(bytes),
        FieldValue::Timestamp(seconds) => seconds.to_string(),
        FieldValue::Array(items) => {
            let items: Vec<String> = items
                .iter()
                .map(|item| format!("{{{},{}}}", item.type_name(), erlang_term(item)))
                .collect();
            format!("[{}]", items.join(","))
        }
        FieldValue::Table(table) => {
            let fields: Vec<String> = table
                .iter()
                .map(|(name, item)| {
                    let name = erlang_binary(name.as_bytes());
                    format!("{{{name},{},{}}}", item.type_name(), erlang_term(item))
                })
                .collect();
            format!("[{}]", fields.join(","))
        }
        FieldValue::Void => "undefined".to_owned(),
        integer => integer
            .as_integer()
            .expect("every other variant is an integer")
            .to_string(),
    }
}

/// A binary as `~p` prints it: as a quoted string when every byte is
/// printable ASCII, otherwise as a list of byte values.
fn erlang_binary(bytes: &[u8]) -> String {
    if bytes.iter().all(|byte| (b' '..=b'~').contains(byte)) {
        let mut text = String::from("<<\"");
        for &byte in bytes {
            if byte == b'"' || byte == b'\\' {
                text.push('\\');
            }
            text.push(char::from(byte));
        }
        text.push_str("\">>");
        text
    } else {
        let bytes: Vec<String> = bytes.iter().map(u8::to_string).collect();
        format!("<<{}>>", bytes.join(","))
    }
}

/// A float as Erlang/OTP 24+ `~p` prints it (`io_lib_format:insert_decimal`):
/// the shortest digits that read back the same, in fixed notation unless
/// scientific is shorter (or the value is beyond 2^53), always with a digit
/// after the point.
fn erlang_float(value: f64) -> String {
    if !value.is_finite() {
        // AMQP can carry these but Erlang has no such floats (RabbitMQ fails
        // to decode them), so there is no Erlang text to follow.
        return value.to_string();
    }
    // Rust's `{:e}` gives the same shortest round-trip digits as Erlang.
    let scientific = format!("{:e}", value.abs());
    let (mantissa, exponent) = scientific
        .split_once('e')
        .expect("`{:e}` always writes an exponent");
    let exponent: i64 = exponent.parse().expect("`{:e}` writes a decimal exponent");
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if value.is_sign_negative() { "-" } else { "" };
    let length = i64::try_from(digits.len()).expect("an f64 has at most 17 digits");
    // Erlang's `Place`: the power of ten of the last digit.
    let place = exponent - length + 1;
    let exponent_cost = i64::try_from(exponent.to_string().len()).expect("short") + 2;
    let text = if place < 0 && exponent >= 0 {
        let (whole, fraction) = digits.split_at(usize::try_from(exponent + 1).expect("positive"));
        format!("{whole}.{fraction}")
    } else if place < 0 && 2 - place - length <= exponent_cost {
        let zeros = usize::try_from(-place - length).expect("a negative exponent");
        format!("0.{}{digits}", "0".repeat(zeros))
    } else if place >= 0
        && exponent_cost + i64::from(length == 1) >= place + 2
        && value.abs() < 9_007_199_254_740_992.0
    {
        let zeros = usize::try_from(place).expect("checked non-negative");
        format!("{digits}{}.0", "0".repeat(zeros))
    } else {
        let (first, rest) = digits.split_at(1);
        let rest = if rest.is_empty() { "0" } else { rest };
        format!("{first}.{rest}e{exponent}")
    };
    format!("{sign}{text}")
}

#[cfg(test)]
mod tests;
