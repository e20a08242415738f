//! `sqs-visibility`: SQS queues (the core's `SqsCommand`s), a standard
//! queue with a short visibility timeout and a redrive policy to a
//! dead-letter queue, and a FIFO queue with message groups and explicit
//! deduplication ids.
//!
//! Producers (`sim/src/client/sqs.rs`) send their messages to the two queues
//! in turn, some in batches, and send again on a new connection whatever
//! was in flight when their connection dropped (the same deduplication id on
//! the FIFO queue); now and then they send an acknowledged FIFO message
//! again on purpose, as a producer that lost an answer would. Consumers
//! receive (some with long polls), work on each message for a while,
//! sometimes past its visibility timeout, and delete it; some give up on a
//! message (it comes back when its visibility runs out, and after
//! [`MAX_RECEIVE_COUNT`] receives goes to the dead-letter queue), some
//! disconnect before deleting (a crash), and a slow one deletes with a
//! handle that went stale when another consumer received the message
//! again. Once the faults are over and every producer is done, the
//! consumers drain the three queues, deleting at once what they receive.
//!
//! The checkers `no-lost-after-delete`, `redrive-accounting`,
//! `fifo-group-order` and `dedup-window` judge the run.

use crate::client::{Client, SqsClient, SqsRole};
use crate::plan::{FaultPlan, Span, WorkloadParams, MS};
use crate::random::SimRng;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The standard queue, with a redrive policy to [`DLQ`].
pub const WORK: &str = "sqs-work";
/// The dead-letter queue of [`WORK`].
pub const DLQ: &str = "sqs-dlq";
/// The FIFO queue.
pub const FIFO: &str = "sqs-orders.fifo";
/// Receives after which a message of [`WORK`] goes to [`DLQ`].
pub const MAX_RECEIVE_COUNT: u32 = 3;
/// The queues' retention period, in seconds: far longer than a run, so
/// that no message expires in one (and its timer lies past the horizon
/// the broker node arms timers within).
pub const RETENTION_S: u32 = 7_200;
/// The ARN prefix of the core's default `SqsConfig`.
const ARN_PREFIX: &str = "arn:aws:sqs:us-east-1:000000000000";

/// What the `sqs-visibility` workload draws for itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SqsParams {
    /// The queues' visibility timeout, in seconds (0: not this workload).
    pub visibility_s: u32,
    /// Message groups of the FIFO queue.
    pub groups: u32,
    /// Chance in a thousand that a consumer works on a message past its visibility timeout.
    pub slow_per_mille: u16,
    /// Chance in a thousand that a consumer gives a message up (never
    /// deletes it) the first time it is received; three times that, up to
    /// 700, when it is received again (a poison message fails again).
    pub abandon_per_mille: u16,
    /// Chance in a thousand that a consumer disconnects before deleting a message.
    pub crash_per_mille: u16,
    /// Chance in a thousand that a producer sends an acknowledged FIFO message again.
    pub resend_per_mille: u16,
    /// Chance in a thousand that a producer sends a batch (else one message).
    pub batch_per_mille: u16,
}

impl SqsParams {
    /// Whether these are the parameters of another workload.
    #[must_use]
    pub fn is_unset(&self) -> bool {
        *self == SqsParams::default()
    }
}

impl fmt::Display for SqsParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            " visibility={}s groups={} max-receives={MAX_RECEIVE_COUNT} slow={}permille \
             abandon={}permille disconnect={}permille resend={}permille batch={}permille",
            self.visibility_s,
            self.groups,
            self.slow_per_mille,
            self.abandon_per_mille,
            self.crash_per_mille,
            self.resend_per_mille,
            self.batch_per_mille,
        )
    }
}

/// What the checkers need to know of the run's queues.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqsSetup {
    /// The standard queue with the redrive policy.
    pub work: &'static str,
    /// Its dead-letter queue.
    pub dlq: &'static str,
    /// The FIFO queue.
    pub fifo: &'static str,
    /// Its `maxReceiveCount`.
    pub max_receive_count: u32,
}

