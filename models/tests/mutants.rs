//! Every mutant of the core is caught by at least one model: the match
//! below is exhaustive, so a new mutant does not compile until a model and
//! the property that catches it are named here.

mod support;

use brokerlab_core::Mutant;
use brokerlab_models::properties::BrokerModel;
use brokerlab_models::{
    CircuitBreaker, ConsumerGroup, CrashRecovery, Dlq, Fanout, IdempotentProducer, Ordering,
    Priority, PubSub, RequestReply, Saga, SqsVisibility, StreamFetch, Ttl, WorkQueue,
};
use support::{assert_fails, first_failure};

/// The smallest model that catches `mutant`, the property that fails and
/// the longest its shortest counterexample may be.
fn catcher(mutant: Mutant) -> (BrokerModel, &'static str, usize) {
    let work_queue = WorkQueue {
        messages: 1,
        requeues_per_consumer: 1,
        drops_per_consumer: 0,
        mutant: Some(mutant),
        ..WorkQueue::default()
    };
    match mutant {
        Mutant::FetchSkipsBatchTail => {
            // The reader's position lands on a batch's last record, and the
            // next batch is handed out in its place.
            let model = StreamFetch {
                mutant: Some(mutant),
                ..StreamFetch::default()
            };
            (model.into_model(), "poll-skip-free", 12)
        }
        Mutant::IdempotenceOff | Mutant::AckBeforeSync => {
            let model = IdempotentProducer {
                mutant: Some(mutant),
                ..IdempotentProducer::default()
            };
            let (property, steps_max) = match mutant {
                Mutant::IdempotenceOff => ("appended-once-in-order", 6),
                _ => ("acknowledged-never-lost", 7),
            };
            (model.into_model(), property, steps_max)
        }
        Mutant::LoseOnRequeue => (work_queue.into_model(), "no-lost-confirmed", 14),
        Mutant::NoRedeliveredFlag => (work_queue.into_model(), "redelivery-flagged", 14),
        Mutant::IgnorePrefetch => {
            let model = WorkQueue {
                messages: 2,
                requeues_per_consumer: 0,
                ..work_queue
            };
            (model.into_model(), "prefetch-respected", 14)
        }
        Mutant::DoubleDeliver => {
            // Its duplicate is first seen as an unflagged redelivery.
            let model = WorkQueue {
                messages: 3,
                requeues_per_consumer: 0,
                ..work_queue
            };
            (model.into_model(), "redelivery-flagged", 24)
        }
        Mutant::RequeueToTail => {
            let model = Ordering {
                drops: 0,
                mutant: Some(mutant),
                ..Ordering::default()
            };
            (model.into_model(), "oldest-first", 12)
        }
        Mutant::DeliverExpired => {
            let model = Ttl {
                messages: 1,
                mutant: Some(mutant),
                ..Ttl::default()
            };
            (model.into_model(), "no-expired-delivery", 12)
        }
        Mutant::ConfirmUnroutableAsNack | Mutant::DlxDropsXDeath => {
            let model = Dlq {
                requeues: 0,
                mutant: Some(mutant),
                ..Dlq::default()
            };
            let property = match mutant {
                Mutant::DlxDropsXDeath => "x-death-recorded",
                _ => "unroutable-acked",
            };
            (model.into_model(), property, 14)
        }
        Mutant::ConfirmBeforeSync => {
            let model = CrashRecovery {
                messages: 1,
                mutant: Some(mutant),
                ..CrashRecovery::default()
            };
            (model.into_model(), "no-lost-confirmed", 8)
        }
        Mutant::AcceptStaleGenerationCommit | Mutant::AssignWithoutRevoke => {
            let model = ConsumerGroup {
                mutant: Some(mutant),
                ..ConsumerGroup::default()
            };
            let (property, steps_max) = match mutant {
                Mutant::AcceptStaleGenerationCommit => ("stale-commit-fenced", 16),
                _ => ("one-owner", 20),
            };
            (model.into_model(), property, steps_max)
        }
        Mutant::SagaCompensateInForwardOrder
        | Mutant::SagaSkipUnknownOutcomeCompensation
        | Mutant::SagaAdvanceTwiceOnDuplicateReply
        | Mutant::SagaForwardAfterAbort => {
            let model = Saga {
                mutant: Some(mutant),
                ..Saga::default()
            };
            let (property, steps_max) = match mutant {
                // The second step's deadline passes while its command is in
                // flight: the first step is compensated first, and the
                // second step's command is done after it.
                Mutant::SagaCompensateInForwardOrder => ("compensation-order", 14),
                // The first step's deadline passes before its command is
                // delivered: the saga ends compensated with nothing
                // compensated, and the command's work is then done.
                Mutant::SagaSkipUnknownOutcomeCompensation => ("saga-atomicity", 7),
                // The first step's success, replied twice, ends the saga
                // completed before the second step's command is done.
                Mutant::SagaAdvanceTwiceOnDuplicateReply => ("saga-atomicity", 7),
                // The abort, taken while the first step runs, is ignored:
                // the second step's command is done.
                _ => ("no-forward-after-abort", 12),
            };
            (model.into_model(), property, steps_max)
        }
        Mutant::SagaStateWithoutCommand => {
            // The step's deadline passes: its compensation is sent before
            // the transition is synced, and the crash takes the transition
            // back. The participant's success reply then completes the
            // saga, and it does the compensation it holds.
            let model = Saga {
                mutant: Some(mutant),
                ..Saga::crashing()
            };
            (model.into_model(), "saga-atomicity", 14)
        }
        Mutant::PubSubStoreAndForward => {
            // The first message is published while nobody is subscribed;
            // a subscriber then subscribes and is handed it (3 steps).
            let model = PubSub {
                mutant: Some(mutant),
                ..PubSub::default()
            };
            (model.into_model(), "pubsub-not-before-subscribe", 3)
        }
        Mutant::SqsVisibilityNeverExpires
        | Mutant::SqsDeleteWithStaleHandleSucceeds
        | Mutant::SqsFifoTwoInFlightPerGroup
        | Mutant::SqsDedupWindowIgnored => {
            let model = SqsVisibility {
                mutant: Some(mutant),
                ..SqsVisibility::default()
            };
            let (property, steps_max) = match mutant {
                // A message handed out, then a long poll that outlasts its
                // visibility ends empty (12 steps).
                Mutant::SqsVisibilityNeverExpires => ("visibility-expires", 12),
                // A message handed out twice, and the first handle's delete
                // takes it from the second holder (7 steps).
                Mutant::SqsDeleteWithStaleHandleSucceeds => ("no-lost-after-delete", 7),
                // Message 2 handed out while message 1 is in flight (6 steps).
                Mutant::SqsFifoTwoInFlightPerGroup => ("fifo-group-order", 6),
                // The retried send gets a message of its own (2 steps).
                _ => ("dedup-window", 2),
            };
            (model.into_model(), property, steps_max)
        }
        Mutant::FanoutToOneQueue | Mutant::TopicHashNeedsAWord => {
            // The producer's first message is confirmed and consumed from
            // the one queue it reached; nothing more can happen, and the
            // other subscriber never had it.
            let model = Fanout {
                messages: 1,
                topic: mutant == Mutant::TopicHashNeedsAWord,
                mutant: Some(mutant),
            };
            (model.into_model(), "every-subscriber-served", 12)
        }
        Mutant::PriorityIgnored => {
            // Both messages are confirmed before the consumer subscribes,
            // and the lower priority comes out first.
            let model = Priority {
                messages: 2,
                mutant: Some(mutant),
            };
            (model.into_model(), "priority-order", 12)
        }
        Mutant::PropertiesCachedByRoute => {
            // The second request, on the route of the first, is handed to
            // the responder with the first one's correlation id.
            let model = RequestReply {
                mutant: Some(mutant),
                ..RequestReply::default()
            };
            (model.into_model(), "reply-correlated", 8)
        }
        Mutant::CancelForgetsUnacked => {
            // The breaker opens holding a confirmed delivery: the cancel
            // forgets it, and the nack that would hand it back is refused.
            let model = CircuitBreaker {
                messages: 1,
                mutant: Some(mutant),
            };
            (model.into_model(), "no-lost-confirmed", 9)
        }
        Mutant::RecoveredUnflagged => {
            // A delivered message is still unacked when the broker crashes;
            // the recovered broker hands it out again unflagged.
            let model = CrashRecovery {
                messages: 1,
                mutant: Some(mutant),
                ..CrashRecovery::default()
            };
            (model.into_model(), "redelivery-flagged", 12)
        }
        Mutant::RedeliveriesUncounted => {
            // The consumer nacks with requeue; the redelivery goes out and
            // the counters miss it.
            (work_queue.into_model(), "counters-agree", 14)
        }
        Mutant::OffsetRegressOnRecovery => {
            let model = ConsumerGroup {
                crashes: 1,
                mutant: Some(mutant),
                ..ConsumerGroup::default()
            };
            (model.into_model(), "committed-offset-monotone", 18)
        }
    }
}

#[test]
fn every_core_mutant_is_caught_by_a_model_with_a_short_counterexample() {
    for mutant in Mutant::ALL {
        let (model, property, steps_max) = catcher(mutant);
        println!("mutant {}: expecting {property} to fail", mutant.name());
        let outcome = first_failure(model);
        assert_fails(&outcome, property, steps_max);
    }
}
