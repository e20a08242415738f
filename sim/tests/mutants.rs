//! Every mutant of the core is caught by a short sweep of one workload, by
//! the checker that names its broken rule.

use brokerlab_core::Mutant;
use brokerlab_sim::{run_catching, shrink, Options, Workload, EXIT_PASS};

/// Runs seeds `0..seeds` of `workload` with `mutant` until `checker`
/// fails one (other checkers may fail seeds too: a broken rule shows in
/// more than one place); returns the seed.
fn caught_by(mutant: Mutant, workload: Workload, checker: &str, seeds: u64) -> u64 {
    for seed in 0..seeds {
        let options = Options::swarm(seed, workload).with_mutant(Some(mutant));
        // A broken core may also panic (exit 127): caught, but not by the
        // checker this test is about, so the next seed is tried.
        let Ok(report) = run_catching(seed, options) else {
            continue;
        };
        if report.exit_code() != EXIT_PASS && report.violation(checker).is_some() {
            return seed;
        }
    }
    panic!(
        "{} escaped {checker} over seeds 0..{seeds} of {}",
        mutant.name(),
        workload.name()
    );
}

#[test]
fn lose_on_requeue_is_caught_by_no_lost_confirmed() {
    caught_by(
        Mutant::LoseOnRequeue,
        Workload::WorkQueue,
        "no-lost-confirmed",
        50,
    );
}

#[test]
fn requeue_to_tail_is_caught_by_queue_order() {
    caught_by(
        Mutant::RequeueToTail,
        Workload::WorkQueue,
        "queue-order",
        200,
    );
}

#[test]
fn deliver_expired_is_caught_by_no_expired_delivery() {
    caught_by(
        Mutant::DeliverExpired,
        Workload::Ttl,
        "no-expired-delivery",
        200,
    );
}

#[test]
fn ignore_prefetch_is_caught_by_prefetch_respected() {
    caught_by(
        Mutant::IgnorePrefetch,
        Workload::WorkQueue,
        "prefetch-respected",
        50,
    );
}

#[test]
fn confirm_unroutable_as_nack_is_caught_by_liveness() {
    // The producer publishes a nacked message again, forever: the run never settles.
    caught_by(
        Mutant::ConfirmUnroutableAsNack,
        Workload::Topic,
        "liveness",
        50,
    );
}

#[test]
fn no_redelivered_flag_is_caught_by_redelivery_flagged() {
    caught_by(
        Mutant::NoRedeliveredFlag,
        Workload::WorkQueue,
        "redelivery-flagged",
        50,
    );
}

#[test]
fn dlx_drops_x_death_is_caught_by_dead_letter_accounting() {
    caught_by(
        Mutant::DlxDropsXDeath,
        Workload::DlqRetry,
        "dead-letter-accounting",
        50,
    );
}

#[test]
fn double_deliver_is_caught_by_queue_order() {
    caught_by(
        Mutant::DoubleDeliver,
        Workload::WorkQueue,
        "queue-order",
        200,
    );
}

#[test]
fn confirm_before_sync_is_caught_by_confirm_after_durable() {
    caught_by(
        Mutant::ConfirmBeforeSync,
        Workload::WorkQueue,
        "confirm-after-durable",
        20,
    );
}

#[test]
fn idempotence_off_is_caught_by_duplicate() {
    caught_by(
        Mutant::IdempotenceOff,
        Workload::StreamIdempotent,
        "duplicate",
        1000,
    );
}

#[test]
fn fetch_skips_batch_tail_is_caught_by_poll_skip() {
    caught_by(
        Mutant::FetchSkipsBatchTail,
        Workload::StreamKeyed,
        "poll-skip",
        1000,
    );
}

#[test]
fn ack_before_sync_is_caught_by_unseen() {
    caught_by(Mutant::AckBeforeSync, Workload::StreamKeyed, "unseen", 1000);
}

#[test]
fn accept_stale_generation_commit_is_caught_by_stale_commit_fenced() {
    caught_by(
        Mutant::AcceptStaleGenerationCommit,
        Workload::StreamKeyed,
        "stale-commit-fenced",
        1000,
    );
}

#[test]
fn assign_without_revoke_is_caught_by_one_owner() {
    caught_by(
        Mutant::AssignWithoutRevoke,
        Workload::StreamKeyed,
        "one-owner",
        1000,
    );
}

#[test]
fn offset_regress_on_recovery_is_caught_by_committed_offset_monotone() {
    caught_by(
        Mutant::OffsetRegressOnRecovery,
        Workload::StreamKeyed,
        "committed-offset-monotone",
        1000,
    );
}

