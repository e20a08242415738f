//! A server on an ephemeral loopback port, on a thread and runtime of its own,
//! for tests that talk to it over real sockets.
// Each test file uses a part of this module; the rest is dead there.
#![allow(dead_code)]

use brokerlab_server::{Options, Server, ServerError, Users};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// A running server; `stop` shuts it down and waits until its log is synced.
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Where it serves `/metrics`, when it does.
    pub metrics: Option<SocketAddr>,
    /// Where it serves the management API, when it does.
    pub management: Option<SocketAddr>,
    /// Where it accepts Kafka connections, when it does.
    pub kafka: Option<SocketAddr>,
    /// Where it accepts RESP connections, when it does.
    pub resp: Option<SocketAddr>,
    /// Where it serves SQS, when it does.
    pub sqs: Option<SocketAddr>,
    stop: oneshot::Sender<()>,
    thread: JoinHandle<Result<(), ServerError>>,
}

impl TestServer {
    /// Starts a server with its log in `data_dir`.
    pub fn start(data_dir: &Path) -> TestServer {
        TestServer::start_with(data_dir, Users::default())
    }

    /// Starts a server with its log in `data_dir` and these users.
    pub fn start_with(data_dir: &Path, users: Users) -> TestServer {
        TestServer::start_options(Options {
            data_dir: data_dir.to_path_buf(),
            users,
            ..Options::new()
        })
    }

    /// Starts a server with these options, on an ephemeral loopback port.
    pub fn start_options(options: Options) -> TestServer {
        let options = Options {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..options
        };
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async move {
                let server = Server::bind(options).await?;
                let addresses = (
                    server.local_addr()?,
                    server.metrics_addr(),
                    server.management_addr(),
                    server.kafka_addr(),
                    server.resp_addr(),
                    server.sqs_addr(),
                );
                addr_tx
                    .send(addresses)
                    .expect("the test waits for the address");
                server
                    .run(async move {
                        let _ = stopped.await;
                    })
                    .await
            })
        });
        let Ok((addr, metrics, management, kafka, resp, sqs)) = addr_rx.recv() else {
            let result = thread.join().expect("the server thread does not panic");
            panic!("the server did not start: {result:?}")
        };
        TestServer {
            addr,
            metrics,
            management,
            kafka,
            resp,
            sqs,
            stop,
            thread,
        }
    }

    /// Shuts the server down and waits for it.
    pub fn stop(self) {
        let _ = self.stop.send(());
        let result = self
            .thread
            .join()
            .expect("the server thread does not panic");
        result.expect("the server stops cleanly");
    }
}

/// A client script that runs longer than this has hung.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);

/// The path of a client script in tests/clients/.
pub fn client_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(name)
}

