//! Input drift: a window of months against the reference, each finding with the figure that
//! tripped it and the threshold it crossed.
//!
//! What is looked at, and when it alerts ([`Thresholds`] holds the defaults, each stated there):
//! - **new codes**: a code the reference never saw, seen at least `new_code_events` times;
//! - **code rates**: a code's events per active patient-month against the reference's, when
//!   the reference rate predicts at least `min_expected` events in the window or the window
//!   has at least `new_code_events` of a code rare before (a drug being taken up): the ratio
//!   observed/expected beyond `rate_ratio` either way (0 is a vanished code) and a Poisson
//!   z-score beyond `z`;
//! - **value distributions** per code, with at least `min_values` values on each side: a
//!   Kolmogorov–Smirnov p-value under `ks_p` (the change is not sampling noise, which in a
//!   small subgroup alone can push the stability index past its threshold) with either the
//!   population stability index at or over `psi` or the deciles moved by at least
//!   `median_shift` (an assay change; see [`crate::distribution`]);
//! - **missingness** per value-carrying code: the share of its events without a value moved by
//!   at least `missing_change`, with a two-proportion z-score beyond `z`;
//! - **events per patient**: the stability index at or over `psi`, with KS p under `ks_p`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::distribution::{Shift, compare};
use crate::profile::{Month, MonthProfile, Reference};

/// When a change is an alert. The defaults are this crate's stated choices.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Thresholds {
    /// A new code alerts from this many events in the window (default 20).
    pub new_code_events: u64,
    /// A code's rate is judged only when the reference predicts this many events (default 20).
    pub min_expected: f64,
    /// The ratio of observed to expected events that alerts, and its inverse (default 1.5).
    pub rate_ratio: f64,
    /// The z-score a count or share change must also pass (default 5: a false alarm once in
    /// millions of looks at a stable code).
    pub z: f64,
    /// Distributions are compared only with this many values on each side (default 100).
    pub min_values: u64,
    /// The stability index that alerts, with KS p under `ks_p` (default 0.25, "a major
    /// shift").
    pub psi: f64,
    /// The Kolmogorov–Smirnov p-value under which a distribution's change alerts (default
    /// 0.001).
    pub ks_p: f64,
    /// The decile shift (the median of the deciles' relative moves) that alerts with it
    /// (default 0.05).
    pub median_shift: f64,
    /// The change in a code's share of events without a value that alerts (default 0.10).
    pub missing_change: f64,
    /// How far an estimated AUROC may fall below the validated one before it alerts (default
    /// 0.05).
    pub estimated_auroc_drop: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            new_code_events: 20,
            min_expected: 20.0,
            rate_ratio: 1.5,
            z: 5.0,
            min_values: 100,
            psi: 0.25,
            ks_p: 0.001,
            median_shift: 0.05,
            missing_change: 0.10,
            estimated_auroc_drop: 0.05,
        }
    }
}

/// What drifted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A code the reference never saw.
    NewCode,
    /// A code the reference saw often, not seen at all.
    VanishedCode,
    /// A code seen much more or less often.
    CodeRate,
    /// A code's values distributed differently.
    Values,
    /// A code's values missing more or less often.
    Missingness,
    /// Patients with more or fewer events.
    EventsPerPatient,
    /// A task's risks distributed differently from an earlier run's.
    Scores,
    /// A task's performance, estimated from its calibrated risks, below what was validated.
    EstimatedPerformance,
    /// Clinicians overriding most of a task's cards.
    Feedback,
}

/// One alert: what, the figure and the threshold it crossed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// What drifted.
    pub kind: Kind,
    /// The code, where one is concerned.
    pub code: Option<String>,
    /// The statistic that tripped (`events`, `rate_ratio`, `psi`, `median_shift`, …).
    pub statistic: String,
    /// Its value.
    pub value: f64,
    /// The threshold it crossed.
    pub threshold: f64,
    /// The figures behind it, in words.
    pub detail: String,
    /// The subgroup it was found in (`sex=F`, `age=65+`, …); `None` for everyone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subgroup: Option<String>,
}

/// A window checked against the reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// The window's first month.
    pub first: Month,
    /// Its last month.
    pub last: Month,
    /// Active patient-months in the window.
    pub patient_months: u64,
    /// Events in the window.
    pub events: u64,
    /// The alerts, by kind then code.
    pub findings: Vec<Finding>,
}

