//! Gates: what `validated` requires, read from the bundle's own validation report.
//!
//! A policy is a YAML file a governance board versions: the tasks the model is for, the method
//! whose figures count (the report's candidate by default), and the gates. Each gate is checked
//! per task on the internal (held-out subjects) evaluation, the external one where the gate
//! compares sites, and records its figure, what was required and its verdict; a failed gate says
//! which task and by how much. The policy's text is hashed and recorded with every decision.
//!
//! ```yaml
//! name: t2d-screening
//! version: 3
//! tasks: [new_t2d_1y]
//! method: fm_probe
//! gates:
//!   auroc_lower_bound: 0.75        # lower end of the AUROC's 95% interval
//!   not_behind: counts_gbm         # the paired AUROC difference's interval may not lie below 0
//!   calibration_slope: [0.8, 1.25]
//!   subgroup_ratios: [0.8, 1.25]   # every measured subgroup ratio (TPR, FPR, PPV, flag rate)
//!   external_drop: 0.10            # internal AUROC minus external AUROC, at most
//!   what_if_agrees: true           # for treatment decisions: no "what if" answer on the task
//!                                  # points the opposite way to the truth
//! approval:
//!   two_person: true               # the approver is not the registrant
//!   roles: [clinical-safety-officer]
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A validation policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Its name.
    pub name: String,
    /// Its version, as the board numbers them.
    pub version: u32,
    /// The tasks the model is validated for: each must be in the report.
    pub tasks: Vec<String>,
    /// The method whose figures are judged [default: the report's candidate].
    #[serde(default)]
    pub method: Option<String>,
    /// The gates.
    pub gates: Gates,
    /// Who may approve.
    #[serde(default)]
    pub approval: Approval,
}

/// The gates; an absent gate is not checked.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gates {
    /// The lower end of the AUROC's interval must reach this.
    #[serde(default)]
    pub auroc_lower_bound: Option<f64>,
    /// The method may not be behind this baseline: the paired AUROC difference's interval may
    /// not lie wholly below zero.
    #[serde(default)]
    pub not_behind: Option<String>,
    /// The calibration slope must lie in this range.
    #[serde(default)]
    pub calibration_slope: Option<[f64; 2]>,
    /// Every measured subgroup ratio must lie in this range.
    #[serde(default)]
    pub subgroup_ratios: Option<[f64; 2]>,
    /// The AUROC may drop from the internal to the external evaluation by at most this.
    #[serde(default)]
    pub external_drop: Option<f64>,
    /// For a model meant to inform treatment decisions: every "what if" comparison on the task
    /// that the truth can judge must agree with it in direction (the card's warning, as a gate).
    #[serde(default)]
    pub what_if_agrees: bool,
}

/// Who may approve a version validated under the policy.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// The approver may not be the person who registered the version.
    #[serde(default)]
    pub two_person: bool,
    /// The roles that may approve [default: any].
    #[serde(default)]
    pub roles: Vec<String>,
}

/// Why a policy could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// Not YAML of a policy.
    #[error("not a validation policy: {0}")]
    Malformed(String),
    /// A range whose ends are reversed, or a negative tolerance.
    #[error("the policy's gate {gate} is impossible: {why}")]
    Impossible {
        /// The gate.
        gate: &'static str,
        /// Why.
        why: &'static str,
    },
}

impl Policy {
    /// Reads a policy from its YAML text; returns it with the SHA-256 (hex) of the text, which is
    /// recorded with every decision made under it.
    pub fn parse(text: &str) -> Result<(Policy, String), PolicyError> {
        let policy: Policy = yaml_serde::from_str(text).map_err(|e| PolicyError::Malformed(e.to_string()))?;
        if policy.tasks.is_empty() {
            return Err(PolicyError::Malformed("it names no task".into()));
        }
        for (gate, range) in
            [("calibration_slope", policy.gates.calibration_slope), ("subgroup_ratios", policy.gates.subgroup_ratios)]
        {
            if let Some([low, high]) = range
                && (low.is_nan() || high.is_nan() || low > high)
            {
                return Err(PolicyError::Impossible { gate, why: "its lower end is above its upper end" });
            }
        }
        if policy.gates.external_drop.is_some_and(|d| d.is_nan() || d < 0.0) {
            return Err(PolicyError::Impossible { gate: "external_drop", why: "the tolerance is negative" });
        }
        let digest: String = Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        Ok((policy, digest))
    }
}

/// One gate's verdict on one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateResult {
    /// The task.
    pub task: String,
    /// The gate.
    pub gate: String,
    /// The figure measured, where there is one.
    pub figure: Option<f64>,
    /// What was required, in words.
    pub required: String,
    /// Whether it passed.
    pub passed: bool,
    /// How it passed or failed, in words (by how much).
    pub detail: String,
}