#[test]
fn saga_compensate_in_forward_order_is_caught_by_compensation_order() {
    caught_by(
        Mutant::SagaCompensateInForwardOrder,
        Workload::Saga,
        "compensation-order",
        1000,
    );
}

#[test]
fn saga_skip_unknown_outcome_compensation_is_caught_by_saga_atomicity() {
    caught_by(
        Mutant::SagaSkipUnknownOutcomeCompensation,
        Workload::Saga,
        "saga-atomicity",
        1000,
    );
}

#[test]
fn saga_advance_twice_on_duplicate_reply_is_caught_by_stale_reply_applied() {
    caught_by(
        Mutant::SagaAdvanceTwiceOnDuplicateReply,
        Workload::Saga,
        "stale-reply-applied",
        1000,
    );
}

#[test]
fn saga_state_without_command_is_caught_by_duplicate_saga() {
    caught_by(
        Mutant::SagaStateWithoutCommand,
        Workload::Saga,
        "duplicate-saga",
        1000,
    );
}

#[test]
fn saga_forward_after_abort_is_caught_by_no_forward_after_abort() {
    caught_by(
        Mutant::SagaForwardAfterAbort,
        Workload::Saga,
        "no-forward-after-abort",
        1000,
    );
}

#[test]
fn pubsub_store_and_forward_is_caught_by_pubsub_not_before_subscribe() {
    caught_by(
        Mutant::PubSubStoreAndForward,
        Workload::PubsubRedis,
        "pubsub-not-before-subscribe",
        1000,
    );
}

#[test]
fn visibility_never_expires_is_caught_by_no_lost_after_delete() {
    // A consumer that disconnects (or gives up) before deleting leaves its
    // message in flight for good: the drain never finds it.
    let seed = caught_by(
        Mutant::SqsVisibilityNeverExpires,
        Workload::SqsVisibility,
        "no-lost-after-delete",
        1000,
    );
    shrinks(
        Mutant::SqsVisibilityNeverExpires,
        seed,
        "no-lost-after-delete",
    );
}

#[test]
fn delete_with_stale_handle_succeeds_is_caught_by_no_lost_after_delete() {
    // A slow consumer's delete, after another consumer received the
    // message again and gave it up, deletes it.
    let seed = caught_by(
        Mutant::SqsDeleteWithStaleHandleSucceeds,
        Workload::SqsVisibility,
        "no-lost-after-delete",
        1000,
    );
    shrinks(
        Mutant::SqsDeleteWithStaleHandleSucceeds,
        seed,
        "no-lost-after-delete",
    );
}

#[test]
fn fifo_two_in_flight_per_group_is_caught_by_fifo_group_order() {
    let seed = caught_by(
        Mutant::SqsFifoTwoInFlightPerGroup,
        Workload::SqsVisibility,
        "fifo-group-order",
        1000,
    );
    shrinks(Mutant::SqsFifoTwoInFlightPerGroup, seed, "fifo-group-order");
}

#[test]
fn dedup_window_ignored_is_caught_by_dedup_window() {
    // A producer sends an acknowledged FIFO message again (on purpose, or
    // after its answer was lost): the broker enqueues it a second time.
    let seed = caught_by(
        Mutant::SqsDedupWindowIgnored,
        Workload::SqsVisibility,
        "dedup-window",
        1000,
    );
    shrinks(Mutant::SqsDedupWindowIgnored, seed, "dedup-window");
}

/// The SQS mutants' catches shrink as the others' do (see
/// `every_caught_mutant_shrinks_to_a_small_case`).
fn shrinks(mutant: Mutant, seed: u64, checker: &str) {
    let workload = Workload::SqsVisibility;
    let options = Options::swarm(seed, workload).with_mutant(Some(mutant));
    let before = shrink::size(&options);
    let shrunk = shrink::shrink(seed, options, checker);
    let (clients, messages, _) = shrink::size(&shrunk.options);
    assert!(shrunk.report.violation(checker).is_some());
    let faults: u64 = shrunk.report.summary.faults.iter().sum();
    assert!(
        clients <= workload.consumers_min() + 2 && messages <= 12 && faults <= 3,
        "{}: shrunk only to {clients} clients, {messages} messages, {faults} faults struck \
         from {before:?}: {}",
        mutant.name(),
        shrunk.options
    );
    println!(
        "{} caught by {checker} at seed {seed}, shrunk to {}",
        mutant.name(),
        shrunk.options
    );
}

#[test]
fn fanout_to_one_queue_is_caught_by_no_lost_confirmed() {
    // A confirmed message never reaches two of the three subscribers'
    // queues, which the workload's routing table says it must.
    caught_by(
        Mutant::FanoutToOneQueue,
        Workload::Pubsub,
        "no-lost-confirmed",
        50,
    );
}

