//! Validation of binary clinical risk predictions, as a governance board reads it: how well the
//! model ranks patients (AUROC, AUPRC), how trustworthy its probabilities are (Brier score,
//! calibration slope and intercept, expected calibration error, the reliability diagram), what
//! happens at decision thresholds (sensitivity, specificity, PPV, NPV, flag rate, number needed
//! to evaluate), how sure we are (patient-level bootstrap 95% intervals) and whether it serves
//! every group alike (subgroup metrics and disparity ratios).
//!
//! Inputs are `meds-evaluation` prediction rows ([`meds::labels::BooleanPrediction`]); every
//! metric is tested against scikit-learn and `meds-evaluation` on the same vectors.

pub mod attributes;
mod bootstrap;
mod error;
mod fairness;
mod metrics;
pub mod paired;

pub use bootstrap::{
    Interval, Intervals, intervals, percentile_interval, resample_means, resample_metrics, subject_index,
};
pub use error::EvalError;
pub use fairness::{Attribute, AttributeReport, FAIR_BAND, GroupReport, MIN_GROUP, audit};
pub use metrics::{
    DecisionPoint, Metrics, OperatingPoint, Ranked, ReliabilityBin, decision_thresholds, logit, useful_thresholds,
};

use meds::labels::BooleanPrediction;
use serde::Serialize;

/// How to evaluate.
#[derive(Debug, Clone)]
pub struct Options {
    /// Bootstrap resamples (0: no intervals).
    pub resamples: usize,
    /// Seed of the bootstrap.
    pub seed: u64,
    /// Confidence level of the intervals.
    pub level: f64,
    /// Thresholds for the operating-point table.
    pub thresholds: Vec<f64>,
    /// Specificity at which the audit threshold is set (when `threshold` is `None`).
    pub audit_specificity: f64,
    /// A fixed decision threshold for the fairness audit, overriding `audit_specificity`.
    pub threshold: Option<f64>,
    /// Threshold probabilities of the decision curve ([`decision_thresholds`] by default).
    pub decision_thresholds: Vec<f64>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            resamples: 1_000,
            seed: 0,
            level: 0.95,
            thresholds: (1..20).map(|i| f64::from(i) * 0.05).chain([0.01, 0.02, 0.03]).collect(),
            audit_specificity: 0.9,
            threshold: None,
            decision_thresholds: decision_thresholds(),
        }
    }
}

/// Everything measured about one set of predictions.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// Predictions.
    pub n: usize,
    /// Distinct subjects.
    pub subjects: usize,
    /// Whether the figures are design-weighted population estimates ([`evaluate_weighted`]);
    /// `n` and `subjects` count the sample either way.
    pub weighted: bool,
    /// Point estimates.
    pub metrics: Metrics,
    /// Bootstrap intervals.
    pub intervals: Intervals,
    /// Accuracy of `predicted_boolean_value` (as `meds-evaluation` reports it).
    pub accuracy: Option<f64>,
    /// F1 of `predicted_boolean_value`.
    pub f1: Option<f64>,
    /// The reliability diagram.
    pub reliability: Vec<ReliabilityBin>,
    /// Operating points at the configured thresholds, ascending.
    pub operating_points: Vec<OperatingPoint>,
    /// The threshold reaching the audit specificity, and the figures there.
    pub audit_point: Option<OperatingPoint>,
    /// ROC curve, at most ~200 points.
    pub roc: Vec<(f64, f64)>,
    /// Precision-recall curve, at most ~200 points.
    pub pr: Vec<(f64, f64)>,
    /// The decision curve: net benefit of acting on the model's flags, and of acting on everyone,
    /// at each of [`Options::decision_thresholds`].
    pub decision_curve: Vec<DecisionPoint>,
    /// Fairness audit per attribute.
    pub fairness: Vec<AttributeReport>,
}

/// `0.812 [0.790, 0.833]`, `0.812` without an interval, `—` without a value.
fn with_interval(value: Option<f64>, interval: Option<Interval>) -> String {
    match (value, interval) {
        (Some(v), Some(i)) => format!("{v:.3} [{:.3}, {:.3}]", i.lower, i.upper),
        (Some(v), None) => format!("{v:.3}"),
        _ => "—".to_string(),
    }
}

