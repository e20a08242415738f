//! Replies as frames, encoded by redis-protocol in the connection's
//! protocol: RESP2, or RESP3 after `HELLO 3` (maps, nulls and push
//! messages of their own; RESP2 flattens a map into an array, writes a
//! null as a null bulk string and a push as an array).

use bytes::{Bytes, BytesMut};
use redis_protocol::resp2::types::{
    BorrowedFrame as Resp2Borrowed, BytesFrame as Resp2, Resp2Frame,
};
use redis_protocol::resp3::types::{BytesFrame as Resp3, FrameMap, Resp3Frame};

/// A reply before it is encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A simple string (`+OK`).
    Simple(&'static str),
    /// An error, its text starting with its code (`ERR ...`).
    Error(String),
    /// An integer.
    Integer(i64),
    /// A bulk string.
    Bulk(Bytes),
    /// A null.
    Null,
    /// An array.
    Array(Vec<Frame>),
    /// A map (RESP3), an array of keys and values (RESP2).
    Map(Vec<(Frame, Frame)>),
    /// A push message (RESP3), an array (RESP2).
    Push(Vec<Frame>),
}

impl Frame {
    /// A bulk string of static text.
    pub fn text(text: &'static str) -> Frame {
        Frame::Bulk(Bytes::from_static(text.as_bytes()))
    }

    /// An error with Redis's `ERR` code.
    pub fn err(text: impl std::fmt::Display) -> Frame {
        Frame::Error(format!("ERR {text}"))
    }

    /// A count as an integer.
    pub fn count(count: u64) -> Frame {
        Frame::Integer(i64::try_from(count).unwrap_or(i64::MAX))
    }
}

/// Encodes `frame` in RESP `protocol` (2 or 3) at the end of `out`.
pub fn encode(frame: Frame, protocol: u8, out: &mut Vec<u8>) {
    let at = out.len();
    // Encoding into a slice of the length the frame asks for fails only
    // for frames the types above cannot make (a RESP3 streamed frame);
    // such a reply is dropped rather than sent half-written.
    let encoded = if protocol == 3 {
        let frame = resp3(frame);
        out.resize(at + frame.encode_len(false), 0);
        redis_protocol::resp3::encode::complete::encode_bytes(&mut out[at..], &frame, false)
    } else {
        let frame = resp2(frame);
        out.resize(at + frame.encode_len(false), 0);
        redis_protocol::resp2::encode::encode_bytes(&mut out[at..], &frame, false)
    };
    if encoded.is_err() {
        out.truncate(at);
    }
}

/// Appends a delivery (`message` or, with its pattern, `pmessage`) to
/// `out` as RESP2's array: RESP3's push differs only in its first byte
/// ([`Deliveries::write`]).
pub fn encode_delivery(pattern: Option<&[u8]>, channel: &[u8], message: &[u8], out: &mut BytesMut) {
    let (message_frames, pmessage_frames);
    let frames: &[Resp2Borrowed] = match pattern {
        None => {
            message_frames = [
                Resp2Borrowed::BulkString(b"message"),
                Resp2Borrowed::BulkString(channel),
                Resp2Borrowed::BulkString(message),
            ];
            &message_frames
        }
        Some(pattern) => {
            pmessage_frames = [
                Resp2Borrowed::BulkString(b"pmessage"),
                Resp2Borrowed::BulkString(pattern),
                Resp2Borrowed::BulkString(channel),
                Resp2Borrowed::BulkString(message),
            ];
            &pmessage_frames
        }
    };
    // A flat array of bulk strings always encodes.
    redis_protocol::resp2::encode::extend_encode_borrowed(
        out,
        &Resp2Borrowed::Array(frames),
        false,
    )
    .expect("an array of bulk strings encodes");
}

/// A run of deliveries for one connection, encoded by the broker task
/// and written by the connection: RESP2's arrays back to back, and where
/// each starts, for a RESP3 connection to write a push (`>`) there.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Deliveries {
    bytes: Vec<u8>,
    starts: Vec<usize>,
    /// What the core charged the subscriber's output buffer for them.
    pub charged: u64,
}

impl Deliveries {
    /// Appends a delivery [`encode_delivery`] encoded, charged `charged`.
    /// A run grows as it is given deliveries: a publish to many
    /// subscribers makes as many runs, each only as large as its delivery.
    pub fn push(&mut self, encoded: &[u8], charged: u64) {
        self.starts.push(self.bytes.len());
        self.bytes.extend_from_slice(encoded);
        self.charged = self.charged.saturating_add(charged);
    }

