//! The management HTTP API as curl and rabbitmqadmin call it: listings in
//! RabbitMQ's JSON shapes, basic auth against the server's users and
//! their tags, 404 for what does not exist, purge and delete through the
//! core, and a definitions export that imports into a fresh server.
// On a real runtime, sockets and processes: madsim builds leave this out.
#![cfg(not(madsim))]

mod common;

use brokerlab_server::users::password_hash;
use brokerlab_server::{Options, Users};
use common::{http, TestServer};
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    ExchangeBindOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

const GUEST: Option<(&str, &str)> = Some(("guest", "guest"));

fn loopback() -> Option<SocketAddr> {
    Some(SocketAddr::from(([127, 0, 0, 1], 0)))
}

fn server_with_management(data: &Path, users: Users) -> TestServer {
    TestServer::start_options(Options {
        data_dir: data.to_path_buf(),
        users,
        management_listen: loopback(),
        metrics_listen: loopback(),
        ..Options::new()
    })
}

/// `GET path` as guest: its status and JSON body.
fn get(server: &TestServer, path: &str) -> (u16, Value) {
    call(server, "GET", path, GUEST, b"")
}

fn call(
    server: &TestServer,
    method: &str,
    path: &str,
    credentials: Option<(&str, &str)>,
    body: &[u8],
) -> (u16, Value) {
    let addr = server.management.expect("the management API is served");
    let (status, body) = http(addr, method, path, credentials, body);
    let json = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&body).unwrap_or_else(|error| panic!("{error}: {body}"))
    };
    (status, json)
}

fn run<T>(test: impl std::future::Future<Output = T>) -> T {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(test)
}

async fn connect(server: &TestServer) -> (Connection, Channel) {
    let uri = format!("amqp://guest:guest@{}/%2f", server.addr);
    let connection = Connection::connect(&uri, ConnectionProperties::default())
        .await
        .expect("lapin connects");
    let channel = connection.create_channel().await.expect("channel.open-ok");
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirm.select-ok");
    (connection, channel)
}

async fn publish(channel: &Channel, exchange: &str, routing_key: &str, count: usize) {
    for _ in 0..count {
        channel
            .basic_publish(
                exchange.into(),
                routing_key.into(),
                BasicPublishOptions::default(),
                b"m",
                BasicProperties::default(),
            )
            .await
            .expect("basic.publish is sent")
            .await
            .expect("the publish is confirmed");
    }
}

/// A topic exchange `events`, a durable queue `jobs` with a length limit
/// bound to it by `a.*`, an exchange `audit` bound to `events` by `#`, and
/// `messages` published to `jobs`.
async fn declare_topology(channel: &Channel, messages: usize) {
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    };
    for name in ["events", "audit"] {
        channel
            .exchange_declare(
                name.into(),
                ExchangeKind::Topic,
                durable,
                FieldTable::default(),
            )
            .await
            .expect("exchange.declare-ok");
    }
    let mut arguments = FieldTable::default();
    arguments.insert("x-max-length".into(), AMQPValue::LongLongInt(100));
    let options = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    channel
        .queue_declare("jobs".into(), options, arguments)
        .await
        .expect("queue.declare-ok");
    channel
        .queue_bind(
            "jobs".into(),
            "events".into(),
            "a.*".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("queue.bind-ok");
    channel
        .exchange_bind(
            "audit".into(),
            "events".into(),
            "#".into(),
            ExchangeBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("exchange.bind-ok");
    publish(channel, "", "jobs", messages).await;
}

/// The element of a JSON list whose `field` is `value`.
fn find<'a>(list: &'a Value, field: &str, value: &str) -> &'a Value {
    list.as_array()
        .expect("a JSON list")
        .iter()
        .find(|item| item[field] == value)
        .unwrap_or_else(|| panic!("no {field} = {value} in {list}"))
}

#[test]
fn listings_show_queues_exchanges_bindings_connections_and_consumers_as_rabbitmq_does() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = server_with_management(data.path(), Users::default());
    run(async {
        let (connection, channel) = connect(&server).await;
        declare_topology(&channel, 3).await;
        let consumer_channel = connection.create_channel().await.expect("channel.open-ok");
        consumer_channel
            .basic_qos(1, BasicQosOptions::default())
            .await
            .expect("basic.qos-ok");
        let _consumer = consumer_channel
            .basic_consume(
                "jobs".into(),
                "worker".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("basic.consume-ok");
        // A round trip on the consumer's channel: the delivery went out before it.
        consumer_channel
            .basic_qos(1, BasicQosOptions::default())
            .await
            .expect("basic.qos-ok");
        let check = tokio::task::spawn_blocking(move || {
            check_listings(&server);
            server
        });
        let server = check.await.expect("the checks pass");
        connection
            .close(200, "done".into())
            .await
            .expect("close-ok");
        server
    })
    .stop();
}

