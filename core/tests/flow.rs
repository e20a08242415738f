//! Credit flow (`Config::flow`): a connection publishing faster than its
//! queues' consumers take messages is put in flow, so that the driver stops
//! reading it, as RabbitMQ "will reduce the speed of connections which are
//! publishing too quickly for queues to keep up". Off by default.

mod support;

use brokerlab_core::{Command, Config, ConnectionId, FieldTable, Flow, Instant};
use support::Harness;

const HIGH: usize = 4;
const LOW: usize = 2;
const STALL_MS: u64 = 1_000;

/// Publisher on connection 1, queue `q`, and a consumer with prefetch 1 on
/// connection 2 that holds one delivery.
fn consumed_queue() -> Harness {
    let mut broker = Harness::new(Config {
        flow: Some(Flow {
            ready_high: HIGH,
            ready_low: LOW,
            stall_ms: STALL_MS,
        }),
        ..Config::default()
    });
    broker.connect(1);
    broker.declare(1, 1, "q", FieldTable::new()).assert_ok();
    broker.connect(2);
    broker.qos(2, 1, 1, false).assert_ok();
    broker.consume(2, 1, "q", "c", false).assert_ok();
    broker
}

fn in_flow(broker: &mut Harness, conn: u64) -> bool {
    let now = Instant(broker.now_ms * 1_000_000);
    broker.broker.in_flow(ConnectionId(conn), now)
}

/// Publishes `n` messages from connection 1 to `q`.
fn publish(broker: &mut Harness, n: usize) {
    for i in 0..n {
        broker.publish(1, 1, "", "q", &format!("m{i}")).assert_ok();
    }
}

#[test]
fn a_publisher_into_a_consumed_queue_past_the_high_mark_is_in_flow() {
    let mut broker = consumed_queue();
    // One goes to the consumer, then HIGH wait: at the mark, not past it.
    publish(&mut broker, 1 + HIGH);
    assert_eq!(broker.ready_count(1, 1, "q"), HIGH as u32);
    assert!(!in_flow(&mut broker, 1));
    publish(&mut broker, 1);
    assert!(in_flow(&mut broker, 1));
    assert!(!in_flow(&mut broker, 2), "the consumer is not slowed");
}

#[test]
fn flow_lasts_until_the_queue_is_back_to_the_low_mark() {
    let mut broker = consumed_queue();
    publish(&mut broker, 1 + HIGH + 1);
    assert!(in_flow(&mut broker, 1));
    // Each ack lets one more message go to the consumer.
    let mut tag = 1;
    while broker.ready_count(1, 1, "q") as usize > LOW {
        assert!(in_flow(&mut broker, 1), "still above the low mark");
        broker.ack(2, 1, tag, false).assert_ok();
        tag += 1;
    }
    assert!(!in_flow(&mut broker, 1));
}

#[test]
fn a_queue_without_consumers_never_slows_its_publishers() {
    let mut broker = consumed_queue();
    broker
        .declare(1, 1, "buffer", FieldTable::new())
        .assert_ok();
    for i in 0..10 * HIGH {
        broker
            .publish(1, 1, "", "buffer", &format!("m{i}"))
            .assert_ok();
    }
    assert!(!in_flow(&mut broker, 1));
}

#[test]
fn a_connection_with_consumers_of_its_own_is_never_in_flow() {
    let mut broker = consumed_queue();
    broker
        .declare(1, 1, "replies", FieldTable::new())
        .assert_ok();
    broker.consume(1, 1, "replies", "mine", false).assert_ok();
    publish(&mut broker, 1 + 2 * HIGH);
    assert!(
        !in_flow(&mut broker, 1),
        "its reads carry its acks: pausing them could stall what it waits for"
    );
}

#[test]
fn consumers_that_stop_taking_deliveries_no_longer_slow_their_publishers() {
    let mut broker = consumed_queue();
    publish(&mut broker, 1 + HIGH + 1);
    assert!(in_flow(&mut broker, 1));
    broker.advance(STALL_MS - 1).assert_ok();
    assert!(in_flow(&mut broker, 1));
    broker.advance(1).assert_ok();
    assert!(
        !in_flow(&mut broker, 1),
        "a hung consumer lets the queue grow, as in RabbitMQ"
    );
}

#[test]
fn cancelling_the_queues_consumers_releases_its_publishers() {
    let mut broker = consumed_queue();
    publish(&mut broker, 1 + HIGH + 1);
    assert!(in_flow(&mut broker, 1));
    let cancel = Command::BasicCancel {
        consumer_tag: "c".into(),
    };
    broker.send(2, 1, cancel).assert_ok();
    assert!(!in_flow(&mut broker, 1));
}

#[test]
fn deleting_the_queue_releases_its_publishers() {
    let mut broker = consumed_queue();
    publish(&mut broker, 1 + HIGH + 1);
    assert!(in_flow(&mut broker, 1));
    let delete = Command::QueueDelete {
        queue: "q".into(),
        if_unused: false,
        if_empty: false,
    };
    broker.send(1, 1, delete).assert_ok();
    assert!(!in_flow(&mut broker, 1));
}

#[test]
fn without_a_flow_config_no_publisher_is_ever_in_flow() {
    let mut broker = Harness::default();
    broker.connect(1);
    broker.declare(1, 1, "q", FieldTable::new()).assert_ok();
    broker.connect(2);
    broker.qos(2, 1, 1, false).assert_ok();
    broker.consume(2, 1, "q", "c", false).assert_ok();
    publish(&mut broker, 100);
    assert!(!in_flow(&mut broker, 1));
}

#[test]
fn unknown_connections_are_not_in_flow() {
    let mut broker = consumed_queue();
    publish(&mut broker, 1 + HIGH + 1);
    assert!(!in_flow(&mut broker, 9));
    broker.disconnect(1).assert_ok();
    assert!(!in_flow(&mut broker, 1));
}
