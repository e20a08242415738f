//! Hostile and careless clients over a real socket: input that once
//! crashed, stalled or confused the server. Each test ends by checking that
//! a well-behaved client is still served.
// On a real runtime, sockets and processes: madsim builds leave this out.
#![cfg(not(madsim))]

mod common;

use amq_protocol::frame::AMQPFrame;
use amq_protocol::protocol::{channel, connection, queue, AMQPClass};
use common::raw::RawClient;
use common::TestServer;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A frame of `kind` on `channel` around `payload`.
fn frame(kind: u8, channel: u16, payload: &[u8]) -> Vec<u8> {
    let mut bytes = vec![kind];
    bytes.extend_from_slice(&channel.to_be_bytes());
    bytes.extend_from_slice(&u32::try_from(payload.len()).expect("small").to_be_bytes());
    bytes.extend_from_slice(payload);
    bytes.push(0xCE);
    bytes
}

fn long(bytes: &[u8]) -> Vec<u8> {
    let mut encoded = u32::try_from(bytes.len())
        .expect("small")
        .to_be_bytes()
        .to_vec();
    encoded.extend_from_slice(bytes);
    encoded
}

fn short_string(text: &str) -> Vec<u8> {
    let mut encoded = vec![u8::try_from(text.len()).expect("short")];
    encoded.extend_from_slice(text.as_bytes());
    encoded
}

/// T(0) is an empty table; T(k+1) holds one entry `a` of type `F` holding T(k).
fn nested_tables(depth: usize) -> Vec<u8> {
    let mut table = long(&[]);
    for _ in 0..depth {
        let mut entry = vec![1, b'a', b'F'];
        entry.extend_from_slice(&table);
        table = long(&entry);
    }
    table
}

/// A table holding `depth` arrays, each inside the one before.
fn nested_arrays(depth: usize) -> Vec<u8> {
    let mut array = long(&[]);
    for _ in 1..depth {
        let mut value = vec![b'A'];
        value.extend_from_slice(&array);
        array = long(&value);
    }
    let mut entry = vec![1, b'a', b'A'];
    entry.extend_from_slice(&array);
    long(&entry)
}

/// A queue.declare of `name` on channel 1 with these encoded arguments.
fn declare_with_arguments(name: &str, arguments: &[u8]) -> Vec<u8> {
    let mut payload = vec![0, 50, 0, 10, 0, 0];
    payload.extend_from_slice(&short_string(name));
    payload.push(0);
    payload.extend_from_slice(arguments);
    frame(1, 1, &payload)
}

/// connection.start-ok with these encoded client properties, logging in as guest.
fn start_ok(client_properties: &[u8]) -> Vec<u8> {
    let mut payload = vec![0, 10, 0, 11];
    payload.extend_from_slice(client_properties);
    payload.extend_from_slice(&short_string("PLAIN"));
    payload.extend_from_slice(&long(b"\0guest\0guest"));
    payload.extend_from_slice(&short_string("en_US"));
    frame(1, 0, &payload)
}

/// connection.tune-ok, connection.open of "/" and channel.open of channel 1.
fn tune_ok_open_and_channel_open(channel_max: u16) -> Vec<u8> {
    let mut tune_ok = vec![0, 10, 0, 31];
    tune_ok.extend_from_slice(&channel_max.to_be_bytes());
    tune_ok.extend_from_slice(&131_072u32.to_be_bytes());
    tune_ok.extend_from_slice(&0u16.to_be_bytes());
    let mut open = vec![0, 10, 0, 40];
    open.extend_from_slice(&short_string("/"));
    open.extend_from_slice(&[0, 0]);
    let channel_open = [0, 20, 0, 10, 0];
    let mut bytes = frame(1, 0, &tune_ok);
    bytes.extend_from_slice(&frame(1, 0, &open));
    bytes.extend_from_slice(&frame(1, 1, &channel_open));
    bytes
}

/// A socket that has sent the protocol header and read connection.start.
fn started(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).expect("the server accepts");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a timeout can be set");
    stream
        .write_all(b"AMQP\x00\x00\x09\x01")
        .expect("the server reads");
    read_frame(&mut stream).expect("connection.start arrives");
    stream
}

