//! A minimal AMQP 0-9-1 client over amq-protocol's codec, for `brokerlab
//! perf` and for tests that need a client of our own.
//!
//! It opens a connection (PLAIN, heartbeats off), opens channels, makes
//! synchronous calls (a method and the reply it waits for) and then splits
//! into a frame reader and a frame writer, so a load generator can write
//! publishes on one task while another reads confirms or deliveries. It
//! knows no broker rules and keeps no state beyond the socket: the caller
//! says what it expects next. Frames are cut with the server's own
//! `wire::frames::next_frame`, so a frame above frame_max is an error here
//! too.

use crate::portable::{split, ReadHalf, WriteHalf};
use crate::wire::frames::{next_frame, PROTOCOL_HEADER};
use crate::wire::outbound::{put_frame, put_method};
use amq_protocol::frame::AMQPFrame;
use amq_protocol::protocol::{channel, connection, AMQPClass};
use amq_protocol::types::LongString;
use amq_protocol::uri::AMQPUri;
use bytes::{Buf, BytesMut};
use std::io;
use std::str::FromStr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The largest frame the client asks for.
const FRAME_MAX_BYTES: u32 = 131_072;

/// Bytes asked of the socket per read.
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// Where to connect and as whom, from an `amqp://user:pass@host:port/vhost` URI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// User name.
    pub user: String,
    /// Password.
    pub password: String,
    /// Virtual host.
    pub vhost: String,
}

impl FromStr for Target {
    type Err = String;

    /// Parses an AMQP URI. A URI whose path is empty or a lone `/` names
    /// vhost `/`, as most tools read `amqp://host:5672/`.
    fn from_str(text: &str) -> Result<Target, String> {
        let uri = AMQPUri::from_str(text)?;
        let vhost = if uri.vhost.is_empty() {
            "/".to_owned()
        } else {
            uri.vhost
        };
        Ok(Target {
            host: uri.authority.host,
            port: uri.authority.port,
            user: uri.authority.userinfo.username,
            password: uri.authority.userinfo.password,
            vhost,
        })
    }
}

/// The read side of a client connection: frames cut from the socket's bytes.
#[derive(Debug)]
pub struct FrameSource {
    half: ReadHalf,
    buffer: BytesMut,
    frame_max: u32,
}

impl FrameSource {
    /// The next frame; an error when the socket closed or sent garbage.
    pub async fn next(&mut self) -> io::Result<AMQPFrame> {
        loop {
            if let Some(frame) = self.buffered()? {
                return Ok(frame);
            }
            self.buffer.reserve(READ_CHUNK_BYTES);
            if self.half.read_buf(&mut self.buffer).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// The next frame already read, if a whole one is buffered.
    pub fn buffered(&mut self) -> io::Result<Option<AMQPFrame>> {
        let cut = next_frame(&self.buffer, self.frame_max)
            .map_err(|refusal| io::Error::new(io::ErrorKind::InvalidData, refusal.text))?;
        Ok(cut.map(|(frame, size)| {
            self.buffer.advance(size);
            frame
        }))
    }

    /// The next method, skipping heartbeats; a close from the server is an error.
    pub async fn method(&mut self) -> io::Result<(u16, AMQPClass)> {
        loop {
            match self.next().await? {
                AMQPFrame::Heartbeat => continue,
                AMQPFrame::Method(channel, method) => {
                    refuse_close(&method)?;
                    return Ok((channel, method));
                }
                other => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("expected a method, got {other}"),
                    ))
                }
            }
        }
    }
}

/// A server's connection.close or channel.close as an error.
pub fn refuse_close(method: &AMQPClass) -> io::Result<()> {
    let (scope, code, text) = match method {
        AMQPClass::Connection(connection::AMQPMethod::Close(close)) => {
            ("connection", close.reply_code, close.reply_text.as_str())
        }
        AMQPClass::Channel(channel::AMQPMethod::Close(close)) => {
            ("channel", close.reply_code, close.reply_text.as_str())
        }
        _ => return Ok(()),
    };
    Err(io::Error::other(format!(
        "the server closed the {scope}: {code} {text}"
    )))
}

/// The write side of a client connection.
#[derive(Debug)]
pub struct FrameSink {
    half: WriteHalf,
    out: Vec<u8>,
}

impl FrameSink {
    /// Adds a frame to the pending bytes.
    pub fn put(&mut self, frame: &AMQPFrame) -> io::Result<()> {
        put_frame(&mut self.out, frame).map_err(io::Error::other)
    }

    /// Adds a method frame to the pending bytes.
    pub fn put_method(&mut self, channel: u16, method: AMQPClass) -> io::Result<()> {
        put_method(&mut self.out, channel, method).map_err(io::Error::other)
    }

    /// Bytes waiting to be written.
    #[must_use]
    pub fn pending_bytes(&self) -> usize {
        self.out.len()
    }

    /// Writes every pending byte.
    pub async fn flush(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            self.half.write_all(&self.out).await?;
            self.half.flush().await?;
            self.out.clear();
        }
        Ok(())
    }

    /// Sends connection.close (reply 200). The socket stays open: the peer
    /// answers close-ok, and only then may the socket close, or the broker
    /// sees a client that vanished.
    pub async fn close(&mut self) -> io::Result<()> {
        let close = connection::Close {
            reply_code: 200,
            reply_text: "bye".into(),
            class_id: 0,
            method_id: 0,
        };
        self.put_method(
            0,
            AMQPClass::Connection(connection::AMQPMethod::Close(close)),
        )?;
        self.flush().await
    }
}

