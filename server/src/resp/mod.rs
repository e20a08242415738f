//! The RESP listener: Redis's protocol (RESP2, and RESP3 after `HELLO 3`)
//! for Redis Pub/Sub clients, on the same broker task and core as the AMQP
//! and Kafka listeners.
//!
//! A RESP connection is a core connection that sends `Input::PubSub`
//! commands (no `Input::Connect`: a Redis client opens no vhost) and gets
//! `Output::PubSub` answers and a publish's deliveries
//! (`Output::PubSubPublished`) back through the broker task.
//! Requests are checked against Redis's bounds and decoded, and replies
//! encoded, with the `redis-protocol` crate (`request`, `reply`);
//! `commands` judges each request as Redis would. Requests are cut from
//! the read buffer uncopied, and the commands of the requests judged after
//! one read go to the broker task as one message; the delivery of one
//! publish is encoded once ([`hand_out_published`]) and copied to the end
//! of each receiver's run of deliveries ([`Deliveries`]), which its
//! connection writes with one copy, after taking every batch already
//! waiting. Every Pub/Sub rule,
//! the slow-subscriber rule included, is the core's: the connection tells
//! the core what it wrote (`PubSubCommand::Written`), and closes when the
//! core says the subscriber fell too far behind.
//!
//! Replies leave in request order, as Redis's do. A command for the core
//! gets a known number of answers (one per channel named, one for a
//! publish), except an unsubscribe from all, whose end the connection
//! marks with an echo through the broker task; a reply the connection
//! makes itself waits until the answers before it are out. A request
//! whose judgement depends on a change still on its way (a subscription
//! that may open RESP2's subscribed context, a new protocol, a login)
//! waits for it too, unread.
//!
//! Logins: the users of the AMQP listener. A client on loopback is
//! logged in from the start as Redis's passwordless `default` user
//! ([`Context::anonymous_loopback`], on by default); any other client
//! must `AUTH user password` (or `HELLO 3 AUTH user password`) first, and
//! until then gets Redis's `NOAUTH` and Redis's smaller request bounds.
//!
//! Differs from Redis 7.0 (each checked against redis-server 7.0.15):
//! brokerlab serves no keys, so GET, SET and the rest are `unknown
//! command` (in RESP2's subscribed context they are refused as Redis
//! refuses them); shard channels (SSUBSCRIBE, PUBSUB SHARDCHANNELS), PUBSUB
//! HELP and CLIENT's other subcommands are unknown subcommands; HELLO
//! reports `version` 7.0.0, the Redis whose Pub/Sub is followed; UNSUBSCRIBE
//! from all answers the channels in byte order (Redis's order is its hash
//! table's); an inline command's quotes are not read; and a request may
//! carry at most [`ARGUMENTS_MAX`] arguments of [`BULK_MAX_BYTES`] each.

mod commands;
mod names;
mod reply;
mod request;

pub use request::{ARGUMENTS_MAX, BULK_MAX_BYTES, INLINE_MAX_BYTES};

use crate::broker_task::{RespBatch, RespItem, ToBroker};
use crate::connection::outgoing::Outgoing;
use crate::deadline::Deadline;
use crate::users::Users;
use brokerlab_core::pubsub::{charge, PubSubCommand, PubSubReply, Published, SubscriptionKind};
use brokerlab_core::{ConnectionId, Input};
use bytes::{Bytes, BytesMut};
use commands::{Answers, Login, State, Step};
pub use reply::Deliveries;
use reply::Frame;
use request::Parsed;
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

/// The most bytes a connection buffers of requests not yet whole (Redis's
/// `client-query-buffer-limit` is 1 GiB): past it the connection closes.
pub const QUERY_BUFFER_MAX_BYTES: usize = BULK_MAX_BYTES + 2 * INLINE_MAX_BYTES;

/// Answer batches waiting for a connection; the broker task releases a
/// connection this far behind. The core's output-buffer limit on
/// subscribers normally closes a slow one long before.
pub const OUTBOX_BATCHES_MAX: usize = 64 * 1024;

/// Inputs a connection sends the broker task as one message, at most.
const INPUTS_PER_MESSAGE_MAX: usize = 256;

/// Bytes a connection's read buffer takes at a time.
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// The least room a read asks of the socket before the buffer takes a new chunk.
const READ_SPARE_MIN_BYTES: usize = 4 * 1024;

