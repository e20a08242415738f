//! Compressed record batches, as Kafka's clients send them: gzip, snappy,
//! lz4 and zstd (the codec in the low three bits of a batch's attributes).
//!
//! A produced batch is decompressed here, before its records go to the core,
//! and fetches serve the records uncompressed, which every client reads
//! whatever codec it produced with. Each codec is its own crate's decoder;
//! what this module adds is the bound: kafka-protocol's decompressors inflate
//! a batch whole, so a request of a few megabytes of zeros could ask for
//! gigabytes. Here the batches of one request may grow to
//! [`DECOMPRESSED_MAX_BYTES`] together, the most an uncompressed request may
//! carry; past it the partition is refused with MESSAGE_TOO_LARGE.
//!
//! Snappy comes two ways: raw, as librdkafka writes it, and in the xerial
//! framing of the Java client (a 16-byte header, then length-prefixed raw
//! blocks); both are read, as Kafka's broker reads both. Zstd is refused with
//! UNSUPPORTED_COMPRESSION_TYPE on a produce request older than version 7,
//! as Kafka refuses it: older clients cannot read it back.

use super::REQUEST_MAX_BYTES;
use bytes::Bytes;
use kafka_protocol::records::Compression;
use std::cell::Cell;
use std::io::{self, Read};

/// Bytes the batches of one produce request may decompress to, together.
pub const DECOMPRESSED_MAX_BYTES: usize = REQUEST_MAX_BYTES;

/// Kafka's MESSAGE_TOO_LARGE.
pub const MESSAGE_TOO_LARGE: i16 = 10;
/// Kafka's UNSUPPORTED_COMPRESSION_TYPE.
pub const UNSUPPORTED_COMPRESSION_TYPE: i16 = 76;

/// The first produce request version whose batches may be zstd (KIP-110).
const ZSTD_PRODUCE_VERSION_MIN: i16 = 7;

/// The xerial snappy framing's header: its magic, then a version and a
/// compatible version (4 bytes each).
const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
const XERIAL_HEADER_BYTES: usize = 16;

/// What one produce request may still inflate, and why it stopped if it did.
#[derive(Debug)]
pub struct Inflater {
    produce_version: i16,
    left: Cell<usize>,
    refusal: Cell<Option<i16>>,
}

impl Inflater {
    /// A budget of `limit` bytes for a produce request of `produce_version`.
    #[must_use]
    pub fn new(produce_version: i16, limit: usize) -> Inflater {
        Inflater {
            produce_version,
            left: Cell::new(limit),
            refusal: Cell::new(None),
        }
    }

    /// Kafka's error for the batch that failed last, when the failure was
    /// the budget or the codec rather than damage (which is CORRUPT_MESSAGE);
    /// taken, so that the next partition's failure is judged on its own.
    pub fn take_refusal(&self) -> Option<i16> {
        self.refusal.take()
    }

    /// The records of one batch, uncompressed: what kafka-protocol's
    /// decoder asks of its custom decompressor.
    pub fn inflate(&self, records: &mut Bytes, compression: Compression) -> io::Result<Bytes> {
        let left = self.left.get();
        let inflated = match compression {
            Compression::None => return Ok(records.clone()),
            Compression::Zstd if self.produce_version < ZSTD_PRODUCE_VERSION_MIN => {
                self.refusal.set(Some(UNSUPPORTED_COMPRESSION_TYPE));
                return Err(io::Error::other("zstd before produce version 7"));
            }
            Compression::Gzip => {
                read_bounded(flate2::read::MultiGzDecoder::new(&records[..]), left)
            }
            Compression::Snappy => snappy(records, left),
            Compression::Lz4 => {
                read_bounded(lz4_flex::frame::FrameDecoder::new(&records[..]), left)
            }
            Compression::Zstd => zstd(records, left),
        };
        match inflated {
            Ok(bytes) => {
                self.left.set(left - bytes.len());
                Ok(Bytes::from(bytes))
            }
            Err(Inflate::TooLarge) => {
                self.refusal.set(Some(MESSAGE_TOO_LARGE));
                Err(io::Error::other("decompressed batches too large"))
            }
            Err(Inflate::Damaged(error)) => Err(error),
        }
    }
}