fn check_listings(server: &TestServer) {
    let (status, queues) = get(server, "/api/queues");
    assert_eq!(status, 200, "{queues}");
    let jobs = find(&queues, "name", "jobs");
    let expected = [
        ("vhost", json!("/")),
        ("durable", json!(true)),
        ("auto_delete", json!(false)),
        ("exclusive", json!(false)),
        ("arguments", json!({"x-max-length": 100})),
        ("messages", json!(3)),
        ("messages_ready", json!(2)),
        ("messages_unacknowledged", json!(1)),
        ("consumers", json!(1)),
        ("type", json!("classic")),
    ];
    for (field, value) in &expected {
        assert_eq!(&jobs[field], value, "{field} of {jobs}");
    }
    let (status, one) = get(server, "/api/queues/%2F/jobs");
    assert_eq!((status, &one), (200, jobs));
    let (_, in_vhost) = get(server, "/api/queues/%2F");
    assert_eq!(in_vhost, queues);

    let (_, exchanges) = get(server, "/api/exchanges");
    let events = find(&exchanges, "name", "events");
    assert_eq!(
        (&events["type"], &events["durable"]),
        (&json!("topic"), &json!(true))
    );
    find(&exchanges, "name", "amq.direct");

    let (_, bindings) = get(server, "/api/bindings");
    let to_jobs = find(&bindings, "routing_key", "a.*");
    let expected = json!({"source": "events", "vhost": "/", "destination": "jobs",
        "destination_type": "queue", "routing_key": "a.*", "arguments": {}, "properties_key": "a.*"});
    assert_eq!(to_jobs, &expected);
    let to_audit = find(&bindings, "destination", "audit");
    assert_eq!(to_audit["destination_type"], "exchange");
    let implicit = find(&bindings, "source", "");
    assert_eq!(
        (&implicit["destination"], &implicit["routing_key"]),
        (&json!("jobs"), &json!("jobs"))
    );

    let (_, connections) = get(server, "/api/connections");
    let connection = &connections[0];
    assert_eq!(
        (
            &connection["user"],
            &connection["vhost"],
            &connection["channels"]
        ),
        (&json!("guest"), &json!("/"), &json!(2))
    );
    assert!(connection["name"]
        .as_str()
        .expect("a name")
        .ends_with(&format!(" -> {}", server.addr)));
    let (_, channels) = get(server, "/api/channels");
    assert_eq!(channels.as_array().map(Vec::len), Some(2));
    let (_, consumers) = get(server, "/api/consumers");
    let worker = find(&consumers, "consumer_tag", "worker");
    assert_eq!(worker["queue"], json!({"name": "jobs", "vhost": "/"}));
    assert_eq!(
        (&worker["ack_required"], &worker["prefetch_count"]),
        (&json!(true), &json!(1))
    );

    let (_, vhosts) = get(server, "/api/vhosts");
    assert_eq!(find(&vhosts, "name", "/")["messages"], 3);
    let (_, users) = get(server, "/api/users");
    assert_eq!(
        find(&users, "name", "guest")["tags"],
        json!(["administrator"])
    );
    let (_, overview) = get(server, "/api/overview");
    assert_eq!(overview["object_totals"]["queues"], 1);
    assert_eq!(overview["object_totals"]["consumers"], 1);
    assert_eq!(overview["queue_totals"]["messages"], 3);
    assert_eq!(overview["message_stats"]["publish"], 3);
}

#[test]
fn a_wrong_password_no_credentials_or_no_management_tag_is_refused_with_401() {
    let data = tempfile::tempdir().expect("a temp dir");
    let definitions = format!(
        r#"{{"users": [
              {{"name": "guest", "password_hash": "{guest}", "tags": "administrator"}},
              {{"name": "app", "password_hash": "{app}"}},
              {{"name": "watcher", "password_hash": "{app}", "tags": ["monitoring"]}}],
            "vhosts": [{{"name": "/"}}],
            "permissions": [{{"user": "guest", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}}]}}"#,
        guest = password_hash([1, 2, 3, 4], "guest"),
        app = password_hash([5, 6, 7, 8], "s3cret"),
    );
    let users = Users::from_definitions(&definitions).expect("valid definitions");
    let server = server_with_management(data.path(), users);
    let refused = [
        Some(("guest", "wrong")),
        None,
        Some(("nobody", "guest")),
        Some(("app", "s3cret")),
    ];
    for credentials in refused {
        let (status, body) = call(&server, "GET", "/api/overview", credentials, b"");
        assert_eq!(status, 401, "{credentials:?}: {body}");
        assert_eq!(body["error"], "not_authorised");
    }
    let (status, _) = call(
        &server,
        "GET",
        "/api/queues",
        Some(("watcher", "s3cret")),
        b"",
    );
    assert_eq!(status, 200, "monitoring may look");
    for path in ["/api/users", "/api/definitions"] {
        let (status, _) = call(&server, "GET", path, Some(("watcher", "s3cret")), b"");
        assert_eq!(status, 401, "{path} is for administrators");
    }
    server.stop();
}