#[test]
fn topic_hash_needs_a_word_is_caught_by_no_lost_confirmed() {
    // An event with the bare key `error` never reaches the subscriber of
    // `error.#`.
    caught_by(
        Mutant::TopicHashNeedsAWord,
        Workload::Topic,
        "no-lost-confirmed",
        50,
    );
}

#[test]
fn priority_ignored_is_caught_by_queue_order() {
    // A lower-priority message is handed out while a higher one is ready.
    caught_by(
        Mutant::PriorityIgnored,
        Workload::Priority,
        "queue-order",
        200,
    );
}

#[test]
fn properties_cached_by_route_is_caught_by_reply_correlated() {
    // A responder's replies in a row to one requester's queue: the second
    // carries the first one's correlation id.
    caught_by(
        Mutant::PropertiesCachedByRoute,
        Workload::RequestReply,
        "reply-correlated",
        50,
    );
}

#[test]
fn cancel_forgets_unacked_is_caught_by_no_lost_confirmed() {
    // A breaker opens: it cancels, and the deliveries it then nacks are
    // gone from the broker.
    caught_by(
        Mutant::CancelForgetsUnacked,
        Workload::CircuitBreaker,
        "no-lost-confirmed",
        50,
    );
}

#[test]
fn recovered_unflagged_is_caught_by_redelivery_flagged() {
    // A message a consumer held when the broker stopped comes back after
    // the restart without the flag.
    caught_by(
        Mutant::RecoveredUnflagged,
        Workload::WorkQueue,
        "redelivery-flagged",
        200,
    );
}

#[test]
fn redeliveries_uncounted_is_caught_by_counters_agree() {
    // Consumers hand messages back; the counters a dashboard reads miss
    // the redeliveries the events show.
    caught_by(
        Mutant::RedeliveriesUncounted,
        Workload::WorkQueue,
        "counters-agree",
        50,
    );
}

#[test]
fn every_mutant_has_a_test_here() {
    // The tests above, by mutant: a new mutant must be added to this file.
    let covered = [
        Mutant::LoseOnRequeue,
        Mutant::RequeueToTail,
        Mutant::DeliverExpired,
        Mutant::IgnorePrefetch,
        Mutant::ConfirmUnroutableAsNack,
        Mutant::NoRedeliveredFlag,
        Mutant::DlxDropsXDeath,
        Mutant::DoubleDeliver,
        Mutant::ConfirmBeforeSync,
        Mutant::IdempotenceOff,
        Mutant::FetchSkipsBatchTail,
        Mutant::AckBeforeSync,
        Mutant::AcceptStaleGenerationCommit,
        Mutant::AssignWithoutRevoke,
        Mutant::OffsetRegressOnRecovery,
        Mutant::SagaCompensateInForwardOrder,
        Mutant::SagaSkipUnknownOutcomeCompensation,
        Mutant::SagaAdvanceTwiceOnDuplicateReply,
        Mutant::SagaStateWithoutCommand,
        Mutant::SagaForwardAfterAbort,
        Mutant::PubSubStoreAndForward,
        Mutant::SqsVisibilityNeverExpires,
        Mutant::SqsDeleteWithStaleHandleSucceeds,
        Mutant::SqsFifoTwoInFlightPerGroup,
        Mutant::SqsDedupWindowIgnored,
        Mutant::FanoutToOneQueue,
        Mutant::TopicHashNeedsAWord,
        Mutant::PriorityIgnored,
        Mutant::PropertiesCachedByRoute,
        Mutant::CancelForgetsUnacked,
        Mutant::RecoveredUnflagged,
        Mutant::RedeliveriesUncounted,
    ];
    for mutant in Mutant::ALL {
        assert!(
            covered.contains(&mutant),
            "{} has no sim test",
            mutant.name()
        );
    }
}

