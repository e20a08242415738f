//! Unmodified pika, the Python client, against the server: the seed
//! document's work-queue, publish-subscribe, topic and dead-letter examples
//! run as scripts (tests/clients/*.py) that assert what arrives, then an
//! RPC over direct reply-to, a basic.qos with a prefetch_size and a stream
//! queue read from offsets, each asserting what RabbitMQ 3.10.8 answers.
//!
//! Needs `python3` with pika installed (`python3 -m pip install pika`; CI's
//! .ci/run does it). Without pika a script fails with its ImportError.
// On a real runtime, sockets and processes: madsim builds leave this out.
#![cfg(not(madsim))]

mod common;

use common::TestServer;

fn run_script(name: &str, server: &TestServer, env: &[(&str, &str)]) {
    let missing = "install python3 and pika (python3 -m pip install pika)";
    common::run_client_script("python3", missing, name, server, env);
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

#[test]
fn seed_topic_exchange_routes_error_star_star_critical_and_hash() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = TestServer::start(data.path());
    run_script("topic.py", &server, &[]);
    server.stop();
}

#[test]
fn seed_dlq_dead_letters_a_nacked_task_through_its_dead_letter_exchange() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = TestServer::start(data.path());
    run_script("dlq.py", &server, &[]);
    server.stop();
}

#[test]
fn pika_rpc_over_direct_reply_to_gets_its_replies_and_the_misuses_get_406() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = TestServer::start(data.path());
    run_script("direct_reply_to.py", &server, &[]);
    server.stop();
}

#[test]
fn seed_order_saga_with_pika_participants_completes_one_order_and_compensates_the_declined_one() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = TestServer::start(data.path());
    run_script("saga.py", &server, &[]);
    server.stop();
}

#[test]
fn pika_order_sagas_survive_a_sigkill_mid_saga_with_no_step_lost_or_doubled() {
    // The script runs the server binary itself, to kill and restart it.
    let data = tempfile::tempdir().expect("a temp dir");
    let output = std::process::Command::new("python3")
        .arg(common::client_script("saga_sigkill.py"))
        .env("BROKERLAB_SERVER", env!("CARGO_BIN_EXE_serve-until-killed"))
        .env("BROKERLAB_DATA", data.path())
        .output()
        .expect("python3 starts: install python3 and pika (python3 -m pip install pika)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "saga_sigkill.py failed:\n{stdout}\n{stderr}"
    );
    println!("{stdout}");
}

#[test]
fn pika_qos_with_a_prefetch_size_closes_the_connection_with_540() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = TestServer::start(data.path());
    run_script("qos_prefetch_size.py", &server, &[]);
    server.stop();
}

#[test]
fn pika_stream_queue_reads_from_first_and_from_an_offset_with_prefetch_and_acks() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = TestServer::start(data.path());
    run_script("stream_queue.py", &server, &[]);
    server.stop();
}
