//! lapin, the Rust client, against the server: a wider protocol test than
//! the seed's examples need. Publisher confirms (and a mandatory publish
//! that no queue takes, returned before its confirm), basic.qos prefetch,
//! basic.nack with and without requeue, the consumer cancel notification
//! when a queue is deleted under its consumer, heartbeats that keep an idle
//! connection open, and properties that publishers repeat and change.
// On a real runtime, sockets and processes: madsim builds leave this out.
#![cfg(not(madsim))]

mod common;

use common::TestServer;
use futures_lite::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions,
    BasicQosOptions, ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, Consumer};
use std::time::Duration;

/// How long a test waits for something the server owes it before failing.
const WAIT: Duration = Duration::from_secs(10);

async fn connect(server: &TestServer, heartbeat_s: u16) -> Connection {
    let uri = format!(
        "amqp://guest:guest@{}/%2f?heartbeat={heartbeat_s}",
        server.addr
    );
    Connection::connect(&uri, ConnectionProperties::default())
        .await
        .expect("lapin connects")
}

async fn declare(channel: &Channel, name: &str, durable: bool) -> u32 {
    let options = QueueDeclareOptions {
        durable,
        ..QueueDeclareOptions::default()
    };
    channel
        .queue_declare(name.into(), options, FieldTable::default())
        .await
        .expect("queue.declare-ok")
        .message_count()
}

/// Ready messages in `name`, by a passive declare.
async fn ready(channel: &Channel, name: &str) -> u32 {
    let options = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::default()
    };
    channel
        .queue_declare(name.into(), options, FieldTable::default())
        .await
        .expect("the queue exists")
        .message_count()
}

async fn publish(channel: &Channel, routing_key: &str, body: &[u8]) -> Confirmation {
    channel
        .basic_publish(
            "".into(),
            routing_key.into(),
            BasicPublishOptions::default(),
            body,
            BasicProperties::default().with_delivery_mode(2),
        )
        .await
        .expect("basic.publish is sent")
        .await
        .expect("the publish is settled")
}

async fn consume(channel: &Channel, queue: &str, tag: &str) -> Consumer {
    channel
        .basic_consume(
            queue.into(),
            tag.into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("basic.consume-ok")
}

async fn next_delivery(consumer: &mut Consumer) -> lapin::message::Delivery {
    tokio::time::timeout(WAIT, consumer.next())
        .await
        .expect("a delivery arrives in time")
        .expect("the consumer is not cancelled")
        .expect("the delivery is well formed")
}

fn run(test: impl std::future::Future<Output = ()>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(test);
}

#[test]
fn persistent_publishes_are_confirmed_and_an_unroutable_mandatory_one_is_returned_first() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = TestServer::start(data.path());
    run(async {
        let connection = connect(&server, 0).await;
        let channel = connection.create_channel().await.expect("channel.open-ok");
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .expect("confirm.select-ok");
        declare(&channel, "jobs", true).await;
        for index in 0..20u8 {
            let confirmation = publish(&channel, "jobs", &[index]).await;
            assert!(
                matches!(confirmation, Confirmation::Ack(None)),
                "{confirmation:?}"
            );
        }
        assert_eq!(ready(&channel, "jobs").await, 20);

        let mandatory = BasicPublishOptions {
            mandatory: true,
            ..BasicPublishOptions::default()
        };
        let confirmation = channel
            .basic_publish(
                "".into(),
                "no-such-queue".into(),
                mandatory,
                b"lost",
                BasicProperties::default(),
            )
            .await
            .expect("basic.publish is sent")
            .await
            .expect("the publish is settled");
        assert!(
            confirmation.is_ack(),
            "an unroutable message is still acked"
        );
        let returned = confirmation
            .take_message()
            .expect("basic.return comes before the ack");
        assert_eq!(returned.reply_code, 312);
        assert_eq!(returned.reply_text.as_str(), "NO_ROUTE");
        assert_eq!(returned.delivery.routing_key.as_str(), "no-such-queue");
        assert_eq!(returned.delivery.data, b"lost");
        connection
            .close(200, "done".into())
            .await
            .expect("close-ok");
    });
    server.stop();
}

#[test]
fn prefetch_holds_back_deliveries_until_an_ack_frees_a_slot() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = TestServer::start(data.path());
    run(async {
        let connection = connect(&server, 0).await;
        let channel = connection.create_channel().await.expect("channel.open-ok");
        declare(&channel, "work", false).await;
        for index in 0..5u8 {
            publish(&channel, "work", &[index]).await;
        }
        let consumer_channel = connection.create_channel().await.expect("channel.open-ok");
        consumer_channel
            .basic_qos(2, BasicQosOptions::default())
            .await
            .expect("basic.qos-ok");
        let mut consumer = consume(&consumer_channel, "work", "worker").await;
        let first = next_delivery(&mut consumer).await;
        let second = next_delivery(&mut consumer).await;
        assert_eq!(
            (first.data.as_slice(), second.data.as_slice()),
            (&[0][..], &[1][..])
        );
        // Two unacked deliveries fill the prefetch window: three stay ready.
        assert_eq!(ready(&channel, "work").await, 3);
        first
            .ack(BasicAckOptions::default())
            .await
            .expect("basic.ack is sent");
        let third = next_delivery(&mut consumer).await;
        assert_eq!(third.data, [2]);
        assert_eq!(ready(&channel, "work").await, 2);
        connection
            .close(200, "done".into())
            .await
            .expect("close-ok");
    });
    server.stop();
}