/// Every mutant with the workload and checker that catch it.
const CATCHES: [(Mutant, Workload, &str); 28] = [
    (
        Mutant::LoseOnRequeue,
        Workload::WorkQueue,
        "no-lost-confirmed",
    ),
    (Mutant::RequeueToTail, Workload::WorkQueue, "queue-order"),
    (Mutant::DeliverExpired, Workload::Ttl, "no-expired-delivery"),
    (
        Mutant::IgnorePrefetch,
        Workload::WorkQueue,
        "prefetch-respected",
    ),
    (Mutant::ConfirmUnroutableAsNack, Workload::Topic, "liveness"),
    (
        Mutant::NoRedeliveredFlag,
        Workload::WorkQueue,
        "redelivery-flagged",
    ),
    (
        Mutant::DlxDropsXDeath,
        Workload::DlqRetry,
        "dead-letter-accounting",
    ),
    (Mutant::DoubleDeliver, Workload::WorkQueue, "queue-order"),
    (
        Mutant::ConfirmBeforeSync,
        Workload::WorkQueue,
        "confirm-after-durable",
    ),
    (
        Mutant::IdempotenceOff,
        Workload::StreamIdempotent,
        "duplicate",
    ),
    (
        Mutant::FetchSkipsBatchTail,
        Workload::StreamKeyed,
        "poll-skip",
    ),
    (Mutant::AckBeforeSync, Workload::StreamKeyed, "unseen"),
    (
        Mutant::AcceptStaleGenerationCommit,
        Workload::StreamKeyed,
        "stale-commit-fenced",
    ),
    (
        Mutant::AssignWithoutRevoke,
        Workload::StreamKeyed,
        "one-owner",
    ),
    (
        Mutant::OffsetRegressOnRecovery,
        Workload::StreamKeyed,
        "committed-offset-monotone",
    ),
    (
        Mutant::SagaCompensateInForwardOrder,
        Workload::Saga,
        "compensation-order",
    ),
    (
        Mutant::SagaSkipUnknownOutcomeCompensation,
        Workload::Saga,
        "saga-atomicity",
    ),
    (
        Mutant::SagaAdvanceTwiceOnDuplicateReply,
        Workload::Saga,
        "stale-reply-applied",
    ),
    (
        Mutant::SagaStateWithoutCommand,
        Workload::Saga,
        "duplicate-saga",
    ),
    (
        Mutant::SagaForwardAfterAbort,
        Workload::Saga,
        "no-forward-after-abort",
    ),
    (
        Mutant::PubSubStoreAndForward,
        Workload::PubsubRedis,
        "pubsub-not-before-subscribe",
    ),
    (
        Mutant::FanoutToOneQueue,
        Workload::Pubsub,
        "no-lost-confirmed",
    ),
    (
        Mutant::TopicHashNeedsAWord,
        Workload::Topic,
        "no-lost-confirmed",
    ),
    (Mutant::PriorityIgnored, Workload::Priority, "queue-order"),
    (
        Mutant::PropertiesCachedByRoute,
        Workload::RequestReply,
        "reply-correlated",
    ),
    (
        Mutant::CancelForgetsUnacked,
        Workload::CircuitBreaker,
        "no-lost-confirmed",
    ),
    (
        Mutant::RecoveredUnflagged,
        Workload::WorkQueue,
        "redelivery-flagged",
    ),
    (
        Mutant::RedeliveriesUncounted,
        Workload::WorkQueue,
        "counters-agree",
    ),
];

#[test]
fn every_caught_mutant_shrinks_to_a_small_case() {
    for (mutant, workload, checker) in CATCHES {
        let seed = caught_by(mutant, workload, checker, 1000);
        let options = Options::swarm(seed, workload).with_mutant(Some(mutant));
        let before = shrink::size(&options);
        let shrunk = shrink::shrink(seed, options, checker);
        let (clients, messages, _) = shrink::size(&shrunk.options);
        assert!(shrunk.report.violation(checker).is_some());
        // Faults that struck (a kind left on in the plan may never strike
        // before the safety phase ends, yet still shape the random draws).
        let faults: u64 = shrunk.report.summary.faults.iter().sum();
        // Stream runs shrink less far: which offsets a batch lands on, and
        // so where a reader stops inside one, shifts with every record or
        // client cut, so their clients (at most six as drawn) are not
        // bounded; and a rare catch (ack-before-sync needs a broker crash
        // between an acknowledgement and its sync, and a group to notice)
        // keeps the faults whose draws lead to it.
        // A saga run's messages are its sagas, and state-without-command
        // needs a broker crash between a step's send and its record's sync,
        // which a run of few sagas seldom meets. A priority queue hands out
        // in priority order only what waits in it: a lower priority is
        // handed out ahead of a higher one only while the consumer is
        // stalled (a link clogged or dropped), so the faults stay.
        let (clients_max, messages_max, faults_max) = if workload.is_stream() {
            (6, 120, 6)
        } else if workload == Workload::Saga {
            (workload.consumers_min() + 2, 24, 3)
        } else if workload == Workload::Priority {
            (workload.consumers_min() + 2, 12, 6)
        } else {
            (workload.consumers_min() + 2, 12, 3)
        };
        assert!(
            clients <= clients_max && messages <= messages_max && faults <= faults_max,
            "{}: shrunk only to {clients} clients, {messages} messages, {faults} faults struck \
             from {before:?}: {}",
            mutant.name(),
            shrunk.options
        );
    }
}
