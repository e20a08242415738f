use super::*;

fn definition(steps: usize, retries: u32) -> Definition {
    let steps = (0..steps)
        .map(|i| Step {
            name: format!("s{i}"),
            command: Target {
                exchange: "".into(),
                routing_key: format!("s{i}.do").into(),
            },
            compensation: Target {
                exchange: "".into(),
                routing_key: format!("s{i}.undo").into(),
            },
            timeout_ms: 1_000,
            retries,
        })
        .collect();
    Definition {
        steps,
        outcome_exchange: "amq.topic".into(),
    }
}

fn at(ms: u64) -> Instant {
    Instant(0).plus_ms(ms)
}

fn send(action: Action, step: u32, attempt: u32) -> Effect {
    Effect::Send {
        action,
        step,
        attempt,
    }
}

const DO: Action = Action::Command;
const UNDO: Action = Action::Compensation;
const OK: bool = true;
const FAIL: bool = false;

fn started(steps: usize, retries: u32) -> (Definition, Instance) {
    let definition = definition(steps, retries);
    let (instance, effect) = Instance::start(
        "order-1".into(),
        Bytes::from_static(b"{}"),
        None,
        &definition,
        at(0),
    );
    assert_eq!(effect, send(DO, 0, 1));
    instance.assert_invariants(&definition);
    (definition, instance)
}

/// Feeds replies, checking the instance after each, and returns the effects.
fn replies(
    definition: &Definition,
    instance: &mut Instance,
    replies: &[(Action, u32, bool)],
) -> Vec<Effect> {
    replies
        .iter()
        .map(|&(action, step, success)| {
            let effect = instance.on_reply(
                definition,
                Quirks::default(),
                (action, step),
                success,
                at(1),
            );
            instance.assert_invariants(definition);
            effect
        })
        .collect()
}

#[test]
fn a_saga_sends_its_steps_in_order_and_completes() {
    let (definition, mut saga) = started(3, 0);
    let effects = replies(
        &definition,
        &mut saga,
        &[(DO, 0, OK), (DO, 1, OK), (DO, 2, OK)],
    );
    assert_eq!(effects, [send(DO, 1, 1), send(DO, 2, 1), Effect::End]);
    assert_eq!(saga.phase, Phase::Completed);
    assert_eq!((saga.completed, saga.to_compensate), (3, 0));
}

#[test]
fn a_failed_step_compensates_the_completed_steps_in_reverse_order_one_at_a_time() {
    let (definition, mut saga) = started(3, 0);
    let effects = replies(
        &definition,
        &mut saga,
        &[
            (DO, 0, OK),
            (DO, 1, OK),
            (DO, 2, FAIL),
            (UNDO, 1, OK),
            (UNDO, 0, OK),
        ],
    );
    assert_eq!(
        effects,
        [
            send(DO, 1, 1),
            send(DO, 2, 1),
            send(UNDO, 1, 1),
            send(UNDO, 0, 1),
            Effect::End
        ]
    );
    assert_eq!(saga.phase, Phase::Compensated);
    assert_eq!(saga.error.as_deref(), Some("step 's2' failed"));
}

#[test]
fn a_failed_first_step_ends_compensated_with_nothing_to_compensate() {
    let (definition, mut saga) = started(3, 0);
    assert_eq!(
        replies(&definition, &mut saga, &[(DO, 0, FAIL)]),
        [Effect::End]
    );
    assert_eq!((saga.phase, saga.to_compensate), (Phase::Compensated, 0));
}

#[test]
fn a_compensation_is_not_sent_before_the_previous_one_is_confirmed() {
    let (definition, mut saga) = started(3, 0);
    replies(
        &definition,
        &mut saga,
        &[(DO, 0, OK), (DO, 1, OK), (DO, 2, FAIL)],
    );
    // The reply for step 0's compensation comes before step 1's: ignored.
    let early = replies(&definition, &mut saga, &[(UNDO, 0, OK)]);
    assert_eq!(early, [Effect::Ignored(Ignored::NotAwaited)]);
    assert_eq!((saga.step, saga.compensated), (1, 0));
}

#[test]
fn a_timed_out_step_is_sent_again_then_compensated_with_its_outcome_unknown() {
    let (definition, mut saga) = started(3, 1);
    replies(&definition, &mut saga, &[(DO, 0, OK)]);
    let quirks = Quirks::default();
    assert_eq!(
        saga.on_timeout(&definition, quirks, at(1_001)),
        send(DO, 1, 2)
    );
    assert_eq!(saga.deadline, Some(at(2_001)));
    // After its retries, step 1's outcome is unknown: it is compensated first.
    assert_eq!(
        saga.on_timeout(&definition, quirks, at(2_001)),
        send(UNDO, 1, 1)
    );
    assert_eq!(
        (saga.to_compensate, saga.error.as_deref()),
        (2, Some("step 's1' timed out"))
    );
    saga.assert_invariants(&definition);
}

#[test]
fn a_late_reply_after_a_timeout_moved_the_saga_on_is_ignored() {
    let (definition, mut saga) = started(2, 0);
    saga.on_timeout(&definition, Quirks::default(), at(1_000));
    assert_eq!(saga.phase, Phase::Compensating);
    let late = replies(&definition, &mut saga, &[(DO, 0, OK)]);
    assert_eq!(late, [Effect::Ignored(Ignored::NotAwaited)]);
    assert_eq!(saga.completed, 0);
}

