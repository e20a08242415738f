//! Sagas run by the broker (SEMANTICS.md section 10), through the AMQP
//! commands unmodified clients send: an `x-saga` exchange defines one, a
//! publish to it starts one, participants reply to `amq.saga.<name>`.
//!
//! Every test is named after the rule it checks.

mod support;

use brokerlab_core::record::Change;
use brokerlab_core::saga::{Ignored, Phase};
use brokerlab_core::{Command, Event, FieldTable, FieldValue, Properties, ReplyCode};
use std::sync::Arc;
use support::{int, string, table, Delivered, Harness};

/// The seed document's order saga, three steps: (name, command, compensation).
const STEPS: [(&str, &str, &str); 3] = [
    (
        "reserve-inventory",
        "inventory.reserve",
        "inventory.release",
    ),
    ("process-payment", "payment.charge", "payment.refund"),
    ("ship-order", "shipping.ship", "shipping.cancel"),
];

fn definition(timeout_ms: i64, retries: i64) -> FieldTable {
    let steps = STEPS
        .iter()
        .map(|(name, command, compensation)| {
            FieldValue::Table(table(&[
                ("name", string(name)),
                ("command", string(command)),
                ("compensation", string(compensation)),
                ("timeout-ms", int(timeout_ms)),
                ("retries", int(retries)),
            ]))
        })
        .collect();
    table(&[("x-saga-steps", FieldValue::Array(steps))])
}

fn durable_exchange(name: &str, kind: &str, arguments: FieldTable) -> Command {
    Command::ExchangeDeclare {
        exchange: name.into(),
        kind: kind.into(),
        passive: false,
        durable: true,
        auto_delete: false,
        internal: false,
        arguments,
    }
}

fn durable_queue(name: &str) -> Command {
    Command::QueueDeclare {
        queue: name.into(),
        passive: false,
        durable: true,
        exclusive: false,
        auto_delete: false,
        arguments: FieldTable::new(),
    }
}

/// Connection 1 starts sagas, connection 2 is every participant; the saga
/// "order", a durable queue per command and compensation, and "outcomes"
/// bound to amq.topic for `saga.#`; all synced.
fn order_saga(timeout_ms: i64, retries: i64) -> Harness {
    order_saga_in(Harness::default(), timeout_ms, retries)
}

fn order_saga_in(mut broker: Harness, timeout_ms: i64, retries: i64) -> Harness {
    broker.connect(1);
    broker.connect(2);
    broker
        .send(
            1,
            1,
            durable_exchange("order", "x-saga", definition(timeout_ms, retries)),
        )
        .assert_ok();
    for (_, command, compensation) in STEPS {
        broker.send(2, 1, durable_queue(command)).assert_ok();
        broker.send(2, 1, durable_queue(compensation)).assert_ok();
    }
    broker.send(2, 1, durable_queue("outcomes")).assert_ok();
    broker
        .bind(2, 1, "outcomes", "amq.topic", "saga.#")
        .assert_ok();
    broker.sync();
    broker
}

fn persistent(message_id: &str) -> Properties {
    Properties {
        message_id: Some(message_id.into()),
        delivery_mode: Some(2),
        content_type: Some("application/json".into()),
        ..Properties::default()
    }
}

fn start(broker: &mut Harness, id: &str) {
    broker
        .publish_with(1, 1, "order", "", r#"{"orderId":7}"#, persistent(id))
        .assert_ok();
}

/// Takes the one message waiting in `queue` (none: `None`).
fn take(broker: &mut Harness, queue: &str) -> Option<Delivered> {
    let mut delivered = broker.get(2, 1, queue, true).deliveries();
    assert!(delivered.len() <= 1);
    delivered.pop()
}

fn header<'a>(delivered: &'a Delivered, name: &str) -> Option<&'a FieldValue> {
    delivered.message.properties().headers.as_ref()?.get(name)
}

/// A participant's reply to a saga message.
fn reply(broker: &mut Harness, to: &Delivered, outcome: &str) {
    let properties = to.message.properties();
    let reply = Properties {
        correlation_id: properties.correlation_id.clone(),
        headers: Some(Arc::new(table(&[("x-saga-outcome", string(outcome))]))),
        ..Properties::default()
    };
    let reply_to = properties
        .reply_to
        .clone()
        .expect("a saga message has a reply-to");
    broker
        .publish_with(2, 1, "", &reply_to, "", reply)
        .assert_ok();
}

