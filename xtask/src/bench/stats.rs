//! The bench's statistics: medians, bootstrap 95% intervals of a median, and the paired
//! difference of two columns measured in interleaved rounds (round i of one against round
//! i of the other, so that drift shared by both cancels).
//!
//! The bootstrap draws from a generator with a fixed seed: the same samples always give
//! the same interval, so two runs with the same figures print the same table.

/// How many resamples a bootstrap interval draws.
const RESAMPLES: usize = 10_000;

/// The generator's seed (any constant: it only has to be the same every run).
const SEED: u64 = 0x7f2e_6d31_b0a5_c4e9;

/// A median with its 95% interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub median: f64,
    pub low: f64,
    pub high: f64,
}

/// The median of `samples` (the mean of the two middle ones for an even count); `None`
/// when there are none.
pub fn median(samples: &[f64]) -> Option<f64> {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    match sorted.len() {
        0 => None,
        count if count % 2 == 1 => Some(sorted[middle]),
        _ => Some((sorted[middle - 1] + sorted[middle]) / 2.0),
    }
}

/// The median of `samples` and its 95% percentile-bootstrap interval; `None` when there
/// are no samples.
pub fn median_with_interval(samples: &[f64]) -> Option<Estimate> {
    let median = median(samples)?;
    let mut random = fastrand::Rng::with_seed(SEED);
    let mut resample = vec![0.0; samples.len()];
    let mut medians: Vec<f64> = (0..RESAMPLES)
        .map(|_| {
            for slot in &mut resample {
                *slot = samples[random.usize(..samples.len())];
            }
            self::median(&resample).expect("a resample is as long as the samples")
        })
        .collect();
    medians.sort_by(f64::total_cmp);
    Some(Estimate {
        median,
        low: percentile(&medians, 0.025),
        high: percentile(&medians, 0.975),
    })
}

/// The paired difference `after[i] - before[i]` over the rounds both have: its median and
/// 95% interval; `None` when they share no round.
pub fn paired_difference(before: &[f64], after: &[f64]) -> Option<Estimate> {
    let differences: Vec<f64> = before.iter().zip(after).map(|(b, a)| a - b).collect();
    median_with_interval(&differences)
}

/// The value at fraction `fraction` of sorted `values` (nearest rank).
fn percentile(sorted: &[f64], fraction: f64) -> f64 {
    let index = ((sorted.len() - 1) as f64 * fraction).round() as usize;
    sorted[index]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[7.0]), Some(7.0));
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[5.0, 5.0, 1.0, 100.0, 5.0]), Some(5.0));
    }

    #[test]
    fn identical_rounds_have_an_exact_interval() {
        // TCG with icount: every round executes the same instructions.
        let estimate = median_with_interval(&[62.00005; 5]).unwrap();
        assert_eq!(
            estimate,
            Estimate {
                median: 62.00005,
                low: 62.00005,
                high: 62.00005
            }
        );
        assert_eq!(median_with_interval(&[]), None);
    }

    #[test]
    fn two_samples_give_the_whole_range() {
        // Resample medians of [1, 3]: 1 (p = 1/4), 2 (1/2), 3 (1/4); the 2.5% and 97.5%
        // points are the extremes.
        let estimate = median_with_interval(&[1.0, 3.0]).unwrap();
        assert_eq!(
            estimate,
            Estimate {
                median: 2.0,
                low: 1.0,
                high: 3.0
            }
        );
    }

    #[test]
    fn the_interval_of_a_uniform_sample_is_near_its_median() {
        // 1..=101: median 51; the median of a resample of 101 has a standard error of
        // about 1.25 * 29 / sqrt(101) = 3.6, so the 95% interval is about 51 +- 7.
        let samples: Vec<f64> = (1..=101).map(f64::from).collect();
        let estimate = median_with_interval(&samples).unwrap();
        assert_eq!(estimate.median, 51.0);
        assert!(
            (40.0..=47.0).contains(&estimate.low),
            "low {}",
            estimate.low
        );
        assert!(
            (55.0..=62.0).contains(&estimate.high),
            "high {}",
            estimate.high
        );
    }

    #[test]
    fn intervals_are_reproducible() {
        let samples = [10.0, 12.0, 9.0, 30.0, 11.0, 10.5, 9.5];
        assert_eq!(
            median_with_interval(&samples),
            median_with_interval(&samples)
        );
    }

    #[test]
    fn pairing_cancels_shared_drift() {
        // Rounds drift a lot, but B is always A + 3: the paired difference is exactly 3,
        // where the difference of the two medians' intervals would be wide.
        let before = [100.0, 250.0, 130.0, 900.0, 40.0];
        let after: Vec<f64> = before.iter().map(|value| value + 3.0).collect();
        assert_eq!(
            paired_difference(&before, &after),
            Some(Estimate {
                median: 3.0,
                low: 3.0,
                high: 3.0
            })
        );
        let unpaired = median_with_interval(&before).unwrap();
        assert!(unpaired.high - unpaired.low > 50.0);
    }

    #[test]
    fn paired_differences_use_the_shared_rounds() {
        let difference = paired_difference(&[1.0, 2.0, 3.0], &[2.0, 4.0]).unwrap();
        // Differences 1 and 2.
        assert_eq!(difference.median, 1.5);
        assert_eq!((difference.low, difference.high), (1.0, 2.0));
        assert_eq!(paired_difference(&[], &[1.0]), None);
    }
}