/// Runs a client script with `interpreter` against the server (its port in
/// BROKERLAB_PORT) and fails the test with the script's output unless it
/// exits successfully in time; `missing` says what to install when the
/// interpreter cannot be started.
pub fn run_client_script(
    interpreter: &str,
    missing: &str,
    name: &str,
    server: &TestServer,
    env: &[(&str, &str)],
) {
    let mut child = Command::new(interpreter)
        .arg(client_script(name))
        .env("BROKERLAB_PORT", server.addr.port().to_string())
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("{interpreter} does not start ({error}): {missing}"));
    let started = Instant::now();
    while child.try_wait().expect("the child can be polled").is_none() {
        if started.elapsed() > SCRIPT_TIMEOUT {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child
        .wait_with_output()
        .expect("the child's output is readable");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{name} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    println!("{name}:\n{stdout}");
}

/// A minimal AMQP client over amq-protocol's codec, for what real clients
/// never send: frames in the wrong place, oversize frames, silence.
pub mod raw {
    use amq_protocol::frame::{gen_frame, parse_frame, AMQPContentHeader, AMQPFrame, WriteContext};
    use amq_protocol::protocol::basic::{self, AMQPProperties as BasicProperties};
    use amq_protocol::protocol::{channel, connection, queue, AMQPClass};
    use amq_protocol::types::{AMQPValue, FieldTable};
    use std::io::{self, Read, Write};
    use std::net::{SocketAddr, TcpStream};
    use std::time::Duration;

    /// A client connection speaking frames.
    pub struct RawClient {
        stream: TcpStream,
        buffer: Vec<u8>,
    }

    impl RawClient {
        /// Connects and opens vhost "/" as guest, asking for `heartbeat_s`.
        pub fn open(addr: SocketAddr, heartbeat_s: u16) -> RawClient {
            RawClient::open_with(addr, heartbeat_s, FieldTable::default())
        }

        /// Connects announcing the `connection.blocked` capability, as pika,
        /// amqplib and lapin do.
        pub fn open_announcing_blocked(addr: SocketAddr) -> RawClient {
            let mut capabilities = FieldTable::default();
            capabilities.insert("connection.blocked".into(), AMQPValue::Boolean(true));
            let mut properties = FieldTable::default();
            properties.insert("capabilities".into(), AMQPValue::FieldTable(capabilities));
            RawClient::open_with(addr, 0, properties)
        }

        /// Connects with these client properties and opens vhost "/" as guest.
        pub fn open_with(
            addr: SocketAddr,
            heartbeat_s: u16,
            client_properties: FieldTable,
        ) -> RawClient {
            let mut client = RawClient::started(addr);
            let start_ok = connection::StartOk {
                mechanism: "PLAIN".into(),
                response: "\0guest\0guest".into(),
                locale: "en_US".into(),
                client_properties,
            };
            client.send_method(
                0,
                AMQPClass::Connection(connection::AMQPMethod::StartOk(start_ok)),
            );
            let AMQPClass::Connection(connection::AMQPMethod::Tune(tune)) = client.method() else {
                panic!("connection.tune comes after start-ok");
            };
            let tune_ok = connection::TuneOk {
                channel_max: tune.channel_max,
                frame_max: tune.frame_max,
                heartbeat: heartbeat_s,
            };
            client.send_method(
                0,
                AMQPClass::Connection(connection::AMQPMethod::TuneOk(tune_ok)),
            );
            let open = connection::Open {
                virtual_host: "/".into(),
            };
            client.send_method(0, AMQPClass::Connection(connection::AMQPMethod::Open(open)));
            assert!(matches!(
                client.method(),
                AMQPClass::Connection(connection::AMQPMethod::OpenOk(_))
            ));
            client
        }

        /// Connects, sends the protocol header and reads connection.start.
        pub fn started(addr: SocketAddr) -> RawClient {
            let stream = TcpStream::connect(addr).expect("the server accepts");
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .expect("a timeout can be set");
            let mut client = RawClient {
                stream,
                buffer: Vec::new(),
            };
            client.write_bytes(b"AMQP\x00\x00\x09\x01");
            assert!(matches!(
                client.method(),
                AMQPClass::Connection(connection::AMQPMethod::Start(_))
            ));
            client
        }

        /// Sends start-ok logging in as `user` with `password` and these client properties.
        pub fn start_ok(&mut self, user: &str, password: &str, client_properties: FieldTable) {
            let start_ok = connection::StartOk {
                mechanism: "PLAIN".into(),
                response: format!("\0{user}\0{password}").into(),
                locale: "en_US".into(),
                client_properties,
            };
            self.send_method(
                0,
                AMQPClass::Connection(connection::AMQPMethod::StartOk(start_ok)),
            );
        }

        /// Another handle on the socket, for a thread that writes while this one does not read.
        pub fn try_clone_stream(&self) -> TcpStream {
            self.stream.try_clone().expect("a socket can be cloned")
        }

        /// Reads and drops whatever comes until the server closes the
        /// socket; `Err` if it is still open after the read timeout.
        pub fn read_until_closed(&mut self) -> io::Result<()> {
            let mut chunk = vec![0u8; 64 * 1024];
            loop {
                match self.stream.read(&mut chunk) {
                    Ok(0) => return Ok(()),
                    Ok(_) => {}
                    Err(error) if error.kind() == io::ErrorKind::ConnectionReset => return Ok(()),
                    Err(error) => return Err(error),
                }
            }
        }

        /// Sets how long a read waits before it fails.
        pub fn set_read_timeout(&self, timeout: Duration) {
            self.stream
                .set_read_timeout(Some(timeout))
                .expect("a timeout can be set");
        }

        /// basic.qos with this prefetch count on channel 1, and its qos-ok.
        pub fn qos(&mut self, prefetch_count: u16) {
            let qos = basic::Qos {
                prefetch_count,
                ..basic::Qos::default()
            };
            self.send_method(1, AMQPClass::Basic(basic::AMQPMethod::Qos(qos)));
            assert!(matches!(
                self.method(),
                AMQPClass::Basic(basic::AMQPMethod::QosOk(_))
            ));
        }

        /// basic.consume of `queue` on channel 1 with manual acks; returns
        /// the consumer tag from consume-ok.
        pub fn consume(&mut self, queue: &str) -> String {
            let consume = basic::Consume {
                queue: queue.into(),
                ..basic::Consume::default()
            };
            self.send_method(1, AMQPClass::Basic(basic::AMQPMethod::Consume(consume)));
            match self.method() {
                AMQPClass::Basic(basic::AMQPMethod::ConsumeOk(ok)) => ok.consumer_tag.to_string(),
                other => panic!("expected basic.consume-ok, got {other:?}"),
            }
        }

        /// basic.ack of one delivery on channel 1.
        pub fn ack(&mut self, delivery_tag: u64) {
            let ack = basic::Ack {
                delivery_tag,
                multiple: false,
            };
            self.send_method(1, AMQPClass::Basic(basic::AMQPMethod::Ack(ack)));
        }

        /// The next basic.deliver's tag, redelivered flag and body size,
        /// skipping heartbeats.
        pub fn next_delivery(&mut self) -> (u64, bool, usize) {
            let deliver = match self.method() {
                AMQPClass::Basic(basic::AMQPMethod::Deliver(deliver)) => deliver,
                other => panic!("expected basic.deliver, got {other:?}"),
            };
            let Ok(AMQPFrame::Header(_, header)) = self.recv() else {
                panic!("a content header follows basic.deliver");
            };
            let mut size = 0;
            while (size as u64) < header.body_size {
                let Ok(AMQPFrame::Body(_, part)) = self.recv() else {
                    panic!("body frames follow their header");
                };
                size += part.len();
            }
            (deliver.delivery_tag, deliver.redelivered, size)
        }

        /// Writes raw bytes.
        pub fn write_bytes(&mut self, bytes: &[u8]) {
            self.stream.write_all(bytes).expect("the server reads");
        }

        /// Writes one frame.
        pub fn send(&mut self, frame: &AMQPFrame) {
            let (bytes, _) = gen_frame(frame)(WriteContext::from(Vec::new()))
                .expect("a Vec takes any frame")
                .into_inner();
            self.write_bytes(&bytes);
        }

        /// Writes one method frame.
        pub fn send_method(&mut self, channel: u16, method: AMQPClass) {
            self.send(&AMQPFrame::Method(channel, method));
        }

        /// The next frame; `Err` when the socket closed or timed out first.
        pub fn recv(&mut self) -> io::Result<AMQPFrame> {
            loop {
                if let Ok((rest, frame)) = parse_frame(self.buffer.as_slice()) {
                    let used = self.buffer.len() - rest.len();
                    self.buffer.drain(..used);
                    return Ok(frame);
                }
                let mut chunk = [0u8; 4096];
                match self.stream.read(&mut chunk)? {
                    0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                    read => self.buffer.extend_from_slice(&chunk[..read]),
                }
            }
        }

        /// The next method frame's method, skipping heartbeats.
        pub fn method(&mut self) -> AMQPClass {
            loop {
                match self.recv().expect("a frame arrives") {
                    AMQPFrame::Method(_, method) => return method,
                    AMQPFrame::Heartbeat => continue,
                    other => panic!("expected a method, got {other:?}"),
                }
            }
        }

        /// Opens channel `number` and waits for open-ok.
        pub fn open_channel(&mut self, number: u16) {
            let open = AMQPClass::Channel(channel::AMQPMethod::Open(channel::Open {}));
            self.send_method(number, open);
            assert!(matches!(
                self.method(),
                AMQPClass::Channel(channel::AMQPMethod::OpenOk(_))
            ));
        }

        /// Sends queue.declare of `queue` on channel 1 (`passive`: only asks
        /// its message count); the reply is [`RawClient::declare_ok`].
        pub fn declare(&mut self, queue: &str, passive: bool) {
            let declare = queue::Declare {
                queue: queue.into(),
                passive,
                ..queue::Declare::default()
            };
            self.send_method(1, AMQPClass::Queue(queue::AMQPMethod::Declare(declare)));
        }

        /// The message count of the queue.declare-ok that must come next.
        pub fn declare_ok(&mut self) -> u32 {
            match self.method() {
                AMQPClass::Queue(queue::AMQPMethod::DeclareOk(ok)) => ok.message_count,
                other => panic!("expected queue.declare-ok, got {other:?}"),
            }
        }

        /// Publishes `body` to `queue` through the default exchange on channel 1.
        pub fn publish(&mut self, queue: &str, body: &[u8]) {
            let publish = basic::Publish {
                routing_key: queue.into(),
                ..basic::Publish::default()
            };
            self.send_method(1, AMQPClass::Basic(basic::AMQPMethod::Publish(publish)));
            let header = AMQPContentHeader {
                class_id: 60,
                body_size: body.len() as u64,
                properties: BasicProperties::default(),
            };
            self.send(&AMQPFrame::Header(1, header));
            self.send(&AMQPFrame::Body(1, body.to_vec()));
        }

        /// The delivery tag and body of the basic.deliver that must come next.
        pub fn delivery(&mut self) -> (u64, Vec<u8>) {
            let AMQPClass::Basic(basic::AMQPMethod::Deliver(deliver)) = self.method() else {
                panic!("expected basic.deliver");
            };
            let Ok(AMQPFrame::Header(_, header)) = self.recv() else {
                panic!("a content header follows basic.deliver");
            };
            let mut body = Vec::new();
            while (body.len() as u64) < header.body_size {
                let Ok(AMQPFrame::Body(_, part)) = self.recv() else {
                    panic!("body frames follow their header");
                };
                body.extend_from_slice(&part);
            }
            (deliver.delivery_tag, body)
        }

        /// The reply code of the connection.close that must come next, answered with close-ok.
        pub fn connection_close_code(&mut self) -> u16 {
            self.connection_close().reply_code
        }

        /// The connection.close that must come next, answered with close-ok.
        pub fn connection_close(&mut self) -> connection::Close {
            let close = match self.method() {
                AMQPClass::Connection(connection::AMQPMethod::Close(close)) => close,
                other => panic!("expected connection.close, got {other:?}"),
            };
            let close_ok = connection::AMQPMethod::CloseOk(connection::CloseOk {});
            self.send_method(0, AMQPClass::Connection(close_ok));
            close
        }
    }
}

/// An HTTP/1.1 request over a socket of its own, as curl would send it:
/// its status and body. `credentials` are basic auth's user and password.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    credentials: Option<(&str, &str)>,
    body: &[u8],
) -> (u16, String) {
    use base64::Engine;
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("the listener accepts");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a socket option");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        request.push_str("Content-Type: application/json\r\n");
    }
    if let Some((user, password)) = credentials {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        request.push_str(&format!("Authorization: Basic {token}\r\n"));
    }
    request.push_str("\r\n");
    stream
        .write_all(request.as_bytes())
        .expect("the request is sent");
    stream.write_all(body).expect("the body is sent");
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .expect("the response arrives whole");
    let response = String::from_utf8(response).expect("a UTF-8 response");
    let (head, body) = response
        .split_once("\r\n\r\n")
        .expect("a response head and body");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, body)
}

/// A chunked body, whole.
fn dechunk(mut chunked: &str) -> String {
    let mut body = String::new();
    loop {
        let (size, rest) = chunked.split_once("\r\n").expect("a chunk size line");
        let size = usize::from_str_radix(size.trim(), 16).expect("a hexadecimal chunk size");
        if size == 0 {
            return body;
        }
        body.push_str(&rest[..size]);
        chunked = &rest[size + 2..];
    }
}
