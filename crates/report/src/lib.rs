//! The validation report: what a governance board reads before it approves a model version.
//!
//! [`Report`] gathers, per task, every method's [`eval::Evaluation`] (baselines, the foundation
//! model's adaptations, the oracle when ground truth exists). [`html`] renders it as one
//! self-contained page — inline CSS and SVG, no scripts, nothing fetched — and [`card`] derives
//! the model card (HTI-1 source attributes, CHAI export) from the same measurements.
//! [`validate`] builds it all from `longitude adapt`'s output directories ([`build`]) and writes
//! it ([`write`]).

pub mod card;
pub mod html;
pub mod svg;
pub mod targets;
pub mod validate;

pub use validate::{
    FileEvaluation, PairedWith, ReportPlan, ValidateError, build, check_pairable, compare_files, evaluate_file, write,
};

use serde::Serialize;

/// One method's evaluation on one task.
#[derive(Debug, Clone, Serialize)]
pub struct MethodResult {
    /// `demographics_lr`, `counts_lr`, `counts_gbm`, `fm_probe`, `fm_finetune`, `fm_zero_shot`, `oracle`, ….
    pub method: String,
    /// Its held-out evaluation.
    pub evaluation: eval::Evaluation,
    /// For diagnosis tasks with ground truth: how early its alerts (at 90% specificity) precede
    /// the coded diagnosis and the true onset.
    pub lead_times: Vec<eval::LeadTime>,
    /// The recalibration kept on tuning, for the methods that are tested (the probe, the
    /// fine-tuned head) where tuning had enough positives.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recalibration: Option<artifacts::ClosedTest>,
}

/// One task's results.
#[derive(Debug, Clone, Serialize)]
pub struct TaskResult {
    /// The task name.
    pub task: String,
    /// The validation setting: `internal: …`, `temporal: …` or `external: …`.
    pub setting: String,
    /// What it predicts.
    pub description: Option<String>,
    /// Each method, in display order.
    pub methods: Vec<MethodResult>,
    /// Few-shot curves, when computed.
    pub few_shot: Vec<FewShot>,
    /// Why a method has no results for this task (method → reason), as the run recorded it.
    pub not_run: std::collections::BTreeMap<String, String>,
    /// The foundation model's methods, and the oracle, paired against the count GBM on the same
    /// held-out times.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub comparisons: Vec<Comparison>,
}

/// One method against another on the prediction times both scored (a paired subject-level
/// bootstrap: each resample scores both on the same subjects).
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// The method compared (`fm_probe`, `fm_finetune`, `oracle`).
    pub candidate: String,
    /// What it is compared with (`counts_gbm`).
    pub baseline: String,
    /// Candidate's AUROC minus the baseline's, with its interval.
    pub paired: eval::paired::PairedDifference,
}

impl TaskResult {
    /// The paired comparison of `candidate` against `baseline`, if measured.
    pub fn comparison(&self, candidate: &str, baseline: &str) -> Option<&eval::paired::PairedDifference> {
        self.comparisons.iter().find(|c| c.candidate == candidate && c.baseline == baseline).map(|c| &c.paired)
    }
}

/// A few-shot curve: held-out AUROC by examples per class (`None`: all of train).
#[derive(Debug, Clone, Serialize)]
pub struct FewShot {
    /// The method.
    pub method: String,
    /// `(k, mean AUROC)` by increasing k, then all of train.
    pub points: Vec<(Option<usize>, Option<f64>)>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Title.
    pub title: String,
    /// Generation time (ISO 8601).
    pub generated: String,
    /// The data it was measured on, in words.
    pub dataset: String,
    /// The method the model card describes.
    pub candidate: String,
    /// External validation, in words, when one was done.
    pub external: Option<String>,
    /// Tasks.
    pub tasks: Vec<TaskResult>,
    /// The validation targets, each checked on these results ([`targets::targets`]).
    pub targets: Vec<targets::Target>,
    /// "What if" comparisons (`longitude what-if`) put before the board, with the truth where
    /// one exists.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub what_if: Vec<WhatIf>,
}

/// The report as `longitude report` prints it: every setting × task × method's AUROC with its
/// interval, then each target's status.
impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{:<9} {:<24} {:<16} {:>8} {:>24}", "setting", "task", "method", "n", "AUROC [95% CI]")?;
        for t in &self.tasks {
            let setting = t.setting.split(':').next().unwrap_or_default();
            for m in &t.methods {
                let e = &m.evaluation;
                let ci = e.intervals.auroc.map_or(String::new(), |i| format!(" [{:.3}, {:.3}]", i.lower, i.upper));
                let auroc = e.metrics.auroc.map_or("—".into(), |a| format!("{a:.3}{ci}"));
                writeln!(f, "{setting:<9} {:<24} {:<16} {:>8} {auroc:>24}", t.task, m.method, e.n)?;
            }
        }
        write!(f, "targets (internal split):")?;
        for t in &self.targets {
            let status = format!("{:?}", t.status).to_lowercase();
            write!(f, "\n  {status:<13} {} — {}", t.asked, t.measured)?;
        }
        Ok(())
    }
}

/// One "what if" comparison: the foundation model's futures as recorded and with a treatment
/// started or withheld, and the generator's counterfactual truth on the same prediction times.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WhatIf {
    /// The task whose outcome is compared.
    pub task: String,
    /// The treatment's code.
    pub treatment: String,
    /// `start` or `withhold`.
    pub change: String,
    /// Prediction times compared.
    pub compared: usize,
    /// The model's estimate.
    pub model: artifacts::Effect,
    /// The truth, on simulated data.
    pub oracle: Option<artifacts::Effect>,
    /// Correlation of the per-time effects, model against truth.
    pub correlation: Option<f64>,
}

impl WhatIf {
    /// How the model's answer stands against the truth: `agrees` (both intervals on the same
    /// side of 1), `opposite` (on opposite sides), `unresolved` (one holds 1) or `no truth`.
    pub fn verdict(&self) -> &'static str {
        let Some(truth) = &self.oracle else { return "no truth" };
        match (self.model.direction(), truth.direction()) {
            (0, _) | (_, 0) => "unresolved",
            (a, b) if a == b => "agrees",
            _ => "opposite",
        }
    }
}

/// A report of `tasks` and `what_if` comparisons with placeholder metadata, for tests.
#[cfg(test)]
pub(crate) fn test_report(tasks: Vec<TaskResult>, what_if: Vec<WhatIf>) -> Report {
    Report {
        title: "t".into(),
        generated: "now".into(),
        dataset: "d".into(),
        candidate: "fm_probe".into(),
        external: None,
        tasks,
        targets: Vec::new(),
        what_if,
    }
}

/// Escapes text for HTML and SVG.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
