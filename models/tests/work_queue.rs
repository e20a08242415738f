//! The `work-queue` model: the real core passes with a pinned state count,
//! and each mutant makes one specific property fail with a short counterexample.
//!
//! Bounds are small so the whole file runs in seconds in a debug build.

use brokerlab_core::Mutant;
mod support;

use brokerlab_models::check::{check, report, Options};
use brokerlab_models::{Links, WorkQueue};
use support::{assert_fails, first_failure};

/// One message, one nack with requeue and one connection drop per consumer:
/// both ways of requeueing, small enough for a debug build.
fn small() -> WorkQueue {
    WorkQueue {
        messages: 1,
        requeues_per_consumer: 1,
        drops_per_consumer: 1,
        ..WorkQueue::default()
    }
}

#[test]
fn real_core_passes_every_property_with_pinned_state_count() {
    let options = Options {
        threads: 2,
        ..Options::default()
    };
    let outcome = check(small().into_model(), &options);
    println!("{}", report(&outcome, &options));
    assert!(outcome.all_hold());
    assert_eq!(outcome.unique_states, 46_992);
}

#[test]
fn symmetry_explores_one_state_per_consumer_renaming() {
    let options = Options {
        threads: 2,
        symmetry: true,
        ..Options::default()
    };
    let outcome = check(small().into_model(), &options);
    assert!(outcome.all_hold());
    assert_eq!(outcome.unique_states, 23_570);
}

#[test]
fn lose_on_requeue_loses_a_confirmed_message() {
    let outcome = first_failure(
        WorkQueue {
            messages: 1,
            requeues_per_consumer: 1,
            drops_per_consumer: 0,
            mutant: Some(Mutant::LoseOnRequeue),
            ..WorkQueue::default()
        }
        .into_model(),
    );
    assert_fails(&outcome, "no-lost-confirmed", 14);
}

#[test]
fn no_redelivered_flag_hands_out_an_unflagged_redelivery() {
    let outcome = first_failure(
        WorkQueue {
            messages: 1,
            requeues_per_consumer: 1,
            drops_per_consumer: 0,
            mutant: Some(Mutant::NoRedeliveredFlag),
            ..WorkQueue::default()
        }
        .into_model(),
    );
    assert_fails(&outcome, "redelivery-flagged", 14);
}

#[test]
fn ignore_prefetch_overfills_a_consumer() {
    let outcome = first_failure(
        WorkQueue {
            messages: 2,
            requeues_per_consumer: 0,
            drops_per_consumer: 0,
            mutant: Some(Mutant::IgnorePrefetch),
            ..WorkQueue::default()
        }
        .into_model(),
    );
    assert_fails(&outcome, "prefetch-respected", 14);
}

#[test]
fn double_deliver_gives_one_delivery_two_owners() {
    // The duplicate also shows as an unflagged redelivery, which a search
    // that stops at the first failure would report first: run on to one-owner.
    let model = WorkQueue {
        messages: 3,
        requeues_per_consumer: 0,
        drops_per_consumer: 0,
        mutant: Some(Mutant::DoubleDeliver),
        ..WorkQueue::default()
    };
    let options = Options {
        stop_at_property: Some("one-owner"),
        ..Options::default()
    };
    let outcome = check(model.into_model(), &options);
    println!("{}", report(&outcome, &options));
    assert!(!outcome.verdict("redelivery-flagged").holds);
    assert_fails(&outcome, "one-owner", 24);
}

#[test]
fn symmetry_cuts_three_interchangeable_consumers_at_least_threefold() {
    let model = || WorkQueue {
        messages: 2,
        consumers: 3,
        requeues_per_consumer: 0,
        drops_per_consumer: 0,
        ..WorkQueue::default()
    };
    let options = Options {
        threads: 2,
        ..Options::default()
    };
    let plain = check(model().into_model(), &options);
    let options = Options {
        symmetry: true,
        ..options
    };
    let reduced = check(model().into_model(), &options);
    // Without drops or requeues nothing is requeued: only that sometimes-property fails.
    for outcome in [&plain, &reduced] {
        let failing: Vec<&str> = outcome
            .verdicts
            .iter()
            .filter(|verdict| !verdict.holds)
            .map(|verdict| verdict.name)
            .collect();
        assert_eq!(failing, vec!["requeued"]);
    }
    assert!(plain.unique_states >= 3 * reduced.unique_states);
    assert_eq!(
        (plain.unique_states, reduced.unique_states),
        (62_227, 10_578)
    );
}

