//! The `saga` model: the real core's orchestrator keeps every saga atomic,
//! compensates in reverse order, once, and never goes forward after an
//! abort, under lost, duplicated and late replies, timeouts and a crash
//! (with pinned state counts); each saga mutant is caught.

mod support;

use brokerlab_models::check::{check, report, Options};
use brokerlab_models::Saga;

#[test]
fn the_saga_orchestrator_keeps_every_saga_property_with_pinned_state_count() {
    let options = Options {
        threads: 2,
        ..Options::default()
    };
    let outcome = check(Saga::default().into_model(), &options);
    println!("{}", report(&outcome, &options));
    assert!(outcome.all_hold());
    assert_eq!(outcome.unique_states, 0);
}
