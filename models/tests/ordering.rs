//! The `ordering` model: the real core keeps a queue's order with a pinned
//! state count, and a broker that requeues to the tail breaks `oldest-first`.

mod support;

use brokerlab_core::Mutant;
use brokerlab_models::check::{check, report, Options};
use brokerlab_models::{Links, Ordering};
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

#[test]
fn oldest_first_fails_only_when_a_new_connection_overtakes_the_close_of_the_old() {
    // The consumer's connection drops while it holds m1; its new connection
    // subscribes before the broker hears the old one close, so m1 is still
    // unacked on the old connection and m2 goes out on the new one. TCP
    // allows it (the two connections are independent); publish order holds.
    let options = Options {
        threads: 2,
        ..Options::default()
    };
    let model = Ordering {
        network: Links::Unordered,
        ..Ordering::default()
    };
    let outcome = check(model.into_model(), &options);
    println!("{}", report(&outcome, &options));
    let failing: Vec<&str> = outcome
        .verdicts
        .iter()
        .filter(|verdict| !verdict.holds)
        .map(|verdict| verdict.name)
        .collect();
    assert_eq!(failing, vec!["oldest-first"]);
    assert_fails(&outcome, "oldest-first", 8);
    assert_eq!(outcome.unique_states, 16_528);
}

#[test]
fn requeue_to_tail_is_caught_over_an_unordered_network() {
    let outcome = first_failure(
        Ordering {
            drops: 0,
            network: Links::Unordered,
            mutant: Some(Mutant::RequeueToTail),
            ..Ordering::default()
        }
        .into_model(),
    );
    assert_fails(&outcome, "oldest-first", 12);
}
