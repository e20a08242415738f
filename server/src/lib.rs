//! brokerlab-server: the AMQP 0-9-1 server that drives the brokerlab core over TCP.
//!
//! The shape follows quinn's driver: one task per connection reads frames and
//! turns them into `Input`s for a single broker task, which owns the core's
//! `Broker` (the core is single-threaded) and hands the replies back; a log
//! thread appends the core's records to a `FileStore`, syncs them in groups
//! and answers with the synced lsn, so publisher confirms go out only after
//! the fsync (under madsim, a task and an in-memory disk that survives a
//! node's restart). AMQP is encoded and decoded by amq-protocol; `wire`
//! translates between its methods and the core's protocol-neutral commands
//! and replies.
//! Every broker rule stays in brokerlab-core.
//!
//! Every limit the server enforces is a field of [`Options`] with RabbitMQ's
//! default where it has one: frame size, channel_max, message size, logged-in
//! connections and sockets in the handshake (bounded apart), the handshake
//! timeout, the delay of a refused login, consumers per channel, each
//! connection's outgoing buffer and its send timeout. A connection's writes
//! never block its other duties, so a client that stops reading is closed by
//! missed heartbeats or the send timeout, and the broker task releases one
//! that falls too far behind its replies.
//!
//! `client` is a minimal AMQP client over the same codec, and `perf` the
//! load generator of `brokerlab perf` built on it.
//!
//! `users` says who may log in and open which vhost, from a RabbitMQ
//! definitions file or by default `guest`/`guest` on `/` from loopback only,
//! and hands the users' configure/write/read patterns to the core, whose
//! access control refuses a command with 403 like any other reply.
//!
//! `serve --metrics-listen` serves `/metrics` in the Prometheus text
//! format with RabbitMQ's metric names (`metrics`), and
//! `--management-listen` a subset of RabbitMQ's management HTTP API
//! (`http`); both read a copy of the broker that the broker task makes on
//! request (`inspect`), and the management API's changes are commands the
//! broker task runs on a connection of their own.
//!
//! `serve --sqs-listen` serves Amazon SQS's JSON protocol (`sqs`) for the
//! core's SQS queues, each HTTP request a core connection of its own whose
//! answer the broker task hands back on a oneshot channel.
//!
//! tokio is madsim-tokio: built with `RUSTFLAGS="--cfg madsim"`, the same
//! code runs in madsim's simulated network and time (tests/madsim_*.rs);
//! `portable` holds the few stand-ins that needs.

#![forbid(unsafe_code)]

mod broker_task;
pub mod client;
mod connection;
mod deadline;
#[cfg(not(madsim))]
mod http;
pub mod inspect;
mod kafka;
mod listener;
mod log;
pub mod metrics;
pub mod perf;
mod portable;
mod resp;
#[cfg(not(madsim))]
mod sqs;
pub mod users;
pub mod wire;

pub use connection::{
    CONNECTIONS_MAX, FAILED_LOGIN_DELAY_MS, FRAME_MAX_BYTES, HANDSHAKES_MAX, HANDSHAKE_TIMEOUT_MS,
    HEARTBEAT_S, OUTGOING_BUFFER_MAX_BYTES, SEND_TIMEOUT_MS,
};
pub use kafka::{DEFAULT_PARTITIONS, INFLIGHT_MAX, REQUEST_MAX_BYTES};
pub use resp::{
    ARGUMENTS_MAX as RESP_ARGUMENTS_MAX, BULK_MAX_BYTES as RESP_BULK_MAX_BYTES,
    QUERY_BUFFER_MAX_BYTES as RESP_QUERY_BUFFER_MAX_BYTES,
};
#[cfg(not(madsim))]
pub use sqs::REQUEST_MAX_BYTES as SQS_REQUEST_MAX_BYTES;
pub use users::Users;

/// What the fuzz targets in `fuzz/` drive without a socket: the connection
/// handshake over an in-memory stream, the Kafka listener's requests cut,
/// screened and dispatched, and the RESP listener's requests cut and judged,
/// without a broker. Not a stable API.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::connection::{handshake_over, Handshaken, Opened, Tuning};
    pub use crate::kafka::{dispatch_requests as kafka_dispatch_requests, SERVED as KAFKA_SERVED};
    pub use crate::resp::judge_requests as resp_judge_requests;
}

