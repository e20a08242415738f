//! What the madsim tests share: a broker node and a client node on madsim's
//! simulated network, an AMQP client over the server's own client, a Kafka
//! client over kafka-protocol (`kafka`), and a
//! trace of what the client saw, stamped with simulated time.
//!
//! The broker node serves from its init task, so `restart` starts a server
//! again on the same simulated disk. Every wait is bounded in simulated
//! time ([`STEP_TIMEOUT`]): a stuck scenario fails instead of hanging.
// Each test file uses a part of this module; the rest is dead there.
#![allow(dead_code)]

pub mod kafka;

use amq_protocol::frame::{AMQPContentHeader, AMQPFrame};
use amq_protocol::protocol::{basic, confirm, queue, AMQPClass, BasicProperties};
use brokerlab_server::client::{refuse_close, Client, Target};
use brokerlab_server::users::password_hash;
use brokerlab_server::{Options, Server, Users};
use madsim::runtime::{Handle, NodeHandle};
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

/// The broker node's address.
pub const BROKER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// The client node's address.
pub const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
/// Where the broker serves AMQP.
pub const AMQP_PORT: u16 = 5672;
/// The one channel every client uses.
pub const CHANNEL: u16 = 1;
/// Longest any one step may take, in simulated time.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(120);
/// How often a client retries to connect, in simulated time.
const CONNECT_RETRY: Duration = Duration::from_secs(1);
/// Connection attempts before a test gives up.
const CONNECT_ATTEMPTS_MAX: u32 = 120;
/// The user the tests log in as (guest may log in from loopback only).
const USER: &str = "app";
const PASSWORD: &str = "s3cret";

/// The users of the simulated broker: `app` on vhost `/`.
fn users() -> Users {
    let json = format!(
        r#"{{"users": [{{"name": "{USER}", "password_hash": "{}",
                        "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": ""}}],
            "vhosts": [{{"name": "/"}}],
            "permissions": [{{"user": "{USER}", "vhost": "/",
                              "configure": ".*", "write": ".*", "read": ".*"}}]}}"#,
        password_hash([7, 1, 7, 1], PASSWORD)
    );
    Users::from_definitions(&json).expect("valid definitions")
}

/// A broker node at [`BROKER_IP`] that serves from its init task until it is killed.
pub fn broker_node(handle: &Handle) -> NodeHandle {
    handle
        .create_node()
        .name("broker")
        .ip(IpAddr::V4(BROKER_IP))
        .init(|| async {
            let options = Options {
                listen: SocketAddr::from((BROKER_IP, AMQP_PORT)),
                kafka_listen: Some(SocketAddr::from((BROKER_IP, kafka::KAFKA_PORT))),
                data_dir: "/brokerlab-data".into(),
                users: users(),
                ..Options::new()
            };
            let server = Server::bind(options).await.expect("the broker binds");
            server
                .run(std::future::pending())
                .await
                .expect("the broker serves until it is killed");
        })
        .build()
}

/// A client node at [`CLIENT_IP`].
pub fn client_node(handle: &Handle) -> NodeHandle {
    handle
        .create_node()
        .name("client")
        .ip(IpAddr::V4(CLIENT_IP))
        .build()
}

/// Cuts both directions between two nodes.
pub fn partition(a: &NodeHandle, b: &NodeHandle) {
    let net = madsim::net::NetSim::current();
    net.clog_link(a.id(), b.id());
    net.clog_link(b.id(), a.id());
}

/// Heals both directions between two nodes.
pub fn heal(a: &NodeHandle, b: &NodeHandle) {
    let net = madsim::net::NetSim::current();
    net.unclog_link(a.id(), b.id());
    net.unclog_link(b.id(), a.id());
}

/// Kills the broker node (its memory is lost, its disk kept) and starts it again.
pub fn restart(handle: &Handle, broker: &NodeHandle) {
    // madsim's restart alone would leave the dead server's listening socket
    // bound, and the new server could not bind; a kill closes the node's sockets.
    handle.kill(broker.id());
    handle.restart(broker.id());
}

/// Runs `future` on `node` and waits for it; a panic there fails the test.
pub async fn on<F>(node: &NodeHandle, future: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    node.spawn(future).await.expect("the task runs to its end")
}

/// Waits at most [`STEP_TIMEOUT`] of simulated time for `step`.
pub async fn within<T>(what: &str, step: impl Future<Output = T>) -> T {
    match madsim::time::timeout(STEP_TIMEOUT, step).await {
        Ok(value) => value,
        Err(_) => panic!("{what}: no progress in {STEP_TIMEOUT:?} of simulated time"),
    }
}

/// Events the client saw, each stamped with the simulated time since the scenario began.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    events: Vec<String>,
}

