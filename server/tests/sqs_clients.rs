//! Unmodified SQS clients against the server's SQS listener: boto3 through
//! the scenarios of tests/clients/sqs_boto3.py (each asserts what the
//! client sees), the seed document's SQS example with
//! `@aws-sdk/client-sqs` in Node.js (which checks the body digests, and
//! whose SigV4 signatures the server checks), and
//! raw HTTP for what no client does: going away during a long poll, a
//! long poll under way when the server stops, and an unsigned request from
//! off loopback.
//!
//! Needs `python3` with boto3 (`python3 -m pip install boto3`) and
//! `@aws-sdk/client-sqs` beside the scripts (`npm install --prefix
//! server/tests/clients`); CI's .ci/run installs both. Without them the
//! client tests say what is missing and pass.
// On a real runtime, sockets and processes: madsim builds leave this out.
#![cfg(not(madsim))]

mod common;

use brokerlab_server::Options;
use common::TestServer;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A client script that runs longer than this has hung.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);

const ACCESS_KEY: &str = "AKIDBROKERLAB";
const SECRET_KEY: &str = "brokerlab-secret";

fn start_with(data: &std::path::Path, access_keys: BTreeMap<String, String>) -> TestServer {
    TestServer::start_options(Options {
        data_dir: data.to_path_buf(),
        sqs_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        sqs_access_keys: access_keys,
        ..Options::new()
    })
}

fn start(data: &std::path::Path) -> TestServer {
    start_with(data, BTreeMap::new())
}

fn sqs_port(server: &TestServer) -> u16 {
    server.sqs.expect("the SQS listener is on").port()
}

