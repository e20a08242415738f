//! Sagas run inside the broker (SEMANTICS.md section 10): orchestrated
//! steps with compensations, whose every transition is logged in one record
//! with the message it sends, so there is no outbox to get wrong.
//!
//! A saga is defined by an exchange of type `x-saga` (its steps are the
//! exchange's arguments, see [`definition`]) and started by publishing to
//! that exchange: the message's `message_id` is the saga id and its body the
//! payload every step receives. A publish carrying the header `x-saga-abort`
//! aborts the saga its `message_id` names instead.
//!
//! The broker sends each step's command to the step's exchange and routing
//! key, persistent, with
//! - `reply_to` = `amq.saga.<saga exchange>`,
//! - `correlation_id` = `do:<step>:<saga id>` (`undo:` for a compensation),
//!   the key by which a participant makes itself idempotent,
//! - `message_id` = the saga id, and the headers `x-saga`, `x-saga-step`,
//!   `x-saga-step-name`, `x-saga-action` and `x-saga-attempt`. None of
//!   them names the saga (`message_id` and `correlation_id` do), so each
//!   step's first command and compensation share one header table, built
//!   when the saga is defined ([`Saga::send_headers`]).
//!
//! A participant replies by publishing to the default exchange with
//! routing key `reply_to`, the same `correlation_id`, and the header
//! `x-saga-outcome` set to `success` or `failure`. Replies that match
//! nothing the saga waits for are ignored and counted.
//!
//! When a saga ends, the broker publishes its outcome to the outcome
//! exchange with routing key `saga.completed` or `saga.failed`, as the seed
//! document's orchestrator does: a JSON body `{"sagaId": ..., "saga": ...,
//! "state": ..., "error": ...}` and the headers `x-saga`, `x-saga-id` and
//! `x-saga-state`.

pub mod definition;
mod instance;

pub use definition::{BadArgument, Definition, Step, Target};
pub use instance::{Action, Effect, Ignored, Instance, Phase, Quirks};

use crate::field::{FieldTable, FieldValue};
use crate::message::Name;
use crate::time::Instant;
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

/// The routing key prefix of saga replies: `amq.saga.<saga exchange>`.
pub const REPLY_PREFIX: &str = "amq.saga.";
/// The reply header carrying `success` or `failure`.
pub const OUTCOME_HEADER: &str = "x-saga-outcome";
/// The header that makes a publish to a saga exchange an abort.
pub const ABORT_HEADER: &str = "x-saga-abort";
/// The most sagas one saga exchange runs at once; a start beyond it is
/// refused (nacked under publisher confirms).
pub const RUNNING_MAX: usize = 100_000;
/// How many ended sagas each saga exchange remembers, so that a repeated
/// start of one is recognised; the oldest is forgotten beyond it.
pub const FINISHED_RETAINED: usize = 10_000;

/// The correlation id of a saga message.
#[must_use]
pub fn correlation_id(action: Action, step: u32, id: &str) -> String {
    format!("{}:{step}:{id}", action.as_str())
}

/// What a reply's correlation id names: the action, the step and the saga id.
#[must_use]
pub fn parse_correlation_id(text: &str) -> Option<(Action, u32, &str)> {
    let (action, rest) = text.split_once(':')?;
    let (step, id) = rest.split_once(':')?;
    let step = step.parse().ok().filter(|_| !step.starts_with('+'))?;
    Some((Action::parse(action)?, step, id))
}

/// The headers of a command or compensation: the saga exchange, the step
/// (its index and name), the action and the attempt.
#[must_use]
pub fn send_headers(
    exchange: &str,
    step: u32,
    name: &str,
    action: Action,
    attempt: u32,
) -> FieldTable {
    FieldTable::from([
        ("x-saga".to_owned(), FieldValue::string(exchange)),
        ("x-saga-step".to_owned(), FieldValue::I64(step.into())),
        ("x-saga-step-name".to_owned(), FieldValue::string(name)),
        (
            "x-saga-action".to_owned(),
            FieldValue::string(action.as_str()),
        ),
        ("x-saga-attempt".to_owned(), FieldValue::I64(attempt.into())),
    ])
}

/// A saga's instance, named within the broker: vhost, saga exchange, saga id.
pub type InstanceKey = (Name, Name, String);

/// One saga exchange: its definition and instances.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Saga {
    /// The definition, from the exchange's arguments.
    pub definition: Arc<Definition>,
    /// Whether its instances are logged (the exchange is durable).
    pub durable: bool,
    /// Each step's first command and compensation headers, shared by
    /// every instance's messages ([`send_headers`] with attempt 1).
    first_sends: Vec<[Arc<FieldTable>; 2]>,
    instances: BTreeMap<String, Instance>,
    /// Ended instances, oldest first, forgotten beyond [`FINISHED_RETAINED`].
    finished: VecDeque<String>,
}

