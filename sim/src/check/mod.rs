//! Checkers: each judges the recorded history for one named property.
//!
//! They observe the message path from outside, as Jepsen's checkers do: the
//! client-side history (publishes, confirms, deliveries, settles) and the
//! core's event stream, never the broker's internals. Each safety checker
//! returns the first violation it finds, with the time and a sentence that
//! says what went wrong. The liveness check belongs to the simulation (it is
//! about the run going quiet after the heal phase) and reports through the
//! same [`Violation`] type.
//!
//! `no-lost-confirmed` is the one safety property that needs the run to be
//! over: a confirmed message not yet consumed is only lost if the run
//! settled. The simulation runs it only after the liveness check passed,
//! with `exactly-once-effect` and the streams' `lost-write` and `unseen`,
//! and the SQS queues' `no-lost-after-delete` and `redrive-accounting`
//! (the SQS consumers drain every queue before the run settles).
//!
//! The stream checkers are named after Jepsen's Kafka anomalies and judge
//! the stream clients' history: what producers sent and were acknowledged
//! at which offsets, where readers started or reset, what each poll
//! returned.

pub mod at_least_once;
mod attempts;
pub mod committed_offset_monotone;
pub mod compensation_order;
pub mod confirm_after_durable;
pub mod counters_agree;
pub mod dead_letter_accounting;
pub mod dedup_window;
pub mod double_effect;
pub mod duplicate;
pub mod duplicate_saga;
pub mod exactly_once_effect;
pub mod fifo;
pub mod fifo_group_order;
pub mod inconsistent_offsets;
pub mod key_order;
pub mod late_timeout_acted;
pub mod lost_write;
pub mod no_expired_delivery;
pub mod no_forward_after_abort;
pub mod no_lost_after_delete;
pub mod no_lost_confirmed;
pub mod no_phantom;
pub mod nonmonotonic_poll;
pub mod nonmonotonic_send;
pub mod one_owner;
pub mod poll_skip;
pub mod prefetch_respected;
pub mod pubsub_at_most_once;
#[cfg(test)]
mod pubsub_fixtures;
pub mod pubsub_losses;
pub mod pubsub_no_phantom;
pub mod pubsub_not_before_subscribe;
pub mod pubsub_publisher_order;
pub mod queue_order;
pub mod redelivery_flagged;
pub mod redrive_accounting;
pub mod reply_correlated;
pub mod saga_atomicity;
pub(crate) mod sqs;
pub mod stale_commit_fenced;
pub mod stale_reply_applied;
mod stream;
pub mod stuck_saga;
pub mod unseen;

use crate::history::History;
use crate::plan::Millis;
use crate::workload::Topology;
use std::fmt;

/// Whether a violation breaks safety (something bad happened) or liveness
/// (something good never did).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// Something bad happened.
    Safety,
    /// Something good did not happen within the bound.
    Liveness,
}

/// A property the run broke.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The checker's name, as printed.
    pub checker: &'static str,
    /// Safety or liveness.
    pub kind: Kind,
    /// When, in simulated nanoseconds.
    pub at_ns: u64,
    /// What went wrong, in a sentence.
    pub detail: String,
    /// The publish attempt the violation is about, when it is about one:
    /// the history excerpt that shows it follows that attempt.
    pub focus: Option<u64>,
}

impl Violation {
    /// A safety violation found by `checker` at `at_ns`.
    #[must_use]
    pub fn safety(checker: &'static str, at_ns: u64, detail: String) -> Violation {
        Violation {
            checker,
            kind: Kind::Safety,
            at_ns,
            detail,
            focus: None,
        }
    }

    /// The same violation, about publish attempt `attempt`.
    #[must_use]
    pub fn about(mut self, attempt: u64) -> Violation {
        self.focus = Some(attempt);
        self
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            Kind::Safety => "safety",
            Kind::Liveness => "liveness",
        };
        write!(
            f,
            "VIOLATION {} ({kind}) at {}: {}",
            self.checker,
            Millis(self.at_ns),
            self.detail
        )
    }
}

