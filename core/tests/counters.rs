//! `Broker::counters`: what the message path counts, by the rules of
//! RabbitMQ's global counters, with events on or off, and left out of the
//! broker's identity.

mod support;

use brokerlab_core::{
    Command, Config, Counters, DeadLetterCounts, FieldTable, FieldValue, Properties,
};
use support::Harness;

/// A mandatory publish of `m` to the default exchange.
fn mandatory(key: &str) -> Command {
    let mut command = support::publish("", key, "m", Properties::default());
    if let Command::BasicPublish { mandatory, .. } = &mut command {
        *mandatory = true;
    }
    command
}

/// A run touching every counter: confirmed publishes, two unroutable ones
/// (mandatory and not), basic.get with and without acks and on an empty
/// queue, a consumer that acks, requeues and rejects (into a dead-letter
/// queue, and from a queue whose dead-letter exchange is missing).
fn known_run(config: Config) -> Harness {
    let mut harness = Harness::new(config);
    harness.connect(1);
    harness.send(1, 1, Command::ConfirmSelect);
    let mut to_dead = FieldTable::new();
    to_dead.insert("x-dead-letter-exchange".into(), FieldValue::string(""));
    to_dead.insert(
        "x-dead-letter-routing-key".into(),
        FieldValue::string("dead"),
    );
    harness.declare(1, 1, "dead", FieldTable::new());
    harness.declare(1, 1, "jobs", to_dead);
    let mut to_missing = FieldTable::new();
    to_missing.insert(
        "x-dead-letter-exchange".into(),
        FieldValue::string("missing"),
    );
    harness.declare(1, 1, "lost", to_missing);
    for _ in 0..6 {
        harness.publish(1, 1, "", "jobs", "m");
    }
    harness.publish(1, 1, "", "lost", "m");
    harness.send(1, 1, mandatory("nowhere"));
    harness.publish(1, 1, "", "nowhere", "m");
    harness.sync();

    // Delivery tags on channel 2: 1 and 2 the gets from `jobs`, 3 to 6 the
    // consumer's, 7 the requeued one again, 8 the get from `lost`.
    harness.open(1, 2);
    harness.get(1, 2, "jobs", true).assert_ok();
    harness.get(1, 2, "jobs", false).assert_ok();
    harness.get(1, 2, "dead", false).assert_ok();
    harness.consume(1, 2, "jobs", "worker", false).assert_ok();
    harness.ack(1, 2, 3, false).assert_ok();
    harness.nack(1, 2, 4, false, true).assert_ok();
    harness.reject(1, 2, 5, false).assert_ok();
    harness.get(1, 2, "lost", false).assert_ok();
    harness.reject(1, 2, 8, false).assert_ok();
    harness
}

fn expected() -> Counters {
    Counters {
        received: 9,
        received_confirm: 9,
        routed: 7,
        unroutable_dropped: 1,
        unroutable_returned: 1,
        confirmed: 9,
        // The 4 left in `jobs`, once more after the requeue.
        delivered_consume_manual_ack: 5,
        delivered_consume_auto_ack: 0,
        // From `jobs`, then `lost`.
        delivered_get_manual_ack: 2,
        delivered_get_auto_ack: 1,
        get_empty: 1,
        redelivered: 1,
        acknowledged: 1,
        dead_lettered: DeadLetterCounts {
            rejected: 1,
            ..DeadLetterCounts::default()
        },
        dead_lettered_dropped: DeadLetterCounts {
            rejected: 1,
            ..DeadLetterCounts::default()
        },
    }
}

#[test]
fn counters_count_each_message_as_rabbitmqs_global_counters_do() {
    let harness = known_run(Config::default());
    assert_eq!(*harness.broker.counters(), expected());
    assert_eq!(harness.broker.counters().delivered(), 8);
}

#[test]
fn counters_are_the_same_with_events_on_or_off() {
    let quiet = known_run(Config::default());
    let traced = known_run(Config {
        events: true,
        ..Config::default()
    });
    assert_eq!(quiet.broker.counters(), traced.broker.counters());
}

#[test]
fn brokers_that_differ_only_in_their_counters_are_equal() {
    let mut counted = Harness::new(Config::default());
    let mut fresh = Harness::new(Config::default());
    for harness in [&mut counted, &mut fresh] {
        harness.connect(1);
        harness.declare(1, 1, "jobs", FieldTable::new());
    }
    // A basic.get on an empty queue changes nothing but a counter.
    counted.get(1, 1, "jobs", true).assert_ok();
    assert_ne!(counted.broker.counters(), fresh.broker.counters());
    assert_eq!(counted.broker, fresh.broker);
    let clone = counted.broker.clone();
    assert_eq!(
        clone.counters(),
        counted.broker.counters(),
        "a clone keeps the counts"
    );
}
