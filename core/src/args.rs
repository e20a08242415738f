//! Queue arguments and the per-message `expiration` property: parsing,
//! validation and redeclare equivalence, with RabbitMQ 3.10's rules and its
//! reply texts.
//!
//! RabbitMQ treats arguments differently on the two paths of queue.declare,
//! and so must the broker. A declare that creates a queue validates the
//! arguments ([`QueueArgs::parse`]); a declare of a queue that already exists
//! validates nothing and only compares the known arguments with the ones the
//! queue was declared with ([`QueueArgs::check_equivalent`]). Comparison works
//! on the values as Erlang sees them, so integers of any width with equal
//! values are equivalent, and the reply texts print values the way Erlang's
//! `~p` does; the small Erlang term printer at the end of this file exists for
//! that.

use crate::field::{FieldTable, FieldValue};
use std::sync::Arc;

/// The longest TTL or expiry RabbitMQ accepts, ten years in milliseconds (`rabbit_misc:check_expiry`).
pub const MAX_EXPIRY_MS: u64 = 315_360_000_000;

/// x-overflow: what a queue at its length limit does with one more message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Overflow {
    /// Drop (or dead-letter with reason `maxlen`) the oldest message.
    #[default]
    DropHead,
    /// Refuse the new message (basic.nack with confirms).
    RejectPublish,
    /// Refuse the new message and dead-letter it with reason `maxlen`.
    RejectPublishDlx,
}

impl Overflow {
    /// Parses RabbitMQ's name of a mode.
    fn parse(name: &[u8]) -> Option<Overflow> {
        match name {
            b"drop-head" => Some(Overflow::DropHead),
            b"reject-publish" => Some(Overflow::RejectPublish),
            b"reject-publish-dlx" => Some(Overflow::RejectPublishDlx),
            _ => None,
        }
    }
}

/// Parsed, validated queue arguments.
///
/// Besides the parsed values it keeps the known arguments exactly as they were
/// declared, because a redeclare is compared against those (see
/// [`QueueArgs::check_equivalent`]). Build it with [`QueueArgs::parse`];
/// `QueueArgs::default()` is a queue declared with no arguments.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct QueueArgs {
    /// x-message-ttl: integer >= 0, in milliseconds.
    pub message_ttl_ms: Option<u64>,
    /// x-expires: integer > 0, in milliseconds.
    pub expires_ms: Option<u64>,
    /// x-max-length: integer >= 0, ready messages.
    pub max_length: Option<u64>,
    /// x-max-length-bytes: integer >= 0, body bytes of ready messages.
    pub max_length_bytes: Option<u64>,
    /// x-overflow: `drop-head`, `reject-publish` or `reject-publish-dlx`.
    pub overflow: Overflow,
    /// x-max-priority: integer 0..=255 (RabbitMQ 3.10 accepts 0, meaning priority 0 only).
    pub max_priority: Option<u8>,
    /// x-single-active-consumer: bool.
    pub single_active_consumer: bool,
    /// x-delivery-limit: integer >= 0 (a quorum-queue argument in RabbitMQ; we accept it on every queue).
    pub delivery_limit: Option<u64>,
    /// x-dead-letter-exchange: string (empty is the default exchange).
    pub dead_letter_exchange: Option<Arc<str>>,
    /// x-dead-letter-routing-key: string; only allowed with a dead-letter exchange.
    pub dead_letter_routing_key: Option<Arc<str>>,
    /// The known arguments as declared, for redeclare equivalence.
    declared: FieldTable,
}

/// A queue argument the broker knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Arg {
    Expires,
    MessageTtl,
    DeadLetterExchange,
    DeadLetterRoutingKey,
    MaxLength,
    MaxLengthBytes,
    MaxPriority,
    Overflow,
    SingleActiveConsumer,
    DeliveryLimit,
}

impl Arg {
    /// Every known argument, in the order RabbitMQ 3.10 validates and compares
    /// them (`declare_args/0` and the classic queue's argument list), so that a
    /// declare with several bad arguments names the same one RabbitMQ names.
    /// `x-delivery-limit` is ours on classic queues, so it comes last.
    const ALL: [Arg; 10] = [
        Arg::Expires,
        Arg::MessageTtl,
        Arg::DeadLetterExchange,
        Arg::DeadLetterRoutingKey,
        Arg::MaxLength,
        Arg::MaxLengthBytes,
        Arg::MaxPriority,
        Arg::Overflow,
        Arg::SingleActiveConsumer,
        Arg::DeliveryLimit,
    ];

