//! The arguments of a stream queue (`x-queue-type: stream`) and of its
//! consumers (`x-stream-offset`), with RabbitMQ 3.10's rules and texts.
//!
//! A stream queue takes the classic queue's validation of every argument
//! RabbitMQ knows (so a bad `x-message-ttl` is reported as on a classic
//! queue), then its own (`x-max-age`, `x-stream-max-segment-size-bytes`),
//! then refuses the arguments that streams do not support. Where RabbitMQ
//! 3.10 crashes on a value (an `x-max-age` or an `x-stream-offset` interval
//! that does not start with a digit, a boolean offset), this refuses it with
//! the text RabbitMQ gives for its other bad values.

use super::erlang::{bare_value, print_term, same_erlang_term, typed_value};
use super::QueueArgs;
use crate::field::{FieldTable, FieldValue};

/// RabbitMQ's default segment size for a stream (`x-stream-max-segment-size-bytes`): 500 MB.
pub const STREAM_SEGMENT_BYTES_DEFAULT: u64 = 500_000_000;

/// The arguments RabbitMQ knows on some queue type but refuses on a stream.
const REFUSED_ON_STREAMS: [&str; 15] = [
    "x-expires",
    "x-message-ttl",
    "x-dead-letter-exchange",
    "x-dead-letter-routing-key",
    "x-max-length",
    "x-max-in-memory-length",
    "x-max-in-memory-bytes",
    "x-max-priority",
    "x-overflow",
    "x-queue-mode",
    "x-single-active-consumer",
    "x-quorum-initial-group-size",
    "x-delivery-limit",
    "x-queue-master-locator",
    "x-queue-version",
];

/// The arguments a stream queue's redeclare is compared on, in RabbitMQ's order.
const COMPARED_ON_STREAMS: [&str; 4] = [
    "x-max-length-bytes",
    "x-queue-type",
    "x-max-age",
    "x-stream-max-segment-size-bytes",
];

/// Validated arguments of a stream queue.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct StreamArgs {
    /// `x-max-length-bytes`: the log keeps about this many bytes.
    pub max_length_bytes: Option<u64>,
    /// `x-max-age`, in milliseconds: older segments go.
    pub max_age_ms: Option<u64>,
    /// `x-stream-max-segment-size-bytes`: the size at which a segment rolls.
    pub max_segment_size_bytes: Option<u64>,
    /// The compared arguments as declared, for redeclare equivalence.
    declared: FieldTable,
}

impl StreamArgs {
    /// Whether a declare asks for a stream queue (`x-queue-type` is `stream`).
    #[must_use]
    pub fn is_stream(arguments: &FieldTable) -> bool {
        matches!(
            arguments.get("x-queue-type"),
            Some(FieldValue::LongString(kind)) if &kind[..] == b"stream"
        )
    }

    /// Validates a stream queue's arguments for the declare that creates
    /// it; Err is the 406 PRECONDITION_FAILED reply text.
    pub fn parse(arguments: &FieldTable, queue: &str, vhost: &str) -> Result<StreamArgs, String> {
        let classic = QueueArgs::parse(arguments, queue, vhost)?;
        let invalid = |name: &str, error: String| {
            format!(
                "PRECONDITION_FAILED - invalid arg '{name}' for queue '{queue}' in vhost '{vhost}': {error}"
            )
        };
        let mut args = StreamArgs {
            max_length_bytes: classic.max_length_bytes,
            ..StreamArgs::default()
        };
        if let Some(value) = arguments.get("x-max-age") {
            args.max_age_ms = Some(max_age(value).map_err(|error| invalid("x-max-age", error))?);
        }
        let segment = "x-stream-max-segment-size-bytes";
        if let Some(value) = arguments.get(segment) {
            let bytes = match value.as_integer() {
                Some(n) => u64::try_from(n).map_err(|_| format!("{{value_negative,{n}}}")),
                None => Err(format!("\"expected integer, got {}\"", value.type_name())),
            };
            args.max_segment_size_bytes = Some(bytes.map_err(|error| invalid(segment, error))?);
        }
        // RabbitMQ names the first refused argument in the order the client
        // sent them; a table keeps them by name, so the first by name here.
        if let Some(refused) = arguments
            .keys()
            .find(|name| REFUSED_ON_STREAMS.contains(&name.as_str()))
        {
            return Err(format!(
                "PRECONDITION_FAILED - invalid arg '{refused}' for queue '{queue}' in vhost '{vhost}' of queue type rabbit_stream_queue"
            ));
        }
        for name in COMPARED_ON_STREAMS {
            if let Some(value) = arguments.get(name) {
                args.declared.insert(name.to_owned(), value.clone());
            }
        }
        Ok(args)
    }

    /// For a redeclare of a stream queue: Err(406 reply text) when a
    /// compared argument differs from the declared one, as
    /// [`QueueArgs::check_equivalent`] words it.
    pub fn check_equivalent(
        &self,
        requested: &FieldTable,
        queue: &str,
        vhost: &str,
    ) -> Result<(), String> {
        for name in COMPARED_ON_STREAMS {
            check_one_equivalent(
                name,
                self.declared.get(name),
                requested.get(name),
                queue,
                vhost,
            )?;
        }
        Ok(())
    }
}

