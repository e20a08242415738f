//! The `priority` model: the real core hands out the highest priority it
//! holds first, with a pinned state count, and a queue that ignores
//! priorities hands out a lower one while a higher one waits.

mod support;

use brokerlab_core::Mutant;
use brokerlab_models::check::{check, report, Options};
use brokerlab_models::Priority;
use support::{assert_fails, first_failure};

#[test]
fn a_priority_queue_hands_out_its_highest_priority_first_with_pinned_state_count() {
    let options = Options {
        threads: 2,
        ..Options::default()
    };
    let outcome = check(Priority::default().into_model(), &options);
    println!("{}", report(&outcome, &options));
    assert!(outcome.all_hold());
    assert_eq!(outcome.unique_states, 3_042);
}

#[test]
fn priority_ignored_hands_out_a_lower_priority_while_a_higher_one_waits() {
    let model = Priority {
        messages: 2,
        mutant: Some(Mutant::PriorityIgnored),
    };
    assert_fails(&first_failure(model.into_model()), "priority-order", 12);
}
