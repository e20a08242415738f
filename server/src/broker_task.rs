//! The broker task: the one owner of the core's `Broker`.
//!
//! The core is single-threaded by design, so every connection sends its
//! inputs here over one bounded channel. The task feeds them to the core in
//! batches, drains the outputs after every input (the core's calling
//! protocol), hands replies to their connections in one batch per connection
//! and step, and sends the step's log records to the log thread. It also
//! wakes the core at its `poll_timeout` and feeds it the log's synced lsn.
//!
//! Time for the core is nanoseconds since the Unix epoch, so `x-death` times
//! and message timestamps are wall-clock times.

use crate::access;
use crate::connection::AssemblingBytes;
use crate::log::LogHandle;
use crate::users::{Permissions, Users};
use brokerlab_core::record::Record;
use brokerlab_core::{
    Broker, ChannelId, Command, ConnectionId, Input, Instant, Output, Reply, ReplyCode,
};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, watch};

/// Replies for one connection from one broker step, in order.
pub type ReplyBatch = Vec<(ChannelId, Reply)>;

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
        /// Where the connection's replies go.
        outbox: mpsc::Sender<ReplyBatch>,
        /// Set while the connection is in credit flow: its reads pause.
        flow: watch::Sender<bool>,
    },
    /// Any other input for the core.
    Input(Input),
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

/// Flow control: the marks, and where the broker task says whether
/// publishing connections are blocked.
#[derive(Debug)]
pub struct Flow {
    /// Block above this many queued bytes.
    pub high_bytes: u64,
    /// Unblock below this many.
    pub low_bytes: u64,
    /// `true` while publishers are blocked.
    pub blocked: watch::Sender<bool>,
    /// Bytes of message bodies the connections are still receiving.
    pub assembling_bytes: AssemblingBytes,
}

impl Flow {
    /// Compares the bytes the broker holds (its queues', and the bodies
    /// still being received) with the marks, after a step.
    fn update(&self, queued_bytes: u64) {
        let queued_bytes = queued_bytes + self.assembling_bytes.load(Ordering::Relaxed);
        let blocked = *self.blocked.borrow();
        if !blocked && queued_bytes > self.high_bytes {
            tracing::warn!(
                queued_bytes,
                high = self.high_bytes,
                "memory alarm: blocking publishers"
            );
            self.blocked.send_replace(true);
        } else if blocked && queued_bytes < self.low_bytes {
            tracing::info!(
                queued_bytes,
                low = self.low_bytes,
                "memory alarm cleared: unblocking publishers"
            );
            self.blocked.send_replace(false);
        }
    }
}

/// An open connection: for access control its user, its vhost, and the
/// user's permissions there (looked up once, at connect); for credit flow,
/// where to tell it to pause.
struct Session {
    user: String,
    vhost: String,
    permissions: Option<Permissions>,
    flow: watch::Sender<bool>,
}

/// While a connection is in credit flow, how often the broker task asks the
/// core again even when nothing else happens (a queue's consumers stalling
/// releases its publishers without any input).
const FLOW_RECHECK: Duration = Duration::from_millis(50);

/// The broker task's state.
struct BrokerTask {
    broker: Broker,
    users: Arc<Users>,
    /// Who each connection is, on which vhost, with which permissions there.
    sessions: BTreeMap<ConnectionId, Session>,
    outboxes: BTreeMap<ConnectionId, mpsc::Sender<ReplyBatch>>,
    replies: BTreeMap<ConnectionId, ReplyBatch>,
    /// Connections that disconnected in this step: their last replies go
    /// out with the step's, then their outboxes are dropped, which tells
    /// each connection task that nothing more will come.
    gone: Vec<ConnectionId>,
    records: Vec<Record>,
    /// Connections that published in this step.
    published: BTreeSet<ConnectionId>,
    /// Connections in credit flow.
    in_flow: BTreeSet<ConnectionId>,
}

