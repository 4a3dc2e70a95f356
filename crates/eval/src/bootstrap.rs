//! Patient-level bootstrap: resample *subjects* with replacement (a subject's predictions travel
//! together, since predictions of one patient are not independent), recompute every metric on
//! each resample and report percentile intervals. Each resample's random stream is derived from
//! (seed, resample index), so results do not depend on the thread count.

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use rayon::prelude::*;
use serde::Serialize;

use crate::metrics::{Metrics, Ranked};

/// A two-sided percentile interval.
#[derive(Debug, Clone, Copy, Serialize, serde::Deserialize, PartialEq)]
pub struct Interval {
    /// The 2.5th percentile (for 95%).
    pub lower: f64,
    /// The 97.5th percentile.
    pub upper: f64,
}

/// Percentile intervals of every metric across resamples (`None` where a metric was undefined
/// in too many resamples, e.g. AUROC when positives are so rare that resamples lack them).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Intervals {
    /// Resamples drawn.
    pub resamples: usize,
    /// Confidence level (0.95).
    pub level: f64,
    /// AUROC.
    pub auroc: Option<Interval>,
    /// Average precision.
    pub auprc: Option<Interval>,
    /// Brier score.
    pub brier: Option<Interval>,
    /// Calibration slope.
    pub calibration_slope: Option<Interval>,
    /// Calibration-in-the-large intercept.
    pub calibration_intercept: Option<Interval>,
    /// Expected calibration error.
    pub ece: Option<Interval>,
}

/// Dense subject index of each prediction, and the number of subjects.
pub fn subject_index(subjects: &[i64]) -> (Vec<u32>, usize) {
    let mut ids: Vec<i64> = subjects.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let index = subjects.iter().map(|s| ids.binary_search(s).unwrap_or(0) as u32).collect();
    (index, ids.len())
}

