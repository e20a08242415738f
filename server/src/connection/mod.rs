//! One client connection: a task that reads frames, turns them into inputs
//! for the broker task, and writes the broker's replies back as frames.
//!
//! The task runs one `select!` over socket reads, the replies the broker
//! task sends it, its heartbeat deadline and the server's shutdown. The
//! connection-level protocol (handshake, heartbeats, content reassembly,
//! connection.close) lives here; every broker rule is the core's.
//!
//! However the connection ends, the broker task gets exactly one
//! `Input::Disconnect` for it once it has opened a vhost, so whatever the
//! connection held (unacknowledged deliveries, exclusive queues) is released.

mod content;
mod handshake;
mod io;

use handshake::FRAME_MIN_BYTES;
pub use handshake::{Tuning, FRAME_MAX_BYTES, HEARTBEAT_S};

use crate::broker_task::{ReplyBatch, ToBroker};
use crate::users::Users;
use crate::wire::inbound::{inbound, Inbound, Quiet, Refusal};
use crate::wire::outbound::{
    connection_close, put_frame, put_method, put_reply, quiet_kind, refusal_close,
};
use amq_protocol::frame::AMQPFrame;
use amq_protocol::protocol::{channel, connection, AMQPClass};
use brokerlab_core::{ChannelId, CloseScope, Command, ConnectionId, Input, Reply, ReplyCode};
pub use content::AssemblingBytes;
use content::{Assembly, LastProperties};
use io::FrameReader;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// The whole handshake, header to connection.open, must fit in this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// After sending connection.close, how long to wait for close-ok.
const CLOSE_OK_TIMEOUT: Duration = Duration::from_secs(3);

/// Reply batches waiting for a connection; a client that falls this far
/// behind is disconnected rather than let the broker task wait for it.
pub const OUTBOX_BATCHES_MAX: usize = 1024;

/// Encoded bytes collected before they are written out.
const WRITE_FLUSH_BYTES: usize = 256 * 1024;

/// What a connection needs from the server.
#[derive(Clone, Debug)]
pub struct Context {
    /// The broker task's inbox.
    pub to_broker: mpsc::Sender<ToBroker>,
    /// Turns true when the server shuts down.
    pub shutdown: watch::Receiver<bool>,
    /// The broker's largest message body.
    pub max_message_bytes: usize,
    /// Bytes of message bodies still being received, for the memory alarm.
    pub assembling_bytes: AssemblingBytes,
    /// The broker's highest channel number.
    pub channel_max: u16,
    /// Who may log in and open which vhost.
    pub users: Arc<Users>,
}

/// How the main loop ended.
#[derive(Debug, PartialEq, Eq)]
enum Exit {
    /// Nothing more to say: the peer left, was silent too long, or was answered close-ok.
    Done,
    /// connection.close was sent: wait for close-ok, then close the socket.
    Closing,
    /// The client sent connection.close: the replies to what it sent
    /// before go out first, then close-ok.
    ClientClosed,
}

/// A connection's view of one channel, kept only while it has something to track.
#[derive(Debug, Default)]
struct ChannelState {
    /// A publish waiting for content frames.
    publish: Option<Assembly>,
    /// The properties of the channel's last publish.
    last_properties: LastProperties,
    /// The broker closed the channel: drop its frames until close-ok.
    closing: bool,
    /// Replies the client declined with nowait, by kind, still to come.
    quiet: BTreeMap<Quiet, u32>,
}

/// An open connection.
struct Connection {
    conn: ConnectionId,
    peer: SocketAddr,
    stream: TcpStream,
    reader: FrameReader,
    out: Vec<u8>,
    tuning: Tuning,
    context: Context,
    channels: BTreeMap<u16, ChannelState>,
    last_read: Instant,
    last_write: Instant,
    /// `Input::Disconnect` was sent: the broker has released the connection.
    disconnected: bool,
    /// The client announced the `connection.blocked` capability: it is sent
    /// the core's connection.blocked and unblocked (others are not).
    notify_blocked: bool,
    /// True while the core pauses the connection (credit flow or the
    /// memory alarm): its reads stop.
    pause: watch::Receiver<bool>,
}

