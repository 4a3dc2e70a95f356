//! Two methods compared on the same prediction times: the difference in held-out AUROC with a
//! paired subject-level bootstrap interval.
//!
//! Two methods scored on one held-out split share its sampling noise — the same few positives,
//! the same hard cases — so each method's own interval is far wider than the uncertainty of their
//! difference. Each resample here draws one set of subjects and scores both methods on it, so the
//! interval says whether the candidate is ahead of, level with or behind the baseline on data like
//! this, which two overlapping intervals cannot.

use std::collections::HashMap;

use meds::labels::BooleanPrediction;
use serde::Serialize;

use crate::bootstrap::{Interval, percentile_interval, resample_with};
use crate::metrics::Ranked;

/// The candidate's AUROC minus the baseline's on the prediction times both scored.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PairedDifference {
    /// Prediction times both methods scored (matched on subject and time).
    pub rows: usize,
    /// Positives among them.
    pub positives: usize,
    /// The baseline's AUROC on those rows.
    pub baseline_auroc: f64,
    /// The candidate's AUROC on those rows.
    pub candidate_auroc: f64,
    /// `candidate_auroc − baseline_auroc`.
    pub difference: f64,
    /// The difference's percentile interval over resamples that drew the same subjects for both
    /// (`None` without resamples, or where too few resamples held both classes).
    pub interval: Option<Interval>,
    /// Resamples drawn.
    pub resamples: usize,
    /// Confidence level of the interval.
    pub level: f64,
}

/// Where a difference's interval lies against zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The whole interval is above zero: the candidate ranks better.
    Ahead,
    /// The interval holds zero: no difference this data can show.
    Level,
    /// The whole interval is below zero.
    Behind,
}

impl Verdict {
    /// The verdict as a word: `ahead`, `level` or `behind`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ahead => "ahead",
            Verdict::Level => "level",
            Verdict::Behind => "behind",
        }
    }
}

impl PairedDifference {
    /// Ahead, level or behind by the interval; `None` without one.
    pub fn verdict(&self) -> Option<Verdict> {
        let i = self.interval?;
        Some(if i.lower > 0.0 {
            Verdict::Ahead
        } else if i.upper < 0.0 {
            Verdict::Behind
        } else {
            Verdict::Level
        })
    }
}