/// A safety checker: the first violation in a history of a run of this
/// topology, if any.
pub type Checker = fn(&History, &Topology) -> Option<Violation>;

/// The safety checkers that hold for any prefix of a run, by name.
pub const PREFIX_CHECKERS: [(&str, Checker); 32] = [
    (no_phantom::NAME, no_phantom::check),
    (redelivery_flagged::NAME, redelivery_flagged::check),
    (fifo::NAME, fifo::check),
    (queue_order::NAME, queue_order::check),
    (prefetch_respected::NAME, prefetch_respected::check),
    (no_expired_delivery::NAME, no_expired_delivery::check),
    (dead_letter_accounting::NAME, dead_letter_accounting::check),
    (confirm_after_durable::NAME, confirm_after_durable::check),
    (reply_correlated::NAME, reply_correlated::check),
    (inconsistent_offsets::NAME, inconsistent_offsets::check),
    (duplicate::NAME, duplicate::check),
    (nonmonotonic_send::NAME, nonmonotonic_send::check),
    (poll_skip::NAME, poll_skip::check),
    (nonmonotonic_poll::NAME, nonmonotonic_poll::check),
    (key_order::NAME, key_order::check),
    (one_owner::NAME, one_owner::check),
    (
        committed_offset_monotone::NAME,
        committed_offset_monotone::check,
    ),
    (stale_commit_fenced::NAME, stale_commit_fenced::check),
    (compensation_order::NAME, compensation_order::check),
    (no_forward_after_abort::NAME, no_forward_after_abort::check),
    (stale_reply_applied::NAME, stale_reply_applied::check),
    (duplicate_saga::NAME, duplicate_saga::check),
    (double_effect::NAME, double_effect::check),
    (
        double_effect::COMPENSATION,
        double_effect::check_compensation,
    ),
    (late_timeout_acted::NAME, late_timeout_acted::check),
    (pubsub_no_phantom::NAME, pubsub_no_phantom::check),
    (
        pubsub_not_before_subscribe::NAME,
        pubsub_not_before_subscribe::check,
    ),
    (pubsub_at_most_once::NAME, pubsub_at_most_once::check),
    (pubsub_publisher_order::NAME, pubsub_publisher_order::check),
    (fifo_group_order::NAME, fifo_group_order::check),
    (dedup_window::NAME, dedup_window::check),
    (counters_agree::NAME, counters_agree::check),
];

/// The safety checkers that judge a finished, settled run, by name.
pub const FINAL_CHECKERS: [(&str, Checker); 9] = [
    (no_lost_confirmed::NAME, no_lost_confirmed::check),
    (exactly_once_effect::NAME, exactly_once_effect::check),
    (lost_write::NAME, lost_write::check),
    (unseen::NAME, unseen::check),
    (at_least_once::NAME, at_least_once::check),
    (saga_atomicity::NAME, saga_atomicity::check),
    (stuck_saga::NAME, stuck_saga::check),
    (no_lost_after_delete::NAME, no_lost_after_delete::check),
    (redrive_accounting::NAME, redrive_accounting::check),
];

/// How many steps the saga of a run's topology has (0 outside `saga`):
/// one command queue each.
#[must_use]
pub fn saga_steps(topology: &Topology) -> u32 {
    let steps = (0..crate::workload::saga::STEPS_MAX)
        .take_while(|step| {
            let queue = crate::workload::saga::command_queue(*step);
            topology.queues.contains_key(queue.as_str())
        })
        .count();
    u32::try_from(steps).expect("steps are few")
}

/// The name of the liveness check of the heal phase.
pub const LIVENESS: &str = "liveness";

#[cfg(test)]
pub(crate) mod saga_fixtures {
    //! Hand-made saga history entries for the saga checkers' tests: a
    //! two-step saga.

    use crate::history::{Entry, SagaAction};
    use crate::plan::WorkloadParams;
    use crate::workload::{Topology, Workload};
    use brokerlab_core::MessageId;

    pub const DO: SagaAction = SagaAction::Command;
    pub const UNDO: SagaAction = SagaAction::Compensation;