#[test]
fn an_abort_compensates_the_completed_steps_and_the_one_in_flight() {
    let (definition, mut saga) = started(3, 0);
    replies(&definition, &mut saga, &[(DO, 0, OK)]);
    assert_eq!(
        saga.abort(&definition, Quirks::default(), at(5)),
        send(UNDO, 1, 1)
    );
    assert_eq!(saga.to_compensate, 2);
    // No forward step after the abort: step 1's success changes nothing.
    assert_eq!(
        replies(&definition, &mut saga, &[(DO, 1, OK)]),
        [Effect::Ignored(Ignored::NotAwaited)]
    );
    assert_eq!(
        saga.abort(&definition, Quirks::default(), at(6)),
        Effect::Ignored(Ignored::NotAwaited)
    );
}

#[test]
fn a_duplicate_or_stale_reply_changes_nothing() {
    let (definition, mut saga) = started(3, 0);
    let effects = replies(
        &definition,
        &mut saga,
        &[(DO, 0, OK), (DO, 0, OK), (DO, 0, FAIL), (DO, 2, OK)],
    );
    assert_eq!(effects[1..], [Effect::Ignored(Ignored::NotAwaited); 3]);
    assert_eq!((saga.step, saga.completed), (1, 1));
}

#[test]
fn a_reply_to_an_ended_saga_is_ignored() {
    let (definition, mut saga) = started(1, 0);
    replies(&definition, &mut saga, &[(DO, 0, OK)]);
    let after = replies(&definition, &mut saga, &[(DO, 0, OK), (UNDO, 0, OK)]);
    assert_eq!(after, [Effect::Ignored(Ignored::Finished); 2]);
}

#[test]
fn a_failed_or_unanswered_compensation_leaves_the_saga_needing_attention() {
    let (definition, mut saga) = started(2, 0);
    replies(&definition, &mut saga, &[(DO, 0, OK), (DO, 1, FAIL)]);
    let mut timed_out = saga.clone();
    assert_eq!(
        replies(&definition, &mut saga, &[(UNDO, 0, FAIL)]),
        [Effect::End]
    );
    assert_eq!(saga.phase, Phase::FailedNeedsAttention);
    assert_eq!(
        timed_out.on_timeout(&definition, Quirks::default(), at(2_000)),
        Effect::End
    );
    assert_eq!(timed_out.phase, Phase::FailedNeedsAttention);
}

#[test]
fn a_correlation_id_names_the_action_the_step_and_the_saga() {
    let id = correlation_id(Action::Compensation, 2, "order:7");
    assert_eq!(id, "undo:2:order:7");
    assert_eq!(
        parse_correlation_id(&id),
        Some((Action::Compensation, 2, "order:7"))
    );
    for bad in ["", "do", "do:x:1", "redo:1:a", "do:+1:a", "do:-1:a"] {
        assert_eq!(parse_correlation_id(bad), None, "{bad}");
    }
}

#[test]
fn a_saga_id_starts_once_and_its_deadlines_follow_its_transitions() {
    let mut sagas = Sagas::default();
    let (vhost, exchange): (Name, Name) = ("/".into(), "order".into());
    sagas.define(vhost.clone(), exchange.clone(), definition(2, 0), true);
    let start = ("order-1".to_owned(), Bytes::new(), None);
    assert_eq!(
        sagas.start(&vhost, &exchange, start.clone(), at(0)),
        send(DO, 0, 1)
    );
    assert_eq!(
        sagas.start(&vhost, &exchange, start, at(0)),
        Effect::Ignored(Ignored::DuplicateStart)
    );
    assert_eq!(sagas.poll_timeout(), Some(at(1_000)));
    let key = (vhost.clone(), exchange.clone(), "order-1".to_owned());
    let quirks = Quirks::default();
    let ok = |step| {
        move |i: &mut Instance, d: &Definition| i.on_reply(d, quirks, (DO, step), OK, at(10))
    };
    assert_eq!(sagas.transition(&key, ok(0)), send(DO, 1, 1));
    assert_eq!(sagas.poll_timeout(), Some(at(1_010)));
    assert_eq!(sagas.due(at(1_009)), None);
    assert_eq!(sagas.transition(&key, ok(1)), Effect::End);
    assert_eq!(sagas.poll_timeout(), None);
    sagas.assert_invariants();
    assert_eq!(sagas.ignored(Ignored::DuplicateStart), 1);
    sagas.remove(&vhost, &exchange);
    assert_eq!(
        sagas.transition(&key, ok(0)),
        Effect::Ignored(Ignored::UnknownSaga)
    );
}

#[test]
fn ended_sagas_are_remembered_up_to_their_bound() {
    let mut sagas = Sagas::default();
    let (vhost, exchange): (Name, Name) = ("/".into(), "order".into());
    sagas.define(vhost.clone(), exchange.clone(), definition(1, 0), false);
    for n in 0..=FINISHED_RETAINED {
        let id = format!("order-{n}");
        sagas.start(&vhost, &exchange, (id.clone(), Bytes::new(), None), at(0));
        let key = (vhost.clone(), exchange.clone(), id);
        let end = sagas.transition(&key, |i, d| {
            i.on_reply(d, Quirks::default(), (DO, 0), OK, at(1))
        });
        assert_eq!(end, Effect::End);
        sagas.forget_beyond_retained(&vhost, &exchange);
    }
    let saga = sagas.saga("/", "order").unwrap();
    assert!(
        saga.instance("order-0").is_none(),
        "the oldest is forgotten"
    );
    assert!(saga.instance("order-1").is_some());
    sagas.assert_invariants();
}