    /// Writes them at the end of `out` in RESP `protocol`: as they are in
    /// RESP2, each a push (`>`) in RESP3.
    pub fn write(&self, protocol: u8, out: &mut Vec<u8>) {
        let at = out.len();
        out.extend_from_slice(&self.bytes);
        if protocol == 3 {
            for start in &self.starts {
                out[at + start] = b'>';
            }
        }
    }
}

fn resp2(frame: Frame) -> Resp2 {
    match frame {
        Frame::Simple(text) => Resp2::SimpleString(Bytes::from_static(text.as_bytes())),
        Frame::Error(text) => Resp2::Error(text.into()),
        Frame::Integer(value) => Resp2::Integer(value),
        Frame::Bulk(bytes) => Resp2::BulkString(bytes),
        Frame::Null => Resp2::Null,
        Frame::Array(items) | Frame::Push(items) => {
            Resp2::Array(items.into_iter().map(resp2).collect())
        }
        Frame::Map(pairs) => Resp2::Array(
            pairs
                .into_iter()
                .flat_map(|(key, value)| [resp2(key), resp2(value)])
                .collect(),
        ),
    }
}

fn resp3(frame: Frame) -> Resp3 {
    match frame {
        Frame::Simple(text) => Resp3::SimpleString {
            data: Bytes::from_static(text.as_bytes()),
            attributes: None,
        },
        Frame::Error(text) => Resp3::SimpleError {
            data: text.into(),
            attributes: None,
        },
        Frame::Integer(value) => Resp3::Number {
            data: value,
            attributes: None,
        },
        Frame::Bulk(bytes) => Resp3::BlobString {
            data: bytes,
            attributes: None,
        },
        Frame::Null => Resp3::Null,
        Frame::Array(items) => Resp3::Array {
            data: items.into_iter().map(resp3).collect(),
            attributes: None,
        },
        Frame::Push(items) => Resp3::Push {
            data: items.into_iter().map(resp3).collect(),
            attributes: None,
        },
        Frame::Map(pairs) => {
            let mut map = FrameMap::default();
            for (key, value) in pairs {
                map.insert(resp3(key), resp3(value));
            }
            Resp3::Map {
                data: map,
                attributes: None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(frame: Frame, protocol: u8) -> Vec<u8> {
        let mut out = Vec::new();
        encode(frame, protocol, &mut out);
        out
    }

    /// Each encoding is the bytes Debian's redis-server 7.0.15 sends.
    #[test]
    fn replies_are_encoded_as_redis_encodes_them_in_each_protocol() {
        let message = || {
            Frame::Push(vec![
                Frame::text("message"),
                Frame::text("a"),
                Frame::text("m"),
            ])
        };
        assert_eq!(
            encoded(message(), 2),
            b"*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$1\r\nm\r\n"
        );
        assert_eq!(
            encoded(message(), 3),
            b">3\r\n$7\r\nmessage\r\n$1\r\na\r\n$1\r\nm\r\n"
        );
        let delivered = |pattern: Option<&[u8]>, protocol| {
            let mut encoded = BytesMut::new();
            encode_delivery(pattern, b"a", b"m", &mut encoded);
            let mut run = Deliveries::default();
            run.push(&encoded, 1);
            let mut out = Vec::new();
            run.write(protocol, &mut out);
            out
        };
        assert_eq!(delivered(None, 2), encoded(message(), 2));
        assert_eq!(delivered(None, 3), encoded(message(), 3));
        assert_eq!(
            delivered(Some(b"a*"), 2),
            b"*4\r\n$8\r\npmessage\r\n$2\r\na*\r\n$1\r\na\r\n$1\r\nm\r\n"
        );
        assert_eq!(
            delivered(Some(b"a*"), 3),
            b">4\r\n$8\r\npmessage\r\n$2\r\na*\r\n$1\r\na\r\n$1\r\nm\r\n"
        );
        assert_eq!(encoded(Frame::Null, 2), b"$-1\r\n");
        assert_eq!(encoded(Frame::Null, 3), b"_\r\n");
        assert_eq!(encoded(Frame::err("x"), 3), b"-ERR x\r\n");
        let map = Frame::Map(vec![(Frame::text("proto"), Frame::Integer(3))]);
        assert_eq!(encoded(map.clone(), 2), b"*2\r\n$5\r\nproto\r\n:3\r\n");
        assert_eq!(encoded(map, 3), b"%1\r\n$5\r\nproto\r\n:3\r\n");
    }
}
