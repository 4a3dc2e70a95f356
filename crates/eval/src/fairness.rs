//! Subgroup performance and the fairness audit. For each attribute (sex, age band,
//! race/ethnicity, site), every group gets its own discrimination and calibration, and, at one
//! decision threshold, its true-positive rate, false-positive rate, PPV and flag rate as a ratio
//! to the largest group's — the disparity ratios clinical fairness audits use (Aequitas'), flagged
//! when outside [0.8, 1.25] (the "four-fifths rule" and its reciprocal).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::metrics::{Metrics, OperatingPoint, Ranked};

/// The band outside which a disparity ratio is flagged.
pub const FAIR_BAND: (f64, f64) = (0.8, 1.25);

/// Groups smaller than this get metrics but no disparity ratios (too noisy to flag).
pub const MIN_GROUP: usize = 30;

/// One attribute's value per prediction (`None`: unknown).
#[derive(Debug, Clone)]
pub struct Attribute {
    /// The attribute, e.g. `sex`.
    pub name: String,
    /// One value per prediction, in prediction order.
    pub values: Vec<Option<String>>,
}

/// One group's results.
#[derive(Debug, Clone, Serialize)]
pub struct GroupReport {
    /// The group's value (`unknown` for missing).
    pub group: String,
    /// Predictions in the group.
    pub n: usize,
    /// Its metrics.
    pub metrics: Metrics,
    /// Confusion figures at the audit threshold.
    pub at_threshold: OperatingPoint,
    /// TPR, FPR, PPV and flag rate relative to the reference group (`None` if either is undefined
    /// or the group is smaller than [`MIN_GROUP`]).
    pub ratios: BTreeMap<String, Option<f64>>,
    /// The ratios outside [`FAIR_BAND`].
    pub flagged: Vec<String>,
}

/// One attribute's audit.
#[derive(Debug, Clone, Serialize)]
pub struct AttributeReport {
    /// The attribute.
    pub attribute: String,
    /// The reference group (the largest).
    pub reference: String,
    /// The threshold the rates are taken at.
    pub threshold: f64,
    /// Every group, largest first.
    pub groups: Vec<GroupReport>,
    /// Largest minus smallest AUROC among groups of at least [`MIN_GROUP`] predictions.
    pub auroc_gap: Option<f64>,
}

impl AttributeReport {
    /// The flagged groups in words: `B (flag_rate); C (tpr, ppv)`, or `none`.
    pub fn flagged_summary(&self) -> String {
        let flagged: Vec<String> = self
            .groups
            .iter()
            .filter(|g| !g.flagged.is_empty())
            .map(|g| format!("{} ({})", g.group, g.flagged.join(", ")))
            .collect();
        if flagged.is_empty() { "none".into() } else { flagged.join("; ") }
    }
}

/// Audits one attribute at `threshold`. With `design` weights (one per prediction: see
/// [`Ranked::with_design`]) each group's metrics and rates are its population's; group sizes
/// stay counts of predictions.
pub fn audit(
    probability: &[f64],
    label: &[bool],
    design: Option<&[f64]>,
    attribute: &Attribute,
    threshold: f64,
) -> AttributeReport {
    let mut members: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, v) in attribute.values.iter().enumerate() {
        members.entry(v.clone().unwrap_or_else(|| "unknown".into())).or_default().push(i);
    }
    let mut groups: Vec<(String, Vec<usize>)> = members.into_iter().collect();
    groups.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.0.cmp(&b.0)));
    let mut reports: Vec<GroupReport> = groups
        .iter()
        .map(|(g, idx)| {
            let p: Vec<f64> = idx.iter().map(|&i| probability[i]).collect();
            let y: Vec<bool> = idx.iter().map(|&i| label[i]).collect();
            let r = match design {
                Some(d) => Ranked::with_design(&p, &y, &idx.iter().map(|&i| d[i]).collect::<Vec<f64>>()),
                None => Ranked::new(&p, &y),
            };
            let at = r.operating_points(&[threshold], None).remove(0);
            GroupReport {
                group: g.clone(),
                n: idx.len(),
                metrics: r.metrics(None),
                at_threshold: at,
                ratios: BTreeMap::new(),
                flagged: Vec::new(),
            }
        })
        .collect();
    let reference = reports.first().map(|r| (r.group.clone(), r.at_threshold.clone()));
    if let Some((_, ref_point)) = &reference {
        for r in &mut reports {
            let rates = |o: &OperatingPoint| {
                [("tpr", o.sensitivity), ("fpr", o.fpr), ("ppv", o.ppv), ("flag_rate", o.flag_rate)]
            };
            for ((name, mine), (_, theirs)) in rates(&r.at_threshold).into_iter().zip(rates(ref_point)) {
                let ratio = match (mine, theirs) {
                    (Some(a), Some(b)) if b > 0.0 && r.n >= MIN_GROUP => Some(a / b),
                    _ => None,
                };
                if ratio.is_some_and(|x| x < FAIR_BAND.0 || x > FAIR_BAND.1) {
                    r.flagged.push(name.to_string());
                }
                r.ratios.insert(name.to_string(), ratio);
            }
        }
    }
    let aurocs: Vec<f64> = reports.iter().filter(|r| r.n >= MIN_GROUP).filter_map(|r| r.metrics.auroc).collect();
    let auroc_gap = (aurocs.len() >= 2)
        .then(|| aurocs.iter().copied().fold(f64::MIN, f64::max) - aurocs.iter().copied().fold(f64::MAX, f64::min));
    AttributeReport {
        attribute: attribute.name.clone(),
        reference: reference.map(|(g, _)| g).unwrap_or_default(),
        threshold,
        groups: reports,
        auroc_gap,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_flagged_twice_as_often_is_flagged() {
        // Group "a": 100 predictions, 10 flagged; group "b": 50, 10 flagged (twice the rate).
        let mut p = Vec::new();
        let mut y = Vec::new();
        let mut values = Vec::new();
        for i in 0..100 {
            p.push(if i < 10 { 0.9 } else { 0.1 });
            y.push(i < 5 || i == 50);
            values.push(Some("a".to_string()));
        }
        for i in 0..50 {
            p.push(if i < 10 { 0.9 } else { 0.1 });
            y.push(i < 5 || i == 25);
            values.push(Some("b".to_string()));
        }
        let report = audit(&p, &y, None, &Attribute { name: "g".into(), values }, 0.5);
        assert_eq!(report.reference, "a");
        let b = &report.groups[1];
        assert!((b.ratios["flag_rate"].expect("ratio") - 2.0).abs() < 1e-12);
        assert!(b.flagged.contains(&"flag_rate".to_string()), "{:?}", b.flagged);
        assert!(report.groups[0].flagged.is_empty(), "the reference is never flagged against itself");
    }
}
