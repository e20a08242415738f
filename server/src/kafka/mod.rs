//! The Kafka listener: Kafka's wire protocol on the same broker task, core
//! and log as the AMQP listener.
//!
//! A Kafka connection is a core connection that sends `Input::Stream`
//! commands (no `Input::Connect`: a Kafka client opens no vhost) and gets
//! `Output::Stream` answers back through the broker task, as an AMQP
//! connection gets its replies. Requests are decoded and responses encoded
//! by the `kafka-protocol` crate; `apis` maps them onto the core's
//! `StreamCommand`s and `GroupRequest`s and back. Every broker rule is the
//! core's.
//!
//! Kafka answers the requests of a connection in the order they came, even
//! when the core answers some later than others (a long-polling Fetch, a
//! Produce with acks=-1 waiting for the sync, a JoinGroup waiting for the
//! rebalance): each request takes a slot in an ordered queue, the core's
//! answers fill the slots, and responses leave from the front of the
//! queue only. A connection holds at most [`INFLIGHT_MAX`] requests;
//! past it, it stops reading until the oldest are answered.
//!
//! A frame that is not a request Kafka would parse (shorter than a
//! request header, larger than [`REQUEST_MAX_BYTES`], an unknown API key,
//! a version outside those served, a body that does not decode) closes the
//! connection, as Kafka closes it; an ApiVersions request of a newer
//! version than served is answered in the v0 format with
//! UNSUPPORTED_VERSION, as Kafka answers it.
//!
//! SASL/PLAIN authenticates a client with the AMQP listener's users
//! (`sasl`); a client on loopback may skip it unless the server says so.

mod apis;
mod compression;
mod configs;
mod sasl;

use crate::broker_task::{KafkaBatch, KafkaReply, ToBroker};
use crate::connection::outgoing::Outgoing;
use crate::deadline::Deadline;
use crate::users::Users;
pub use apis::SERVED;
use apis::{Answer, Dispatch};
use brokerlab_core::{ConnectionId, Input};
use bytes::{Buf, Bytes, BytesMut};
use sasl::{Sasl, Screened};
use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

/// Kafka's `socket.request.max.bytes` default: a request frame larger than
/// this closes the connection.
pub const REQUEST_MAX_BYTES: usize = 100 * 1024 * 1024;

/// Requests a connection holds unanswered before it stops reading (Kafka
/// itself reads one request at a time per connection; clients pipeline
/// five by default).
pub const INFLIGHT_MAX: usize = 64;

/// Kafka's `num.partitions` default: the partitions of an auto-created topic.
pub const DEFAULT_PARTITIONS: u32 = 1;

/// Answer batches waiting for a connection; the broker task releases a
/// connection that falls this far behind.
const OUTBOX_BATCHES_MAX: usize = 1024;

/// Bytes asked of the socket per read.
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// Kafka connections are numbered from here, apart from AMQP's.
const KAFKA_CONNECTIONS_FIRST: u64 = 1 << 62;

/// What a Kafka connection needs from the server.
#[derive(Clone, Debug)]
pub struct Context {
    /// The broker task's inbox.
    pub to_broker: mpsc::Sender<ToBroker>,
    /// Turns true when the server shuts down.
    pub shutdown: watch::Receiver<bool>,
    /// Partitions of a topic a Metadata request creates; `None` when
    /// auto-creation is off.
    pub auto_create_partitions: Option<u32>,
    /// Partitions of a topic CreateTopics creates with `num_partitions` -1.
    pub default_partitions: u32,
    /// Encoded responses held for the socket before answers wait.
    pub outgoing_buffer_max_bytes: usize,
    /// A socket that takes nothing for this long is closed.
    pub send_timeout: Duration,
    /// Who may authenticate with SASL/PLAIN: the AMQP listener's users.
    pub users: Arc<Users>,
    /// A client on loopback is served without SASL (anonymously).
    pub anonymous_loopback: bool,
}

/// Accepts Kafka connections until the server shuts down, then waits up
/// to `grace` for them to end.
pub async fn accept_loop(listener: TcpListener, context: Context, grace: Duration) {
    let shutdown = context.shutdown.clone();
    let serve = move |conn, stream, peer| serve(conn, stream, peer, context.clone());
    crate::listener::accept_loop(
        "Kafka",
        listener,
        shutdown,
        KAFKA_CONNECTIONS_FIRST,
        grace,
        serve,
    )
    .await;
}

/// One request's place in the connection's answer order.
struct Slot {
    correlation_id: i32,
    /// Answers still to come from the broker task.
    pending: usize,
    answer: Answer,
}