/// RESP connections are numbered from here, apart from AMQP's and Kafka's.
const RESP_CONNECTIONS_FIRST: u64 = 1 << 61;

/// The Redis version HELLO reports: the one whose Pub/Sub brokerlab follows.
const REDIS_VERSION: &str = "7.0.0";

/// Appends a core answer to `batch`: a delivery encoded at the end of
/// the batch's run of deliveries, any other answer as it is.
pub fn hand_out(reply: PubSubReply, batch: &mut RespBatch) {
    match reply {
        PubSubReply::Message {
            pattern,
            channel,
            message,
        } => {
            let mut encoded = BytesMut::new();
            reply::encode_delivery(pattern.as_deref(), &channel, &message, &mut encoded);
            let charged = charge(pattern.as_ref(), &channel, &message);
            deliveries_run(batch).push(&encoded, charged);
        }
        reply => batch.push(RespItem::PubSub(reply)),
    }
}

/// Appends each receiver's delivery of a publish to its batch: encoded
/// once into `scratch` (once more per pattern matched by), then copied to
/// the end of the receiver's run of deliveries, which its connection
/// writes with one copy.
pub fn hand_out_published(
    published: &Published,
    batches: &mut BTreeMap<ConnectionId, RespBatch>,
    scratch: &mut BytesMut,
) {
    let Published {
        channel,
        message,
        receivers,
    } = published;
    scratch.clear();
    let mut by_channel: Option<Range<usize>> = None;
    let mut by_pattern: Vec<(&Bytes, Range<usize>)> = Vec::new();
    for (conn, pattern) in receivers {
        let known = match pattern {
            None => by_channel.clone(),
            Some(pattern) => by_pattern
                .iter()
                .find(|(known, _)| *known == pattern)
                .map(|(_, range)| range.clone()),
        };
        let range = known.unwrap_or_else(|| {
            let at = scratch.len();
            reply::encode_delivery(pattern.as_deref(), channel, message, scratch);
            let range = at..scratch.len();
            match pattern {
                None => by_channel = Some(range.clone()),
                Some(pattern) => by_pattern.push((pattern, range.clone())),
            }
            range
        });
        let charged = charge(pattern.as_ref(), channel, message);
        deliveries_run(batches.entry(*conn).or_default()).push(&scratch[range], charged);
    }
}

/// The run of deliveries at the end of `batch`, a new one after anything else.
fn deliveries_run(batch: &mut RespBatch) -> &mut Deliveries {
    if !matches!(batch.last(), Some(RespItem::Deliveries(_))) {
        batch.push(RespItem::Deliveries(Deliveries::default()));
    }
    match batch.last_mut() {
        Some(RespItem::Deliveries(run)) => run,
        _ => unreachable!("a run of deliveries was just made the last item"),
    }
}

/// What a RESP connection needs from the server.
#[derive(Clone, Debug)]
pub struct Context {
    /// The broker task's inbox.
    pub to_broker: mpsc::Sender<ToBroker>,
    /// Turns true when the server shuts down.
    pub shutdown: watch::Receiver<bool>,
    /// Who may log in.
    pub users: Arc<Users>,
    /// A client on loopback is logged in from the start, as Redis's
    /// passwordless `default` user.
    pub anonymous_loopback: bool,
    /// Encoded replies held for the socket before answers wait.
    pub outgoing_buffer_max_bytes: usize,
    /// A socket that takes nothing for this long is closed.
    pub send_timeout: Duration,
}

/// Accepts RESP connections until the server shuts down, then waits up
/// to `grace` for them to end.
pub async fn accept_loop(listener: TcpListener, context: Context, grace: Duration) {
    let shutdown = context.shutdown.clone();
    let serve = move |conn, stream, peer| serve(conn, stream, peer, context.clone());
    crate::listener::accept_loop(
        "RESP",
        listener,
        shutdown,
        RESP_CONNECTIONS_FIRST,
        grace,
        serve,
    )
    .await;
}

/// What the connection waits for before its next reply, in order.
#[derive(Debug)]
enum Pending {
    /// This many more answers of a core command; `subscribes` when they
    /// may change the subscriptions.
    Answers { left: usize, subscribes: bool },
    /// Answers until the echo (an unsubscribe from all).
    Echo,
    /// The echo after RESET's core command: then `+RESET`.
    ResetEcho,
    /// A reply of the connection's own, after the answers before it.
    Local(Step),
    /// Close once what is before it is written (after a protocol error).
    Close,
}