impl Saga {
    /// The headers of step `step`'s `action`, sent for the `attempt`th
    /// time: the table built at definition for a first attempt, a new one
    /// for a resend.
    #[must_use]
    pub fn send_headers(
        &self,
        exchange: &str,
        step: u32,
        action: Action,
        attempt: u32,
    ) -> Arc<FieldTable> {
        let index = step as usize;
        if attempt == 1 {
            let [command, compensation] = &self.first_sends[index];
            return Arc::clone(match action {
                Action::Command => command,
                Action::Compensation => compensation,
            });
        }
        let name = &self.definition.steps[index].name;
        Arc::new(send_headers(exchange, step, name, action, attempt))
    }

    /// The instance with this saga id, running or remembered.
    #[must_use]
    pub fn instance(&self, id: &str) -> Option<&Instance> {
        self.instances.get(id)
    }

    /// Every instance held, by saga id.
    pub fn instances(&self) -> impl Iterator<Item = &Instance> {
        self.instances.values()
    }

    /// How many are running (not ended).
    #[must_use]
    pub fn running(&self) -> usize {
        self.instances.len() - self.finished.len()
    }

    /// The ended instances, oldest first, then the running ones: the order
    /// a snapshot logs them in, so that replay forgets the same ones.
    pub fn instances_in_log_order(&self) -> impl Iterator<Item = &Instance> {
        let finished = self.finished.iter().map(|id| &self.instances[id]);
        let running = self.instances.values().filter(|i| !i.phase.is_terminal());
        finished.chain(running)
    }
}

/// Every saga exchange and instance, with the deadlines of the running ones.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Sagas {
    sagas: BTreeMap<(Name, Name), Saga>,
    deadlines: BTreeSet<(Instant, InstanceKey)>,
    /// Replies and starts that changed nothing, by reason.
    ignored: BTreeMap<Ignored, u64>,
}

impl Sagas {
    /// Defines the saga of a new `x-saga` exchange.
    pub fn define(&mut self, vhost: Name, exchange: Name, definition: Definition, durable: bool) {
        let first_sends = (0u32..)
            .zip(&definition.steps)
            .map(|(index, step)| {
                [Action::Command, Action::Compensation]
                    .map(|action| Arc::new(send_headers(&exchange, index, &step.name, action, 1)))
            })
            .collect();
        let saga = Saga {
            definition: Arc::new(definition),
            durable,
            first_sends,
            instances: BTreeMap::new(),
            finished: VecDeque::new(),
        };
        self.sagas.insert((vhost, exchange), saga);
    }

    /// A saga exchange was deleted: its instances go with it.
    pub fn remove(&mut self, vhost: &Name, exchange: &Name) {
        if self
            .sagas
            .remove(&(vhost.clone(), exchange.clone()))
            .is_some()
        {
            self.deadlines
                .retain(|(_, (v, e, _))| v != vhost || e != exchange);
        }
    }

    /// The saga of an exchange.
    #[must_use]
    pub fn saga(&self, vhost: &str, exchange: &str) -> Option<&Saga> {
        self.sagas.get(&(Name::from(vhost), Name::from(exchange)))
    }

    /// Every saga exchange, by (vhost, name).
    pub fn iter(&self) -> impl Iterator<Item = (&(Name, Name), &Saga)> {
        self.sagas.iter()
    }

    /// Starts saga `id` on an exchange that defines one.
    pub fn start(
        &mut self,
        vhost: &Name,
        exchange: &Name,
        (id, payload, content_type): (String, Bytes, Option<String>),
        now: Instant,
    ) -> Effect {
        let saga = self
            .sagas
            .get_mut(&(vhost.clone(), exchange.clone()))
            .expect("a saga exchange defines its saga");
        let refused = if saga.instances.contains_key(&id) {
            Some(Ignored::DuplicateStart)
        } else if saga.running() >= RUNNING_MAX {
            Some(Ignored::TooManyRunning)
        } else {
            None
        };
        if let Some(reason) = refused {
            return self.ignore(reason);
        }
        let (instance, effect) =
            Instance::start(id.clone(), payload, content_type, &saga.definition, now);
        let deadline = instance.deadline.expect("a started saga waits");
        saga.instances.insert(id.clone(), instance);
        self.deadlines
            .insert((deadline, (vhost.clone(), exchange.clone(), id)));
        effect
    }