#[test]
fn unknown_vhosts_and_queues_are_404() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = server_with_management(data.path(), Users::default());
    for path in [
        "/api/queues/nowhere",
        "/api/queues/%2F/missing",
        "/api/exchanges/%2F/missing",
        "/api/vhosts/nowhere",
    ] {
        let (status, body) = get(&server, path);
        assert_eq!(status, 404, "{path}: {body}");
    }
    for path in [
        "/api/queues/%2F/missing",
        "/api/queues/%2F/missing/contents",
        "/api/queues/nowhere/missing",
    ] {
        let (status, body) = call(&server, "DELETE", path, GUEST, b"");
        assert_eq!(status, 404, "DELETE {path}: {body}");
    }
    server.stop();
}

#[test]
fn purge_empties_a_queue_and_delete_removes_it_through_the_core() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = server_with_management(data.path(), Users::default());
    run(async {
        let (connection, channel) = connect(&server).await;
        declare_topology(&channel, 5).await;
        connection
            .close(200, "done".into())
            .await
            .expect("close-ok");
    });
    assert_eq!(get(&server, "/api/queues/%2F/jobs").1["messages"], 5);
    let (status, _) = call(
        &server,
        "DELETE",
        "/api/queues/%2F/jobs/contents",
        GUEST,
        b"",
    );
    assert_eq!(status, 204);
    assert_eq!(get(&server, "/api/queues/%2F/jobs").1["messages"], 0);
    let (status, _) = call(&server, "DELETE", "/api/queues/%2F/jobs", GUEST, b"");
    assert_eq!(status, 204);
    assert_eq!(get(&server, "/api/queues/%2F/jobs").0, 404);
    let (_, bindings) = get(&server, "/api/bindings");
    assert!(
        bindings
            .as_array()
            .expect("a list")
            .iter()
            .all(|binding| binding["destination"] != "jobs"),
        "the queue's bindings went with it: {bindings}"
    );
    server.stop();
}

/// The topology of a definitions file: its exchanges, queues and bindings.
fn topology(definitions: &Value) -> Value {
    json!({
        "exchanges": definitions["exchanges"],
        "queues": definitions["queues"],
        "bindings": definitions["bindings"],
    })
}

#[test]
fn definitions_exported_from_one_server_import_into_a_fresh_one() {
    let (first_data, fresh_data) = (
        tempfile::tempdir().expect("a temp dir"),
        tempfile::tempdir().expect("a temp dir"),
    );
    let first = server_with_management(first_data.path(), Users::default());
    run(async {
        let (connection, channel) = connect(&first).await;
        declare_topology(&channel, 2).await;
        connection
            .close(200, "done".into())
            .await
            .expect("close-ok");
    });
    let (status, exported) = get(&first, "/api/definitions");
    assert_eq!(status, 200);
    first.stop();
    assert_eq!(
        exported["queues"].as_array().map(Vec::len),
        Some(1),
        "{exported}"
    );
    assert_eq!(
        exported["exchanges"].as_array().map(Vec::len),
        Some(2),
        "amq.* are left out: {exported}"
    );
    assert_eq!(
        find(&exported["users"], "name", "guest")["tags"],
        json!(["administrator"])
    );

    let fresh = server_with_management(fresh_data.path(), Users::default());
    let (_, empty) = get(&fresh, "/api/definitions");
    let body = serde_json::to_vec(&exported).expect("JSON");
    let (status, reply) = call(&fresh, "POST", "/api/definitions", GUEST, &body);
    assert_eq!(status, 204, "{reply}");
    let (_, imported) = get(&fresh, "/api/definitions");
    assert_eq!(topology(&imported), topology(&exported));

    // A file naming a vhost the broker does not have changes nothing.
    let mut bad = exported.clone();
    bad["queues"][0]["vhost"] = json!("nowhere");
    bad["queues"][0]["name"] = json!("other");
    let body = serde_json::to_vec(&bad).expect("JSON");
    let (status, reply) = call(&fresh, "POST", "/api/definitions", GUEST, &body);
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply["reason"]
            .as_str()
            .expect("a reason")
            .contains("nowhere"),
        "{reply}"
    );
    let (status, reply) = call(&fresh, "POST", "/api/definitions", GUEST, b"{not json");
    assert_eq!(status, 400, "{reply}");
    assert_eq!(
        topology(&get(&fresh, "/api/definitions").1),
        topology(&imported)
    );
    assert_ne!(topology(&empty), topology(&imported));
    fresh.stop();
}

