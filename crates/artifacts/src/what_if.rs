//! A "what if" comparison (`longitude what-if --out`): the foundation model's futures of a task's
//! patients as recorded and with a treatment started or withheld, the outcome's risk in each, and
//! — on simulated data — the generator's true effect of the same change on the same times.

use std::path::PathBuf;

use eval::Interval;
use outputs::artifact::Artifact;
use serde::{Deserialize, Serialize};

/// One comparison, as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WhatIfReport {
    /// The task whose outcome is compared.
    pub task: String,
    /// The treatment's code.
    pub treatment: String,
    /// Started or withheld.
    pub change: ChangeKind,
    /// The codes that count as being on the treatment.
    pub treated_by: Vec<String>,
    /// Whose prediction times: `train`, `tuning`, `held_out` or `all`.
    pub split: String,
    /// The seed of the sample of prediction times and of the futures.
    pub seed: u64,
    /// The model bundle that generated the futures.
    pub model_bundle: PathBuf,
    /// Which prediction times the comparison is about, and why the others are not in it.
    pub cohort: Cohort,
    /// Eligible prediction times sampled.
    pub sampled: usize,
    /// Of which no future of one arm or the other settled the label.
    pub unresolved: usize,
    /// Prediction times compared (both arms settled).
    pub compared: usize,
    /// Share of the compared times with the outcome recorded.
    pub observed_rate: f64,
    /// The model's estimate.
    pub model: ModelArms,
    /// The truth's, or why there is none.
    pub oracle: OracleComparison,
    /// Seconds the comparison took.
    pub seconds: f64,
    /// Every compared prediction time's risks.
    pub rows: Vec<WhatIfRow>,
}

/// The cohort, then the model's (and, when compared, the oracle's) risk as recorded and with
/// the change, their difference and relative risk with intervals.
impl std::fmt::Display for WhatIfReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cohort = &self.cohort;
        writeln!(
            f,
            "{}: {} {} prediction times; {} on the treatment, {} not, {} without a timeline; {} sampled, {} \
             compared, {} unresolved",
            self.task,
            cohort.offered,
            self.split,
            cohort.on_treatment,
            cohort.untreated,
            cohort.without_timeline,
            self.sampled,
            self.compared,
            self.unresolved
        )?;
        writeln!(f, "outcome recorded at {:.2}% of the compared times", 100.0 * self.observed_rate)?;
        // The part of the code after its vocabulary (`RXNORM/1364430` → `1364430`).
        let code = self.treatment.rsplit_once('/').map_or(self.treatment.as_str(), |(_, c)| c);
        let sign = if self.change == ChangeKind::Withhold { "−" } else { "+" };
        write!(
            f,
            "{:<8} {:>12} {:>12} {:>26} {:>22}",
            "source",
            "as recorded",
            format!("{sign} {code}"),
            "difference [95% CI]",
            "relative risk [95% CI]"
        )?;
        write!(f, "\n{}", EffectRow("model", &self.model.effect))?;
        if let Some(truth) = self.oracle.compared() {
            write!(f, "\n{}", EffectRow("oracle", &truth.effect))?;
            let r =
                truth.correlation_with_model.map_or("— (one of them is constant)".to_string(), |r| format!("{r:.3}"));
            write!(f, "\nper-time effects, model vs oracle: correlation {r}")?;
        }
        Ok(())
    }
}

/// One source's row of a what-if table.
struct EffectRow<'a>(&'a str, &'a Effect);

impl std::fmt::Display for EffectRow<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let EffectRow(name, e) = self;
        let points = |i: Option<Interval>| {
            i.map_or("—".to_string(), |i| format!("[{:+.2}, {:+.2}]", 100.0 * i.lower, 100.0 * i.upper))
        };
        let rr = e.relative_risk.map_or("—".to_string(), |r| format!("{r:.2}"));
        let rr_interval =
            e.relative_risk_interval.map_or("—".to_string(), |i| format!("[{:.2}, {:.2}]", i.lower, i.upper));
        write!(
            f,
            "{name:<8} {:>11.2}% {:>11.2}% {:>8} pts {:>17} {rr:>5} {rr_interval:>16}",
            100.0 * e.risk_as_recorded,
            100.0 * e.risk_changed,
            format!("{:+.2}", 100.0 * e.difference),
            points(e.difference_interval),
        )
    }
}

impl Artifact for WhatIfReport {
    const FORMAT: &'static str = "longitude-what-if";
    const VERSION: u32 = 1;
}

/// How the treatment is changed at the prediction time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// Started, for patients not on it.
    Start,
    /// Withheld, from patients on it.
    Withhold,
}