impl Pending {
    /// It may change how later requests are judged.
    fn unsettles(&self) -> bool {
        match self {
            Pending::Answers { subscribes, .. } => *subscribes,
            Pending::Echo | Pending::ResetEcho | Pending::Close => true,
            Pending::Local(step) => !matches!(step, Step::Reply(_)),
        }
    }
}

/// An open RESP connection.
struct Connection {
    conn: ConnectionId,
    peer: SocketAddr,
    read_half: ReadHalf<TcpStream>,
    write_half: WriteHalf<TcpStream>,
    buffer: BytesMut,
    out: Outgoing,
    context: Context,
    state: State,
    pending: VecDeque<Pending>,
    /// Commands for the core not yet sent: a read's requests go to the
    /// broker task as one message.
    inputs: Vec<Input>,
    /// Delivery bytes written into `out` and not yet reported to the core.
    unreported_bytes: u64,
    /// Close once `out` is written (QUIT, a protocol error).
    closing: bool,
}

/// Serves one accepted socket until the client leaves, breaks the
/// protocol, is disconnected as a slow subscriber, or the server shuts
/// down; then the core is told the connection is gone.
async fn serve(conn: ConnectionId, stream: TcpStream, peer: SocketAddr, context: Context) {
    let _ = stream.set_nodelay(true);
    let (outbox_tx, outbox) = mpsc::channel(OUTBOX_BATCHES_MAX);
    let connect = ToBroker::RespConnect {
        conn,
        outbox: outbox_tx,
        peer,
    };
    if context.to_broker.send(connect).await.is_err() {
        return;
    }
    tracing::debug!(conn = conn.0, %peer, "RESP connection open");
    let anonymous = context.anonymous_loopback && peer.ip().to_canonical().is_loopback();
    let (read_half, write_half) = tokio::io::split(stream);
    let mut connection = Connection {
        conn,
        peer,
        read_half,
        write_half,
        buffer: BytesMut::new(),
        out: Outgoing::new(context.outgoing_buffer_max_bytes),
        state: State {
            protocol: 2,
            subscriptions: 0,
            authenticated: anonymous,
            anonymous,
            name: None,
            id: conn.0 - RESP_CONNECTIONS_FIRST + 1,
        },
        context,
        pending: VecDeque::new(),
        inputs: Vec::new(),
        unreported_bytes: 0,
        closing: false,
    };
    if let Err(error) = connection.main_loop(outbox).await {
        tracing::debug!(conn = conn.0, peer = %connection.peer, %error, "closing RESP connection");
    }
    let disconnect = ToBroker::Input(Input::Disconnect { conn });
    let _ = connection.context.to_broker.send(disconnect).await;
    let _ = connection.write_half.shutdown().await;
}

fn invalid(text: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, text.to_owned())
}

impl Connection {
    async fn main_loop(&mut self, mut outbox: mpsc::Receiver<RespBatch>) -> io::Result<()> {
        let mut shutdown = self.context.shutdown.clone();
        let mut timer = Deadline::default();
        loop {
            self.take_requests().await?;
            if self.closing && self.out.is_empty() {
                return Ok(());
            }
            if self.out.is_empty() && self.unreported_bytes > 0 {
                let bytes = std::mem::take(&mut self.unreported_bytes);
                self.queue_for_core(PubSubCommand::Written { bytes });
                self.send_inputs().await?;
            }
            // A request is judged once what it depends on has settled;
            // until then the socket is not read, so the client waits.
            let unsettled = self.pending.iter().any(Pending::unsettles);
            let can_read = !self.closing && !unsettled && !self.out.is_full();
            let stall = self.out.stall_deadline(self.context.send_timeout);
            tokio::select! {
                read = read_some(&mut self.read_half, &mut self.buffer), if can_read => {
                    if read? == 0 {
                        return Ok(());
                    }
                    if self.buffer.len() > QUERY_BUFFER_MAX_BYTES {
                        return Err(invalid("query buffer past its limit"));
                    }
                }
                written = self.out.write_some(&mut self.write_half), if !self.out.is_empty() => {
                    self.out.wrote(written?);
                }
                batch = outbox.recv(), if !self.out.is_full() => self.take_batches(batch, &mut outbox).await?,
                () = timer.reached(stall) => return Err(invalid("send timeout")),
                _ = shutdown.changed() => return Ok(()),
            }
        }
    }

