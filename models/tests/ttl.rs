//! The `ttl` model: the real core never hands out an expired message, with a
//! pinned state count; a broker that never expires messages does.

mod support;

use brokerlab_core::Mutant;
use brokerlab_models::check::{check, report, Options};
use brokerlab_models::Ttl;
use support::{assert_fails, first_failure};

#[test]
fn real_core_passes_every_property_with_pinned_state_count() {
    let options = Options {
        threads: 2,
        ..Options::default()
    };
    let outcome = check(Ttl::default().into_model(), &options);
    println!("{}", report(&outcome, &options));
    assert!(outcome.all_hold());
    assert_eq!(outcome.unique_states, 1_559);
}

#[test]
fn deliver_expired_hands_out_a_message_past_its_deadline() {
    let outcome = first_failure(
        Ttl {
            messages: 1,
            mutant: Some(Mutant::DeliverExpired),
            ..Ttl::default()
        }
        .into_model(),
    );
    assert_fails(&outcome, "no-expired-delivery", 12);
}
