//! The broker task: the one owner of the core's `Broker`.
//!
//! The core is single-threaded by design, so every connection sends its
//! inputs here over one bounded channel. The task feeds them to the core in
//! batches, drains the outputs after every input (the core's calling
//! protocol), hands replies to their connections in one batch per connection
//! and step, and sends the step's log records to the log thread. It also
//! wakes the core at its `poll_timeout`, feeds it the log's synced lsn and
//! the bytes of bodies the connections are still receiving, and passes the
//! core's `Output::Pause` to the connection it names (credit flow and the
//! memory alarm are the core's rules; a connection only stops reading).
//!
//! Time for the core is nanoseconds since the Unix epoch, so `x-death` times
//! and message timestamps are wall-clock times.
//!
//! The task never waits for a connection. One whose outbox is full (it
//! stopped taking replies because its client stopped reading) is released
//! at once: the core is told it disconnected, so what it held goes back to
//! its queues and on to other consumers, and its outbox is dropped, which
//! tells its task to close it. Its inputs still on their way are dropped
//! until its own `Disconnect` arrives.
//!
//! An SQS request (`ToBroker::Sqs`) waits on a oneshot channel of its own,
//! keyed by its connection and request number, until the core's
//! `Output::Sqs` for it (a long poll's later, a send's once synced); the
//! connection's `Disconnect` drops the waits left, as the core drops its
//! long polls.
//!
//! Between steps it answers the HTTP listeners (`inspect`): a copy of the
//! broker's listings and counters, or a management request's commands run
//! on a connection of the request's own, opened and closed in one step.

use crate::connection::AssemblingBytes;
use crate::inspect::{Manage, Refusal, Snapshot, MANAGEMENT_CONNECTIONS_FIRST};
use crate::log::LogHandle;
use brokerlab_core::record::Record;
use brokerlab_core::stream::StreamReply;
use brokerlab_core::{
    Broker, ChannelId, Command, ConnectionId, Input, Instant, Output, Reply, SqsCommand, SqsReply,
};
use std::collections::{BTreeMap, BTreeSet};
use std::mem;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot, watch};

/// Replies for one connection from one broker step, in order.
pub type ReplyBatch = Vec<(ChannelId, Reply)>;

/// A Kafka connection's answers from one broker step, in the order the
/// core gave them (not necessarily the order of the requests).
pub type KafkaBatch = Vec<KafkaReply>;

/// An answer for a Kafka connection.
#[derive(Debug)]
pub enum KafkaReply {
    /// The core's answer to the stream command sent as `request`.
    Stream {
        /// The front end's number for the request.
        request: u64,
        /// The answer.
        reply: StreamReply,
    },
}

/// A RESP connection's answers and deliveries from one broker step, in order.
pub type RespBatch = Vec<RespItem>;

/// What the broker task hands a RESP connection.
#[derive(Debug)]
pub enum RespItem {
    /// A Pub/Sub answer (deliveries come as `Deliveries`).
    PubSub(brokerlab_core::pubsub::PubSubReply),
    /// Deliveries in a row, encoded (`resp::hand_out_published`).
    Deliveries(crate::resp::Deliveries),
    /// The connection's echo (`ToBroker::RespEcho`): everything the core
    /// answered to its earlier commands came before it.
    Echo,
}

impl RespItem {
    /// Whether it is a delivery, which no request waits for.
    fn is_delivery(&self) -> bool {
        matches!(self, RespItem::Deliveries(_))
    }
}

/// A step's RESP batches in the order they are handed out: those that
/// answer requests first, then those of deliveries only, each group in
/// connection order. A client holds back its next requests until their
/// answers come, where a subscriber only reads; so a pipelining publisher
/// gets its answers before the socket writes of its deliveries. Redis
/// writes its clients in the same order: `putClientInPendingWriteQueue`
/// links a client at the head of the pending writes, and a publish adds
/// its receivers before its publisher.
fn answers_first(batches: BTreeMap<ConnectionId, RespBatch>) -> Vec<(ConnectionId, RespBatch)> {
    let mut batches: Vec<_> = batches.into_iter().collect();
    batches.sort_by_key(|(_, batch)| batch.iter().all(RespItem::is_delivery));
    batches
}

