//! `no-panic`: a panic in an actor's step is a counterexample with the path
//! that led to it, never a crashed checker.

use brokerlab_core::Mutant;
use brokerlab_models::check::{check, report, Options};
use brokerlab_models::WorkQueue;

/// The work queue with three messages and `double-deliver`: message 3 is
/// handed to both consumers, and when both of their connections drop the
/// broker requeues it twice, which the core refuses with a panic.
fn double_deliver() -> WorkQueue {
    WorkQueue {
        messages: 3,
        mutant: Some(Mutant::DoubleDeliver),
        ..WorkQueue::default()
    }
}

#[test]
fn a_panic_in_the_core_is_a_counterexample_to_no_panic() {
    let options = Options {
        threads: 2,
        stop_at_property: Some("no-panic"),
        ..Options::default()
    };
    let outcome = check(double_deliver().into_model(), &options);
    let text = report(&outcome, &options);
    println!("{text}");
    let verdict = outcome.verdict("no-panic");
    assert!(!verdict.holds);
    assert!(verdict
        .counterexample
        .as_ref()
        .is_some_and(|steps| !steps.is_empty()));
    assert_eq!(verdict.panics.len(), 1, "{:?}", verdict.panics);
    assert!(verdict.panics[0].starts_with("broker: "));
    assert!(text.contains("counterexample to no-panic:"));
}