impl std::fmt::Display for GateResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verdict = if self.passed { "pass" } else { "FAIL" };
        write!(f, "{verdict}  {:<22} {:<20} {}", self.task, self.gate, self.detail)
    }
}

/// The figures the gates read from a validation report (`report/report.json` in a release).
/// Only what the gates need is read; the report's other contents are not this crate's concern.
#[derive(Debug, Clone, Deserialize)]
pub struct Evidence {
    /// The method the model card describes.
    pub candidate: String,
    /// Every setting × task.
    pub tasks: Vec<TaskEvidence>,
    /// "What if" comparisons, with the truth where there is one.
    #[serde(default)]
    pub what_if: Vec<WhatIfEvidence>,
}

impl Evidence {
    /// The validation report of the verified release `verified` (its `report/report.json`).
    pub fn of_release(verified: &provenance::Verified) -> Result<Evidence, String> {
        let release = verified.bundle.manifest().release.as_ref().ok_or("not a release")?;
        let path = verified.bundle.dir().join(&release.report);
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The evaluation of `method` on `task` in the internal (held-out subjects) setting.
    pub fn internal(&self, task: &str, method: &str) -> Option<(&TaskEvidence, &EvaluationEvidence)> {
        let t = self.tasks.iter().find(|t| t.task == task && t.setting.starts_with("internal"))?;
        Some((t, &t.methods.iter().find(|m| m.method == method)?.evaluation))
    }
}

/// One "what if" comparison: the model's relative risk beside the truth's.
#[derive(Debug, Clone, Deserialize)]
pub struct WhatIfEvidence {
    /// The task.
    pub task: String,
    /// The treatment changed.
    pub treatment: String,
    /// How (`withhold`, `start`).
    pub change: String,
    /// The model's answer.
    pub model: ArmEvidence,
    /// The truth's, where there is one.
    pub oracle: Option<ArmEvidence>,
}

/// A relative risk and its interval.
#[derive(Debug, Clone, Deserialize)]
pub struct ArmEvidence {
    /// Changed over as recorded.
    pub relative_risk: Option<f64>,
    /// Its interval.
    pub relative_risk_interval: Option<Interval>,
}

impl ArmEvidence {
    /// +1 if the interval lies above 1, -1 if below, 0 if it holds 1 or is missing.
    fn direction(&self) -> i8 {
        match self.relative_risk_interval {
            Some(i) if i.lower > 1.0 => 1,
            Some(i) if i.upper < 1.0 => -1,
            _ => 0,
        }
    }
}

/// One task in one setting.
#[derive(Debug, Clone, Deserialize)]
pub struct TaskEvidence {
    /// The task.
    pub task: String,
    /// The setting: `internal: …`, `temporal: …` or `external: …`.
    pub setting: String,
    /// What the task predicts, in words.
    #[serde(default)]
    pub description: String,
    /// Each method's evaluation.
    pub methods: Vec<MethodEvidence>,
    /// Paired comparisons with the baseline.
    #[serde(default)]
    pub comparisons: Vec<ComparisonEvidence>,
}

/// One method's evaluation.
#[derive(Debug, Clone, Deserialize)]
pub struct MethodEvidence {
    /// The method.
    pub method: String,
    /// Its evaluation.
    pub evaluation: EvaluationEvidence,
}

/// The parts of an evaluation the gates read.
#[derive(Debug, Clone, Deserialize)]
pub struct EvaluationEvidence {
    /// Point metrics.
    pub metrics: MetricsEvidence,
    /// Bootstrap intervals.
    pub intervals: IntervalsEvidence,
    /// The subgroup audit.
    #[serde(default)]
    pub fairness: Vec<AttributeEvidence>,
    /// The operating point the report audits (a threshold and what it gives).
    #[serde(default)]
    pub audit_point: Option<OperatingPointEvidence>,
}

/// An operating point: a threshold on the risk and what flagging at it gave on held-out data.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct OperatingPointEvidence {
    /// Risks at or above it are flagged (absent where no threshold reached the audited
    /// specificity).
    pub threshold: Option<f64>,
    /// Share of those with the outcome flagged.
    pub sensitivity: Option<f64>,
    /// Share of those without it not flagged.
    pub specificity: Option<f64>,
    /// Share of the flagged with the outcome.
    pub ppv: Option<f64>,
    /// Share flagged.
    pub flag_rate: Option<f64>,
}