/// Inputs fed to the core before its outputs are handed out; bounds a step's
/// latency and the size of its batches.
const INPUTS_PER_STEP_MAX: usize = 256;

/// What connections send to the broker task.
#[derive(Debug)]
pub enum ToBroker {
    /// A client opened a vhost: register where its replies go, then `Input::Connect`.
    Connect {
        /// The connection.
        conn: ConnectionId,
        /// Authenticated user.
        user: String,
        /// Requested vhost.
        vhost: String,
        /// The highest channel number the client agreed to.
        channel_max: u16,
        /// Where the connection's replies go.
        outbox: mpsc::Sender<ReplyBatch>,
        /// Set while the core pauses the connection: its reads stop.
        pause: watch::Sender<bool>,
        /// The client's address, for the management API's listings.
        peer: SocketAddr,
    },
    /// A Kafka client connected: its stream replies go to `outbox`.
    KafkaConnect {
        /// The connection.
        conn: ConnectionId,
        /// Where the connection's answers go.
        outbox: mpsc::Sender<KafkaBatch>,
        /// The client's address.
        peer: SocketAddr,
    },
    /// A RESP client connected: its Pub/Sub answers go to `outbox`.
    RespConnect {
        /// The connection.
        conn: ConnectionId,
        /// Where the connection's answers go.
        outbox: mpsc::Sender<RespBatch>,
        /// The client's address.
        peer: SocketAddr,
    },
    /// Hand a RESP connection `RespItem::Echo` after its answers so far.
    RespEcho {
        /// The connection.
        conn: ConnectionId,
    },
    /// An SQS action: its answer goes to `answer`.
    #[cfg_attr(madsim, allow(dead_code))]
    Sqs {
        /// The request's connection (one per HTTP request).
        conn: ConnectionId,
        /// The request's number on its connection.
        request: u64,
        /// The action.
        command: Box<SqsCommand>,
        /// Where the core's answer goes.
        answer: oneshot::Sender<SqsReply>,
    },
    /// Any other input for the core.
    Input(Input),
    /// Inputs of one connection, in order (a RESP connection's requests
    /// from one read).
    Inputs(Vec<Input>),
    /// A copy of the broker's listings and counters, for the HTTP listeners
    /// (which madsim builds leave out).
    #[cfg_attr(madsim, allow(dead_code))]
    Inspect(oneshot::Sender<Snapshot>),
    /// Commands of the management API.
    #[cfg_attr(madsim, allow(dead_code))]
    Manage(Manage),
}

/// Why the broker task stopped other than by its inbox closing.
#[derive(Debug)]
pub enum BrokerStop {
    /// The log thread stopped: a store failure; nothing more may be confirmed.
    LogFailed,
}

/// The current time as the core sees it.
fn now() -> Instant {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    Instant(u64::try_from(since_epoch.as_nanos()).unwrap_or(u64::MAX))
}

/// The broker task's state.
struct BrokerTask {
    broker: Broker,
    /// Each open connection's pause switch.
    pauses: BTreeMap<ConnectionId, watch::Sender<bool>>,
    outboxes: BTreeMap<ConnectionId, mpsc::Sender<ReplyBatch>>,
    replies: BTreeMap<ConnectionId, ReplyBatch>,
    /// Each Kafka connection's outbox, and its answers from this step.
    kafka_outboxes: BTreeMap<ConnectionId, mpsc::Sender<KafkaBatch>>,
    kafka_replies: BTreeMap<ConnectionId, KafkaBatch>,
    /// Each RESP connection's outbox, and its answers from this step.
    resp_outboxes: BTreeMap<ConnectionId, mpsc::Sender<RespBatch>>,
    resp_replies: BTreeMap<ConnectionId, RespBatch>,
    /// Where a publish's deliveries are encoded before they are copied to
    /// their receivers' batches.
    resp_scratch: bytes::BytesMut,
    /// SQS requests waiting for the core's answer.
    sqs_waits: BTreeMap<(ConnectionId, u64), oneshot::Sender<SqsReply>>,
    /// Connections that disconnected in this step: their last replies go
    /// out with the step's, then their outboxes are dropped, which tells
    /// each connection task that nothing more will come.
    gone: Vec<ConnectionId>,
    records: Vec<Record>,
    /// Bytes of bodies the connections are still receiving.
    assembling_bytes: AssemblingBytes,
    /// The figure the core was last given (`Input::DriverHeld`).
    assembling_reported: u64,
    /// Connections released for falling behind whose own `Disconnect` has
    /// not arrived yet: their inputs are dropped.
    released: BTreeSet<ConnectionId>,
    /// Each open connection's peer address.
    peers: BTreeMap<ConnectionId, SocketAddr>,
    /// The management request's connection while its commands run, and
    /// the replies it got.
    managing: Option<(ConnectionId, Vec<Reply>)>,
    /// The id of the next management request's connection.
    next_management: u64,
}

