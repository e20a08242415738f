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
//! `~p` does; the small Erlang term printer in the `erlang` module exists for
//! that.

mod erlang;
pub(crate) mod stream;

pub use stream::{StreamArgs, StreamOffset, STREAM_SEGMENT_BYTES_DEFAULT};

use crate::field::{FieldTable, FieldValue};
use crate::message::Name;

use erlang::{bare_value, erlang_string, same_erlang_term, typed_value};

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
    pub dead_letter_exchange: Option<Name>,
    /// x-dead-letter-routing-key: string; only allowed with a dead-letter exchange.
    pub dead_letter_routing_key: Option<Name>,
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
                    value.type_name()
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
        erlang_string(format!("expected integer, got {}", value.type_name()).as_bytes())
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
fn string(value: &FieldValue) -> Result<Name, String> {
    match value {
        FieldValue::LongString(bytes) => Ok(Name::from(String::from_utf8_lossy(bytes))),
        other => Err(unacceptable_type(other)),
    }
}

fn unacceptable_type(value: &FieldValue) -> String {
    format!("{{unacceptable_type,{}}}", value.type_name())
}

#[cfg(test)]
mod tests;