    /// The topology of a two-step saga.
    pub fn topology() -> Topology {
        let mut params = crate::Options::swarm(0, Workload::Saga).workload;
        params.consumers = 3;
        let params: WorkloadParams = params;
        crate::workload::saga::topology(&params)
    }

    pub fn received(saga: &str, action: SagaAction, step: u32, attempt: u32, id: u64) -> Entry {
        Entry::SagaReceived {
            participant: step as usize,
            saga: saga.into(),
            action,
            step,
            attempt,
            message: MessageId(id),
            redelivered: false,
        }
    }

    pub fn applied(saga: &str, action: SagaAction, step: u32) -> Entry {
        Entry::SagaApplied {
            participant: step as usize,
            saga: saga.into(),
            action,
            step,
        }
    }

    pub fn replied(saga: &str, action: SagaAction, step: u32, success: bool) -> Entry {
        Entry::SagaReplied {
            participant: step as usize,
            saga: saga.into(),
            action,
            step,
            success,
        }
    }

    pub fn outcome(saga: &str, state: &str, id: u64) -> Entry {
        Entry::SagaOutcome {
            saga: saga.into(),
            state: state.into(),
            message: MessageId(id),
        }
    }

    pub fn start_confirmed(saga: &str) -> Entry {
        Entry::SagaConfirm {
            starter: 0,
            saga: saga.into(),
            abort: false,
            ack: true,
        }
    }