use brokerlab_core::{Config, ConnectionId, MemoryAlarm};
use brokerlab_store::StoreError;
use portable::JoinSet;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, Semaphore};

/// Inputs waiting for the broker task; connections wait when it is full.
const BROKER_INBOX_MAX: usize = 4096;

/// The default memory alarm: publishers are blocked while the broker holds
/// more than 1 GiB of message bodies (ready, unacknowledged, or still
/// arriving), until it is back under three quarters of that.
pub const MEMORY_HIGH_WATERMARK_BYTES: u64 = 1 << 30;

/// Credit flow's default marks: a publisher into a consumed queue with more
/// than this many ready messages is slowed to its consumers' pace (its reads
/// pause) until the queue is back to half of it; consumers that got nothing
/// for a second no longer slow anyone (see `brokerlab_core::Flow`).
pub const FLOW_READY_HIGH: usize = 20_000;

/// The core's configuration with the server's credit flow.
#[must_use]
pub fn flow(ready_high: usize) -> Option<brokerlab_core::Flow> {
    (ready_high > 0).then_some(brokerlab_core::Flow {
        ready_high,
        ready_low: ready_high / 2,
        stall_ms: 1_000,
    })
}

/// The server's bound on consumers per channel (the core's
/// `Config::consumers_per_channel_max`). RabbitMQ's `consumer_max_per_channel`
/// is unlimited by default; a bound is kept so that a client leaking
/// consumers is stopped.
pub const CONSUMERS_PER_CHANNEL_MAX: usize = 4096;

/// How long connections get to close after shutdown begins.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// How to run a server.
#[derive(Clone, Debug)]
pub struct Options {
    /// Address to accept AMQP connections on.
    pub listen: SocketAddr,
    /// Directory of the broker's log.
    pub data_dir: PathBuf,
    /// The broker's configuration.
    pub config: Config,
    /// Most connections logged in at once; a client that logs in past it
    /// is refused with 530 at connection.open, as RabbitMQ refuses past its
    /// `connection_max`. Sockets still in the handshake do not count.
    pub connections_max: usize,
    /// Most sockets in the handshake (not yet logged in) at once; a socket
    /// accepted past it makes the oldest of them give way, so silent
    /// sockets cannot keep real clients from logging in.
    pub handshakes_max: usize,
    /// The whole handshake, protocol header to connection.open, must fit in
    /// this (RabbitMQ's `handshake_timeout`).
    pub handshake_timeout_ms: u64,
    /// A client refused at login is held this long before its socket
    /// closes, unless it answers the close with close-ok (RabbitMQ's delay).
    pub failed_login_delay_ms: u64,
    /// Encoded frames a connection holds for its socket: past it the
    /// connection takes no more replies from the broker until the socket
    /// drains.
    pub outgoing_buffer_max_bytes: usize,
    /// A connection whose socket takes none of its waiting bytes for this
    /// long is closed, heartbeats or not (RabbitMQ's send timeout).
    pub send_timeout_ms: u64,
    /// The largest frame the server accepts or sends, offered in connection.tune.
    pub frame_max_bytes: u32,
    /// Who may log in and open which vhost; its vhosts replace the
    /// configuration's when the server binds.
    pub users: Users,
    /// Address to serve `/metrics` on (Prometheus text format); off when `None`.
    pub metrics_listen: Option<SocketAddr>,
    /// Address to serve the management HTTP API on; off when `None`.
    pub management_listen: Option<SocketAddr>,
    /// Address to accept Kafka connections on; off when `None`.
    pub kafka_listen: Option<SocketAddr>,
    /// Metadata naming a topic that does not exist creates it (Kafka's
    /// `auto.create.topics.enable`, on by default).
    pub kafka_auto_create_topics: bool,
    /// Partitions of a topic created without a count (Kafka's `num.partitions`).
    pub kafka_partitions: u32,
    /// A Kafka client on loopback is served without SASL (on by default, as
    /// `guest` logs in over AMQP on loopback only); others must
    /// authenticate with SASL/PLAIN as one of the users.
    pub kafka_anonymous_loopback: bool,
    /// Address to accept RESP (Redis Pub/Sub) connections on; off when `None`.
    pub resp_listen: Option<SocketAddr>,
    /// A RESP client on loopback is logged in from the start, as Redis's
    /// passwordless `default` user (on by default); others must AUTH.
    pub resp_anonymous_loopback: bool,
    /// Address to serve Amazon SQS's JSON protocol on; off when `None`.
    pub sqs_listen: Option<SocketAddr>,
    /// SQS access keys and their secret keys: with any, every SQS request
    /// must be signed (SigV4) by one of them; with none, SQS clients on
    /// loopback are served with any credentials, and others are refused.
    pub sqs_access_keys: BTreeMap<String, String>,
}