    fn name(self) -> &'static str {
        match self {
            Arg::Expires => "x-expires",
            Arg::MessageTtl => "x-message-ttl",
            Arg::DeadLetterExchange => "x-dead-letter-exchange",
            Arg::DeadLetterRoutingKey => "x-dead-letter-routing-key",
            Arg::MaxLength => "x-max-length",
            Arg::MaxLengthBytes => "x-max-length-bytes",
            Arg::MaxPriority => "x-max-priority",
            Arg::Overflow => "x-overflow",
            Arg::SingleActiveConsumer => "x-single-active-consumer",
            Arg::DeliveryLimit => "x-delivery-limit",
        }
    }
}

impl QueueArgs {
    /// Parses known x- arguments (unknown ones are ignored); Err is the 406 PRECONDITION_FAILED reply text.
    ///
    /// For a declare that creates the queue. Texts are RabbitMQ's, e.g.
    /// `PRECONDITION_FAILED - invalid arg 'x-message-ttl' for queue 'q' in vhost '/': {value_negative,-1}`.
    pub fn parse(arguments: &FieldTable, queue: &str, vhost: &str) -> Result<QueueArgs, String> {
        // RabbitMQ's channel checks the dead-letter exchange's type before it
        // validates anything else, with a text of its own.
        let dead_letter_exchange = Arg::DeadLetterExchange.name();
        if let Some(value) = arguments.get(dead_letter_exchange) {
            if !matches!(value, FieldValue::LongString(_)) {
                return Err(format!(
                    "PRECONDITION_FAILED - invalid type '{}' for arg '{dead_letter_exchange}' in queue '{queue}' in vhost '{vhost}'",
                    type_name(value)
                ));
            }
        }
        let mut args = QueueArgs::default();
        for arg in Arg::ALL {
            let Some(value) = arguments.get(arg.name()) else {
                continue;
            };
            args.set(arg, value, arguments).map_err(|error| {
                format!(
                    "PRECONDITION_FAILED - invalid arg '{}' for queue '{queue}' in vhost '{vhost}': {error}",
                    arg.name()
                )
            })?;
            args.declared.insert(arg.name().to_owned(), value.clone());
        }
        Ok(args)
    }

    /// For a redeclare: Err(406 reply text) when a known argument of `requested` differs from the declared one.
    ///
    /// `requested` is the raw argument table of the new declare, not validated:
    /// RabbitMQ compares before (and instead of) validating when the queue
    /// exists, so a redeclare with a bad value is "inequivalent", not "invalid".
    /// An argument left out counts as different. Values compare as Erlang terms
    /// without their AMQP types, as `rabbit_misc:assert_args_equivalence` does:
    /// a byte 5 and a long 5 are equivalent, an integer 1 and a double 1.0 are not.
    /// Unknown arguments are not compared.
    pub fn check_equivalent(
        &self,
        requested: &FieldTable,
        queue: &str,
        vhost: &str,
    ) -> Result<(), String> {
        for arg in Arg::ALL {
            let current = self.declared.get(arg.name());
            let received = requested.get(arg.name());
            let equivalent = match (current, received) {
                (None, None) => true,
                (Some(current), Some(received)) => same_erlang_term(current, received),
                _ => false,
            };
            if !equivalent {
                let (received, current) = match (received, current) {
                    (Some(received), Some(current)) => (bare_value(received), bare_value(current)),
                    (received, current) => (typed_value(received), typed_value(current)),
                };
                return Err(format!(
                    "PRECONDITION_FAILED - inequivalent arg '{}' for queue '{queue}' in vhost '{vhost}': received {received} but current is {current}",
                    arg.name()
                ));
            }
        }
        Ok(())
    }

    /// Validates one argument and stores its value; Err is RabbitMQ's error term, as `~p` prints it.
    fn set(&mut self, arg: Arg, value: &FieldValue, arguments: &FieldTable) -> Result<(), String> {
        match arg {
            Arg::Expires => self.expires_ms = Some(expires(value)?),
            Arg::MessageTtl => self.message_ttl_ms = Some(expiry(value)?),
            Arg::DeadLetterExchange => self.dead_letter_exchange = Some(string(value)?),
            Arg::DeadLetterRoutingKey => {
                let routing_key = string(value)?;
                if !arguments.contains_key(Arg::DeadLetterExchange.name()) {
                    return Err("routing_key_but_no_dlx_defined".to_owned());
                }
                self.dead_letter_routing_key = Some(routing_key);
            }
            Arg::MaxLength => self.max_length = Some(non_negative(value)?),
            Arg::MaxLengthBytes => self.max_length_bytes = Some(non_negative(value)?),
            Arg::MaxPriority => self.max_priority = Some(max_priority(value)?),
            Arg::Overflow => self.overflow = overflow(value)?,
            Arg::SingleActiveConsumer => match value {
                FieldValue::Bool(on) => self.single_active_consumer = *on,
                other => return Err(unacceptable_type(other)),
            },
            Arg::DeliveryLimit => self.delivery_limit = Some(non_negative(value)?),
        }
        Ok(())
    }
}