/// Checks the months `first..=last` of `months` against `reference`. See the module
/// documentation.
pub fn check(
    reference: &Reference,
    months: &BTreeMap<Month, MonthProfile>,
    first: Month,
    last: Month,
    t: &Thresholds,
) -> Check {
    let mut w = MonthProfile::default();
    for (_, p) in months.range(first..=last) {
        w.absorb(p);
    }
    let mut findings = Vec::new();
    let exposure = w.patients as f64;
    for (code, &n) in &w.codes {
        if !reference.codes.contains_key(code) && n >= t.new_code_events {
            findings.push(Finding {
                kind: Kind::NewCode,
                code: Some(code.clone()),
                statistic: "events".into(),
                value: n as f64,
                threshold: t.new_code_events as f64,
                detail: format!(
                    "{n} events of a code the reference period ({}–{}) never saw",
                    reference.first, reference.last
                ),
                subgroup: None,
            });
        }
    }
    for (code, r) in &reference.codes {
        let expected = r.rate * exposure;
        let observed = w.codes.get(code).copied().unwrap_or(0) as f64;
        // A code rare in the reference is judged once it is common enough to be new.
        if expected < t.min_expected && observed < t.new_code_events as f64 {
            continue;
        }
        let ratio = observed / expected;
        let z = (observed - expected) / expected.sqrt();
        if z.abs() >= t.z && (ratio >= t.rate_ratio || ratio <= 1.0 / t.rate_ratio) {
            let vanished = observed == 0.0;
            findings.push(Finding {
                kind: if vanished { Kind::VanishedCode } else { Kind::CodeRate },
                code: Some(code.clone()),
                statistic: "rate_ratio".into(),
                value: ratio,
                threshold: if ratio >= 1.0 { t.rate_ratio } else { 1.0 / t.rate_ratio },
                detail: format!("{observed:.0} events where the reference rate predicts {expected:.1} (z = {z:.1})"),
                subgroup: None,
            });
        }
    }
    for (code, r) in &reference.values {
        let Some(values) = w.values.get(code) else { continue };
        if (values.len() as u64) < t.min_values || r.values.n < t.min_values {
            continue;
        }
        if let Some(f) = compare(&r.values, values).and_then(|shift| value_finding(Kind::Values, Some(code), &shift, t))
        {
            findings.push(f);
        }
        let events = w.codes.get(code).copied().unwrap_or(0);
        if events >= t.min_values {
            let missing = w.without_value.get(code).copied().unwrap_or(0) as f64 / events as f64;
            let pooled = (r.missing * r.events as f64 + missing * events as f64) / (r.events + events) as f64;
            let se = (pooled * (1.0 - pooled) * (1.0 / r.events as f64 + 1.0 / events as f64)).sqrt();
            let change = missing - r.missing;
            if change.abs() >= t.missing_change && se > 0.0 && (change / se).abs() >= t.z {
                findings.push(Finding {
                    kind: Kind::Missingness,
                    code: Some(code.clone()),
                    statistic: "missing_change".into(),
                    value: change,
                    threshold: t.missing_change,
                    detail: format!(
                        "{:.1}% of events without a value, {:.1}% in the reference",
                        missing * 100.0,
                        r.missing * 100.0
                    ),
                    subgroup: None,
                });
            }
        }
    }
    let enough = w.events_per_patient.len() as u64 >= t.min_values && reference.events_per_patient.n >= t.min_values;
    if let Some(shift) = compare(&reference.events_per_patient, &w.events_per_patient)
        .filter(|s| enough && s.psi >= t.psi && s.ks_p < t.ks_p)
    {
        findings.push(Finding {
            kind: Kind::EventsPerPatient,
            code: None,
            statistic: "psi".into(),
            value: shift.psi,
            threshold: t.psi,
            detail: format!("events per active patient-month over {} patient-months", shift.n),
            subgroup: None,
        });
    }
    findings.sort_by(|a, b| (a.kind, &a.code).cmp(&(b.kind, &b.code)));
    Check { first, last, patient_months: w.patients, events: w.events, findings }
}

/// The alert a distribution's shift raises, if any (values, or scores).
pub fn value_finding(kind: Kind, code: Option<&str>, shift: &Shift, t: &Thresholds) -> Option<Finding> {
    let describe = || {
        format!(
            "PSI {:.3}, KS {:.3} (p = {:.2e}), deciles moved {:+.1}% over {} values",
            shift.psi,
            shift.ks,
            shift.ks_p,
            shift.median_shift * 100.0,
            shift.n
        )
    };
    if shift.psi >= t.psi && shift.ks_p < t.ks_p {
        return Some(Finding {
            kind,
            code: code.map(str::to_string),
            statistic: "psi".into(),
            value: shift.psi,
            threshold: t.psi,
            detail: describe(),
            subgroup: None,
        });
    }
    if shift.ks_p < t.ks_p && shift.median_shift.abs() >= t.median_shift {
        return Some(Finding {
            kind,
            code: code.map(str::to_string),
            statistic: "median_shift".into(),
            value: shift.median_shift,
            threshold: t.median_shift,
            detail: describe(),
            subgroup: None,
        });
    }
    None
}
