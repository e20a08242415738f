//! The simulation's one source of randomness.
//!
//! Every choice a run makes (a network delay, whether a fault fires, how long
//! a consumer thinks about a message) is drawn from one ChaCha8 stream seeded
//! from the run's `u64` seed, in the order the simulation makes its choices.
//! Nothing else may decide: no hasher state, no clock, no thread scheduling.
//! That is what makes a seed replay byte for byte.
//!
//! The options of a run are drawn from the same seed but on a second ChaCha
//! stream, so that changing the options (by hand, or by a future shrinker)
//! leaves the run's own draws as they were.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

/// The ChaCha stream a run's own choices are drawn from.
const RUN_STREAM: u64 = 0;
/// The ChaCha stream a run's options are drawn from in swarm mode.
const OPTIONS_STREAM: u64 = 1;

/// A seeded random source with the few draws the simulator needs.
#[derive(Clone, Debug)]
pub struct SimRng {
    inner: ChaCha8Rng,
}

impl SimRng {
    /// The stream that drives a run with this seed.
    #[must_use]
    pub fn for_run(seed: u64) -> SimRng {
        SimRng::on_stream(seed, RUN_STREAM)
    }

    /// The stream that draws a run's options in swarm mode, one per
    /// workload (`salt`), so that one seed draws different runs of each.
    #[must_use]
    pub fn for_options(seed: u64, salt: u64) -> SimRng {
        SimRng::on_stream(seed, OPTIONS_STREAM | (salt + 1) << 32)
    }

    fn on_stream(seed: u64, stream: u64) -> SimRng {
        let mut inner = ChaCha8Rng::seed_from_u64(seed);
        inner.set_stream(stream);
        SimRng { inner }
    }

    /// A number in `0..bound`. The modulo bias is negligible for the small
    /// bounds used here, and a seed replays it exactly either way.
    pub fn below(&mut self, bound: u64) -> u64 {
        assert!(bound > 0, "a draw needs at least one outcome");
        self.inner.next_u64() % bound
    }

    /// A number in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        assert!(low <= high, "empty range {low}..={high}");
        low + self.below(high - low + 1)
    }

    /// Whether a chance of `per_mille` in a thousand comes true.
    pub fn chance(&mut self, per_mille: u16) -> bool {
        assert!(per_mille <= 1000, "a chance per mille is at most 1000");
        self.below(1000) < u64::from(per_mille)
    }

    /// The raw generator, for stores that take a `rand_core::Rng`.
    pub fn as_rng(&mut self) -> &mut ChaCha8Rng {
        &mut self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_draws_the_same_numbers() {
        let mut first = SimRng::for_run(7);
        let mut second = SimRng::for_run(7);
        for _ in 0..100 {
            assert_eq!(first.below(1_000_000), second.below(1_000_000));
        }
    }

    #[test]
    fn options_stream_differs_from_run_stream() {
        let mut run = SimRng::for_run(7);
        let mut options = SimRng::for_options(7, 0);
        let run_draws: Vec<u64> = (0..8).map(|_| run.below(u64::MAX)).collect();
        let option_draws: Vec<u64> = (0..8).map(|_| options.below(u64::MAX)).collect();
        assert_ne!(run_draws, option_draws);
    }
}