/// Runs the broker until every sender of `inbox` is gone (a clean shutdown)
/// or the log fails.
pub async fn run(
    broker: Broker,
    mut inbox: mpsc::Receiver<ToBroker>,
    mut log: LogHandle,
    assembling_bytes: AssemblingBytes,
) -> Result<(), BrokerStop> {
    let mut task = BrokerTask {
        broker,
        pauses: BTreeMap::new(),
        outboxes: BTreeMap::new(),
        replies: BTreeMap::new(),
        kafka_outboxes: BTreeMap::new(),
        kafka_replies: BTreeMap::new(),
        resp_outboxes: BTreeMap::new(),
        resp_replies: BTreeMap::new(),
        resp_scratch: bytes::BytesMut::new(),
        sqs_waits: BTreeMap::new(),
        gone: Vec::new(),
        records: Vec::new(),
        assembling_bytes,
        assembling_reported: 0,
        released: BTreeSet::new(),
        peers: BTreeMap::new(),
        managing: None,
        next_management: MANAGEMENT_CONNECTIONS_FIRST,
    };
    loop {
        let wake = task.broker.poll_timeout().map(tokio_deadline);
        tokio::select! {
            message = inbox.recv() => {
                let Some(message) = message else { break };
                let mut inputs = task.take(message);
                while inputs < INPUTS_PER_STEP_MAX {
                    match inbox.try_recv() {
                        Ok(message) => inputs += task.take(message),
                        Err(_) => break,
                    }
                }
            }
            changed = log.synced.changed() => {
                if changed.is_err() {
                    return Err(BrokerStop::LogFailed);
                }
                let upto = *log.synced.borrow_and_update();
                task.handle(Input::Synced { upto });
            }
            () = sleep_until(wake), if wake.is_some() => task.handle(Input::Timeout),
        }
        task.report_assembling_bytes();
        task.flush(&log).await?;
    }
    // The last records go to the log before the sender is dropped, so the
    // log thread syncs them on its way out.
    task.flush(&log).await
}

/// The tokio instant at which the core's clock reads `at`.
fn tokio_deadline(at: Instant) -> tokio::time::Instant {
    let wait_ns = at.0.saturating_sub(now().0);
    tokio::time::Instant::now() + Duration::from_nanos(wait_ns)
}

