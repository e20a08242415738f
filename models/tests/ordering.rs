//! The `ordering` model: the real core keeps a queue's order with a pinned
//! state count, and a broker that requeues to the tail breaks `oldest-first`.

mod support;

use brokerlab_core::Mutant;
use brokerlab_models::check::{check, report, Options};
use brokerlab_models::Ordering;
use support::{assert_fails, first_failure};

#[test]
fn real_core_passes_every_property_with_pinned_state_count() {
    let options = Options {
        threads: 2,
        ..Options::default()
    };
    let outcome = check(Ordering::default().into_model(), &options);
    println!("{}", report(&outcome, &options));
    assert!(outcome.all_hold());
    assert_eq!(outcome.unique_states, 5_811);
}

#[test]
fn requeue_to_tail_hands_out_a_newer_message_before_a_requeued_one() {
    let outcome = first_failure(
        Ordering {
            drops: 0,
            mutant: Some(Mutant::RequeueToTail),
            ..Ordering::default()
        }
        .into_model(),
    );
    assert_fails(&outcome, "oldest-first", 12);
}
