//! The broker's side of the sagas ([`crate::saga`]): a publish to an
//! `x-saga` exchange starts or aborts one, a publish to `amq.saga.<name>`
//! through the default exchange is a participant's reply, and each
//! transition is logged as one `Change::Saga` record holding the instance's
//! new state and the messages it sends.
//!
//! Those messages are routed only once their record is synced, so that no
//! participant acts on a command whose transition a crash could take back
//! (a ghost command), and a replay routes again the ones the log shows were
//! never enqueued, so that no saga waits for a command that was lost with a
//! crash (a zombie state). The publish that caused a transition is
//! confirmed once its record is synced.

use super::{Broker, Fault};
use crate::config::Mutant;
use crate::field::{FieldTable, FieldValue};
use crate::message::{Envelope, Message, MessageId, Name, Properties, SharedMessage};
use crate::protocol::{Event, ReplyCode};
use crate::record::Change;
use crate::saga::{
    self, Action, Definition, Effect, Ignored, Instance, InstanceKey, Phase, Quirks,
};
use std::sync::Arc;

/// The most saga transitions one input runs (its own, and the deadlines due).
/// Every transition disarms or moves a deadline, so the bound is the
/// deadlines armed; this is only a guard against a broken invariant.
const TRANSITIONS_PER_INPUT_MAX: usize = 1 << 24;

impl Broker {
    /// The saga definition of a new `x-saga` exchange, or 406 naming the bad argument.
    pub(super) fn saga_definition(
        vhost: &str,
        name: &str,
        arguments: &FieldTable,
    ) -> Result<Definition, Fault> {
        Definition::parse(arguments).map_err(|bad| {
            Fault::new(
                ReplyCode::PreconditionFailed,
                format!(
                    "invalid arg '{}' for exchange '{name}' in vhost '{vhost}': {}",
                    bad.argument, bad.reason
                ),
            )
        })
    }

    /// A publish to a saga exchange needs a `message_id`: the saga id (406).
    pub(super) fn check_saga_start(
        message_id: Option<&String>,
        exchange: &str,
    ) -> Result<(), Fault> {
        match message_id {
            Some(id) if !id.is_empty() => Ok(()),
            _ => Err(Fault::new(
                ReplyCode::PreconditionFailed,
                format!("a publish to saga exchange '{exchange}' needs a message_id (the saga id)"),
            )),
        }
    }

    /// The sagas: their definitions and instances.
    #[must_use]
    pub fn sagas(&self) -> &saga::Sagas {
        &self.sagas
    }

    /// A publish to saga exchange `exchange`: starts the saga its
    /// `message_id` names, or aborts it when it carries `x-saga-abort`.
    /// Returns whether it was refused (over the bound of running sagas)
    /// and the lsn its confirm waits for.
    pub(super) fn saga_publish(
        &mut self,
        vhost: &Name,
        exchange: &Name,
        message: &SharedMessage,
    ) -> (bool, Option<u64>) {
        let properties = message.properties();
        let id = properties
            .message_id
            .clone()
            .expect("a saga publish was checked for its message_id");
        let aborts = properties
            .headers
            .as_ref()
            .is_some_and(|headers| headers.contains_key(saga::ABORT_HEADER));
        let (now, quirks) = (self.now, self.saga_quirks());
        let key = (vhost.clone(), exchange.clone(), id);
        let effect = if aborts {
            self.sagas.transition(&key, |i, d| i.abort(d, quirks, now))
        } else {
            let start = (
                key.2.clone(),
                message.body.to_bytes(),
                properties.content_type.clone(),
            );
            self.sagas.start(vhost, exchange, start, now)
        };
        let refused = effect == Effect::Ignored(Ignored::TooManyRunning);
        (refused, self.saga_effect(&key, effect, Some(message.id)))
    }

    /// Whether a default-exchange publish with this routing key is a saga reply.
    #[inline]
    pub(super) fn is_saga_reply(routing_key: &str) -> bool {
        routing_key.starts_with(saga::REPLY_PREFIX)
    }

