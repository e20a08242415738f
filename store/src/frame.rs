//! The log's record format: one frame per record, and reading a log back.
//!
//! A frame is a 13-byte header followed by the payload, all integers little-endian:
//!
//! ```text
//! 0         1              5                  9                13
//! | version | payload len  | crc32c(0..5)     | crc32c(0..5 ++  | payload (postcard
//! | (1)     | (u32)        | "length check"   |  payload)       |  encoding of Record)
//! ```
//!
//! The version byte says how to read the rest; a zero byte, which a file system
//! may leave after a crash, is never a valid version. The length has its own
//! checksum so that a damaged length is never trusted (it would send the reader
//! gigabytes ahead), and so that a scan can tell a frame start from payload
//! bytes cheaply. The body checksum covers version, length and payload.
//!
//! Reading a log back ([`read_log`]) decodes frames from offset 0. At the first
//! damaged frame it decides between two cases:
//!
//! - a torn tail: no valid frame anywhere after the damaged one (or the damaged
//!   frame's checked header says it runs past the end of the log): the log is
//!   cut at the damaged frame's offset;
//! - corruption: a valid frame follows, so durable records lie beyond the
//!   damage: [`StoreError::Corrupt`] names the offset, and nothing is cut.

use crate::StoreError;
use brokerlab_core::record::Record;
use std::io::{self, Read};

/// The version byte of every frame this code writes and reads.
pub const FORMAT_VERSION: u8 = 1;

/// Bytes of a frame before its payload.
pub const HEADER_BYTES: usize = 13;

/// The largest payload a frame carries: a 64 MiB message body plus 1 MiB for
/// its properties and names. The core's `max_message_size_bytes` (16 MiB by
/// default) must stay below it; a larger length in a header is damage.
pub const MAX_PAYLOAD_BYTES: u32 = 65 << 20;

/// What reading a log back found.
#[derive(Debug)]
pub struct Recovered {
    /// Every valid record, in log order.
    pub records: Vec<Record>,
    /// Length of the valid prefix: where the log is cut, and the next append goes.
    pub valid_bytes: u64,
    /// Bytes after the valid prefix (a torn tail, to be cut); 0 when none.
    pub torn_bytes: u64,
}

/// Appends the frame of `record` to `out`.
///
/// On error `out` is left as it was.
pub fn encode(record: &Record, out: &mut Vec<u8>) -> Result<(), StoreError> {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER_BYTES]);
    // postcard appends to anything that implements `Extend<u8>`, which a
    // `&mut Vec` does not: lend it the vector itself and take it back. It
    // fails only on sequences of unknown length, and a `Record` is plain
    // derived data with none, so a failure is a bug in the record types.
    let buffer = std::mem::take(out);
    *out = postcard::to_extend(record, buffer).expect("a Record always encodes with postcard");
    let payload_bytes = out.len() - start - HEADER_BYTES;
    let length = match u32::try_from(payload_bytes) {
        Ok(length) if length <= MAX_PAYLOAD_BYTES => length,
        _ => {
            out.truncate(start);
            return Err(StoreError::RecordTooLarge {
                lsn: record.lsn,
                payload_bytes,
            });
        }
    };
    let frame = &mut out[start..];
    frame[0] = FORMAT_VERSION;
    frame[1..5].copy_from_slice(&length.to_le_bytes());
    let length_check = crc32c::crc32c(&frame[0..5]);
    let body_check = crc32c::crc32c_append(length_check, &frame[HEADER_BYTES..]);
    frame[5..9].copy_from_slice(&length_check.to_le_bytes());
    frame[9..13].copy_from_slice(&body_check.to_le_bytes());
    Ok(())
}

/// The parts of a header whose length check holds.
#[derive(Clone, Copy, Debug)]
struct Header {
    payload_bytes: u32,
    length_check: u32,
    body_check: u32,
}

/// Parses a header; `None` when its version, length check or length bound fails.
fn parse_header(bytes: &[u8; HEADER_BYTES]) -> Option<Header> {
    let word =
        |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let (payload_bytes, length_check, body_check) = (word(1), word(5), word(9));
    let valid = bytes[0] == FORMAT_VERSION
        && crc32c::crc32c(&bytes[0..5]) == length_check
        && payload_bytes <= MAX_PAYLOAD_BYTES;
    valid.then_some(Header {
        payload_bytes,
        length_check,
        body_check,
    })
}

