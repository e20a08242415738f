//! The `idempotent-producer` model: over a network that loses segments,
//! with retries and a broker crash, the real core appends each batch once
//! and in order and loses none it acknowledged (with a pinned state count).

use brokerlab_models::check::{check, report, Options};
use brokerlab_models::IdempotentProducer;

#[test]
fn each_sequence_is_appended_once_in_order_and_acknowledged_batches_survive_with_pinned_state_count(
) {
    let options = Options {
        threads: 2,
        ..Options::default()
    };
    let outcome = check(IdempotentProducer::default().into_model(), &options);
    println!("{}", report(&outcome, &options));
    assert!(outcome.all_hold());
    assert!(outcome.verdict("deduplicated").holds);
    assert_eq!(outcome.unique_states, 1_165);
}

#[test]
fn three_batches_with_two_retries_hold_every_property() {
    let config = IdempotentProducer {
        messages: 3,
        retries: 2,
        ..IdempotentProducer::default()
    };
    let options = Options {
        threads: 2,
        ..Options::default()
    };
    let outcome = check(config.into_model(), &options);
    println!("{}", report(&outcome, &options));
    assert!(outcome.all_hold());
}
