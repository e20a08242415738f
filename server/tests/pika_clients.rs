//! Unmodified pika, the Python client, against the server: the seed
//! document's work-queue and publish-subscribe examples run as scripts
//! (tests/clients/) that assert what arrives.
//!
//! Needs `python3` with pika installed (`python3 -m pip install pika`; CI's
//! .ci/run does it).

mod common;

use common::TestServer;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A script that runs longer than this has hung.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(name)
}

/// Runs a client script against the server and fails the test with its
/// output unless it exits successfully in time.
fn run_script(name: &str, server: &TestServer, env: &[(&str, &str)]) {
    let mut child = Command::new("python3")
        .arg(script(name))
        .env("BROKERLAB_PORT", server.addr.port().to_string())
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs (with pika: python3 -m pip install pika)");
    let started = Instant::now();
    while child.try_wait().expect("the child can be polled").is_none() {
        if started.elapsed() > SCRIPT_TIMEOUT {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child
        .wait_with_output()
        .expect("the child's output is readable");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{name} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    println!("{name}:\n{stdout}");
}

#[test]
fn seed_work_queue_delivers_persistent_tasks_with_prefetch_one_across_a_restart() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = TestServer::start(data.path());
    run_script("work_queue_producer.py", &server, &[]);
    run_script("work_queue_producer.py", &server, &[]);
    server.stop();
    // The durable queue and its persistent messages come back from the log.
    let server = TestServer::start(data.path());
    run_script("work_queue_producer.py", &server, &[]);
    run_script(
        "work_queue_consumer.py",
        &server,
        &[("BROKERLAB_EXPECTED", "3")],
    );
    server.stop();
}

#[test]
fn seed_fanout_pubsub_reaches_every_subscriber() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = TestServer::start(data.path());
    run_script("pubsub.py", &server, &[]);
    server.stop();
}