fn body_holds(header: Header, payload: &[u8]) -> bool {
    crc32c::crc32c_append(header.length_check, payload) == header.body_check
}

/// The offset of the first whole, valid frame in `bytes`, if any.
///
/// Linear in `bytes`: a position is checked further only when its version byte
/// and 5-byte length checksum hold, which payload bytes do about once in 2^40.
#[must_use]
pub fn find_frame(bytes: &[u8]) -> Option<usize> {
    let last_start = bytes.len().checked_sub(HEADER_BYTES)?;
    (0..=last_start).find(|&at| {
        let header: &[u8; HEADER_BYTES] = bytes[at..at + HEADER_BYTES]
            .try_into()
            .expect("the slice is HEADER_BYTES long by construction");
        let Some(header) = parse_header(header) else {
            return false;
        };
        let payload_start = at + HEADER_BYTES;
        let payload_end = payload_start + header.payload_bytes as usize;
        payload_end <= bytes.len() && body_holds(header, &bytes[payload_start..payload_end])
    })
}

/// Reads a whole log from `reader`: the valid records, and where a torn tail
/// starts; or an error when the log is corrupt before its tail.
///
/// Reading streams frame by frame; only past a damaged frame is the rest of
/// the log read into memory, to look for a valid frame after it.
pub fn read_log(mut reader: impl Read) -> Result<Recovered, StoreError> {
    let mut records = Vec::new();
    let mut offset = 0u64;
    loop {
        let mut header_bytes = [0u8; HEADER_BYTES];
        let got = read_up_to(&mut reader, &mut header_bytes)?;
        if got == 0 {
            return Ok(Recovered {
                records,
                valid_bytes: offset,
                torn_bytes: 0,
            });
        }
        if got < HEADER_BYTES {
            // Too short to hold a frame, so nothing valid can follow.
            return Ok(Recovered {
                records,
                valid_bytes: offset,
                torn_bytes: got as u64,
            });
        }
        let Some(header) = parse_header(&header_bytes) else {
            return damaged(records, offset, header_bytes.to_vec(), reader);
        };
        let mut payload = Vec::new();
        (&mut reader)
            .take(u64::from(header.payload_bytes))
            .read_to_end(&mut payload)?;
        if payload.len() < header.payload_bytes as usize {
            // A checked header that runs past the end: the last write was torn.
            let torn_bytes = (HEADER_BYTES + payload.len()) as u64;
            return Ok(Recovered {
                records,
                valid_bytes: offset,
                torn_bytes,
            });
        }
        if !body_holds(header, &payload) {
            let mut frame = header_bytes.to_vec();
            frame.append(&mut payload);
            return damaged(records, offset, frame, reader);
        }
        records.push(decode(&payload, offset)?);
        offset += (HEADER_BYTES + payload.len()) as u64;
    }
}

/// Decodes a checked payload; the whole payload must be one record.
fn decode(payload: &[u8], offset: u64) -> Result<Record, StoreError> {
    match postcard::take_from_bytes::<Record>(payload) {
        Ok((record, [])) => Ok(record),
        _ => Err(StoreError::Undecodable { offset }),
    }
}

/// Decides between a torn tail and corruption at a damaged frame at
/// `offset`, whose bytes read so far are `seen`.
fn damaged(
    records: Vec<Record>,
    offset: u64,
    mut seen: Vec<u8>,
    mut reader: impl Read,
) -> Result<Recovered, StoreError> {
    reader.read_to_end(&mut seen)?;
    // Search from the byte after the damaged frame's start: its length may be
    // the damaged part, so where it claimed to end proves nothing.
    match find_frame(&seen[1..]) {
        Some(at) => Err(StoreError::Corrupt {
            offset,
            next_valid_offset: offset + 1 + at as u64,
        }),
        None => Ok(Recovered {
            records,
            valid_bytes: offset,
            torn_bytes: seen.len() as u64,
        }),
    }
}

/// Fills `buffer` as far as the reader goes; returns how many bytes it got.
fn read_up_to(reader: &mut impl Read, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}
