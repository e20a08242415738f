//! A connection's read side: bytes from the socket, cut into frames.
//!
//! The buffer holds at most one incomplete frame (whose size was checked
//! against `frame_max` from its header) plus one read's worth of bytes. A
//! connection that is idle, or still in its handshake, reads in small
//! chunks and holds a small buffer; one whose reads fill their chunk reads
//! in large ones. So thousands of silent sockets cost little.

use crate::wire::frames::{next_frame, qos_prefetch_size};
use crate::wire::inbound::Refusal;
use amq_protocol::frame::AMQPFrame;
use amq_protocol::protocol::{connection, AMQPClass};
use brokerlab_core::ReplyCode;
use bytes::{Buf, BytesMut};
use std::io;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Bytes asked of the socket per read while bytes come in bulk.
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// Bytes asked of the socket per read while they come a few at a time.
const READ_IDLE_BYTES: usize = 4 * 1024;

/// Frames cut from a socket's bytes.
#[derive(Debug)]
pub struct FrameReader {
    buffer: BytesMut,
    frame_max: u32,
    /// The prefetch_size of the frame `next_frame` last returned, when it
    /// was basic.qos: amq-protocol's parser drops the field.
    qos_prefetch_size: u32,
    /// The last read took all the room it was given: bytes come in bulk.
    bulk: bool,
}

impl FrameReader {
    /// A reader accepting frames of up to `frame_max` bytes.
    #[must_use]
    pub fn new(frame_max: u32) -> FrameReader {
        FrameReader {
            buffer: BytesMut::new(),
            frame_max,
            qos_prefetch_size: 0,
            bulk: false,
        }
    }

    /// Applies the frame_max negotiated in Tune/TuneOk.
    pub fn set_frame_max(&mut self, frame_max: u32) {
        self.frame_max = frame_max;
    }

    /// Reads what the socket has; 0 means the peer closed it. Cancel-safe:
    /// bytes are only ever appended to the buffer.
    ///
    /// The buffer holds at most one incomplete frame and one read when its
    /// complete frames were taken first, as every caller does; bytes past
    /// that bound (a caller that stopped taking frames after an error, or a
    /// frame_max lowered while bytes were buffered) are refused as an
    /// error, never a panic, since they come from the peer.
    pub async fn read_more(&mut self, stream: &mut (impl AsyncRead + Unpin)) -> io::Result<usize> {
        if self.buffer.len() > self.frame_max as usize + READ_CHUNK_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "more bytes buffered than one frame and one read",
            ));
        }
        let chunk = if self.bulk {
            READ_CHUNK_BYTES
        } else {
            READ_IDLE_BYTES
        };
        if self.buffer.is_empty() && self.buffer.capacity() > chunk {
            // A burst is over: its buffer goes back to the allocator.
            self.buffer = BytesMut::new();
        }
        self.buffer.reserve(chunk);
        let room = self.buffer.capacity() - self.buffer.len();
        let read = stream.read_buf(&mut self.buffer).await?;
        self.bulk = read == room;
        Ok(read)
    }

    /// The next complete frame in the buffer, if any.
    pub fn next_frame(&mut self) -> Result<Option<AMQPFrame>, Refusal> {
        match next_frame(&self.buffer, self.frame_max)? {
            Some((frame, size)) => {
                self.qos_prefetch_size = qos_prefetch_size(&self.buffer[..size]);
                self.buffer.advance(size);
                Ok(Some(frame))
            }
            None => Ok(None),
        }
    }

    /// The prefetch_size of the frame `next_frame` last returned if it was
    /// basic.qos, which amq-protocol's `basic::Qos` does not keep; else 0.
    #[must_use]
    pub fn qos_prefetch_size(&self) -> u32 {
        self.qos_prefetch_size
    }

    /// The next connection-class method on channel 0, skipping heartbeats
    /// (for the handshake, when nothing else may come).
    pub async fn connection_method(
        &mut self,
        stream: &mut (impl AsyncRead + Unpin),
    ) -> io::Result<Result<connection::AMQPMethod, Refusal>> {
        loop {
            match self.next_frame() {
                Err(refusal) => return Ok(Err(refusal)),
                Ok(Some(AMQPFrame::Heartbeat)) => continue,
                Ok(Some(AMQPFrame::Method(0, AMQPClass::Connection(method)))) => {
                    return Ok(Ok(method))
                }
                Ok(Some(other)) => {
                    return Ok(Err(Refusal::new(
                        ReplyCode::CommandInvalid,
                        format!("expected a connection method on channel 0, got {other}"),
                    )))
                }
                Ok(None) => {
                    if self.read_more(stream).await? == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                }
            }
        }
    }
}
