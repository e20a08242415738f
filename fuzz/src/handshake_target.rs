//! The connection handshake, driven in memory.
//!
//! The server's handshake (`brokerlab_server::fuzzing::handshake_over`, the
//! same code a connection task runs over its socket) reads from a stream
//! that hands out the fuzz input and then end-of-file, and never makes it
//! wait: so one poll of the future runs it to the end, with no runtime and
//! no socket, at tens of thousands of handshakes a second.

use brokerlab_server::fuzzing::{handshake_over, Handshaken, Opened};
use brokerlab_server::wire::frames::{next_frame, PROTOCOL_HEADER};
use brokerlab_server::{Users, FRAME_MAX_BYTES};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The server's default channel_max.
const CHANNEL_MAX: u16 = 2047;

/// Runs the handshake over `data` twice: all of it readable at once (a
/// client that pipelines), then in small reads (frames split across reads).
pub fn handshake(data: &[u8]) {
    for read_max in [usize::MAX, 7] {
        let _ = run(data, read_max);
    }
}

/// Whether the handshake over `data` lets the client in (the corpus test
/// checks that the real clients' recordings' seeds get that far).
#[must_use]
pub fn handshake_opens(data: &[u8]) -> bool {
    matches!(run(data, usize::MAX), Ok(Handshaken::Opened(_)))
}

/// The default users (`guest`/`guest` on `/`, from loopback), built once:
/// their patterns are compiled regexes.
fn users() -> &'static Users {
    static USERS: OnceLock<Users> = OnceLock::new();
    USERS.get_or_init(Users::default)
}

fn run(data: &[u8], read_max: usize) -> io::Result<Handshaken> {
    let peer = SocketAddr::from(([127, 0, 0, 1], 5672));
    let mut stream = Memory {
        input: data,
        read_max,
        output: Vec::new(),
    };
    let result = {
        let limits = (CHANNEL_MAX, FRAME_MAX_BYTES);
        let handshake = pin!(handshake_over(&mut stream, peer, limits, users()));
        match handshake.poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(result) => result,
            Poll::Pending => panic!("the handshake waited on a stream that never makes it wait"),
        }
    };
    if let Ok(Handshaken::Opened(opened)) = &result {
        assert_opened_within_limits(opened);
    }
    assert_output_well_formed(data, &stream.output, &result);
    result
}

/// Rule: what the client gets is what the server allows: a user that
/// exists with its password, and limits within the server's. (Any vhost
/// name passes: guest may open "/", and whether another exists is the
/// core's to answer.)
fn assert_opened_within_limits(opened: &Opened) {
    assert_eq!(opened.user, "guest", "only guest exists");
    let tuning = opened.tuning;
    assert!(
        (1..=CHANNEL_MAX).contains(&tuning.channel_max),
        "channel_max {} outside 1..={CHANNEL_MAX}",
        tuning.channel_max
    );
    assert!(
        (4096..=FRAME_MAX_BYTES).contains(&tuning.frame_max),
        "frame_max {} outside 4096..={FRAME_MAX_BYTES}",
        tuning.frame_max
    );
}

/// Rule: the server writes AMQP: its own protocol header to a client with
/// another, else whole frames (connection.start, tune, and a close when it
/// refuses).
fn assert_output_well_formed(input: &[u8], output: &[u8], result: &io::Result<Handshaken>) {
    if input.len() >= 8 && !input.starts_with(&PROTOCOL_HEADER) {
        assert_eq!(output, PROTOCOL_HEADER, "a foreign header gets ours back");
        return;
    }
    let mut rest = output;
    let mut frames = 0;
    while !rest.is_empty() {
        match next_frame(rest, FRAME_MAX_BYTES) {
            Ok(Some((_, used))) => {
                rest = &rest[used..];
                frames += 1;
            }
            other => panic!("the server wrote bytes that are not a frame: {other:?}"),
        }
    }
    if let Ok(Handshaken::Refused) = result {
        // Refused and told so: start, maybe tune, then connection.close. (A
        // refused login is told only to a client that announced
        // authentication_failure_close.)
        assert!(frames >= 2, "a refusal is a connection.close after start");
    }
}

/// A stream over the fuzz input: reads hand out at most `read_max` bytes
/// at a time, then end-of-file; writes are kept. Nothing ever waits.
struct Memory<'a> {
    input: &'a [u8],
    read_max: usize,
    output: Vec<u8>,
}

impl AsyncRead for Memory<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let count = self.input.len().min(self.read_max).min(buf.remaining());
        let (read, rest) = self.input.split_at(count);
        buf.put_slice(read);
        self.input = rest;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Memory<'_> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.output.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