/// Serves one accepted socket to the end.
pub async fn serve(conn: ConnectionId, mut stream: TcpStream, peer: SocketAddr, context: Context) {
    // Small frames (acks, confirms) must not wait for Nagle's algorithm.
    let _ = stream.set_nodelay(true);
    // Until Tune/TuneOk agree on more, frames are AMQP's minimum size, as
    // in RabbitMQ: a client that has not logged in cannot send more.
    let mut reader = FrameReader::new(FRAME_MIN_BYTES);
    let handshake = handshake::handshake(
        &mut stream,
        &mut reader,
        peer,
        context.channel_max,
        &context.users,
    );
    let opened = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
        Ok(Ok(Some(opened))) => opened,
        Ok(Ok(None)) | Ok(Err(_)) | Err(_) => {
            let _ = stream.shutdown().await;
            return;
        }
    };
    tracing::debug!(conn = conn.0, %peer, user = %opened.user, vhost = %opened.vhost, "connection open");
    let (outbox_tx, outbox) = mpsc::channel(OUTBOX_BATCHES_MAX);
    let (pause_tx, pause) = watch::channel(false);
    let connect = ToBroker::Connect {
        conn,
        user: opened.user,
        vhost: opened.vhost,
        outbox: outbox_tx,
        pause: pause_tx,
    };
    if context.to_broker.send(connect).await.is_err() {
        return;
    }
    let now = Instant::now();
    let mut connection = Connection {
        conn,
        peer,
        stream,
        reader,
        out: Vec::new(),
        tuning: opened.tuning,
        context,
        channels: BTreeMap::new(),
        last_read: now,
        last_write: now,
        disconnected: false,
        notify_blocked: opened.notify_blocked,
        pause,
    };
    connection.run(outbox).await;
}

impl Connection {
    async fn run(&mut self, outbox: mpsc::Receiver<ReplyBatch>) {
        let exit = self.main_loop(outbox).await.unwrap_or(Exit::Done);
        self.disconnect().await;
        if exit == Exit::Closing {
            let wait = self.await_close_ok();
            let _ = tokio::time::timeout(CLOSE_OK_TIMEOUT, wait).await;
        }
        let _ = self.stream.shutdown().await;
        tracing::debug!(conn = self.conn.0, peer = %self.peer, "connection closed");
    }

    async fn main_loop(&mut self, mut outbox: mpsc::Receiver<ReplyBatch>) -> std::io::Result<Exit> {
        let mut shutdown = self.context.shutdown.clone();
        let mut pause = self.pause.clone();
        // The broker task holds the sender; once it is gone nothing changes.
        let mut pause_open = true;
        // Frames the client pipelined with connection.open are already
        // buffered: they are handled before the loop waits for more.
        let mut step = self.on_bytes().await;
        loop {
            match step {
                None => {}
                Some(Exit::ClientClosed) => {
                    self.answer_close(&mut outbox).await?;
                    return Ok(Exit::Done);
                }
                Some(exit) => {
                    self.flush().await?;
                    return Ok(exit);
                }
            }
            let paused = *pause.borrow_and_update();
            if paused {
                // A paused connection is not taken for dead for not being read.
                self.last_read = Instant::now();
            }
            let tick = self.heartbeat_deadline();
            step = tokio::select! {
                read = self.reader.read_more(&mut self.stream), if !paused => {
                    if read? == 0 {
                        return Ok(Exit::Done);
                    }
                    self.last_read = Instant::now();
                    self.on_bytes().await
                }
                batch = outbox.recv() => match batch {
                    Some(batch) => self.on_replies(batch).await?,
                    None => self.close(ReplyCode::ConnectionForced, "CONNECTION_FORCED - connection fell behind or broker stopped"),
                },
                () = sleep_until(tick) => self.on_heartbeat_tick(),
                changed = pause.changed(), if pause_open => {
                    pause_open = changed.is_ok();
                    None
                }
                _ = shutdown.changed() => self.close(ReplyCode::ConnectionForced, "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'"),
            };
            self.flush().await?;
        }
    }

