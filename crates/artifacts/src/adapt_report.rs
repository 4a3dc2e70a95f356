//! `adapt_report.json`: what `longitude adapt` fitted for every task, how, and why a method the
//! report expects did not run. The predictions themselves are MEDS prediction files beside it
//! (`<task>/<method>.parquet`); this file is what a reader needs to evaluate them honestly: the
//! validation setting, each method's sample design, the recalibration kept.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use outputs::artifact::{Artifact, ArtifactError};
use serde::{Deserialize, Serialize};

use crate::recalibration::ClosedTest;
use crate::samples::{SampleDesign, TrainSample};

/// The file's name in an adapt output directory.
pub const FILE: &str = "adapt_report.json";

/// `longitude adapt`'s account of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdaptReport {
    /// How prediction times were split into train, tuning and held-out.
    pub split: SplitRecord,
    /// How the oracle drew its futures, when it ran (simulated data only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oracle: Option<OracleDraws>,
    /// Every task run, by name.
    pub tasks: BTreeMap<String, TaskAdaptation>,
}

impl Artifact for AdaptReport {
    const FORMAT: &'static str = "longitude-adapt-report";
    const VERSION: u32 = 1;
}

impl AdaptReport {
    /// The report in the adapt output directory `dir`.
    pub fn read(dir: &Path) -> Result<AdaptReport, ArtifactError> {
        outputs::artifact::read(&dir.join(FILE))
    }

    /// Writes the report into the adapt output directory `dir`.
    pub fn write(&self, dir: &Path) -> Result<(), ArtifactError> {
        outputs::artifact::write(&dir.join(FILE), self)
    }

    /// The path of the report in `dir`.
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(FILE)
    }

    /// How the predictions in `DIR/<task>/<method>.parquet` were sampled from the held-out
    /// times, when `longitude adapt` scored that method on a case-control sample (from
    /// `DIR/adapt_report.json`). `None` for a file elsewhere, or one scored on every time; an
    /// error when the report beside it cannot be read.
    pub fn case_control_design_of(predictions: &Path) -> Result<Option<SampleDesign>, ArtifactError> {
        let parts = || {
            let method = predictions.file_stem()?.to_str()?;
            let task_dir = predictions.parent()?;
            let task = task_dir.file_name()?.to_str()?;
            Some((method, task, task_dir.parent()?))
        };
        let Some((method, task, dir)) = parts() else { return Ok(None) };
        if !Self::path(dir).is_file() {
            return Ok(None);
        }
        let report = Self::read(dir)?;
        Ok(report.tasks.get(task).and_then(|t| t.case_control_design(method)).copied())
    }
}

/// The split scheme a run used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitRecord {
    /// As given (`subject`, `temporal:2021-01-01`, `site:north`).
    pub scheme: String,
    /// In words, starting with the validation setting: `internal: …`, `temporal: …` or
    /// `external: …`.
    pub description: String,
}

impl SplitRecord {
    /// The validation setting: `internal`, `temporal` or `external`.
    pub fn setting(&self) -> &str {
        self.description.split(':').next().unwrap_or_default()
    }
}

/// How the oracle's risks were drawn, so that a reader can tell a quantised ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OracleDraws {
    /// Futures drawn first per prediction time.
    pub first_futures: u32,
    /// Futures drawn at most.
    pub max_futures: u32,
    /// Outcomes seen after which no more futures were drawn.
    pub drawn_until_outcomes: u32,
}

/// One task's run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskAdaptation {
    /// The examples and every method fitted on them.
    pub run: RunSummary,
    /// Labels dropped: their subject has no split, or the split scheme assigns them none.
    pub labels_without_subject_or_split: usize,
    /// What zero-shot prediction did, when it ran.
    #[serde(default)]
    pub zero_shot: Option<ZeroShotSummary>,
    /// Methods scored on a sample of the held-out times, and how to weight it back.
    #[serde(default)]
    pub samples: BTreeMap<String, SampleDesign>,
    /// Methods fitted on a sample of train, and how it was drawn.
    #[serde(default)]
    pub train_samples: BTreeMap<String, TrainSample>,
    /// Why each method the report expects has no predictions here (method → reason).
    #[serde(default)]
    pub not_run: BTreeMap<String, String>,
    /// Few-shot curves (`--few-shot`), by method.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub few_shot: Vec<FewShotCurve>,
}

impl TaskAdaptation {
    /// The method's fit, if it ran.
    pub fn method(&self, name: &str) -> Option<&MethodFit> {
        self.run.methods.iter().find(|m| m.method == name)
    }

    /// How `method`'s held-out predictions were sampled, when they are a case-control sample
    /// (evaluating them needs [`SampleDesign::weight`]).
    pub fn case_control_design(&self, method: &str) -> Option<&SampleDesign> {
        self.samples.get(method).filter(|d| d.is_case_control())
    }

    /// The header of the table `longitude adapt` prints as it goes ([`TaskAdaptation::table_rows`]).
    pub fn table_header() -> String {
        format!(
            "{:<24} {:>8} {:>8} {:>8} {:>9}  {:<16} {:>8} {:>8}",
            "task", "train", "tuning", "held_out", "features", "method", "tune AUC", "secs"
        )
    }

