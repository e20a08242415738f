//! `brokerlab check` catches the core's mutants: a broken broker makes it
//! exit 129 with a counterexample, and a panic in the core is one of them
//! (`no-panic`), never a crashed checker (exit 101).

use brokerlab::core::Mutant;
use std::process::Command;

/// The model whose standard settings catch `mutant` (the smallest that
/// does), with the overrides it needs. The match is exhaustive, so a new
/// mutant does not compile until it is placed here.
fn catcher(mutant: Mutant) -> (&'static str, &'static [&'static str]) {
    match mutant {
        Mutant::LoseOnRequeue | Mutant::RequeueToTail | Mutant::NoRedeliveredFlag => {
            ("ordering", &[])
        }
        Mutant::DeliverExpired | Mutant::IgnorePrefetch => ("ttl", &[]),
        Mutant::ConfirmUnroutableAsNack | Mutant::DlxDropsXDeath => ("dlq", &[]),
        Mutant::ConfirmBeforeSync => ("idempotency", &[]),
        Mutant::DoubleDeliver => ("single-active-consumer", &[]),
        Mutant::AcceptStaleGenerationCommit | Mutant::AssignWithoutRevoke => {
            ("consumer-group", &[])
        }
        // A recovery mutant needs a crash, which the standard consumer
        // group leaves out; bounded at the depth of its counterexample
        // (18 steps) so that a debug build runs it in seconds.
        Mutant::OffsetRegressOnRecovery => ("consumer-group", &["--crashes", "1", "--depth", "20"]),
        Mutant::IdempotenceOff | Mutant::AckBeforeSync => ("idempotent-producer", &[]),
        Mutant::FetchSkipsBatchTail => ("stream-fetch", &[]),
        // The saga mutants, each bounded two steps past its shortest
        // counterexample (models/tests/mutants.rs) so that a debug build
        // runs it in seconds rather than the whole model. A transition
        // logged apart from its message shows only across a crash:
        // `--crashes 1` takes the saga's crash configuration.
        Mutant::SagaCompensateInForwardOrder => ("saga", &["--depth", "16"]),
        Mutant::SagaSkipUnknownOutcomeCompensation | Mutant::SagaAdvanceTwiceOnDuplicateReply => {
            ("saga", &["--depth", "9"])
        }
        Mutant::SagaForwardAfterAbort => ("saga", &["--depth", "14"]),
        Mutant::SagaStateWithoutCommand => ("saga", &["--crashes", "1", "--depth", "16"]),
        Mutant::PubSubStoreAndForward => ("pubsub", &[]),
        // The SQS mutants, each bounded two steps past its shortest
        // counterexample (models/tests/mutants.rs).
        Mutant::SqsVisibilityNeverExpires => ("sqs-visibility", &["--depth", "14"]),
        Mutant::SqsDeleteWithStaleHandleSucceeds => ("sqs-visibility", &["--depth", "9"]),
        Mutant::SqsFifoTwoInFlightPerGroup => ("sqs-visibility", &["--depth", "8"]),
        Mutant::SqsDedupWindowIgnored => ("sqs-visibility", &["--depth", "4"]),
        Mutant::FanoutToOneQueue => ("fanout", &[]),
        Mutant::TopicHashNeedsAWord => ("event-bus", &[]),
        Mutant::PriorityIgnored => ("priority", &[]),
        Mutant::PropertiesCachedByRoute => ("request-reply", &[]),
        Mutant::CancelForgetsUnacked => ("circuit-breaker", &[]),
        Mutant::RecoveredUnflagged => ("crash-recovery", &["--messages", "1"]),
        Mutant::RedeliveriesUncounted => ("ordering", &[]),
    }
}

/// Runs `brokerlab check` with `args`: its exit code and what it printed.
fn check(args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_brokerlab"))
        .arg("check")
        .args(args)
        .output()
        .expect("brokerlab runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    (output.status.code(), format!("{stdout}{stderr}"))
}

/// Asserts that `brokerlab check --model <model> --mutant <mutant> <extra>`
/// exits 129 with a counterexample.
fn assert_caught((model, extra): (&str, &[&str]), mutant: Mutant) {
    let mut args = vec!["--model", model, "--mutant", mutant.name()];
    args.extend_from_slice(extra);
    let (code, text) = check(&args);
    let name = mutant.name();
    assert_ne!(
        code,
        Some(101),
        "{model} / {name}: the checker crashed\n{text}"
    );
    assert_eq!(code, Some(129), "{model} / {name}\n{text}");
    assert!(
        text.contains("\ncounterexample to "),
        "{model} / {name}: no counterexample\n{text}"
    );
}

#[test]
fn every_mutant_is_caught_by_brokerlab_check_with_a_models_standard_settings() {
    for mutant in Mutant::ALL {
        assert_caught(catcher(mutant), mutant);
    }
}

#[test]
fn a_panic_in_the_core_exits_129_with_a_counterexample_to_no_panic() {
    // `double-deliver` hands every second message to both consumers; when both connections drop, the core is asked to requeue
    // it twice and panics. Bounded at the depth of that path (15 steps;
    // the checker counts the initial state as depth 1 and stops before the
    // bound), so that a debug build runs it in seconds.
    let args = [
        "--model",
        "work-queue",
        "--mutant",
        "double-deliver",
        "--messages",
        "3",
        "--depth",
        "17",
    ];
    let (code, text) = check(&args);
    assert_ne!(code, Some(101), "the checker crashed\n{text}");
    assert_eq!(code, Some(129), "{text}");
    assert!(text.contains("FAILS"), "{text}");
    assert!(text.contains("\ncounterexample to no-panic:\n"), "{text}");
    assert!(text.contains("\n  panicked: broker: "), "{text}");
}
