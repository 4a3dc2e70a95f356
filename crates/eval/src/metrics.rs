//! Discrimination and calibration metrics of binary risk predictions, with optional integer
//! weights per prediction (a bootstrap resample is a weighting: how many times each prediction
//! was drawn). Predictions are ranked once; every metric is then one pass over the ranking, so a
//! thousand resamples of a hundred thousand predictions cost a thousand linear passes.
//!
//! Predictions may also carry *design weights*: the inverse of the probability with which each
//! was sampled from the population it stands for (a case-control sample keeps every positive and
//! one negative in ten, say: weights 1 and 10). Every metric is then the population's — a
//! negative of weight 10 counts as ten negatives — so calibration, PPV and flag rates stay
//! honest on a sample enriched for a rare outcome. Design weights multiply the resample weights.
//!
//! Definitions follow scikit-learn where it has one (tested against it): AUROC with ties counted
//! half; average precision as `average_precision_score` (the step-wise area, no interpolation);
//! the Brier score; reliability bins as `calibration_curve(n_bins=10)`. Calibration slope and
//! intercept are the logistic recalibration `logit P(y) = a + b·logit(p)` (slope `b`), and the
//! calibration-in-the-large intercept `a` with `b` fixed at 1, as in Van Calster et al. (2019).

use serde::Serialize;

/// Probabilities are clipped to this distance from 0 and 1 before taking logits.
const CLIP: f64 = 1e-7;

/// The log-odds of a probability, clipped to [`CLIP`] from 0 and 1 (the log-odds the
/// calibration slope and intercept are fitted on).
pub fn logit(p: f64) -> f64 {
    let p = p.clamp(CLIP, 1.0 - CLIP);
    (p / (1.0 - p)).ln()
}

/// Predictions ranked by probability, with their labels, ready for weighted metrics.
#[derive(Debug, Clone)]
pub struct Ranked {
    /// Indices into the original predictions, by increasing probability.
    order: Vec<u32>,
    /// For each position in `order`, whether it starts a group of tied probabilities.
    group_start: Vec<bool>,
    probability: Vec<f64>,
    label: Vec<bool>,
    /// Reliability bin (0..10) of each prediction, as scikit-learn's `calibration_curve`.
    bin: Vec<u8>,
    logit: Vec<f64>,
    /// Design weights (inverse sampling probabilities), input order; `None`: all 1.
    design: Option<Vec<f64>>,
}

/// Every metric of one (possibly weighted) set of predictions. `None` where undefined (AUROC
/// with one class only, say).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Metrics {
    /// Predictions (weighted count).
    pub n: f64,
    /// Positive labels (weighted count).
    pub positives: f64,
    /// Share of positives.
    pub prevalence: Option<f64>,
    /// Area under the ROC curve.
    pub auroc: Option<f64>,
    /// Average precision (area under the precision-recall curve, step-wise).
    pub auprc: Option<f64>,
    /// Mean squared error of the probability.
    pub brier: Option<f64>,
    /// Slope `b` of `logit P(y) = a + b·logit(p)`: 1 is ideal, < 1 means too extreme.
    pub calibration_slope: Option<f64>,
    /// Calibration-in-the-large `a` of `logit P(y) = a + logit(p)`: 0 is ideal, > 0 means risk
    /// is underestimated.
    pub calibration_intercept: Option<f64>,
    /// Expected calibration error: reliability-bin gaps weighted by bin size (10 equal bins).
    pub ece: Option<f64>,
    /// `meds-evaluation`'s calibration error: the unweighted mean gap over non-empty bins.
    pub calibration_error: Option<f64>,
    /// Mean predicted probability.
    pub mean_probability: Option<f64>,
}

/// The reliability diagram: per bin, predictions, mean probability and observed rate.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReliabilityBin {
    /// Lower edge of the bin.
    pub from: f64,
    /// Upper edge.
    pub to: f64,
    /// Predictions in the bin.
    pub n: f64,
    /// Mean predicted probability.
    pub mean_probability: f64,
    /// Observed share of positives.
    pub observed: f64,
}

