//! The `memory-alarm` and `credit-flow` models: the core pauses the
//! producer and the consumers' acks release it, with pinned state counts.

mod support;

use brokerlab_core::MemoryAlarm as Alarm;
use brokerlab_models::check::{check, report, Options};
use brokerlab_models::Pressure;
use support::{assert_fails, first_failure};

#[test]
fn memory_alarm_real_core_passes_every_property_with_pinned_state_count() {
    let options = Options {
        threads: 2,
        ..Options::default()
    };
    let outcome = check(Pressure::memory_alarm().into_model(), &options);
    println!("{}", report(&outcome, &options));
    assert!(outcome.all_hold());
    assert_eq!(outcome.unique_states, 13_393);
}

#[test]
fn credit_flow_real_core_passes_every_property_with_pinned_state_count() {
    let options = Options {
        threads: 2,
        ..Options::default()
    };
    let outcome = check(Pressure::credit_flow().into_model(), &options);
    println!("{}", report(&outcome, &options));
    assert!(outcome.all_hold());
    assert_eq!(outcome.unique_states, 18_368);
}

#[test]
fn a_pause_the_core_never_lifts_is_a_counterexample() {
    // A low mark of 0 is never passed below: the producer, blocked at the
    // publish after the one that raised the alarm, stays paused with its
    // last publish unread, and the model goes quiet with it unconfirmed.
    let stuck = Pressure {
        messages: 4,
        alarm: Some(Alarm {
            high_bytes: 3,
            low_bytes: 0,
        }),
        ..Pressure::memory_alarm()
    };
    let outcome = first_failure(stuck.into_model());
    assert_fails(&outcome, "quiet-means-done", 30);
}
