//! `brokerlab perf` against the server: its counts add up and it cleans up
//! after itself. (How fast is not tested here; reports/bench-server.md
//! measures that.)
// On a real runtime, sockets and processes: madsim builds leave this out.
#![cfg(not(madsim))]

mod common;

use brokerlab_server::client::{Client, Target};
use brokerlab_server::perf::{self, Options};
use common::TestServer;
use std::time::Duration;

fn options(server: &TestServer, confirm: bool, persistent: bool) -> Options {
    Options {
        target: format!("amqp://guest:guest@{}/", server.addr)
            .parse::<Target>()
            .expect("a valid URI"),
        producers: 2,
        consumers: 2,
        size_bytes: 100,
        duration: Duration::from_millis(500),
        confirm,
        persistent,
        prefetch: 64,
        queue: "perf-test".into(),
        unconfirmed_max: 32,
        rate_per_s: 0,
    }
}

fn check_counts(report: &perf::Report) {
    assert!(report.published > 0, "{report}");
    assert!(report.consumed > 0, "{report}");
    assert!(report.consumed <= report.published, "{report}");
    let latency = report.latency;
    assert!(latency.p50_us <= latency.p95_us, "{report}");
    assert!(latency.p95_us <= latency.p99_us, "{report}");
    assert!(latency.p99_us <= latency.max_us, "{report}");
    for key in [
        "\"published_per_s\":",
        "\"consumed_per_s\":",
        "\"p50_us\":",
        "\"p95_us\":",
        "\"p99_us\":",
        "\"max_us\":",
    ] {
        assert!(
            report.to_json().contains(key),
            "{key} in {}",
            report.to_json()
        );
    }
}

fn queue_is_gone(server: &TestServer) -> bool {
    let target: Target = format!("amqp://guest:guest@{}/", server.addr)
        .parse()
        .expect("a valid URI");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let mut client = Client::connect(&target).await.expect("connects");
        client.open_channel(1).await.expect("channel.open-ok");
        let declare = amq_protocol::protocol::queue::Declare {
            queue: "perf-test".into(),
            passive: true,
            ..Default::default()
        };
        let method = amq_protocol::protocol::AMQPClass::Queue(
            amq_protocol::protocol::queue::AMQPMethod::Declare(declare),
        );
        let answer = client.call(1, method).await;
        answer
            .expect_err("a passive declare of a deleted queue closes the channel")
            .to_string()
            .contains("404")
    })
}

#[test]
fn perf_counts_add_up_without_confirms_and_the_queue_is_deleted_after() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = TestServer::start(data.path());
    let report = perf::run(options(&server, false, false)).expect("the load runs");
    check_counts(&report);
    assert_eq!((report.confirmed, report.nacked), (0, 0));
    assert!(queue_is_gone(&server));
    server.stop();
}

#[test]
fn perf_at_a_rate_publishes_no_more_than_the_rate_allows() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = TestServer::start(data.path());
    let mut options = options(&server, false, false);
    options.rate_per_s = 200;
    let report = perf::run(options).expect("the load runs");
    check_counts(&report);
    // 2 producers at 200 msg/s for 0.5 s: 100 due, one batch's rounding aside.
    assert!(report.published <= 2 * (100 + 1), "{report}");
    server.stop();
}

#[test]
fn perf_with_confirms_and_persistence_confirms_no_more_than_it_published() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = TestServer::start(data.path());
    let report = perf::run(options(&server, true, true)).expect("the load runs");
    check_counts(&report);
    assert!(report.confirmed > 0, "{report}");
    assert!(report.confirmed <= report.published, "{report}");
    assert_eq!(report.nacked, 0);
    assert!(queue_is_gone(&server));
    server.stop();
}
