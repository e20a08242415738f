//! `/metrics` after a known run, read as Prometheus reads it: every figure
//! under RabbitMQ's Prometheus plugin's name and labels, exactly.
// On a real runtime and sockets: madsim builds leave this out.
#![cfg(not(madsim))]

mod common;

use brokerlab_server::Options;
use common::{http, TestServer};
use futures_lite::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, Consumer};
use prometheus_parse::{Sample, Scrape, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

/// How long a test waits for something the server owes it before failing.
const WAIT: Duration = Duration::from_secs(10);

/// Messages published to the queue.
const PUBLISHED: u64 = 20;
/// Deliveries the consumer's prefetch lets through.
const PREFETCH: u16 = 6;
/// Of those, acknowledged.
const ACKED: u64 = 4;

fn server_with_metrics(data: &tempfile::TempDir) -> TestServer {
    TestServer::start_options(Options {
        data_dir: data.path().to_path_buf(),
        metrics_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        ..Options::new()
    })
}

fn run(test: impl std::future::Future<Output = ()>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(test);
}

fn scrape(server: &TestServer) -> Vec<Sample> {
    let addr = server.metrics.expect("metrics are served");
    let (status, body) = http(addr, "GET", "/metrics", None, b"");
    assert_eq!(status, 200, "{body}");
    let lines = body.lines().map(|line| Ok(line.to_owned()));
    Scrape::parse(lines).expect("Prometheus text").samples
}

/// The value of the one sample of `name` whose labels include `labels`.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let matching: Vec<&Sample> = samples
        .iter()
        .filter(|sample| sample.metric == name)
        .filter(|sample| {
            labels
                .iter()
                .all(|(key, value)| sample.labels.get(key) == Some(*value))
        })
        .collect();
    assert_eq!(
        matching.len(),
        1,
        "one sample of {name} {labels:?}: {matching:?}"
    );
    match matching[0].value {
        Value::Counter(value) | Value::Gauge(value) | Value::Untyped(value) => value,
        ref other => panic!("{name} is a {other:?}"),
    }
}

async fn declare(channel: &Channel, name: &str, arguments: FieldTable) {
    channel
        .queue_declare(name.into(), QueueDeclareOptions::default(), arguments)
        .await
        .expect("queue.declare-ok");
}

async fn publish(channel: &Channel, routing_key: &str, mandatory: bool) {
    let options = BasicPublishOptions {
        mandatory,
        ..BasicPublishOptions::default()
    };
    channel
        .basic_publish(
            "".into(),
            routing_key.into(),
            options,
            b"m",
            BasicProperties::default(),
        )
        .await
        .expect("basic.publish is sent")
        .await
        .expect("the publish is confirmed");
}

/// Declares `jobs` (dead-lettering to `dead`), publishes to it with
/// confirms, publishes one unroutable message with mandatory and one
/// without, then consumes with a prefetch window, acks some deliveries and
/// rejects one. Returns the connection, the publishing channel and the
/// consumer, all still open (lapin closes a channel and cancels a
/// consumer it drops).
async fn known_run(server: &TestServer) -> (Connection, Channel, Consumer) {
    let uri = format!("amqp://guest:guest@{}/%2f", server.addr);
    let connection = Connection::connect(&uri, ConnectionProperties::default())
        .await
        .expect("lapin connects");
    let publisher = connection.create_channel().await.expect("channel.open-ok");
    publisher
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirm.select-ok");
    declare(&publisher, "dead", FieldTable::default()).await;
    let mut arguments = FieldTable::default();
    arguments.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString("".into()),
    );
    arguments.insert(
        "x-dead-letter-routing-key".into(),
        AMQPValue::LongString("dead".into()),
    );
    declare(&publisher, "jobs", arguments).await;
    for _ in 0..PUBLISHED {
        publish(&publisher, "jobs", false).await;
    }
    publish(&publisher, "nowhere", true).await;
    publish(&publisher, "nowhere", false).await;

    let consumer_channel = connection.create_channel().await.expect("channel.open-ok");
    consumer_channel
        .basic_qos(PREFETCH, BasicQosOptions::default())
        .await
        .expect("basic.qos-ok");
    let mut consumer = consumer_channel
        .basic_consume(
            "jobs".into(),
            "worker".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("basic.consume-ok");
    let mut deliveries = Vec::new();
    for _ in 0..PREFETCH {
        let delivery = tokio::time::timeout(WAIT, consumer.next())
            .await
            .expect("a delivery arrives in time")
            .expect("the consumer is not cancelled")
            .expect("the delivery is well formed");
        deliveries.push(delivery);
    }
    for delivery in deliveries.iter().take(ACKED as usize) {
        delivery
            .ack(BasicAckOptions::default())
            .await
            .expect("basic.ack is sent");
    }
    let rejected = BasicNackOptions {
        requeue: false,
        ..BasicNackOptions::default()
    };
    deliveries[ACKED as usize]
        .nack(rejected)
        .await
        .expect("basic.nack is sent");
    // A round trip on the same channel: the broker took the acks and the
    // nack before it, and delivered into the slots they freed.
    declare(&consumer_channel, "dead", FieldTable::default()).await;
    (connection, publisher, consumer)
}

