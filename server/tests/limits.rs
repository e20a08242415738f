//! Every limit tested at the limit, over real sockets, while a
//! well-behaved client on another connection keeps being served: what is
//! at the limit is accepted, what passes it is refused as RabbitMQ
//! refuses it (or, where RabbitMQ has no such limit, in its words for the
//! nearest one), and nothing else is disturbed.
// On a real runtime, sockets and processes: madsim builds leave this out.
#![cfg(not(madsim))]

mod common;

use amq_protocol::frame::{AMQPContentHeader, AMQPFrame};
use amq_protocol::protocol::{basic, channel, connection, queue, AMQPClass};
use amq_protocol::types::{AMQPValue, FieldTable};
use brokerlab_server::Options;
use common::raw::RawClient;
use common::TestServer;
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// A client logged in before the test pushes a limit, checked again after.
struct Bystander {
    client: RawClient,
    rounds: u32,
}

impl Bystander {
    fn open(addr: SocketAddr) -> Bystander {
        let mut client = RawClient::open(addr, 0);
        client.open_channel(1);
        client.declare("bystander", false);
        client.declare_ok();
        let mut bystander = Bystander { client, rounds: 0 };
        bystander.is_served();
        bystander
    }

    /// Publishes a message and finds it queued.
    fn is_served(&mut self) {
        self.rounds += 1;
        self.client.publish("bystander", b"still here");
        self.client.declare("bystander", true);
        assert_eq!(self.client.declare_ok(), self.rounds, "served");
    }
}

fn server_with(data: &tempfile::TempDir, options: Options) -> TestServer {
    TestServer::start_options(Options {
        data_dir: data.path().to_path_buf(),
        ..options
    })
}

fn capabilities(authentication_failure_close: bool) -> FieldTable {
    let mut capabilities = FieldTable::default();
    capabilities.insert(
        "authentication_failure_close".into(),
        AMQPValue::Boolean(authentication_failure_close),
    );
    let mut properties = FieldTable::default();
    properties.insert("capabilities".into(), AMQPValue::FieldTable(capabilities));
    properties
}

#[test]
fn a_refused_login_is_told_at_once_and_its_socket_held_for_the_delay() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = server_with(&data, Options::new());
    let mut bystander = Bystander::open(server.addr);
    let started = Instant::now();
    let mut refused: Vec<RawClient> = (0..10)
        .map(|_| {
            let mut client = RawClient::started(server.addr);
            client.start_ok("guest", "wrong", capabilities(true));
            let close = match client.method() {
                AMQPClass::Connection(connection::AMQPMethod::Close(close)) => close,
                other => panic!("expected connection.close, got {other:?}"),
            };
            assert_eq!(close.reply_code, 403);
            client
        })
        .collect();
    // Ten refused logins held open do not hold anyone else up.
    bystander.is_served();
    let served_after = started.elapsed();
    for client in &mut refused {
        client.set_read_timeout(Duration::from_secs(20));
        client.read_until_closed().expect("closed after the delay");
    }
    let held = started.elapsed();
    // RabbitMQ's delay is 3 s; timers never fire early.
    assert!(held >= Duration::from_millis(2_900), "held {held:?}");
    assert!(served_after < held, "the bystander was served meanwhile");
    server.stop();
}

#[test]
fn a_refused_login_without_the_capability_is_told_nothing_and_closed_after_the_delay() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = server_with(&data, Options::new());
    let mut client = RawClient::started(server.addr);
    let started = Instant::now();
    client.start_ok("guest", "wrong", capabilities(false));
    client.set_read_timeout(Duration::from_secs(20));
    assert!(client.recv().is_err(), "no frame, only the socket's close");
    assert!(started.elapsed() >= Duration::from_millis(2_900));
    server.stop();
}

#[test]
fn a_refused_login_answered_with_close_ok_is_closed_at_once() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = server_with(
        &data,
        Options {
            failed_login_delay_ms: 600_000,
            ..Options::new()
        },
    );
    let mut client = RawClient::started(server.addr);
    client.start_ok("guest", "wrong", capabilities(true));
    assert_eq!(client.connection_close_code(), 403);
    client
        .read_until_closed()
        .expect("close-ok ends the wait, as in RabbitMQ");
    server.stop();
}