impl Options {
    /// The defaults: 127.0.0.1:5672, `./brokerlab-data`, the core's default
    /// configuration with credit flow at [`FLOW_READY_HIGH`] and the memory
    /// alarm at [`MEMORY_HIGH_WATERMARK_BYTES`].
    #[must_use]
    pub fn new() -> Options {
        Options {
            listen: SocketAddr::from(([127, 0, 0, 1], 5672)),
            data_dir: PathBuf::from("brokerlab-data"),
            config: Config {
                flow: flow(FLOW_READY_HIGH),
                memory_alarm: Some(MemoryAlarm::new(MEMORY_HIGH_WATERMARK_BYTES)),
                consumers_per_channel_max: Some(CONSUMERS_PER_CHANNEL_MAX),
                ..Config::default()
            },
            connections_max: CONNECTIONS_MAX,
            handshakes_max: HANDSHAKES_MAX,
            handshake_timeout_ms: HANDSHAKE_TIMEOUT_MS,
            failed_login_delay_ms: FAILED_LOGIN_DELAY_MS,
            outgoing_buffer_max_bytes: OUTGOING_BUFFER_MAX_BYTES,
            send_timeout_ms: SEND_TIMEOUT_MS,
            frame_max_bytes: FRAME_MAX_BYTES,
            users: Users::default(),
            metrics_listen: None,
            management_listen: None,
            kafka_listen: None,
            kafka_auto_create_topics: true,
            kafka_partitions: DEFAULT_PARTITIONS,
            kafka_anonymous_loopback: true,
            resp_listen: None,
            resp_anonymous_loopback: true,
            sqs_listen: None,
            sqs_access_keys: BTreeMap::new(),
        }
    }
}

impl Default for Options {
    fn default() -> Options {
        Options::new()
    }
}

/// Why a server could not start or had to stop.
#[derive(Debug)]
pub enum ServerError {
    /// Binding or accepting on the socket failed.
    Io(io::Error),
    /// The log could not be opened, recovered or written.
    Store(StoreError),
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::Io(error) => write!(f, "socket: {error}"),
            ServerError::Store(error) => write!(f, "log: {error}"),
        }
    }
}

impl std::error::Error for ServerError {}

impl From<io::Error> for ServerError {
    fn from(error: io::Error) -> Self {
        ServerError::Io(error)
    }
}

impl From<StoreError> for ServerError {
    fn from(error: StoreError) -> Self {
        ServerError::Store(error)
    }
}

/// A server bound to its address, with its broker recovered from the log.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    options: Options,
    broker: brokerlab_core::Broker,
    log: log::LogHandle,
    log_thread: log::LogThread,
    kafka_listener: Option<TcpListener>,
    resp_listener: Option<TcpListener>,
    #[cfg(not(madsim))]
    http: http::Listeners,
    #[cfg(not(madsim))]
    sqs_listener: Option<TcpListener>,
}

