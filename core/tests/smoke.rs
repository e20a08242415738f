//! The seed document's work-queue pattern, end to end through the core.

mod support;

use brokerlab_core::FieldTable;
use support::{Harness, Step};

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

/// The work-queue script above, with its outputs, on a broker with events on or off.
fn work_queue_steps(events: bool) -> Step {
    let mut broker = Harness::new(brokerlab_core::Config {
        events,
        ..brokerlab_core::Config::default()
    });
    let mut all = Step::default();
    all.extend(broker.connect(1));
    all.extend(broker.declare(1, 1, "tasks", FieldTable::new()));
    all.extend(broker.connect(2));
    all.extend(broker.qos(2, 1, 1, false));
    all.extend(broker.consume(2, 1, "tasks", "w1", false));
    for body in ["a", "b"] {
        all.extend(broker.publish(1, 1, "", "tasks", body));
    }
    all.extend(broker.ack(2, 1, 1, false));
    all.extend(broker.disconnect(2));
    all
}

#[test]
fn turning_events_off_changes_nothing_but_the_events() {
    let (with, without) = (work_queue_steps(true), work_queue_steps(false));
    assert!(without.events.is_empty(), "no event with events off");
    assert!(!with.events.is_empty());
    assert_eq!(with.outputs, without.outputs);
}