    pub fn abort_confirmed(saga: &str) -> Entry {
        Entry::SagaConfirm {
            starter: 0,
            saga: saga.into(),
            abort: true,
            ack: true,
        }
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Hand-made history entries for the checkers' tests.

    use crate::history::{Entry, Settle, Stamp};
    use brokerlab_core::{ChannelId, ConnectionId, Event, MessageId};
    use std::sync::Arc;

    pub const PRODUCER_CONN: ConnectionId = ConnectionId(1);
    pub const CONSUMER_CONN: ConnectionId = ConnectionId(2);
    pub const CHANNEL: ChannelId = ChannelId(1);
    pub const QUEUE: &str = "work";

    pub fn stamp(attempt: u64) -> Stamp {
        Stamp {
            payload: attempt,
            attempt,
        }
    }

    pub fn publish(attempt: u64) -> Entry {
        Entry::Publish {
            producer: 0,
            conn: PRODUCER_CONN,
            channel: CHANNEL,
            seq: attempt,
            stamp: stamp(attempt),
            routes: Arc::from([brokerlab_core::Name::from(QUEUE)]),
            priority: None,
            expiration_ms: None,
        }
    }

    pub fn confirm(attempt: u64) -> Entry {
        Entry::Confirm {
            producer: 0,
            stamp: stamp(attempt),
            ack: true,
        }
    }

    pub fn consume(prefetch: u16) -> Entry {
        Entry::Consume {
            consumer: 0,
            conn: CONSUMER_CONN,
            channel: CHANNEL,
            prefetch,
        }
    }

    pub fn deliver(attempt: u64, delivery_tag: u64, redelivered: bool) -> Entry {
        Entry::Deliver {
            consumer: 0,
            conn: CONSUMER_CONN,
            channel: CHANNEL,
            queue: QUEUE.into(),
            delivery_tag,
            redelivered,
            message: MessageId(attempt),
            stamp: Some(stamp(attempt)),
            deaths: None,
        }
    }

    pub fn settle(delivery_tag: u64, how: Settle) -> Entry {
        Entry::Settle {
            consumer: 0,
            conn: CONSUMER_CONN,
            channel: CHANNEL,
            delivery_tag,
            how,
        }
    }

    pub fn broker(event: Event) -> Entry {
        Entry::Broker { clock_ns: 0, event }
    }

    /// The broker's `Published` event of publish `attempt` (its message id is the attempt).
    pub fn broker_published(attempt: u64) -> Entry {
        broker(Event::Published {
            message: MessageId(attempt),
            conn: PRODUCER_CONN,
            channel: CHANNEL,
            confirm_seq: Some(attempt),
        })
    }

    pub fn broker_acked(attempt: u64) -> Entry {
        broker(Event::Acked {
            message: MessageId(attempt),
            queue: QUEUE.into(),
        })
    }

    /// A stream record of producer 0, numbered `payload`, with key `payload % 2`.
    pub fn stream_value(payload: u64) -> crate::history::StreamValue {
        crate::history::StreamValue {
            key: (payload % 2) as u32,
            stamp: stamp(payload),
        }
    }

    fn stream_values(payloads: &[u64]) -> Arc<[crate::history::StreamValue]> {
        payloads
            .iter()
            .map(|payload| stream_value(*payload))
            .collect()
    }

    /// Producer `producer` sends records `payloads` to `partition`, without idempotence.
    pub fn stream_send(producer: usize, partition: u32, payloads: &[u64]) -> Entry {
        Entry::StreamSend {
            producer,
            conn: PRODUCER_CONN,
            partition,
            request: 0,
            idempotent: false,
            records: stream_values(payloads),
        }
    }

    /// Producer `producer` sends records `payloads` to `partition`, idempotent.
    pub fn idempotent_send(producer: usize, partition: u32, payloads: &[u64]) -> Entry {
        match stream_send(producer, partition, payloads) {
            Entry::StreamSend { records, .. } => Entry::StreamSend {
                producer,
                conn: PRODUCER_CONN,
                partition,
                request: 0,
                idempotent: true,
                records,
            },
            _ => unreachable!("stream_send makes a send"),
        }
    }

    /// Records `payloads` acknowledged from `base_offset` of `partition`.
    pub fn stream_ack(
        producer: usize,
        partition: u32,
        base_offset: u64,
        payloads: &[u64],
    ) -> Entry {
        Entry::StreamAck {
            producer,
            partition,
            request: 0,
            idempotent: false,
            base_offset,
            duplicate: false,
            records: stream_values(payloads),
        }
    }

    /// Reader `reader` moves to `offset` of `partition`.
    pub fn stream_seek(reader: usize, partition: u32, from: Option<u64>, offset: u64) -> Entry {
        Entry::StreamSeek {
            reader,
            partition,
            from,
            offset,
        }
    }

    /// Reader `reader` is handed (offset, record) of `partition`.
    pub fn stream_poll(reader: usize, partition: u32, records: &[(u64, u64)]) -> Entry {
        Entry::StreamPoll {
            reader,
            partition,
            records: records
                .iter()
                .map(|(offset, payload)| (*offset, Some(stream_value(*payload))))
                .collect(),
        }
    }

    /// Reader `reader` was assigned `partitions` in `generation`.
    pub fn group_assigned(reader: usize, generation: i32, partitions: &[u32]) -> Entry {
        Entry::GroupAssigned {
            reader,
            generation,
            partitions: partitions.to_vec(),
        }
    }

    /// Reader `reader`'s commit of `offset` in `partition` was acknowledged
    /// (sent at 0: fixtures that care about when use [`group_committed_sent`]).
    pub fn group_committed(reader: usize, generation: i32, partition: u32, offset: u64) -> Entry {
        group_committed_sent(reader, 0, generation, partition, offset)
    }

    /// Reader `reader`'s commit of `offset` in `partition`, sent at
    /// `sent_ns` with `generation`, was acknowledged.
    pub fn group_committed_sent(
        reader: usize,
        sent_ns: u64,
        generation: i32,
        partition: u32,
        offset: u64,
    ) -> Entry {
        Entry::GroupCommitted {
            reader,
            sent_ns,
            generation,
            partition,
            offset,
        }
    }

    /// Reader `reader` fetched `partition`'s committed offset with a
    /// fetch sent at `sent_ns` (fixture entries are 1 ns apart).
    pub fn group_fetched(
        reader: usize,
        sent_ns: u64,
        partition: u32,
        offset: Option<u64>,
    ) -> Entry {
        Entry::GroupOffsetFetched {
            reader,
            sent_ns,
            partition,
            offset,
        }
    }

    /// The work-queue topology the fixtures publish into.
    pub fn topology() -> crate::workload::Topology {
        crate::workload::work_queue::topology()
    }
}
