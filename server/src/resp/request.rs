//! Requests off the socket: Redis's request rules and bounds, then
//! redis-protocol's decoder.
//!
//! A request is a RESP array of bulk strings (what every client sends) or
//! an inline command (a line of words, as `telnet` sends). Before a
//! request reaches the decoder, its shape and sizes are checked as Redis's
//! `processMultibulkBuffer` checks them, so that a bad request gets
//! Redis's own error text (`Protocol error: invalid multibulk length`,
//! `expected '$', got 'x'`, `invalid bulk length`, `too big inline
//! request`, ...), after which the connection closes, as Redis closes it;
//! and so that the decoder only ever sees a flat array of bounded size
//! (it would recurse into nested arrays). Redis's own leniencies are
//! kept: the two bytes after a bulk string are skipped unread, and an
//! empty array or line is ignored.
//!
//! Differs from Redis: an inline command is split on whitespace only
//! (Redis also reads quoted arguments); the bounds are smaller
//! ([`BULK_MAX_BYTES`], [`ARGUMENTS_MAX`]).

use bytes::{Buf, Bytes, BytesMut};
use redis_protocol::resp2::decode::decode_range;
use redis_protocol::resp2::types::RangeFrame;

/// The longest bulk string a request may carry (Redis's
/// `proto-max-bulk-len` is 512 MiB; a Pub/Sub message larger than this
/// has no use here). Longer: `Protocol error: invalid bulk length`.
pub const BULK_MAX_BYTES: usize = 64 * 1024 * 1024;

/// Most arguments in one request (Redis allows up to `INT_MAX`). More:
/// `Protocol error: invalid multibulk length`.
pub const ARGUMENTS_MAX: usize = 1024 * 1024;

/// The longest inline command, or count line, Redis reads (its
/// `PROTO_INLINE_MAX_SIZE`).
pub const INLINE_MAX_BYTES: usize = 64 * 1024;

/// Arguments and bulk length a client that must still log in may send,
/// as Redis bounds them before AUTH.
const UNAUTHENTICATED_ARGUMENTS_MAX: usize = 10;
const UNAUTHENTICATED_BULK_MAX_BYTES: usize = 16 * 1024;

/// What the buffer holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// Not a whole request yet.
    Incomplete,
    /// A request with nothing in it (an empty array or line): ignored.
    Empty,
    /// A request's arguments, the command name first.
    Request(Vec<Bytes>),
    /// A protocol error, in Redis's words (without `ERR `): answer and close.
    Error(&'static str),
    /// A protocol error with Redis's text built from the request.
    ErrorText(String),
}

/// Takes the next request off the front of `buffer`, if it is whole.
/// `authenticated` selects Redis's smaller bounds for a client that must
/// still log in.
pub fn next_request(buffer: &mut BytesMut, authenticated: bool) -> Parsed {
    match buffer.first() {
        None => Parsed::Incomplete,
        Some(b'*') => next_array(buffer, authenticated),
        Some(_) => next_inline(buffer),
    }
}

/// The position of the first `\r` at or after `from`, if a byte follows it.
fn line_end(buffer: &[u8], from: usize) -> Option<usize> {
    let at = from + buffer.get(from..)?.iter().position(|&byte| byte == b'\r')?;
    (at + 2 <= buffer.len()).then_some(at)
}

/// Redis's `string2ll`: an optional `-`, then digits without a leading zero.
fn parse_length(digits: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(digits).ok()?;
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let canonical = unsigned == "0" || unsigned.starts_with(|c: char| ('1'..='9').contains(&c));
    if !canonical || !unsigned.bytes().all(|byte| byte.is_ascii_digit()) || text == "-0" {
        return None;
    }
    text.parse().ok()
}