/// Confusion-matrix figures at one threshold (flag when probability ≥ threshold).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OperatingPoint {
    /// The threshold.
    pub threshold: f64,
    /// True-positive rate (recall).
    pub sensitivity: Option<f64>,
    /// True-negative rate.
    pub specificity: Option<f64>,
    /// Positive predictive value (precision).
    pub ppv: Option<f64>,
    /// Negative predictive value.
    pub npv: Option<f64>,
    /// Share of predictions flagged.
    pub flag_rate: Option<f64>,
    /// False-positive rate.
    pub fpr: Option<f64>,
    /// Number needed to evaluate: flagged patients per true positive (1 / PPV).
    pub nne: Option<f64>,
}

/// One point of a decision curve (Vickers & Elkin 2006, "Decision curve analysis"): what acting
/// on the model's flags is worth at a threshold probability `t`, the risk at which a clinician
/// would act — a true positive's benefit counted as 1, a false positive's harm as the odds
/// `t / (1 − t)` that the threshold implies.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DecisionPoint {
    /// The threshold probability (flag when probability ≥ it).
    pub threshold: f64,
    /// Net benefit of acting on the flags: `TP/N − FP/N · t/(1 − t)`, in true positives per
    /// patient (at most the prevalence).
    pub net_benefit: f64,
    /// Net benefit of acting on everyone: `prevalence − (1 − prevalence) · t/(1 − t)`. Acting on
    /// no one is worth 0. A model is useful at `t` where it beats both.
    pub treat_all: f64,
}

/// The lowest and the highest threshold of `curve` at which acting on the model's flags is worth
/// more than acting on everyone and than acting on no one (by more than 1e-9 true positives per
/// patient); `None` where it never is. The thresholds between need not all be useful: the curve
/// says which.
pub fn useful_thresholds(curve: &[DecisionPoint]) -> Option<(f64, f64)> {
    let useful = || curve.iter().filter(|d| d.net_benefit > d.treat_all.max(0.0) + 1e-9).map(|d| d.threshold);
    Some((useful().reduce(f64::min)?, useful().reduce(f64::max)?))
}

/// The threshold probabilities a decision curve is drawn at: every 0.1% up to 2% (year-ahead
/// risks are rare, and so are the thresholds that act on them), every 0.5% up to 10%, every 1% up
/// to 50%.
pub fn decision_thresholds() -> Vec<f64> {
    let fine = (1..=20).map(|i| f64::from(i) / 1000.0);
    let mid = (5..=20).map(|i| f64::from(i) / 200.0);
    let coarse = (11..=50).map(|i| f64::from(i) / 100.0);
    fine.chain(mid).chain(coarse).collect()
}

fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0).then(|| a / b)
}

impl Ranked {
    /// Ranks predictions. Probabilities must be finite and in [0, 1] (the caller checks).
    pub fn new(probability: &[f64], label: &[bool]) -> Ranked {
        assert_eq!(probability.len(), label.len(), "one label per probability");
        let mut order: Vec<u32> = (0..probability.len() as u32).collect();
        order.sort_by(|&a, &b| probability[a as usize].total_cmp(&probability[b as usize]));
        let group_start = (0..order.len())
            .map(|i| i == 0 || probability[order[i] as usize] != probability[order[i - 1] as usize])
            .collect();
        let edges: Vec<f64> = (1..10).map(|i| f64::from(i) / 10.0).collect();
        let bin = probability.iter().map(|&p| edges.iter().filter(|&&e| e < p).count() as u8).collect();
        let logit = probability.iter().map(|&p| logit(p)).collect();
        Ranked {
            order,
            group_start,
            probability: probability.to_vec(),
            label: label.to_vec(),
            bin,
            logit,
            design: None,
        }
    }