impl Server {
    /// Opens and recovers the log, then binds the listening socket.
    pub async fn bind(mut options: Options) -> Result<Server, ServerError> {
        options.config.vhosts = options.users.vhosts();
        options.config.access = Some(options.users.access());
        let (broker, log, log_thread) =
            log::open(&options.data_dir, options.config.clone()).await?;
        let listener = TcpListener::bind(options.listen).await?;
        let kafka_listener = match options.kafka_listen {
            Some(address) => Some(TcpListener::bind(address).await?),
            None => None,
        };
        let resp_listener = match options.resp_listen {
            Some(address) => Some(TcpListener::bind(address).await?),
            None => None,
        };
        #[cfg(not(madsim))]
        let http = http::Listeners::bind(options.metrics_listen, options.management_listen).await?;
        #[cfg(not(madsim))]
        let sqs_listener = match options.sqs_listen {
            Some(address) => Some(TcpListener::bind(address).await?),
            None => None,
        };
        #[cfg(madsim)]
        if options.metrics_listen.is_some()
            || options.management_listen.is_some()
            || options.sqs_listen.is_some()
        {
            tracing::warn!("no HTTP listeners under madsim");
        }
        Ok(Server {
            listener,
            options,
            broker,
            log,
            log_thread,
            kafka_listener,
            resp_listener,
            #[cfg(not(madsim))]
            http,
            #[cfg(not(madsim))]
            sqs_listener,
        })
    }

    /// The address SQS requests are served on, when they are.
    #[must_use]
    pub fn sqs_addr(&self) -> Option<SocketAddr> {
        #[cfg(not(madsim))]
        return self
            .sqs_listener
            .as_ref()
            .and_then(|listener| listener.local_addr().ok());
        #[cfg(madsim)]
        None
    }

    /// The address RESP connections are accepted on, when they are.
    #[must_use]
    pub fn resp_addr(&self) -> Option<SocketAddr> {
        self.resp_listener
            .as_ref()
            .and_then(|listener| listener.local_addr().ok())
    }

    /// The address Kafka connections are accepted on, when they are.
    #[must_use]
    pub fn kafka_addr(&self) -> Option<SocketAddr> {
        self.kafka_listener
            .as_ref()
            .and_then(|listener| listener.local_addr().ok())
    }

