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

/// The work-queue script above, with its outputs, on a broker with events on or off.
fn work_queue_outputs(events: bool) -> Vec<brokerlab_core::Output> {
    let mut broker = Harness::new(brokerlab_core::Config {
        events,
        ..brokerlab_core::Config::default()
    });
    let mut outputs = Vec::new();
    outputs.extend(broker.connect(1).outputs);
    outputs.extend(broker.declare(1, 1, "tasks", FieldTable::new()).outputs);
    outputs.extend(broker.connect(2).outputs);
    outputs.extend(broker.qos(2, 1, 1, false).outputs);
    outputs.extend(broker.consume(2, 1, "tasks", "w1", false).outputs);
    for body in ["a", "b"] {
        outputs.extend(broker.publish(1, 1, "", "tasks", body).outputs);
    }
    outputs.extend(broker.ack(2, 1, 1, false).outputs);
    outputs.extend(broker.disconnect(2).outputs);
    outputs
}

#[test]
fn turning_events_off_changes_nothing_but_the_events() {
    use brokerlab_core::Output;
    let with: Vec<Output> = work_queue_outputs(true)
        .into_iter()
        .filter(|output| !matches!(output, Output::Event(_)))
        .collect();
    let without = work_queue_outputs(false);
    assert!(
        without
            .iter()
            .all(|output| !matches!(output, Output::Event(_))),
        "no event with events off"
    );
    assert!(work_queue_outputs(true)
        .iter()
        .any(|output| matches!(output, Output::Event(_))));
    assert_eq!(with, without);
}
