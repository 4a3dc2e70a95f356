//! From predictions to the report: [`evaluate_file`] evaluates one predictions file (weighted
//! back to its population when `longitude adapt` scored a case-control sample), and [`build`]
//! evaluates every task × method of one or more adapt output directories — internal, temporal,
//! external — into the [`Report`] and its model card, which [`write`] puts on disk.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use artifacts::{AdaptReport, ArtifactError, WhatIfReport};
use eval::{Evaluation, Options};
use meds::labels::BooleanPrediction;

use crate::card::{CardInfo, ModelCard, chai, model_card};
use crate::{Comparison, FewShot, MethodResult, Report, TaskResult, WhatIf};

/// Method display order: baselines, then the foundation model, then the oracle.
pub const ORDER: [&str; 8] =
    ["demographics_lr", "counts_lr", "counts_gbm", "meds_tab", "fm_probe", "fm_finetune", "fm_zero_shot", "oracle"];

/// The method every foundation-model method is paired against.
pub const PAIRED_BASELINE: &str = "counts_gbm";
/// The methods paired against it: the foundation model's, and the oracle (how far above the
/// baseline the best possible model is: the room any model has to beat it).
pub const PAIRED_CANDIDATES: [&str; 3] = ["fm_probe", "fm_finetune", "oracle"];

/// What to put in the report.
#[derive(Debug, Clone)]
pub struct ReportPlan {
    /// Adapt output directories (`<task>/<method>.parquet` and `adapt_report.json`), one per
    /// validation setting.
    pub adapt: Vec<PathBuf>,
    /// The generator's ground truth: lead times before the coded diagnosis and the true onset
    /// for the diagnosis tasks. Synthetic data only.
    pub truth: Option<PathBuf>,
    /// Subjects' sites (parquet: `subject_id`, `site`): adds `site` to the fairness audit.
    pub sites: Option<PathBuf>,
    /// The MEDS dataset the predictions are about (subgroups for the fairness audit).
    pub meds: PathBuf,
    /// The method the model card describes.
    pub candidate: String,
    /// Patient-level bootstrap resamples.
    pub resamples: usize,
    /// The chronic-disease tasks held to the oracle target (empty: the built-in suite's).
    pub chronic: Vec<String>,
    /// `longitude what-if` comparisons to put before the board.
    pub what_if: Vec<PathBuf>,
    /// The report's title.
    pub title: String,
}

impl ReportPlan {
    /// Every path the plan reads: an output directory must lie apart from them.
    pub fn inputs(&self) -> Vec<&Path> {
        let optional = [self.truth.as_deref(), self.sites.as_deref()].into_iter().flatten();
        self.adapt
            .iter()
            .chain(&self.what_if)
            .map(PathBuf::as_path)
            .chain([self.meds.as_path()])
            .chain(optional)
            .collect()
    }
}

