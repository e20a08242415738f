//! The `fanout` and `event-bus` models: the real core puts a copy of each
//! message in every queue bound to match it, with pinned state counts, and
//! the routing mutants leave a subscriber without its copy.

mod support;

use brokerlab_core::Mutant;
use brokerlab_models::check::{check, report, Options};
use brokerlab_models::Fanout;
use support::{assert_fails, first_failure};

/// Checks `model` to the end on two threads: the number of unique states.
fn holds(model: Fanout) -> usize {
    let options = Options {
        threads: 2,
        ..Options::default()
    };
    let outcome = check(model.into_model(), &options);
    println!("{}", report(&outcome, &options));
    assert!(outcome.all_hold());
    outcome.unique_states
}

#[test]
fn a_fanout_exchange_gives_every_subscriber_queue_a_copy_with_pinned_state_count() {
    let model = Fanout {
        messages: 1,
        ..Fanout::default()
    };
    assert_eq!(holds(model), 13_100);
}

#[test]
fn an_event_bus_hash_pattern_matches_a_key_with_zero_words_after_its_prefix() {
    let model = Fanout {
        messages: 1,
        ..Fanout::event_bus()
    };
    assert_eq!(holds(model), 13_100);
}

#[test]
fn fanout_to_one_queue_leaves_a_subscriber_without_the_message() {
    let model = Fanout {
        messages: 1,
        mutant: Some(Mutant::FanoutToOneQueue),
        ..Fanout::default()
    };
    assert_fails(
        &first_failure(model.into_model()),
        "every-subscriber-served",
        12,
    );
}

#[test]
fn topic_hash_needs_a_word_leaves_the_prefix_subscriber_without_the_event() {
    let model = Fanout {
        messages: 1,
        mutant: Some(Mutant::TopicHashNeedsAWord),
        ..Fanout::event_bus()
    };
    assert_fails(
        &first_failure(model.into_model()),
        "every-subscriber-served",
        12,
    );
}
