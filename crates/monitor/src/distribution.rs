//! One numeric distribution, summarised so that it can be kept (in a release, in a report) and
//! compared with a later sample: its size and its percentiles.
//!
//! A later sample is compared by three statistics, each with its usual reading:
//! - the **population stability index** over bins cut at the reference's distinct deciles,
//!   `Σ (a − e) · ln(a / e)` with `e` the reference's share of a bin and `a` the sample's (shares
//!   floored at 0.0001; a count with many ties keeps its true shares): under 0.1 stable,
//!   0.1–0.25 a moderate shift, over 0.25 a major one;
//! - the **Kolmogorov–Smirnov** distance between the sample's empirical distribution and the
//!   reference's (read between its percentiles), with its asymptotic p-value for the two sample
//!   sizes;
//! - the **decile shift**: the median, over the nine deciles, of each decile's relative move
//!   `(q − q₀) / |q₀|` — what an assay recalibration moves (every decile alike), and what a
//!   change of mix in a two-humped distribution does not (its median jumps between the humps).

use serde::{Deserialize, Serialize};

/// A distribution by its percentiles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Values summarised.
    pub n: u64,
    /// The 0th, 1st, …, 100th percentiles (101 values; empty when `n` is 0).
    pub at: Vec<f64>,
    /// The distinct deciles: bins `(−∞, e₁], (e₁, e₂], …, (eₖ, ∞)` for the stability index.
    pub edges: Vec<f64>,
    /// The reference's share of each bin (one more than `edges`).
    pub shares: Vec<f64>,
}

impl Percentiles {
    /// The percentiles of `values` (NaNs left out).
    pub fn of(values: &[f64]) -> Percentiles {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
        sorted.sort_by(f64::total_cmp);
        if sorted.is_empty() {
            return Percentiles { n: 0, at: Vec::new(), edges: Vec::new(), shares: Vec::new() };
        }
        let at: Vec<f64> = (0..=100).map(|q| quantile(&sorted, f64::from(q) / 100.0)).collect();
        let mut edges: Vec<f64> = (1..10).map(|k| at[k * 10]).collect();
        edges.dedup();
        let shares = bin_shares(&edges, &sorted);
        Percentiles { n: sorted.len() as u64, at, edges, shares }
    }

    /// The same, its 0th and 100th percentiles (single values) replaced by the 1st and 99th.
    pub fn trimmed(mut self) -> Percentiles {
        if self.at.len() == 101 {
            self.at[0] = self.at[1];
            self.at[100] = self.at[99];
        }
        self
    }

    /// The median.
    pub fn median(&self) -> Option<f64> {
        self.at.get(50).copied()
    }

    /// The reference's cumulative share at `x`, read between its percentiles.
    fn cdf(&self, x: f64) -> f64 {
        let at = &self.at;
        if at.is_empty() || x < at[0] {
            return 0.0;
        }
        if x >= at[100] {
            return 1.0;
        }
        // The last percentile at or below x, then linear to the next.
        let i = at.partition_point(|&p| p <= x).saturating_sub(1).min(99);
        let (lo, hi) = (at[i], at[i + 1]);
        let within = if hi > lo { (x - lo) / (hi - lo) } else { 1.0 };
        (i as f64 + within) / 100.0
    }
}

/// How a sample compares with a reference distribution.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Shift {
    /// The sample's size.
    pub n: u64,
    /// Population stability index over the reference's deciles.
    pub psi: f64,
    /// Kolmogorov–Smirnov distance.
    pub ks: f64,
    /// Its asymptotic p-value.
    pub ks_p: f64,
    /// The decile shift: the median of the deciles' relative moves.
    pub median_shift: f64,
}

