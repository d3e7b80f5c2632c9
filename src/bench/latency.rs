//! Latency percentiles over a set of measured durations.

use std::time::Duration;

/// The median, the 99th percentile and the maximum of a set of durations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Percentiles {
    /// Half of the durations are at most this long.
    pub p50: Duration,
    /// 99 % of the durations are at most this long.
    pub p99: Duration,
    /// The longest.
    pub max: Duration,
}

impl Percentiles {
    /// The percentiles of `durations` (sorted in place), by the nearest-rank method: the p-th
    /// percentile is the smallest value that at least p % of the values do not exceed, so it is
    /// always one of the measured values. All zero for no durations.
    pub fn of(durations: &mut [Duration]) -> Self {
        durations.sort_unstable();
        Self {
            p50: nearest_rank(durations, 50),
            p99: nearest_rank(durations, 99),
            max: durations.last().copied().unwrap_or_default(),
        }
    }
}

fn nearest_rank(sorted: &[Duration], percent: usize) -> Duration {
    // rank = ceil(percent / 100 × n), counted from 1.
    let rank = (percent * sorted.len()).div_ceil(100);
    sorted
        .get(rank.saturating_sub(1))
        .copied()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn micros(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|&v| Duration::from_micros(v)).collect()
    }

    #[test]
    fn nearest_rank_percentiles_of_a_hundred_values() {
        let mut values = micros(&(1..=100).rev().collect::<Vec<_>>());
        let p = Percentiles::of(&mut values);
        assert_eq!(p.p50, Duration::from_micros(50));
        assert_eq!(p.p99, Duration::from_micros(99));
        assert_eq!(p.max, Duration::from_micros(100));
    }

    #[test]
    fn few_values_take_the_nearest_rank() {
        let p = Percentiles::of(&mut micros(&[30, 10, 20]));
        assert_eq!(p.p50, Duration::from_micros(20));
        assert_eq!(p.p99, Duration::from_micros(30));
        assert_eq!(p.max, Duration::from_micros(30));
        let one = Percentiles::of(&mut micros(&[7]));
        assert_eq!((one.p50, one.p99, one.max), (one.max, one.max, one.max));
    }

    #[test]
    fn no_values_give_zeros() {
        assert_eq!(Percentiles::of(&mut []), Percentiles::default());
    }
}
