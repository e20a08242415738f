//! The seed document's work-queue pattern, end to end through the core.

mod support;

use brokerlab_core::FieldTable;
use support::Harness;

#[test]
fn work_queue_round_robins_and_acks() {
    let mut broker = Harness::default();
    broker.connect(1);
    broker.declare(1, 1, "tasks", FieldTable::new()).assert_ok();
    broker.connect(2);
    broker.connect(3);
    broker.qos(2, 1, 1, false).assert_ok();
    broker.qos(3, 1, 1, false).assert_ok();
    broker.consume(2, 1, "tasks", "w1", false).assert_ok();
    broker.consume(3, 1, "tasks", "w2", false).assert_ok();
    let first = broker.publish(1, 1, "", "tasks", "a");
    let second = broker.publish(1, 1, "", "tasks", "b");
    let third = broker.publish(1, 1, "", "tasks", "c");
    assert_eq!(first.deliveries()[0].conn, 2);
    assert_eq!(second.deliveries()[0].conn, 3);
    assert!(
        third.deliveries().is_empty(),
        "both workers are at prefetch 1"
    );
    let acked = broker.ack(2, 1, 1, false);
    assert_eq!(acked.bodies(), vec!["c"]);
    assert_eq!(acked.deliveries()[0].conn, 2);
}
