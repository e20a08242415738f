//! The `crash-recovery` model: the real core keeps every confirmed message
//! across crashes (with a pinned state count), and a broker that confirms
//! before the disk has synced loses one.

mod support;

use brokerlab_core::Mutant;
use brokerlab_models::check::{check, report, Options};
use brokerlab_models::CrashRecovery;
use support::{assert_fails, first_failure};

/// One message, one consumer, one crash: small enough for a debug build.
fn small() -> CrashRecovery {
    CrashRecovery {
        messages: 1,
        ..CrashRecovery::default()
    }
}

#[test]
fn confirmed_messages_survive_a_crash_with_pinned_state_count() {
    let options = Options {
        threads: 2,
        ..Options::default()
    };
    let outcome = check(small().into_model(), &options);
    println!("{}", report(&outcome, &options));
    assert!(outcome.all_hold());
    assert!(outcome.verdict("crash-recovered").holds);
    assert_eq!(outcome.unique_states, 12_140);
}

#[test]
fn confirm_before_sync_loses_a_confirmed_message_in_a_crash() {
    let outcome = first_failure(
        CrashRecovery {
            mutant: Some(Mutant::ConfirmBeforeSync),
            ..small()
        }
        .into_model(),
    );
    assert_fails(&outcome, "no-lost-confirmed", 8);
}