/// Takes the message in `queue`, replies `outcome`, and syncs.
fn answer(broker: &mut Harness, queue: &str, outcome: &str) -> Delivered {
    let delivered = take(broker, queue).unwrap_or_else(|| panic!("a message in {queue}"));
    reply(broker, &delivered, outcome);
    broker.sync();
    delivered
}

fn phase(broker: &Harness, id: &str) -> Option<Phase> {
    let saga = broker.broker.sagas().saga("/", "order")?;
    saga.instance(id).map(|instance| instance.phase)
}

#[test]
fn a_command_is_routed_only_once_its_transition_is_synced() {
    let mut broker = order_saga(1_000, 0);
    start(&mut broker, "order-1");
    assert!(
        take(&mut broker, "inventory.reserve").is_none(),
        "held until synced"
    );
    broker.sync();
    let command = take(&mut broker, "inventory.reserve").expect("routed after the sync");
    let properties = command.message.properties();
    assert_eq!(properties.correlation_id.as_deref(), Some("do:0:order-1"));
    assert_eq!(properties.reply_to.as_deref(), Some("amq.saga.order"));
    assert_eq!(properties.message_id.as_deref(), Some("order-1"));
    assert_eq!(properties.delivery_mode, Some(2));
    assert_eq!(command.body_str(), r#"{"orderId":7}"#);
    assert_eq!(
        header(&command, "x-saga-step-name"),
        Some(&string("reserve-inventory"))
    );
    assert_eq!(header(&command, "x-saga-action"), Some(&string("do")));
}

#[test]
fn the_commands_of_a_step_share_one_header_table_that_names_no_saga() {
    let mut broker = order_saga(1_000, 0);
    start(&mut broker, "order-1");
    start(&mut broker, "order-2");
    broker.sync();
    let first = take(&mut broker, "inventory.reserve").expect("order-1's command");
    let second = take(&mut broker, "inventory.reserve").expect("order-2's command");
    let headers = |delivered: &Delivered| {
        Arc::clone(
            delivered
                .message
                .properties()
                .headers
                .as_ref()
                .expect("a command carries headers"),
        )
    };
    assert!(
        Arc::ptr_eq(&headers(&first), &headers(&second)),
        "built once when the saga was defined"
    );
    let shared = headers(&first);
    let names: Vec<&str> = shared.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "x-saga",
            "x-saga-action",
            "x-saga-attempt",
            "x-saga-step",
            "x-saga-step-name"
        ]
    );
    assert_eq!(header(&first, "x-saga"), Some(&string("order")));
    assert_eq!(header(&first, "x-saga-step"), Some(&FieldValue::I64(0)));
    // The saga is named by message_id and correlation_id alone.
    assert_eq!(
        second.message.properties().correlation_id.as_deref(),
        Some("do:0:order-2")
    );
}

#[test]
fn a_saga_whose_steps_all_succeed_publishes_saga_completed() {
    let mut broker = order_saga(1_000, 0);
    start(&mut broker, "order-1");
    broker.sync();
    for (_, command, _) in STEPS {
        answer(&mut broker, command, "success");
    }
    assert_eq!(phase(&broker, "order-1"), Some(Phase::Completed));
    let outcome = take(&mut broker, "outcomes").expect("the outcome is published");
    assert_eq!(outcome.message.routing_key().as_str(), "saga.completed");
    assert_eq!(header(&outcome, "x-saga-id"), Some(&string("order-1")));
    assert_eq!(header(&outcome, "x-saga-state"), Some(&string("completed")));
    assert_eq!(
        outcome.body_str(),
        r#"{"sagaId":"order-1","saga":"order","state":"completed"}"#
    );
    for (_, _, compensation) in STEPS {
        assert!(take(&mut broker, compensation).is_none(), "no compensation");
    }
}

