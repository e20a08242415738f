//! Unmodified Kafka clients against the server's Kafka listener: the seed
//! document's kafka-python example (a producer, then a consumer in a
//! group) run as a script (tests/clients/kafka_seed.py) that asserts what
//! arrives.
//!
//! Needs `python3` with kafka-python (`python3 -m pip install kafka-python`;
//! CI's .ci/run does it). Without it the test says so and passes.
// On a real runtime, sockets and processes: madsim builds leave this out.
#![cfg(not(madsim))]

mod common;

use brokerlab_server::Options;
use common::TestServer;
use std::net::SocketAddr;
use std::process::Command;

/// Whether kafka-python can be imported; when not, the test says what to install.
fn kafka_python_installed() -> bool {
    let found = Command::new("python3")
        .args(["-c", "import kafka"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !found {
        eprintln!("skipped: kafka-python is not installed (python3 -m pip install kafka-python)");
    }
    found
}

fn start(data: &std::path::Path) -> TestServer {
    TestServer::start_options(Options {
        data_dir: data.to_path_buf(),
        kafka_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        ..Options::new()
    })
}

fn run_script(name: &str, server: &TestServer, env: &[(&str, &str)]) {
    let port = server
        .kafka
        .expect("the Kafka listener is on")
        .port()
        .to_string();
    let mut env = env.to_vec();
    env.push(("BROKERLAB_KAFKA_PORT", &port));
    let missing = "install python3 and kafka-python (python3 -m pip install kafka-python)";
    common::run_client_script("python3", missing, name, server, &env);
}

#[test]
fn seed_kafka_python_example_delivers_to_a_group_from_its_committed_offset() {
    if !kafka_python_installed() {
        return;
    }
    let data = tempfile::tempdir().expect("a temp dir");
    let server = start(data.path());
    // The group's first consumer starts at the latest offset and commits it.
    run_script(
        "kafka_seed.py",
        &server,
        &[("BROKERLAB_CONSUMER_TIMEOUT_MS", "8000")],
    );
    // The second run's consumer resumes there and gets the second run's record.
    run_script(
        "kafka_seed.py",
        &server,
        &[(
            "BROKERLAB_EXPECTED",
            r#"{"orderId": "12345", "status": "pending"}"#,
        )],
    );
    server.stop();
}