    /// Judges and runs the requests in the buffer, in order, until what
    /// is pending may change how the next one is judged; their commands
    /// go to the core together.
    async fn take_requests(&mut self) -> io::Result<()> {
        let taken = self.judge_requests().await;
        self.send_inputs().await?;
        taken
    }

    async fn judge_requests(&mut self) -> io::Result<()> {
        while !self.closing && !self.out.is_full() {
            if self.pending.iter().any(Pending::unsettles) {
                return Ok(());
            }
            let arguments = match request::next_request(&mut self.buffer, self.state.authenticated)
            {
                Parsed::Incomplete => return Ok(()),
                Parsed::Empty => continue,
                Parsed::Request(arguments) => arguments,
                Parsed::Error(text) => return self.protocol_error(text.to_owned()),
                Parsed::ErrorText(text) => return self.protocol_error(text),
            };
            match commands::judge(arguments, &self.state) {
                Step::Core {
                    command,
                    answers,
                    subscribes,
                } => self.send_core(command, answers, subscribes).await?,
                // The core drops the subscriptions now; `+RESET` goes
                // once the answers before it are out.
                Step::Reset => {
                    self.queue_for_core(PubSubCommand::Reset);
                    self.echo().await?;
                    self.pending.push_back(Pending::ResetEcho);
                }
                step if self.pending.is_empty() => self.run_local(step),
                step => self.pending.push_back(Pending::Local(step)),
            }
        }
        Ok(())
    }

    /// A request Redis would refuse as a protocol error: the error, then close.
    fn protocol_error(&mut self, text: String) -> io::Result<()> {
        self.pending
            .push_back(Pending::Local(Step::Reply(Frame::err(text))));
        self.pending.push_back(Pending::Close);
        self.settle();
        Ok(())
    }

    async fn send_core(
        &mut self,
        command: PubSubCommand,
        answers: Answers,
        subscribes: bool,
    ) -> io::Result<()> {
        self.queue_for_core(command);
        if self.inputs.len() >= INPUTS_PER_MESSAGE_MAX {
            self.send_inputs().await?;
        }
        match answers {
            Answers::Count(0) => {}
            Answers::Count(left) => self
                .pending
                .push_back(Pending::Answers { left, subscribes }),
            Answers::UntilEcho => {
                self.echo().await?;
                self.pending.push_back(Pending::Echo);
            }
        }
        Ok(())
    }

    /// Queues a command for the core ([`Connection::send_inputs`] sends it).
    fn queue_for_core(&mut self, command: PubSubCommand) {
        self.inputs.push(Input::PubSub {
            conn: self.conn,
            command: Box::new(command),
        });
    }