    /// Ranks predictions that stand for a population with the given design weights (one per
    /// prediction, finite and positive; the caller checks): each counts as `design[i]`
    /// predictions in every metric.
    pub fn with_design(probability: &[f64], label: &[bool], design: &[f64]) -> Ranked {
        assert_eq!(probability.len(), design.len(), "one design weight per probability");
        Ranked { design: Some(design.to_vec()), ..Ranked::new(probability, label) }
    }

    /// Whether predictions carry design weights.
    pub fn is_weighted(&self) -> bool {
        self.design.is_some()
    }

    /// The weight of prediction `i`: its design weight times its resample multiplicity.
    fn weight(&self, i: usize, multiplicity: Option<&[u32]>) -> f64 {
        let m = multiplicity.map_or(1.0, |w| f64::from(w[i]));
        match &self.design {
            Some(d) if m != 0.0 => m * d[i],
            _ => m,
        }
    }

    /// Number of predictions.
    pub fn len(&self) -> usize {
        self.label.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.label.is_empty()
    }

    /// The probabilities, in input order.
    pub fn probabilities(&self) -> &[f64] {
        &self.probability
    }

    /// The labels, in input order.
    pub fn labels(&self) -> &[bool] {
        &self.label
    }

    /// All metrics; `weights` (one per prediction, input order) or every prediction once.
    pub fn metrics(&self, weights: Option<&[u32]>) -> Metrics {
        let (mut n, mut pos, mut sq, mut sum_p) = (0.0, 0.0, 0.0, 0.0);
        for i in 0..self.len() {
            let wi = self.weight(i, weights);
            if wi == 0.0 {
                continue;
            }
            let y = f64::from(u8::from(self.label[i]));
            n += wi;
            pos += wi * y;
            sq += wi * (self.probability[i] - y).powi(2);
            sum_p += wi * self.probability[i];
        }
        let neg = n - pos;
        let both_classes = pos > 0.0 && neg > 0.0;
        let (auroc, auprc) = if both_classes { self.ranking_metrics(weights, pos, neg) } else { (None, None) };
        let bins = self.reliability(weights);
        let ece = (n > 0.0).then(|| bins.iter().map(|b| b.n / n * (b.mean_probability - b.observed).abs()).sum());
        let calibration_error = (!bins.is_empty())
            .then(|| bins.iter().map(|b| (b.mean_probability - b.observed).abs()).sum::<f64>() / bins.len() as f64);
        Metrics {
            n,
            positives: pos,
            prevalence: ratio(pos, n),
            auroc,
            auprc,
            brier: ratio(sq, n),
            calibration_slope: if both_classes { self.recalibration(weights, false) } else { None },
            calibration_intercept: if both_classes { self.recalibration(weights, true) } else { None },
            ece,
            calibration_error,
            mean_probability: ratio(sum_p, n),
        }
    }

    /// The AUROC alone (as [`metrics`](Self::metrics) computes it, without the rest); `None`
    /// unless both classes have weight.
    pub fn auroc(&self, weights: Option<&[u32]>) -> Option<f64> {
        let (pos, neg) = self.class_weights(weights);
        if pos > 0.0 && neg > 0.0 { self.ranking_metrics(weights, pos, neg).0 } else { None }
    }

