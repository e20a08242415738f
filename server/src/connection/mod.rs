//! One client connection: a task that reads frames, turns them into inputs
//! for the broker task, and writes the broker's replies back as frames.
//!
//! The task runs one `select!` over socket reads, socket writes, the
//! replies the broker task sends it, its deadlines (heartbeats, the send
//! timeout) and the server's shutdown. No branch waits on another: a
//! client that stops reading stalls only the writes, so its missed
//! heartbeats are still noticed and it is closed, as RabbitMQ closes it
//! (`outgoing`). The connection-level protocol (admission, handshake,
//! heartbeats, content reassembly, connection.close) lives here; every
//! broker rule is the core's.
//!
//! However the connection ends, the broker task gets exactly one
//! `Input::Disconnect` for it once it has opened a vhost, so whatever the
//! connection held (unacknowledged deliveries, exclusive queues) is released.

mod admission;
mod content;
mod handshake;
mod io;
pub(crate) mod outgoing;

pub use admission::{Handshake, Handshakes, CONNECTIONS_MAX, HANDSHAKES_MAX};
use handshake::FRAME_MIN_BYTES;
pub use handshake::{
    Handshaken, Opened, Tuning, FAILED_LOGIN_DELAY_MS, FRAME_MAX_BYTES, HANDSHAKE_TIMEOUT_MS,
    HEARTBEAT_S,
};
use outgoing::Outgoing;
pub use outgoing::{OUTGOING_BUFFER_MAX_BYTES, SEND_TIMEOUT_MS};

use crate::broker_task::{ReplyBatch, ToBroker};
use crate::deadline::Deadline;
use crate::users::Users;
use crate::wire::inbound::{inbound, Inbound, Quiet, Refusal};
use crate::wire::outbound::{
    connection_close, put_frame, put_method, put_reply, quiet_kind, refusal_close,
};
use amq_protocol::frame::AMQPFrame;
use amq_protocol::protocol::{connection, AMQPClass};
use brokerlab_core::{ChannelId, CloseScope, Command, ConnectionId, Input, Reply, ReplyCode};
pub use content::AssemblingBytes;
use content::Assembly;
use io::FrameReader;
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// After sending connection.close, how long to wait for close-ok.
const CLOSE_OK_TIMEOUT: Duration = Duration::from_secs(3);

/// Reply batches waiting for a connection; the broker task releases a
/// connection that falls this far behind rather than wait for it.
pub const OUTBOX_BATCHES_MAX: usize = 1024;

/// The limits a connection enforces, from the server's options.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Most connections logged in at once.
    pub connections_max: usize,
    /// The whole handshake must fit in this.
    pub handshake_timeout: Duration,
    /// How long a refused login holds its socket.
    pub failed_login_delay: Duration,
    /// Encoded frames held for the socket before replies wait.
    pub outgoing_buffer_max_bytes: usize,
    /// A socket that takes nothing for this long is closed.
    pub send_timeout: Duration,
    /// The largest frame, offered in connection.tune.
    pub frame_max_bytes: u32,
}

impl From<&crate::Options> for Limits {
    fn from(options: &crate::Options) -> Limits {
        assert!(
            options.frame_max_bytes >= FRAME_MIN_BYTES,
            "frame_max_bytes is at least AMQP's minimum frame, {FRAME_MIN_BYTES}"
        );
        Limits {
            connections_max: options.connections_max,
            handshake_timeout: Duration::from_millis(options.handshake_timeout_ms),
            failed_login_delay: Duration::from_millis(options.failed_login_delay_ms),
            outgoing_buffer_max_bytes: options.outgoing_buffer_max_bytes,
            send_timeout: Duration::from_millis(options.send_timeout_ms),
            frame_max_bytes: options.frame_max_bytes,
        }
    }
}

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
    /// The limits each connection enforces.
    pub limits: Limits,
    /// One permit per logged-in connection, `connections_max` in all.
    pub logged_in: Arc<Semaphore>,
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
    /// Replies the client declined with nowait, by kind, still to come.
    quiet: BTreeMap<Quiet, u32>,
}