impl Trace {
    /// Records an event at the current simulated time.
    pub fn note(&mut self, start: Instant, event: impl Into<String>) {
        let at = start.elapsed().as_micros();
        self.events.push(format!("{at}us {}", event.into()));
    }

    /// Appends another trace's events.
    pub fn extend(&mut self, other: Trace) {
        self.events.extend(other.events);
    }

    /// The events, in order.
    #[must_use]
    pub fn events(&self) -> &[String] {
        &self.events
    }
}

/// A message as a consumer received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The channel's delivery tag.
    pub tag: u64,
    /// Whether the broker flagged it as possibly delivered before.
    pub redelivered: bool,
    /// The body.
    pub body: Vec<u8>,
}

/// One client connection with channel [`CHANNEL`] open.
pub struct AmqpClient {
    client: Client,
    /// With heartbeats on, half the interval: the client writes at least
    /// this often, and takes four of these without a frame for a dead broker.
    beat_every: Option<Duration>,
    last_read: Instant,
    last_write: Instant,
}

impl AmqpClient {
    /// Connects to the broker, retrying while it is unreachable, asking for
    /// heartbeats every `heartbeat_s` seconds (0: none), and opens the channel.
    pub async fn open(heartbeat_s: u16) -> AmqpClient {
        let target = Target {
            host: BROKER_IP.to_string(),
            port: AMQP_PORT,
            user: USER.into(),
            password: PASSWORD.into(),
            vhost: "/".into(),
        };
        for _ in 0..CONNECT_ATTEMPTS_MAX {
            let attempt = Client::connect_with_heartbeat(&target, heartbeat_s);
            if let Ok(Ok(mut client)) = madsim::time::timeout(CONNECT_RETRY * 5, attempt).await {
                if client.open_channel(CHANNEL).await.is_ok() {
                    let beat_every = match heartbeat_s {
                        0 => None,
                        seconds => Some(Duration::from_secs(seconds.into()) / 2),
                    };
                    return AmqpClient {
                        client,
                        beat_every,
                        last_read: Instant::now(),
                        last_write: Instant::now(),
                    };
                }
            }
            madsim::time::sleep(CONNECT_RETRY).await;
        }
        panic!("the broker did not accept a connection in {CONNECT_ATTEMPTS_MAX} attempts");
    }

    /// Declares a durable queue.
    pub async fn declare_durable(&mut self, name: &str) -> io::Result<()> {
        let declare = queue::Declare {
            queue: name.into(),
            durable: true,
            ..queue::Declare::default()
        };
        match self
            .call(AMQPClass::Queue(queue::AMQPMethod::Declare(declare)))
            .await?
        {
            AMQPClass::Queue(queue::AMQPMethod::DeclareOk(_)) => Ok(()),
            other => Err(unexpected("queue.declare-ok", &other)),
        }
    }

    /// Puts the channel in confirm mode.
    pub async fn select_confirms(&mut self) -> io::Result<()> {
        let select = confirm::Select { nowait: false };
        match self
            .call(AMQPClass::Confirm(confirm::AMQPMethod::Select(select)))
            .await?
        {
            AMQPClass::Confirm(confirm::AMQPMethod::SelectOk(_)) => Ok(()),
            other => Err(unexpected("confirm.select-ok", &other)),
        }
    }

    /// Publishes a persistent message to `queue` through the default exchange.
    pub async fn publish_persistent(&mut self, queue: &str, body: &[u8]) -> io::Result<()> {
        let publish = basic::Publish {
            routing_key: queue.into(),
            ..basic::Publish::default()
        };
        let sink = &mut self.client.sink;
        sink.put_method(
            CHANNEL,
            AMQPClass::Basic(basic::AMQPMethod::Publish(publish)),
        )?;
        let header = AMQPContentHeader {
            class_id: 60,
            body_size: body.len() as u64,
            properties: BasicProperties::default().with_delivery_mode(2),
        };
        sink.put(&AMQPFrame::Header(CHANNEL, header))?;
        sink.put(&AMQPFrame::Body(CHANNEL, body.to_vec()))?;
        self.flush().await
    }

    /// Reads confirms until every publish up to `upto` (counted from 1 on
    /// the channel) is acked; a nack is an error.
    pub async fn await_confirms(&mut self, upto: u64) -> io::Result<()> {
        let mut confirmed = 0u64;
        while confirmed < upto {
            match self.method().await? {
                AMQPClass::Basic(basic::AMQPMethod::Ack(ack)) => {
                    confirmed = confirmed.max(ack.delivery_tag);
                }
                other => return Err(unexpected("basic.ack", &other)),
            }
        }
        Ok(())
    }