/// Why a report could not be built. Names files and counts, never patient data.
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    /// The dataset or a predictions file.
    #[error(transparent)]
    Meds(#[from] meds::MedsError),
    /// Evaluation failed (e.g. predictions of subjects the dataset does not have).
    #[error("{path}: {source}")]
    Evaluate {
        /// The predictions file.
        path: PathBuf,
        /// Why.
        #[source]
        source: eval::EvalError,
    },
    /// The sites table.
    #[error(transparent)]
    Eval(#[from] eval::EvalError),
    /// An adapt report or what-if file.
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    /// The generator's ground truth.
    #[error(transparent)]
    Truth(#[from] synth::SynthError),
    /// An adapt directory could not be listed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A paired comparison was asked of a case-control sample.
    #[error(
        "--compare-with: {0} holds a case-control sample of the prediction times; a paired comparison needs every \
         time scored by both"
    )]
    CaseControl(PathBuf),
    /// Two predictions files share no prediction time with both outcomes.
    #[error("--compare-with: {0} and {1} share no prediction times with both outcomes (same subject, time and label)")]
    NothingShared(PathBuf, PathBuf),
    /// Nothing to report.
    #[error("no predictions (<task>/<method>.parquet) under the adapt directories")]
    NoPredictions,
    /// A report file could not be written.
    #[error(transparent)]
    Write(#[from] outputs::atomic::WriteError),
}

/// Evaluates one predictions file (the meds-evaluation schema). With `meds_root`, the fairness
/// audit reads subgroups from that dataset. A file `longitude adapt` wrote for a method it
/// scored on a case-control sample (recorded in the `adapt_report.json` beside its task
/// directory) is weighted back to the held-out population it was drawn from.
pub fn evaluate_file(
    predictions: &Path,
    meds_root: Option<&Path>,
    options: &Options,
) -> Result<Evaluation, ValidateError> {
    let evaluate = |source| ValidateError::Evaluate { path: predictions.to_path_buf(), source };
    let preds = meds::labels::read_boolean_predictions(predictions)?;
    let attributes = match meds_root {
        Some(root) => eval::attributes::from_meds(&meds::Dataset::open(root)?, &preds).map_err(evaluate)?,
        None => Vec::new(),
    };
    let design = AdaptReport::case_control_design_of(predictions)?
        .map(|d| preds.iter().map(|p| d.weight(p.label.value)).collect::<Vec<f64>>());
    eval::evaluate_weighted(&preds, design.as_deref(), &attributes, options).map_err(evaluate)
}

/// One predictions file evaluated, with its paired comparison against another method's
/// predictions of the same labels when one was asked for (`longitude evaluate --out`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileEvaluation {
    /// The evaluation.
    #[serde(flatten)]
    pub evaluation: Evaluation,
    /// The paired comparison.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paired: Option<PairedWith>,
}

/// The evaluated predictions' AUROC against another method's on the same labels.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PairedWith {
    /// The other method's predictions file.
    pub baseline: PathBuf,
    /// The AUROC difference, evaluated minus baseline, with its paired interval.
    pub difference: eval::paired::PairedDifference,
}

/// The line `longitude evaluate` prints: both AUROCs, the difference with its interval, and
/// whether the evaluated model is ahead, level or behind.
impl std::fmt::Display for PairedWith {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let d = &self.difference;
        let difference = match d.interval {
            Some(i) => format!("{:+.3} [{:+.3}, {:+.3}]", d.difference, i.lower, i.upper),
            None => format!("{:+.3}", d.difference),
        };
        write!(
            f,
            "paired with {}: AUROC {:.3} vs {:.3}, difference {difference} on {} shared times ({} positive): {}",
            self.baseline.display(),
            d.candidate_auroc,
            d.baseline_auroc,
            d.rows,
            d.positives,
            d.verdict().map_or("no interval", eval::paired::Verdict::as_str)
        )
    }
}

/// Refuses a paired comparison of a case-control sample: both files must score every time.
pub fn check_pairable(files: [&Path; 2]) -> Result<(), ValidateError> {
    for file in files {
        if AdaptReport::case_control_design_of(file)?.is_some() {
            return Err(ValidateError::CaseControl(file.to_path_buf()));
        }
    }
    Ok(())
}

/// The AUROC of `predictions` minus that of `baseline` on the prediction times both scored,
/// with a paired patient-level bootstrap interval.
pub fn compare_files(predictions: &Path, baseline: &Path, options: &Options) -> Result<PairedWith, ValidateError> {
    let ours = meds::labels::read_boolean_predictions(predictions)?;
    let theirs = meds::labels::read_boolean_predictions(baseline)?;
    let difference = eval::paired::paired_auroc(&theirs, &ours, options.resamples, options.seed, options.level)
        .ok_or_else(|| ValidateError::NothingShared(predictions.to_path_buf(), baseline.to_path_buf()))?;
    Ok(PairedWith { baseline: baseline.to_path_buf(), difference })
}

fn entries(dir: &Path) -> Result<Vec<PathBuf>, ValidateError> {
    let read = std::fs::read_dir(dir).map_err(|source| ValidateError::Io { path: dir.to_path_buf(), source })?;
    let mut v: Vec<PathBuf> = read.filter_map(|e| e.ok().map(|e| e.path())).collect();
    v.sort();
    Ok(v)
}