fn next_array(buffer: &mut BytesMut, authenticated: bool) -> Parsed {
    let Some(count_end) = line_end(buffer, 0) else {
        return if buffer.len() > INLINE_MAX_BYTES {
            Parsed::Error("Protocol error: too big mbulk count string")
        } else {
            Parsed::Incomplete
        };
    };
    let count = match parse_length(&buffer[1..count_end]) {
        Some(count) if count <= i64::from(i32::MAX) => count,
        _ => return Parsed::Error("Protocol error: invalid multibulk length"),
    };
    if count <= 0 {
        buffer.advance(count_end + 2);
        return Parsed::Empty;
    }
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    if count > ARGUMENTS_MAX {
        return Parsed::Error("Protocol error: invalid multibulk length");
    }
    if !authenticated && count > UNAUTHENTICATED_ARGUMENTS_MAX {
        return Parsed::Error("Protocol error: unauthenticated multibulk length");
    }
    let mut at = count_end + 2;
    for _ in 0..count {
        let Some(length_end) = line_end(buffer, at) else {
            return if buffer.len() - at > INLINE_MAX_BYTES {
                Parsed::Error("Protocol error: too big bulk count string")
            } else {
                Parsed::Incomplete
            };
        };
        if buffer[at] != b'$' {
            let got = char::from(buffer[at]);
            return Parsed::ErrorText(format!("Protocol error: expected '$', got '{got}'"));
        }
        let length = match parse_length(&buffer[at + 1..length_end]) {
            Some(length) => usize::try_from(length).ok(),
            None => None,
        };
        let Some(length) = length.filter(|&length| length <= BULK_MAX_BYTES) else {
            return Parsed::Error("Protocol error: invalid bulk length");
        };
        if !authenticated && length > UNAUTHENTICATED_BULK_MAX_BYTES {
            return Parsed::Error("Protocol error: unauthenticated bulk length");
        }
        at = length_end + 2 + length + 2;
        if buffer.len() < at {
            return Parsed::Incomplete;
        }
    }
    decode_array(buffer, at)
}

/// Decodes the whole array of `length` bytes at the front of `buffer`
/// with redis-protocol, which the checks above have made a flat array of
/// bulk strings.
fn decode_array(buffer: &mut BytesMut, length: usize) -> Parsed {
    // Redis skips the two bytes after each bulk string unread; the decoder
    // reads them the same way, so what was checked is what it decodes.
    // The decoder gives each argument's place; the arguments are cut from
    // the read buffer there, uncopied (what outlives the request is copied
    // out by `commands`, so that it does not hold the read buffer).
    let Ok(Some((RangeFrame::Array(frames), _))) = decode_range(&buffer[..length]) else {
        return Parsed::Error("Protocol error: invalid multibulk length");
    };
    let request = buffer.split_to(length).freeze();
    let arguments = frames
        .into_iter()
        .map(|frame| match frame {
            RangeFrame::BulkString((start, end)) => Some(request.slice(start..end)),
            _ => None,
        })
        .collect::<Option<Vec<Bytes>>>();
    match arguments {
        Some(arguments) => Parsed::Request(arguments),
        None => Parsed::Error("Protocol error: invalid bulk length"),
    }
}