    /// Hands an input to one instance: `apply` makes the transition, and the
    /// deadlines and the remembered ended sagas follow it.
    pub fn transition(
        &mut self,
        key: &InstanceKey,
        apply: impl FnOnce(&mut Instance, &Definition) -> Effect,
    ) -> Effect {
        let (vhost, exchange, id) = key;
        let Some(saga) = self.sagas.get_mut(&(vhost.clone(), exchange.clone())) else {
            return self.ignore(Ignored::UnknownSaga);
        };
        let Some(instance) = saga.instances.get_mut(id) else {
            return self.ignore(Ignored::UnknownSaga);
        };
        let before = instance.deadline;
        let effect = apply(instance, &saga.definition);
        let after = instance.deadline;
        if before != after {
            if let Some(at) = before {
                self.deadlines.remove(&(at, key.clone()));
            }
            if let Some(at) = after {
                self.deadlines.insert((at, key.clone()));
            }
        }
        if effect == Effect::End {
            saga.finished.push_back(id.clone());
        }
        if let Effect::Ignored(reason) = effect {
            return self.ignore(reason);
        }
        effect
    }

    /// Forgets the oldest ended sagas of an exchange beyond what it
    /// remembers. Called after the outcome of an ended saga is sent.
    pub fn forget_beyond_retained(&mut self, vhost: &Name, exchange: &Name) {
        if let Some(saga) = self.sagas.get_mut(&(vhost.clone(), exchange.clone())) {
            while saga.finished.len() > FINISHED_RETAINED {
                let id = saga.finished.pop_front().expect("over the bound");
                saga.instances.remove(&id);
            }
        }
    }

    /// Puts back an instance from the log (the latest record of it wins).
    pub fn install(&mut self, vhost: &Name, exchange: &Name, instance: Instance) {
        let Some(saga) = self.sagas.get_mut(&(vhost.clone(), exchange.clone())) else {
            return;
        };
        let key = (vhost.clone(), exchange.clone(), instance.id.clone());
        if let Some(old) = saga.instances.get(&instance.id) {
            if let Some(at) = old.deadline {
                self.deadlines.remove(&(at, key.clone()));
            }
            if old.phase.is_terminal() {
                saga.finished.retain(|id| *id != instance.id);
            }
        }
        match instance.deadline {
            Some(at) => {
                self.deadlines.insert((at, key));
            }
            None => saga.finished.push_back(instance.id.clone()),
        }
        saga.instances.insert(instance.id.clone(), instance);
        self.forget_beyond_retained(vhost, exchange);
    }

    /// The earliest deadline of a running saga.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.first().map(|(at, _)| *at)
    }

    /// The instance whose deadline passed first, if one is due by `now`.
    #[must_use]
    pub fn due(&self, now: Instant) -> Option<InstanceKey> {
        self.deadlines
            .first()
            .filter(|(at, _)| *at <= now)
            .map(|(_, key)| key.clone())
    }

    /// Counts an input that changed nothing.
    pub fn ignore(&mut self, reason: Ignored) -> Effect {
        *self.ignored.entry(reason).or_default() += 1;
        Effect::Ignored(reason)
    }

    /// How many inputs were ignored for `reason`.
    #[must_use]
    pub fn ignored(&self, reason: Ignored) -> u64 {
        self.ignored.get(&reason).copied().unwrap_or(0)
    }

    /// Checks every instance and that exactly the running ones have a deadline.
    ///
    /// # Panics
    /// When an invariant is broken.
    pub fn assert_invariants(&self) {
        let mut waiting = 0;
        for ((vhost, exchange), saga) in &self.sagas {
            assert!(
                saga.finished.len() <= FINISHED_RETAINED,
                "ended sagas bounded"
            );
            assert!(saga.running() <= RUNNING_MAX, "running sagas bounded");
            for instance in saga.instances.values() {
                instance.assert_invariants(&saga.definition);
                if let Some(at) = instance.deadline {
                    waiting += 1;
                    let key = (vhost.clone(), exchange.clone(), instance.id.clone());
                    assert!(
                        self.deadlines.contains(&(at, key)),
                        "a running saga's deadline is armed"
                    );
                }
            }
            let ended = saga.instances.values().filter(|i| i.phase.is_terminal());
            assert_eq!(
                ended.count(),
                saga.finished.len(),
                "every ended saga is listed once"
            );
        }
        assert_eq!(
            waiting,
            self.deadlines.len(),
            "no deadline outlives its saga"
        );
    }
}

#[cfg(test)]
mod tests;