    /// Task `task`'s rows of that table: one per method, with the split sizes and features.
    pub fn table_rows(&self, task: &str) -> Vec<String> {
        let run = &self.run;
        let count = |split: &str| run.examples.get(split).copied().unwrap_or(0);
        let (train, tuning, held_out) = (count("train"), count("tuning"), count("held_out"));
        run.methods
            .iter()
            .map(|m| {
                let auroc = m.tuning_auroc.map_or("—".into(), |a| format!("{a:.3}"));
                format!(
                    "{task:<24} {train:>8} {tuning:>8} {held_out:>8} {:>9}  {:<16} {auroc:>8} {:>8.1}",
                    run.features, m.method, m.seconds
                )
            })
            .collect()
    }
}

/// The examples of one task and the methods fitted on them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Examples per split.
    pub examples: BTreeMap<String, usize>,
    /// Positives per split.
    pub positives: BTreeMap<String, usize>,
    /// Count features.
    pub features: usize,
    /// The methods, in the order they were fitted.
    pub methods: Vec<MethodFit>,
}

/// How one method was fitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodFit {
    /// `demographics_lr`, `counts_lr`, `counts_gbm`, `fm_probe`, `fm_finetune`, `fm_zero_shot`,
    /// `oracle`.
    pub method: String,
    /// The regularisation chosen (logistic regression).
    pub lambda: Option<f64>,
    /// Tuning-split AUROC of the chosen model.
    pub tuning_auroc: Option<f64>,
    /// Seconds to fit (including the search).
    pub seconds: f64,
    /// The recalibration tested on tuning after the model (the probe, the fine-tuned head): what
    /// was kept and why; none where tuning had too few positives to test.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recalibration: Option<ClosedTest>,
}

/// What zero-shot prediction of one task did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ZeroShotSummary {
    /// Prediction times scored.
    pub prediction_times: usize,
    /// Of which futures were generated for this task (the rest were shared with earlier tasks).
    pub generated: usize,
    /// Of which futures began with the given trigger event (tasks predicting before it).
    pub prompted: usize,
    /// Futures read in all (generated futures × `value_draws`).
    pub futures: u64,
    /// Readings of each generated future, its values drawn afresh each time.
    pub value_draws: usize,
    /// Futures that settled the label.
    pub resolved: u64,
    /// Prediction times where no future settled the label: left without a prediction (so the
    /// method is evaluated on `prediction_times - unresolved_prediction_times` of them).
    pub unresolved_prediction_times: usize,
    /// How the scored prediction times were drawn from the held-out ones.
    pub sample: SampleDesign,
}

/// One point of a few-shot curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FewShotPoint {
    /// Examples per class (`None`: all of train).
    pub k: Option<usize>,
    /// Mean held-out AUROC over the replicates.
    pub auroc: Option<f64>,
    /// Each replicate's held-out AUROC.
    pub replicates: Vec<Option<f64>>,
}

/// A method's few-shot curve: held-out AUROC by examples per class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FewShotCurve {
    /// The method (`counts_lr`, `counts_gbm`, `fm_probe`).
    pub method: String,
    /// Points by increasing k, then all of train.
    pub points: Vec<FewShotPoint>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_reads_back_as_written() {
        let dir = tempfile::tempdir().expect("dir");
        let mut tasks = BTreeMap::new();
        tasks.insert(
            "mi_1y".to_string(),
            TaskAdaptation {
                run: RunSummary {
                    examples: BTreeMap::from([("train".into(), 80), ("held_out".into(), 20)]),
                    positives: BTreeMap::from([("train".into(), 8), ("held_out".into(), 2)]),
                    features: 12,
                    methods: vec![MethodFit {
                        method: "counts_lr".into(),
                        lambda: Some(0.1),
                        tuning_auroc: None,
                        seconds: 0.5,
                        recalibration: None,
                    }],
                },
                labels_without_subject_or_split: 1,
                zero_shot: None,
                samples: BTreeMap::from([(
                    "fm_zero_shot".into(),
                    SampleDesign {
                        population_positives: 2,
                        population_negatives: 18,
                        sampled_positives: 2,
                        sampled_negatives: 4,
                    },
                )]),
                train_samples: BTreeMap::new(),
                not_run: BTreeMap::from([("oracle".into(), "no ground truth".into())]),
                few_shot: Vec::new(),
            },
        );
        let report = AdaptReport {
            split: SplitRecord { scheme: "subject".into(), description: "internal: the dataset's splits".into() },
            oracle: None,
            tasks,
        };
        report.write(dir.path()).expect("write");
        let back = AdaptReport::read(dir.path()).expect("read");
        assert_eq!(back, report);
        assert_eq!(back.split.setting(), "internal");
        let task = &back.tasks["mi_1y"];
        assert!(task.method("counts_lr").is_some() && task.method("fm_probe").is_none());
        assert_eq!(task.case_control_design("fm_zero_shot").map(|d| d.weight(false)), Some(4.5));
    }
}