/// The next frame's type, channel and payload; `None` once the socket closes.
fn read_frame(stream: &mut TcpStream) -> Option<(u8, u16, Vec<u8>)> {
    let mut header = [0u8; 7];
    stream.read_exact(&mut header).ok()?;
    let size = u32::from_be_bytes([header[3], header[4], header[5], header[6]]) as usize;
    let mut payload = vec![0u8; size + 1];
    stream.read_exact(&mut payload).ok()?;
    payload.pop();
    Some((
        header[0],
        u16::from_be_bytes([header[1], header[2]]),
        payload,
    ))
}

/// The class and method ids of the next method frame, skipping heartbeats.
fn next_method(stream: &mut TcpStream) -> Option<(u16, (u16, u16), Vec<u8>)> {
    loop {
        let (kind, channel, payload) = read_frame(stream)?;
        if kind == 1 {
            let class = u16::from_be_bytes([payload[0], payload[1]]);
            let method = u16::from_be_bytes([payload[2], payload[3]]);
            return Some((channel, (class, method), payload));
        }
    }
}

/// The code and cause of a connection.close payload.
fn close_code_and_cause(payload: &[u8]) -> (u16, (u16, u16)) {
    let code = u16::from_be_bytes([payload[4], payload[5]]);
    let text_end = 7 + usize::from(payload[6]);
    let class = u16::from_be_bytes([payload[text_end], payload[text_end + 1]]);
    let method = u16::from_be_bytes([payload[text_end + 2], payload[text_end + 3]]);
    (code, (class, method))
}

/// A well-behaved client declares a queue, publishes and gets its message back.
fn a_client_is_still_served(addr: SocketAddr) {
    let mut client = RawClient::open(addr, 0);
    client.open_channel(1);
    client.declare("still-served", false);
    client.declare_ok();
    client.publish("still-served", b"hello");
    client.declare("still-served", true);
    assert_eq!(client.declare_ok(), 1, "the message was queued");
}

#[test]
fn a_start_ok_whose_client_properties_nest_too_deep_is_refused_before_login() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = TestServer::start(data.path());
    // 500 levels fit in the 4 KiB a frame may have before tune-ok (as in
    // RabbitMQ) and are refused for their depth before any parsing.
    let mut stream = started(server.addr);
    stream
        .write_all(&start_ok(&nested_tables(500)))
        .expect("the server reads");
    let (_, ids, payload) = next_method(&mut stream).expect("connection.close arrives");
    assert_eq!(ids, (10, 50), "connection.close");
    assert_eq!(close_code_and_cause(&payload).0, 501, "FRAME_ERROR");
    // 6,000 levels (42 KB) are refused for their size from the frame's
    // header; the socket may close before the client reads the close.
    let mut stream = started(server.addr);
    let _ = stream.write_all(&start_ok(&nested_tables(6000)));
    if let Some((_, ids, payload)) = next_method(&mut stream) {
        assert_eq!(ids, (10, 50), "connection.close");
        assert_eq!(close_code_and_cause(&payload).0, 501, "FRAME_ERROR");
    }
    a_client_is_still_served(server.addr);
    server.stop();
}

#[test]
fn queue_declare_arguments_nesting_too_deep_close_the_connection_with_501() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = TestServer::start(data.path());
    for arguments in [nested_tables(6000), nested_arrays(10_000)] {
        let mut client = RawClient::open(server.addr, 0);
        client.open_channel(1);
        client.write_bytes(&declare_with_arguments("deep", &arguments));
        let close = client.connection_close();
        assert_eq!(close.reply_code, 501);
        assert_eq!(
            (close.class_id, close.method_id),
            (50, 10),
            "names queue.declare"
        );
    }
    a_client_is_still_served(server.addr);
    server.stop();
}

#[test]
fn queue_declare_arguments_nested_a_few_levels_are_accepted() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = TestServer::start(data.path());
    let mut client = RawClient::open(server.addr, 0);
    client.open_channel(1);
    client.write_bytes(&declare_with_arguments("shallow", &nested_tables(8)));
    client.declare_ok();
    server.stop();
}