    /// A participant's reply, published to `amq.saga.<exchange>`: hands it
    /// to the saga its correlation id names. Returns the lsn its confirm
    /// waits for.
    pub(super) fn saga_reply(&mut self, vhost: &Name, message: &SharedMessage) -> Option<u64> {
        let exchange: Name = message.routing_key()[saga::REPLY_PREFIX.len()..].into();
        let properties = message.properties();
        let outcome = properties
            .headers
            .as_ref()
            .and_then(|headers| headers.get(saga::OUTCOME_HEADER))
            .and_then(FieldValue::as_str);
        let success = match outcome {
            Some("success") => Some(true),
            Some("failure") => Some(false),
            _ => None,
        };
        let named = properties
            .correlation_id
            .as_deref()
            .and_then(saga::parse_correlation_id);
        let (Some(success), Some((action, step, id))) = (success, named) else {
            let effect = self.sagas.ignore(Ignored::Malformed);
            let key = (vhost.clone(), exchange, String::new());
            return self.saga_effect(&key, effect, Some(message.id));
        };
        let (now, quirks) = (self.now, self.saga_quirks());
        let key = (vhost.clone(), exchange, id.to_owned());
        let effect = self.sagas.transition(&key, |instance, definition| {
            instance.on_reply(definition, quirks, (action, step), success, now)
        });
        self.saga_effect(&key, effect, Some(message.id))
    }

    /// Runs the saga deadlines due by now: a command or compensation sent
    /// again, or given up on.
    #[inline]
    pub(super) fn fire_saga_timers(&mut self) {
        if self.sagas.poll_timeout().is_none_or(|at| at > self.now) {
            return;
        }
        let (now, quirks) = (self.now, self.saga_quirks());
        for _ in 0..TRANSITIONS_PER_INPUT_MAX {
            let Some(key) = self.sagas.due(now) else {
                return;
            };
            self.saga_timed_out(&key);
            let effect = self.sagas.transition(&key, |instance, definition| {
                instance.on_timeout(definition, quirks, now)
            });
            self.saga_effect(&key, effect, None);
        }
        panic!("saga deadlines due at once are bounded by the deadlines armed");
    }

    /// Reports the deadline of the instance `key` acting, on what it
    /// waited for.
    fn saga_timed_out(&mut self, key: &InstanceKey) {
        let (vhost, exchange, id) = key;
        let instance = self
            .sagas
            .saga(vhost, exchange)
            .and_then(|saga| saga.instance(id))
            .expect("a due deadline names an instance");
        let action = match instance.phase {
            Phase::Running => Action::Command,
            _ => Action::Compensation,
        };
        let step = instance.step;
        let exchange = self.hold_name(exchange.clone());
        let saga = self.hold_name(Name::from(id.as_str()));
        self.event(Event::SagaTimedOut {
            exchange,
            saga,
            action,
            step,
        });
    }

    /// Carries out a transition's effect: logs the instance and the message
    /// it sends as one record (held until synced), or counts an ignored
    /// input as an event. Returns the lsn of the record.
    fn saga_effect(
        &mut self,
        key: &InstanceKey,
        effect: Effect,
        cause: Option<MessageId>,
    ) -> Option<u64> {
        let (vhost, exchange, id) = key;
        if let Effect::Ignored(reason) = effect {
            if let Some(message) = cause {
                let exchange = self.hold_name(exchange.clone());
                self.event(Event::SagaIgnored {
                    message,
                    exchange,
                    reason,
                });
            }
            return None;
        }
        let saga = self
            .sagas
            .saga(vhost, exchange)
            .expect("a transition names a defined saga");
        let (definition, durable) = (Arc::clone(&saga.definition), saga.durable);
        let headers = match effect {
            Effect::Send {
                action,
                step,
                attempt,
            } => Some(saga.send_headers(exchange, step, action, attempt)),
            _ => None,
        };
        let instance = saga
            .instance(id)
            .expect("a transition names an instance")
            .clone();
        let send = self.saga_message(exchange, &definition, &instance, effect, headers);
        if effect == Effect::End {
            self.sagas.forget_beyond_retained(vhost, exchange);
        }
        // The mutant sends at once and logs the instance apart from it.
        if !durable || self.is_mutant(Mutant::SagaStateWithoutCommand) {
            self.route_saga_message(vhost, send);
            if !durable {
                return None;
            }
            return Some(self.log_saga(vhost, exchange, instance, Vec::new()));
        }
        let lsn = self.log_saga(vhost, exchange, instance, vec![send.clone()]);
        self.saga_outbox
            .entry(lsn)
            .or_default()
            .push((key.clone(), send));
        Some(lsn)
    }