    fn ranking_metrics(&self, weights: Option<&[u32]>, pos: f64, neg: f64) -> (Option<f64>, Option<f64>) {
        // Positive and negative weight of each group of tied probabilities, ascending.
        let mut groups: Vec<(f64, f64)> = Vec::new();
        for (k, &idx) in self.order.iter().enumerate() {
            if self.group_start[k] {
                groups.push((0.0, 0.0));
            }
            let i = idx as usize;
            let wi = self.weight(i, weights);
            if let Some(g) = groups.last_mut() {
                if self.label[i] { g.0 += wi } else { g.1 += wi }
            }
        }
        // AUROC: each positive beats the negatives ranked below it; ties count half.
        let mut auc = 0.0;
        let mut neg_below = 0.0;
        for &(gp, gn) in &groups {
            auc += gp * (neg_below + 0.5 * gn);
            neg_below += gn;
        }
        // Average precision: thresholds descending, Σ ΔRecall · Precision.
        let mut ap = 0.0;
        let (mut tp, mut fp) = (0.0, 0.0);
        for &(gp, gn) in groups.iter().rev() {
            if gp + gn > 0.0 {
                tp += gp;
                fp += gn;
                ap += gp / pos * (tp / (tp + fp));
            }
        }
        (Some(auc / (pos * neg)), Some(ap))
    }

    /// The reliability diagram (10 equal-width bins, scikit-learn's edges); empty bins omitted.
    pub fn reliability(&self, weights: Option<&[u32]>) -> Vec<ReliabilityBin> {
        let mut acc = [[0.0f64; 3]; 10];
        for i in 0..self.len() {
            let wi = self.weight(i, weights);
            let b = &mut acc[self.bin[i] as usize];
            b[0] += wi;
            b[1] += wi * self.probability[i];
            b[2] += wi * f64::from(u8::from(self.label[i]));
        }
        acc.iter()
            .enumerate()
            .filter(|(_, b)| b[0] > 0.0)
            .map(|(i, b)| ReliabilityBin {
                from: i as f64 / 10.0,
                to: (i + 1) as f64 / 10.0,
                n: b[0],
                mean_probability: b[1] / b[0],
                observed: b[2] / b[0],
            })
            .collect()
    }

    /// Logistic recalibration by Newton's method, safeguarded: the slope (`intercept_only`
    /// false) or the calibration-in-the-large intercept with the slope fixed at 1. A full Newton
    /// step can overshoot when many probabilities sit near 0 or 1 (zero-shot shares of futures
    /// do), so a step that leaves the gradient larger than it found it is halved — the Newton
    /// direction always shrinks the gradient's norm for a short enough step, and the gradient
    /// comes out of the pass that is made anyway, so the safeguard costs no extra pass.
    fn recalibration(&self, weights: Option<&[u32]>, intercept_only: bool) -> Option<f64> {
        let (mut a, mut b) = (0.0f64, 1.0f64);
        // The last accepted point, its squared gradient norm and the Newton step taken from it.
        let mut accepted: Option<(f64, f64, f64, f64, f64)> = None;
        let mut step = 1.0;
        for _ in 0..100 {
            let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for i in 0..self.len() {
                let wi = self.weight(i, weights);
                if wi == 0.0 {
                    continue;
                }
                let x = self.logit[i];
                let q = 1.0 / (1.0 + (-(a + b * x)).exp());
                let r = f64::from(u8::from(self.label[i])) - q;
                let v = wi * q * (1.0 - q);
                ga += wi * r;
                gb += wi * r * x;
                haa += v;
                hab += v * x;
                hbb += v * x * x;
            }
            let norm = if intercept_only { ga * ga } else { ga * ga + gb * gb };
            if let Some((pa, pb, pnorm, pda, pdb)) = accepted
                && norm.partial_cmp(&(pnorm * (1.0 + 1e-9) + 1e-300)).is_none_or(|o| o.is_gt())
            {
                // The step overshot: halve it and look again.
                step *= 0.5;
                if step < 1e-6 {
                    (a, b) = (pa, pb);
                    break;
                }
                (a, b) = (pa + step * pda, pb + step * pdb);
                continue;
            }
            let (da, db) = if intercept_only {
                if haa <= 0.0 {
                    return None;
                }
                (ga / haa, 0.0)
            } else {
                let det = haa * hbb - hab * hab;
                if det.abs() < 1e-12 * (haa * hbb).abs().max(1e-300) {
                    return None;
                }
                ((hbb * ga - hab * gb) / det, (haa * gb - hab * ga) / det)
            };
            if !da.is_finite() || !db.is_finite() {
                return None;
            }
            a += da;
            b += db;
            if da.abs() < 1e-10 && db.abs() < 1e-10 {
                break;
            }
            accepted = Some((a - da, b - db, norm, da, db));
            step = 1.0;
        }
        (a.is_finite() && b.is_finite()).then_some(if intercept_only { a } else { b })
    }

