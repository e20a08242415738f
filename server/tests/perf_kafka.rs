//! `brokerlab perf --kafka` against the server's Kafka listener: librdkafka
//! producers and consumers, their counts adding up, a backlog consumed, the
//! topic gone afterwards. (How fast is not tested here;
//! reports/perf-kafka.md measures that.)
//!
//! Built only with the `kafka-perf` feature, which links the system's
//! librdkafka (`apt install librdkafka-dev`); `.ci/run` installs it and runs
//! `cargo test -p brokerlab-server --features kafka-perf --test perf_kafka`.
#![cfg(all(feature = "kafka-perf", not(madsim)))]

mod common;

use brokerlab_server::perf::{run_kafka, KafkaOptions, KafkaReport};
use brokerlab_server::Options;
use common::TestServer;
use std::net::SocketAddr;
use std::time::Duration;

fn server() -> (TestServer, tempfile::TempDir) {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = TestServer::start_options(Options {
        data_dir: data.path().to_path_buf(),
        kafka_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        ..Options::new()
    });
    (server, data)
}

fn options(server: &TestServer, topic: &str) -> KafkaOptions {
    KafkaOptions {
        bootstrap: server.kafka.expect("the Kafka listener is on").to_string(),
        producers: 2,
        consumers: 2,
        size_bytes: 100,
        duration: Duration::from_secs(2),
        acks: "1".into(),
        idempotent: false,
        rate_per_s: 2_000,
        linger_ms: 1,
        topic: topic.into(),
        partitions: 2,
        backlog: 0,
    }
}

fn check_latencies(report: &KafkaReport) {
    let latency = report.latency;
    assert!(latency.p50_us <= latency.p95_us, "{report}");
    assert!(latency.p95_us <= latency.p99_us, "{report}");
    assert!(latency.p99_us <= latency.max_us, "{report}");
    for key in ["\"produced_per_s\":", "\"consumed_per_s\":", "\"p99_us\":"] {
        assert!(
            report.to_json().contains(key),
            "{key} in {}",
            report.to_json()
        );
    }
}

#[test]
fn paced_producers_are_acknowledged_and_consumed_across_partitions() {
    let (server, _data) = server();
    let report = run_kafka(options(&server, "perf-paced")).expect("the load runs");
    // Two producers at 2,000 records/s for 2 s: about 8,000, all acknowledged.
    assert_eq!(report.failed, 0, "{report}");
    assert!(report.produced > 4_000, "{report}");
    assert!(report.consumed > 0, "{report}");
    assert!(report.consumed <= report.produced + 2 * 16, "{report}");
    check_latencies(&report);
    server.stop();
}

#[test]
fn idempotent_producers_with_acks_all_are_acknowledged() {
    let (server, _data) = server();
    let report = run_kafka(KafkaOptions {
        acks: "all".into(),
        idempotent: true,
        consumers: 0,
        ..options(&server, "perf-idempotent")
    })
    .expect("the load runs");
    assert_eq!(report.failed, 0, "{report}");
    assert!(report.produced > 4_000, "{report}");
    assert_eq!(report.consumed, 0, "{report}");
    server.stop();
}

#[test]
fn a_backlog_is_consumed_without_producers_and_the_topic_is_deleted_after() {
    let (server, _data) = server();
    let options = KafkaOptions {
        producers: 0,
        consumers: 1,
        backlog: 5_000,
        duration: Duration::from_secs(3),
        ..options(&server, "perf-backlog")
    };
    let report = run_kafka(options.clone()).expect("the load runs");
    // The consumer waits for the window and then takes the backlog.
    assert_eq!(report.consumed, 5_000, "{report}");
    assert!(report.consumed <= 5_000, "{report}");
    assert_eq!(report.produced, 0, "{report}");
    // The run deleted its topic: a second run creates it again and finds
    // only its own backlog.
    let again = run_kafka(options).expect("the load runs again");
    assert_eq!(again.consumed, 5_000, "{again}");
    server.stop();
}
