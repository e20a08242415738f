//! Publisher confirms over the wire: a persistent message in a durable queue
//! is confirmed once the log has synced it, and is there after a restart.
// On a real runtime, sockets and processes: madsim builds leave this out.
#![cfg(not(madsim))]

mod common;

use amq_protocol::frame::{AMQPContentHeader, AMQPFrame};
use amq_protocol::protocol::{basic, confirm, queue, AMQPClass, BasicProperties};
use common::raw::RawClient;
use common::TestServer;

fn declare_durable(client: &mut RawClient, name: &str) {
    let declare = queue::Declare {
        queue: name.into(),
        durable: true,
        ..queue::Declare::default()
    };
    client.send_method(1, AMQPClass::Queue(queue::AMQPMethod::Declare(declare)));
    assert!(matches!(
        client.method(),
        AMQPClass::Queue(queue::AMQPMethod::DeclareOk(_))
    ));
}

#[test]
fn a_confirmed_persistent_message_survives_a_restart() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = TestServer::start(data.path());
    let mut client = RawClient::open(server.addr, 0);
    client.open_channel(1);
    declare_durable(&mut client, "jobs");
    let select = confirm::Select { nowait: false };
    client.send_method(1, AMQPClass::Confirm(confirm::AMQPMethod::Select(select)));
    assert!(matches!(
        client.method(),
        AMQPClass::Confirm(confirm::AMQPMethod::SelectOk(_))
    ));
    let publish = basic::Publish {
        routing_key: "jobs".into(),
        ..basic::Publish::default()
    };
    client.send_method(1, AMQPClass::Basic(basic::AMQPMethod::Publish(publish)));
    let header = AMQPContentHeader {
        class_id: 60,
        body_size: 5,
        properties: BasicProperties::default().with_delivery_mode(2),
    };
    client.send(&AMQPFrame::Header(1, header));
    client.send(&AMQPFrame::Body(1, b"hello".to_vec()));
    let AMQPClass::Basic(basic::AMQPMethod::Ack(ack)) = client.method() else {
        panic!("the publish is confirmed");
    };
    assert_eq!((ack.delivery_tag, ack.multiple), (1, false));
    drop(client);
    server.stop();

    let server = TestServer::start(data.path());
    let mut client = RawClient::open(server.addr, 0);
    client.open_channel(1);
    let get = basic::Get {
        queue: "jobs".into(),
        no_ack: true,
    };
    client.send_method(1, AMQPClass::Basic(basic::AMQPMethod::Get(get)));
    assert!(matches!(
        client.method(),
        AMQPClass::Basic(basic::AMQPMethod::GetOk(_))
    ));
    let Ok(AMQPFrame::Header(1, header)) = client.recv() else {
        panic!("the content header follows get-ok");
    };
    assert_eq!(*header.properties.delivery_mode(), Some(2));
    let Ok(AMQPFrame::Body(1, body)) = client.recv() else {
        panic!("the body follows its header");
    };
    assert_eq!(body, b"hello");
    drop(client);
    server.stop();
}