fn stream_seed(seed: u64, resample: u64) -> u64 {
    // SplitMix64 of (seed, resample): independent-looking streams from one seed.
    let mut z = seed ^ resample.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Metrics of `resamples` subject-level bootstrap resamples.
pub fn resample_metrics(ranked: &Ranked, subjects: &[i64], resamples: usize, seed: u64) -> Vec<Metrics> {
    resample_with(subjects, resamples, seed, |weights| ranked.metrics(Some(weights)))
}

/// The mean of each of `columns` (one value per prediction, input order) in each of
/// `resamples` subject-level bootstrap resamples: `out[b][c]` is column `c`'s mean in resample
/// `b`. Every column of a resample draws the same subjects, so a difference or ratio of two
/// columns' means is resampled paired (a treatment's effect within the same patients).
pub fn resample_means(subjects: &[i64], columns: &[&[f64]], resamples: usize, seed: u64) -> Vec<Vec<f64>> {
    resample_with(subjects, resamples, seed, |weights| {
        let total: f64 = weights.iter().map(|&w| f64::from(w)).sum();
        columns
            .iter()
            .map(|c| {
                let sum: f64 = c.iter().zip(weights).map(|(x, &w)| x * f64::from(w)).sum();
                if total > 0.0 { sum / total } else { f64::NAN }
            })
            .collect()
    })
}

/// `f` of each of `resamples` subject-level bootstrap resamples, given the resample's
/// multiplicity of every prediction (input order). Resample `b` draws the same subjects for every
/// caller with the same `subjects` and `seed`, so two methods scored on the same rows are
/// resampled alike — the paired comparison ([`crate::paired`]) rests on it.
pub(crate) fn resample_with<T: Send>(
    subjects: &[i64],
    resamples: usize,
    seed: u64,
    f: impl Fn(&[u32]) -> T + Sync,
) -> Vec<T> {
    let (index, n_subjects) = subject_index(subjects);
    (0..resamples)
        .into_par_iter()
        .map_init(
            || (vec![0u32; n_subjects], vec![0u32; index.len()]),
            |(counts, weights), b| {
                let mut rng = ChaCha8Rng::seed_from_u64(stream_seed(seed, b as u64));
                counts.fill(0);
                for _ in 0..n_subjects {
                    counts[rng.random_range(0..n_subjects)] += 1;
                }
                for (w, &s) in weights.iter_mut().zip(&index) {
                    *w = counts[s as usize];
                }
                f(weights)
            },
        )
        .collect()
}

/// The `level` percentile interval of values (linear interpolation, as numpy's default), or
/// `None` when fewer than 90% of resamples define the metric.
pub fn percentile_interval(values: &[Option<f64>], level: f64) -> Option<Interval> {
    let mut v: Vec<f64> = values.iter().flatten().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() || (v.len() as f64) < 0.9 * values.len() as f64 {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let q = |p: f64| {
        let pos = p * (v.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
    };
    let tail = (1.0 - level) / 2.0;
    Some(Interval { lower: q(tail), upper: q(1.0 - tail) })
}

/// Intervals of every metric from resampled metrics.
pub fn intervals(samples: &[Metrics], level: f64) -> Intervals {
    let pick = |f: fn(&Metrics) -> Option<f64>| percentile_interval(&samples.iter().map(f).collect::<Vec<_>>(), level);
    Intervals {
        resamples: samples.len(),
        level,
        auroc: pick(|m| m.auroc),
        auprc: pick(|m| m.auprc),
        brier: pick(|m| m.brier),
        calibration_slope: pick(|m| m.calibration_slope),
        calibration_intercept: pick(|m| m.calibration_intercept),
        ece: pick(|m| m.ece),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resamples_are_reproducible_and_cover_the_estimate() {
        let n = 2_000;
        let p: Vec<f64> = (0..n).map(|i| (i % 100) as f64 / 100.0).collect();
        let y: Vec<bool> = (0..n).map(|i| (i * 7919 % 100) < (i % 100)).collect();
        let subjects: Vec<i64> = (0..n as i64).map(|i| i / 3).collect();
        let r = Ranked::new(&p, &y);
        let a = resample_metrics(&r, &subjects, 200, 7);
        let b = resample_metrics(&r, &subjects, 200, 7);
        assert_eq!(a, b, "same seed, same resamples");
        let ci = intervals(&a, 0.95);
        let auroc = r.metrics(None).auroc.expect("auroc");
        let i = ci.auroc.expect("interval");
        assert!(i.lower < auroc && auroc < i.upper, "{i:?} around {auroc}");
        assert!(i.upper - i.lower < 0.1, "{i:?}");
        assert_ne!(resample_metrics(&r, &subjects, 5, 8), a[..5].to_vec(), "another seed, other resamples");
    }

    #[test]
    fn resampled_means_are_paired_and_cover_the_mean() {
        // Two columns that differ by exactly 0.1 on every row: every resample's difference is
        // 0.1 (paired), while each column's own mean varies across resamples.
        let n = 600;
        let a: Vec<f64> = (0..n).map(|i| (i * 37 % 100) as f64 / 100.0).collect();
        let b: Vec<f64> = a.iter().map(|x| x + 0.1).collect();
        let subjects: Vec<i64> = (0..n as i64).map(|i| i / 2).collect();
        let means = resample_means(&subjects, &[&a, &b], 300, 3);
        assert_eq!(means.len(), 300);
        assert!(means.iter().all(|m| (m[1] - m[0] - 0.1).abs() < 1e-9), "paired");
        let first: Vec<Option<f64>> = means.iter().map(|m| Some(m[0])).collect();
        let i = percentile_interval(&first, 0.95).expect("interval");
        let mean = a.iter().sum::<f64>() / n as f64;
        assert!(i.lower < mean && mean < i.upper && i.upper - i.lower > 0.01, "{i:?} around {mean}");
        assert_eq!(means, resample_means(&subjects, &[&a, &b], 300, 3), "reproducible");
    }

    #[test]
    fn intervals_need_the_metric_in_most_resamples() {
        let values: Vec<Option<f64>> = (0..100).map(|i| (i % 2 == 0).then_some(0.5)).collect();
        assert_eq!(percentile_interval(&values, 0.95), None);
        let full: Vec<Option<f64>> = (0..=100).map(|i| Some(f64::from(i))).collect();
        let i = percentile_interval(&full, 0.95).expect("interval");
        assert!((i.lower - 2.5).abs() < 1e-9 && (i.upper - 97.5).abs() < 1e-9, "{i:?}");
    }
}
