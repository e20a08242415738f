//! Unmodified amqplib, the Node.js client, against the server: the seed
//! document's work-queue, publish-subscribe, topic and dead-letter examples
//! run with `node` as scripts (tests/clients/*.js) that assert what arrives,
//! and amqplib's own direct reply-to examples as the package ships them.
//!
//! Needs `node` and amqplib installed beside the scripts
//! (`npm install --prefix server/tests/clients --no-package-lock`; CI's .ci/run does it).
// On a real runtime, sockets and processes: madsim builds leave this out.
#![cfg(not(madsim))]

mod common;

use common::TestServer;

const MISSING: &str = "install Node.js and amqplib \
    (apt-get install nodejs npm; npm install --prefix server/tests/clients --no-package-lock)";

fn run_script(name: &str, server: &TestServer) {
    let amqplib = common::client_script("node_modules/amqplib/package.json");
    assert!(amqplib.exists(), "amqplib is missing: {MISSING}");
    common::run_client_script("node", MISSING, name, server, &[]);
}

#[test]
fn seed_amqplib_work_queue_delivers_persistent_tasks_one_at_a_time() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = TestServer::start(data.path());
    run_script("work_queue.js", &server);
    server.stop();
}

#[test]
fn seed_amqplib_fanout_pubsub_reaches_every_subscriber() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = TestServer::start(data.path());
    run_script("pubsub.js", &server);
    server.stop();
}

#[test]
fn seed_amqplib_topic_exchange_routes_error_star_star_critical_and_hash() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = TestServer::start(data.path());
    run_script("topic.js", &server);
    server.stop();
}

#[test]
fn seed_amqplib_dlq_dead_letters_a_nacked_task_through_its_dead_letter_exchange() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = TestServer::start(data.path());
    run_script("dlq.js", &server);
    server.stop();
}

#[test]
fn amqplib_shipped_direct_reply_to_examples_exchange_ping_and_pong() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = TestServer::start(data.path());
    run_script("direct_reply_to.js", &server);
    server.stop();
}
