//! The `idempotency` model: an idempotent consumer gives each message one
//! effect across redeliveries and republishes (pinned state count); without
//! its memory the duplicates show.

mod support;

use brokerlab_models::check::{check, report, Options};
use brokerlab_models::{Idempotency, Links};
use support::{assert_fails, first_failure};

#[test]
fn real_core_passes_every_property_with_pinned_state_count() {
    let options = Options {
        threads: 2,
        ..Options::default()
    };
    let outcome = check(Idempotency::default().into_model(), &options);
    println!("{}", report(&outcome, &options));
    assert!(outcome.all_hold());
    assert_eq!(outcome.unique_states, 44_913);
}

#[test]
fn consumer_without_dedup_does_the_work_of_a_redelivered_message_twice() {
    let outcome = first_failure(
        Idempotency {
            dedup: false,
            crashes: 0,
            ..Idempotency::default()
        }
        .into_model(),
    );
    assert_fails(&outcome, "exactly-once-effect", 12);
}

#[test]
fn each_message_takes_effect_once_over_every_network_without_crashes() {
    // Copies the network makes never reach the consumer (sequencing
    // discards them, as TCP does): the duplicates it suppresses are
    // redeliveries after its connection dropped.
    let counts = [Links::Ordered, Links::Unordered, Links::Duplicating].map(|network| {
        let model = Idempotency {
            crashes: 0,
            network,
            ..Idempotency::default()
        };
        let options = Options {
            threads: 2,
            ..Options::default()
        };
        let outcome = check(model.into_model(), &options);
        println!("{network:?}\n{}", report(&outcome, &options));
        assert!(outcome.all_hold(), "{network:?}");
        outcome.unique_states
    });
    assert_eq!(counts, [175, 314, 673]);
}