async fn sleep_until(wake: Option<tokio::time::Instant>) {
    match wake {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl BrokerTask {
    /// Takes one message; returns how many inputs it carried.
    fn take(&mut self, message: ToBroker) -> usize {
        match message {
            ToBroker::Inputs(inputs) => {
                let count = inputs.len();
                // They came off one read together: one reading of the clock.
                let arrived = now();
                for input in inputs {
                    self.take_input(arrived, input);
                }
                return count;
            }
            ToBroker::Input(input) => self.take_input(now(), input),
            ToBroker::Connect {
                conn,
                user,
                vhost,
                channel_max,
                outbox,
                pause,
                peer,
            } => {
                self.outboxes.insert(conn, outbox);
                self.pauses.insert(conn, pause);
                self.peers.insert(conn, peer);
                self.handle(Input::Connect {
                    conn,
                    user,
                    vhost,
                    channel_max,
                });
            }
            ToBroker::KafkaConnect { conn, outbox, peer } => {
                self.kafka_outboxes.insert(conn, outbox);
                self.peers.insert(conn, peer);
            }
            ToBroker::RespConnect { conn, outbox, peer } => {
                self.resp_outboxes.insert(conn, outbox);
                self.peers.insert(conn, peer);
            }
            ToBroker::RespEcho { conn } => {
                if self.resp_outboxes.contains_key(&conn) {
                    self.resp_replies
                        .entry(conn)
                        .or_default()
                        .push(RespItem::Echo);
                }
            }
            ToBroker::Sqs {
                conn,
                request,
                command,
                answer,
            } => {
                self.sqs_waits.insert((conn, request), answer);
                self.handle(Input::Sqs {
                    conn,
                    request,
                    command,
                });
            }
            ToBroker::Inspect(answer) => {
                // The listener may have given up waiting; nothing to do then.
                let _ = answer.send(Snapshot::of(&self.broker, &self.peers));
            }
            ToBroker::Manage(request) => {
                let result = self.manage(request.user, request.vhost, request.commands);
                let _ = request.done.send(result);
            }
        }
        1
    }

    /// An input for the core from a connection, arrived at `at`.
    fn take_input(&mut self, at: Instant, input: Input) {
        if self.is_from_released(&input) {
            return;
        }
        let gone = match &input {
            Input::Disconnect { conn } => Some(*conn),
            _ => None,
        };
        self.handle_at(at, input);
        if let Some(conn) = gone {
            self.drop_sqs_waits(conn);
            self.gone.push(conn);
            self.pauses.remove(&conn);
            self.peers.remove(&conn);
        }
    }

    /// Runs a management request's commands on channel 1 of a connection
    /// of its own, as `user` on `vhost`, and closes it: every reply comes
    /// back within these inputs, so the connection never outlives the call.
    fn manage(
        &mut self,
        user: String,
        vhost: String,
        commands: Vec<Command>,
    ) -> Result<Vec<Reply>, Refusal> {
        let conn = ConnectionId(self.next_management);
        self.next_management += 1;
        self.managing = Some((conn, Vec::new()));
        let channel = ChannelId(1);
        let mut inputs = vec![Input::Connect {
            conn,
            user,
            vhost,
            channel_max: 1,
        }];
        inputs.push(Input::Command {
            conn,
            channel,
            command: Command::ChannelOpen,
        });
        inputs.extend(commands.into_iter().map(|command| Input::Command {
            conn,
            channel,
            command,
        }));
        let mut result = Ok(());
        for input in inputs {
            self.handle(input);
            let (_, replies) = self.managing.as_mut().expect("set above");
            if let Some(refusal) = replies.iter().find_map(refusal_of) {
                result = Err(refusal);
                break;
            }
        }
        self.handle(Input::Disconnect { conn });
        let (_, replies) = self.managing.take().expect("set above");
        result.map(|()| management_replies(replies))
    }

    /// Whether `input` comes from a connection already released for falling
    /// behind; its own `Disconnect`, the last, ends the connection's release.
    fn is_from_released(&mut self, input: &Input) -> bool {
        match input {
            Input::Disconnect { conn } => self.released.remove(conn),
            Input::Command { conn, .. }
            | Input::Refused { conn, .. }
            | Input::Stream { conn, .. }
            | Input::PubSub { conn, .. }
            | Input::Sqs { conn, .. } => self.released.contains(conn),
            Input::Connect { .. }
            | Input::Timeout
            | Input::Synced { .. }
            | Input::DriverHeld { .. } => false,
        }
    }

    /// Releases a connection that fell behind its replies: the core
    /// disconnects it now, so its unacknowledged deliveries are requeued.
    /// Dropping its outbox and its pause sender wakes its task,
    /// which closes the socket.
    fn release(&mut self, conn: ConnectionId) {
        tracing::warn!(
            conn = conn.0,
            "connection fell behind its replies; releasing what it held and closing it"
        );
        self.outboxes.remove(&conn);
        self.kafka_outboxes.remove(&conn);
        self.resp_outboxes.remove(&conn);
        self.pauses.remove(&conn);
        self.peers.remove(&conn);
        self.released.insert(conn);
        self.handle(Input::Disconnect { conn });
    }

    /// Feeds one input and drains every output, as the core's calling protocol asks.
    fn handle(&mut self, input: Input) {
        self.handle_at(now(), input);
    }

    /// [`BrokerTask::handle`] with the time the input arrived.
    fn handle_at(&mut self, at: Instant, input: Input) {
        self.broker.handle(at, input);
        while let Some(output) = self.broker.poll_output() {
            match output {
                Output::Reply {
                    conn,
                    channel,
                    reply,
                } => {
                    if let Some((managed, replies)) = &mut self.managing {
                        if *managed == conn {
                            replies.push(reply);
                            continue;
                        }
                    }
                    if self.outboxes.contains_key(&conn) {
                        self.replies.entry(conn).or_default().push((channel, reply));
                    }
                }
                Output::Persist(record) => self.records.push(*record),
                // Set before the step's replies go out: a connection that
                // reads the reply to its last command before a pause must
                // already see the pause.
                Output::Pause { conn, paused } => {
                    tracing::trace!(conn = conn.0, paused, "pause");
                    if let Some(pause) = self.pauses.get(&conn) {
                        pause.send_replace(paused);
                    }
                }
                // Kafka connections' answers; those of a connection gone
                // (or of auto-creation's) go nowhere.
                Output::Stream {
                    conn,
                    request,
                    reply,
                } => {
                    if self.kafka_outboxes.contains_key(&conn) {
                        let reply = KafkaReply::Stream {
                            request,
                            reply: *reply,
                        };
                        self.kafka_replies.entry(conn).or_default().push(reply);
                    }
                }
                // RESP connections' answers and deliveries; those of a
                // connection gone go nowhere.
                Output::PubSub { conn, reply } => {
                    if self.resp_outboxes.contains_key(&conn) {
                        crate::resp::hand_out(*reply, self.resp_replies.entry(conn).or_default());
                    }
                }
                // A publish's deliveries, encoded once for its receivers
                // (those of a connection gone are dropped at the flush).
                Output::PubSubPublished { published } => {
                    let (batches, scratch) = (&mut self.resp_replies, &mut self.resp_scratch);
                    crate::resp::hand_out_published(&published, batches, scratch);
                }
                // SQS answers go to their HTTP requests (server/src/sqs);
                // one whose request was dropped goes nowhere.
                Output::Sqs {
                    conn,
                    request,
                    reply,
                } => {
                    if let Some(answer) = self.sqs_waits.remove(&(conn, request)) {
                        let _ = answer.send(*reply);
                    }
                }
            }
        }
        self.broker
            .drain_events(|event| tracing::trace!(?event, "broker event"));
    }

    /// Drops the SQS requests of a connection gone.
    fn drop_sqs_waits(&mut self, conn: ConnectionId) {
        let waits: Vec<(ConnectionId, u64)> = self
            .sqs_waits
            .range((conn, 0)..=(conn, u64::MAX))
            .map(|(key, _)| *key)
            .collect();
        for key in waits {
            self.sqs_waits.remove(&key);
        }
    }

    /// Gives the core the bytes of bodies still being received, when the
    /// figure changed since the last step (the memory alarm weighs them).
    fn report_assembling_bytes(&mut self) {
        let bytes = self.assembling_bytes.load(Ordering::Relaxed);
        if bytes != self.assembling_reported {
            self.assembling_reported = bytes;
            self.handle(Input::DriverHeld { bytes });
        }
    }

    /// Hands out the step's replies and records. Releasing a connection
    /// that fell behind makes replies of its own (its requeued messages
    /// delivered to others), handed out in the same flush; each round
    /// releases a connection or ends it, so the rounds are bounded.
    async fn flush(&mut self, log: &LogHandle) -> Result<(), BrokerStop> {
        let rounds_max =
            self.outboxes.len() + self.kafka_outboxes.len() + self.resp_outboxes.len() + 1;
        let mut rounds = 0;
        while !self.replies.is_empty()
            || !self.kafka_replies.is_empty()
            || !self.resp_replies.is_empty()
        {
            rounds += 1;
            assert!(
                rounds <= rounds_max,
                "each round after the first follows a release"
            );
            for (conn, batch) in mem::take(&mut self.replies) {
                let Some(outbox) = self.outboxes.get(&conn) else {
                    continue;
                };
                match outbox.try_send(batch) {
                    Ok(()) => {}
                    // Its Disconnect came in this step: nothing to release.
                    Err(mpsc::error::TrySendError::Full(_)) if self.gone.contains(&conn) => {
                        self.outboxes.remove(&conn);
                    }
                    // The client stopped reading; waiting for it would stall
                    // every other connection.
                    Err(mpsc::error::TrySendError::Full(_)) => self.release(conn),
                    // The task is gone; its own Disconnect is on its way.
                    Err(mpsc::error::TrySendError::Closed(_)) => {
                        self.outboxes.remove(&conn);
                    }
                }
            }
            for (conn, batch) in mem::take(&mut self.kafka_replies) {
                let Some(outbox) = self.kafka_outboxes.get(&conn) else {
                    continue;
                };
                match outbox.try_send(batch) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) if self.gone.contains(&conn) => {
                        self.kafka_outboxes.remove(&conn);
                    }
                    Err(mpsc::error::TrySendError::Full(_)) => self.release(conn),
                    Err(mpsc::error::TrySendError::Closed(_)) => {
                        self.kafka_outboxes.remove(&conn);
                    }
                }
            }
            for (conn, batch) in answers_first(mem::take(&mut self.resp_replies)) {
                let Some(outbox) = self.resp_outboxes.get(&conn) else {
                    continue;
                };
                match outbox.try_send(batch) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) if self.gone.contains(&conn) => {
                        self.resp_outboxes.remove(&conn);
                    }
                    Err(mpsc::error::TrySendError::Full(_)) => self.release(conn),
                    Err(mpsc::error::TrySendError::Closed(_)) => {
                        self.resp_outboxes.remove(&conn);
                    }
                }
            }
        }
        for conn in self.gone.drain(..) {
            self.outboxes.remove(&conn);
            self.kafka_outboxes.remove(&conn);
            self.resp_outboxes.remove(&conn);
        }
        if !self.records.is_empty() {
            let records = std::mem::take(&mut self.records);
            if log.records.send(records).await.is_err() {
                return Err(BrokerStop::LogFailed);
            }
        }
        Ok(())
    }
}