/// An open Kafka connection.
struct Connection {
    conn: ConnectionId,
    peer: SocketAddr,
    read_half: ReadHalf<TcpStream>,
    write_half: WriteHalf<TcpStream>,
    buffer: BytesMut,
    out: Outgoing,
    context: Context,
    /// This broker's address as the client reached it, for Metadata and FindCoordinator.
    advertised: SocketAddr,
    /// The requests not yet answered, oldest first; `first_seq` numbers the front one.
    slots: VecDeque<Slot>,
    first_seq: u64,
    /// The core's request numbers still to be answered: their slot and part.
    waiting: BTreeMap<u64, (u64, usize)>,
    next_request: u64,
    /// Where the connection stands with SASL.
    sasl: Sasl,
    /// A SASL refusal was answered: the connection reads no more, and ends
    /// once its answers are written.
    closing: bool,
}

/// Serves one accepted socket until the client leaves, breaks the
/// protocol, or the server shuts down; then the core is told the
/// connection is gone, which drops what it waits for.
async fn serve(conn: ConnectionId, stream: TcpStream, peer: SocketAddr, context: Context) {
    let _ = stream.set_nodelay(true);
    let advertised = stream.local_addr().unwrap_or(peer);
    let (outbox_tx, outbox) = mpsc::channel(OUTBOX_BATCHES_MAX);
    let connect = ToBroker::KafkaConnect {
        conn,
        outbox: outbox_tx,
        peer,
    };
    if context.to_broker.send(connect).await.is_err() {
        return;
    }
    tracing::debug!(conn = conn.0, %peer, "Kafka connection open");
    let (read_half, write_half) = tokio::io::split(stream);
    let sasl = Sasl::new(&context, peer);
    let mut connection = Connection {
        conn,
        peer,
        read_half,
        write_half,
        buffer: BytesMut::new(),
        out: Outgoing::new(context.outgoing_buffer_max_bytes),
        context,
        advertised,
        slots: VecDeque::new(),
        first_seq: 0,
        waiting: BTreeMap::new(),
        next_request: 0,
        sasl,
        closing: false,
    };
    if let Err(error) = connection.main_loop(outbox).await {
        tracing::debug!(conn = conn.0, peer = %connection.peer, %error, "closing Kafka connection");
    }
    let disconnect = ToBroker::Input(Input::Disconnect { conn });
    let _ = connection.context.to_broker.send(disconnect).await;
    let _ = connection.write_half.shutdown().await;
}

fn invalid(text: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, text.to_owned())
}

impl Connection {
    async fn main_loop(&mut self, mut outbox: mpsc::Receiver<KafkaBatch>) -> io::Result<()> {
        let mut shutdown = self.context.shutdown.clone();
        let mut timer = Deadline::default();
        loop {
            while !self.closing && self.slots.len() < INFLIGHT_MAX {
                let Some(frame) = next_request(&mut self.buffer)? else {
                    break;
                };
                self.on_request(frame).await?;
            }
            self.move_answered();
            if self.closing && self.slots.is_empty() && self.out.is_empty() {
                return Err(invalid("SASL authentication refused"));
            }
            let can_read = !self.closing && self.slots.len() < INFLIGHT_MAX && !self.out.is_full();
            let stall = self.out.stall_deadline(self.context.send_timeout);
            tokio::select! {
                read = read_some(&mut self.read_half, &mut self.buffer), if can_read => {
                    if read? == 0 {
                        return Ok(());
                    }
                }
                written = self.out.write_some(&mut self.write_half), if !self.out.is_empty() => {
                    self.out.wrote(written?);
                }
                batch = outbox.recv(), if !self.out.is_full() => match batch {
                    Some(batch) => self.on_answers(batch)?,
                    None => return Err(invalid("released by the broker (fell behind) or broker stopped")),
                },
                () = timer.reached(stall) => return Err(invalid("send timeout")),
                _ = shutdown.changed() => return Ok(()),
            }
        }
    }

    /// Decodes one request and sends what it asks of the core; its answer
    /// takes the next slot.
    async fn on_request(&mut self, frame: Bytes) -> io::Result<()> {
        let dispatch = match self.sasl.screen(&frame, &self.context, self.peer)? {
            Screened::Pass => apis::dispatch(frame, &self.context, self.advertised)?,
            Screened::Answered { dispatch, close } => {
                self.closing = close;
                dispatch
            }
        };
        let Dispatch {
            correlation_id,
            answer,
            commands,
        } = dispatch;
        let seq = self.first_seq + self.slots.len() as u64;
        let mut pending = 0;
        for (part, command) in commands.into_iter().enumerate() {
            let request = self.next_request;
            self.next_request += 1;
            if command.answered {
                self.waiting.insert(request, (seq, part));
                pending += 1;
            }
            let input = Input::Stream {
                conn: self.conn,
                request,
                command: Box::new(command.command),
            };
            send(self.context.to_broker.clone(), ToBroker::Input(input)).await?;
        }
        let mut slot = Slot {
            correlation_id,
            pending,
            answer,
        };
        if pending == 0 {
            slot.answer.finish(correlation_id)?;
        }
        self.slots.push_back(slot);
        Ok(())
    }

