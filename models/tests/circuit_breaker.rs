//! The `circuit-breaker` model: a consumer that cancels and hands back
//! what it holds loses nothing, with a pinned state count, and a broker
//! whose cancel forgets the consumer's deliveries loses them.

mod support;

use brokerlab_core::Mutant;
use brokerlab_models::check::{check, report, Options};
use brokerlab_models::CircuitBreaker;
use support::{assert_fails, first_failure};

#[test]
fn an_open_breaker_hands_back_what_it_holds_and_every_message_is_acked_with_pinned_state_count() {
    let options = Options {
        threads: 2,
        ..Options::default()
    };
    let outcome = check(CircuitBreaker::default().into_model(), &options);
    println!("{}", report(&outcome, &options));
    assert!(outcome.all_hold());
    assert_eq!(outcome.unique_states, 2_878);
}

#[test]
fn cancel_forgets_unacked_loses_the_delivery_the_breaker_hands_back() {
    let model = CircuitBreaker {
        messages: 1,
        mutant: Some(Mutant::CancelForgetsUnacked),
    };
    assert_fails(&first_failure(model.into_model()), "no-lost-confirmed", 9);
}