    /// Sends the queued commands to the broker task, as one message. The
    /// future holds no `&Connection`: under madsim the socket is not
    /// `Sync`, so it would not be `Send`.
    fn send_inputs(&mut self) -> impl Future<Output = io::Result<()>> + 'static {
        let inputs = std::mem::take(&mut self.inputs);
        let to_broker = self.context.to_broker.clone();
        async move {
            if inputs.is_empty() {
                return Ok(());
            }
            send(to_broker, ToBroker::Inputs(inputs)).await
        }
    }

    /// Asks the broker task for an echo after the answers so far: the
    /// queued commands go first.
    async fn echo(&mut self) -> io::Result<()> {
        self.send_inputs().await?;
        let echo = ToBroker::RespEcho { conn: self.conn };
        send(self.context.to_broker.clone(), echo).await
    }

    /// Runs a step of the connection's own and writes its reply.
    fn run_local(&mut self, step: Step) {
        let frame = match step {
            Step::Reply(frame) => frame,
            Step::Hello {
                protocol,
                login,
                name,
            } => match self.hello(protocol, login, name) {
                Ok(frame) | Err(frame) => frame,
            },
            Step::Auth(login) => match self.log_in(&login) {
                Ok(()) => Frame::Simple("OK"),
                Err(refusal) => refusal,
            },
            Step::SetName(name) => {
                self.state.name = (!name.is_empty()).then_some(name);
                Frame::Simple("OK")
            }
            Step::Quit => {
                self.closing = true;
                Frame::Simple("OK")
            }
            // Run as a core command with an echo (`take_requests`).
            Step::Reset | Step::Core { .. } => return,
        };
        self.write(frame);
    }

    fn hello(
        &mut self,
        protocol: Option<u8>,
        login: Option<Login>,
        name: Option<Bytes>,
    ) -> Result<Frame, Frame> {
        if let Some(login) = login {
            self.log_in(&login)?;
        }
        if !self.state.authenticated {
            return Err(Frame::Error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time".to_owned()));
        }
        if let Some(name) = name {
            self.state.name = (!name.is_empty()).then_some(name);
        }
        if let Some(protocol) = protocol {
            self.state.protocol = protocol;
        }
        Ok(Frame::Map(vec![
            (Frame::text("server"), Frame::text("redis")),
            (Frame::text("version"), Frame::text(REDIS_VERSION)),
            (
                Frame::text("proto"),
                Frame::Integer(self.state.protocol.into()),
            ),
            (Frame::text("id"), Frame::count(self.state.id)),
            (Frame::text("mode"), Frame::text("standalone")),
            (Frame::text("role"), Frame::text("master")),
            (Frame::text("modules"), Frame::Array(Vec::new())),
        ]))
    }

    /// Checks a login against the users; `default` is the anonymous user
    /// where anonymous access is allowed (Redis's passwordless default).
    fn log_in(&mut self, login: &Login) -> Result<(), Frame> {
        let anonymous = login.user == "default" && self.state.anonymous;
        let known = (self.context.users)
            .authenticate(&login.user, &login.password, self.peer)
            .is_ok();
        if anonymous || known {
            self.state.authenticated = true;
            Ok(())
        } else {
            let text = "WRONGPASS invalid username-password pair or user is disabled.";
            Err(Frame::Error(text.to_owned()))
        }
    }

    /// Takes `first` and every batch already waiting behind it, judging
    /// the requests each lets through as the main loop would: what the
    /// broker task handed out since the last write leaves in one write.
    async fn take_batches(
        &mut self,
        first: Option<RespBatch>,
        outbox: &mut mpsc::Receiver<RespBatch>,
    ) -> io::Result<()> {
        let mut batch = first;
        loop {
            let Some(taken) = batch else {
                return Err(invalid(
                    "released by the broker (fell behind) or broker stopped",
                ));
            };
            self.on_batch(taken)?;
            if self.out.is_full() {
                return Ok(());
            }
            self.take_requests().await?;
            batch = match outbox.try_recv() {
                Ok(next) => Some(next),
                Err(mpsc::error::TryRecvError::Empty) => return Ok(()),
                Err(mpsc::error::TryRecvError::Disconnected) => None,
            };
        }
    }

    /// Takes the broker task's answers and deliveries, in order.
    fn on_batch(&mut self, batch: RespBatch) -> io::Result<()> {
        for item in batch {
            match item {
                RespItem::PubSub(reply) => self.on_reply(reply)?,
                RespItem::Deliveries(run) => {
                    self.unreported_bytes += run.charged;
                    run.write(self.state.protocol, self.out.frames());
                }
                RespItem::Echo => match self.pending.pop_front() {
                    Some(Pending::Echo) => {}
                    Some(Pending::ResetEcho) => self.reset(),
                    other => {
                        tracing::error!(conn = self.conn.0, ?other, "echo out of order");
                        return Err(invalid("echo out of order"));
                    }
                },
            }
            self.settle();
        }
        Ok(())
    }

    fn on_reply(&mut self, reply: PubSubReply) -> io::Result<()> {
        if let PubSubReply::Disconnect(reason) = reply {
            tracing::info!(conn = self.conn.0, ?reason, "slow subscriber disconnected");
            return Err(invalid("slow subscriber: past the output-buffer limit"));
        }
        match self.pending.front_mut() {
            Some(Pending::Answers { left, .. }) if *left > 0 => *left -= 1,
            Some(Pending::Echo) => {}
            other => {
                tracing::error!(
                    conn = self.conn.0,
                    ?other,
                    "answer with nothing waiting for it"
                );
                return Err(invalid("answer out of order"));
            }
        }
        if let PubSubReply::Subscribed { count, .. } | PubSubReply::Unsubscribed { count, .. } =
            reply
        {
            self.state.subscriptions = count;
        }
        let frame = self.frame_of(reply);
        self.write(frame);
        Ok(())
    }

    /// Pops what is done at the front of `pending`, running the local
    /// replies that were waiting for it.
    fn settle(&mut self) {
        loop {
            match self.pending.front() {
                Some(Pending::Answers { left: 0, .. }) => {
                    self.pending.pop_front();
                }
                Some(Pending::Local(_)) => {
                    if let Some(Pending::Local(step)) = self.pending.pop_front() {
                        self.run_local(step);
                    }
                }
                Some(Pending::Close) => {
                    self.pending.pop_front();
                    self.closing = true;
                }
                _ => return,
            }
        }
    }

    /// RESET's end: Redis's state of a new connection, and `+RESET`.
    fn reset(&mut self) {
        self.state.protocol = 2;
        self.state.subscriptions = 0;
        self.state.name = None;
        self.state.authenticated = self.state.anonymous;
        self.write(Frame::Simple("RESET"));
    }

    fn write(&mut self, frame: Frame) {
        reply::encode(frame, self.state.protocol, self.out.frames());
    }

    /// A core answer or delivery as Redis sends it.
    fn frame_of(&self, reply: PubSubReply) -> Frame {
        let kind_name = |kind, subscribe: bool| match (kind, subscribe) {
            (SubscriptionKind::Channel, true) => Frame::text("subscribe"),
            (SubscriptionKind::Pattern, true) => Frame::text("psubscribe"),
            (SubscriptionKind::Channel, false) => Frame::text("unsubscribe"),
            (SubscriptionKind::Pattern, false) => Frame::text("punsubscribe"),
        };
        match reply {
            PubSubReply::Subscribed { kind, name, count } => Frame::Push(vec![
                kind_name(kind, true),
                Frame::Bulk(name),
                Frame::count(count as u64),
            ]),
            PubSubReply::Unsubscribed { kind, name, count } => Frame::Push(vec![
                kind_name(kind, false),
                name.map_or(Frame::Null, Frame::Bulk),
                Frame::count(count as u64),
            ]),
            PubSubReply::Published { receivers } => Frame::count(receivers),
            PubSubReply::Channels(channels) => {
                Frame::Array(channels.into_iter().map(Frame::Bulk).collect())
            }
            PubSubReply::NumSub(counts) => Frame::Array(
                counts
                    .into_iter()
                    .flat_map(|(channel, count)| [Frame::Bulk(channel), Frame::count(count)])
                    .collect(),
            ),
            PubSubReply::NumPat(count) => Frame::count(count),
            PubSubReply::Error(error) => Frame::Error(error.to_string()),
            // Deliveries come encoded (`RespItem::Delivery`), a disconnect
            // closes the connection (`on_reply`).
            PubSubReply::Message { .. } | PubSubReply::Disconnect(_) => Frame::Null,
        }
    }
}