#[test]
fn silent_sockets_do_not_count_against_logins_and_at_the_handshake_bound_the_oldest_give_way() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = server_with(
        &data,
        Options {
            connections_max: 4,
            handshakes_max: 16,
            handshake_timeout_ms: 600_000,
            ..Options::new()
        },
    );
    let mut bystander = Bystander::open(server.addr);
    // More silent sockets than logins allowed, and than handshakes.
    let mut silent: Vec<TcpStream> = (0..40)
        .map(|_| TcpStream::connect(server.addr).expect("the server accepts"))
        .collect();
    // A real client still logs in at once, and the bystander is served.
    let mut client = RawClient::open(server.addr, 0);
    client.open_channel(1);
    bystander.is_served();
    // The oldest gave way (25 of them: 40 + the client, 16 places); the
    // newest 15 still wait.
    for (index, socket) in silent.iter_mut().enumerate() {
        let mut byte = [0u8; 1];
        if index < 25 {
            socket
                .set_read_timeout(Some(Duration::from_secs(10)))
                .expect("a timeout can be set");
            let read = socket.read(&mut byte);
            assert!(
                matches!(read, Ok(0))
                    || read.is_err_and(|error| error.kind() == std::io::ErrorKind::ConnectionReset),
                "socket {index} gave way"
            );
        } else {
            socket
                .set_read_timeout(Some(Duration::from_millis(100)))
                .expect("a timeout can be set");
            let read = socket.read(&mut byte);
            assert!(
                read.is_err_and(|error| matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                )),
                "socket {index} still waits"
            );
        }
    }
    server.stop();
}

#[test]
fn a_login_past_the_connection_bound_is_refused_with_530_at_connection_open() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = server_with(
        &data,
        Options {
            connections_max: 3,
            ..Options::new()
        },
    );
    let mut bystander = Bystander::open(server.addr);
    let second = RawClient::open(server.addr, 0);
    let _third = RawClient::open(server.addr, 0);
    let mut fourth = RawClient::started(server.addr);
    fourth.start_ok("guest", "guest", FieldTable::default());
    let AMQPClass::Connection(connection::AMQPMethod::Tune(tune)) = fourth.method() else {
        panic!("connection.tune comes after start-ok");
    };
    let tune_ok = connection::TuneOk {
        channel_max: tune.channel_max,
        frame_max: tune.frame_max,
        heartbeat: 0,
    };
    fourth.send_method(
        0,
        AMQPClass::Connection(connection::AMQPMethod::TuneOk(tune_ok)),
    );
    let open = connection::Open {
        virtual_host: "/".into(),
    };
    fourth.send_method(0, AMQPClass::Connection(connection::AMQPMethod::Open(open)));
    let close = fourth.connection_close();
    assert_eq!(close.reply_code, 530);
    assert_eq!(
        close.reply_text.as_str(),
        "NOT_ALLOWED - connection refused: node connection limit (3) is reached"
    );
    assert_eq!(
        (close.class_id, close.method_id),
        (10, 40),
        "connection.open"
    );
    bystander.is_served();
    // A place freed is a place taken.
    drop(second);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut client = RawClient::started(server.addr);
        client.start_ok("guest", "guest", FieldTable::default());
        drop(client.method());
        let tune_ok = connection::TuneOk {
            channel_max: 2047,
            frame_max: 131_072,
            heartbeat: 0,
        };
        client.send_method(
            0,
            AMQPClass::Connection(connection::AMQPMethod::TuneOk(tune_ok)),
        );
        let open = connection::Open {
            virtual_host: "/".into(),
        };
        client.send_method(0, AMQPClass::Connection(connection::AMQPMethod::Open(open)));
        if matches!(
            client.method(),
            AMQPClass::Connection(connection::AMQPMethod::OpenOk(_))
        ) {
            break;
        }
        // The server may not have seen the drop yet.
        assert!(Instant::now() < deadline, "the freed place is never taken");
        std::thread::sleep(Duration::from_millis(50));
    }
    server.stop();
}

