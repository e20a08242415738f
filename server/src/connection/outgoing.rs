//! A connection's write side: encoded frames waiting for the socket.
//!
//! The connection's main loop writes from here whenever the socket takes
//! bytes, in the same `select!` as its reads, heartbeats and replies, so a
//! client that stops reading stalls its own writes and nothing else: its
//! silence is still noticed (missed heartbeats), and so is a socket that
//! takes nothing for the send timeout. The buffer is bounded: once it
//! holds [`OUTGOING_BUFFER_MAX_BYTES`] (or the configured bound) the
//! connection encodes no more replies and takes no more from the broker
//! until the socket drains. One reply may pass the bound by its own size.

use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

/// The default bound on a connection's encoded frames waiting for its
/// socket. RabbitMQ's writer has none; the kernel's socket buffer holds
/// more again.
pub const OUTGOING_BUFFER_MAX_BYTES: usize = 1024 * 1024;

/// The default send timeout: ranch's, under RabbitMQ, whose writer gives
/// up on a socket that has taken nothing for 30 s.
pub const SEND_TIMEOUT_MS: u64 = 30_000;

/// Capacity an emptied buffer keeps; a burst's larger buffer is returned
/// to the allocator, so idle connections hold little.
const RETAINED_BYTES: usize = 64 * 1024;

/// Encoded frames waiting for the socket.
#[derive(Debug)]
pub struct Outgoing {
    bytes: Vec<u8>,
    /// The prefix of `bytes` already written.
    written: usize,
    max_bytes: usize,
    /// When the socket last took bytes, or when bytes began to wait.
    progress_at: Instant,
}

impl Outgoing {
    /// An empty buffer bounded at `max_bytes`.
    #[must_use]
    pub fn new(max_bytes: usize) -> Outgoing {
        assert!(max_bytes > 0, "a connection must be able to write");
        Outgoing {
            bytes: Vec::new(),
            written: 0,
            max_bytes,
            progress_at: Instant::now(),
        }
    }

    /// The buffer to encode frames into, after what waits already.
    pub fn frames(&mut self) -> &mut Vec<u8> {
        if self.is_empty() {
            self.progress_at = Instant::now();
        } else if self.written * 2 >= self.bytes.len() {
            // Each byte moves at most once per time it is half of the buffer.
            self.bytes.drain(..self.written);
            self.written = 0;
        }
        &mut self.bytes
    }

    /// The bytes still to write.
    #[must_use]
    pub fn waiting(&self) -> &[u8] {
        &self.bytes[self.written..]
    }

    /// Nothing waits.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.written == self.bytes.len()
    }

    /// At or past the bound: encode nothing more until the socket drains.
    #[must_use]
    pub fn is_full(&self) -> bool {
        self.waiting().len() >= self.max_bytes
    }

    /// The socket took `count` of the waiting bytes.
    pub fn wrote(&mut self, count: usize) {
        assert!(count <= self.waiting().len(), "wrote more than waited");
        self.written += count;
        self.progress_at = Instant::now();
        if self.is_empty() {
            self.bytes.clear();
            self.written = 0;
            self.bytes.shrink_to(RETAINED_BYTES);
        }
    }

    /// When the socket will have taken nothing for `send_timeout`; `None`
    /// while nothing waits.
    #[must_use]
    pub fn stall_deadline(&self, send_timeout: Duration) -> Option<Instant> {
        (!self.is_empty()).then_some(self.progress_at + send_timeout)
    }

    /// Writes what the socket takes now, at least one byte.
    pub async fn write_some(
        &self,
        writer: &mut (impl AsyncWrite + Unpin),
    ) -> std::io::Result<usize> {
        let count = writer.write(self.waiting()).await?;
        // Under madsim the bytes leave only on flush; a tokio socket's flush is a no-op.
        writer.flush().await?;
        if count == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        Ok(count)
    }

    /// Writes everything waiting, within `send_timeout`; for the paths that
    /// end a connection, when nothing else is left to do.
    pub async fn write_all(
        &mut self,
        writer: &mut (impl AsyncWrite + Unpin),
        send_timeout: Duration,
    ) -> std::io::Result<()> {
        let writing = async {
            while !self.is_empty() {
                let count = self.write_some(writer).await?;
                self.wrote(count);
            }
            std::io::Result::Ok(())
        };
        match tokio::time::timeout(send_timeout, writing).await {
            Ok(written) => written,
            Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
        }
    }
}

#[cfg(all(test, not(madsim)))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_buffer_is_full_at_its_bound_and_drains_as_the_socket_takes_bytes() {
        let mut out = Outgoing::new(10);
        out.frames().extend_from_slice(&[1; 9]);
        assert!(!out.is_full());
        out.frames().extend_from_slice(&[2; 3]);
        assert!(out.is_full(), "12 bytes wait, the bound is 10");
        out.wrote(5);
        assert!(!out.is_full());
        assert_eq!(out.waiting(), &[1, 1, 1, 1, 2, 2, 2]);
        out.frames().push(3);
        assert_eq!(out.waiting(), &[1, 1, 1, 1, 2, 2, 2, 3], "kept in order");
        out.wrote(8);
        assert!(out.is_empty());
        assert_eq!(out.stall_deadline(Duration::from_secs(1)), None);
    }

    #[tokio::test]
    async fn waiting_bytes_have_a_stall_deadline_that_progress_moves() {
        let mut out = Outgoing::new(10);
        out.frames().extend_from_slice(&[1; 4]);
        let first = out
            .stall_deadline(Duration::from_secs(1))
            .expect("bytes wait");
        tokio::time::sleep(Duration::from_millis(5)).await;
        out.wrote(1);
        let second = out
            .stall_deadline(Duration::from_secs(1))
            .expect("bytes wait");
        assert!(second > first);
    }
}