#[test]
fn nack_with_requeue_redelivers_flagged_and_without_requeue_drops() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = TestServer::start(data.path());
    run(async {
        let connection = connect(&server, 0).await;
        let channel = connection.create_channel().await.expect("channel.open-ok");
        declare(&channel, "retry", false).await;
        publish(&channel, "retry", b"once").await;
        let mut consumer = consume(&channel, "retry", "retrier").await;
        let delivery = next_delivery(&mut consumer).await;
        assert!(!delivery.redelivered);
        let requeue = BasicNackOptions {
            multiple: false,
            requeue: true,
        };
        channel
            .basic_nack(delivery.delivery_tag, requeue)
            .await
            .expect("basic.nack is sent");
        let again = next_delivery(&mut consumer).await;
        assert_eq!(again.data, b"once");
        assert!(again.redelivered, "a requeued message comes back flagged");
        channel
            .basic_nack(again.delivery_tag, BasicNackOptions::default())
            .await
            .expect("basic.nack is sent");
        assert_eq!(ready(&channel, "retry").await, 0);
        let get = channel
            .basic_get("retry".into(), BasicGetOptions { no_ack: true })
            .await
            .expect("basic.get answers");
        assert!(get.is_none(), "a nack without requeue drops the message");
        connection
            .close(200, "done".into())
            .await
            .expect("close-ok");
    });
    server.stop();
}

/// Publishes `body` to `queue` with `properties`, without confirms.
async fn publish_with(channel: &Channel, queue: &str, body: &str, properties: BasicProperties) {
    channel
        .basic_publish(
            "".into(),
            queue.into(),
            BasicPublishOptions::default(),
            body.as_bytes(),
            properties,
        )
        .await
        .expect("basic.publish is sent");
}

/// The broker shares a channel's last properties with a publish that
/// repeats them: each delivery must still carry exactly the properties it
/// was published with, as publishers repeat and change them on
/// several channels, and after a channel is closed and another opened.
#[test]
fn every_delivery_carries_its_publishs_properties_as_channels_repeat_and_change_them() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = TestServer::start(data.path());
    run(async {
        let a = BasicProperties::default()
            .with_content_type("text/plain".into())
            .with_priority(1);
        let b = BasicProperties::default()
            .with_delivery_mode(2)
            .with_correlation_id("c-1".into());
        let plain = BasicProperties::default();
        let connection = connect(&server, 0).await;
        let one = connection.create_channel().await.expect("channel.open-ok");
        let two = connection.create_channel().await.expect("channel.open-ok");
        declare(&one, "props", false).await;
        let mut expected = vec![];
        let plan = [
            (&one, "1a", &a),
            (&two, "2a", &a),
            (&one, "1a again", &a),
            (&two, "2b", &b),
            (&one, "1b", &b),
            (&two, "2b again", &b),
            (&one, "1a back", &a),
            (&two, "2 plain", &plain),
        ];
        for (channel, body, properties) in plan {
            publish_with(channel, "props", body, properties.clone()).await;
            expected.push((body, properties.clone()));
        }
        one.close(200, "done".into()).await.expect("close-ok");
        let three = connection.create_channel().await.expect("channel.open-ok");
        for body in ["3 plain", "3 plain again"] {
            publish_with(&three, "props", body, plain.clone()).await;
            expected.push((body, plain.clone()));
        }
        publish_with(&three, "props", "3a", a.clone()).await;
        expected.push(("3a", a.clone()));
        for (body, properties) in expected {
            let got = two
                .basic_get("props".into(), BasicGetOptions { no_ack: true })
                .await
                .expect("basic.get answers")
                .expect("a message is ready");
            assert_eq!(String::from_utf8_lossy(&got.delivery.data), body);
            assert_eq!(got.delivery.properties, properties, "{body}");
        }
        connection
            .close(200, "done".into())
            .await
            .expect("close-ok");
    });
    server.stop();
}

#[test]
fn deleting_a_queue_under_its_consumer_cancels_the_consumer() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = TestServer::start(data.path());
    run(async {
        let connection = connect(&server, 0).await;
        let channel = connection.create_channel().await.expect("channel.open-ok");
        declare(&channel, "doomed", false).await;
        let mut consumer = consume(&channel, "doomed", "watcher").await;
        let admin = connection.create_channel().await.expect("channel.open-ok");
        admin
            .queue_delete("doomed".into(), QueueDeleteOptions::default())
            .await
            .expect("queue.delete-ok");
        // The server's basic.cancel ends lapin's consumer stream.
        let end = tokio::time::timeout(WAIT, consumer.next())
            .await
            .expect("the cancel notification arrives in time");
        assert!(end.is_none(), "the consumer was cancelled: {end:?}");
        assert!(channel.status().connected(), "the channel stays open");
        connection
            .close(200, "done".into())
            .await
            .expect("close-ok");
    });
    server.stop();
}

#[test]
fn heartbeats_negotiate_the_smaller_interval_and_keep_an_idle_connection_open() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = TestServer::start(data.path());
    run(async {
        let connection = connect(&server, 1).await;
        assert_eq!(connection.configuration().heartbeat(), 1);
        let channel = connection.create_channel().await.expect("channel.open-ok");
        declare(&channel, "idle", false).await;
        // Three intervals of silence but for heartbeats: a server that sent
        // none, or did not count the client's, would have closed by now.
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(connection.status().connected());
        publish(&channel, "idle", b"still here").await;
        assert_eq!(ready(&channel, "idle").await, 1);
        connection
            .close(200, "done".into())
            .await
            .expect("close-ok");
    });
    server.stop();
}
