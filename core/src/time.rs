//! Time as the driver tells it: the core never reads a clock.

use std::fmt;

/// A point in time, in nanoseconds on the driver's clock.
///
/// The server drives the core with nanoseconds since the Unix epoch, so that
/// `x-death` times are wall-clock timestamps; the simulator uses its own clock.
#[derive(
    Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Instant(pub u64);

impl Instant {
    /// The instant `ms` milliseconds after this one, saturating at the end of time.
    #[must_use]
    pub fn plus_ms(self, ms: u64) -> Instant {
        Instant(self.0.saturating_add(ms.saturating_mul(1_000_000)))
    }

    /// Whole seconds since the driver's epoch (the AMQP timestamp of this instant).
    #[must_use]
    pub fn as_secs(self) -> u64 {
        self.0 / 1_000_000_000
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ns", self.0)
    }
}