    /// Fills the slots the broker task's answers belong to.
    fn on_answers(&mut self, batch: KafkaBatch) -> io::Result<()> {
        for reply in batch {
            let request = match &reply {
                KafkaReply::Stream { request, .. } => *request,
            };
            let Some((seq, part)) = self.waiting.remove(&request) else {
                continue;
            };
            let Some(slot) = seq
                .checked_sub(self.first_seq)
                .and_then(|index| usize::try_from(index).ok())
                .and_then(|index| self.slots.get_mut(index))
            else {
                continue;
            };
            slot.answer.fill(part, reply);
            slot.pending -= 1;
            if slot.pending == 0 {
                slot.answer.finish(slot.correlation_id)?;
            }
        }
        Ok(())
    }

    /// Moves the answered requests at the front of the queue to the socket's buffer.
    fn move_answered(&mut self) {
        while let Some(front) = self.slots.front_mut() {
            let Some(encoded) = front.answer.take_encoded() else {
                break;
            };
            if let Some(bytes) = encoded {
                self.out.frames().extend_from_slice(&bytes);
            }
            self.slots.pop_front();
            self.first_seq += 1;
        }
    }
}

/// The next complete request frame in `buffer`, without its size.
fn next_request(buffer: &mut BytesMut) -> io::Result<Option<Bytes>> {
    if buffer.len() < 4 {
        return Ok(None);
    }
    let size = i32::from_be_bytes([buffer[0], buffer[1], buffer[2], buffer[3]]);
    let size = usize::try_from(size).map_err(|_| invalid("negative request size"))?;
    if size > REQUEST_MAX_BYTES {
        return Err(invalid("request larger than socket.request.max.bytes"));
    }
    if buffer.len() < 4 + size {
        return Ok(None);
    }
    // A request is copied out, so that the read buffer stays the
    // connection's own and is reused: a slice of it would keep the whole
    // chunk alive as long as a record decoded from the request is
    // retained, and make every read allocate a fresh chunk.
    let frame = Bytes::copy_from_slice(&buffer[4..4 + size]);
    buffer.advance(4 + size);
    Ok(Some(frame))
}

/// What the `kafka_requests` fuzz target drives: the requests a connection
/// from `peer` would cut from `data`, each screened for SASL against `users`
/// and dispatched as the connection does (anonymous on loopback), until one
/// closes the connection. For each request dispatched, its correlation id
/// as the request gives it and as the dispatch answers it.
#[must_use]
pub fn dispatch_requests(data: &[u8], peer: SocketAddr, users: &Arc<Users>) -> Vec<(i32, i32)> {
    let context = Context {
        to_broker: mpsc::channel(1).0,
        shutdown: watch::channel(false).1,
        auto_create_partitions: Some(DEFAULT_PARTITIONS),
        default_partitions: DEFAULT_PARTITIONS,
        outgoing_buffer_max_bytes: 1 << 20,
        send_timeout: Duration::from_secs(1),
        users: Arc::clone(users),
        anonymous_loopback: true,
    };
    let advertised = SocketAddr::from(([127, 0, 0, 1], 9092));
    let mut sasl = Sasl::new(&context, peer);
    let mut buffer = BytesMut::from(data);
    let mut dispatched = Vec::new();
    while let Ok(Some(frame)) = next_request(&mut buffer) {
        let asked = frame
            .get(4..8)
            .map(|id| i32::from_be_bytes(id.try_into().expect("four bytes")));
        let (dispatch, close) = match sasl.screen(&frame, &context, peer) {
            Ok(Screened::Pass) => (apis::dispatch(frame, &context, advertised), false),
            Ok(Screened::Answered { dispatch, close }) => (Ok(dispatch), close),
            Err(_) => break,
        };
        let Ok(dispatch) = dispatch else {
            break;
        };
        let asked = asked.expect("a dispatched request has a correlation id");
        dispatched.push((asked, dispatch.correlation_id));
        if close {
            break;
        }
    }
    dispatched
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
async fn read_some(stream: &mut ReadHalf<TcpStream>, buffer: &mut BytesMut) -> io::Result<usize> {
    if buffer.is_empty() && buffer.capacity() > READ_CHUNK_BYTES {
        *buffer = BytesMut::new();
    }
    buffer.reserve(READ_CHUNK_BYTES);
    stream.read_buf(buffer).await
}