/// The run's queues, for the checkers.
#[must_use]
pub fn setup() -> SqsSetup {
    SqsSetup {
        work: WORK,
        dlq: DLQ,
        fifo: FIFO,
        max_receive_count: MAX_RECEIVE_COUNT,
    }
}

/// The CreateQueue actions every client sends first on each connection, in
/// order (the dead-letter queue before the queue that names it).
#[must_use]
pub fn create_queues(visibility_s: u32) -> Vec<(String, Vec<(String, String)>)> {
    let visibility = ("VisibilityTimeout".to_owned(), visibility_s.to_string());
    let retention = ("MessageRetentionPeriod".to_owned(), RETENTION_S.to_string());
    let redrive = format!(
        r#"{{"deadLetterTargetArn":"{ARN_PREFIX}:{DLQ}","maxReceiveCount":{MAX_RECEIVE_COUNT}}}"#
    );
    vec![
        (DLQ.to_owned(), vec![retention.clone()]),
        (
            WORK.to_owned(),
            vec![
                visibility.clone(),
                retention.clone(),
                ("RedrivePolicy".to_owned(), redrive),
            ],
        ),
        (
            FIFO.to_owned(),
            vec![
                ("FifoQueue".to_owned(), "true".to_owned()),
                visibility,
                retention,
            ],
        ),
    ]
}

/// The queue of a producer's message `seq`: every other one goes to the FIFO queue.
#[must_use]
pub fn queue_of(seq: u64) -> &'static str {
    if seq % 2 == 1 {
        FIFO
    } else {
        WORK
    }
}

/// The message group of producer `producer`'s FIFO message `seq`.
#[must_use]
pub fn group_of(producer: usize, seq: u64, groups: u32) -> String {
    format!(
        "g{}",
        (producer as u64 * 7 + seq / 2) % u64::from(groups.max(1))
    )
}

/// The deduplication id of producer `producer`'s FIFO message `seq`.
#[must_use]
pub fn dedup_of(producer: usize, seq: u64) -> String {
    format!("d{producer}-{seq}")
}

/// Draws what is particular to the workload: its visibility timeout, its
/// groups and its clients' habits; a safety phase long enough for
/// visibility timeouts to run out and messages to be redriven under
/// faults; and no credit flow, memory alarm or restricted user (SQS
/// actions are not AMQP publishes, and its queues are not in a topology).
pub fn draw(rng: &mut SimRng, params: &mut WorkloadParams, plan: &mut FaultPlan) {
    params.sqs = SqsParams {
        visibility_s: rng.between(1, 3) as u32,
        groups: rng.between(2, 3) as u32,
        slow_per_mille: [200, 350, 500][rng.below(3) as usize],
        abandon_per_mille: [100, 200, 300][rng.below(3) as usize],
        crash_per_mille: [0, 30, 80][rng.below(3) as usize],
        resend_per_mille: [50, 150][rng.below(2) as usize],
        batch_per_mille: [0, 300, 600][rng.below(3) as usize],
    };
    params.publish_gap = Span::new(0, rng.between(5, 100) * MS);
    plan.safety_phase_ns = rng.between(2_000, 8_000) * MS;
    plan.credit_flow = None;
    plan.memory_alarm = None;
    plan.restricted_user = false;
}

/// The run's clients: the producers, then the consumers.
#[must_use]
pub fn clients(params: &WorkloadParams) -> Vec<Client> {
    let sqs = params.sqs;
    let producers = (0..params.producers).map(|id| {
        let role = SqsRole::Producer {
            messages: params.messages_per_producer,
            gap: params.publish_gap,
        };
        Client::Sqs(SqsClient::new(id, role, sqs))
    });
    let consumers = (0..params.consumers).map(|id| {
        let role = SqsRole::Consumer { work: params.work };
        Client::Sqs(SqsClient::new(id, role, sqs))
    });
    producers.chain(consumers).collect()
}
