//! Bad input over a real socket: the server answers as AMQP 0-9-1 says and
//! keeps serving everyone else.
// On a real runtime, sockets and processes: madsim builds leave this out.
#![cfg(not(madsim))]

mod common;

use common::TestServer;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a timeout can be set");
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .expect("the server closes the socket");
    answer
}

#[test]
fn a_wrong_protocol_header_gets_amqp_0_9_1_back_and_the_socket_closed() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = TestServer::start(data.path());
    for wrong in [&b"GET / HTTP/1.1\r\n\r\n"[..], b"AMQP\x01\x01\x00\x0a"] {
        let mut stream = TcpStream::connect(server.addr).expect("the server accepts");
        stream.write_all(wrong).expect("the server reads");
        assert_eq!(read_to_close(&mut stream), b"AMQP\x00\x00\x09\x01");
    }
    // The right header still opens a handshake afterwards: connection.start comes back.
    let mut stream = TcpStream::connect(server.addr).expect("the server accepts");
    stream
        .write_all(b"AMQP\x00\x00\x09\x01")
        .expect("the server reads");
    let mut start = [0u8; 11];
    stream
        .read_exact(&mut start)
        .expect("connection.start arrives");
    assert_eq!(start[0], 1, "a method frame");
    assert_eq!(&start[7..11], &[0, 10, 0, 10], "connection.start");
    drop(stream);
    server.stop();
}

mod frames {
    use super::common::raw::RawClient;
    use super::common::TestServer;
    use amq_protocol::frame::AMQPFrame;
    use amq_protocol::protocol::{basic, channel, queue, AMQPClass};

    #[test]
    fn a_failing_method_is_named_by_class_and_method_id_in_the_channel_close() {
        let data = tempfile::tempdir().expect("a temp dir");
        let server = TestServer::start(data.path());
        let mut client = RawClient::open(server.addr, 0);
        client.open_channel(1);
        let declare = queue::Declare {
            queue: "missing".into(),
            passive: true,
            ..queue::Declare::default()
        };
        client.send_method(1, AMQPClass::Queue(queue::AMQPMethod::Declare(declare)));
        let AMQPClass::Channel(channel::AMQPMethod::Close(close)) = client.method() else {
            panic!("a passive declare of a missing queue closes the channel");
        };
        // As RabbitMQ answers it: 404, queue.declare (class 50, method 10).
        assert_eq!(
            (close.reply_code, close.class_id, close.method_id),
            (404, 50, 10)
        );
        assert_eq!(
            close.reply_text.as_str(),
            "NOT_FOUND - no queue 'missing' in vhost '/'"
        );
        drop(client);
        server.stop();
    }

    #[test]
    fn a_method_on_an_unopened_channel_closes_the_connection_with_504() {
        let data = tempfile::tempdir().expect("a temp dir");
        let server = TestServer::start(data.path());
        let mut client = RawClient::open(server.addr, 0);
        let declare = queue::Declare {
            queue: "q".into(),
            ..queue::Declare::default()
        };
        client.send_method(3, AMQPClass::Queue(queue::AMQPMethod::Declare(declare)));
        assert_eq!(client.connection_close_code(), 504);
        // Other connections keep being served.
        let mut other = RawClient::open(server.addr, 0);
        other.open_channel(1);
        // A client gone before shutdown does not hold it up waiting for close-ok.
        drop(other);
        server.stop();
    }

    #[test]
    fn a_refused_method_is_named_by_class_and_method_id_in_the_close() {
        let data = tempfile::tempdir().expect("a temp dir");
        let server = TestServer::start(data.path());
        let mut client = RawClient::open(server.addr, 0);
        client.open_channel(1);
        let get_empty = AMQPClass::Basic(basic::AMQPMethod::GetEmpty(basic::GetEmpty {}));
        client.send_method(1, get_empty);
        let close = client.connection_close();
        assert_eq!(close.reply_code, 540, "{close:?}");
        assert_eq!(
            (close.class_id, close.method_id),
            (60, 72),
            "basic.get-empty"
        );

        let mut client = RawClient::open(server.addr, 0);
        let open = AMQPClass::Channel(channel::AMQPMethod::Open(channel::Open {}));
        client.send_method(0, open);
        let close = client.connection_close();
        assert_eq!(close.reply_code, 503, "{close:?}");
        assert_eq!((close.class_id, close.method_id), (20, 10), "channel.open");
        drop(client);
        server.stop();
    }

    #[test]
    fn an_unknown_delivery_tag_closes_the_channel_with_406_and_the_connection_lives_on() {
        let data = tempfile::tempdir().expect("a temp dir");
        let server = TestServer::start(data.path());
        let mut client = RawClient::open(server.addr, 0);
        client.open_channel(1);
        let ack = basic::Ack {
            delivery_tag: 42,
            multiple: false,
        };
        client.send_method(1, AMQPClass::Basic(basic::AMQPMethod::Ack(ack)));
        let AMQPClass::Channel(channel::AMQPMethod::Close(close)) = client.method() else {
            panic!("an unknown delivery tag closes the channel");
        };
        assert_eq!(close.reply_code, 406, "{close:?}");
        let close_ok = channel::AMQPMethod::CloseOk(channel::CloseOk {});
        client.send_method(1, AMQPClass::Channel(close_ok));
        // The connection is still open: another channel works, and so does
        // the closed one once reopened.
        client.open_channel(2);
        client.open_channel(1);
        drop(client);
        server.stop();
    }