fn boto3_installed() -> bool {
    let found = Command::new("python3")
        .args(["-c", "import boto3"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !found {
        eprintln!("skipped: boto3 is not installed (python3 -m pip install boto3)");
    }
    found
}

/// Runs a client script against the SQS port and gives back its standard
/// output; fails the test with its output unless it succeeds in time.
fn script_output(command: &mut Command, name: &str, port: u16) -> String {
    let child = command
        .env("BROKERLAB_SQS_PORT", port.to_string())
        .env("BROKERLAB_SQS_KEY", ACCESS_KEY)
        .env("BROKERLAB_SQS_SECRET", SECRET_KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("{name} does not start: {error}"));
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

/// Runs one scenario of sqs_boto3.py against a server of its own.
fn boto3_scenario(scenario: &str, access_keys: BTreeMap<String, String>) {
    if !boto3_installed() {
        return;
    }
    let data = tempfile::tempdir().expect("a temp dir");
    let server = start_with(data.path(), access_keys);
    let mut command = Command::new("python3");
    command
        .arg(common::client_script("sqs_boto3.py"))
        .arg(scenario);
    let output = script_output(&mut command, scenario, sqs_port(&server));
    assert!(output.ends_with("ok\n"), "{output}");
    server.stop();
}

#[test]
fn boto3_sends_receives_and_deletes_with_aws_md5_digests() {
    boto3_scenario("send_receive_delete", BTreeMap::new());
}

#[test]
fn boto3_receive_returns_only_the_attributes_asked_for() {
    boto3_scenario("attribute_selection", BTreeMap::new());
}

#[test]
fn boto3_batches_answer_per_entry_and_refuse_more_than_ten_entries() {
    boto3_scenario("batches", BTreeMap::new());
}

#[test]
fn boto3_message_reappears_after_its_visibility_timeout_and_a_stale_handle_deletes_nothing() {
    boto3_scenario("visibility_timeout", BTreeMap::new());
}

#[test]
fn boto3_message_received_max_receive_count_times_moves_to_the_dead_letter_queue() {
    boto3_scenario("redrive", BTreeMap::new());
}

#[test]
fn boto3_long_poll_is_answered_by_a_send_while_it_waits() {
    boto3_scenario("long_poll", BTreeMap::new());
}

#[test]
fn boto3_fifo_queue_keeps_group_order_and_deduplicates_by_id_and_by_content() {
    boto3_scenario("fifo", BTreeMap::new());
}

#[test]
fn boto3_lists_queues_a_page_at_a_time_with_next_tokens_and_its_paginator_follows_them() {
    boto3_scenario("list_pages", BTreeMap::new());
}

#[test]
fn boto3_errors_carry_aws_codes() {
    boto3_scenario("errors", BTreeMap::new());
}

#[test]
fn boto3_with_access_keys_configured_a_bad_signature_or_unknown_key_is_refused() {
    let keys = BTreeMap::from([(ACCESS_KEY.to_owned(), SECRET_KEY.to_owned())]);
    boto3_scenario("signatures", keys);
}

#[test]
fn seed_aws_sdk_sqs_example_sends_receives_deletes_and_batches_signed() {
    if !common::client_script("node_modules/@aws-sdk/client-sqs/package.json").exists() {
        eprintln!("skipped: @aws-sdk/client-sqs is not installed for Node.js (npm install --prefix server/tests/clients)");
        return;
    }
    let data = tempfile::tempdir().expect("a temp dir");
    // The seed's dummy credentials, configured: the SDK's SigV4 signatures are checked.
    let keys = BTreeMap::from([("test".to_owned(), "test".to_owned())]);
    let server = start_with(data.path(), keys);
    let mut command = Command::new("node");
    command.arg(common::client_script("sqs_seed.js"));
    let output = script_output(&mut command, "sqs_seed.js", sqs_port(&server));
    assert!(output.ends_with("ok\n"), "{output}");
    server.stop();
}

/// Sends one request of the JSON protocol on a fresh socket.
fn send_request(port: u16, action: &str, body: &str) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("the listener accepts");
    let request = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Amz-Target: AmazonSQS.{action}\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .expect("the request is sent");
    stream
}

/// The whole answer to a request sent with `send_request`.
fn read_answer(mut stream: TcpStream) -> String {
    stream
        .set_read_timeout(Some(SCRIPT_TIMEOUT))
        .expect("a timeout can be set");
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .expect("the answer is readable");
    answer
}

fn request(port: u16, action: &str, body: &str) -> String {
    read_answer(send_request(port, action, body))
}

fn queue_url(port: u16, name: &str) -> String {
    format!("http://127.0.0.1:{port}/000000000000/{name}")
}

#[test]
fn a_long_poll_whose_client_went_away_takes_no_message() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = start(data.path());
    let port = sqs_port(&server);
    let created = request(port, "CreateQueue", r#"{"QueueName":"abandoned"}"#);
    assert!(created.starts_with("HTTP/1.1 200"), "{created}");
    let url = queue_url(port, "abandoned");
    let poll = send_request(
        port,
        "ReceiveMessage",
        &format!(r#"{{"QueueUrl":"{url}","WaitTimeSeconds":20}}"#),
    );
    std::thread::sleep(Duration::from_millis(300));
    drop(poll);
    std::thread::sleep(Duration::from_millis(300));
    let sent = request(
        port,
        "SendMessage",
        &format!(r#"{{"QueueUrl":"{url}","MessageBody":"for someone here"}}"#),
    );
    assert!(sent.starts_with("HTTP/1.1 200"), "{sent}");
    let received = request(
        port,
        "ReceiveMessage",
        &format!(r#"{{"QueueUrl":"{url}","AttributeNames":["ApproximateReceiveCount"]}}"#),
    );
    assert!(received.contains("for someone here"), "{received}");
    assert!(
        received.contains(r#""ApproximateReceiveCount":"1""#),
        "{received}"
    );
    server.stop();
}

#[test]
fn a_long_poll_answers_with_no_messages_when_the_server_stops() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = start(data.path());
    let port = sqs_port(&server);
    let created = request(port, "CreateQueue", r#"{"QueueName":"stopping"}"#);
    assert!(created.starts_with("HTTP/1.1 200"), "{created}");
    let url = queue_url(port, "stopping");
    let poll = send_request(
        port,
        "ReceiveMessage",
        &format!(r#"{{"QueueUrl":"{url}","WaitTimeSeconds":20}}"#),
    );
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    server.stop();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the long poll held the shutdown for {:?}",
        started.elapsed()
    );
    let answer = read_answer(poll);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("{}"), "{answer}");
}

/// An address of this machine other than loopback, when it has one: the
/// one a UDP socket would send from (connecting a UDP socket sends nothing).
fn address_off_loopback() -> Option<std::net::IpAddr> {
    let socket = std::net::UdpSocket::bind(("0.0.0.0", 0)).ok()?;
    socket.connect(("192.0.2.1", 9)).ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[test]
fn without_access_keys_a_client_off_loopback_is_refused() {
    let Some(ip) = address_off_loopback() else {
        eprintln!("skipped: this machine has no address but loopback");
        return;
    };
    let data = tempfile::tempdir().expect("a temp dir");
    let server = TestServer::start_options(Options {
        data_dir: data.path().to_path_buf(),
        sqs_listen: Some(SocketAddr::from(([0, 0, 0, 0], 0))),
        ..Options::new()
    });
    let port = sqs_port(&server);
    let mut stream = TcpStream::connect((ip, port)).expect("the listener accepts");
    let body = "{}";
    let raw = format!(
        "POST / HTTP/1.1\r\nHost: {ip}:{port}\r\nX-Amz-Target: AmazonSQS.ListQueues\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(raw.as_bytes())
        .expect("the request is sent");
    let answer = read_answer(stream);
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(
        answer.contains(r#""__type":"com.amazonaws.sqs#InvalidClientTokenId""#),
        "{answer}"
    );
    let from_loopback = request(port, "ListQueues", "{}");
    assert!(from_loopback.starts_with("HTTP/1.1 200"), "{from_loopback}");
    server.stop();
}