#[test]
fn a_scrape_reports_a_known_run_under_rabbitmqs_metric_names() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = server_with_metrics(&data);
    let samples = run_and_scrape(&server);
    let global = [("protocol", "amqp091")];
    let by_queue_type = [
        ("protocol", "amqp091"),
        ("queue_type", "rabbit_classic_queue"),
    ];
    let published = PUBLISHED as f64;
    // 10 to the queue and the 2 unroutable ones, all on the confirm channel.
    let expected_global = [
        ("rabbitmq_global_messages_received_total", published + 2.0),
        (
            "rabbitmq_global_messages_received_confirm_total",
            published + 2.0,
        ),
        ("rabbitmq_global_messages_routed_total", published),
        ("rabbitmq_global_messages_unroutable_returned_total", 1.0),
        ("rabbitmq_global_messages_unroutable_dropped_total", 1.0),
        ("rabbitmq_global_messages_confirmed_total", published + 2.0),
    ];
    for (name, expected) in expected_global {
        assert_eq!(value(&samples, name, &global), expected, "{name}");
    }
    // The prefetch window, then one more for each slot an ack or the nack freed.
    let delivered = f64::from(PREFETCH) + ACKED as f64 + 1.0;
    let expected_by_queue_type = [
        ("rabbitmq_global_messages_delivered_total", delivered),
        (
            "rabbitmq_global_messages_delivered_consume_manual_ack_total",
            delivered,
        ),
        (
            "rabbitmq_global_messages_delivered_consume_auto_ack_total",
            0.0,
        ),
        (
            "rabbitmq_global_messages_delivered_get_manual_ack_total",
            0.0,
        ),
        ("rabbitmq_global_messages_redelivered_total", 0.0),
        ("rabbitmq_global_messages_acknowledged_total", ACKED as f64),
    ];
    for (name, expected) in expected_by_queue_type {
        assert_eq!(value(&samples, name, &by_queue_type), expected, "{name}");
    }
    let dead_lettered = |strategy| {
        let labels = [
            ("queue_type", "rabbit_classic_queue"),
            ("dead_letter_strategy", strategy),
        ];
        value(
            &samples,
            "rabbitmq_global_messages_dead_lettered_rejected_total",
            &labels,
        )
    };
    assert_eq!(dead_lettered("at_most_once"), 1.0);
    assert_eq!(dead_lettered("disabled"), 0.0);

    let jobs = [("vhost", "/"), ("queue", "jobs")];
    let unacked = delivered - ACKED as f64 - 1.0;
    let ready = published - delivered;
    assert_eq!(
        value(&samples, "rabbitmq_queue_messages_ready", &jobs),
        ready
    );
    assert_eq!(
        value(&samples, "rabbitmq_queue_messages_unacked", &jobs),
        unacked
    );
    assert_eq!(
        value(&samples, "rabbitmq_queue_messages", &jobs),
        ready + unacked
    );
    assert_eq!(value(&samples, "rabbitmq_queue_consumers", &jobs), 1.0);
    let dead = [("vhost", "/"), ("queue", "dead")];
    assert_eq!(value(&samples, "rabbitmq_queue_messages_ready", &dead), 1.0);
    assert_eq!(value(&samples, "rabbitmq_queue_consumers", &dead), 0.0);

    let totals = [
        ("rabbitmq_connections", 1.0),
        ("rabbitmq_channels", 2.0),
        ("rabbitmq_queues", 2.0),
        ("rabbitmq_consumers", 1.0),
    ];
    for (name, expected) in totals {
        assert_eq!(value(&samples, name, &[]), expected, "{name}");
    }
    server.stop();
}

/// Runs [`known_run`], scrapes while its connection is open, then closes it.
fn run_and_scrape(server: &TestServer) -> Vec<Sample> {
    let mut samples = Vec::new();
    run(async {
        let (connection, _publisher, _consumer) = known_run(server).await;
        let addr = server.metrics.expect("metrics are served");
        samples = tokio::task::spawn_blocking(move || {
            let (status, body) = http(addr, "GET", "/metrics", None, b"");
            assert_eq!(status, 200, "{body}");
            let lines = body.lines().map(|line| Ok(line.to_owned()));
            Scrape::parse(lines).expect("Prometheus text").samples
        })
        .await
        .expect("the scrape does not panic");
        connection
            .close(200, "done".into())
            .await
            .expect("close-ok");
    });
    samples
}

#[test]
fn a_deleted_queue_leaves_no_series_and_counters_never_go_back() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = server_with_metrics(&data);
    let before = run_and_scrape(&server);
    let received = value(&before, "rabbitmq_global_messages_received_total", &[]);
    run(async {
        let uri = format!("amqp://guest:guest@{}/%2f", server.addr);
        let connection = Connection::connect(&uri, ConnectionProperties::default())
            .await
            .expect("lapin connects");
        let channel = connection.create_channel().await.expect("channel.open-ok");
        channel
            .queue_delete("jobs".into(), Default::default())
            .await
            .expect("queue.delete-ok");
        connection
            .close(200, "done".into())
            .await
            .expect("close-ok");
    });
    let after = scrape(&server);
    let jobs: Vec<_> = after
        .iter()
        .filter(|sample| sample.labels.get("queue") == Some("jobs"))
        .collect();
    assert!(jobs.is_empty(), "{jobs:?}");
    let queues = BTreeMap::from([("rabbitmq_queues", 1.0), ("rabbitmq_connections", 0.0)]);
    for (name, expected) in queues {
        assert_eq!(value(&after, name, &[]), expected, "{name}");
    }
    assert_eq!(
        value(&after, "rabbitmq_global_messages_received_total", &[]),
        received
    );
    server.stop();
}