#[test]
fn a_failed_step_compensates_the_completed_steps_in_reverse_then_publishes_saga_failed() {
    let mut broker = order_saga(1_000, 0);
    start(&mut broker, "order-1");
    broker.sync();
    answer(&mut broker, "inventory.reserve", "success");
    answer(&mut broker, "payment.charge", "success");
    answer(&mut broker, "shipping.ship", "failure");
    assert!(
        take(&mut broker, "shipping.cancel").is_none(),
        "the failed step did nothing"
    );
    assert!(
        take(&mut broker, "inventory.release").is_none(),
        "one compensation at a time"
    );
    let refund = answer(&mut broker, "payment.refund", "success");
    assert_eq!(
        refund.message.properties().correlation_id.as_deref(),
        Some("undo:1:order-1")
    );
    answer(&mut broker, "inventory.release", "success");
    assert_eq!(phase(&broker, "order-1"), Some(Phase::Compensated));
    let outcome = take(&mut broker, "outcomes").expect("the outcome is published");
    assert_eq!(outcome.message.routing_key().as_str(), "saga.failed");
    assert_eq!(
        outcome.body_str(),
        r#"{"sagaId":"order-1","saga":"order","state":"compensated","error":"step 'ship-order' failed"}"#
    );
}

#[test]
fn a_step_that_times_out_after_its_retries_is_compensated_with_its_outcome_unknown() {
    let mut broker = order_saga(1_000, 1);
    start(&mut broker, "order-1");
    broker.sync();
    answer(&mut broker, "inventory.reserve", "success");
    let first = take(&mut broker, "payment.charge").expect("the command");
    broker.run_for(1_000);
    broker.sync();
    let again = take(&mut broker, "payment.charge").expect("sent again after its timeout");
    assert_eq!(
        again.message.properties().correlation_id,
        first.message.properties().correlation_id,
        "a retry carries the same idempotency key"
    );
    assert_eq!(header(&again, "x-saga-attempt"), Some(&FieldValue::I64(2)));
    broker.run_for(1_000);
    broker.sync();
    // Its outcome unknown, the charge is refunded before the reservation is released.
    answer(&mut broker, "payment.refund", "success");
    answer(&mut broker, "inventory.release", "success");
    assert_eq!(phase(&broker, "order-1"), Some(Phase::Compensated));
}

#[test]
fn an_abort_compensates_the_step_in_flight_and_no_forward_step_follows() {
    let mut broker = order_saga(1_000, 0);
    start(&mut broker, "order-1");
    broker.sync();
    answer(&mut broker, "inventory.reserve", "success");
    let abort = Properties {
        headers: Some(Arc::new(table(&[("x-saga-abort", FieldValue::Bool(true))]))),
        ..persistent("order-1")
    };
    broker
        .publish_with(1, 1, "order", "", "", abort)
        .assert_ok();
    broker.sync();
    answer(&mut broker, "payment.charge", "success");
    assert!(
        take(&mut broker, "shipping.ship").is_none(),
        "no forward step after an abort"
    );
    answer(&mut broker, "payment.refund", "success");
    answer(&mut broker, "inventory.release", "success");
    assert_eq!(phase(&broker, "order-1"), Some(Phase::Compensated));
}

#[test]
fn a_duplicate_start_is_ignored_and_counted() {
    let mut broker = order_saga(1_000, 0);
    start(&mut broker, "order-1");
    broker.sync();
    broker
        .publish_with(1, 1, "order", "", "again", persistent("order-1"))
        .assert_ok();
    broker.sync();
    assert!(take(&mut broker, "inventory.reserve").is_some());
    assert!(
        take(&mut broker, "inventory.reserve").is_none(),
        "one instance per saga id"
    );
    assert_eq!(broker.broker.sagas().ignored(Ignored::DuplicateStart), 1);
}

#[test]
fn a_duplicate_or_stale_reply_is_ignored_as_an_event() {
    let mut broker = order_saga(1_000, 0);
    start(&mut broker, "order-1");
    broker.sync();
    let first = answer(&mut broker, "inventory.reserve", "success");
    let properties = first.message.properties();
    let stale = Properties {
        correlation_id: properties.correlation_id.clone(),
        headers: Some(Arc::new(table(&[("x-saga-outcome", string("success"))]))),
        ..Properties::default()
    };
    let step = broker.publish_with(2, 1, "", "amq.saga.order", "", stale);
    let ignored = step.events.iter().any(|event| {
        matches!(
            event,
            Event::SagaIgnored {
                reason: Ignored::NotAwaited,
                ..
            }
        )
    });
    assert!(ignored, "{:?}", step.events);
    broker.sync();
    assert!(
        take(&mut broker, "shipping.ship").is_none(),
        "the saga did not advance twice"
    );
    assert!(take(&mut broker, "payment.charge").is_some());
}