#[test]
fn a_socket_silent_past_the_handshake_timeout_is_closed() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = server_with(
        &data,
        Options {
            handshake_timeout_ms: 1_000,
            ..Options::new()
        },
    );
    let mut bystander = Bystander::open(server.addr);
    let started = Instant::now();
    let mut silent = TcpStream::connect(server.addr).expect("the server accepts");
    silent
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("a timeout can be set");
    let mut header_only = RawClient::started(server.addr);
    header_only.set_read_timeout(Duration::from_secs(20));
    let mut rest = Vec::new();
    let _ = silent.read_to_end(&mut rest);
    assert!(rest.is_empty(), "nothing is sent to a silent socket");
    header_only
        .read_until_closed()
        .expect("closed at the handshake timeout");
    assert!(started.elapsed() >= Duration::from_millis(900));
    bystander.is_served();
    server.stop();
}

/// T(0) is an empty table; T(k+1) holds one entry `a` holding T(k).
fn nested_tables(depth: usize) -> FieldTable {
    let mut table = FieldTable::default();
    for _ in 0..depth {
        let mut outer = FieldTable::default();
        outer.insert("a".into(), AMQPValue::FieldTable(table));
        table = outer;
    }
    table
}

#[test]
fn field_tables_nested_to_the_bound_are_accepted_and_one_level_more_is_refused_with_501() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = server_with(&data, Options::new());
    let mut bystander = Bystander::open(server.addr);
    let bound = brokerlab_server::wire::nesting::FIELD_NESTING_MAX;
    for (levels, accepted) in [(bound, true), (bound + 1, false)] {
        let mut client = RawClient::open(server.addr, 0);
        client.open_channel(1);
        let declare = queue::Declare {
            queue: format!("nested-{levels}").as_str().into(),
            arguments: nested_tables(levels - 1),
            ..queue::Declare::default()
        };
        client.send_method(1, AMQPClass::Queue(queue::AMQPMethod::Declare(declare)));
        if accepted {
            client.declare_ok();
        } else {
            assert_eq!(client.connection_close_code(), 501);
        }
        bystander.is_served();
    }
    server.stop();
}

#[test]
fn a_frame_of_frame_max_is_accepted_and_one_byte_more_is_refused_with_501() {
    let data = tempfile::tempdir().expect("a temp dir");
    let frame_max = 8_192;
    let server = server_with(
        &data,
        Options {
            frame_max_bytes: frame_max,
            ..Options::new()
        },
    );
    let mut bystander = Bystander::open(server.addr);
    let mut client = RawClient::open(server.addr, 0);
    client.open_channel(1);
    client.declare("frames", false);
    client.declare_ok();
    // A body frame is 8 bytes around its payload.
    let largest = frame_max as usize - 8;
    client.publish("frames", &vec![b'x'; largest]);
    client.declare("frames", true);
    assert_eq!(client.declare_ok(), 1, "a frame of frame_max bytes");
    bystander.is_served();
    // A body frame one byte larger is refused from its 7-byte header,
    // before its payload is sent.
    let publish = basic::Publish {
        routing_key: "frames".into(),
        ..basic::Publish::default()
    };
    client.send_method(1, AMQPClass::Basic(basic::AMQPMethod::Publish(publish)));
    let header = AMQPContentHeader {
        class_id: 60,
        body_size: largest as u64 + 1,
        properties: basic::AMQPProperties::default(),
    };
    client.send(&AMQPFrame::Header(1, header));
    let size = u32::try_from(largest + 1).expect("small");
    let mut body_header = vec![3, 0, 1];
    body_header.extend_from_slice(&size.to_be_bytes());
    client.write_bytes(&body_header);
    assert_eq!(client.connection_close_code(), 501);
    bystander.is_served();
    server.stop();
}

