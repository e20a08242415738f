//! The `sqs-visibility` model: the real core keeps a FIFO queue's messages
//! through visibility timeouts, expired receipt handles, a consumer that
//! crashes holding a message and a retried send (pinned state counts); a
//! message is handed out twice, an expired handle's delete is refused and
//! every message is deleted. The four SQS mutants are caught in
//! `mutants.rs`.

use brokerlab_models::check::{check, report, Options};
use brokerlab_models::SqsVisibility;

fn holds_with_states(model: SqsVisibility, states: usize) {
    let options = Options {
        threads: 2,
        ..Options::default()
    };
    let started = std::time::Instant::now();
    let outcome = check(model.into_model(), &options);
    println!("{}", report(&outcome, &options));
    println!("took {:?}", started.elapsed());
    for reachable in ["redelivered", "expired-handle-refused", "all-deleted"] {
        assert!(outcome.verdict(reachable).holds, "{reachable} is reached");
    }
    assert!(outcome.all_hold());
    assert_eq!(outcome.unique_states, states);
}

#[test]
fn one_message_sent_twice_keeps_every_property_with_pinned_state_count() {
    let model = SqsVisibility {
        messages: 1,
        ..SqsVisibility::default()
    };
    holds_with_states(model, 39_281);
}

#[test]
fn two_messages_of_one_group_keep_every_property_with_pinned_state_count() {
    holds_with_states(SqsVisibility::default(), 2_377_324);
}
