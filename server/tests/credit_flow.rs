//! Credit flow: a connection publishing into a consumed queue faster than
//! its consumer takes messages stops being read once the queue holds more
//! ready messages than the high mark, without being told (RabbitMQ's `flow`
//! state, not connection.blocked), and is read again once the consumer has
//! brought the queue back to the low mark. Nothing is dropped.
// On a real runtime, sockets and processes: madsim builds leave this out.
#![cfg(not(madsim))]

mod common;

use amq_protocol::frame::{AMQPContentHeader, AMQPFrame};
use amq_protocol::protocol::basic::AMQPProperties as BasicProperties;
use amq_protocol::protocol::{basic, channel, queue, AMQPClass};
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

fn open_channel(client: &mut RawClient) {
    let open = AMQPClass::Channel(channel::AMQPMethod::Open(channel::Open {}));
    client.send_method(1, open);
    assert!(matches!(
        client.method(),
        AMQPClass::Channel(channel::AMQPMethod::OpenOk(_))
    ));
}

/// Declares `q` (passively: asks its ready count) and returns the count.
fn ready_count(client: &mut RawClient, passive: bool) -> u32 {
    let declare = queue::Declare {
        queue: "q".into(),
        passive,
        ..queue::Declare::default()
    };
    client.send_method(1, AMQPClass::Queue(queue::AMQPMethod::Declare(declare)));
    ready_count_reply(client)
}

fn ready_count_reply(client: &mut RawClient) -> u32 {
    match client.method() {
        AMQPClass::Queue(queue::AMQPMethod::DeclareOk(ok)) => ok.message_count,
        other => panic!("expected queue.declare-ok, got {other:?}"),
    }
}

fn publish(client: &mut RawClient, fill: u8) {
    let publish = basic::Publish {
        routing_key: "q".into(),
        ..basic::Publish::default()
    };
    client.send_method(1, AMQPClass::Basic(basic::AMQPMethod::Publish(publish)));
    let header = AMQPContentHeader {
        class_id: 60,
        body_size: 1,
        properties: BasicProperties::default(),
    };
    client.send(&AMQPFrame::Header(1, header));
    client.send(&AMQPFrame::Body(1, vec![fill]));
}

/// The delivery tag and body byte of the delivery that must come next.
fn delivery(client: &mut RawClient) -> (u64, u8) {
    let AMQPClass::Basic(basic::AMQPMethod::Deliver(deliver)) = client.method() else {
        panic!("expected basic.deliver");
    };
    let Ok(AMQPFrame::Header(1, _)) = client.recv() else {
        panic!("a content header follows basic.deliver");
    };
    let Ok(AMQPFrame::Body(1, body)) = client.recv() else {
        panic!("the body follows its header");
    };
    (deliver.delivery_tag, body[0])
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
    open_channel(&mut consumer);
    assert_eq!(ready_count(&mut consumer, false), 0);
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
    open_channel(&mut publisher);
    for fill in 1..=4 {
        publish(&mut publisher, fill);
    }
    assert_eq!(ready_count(&mut publisher, true), 3);
    // Sent while in flow: not read while the consumer is behind.
    publish(&mut publisher, 5);
    let declare = queue::Declare {
        queue: "q".into(),
        passive: true,
        ..queue::Declare::default()
    };
    publisher.send_method(1, AMQPClass::Queue(queue::AMQPMethod::Declare(declare)));
    let (tag, fill) = delivery(&mut consumer);
    assert_eq!(fill, 1);
    assert_eq!(
        ready_count(&mut consumer, true),
        3,
        "the fifth publish was not read"
    );

    // Each ack lets one more through to the consumer; at the low mark of 1
    // the publisher is read again.
    ack(&mut consumer, tag);
    let (tag, fill) = delivery(&mut consumer);
    assert_eq!(fill, 2);
    assert_eq!(
        ready_count(&mut consumer, true),
        2,
        "above the low mark, still not read"
    );
    ack(&mut consumer, tag);
    let (tag, fill) = delivery(&mut consumer);
    assert_eq!(fill, 3);
    assert_eq!(
        ready_count_reply(&mut publisher),
        2,
        "released: the fifth publish was read, after the fourth"
    );
    ack(&mut consumer, tag);
    for expected in 4..=5 {
        let (tag, fill) = delivery(&mut consumer);
        assert_eq!(fill, expected, "nothing was dropped");
        ack(&mut consumer, tag);
    }
    assert_eq!(ready_count(&mut consumer, true), 0);
    drop((publisher, consumer));
    server.stop();
}

#[test]
fn a_publisher_into_a_queue_without_consumers_is_never_slowed() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = server(data.path());
    let mut publisher = RawClient::open(server.addr, 0);
    open_channel(&mut publisher);
    assert_eq!(ready_count(&mut publisher, false), 0);
    for fill in 1..=100 {
        publish(&mut publisher, fill);
    }
    assert_eq!(ready_count(&mut publisher, true), 100);
    drop(publisher);
    server.stop();
}