/// The paired AUROC difference `candidate − baseline` over the prediction times both hold (same
/// subject, time and label; a time whose labels disagree is left out), with a `level` interval
/// from `resamples` subject-level bootstrap resamples. `None` when the shared rows lack a class.
pub fn paired_auroc(
    baseline: &[BooleanPrediction],
    candidate: &[BooleanPrediction],
    resamples: usize,
    seed: u64,
    level: f64,
) -> Option<PairedDifference> {
    let by_key: HashMap<(i64, i64), &BooleanPrediction> =
        baseline.iter().map(|p| ((p.label.subject_id, p.label.prediction_time), p)).collect();
    let (mut subjects, mut labels, mut a, mut b) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for c in candidate {
        let Some(base) = by_key.get(&(c.label.subject_id, c.label.prediction_time)) else { continue };
        if base.label.value != c.label.value {
            continue;
        }
        subjects.push(c.label.subject_id);
        labels.push(c.label.value);
        a.push(f64::from(base.probability));
        b.push(f64::from(c.probability));
    }
    let (ra, rb) = (Ranked::new(&a, &labels), Ranked::new(&b, &labels));
    let (baseline_auroc, candidate_auroc) = (ra.auroc(None)?, rb.auroc(None)?);
    let differences = resample_with(&subjects, resamples, seed, |w| Some(rb.auroc(Some(w))? - ra.auroc(Some(w))?));
    Some(PairedDifference {
        rows: labels.len(),
        positives: labels.iter().filter(|&&y| y).count(),
        baseline_auroc,
        candidate_auroc,
        difference: candidate_auroc - baseline_auroc,
        interval: if resamples == 0 { None } else { percentile_interval(&differences, level) },
        resamples,
        level,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use meds::labels::BooleanLabel;

    fn predictions(scores: &[(i64, i64, bool, f32)]) -> Vec<BooleanPrediction> {
        scores
            .iter()
            .map(|&(subject_id, prediction_time, value, probability)| BooleanPrediction {
                label: BooleanLabel { subject_id, prediction_time, value },
                predicted_value: probability >= 0.5,
                probability,
            })
            .collect()
    }

    /// 600 subjects, two times each; the baseline's score is noise plus signal, the candidate's
    /// the same plus `extra` signal.
    fn pair(extra: f32) -> (Vec<BooleanPrediction>, Vec<BooleanPrediction>) {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for s in 0..600i64 {
            for t in 0..2i64 {
                let i = s * 2 + t;
                let y = (i * 7919) % 10 < 3;
                let noise = ((i * 104_729) % 1000) as f32 / 1000.0;
                let signal = if y { 0.3 } else { 0.0 };
                a.push((s, t, y, (0.5 * noise + signal) / 1.5));
                b.push((s, t, y, (0.5 * noise + signal + if y { extra } else { 0.0 }) / 1.5));
            }
        }
        (predictions(&a), predictions(&b))
    }

    #[test]
    fn the_difference_is_the_two_aurocs_on_the_shared_rows_and_its_interval_covers_it() {
        let (a, b) = pair(0.05);
        let d = paired_auroc(&a, &b, 300, 1, 0.95).expect("both classes");
        let separately = |p: &[BooleanPrediction]| {
            let y: Vec<bool> = p.iter().map(|p| p.label.value).collect();
            let q: Vec<f64> = p.iter().map(|p| f64::from(p.probability)).collect();
            Ranked::new(&q, &y).metrics(None).auroc.expect("auroc")
        };
        assert_eq!(d.rows, 1200);
        assert!((d.baseline_auroc - separately(&a)).abs() < 1e-12);
        assert!((d.candidate_auroc - separately(&b)).abs() < 1e-12);
        assert!((d.difference - (d.candidate_auroc - d.baseline_auroc)).abs() < 1e-12);
        assert!(d.difference > 0.0, "{d:?}");
        let i = d.interval.expect("interval");
        assert!(i.lower <= d.difference && d.difference <= i.upper, "{d:?}");
        assert_eq!(d.verdict(), Some(Verdict::Ahead), "a candidate better on every positive: {d:?}");
        // Swapped, the difference and its interval change sign.
        let r = paired_auroc(&b, &a, 300, 1, 0.95).expect("both classes");
        assert!((r.difference + d.difference).abs() < 1e-12);
        assert_eq!(r.verdict(), Some(Verdict::Behind));
    }

    #[test]
    fn pairing_is_tighter_than_two_separate_intervals() {
        let (a, b) = pair(0.01);
        let d = paired_auroc(&a, &b, 400, 2, 0.95).expect("both classes");
        let i = d.interval.expect("interval");
        // Each method's own interval, from the same resamples.
        let own = |p: &[BooleanPrediction]| {
            let y: Vec<bool> = p.iter().map(|p| p.label.value).collect();
            let q: Vec<f64> = p.iter().map(|p| f64::from(p.probability)).collect();
            let s: Vec<i64> = p.iter().map(|p| p.label.subject_id).collect();
            let r = Ranked::new(&q, &y);
            let samples = crate::resample_metrics(&r, &s, 400, 2);
            crate::intervals(&samples, 0.95).auroc.expect("interval")
        };
        let (ia, ib) = (own(&a), own(&b));
        assert!(ia.upper > ib.lower, "the separate intervals overlap: {ia:?} {ib:?}");
        assert!(i.upper - i.lower < 0.5 * (ia.upper - ia.lower), "paired {i:?} vs separate {ia:?}");
    }

    #[test]
    fn identical_methods_differ_by_nothing_and_rows_are_matched_by_subject_and_time() {
        let (a, _) = pair(0.0);
        let mut shuffled = a.clone();
        shuffled.reverse();
        // One row only the candidate has, one whose label disagrees: both left out.
        shuffled.push(predictions(&[(9_999, 0, true, 0.9)])[0]);
        shuffled[0].label.value = !shuffled[0].label.value;
        let d = paired_auroc(&a, &shuffled, 200, 3, 0.95).expect("both classes");
        assert_eq!(d.rows, a.len() - 1);
        assert_eq!(d.difference, 0.0);
        assert_eq!(d.interval, Some(Interval { lower: 0.0, upper: 0.0 }));
        assert_eq!(d.verdict(), Some(Verdict::Level));
        assert_eq!(paired_auroc(&a, &shuffled, 0, 3, 0.95).and_then(|d| d.interval), None, "no resamples");
        // No shared rows with both classes: nothing to compare.
        let negatives = predictions(&[(1, 0, false, 0.2), (2, 0, false, 0.4)]);
        assert_eq!(paired_auroc(&negatives, &negatives, 10, 0, 0.95), None);
    }
}