/// rabbitmqadmin as Debian's rabbitmq-server package ships it.
const RABBITMQADMIN: &str = "/usr/bin/rabbitmqadmin";

/// Runs rabbitmqadmin against the server as guest; its standard output.
fn rabbitmqadmin(server: &TestServer, arguments: &[&str]) -> String {
    let port = server
        .management
        .expect("the management API is served")
        .port()
        .to_string();
    let output = Command::new("python3")
        .arg(RABBITMQADMIN)
        .args(["-H", "127.0.0.1", "-P", &port, "-u", "guest", "-p", "guest"])
        .args(arguments)
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "rabbitmqadmin {arguments:?}: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn rabbitmqadmin_lists_purges_and_deletes_queues_against_brokerlab() {
    if !Path::new(RABBITMQADMIN).exists() {
        eprintln!("{RABBITMQADMIN} is missing: apt-get install rabbitmq-server ships it");
        return;
    }
    let data = tempfile::tempdir().expect("a temp dir");
    let server = server_with_management(data.path(), Users::default());
    run(async {
        let (connection, channel) = connect(&server).await;
        declare_topology(&channel, 4).await;
        connection
            .close(200, "done".into())
            .await
            .expect("close-ok");
    });
    let listed: Value = serde_json::from_str(&rabbitmqadmin(
        &server,
        &["-f", "raw_json", "list", "queues"],
    ))
    .expect("rabbitmqadmin prints JSON");
    assert_eq!(find(&listed, "name", "jobs")["messages"], 4);
    let table = rabbitmqadmin(&server, &["list", "exchanges", "name", "type"]);
    assert!(
        table.contains("| events ") && table.contains("| topic "),
        "{table}"
    );
    let overview = rabbitmqadmin(&server, &["show", "overview"]);
    assert!(overview.contains("3.10.8"), "{overview}");
    rabbitmqadmin(&server, &["purge", "queue", "name=jobs"]);
    assert_eq!(get(&server, "/api/queues/%2F/jobs").1["messages"], 0);
    rabbitmqadmin(
        &server,
        &["declare", "queue", "name=later", "durable=false"],
    );
    assert_eq!(get(&server, "/api/queues/%2F/later").1["durable"], false);
    rabbitmqadmin(&server, &["delete", "queue", "name=jobs"]);
    assert_eq!(get(&server, "/api/queues/%2F/jobs").0, 404);
    let exported = data.path().join("definitions.json");
    rabbitmqadmin(
        &server,
        &["export", exported.to_str().expect("a UTF-8 path")],
    );
    let definitions: Value =
        serde_json::from_slice(&std::fs::read(&exported).expect("the export is written"))
            .expect("JSON");
    find(&definitions["queues"], "name", "later");
    server.stop();
}

#[test]
fn a_saga_in_a_definitions_file_is_declared_and_a_malformed_one_refused_naming_its_argument() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = server_with_management(data.path(), Users::default());
    let saga = |steps: Value| {
        json!({"exchanges": [{
            "name": "order-saga", "vhost": "/", "type": "x-saga",
            "arguments": {"x-saga-steps": steps},
        }]})
    };
    let bad = serde_json::to_vec(&saga(json!([]))).expect("JSON");
    let (status, reply) = call(&server, "POST", "/api/definitions", GUEST, &bad);
    assert_eq!(status, 400, "{reply}");
    let reason = reply["reason"].as_str().expect("a reason");
    assert!(reason.contains("'x-saga-steps'"), "{reply}");
    let steps = json!([{"name": "reserve", "command": "inventory", "compensation": "inventory"}]);
    let good = serde_json::to_vec(&saga(steps)).expect("JSON");
    let (status, reply) = call(&server, "POST", "/api/definitions", GUEST, &good);
    assert_eq!(status, 204, "{reply}");
    let (status, exchange) = get(&server, "/api/exchanges/%2F/order-saga");
    assert_eq!(status, 200, "{exchange}");
    assert_eq!(exchange["type"], "x-saga");
    assert_eq!(exchange["durable"], true);
    server.stop();
}
