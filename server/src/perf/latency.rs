//! Latency samples and their percentiles.

/// Samples kept per consumer; past this, messages are still counted but
/// their latency is not sampled (64 MiB of samples at most).
pub const SAMPLES_MAX: usize = 16 * 1024 * 1024;

/// Latencies in microseconds, from the timestamp in each message's body to
/// its arrival at a consumer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Latencies {
    samples_us: Vec<u32>,
}

impl Latencies {
    /// Records one latency, unless the sample limit is reached.
    pub fn record(&mut self, latency_us: u64) {
        if self.samples_us.len() < SAMPLES_MAX {
            self.samples_us
                .push(u32::try_from(latency_us).unwrap_or(u32::MAX));
        }
    }

    /// Takes in another consumer's samples.
    pub fn merge(&mut self, other: Latencies) {
        self.samples_us.extend(other.samples_us);
    }

    /// How many latencies were sampled.
    #[must_use]
    pub fn len(&self) -> usize {
        self.samples_us.len()
    }

    /// Whether nothing was sampled.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.samples_us.is_empty()
    }

    /// The percentiles p50, p95, p99 and the maximum, in microseconds
    /// (nearest rank); all zero without samples.
    #[must_use]
    pub fn summary(&mut self) -> Summary {
        self.samples_us.sort_unstable();
        Summary {
            p50_us: self.percentile(50.0),
            p95_us: self.percentile(95.0),
            p99_us: self.percentile(99.0),
            max_us: self.samples_us.last().copied().map_or(0, u64::from),
        }
    }

    /// The nearest-rank percentile of the sorted samples.
    fn percentile(&self, percent: f64) -> u64 {
        let count = self.samples_us.len();
        if count == 0 {
            return 0;
        }
        // Nearest rank: the smallest sample with at least `percent` of the
        // samples at or below it.
        let rank = ((percent / 100.0) * count as f64).ceil() as usize;
        u64::from(self.samples_us[rank.clamp(1, count) - 1])
    }
}

/// Latency percentiles in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Median.
    pub p50_us: u64,
    /// 95th percentile.
    pub p95_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// Largest.
    pub max_us: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank_over_all_samples() {
        let mut latencies = Latencies::default();
        for latency_us in (1..=100).rev() {
            latencies.record(latency_us);
        }
        let summary = latencies.summary();
        assert_eq!(
            summary,
            Summary {
                p50_us: 50,
                p95_us: 95,
                p99_us: 99,
                max_us: 100
            }
        );
    }

    #[test]
    fn no_samples_summarise_as_zero() {
        assert_eq!(Latencies::default().summary(), Summary::default());
    }

    #[test]
    fn merged_samples_count_together() {
        let mut first = Latencies::default();
        first.record(1);
        let mut second = Latencies::default();
        second.record(3);
        first.merge(second);
        assert_eq!(first.len(), 2);
        assert_eq!(first.summary().max_us, 3);
    }
}