/// What the `resp_requests` fuzz target drives: the requests a connection
/// would cut from `data`, judged as the connection judges them in RESP
/// `protocol` (2 or 3), logged in or not, subscribed or not, with each
/// immediate reply encoded, until a protocol error would close the
/// connection or the bytes run out. Returns how many requests were judged.
#[must_use]
pub fn judge_requests(data: &[u8], protocol: u8, authenticated: bool, subscribed: bool) -> usize {
    let state = State {
        protocol,
        subscriptions: usize::from(subscribed),
        authenticated,
        anonymous: authenticated,
        name: None,
        id: 1,
    };
    let mut buffer = BytesMut::from(data);
    let mut out = Vec::new();
    let mut judged = 0;
    while buffer.len() <= QUERY_BUFFER_MAX_BYTES {
        match request::next_request(&mut buffer, state.authenticated) {
            Parsed::Incomplete | Parsed::Error(_) | Parsed::ErrorText(_) => break,
            Parsed::Empty => {}
            Parsed::Request(arguments) => {
                assert!(!arguments.is_empty(), "a request names its command");
                judged += 1;
                if let Step::Reply(frame) = commands::judge(arguments, &state) {
                    reply::encode(frame, state.protocol, &mut out);
                }
            }
        }
    }
    judged
}

/// Sends to the broker task. A free function: a future holding `&Connection`
/// would not be `Send` under madsim, whose socket is not `Sync`.
async fn send(to_broker: mpsc::Sender<ToBroker>, message: ToBroker) -> io::Result<()> {
    to_broker
        .send(message)
        .await
        .map_err(|_| invalid("broker stopped"))
}