    /// Answers the client's connection.close as RabbitMQ does: the replies
    /// to the methods it sent before close come first, then close-ok. The
    /// broker task drops the outbox once it has handled the `Disconnect`
    /// (which comes after those methods), so the outbox ends after the last
    /// of their replies. Everything is released before close-ok, so the
    /// client's next connection finds its messages requeued.
    async fn answer_close(
        &mut self,
        outbox: &mut mpsc::Receiver<ReplyBatch>,
    ) -> std::io::Result<()> {
        self.disconnect().await;
        let replies = async {
            while let Some(batch) = outbox.recv().await {
                self.on_replies(batch).await?;
            }
            std::io::Result::Ok(())
        };
        if let Ok(written) = tokio::time::timeout(CLOSE_OK_TIMEOUT, replies).await {
            written?;
        }
        let close_ok = connection::AMQPMethod::CloseOk(connection::CloseOk {});
        put_method(&mut self.out, 0, AMQPClass::Connection(close_ok))
            .expect("encoding into a Vec cannot fail");
        self.flush().await
    }

    /// Writes connection.close and ends the main loop.
    fn close(&mut self, code: ReplyCode, text: &str) -> Option<Exit> {
        self.send_close(code, text, connection_close(code, text))
    }

    /// Writes connection.close naming the refused method, and ends the main loop.
    fn refuse(&mut self, refusal: &Refusal) -> Option<Exit> {
        self.send_close(refusal.code, &refusal.text, refusal_close(refusal))
    }

    fn send_close(&mut self, code: ReplyCode, text: &str, close: AMQPClass) -> Option<Exit> {
        tracing::debug!(
            conn = self.conn.0,
            code = code.code(),
            text,
            "closing connection"
        );
        put_method(&mut self.out, 0, close).expect("encoding into a Vec cannot fail");
        Some(Exit::Closing)
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        if !self.out.is_empty() {
            self.stream.write_all(&self.out).await?;
            // Under madsim the bytes leave only on flush; a tokio socket's flush is a no-op.
            self.stream.flush().await?;
            self.out.clear();
            self.last_write = Instant::now();
        }
        Ok(())
    }

