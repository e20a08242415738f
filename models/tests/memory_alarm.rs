//! The `memory-alarm` model: the core blocks the producer past the alarm's
//! high mark and the consumers' acks release it, with a pinned state count.

mod support;

use brokerlab_core::MemoryAlarm as Alarm;
use brokerlab_models::check::{check, report, Options};
use brokerlab_models::MemoryAlarm;
use support::{assert_fails, first_failure};

#[test]
fn real_core_passes_every_property_with_pinned_state_count() {
    let options = Options {
        threads: 2,
        ..Options::default()
    };
    let outcome = check(MemoryAlarm::default().into_model(), &options);
    println!("{}", report(&outcome, &options));
    assert!(outcome.all_hold());
    assert_eq!(outcome.unique_states, 13_393);
}

#[test]
fn a_pause_the_core_never_lifts_is_a_counterexample() {
    // A low mark of 0 is never passed below: the producer, blocked at the
    // publish after the one that raised the alarm, stays paused with its
    // last publish unread, and the model goes quiet with it unconfirmed.
    let stuck = MemoryAlarm {
        messages: 4,
        alarm: Alarm {
            high_bytes: 3,
            low_bytes: 0,
        },
        ..MemoryAlarm::default()
    };
    let outcome = first_failure(stuck.into_model());
    assert_fails(&outcome, "quiet-means-done", 30);
}