/// Reads what the socket has, at most one chunk; 0 means the peer closed it.
/// Requests are cut from the buffer uncopied, so the buffer reads on into
/// the rest of its allocation and takes a new chunk only when under
/// [`READ_SPARE_MIN_BYTES`] is left: a chunk is held until the requests cut
/// from it are done with, not one per read.
async fn read_some(stream: &mut ReadHalf<TcpStream>, buffer: &mut BytesMut) -> io::Result<usize> {
    if buffer.is_empty() && buffer.capacity() > READ_CHUNK_BYTES {
        *buffer = BytesMut::new();
    }
    if buffer.capacity() - buffer.len() < READ_SPARE_MIN_BYTES {
        buffer.reserve(READ_CHUNK_BYTES);
    }
    stream.read_buf(buffer).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a batch writes in RESP `protocol`, and what it charged.
    fn written(batch: &RespBatch, protocol: u8) -> (Vec<u8>, u64) {
        let (mut out, mut charged) = (Vec::new(), 0);
        for item in batch {
            match item {
                RespItem::Deliveries(run) => {
                    run.write(protocol, &mut out);
                    charged += run.charged;
                }
                other => panic!("only deliveries were handed out: {other:?}"),
            }
        }
        (out, charged)
    }

    #[test]
    fn a_publishs_deliveries_reach_each_receiver_in_one_run_as_redis_writes_them() {
        let (channel, pattern) = (Bytes::from_static(b"news"), Bytes::from_static(b"n*"));
        let message = Bytes::from_static(b"first");
        let published = Published {
            channel: channel.clone(),
            message: message.clone(),
            receivers: vec![
                (ConnectionId(1), None),
                (ConnectionId(1), Some(pattern.clone())),
                (ConnectionId(2), None),
                (ConnectionId(3), Some(pattern.clone())),
            ],
        };
        let mut batches = BTreeMap::new();
        let mut scratch = BytesMut::new();
        hand_out_published(&published, &mut batches, &mut scratch);
        hand_out_published(&published, &mut batches, &mut scratch);
        let message = b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nfirst\r\n".as_slice();
        let pmessage =
            b"*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$5\r\nfirst\r\n".as_slice();
        let charge_of = |reply: &PubSubReply| brokerlab_core::pubsub::delivery_bytes(reply);
        let replies: Vec<(ConnectionId, PubSubReply)> = published.replies().collect();
        let (by_channel, by_pattern) = (charge_of(&replies[0].1), charge_of(&replies[1].1));
        // Two publishes: each connection's deliveries in order, one run
        // each; in RESP3 each a push.
        let push = |delivery: &[u8]| [b">".as_slice(), &delivery[1..]].concat();
        let expected = [
            (1, vec![message, pmessage, message, pmessage]),
            (2, vec![message, message]),
            (3, vec![pmessage, pmessage]),
        ];
        for (conn, deliveries) in expected {
            let charged = deliveries
                .iter()
                .map(|delivery| {
                    if *delivery == message {
                        by_channel
                    } else {
                        by_pattern
                    }
                })
                .sum();
            let resp3: Vec<Vec<u8>> = deliveries.iter().map(|delivery| push(delivery)).collect();
            let batch = &batches[&ConnectionId(conn)];
            assert_eq!(batch.len(), 1, "one run of deliveries");
            assert_eq!(written(batch, 2), (deliveries.concat(), charged));
            assert_eq!(written(batch, 3), (resp3.concat(), charged));
        }
        // A delivery handed out on its own (the store-and-forward mutant's)
        // is encoded the same; any other answer passes as it is, and the
        // deliveries after it start a new run.
        let mut batch = RespBatch::new();
        hand_out(replies[0].1.clone(), &mut batch);
        hand_out(PubSubReply::Published { receivers: 2 }, &mut batch);
        hand_out(replies[0].1.clone(), &mut batch);
        assert!(matches!(
            batch[1],
            RespItem::PubSub(PubSubReply::Published { receivers: 2 })
        ));
        for run in [&batch[0], &batch[2]] {
            let RespItem::Deliveries(run) = run else {
                panic!("a delivery is handed out encoded: {run:?}");
            };
            let mut out = Vec::new();
            run.write(2, &mut out);
            assert_eq!((out.as_slice(), run.charged), (message, by_channel));
        }
    }
}