#[test]
fn content_headers_nesting_too_deep_close_the_connection_with_501() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = TestServer::start(data.path());
    let mut client = RawClient::open(server.addr, 0);
    client.open_channel(1);
    // basic.publish to the default exchange, then a header whose `headers` nest 6,000 deep.
    let mut publish = vec![0, 60, 0, 40, 0, 0];
    publish.extend_from_slice(&short_string(""));
    publish.extend_from_slice(&short_string("q"));
    publish.push(0);
    client.write_bytes(&frame(1, 1, &publish));
    let mut header = vec![0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0b0010_0000, 0];
    header.extend_from_slice(&nested_tables(6000));
    client.write_bytes(&frame(2, 1, &header));
    assert_eq!(client.connection_close_code(), 501);
    a_client_is_still_served(server.addr);
    server.stop();
}

/// Found by the `frames` fuzz target: amq-protocol parses a content
/// header's properties whatever its class, so the nesting bound must hold
/// for every class, not only basic's (60).
#[test]
fn content_headers_of_any_class_nesting_too_deep_close_the_connection_with_501() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = TestServer::start(data.path());
    for class in [10u16, 61, 0xffff] {
        let mut client = RawClient::open(server.addr, 0);
        client.open_channel(1);
        let mut publish = vec![0, 60, 0, 40, 0, 0];
        publish.extend_from_slice(&short_string(""));
        publish.extend_from_slice(&short_string("q"));
        publish.push(0);
        client.write_bytes(&frame(1, 1, &publish));
        let mut header = class.to_be_bytes().to_vec();
        header.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0b0010_0000, 0]);
        header.extend_from_slice(&nested_tables(6000));
        client.write_bytes(&frame(2, 1, &header));
        assert_eq!(client.connection_close_code(), 501, "class {class}");
    }
    // Before login too: 500 levels fit in the 4 KiB frame allowed then.
    let mut stream = started(server.addr);
    let mut header = vec![0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0b0010_0000, 0];
    header.extend_from_slice(&nested_tables(500));
    stream
        .write_all(&frame(2, 0, &header))
        .expect("the server reads");
    let (_, ids, payload) = next_method(&mut stream).expect("connection.close arrives");
    assert_eq!(ids, (10, 50), "connection.close");
    assert_eq!(close_code_and_cause(&payload).0, 501, "FRAME_ERROR");
    a_client_is_still_served(server.addr);
    server.stop();
}

/// Found by the `core_inputs` fuzz target: a double NaN in a redeclare's
/// arguments panicked the core (and with it the broker task) while it
/// worded the "inequivalent arg" close. It closes the channel with 406.
#[test]
fn a_redeclare_with_a_nan_argument_closes_the_channel_with_406_and_the_server_lives_on() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = TestServer::start(data.path());
    let mut client = RawClient::open(server.addr, 0);
    client.open_channel(1);
    // A table of one entry, x-max-length, of this type and value.
    let max_length = |kind: u8, value: &[u8]| {
        let mut entry = short_string("x-max-length");
        entry.push(kind);
        entry.extend_from_slice(value);
        long(&entry)
    };
    let ten = max_length(b'I', &10i32.to_be_bytes());
    client.write_bytes(&declare_with_arguments("nan-q", &ten));
    client.declare_ok();
    let nan = max_length(b'd', &f64::NAN.to_be_bytes());
    client.write_bytes(&declare_with_arguments("nan-q", &nan));
    match client.method() {
        AMQPClass::Channel(channel::AMQPMethod::Close(close)) => {
            assert_eq!(close.reply_code, 406, "{}", close.reply_text);
        }
        other => panic!("expected channel.close, got {other:?}"),
    }
    a_client_is_still_served(server.addr);
    server.stop();
}