fn next_inline(buffer: &mut BytesMut) -> Parsed {
    let Some(newline) = buffer.iter().position(|&byte| byte == b'\n') else {
        return if buffer.len() > INLINE_MAX_BYTES {
            Parsed::Error("Protocol error: too big inline request")
        } else {
            Parsed::Incomplete
        };
    };
    let line = buffer.split_to(newline + 1).freeze();
    let arguments: Vec<Bytes> = line
        .split(|byte| byte.is_ascii_whitespace())
        .filter(|word| !word.is_empty())
        .map(|word| line.slice_ref(word))
        .collect();
    if arguments.is_empty() {
        Parsed::Empty
    } else {
        Parsed::Request(arguments)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> (Parsed, usize) {
        let mut buffer = BytesMut::from(bytes);
        let parsed = next_request(&mut buffer, true);
        (parsed, buffer.len())
    }

    fn request(words: &[&str]) -> Parsed {
        Parsed::Request(
            words
                .iter()
                .map(|w| Bytes::copy_from_slice(w.as_bytes()))
                .collect(),
        )
    }

    #[test]
    fn a_whole_array_request_is_taken_and_a_partial_one_waits() {
        assert_eq!(
            parse(b"*2\r\n$4\r\nPING\r\n$2\r\nhi\r\n"),
            (request(&["PING", "hi"]), 0)
        );
        assert_eq!(parse(b"*2\r\n$4\r\nPING\r\n$2\r\nh").0, Parsed::Incomplete);
        assert_eq!(parse(b"*2\r").0, Parsed::Incomplete);
        assert_eq!(
            parse(b"*1\r\n$4\r\nPING\r\n*1").1,
            2,
            "the next request stays"
        );
    }

    /// Each text is what Debian's redis-server 7.0.15 answers to the same bytes.
    #[test]
    fn malformed_requests_get_redis_protocol_errors() {
        let cases: [(&[u8], &str); 6] = [
            (b"*abc\r\n", "Protocol error: invalid multibulk length"),
            (
                b"*3000000000\r\n",
                "Protocol error: invalid multibulk length",
            ),
            (b"*1\r\nx\r\n", "Protocol error: expected '$', got 'x'"),
            (b"*1\r\n$abc\r\n", "Protocol error: invalid bulk length"),
            (b"*1\r\n$-5\r\n", "Protocol error: invalid bulk length"),
            (
                b"*1\r\n$999999999999\r\n",
                "Protocol error: invalid bulk length",
            ),
        ];
        for (bytes, text) in cases {
            match parse(bytes).0 {
                Parsed::Error(got) => assert_eq!(got, text),
                Parsed::ErrorText(got) => assert_eq!(got, text),
                other => panic!("{bytes:?}: {other:?}"),
            }
        }
        let nested = parse(b"*3\r\n$1\r\na\r\n*1\r\n").0;
        assert_eq!(
            nested,
            Parsed::ErrorText("Protocol error: expected '$', got '*'".into())
        );
    }

    #[test]
    fn oversized_requests_are_refused_before_they_are_buffered() {
        let long_count = [b"*".as_slice(), &[b'1'; INLINE_MAX_BYTES + 1]].concat();
        assert_eq!(
            parse(&long_count).0,
            Parsed::Error("Protocol error: too big mbulk count string")
        );
        let long_line = vec![b'x'; INLINE_MAX_BYTES + 1];
        assert_eq!(
            parse(&long_line).0,
            Parsed::Error("Protocol error: too big inline request")
        );
        let too_many = format!("*{}\r\n", ARGUMENTS_MAX + 1);
        assert_eq!(
            parse(too_many.as_bytes()).0,
            Parsed::Error("Protocol error: invalid multibulk length")
        );
        let too_long = format!("*1\r\n${}\r\n", BULK_MAX_BYTES + 1);
        assert_eq!(
            parse(too_long.as_bytes()).0,
            Parsed::Error("Protocol error: invalid bulk length")
        );
    }

    #[test]
    fn a_client_that_must_log_in_gets_redis_smaller_bounds() {
        let mut buffer = BytesMut::from(&b"*11\r\n"[..]);
        assert_eq!(
            next_request(&mut buffer, false),
            Parsed::Error("Protocol error: unauthenticated multibulk length")
        );
        let mut buffer = BytesMut::from(&b"*1\r\n$16385\r\n"[..]);
        assert_eq!(
            next_request(&mut buffer, false),
            Parsed::Error("Protocol error: unauthenticated bulk length")
        );
    }

    #[test]
    fn empty_requests_are_ignored_and_inline_commands_split_on_whitespace() {
        assert_eq!(parse(b"*0\r\n"), (Parsed::Empty, 0));
        assert_eq!(parse(b"*-1\r\n"), (Parsed::Empty, 0));
        assert_eq!(parse(b" \r\n"), (Parsed::Empty, 0));
        assert_eq!(parse(b"PING x\n"), (request(&["PING", "x"]), 0));
        assert_eq!(
            parse(b"garbage here\r\n"),
            (request(&["garbage", "here"]), 0)
        );
    }

    /// Bytes from a fixed generator, many shaped like requests, fed in
    /// pieces: every outcome is a request, a wait or a refusal, and the
    /// buffer only shrinks by what was taken.
    #[test]
    fn random_bytes_never_panic_the_request_reader() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let mut bytes = BytesMut::new();
            if next() % 2 == 0 {
                bytes.extend_from_slice(b"*2\r\n$");
            }
            let length = usize::try_from(next() % 48).expect("small");
            for _ in 0..length {
                let alphabet = b"*$\r\n0123456789-+: abc";
                let index = usize::try_from(next() % alphabet.len() as u64).expect("small");
                bytes.extend_from_slice(&alphabet[index..=index]);
            }
            for _ in 0..4 {
                let before = bytes.len();
                match next_request(&mut bytes, next() % 2 == 0) {
                    Parsed::Request(arguments) => assert!(!arguments.is_empty()),
                    Parsed::Empty => assert!(bytes.len() < before),
                    Parsed::Incomplete | Parsed::Error(_) | Parsed::ErrorText(_) => break,
                }
            }
        }
    }

    #[test]
    fn the_two_bytes_after_a_bulk_string_are_skipped_as_redis_skips_them() {
        assert_eq!(parse(b"*1\r\n$4\r\nPINGxx").0, request(&["PING"]));
    }
}