    /// Reads and drops frames until close-ok (or the peer's own close)
    /// arrives, or bytes come that make no frame and so cannot hold it.
    async fn await_close_ok(&mut self) {
        let _ = self.flush().await;
        loop {
            loop {
                let frame = match self.reader.next_frame() {
                    Ok(Some(frame)) => frame,
                    Ok(None) => break,
                    Err(_) => return,
                };
                if let AMQPFrame::Method(0, AMQPClass::Connection(method)) = frame {
                    if let connection::AMQPMethod::Close(_) = method {
                        let close_ok = connection::AMQPMethod::CloseOk(connection::CloseOk {});
                        let _ = put_method(&mut self.out, 0, AMQPClass::Connection(close_ok));
                        let _ = self.flush().await;
                    }
                    return;
                }
            }
            match self.reader.read_more(&mut self.stream).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    }

    /// Tells the broker the connection is gone, once.
    async fn disconnect(&mut self) {
        if !self.disconnected {
            self.disconnected = true;
            // A broker task that is gone has nothing left to release.
            self.send_input(Input::Disconnect { conn: self.conn }).await;
        }
    }

    /// Sends an input to the broker task; `false` when it is gone.
    async fn send_input(&mut self, input: Input) -> bool {
        self.context
            .to_broker
            .send(ToBroker::Input(input))
            .await
            .is_ok()
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Connection {
    /// When the heartbeat next needs attention; `None` with heartbeats off.
    fn heartbeat_deadline(&self) -> Option<Instant> {
        let interval = self.heartbeat_interval()?;
        Some((self.last_write + interval / 2).min(self.last_read + interval * 2))
    }

    fn heartbeat_interval(&self) -> Option<Duration> {
        match self.tuning.heartbeat_s {
            0 => None,
            seconds => Some(Duration::from_secs(seconds.into())),
        }
    }

    /// Sends a heartbeat when nothing was written for half an interval; a
    /// peer silent for two whole intervals is taken for dead.
    fn on_heartbeat_tick(&mut self) -> Option<Exit> {
        let interval = self.heartbeat_interval()?;
        let now = Instant::now();
        if now >= self.last_read + interval * 2 {
            tracing::info!(conn = self.conn.0, peer = %self.peer, "missed heartbeats from client; closing");
            return Some(Exit::Done);
        }
        if now >= self.last_write + interval / 2 {
            put_frame(&mut self.out, &AMQPFrame::Heartbeat)
                .expect("encoding into a Vec cannot fail");
        }
        None
    }

    /// Handles every complete frame read so far.
    async fn on_bytes(&mut self) -> Option<Exit> {
        loop {
            let frame = match self.reader.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => return None,
                Err(refusal) => return self.refuse(&refusal),
            };
            if let Some(exit) = self.on_frame(frame).await {
                return Some(exit);
            }
        }
    }

    async fn on_frame(&mut self, frame: AMQPFrame) -> Option<Exit> {
        let channel = frame.channel_id();
        if channel > self.tuning.channel_max {
            let text = format!(
                "NOT_ALLOWED - channel {channel} above channel_max {}",
                self.tuning.channel_max
            );
            return self.close(ReplyCode::NotAllowed, &text);
        }
        let closing = self
            .channels
            .get(&channel)
            .is_some_and(|state| state.closing);
        match frame {
            AMQPFrame::Heartbeat => None,
            AMQPFrame::Method(0, method) => self.on_connection_method(method).await,
            AMQPFrame::Method(_, method) if closing => {
                self.on_closing_channel_method(channel, method).await
            }
            AMQPFrame::Method(_, method) => self.on_channel_method(channel, method).await,
            AMQPFrame::Header(..) | AMQPFrame::Body(..) if closing => None,
            AMQPFrame::Header(_, header) => {
                let result = match self.channels.get_mut(&channel) {
                    Some(ChannelState {
                        publish: Some(assembly),
                        last_properties,
                        ..
                    }) => assembly.header(header, last_properties),
                    _ => Err(Refusal::new(
                        ReplyCode::UnexpectedFrame,
                        "content header without basic.publish",
                    )),
                };
                self.on_content(channel, result).await
            }
            AMQPFrame::Body(_, data) => {
                let limit = self.context.max_message_bytes;
                let assembling = Arc::clone(&self.context.assembling_bytes);
                let result = match self.assembly(channel) {
                    Some(assembly) => assembly.body(&data, limit, &assembling),
                    None => Err(Refusal::new(
                        ReplyCode::UnexpectedFrame,
                        "content body without basic.publish",
                    )),
                };
                self.on_content(channel, result).await
            }
            AMQPFrame::InvalidHeartbeat(_) | AMQPFrame::ProtocolHeader(_) => {
                self.close(ReplyCode::FrameError, "FRAME_ERROR - unexpected frame")
            }
        }
    }

    fn assembly(&mut self, channel: u16) -> Option<&mut Assembly> {
        self.channels.get_mut(&channel)?.publish.as_mut()
    }

    /// Sends a completed publish on; a content error closes the connection.
    async fn on_content(
        &mut self,
        channel: u16,
        result: Result<Option<Command>, Refusal>,
    ) -> Option<Exit> {
        match result {
            Err(refusal) => self.refuse(&refusal),
            Ok(None) => None,
            Ok(Some(command)) => {
                if let Some(state) = self.channels.get_mut(&channel) {
                    state.publish = None;
                }
                self.command(channel, command).await
            }
        }
    }

    async fn command(&mut self, channel: u16, command: Command) -> Option<Exit> {
        let input = Input::Command {
            conn: self.conn,
            channel: ChannelId(channel),
            command,
        };
        if self.send_input(input).await {
            None
        } else {
            Some(Exit::Done)
        }
    }

    async fn on_connection_method(&mut self, method: AMQPClass) -> Option<Exit> {
        match method {
            AMQPClass::Connection(connection::AMQPMethod::Close(close)) => {
                tracing::debug!(conn = self.conn.0, code = close.reply_code, text = %close.reply_text, "client closed the connection");
                Some(Exit::ClientClosed)
            }
            AMQPClass::Connection(connection::AMQPMethod::CloseOk(_)) => Some(Exit::Done),
            other => {
                let text = format!(
                    "method {}.{} is not allowed on channel 0",
                    other.get_amqp_class_id(),
                    other.get_amqp_method_id()
                );
                self.refuse(&Refusal::new(ReplyCode::CommandInvalid, text).caused_by(&other))
            }
        }
    }

    /// On a channel the broker closed, only close and close-ok matter.
    async fn on_closing_channel_method(&mut self, channel: u16, method: AMQPClass) -> Option<Exit> {
        let command = match method {
            AMQPClass::Channel(channel::AMQPMethod::CloseOk(_)) => Command::ChannelCloseOk,
            AMQPClass::Channel(channel::AMQPMethod::Close(_)) => Command::ChannelClose,
            _ => return None,
        };
        self.channels.remove(&channel);
        self.command(channel, command).await
    }

    async fn on_channel_method(&mut self, channel: u16, method: AMQPClass) -> Option<Exit> {
        if self
            .channels
            .get(&channel)
            .and_then(|state| state.publish.as_ref())
            .is_some()
        {
            let text = "UNEXPECTED_FRAME - expected content header or body, got a method";
            return self.close(ReplyCode::UnexpectedFrame, text);
        }
        match inbound(method, self.reader.qos_prefetch_size()) {
            Err(refusal) => self.refuse(&refusal),
            Ok(Inbound::Publish(start)) => {
                self.channels.entry(channel).or_default().publish = Some(Assembly::new(start));
                None
            }
            Ok(Inbound::Command { command, quiet }) => {
                if let Some(quiet) = quiet {
                    *self
                        .channels
                        .entry(channel)
                        .or_default()
                        .quiet
                        .entry(quiet)
                        .or_default() += 1;
                }
                self.command(channel, command).await
            }
        }
    }

    /// Writes a batch of replies, dropping those the client declined.
    async fn on_replies(&mut self, batch: ReplyBatch) -> std::io::Result<Option<Exit>> {
        for (channel, reply) in batch {
            if self.declined(channel.0, &reply) {
                continue;
            }
            match &reply {
                Reply::Close {
                    scope: CloseScope::Channel,
                    ..
                } => {
                    // Frames already on their way for this channel are dropped until close-ok.
                    self.channels.insert(
                        channel.0,
                        ChannelState {
                            closing: true,
                            ..ChannelState::default()
                        },
                    );
                }
                Reply::ChannelCloseOk => {
                    self.channels.remove(&channel.0);
                }
                _ => {}
            }
            put_reply(&mut self.out, channel.0, &reply, self.tuning.frame_max)
                .expect("encoding into a Vec cannot fail");
            if let Reply::Close {
                scope: CloseScope::Connection,
                ..
            } = reply
            {
                return Ok(Some(Exit::Closing));
            }
            if self.out.len() >= WRITE_FLUSH_BYTES {
                self.flush().await?;
            }
        }
        Ok(None)
    }

    /// Whether the client said nowait for this reply (and so must not get
    /// it), or did not announce the `connection.blocked` capability that
    /// connection.blocked and unblocked need.
    fn declined(&mut self, channel: u16, reply: &Reply) -> bool {
        if matches!(reply, Reply::ConnectionBlocked | Reply::ConnectionUnblocked) {
            return !self.notify_blocked;
        }
        let Some(kind) = quiet_kind(reply) else {
            return false;
        };
        let Some(count) = self
            .channels
            .get_mut(&channel)
            .and_then(|state| state.quiet.get_mut(&kind))
        else {
            return false;
        };
        *count -= 1;
        if *count == 0 {
            self.channels
                .get_mut(&channel)
                .expect("just found")
                .quiet
                .remove(&kind);
        }
        true
    }
}
