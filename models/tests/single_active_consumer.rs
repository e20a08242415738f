//! The `single-active-consumer` model: one consumer at a time receives
//! messages, with pinned state counts with and without symmetry.

use brokerlab_models::check::{check, report, Options};
use brokerlab_models::SingleActiveConsumer;

#[test]
fn real_core_passes_every_property_with_pinned_state_count() {
    let options = Options {
        threads: 2,
        ..Options::default()
    };
    let outcome = check(SingleActiveConsumer::default().into_model(), &options);
    println!("{}", report(&outcome, &options));
    assert!(outcome.all_hold());
    assert_eq!(outcome.unique_states, 85_646);
}

#[test]
fn symmetry_explores_one_state_per_consumer_renaming() {
    let options = Options {
        threads: 2,
        symmetry: true,
        ..Options::default()
    };
    let outcome = check(SingleActiveConsumer::default().into_model(), &options);
    assert!(outcome.symmetry && outcome.all_hold());
    assert_eq!(outcome.unique_states, 42_965);
}
