//! The `saga` model: the real core's orchestrator keeps every saga atomic,
//! compensates in reverse order, once, and never goes forward after an
//! abort, under duplicated, late and unanswered replies and timeouts, and
//! across a broker crash, with pinned state counts; each terminal state is
//! reached. The saga mutants are caught in `mutants.rs`.

use brokerlab_models::check::{check, report, Options, Outcome};
use brokerlab_models::Saga;

fn checked(config: Saga) -> Outcome {
    let options = Options {
        threads: 2,
        ..Options::default()
    };
    let outcome = check(config.into_model(), &options);
    println!("{}", report(&outcome, &options));
    outcome
}

/// Every property holds and every terminal state is reached (a
/// `Sometimes` that is never met fails `all_hold`).
fn assert_all_hold(outcome: &Outcome) {
    for terminal in ["completed", "compensated", "failed-needs-attention"] {
        assert!(outcome.verdict(terminal).holds, "{terminal} is reached");
    }
    assert!(outcome.all_hold());
}

#[test]
fn two_steps_with_an_abort_and_duplicated_replies_keep_every_property_with_pinned_state_count() {
    let outcome = checked(Saga::default());
    assert_all_hold(&outcome);
    assert_eq!(outcome.unique_states, 304_207);
}

#[test]
fn a_step_across_a_broker_crash_keeps_every_property_with_pinned_state_count() {
    let outcome = checked(Saga::crashing());
    assert_all_hold(&outcome);
    assert_eq!(outcome.unique_states, 534_042);
}
