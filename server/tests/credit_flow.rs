//! Credit flow: a connection publishing into a consumed queue faster than
//! its consumer takes messages stops being read once the queue holds more
//! ready messages than the high mark, without being told (RabbitMQ's `flow`
//! state, not connection.blocked), and is read again once the consumer has
//! brought the queue back to the low mark. Nothing is dropped.
// On a real runtime, sockets and processes: madsim builds leave this out.
#![cfg(not(madsim))]

mod common;

use amq_protocol::protocol::{basic, AMQPClass};
use brokerlab_core::{Config, Flow};
use brokerlab_server::Options;
use common::raw::RawClient;
use common::TestServer;

fn server(data: &std::path::Path) -> TestServer {
    TestServer::start_options(Options {
        data_dir: data.to_path_buf(),
        config: Config {
            flow: Some(Flow {
                ready_high: 2,
                ready_low: 1,
                // Long enough that the consumer never counts as stalled here.
                stall_ms: 600_000,
            }),
            ..Config::default()
        },
        ..Options::new()
    })
}

/// The message count of `q`, asked by a passive declare.
fn ready_count(client: &mut RawClient) -> u32 {
    client.declare("q", true);
    client.declare_ok()
}

/// The tag and first body byte of the delivery that must come next.
fn delivery(client: &mut RawClient) -> (u64, u8) {
    let (tag, body) = client.delivery();
    (tag, body[0])
}

fn ack(client: &mut RawClient, delivery_tag: u64) {
    let ack = basic::Ack {
        delivery_tag,
        multiple: false,
    };
    client.send_method(1, AMQPClass::Basic(basic::AMQPMethod::Ack(ack)));
}

#[test]
fn a_publisher_ahead_of_its_queues_consumer_is_not_read_until_the_consumer_catches_up() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = server(data.path());
    // A consumer with prefetch 1, which acks only when the test says.
    let mut consumer = RawClient::open(server.addr, 0);
    consumer.open_channel(1);
    consumer.declare("q", false);
    assert_eq!(consumer.declare_ok(), 0);
    let qos = basic::Qos {
        prefetch_count: 1,
        ..basic::Qos::default()
    };
    consumer.send_method(1, AMQPClass::Basic(basic::AMQPMethod::Qos(qos)));
    assert!(matches!(
        consumer.method(),
        AMQPClass::Basic(basic::AMQPMethod::QosOk(_))
    ));
    let consume = basic::Consume {
        queue: "q".into(),
        ..basic::Consume::default()
    };
    consumer.send_method(1, AMQPClass::Basic(basic::AMQPMethod::Consume(consume)));
    assert!(matches!(
        consumer.method(),
        AMQPClass::Basic(basic::AMQPMethod::ConsumeOk(_))
    ));

    // The first goes to the consumer, three wait: over the high mark of 2.
    let mut publisher = RawClient::open(server.addr, 0);
    publisher.open_channel(1);
    for fill in 1..=4 {
        publisher.publish("q", &[fill]);
    }
    assert_eq!(ready_count(&mut publisher), 3);
    // Sent while in flow: not read while the consumer is behind.
    publisher.publish("q", &[5]);
    publisher.declare("q", true);
    let (tag, fill) = delivery(&mut consumer);
    assert_eq!(fill, 1);
    assert_eq!(
        ready_count(&mut consumer),
        3,
        "the fifth publish was not read"
    );

    // Each ack lets one more through to the consumer; at the low mark of 1
    // the publisher is read again.
    ack(&mut consumer, tag);
    let (tag, fill) = delivery(&mut consumer);
    assert_eq!(fill, 2);
    assert_eq!(
        ready_count(&mut consumer),
        2,
        "above the low mark, still not read"
    );
    ack(&mut consumer, tag);
    let (tag, fill) = delivery(&mut consumer);
    assert_eq!(fill, 3);
    assert_eq!(
        publisher.declare_ok(),
        2,
        "released: the fifth publish was read, after the fourth"
    );
    ack(&mut consumer, tag);
    for expected in 4..=5 {
        let (tag, fill) = delivery(&mut consumer);
        assert_eq!(fill, expected, "nothing was dropped");
        ack(&mut consumer, tag);
    }
    assert_eq!(ready_count(&mut consumer), 0);
    drop((publisher, consumer));
    server.stop();
}

#[test]
fn a_publisher_into_a_queue_without_consumers_is_never_slowed() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = server(data.path());
    let mut publisher = RawClient::open(server.addr, 0);
    publisher.open_channel(1);
    publisher.declare("q", false);
    assert_eq!(publisher.declare_ok(), 0);
    for fill in 1..=100 {
        publisher.publish("q", &[fill]);
    }
    assert_eq!(ready_count(&mut publisher), 100);
    drop(publisher);
    server.stop();
}