/// For a redeclare of a classic queue that asks for a stream: the 406 text
/// RabbitMQ gives for its `x-queue-type`.
pub(crate) fn classic_redeclared_as_stream(
    requested: &FieldTable,
    queue: &str,
    vhost: &str,
) -> Result<(), String> {
    if !StreamArgs::is_stream(requested) {
        return Ok(());
    }
    check_one_equivalent(
        "x-queue-type",
        None,
        requested.get("x-queue-type"),
        queue,
        vhost,
    )
}

fn check_one_equivalent(
    name: &str,
    current: Option<&FieldValue>,
    received: Option<&FieldValue>,
    queue: &str,
    vhost: &str,
) -> Result<(), String> {
    let equivalent = match (current, received) {
        (None, None) => true,
        (Some(current), Some(received)) => same_erlang_term(current, received),
        _ => false,
    };
    if equivalent {
        return Ok(());
    }
    let (received, current) = match (received, current) {
        (Some(received), Some(current)) => (bare_value(received), bare_value(current)),
        (received, current) => (typed_value(received), typed_value(current)),
    };
    Err(format!(
        "PRECONDITION_FAILED - inequivalent arg '{name}' for queue '{queue}' in vhost '{vhost}': received {received} but current is {current}"
    ))
}

/// `x-max-age`: a long string; Err is RabbitMQ's error term.
fn max_age(value: &FieldValue) -> Result<u64, String> {
    match value {
        FieldValue::LongString(text) => {
            interval_ms(text).ok_or_else(|| "invalid_max_age".to_owned())
        }
        other => Err(format!("{{unacceptable_type,{}}}", other.type_name())),
    }
}

/// RabbitMQ's duration syntax (`rabbit_amqqueue:check_max_age`): a
/// positive integer and one unit of `Y` (365 days), `M` (30 days), `D`,
/// `h`, `m` or `s`, as milliseconds (saturating). `None` for anything
/// else, including text without leading digits, on which RabbitMQ 3.10 crashes.
#[must_use]
pub fn interval_ms(text: &[u8]) -> Option<u64> {
    let digits = text.iter().take_while(|byte| byte.is_ascii_digit()).count();
    let (number, unit) = text.split_at(digits);
    let unit_ms: u64 = match unit {
        b"Y" => 365 * 86_400_000,
        b"M" => 30 * 86_400_000,
        b"D" => 86_400_000,
        b"h" => 3_600_000,
        b"m" => 60_000,
        b"s" => 1_000,
        _ => return None,
    };
    if number.is_empty() {
        return None;
    }
    // ASCII digits only, so the parse fails on overflow alone: a number
    // past u64 saturates, as Erlang's bignums never overflow.
    let number = std::str::from_utf8(number).ok()?;
    let count = number.parse::<u64>().unwrap_or(u64::MAX);
    (count > 0).then(|| count.saturating_mul(unit_ms))
}

/// Where a stream queue's consumer starts (the consumer argument `x-stream-offset`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum StreamOffset {
    /// The first record the log holds.
    First,
    /// The last batch (RabbitMQ's last chunk): for messages published over
    /// AMQP, one batch each, the last message.
    Last,
    /// The next record appended (the default).
    #[default]
    Next,
    /// This offset: below the log start it is the log start; above the
    /// log end the consumer waits for it, skipping what comes before.
    Offset(u64),
    /// The first record appended at or after this time, in milliseconds
    /// since the Unix epoch; the next record when there is none.
    Timestamp(i64),
}

impl StreamOffset {
    /// Parses the consumer argument at `now_ms` (intervals count back from
    /// it); Err is the 406 PRECONDITION_FAILED reply text.
    pub fn parse(
        arguments: &FieldTable,
        now_ms: i64,
        queue: &str,
        vhost: &str,
    ) -> Result<StreamOffset, String> {
        let Some(value) = arguments.get("x-stream-offset") else {
            return Ok(StreamOffset::Next);
        };
        let keyword = match value {
            FieldValue::LongString(text) | FieldValue::ByteArray(text) => match &text[..] {
                b"first" => Some(StreamOffset::First),
                b"last" => Some(StreamOffset::Last),
                b"next" => Some(StreamOffset::Next),
                _ => None,
            },
            _ => None,
        };
        if let Some(keyword) = keyword {
            return Ok(keyword);
        }
        let parsed = match value {
            FieldValue::Timestamp(seconds) => Some(StreamOffset::Timestamp(
                i64::try_from(seconds.saturating_mul(1000)).unwrap_or(i64::MAX),
            )),
            FieldValue::LongString(text) => interval_ms(text).map(|ms| {
                let ms = i64::try_from(ms).unwrap_or(i64::MAX);
                StreamOffset::Timestamp(now_ms.saturating_sub(ms))
            }),
            other => other
                .as_integer()
                .map(|n| StreamOffset::Offset(u64::try_from(n.max(0)).unwrap_or(u64::MAX))),
        };
        parsed.ok_or_else(|| {
            format!(
                "PRECONDITION_FAILED - invalid arg 'x-stream-offset' for queue '{queue}' in vhost '{vhost}': {{invalid_stream_offset_arg,{{{},{}}}}}",
                value.type_name(),
                print_term(value)
            )
        })
    }
}
