//! Per-vhost permissions over the wire with lapin: a user configures, writes
//! and reads only the resources its patterns admit, and anything else closes
//! the channel with 403 ACCESS_REFUSED, worded as RabbitMQ words it.
// On a real runtime, sockets and processes: madsim builds leave this out.
#![cfg(not(madsim))]

mod common;

use brokerlab_server::users::password_hash;
use brokerlab_server::Users;
use common::TestServer;
use lapin::options::{
    BasicConsumeOptions, BasicGetOptions, BasicPublishOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use std::future::Future;

/// `app` on `staging` may configure `app.*` and `audit.*`, write anywhere,
/// and read only `app.*`.
fn users() -> Users {
    let json = format!(
        r#"{{"users": [{{"name": "app", "password_hash": "{}",
                        "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": ""}}],
            "vhosts": [{{"name": "staging"}}],
            "permissions": [{{"user": "app", "vhost": "staging",
                              "configure": "^(app|audit)\\.", "write": ".*", "read": "^app\\."}}]}}"#,
        password_hash([7, 1, 7, 1], "s3cret")
    );
    Users::from_definitions(&json).expect("valid definitions")
}

async fn declare(channel: &Channel, queue: &str) -> Result<(), String> {
    channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .map(|_| ())
        .map_err(|error| error.to_string())
}

/// Runs `body` on a fresh server with a connection of `app` to `staging`.
fn as_app<F: Future<Output = ()>>(body: impl FnOnce(Connection) -> F) {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = TestServer::start_with(data.path(), users());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let uri = format!("amqp://app:s3cret@{}/staging", server.addr);
    runtime.block_on(async {
        let connection = Connection::connect(&uri, ConnectionProperties::default())
            .await
            .expect("app may open staging");
        body(connection).await;
    });
    server.stop();
}

#[test]
fn a_user_may_only_configure_write_and_read_what_its_patterns_admit() {
    as_app(|connection| async move {
        let channel = connection.create_channel().await.expect("a channel");
        declare(&channel, "app.jobs")
            .await
            .expect("configure app.*");
        declare(&channel, "audit.log")
            .await
            .expect("configure audit.*");
        let refused = declare(&channel, "billing")
            .await
            .expect_err("no configure");
        assert!(
            refused.contains("ACCESS_REFUSED - access to queue 'billing' in vhost 'staging' refused for user 'app'"),
            "{refused}"
        );

        let channel = connection.create_channel().await.expect("a new channel");
        channel
            .basic_publish(
                "".into(),
                "app.jobs".into(),
                BasicPublishOptions::default(),
                b"job",
                BasicProperties::default(),
            )
            .await
            .expect("write is .*");
        let got = channel
            .basic_get("app.jobs".into(), BasicGetOptions { no_ack: true })
            .await
            .expect("read app.*");
        assert_eq!(got.expect("the message is there").delivery.data, b"job");
        let refused = channel
            .basic_get("audit.log".into(), BasicGetOptions { no_ack: true })
            .await
            .expect_err("no read on audit.*")
            .to_string();
        assert!(
            refused.contains("access to queue 'audit.log' in vhost 'staging' refused"),
            "{refused}"
        );
        let _ = connection.close(200, "done".into()).await;
    });
}

#[test]
fn a_server_named_queue_is_checked_under_the_name_it_will_get() {
    as_app(|connection| async move {
        let channel = connection.create_channel().await.expect("a channel");
        // `app` may configure only app.* and audit.*: not amq.gen-*.
        let refused = declare(&channel, "").await.expect_err("no configure");
        assert!(
            refused.contains("ACCESS_REFUSED - access to queue 'amq.gen-1' in vhost 'staging' refused for user 'app'"),
            "{refused}"
        );
        let _ = connection.close(200, "done".into()).await;
    });
}

#[test]
fn direct_reply_to_needs_no_permission_to_declare_or_consume_its_pseudo_queue() {
    as_app(|connection| async move {
        let channel = connection.create_channel().await.expect("a channel");
        // `app` may neither configure nor read amq.*: RabbitMQ checks neither here.
        declare(&channel, "amq.rabbitmq.reply-to")
            .await
            .expect("declaring the pseudo-queue is not configuring it");
        let options = BasicConsumeOptions {
            no_ack: true,
            ..BasicConsumeOptions::default()
        };
        channel
            .basic_consume(
                "amq.rabbitmq.reply-to".into(),
                "r".into(),
                options,
                FieldTable::default(),
            )
            .await
            .expect("consuming replies is not reading a queue");
        let _ = connection.close(200, "done".into()).await;
    });
}