/// Compares `sample` with `reference` (see the module documentation); `None` when either is
/// empty.
pub fn compare(reference: &Percentiles, sample: &[f64]) -> Option<Shift> {
    let mut sorted: Vec<f64> = sample.iter().copied().filter(|v| !v.is_nan()).collect();
    if sorted.is_empty() || reference.n == 0 {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let psi = bin_shares(&reference.edges, &sorted)
        .iter()
        .zip(&reference.shares)
        .map(|(&a, &e)| {
            let (a, e) = (a.max(1e-4), e.max(1e-4));
            (a - e) * (a / e).ln()
        })
        .sum();
    // KS: the largest gap between the sample's step function and the reference's curve.
    let mut ks: f64 = 0.0;
    for (i, &v) in sorted.iter().enumerate() {
        let f = reference.cdf(v);
        ks = ks.max((f - i as f64 / n as f64).abs()).max(((i + 1) as f64 / n as f64 - f).abs());
    }
    let m = reference.n as f64;
    let effective = (n as f64 * m / (n as f64 + m)).sqrt();
    let ks_p = kolmogorov_q((effective + 0.12 + 0.11 / effective) * ks);
    // The typical relative move of the deciles: an assay's bias moves them all alike; a change
    // of case mix in a two-humped distribution (HbA1c of the screened and the treated) moves the
    // median between the humps but few deciles.
    let mut moves: Vec<f64> = (1..10)
        .filter_map(|k| {
            let r = reference.at[k * 10];
            (r != 0.0).then(|| (quantile(&sorted, k as f64 / 10.0) - r) / r.abs())
        })
        .collect();
    moves.sort_by(f64::total_cmp);
    let median_shift = if moves.is_empty() { 0.0 } else { quantile(&moves, 0.5) };
    Some(Shift { n: n as u64, psi, ks, ks_p, median_shift })
}

/// The share of `values` in each bin `(−∞, e₁], (e₁, e₂], …, (eₖ, ∞)`.
fn bin_shares(edges: &[f64], values: &[f64]) -> Vec<f64> {
    let mut counts = vec![0usize; edges.len() + 1];
    for &v in values {
        counts[edges.partition_point(|&e| e < v)] += 1;
    }
    counts.iter().map(|&c| c as f64 / values.len().max(1) as f64).collect()
}

/// The `q` quantile of sorted values, linear between order statistics.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// The Kolmogorov distribution's upper tail, `Q(λ) = 2 Σ (−1)^(k−1) e^(−2k²λ²)`.
fn kolmogorov_q(lambda: f64) -> f64 {
    if lambda < 0.2 {
        return 1.0;
    }
    let mut sum = 0.0;
    for k in 1..=100 {
        let k = f64::from(k);
        let term = (-2.0 * k * k * lambda * lambda).exp();
        sum += if k as u32 % 2 == 1 { term } else { -term };
        if term < 1e-12 {
            break;
        }
    }
    (2.0 * sum).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic sample of a normal distribution (by its quantiles).
    fn normal(n: usize, mean: f64, sd: f64) -> Vec<f64> {
        (0..n)
            .map(|i| {
                let p = (i as f64 + 0.5) / n as f64;
                // Acklam-free: the logistic approximation is enough for these tests.
                mean + sd * (p / (1.0 - p)).ln() * 0.5513
            })
            .collect()
    }

    #[test]
    fn a_sample_of_the_reference_is_stable_and_a_shifted_one_is_not() {
        let reference = Percentiles::of(&normal(20_000, 1.0, 0.25));
        assert_eq!(reference.n, 20_000);
        assert!((reference.median().expect("median") - 1.0).abs() < 1e-3);
        let same = compare(&reference, &normal(500, 1.0, 0.25)).expect("compared");
        assert!(same.psi < 0.01 && same.ks < 0.02 && same.ks_p > 0.5 && same.median_shift.abs() < 0.005, "{same:?}");
        // An assay reading 8% high.
        let biased: Vec<f64> = normal(500, 1.0, 0.25).iter().map(|v| v * 1.08).collect();
        let shifted = compare(&reference, &biased).expect("compared");
        assert!((shifted.median_shift - 0.08).abs() < 0.005, "{shifted:?}");
        assert!(shifted.ks_p < 1e-3, "{shifted:?}");
        // A different population altogether.
        let other = compare(&reference, &normal(500, 1.5, 0.25)).expect("compared");
        assert!(other.psi > 0.25, "{other:?}");
        assert!(compare(&reference, &[]).is_none());
    }

    #[test]
    fn counts_with_many_ties_keep_their_true_shares() {
        // Events per patient: mostly 1 or 2.
        let counts: Vec<f64> = (0..1000).map(|i| [1.0, 1.0, 1.0, 2.0, 2.0, 3.0, 5.0, 8.0, 1.0, 2.0][i % 10]).collect();
        let reference = Percentiles::of(&counts);
        assert!(reference.edges.len() < 9);
        assert!((reference.shares.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        let same = compare(&reference, &counts[..300]).expect("compared");
        assert!(same.psi < 0.01, "{same:?}");
        let busier: Vec<f64> = counts.iter().map(|c| c + 2.0).collect();
        assert!(compare(&reference, &busier).expect("compared").psi > 0.25);
    }

    #[test]
    fn the_kolmogorov_tail_has_its_known_values() {
        // Q(1.36) ≈ 0.049 and Q(1.63) ≈ 0.010: the 5% and 1% critical values.
        assert!((kolmogorov_q(1.36) - 0.049).abs() < 0.002);
        assert!((kolmogorov_q(1.63) - 0.010).abs() < 0.001);
        assert_eq!(kolmogorov_q(0.0), 1.0);
    }
}
