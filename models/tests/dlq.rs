//! The `dlq` model: the real core dead-letters rejected and over-retried
//! messages with their death record and confirms a message no queue takes
//! with basic.ack (pinned state count); two mutants each break one of them.

mod support;

use brokerlab_core::Mutant;
use brokerlab_models::check::{check, report, Options};
use brokerlab_models::Dlq;
use support::{assert_fails, first_failure};

#[test]
fn real_core_passes_every_property_with_pinned_state_count() {
    let options = Options {
        threads: 2,
        ..Options::default()
    };
    let outcome = check(Dlq::default().into_model(), &options);
    println!("{}", report(&outcome, &options));
    assert!(outcome.all_hold());
    assert_eq!(outcome.unique_states, 7_519);
}

#[test]
fn dlx_drops_x_death_hands_out_a_dead_letter_without_its_death_record() {
    let outcome = first_failure(
        Dlq {
            requeues: 0,
            mutant: Some(Mutant::DlxDropsXDeath),
            ..Dlq::default()
        }
        .into_model(),
    );
    assert_fails(&outcome, "x-death-recorded", 14);
}

#[test]
fn confirm_unroutable_as_nack_refuses_a_message_no_queue_takes() {
    let outcome = first_failure(
        Dlq {
            requeues: 0,
            rejects: 0,
            mutant: Some(Mutant::ConfirmUnroutableAsNack),
            ..Dlq::default()
        }
        .into_model(),
    );
    assert_fails(&outcome, "unroutable-acked", 8);
}
