//! `saga`: orchestrated order sagas run by the broker, with participants
//! that succeed, fail, reply twice, reply late or crash, under every fault.
//!
//! The seed document's order saga. Every client declares the durable
//! `x-saga` exchange [`EXCHANGE`] with two or three steps (one per
//! participant; their timeouts and retries drawn from the seed), a durable
//! command queue and compensation queue per step, reached through the
//! default exchange, and the outcome queue [`OUTCOMES`], bound to
//! `amq.topic` for `saga.#`.
//!
//! Starters (the producers) start sagas by publishing to the saga exchange
//! with publisher confirms, `message_id` = the saga id; a start not
//! confirmed when its connection drops is published again after the
//! reconnect, with the same id. Some confirmed sagas are aborted a while
//! later (a publish with the header `x-saga-abort`, confirmed and retried
//! likewise). Participant `k` consumes step `k`'s command and compensation
//! queues with manual acks, and is idempotent by correlation id in a store
//! that survives its crashes: a key seen before is answered with the
//! outcome recorded for it and not applied again, and a command whose
//! compensation came first is refused. Per message it draws whether it
//! fails the command, replies twice, replies after the step's timeout, or
//! crashes before replying. The observer consumes the outcomes.
//!
//! Broker crashes, dropped links, partitions and clogs come from the fault
//! plan. The checkers judge the sagas from what the participants applied
//! and replied, what the broker sent them and what the observer saw, and
//! the broker's timeout events: `saga-atomicity`, `compensation-order`,
//! `no-forward-after-abort`, `stale-reply-applied`, `duplicate-saga`,
//! `double-effect`, `double-compensation`, `late-timeout-acted` and
//! `stuck-saga`.

use super::{arguments, text, QueueSpec, Target, Topology};
use crate::client::{
    Client, SagaObserver, SagaParticipant, SagaParticipantSpec, SagaStarter, SagaStarterSpec,
};
use crate::plan::{FaultPlan, WorkloadParams};
use crate::random::SimRng;
use brokerlab_core::{Command, FieldTable, FieldValue};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// The saga exchange.
pub const EXCHANGE: &str = "orders";
/// The queue the observer consumes outcomes from.
pub const OUTCOMES: &str = "saga.outcomes";
/// Most steps a drawn saga has.
pub const STEPS_MAX: usize = 3;
/// Fewest steps.
pub const STEPS_MIN: usize = 2;

/// The command queue of step `step`.
#[must_use]
pub fn command_queue(step: usize) -> String {
    format!("saga.step{step}.do")
}

/// The compensation queue of step `step`.
#[must_use]
pub fn compensation_queue(step: usize) -> String {
    format!("saga.step{step}.undo")
}

/// The routing key participants reply with.
#[must_use]
pub fn reply_key() -> String {
    format!("{}{EXCHANGE}", brokerlab_core::saga::REPLY_PREFIX)
}

/// How the sagas and their participants behave, drawn from the seed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SagaParams {
    /// Each step's timeout, in milliseconds.
    pub timeout_ms: [u64; STEPS_MAX],
    /// Each step's retries.
    pub retries: [u32; STEPS_MAX],
    /// Chance in a thousand that a confirmed saga is aborted.
    pub abort_per_mille: u16,
    /// How long after its confirm an abort may come, at most.
    pub abort_within_ms: u64,
    /// Chance in a thousand that a participant fails a command.
    pub fail_per_mille: u16,
    /// Chance in a thousand that a participant replies twice.
    pub twice_per_mille: u16,
    /// Chance in a thousand that a participant replies after the step's timeout.
    pub late_per_mille: u16,
    /// Chance in a thousand that a participant crashes before replying.
    pub crash_per_mille: u16,
}

impl SagaParams {
    /// Whether these are the parameters of a workload that is not `saga`.
    #[must_use]
    pub fn is_unset(&self) -> bool {
        *self == SagaParams::default()
    }
}

impl fmt::Display for SagaParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            " step-timeouts={:?}ms retries={:?} abort={}permille(within {}ms) fail={}permille \
             twice={}permille late={}permille participant-crash={}permille",
            self.timeout_ms,
            self.retries,
            self.abort_per_mille,
            self.abort_within_ms,
            self.fail_per_mille,
            self.twice_per_mille,
            self.late_per_mille,
            self.crash_per_mille,
        )
    }
}