#[test]
fn a_reply_without_an_outcome_header_is_ignored_as_malformed() {
    let mut broker = order_saga(1_000, 0);
    start(&mut broker, "order-1");
    broker.sync();
    let command = take(&mut broker, "inventory.reserve").expect("the command");
    let bare = Properties {
        correlation_id: command.message.properties().correlation_id.clone(),
        ..Properties::default()
    };
    broker
        .publish_with(2, 1, "", "amq.saga.order", "", bare)
        .assert_ok();
    assert_eq!(broker.broker.sagas().ignored(Ignored::Malformed), 1);
    assert_eq!(phase(&broker, "order-1"), Some(Phase::Running));
}

#[test]
fn a_malformed_definition_is_refused_with_406_naming_the_argument() {
    let mut broker = Harness::default();
    broker.connect(1);
    let no_steps = table(&[("x-saga-steps", FieldValue::Array(Vec::new()))]);
    let step = broker.send(1, 1, durable_exchange("order", "x-saga", no_steps));
    step.assert_channel_error(ReplyCode::PreconditionFailed);
    let (_, _, text) = step.close().expect("closed");
    assert_eq!(
        text,
        "PRECONDITION_FAILED - invalid arg 'x-saga-steps' for exchange 'order' in vhost '/': \
         must hold 1 to 64 steps, not 0"
    );
}

#[test]
fn a_start_without_a_message_id_is_refused_with_406() {
    let mut broker = order_saga(1_000, 0);
    let step = broker.publish(1, 1, "order", "", "{}");
    step.assert_channel_error(ReplyCode::PreconditionFailed);
}

#[test]
fn a_start_is_confirmed_once_its_transition_is_synced() {
    let mut broker = order_saga(1_000, 0);
    broker.send(1, 1, Command::ConfirmSelect);
    let step = broker.publish_with(1, 1, "order", "", "{}", persistent("order-1"));
    assert!(step.confirms().is_empty(), "not before the sync");
    assert_eq!(broker.sync().confirms(), [(1, true)]);
}

#[test]
fn a_crash_before_the_transition_is_synced_leaves_neither_state_nor_command() {
    let mut broker = order_saga(1_000, 0);
    let synced = broker.log.len();
    start(&mut broker, "order-1");
    broker.crash_and_recover(synced);
    broker.connect(2);
    assert_eq!(phase(&broker, "order-1"), None);
    assert!(
        take(&mut broker, "inventory.reserve").is_none(),
        "no ghost command"
    );
}

#[test]
fn a_command_lost_with_a_crash_after_its_transition_was_synced_is_sent_again() {
    let mut broker = order_saga(1_000, 0);
    start(&mut broker, "order-1");
    broker.sync();
    // The command's Enqueued record, written after the sync, is lost.
    let saga_record = broker
        .log
        .iter()
        .rposition(|record| matches!(record.change, Change::Saga { .. }))
        .expect("the transition is logged");
    broker.crash_and_recover(saga_record + 1);
    broker.connect(2);
    assert_eq!(phase(&broker, "order-1"), Some(Phase::Running));
    assert!(
        take(&mut broker, "inventory.reserve").is_some(),
        "sent again: no zombie state"
    );
    assert!(take(&mut broker, "inventory.reserve").is_none(), "once");
}

#[test]
fn a_recovered_saga_resumes_where_it_was() {
    let mut broker = order_saga(1_000, 0);
    start(&mut broker, "order-1");
    broker.sync();
    answer(&mut broker, "inventory.reserve", "success");
    let all = broker.log.len();
    broker.crash_and_recover(all);
    broker.connect(2);
    let charge = take(&mut broker, "payment.charge").expect("recovered in its queue");
    assert!(charge.redelivered);
    reply(&mut broker, &charge, "success");
    broker.sync();
    assert!(
        take(&mut broker, "shipping.ship").is_some(),
        "the saga went on"
    );
    assert!(
        take(&mut broker, "inventory.reserve").is_none(),
        "nothing sent twice"
    );
}

