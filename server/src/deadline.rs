//! A connection's timer: one registered sleep, moved only when it must.
//!
//! A connection's deadlines (the send timeout, heartbeats) move later with
//! every write and read. Registering a fresh `sleep_until` on each turn of
//! its loop, as a busy connection turns thousands of times a second, wakes
//! tokio's driver each time (an `eventfd` write). A [`Deadline`] keeps one
//! sleep: when the deadline wanted moves later the sleep is left as it is,
//! and when it fires early it is moved to the deadline then wanted; it is
//! moved at once only when the deadline wanted comes earlier.

use std::pin::Pin;
use tokio::time::{Instant, Sleep};

/// One connection's timer.
#[derive(Debug)]
pub struct Deadline {
    sleep: Pin<Box<Sleep>>,
    /// Where the sleep is set, while it has not fired.
    armed_at: Option<Instant>,
}

impl Default for Deadline {
    fn default() -> Deadline {
        Deadline {
            sleep: Box::pin(tokio::time::sleep_until(Instant::now())),
            armed_at: None,
        }
    }
}

impl Deadline {
    /// Completes once `wanted` has passed; never while `wanted` is `None`.
    /// Dropped before it completes (another branch of a `select!` won), it
    /// leaves the sleep set for the next call.
    pub async fn reached(&mut self, wanted: Option<Instant>) {
        let Some(wanted) = wanted else {
            return std::future::pending().await;
        };
        loop {
            if self.armed_at.is_none_or(|at| at > wanted) {
                self.sleep.as_mut().reset(wanted);
                self.armed_at = Some(wanted);
            }
            self.sleep.as_mut().await;
            self.armed_at = None;
            if Instant::now() >= wanted {
                return;
            }
        }
    }
}

#[cfg(all(test, not(madsim)))]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ms(count: u64) -> Duration {
        Duration::from_millis(count)
    }

    #[tokio::test]
    async fn a_deadline_completes_once_the_deadline_wanted_has_passed_however_it_moved() {
        let mut deadline = Deadline::default();
        let start = Instant::now();
        // Wanted at 20 ms, then pushed back to 60 ms before it fired: the
        // sleep set for 20 ms fires and is moved on.
        tokio::select! {
            () = deadline.reached(Some(start + ms(20))) => panic!("not yet"),
            () = tokio::time::sleep_until(start + ms(5)) => {}
        }
        deadline.reached(Some(start + ms(60))).await;
        assert!(Instant::now() >= start + ms(60));
        // Brought earlier: moved at once.
        let now = Instant::now();
        tokio::select! {
            () = deadline.reached(Some(now + ms(3_600_000))) => panic!("not yet"),
            () = tokio::time::sleep_until(now + ms(5)) => {}
        }
        deadline.reached(Some(now + ms(30))).await;
        let waited = Instant::now() - now;
        assert!(waited >= ms(30) && waited < ms(3_600_000), "{waited:?}");
        // None never completes.
        tokio::select! {
            () = deadline.reached(None) => panic!("no deadline"),
            () = tokio::time::sleep(ms(20)) => {}
        }
    }
}