#[test]
fn channels_up_to_channel_max_open_and_the_next_number_is_refused_with_530() {
    let data = tempfile::tempdir().expect("a temp dir");
    let mut options = Options::new();
    options.config.channel_max = 16;
    let server = server_with(&data, options);
    let mut bystander = Bystander::open(server.addr);
    let mut client = RawClient::open(server.addr, 0);
    for number in 1..=16 {
        client.open_channel(number);
    }
    bystander.is_served();
    let open = AMQPClass::Channel(channel::AMQPMethod::Open(channel::Open {}));
    client.send_method(17, open);
    assert_eq!(client.connection_close_code(), 530);
    bystander.is_served();
    server.stop();
}

#[test]
fn a_message_of_the_size_limit_is_accepted_and_one_byte_more_closes_the_channel_with_406() {
    let data = tempfile::tempdir().expect("a temp dir");
    let limit = 64 * 1024;
    let mut options = Options::new();
    options.config.max_message_size_bytes = limit;
    let server = server_with(&data, options);
    let mut bystander = Bystander::open(server.addr);
    let mut client = RawClient::open(server.addr, 0);
    client.open_channel(1);
    client.declare("sized", false);
    client.declare_ok();
    client.publish("sized", &vec![b'x'; limit]);
    client.declare("sized", true);
    assert_eq!(client.declare_ok(), 1, "a message of the limit");
    client.publish("sized", &vec![b'x'; limit + 1]);
    let AMQPClass::Channel(channel::AMQPMethod::Close(close)) = client.method() else {
        panic!("a message past the limit closes the channel");
    };
    assert_eq!(close.reply_code, 406, "{close:?}");
    bystander.is_served();
    server.stop();
}

#[test]
fn consumers_up_to_the_bound_subscribe_and_one_more_is_refused_with_530() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = server_with(
        &data,
        Options {
            config: brokerlab_core::Config {
                consumers_per_channel_max: Some(8),
                ..Options::new().config
            },
            ..Options::new()
        },
    );
    let mut bystander = Bystander::open(server.addr);
    let mut client = RawClient::open(server.addr, 0);
    client.open_channel(1);
    client.declare("consumed", false);
    client.declare_ok();
    let tags: Vec<String> = (0..8).map(|_| client.consume("consumed")).collect();
    // A cancelled consumer frees its place.
    let cancel = basic::Cancel {
        consumer_tag: tags[0].as_str().into(),
        nowait: false,
    };
    client.send_method(1, AMQPClass::Basic(basic::AMQPMethod::Cancel(cancel)));
    assert!(matches!(
        client.method(),
        AMQPClass::Basic(basic::AMQPMethod::CancelOk(_))
    ));
    client.consume("consumed");
    bystander.is_served();
    let consume = basic::Consume {
        queue: "consumed".into(),
        ..basic::Consume::default()
    };
    client.send_method(1, AMQPClass::Basic(basic::AMQPMethod::Consume(consume)));
    let close = client.connection_close();
    assert_eq!(close.reply_code, 530);
    assert_eq!(
        close.reply_text.as_str(),
        "NOT_ALLOWED - reached maximum (8) of consumers per channel"
    );
    assert_eq!((close.class_id, close.method_id), (60, 20), "basic.consume");
    bystander.is_served();
    server.stop();
}

#[test]
fn a_delivery_larger_than_the_outgoing_buffer_still_goes_out_whole() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = server_with(
        &data,
        Options {
            outgoing_buffer_max_bytes: 4_096,
            ..Options::new()
        },
    );
    let mut bystander = Bystander::open(server.addr);
    let mut client = RawClient::open(server.addr, 0);
    client.open_channel(1);
    client.declare("big", false);
    client.declare_ok();
    for _ in 0..3 {
        client.publish("big", &vec![b'x'; 100_000]);
    }
    client.consume("big");
    for _ in 0..3 {
        let (tag, _, size) = client.next_delivery();
        assert_eq!(size, 100_000);
        client.ack(tag);
    }
    bystander.is_served();
    server.stop();
}