/// The evaluation as a person reads it: counts, each metric with its interval, the audit
/// operating point, the decision curve's useful range and each attribute's disparity.
impl std::fmt::Display for Evaluation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (m, i) = (&self.metrics, &self.intervals);
        if self.weighted {
            writeln!(
                f,
                "a case-control sample: figures are weighted back to the {:.0} prediction times it was drawn from",
                m.n
            )?;
        }
        let prevalence = 100.0 * m.prevalence.unwrap_or(0.0);
        writeln!(
            f,
            "predictions {}  subjects {}  positives {:.0} ({prevalence:.2}%)",
            self.n, self.subjects, m.positives
        )?;
        for (name, value, interval) in [
            ("AUROC", m.auroc, i.auroc),
            ("AUPRC", m.auprc, i.auprc),
            ("Brier", m.brier, i.brier),
            ("calibration slope", m.calibration_slope, i.calibration_slope),
            ("calibration intercept", m.calibration_intercept, i.calibration_intercept),
            ("ECE", m.ece, i.ece),
        ] {
            writeln!(f, "{name:<21} {}", with_interval(value, interval))?;
        }
        if let Some(p) = &self.audit_point {
            let x = |v: Option<f64>| v.map_or("—".into(), |v| format!("{v:.3}"));
            writeln!(
                f,
                "at threshold {:.4}: sensitivity {}  specificity {}  PPV {}  flag rate {}  NNE {}",
                p.threshold,
                x(p.sensitivity),
                x(p.specificity),
                x(p.ppv),
                x(p.flag_rate),
                x(p.nne)
            )?;
        }
        let range = useful_thresholds(&self.decision_curve)
            .map_or("no threshold".into(), |(lo, hi)| format!("thresholds {:.1}%–{:.1}%", 100.0 * lo, 100.0 * hi));
        write!(f, "decision curve: acting on the flags beats acting on all and on none at {range}")?;
        for a in &self.fairness {
            let gap = a.auroc_gap.map_or("—".into(), |g| format!("{g:.3}"));
            write!(
                f,
                "\nfairness {:<10} reference {:<10} AUROC gap {gap}  flagged: {}",
                a.attribute,
                a.reference,
                a.flagged_summary()
            )?;
        }
        Ok(())
    }
}

fn thin(points: Vec<(f64, f64)>, most: usize) -> Vec<(f64, f64)> {
    if points.len() <= most {
        return points;
    }
    let step = points.len().div_ceil(most);
    let last = points.last().copied();
    let mut out: Vec<(f64, f64)> = points.into_iter().step_by(step).collect();
    if out.last().copied() != last {
        out.extend(last);
    }
    out
}

/// Evaluates predictions, with the bootstrap and fairness audit `options` asks for.
pub fn evaluate(
    predictions: &[BooleanPrediction],
    attributes: &[Attribute],
    options: &Options,
) -> Result<Evaluation, EvalError> {
    evaluate_weighted(predictions, None, attributes, options)
}

/// Evaluates predictions sampled from a larger population, each standing for `design[i]` of
/// its population's predictions (the inverse of its sampling probability; see
/// [`Ranked::with_design`]): every metric, curve, operating point and subgroup figure is then
/// an estimate of the population's. `None` evaluates them as they are.
///
/// The bootstrap resamples subjects of the sample and keeps their weights, so intervals reflect
/// the sample's size, not the population's.
pub fn evaluate_weighted(
    predictions: &[BooleanPrediction],
    design: Option<&[f64]>,
    attributes: &[Attribute],
    options: &Options,
) -> Result<Evaluation, EvalError> {
    if predictions.is_empty() {
        return Err(EvalError::Empty);
    }
    if let Some(d) = design {
        if d.len() != predictions.len() {
            return Err(EvalError::BadWeights {
                message: format!("{} weights for {} predictions", d.len(), predictions.len()),
            });
        }
        if let Some(first) = d.iter().position(|w| !(w.is_finite() && *w > 0.0)) {
            return Err(EvalError::BadWeights { message: format!("not a positive number at row {first}") });
        }
    }
    let bad: Vec<usize> = predictions
        .iter()
        .enumerate()
        .filter(|(_, p)| !(p.probability.is_finite() && (0.0..=1.0).contains(&p.probability)))
        .map(|(i, _)| i)
        .collect();
    if let Some(&first) = bad.first() {
        return Err(EvalError::BadProbability { count: bad.len(), first });
    }
    for a in attributes {
        if a.values.len() != predictions.len() {
            return Err(EvalError::AttributeLength {
                name: a.name.clone(),
                got: a.values.len(),
                expected: predictions.len(),
            });
        }
    }
    let p: Vec<f64> = predictions.iter().map(|x| f64::from(x.probability)).collect();
    let y: Vec<bool> = predictions.iter().map(|x| x.label.value).collect();
    let subjects: Vec<i64> = predictions.iter().map(|x| x.label.subject_id).collect();
    let ranked = match design {
        Some(d) => Ranked::with_design(&p, &y, d),
        None => Ranked::new(&p, &y),
    };
    let samples = resample_metrics(&ranked, &subjects, options.resamples, options.seed);
    let weight = |i: usize| design.map_or(1.0, |d| d[i]);
    let (mut tp, mut fp, mut fneg, mut correct, mut total) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (i, x) in predictions.iter().enumerate() {
        let w = weight(i);
        total += w;
        match (x.predicted_value, x.label.value) {
            (true, true) => tp += w,
            (true, false) => fp += w,
            (false, true) => fneg += w,
            (false, false) => {}
        }
        if x.predicted_value == x.label.value {
            correct += w;
        }
    }
    let mut thresholds = options.thresholds.clone();
    thresholds.sort_by(f64::total_cmp);
    thresholds.dedup();
    let audit_threshold = options.threshold.or_else(|| ranked.threshold_at_specificity(options.audit_specificity));
    let fairness = match audit_threshold {
        Some(t) => attributes.iter().map(|a| audit(&p, &y, design, a, t)).collect(),
        None => Vec::new(),
    };
    Ok(Evaluation {
        n: predictions.len(),
        subjects: subject_index(&subjects).1,
        weighted: design.is_some(),
        metrics: ranked.metrics(None),
        intervals: intervals(&samples, options.level),
        accuracy: Some(correct / total),
        f1: (2.0 * tp + fp + fneg > 0.0).then(|| 2.0 * tp / (2.0 * tp + fp + fneg)),
        reliability: ranked.reliability(None),
        operating_points: ranked.operating_points(&thresholds, None),
        audit_point: audit_threshold.map(|t| ranked.operating_points(&[t], None).remove(0)),
        roc: thin(ranked.roc_curve(), 200),
        pr: thin(ranked.pr_curve(), 200),
        decision_curve: ranked.decision_curve(&options.decision_thresholds, None),
        fairness,
    })
}

