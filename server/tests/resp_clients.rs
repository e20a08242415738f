//! Unmodified Redis clients against the server's RESP listener: the seed
//! document's Redis Pub/Sub examples in Python (redis-py) and Node.js
//! (`redis`), run as scripts in tests/clients/ that assert what arrives;
//! one redis-py script run against Debian's redis-server and against
//! brokerlab, whose observations must be the same; Redis's slow-subscriber
//! rule end to end; and raw bytes that no client sends (truncated,
//! oversized, garbage), which get Redis's error or a closed connection
//! and leave the server serving.
//!
//! Needs `python3` with redis-py (`python3 -m pip install redis`), the
//! `redis` package beside the scripts (`npm install --prefix
//! server/tests/clients`) and, for the comparison, `redis-server` (Debian's
//! `redis-server` package); CI's .ci/run installs all three. Without them
//! the tests say what is missing and pass.
// On a real runtime, sockets and processes: madsim builds leave this out.
#![cfg(not(madsim))]

mod common;

use brokerlab_core::PubSubConfig;
use brokerlab_server::Options;
use common::TestServer;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A client script that runs longer than this has hung.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);

fn start_with(data: &std::path::Path, options: Options) -> TestServer {
    TestServer::start_options(Options {
        data_dir: data.to_path_buf(),
        resp_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        ..options
    })
}

fn start(data: &std::path::Path) -> TestServer {
    start_with(data, Options::new())
}

fn resp_port(server: &TestServer) -> u16 {
    server.resp.expect("the RESP listener is on").port()
}

/// Whether python3 can import `module`; when not, the test says what to install.
fn python_module_installed(module: &str, install: &str) -> bool {
    let found = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|output| output.status.success());
    if !found {
        eprintln!("skipped: {module} is not installed ({install})");
    }
    found
}

fn redis_py_installed() -> bool {
    python_module_installed("redis", "python3 -m pip install redis")
}

/// Runs a client script against a RESP port and gives back its standard
/// output; fails the test with its output unless it succeeds in time.
fn script_output(interpreter: &str, name: &str, port: u16) -> String {
    let child = Command::new(interpreter)
        .arg(common::client_script(name))
        .env("BROKERLAB_RESP_PORT", port.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("{interpreter} does not start: {error}"));
    let output = wait_bounded(child, name);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{name} against port {port} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    stdout
}

