//! The `pubsub` model: the real core fans each publish out at most once to
//! the connections subscribed at that moment, stores nothing for a later
//! subscriber and counts its receivers right, under subscribes,
//! unsubscribes and a dropped connection at any point (pinned state
//! count); a message is received, one is missed and one reaches both
//! subscribers. The `pubsub-store-and-forward` mutant is caught in
//! `mutants.rs`.

use brokerlab_models::check::{check, report, Options};
use brokerlab_models::PubSub;

#[test]
fn a_channel_and_a_pattern_subscriber_keep_every_property_with_pinned_state_count() {
    let options = Options {
        threads: 2,
        ..Options::default()
    };
    let started = std::time::Instant::now();
    let outcome = check(PubSub::default().into_model(), &options);
    println!("{}", report(&outcome, &options));
    println!("took {:?}", started.elapsed());
    for reachable in ["message-received", "message-missed", "published-to-two"] {
        assert!(outcome.verdict(reachable).holds, "{reachable} is reached");
    }
    assert!(outcome.all_hold());
    assert_eq!(outcome.unique_states, 238_039);
}

#[test]
fn two_subscribers_by_the_channels_name_keep_every_property_in_as_many_states() {
    // A pattern that matches the one channel is handed what a subscription
    // by its name is: the two configurations' state spaces are alike.
    let options = Options {
        threads: 2,
        ..Options::default()
    };
    let model = PubSub {
        pattern: false,
        ..PubSub::default()
    };
    let outcome = check(model.into_model(), &options);
    println!("{}", report(&outcome, &options));
    assert!(outcome.all_hold());
    assert_eq!(outcome.unique_states, 238_039);
}