    fn log_saga(
        &mut self,
        vhost: &Name,
        exchange: &Name,
        instance: Instance,
        sends: Vec<SharedMessage>,
    ) -> u64 {
        self.persist(Change::Saga {
            vhost: vhost.clone(),
            exchange: exchange.clone(),
            instance,
            sends,
        })
    }

    /// Routes the saga messages whose records are synced by `upto`.
    pub(super) fn release_saga_sends(&mut self, upto: u64) {
        while let Some(entry) = self.saga_outbox.first_entry() {
            if *entry.key() > upto {
                return;
            }
            for ((vhost, _, _), message) in entry.remove() {
                self.route_saga_message(&vhost, message);
            }
        }
    }

    /// The message an effect sends: the step's command or compensation
    /// (with `headers`, the saga's for it), or the saga's outcome.
    fn saga_message(
        &mut self,
        exchange: &Name,
        definition: &Definition,
        instance: &Instance,
        effect: Effect,
        headers: Option<Arc<FieldTable>>,
    ) -> SharedMessage {
        let id = MessageId(self.next_message_id);
        self.next_message_id += 1;
        let mut properties = Properties {
            content_type: instance.content_type.clone(),
            delivery_mode: Some(2),
            message_id: Some(instance.id.clone()),
            timestamp: Some(self.now.as_secs()),
            ..Properties::default()
        };
        let (target_exchange, routing_key, body) = match effect {
            Effect::Send { action, step, .. } => {
                let step_definition = &definition.steps[step as usize];
                let target = match action {
                    Action::Command => &step_definition.command,
                    Action::Compensation => &step_definition.compensation,
                };
                properties.headers = headers;
                properties.correlation_id = Some(saga::correlation_id(action, step, &instance.id));
                properties.reply_to = Some(format!("{}{exchange}", saga::REPLY_PREFIX));
                let (exchange, key) = (target.exchange.clone(), target.routing_key.clone());
                (exchange, key, instance.payload.clone())
            }
            Effect::End => {
                let headers = FieldTable::from([
                    ("x-saga".to_owned(), FieldValue::string(exchange)),
                    ("x-saga-id".to_owned(), FieldValue::string(&instance.id)),
                    (
                        "x-saga-state".to_owned(),
                        FieldValue::string(instance.phase.as_str()),
                    ),
                ]);
                properties.headers = Some(Arc::new(headers));
                properties.content_type = Some("application/json".to_owned());
                properties.correlation_id = Some(instance.id.clone());
                let key = if instance.phase == Phase::Completed {
                    "saga.completed"
                } else {
                    "saga.failed"
                };
                let body = outcome_json(exchange, instance);
                (definition.outcome_exchange.clone(), key.into(), body.into())
            }
            Effect::Ignored(_) => unreachable!("an ignored input sends nothing"),
        };
        SharedMessage::new(Message {
            id,
            envelope: Envelope::shared(target_exchange, routing_key, Arc::new(properties)),
            body: body.into(),
        })
    }

    /// The faults the configured mutant puts into the saga transitions.
    fn saga_quirks(&self) -> Quirks {
        Quirks {
            compensate_in_forward_order: self.is_mutant(Mutant::SagaCompensateInForwardOrder),
            skip_unknown_outcome: self.is_mutant(Mutant::SagaSkipUnknownOutcomeCompensation),
            advance_twice_on_duplicate: self.is_mutant(Mutant::SagaAdvanceTwiceOnDuplicateReply),
            forward_after_abort: self.is_mutant(Mutant::SagaForwardAfterAbort),
        }
    }
}

/// The outcome's body, as the seed document's orchestrator publishes it:
/// `{"sagaId": ..., "saga": ..., "state": ..., "error": ...}`.
fn outcome_json(exchange: &str, instance: &Instance) -> String {
    let mut json = format!(
        "{{\"sagaId\":{},\"saga\":{},\"state\":{}",
        json_string(&instance.id),
        json_string(exchange),
        json_string(instance.phase.as_str())
    );
    if let Some(error) = &instance.error {
        json.push_str(",\"error\":");
        json.push_str(&json_string(error));
    }
    json.push('}');
    json
}

/// A JSON string literal (RFC 8259: quote, backslash and control characters escaped).
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_outcome_body_is_json_with_its_strings_escaped() {
        assert_eq!(super::json_string("a\"b\\c\u{1}"), "\"a\\\"b\\\\c\\u0001\"");
    }
}