/// Parses a message's `expiration` property (a string of a non-negative integer of ms); Err is the 406 reply text.
///
/// Follows `rabbit_basic:parse_expiration`, which reads the string with
/// Erlang's `string:to_integer`: an optional sign, then digits, nothing after
/// them ("+5" and "007" are accepted, "-0" is 0, " 5" and "5 " are not).
/// The text is RabbitMQ's, e.g. `PRECONDITION_FAILED - invalid expiration 'abc': no_integer`.
pub fn parse_expiration(expiration: &str) -> Result<u64, String> {
    parse_expiration_term(expiration.as_bytes()).map_err(|error| {
        format!("PRECONDITION_FAILED - invalid expiration '{expiration}': {error}")
    })
}

fn parse_expiration_term(text: &[u8]) -> Result<u64, String> {
    let (negative, unsigned) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    let digit_count = unsigned
        .iter()
        .take_while(|byte| byte.is_ascii_digit())
        .count();
    if digit_count == 0 {
        return Err("no_integer".to_owned());
    }
    let (digits, rest) = unsigned.split_at(digit_count);
    if !rest.is_empty() {
        return Err(format!("{{leftover_string,{}}}", erlang_string(rest)));
    }
    // The digits can be longer than any machine integer; Erlang prints them
    // as a bignum, which is the digits without leading zeros.
    let significant = match digits.iter().position(|&byte| byte != b'0') {
        Some(first) => &digits[first..],
        None => return Ok(0),
    };
    let magnitude = String::from_utf8_lossy(significant);
    if negative {
        return Err(format!("{{value_negative,-{magnitude}}}"));
    }
    match magnitude.parse::<u64>() {
        Ok(ms) if ms <= MAX_EXPIRY_MS => Ok(ms),
        _ => Err(format!("{{value_too_large,{magnitude}}}")),
    }
}

/// `check_int_arg`: any AMQP integer type.
fn integer(value: &FieldValue) -> Result<i128, String> {
    value.as_integer().ok_or_else(|| {
        erlang_string(format!("expected integer, got {}", type_name(value)).as_bytes())
    })
}

/// `check_non_neg_int_arg`.
fn non_negative(value: &FieldValue) -> Result<u64, String> {
    let n = integer(value)?;
    // as_integer widens at most 64-bit integers, so a non-negative one fits a u64.
    u64::try_from(n).map_err(|_| format!("{{value_negative,{n}}}"))
}

/// `check_message_ttl_arg`: an integer within `rabbit_misc:check_expiry`.
fn expiry(value: &FieldValue) -> Result<u64, String> {
    let n = integer(value)?;
    if n < 0 {
        return Err(format!("{{value_negative,{n}}}"));
    }
    match u64::try_from(n) {
        Ok(ms) if ms <= MAX_EXPIRY_MS => Ok(ms),
        _ => Err(format!("{{value_too_large,{n}}}")),
    }
}

/// `check_expires_arg`: as `expiry`, and zero is refused first.
fn expires(value: &FieldValue) -> Result<u64, String> {
    if integer(value)? == 0 {
        return Err("{value_zero,0}".to_owned());
    }
    expiry(value)
}

/// `check_max_priority_arg`.
fn max_priority(value: &FieldValue) -> Result<u8, String> {
    let n = non_negative(value)?;
    u8::try_from(n).map_err(|_| format!("{{max_value_exceeded,{n}}}"))
}

/// `check_overflow`.
fn overflow(value: &FieldValue) -> Result<Overflow, String> {
    match value {
        FieldValue::LongString(name) => {
            Overflow::parse(name).ok_or_else(|| "invalid_overflow".to_owned())
        }
        other => Err(unacceptable_type(other)),
    }
}

/// `check_dlxname_arg` / `check_dlxrk_arg`'s type check.
fn string(value: &FieldValue) -> Result<Arc<str>, String> {
    match value {
        FieldValue::LongString(bytes) => Ok(Arc::from(String::from_utf8_lossy(bytes))),
        other => Err(unacceptable_type(other)),
    }
}

fn unacceptable_type(value: &FieldValue) -> String {
    format!("{{unacceptable_type,{}}}", type_name(value))
}

