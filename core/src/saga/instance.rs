//! One saga instance and its transitions: pure functions of its state, its
//! definition, the input and the time, each saying what the broker must do
//! next (send a command or a compensation, publish the outcome, or nothing).

use super::definition::Definition;
use crate::time::Instant;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// What a saga message asks of its participant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Action {
    /// The step's command.
    Command,
    /// The step's compensation.
    Compensation,
}

impl Action {
    /// The word a correlation id and the `x-saga-action` header carry.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Command => "do",
            Action::Compensation => "undo",
        }
    }

    /// The action a word names.
    #[must_use]
    pub fn parse(word: &str) -> Option<Action> {
        match word {
            "do" => Some(Action::Command),
            "undo" => Some(Action::Compensation),
            _ => None,
        }
    }
}

/// Where a saga instance is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Phase {
    /// Sending its steps' commands, one at a time.
    Running,
    /// Sending the compensations of its completed and unknown-outcome
    /// steps, in reverse order, one at a time.
    Compensating,
    /// Every step succeeded: ended, with no compensation.
    Completed,
    /// Every step that needed it was compensated: ended.
    Compensated,
    /// A compensation failed or went unanswered after its retries: ended,
    /// for an operator to look at.
    FailedNeedsAttention,
}

impl Phase {
    /// Whether the saga has ended.
    #[must_use]
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Phase::Completed | Phase::Compensated | Phase::FailedNeedsAttention
        )
    }

    /// Its name, as the `x-saga-state` header carries it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Running => "running",
            Phase::Compensating => "compensating",
            Phase::Completed => "completed",
            Phase::Compensated => "compensated",
            Phase::FailedNeedsAttention => "failed-needs-attention",
        }
    }
}

/// Why an input changed nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Ignored {
    /// A start for a saga id that exists (or ended and is still remembered).
    DuplicateStart,
    /// A start over the exchange's bound of running sagas.
    TooManyRunning,
    /// A reply naming no saga the exchange holds.
    UnknownSaga,
    /// A reply or an abort for a saga that ended.
    Finished,
    /// A reply for something the saga is not waiting for: a duplicate, a
    /// stale reply to an earlier step, a late reply after a timeout moved
    /// the saga on, a reply to a command after compensation began; or an
    /// abort of a saga already compensating.
    NotAwaited,
    /// A reply without a correlation id or outcome the broker can read.
    Malformed,
}

/// What the broker does after a transition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Effect {
    /// Sends a step's command or compensation.
    Send {
        /// Which.
        action: Action,
        /// The step.
        step: u32,
        /// 1 for the first send, one more per retry.
        attempt: u32,
    },
    /// The saga ended: publish its outcome.
    End,
    /// Nothing changed.
    Ignored(Ignored),
}

/// Deliberate faults, for the mutants (all off in a correct broker).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Quirks {
    /// Compensations run in forward order.
    pub compensate_in_forward_order: bool,
    /// A step whose outcome is unknown (timed out, or in flight at an
    /// abort) is not compensated.
    pub skip_unknown_outcome: bool,
    /// A repeated success reply for the step before the current one
    /// advances the saga again.
    pub advance_twice_on_duplicate: bool,
    /// An abort of a running saga is ignored: its steps go on.
    pub forward_after_abort: bool,
}

/// A saga instance: its state is all a record needs to resume it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Instance {
    /// The saga id (the starting message's `message_id`).
    pub id: String,
    /// The starting message's body, sent with every command and compensation.
    pub payload: Bytes,
    /// The starting message's content type, kept on what the saga sends.
    pub content_type: Option<String>,
    /// Where it is.
    pub phase: Phase,
    /// The step whose command (running) or compensation (compensating)
    /// waits for its reply.
    pub step: u32,
    /// How many times that command or compensation was sent.
    pub attempt: u32,
    /// When the wait for its reply ends; `None` once the saga ended.
    pub deadline: Option<Instant>,
    /// How many steps succeeded (always the first ones).
    pub completed: u32,
    /// How many steps compensation covers (the first ones: the completed
    /// steps and the one whose outcome is unknown).
    pub to_compensate: u32,
    /// How many of those are compensated.
    pub compensated: u32,
    /// Why it compensates, once it does.
    pub error: Option<String>,
}

impl Instance {
    /// A new saga, sending its first step's command.
    #[must_use]
    pub fn start(
        id: String,
        payload: Bytes,
        content_type: Option<String>,
        definition: &Definition,
        now: Instant,
    ) -> (Instance, Effect) {
        let mut instance = Instance {
            id,
            payload,
            content_type,
            phase: Phase::Running,
            step: 0,
            attempt: 0,
            deadline: None,
            completed: 0,
            to_compensate: 0,
            compensated: 0,
            error: None,
        };
        let effect = instance.send(definition, Action::Command, 0, now);
        (instance, effect)
    }