fn wait_bounded(mut child: Child, name: &str) -> std::process::Output {
    let started = Instant::now();
    while child.try_wait().expect("the child can be polled").is_none() {
        if started.elapsed() > SCRIPT_TIMEOUT {
            let _ = child.kill();
            panic!("{name} hung past {SCRIPT_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child
        .wait_with_output()
        .expect("the child's output is readable")
}

#[test]
fn seed_redis_py_example_delivers_to_the_subscriber_of_the_moment() {
    if !redis_py_installed() {
        return;
    }
    let data = tempfile::tempdir().expect("a temp dir");
    let server = start(data.path());
    let output = script_output("python3", "redis_seed.py", resp_port(&server));
    assert!(output.ends_with("ok\n"), "{output}");
    server.stop();
}

#[test]
fn seed_node_redis_examples_deliver_by_channel_by_pattern_and_to_several_channels() {
    if !common::client_script("node_modules/redis/package.json").exists() {
        eprintln!("skipped: redis is not installed for Node.js (npm install --prefix server/tests/clients)");
        return;
    }
    let data = tempfile::tempdir().expect("a temp dir");
    let server = start(data.path());
    let output = script_output("node", "redis_seed.js", resp_port(&server));
    assert!(output.ends_with("ok\n"), "{output}");
    server.stop();
}

/// Debian's redis-server on an ephemeral port, stopped when dropped.
struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    /// Starts one, or says why not.
    fn start() -> Option<RedisServer> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .ok()?;
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let Ok(child) = child else {
            eprintln!(
                "comparison skipped: redis-server is not installed (apt-get install redis-server)"
            );
            return None;
        };
        let server = RedisServer { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(server)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn redis_py_observes_the_same_pubsub_from_brokerlab_as_from_redis_server() {
    if !redis_py_installed() {
        return;
    }
    let data = tempfile::tempdir().expect("a temp dir");
    let server = start(data.path());
    let brokerlab = script_output("python3", "redis_observe.py", resp_port(&server));
    server.stop();
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let reference = script_output("python3", "redis_observe.py", redis.port);
    for (ours, theirs) in brokerlab.lines().zip(reference.lines()) {
        assert_eq!(ours, theirs, "brokerlab, then redis-server");
    }
    assert_eq!(brokerlab.lines().count(), reference.lines().count());
}

/// A request as clients send it.
fn encode(words: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", words.len()).into_bytes();
    for word in words {
        out.extend_from_slice(format!("${}\r\n", word.len()).as_bytes());
        out.extend_from_slice(word);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Sends `bytes` on a new connection and reads until the server closes it
/// or is quiet for a while: what came back, and whether it closed.
fn exchange(port: u16, bytes: &[u8]) -> (Vec<u8>, bool) {
    let mut socket = TcpStream::connect(("127.0.0.1", port)).expect("the listener accepts");
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("a timeout can be set");
    // The server may close before it has read everything sent.
    let _ = socket.write_all(bytes);
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match socket.read(&mut chunk) {
            Ok(0) => return (got, true),
            Ok(count) => got.extend_from_slice(&chunk[..count]),
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => {
                return (got, true)
            }
            Err(_) => return (got, false),
        }
    }
}

fn still_serves(port: u16) {
    let (reply, _) = exchange(port, &encode(&[b"PING"]));
    assert_eq!(reply, b"+PONG\r\n", "the server still answers");
}

/// Each answer is what Debian's redis-server 7.0.15 sends for the same bytes.
#[test]
fn bad_requests_get_redis_protocol_errors_and_a_closed_connection() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = start(data.path());
    let port = resp_port(&server);
    let cases: [(&[u8], &[u8]); 6] = [
        (
            b"*abc\r\n",
            b"-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*1\r\nx\r\n",
            b"-ERR Protocol error: expected '$', got 'x'\r\n",
        ),
        (
            b"*1\r\n$-5\r\n",
            b"-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*1\r\n$999999999999\r\n",
            b"-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*3\r\n$1\r\na\r\n*1\r\n",
            b"-ERR Protocol error: expected '$', got '*'\r\n",
        ),
        (
            b"*2\r\n$4\r\nPING\r\n:1\r\n",
            b"-ERR Protocol error: expected '$', got ':'\r\n",
        ),
    ];
    for (request, answer) in cases {
        let (reply, closed) = exchange(port, request);
        assert_eq!(reply, answer, "{}", String::from_utf8_lossy(request));
        assert!(closed, "closed after {}", String::from_utf8_lossy(request));
    }
    // Past Redis's 64 KiB bound on an inline request.
    let too_big_inline = vec![b'x'; 70_000];
    let (reply, closed) = exchange(port, &too_big_inline);
    assert_eq!(reply, b"-ERR Protocol error: too big inline request\r\n");
    assert!(closed);
    let (reply, _) = exchange(port, b"garbage here\r\n");
    assert_eq!(
        reply,
        b"-ERR unknown command 'garbage', with args beginning with: 'here' \r\n"
    );
    still_serves(port);
    server.stop();
}

#[test]
fn truncated_and_random_requests_never_stop_the_server() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = start(data.path());
    let port = resp_port(&server);
    // Truncated: the client leaves halfway through a request.
    let whole = encode(&[b"PUBLISH", b"channel", b"message"]);
    for cut in [1, 5, 12, whole.len() - 1] {
        let mut socket = TcpStream::connect(("127.0.0.1", port)).expect("the listener accepts");
        socket.write_all(&whole[..cut]).expect("the bytes are sent");
        drop(socket);
    }
    // Bytes from a fixed generator, some shaped like requests.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for round in 0..200 {
        let mut bytes = if round % 2 == 0 {
            b"*3\r\n$".to_vec()
        } else {
            Vec::new()
        };
        for _ in 0..64 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            bytes.push(b"*$\r\n0123456789-abc"[(state % 18) as usize]);
        }
        let mut socket = TcpStream::connect(("127.0.0.1", port)).expect("the listener accepts");
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("a timeout can be set");
        let _ = socket.write_all(&bytes);
        let _ = socket.read(&mut [0u8; 1024]);
    }
    still_serves(port);
    server.stop();
}

/// Publishes `count` messages of `size` bytes to `channel` on `socket`,
/// reading each answer: the receivers each publish counted.
fn publish_many(socket: &mut TcpStream, channel: &[u8], size: usize, count: usize) -> Vec<u64> {
    let message = vec![b'm'; size];
    let request = encode(&[b"PUBLISH", channel, &message]);
    let mut counts = Vec::with_capacity(count);
    let mut reader = std::io::BufReader::new(socket.try_clone().expect("the socket clones"));
    for _ in 0..count {
        socket.write_all(&request).expect("the publish is sent");
        let mut line = String::new();
        std::io::BufRead::read_line(&mut reader, &mut line).expect("the answer is read");
        let receivers = line
            .trim_start_matches(':')
            .trim_end()
            .parse()
            .expect("an integer answer");
        counts.push(receivers);
    }
    counts
}

#[test]
fn a_subscriber_that_stops_reading_is_disconnected_at_the_output_buffer_limit() {
    let data = tempfile::tempdir().expect("a temp dir");
    let mut options = Options::new();
    options.config.pubsub = PubSubConfig {
        output_buffer_hard_bytes: 256 * 1024,
        ..PubSubConfig::default()
    };
    options.outgoing_buffer_max_bytes = 64 * 1024;
    let server = start_with(data.path(), options);
    let port = resp_port(&server);
    let mut stalled = TcpStream::connect(("127.0.0.1", port)).expect("the listener accepts");
    stalled
        .write_all(&encode(&[b"SUBSCRIBE", b"firehose"]))
        .expect("the subscribe is sent");
    let mut keeping_up = TcpStream::connect(("127.0.0.1", port)).expect("the listener accepts");
    keeping_up
        .write_all(&encode(&[b"SUBSCRIBE", b"firehose"]))
        .expect("the subscribe is sent");
    let mut publisher = TcpStream::connect(("127.0.0.1", port)).expect("the listener accepts");
    let started = Instant::now();
    while publish_many(&mut publisher, b"firehose", 1, 1) != [2] {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "both subscribed"
        );
    }
    // The subscriber that keeps up reads on a thread of its own.
    let reader = std::thread::spawn(move || {
        let mut sink = [0u8; 64 * 1024];
        let mut total = 0usize;
        keeping_up
            .set_read_timeout(Some(Duration::from_secs(2)))
            .expect("a timeout can be set");
        while let Ok(count) = keeping_up.read(&mut sink) {
            if count == 0 {
                break;
            }
            total += count;
        }
        total
    });
    // 64 MiB at most: far past the kernel's buffers and the limit.
    let mut counts = Vec::new();
    for _ in 0..4096 {
        counts.extend(publish_many(&mut publisher, b"firehose", 16 * 1024, 1));
        if counts.last() == Some(&1) {
            break;
        }
    }
    assert_eq!(
        counts.last(),
        Some(&1),
        "the stalled subscriber was disconnected"
    );
    assert!(
        counts.iter().all(|&count| count >= 1),
        "the reading subscriber stays"
    );
    let numsub = encode(&[b"PUBSUB", b"NUMSUB", b"firehose"]);
    publisher.write_all(&numsub).expect("sent");
    let mut answer = [0u8; 64];
    let count = publisher.read(&mut answer).expect("answered");
    assert_eq!(&answer[..count], b"*2\r\n$8\r\nfirehose\r\n:1\r\n");
    // The stalled subscriber's socket ends once what the kernel held is read.
    stalled
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("a timeout can be set");
    let mut sink = vec![0u8; 1024 * 1024];
    let closed = loop {
        match stalled.read(&mut sink) {
            Ok(0) => break true,
            Ok(_) => continue,
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(_) => break false,
        }
    };
    assert!(closed, "the stalled subscriber's connection is closed");
    drop(publisher);
    let read = reader.join().expect("the reader does not panic");
    assert!(read > 0);
    server.stop();
}