    /// Confusion figures at each threshold (flag when probability ≥ threshold).
    pub fn operating_points(&self, thresholds: &[f64], weights: Option<&[u32]>) -> Vec<OperatingPoint> {
        thresholds
            .iter()
            .map(|&t| {
                let (mut tp, mut fp, mut tn, mut fneg) = (0.0, 0.0, 0.0, 0.0);
                for i in 0..self.len() {
                    let wi = self.weight(i, weights);
                    match (self.probability[i] >= t, self.label[i]) {
                        (true, true) => tp += wi,
                        (true, false) => fp += wi,
                        (false, false) => tn += wi,
                        (false, true) => fneg += wi,
                    }
                }
                OperatingPoint {
                    threshold: t,
                    sensitivity: ratio(tp, tp + fneg),
                    specificity: ratio(tn, tn + fp),
                    ppv: ratio(tp, tp + fp),
                    npv: ratio(tn, tn + fneg),
                    flag_rate: ratio(tp + fp, tp + fp + tn + fneg),
                    fpr: ratio(fp, fp + tn),
                    nne: ratio(tp + fp, tp),
                }
            })
            .collect()
    }

    /// The decision curve at each of `thresholds` in (0, 1) (see [`DecisionPoint`]); thresholds
    /// outside that range are left out. Weighted as every other figure (design weights stand for
    /// the population's predictions).
    pub fn decision_curve(&self, thresholds: &[f64], weights: Option<&[u32]>) -> Vec<DecisionPoint> {
        let (positives, negatives) = self.class_weights(weights);
        let total = positives + negatives;
        if total <= 0.0 {
            return Vec::new();
        }
        thresholds
            .iter()
            .filter(|&&t| t > 0.0 && t < 1.0)
            .map(|&t| {
                let (mut tp, mut fp) = (0.0, 0.0);
                for i in 0..self.len() {
                    if self.probability[i] >= t {
                        let w = self.weight(i, weights);
                        if self.label[i] { tp += w } else { fp += w }
                    }
                }
                let odds = t / (1.0 - t);
                DecisionPoint {
                    threshold: t,
                    net_benefit: tp / total - fp / total * odds,
                    treat_all: positives / total - negatives / total * odds,
                }
            })
            .collect()
    }

    /// The lowest threshold whose specificity is at least `target` (flagging at probability ≥
    /// threshold), among the observed probabilities; `None` without negatives.
    pub fn threshold_at_specificity(&self, target: f64) -> Option<f64> {
        let negatives: f64 = (0..self.len()).filter(|&i| !self.label[i]).map(|i| self.weight(i, None)).sum();
        if negatives == 0.0 {
            return None;
        }
        // Ascending: negatives strictly below a threshold are true negatives.
        let mut below = 0.0;
        for (k, &idx) in self.order.iter().enumerate() {
            if self.group_start[k] && below / negatives >= target {
                return Some(self.probability[idx as usize]);
            }
            if !self.label[idx as usize] {
                below += self.weight(idx as usize, None);
            }
        }
        // Flag nothing: a threshold above every probability.
        Some(f64::INFINITY)
    }

    /// Total weight of positives and of negatives (times each resample multiplicity in
    /// `weights`, if given).
    fn class_weights(&self, weights: Option<&[u32]>) -> (f64, f64) {
        (0..self.len()).fold((0.0, 0.0), |(p, n), i| {
            let w = self.weight(i, weights);
            if self.label[i] { (p + w, n) } else { (p, n + w) }
        })
    }

