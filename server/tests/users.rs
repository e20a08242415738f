//! Users from a RabbitMQ definitions file, over the wire with lapin: a user
//! logs in with its password only, opens the vhosts it has permissions on,
//! and is refused the others with 530 NOT_ALLOWED, as RabbitMQ refuses them.
// On a real runtime, sockets and processes: madsim builds leave this out.
#![cfg(not(madsim))]

mod common;

use brokerlab_server::users::password_hash;
use brokerlab_server::Users;
use common::TestServer;
use lapin::{Connection, ConnectionProperties};

fn users() -> Users {
    let json = format!(
        r#"{{"users": [{{"name": "app", "password_hash": "{}",
                        "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": ""}}],
            "vhosts": [{{"name": "/"}}, {{"name": "staging"}}],
            "permissions": [{{"user": "app", "vhost": "staging",
                              "configure": ".*", "write": ".*", "read": ".*"}}]}}"#,
        password_hash([7, 1, 7, 1], "s3cret")
    );
    Users::from_definitions(&json).expect("valid definitions")
}

fn connect(server: &TestServer, credentials: &str, vhost: &str) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let uri = format!("amqp://{credentials}@{}/{vhost}", server.addr);
    runtime.block_on(async {
        let connection = Connection::connect(&uri, ConnectionProperties::default())
            .await
            .map_err(|error| error.to_string())?;
        // A channel opens too; it closes with the connection.
        let _channel = connection
            .create_channel()
            .await
            .map_err(|error| error.to_string())?;
        connection
            .close(200, "done".into())
            .await
            .map_err(|error| error.to_string())
    })
}

#[test]
fn a_configured_user_opens_a_vhost_it_has_permissions_on() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = TestServer::start_with(data.path(), users());
    assert_eq!(connect(&server, "app:s3cret", "staging"), Ok(()));
    server.stop();
}

#[test]
fn a_wrong_password_or_an_unknown_user_is_refused() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = TestServer::start_with(data.path(), users());
    let wrong = connect(&server, "app:guess", "staging").expect_err("wrong password");
    assert!(
        wrong.contains("ACCESS_REFUSED") || wrong.contains("403"),
        "{wrong}"
    );
    // guest is not in this file.
    let guest = connect(&server, "guest:guest", "%2f").expect_err("no such user");
    assert!(
        guest.contains("ACCESS_REFUSED") || guest.contains("403"),
        "{guest}"
    );
    server.stop();
}

#[test]
fn a_vhost_without_permissions_or_unknown_is_refused_with_530() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = TestServer::start_with(data.path(), users());
    let slash = connect(&server, "app:s3cret", "%2f").expect_err("no permissions on /");
    assert!(
        slash.contains("530") || slash.contains("NOT_ALLOWED"),
        "{slash}"
    );
    let missing = connect(&server, "app:s3cret", "prod").expect_err("no such vhost");
    assert!(
        missing.contains("530") || missing.contains("NOT_ALLOWED"),
        "{missing}"
    );
    server.stop();
}