/// The properties that fail on `model`, in the model's order.
fn failing(model: WorkQueue) -> Vec<&'static str> {
    let options = Options {
        threads: 2,
        ..Options::default()
    };
    let outcome = check(model.into_model(), &options);
    let failing = outcome.verdicts.iter().filter(|verdict| !verdict.holds);
    failing.map(|verdict| verdict.name).collect()
}

#[test]
fn safety_holds_when_the_network_loses_segments_and_only_liveness_fails() {
    let model = WorkQueue {
        messages: 1,
        requeues_per_consumer: 0,
        drops_per_consumer: 0,
        network: Links::OrderedLossy,
        ..WorkQueue::default()
    };
    assert_eq!(failing(model), vec!["quiet-means-done", "requeued"]);
}

/// One consumer, one message that it may nack with requeue once and whose
/// connection may drop once, over `network`, on 2 threads: the drop is where
/// the consumer's new connection may overtake its old one, which only the
/// unordered networks allow.
fn requeueing_over(network: Links) -> brokerlab_models::check::Outcome {
    let options = Options {
        threads: 2,
        ..Options::default()
    };
    let model = WorkQueue {
        messages: 1,
        consumers: 1,
        network,
        ..small()
    };
    let outcome = check(model.into_model(), &options);
    println!("{}", report(&outcome, &options));
    outcome
}

#[test]
fn every_property_holds_when_connections_overtake_one_another() {
    let ordered = requeueing_over(Links::Ordered);
    let unordered = requeueing_over(Links::Unordered);
    assert!(ordered.all_hold() && unordered.all_hold());
    // The states the ordered network cannot reach: a connection's segments
    // racing another connection's, the consumer's old and new one included.
    assert_eq!((ordered.unique_states, unordered.unique_states), (497, 958));
}

#[test]
fn every_property_holds_when_the_network_duplicates_segments() {
    // Sequencing discards every copy, so nothing changes for the broker or
    // the clients: the extra states are copies left in the network.
    let outcome = requeueing_over(Links::Duplicating);
    assert!(outcome.all_hold());
    assert_eq!(outcome.unique_states, 2_128);
}

#[test]
fn a_nack_with_requeue_alone_brings_a_message_back() {
    // No connection drops: `requeued` (a message handed out a second time)
    // is reachable only through a consumer's basic.nack with requeue.
    let options = Options {
        threads: 2,
        ..Options::default()
    };
    let model = WorkQueue {
        messages: 1,
        requeues_per_consumer: 1,
        drops_per_consumer: 0,
        ..WorkQueue::default()
    };
    let outcome = check(model.into_model(), &options);
    println!("{}", report(&outcome, &options));
    assert!(outcome.verdict("requeued").holds);
    assert!(outcome.all_hold());
    assert_eq!(outcome.unique_states, 2_194);
}

#[test]
fn a_consumer_holding_two_deliveries_nacks_with_requeue_no_more_than_allowed() {
    // Prefetch 2: both messages may be held at once, each offering a nack
    // with requeue while one is left. Once it is spent, neither offers it
    // any more (the bound once wrapped around and the model never ended).
    let options = Options {
        threads: 2,
        ..Options::default()
    };
    let model = WorkQueue {
        messages: 2,
        consumers: 1,
        prefetch: 2,
        requeues_per_consumer: 1,
        drops_per_consumer: 0,
        ..WorkQueue::default()
    };
    let outcome = check(model.into_model(), &options);
    println!("{}", report(&outcome, &options));
    assert!(outcome.all_hold());
    assert_eq!(outcome.unique_states, 2_512);
}

#[test]
fn a_publish_lost_mid_connection_shifts_confirm_numbers_and_loses_a_confirmed_message() {
    // TCP never loses a segment from a connection that goes on; a network
    // that does breaks publisher confirms, which are numbered by position:
    // publish 1 is lost, and the confirm of publish 2 reads as message 1's.
    let outcome = first_failure(
        WorkQueue {
            messages: 2,
            consumers: 1,
            requeues_per_consumer: 0,
            drops_per_consumer: 0,
            network: Links::OrderedLossy,
            ..WorkQueue::default()
        }
        .into_model(),
    );
    assert_fails(&outcome, "no-lost-confirmed", 6);
}