    /// The ROC curve as (false-positive rate, true-positive rate) points, one per distinct
    /// probability, from (0, 0) to (1, 1).
    pub fn roc_curve(&self) -> Vec<(f64, f64)> {
        let (pos, neg) = self.class_weights(None);
        let mut points = vec![(0.0, 0.0)];
        let (mut tp, mut fp) = (0.0, 0.0);
        for k in (0..self.order.len()).rev() {
            let i = self.order[k] as usize;
            if self.label[i] {
                tp += self.weight(i, None)
            } else {
                fp += self.weight(i, None)
            }
            if self.group_start[k] {
                points.push((if neg > 0.0 { fp / neg } else { 0.0 }, if pos > 0.0 { tp / pos } else { 0.0 }));
            }
        }
        points
    }

    /// The precision-recall curve as (recall, precision) points, one per distinct probability.
    pub fn pr_curve(&self) -> Vec<(f64, f64)> {
        let (pos, _) = self.class_weights(None);
        let mut points = Vec::new();
        let (mut tp, mut fp) = (0.0, 0.0);
        for k in (0..self.order.len()).rev() {
            let i = self.order[k] as usize;
            if self.label[i] {
                tp += self.weight(i, None)
            } else {
                fp += self.weight(i, None)
            }
            if self.group_start[k] && pos > 0.0 {
                points.push((tp / pos, tp / (tp + fp)));
            }
        }
        points
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // scikit-learn: roc_auc_score([0,0,1,1],[0.1,0.4,0.35,0.8]) = 0.75,
        // average_precision_score(...) = 0.8333…
        let r = Ranked::new(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]);
        let m = r.metrics(None);
        assert!((m.auroc.expect("auroc") - 0.75).abs() < 1e-12);
        assert!((m.auprc.expect("ap") - 0.833_333_333_333_333_4).abs() < 1e-12);
        assert!((m.brier.expect("brier") - (0.01 + 0.16 + 0.4225 + 0.04) / 4.0).abs() < 1e-12);
        // Ties count half: every score equal → AUROC 0.5.
        let t = Ranked::new(&[0.3; 6], &[true, false, true, false, false, false]);
        assert!((t.metrics(None).auroc.expect("auroc") - 0.5).abs() < 1e-12);
        // One class: undefined, not a number.
        assert_eq!(Ranked::new(&[0.2, 0.7], &[true, true]).metrics(None).auroc, None);
    }

    #[test]
    fn the_decision_curve_weighs_false_positives_by_the_thresholds_odds() {
        // Ten patients, three with the outcome. At t = 0.25 (odds 1/3) the model flags 0.3, 0.5,
        // 0.9 (two true, one false): 2/10 − 1/10 · 1/3. Acting on all: 3/10 − 7/10 · 1/3.
        let p = [0.05, 0.1, 0.1, 0.2, 0.2, 0.2, 0.3, 0.5, 0.9, 0.02];
        let y = [false, false, false, false, true, false, false, true, true, false];
        let r = Ranked::new(&p, &y);
        let curve = r.decision_curve(&[0.0, 0.25, 0.5, 1.0], None);
        assert_eq!(curve.len(), 2, "thresholds of 0 and 1 are not decisions");
        assert!((curve[0].net_benefit - (0.2 - 0.1 / 3.0)).abs() < 1e-12, "{:?}", curve[0]);
        assert!((curve[0].treat_all - (0.3 - 0.7 / 3.0)).abs() < 1e-12);
        // At t = 0.5 (odds 1): flags 0.5 and 0.9, both true.
        assert!((curve[1].net_benefit - 0.2).abs() < 1e-12);
        assert!((curve[1].treat_all - (0.3 - 0.7)).abs() < 1e-12);
        // A perfect model's net benefit is the prevalence at every threshold; weighted, each
        // prediction counts as that many.
        let perfect = Ranked::new(&[1.0, 0.0, 0.0], &[true, false, false]);
        assert!(
            perfect
                .decision_curve(&decision_thresholds(), None)
                .iter()
                .all(|d| (d.net_benefit - 1.0 / 3.0).abs() < 1e-12)
        );
        let doubled = Ranked::with_design(&p, &y, &[2.0; 10]).decision_curve(&[0.25], None);
        assert!((doubled[0].net_benefit - curve[0].net_benefit).abs() < 1e-12, "weights scale N too");
        let thresholds = decision_thresholds();
        assert!(thresholds.windows(2).all(|w| w[0] < w[1]) && thresholds[0] == 0.001 && thresholds.contains(&0.3));
        // Useful where it beats both references: at 0.25 (0.167 > 0.067 and 0) and 0.5 (0.2 > 0).
        assert_eq!(useful_thresholds(&curve), Some((0.25, 0.5)));
        // A model no better than its prevalence is useful nowhere.
        let flat = Ranked::new(&[0.3; 10], &y).decision_curve(&[0.1, 0.2, 0.4], None);
        assert_eq!(useful_thresholds(&flat), None, "{flat:?}");
    }

    #[test]
    fn weights_equal_repetition() {
        let p = [0.1, 0.4, 0.35, 0.8, 0.6, 0.6];
        let y = [false, false, true, true, false, true];
        let w = [2, 0, 1, 3, 1, 2];
        let weighted = Ranked::new(&p, &y).metrics(Some(&w));
        let (mut rp, mut ry) = (Vec::new(), Vec::new());
        for i in 0..p.len() {
            for _ in 0..w[i] {
                rp.push(p[i]);
                ry.push(y[i]);
            }
        }
        let repeated = Ranked::new(&rp, &ry).metrics(None);
        for (a, b) in [
            (weighted.auroc, repeated.auroc),
            (weighted.auprc, repeated.auprc),
            (weighted.brier, repeated.brier),
            (weighted.calibration_slope, repeated.calibration_slope),
            (weighted.calibration_intercept, repeated.calibration_intercept),
            (weighted.ece, repeated.ece),
        ] {
            assert!((a.expect("a") - b.expect("b")).abs() < 1e-9, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn perfectly_calibrated_probabilities_have_slope_one_and_intercept_zero() {
        // Labels drawn so that each probability's observed rate equals it exactly.
        let mut p = Vec::new();
        let mut y = Vec::new();
        for (prob, n_pos, n) in [(0.1, 10, 100), (0.3, 30, 100), (0.6, 60, 100), (0.9, 90, 100)] {
            for k in 0..n {
                p.push(prob);
                y.push(k < n_pos);
            }
        }
        let m = Ranked::new(&p, &y).metrics(None);
        assert!((m.calibration_slope.expect("slope") - 1.0).abs() < 1e-6, "{m:?}");
        assert!(m.calibration_intercept.expect("intercept").abs() < 1e-6, "{m:?}");
        assert!(m.ece.expect("ece") < 1e-12);
    }

    #[test]
    fn operating_points_and_the_specificity_threshold() {
        let r = Ranked::new(&[0.1, 0.2, 0.3, 0.4, 0.9], &[false, false, false, true, true]);
        let op = &r.operating_points(&[0.35], None)[0];
        assert_eq!(
            (op.sensitivity, op.specificity, op.ppv, op.flag_rate),
            (Some(1.0), Some(1.0), Some(1.0), Some(0.4))
        );
        assert_eq!(op.nne, Some(1.0));
        // 2 of 3 negatives below 0.3: specificity 0.667; below 0.4: 1.0.
        assert_eq!(r.threshold_at_specificity(0.9), Some(0.4));
        assert_eq!(r.threshold_at_specificity(0.6), Some(0.3));
    }
}
