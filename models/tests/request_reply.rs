//! The `request-reply` model: the real core carries every request's and
//! every reply's correlation id unchanged, with a pinned state count, and
//! a broker that caches properties by route alone mixes them up.

mod support;

use brokerlab_core::Mutant;
use brokerlab_models::check::{check, report, Options};
use brokerlab_models::RequestReply;
use support::{assert_fails, first_failure};

#[test]
fn every_request_and_reply_carries_its_own_correlation_id_with_pinned_state_count() {
    let options = Options {
        threads: 2,
        ..Options::default()
    };
    let outcome = check(RequestReply::default().into_model(), &options);
    println!("{}", report(&outcome, &options));
    assert!(outcome.all_hold());
    assert_eq!(outcome.unique_states, 19_953);
}

#[test]
fn properties_cached_by_route_hands_a_request_the_correlation_id_of_the_one_before() {
    let model = RequestReply {
        mutant: Some(Mutant::PropertiesCachedByRoute),
        ..RequestReply::default()
    };
    assert_fails(&first_failure(model.into_model()), "reply-correlated", 8);
}
