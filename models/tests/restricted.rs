//! The `restricted-user` model: the work queue with the clients' user
//! restricted by the core's access control, with a pinned state count.

mod support;

use brokerlab_models::check::{check, report, Options};
use brokerlab_models::Restricted;
use support::{assert_fails, first_failure};

#[test]
fn permissions_naming_the_patterns_resources_refuse_nothing_with_pinned_state_count() {
    let options = Options {
        threads: 2,
        ..Options::default()
    };
    let outcome = check(Restricted::default().into_model(), &options);
    println!("{}", report(&outcome, &options));
    assert!(outcome.all_hold());
    assert_eq!(outcome.unique_states, 5_401);
}

#[test]
fn a_consume_the_user_may_not_read_is_refused_and_its_messages_never_arrive() {
    // Read on nothing: each basic.consume is refused with 403, a channel
    // error the consumers do not recover from, and the model goes quiet
    // with both messages confirmed and never acked.
    let no_read = Restricted {
        permissions: ("^work$".into(), "^(work)?$".into(), "^$".into()),
        ..Restricted::default()
    };
    let outcome = first_failure(no_read.into_model());
    assert_fails(&outcome, "quiet-means-done", 30);
}
