//! The memory alarm (the core's rule, `brokerlab_core::MemoryAlarm`): once
//! the bytes held pass the mark, a connection that publishes is told
//! connection.blocked and is no longer read, as RabbitMQ blocks a
//! connection at its first publish under the alarm; connections that only
//! consume keep going; once the queues drain below the low mark, blocked
//! publishers are told connection.unblocked and what they sent meanwhile
//! is read. Nothing is dropped.
// On a real runtime, sockets and processes: madsim builds leave this out.
#![cfg(not(madsim))]

mod common;

use amq_protocol::protocol::{basic, connection, AMQPClass};
use brokerlab_core::{Config, MemoryAlarm};
use brokerlab_server::Options;
use common::raw::RawClient;
use common::TestServer;

/// Bytes of each message body.
const BODY_BYTES: usize = 4_000;

fn server(data: &std::path::Path) -> TestServer {
    TestServer::start_options(Options {
        data_dir: data.to_path_buf(),
        config: Config {
            memory_alarm: Some(MemoryAlarm {
                high_bytes: 10_000,
                low_bytes: 5_000,
            }),
            ..Options::new().config
        },
        ..Options::new()
    })
}

fn declare(client: &mut RawClient, passive: bool) {
    client.declare("q", passive);
}

fn declare_ok(client: &mut RawClient) -> u32 {
    client.declare_ok()
}

fn publish(client: &mut RawClient, fill: u8) {
    client.publish("q", &[fill; BODY_BYTES]);
}

/// The first byte of the body of the delivery that must come next.
fn delivery(client: &mut RawClient) -> u8 {
    let (_, body) = client.delivery();
    assert_eq!(body.len(), BODY_BYTES);
    body[0]
}

#[test]
fn publishers_over_the_memory_mark_are_blocked_and_released_below_it() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = server(data.path());
    let mut publisher = RawClient::open_announcing_blocked(server.addr);
    publisher.open_channel(1);
    declare(&mut publisher, false);
    assert_eq!(declare_ok(&mut publisher), 0);
    for fill in 1..=3 {
        publish(&mut publisher, fill);
    }
    // 12,000 bytes wait in q, over the 10,000 mark: the alarm is raised,
    // and the next publish is read and blocks its connection.
    publish(&mut publisher, 4);
    assert!(
        matches!(
            publisher.method(),
            AMQPClass::Connection(connection::AMQPMethod::Blocked(_))
        ),
        "the publisher is told it is blocked"
    );
    // Sent while blocked: not read until the block is lifted.
    publish(&mut publisher, 5);
    declare(&mut publisher, true);

    // A connection that only consumes is not blocked.
    let mut consumer = RawClient::open(server.addr, 0);
    consumer.open_channel(1);
    declare(&mut consumer, true);
    assert_eq!(
        declare_ok(&mut consumer),
        4,
        "the fifth publish was not read"
    );
    let consume = basic::Consume {
        queue: "q".into(),
        no_ack: true,
        ..basic::Consume::default()
    };
    consumer.send_method(1, AMQPClass::Basic(basic::AMQPMethod::Consume(consume)));
    assert!(matches!(
        consumer.method(),
        AMQPClass::Basic(basic::AMQPMethod::ConsumeOk(_))
    ));
    let first: Vec<u8> = (0..4).map(|_| delivery(&mut consumer)).collect();
    assert_eq!(first, vec![1, 2, 3, 4]);

    // Drained below the 5,000 low mark: released, and the fifth publish is read.
    assert!(
        matches!(
            publisher.method(),
            AMQPClass::Connection(connection::AMQPMethod::Unblocked(_))
        ),
        "the publisher is told it is unblocked"
    );
    assert_eq!(delivery(&mut consumer), 5, "nothing was dropped");
    assert_eq!(declare_ok(&mut publisher), 0);
    drop((publisher, consumer));
    server.stop();
}

#[test]
fn a_client_without_the_capability_is_never_sent_connection_blocked() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = server(data.path());
    let mut publisher = RawClient::open(server.addr, 0);
    publisher.open_channel(1);
    declare(&mut publisher, false);
    assert_eq!(declare_ok(&mut publisher), 0);
    for fill in 1..=3 {
        publish(&mut publisher, fill);
    }
    declare(&mut publisher, true);
    let mut consumer = RawClient::open(server.addr, 0);
    consumer.open_channel(1);
    let consume = basic::Consume {
        queue: "q".into(),
        no_ack: true,
        ..basic::Consume::default()
    };
    consumer.send_method(1, AMQPClass::Basic(basic::AMQPMethod::Consume(consume)));
    assert!(matches!(
        consumer.method(),
        AMQPClass::Basic(basic::AMQPMethod::ConsumeOk(_))
    ));
    for fill in 1..=3 {
        assert_eq!(delivery(&mut consumer), fill);
    }
    // Whether or not its reads were paused meanwhile, the next frame it gets
    // is the declare-ok: it did not announce connection.blocked, so it is
    // never sent one (RabbitMQ does the same).
    declare_ok(&mut publisher);
    drop((publisher, consumer));
    server.stop();
}