/// Why a batch did not inflate.
enum Inflate {
    /// It would grow past what the request has left.
    TooLarge,
    /// It is not what its codec writes.
    Damaged(io::Error),
}

impl From<io::Error> for Inflate {
    fn from(error: io::Error) -> Inflate {
        Inflate::Damaged(error)
    }
}

/// Reads `reader` to its end, refusing more than `limit` bytes.
fn read_bounded(reader: impl Read, limit: usize) -> Result<Vec<u8>, Inflate> {
    let mut out = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader.take(cap).read_to_end(&mut out)?;
    if out.len() > limit {
        return Err(Inflate::TooLarge);
    }
    Ok(out)
}

/// Raw snappy, or the xerial framing of raw snappy blocks.
fn snappy(compressed: &[u8], limit: usize) -> Result<Vec<u8>, Inflate> {
    let mut out = Vec::new();
    if compressed.len() >= XERIAL_HEADER_BYTES && compressed.starts_with(&XERIAL_MAGIC) {
        let mut rest = &compressed[XERIAL_HEADER_BYTES..];
        while !rest.is_empty() {
            let (length, after) = rest
                .split_at_checked(4)
                .ok_or_else(|| damaged("block length"))?;
            let length = u32::from_be_bytes(length.try_into().expect("four bytes")) as usize;
            let (block, after) = after
                .split_at_checked(length)
                .ok_or_else(|| damaged("block"))?;
            snappy_block(block, limit, &mut out)?;
            rest = after;
        }
    } else {
        snappy_block(compressed, limit, &mut out)?;
    }
    Ok(out)
}

/// Appends one raw snappy block to `out`, whose length its header gives
/// before a byte is written.
fn snappy_block(block: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), Inflate> {
    let length = snap::raw::decompress_len(block).map_err(io::Error::other)?;
    let start = out.len();
    if length > limit.saturating_sub(start) {
        return Err(Inflate::TooLarge);
    }
    out.resize(start + length, 0);
    snap::raw::Decoder::new()
        .decompress(block, &mut out[start..])
        .map_err(io::Error::other)?;
    Ok(())
}

/// Zstd frames, one after another until the input ends.
fn zstd(compressed: &[u8], limit: usize) -> Result<Vec<u8>, Inflate> {
    let mut input = compressed;
    let mut out = Vec::new();
    while !input.is_empty() {
        let decoder =
            ruzstd::decoding::StreamingDecoder::new(&mut input).map_err(io::Error::other)?;
        let frame = read_bounded(decoder, limit - out.len())?;
        out.extend_from_slice(&frame);
    }
    Ok(out)
}