#[test]
fn frames_pipelined_with_connection_open_are_answered_without_more_input() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = TestServer::start(data.path());
    let mut stream = started(server.addr);
    stream
        .write_all(&start_ok(&long(&[])))
        .expect("the server reads");
    let (_, tune, _) = next_method(&mut stream).expect("connection.tune arrives");
    assert_eq!(tune, (10, 30));
    // Heartbeats off: nothing else would wake the connection.
    stream
        .write_all(&tune_ok_open_and_channel_open(2047))
        .expect("the server reads");
    let (_, open_ok, _) = next_method(&mut stream).expect("connection.open-ok arrives");
    assert_eq!(open_ok, (10, 41));
    let (channel, channel_open_ok, _) = next_method(&mut stream).expect("channel.open-ok arrives");
    assert_eq!((channel, channel_open_ok), (1, (20, 11)));
    server.stop();
}

#[test]
fn a_tune_ok_asking_for_channel_max_0_is_refused_with_530() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = TestServer::start(data.path());
    let mut stream = started(server.addr);
    stream
        .write_all(&start_ok(&long(&[])))
        .expect("the server reads");
    next_method(&mut stream).expect("connection.tune arrives");
    stream
        .write_all(&tune_ok_open_and_channel_open(0))
        .expect("the server reads");
    let (_, ids, payload) = next_method(&mut stream).expect("connection.close arrives");
    assert_eq!(ids, (10, 50));
    assert_eq!(close_code_and_cause(&payload).0, 530, "NOT_ALLOWED");
    a_client_is_still_served(server.addr);
    server.stop();
}

#[test]
fn garbage_after_a_refused_frame_ends_the_connection_not_the_server() {
    // A connection task's panic would not stop the server (tokio catches
    // it), so the test watches for one.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        TASK_PANICKED.store(true, Ordering::SeqCst);
        default_hook(info);
    }));
    let data = tempfile::tempdir().expect("a temp dir");
    let server = TestServer::start(data.path());
    let mut client = RawClient::open(server.addr, 0);
    // channel.open on channel 4000 (above channel_max), then, once it is
    // refused, an unknown frame type and 200 KB of bytes while the server
    // waits for close-ok.
    client.write_bytes(&frame(1, 4000, &[0, 20, 0, 10, 0]));
    let close = match client.method() {
        AMQPClass::Connection(connection::AMQPMethod::Close(close)) => close,
        other => panic!("expected connection.close, got {other:?}"),
    };
    assert_eq!(close.reply_code, 530);
    let mut garbage = vec![9, 0, 0, 0, 0, 0, 0];
    garbage.resize(garbage.len() + 200 * 1024, 0x41);
    client.write_bytes(&garbage);
    // The server reads what follows until it gives up on close-ok and closes.
    while client.recv().is_ok() {}
    a_client_is_still_served(server.addr);
    server.stop();
    assert!(
        !TASK_PANICKED.load(Ordering::SeqCst),
        "no task panicked on the input"
    );
}

static TASK_PANICKED: AtomicBool = AtomicBool::new(false);

#[test]
fn replies_to_methods_pipelined_before_connection_close_come_before_close_ok() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = TestServer::start(data.path());
    let mut client = RawClient::open(server.addr, 0);
    client.open_channel(1);
    let declare = queue::Declare {
        queue: "before-close".into(),
        ..queue::Declare::default()
    };
    let close = connection::Close {
        reply_code: 200,
        reply_text: "bye".into(),
        class_id: 0,
        method_id: 0,
    };
    let mut bytes = Vec::new();
    for (channel, method) in [
        (1, AMQPClass::Queue(queue::AMQPMethod::Declare(declare))),
        (
            0,
            AMQPClass::Connection(connection::AMQPMethod::Close(close)),
        ),
    ] {
        let frame = AMQPFrame::Method(channel, method);
        let (encoded, _) = amq_protocol::frame::gen_frame(&frame)(
            amq_protocol::frame::WriteContext::from(Vec::new()),
        )
        .expect("a Vec takes any frame")
        .into_inner();
        bytes.extend_from_slice(&encoded);
    }
    client.write_bytes(&bytes);
    assert!(matches!(
        client.method(),
        AMQPClass::Queue(queue::AMQPMethod::DeclareOk(_))
    ));
    assert!(matches!(
        client.method(),
        AMQPClass::Connection(connection::AMQPMethod::CloseOk(_))
    ));
    server.stop();
}