#[test]
fn a_snapshot_keeps_running_and_ended_sagas() {
    let mut broker = order_saga(1_000, 0);
    start(&mut broker, "order-1");
    start(&mut broker, "order-2");
    broker.sync();
    answer(&mut broker, "inventory.reserve", "failure");
    let config = broker.broker.config().clone();
    let recovered = brokerlab_core::Broker::recover(config, broker.broker.snapshot());
    let saga = recovered.sagas().saga("/", "order").expect("defined");
    let phases: Vec<Phase> = saga.instances().map(|i| i.phase).collect();
    assert_eq!(phases, [Phase::Compensated, Phase::Running]);
    recovered.check_invariants();
}

/// Each saga mutant breaks the rule it is named after, as a client sees it.
#[cfg(feature = "mutants")]
mod mutants {
    use super::*;
    use brokerlab_core::{Config, Mutant};

    fn mutant_saga(mutant: Option<Mutant>) -> Harness {
        let config = Config {
            events: true,
            mutant,
            ..Config::default()
        };
        order_saga_in(Harness::new(config), 1_000, 0)
    }

    /// Runs the saga `order-1` through `script` with and without `mutant`,
    /// and returns whether `queue` then holds a message, for each.
    fn with_and_without(mutant: Mutant, script: impl Fn(&mut Harness), queue: &str) -> [bool; 2] {
        [None, Some(mutant)].map(|mutant| {
            let mut broker = mutant_saga(mutant);
            start(&mut broker, "order-1");
            broker.sync();
            script(&mut broker);
            take(&mut broker, queue).is_some()
        })
    }

    #[test]
    fn compensate_in_forward_order_releases_the_inventory_before_the_refund() {
        let script = |broker: &mut Harness| {
            answer(broker, "inventory.reserve", "success");
            answer(broker, "payment.charge", "success");
            answer(broker, "shipping.ship", "failure");
        };
        let released = with_and_without(
            Mutant::SagaCompensateInForwardOrder,
            script,
            "inventory.release",
        );
        assert_eq!(released, [false, true]);
    }

    #[test]
    fn skip_unknown_outcome_compensation_never_refunds_a_timed_out_charge() {
        let script = |broker: &mut Harness| {
            answer(broker, "inventory.reserve", "success");
            broker.run_for(1_000);
            broker.sync();
        };
        let refunded = with_and_without(
            Mutant::SagaSkipUnknownOutcomeCompensation,
            script,
            "payment.refund",
        );
        assert_eq!(refunded, [true, false]);
    }

    #[test]
    fn advance_twice_on_duplicate_reply_ships_an_unpaid_order() {
        let script = |broker: &mut Harness| {
            let reserve = answer(broker, "inventory.reserve", "success");
            reply(broker, &reserve, "success");
            broker.sync();
        };
        let shipped = with_and_without(
            Mutant::SagaAdvanceTwiceOnDuplicateReply,
            script,
            "shipping.ship",
        );
        assert_eq!(shipped, [false, true]);
    }

    #[test]
    fn state_without_command_routes_a_command_before_its_transition_is_synced() {
        let routed_early = [None, Some(Mutant::SagaStateWithoutCommand)].map(|mutant| {
            let mut broker = mutant_saga(mutant);
            start(&mut broker, "order-1");
            take(&mut broker, "inventory.reserve").is_some()
        });
        assert_eq!(routed_early, [false, true]);
    }

    #[test]
    fn forward_after_abort_ships_an_aborted_order() {
        let script = |broker: &mut Harness| {
            answer(broker, "inventory.reserve", "success");
            let abort = Properties {
                headers: Some(Arc::new(table(&[("x-saga-abort", FieldValue::Bool(true))]))),
                ..persistent("order-1")
            };
            broker
                .publish_with(1, 1, "order", "", "", abort)
                .assert_ok();
            broker.sync();
            answer(broker, "payment.charge", "success");
        };
        let shipped = with_and_without(Mutant::SagaForwardAfterAbort, script, "shipping.ship");
        assert_eq!(shipped, [false, true]);
    }
}