    #[test]
    fn commands_crossing_the_brokers_channel_close_are_dropped_and_the_reopened_channel_answers_in_full(
    ) {
        let data = tempfile::tempdir().expect("a temp dir");
        let server = TestServer::start(data.path());
        let mut client = RawClient::open(server.addr, 0);
        client.open_channel(1);
        // A failing passive declare, then a nowait declare and a publish
        // with its content, sent before the client hears the close.
        client.declare("missing", true);
        let nowait = queue::Declare {
            queue: "crossing".into(),
            nowait: true,
            ..queue::Declare::default()
        };
        client.send_method(1, AMQPClass::Queue(queue::AMQPMethod::Declare(nowait)));
        client.publish("crossing", b"dropped");
        let AMQPClass::Channel(channel::AMQPMethod::Close(close)) = client.method() else {
            panic!("a passive declare of a missing queue closes the channel");
        };
        assert_eq!(close.reply_code, 404, "{close:?}");
        let close_ok = channel::AMQPMethod::CloseOk(channel::CloseOk {});
        client.send_method(1, AMQPClass::Channel(close_ok));
        client.open_channel(1);
        // The dropped nowait declare leaves no reply to swallow: this
        // declare is answered, and the queue it names is new and empty.
        client.declare("crossing", false);
        assert_eq!(client.declare_ok(), 0, "the crossing publish was dropped");
        drop(client);
        server.stop();
    }

    #[test]
    fn a_frame_with_a_bad_frame_end_closes_the_connection_with_501() {
        let data = tempfile::tempdir().expect("a temp dir");
        let server = TestServer::start(data.path());
        let mut client = RawClient::open(server.addr, 0);
        // A heartbeat frame whose end byte is 0x00 instead of 0xCE.
        client.write_bytes(&[8, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(client.connection_close_code(), 501);
        drop(client);
        server.stop();
    }

    #[test]
    fn a_method_frame_that_does_not_decode_closes_the_connection_with_501_naming_it() {
        let data = tempfile::tempdir().expect("a temp dir");
        let server = TestServer::start(data.path());
        let mut client = RawClient::open(server.addr, 0);
        client.open_channel(1);
        // queue.declare (50.10) on channel 1 whose arguments stop short:
        // RabbitMQ 3.10 answers 501 FRAME_ERROR "cannot decode", naming 50.10.
        client.write_bytes(&[1, 0, 1, 0, 0, 0, 5, 0, 50, 0, 10, 0, 0xCE]);
        let close = client.connection_close();
        assert_eq!(close.reply_code, 501);
        assert_eq!((close.class_id, close.method_id), (50, 10));
        drop(client);
        server.stop();
    }

    #[test]
    fn a_channel_above_channel_max_closes_the_connection_with_530() {
        let data = tempfile::tempdir().expect("a temp dir");
        let server = TestServer::start(data.path());
        let mut client = RawClient::open(server.addr, 0);
        // The client agreed to the server's channel_max of 2047.
        let open = AMQPClass::Channel(channel::AMQPMethod::Open(channel::Open {}));
        client.send_method(2048, open);
        assert_eq!(client.connection_close_code(), 530);
        drop(client);
        server.stop();
    }

    #[test]
    fn a_content_frame_where_a_method_belongs_closes_the_connection_with_505() {
        let data = tempfile::tempdir().expect("a temp dir");
        let server = TestServer::start(data.path());
        let mut client = RawClient::open(server.addr, 0);
        client.open_channel(1);
        client.send(&AMQPFrame::Body(1, b"stray".to_vec()));
        assert_eq!(client.connection_close_code(), 505);
        server.stop();
    }

    #[test]
    fn a_frame_above_frame_max_closes_the_connection_with_501() {
        let data = tempfile::tempdir().expect("a temp dir");
        let server = TestServer::start(data.path());
        let mut client = RawClient::open(server.addr, 0);
        client.open_channel(1);
        let publish = basic::Publish {
            routing_key: "q".into(),
            ..basic::Publish::default()
        };
        client.send_method(1, AMQPClass::Basic(basic::AMQPMethod::Publish(publish)));
        // A body frame's header announcing 1 MiB, more than frame_max (128 KiB).
        client.write_bytes(&[3, 0, 1, 0, 0x10, 0, 0]);
        assert_eq!(client.connection_close_code(), 501);
        server.stop();
    }

    #[test]
    fn a_silent_client_gets_heartbeats_and_is_dropped_after_two_intervals() {
        let data = tempfile::tempdir().expect("a temp dir");
        let server = TestServer::start(data.path());
        let mut client = RawClient::open(server.addr, 1);
        let started = std::time::Instant::now();
        let mut heartbeats = 0;
        while let Ok(frame) = client.recv() {
            assert_eq!(frame, AMQPFrame::Heartbeat);
            heartbeats += 1;
        }
        let silent = started.elapsed();
        assert!(
            heartbeats >= 2,
            "heartbeats every half interval, got {heartbeats}"
        );
        assert!(
            silent >= std::time::Duration::from_millis(1500),
            "dropped after {silent:?}"
        );
        assert!(
            silent < std::time::Duration::from_secs(5),
            "dropped after {silent:?}"
        );
        server.stop();
    }
}
