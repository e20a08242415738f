//! confluent-kafka, Python's binding of librdkafka, unmodified against the
//! server's Kafka listener: scripts in tests/clients/ that assert what
//! arrives, one test per rule a librdkafka client relies on (the broker
//! and topics listed, the idempotent producer through a cut connection, a
//! group splitting and moving partitions, committed offsets across
//! restarts, auto.offset.reset, headers, a 1 MB record, the
//! Java-compatible partitioner).
//!
//! Needs `python3` with confluent-kafka (`python3 -m pip install
//! confluent-kafka`; its wheel bundles librdkafka); CI's .ci/run installs
//! it. Without it the tests say what is missing and pass.
// On a real runtime, sockets and processes: madsim builds leave this out.
#![cfg(not(madsim))]

mod common;

use brokerlab_server::users::password_hash;
use brokerlab_server::{Options, Users};
use common::TestServer;
use std::net::SocketAddr;
use std::process::Command;

/// Whether confluent-kafka can be imported; when not, the test says what to install.
fn confluent_kafka_installed() -> bool {
    let found = Command::new("python3")
        .args(["-c", "import confluent_kafka"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !found {
        eprintln!(
            "skipped: confluent-kafka is not installed (python3 -m pip install confluent-kafka)"
        );
    }
    found
}

/// Runs `name` against a new server's Kafka listener, when confluent-kafka is installed.
fn run(name: &str) {
    run_with(name, Options::new());
}

/// Runs `name` against a new server with `options` and a Kafka listener.
fn run_with(name: &str, options: Options) {
    if !confluent_kafka_installed() {
        return;
    }
    let data = tempfile::tempdir().expect("a temp dir");
    let server = TestServer::start_options(Options {
        data_dir: data.path().to_path_buf(),
        kafka_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        ..options
    });
    let port = server
        .kafka
        .expect("the Kafka listener is on")
        .port()
        .to_string();
    let missing = "install python3 and confluent-kafka (python3 -m pip install confluent-kafka)";
    common::run_client_script(
        "python3",
        missing,
        name,
        &server,
        &[("BROKERLAB_KAFKA_PORT", &port)],
    );
    server.stop();
}

#[test]
fn the_admin_client_lists_the_broker_and_each_topic_with_its_partitions() {
    run("librdkafka_metadata.py");
}

#[test]
fn an_idempotent_producer_through_cut_connections_writes_each_record_once_in_order() {
    run("librdkafka_idempotent_cut.py");
}

#[test]
fn a_group_of_three_splits_the_partitions_disjointly_and_a_leaver_s_move_to_the_others() {
    run("librdkafka_group_of_three.py");
}

#[test]
fn a_restarted_consumer_resumes_after_its_group_s_committed_offset() {
    run("librdkafka_committed_restart.py");
}

#[test]
fn auto_offset_reset_earliest_reads_from_the_start_and_latest_only_what_comes_after() {
    run("librdkafka_offset_reset.py");
}

#[test]
fn headers_and_a_1_mb_record_round_trip() {
    run("librdkafka_headers_large.py");
}

#[test]
fn batches_compressed_with_gzip_snappy_lz4_and_zstd_are_acknowledged_and_read_back_whole() {
    run("librdkafka_compression.py");
}

#[test]
fn a_repeated_header_key_keeps_each_of_its_values_in_order() {
    run("librdkafka_headers_repeated.py");
}

#[test]
fn a_null_header_value_comes_back_null() {
    run("librdkafka_headers_null.py");
}

#[test]
fn keyed_records_land_on_murmur2_of_the_key_and_stay_in_order_per_partition() {
    run("librdkafka_murmur2.py");
}

#[test]
fn topic_configs_set_at_creation_are_described_under_kafka_s_names_and_others_refused() {
    run("kafka_describe_configs.py");
}

#[test]
fn sasl_plain_authenticates_an_amqp_user_and_refuses_a_wrong_password() {
    let options = Options {
        kafka_anonymous_loopback: false,
        ..Options::new()
    };
    run_with("librdkafka_sasl_plain.py", options);
}

#[test]
fn a_read_only_user_reads_a_topic_but_may_not_produce_to_it_or_create_one() {
    let json = format!(
        r#"{{"users": [
              {{"name": "guest", "password_hash": "{guest}", "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": ""}},
              {{"name": "reader", "password_hash": "{reader}", "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": ""}}],
            "vhosts": [{{"name": "/"}}],
            "permissions": [
              {{"user": "guest", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}},
              {{"user": "reader", "vhost": "/", "configure": "", "write": "", "read": ".*"}}]}}"#,
        guest = password_hash([1, 2, 3, 4], "guest"),
        reader = password_hash([5, 6, 7, 8], "r3ad"),
    );
    let options = Options {
        kafka_anonymous_loopback: false,
        users: Users::from_definitions(&json).expect("valid definitions"),
        ..Options::new()
    };
    run_with("librdkafka_permissions.py", options);
}
