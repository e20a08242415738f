//! What the model tests share: a search that stops at the first failure and
//! the assertion that a specific property fails with a short counterexample.

use brokerlab_models::check::{check, report, Options, Outcome};
use brokerlab_models::properties::BrokerModel;

/// Checks `model` breadth first on one thread, stopping at the first failure,
/// so a counterexample is a shortest one.
pub fn first_failure(model: BrokerModel) -> Outcome {
    let options = Options {
        stop_at_failure: true,
        ..Options::default()
    };
    let outcome = check(model, &options);
    println!("{}", report(&outcome, &options));
    outcome
}

/// Asserts that `property` fails with a counterexample of at most `steps_max` steps.
pub fn assert_fails(outcome: &Outcome, property: &str, steps_max: usize) {
    let verdict = outcome.verdict(property);
    assert!(!verdict.holds, "{property} should fail");
    let steps = verdict
        .counterexample
        .as_ref()
        .expect("a counterexample")
        .len();
    assert!(steps <= steps_max, "{property}: {steps} steps");
}