/// Point metrics.
#[derive(Debug, Clone, Deserialize)]
pub struct MetricsEvidence {
    /// AUROC (absent with one class).
    pub auroc: Option<f64>,
    /// Share of examples with the outcome.
    #[serde(default)]
    pub prevalence: Option<f64>,
    /// Calibration slope.
    pub calibration_slope: Option<f64>,
}

/// Intervals.
#[derive(Debug, Clone, Deserialize)]
pub struct IntervalsEvidence {
    /// The AUROC's (absent when too few positives to resample).
    pub auroc: Option<Interval>,
}

/// A confidence interval.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct Interval {
    /// Lower end.
    pub lower: f64,
    /// Upper end.
    pub upper: f64,
}

/// A paired comparison.
#[derive(Debug, Clone, Deserialize)]
pub struct ComparisonEvidence {
    /// The method compared.
    pub candidate: String,
    /// The baseline.
    pub baseline: String,
    /// The paired difference, where one could be had.
    pub paired: Option<PairedEvidence>,
}

/// A paired AUROC difference.
#[derive(Debug, Clone, Deserialize)]
pub struct PairedEvidence {
    /// Candidate minus baseline.
    pub difference: f64,
    /// Its interval (absent when too few positives to resample).
    pub interval: Option<Interval>,
}

/// One attribute's subgroups.
#[derive(Debug, Clone, Deserialize)]
pub struct AttributeEvidence {
    /// The attribute (sex, age band, …).
    pub attribute: String,
    /// Its groups.
    pub groups: Vec<GroupEvidence>,
}

/// One subgroup's ratios to the reference group.
#[derive(Debug, Clone, Deserialize)]
pub struct GroupEvidence {
    /// The group.
    pub group: String,
    /// Ratio name → value (absent where not measurable).
    #[serde(default)]
    pub ratios: BTreeMap<String, Option<f64>>,
}

impl Evidence {
    fn find(&self, task: &str, setting: &str) -> Option<&TaskEvidence> {
        self.tasks.iter().find(|t| t.task == task && t.setting.starts_with(setting))
    }
}

impl TaskEvidence {
    fn method(&self, method: &str) -> Option<&EvaluationEvidence> {
        self.methods.iter().find(|m| m.method == method).map(|m| &m.evaluation)
    }
}