/// How early alerts come: for subjects with an event (a coded diagnosis, a true onset) after
/// their first prediction, the days from the first alert (probability ≥ threshold) to the event.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LeadTime {
    /// What the event is (`coded diagnosis`, `true onset`).
    pub event: String,
    /// The alert threshold.
    pub threshold: f64,
    /// Subjects with predictions before their event.
    pub subjects: usize,
    /// Of them, alerted before the event.
    pub alerted: usize,
    /// Median days from first alert to event among the alerted.
    pub median_days: Option<f64>,
}

/// Lead time of alerts at `threshold` before each subject's `event` time (µs).
pub fn lead_time(
    predictions: &[BooleanPrediction],
    events: &std::collections::HashMap<i64, i64>,
    threshold: f64,
    event: &str,
) -> LeadTime {
    let mut first_alert: std::collections::HashMap<i64, Option<i64>> = std::collections::HashMap::new();
    for p in predictions {
        let Some(&at) = events.get(&p.label.subject_id) else { continue };
        if p.label.prediction_time >= at {
            continue;
        }
        let slot = first_alert.entry(p.label.subject_id).or_insert(None);
        if f64::from(p.probability) >= threshold {
            *slot = Some(slot.map_or(p.label.prediction_time, |t: i64| t.min(p.label.prediction_time)));
        }
    }
    let mut leads: Vec<f64> =
        first_alert.iter().filter_map(|(s, a)| a.map(|t| (events[s] - t) as f64 / 86_400_000_000.0)).collect();
    leads.sort_by(f64::total_cmp);
    let median = (!leads.is_empty()).then(|| {
        let m = leads.len() / 2;
        if leads.len() % 2 == 1 { leads[m] } else { (leads[m - 1] + leads[m]) / 2.0 }
    });
    LeadTime { event: event.into(), threshold, subjects: first_alert.len(), alerted: leads.len(), median_days: median }
}

#[cfg(test)]
mod lead_tests {
    use super::*;
    use meds::labels::BooleanLabel;

    #[test]
    fn lead_time_counts_days_from_the_first_alert() {
        let day = 86_400_000_000i64;
        let p = |s: i64, t: i64, prob: f32| BooleanPrediction {
            label: BooleanLabel { subject_id: s, prediction_time: t * day, value: false },
            predicted_value: false,
            probability: prob,
        };
        let preds = [p(1, 0, 0.1), p(1, 100, 0.8), p(1, 200, 0.9), p(2, 0, 0.2), p(3, 500, 0.9)];
        let events: std::collections::HashMap<i64, i64> =
            [(1, 300 * day), (2, 50 * day), (3, 400 * day)].into_iter().collect();
        let l = lead_time(&preds, &events, 0.5, "coded diagnosis");
        // Subject 1: first alert at day 100, event day 300 → 200 days. Subject 2: never alerted.
        // Subject 3: its only prediction is after the event.
        assert_eq!((l.subjects, l.alerted, l.median_days), (2, 1, Some(200.0)));
    }
}