impl ChangeKind {
    /// `start` or `withhold`.
    pub fn name(self) -> &'static str {
        match self {
            ChangeKind::Start => "start",
            ChangeKind::Withhold => "withhold",
        }
    }
}

/// Which prediction times a comparison is about, and why the others are not in it. The counts
/// reconcile: `offered = without_timeline + on_treatment + untreated`, and `eligible` is
/// `untreated` for starting a treatment, `on_treatment` for withholding it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cohort {
    /// Prediction times offered (a task's labels in one split).
    pub offered: usize,
    /// Of which the subject has no timeline in the dataset.
    pub without_timeline: usize,
    /// Of which the record shows the treatment (any of its codes) at or before the prediction
    /// time.
    pub on_treatment: usize,
    /// Of which it does not.
    pub untreated: usize,
    /// The prediction times the comparison may use.
    pub eligible: usize,
}

/// A change's effect on an outcome's risk over a cohort: the mean risk in each arm, their
/// difference and ratio, with subject-level bootstrap intervals (both arms resampled together).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Effect {
    /// Prediction times averaged over.
    pub prediction_times: usize,
    /// Subjects they belong to.
    pub subjects: usize,
    /// Mean risk as recorded.
    pub risk_as_recorded: f64,
    /// Mean risk with the change made.
    pub risk_changed: f64,
    /// `risk_changed − risk_as_recorded` (negative: the change lowers the risk).
    pub difference: f64,
    /// Its 95% interval.
    pub difference_interval: Option<Interval>,
    /// `risk_changed / risk_as_recorded` (none when the as-recorded risk is 0).
    pub relative_risk: Option<f64>,
    /// Its 95% interval.
    pub relative_risk_interval: Option<Interval>,
}

impl Effect {
    /// `1` when the relative risk's interval lies above 1 (the change raises the risk), `-1`
    /// below, `0` when it holds 1 or is unknown.
    pub fn direction(&self) -> i8 {
        match self.relative_risk_interval {
            Some(i) if i.lower > 1.0 => 1,
            Some(i) if i.upper < 1.0 => -1,
            _ => 0,
        }
    }
}

/// The model's side of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelArms {
    /// Futures generated per arm and prediction time.
    pub futures_per_arm: usize,
    /// The compared times' changed futures.
    pub changed_futures: usize,
    /// Of which are changed as the change says (checked on the decoded events).
    pub changed_as_intended: usize,
    /// Each future stops this many days after the prediction time.
    pub horizon_days: i64,
    /// Each future stops after this many tokens.
    pub max_new_tokens: usize,
    /// The model's effect.
    pub effect: Effect,
}

/// The truth's side of a comparison, or why there is none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OracleComparison {
    /// The generator's counterfactual on the same prediction times.
    Compared(TruthArms),
    /// No truth (real data, or no ground truth given).
    NotRun {
        /// Why.
        not_run: String,
    },
}

impl OracleComparison {
    /// The truth's arms, when there is one.
    pub fn compared(&self) -> Option<&TruthArms> {
        match self {
            OracleComparison::Compared(t) => Some(t),
            OracleComparison::NotRun { .. } => None,
        }
    }
}

/// The generator's counterfactual: the same change made in the simulator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthArms {
    /// The simulated drug class changed.
    pub drug_class: String,
    /// The intervention, in words.
    pub intervention: String,
    /// Futures the oracle drew first per prediction time (both arms share them).
    pub first_futures: u32,
    /// Futures it drew at most.
    pub max_futures: u32,
    /// Prediction times it could answer (the generator's subjects, at times it recorded).
    pub answered: usize,
    /// The true effect.
    pub effect: Effect,
    /// Correlation of the per-time effects, model against truth (none when either is constant).
    pub correlation_with_model: Option<f64>,
}

/// One compared prediction time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WhatIfRow {
    /// The subject (pseudonymous).
    pub subject_id: i64,
    /// The prediction time (µs since the epoch).
    pub prediction_time: i64,
    /// The outcome as recorded.
    pub boolean_value: bool,
    /// The model's risk as recorded.
    pub model_as_recorded: f64,
    /// The model's risk with the change.
    pub model_changed: f64,
    /// Futures that settled the label, as recorded and changed.
    pub model_futures_settled: [u32; 2],
    /// The truth's risk as recorded (none without truth, or where it has no answer).
    #[serde(default)]
    pub oracle_as_recorded: Option<f64>,
    /// The truth's risk with the change.
    #[serde(default)]
    pub oracle_changed: Option<f64>,
}