/// Checks every gate of `policy` on every task it names, against `evidence`. A task or method
/// missing from the report fails every gate on it, saying so.
pub fn evaluate(policy: &Policy, evidence: &Evidence) -> Vec<GateResult> {
    let method = policy.method.as_deref().unwrap_or(&evidence.candidate);
    let gates = &policy.gates;
    let mut results = Vec::new();
    for task in &policy.tasks {
        let mut push = |gate: &str, figure: Option<f64>, required: String, passed: bool, detail: String| {
            results.push(GateResult { task: task.clone(), gate: gate.into(), figure, required, passed, detail });
        };
        let internal = evidence.find(task, "internal");
        let Some(evaluation) = internal.and_then(|t| t.method(method)) else {
            push(
                "report",
                None,
                format!("{method} evaluated on held-out subjects"),
                false,
                format!("the report has no internal evaluation of {method} on {task}"),
            );
            continue;
        };
        if let Some(bound) = gates.auroc_lower_bound {
            let required = format!("AUROC interval's lower end >= {bound:.3}");
            match evaluation.intervals.auroc {
                Some(i) if i.lower >= bound => {
                    push("auroc_lower_bound", Some(i.lower), required, true, format!("{:.3} >= {bound:.3}", i.lower))
                }
                Some(i) => push(
                    "auroc_lower_bound",
                    Some(i.lower),
                    required,
                    false,
                    format!("{:.3} < {bound:.3}: short by {:.3}", i.lower, bound - i.lower),
                ),
                None => {
                    push("auroc_lower_bound", None, required, false, "no AUROC interval (too few positives)".into())
                }
            }
        }
        if let Some(baseline) = &gates.not_behind {
            let required = format!("not behind {baseline} (paired AUROC difference's interval not below 0)");
            let paired = internal
                .and_then(|t| t.comparisons.iter().find(|c| c.candidate == method && &c.baseline == baseline))
                .and_then(|c| c.paired.as_ref());
            match paired.map(|p| (p.difference, p.interval)) {
                Some((difference, Some(i))) if i.upper >= 0.0 => push(
                    "not_behind",
                    Some(difference),
                    required,
                    true,
                    format!("{difference:+.3} [{:+.3}, {:+.3}]", i.lower, i.upper),
                ),
                Some((difference, Some(i))) => push(
                    "not_behind",
                    Some(difference),
                    required,
                    false,
                    format!("behind {baseline} by {:.3} [{:+.3}, {:+.3}]", -difference, i.lower, i.upper),
                ),
                Some((difference, None)) => push(
                    "not_behind",
                    Some(difference),
                    required,
                    false,
                    format!("{difference:+.3} with no interval (too few positives): not shown level"),
                ),
                None => push("not_behind", None, required, false, format!("no paired comparison with {baseline}")),
            }
        }
        if let Some([low, high]) = gates.calibration_slope {
            let required = format!("calibration slope in [{low}, {high}]");
            match evaluation.metrics.calibration_slope {
                Some(slope) if (low..=high).contains(&slope) => {
                    push("calibration_slope", Some(slope), required, true, format!("{slope:.3}"))
                }
                Some(slope) => {
                    let by = if slope < low { low - slope } else { slope - high };
                    push("calibration_slope", Some(slope), required, false, format!("{slope:.3}: outside by {by:.3}"))
                }
                None => push("calibration_slope", None, required, false, "no calibration slope measured".into()),
            }
        }
        if let Some([low, high]) = gates.subgroup_ratios {
            let required = format!("every subgroup ratio in [{low}, {high}]");
            let mut worst: Option<(f64, f64, String)> = None;
            let mut measured = 0;
            for attribute in &evaluation.fairness {
                for group in &attribute.groups {
                    for (ratio, value) in &group.ratios {
                        let Some(value) = *value else { continue };
                        measured += 1;
                        let by = if value < low {
                            low - value
                        } else if value > high {
                            value - high
                        } else {
                            0.0
                        };
                        if by > worst.as_ref().map_or(0.0, |w| w.1) {
                            worst = Some((value, by, format!("{} {} {ratio}", attribute.attribute, group.group)));
                        }
                    }
                }
            }
            match worst {
                None if measured > 0 => {
                    push("subgroup_ratios", None, required, true, format!("all {measured} measured ratios within"))
                }
                None => push("subgroup_ratios", None, required, false, "no subgroup ratio measured".into()),
                Some((value, by, which)) => push(
                    "subgroup_ratios",
                    Some(value),
                    required,
                    false,
                    format!("{which} = {value:.2}: outside by {by:.2} (the worst of {measured})"),
                ),
            }
        }
        if let Some(tolerance) = gates.external_drop {
            let required = format!("external AUROC at most {tolerance:.3} below internal");
            let external = evidence.find(task, "external").and_then(|t| t.method(method));
            match (evaluation.metrics.auroc, external.and_then(|e| e.metrics.auroc)) {
                (Some(inside), Some(outside)) => {
                    let drop = inside - outside;
                    let detail = format!("{inside:.3} internal, {outside:.3} external: drop {drop:+.3}");
                    if drop <= tolerance {
                        push("external_drop", Some(drop), required, true, detail)
                    } else {
                        push(
                            "external_drop",
                            Some(drop),
                            required,
                            false,
                            format!("{detail}, over by {:.3}", drop - tolerance),
                        )
                    }
                }
                _ => push("external_drop", None, required, false, "no external evaluation in the report".into()),
            }
        }
        if gates.what_if_agrees {
            let required = "every judged \"what if\" answer agrees with the truth in direction".to_string();
            let judged: Vec<&WhatIfEvidence> = evidence
                .what_if
                .iter()
                .filter(|w| {
                    &w.task == task && w.oracle.as_ref().is_some_and(|o| o.direction() != 0) && w.model.direction() != 0
                })
                .collect();
            let opposite: Vec<String> = judged
                .iter()
                .filter(|w| w.oracle.as_ref().is_some_and(|o| o.direction() != w.model.direction()))
                .map(|w| {
                    let rr = |a: &ArmEvidence| a.relative_risk.map_or("n/a".to_string(), |r| format!("{r:.2}"));
                    let truth = w.oracle.as_ref().map_or("n/a".to_string(), rr);
                    format!("{} {}: model RR {}, true RR {truth}", w.change, w.treatment, rr(&w.model))
                })
                .collect();
            let unresolved = evidence.what_if.iter().filter(|w| &w.task == task).count() - judged.len();
            if opposite.is_empty() {
                push(
                    "what_if_agrees",
                    None,
                    required,
                    true,
                    format!("{} judged agree; {unresolved} not resolved either way", judged.len()),
                )
            } else {
                push(
                    "what_if_agrees",
                    None,
                    required,
                    false,
                    format!(
                        "not for treatment decisions: opposite to the truth on {} ({})",
                        opposite.len(),
                        opposite.join("; ")
                    ),
                )
            }
        }
    }
    results
}