/// The code and text of a reply that closed the management connection or its channel.
fn refusal_of(reply: &Reply) -> Option<Refusal> {
    match reply {
        Reply::Close { code, text, .. } => Some(Refusal {
            code: code.code(),
            text: text.clone(),
        }),
        _ => None,
    }
}

/// The replies to the request's own commands: those to connection.open and
/// channel.open, the first two, are the management connection's.
fn management_replies(mut replies: Vec<Reply>) -> Vec<Reply> {
    replies.drain(..replies.len().min(2));
    replies
}

#[cfg(test)]
mod tests {
    use super::*;
    use brokerlab_core::pubsub::PubSubReply;

    fn delivery() -> RespItem {
        let mut run = crate::resp::Deliveries::default();
        run.push(b"*3\r\n", 5);
        RespItem::Deliveries(run)
    }

    #[test]
    fn a_steps_answers_are_handed_out_before_batches_of_deliveries_only() {
        let answer = || RespItem::PubSub(PubSubReply::Published { receivers: 2 });
        let batches = BTreeMap::from([
            (ConnectionId(1), vec![delivery(), delivery()]),
            (ConnectionId(2), vec![answer()]),
            (ConnectionId(3), vec![delivery()]),
            (ConnectionId(4), vec![delivery(), RespItem::Echo]),
        ]);
        let order: Vec<u64> = answers_first(batches)
            .iter()
            .map(|(conn, _)| conn.0)
            .collect();
        assert_eq!(order, [2, 4, 1, 3]);
    }
}