    /// Subscribes to `queue` with manual acks and at most `prefetch` unacked.
    pub async fn consume(&mut self, queue: &str, prefetch: u16) -> io::Result<()> {
        let qos = basic::Qos {
            prefetch_count: prefetch,
            ..basic::Qos::default()
        };
        match self
            .call(AMQPClass::Basic(basic::AMQPMethod::Qos(qos)))
            .await?
        {
            AMQPClass::Basic(basic::AMQPMethod::QosOk(_)) => {}
            other => return Err(unexpected("basic.qos-ok", &other)),
        }
        let consume = basic::Consume {
            queue: queue.into(),
            ..basic::Consume::default()
        };
        match self
            .call(AMQPClass::Basic(basic::AMQPMethod::Consume(consume)))
            .await?
        {
            AMQPClass::Basic(basic::AMQPMethod::ConsumeOk(_)) => Ok(()),
            other => Err(unexpected("basic.consume-ok", &other)),
        }
    }

    /// The next delivery, with its content.
    pub async fn next_delivery(&mut self) -> io::Result<Delivery> {
        let deliver = match self.method().await? {
            AMQPClass::Basic(basic::AMQPMethod::Deliver(deliver)) => deliver,
            other => return Err(unexpected("basic.deliver", &other)),
        };
        let AMQPFrame::Header(_, header) = self.frame().await? else {
            return Err(io::Error::other("a content header follows basic.deliver"));
        };
        let mut body = Vec::new();
        while (body.len() as u64) < header.body_size {
            let AMQPFrame::Body(_, chunk) = self.frame().await? else {
                return Err(io::Error::other("body frames follow the content header"));
            };
            body.extend(chunk);
        }
        Ok(Delivery {
            tag: deliver.delivery_tag,
            redelivered: deliver.redelivered,
            body,
        })
    }

    /// Acks one delivery.
    pub async fn ack(&mut self, tag: u64) -> io::Result<()> {
        let ack = basic::Ack {
            delivery_tag: tag,
            multiple: false,
        };
        let sink = &mut self.client.sink;
        sink.put_method(CHANNEL, AMQPClass::Basic(basic::AMQPMethod::Ack(ack)))?;
        self.flush().await
    }

    /// Whether `queue` has no ready message left (basic.get answers get-empty).
    pub async fn is_empty(&mut self, queue: &str) -> io::Result<bool> {
        let get = basic::Get {
            queue: queue.into(),
            no_ack: false,
        };
        match self
            .call(AMQPClass::Basic(basic::AMQPMethod::Get(get)))
            .await?
        {
            AMQPClass::Basic(basic::AMQPMethod::GetEmpty(_)) => Ok(true),
            AMQPClass::Basic(basic::AMQPMethod::GetOk(_)) => Ok(false),
            other => Err(unexpected("basic.get-ok or get-empty", &other)),
        }
    }

    /// Closes the connection and waits for close-ok.
    pub async fn close(self) -> io::Result<()> {
        self.client.close(STEP_TIMEOUT).await
    }

    async fn call(&mut self, method: AMQPClass) -> io::Result<AMQPClass> {
        self.client.sink.put_method(CHANNEL, method)?;
        self.flush().await?;
        self.method().await
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.client.sink.flush().await?;
        self.last_write = Instant::now();
        Ok(())
    }

    /// The next method; a close from the broker is an error.
    async fn method(&mut self) -> io::Result<AMQPClass> {
        match self.frame().await? {
            AMQPFrame::Method(_, method) => {
                refuse_close(&method)?;
                Ok(method)
            }
            other => Err(io::Error::other(format!("expected a method, got {other}"))),
        }
    }

    /// The next frame other than a heartbeat. With heartbeats on, it sends
    /// one whenever the client wrote nothing for half an interval, and takes
    /// a broker silent for two whole intervals for gone (`TimedOut`), as the
    /// server does with its clients.
    async fn frame(&mut self) -> io::Result<AMQPFrame> {
        let Some(beat_every) = self.beat_every else {
            return self.client.source.next().await;
        };
        loop {
            if self.last_write.elapsed() >= beat_every {
                self.client.sink.put(&AMQPFrame::Heartbeat)?;
                self.flush().await?;
            }
            if self.last_read.elapsed() >= beat_every * 4 {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "missed heartbeats from the broker",
                ));
            }
            if let Ok(frame) =
                madsim::time::timeout(beat_every / 2, self.client.source.next()).await
            {
                let frame = frame?;
                self.last_read = Instant::now();
                if !matches!(frame, AMQPFrame::Heartbeat) {
                    return Ok(frame);
                }
            }
        }
    }
}

fn unexpected(expected: &str, got: &AMQPClass) -> io::Error {
    io::Error::other(format!("expected {expected}, got {got:?}"))
}
