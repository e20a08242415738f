//! What a run reports: a summary, the checkers' verdicts, and the exit code.
//!
//! Exit codes follow the simulator's contract: 0 when every checker passed,
//! 127 when the system under test panicked, 128 for a liveness violation,
//! 129 for a safety violation (safety wins when both are broken).

use crate::check::{Kind, Violation};
use crate::history::{Entry, History};
use crate::plan::Millis;
use crate::simulation::FaultKind;
use brokerlab_core::Event;
use std::fmt;

/// Exit code of a run that passed.
pub const EXIT_PASS: u8 = 0;
/// Exit code of a run in which the system under test panicked.
pub const EXIT_PANIC: u8 = 127;
/// Exit code of a run that broke liveness.
pub const EXIT_LIVENESS: u8 = 128;
/// Exit code of a run that broke safety.
pub const EXIT_SAFETY: u8 = 129;

/// Counts that say what a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Events dispatched.
    pub events: u64,
    /// Simulated time at the end, in nanoseconds.
    pub simulated_ns: u64,
    /// Publishes sent (retries included).
    pub publishes: u64,
    /// Publisher confirms (basic.ack) received.
    pub confirms: u64,
    /// Deliveries received.
    pub deliveries: u64,
    /// Deliveries flagged redelivered.
    pub redeliveries: u64,
    /// Messages consumed (the broker's `Acked` events).
    pub consumed: u64,
    /// Messages dead-lettered (the broker's `DeadLettered` events).
    pub dead_lettered: u64,
    /// Messages whose TTL ran out (the broker's `Expired` events).
    pub expired: u64,
    /// Effects idempotent consumers applied.
    pub effects: u64,
    /// Messages consumers gave up on after their retries.
    pub gave_up: u64,
    /// Times a publishing connection was paused by credit flow.
    pub flow_pauses: u64,
    /// Faults that struck, per kind in [`FaultKind::ALL`] order.
    pub faults: [u64; FaultKind::ALL.len()],
    /// Digest of the trace.
    pub trace_digest: u64,
}

impl Summary {
    /// Counts one strike of `kind`.
    pub fn count_fault(&mut self, kind: FaultKind) {
        let index = FaultKind::ALL
            .iter()
            .position(|known| *known == kind)
            .expect("ALL lists every kind");
        self.faults[index] += 1;
    }

    /// Fills in the message counts from the history.
    pub fn count_messages(&mut self, history: &History) {
        for timed in history.entries() {
            match &timed.entry {
                Entry::Publish { .. } => self.publishes += 1,
                Entry::Confirm { ack: true, .. } => self.confirms += 1,
                Entry::Deliver { redelivered, .. } => {
                    self.deliveries += 1;
                    self.redeliveries += u64::from(*redelivered);
                }
                Entry::Broker {
                    event: Event::Acked { .. },
                    ..
                } => self.consumed += 1,
                Entry::Broker {
                    event: Event::DeadLettered { .. },
                    ..
                } => self.dead_lettered += 1,
                Entry::Broker {
                    event: Event::Expired { .. },
                    ..
                } => self.expired += 1,
                Entry::StreamSend { .. } => self.publishes += 1,
                Entry::StreamAck { .. } => self.confirms += 1,
                Entry::StreamPoll { records, .. } => self.deliveries += records.len() as u64,
                Entry::Effect { .. } | Entry::SagaApplied { .. } => self.effects += 1,
                Entry::SagaStart { .. } | Entry::SagaAbort { .. } | Entry::SagaReplied { .. } => {
                    self.publishes += 1;
                }
                Entry::SagaConfirm { ack: true, .. } => self.confirms += 1,
                Entry::SagaReceived { redelivered, .. } => {
                    self.deliveries += 1;
                    self.redeliveries += u64::from(*redelivered);
                }
                Entry::GaveUp { .. } => self.gave_up += 1,
                Entry::PubSubPublish { .. } => self.publishes += 1,
                Entry::PubSubPublished { .. } => self.confirms += 1,
                Entry::PubSubMessage { .. } => self.deliveries += 1,
                Entry::SqsSend { entries, .. } => self.publishes += entries.len() as u64,
                Entry::SqsSent { results, .. } => {
                    self.confirms += results.iter().filter(|(_, id)| id.is_some()).count() as u64;
                }
                Entry::SqsReceived { messages, .. } => {
                    self.deliveries += messages.len() as u64;
                    self.redeliveries += messages
                        .iter()
                        .filter(|seen| seen.receive_count > 1)
                        .count() as u64;
                }
                _ => {}
            }
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "events={} simulated={} publishes={} confirmed={} deliveries={} redelivered={} \
             consumed={} dead-lettered={} expired={} effects={} gave-up={} flow-pauses={} faults:",
            self.events,
            Millis(self.simulated_ns),
            self.publishes,
            self.confirms,
            self.deliveries,
            self.redeliveries,
            self.consumed,
            self.dead_lettered,
            self.expired,
            self.effects,
            self.gave_up,
            self.flow_pauses,
        )?;
        for (kind, count) in FaultKind::ALL.iter().zip(self.faults) {
            write!(f, " {}={count}", kind.name())?;
        }
        write!(f, " trace={:016x}", self.trace_digest)
    }
}

/// The outcome of one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// What the run did.
    pub summary: Summary,
    /// Every checker that ran, by name, in order.
    pub checked: Vec<&'static str>,
    /// What broke, if anything.
    pub violations: Vec<Violation>,
    /// What the run teaches besides its verdicts: in `pubsub-redis`, what
    /// each subscriber missed and why (at-most-once delivery, not a fault).
    pub lessons: Vec<String>,
    /// The trace's lines, when kept.
    pub trace: Option<Vec<String>>,
}

impl Report {
    /// The process exit code for this outcome.
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        let broke = |kind| {
            self.violations
                .iter()
                .any(|violation| violation.kind == kind)
        };
        if broke(Kind::Safety) {
            EXIT_SAFETY
        } else if broke(Kind::Liveness) {
            EXIT_LIVENESS
        } else {
            EXIT_PASS
        }
    }

    /// The violation found by `checker`, if any.
    #[must_use]
    pub fn violation(&self, checker: &str) -> Option<&Violation> {
        self.violations
            .iter()
            .find(|violation| violation.checker == checker)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "summary: {}", self.summary)?;
        let verdicts: Vec<String> = self
            .checked
            .iter()
            .map(|name| {
                let verdict = if self.violation(name).is_some() {
                    "FAIL"
                } else {
                    "ok"
                };
                format!("{name}={verdict}")
            })
            .collect();
        writeln!(f, "checkers: {}", verdicts.join(" "))?;
        for lesson in &self.lessons {
            writeln!(f, "{lesson}")?;
        }
        for violation in &self.violations {
            writeln!(f, "{violation}")?;
        }
        let result = match self.exit_code() {
            EXIT_PASS => "pass",
            EXIT_LIVENESS => "liveness violation",
            _ => "safety violation",
        };
        write!(f, "result: {result} (exit {})", self.exit_code())
    }
}