fn damaged(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("snappy: truncated {what}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const TEXT: &[u8] = b"a record of a batch, repeated: a record of a batch, repeated";

    fn inflate(
        compression: Compression,
        compressed: Vec<u8>,
        limit: usize,
    ) -> (io::Result<Bytes>, Option<i16>) {
        let inflater = Inflater::new(9, limit);
        let result = inflater.inflate(&mut Bytes::from(compressed), compression);
        (result, inflater.take_refusal())
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn lz4(data: &[u8]) -> Vec<u8> {
        let mut encoder = lz4_flex::frame::FrameEncoder::new(Vec::new());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn xerial(blocks: &[&[u8]]) -> Vec<u8> {
        let mut out = XERIAL_MAGIC.to_vec();
        out.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]);
        for block in blocks {
            let raw = snap::raw::Encoder::new().compress_vec(block).unwrap();
            out.extend_from_slice(&u32::try_from(raw.len()).unwrap().to_be_bytes());
            out.extend_from_slice(&raw);
        }
        out
    }

    /// A zstd frame with its content stored raw (no compression), as the
    /// format allows; ruzstd reads frames and has no encoder for tests.
    fn zstd_raw_frame(data: &[u8]) -> Vec<u8> {
        let mut out = vec![0x28, 0xb5, 0x2f, 0xfd];
        // Frame header descriptor: single segment, 4-byte content size.
        out.push(0b1010_0000);
        out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_le_bytes());
        // Raw blocks of at most 64 KiB: (size << 3) | (type raw = 0) | last.
        let blocks: Vec<&[u8]> = data.chunks(1 << 16).collect();
        for (index, block) in blocks.iter().enumerate() {
            let last = u32::from(index + 1 == blocks.len());
            let header = (u32::try_from(block.len()).unwrap() << 3) | last;
            out.extend_from_slice(&header.to_le_bytes()[..3]);
            out.extend_from_slice(block);
        }
        out
    }

    #[test]
    fn every_codec_kafka_clients_use_inflates_to_the_records() {
        let raw_snappy = snap::raw::Encoder::new().compress_vec(TEXT).unwrap();
        let cases = [
            (Compression::Gzip, gzip(TEXT)),
            (Compression::Lz4, lz4(TEXT)),
            (Compression::Snappy, raw_snappy),
            (Compression::Snappy, xerial(&[&TEXT[..20], &TEXT[20..]])),
            (Compression::Zstd, zstd_raw_frame(TEXT)),
        ];
        for (compression, compressed) in cases {
            let (result, refusal) = inflate(compression, compressed, 1 << 20);
            assert_eq!(result.unwrap(), TEXT, "{compression:?}");
            assert_eq!(refusal, None);
        }
    }

    #[test]
    fn a_batch_inflating_past_the_requests_budget_is_message_too_large() {
        let zeros = vec![0u8; 1 << 20];
        let raw_snappy = snap::raw::Encoder::new().compress_vec(&zeros).unwrap();
        for (compression, compressed) in [
            (Compression::Gzip, gzip(&zeros)),
            (Compression::Lz4, lz4(&zeros)),
            (Compression::Snappy, raw_snappy),
            (Compression::Snappy, xerial(&[&zeros])),
            (Compression::Zstd, zstd_raw_frame(&zeros)),
        ] {
            let (result, refusal) = inflate(compression, compressed, (1 << 20) - 1);
            assert!(result.is_err(), "{compression:?}");
            assert_eq!(refusal, Some(MESSAGE_TOO_LARGE), "{compression:?}");
        }
    }

    #[test]
    fn the_budget_is_shared_by_the_batches_of_a_request() {
        let inflater = Inflater::new(9, TEXT.len() * 2 - 1);
        assert!(inflater
            .inflate(&mut Bytes::from(gzip(TEXT)), Compression::Gzip)
            .is_ok());
        assert!(inflater
            .inflate(&mut Bytes::from(lz4(TEXT)), Compression::Lz4)
            .is_err());
        assert_eq!(inflater.take_refusal(), Some(MESSAGE_TOO_LARGE));
    }

    #[test]
    fn damaged_compressed_bytes_are_an_error_not_a_refusal() {
        for compression in [
            Compression::Gzip,
            Compression::Lz4,
            Compression::Snappy,
            Compression::Zstd,
        ] {
            let (result, refusal) = inflate(
                compression,
                b"\x82SNAPPY\0garbage that is no codec's".to_vec(),
                1 << 20,
            );
            assert!(result.is_err(), "{compression:?}");
            assert_eq!(refusal, None, "{compression:?}");
        }
    }

    #[test]
    fn zstd_before_produce_version_7_is_unsupported_compression_type() {
        let inflater = Inflater::new(6, 1 << 20);
        let result = inflater.inflate(&mut Bytes::from(zstd_raw_frame(TEXT)), Compression::Zstd);
        assert!(result.is_err());
        assert_eq!(inflater.take_refusal(), Some(UNSUPPORTED_COMPRESSION_TYPE));
    }
}