    /// The address the server accepts connections on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The address `/metrics` is served on, when it is.
    #[must_use]
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        #[cfg(not(madsim))]
        return self.http.metrics_addr();
        #[cfg(madsim)]
        None
    }

    /// The address the management API is served on, when it is.
    #[must_use]
    pub fn management_addr(&self) -> Option<SocketAddr> {
        #[cfg(not(madsim))]
        return self.http.management_addr();
        #[cfg(madsim)]
        None
    }

    /// Serves until `shutdown` completes: then stops accepting, closes every
    /// connection with 320 CONNECTION_FORCED, and syncs the log before returning.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ServerError> {
        let Server {
            listener,
            options,
            broker,
            log,
            log_thread,
            kafka_listener,
            resp_listener,
            #[cfg(not(madsim))]
            http,
            #[cfg(not(madsim))]
            sqs_listener,
        } = self;
        tracing::info!(listen = %listener.local_addr()?, "serving AMQP 0-9-1");
        let (to_broker, inbox) = mpsc::channel(BROKER_INBOX_MAX);
        let assembling_bytes = connection::AssemblingBytes::default();
        let users = Arc::new(options.users.clone());
        let reported = Arc::clone(&assembling_bytes);
        let task = broker_task::run(broker, inbox, log, reported);
        let mut broker_task = tokio::spawn(task);
        let (stop, stopping) = watch::channel(false);
        #[cfg(not(madsim))]
        let http_tasks = {
            let shared = http::Shared::new(
                to_broker.clone(),
                Arc::clone(&users),
                listener.local_addr()?,
            );
            http.spawn(&shared, &stopping)
        };
        #[cfg(not(madsim))]
        let sqs_task = match sqs_listener {
            Some(listener) => {
                let context = sqs::Context::new(
                    to_broker.clone(),
                    stopping.clone(),
                    options.sqs_access_keys.clone(),
                    listener.local_addr()?,
                );
                let router = sqs::router(context);
                Some(tokio::spawn(http::serve(
                    listener,
                    router,
                    stopping.clone(),
                    "SQS",
                )))
            }
            None => None,
        };
        let kafka_task = kafka_listener.map(|listener| {
            if let Ok(address) = listener.local_addr() {
                tracing::info!(listen = %address, "serving Kafka");
            }
            let context = kafka::Context {
                to_broker: to_broker.clone(),
                shutdown: stopping.clone(),
                auto_create_partitions: options
                    .kafka_auto_create_topics
                    .then_some(options.kafka_partitions),
                default_partitions: options.kafka_partitions,
                outgoing_buffer_max_bytes: options.outgoing_buffer_max_bytes,
                send_timeout: Duration::from_millis(options.send_timeout_ms),
                users: Arc::clone(&users),
                anonymous_loopback: options.kafka_anonymous_loopback,
            };
            tokio::spawn(kafka::accept_loop(listener, context, SHUTDOWN_GRACE))
        });
        let resp_task = resp_listener.map(|listener| {
            if let Ok(address) = listener.local_addr() {
                tracing::info!(listen = %address, "serving RESP (Redis Pub/Sub)");
            }
            let context = resp::Context {
                to_broker: to_broker.clone(),
                shutdown: stopping.clone(),
                users: Arc::clone(&users),
                anonymous_loopback: options.resp_anonymous_loopback,
                outgoing_buffer_max_bytes: options.outgoing_buffer_max_bytes,
                send_timeout: Duration::from_millis(options.send_timeout_ms),
            };
            tokio::spawn(resp::accept_loop(listener, context, SHUTDOWN_GRACE))
        });
        let context = connection::Context {
            to_broker,
            shutdown: stopping,
            max_message_bytes: options.config.max_message_size_bytes,
            assembling_bytes,
            channel_max: options.config.channel_max,
            users,
            limits: connection::Limits::from(&options),
            logged_in: Arc::new(Semaphore::new(options.connections_max)),
        };
        let mut connections = JoinSet::new();
        let accepted = accept_loop(&listener, &context, &mut connections, &options, shutdown);
        let broker_failed = tokio::select! {
            result = accepted => { result?; false }
            _ = &mut broker_task => true,
        };
        drop(listener);
        stop.send_replace(true);
        drop(context);
        // The listeners hold senders of the broker's inbox: they go first,
        // so that the broker task sees its inbox close.
        #[cfg(not(madsim))]
        for task in http_tasks {
            task.abort();
            let _ = task.await;
        }
        // SQS requests end by themselves: long polls answer at once, and
        // sends once their records are synced.
        #[cfg(not(madsim))]
        if let Some(mut task) = sqs_task {
            if tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
                .await
                .is_err()
            {
                task.abort();
                let _ = task.await;
            }
        }
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, drain(&mut connections)).await;
        connections.abort_all();
        if let Some(task) = kafka_task {
            let _ = task.await;
        }
        if let Some(task) = resp_task {
            let _ = task.await;
        }
        if !broker_failed {
            // Every sender of the broker's inbox is gone with the connections:
            // the broker task flushes its last records and stops.
            let _ = broker_task.await;
        }
        log_thread.join().await?;
        if broker_failed {
            return Err(ServerError::Store(StoreError::Failed));
        }
        tracing::info!("stopped");
        Ok(())
    }
}

async fn drain(connections: &mut JoinSet<()>) {
    while connections.join_next().await.is_some() {}
}

/// Accepts connections until `shutdown` completes, each on a task of its
/// own. Sockets in the handshake are bounded by `handshakes_max`: at the
/// bound the oldest is told to give way, so a flood of silent sockets
/// cycles through its slots while a real client's handshake, which takes
/// milliseconds, completes. Logged-in connections are bounded apart
/// (`Context::logged_in`).
async fn accept_loop(
    listener: &TcpListener,
    context: &connection::Context,
    connections: &mut JoinSet<()>,
    options: &Options,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let handshakes = connection::Handshakes::new(options.handshakes_max);
    let mut next_id = 1u64;
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // A connection that failed between SYN and accept is the
                // client's problem, not the listener's.
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    continue;
                }
            },
            Some(_) = connections.join_next() => continue,
        };
        let conn = ConnectionId(next_id);
        next_id += 1;
        let handshake = handshakes.admit(conn);
        let context = context.clone();
        connections.spawn(connection::serve(conn, stream, peer, context, handshake));
    }
}

/// Runs a server on a runtime of its own until ctrl-c or SIGTERM; for `brokerlab serve`.
pub fn serve_until_signal(options: Options) -> Result<(), ServerError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let server = Server::bind(options).await?;
        server.run(shutdown_signal()).await
    })
}

/// Completes on ctrl-c or SIGTERM.
async fn shutdown_signal() {
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = portable::terminate_signal() => {}
    }
    tracing::info!("shutdown signal received");
}