impl FrameSource {
    /// Reads and drops frames until connection.close-ok, at most `timeout`.
    pub async fn await_close_ok(&mut self, timeout: Duration) -> io::Result<()> {
        let wait = async {
            loop {
                if let AMQPFrame::Method(0, AMQPClass::Connection(method)) = self.next().await? {
                    if let connection::AMQPMethod::CloseOk(_) = method {
                        return Ok(());
                    }
                    refuse_close(&AMQPClass::Connection(method))?;
                }
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no connection.close-ok"))?
    }
}

/// An open client connection, before it is split.
#[derive(Debug)]
pub struct Client {
    /// Frames from the server.
    pub source: FrameSource,
    /// Frames to the server.
    pub sink: FrameSink,
}

impl Client {
    /// Connects, authenticates with PLAIN, turns heartbeats off and opens the vhost.
    pub async fn connect(target: &Target) -> io::Result<Client> {
        Client::connect_with_heartbeat(target, 0).await
    }

    /// Connects, authenticates with PLAIN, asks for heartbeats every
    /// `heartbeat_s` seconds (0: none) and opens the vhost. The client sends
    /// no heartbeats of its own: a caller that asks for them keeps the
    /// connection busy, or sends `AMQPFrame::Heartbeat` itself.
    pub async fn connect_with_heartbeat(target: &Target, heartbeat_s: u16) -> io::Result<Client> {
        let stream = TcpStream::connect((target.host.as_str(), target.port)).await?;
        stream.set_nodelay(true)?;
        let (read, write) = split(stream);
        let mut client = Client {
            source: FrameSource {
                half: read,
                buffer: BytesMut::with_capacity(READ_CHUNK_BYTES),
                frame_max: FRAME_MAX_BYTES,
            },
            sink: FrameSink {
                half: write,
                out: Vec::new(),
            },
        };
        client.sink.out.extend_from_slice(&PROTOCOL_HEADER);
        client.sink.flush().await?;
        let AMQPClass::Connection(connection::AMQPMethod::Start(_)) = client.expect(0).await?
        else {
            return Err(io::Error::other("expected connection.start"));
        };
        let start_ok = connection::StartOk {
            mechanism: "PLAIN".into(),
            response: LongString::from(format!("\0{}\0{}", target.user, target.password)),
            locale: "en_US".into(),
            ..connection::StartOk::default()
        };
        let start_ok = AMQPClass::Connection(connection::AMQPMethod::StartOk(start_ok));
        let AMQPClass::Connection(connection::AMQPMethod::Tune(tune)) =
            client.call(0, start_ok).await?
        else {
            return Err(io::Error::other("expected connection.tune"));
        };
        let frame_max = match tune.frame_max {
            0 => FRAME_MAX_BYTES,
            offered => offered.min(FRAME_MAX_BYTES),
        };
        client.source.frame_max = frame_max;
        let tune_ok = connection::TuneOk {
            channel_max: tune.channel_max,
            frame_max,
            heartbeat: heartbeat_s,
        };
        client.sink.put_method(
            0,
            AMQPClass::Connection(connection::AMQPMethod::TuneOk(tune_ok)),
        )?;
        let open = connection::Open {
            virtual_host: target.vhost.as_str().into(),
        };
        let open = AMQPClass::Connection(connection::AMQPMethod::Open(open));
        let AMQPClass::Connection(connection::AMQPMethod::OpenOk(_)) = client.call(0, open).await?
        else {
            return Err(io::Error::other("expected connection.open-ok"));
        };
        Ok(client)
    }

    /// Closes the connection and waits at most `timeout` for close-ok.
    pub async fn close(mut self, timeout: Duration) -> io::Result<()> {
        self.sink.close().await?;
        self.source.await_close_ok(timeout).await
    }

    /// The largest frame both sides agreed on.
    #[must_use]
    pub fn frame_max(&self) -> u32 {
        self.source.frame_max
    }

    /// Sends a method and waits for the next method on the same channel.
    pub async fn call(&mut self, channel: u16, method: AMQPClass) -> io::Result<AMQPClass> {
        self.sink.put_method(channel, method)?;
        self.sink.flush().await?;
        self.expect(channel).await
    }

    /// The next method, which must be on `channel`.
    async fn expect(&mut self, channel: u16) -> io::Result<AMQPClass> {
        let (on, method) = self.source.method().await?;
        if on != channel {
            return Err(io::Error::other(format!(
                "expected a reply on channel {channel}, got one on {on}"
            )));
        }
        Ok(method)
    }

    /// Opens channel `number`.
    pub async fn open_channel(&mut self, number: u16) -> io::Result<()> {
        let open = AMQPClass::Channel(channel::AMQPMethod::Open(channel::Open {}));
        match self.call(number, open).await? {
            AMQPClass::Channel(channel::AMQPMethod::OpenOk(_)) => Ok(()),
            other => Err(io::Error::other(format!(
                "expected channel.open-ok, got {other:?}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uri_with_a_bare_slash_names_vhost_slash() {
        let target: Target = "amqp://guest:guest@127.0.0.1:5672/".parse().expect("valid");
        assert_eq!(
            target,
            Target {
                host: "127.0.0.1".into(),
                port: 5672,
                user: "guest".into(),
                password: "guest".into(),
                vhost: "/".into(),
            }
        );
    }

    #[test]
    fn a_uri_names_its_vhost_percent_encoded() {
        let slash: Target = "amqp://u:p@localhost:5673/%2f".parse().expect("valid");
        assert_eq!((slash.vhost.as_str(), slash.port), ("/", 5673));
        let named: Target = "amqp://u:p@localhost/staging".parse().expect("valid");
        assert_eq!((named.vhost.as_str(), named.port), ("staging", 5672));
    }
}