/// Runs the broker until every sender of `inbox` is gone (a clean shutdown)
/// or the log fails.
pub async fn run(
    broker: Broker,
    mut inbox: mpsc::Receiver<ToBroker>,
    mut log: LogHandle,
    flow: Flow,
    users: Arc<Users>,
) -> Result<(), BrokerStop> {
    let mut task = BrokerTask {
        broker,
        users,
        sessions: BTreeMap::new(),
        outboxes: BTreeMap::new(),
        replies: BTreeMap::new(),
        gone: Vec::new(),
        records: Vec::new(),
        published: BTreeSet::new(),
        in_flow: BTreeSet::new(),
    };
    loop {
        let wake = task.broker.poll_timeout().map(tokio_deadline);
        let recheck = !task.in_flow.is_empty();
        tokio::select! {
            message = inbox.recv() => {
                let Some(message) = message else { break };
                task.take(message);
                for _ in 1..INPUTS_PER_STEP_MAX {
                    match inbox.try_recv() {
                        Ok(message) => task.take(message),
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
            () = tokio::time::sleep(FLOW_RECHECK), if recheck => {}
        }
        // Before the replies go out: a connection that reads the reply to
        // its last command before a pause must already see the pause.
        task.update_credit_flow();
        task.flush(&log).await?;
        flow.update(task.broker.queued_bytes());
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
    fn take(&mut self, message: ToBroker) {
        match message {
            ToBroker::Connect {
                conn,
                user,
                vhost,
                outbox,
                flow,
            } => {
                self.outboxes.insert(conn, outbox);
                let permissions = self.users.permissions(&user, &vhost).cloned();
                let session = Session {
                    user: user.clone(),
                    vhost: vhost.clone(),
                    permissions,
                    flow,
                };
                self.sessions.insert(conn, session);
                self.handle(Input::Connect { conn, user, vhost });
            }
            ToBroker::Input(input) => {
                let gone = match &input {
                    Input::Disconnect { conn } => Some(*conn),
                    Input::Command {
                        conn,
                        command: Command::BasicPublish { .. },
                        ..
                    } => {
                        self.published.insert(*conn);
                        None
                    }
                    _ => None,
                };
                let input = self.access_checked(input);
                self.handle(input);
                if let Some(conn) = gone {
                    self.gone.push(conn);
                    self.sessions.remove(&conn);
                    self.in_flow.remove(&conn);
                }
            }
        }
    }

    /// A command its user may not run becomes `Input::Refused` (403).
    fn access_checked(&self, input: Input) -> Input {
        let Input::Command {
            conn,
            channel,
            command,
        } = input
        else {
            return input;
        };
        let session = self.sessions.get(&conn);
        let unrestricted = session
            .and_then(|session| session.permissions.as_ref())
            .is_some_and(Permissions::admits_everything);
        if unrestricted {
            return Input::Command {
                conn,
                channel,
                command,
            };
        }
        let refusal = session.and_then(|session| {
            let who = (session.user.as_str(), session.vhost.as_str());
            let permissions = session.permissions.as_ref();
            access::refusal(&self.broker, permissions, who, (conn, channel), &command)
        });
        match refusal {
            None => Input::Command {
                conn,
                channel,
                command,
            },
            Some(text) => Input::Refused {
                conn,
                channel,
                command,
                code: ReplyCode::AccessRefused,
                text,
            },
        }
    }

    /// Feeds one input and drains every output, as the core's calling protocol asks.
    fn handle(&mut self, input: Input) {
        self.broker.handle(now(), input);
        while let Some(output) = self.broker.poll_output() {
            match output {
                Output::Reply {
                    conn,
                    channel,
                    reply,
                } => {
                    if self.outboxes.contains_key(&conn) {
                        self.replies.entry(conn).or_default().push((channel, reply));
                    }
                }
                Output::Persist(record) => self.records.push(*record),
            }
        }
        self.broker
            .drain_events(|event| tracing::trace!(?event, "broker event"));
    }

    /// Credit flow, after a step: asks the core about the connections that
    /// published in it and those already in flow, and tells each connection
    /// whose answer changed.
    fn update_credit_flow(&mut self) {
        if self.published.is_empty() && self.in_flow.is_empty() {
            return;
        }
        let mut asked = std::mem::take(&mut self.published);
        asked.extend(self.in_flow.iter().copied());
        let now = now();
        for conn in asked {
            let in_flow = self.broker.in_flow(conn, now);
            let changed = if in_flow {
                self.in_flow.insert(conn)
            } else {
                self.in_flow.remove(&conn)
            };
            if changed {
                tracing::trace!(conn = conn.0, in_flow, "credit flow");
                if let Some(session) = self.sessions.get(&conn) {
                    session.flow.send_replace(in_flow);
                }
            }
        }
    }

    /// Hands out the step's replies and records.
    async fn flush(&mut self, log: &LogHandle) -> Result<(), BrokerStop> {
        for (conn, batch) in std::mem::take(&mut self.replies) {
            let Some(outbox) = self.outboxes.get(&conn) else {
                continue;
            };
            if let Err(error) = outbox.try_send(batch) {
                // A full outbox means the client stopped reading; waiting for it
                // would stall every other connection. Dropping its outbox ends
                // the connection task, whose Disconnect requeues what it held.
                if matches!(error, mpsc::error::TrySendError::Full(_)) {
                    tracing::warn!(
                        conn = conn.0,
                        "connection fell behind its replies; closing it"
                    );
                }
                self.outboxes.remove(&conn);
            }
        }
        for conn in self.gone.drain(..) {
            self.outboxes.remove(&conn);
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
