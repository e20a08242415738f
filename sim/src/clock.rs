//! The broker's clock: simulated time as the broker's machine sees it.
//!
//! The broker reads no clock (the core takes `now` as input); the broker
//! node hands it this one, which drifts from the simulation's time by a
//! fixed rate (parts per million, either way) and jumps forward now and then
//! (a virtual machine paused and resumed, an NTP step). It never runs
//! backwards, as the core's monotonic `Instant` requires. TTL expiry,
//! `x-expires` and the consumer timeout all run on it, so the checkers judge
//! them on it too.

/// A drifting, jumping, monotonic clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    /// Drift in parts per million: the broker's clock runs `1 + ppm / 10^6` as fast.
    drift_ppm: i64,
    /// What jumps added, in nanoseconds.
    jumped_ns: u64,
}

const MILLION: i128 = 1_000_000;

impl Clock {
    /// A clock drifting by `drift_ppm` (more than -10^6: it must run forwards).
    #[must_use]
    pub fn new(drift_ppm: i64) -> Clock {
        assert!(i128::from(drift_ppm) > -MILLION, "the clock runs forwards");
        Clock {
            drift_ppm,
            jumped_ns: 0,
        }
    }

    /// The broker's time when the simulation's is `sim_ns`.
    #[must_use]
    pub fn broker_ns(&self, sim_ns: u64) -> u64 {
        let drifted = i128::from(sim_ns) * (MILLION + i128::from(self.drift_ppm)) / MILLION;
        u64::try_from(drifted).expect("a clock that runs forwards stays positive") + self.jumped_ns
    }

    /// The earliest simulation time, not before `now_ns`, at which the
    /// broker's clock reads at least `broker_ns`.
    #[must_use]
    pub fn sim_ns(&self, broker_ns: u64, now_ns: u64) -> u64 {
        if self.broker_ns(now_ns) >= broker_ns {
            return now_ns;
        }
        let rest = i128::from(broker_ns - self.jumped_ns);
        let rate = MILLION + i128::from(self.drift_ppm);
        let mut sim_ns = u64::try_from(rest * MILLION / rate)
            .expect("positive")
            .max(now_ns);
        while self.broker_ns(sim_ns) < broker_ns {
            sim_ns += 1;
        }
        sim_ns
    }

    /// Jumps forward by `by_ns`.
    pub fn jump(&mut self, by_ns: u64) {
        self.jumped_ns += by_ns;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fast_clock_reads_ahead_and_its_deadlines_come_early() {
        let clock = Clock::new(10_000);
        assert_eq!(clock.broker_ns(1_000_000), 1_010_000);
        let at = clock.sim_ns(1_010_000, 0);
        assert!(clock.broker_ns(at) >= 1_010_000 && clock.broker_ns(at - 1) < 1_010_000);
    }

    #[test]
    fn a_jump_moves_the_clock_forward_and_never_back() {
        let mut clock = Clock::new(-5_000);
        let before = clock.broker_ns(500);
        clock.jump(1_000);
        assert_eq!(clock.broker_ns(500), before + 1_000);
        assert_eq!(
            clock.sim_ns(before, 500),
            500,
            "a deadline passed is due now"
        );
    }
}