    /// A participant's reply to `action` of `step`: advances, compensates,
    /// ends, or is ignored.
    pub fn on_reply(
        &mut self,
        definition: &Definition,
        quirks: Quirks,
        (action, step): (Action, u32),
        success: bool,
        now: Instant,
    ) -> Effect {
        if self.phase.is_terminal() {
            return Effect::Ignored(Ignored::Finished);
        }
        match (self.phase, action) {
            (Phase::Running, Action::Command)
                if step == self.step
                    || (quirks.advance_twice_on_duplicate && success && step + 1 == self.step) =>
            {
                if !success {
                    let name = &definition.steps[self.step as usize].name;
                    let error = format!("step '{name}' failed");
                    return self.compensate(definition, quirks, self.completed, error, now);
                }
                self.completed = self.step + 1;
                if self.completed as usize == definition.steps.len() {
                    return self.end(Phase::Completed);
                }
                self.send(definition, Action::Command, self.step + 1, now)
            }
            (Phase::Compensating, Action::Compensation) if step == self.step => {
                if !success {
                    let name = &definition.steps[self.step as usize].name;
                    self.error = Some(format!("compensation of step '{name}' failed"));
                    return self.end(Phase::FailedNeedsAttention);
                }
                self.compensated += 1;
                if self.compensated == self.to_compensate {
                    return self.end(Phase::Compensated);
                }
                let next = self.compensation_step(quirks);
                self.send(definition, Action::Compensation, next, now)
            }
            _ => Effect::Ignored(Ignored::NotAwaited),
        }
    }

    /// The wait for the current reply ended: send again while retries
    /// remain, else give up on it (a step's outcome becomes unknown and
    /// compensation begins; a compensation leaves the saga needing attention).
    pub fn on_timeout(&mut self, definition: &Definition, quirks: Quirks, now: Instant) -> Effect {
        assert!(!self.phase.is_terminal(), "an ended saga has no deadline");
        let step = &definition.steps[self.step as usize];
        if self.attempt <= step.retries {
            self.attempt += 1;
            self.deadline = Some(now.plus_ms(step.timeout_ms));
            let action = match self.phase {
                Phase::Running => Action::Command,
                _ => Action::Compensation,
            };
            return Effect::Send {
                action,
                step: self.step,
                attempt: self.attempt,
            };
        }
        if self.phase == Phase::Compensating {
            self.error = Some(format!("compensation of step '{}' timed out", step.name));
            return self.end(Phase::FailedNeedsAttention);
        }
        let error = format!("step '{}' timed out", step.name);
        let covered = self.unknown_outcome_covered(quirks);
        self.compensate(definition, quirks, covered, error, now)
    }

    /// An abort: a running saga compensates its completed steps and the one
    /// in flight (its outcome unknown).
    pub fn abort(&mut self, definition: &Definition, quirks: Quirks, now: Instant) -> Effect {
        match self.phase {
            phase if phase.is_terminal() => Effect::Ignored(Ignored::Finished),
            Phase::Running if !quirks.forward_after_abort => {
                let covered = self.unknown_outcome_covered(quirks);
                self.compensate(definition, quirks, covered, "aborted".to_owned(), now)
            }
            _ => Effect::Ignored(Ignored::NotAwaited),
        }
    }

    /// The steps compensation covers when the current step's outcome is
    /// unknown: the completed ones and the current one.
    fn unknown_outcome_covered(&self, quirks: Quirks) -> u32 {
        if quirks.skip_unknown_outcome {
            self.completed
        } else {
            self.step + 1
        }
    }

    /// Begins compensating the first `count` steps.
    fn compensate(
        &mut self,
        definition: &Definition,
        quirks: Quirks,
        count: u32,
        error: String,
        now: Instant,
    ) -> Effect {
        self.error = Some(error);
        self.to_compensate = count;
        self.compensated = 0;
        if count == 0 {
            return self.end(Phase::Compensated);
        }
        self.phase = Phase::Compensating;
        let first = self.compensation_step(quirks);
        self.send(definition, Action::Compensation, first, now)
    }

    /// The step whose compensation comes next: the last covered one not yet
    /// compensated.
    fn compensation_step(&self, quirks: Quirks) -> u32 {
        if quirks.compensate_in_forward_order {
            self.compensated
        } else {
            self.to_compensate - 1 - self.compensated
        }
    }

    fn send(&mut self, definition: &Definition, action: Action, step: u32, now: Instant) -> Effect {
        self.step = step;
        self.attempt = 1;
        self.deadline = Some(now.plus_ms(definition.steps[step as usize].timeout_ms));
        Effect::Send {
            action,
            step,
            attempt: 1,
        }
    }

    fn end(&mut self, phase: Phase) -> Effect {
        self.phase = phase;
        self.deadline = None;
        Effect::End
    }

    /// Checks the instance's own invariants against its definition.
    ///
    /// # Panics
    /// When one is broken.
    pub fn assert_invariants(&self, definition: &Definition) {
        let steps = u32::try_from(definition.steps.len()).expect("steps are bounded");
        assert!(self.completed <= steps, "completed steps exist");
        assert!(
            self.compensated <= self.to_compensate,
            "compensations counted"
        );
        assert!(
            self.to_compensate <= steps,
            "compensation covers steps that exist"
        );
        assert_eq!(
            self.deadline.is_none(),
            self.phase.is_terminal(),
            "exactly the running sagas wait"
        );
        match self.phase {
            Phase::Running => {
                assert!(self.step < steps, "the current step exists");
                assert_eq!(self.completed, self.step, "steps succeed in order");
                assert_eq!(self.to_compensate, 0, "no compensation while running");
            }
            Phase::Compensating => {
                assert!(
                    self.step < self.to_compensate,
                    "compensating a covered step"
                );
                assert!(
                    self.compensated < self.to_compensate,
                    "some compensation remains"
                );
            }
            Phase::Completed => assert_eq!(self.completed, steps, "every step succeeded"),
            Phase::Compensated => {
                assert_eq!(
                    self.compensated, self.to_compensate,
                    "every covered step compensated"
                );
            }
            Phase::FailedNeedsAttention => {}
        }
    }
}