/// Steps of a run: one per participant (the consumers but the observer).
#[must_use]
pub fn steps(params: &WorkloadParams) -> usize {
    params.consumers.saturating_sub(1).clamp(1, STEPS_MAX)
}

/// Draws the saga parameters, after the rest of the options, and switches
/// the memory alarm off: participants publish replies and consume on one
/// connection, which the alarm deadlocks (see `Options::swarm`).
pub fn draw(rng: &mut SimRng, params: &mut WorkloadParams, plan: &mut FaultPlan) {
    let mut timeout_ms = [0; STEPS_MAX];
    let mut retries = [0; STEPS_MAX];
    for step in 0..STEPS_MAX {
        timeout_ms[step] = rng.between(20, 250);
        retries[step] = rng.between(0, 2) as u32;
    }
    let per_mille =
        |rng: &mut SimRng, choices: &[u16]| choices[rng.below(choices.len() as u64) as usize];
    params.saga = SagaParams {
        timeout_ms,
        retries,
        abort_per_mille: per_mille(rng, &[0, 100, 300]),
        abort_within_ms: rng.between(1, 200),
        fail_per_mille: per_mille(rng, &[0, 50, 200]),
        twice_per_mille: per_mille(rng, &[0, 50, 200]),
        late_per_mille: per_mille(rng, &[0, 20, 100]),
        crash_per_mille: per_mille(rng, &[0, 20, 50]),
    };
    plan.memory_alarm = None;
}

/// The saga exchange's definition: one step per participant.
#[must_use]
pub fn definition(params: &WorkloadParams) -> FieldTable {
    let saga = params.saga;
    let steps = (0..steps(params))
        .map(|step| {
            FieldValue::Table(arguments(&[
                ("name", text(&format!("step{step}"))),
                ("command", text(&command_queue(step))),
                ("compensation", text(&compensation_queue(step))),
                ("timeout-ms", FieldValue::I64(saga.timeout_ms[step] as i64)),
                ("retries", FieldValue::I64(i64::from(saga.retries[step]))),
            ]))
        })
        .collect();
    arguments(&[("x-saga-steps", FieldValue::Array(steps))])
}

/// The saga exchange, a command and a compensation queue per step, and the
/// outcome queue.
#[must_use]
pub fn topology(params: &WorkloadParams) -> Topology {
    let mut topology = Topology::default();
    topology.setup.push(Command::ExchangeDeclare {
        exchange: EXCHANGE.to_owned(),
        kind: brokerlab_core::saga::definition::EXCHANGE_TYPE.to_owned(),
        passive: false,
        durable: true,
        auto_delete: false,
        internal: false,
        arguments: definition(params),
    });
    for step in 0..steps(params) {
        for queue in [command_queue(step), compensation_queue(step)] {
            topology.queue(&queue, FieldTable::new(), QueueSpec::default());
            topology.consume_from.push(queue.as_str().into());
        }
    }
    topology.queue(OUTCOMES, FieldTable::new(), QueueSpec::default());
    topology.bind(OUTCOMES, "amq.topic", "saga.#");
    topology.consume_from.push(OUTCOMES.into());
    // Where the clients publish: starts and aborts to the saga exchange,
    // replies through the default exchange (for the restricted user).
    topology.targets.push(Target::new(EXCHANGE, "", &[]));
    topology.targets.push(Target::new("", &reply_key(), &[]));
    topology
}

/// The run's clients: the starters (the producers), a participant per
/// step, and the observer.
#[must_use]
pub fn clients(params: &WorkloadParams) -> Vec<Client> {
    let setup: Arc<[Command]> = topology(params).setup.into();
    let starters = (0..params.producers).map(|id| {
        Client::SagaStarter(SagaStarter::new(SagaStarterSpec {
            id,
            setup: setup.clone(),
            sagas: params.messages_per_producer,
            window: params.publish_window,
            gap: params.publish_gap,
            abort_per_mille: params.saga.abort_per_mille,
            abort_within_ms: params.saga.abort_within_ms,
        }))
    });
    let participants = (0..steps(params)).map(|step| {
        Client::SagaParticipant(SagaParticipant::new(SagaParticipantSpec {
            step,
            setup: setup.clone(),
            params: params.saga,
            prefetch: params.prefetch,
            work: params.work,
        }))
    });
    let observer = Client::SagaObserver(SagaObserver::new(setup.clone()));
    starters
        .chain(participants)
        .chain(std::iter::once(observer))
        .collect()
}