/// RabbitMQ's name of a value's AMQP type (`rabbit_binary_parser`).
fn type_name(value: &FieldValue) -> &'static str {
    match value {
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
fn same_erlang_term(a: &FieldValue, b: &FieldValue) -> bool {
    erlang_term(a) == erlang_term(b)
}

/// `rabbit_misc:val/1` of a bare value: a binary as its text, anything else as `~p`.
fn bare_value(value: &FieldValue) -> String {
    match value {
        FieldValue::LongString(bytes) | FieldValue::ByteArray(bytes) => {
            format!("'{}'", String::from_utf8_lossy(bytes))
        }
        other => format!("'{}'", print_term(other)),
    }
}

/// `rabbit_misc:val/1` of a typed value, or `none` for a missing one.
fn typed_value(value: Option<&FieldValue>) -> String {
    match value {
        None => "none".to_owned(),
        Some(value) => format!(
            "the value {} of type '{}'",
            bare_value(value),
            type_name(value)
        ),
    }
}

/// Erlang's `~p` of the untyped value, on one line (Erlang wraps terms longer than a line).
fn print_term(value: &FieldValue) -> String {
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
                .map(|item| format!("{{{},{}}}", type_name(item), print_term(item)))
                .collect();
            format!("[{}]", items.join(","))
        }
        Term::Table(fields) => {
            let fields: Vec<String> = fields
                .iter()
                .map(|(name, item)| {
                    let name = erlang_binary(name.as_bytes());
                    format!("{{{name},{},{}}}", type_name(item), print_term(item))
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
    // Rust's `{:e}` also writes the shortest round-trip digits, as `d.ddde-x`,
    // so the split and the parse below cannot fail.
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
fn erlang_string(bytes: &[u8]) -> String {
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
    use bytes::Bytes;

    fn table(entries: &[(&str, FieldValue)]) -> FieldTable {
        entries
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone()))
            .collect()
    }

    fn parse_one(name: &str, value: FieldValue) -> Result<QueueArgs, String> {
        QueueArgs::parse(&table(&[(name, value)]), "q", "/")
    }

    /// The error term RabbitMQ prints after "invalid arg '<name>' for queue 'q' in vhost '/': ".
    fn invalid(name: &str, value: FieldValue) -> String {
        let prefix =
            format!("PRECONDITION_FAILED - invalid arg '{name}' for queue 'q' in vhost '/': ");
        let text = parse_one(name, value).expect_err("the value is invalid");
        text.strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("unexpected text {text}"))
            .to_owned()
    }

    fn declared(entries: &[(&str, FieldValue)]) -> QueueArgs {
        QueueArgs::parse(&table(entries), "q", "/").expect("valid arguments")
    }

    fn inequivalence(current: &[(&str, FieldValue)], requested: &[(&str, FieldValue)]) -> String {
        declared(current)
            .check_equivalent(&table(requested), "q", "/")
            .expect_err("the arguments differ")
    }

    fn long(n: i64) -> FieldValue {
        FieldValue::I64(n)
    }

    fn text(value: &str) -> FieldValue {
        FieldValue::string(value)
    }

    const INTEGER_ARGUMENTS: [&str; 6] = [
        "x-message-ttl",
        "x-expires",
        "x-max-length",
        "x-max-length-bytes",
        "x-max-priority",
        "x-delivery-limit",
    ];

    #[test]
    fn no_arguments_parse_to_defaults() {
        assert_eq!(
            QueueArgs::parse(&FieldTable::new(), "q", "/"),
            Ok(QueueArgs::default())
        );
        assert_eq!(QueueArgs::default().overflow, Overflow::DropHead);
    }

    #[test]
    fn message_ttl_must_be_non_negative() {
        for (ms, expected) in [(0, Some(0)), (1, Some(1)), (60_000, Some(60_000))] {
            assert_eq!(
                parse_one("x-message-ttl", long(ms)).map(|args| args.message_ttl_ms),
                Ok(expected)
            );
        }
        assert_eq!(invalid("x-message-ttl", long(-1)), "{value_negative,-1}");
        assert_eq!(
            invalid("x-message-ttl", FieldValue::I8(-128)),
            "{value_negative,-128}"
        );
    }

    #[test]
    fn message_ttl_and_expires_are_at_most_ten_years() {
        for name in ["x-message-ttl", "x-expires"] {
            let max = long(315_360_000_000);
            assert!(parse_one(name, max).is_ok(), "{name}");
            assert_eq!(
                invalid(name, long(315_360_000_001)),
                "{value_too_large,315360000001}"
            );
            assert_eq!(
                invalid(name, long(i64::MAX)),
                format!("{{value_too_large,{}}}", i64::MAX)
            );
        }
    }

    #[test]
    fn expires_must_be_positive() {
        assert_eq!(
            parse_one("x-expires", long(1)).map(|args| args.expires_ms),
            Ok(Some(1))
        );
        assert_eq!(invalid("x-expires", long(0)), "{value_zero,0}");
        assert_eq!(invalid("x-expires", FieldValue::U8(0)), "{value_zero,0}");
        assert_eq!(invalid("x-expires", long(-5)), "{value_negative,-5}");
    }

    #[test]
    fn integer_arguments_accept_every_integer_type() {
        let fives = [
            FieldValue::I8(5),
            FieldValue::U8(5),
            FieldValue::I16(5),
            FieldValue::U16(5),
            FieldValue::I32(5),
            FieldValue::U32(5),
            FieldValue::I64(5),
        ];
        for value in fives {
            let args = declared(&[
                ("x-message-ttl", value.clone()),
                ("x-expires", value.clone()),
                ("x-max-length", value.clone()),
                ("x-max-length-bytes", value.clone()),
                ("x-max-priority", value.clone()),
                ("x-delivery-limit", value.clone()),
            ]);
            assert_eq!(args.message_ttl_ms, Some(5), "{value:?}");
            assert_eq!(args.expires_ms, Some(5));
            assert_eq!(args.max_length, Some(5));
            assert_eq!(args.max_length_bytes, Some(5));
            assert_eq!(args.max_priority, Some(5));
            assert_eq!(args.delivery_limit, Some(5));
        }
    }

    #[test]
    fn integer_argument_of_another_type_is_refused() {
        let cases = [
            (text("100"), "longstr"),
            (FieldValue::Bool(true), "bool"),
            (FieldValue::F32(1.0f32.to_bits()), "float"),
            (FieldValue::F64(100.0f64.to_bits()), "double"),
            (
                FieldValue::Decimal {
                    scale: 0,
                    value: 100,
                },
                "decimal",
            ),
            (FieldValue::Timestamp(100), "timestamp"),
            (FieldValue::Array(vec![long(1)]), "array"),
            (FieldValue::Table(FieldTable::new()), "table"),
            (FieldValue::ByteArray(Bytes::from_static(b"1")), "binary"),
            (FieldValue::Void, "void"),
        ];
        for name in INTEGER_ARGUMENTS {
            for (value, type_name) in &cases {
                // check_int_arg's error is a string, which `~p` prints in quotes.
                let expected = format!("\"expected integer, got {type_name}\"");
                assert_eq!(invalid(name, value.clone()), expected, "{name}");
            }
        }
    }

    #[test]
    fn max_length_and_max_length_bytes_must_be_non_negative() {
        for name in ["x-max-length", "x-max-length-bytes"] {
            for n in [0, 1, 1_000_000, i64::MAX] {
                let args = parse_one(name, long(n)).expect("valid");
                let expected = u64::try_from(n).ok();
                assert_eq!(
                    args.max_length.or(args.max_length_bytes),
                    expected,
                    "{name} {n}"
                );
            }
            assert_eq!(invalid(name, long(-1)), "{value_negative,-1}");
            assert_eq!(
                invalid(name, FieldValue::I32(i32::MIN)),
                format!("{{value_negative,{}}}", i32::MIN)
            );
        }
    }

    #[test]
    fn max_priority_accepts_0_to_255() {
        for n in [0u8, 1, 10, 255] {
            let args = parse_one("x-max-priority", long(i64::from(n))).expect("valid");
            assert_eq!(args.max_priority, Some(n));
        }
        assert_eq!(
            invalid("x-max-priority", long(256)),
            "{max_value_exceeded,256}"
        );
        assert_eq!(invalid("x-max-priority", long(-1)), "{value_negative,-1}");
    }

    #[test]
    fn delivery_limit_must_be_non_negative() {
        assert_eq!(
            parse_one("x-delivery-limit", long(0)).map(|args| args.delivery_limit),
            Ok(Some(0))
        );
        assert_eq!(
            parse_one("x-delivery-limit", long(3)).map(|args| args.delivery_limit),
            Ok(Some(3))
        );
        assert_eq!(invalid("x-delivery-limit", long(-1)), "{value_negative,-1}");
    }

    #[test]
    fn overflow_accepts_three_modes() {
        for (name, mode) in [
            ("drop-head", Overflow::DropHead),
            ("reject-publish", Overflow::RejectPublish),
            ("reject-publish-dlx", Overflow::RejectPublishDlx),
        ] {
            assert_eq!(
                parse_one("x-overflow", text(name)).map(|args| args.overflow),
                Ok(mode)
            );
        }
    }

    #[test]
    fn overflow_refuses_other_modes_and_types() {
        for mode in ["drop-tail", "Drop-Head", "", "reject-publish "] {
            assert_eq!(
                invalid("x-overflow", text(mode)),
                "invalid_overflow",
                "{mode:?}"
            );
        }
        assert_eq!(invalid("x-overflow", long(1)), "{unacceptable_type,long}");
        assert_eq!(
            invalid(
                "x-overflow",
                FieldValue::ByteArray(Bytes::from_static(b"drop-head"))
            ),
            "{unacceptable_type,binary}"
        );
    }

    #[test]
    fn single_active_consumer_must_be_bool() {
        for on in [true, false] {
            let args = parse_one("x-single-active-consumer", FieldValue::Bool(on)).expect("valid");
            assert_eq!(args.single_active_consumer, on);
        }
        assert_eq!(
            invalid("x-single-active-consumer", text("true")),
            "{unacceptable_type,longstr}"
        );
        assert_eq!(
            invalid("x-single-active-consumer", FieldValue::I8(1)),
            "{unacceptable_type,byte}"
        );
    }

    #[test]
    fn dead_letter_exchange_must_be_a_string() {
        let args = parse_one("x-dead-letter-exchange", text("dlx")).expect("valid");
        assert_eq!(args.dead_letter_exchange.as_deref(), Some("dlx"));
        // The empty name is the default exchange, a valid dead-letter exchange.
        let args = parse_one("x-dead-letter-exchange", text("")).expect("valid");
        assert_eq!(args.dead_letter_exchange.as_deref(), Some(""));
        for (value, type_name) in [
            (long(1), "long"),
            (FieldValue::Bool(true), "bool"),
            (FieldValue::Void, "void"),
        ] {
            assert_eq!(
                parse_one("x-dead-letter-exchange", value),
                Err(format!(
                    "PRECONDITION_FAILED - invalid type '{type_name}' for arg 'x-dead-letter-exchange' in queue 'q' in vhost '/'"
                ))
            );
        }
    }

    #[test]
    fn dead_letter_exchange_type_is_checked_before_other_arguments() {
        let arguments = table(&[("x-expires", long(0)), ("x-dead-letter-exchange", long(1))]);
        let text = QueueArgs::parse(&arguments, "q", "/").expect_err("invalid");
        assert!(
            text.contains("invalid type 'long' for arg 'x-dead-letter-exchange'"),
            "{text}"
        );
    }

    #[test]
    fn dead_letter_routing_key_requires_dead_letter_exchange() {
        assert_eq!(
            invalid("x-dead-letter-routing-key", text("rk")),
            "routing_key_but_no_dlx_defined"
        );
        let args = declared(&[
            ("x-dead-letter-exchange", text("dlx")),
            ("x-dead-letter-routing-key", text("rk")),
        ]);
        assert_eq!(args.dead_letter_routing_key.as_deref(), Some("rk"));
    }

    #[test]
    fn dead_letter_routing_key_must_be_a_string() {
        // The type is checked before the dead-letter exchange is looked for.
        assert_eq!(
            invalid("x-dead-letter-routing-key", long(1)),
            "{unacceptable_type,long}"
        );
        let arguments = table(&[
            ("x-dead-letter-exchange", text("dlx")),
            ("x-dead-letter-routing-key", long(1)),
        ]);
        assert_eq!(
            QueueArgs::parse(&arguments, "q", "/"),
            Err("PRECONDITION_FAILED - invalid arg 'x-dead-letter-routing-key' for queue 'q' in vhost '/': {unacceptable_type,long}".to_owned())
        );
    }

    #[test]
    fn unknown_x_argument_is_ignored() {
        let arguments = table(&[
            ("x-queue-mode", text("lazy")),
            ("x-queue-type", text("classic")),
            ("x-made-up", long(-1)),
            ("alternate-exchange", long(1)),
        ]);
        let args = QueueArgs::parse(&arguments, "q", "/").expect("unknown arguments are ignored");
        assert_eq!(args, QueueArgs::default());
        assert_eq!(args.check_equivalent(&FieldTable::new(), "q", "/"), Ok(()));
    }

    #[test]
    fn first_invalid_argument_in_rabbitmq_order_is_reported() {
        // RabbitMQ checks x-message-ttl before x-dead-letter-routing-key, although
        // the table's (alphabetical) order has them the other way round.
        let arguments = table(&[
            ("x-dead-letter-routing-key", text("rk")),
            ("x-message-ttl", long(-1)),
        ]);
        let text = QueueArgs::parse(&arguments, "q", "/").expect_err("invalid");
        assert!(text.contains("'x-message-ttl'"), "{text}");
    }

    #[test]
    fn invalid_arg_text_names_queue_and_vhost() {
        let arguments = table(&[("x-message-ttl", long(-1))]);
        assert_eq!(
            QueueArgs::parse(&arguments, "orders", "/shop"),
            Err("PRECONDITION_FAILED - invalid arg 'x-message-ttl' for queue 'orders' in vhost '/shop': {value_negative,-1}".to_owned())
        );
    }

    #[test]
    fn parse_reads_every_known_argument() {
        let args = declared(&[
            ("x-message-ttl", long(1000)),
            ("x-expires", long(2000)),
            ("x-max-length", long(10)),
            ("x-max-length-bytes", long(4096)),
            ("x-overflow", text("reject-publish-dlx")),
            ("x-max-priority", long(9)),
            ("x-single-active-consumer", FieldValue::Bool(true)),
            ("x-delivery-limit", long(4)),
            ("x-dead-letter-exchange", text("dlx")),
            ("x-dead-letter-routing-key", text("dead")),
        ]);
        assert_eq!(args.message_ttl_ms, Some(1000));
        assert_eq!(args.expires_ms, Some(2000));
        assert_eq!(args.max_length, Some(10));
        assert_eq!(args.max_length_bytes, Some(4096));
        assert_eq!(args.overflow, Overflow::RejectPublishDlx);
        assert_eq!(args.max_priority, Some(9));
        assert!(args.single_active_consumer);
        assert_eq!(args.delivery_limit, Some(4));
        assert_eq!(args.dead_letter_exchange.as_deref(), Some("dlx"));
        assert_eq!(args.dead_letter_routing_key.as_deref(), Some("dead"));
    }

    #[test]
    fn identical_arguments_are_equivalent() {
        let arguments = table(&[
            ("x-message-ttl", long(1000)),
            ("x-overflow", text("reject-publish")),
            ("x-dead-letter-exchange", text("dlx")),
            ("x-single-active-consumer", FieldValue::Bool(false)),
        ]);
        let args = QueueArgs::parse(&arguments, "q", "/").expect("valid");
        assert_eq!(args.check_equivalent(&arguments, "q", "/"), Ok(()));
    }

    #[test]
    fn argument_left_out_on_redeclare_is_inequivalent() {
        assert_eq!(
            inequivalence(&[("x-message-ttl", long(100))], &[]),
            "PRECONDITION_FAILED - inequivalent arg 'x-message-ttl' for queue 'q' in vhost '/': received none but current is the value '100' of type 'long'"
        );
        // A default value written out is still an argument the queue does not have.
        assert_eq!(
            inequivalence(&[], &[("x-overflow", text("drop-head"))]),
            "PRECONDITION_FAILED - inequivalent arg 'x-overflow' for queue 'q' in vhost '/': received the value 'drop-head' of type 'longstr' but current is none"
        );
    }

    #[test]
    fn argument_added_on_redeclare_is_inequivalent() {
        assert_eq!(
            inequivalence(&[], &[("x-message-ttl", long(100))]),
            "PRECONDITION_FAILED - inequivalent arg 'x-message-ttl' for queue 'q' in vhost '/': received the value '100' of type 'long' but current is none"
        );
    }

    #[test]
    fn different_value_on_redeclare_is_inequivalent() {
        let cases = [
            ("x-message-ttl", long(100), long(200), "'200'", "'100'"),
            (
                "x-overflow",
                text("drop-head"),
                text("reject-publish"),
                "'reject-publish'",
                "'drop-head'",
            ),
            (
                "x-single-active-consumer",
                FieldValue::Bool(true),
                FieldValue::Bool(false),
                "'false'",
                "'true'",
            ),
            ("x-dead-letter-exchange", text("a"), text("b"), "'b'", "'a'"),
        ];
        for (name, current, received, received_text, current_text) in cases {
            assert_eq!(
                inequivalence(&[(name, current)], &[(name, received)]),
                format!(
                    "PRECONDITION_FAILED - inequivalent arg '{name}' for queue 'q' in vhost '/': received {received_text} but current is {current_text}"
                )
            );
        }
    }

    #[test]
    fn integers_of_different_widths_with_equal_values_are_equivalent() {
        let args = declared(&[("x-max-length", long(100))]);
        for value in [
            FieldValue::I8(100),
            FieldValue::U8(100),
            FieldValue::I16(100),
            FieldValue::U16(100),
            FieldValue::I32(100),
            FieldValue::U32(100),
            // RabbitMQ drops the type when the classes differ and compares the
            // bare values, and a timestamp's is an integer.
            FieldValue::Timestamp(100),
        ] {
            let requested = table(&[("x-max-length", value.clone())]);
            assert_eq!(
                args.check_equivalent(&requested, "q", "/"),
                Ok(()),
                "{value:?}"
            );
        }
    }

    #[test]
    fn integer_and_float_with_equal_values_are_inequivalent() {
        assert_eq!(
            inequivalence(&[("x-max-length", long(1))], &[("x-max-length", FieldValue::F64(1.0f64.to_bits()))]),
            "PRECONDITION_FAILED - inequivalent arg 'x-max-length' for queue 'q' in vhost '/': received '1.0' but current is '1'"
        );
    }

    #[test]
    fn redeclare_compares_without_validating() {
        // RabbitMQ compares a redeclare's arguments with the queue's and never
        // validates them, so a bad value is reported as inequivalent.
        for (received, received_text) in [(text("abc"), "'abc'"), (long(-1), "'-1'")] {
            assert_eq!(
                inequivalence(&[("x-message-ttl", long(100))], &[("x-message-ttl", received)]),
                format!(
                    "PRECONDITION_FAILED - inequivalent arg 'x-message-ttl' for queue 'q' in vhost '/': received {received_text} but current is '100'"
                )
            );
        }
    }

    #[test]
    fn unknown_arguments_are_not_compared() {
        let args = declared(&[("x-queue-mode", text("lazy")), ("x-message-ttl", long(5))]);
        let requested = table(&[
            ("x-message-ttl", FieldValue::U8(5)),
            ("x-queue-mode", text("default")),
        ]);
        assert_eq!(args.check_equivalent(&requested, "q", "/"), Ok(()));
    }

    #[test]
    fn first_inequivalent_argument_in_rabbitmq_order_is_reported() {
        let text = inequivalence(
            &[
                ("x-dead-letter-exchange", text("dlx")),
                ("x-message-ttl", long(1)),
            ],
            &[
                ("x-dead-letter-exchange", text("other")),
                ("x-message-ttl", long(2)),
            ],
        );
        assert!(text.contains("'x-message-ttl'"), "{text}");
    }

    #[test]
    fn inequivalent_values_print_as_erlang_prints_them() {
        let mut nested = FieldTable::new();
        nested.insert("k".to_owned(), text("v"));
        let cases = [
            (FieldValue::F64(1000.0f64.to_bits()), "'1.0e3'"),
            (FieldValue::F32(0.1f32.to_bits()), "'0.10000000149011612'"),
            (
                FieldValue::Decimal {
                    scale: 2,
                    value: 150,
                },
                "'{2,150}'",
            ),
            (FieldValue::Bool(true), "'true'"),
            (
                FieldValue::Array(vec![text("a"), long(1)]),
                "'[{longstr,<<\"a\">>},{long,1}]'",
            ),
            (
                FieldValue::Table(nested),
                "'[{<<\"k\">>,longstr,<<\"v\">>}]'",
            ),
            (
                FieldValue::Array(vec![FieldValue::ByteArray(Bytes::from_static(&[1, 200]))]),
                "'[{binary,<<1,200>>}]'",
            ),
            (FieldValue::Array(Vec::new()), "'[]'"),
            (FieldValue::ByteArray(Bytes::from_static(b"raw")), "'raw'"),
        ];
        for (value, printed) in cases {
            let text = inequivalence(&[("x-max-length", long(7))], &[("x-max-length", value)]);
            assert!(
                text.ends_with(&format!("received {printed} but current is '7'")),
                "{text}"
            );
        }
        assert!(inequivalence(&[], &[("x-max-length", FieldValue::Void)])
            .ends_with("received the value 'undefined' of type 'void' but current is none"));
    }

    #[test]
    fn empty_array_and_empty_table_are_the_same_erlang_term() {
        assert!(same_erlang_term(
            &FieldValue::Array(Vec::new()),
            &FieldValue::Table(FieldTable::new())
        ));
        assert!(!same_erlang_term(
            &FieldValue::Array(vec![long(1)]),
            &FieldValue::Array(vec![FieldValue::I8(1)])
        ));
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

    #[test]
    fn expiration_must_be_a_non_negative_integer_string() {
        let valid = [
            ("0", 0),
            ("1000", 1000),
            ("007", 7),
            ("+5", 5),
            ("-0", 0),
            ("315360000000", 315_360_000_000),
        ];
        for (expiration, ms) in valid {
            assert_eq!(parse_expiration(expiration), Ok(ms), "{expiration:?}");
        }
        let invalid = [
            ("", "no_integer"),
            ("abc", "no_integer"),
            (" 5", "no_integer"),
            ("-", "no_integer"),
            ("+", "no_integer"),
            ("5 ", "{leftover_string,\" \"}"),
            ("1e3", "{leftover_string,\"e3\"}"),
            ("1.5", "{leftover_string,\".5\"}"),
            ("0x10", "{leftover_string,\"x10\"}"),
            ("5\t\"", "{leftover_string,\"\\t\\\"\"}"),
            ("5\u{7}", "{leftover_string,[7]}"),
            ("-5", "{value_negative,-5}"),
            ("-007", "{value_negative,-7}"),
            ("315360000001", "{value_too_large,315360000001}"),
            (
                "99999999999999999999999",
                "{value_too_large,99999999999999999999999}",
            ),
        ];
        for (expiration, error) in invalid {
            assert_eq!(
                parse_expiration(expiration),
                Err(format!(
                    "PRECONDITION_FAILED - invalid expiration '{expiration}': {error}"
                )),
                "{expiration:?}"
            );
        }
    }
}
