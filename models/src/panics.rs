//! A panic in an actor's step is a counterexample, not a crashed checker.
//!
//! Stateright runs the actors' steps on its checker threads, so a panic in
//! the core (an assertion that a mutant breaks, say) would unwind through
//! the checker and end the run with nothing to show. Every actor step runs
//! inside [`catching`] instead: a panic becomes its message, the actor keeps
//! the state it had before the step with that message recorded, takes no
//! further step, and the property `no-panic` fails with the path that led
//! there, reported like any other counterexample.
//!
//! The default panic hook would print each caught panic (and a backtrace
//! with `RUST_BACKTRACE` set) on every checker thread that meets it, often
//! many times over in one run: while a step is being caught the hook only
//! notes where the panic happened, for the message. Panics anywhere else go
//! to the hook that was installed before.

use std::any::Any;
use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// Whether this thread is inside [`catching`].
    static CATCHING: Cell<bool> = const { Cell::new(false) };
    /// Where the last panic caught on this thread happened.
    static LOCATION: Cell<Option<String>> = const { Cell::new(None) };
}

/// Installs the hook that keeps caught panics quiet (once per process).
fn install_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if CATCHING.with(Cell::get) {
                LOCATION.set(info.location().map(ToString::to_string));
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `step`, turning a panic into its message and where it happened
/// (`"an entry is in a queue once (at core/src/queue.rs:133:9)"`).
///
/// # Errors
/// The panic's message, when `step` panicked.
pub fn catching<R>(step: impl FnOnce() -> R) -> Result<R, String> {
    install_hook();
    let outer = CATCHING.replace(true);
    LOCATION.set(None);
    let result = panic::catch_unwind(AssertUnwindSafe(step));
    CATCHING.set(outer);
    result.map_err(|payload| match LOCATION.take() {
        Some(location) => format!("{} (at {location})", message(&*payload)),
        None => message(&*payload),
    })
}

/// A panic's message, as the simulator reads it (`sim::run_catching`).
fn message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| {
            payload
                .downcast_ref::<&str>()
                .map(|text| (*text).to_owned())
        })
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

#[cfg(test)]
mod tests {
    use super::catching;

    #[test]
    fn a_caught_panic_is_its_message_and_where_it_happened() {
        let caught = catching(|| -> u8 { panic!("an entry is in a queue {}", "once") });
        let message = caught.expect_err("the step panicked");
        assert!(message.starts_with("an entry is in a queue once (at "));
        assert!(message.contains("models/src/panics.rs:"), "{message}");
    }

    #[test]
    fn a_step_that_does_not_panic_gives_its_result() {
        assert_eq!(catching(|| 7), Ok(7));
    }

    #[test]
    fn a_panic_with_a_static_message_keeps_it() {
        let caught = catching::<()>(|| std::panic::panic_any("plain"));
        assert!(caught.is_err_and(|message| message.starts_with("plain (at ")));
    }
}