/// An open connection.
struct Connection {
    conn: ConnectionId,
    peer: SocketAddr,
    read_half: ReadHalf<TcpStream>,
    write_half: WriteHalf<TcpStream>,
    reader: FrameReader,
    out: Outgoing,
    /// Replies taken from the outbox and not yet encoded: encoded only
    /// while `out` has room, so its bound holds however large a batch.
    pending: VecDeque<(ChannelId, Reply)>,
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

/// The handshake as `serve` runs it (protocol header to connection.open,
/// frames of AMQP's minimum size until tune-ok, offering `limits`: the
/// highest channel number and the largest frame), over any byte stream
/// instead of a socket, and without the timeout and the wait after a
/// refused login that `serve` adds around it: for the fuzz targets in
/// `fuzz/`, which drive it from memory.
pub async fn handshake_over<S>(
    stream: &mut S,
    peer: SocketAddr,
    limits: (u16, u32),
    users: &Users,
) -> std::io::Result<Handshaken>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut reader = FrameReader::new(FRAME_MIN_BYTES);
    handshake::handshake(stream, &mut reader, peer, limits, users).await
}

/// Serves one accepted socket to the end: the handshake within its
/// timeout while it holds a `handshake` place, then, logged in, the
/// connection while it holds a permit of `Context::logged_in`.
pub async fn serve(
    conn: ConnectionId,
    mut stream: TcpStream,
    peer: SocketAddr,
    context: Context,
    mut handshake: Handshake,
) {
    // Small frames (acks, confirms) must not wait for Nagle's algorithm.
    let _ = stream.set_nodelay(true);
    // Until Tune/TuneOk agree on more, frames are AMQP's minimum size, as
    // in RabbitMQ: a client that has not logged in cannot send more.
    let mut reader = FrameReader::new(FRAME_MIN_BYTES);
    let limits = context.limits;
    let handshaking = async {
        let negotiated = handshake::handshake(
            &mut stream,
            &mut reader,
            peer,
            (context.channel_max, limits.frame_max_bytes),
            &context.users,
        );
        match tokio::time::timeout(limits.handshake_timeout, negotiated).await {
            Ok(Ok(Handshaken::Opened(opened))) => Some(opened),
            Ok(Ok(Handshaken::LoginRefused)) => {
                let delay = limits.failed_login_delay;
                handshake::linger_after_refused_login(&mut stream, &mut reader, delay).await;
                None
            }
            Ok(Ok(Handshaken::Refused) | Err(_)) => None,
            Err(_) => {
                tracing::info!(conn = conn.0, %peer, "closing AMQP connection: handshake timeout");
                None
            }
        }
    };
    let opened = tokio::select! {
        opened = handshaking => opened,
        () = handshake.give_way() => None,
    };
    drop(handshake);
    let Some(opened) = opened else {
        let _ = stream.shutdown().await;
        return;
    };
    let Some(permit) = admit_logged_in(&context, &mut stream, &mut reader, peer).await else {
        return;
    };
    tracing::debug!(conn = conn.0, %peer, user = %opened.user, vhost = %opened.vhost, "connection open");
    let (outbox_tx, outbox) = mpsc::channel(OUTBOX_BATCHES_MAX);
    let (pause_tx, pause) = watch::channel(false);
    let connect = ToBroker::Connect {
        conn,
        user: opened.user,
        vhost: opened.vhost,
        channel_max: opened.tuning.channel_max,
        outbox: outbox_tx,
        pause: pause_tx,
        peer,
    };
    if context.to_broker.send(connect).await.is_err() {
        return;
    }
    let now = Instant::now();
    let (read_half, write_half) = tokio::io::split(stream);
    let mut connection = Connection {
        conn,
        peer,
        read_half,
        write_half,
        reader,
        out: Outgoing::new(limits.outgoing_buffer_max_bytes),
        pending: VecDeque::new(),
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
    drop(permit);
}

/// A logged-in connection's permit; when none is left the client is told
/// so at connection.open (530, in RabbitMQ's words) and `None` returned.
async fn admit_logged_in(
    context: &Context,
    stream: &mut TcpStream,
    reader: &mut FrameReader,
    peer: SocketAddr,
) -> Option<OwnedSemaphorePermit> {
    if let Ok(permit) = Arc::clone(&context.logged_in).try_acquire_owned() {
        return Some(permit);
    }
    let limit = context.limits.connections_max;
    tracing::warn!(%peer, limit, "connection refused: node connection limit reached");
    let text = format!("connection refused: node connection limit ({limit}) is reached");
    let refusal = Refusal {
        cause: (10, 40),
        ..Refusal::new(ReplyCode::NotAllowed, text)
    };
    let mut out = Vec::new();
    put_method(&mut out, 0, refusal_close(&refusal)).expect("encoding into a Vec cannot fail");
    let answered = async {
        stream.write_all(&out).await?;
        stream.flush().await?;
        reader.connection_method(stream).await.map(drop)
    };
    let _ = tokio::time::timeout(CLOSE_OK_TIMEOUT, answered).await;
    let _ = stream.shutdown().await;
    None
}

impl Connection {
    async fn run(&mut self, outbox: mpsc::Receiver<ReplyBatch>) {
        let exit = self.main_loop(outbox).await.unwrap_or(Exit::Done);
        self.disconnect().await;
        if exit == Exit::Closing {
            let wait = self.await_close_ok();
            let _ = tokio::time::timeout(CLOSE_OK_TIMEOUT, wait).await;
        }
        let _ = self.write_half.shutdown().await;
        tracing::debug!(conn = self.conn.0, peer = %self.peer, "connection closed");
    }

    async fn main_loop(&mut self, mut outbox: mpsc::Receiver<ReplyBatch>) -> std::io::Result<Exit> {
        let mut shutdown = self.context.shutdown.clone();
        let mut pause = self.pause.clone();
        // The broker task holds the sender; once it is gone nothing changes.
        let mut pause_open = true;
        let mut timer = Deadline::default();
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
                Some(exit) => return Ok(exit),
            }
            if outbox.is_closed() {
                // The broker task released the connection (it fell too far
                // behind) or stopped: what is still queued for it is void.
                self.pending.clear();
                step = self.close(
                    ReplyCode::ConnectionForced,
                    "CONNECTION_FORCED - connection fell behind or broker stopped",
                );
                continue;
            }
            let paused = *pause.borrow_and_update();
            if paused {
                // A paused connection is not taken for dead for not being read.
                self.last_read = Instant::now();
            }
            let take_replies = self.pending.is_empty() && !self.out.is_full();
            let deadline = self.deadline();
            step = tokio::select! {
                read = self.reader.read_more(&mut self.read_half), if !paused => {
                    if read? == 0 {
                        return Ok(Exit::Done);
                    }
                    self.last_read = Instant::now();
                    self.on_bytes().await
                }
                written = self.out.write_some(&mut self.write_half), if !self.out.is_empty() => {
                    self.out.wrote(written?);
                    self.last_write = Instant::now();
                    self.encode_pending()
                }
                batch = outbox.recv(), if take_replies => match batch {
                    Some(batch) => {
                        self.pending.extend(batch);
                        self.encode_pending()
                    }
                    // Seen as closed at the top of the loop.
                    None => None,
                },
                () = timer.reached(deadline) => self.on_deadline(),
                // The broker task drops this sender with the outbox when it
                // releases the connection, which wakes a connection whose
                // full buffer keeps it from reading its outbox.
                changed = pause.changed(), if pause_open => {
                    pause_open = changed.is_ok();
                    None
                }
                _ = shutdown.changed() => self.close(ReplyCode::ConnectionForced, "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'"),
            };
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
            loop {
                if self.encode_pending().is_some() {
                    return Ok(());
                }
                if self.out.is_full() {
                    self.flush().await?;
                    continue;
                }
                match outbox.recv().await {
                    Some(batch) => self.pending.extend(batch),
                    None => return std::io::Result::Ok(()),
                }
            }
        };
        if let Ok(written) = tokio::time::timeout(CLOSE_OK_TIMEOUT, replies).await {
            written?;
        }
        let close_ok = connection::AMQPMethod::CloseOk(connection::CloseOk {});
        put_method(self.out.frames(), 0, AMQPClass::Connection(close_ok))
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
        put_method(self.out.frames(), 0, close).expect("encoding into a Vec cannot fail");
        Some(Exit::Closing)
    }

    /// Writes out everything waiting, within the send timeout; for the
    /// paths that end the connection, when nothing else is left to do.
    async fn flush(&mut self) -> std::io::Result<()> {
        let send_timeout = self.context.limits.send_timeout;
        self.out.write_all(&mut self.write_half, send_timeout).await
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
                        let _ = put_method(self.out.frames(), 0, AMQPClass::Connection(close_ok));
                        let _ = self.flush().await;
                    }
                    return;
                }
            }
            match self.reader.read_more(&mut self.read_half).await {
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

impl Connection {
    /// When the connection next needs attention without any input: a
    /// heartbeat to send or to miss, or the send timeout.
    fn deadline(&self) -> Option<Instant> {
        let stalled = self.out.stall_deadline(self.context.limits.send_timeout);
        let Some(interval) = self.heartbeat_interval() else {
            return stalled;
        };
        let silent = self.last_read + interval * 2;
        // A heartbeat is due only when nothing waits to be written: waiting
        // bytes say as much, and a stalled socket would not take it.
        let beat = self
            .out
            .is_empty()
            .then_some(self.last_write + interval / 2);
        Some(
            [stalled, beat]
                .into_iter()
                .flatten()
                .fold(silent, Instant::min),
        )
    }

    fn heartbeat_interval(&self) -> Option<Duration> {
        match self.tuning.heartbeat_s {
            0 => None,
            seconds => Some(Duration::from_secs(seconds.into())),
        }
    }

    /// At a deadline: a socket that took nothing for the send timeout, or
    /// a peer silent for two heartbeat intervals, is closed without a
    /// word, as RabbitMQ closes both (no frame could reach it); after half
    /// an interval with nothing written, a heartbeat is sent.
    fn on_deadline(&mut self) -> Option<Exit> {
        let now = Instant::now();
        let send_timeout = self.context.limits.send_timeout;
        if self
            .out
            .stall_deadline(send_timeout)
            .is_some_and(|at| now >= at)
        {
            tracing::warn!(
                conn = self.conn.0,
                peer = %self.peer,
                waiting_bytes = self.out.waiting().len(),
                "closing AMQP connection: the client took no bytes within the send timeout"
            );
            return Some(Exit::Done);
        }
        let interval = self.heartbeat_interval()?;
        if now >= self.last_read + interval * 2 {
            tracing::warn!(
                conn = self.conn.0,
                peer = %self.peer,
                "closing AMQP connection: missed heartbeats from client, timeout: {}s",
                interval.as_secs()
            );
            return Some(Exit::Done);
        }
        if self.out.is_empty() && now >= self.last_write + interval / 2 {
            put_frame(self.out.frames(), &AMQPFrame::Heartbeat)
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

    /// Hands a frame on. Which channels are open, closing or beyond the
    /// agreed channel_max is the broker's to judge: every method goes to
    /// it, as RabbitMQ's reader hands every method to the channel process.
    async fn on_frame(&mut self, frame: AMQPFrame) -> Option<Exit> {
        match frame {
            AMQPFrame::Heartbeat => None,
            AMQPFrame::Method(0, method) => self.on_connection_method(method).await,
            AMQPFrame::Method(channel, method) => self.on_channel_method(channel, method).await,
            AMQPFrame::Header(channel, header) => {
                let result = match self.assembly(channel) {
                    Some(assembly) => assembly.header(header),
                    None => Err(Refusal::new(
                        ReplyCode::UnexpectedFrame,
                        "content header without basic.publish",
                    )),
                };
                self.on_content(channel, result).await
            }
            AMQPFrame::Body(channel, data) => {
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
                if matches!(command, Command::ChannelOpen | Command::ChannelCloseOk) {
                    // What the connection tracked for the channel's last
                    // life is over: every reply of that life went out
                    // before the close the client answers or reopens after
                    // (nowait counts of commands the broker dropped while
                    // the channel was closing go with it).
                    self.channels.remove(&channel);
                }
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

    /// Encodes pending replies while the outgoing buffer has room.
    fn encode_pending(&mut self) -> Option<Exit> {
        while !self.out.is_full() {
            let (channel, reply) = self.pending.pop_front()?;
            if let Some(exit) = self.encode_reply(channel.0, &reply) {
                // Nothing goes out after connection.close.
                self.pending.clear();
                return Some(exit);
            }
        }
        None
    }

    /// Encodes one reply unless the client declined it (nowait), keeping
    /// the channel's state in step.
    fn encode_reply(&mut self, channel: u16, reply: &Reply) -> Option<Exit> {
        if self.declined(channel, reply) {
            return None;
        }
        if matches!(reply, Reply::ChannelCloseOk) {
            self.channels.remove(&channel);
        }
        put_reply(self.out.frames(), channel, reply, self.tuning.frame_max)
            .expect("encoding into a Vec cannot fail");
        match reply {
            Reply::Close {
                scope: CloseScope::Connection,
                ..
            } => Some(Exit::Closing),
            _ => None,
        }
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
