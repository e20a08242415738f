//! The `consumer-group` model: the real coordinator keeps one owner per
//! partition per generation, fences stale commits and never lets an
//! acknowledged committed offset go back, across a broker crash too (with
//! pinned state counts, and with symmetry over the members); each group
//! mutant is caught.

mod support;

use brokerlab_core::Mutant;
use brokerlab_models::check::{check, report, Options};
use brokerlab_models::ConsumerGroup;
use support::{assert_fails, first_failure};

fn checked(config: ConsumerGroup) -> brokerlab_models::check::Outcome {
    let options = Options {
        threads: 2,
        ..Options::default()
    };
    let outcome = check(config.into_model(), &options);
    println!("{}", report(&outcome, &options));
    outcome
}

#[test]
fn one_owner_per_generation_and_monotone_offsets_hold_with_pinned_state_count() {
    let outcome = checked(ConsumerGroup::default());
    assert!(outcome.all_hold());
    assert_eq!(outcome.unique_states, 97_145);
}

#[test]
fn acknowledged_offsets_survive_a_broker_crash_with_pinned_state_count() {
    let config = ConsumerGroup {
        partitions: 1,
        records: 1,
        crashes: 1,
        ..ConsumerGroup::default()
    };
    let outcome = checked(config);
    assert!(outcome.all_hold());
    assert_eq!(outcome.unique_states, 314_498);
}

#[test]
fn a_stale_generation_commit_accepted_is_caught_by_stale_commit_fenced() {
    let config = ConsumerGroup {
        mutant: Some(Mutant::AcceptStaleGenerationCommit),
        ..ConsumerGroup::default()
    };
    assert_fails(
        &first_failure(config.into_model()),
        "stale-commit-fenced",
        16,
    );
}

#[test]
fn symmetry_over_members_explores_fewer_states_with_the_same_verdicts() {
    let options = Options {
        threads: 2,
        symmetry: true,
        ..Options::default()
    };
    let outcome = check(ConsumerGroup::default().into_model(), &options);
    println!("{}", report(&outcome, &options));
    assert!(
        outcome.symmetry,
        "two members configured alike are interchangeable"
    );
    assert!(outcome.all_hold());
    // Half of the 97,145 states without it: the two members swap.
    assert_eq!(outcome.unique_states, 48_573);
}