/// Each of [`PAIRED_CANDIDATES`] present against [`PAIRED_BASELINE`], on the times both scored.
fn paired_comparisons(predictions: &HashMap<String, Vec<BooleanPrediction>>, options: &Options) -> Vec<Comparison> {
    let Some(baseline) = predictions.get(PAIRED_BASELINE) else { return Vec::new() };
    PAIRED_CANDIDATES
        .iter()
        .filter_map(|&candidate| {
            let paired = eval::paired::paired_auroc(
                baseline,
                predictions.get(candidate)?,
                options.resamples,
                options.seed,
                options.level,
            )?;
            Some(Comparison { candidate: candidate.into(), baseline: PAIRED_BASELINE.into(), paired })
        })
        .collect()
}

/// A `longitude what-if` comparison as the report shows it.
fn what_if_of(r: WhatIfReport) -> WhatIf {
    let truth = r.oracle.compared().cloned();
    WhatIf {
        task: r.task,
        treatment: r.treatment,
        change: r.change.name().to_string(),
        compared: r.compared,
        model: r.model.effect,
        correlation: truth.as_ref().and_then(|t| t.correlation_with_model),
        oracle: truth.map(|t| t.effect),
    }
}

/// Evaluates every task × method under `plan.adapt` and assembles the report and its model card.
pub fn build(plan: &ReportPlan) -> Result<(Report, ModelCard), ValidateError> {
    let dataset = meds::Dataset::open(&plan.meds)?;
    let demographics = eval::attributes::Demographics::read(&dataset, None)?;
    let options = Options { resamples: plan.resamples, ..Default::default() };
    let sites = match &plan.sites {
        Some(p) => Some(eval::attributes::read_sites(p)?),
        None => None,
    };
    let attributes = |predictions: &[BooleanPrediction]| {
        let mut a = demographics.attributes(predictions);
        if let Some(sites) = &sites {
            a.push(eval::Attribute {
                name: "site".into(),
                values: predictions.iter().map(|p| sites.get(&p.label.subject_id).cloned()).collect(),
            });
        }
        a
    };
    let conditions = match &plan.truth {
        Some(dir) => synth::truth::read_conditions(dir)?,
        None => Vec::new(),
    };
    let events = |condition: &str| -> (HashMap<i64, i64>, HashMap<i64, i64>) {
        let rows = conditions.iter().filter(|c| c.condition == condition);
        (
            rows.clone().filter_map(|c| c.diagnosed.map(|d| (c.subject_id, d))).collect(),
            rows.map(|c| (c.subject_id, c.onset)).collect(),
        )
    };
    let mut tasks = Vec::new();
    let mut external = None;
    for adapt_dir in &plan.adapt {
        let adapt_report =
            if AdaptReport::path(adapt_dir).is_file() { Some(AdaptReport::read(adapt_dir)?) } else { None };
        let setting = adapt_report.as_ref().map_or_else(
            || "unspecified: no adapt_report.json beside the predictions".into(),
            |r| r.split.description.clone(),
        );
        if external.is_none() && setting.starts_with("external") {
            external = Some(setting.clone());
        }
        for task_dir in entries(adapt_dir)?.into_iter().filter(|p| p.is_dir()) {
            let task = task_dir.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            let adapted = adapt_report.as_ref().and_then(|r| r.tasks.get(&task));
            let mut methods = Vec::new();
            // The predictions the paired comparisons need: the count GBM's and the foundation
            // model's, each scored on every held-out time (not a weighted sample).
            let mut paired_inputs: HashMap<String, Vec<BooleanPrediction>> = HashMap::new();
            for file in entries(&task_dir)?.into_iter().filter(|p| p.extension().is_some_and(|x| x == "parquet")) {
                let method = file.file_stem().and_then(|n| n.to_str()).unwrap_or_default().to_string();
                let predictions = meds::labels::read_boolean_predictions(&file)?;
                if predictions.is_empty() {
                    tracing::warn!(task, method, "no held-out predictions; left out of the report");
                    continue;
                }
                let evaluate = |source| ValidateError::Evaluate { path: file.clone(), source };
                demographics.check_covers(&predictions).map_err(evaluate)?;
                let design = adapted
                    .and_then(|a| a.case_control_design(&method))
                    .map(|d| predictions.iter().map(|p| d.weight(p.label.value)).collect::<Vec<f64>>());
                let evaluation =
                    eval::evaluate_weighted(&predictions, design.as_deref(), &attributes(&predictions), &options)
                        .map_err(evaluate)?;
                let mut lead_times = Vec::new();
                if let (Some(condition), Some(point)) =
                    (synth::truth::diagnosis_condition(&task), &evaluation.audit_point)
                    && !conditions.is_empty()
                {
                    let (coded, onset) = events(condition);
                    lead_times.push(eval::lead_time(&predictions, &coded, point.threshold, "coded diagnosis"));
                    lead_times.push(eval::lead_time(&predictions, &onset, point.threshold, "true onset"));
                }
                let recalibration = adapted.and_then(|a| a.method(&method)).and_then(|m| m.recalibration);
                if design.is_none() && (method == PAIRED_BASELINE || PAIRED_CANDIDATES.contains(&method.as_str())) {
                    paired_inputs.insert(method.clone(), predictions);
                }
                methods.push(MethodResult { method, evaluation, lead_times, recalibration });
            }
            let comparisons = paired_comparisons(&paired_inputs, &options);
            methods
                .sort_by_key(|m| (ORDER.iter().position(|o| *o == m.method).unwrap_or(ORDER.len()), m.method.clone()));
            if methods.is_empty() {
                continue;
            }
            let description = tasks::suite::task(&task).and_then(|t| t.ok()).and_then(|t| t.config.description);
            let few_shot = adapted
                .map(|a| {
                    a.few_shot
                        .iter()
                        .map(|c| FewShot {
                            method: c.method.clone(),
                            points: c.points.iter().map(|p| (p.k, p.auroc)).collect(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let not_run = adapted.map(|a| a.not_run.clone()).unwrap_or_default();
            tasks.push(TaskResult {
                task,
                setting: setting.clone(),
                description,
                methods,
                few_shot,
                not_run,
                comparisons,
            });
        }
    }
    if tasks.is_empty() {
        return Err(ValidateError::NoPredictions);
    }
    let what_if = plan
        .what_if
        .iter()
        .map(|p| Ok(what_if_of(artifacts::read::<WhatIfReport>(p)?)))
        .collect::<Result<Vec<WhatIf>, ValidateError>>()?;
    let meta = meds::metadata::DatasetMetadata::read(&plan.meds).ok();
    let subjects = demographics.len();
    let dataset_name = meta.map_or_else(|| plan.meds.display().to_string(), |m| m.dataset_name.unwrap_or_default());
    let chronic: Vec<&str> = if plan.chronic.is_empty() {
        tasks::suite::CHRONIC.to_vec()
    } else {
        plan.chronic.iter().map(String::as_str).collect()
    };
    let mut report = Report {
        title: plan.title.clone(),
        generated: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        dataset: format!("{dataset_name} ({subjects} subjects)"),
        candidate: plan.candidate.clone(),
        external,
        tasks,
        targets: Vec::new(),
        what_if,
    };
    report.targets = crate::targets::targets(&report, &chronic);
    let card = model_card(&report, &CardInfo::default());
    Ok((report, card))
}

/// The files [`write`] puts in a report directory.
pub const FILES: [&str; 4] = ["report.html", "report.json", "model_card.json", "chai_model_card.json"];

/// Writes the report (HTML and JSON) and the model card (and its CHAI export) into `out`.
pub fn write(report: &Report, card: &ModelCard, out: &Path) -> Result<(), ValidateError> {
    outputs::atomic::write_json(&out.join("report.json"), report)?;
    outputs::atomic::write_json(&out.join("model_card.json"), card)?;
    outputs::atomic::write_json(&out.join("chai_model_card.json"), &chai(card))?;
    let html = crate::html::render(report, card);
    outputs::atomic::write(&out.join("report.html"), outputs::atomic::Access::Shared, html.as_bytes())?;
    Ok(())
}
