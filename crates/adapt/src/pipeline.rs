//! Adapting to every labelled task in one call: [`run`] reads a dataset and a label directory,
//! fits the baselines and whichever of the foundation model's adaptations an [`AdaptPlan`] asks
//! for (the linear probe, fine-tuning, zero-shot risk) and, on simulated data, the oracle; writes
//! each method's held-out predictions in the meds-evaluation schema and its fitted model; and
//! returns (and writes) the [`AdaptReport`] that accounts for every task and method, including
//! why a method the report expects did not run.
//!
//! What it writes into `out` (a directory the caller has claimed):
//! `<task>/<method>.parquet`, `<task>/<method>.model.json` (the fitted task model, which scores
//! another site's data), `<task>/fm_finetune.safetensors` (fine-tuned weights) and
//! `adapt_report.json`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use artifacts::AdaptReport;
use artifacts::adapt_report::{OracleDraws, SplitRecord, TaskAdaptation};
use meds::labels::{BooleanLabel, BooleanPrediction};
use meds::{CodeTable, Timeline};
use model::embedding::Pooling;
use rayon::prelude::*;

use crate::baselines::{self, BaselineRun, Fitted};
use crate::featurizers::SparseRow;
use crate::foundation::{Foundation, FoundationError};
use crate::splits::SplitSpec;
use crate::zero_shot::{ZeroShot, ZeroShotOptions, ZeroShotSummary};

/// What to fit, on what.
#[derive(Debug, Clone)]
pub struct AdaptPlan {
    /// The MEDS dataset the labels are about.
    pub meds: PathBuf,
    /// A label directory (`longitude label`'s output): `<task>.parquet` per task.
    pub labels: PathBuf,
    /// Only these tasks (empty: every label file).
    pub only: Vec<String>,
    /// A code needs to occur in this many training subjects to become features.
    pub min_subjects: usize,
    /// Seed of every sample and of gradient boosting's column sampling.
    pub seed: u64,
    /// The generator's ground truth (`longitude synth`'s OUT/truth): adds the `oracle` method
    /// for the tasks whose outcome the simulator knows. Synthetic data only.
    pub truth: Option<PathBuf>,
    /// How many futures the oracle draws per prediction time.
    pub oracle: synth::oracle::Precision,
    /// The foundation model's adaptations, when a model is given.
    pub foundation: Option<FoundationPlan>,
    /// Also compute few-shot curves for the count-feature models and the probe.
    pub few_shot: bool,
    /// How prediction times are split.
    pub split: SplitSpec,
    /// Subjects' sites (parquet: `subject_id`, `site`) [default with `truth`: its subjects.parquet].
    pub sites: Option<PathBuf>,
    /// The predicates file the labels were made with, to read generated futures with the same
    /// task definitions.
    pub predicates: Option<PathBuf>,
}

/// The foundation model and what to do with it.
#[derive(Debug, Clone)]
pub struct FoundationPlan {
    /// The model bundle (`longitude pretrain`'s OUT/model).
    pub model: PathBuf,
    /// The linear probe on the model's embedding (`None`: zero-shot only, nothing embedded).
    pub probe: Option<ProbePlan>,
    /// Zero-shot risk from generated futures (`None`: off).
    pub zero_shot: Option<ZeroShotPlan>,
}

/// The linear probe (`fm_probe`), and fine-tuning from it.
#[derive(Debug, Clone)]
pub struct ProbePlan {
    /// The embedding the probe (and fine-tuning) reads.
    pub pooling: Pooling,
    /// At most this many train examples are embedded (a case-control sample; tuning and
    /// held-out are embedded in full).
    pub train_max: usize,
    /// Fine-tuning (`fm_finetune`) from the probe, when asked.
    pub fine_tune: Option<FineTunePlan>,
}

/// Fine-tuning the whole transformer with the probe's head.
#[derive(Debug, Clone)]
pub struct FineTunePlan {
    /// Only these tasks (empty: every task run).
    pub tasks: Vec<String>,
    /// At most this many train examples (a case-control sample).
    pub train_max: usize,
    /// Passes over the train sample.
    pub epochs: usize,
    /// Learning rate (AdamW, constant).
    pub lr: f64,
}

/// Zero-shot risk (`fm_zero_shot`).
#[derive(Debug, Clone)]
pub struct ZeroShotPlan {
    /// How futures are generated and read.
    pub options: ZeroShotOptions,
    /// At most this many held-out prediction times per task (a seeded case-control sample).
    pub max_prediction_times: usize,
}

impl FineTunePlan {
    fn covers(&self, task: &str) -> bool {
        self.tasks.is_empty() || self.tasks.iter().any(|t| t == task)
    }
}

/// Why adaptation could not run. Each names the file or task concerned and what to do; none
/// carries patient data.
#[derive(Debug, thiserror::Error)]
pub enum AdaptError {
    /// The label directory could not be listed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// No label file to adapt to.
    #[error("no label files (<task>.parquet) in {0}")]
    NoLabels(PathBuf),
    /// Fine-tuning names a task this run does not have.
    #[error("fine-tuning names {task}, which is not among this run's tasks (label files in {labels}, and `only`)")]
    UnknownFineTuneTask {
        /// The task named.
        task: String,
        /// The label directory.
        labels: PathBuf,
    },
    /// The labels name subjects the dataset does not have.
    #[error(
        "{labels}: {missing} of {subjects} labelled subjects are not in {meds}: the labels and the data do not belong together (labels of another dataset or extract?)"
    )]
    ForeignLabels {
        /// The label file.
        labels: PathBuf,
        /// Labelled subjects not in the dataset.
        missing: usize,
        /// Labelled subjects in all.
        subjects: usize,
        /// The dataset.
        meds: PathBuf,
    },
    /// A task has no definition in the label report (zero-shot reads futures with it).
    #[error("{task}: no definition in {labels}/label_report.json")]
    NoDefinition {
        /// The task.
        task: String,
        /// The label directory.
        labels: PathBuf,
    },
    /// The oracle could not answer every held-out prediction time.
    #[error(
        "{task}: {unanswered} held-out prediction times have no oracle answer: subjects that are not the generator's (was the dataset re-keyed by ingest?) or times with no stay or draw it recorded"
    )]
    OracleUnanswered {
        /// The task.
        task: String,
        /// Prediction times without an answer.
        unanswered: usize,
    },
    /// The model bundle could not be loaded or used.
    #[error("{path}: {source}")]
    Foundation {
        /// The bundle.
        path: PathBuf,
        /// Why.
        #[source]
        source: FoundationError,
    },
    /// The split scheme cannot be applied.
    #[error("the split: {0}")]
    Split(#[from] crate::splits::SplitError),
    /// The dataset, a label file or a prediction file.
    #[error(transparent)]
    Meds(#[from] meds::MedsError),
    /// The task definitions behind the labels.
    #[error(transparent)]
    Task(#[from] tasks::TaskError),
    /// The sites table.
    #[error(transparent)]
    Sites(#[from] eval::EvalError),
    /// The generator's ground truth.
    #[error(transparent)]
    Truth(#[from] synth::SynthError),
    /// Gradient boosting failed.
    #[error(transparent)]
    Gbm(#[from] crate::gbm::GbmError),
    /// A fitted task model could not be written.
    #[error(transparent)]
    Scorer(#[from] crate::scorer::ScorerError),
    /// Fine-tuned weights could not be written.
    #[error(transparent)]
    Model(#[from] model::ModelError),
    /// The report could not be written.
    #[error(transparent)]
    Artifact(#[from] outputs::artifact::ArtifactError),
}

/// What [`run`] tells its caller as it goes: each task's result as soon as it is written (the
/// binary prints a table row per method), and progress through the long steps.
pub trait Observer {
    /// A long step's progress: `step` (`embedding`, `fine-tuning`, `generating futures`) of
    /// `task`, `done` of `total`.
    fn progress(&mut self, _task: &str, _step: &str, _done: usize, _total: usize) {}
    /// A task is written: its predictions, models and its part of the report.
    fn task_done(&mut self, _task: &str, _result: &TaskAdaptation) {}
}

/// An observer that ignores everything.
impl Observer for () {}

/// The oracle's held-out predictions for a task.
fn oracle_predictions(
    config: &synth::SynthConfig,
    codes: &CodeTable,
    (outcome, horizon): (synth::oracle::Outcome, i64),
    held_out: &[BooleanLabel],
    precision: synth::oracle::Precision,
) -> Vec<BooleanPrediction> {
    held_out
        .par_iter()
        .filter_map(|l| {
            let patient = synth::oracle::patient_index(l.subject_id)?;
            let q = synth::oracle::Query { patient, at: l.prediction_time, horizon, outcome };
            // NaN: no recorded stay or draw at that time (answered below as a count).
            let p = synth::oracle::risk_with(config, codes, &q, precision).clamp(0.0, 1.0);
            if p.is_nan() {
                return None;
            }
            Some(BooleanPrediction { label: *l, predicted_value: p >= 0.5, probability: p as f32 })
        })
        .collect()
}

/// The label files of `dir` (`<task>.parquet`), by task name, restricted to `only` when given:
/// the tasks [`run`] adapts to.
pub fn label_files(dir: &Path, only: &[String]) -> Result<Vec<(String, PathBuf)>, AdaptError> {
    let entries = std::fs::read_dir(dir).map_err(|source| AdaptError::Io { path: dir.to_path_buf(), source })?;
    let mut tasks: Vec<(String, PathBuf)> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .filter_map(|p| Some((p.file_stem()?.to_str()?.to_string(), p.clone())))
        .filter(|(n, _)| only.is_empty() || only.contains(n))
        .collect();
    tasks.sort();
    if tasks.is_empty() {
        return Err(AdaptError::NoLabels(dir.to_path_buf()));
    }
    Ok(tasks)
}

/// The state shared by every task of a run.
struct Context<'a> {
    plan: &'a AdaptPlan,
    codes: CodeTable,
    timelines: Vec<Timeline>,
    split_of: HashMap<i64, String>,
    scheme: crate::splits::Scheme,
    foundation: Option<Foundation>,
    oracle: Option<(synth::SynthConfig, CodeTable)>,
    definitions: Option<HashMap<String, tasks::Task>>,
}

/// Embeddings computed so far, by (subject, prediction time): tasks that predict at the same
/// times share them.
type Embedded = HashMap<(i64, i64), Vec<f32>>;

impl AdaptPlan {
    /// Every path the plan reads: an output directory must lie apart from them.
    pub fn inputs(&self) -> Vec<&Path> {
        let model = self.foundation.as_ref().map(|f| f.model.as_path());
        [Some(self.meds.as_path()), Some(self.labels.as_path()), self.truth.as_deref(), model]
            .into_iter()
            .chain([self.predicates.as_deref(), self.sites.as_deref()])
            .flatten()
            .collect()
    }

    /// The plan's tasks (label files in `labels`, filtered by `only`), refusing a fine-tuning
    /// task that is not among them: checked before anything is written.
    pub fn check(&self) -> Result<Vec<(String, PathBuf)>, AdaptError> {
        let tasks = label_files(&self.labels, &self.only)?;
        let fine_tune = self.foundation.as_ref().and_then(|f| f.probe.as_ref()).and_then(|p| p.fine_tune.as_ref());
        if let Some(unknown) = fine_tune.and_then(|f| f.tasks.iter().find(|n| !tasks.iter().any(|(t, _)| t == *n))) {
            return Err(AdaptError::UnknownFineTuneTask { task: unknown.clone(), labels: self.labels.clone() });
        }
        Ok(tasks)
    }
}

/// Fits everything `plan` asks for on every labelled task, writing into `out` (which the caller
/// has claimed), and returns the report it wrote there.
pub fn run(plan: &AdaptPlan, out: &Path, observer: &mut dyn Observer) -> Result<AdaptReport, AdaptError> {
    let tasks = plan.check()?;
    let oracle = plan.truth.as_deref().map(synth::oracle::load_truth).transpose()?;
    let started = Instant::now();
    let meds::SplitTimelines { codes, timelines, split_of } = meds::read_with_splits(&plan.meds)?;
    tracing::info!(subjects = timelines.len(), secs = started.elapsed().as_secs_f64(), "read the dataset");
    let sites_table = match (&plan.sites, &plan.truth) {
        (Some(p), _) => Some(p.clone()),
        (None, Some(truth)) => Some(truth.join("subjects.parquet")),
        (None, None) => None,
    };
    let sites = match sites_table {
        Some(path) if plan.split.needs_sites() => Some(eval::attributes::read_sites(&path)?),
        _ => None,
    };
    let scheme = plan.split.scheme(sites)?;
    let foundation = match &plan.foundation {
        Some(f) => Some(
            Foundation::load(&f.model).map_err(|source| AdaptError::Foundation { path: f.model.clone(), source })?,
        ),
        None => None,
    };
    let zero_shot_plan = plan.foundation.as_ref().and_then(|f| f.zero_shot.as_ref());
    let definitions = match zero_shot_plan {
        Some(_) => Some(tasks::LabelReports::read(&plan.labels)?.definitions(plan.predicates.as_deref())?),
        None => None,
    };
    let context = Context { plan, codes, timelines, split_of, scheme, foundation, oracle, definitions };
    let mut embedded = Embedded::new();
    // Futures are generated once per prediction time and shared by every task predicting there.
    let mut zero_shot = match (&context.foundation, zero_shot_plan) {
        (Some(f), Some(z)) => Some(ZeroShot::new(f, &context.timelines, &context.codes, z.options.clone())),
        _ => None,
    };
    let mut report = AdaptReport {
        split: SplitRecord { scheme: plan.split.to_string(), description: context.scheme.describe() },
        // How the oracle's shares were drawn, so a reader can tell a quantised ceiling.
        oracle: context.oracle.as_ref().map(|_| OracleDraws {
            first_futures: plan.oracle.samples,
            max_futures: plan.oracle.max_samples,
            drawn_until_outcomes: plan.oracle.hits,
        }),
        tasks: BTreeMap::new(),
    };
    for (task, path) in &tasks {
        let result = adapt_task(&context, &mut embedded, zero_shot.as_mut(), task, path, &out.join(task), observer)?;
        observer.task_done(task, &result);
        report.tasks.insert(task.clone(), result);
    }
    drop(zero_shot);
    report.write(out)?;
    Ok(report)
}

/// One task: every method, its predictions and models written into `dir`.
fn adapt_task(
    cx: &Context<'_>,
    embedded: &mut Embedded,
    zero_shot: Option<&mut ZeroShot<'_>>,
    task: &str,
    path: &Path,
    dir: &Path,
    observer: &mut dyn Observer,
) -> Result<TaskAdaptation, AdaptError> {
    let plan = cx.plan;
    let labels = meds::labels::read_boolean_labels(path)?;
    // Labels of another dataset would give models fitted on nothing but intercepts.
    let known: HashSet<i64> = cx.timelines.iter().map(|t| t.subject_id).collect();
    let subjects: HashSet<i64> = labels.iter().map(|l| l.subject_id).collect();
    let missing = subjects.iter().filter(|s| !known.contains(s)).count();
    if missing > 0 {
        return Err(AdaptError::ForeignLabels {
            labels: path.to_path_buf(),
            missing,
            subjects: subjects.len(),
            meds: plan.meds.clone(),
        });
    }
    let (featurizer, mut examples) =
        baselines::featurize(&cx.timelines, &cx.codes, &cx.split_of, &labels, plan.min_subjects);
    examples.retain_mut(|e| match cx.scheme.assign(e.label.subject_id, e.label.prediction_time, &e.split) {
        Some(split) => {
            e.split = split.to_string();
            true
        }
        None => false,
    });
    let dropped = labels.len() - examples.len();
    let mut run = baselines::fit_baselines(&featurizer, &examples, plan.seed)?;
    let mut result = TaskAdaptation {
        run: run.summary(),
        labels_without_subject_or_split: dropped,
        zero_shot: None,
        samples: BTreeMap::new(),
        train_samples: BTreeMap::new(),
        not_run: BTreeMap::new(),
        few_shot: Vec::new(),
    };
    if plan.few_shot {
        let rows: Vec<SparseRow> = examples.iter().map(|e| e.row.clone()).collect();
        let lr = baselines::logistic_fitter(featurizer.width());
        result.few_shot.push(baselines::few_shot("counts_lr", &examples, &rows, &*lr, 3, plan.seed));
        let gbm = baselines::gbm_fitter(featurizer.defaults(), plan.seed);
        result.few_shot.push(baselines::few_shot("counts_gbm", &examples, &rows, &*gbm, 3, plan.seed));
    }
    let mut fine_tuned = None;
    let probe_plan = plan.foundation.as_ref().and_then(|f| f.probe.as_ref());
    if let (Some(f), Some(probe_plan)) = (&cx.foundation, probe_plan) {
        fine_tuned =
            probe_and_fine_tune(cx, embedded, f, probe_plan, task, &examples, &mut run, &mut result, observer)?;
    }
    if let Some(runner) = zero_shot {
        predict_zero_shot(cx, runner, task, &examples, &mut run, &mut result, observer)?;
    }
    if let (Some((config, synth_codes)), Some(outcome)) = (&cx.oracle, synth::oracle::outcome_of(task)) {
        let started = Instant::now();
        let held_out: Vec<BooleanLabel> = examples.iter().filter(|e| e.split == "held_out").map(|e| e.label).collect();
        let predictions = oracle_predictions(config, synth_codes, outcome, &held_out, plan.oracle);
        if predictions.len() != held_out.len() {
            return Err(AdaptError::OracleUnanswered {
                task: task.to_string(),
                unanswered: held_out.len() - predictions.len(),
            });
        }
        run.methods.push(method_without_model("oracle", predictions, started));
    }
    std::fs::create_dir_all(dir).map_err(|source| AdaptError::Io { path: dir.to_path_buf(), source })?;
    write_methods(cx, task, dir, &mut run, fine_tuned.as_ref())?;
    result.run = run.summary();
    result.not_run = not_run(plan, task, &run, result.zero_shot.as_ref());
    Ok(result)
}

/// A method that leaves predictions and no model to save (zero-shot, the oracle).
fn method_without_model(method: &str, predictions: Vec<BooleanPrediction>, started: Instant) -> Fitted {
    Fitted {
        method: method.into(),
        predictions,
        lambda: None,
        tuning_auroc: None,
        seconds: started.elapsed().as_secs_f64(),
        recalibration: None,
        model: None,
    }
}

/// The linear probe on the model's embeddings (every tuning and held-out example, a case-control
/// sample of train), its few-shot curve, and fine-tuning from it where the plan asks.
#[allow(clippy::too_many_arguments)]
fn probe_and_fine_tune(
    cx: &Context<'_>,
    embedded: &mut Embedded,
    f: &Foundation,
    probe_plan: &ProbePlan,
    task: &str,
    examples: &[baselines::Example],
    run: &mut BaselineRun,
    result: &mut TaskAdaptation,
    observer: &mut dyn Observer,
) -> Result<Option<model::finetune::Classifier<model::Cpu>>, AdaptError> {
    let plan = cx.plan;
    let pooling = probe_plan.pooling;
    let (probe_examples, sample) = crate::case_control::with_train_sample(examples, probe_plan.train_max, plan.seed);
    let missing: Vec<(i64, i64)> = probe_examples
        .iter()
        .map(|e| (e.label.subject_id, e.label.prediction_time))
        .filter(|k| !embedded.contains_key(k))
        .collect();
    let started = Instant::now();
    let subjects: HashSet<i64> = missing.iter().map(|(s, _)| *s).collect();
    let needed: Vec<&Timeline> = cx.timelines.iter().filter(|t| subjects.contains(&t.subject_id)).collect();
    let total = missing.len();
    let mut last = 0;
    let fresh = f.embed(&needed, &cx.codes, &missing, pooling, 32, |done| {
        if done >= last + 2_000 {
            last = done;
            tracing::info!(task, done, total, secs = started.elapsed().as_secs_f64(), "embedding prediction times");
        }
        observer.progress(task, "embedding", done, total);
    });
    embedded.extend(fresh);
    tracing::info!(task, embedded = total, secs = started.elapsed().as_secs_f64(), "embeddings done");
    let rows: Vec<SparseRow> = probe_examples
        .iter()
        .map(|e| {
            baselines::dense_row(
                embedded.get(&(e.label.subject_id, e.label.prediction_time)).map_or(&[][..], Vec::as_slice),
            )
        })
        .collect();
    let mut fitted = baselines::fit_probe(&probe_examples, &rows, f.width(pooling), pooling, sample.log_odds_shift);
    if let Some(m) = fitted.model.as_mut() {
        m.fitted_on.insert("train_sample".into(), json(&sample));
    }
    result.train_samples.insert("fm_probe".to_string(), sample);
    fitted.seconds += started.elapsed().as_secs_f64();
    let probe = match fitted.model.as_ref().map(|m| &m.fitting) {
        Some(crate::scorer::Fitting::Probe { model, .. }) => Some(model.clone()),
        _ => None,
    };
    run.methods.push(fitted);
    let mut fine_tuned = None;
    if let (Some(probe), Some(ft)) = (probe, probe_plan.fine_tune.as_ref().filter(|ft| ft.covers(task))) {
        let config =
            model::finetune::FineTuneConfig { epochs: ft.epochs, lr: ft.lr, seed: plan.seed, ..Default::default() };
        let started = Instant::now();
        let all: Vec<&Timeline> = cx.timelines.iter().collect();
        let mut last = 0;
        let tuned = crate::finetune::fit_fine_tuned(
            f,
            &all,
            &cx.codes,
            examples,
            &probe,
            pooling,
            ft.train_max,
            &config,
            |done, total| {
                if done >= last + 50 || done == total {
                    last = done;
                    tracing::info!(task, done, total, secs = started.elapsed().as_secs_f64(), "fine-tuning");
                }
                observer.progress(task, "fine-tuning", done, total);
            },
        )
        .map_err(|source| AdaptError::Foundation { path: f.bundle().dir().to_path_buf(), source })?;
        let tuning: Vec<String> = tuned.epochs.iter().map(|e| format!("epoch {}: {:.4}", e.epoch, e.tuning)).collect();
        let s = &tuned.sample;
        tracing::info!(
            task,
            best_epoch = tuned.best_epoch,
            "fine-tuned: tuning criterion by epoch {}; trained on {} of {} positives and {} of {} negatives",
            tuning.join(", "),
            s.positives,
            s.positives_available,
            s.negatives,
            s.negatives_available
        );
        result.train_samples.insert("fm_finetune".to_string(), tuned.sample.clone());
        fine_tuned = Some(tuned.classifier);
        run.methods.push(tuned.fitted);
    }
    if plan.few_shot {
        let lr = baselines::logistic_fitter(f.width(pooling));
        result.few_shot.push(baselines::few_shot("fm_probe", &probe_examples, &rows, &*lr, 3, plan.seed));
    }
    Ok(fine_tuned)
}

/// Zero-shot risk at a case-control sample of the held-out times.
fn predict_zero_shot(
    cx: &Context<'_>,
    runner: &mut ZeroShot<'_>,
    task: &str,
    examples: &[baselines::Example],
    run: &mut BaselineRun,
    result: &mut TaskAdaptation,
    observer: &mut dyn Observer,
) -> Result<(), AdaptError> {
    let plan = cx.plan;
    let max = plan.foundation.as_ref().and_then(|f| f.zero_shot.as_ref()).map_or(0, |z| z.max_prediction_times);
    let Some(definition) = cx.definitions.as_ref().and_then(|d| d.get(task)) else {
        return Err(AdaptError::NoDefinition { task: task.to_string(), labels: plan.labels.clone() });
    };
    let started = Instant::now();
    let held_out: Vec<BooleanLabel> = examples.iter().filter(|e| e.split == "held_out").map(|e| e.label).collect();
    let mut last = 0;
    let (predictions, summary) = runner.predict(definition, &held_out, max, |done, total| {
        if done >= last + 100 {
            last = done;
            tracing::info!(task, done, total, secs = started.elapsed().as_secs_f64(), "generating futures");
        }
        observer.progress(task, "generating futures", done, total);
    });
    tracing::info!(
        task,
        prediction_times = summary.prediction_times,
        generated_here = summary.generated,
        secs = started.elapsed().as_secs_f64(),
        "zero-shot done"
    );
    if predictions.is_empty() && summary.prediction_times > 0 {
        tracing::warn!(
            task,
            prediction_times = summary.prediction_times,
            "no generated future settles this task's label at any prediction time: no zero-shot predictions"
        );
    }
    // Scored on a sample of the held-out times: the report weights it back to the population.
    result.samples.insert("fm_zero_shot".to_string(), summary.sample);
    if !predictions.is_empty() {
        run.methods.push(method_without_model("fm_zero_shot", predictions, started));
    }
    result.zero_shot = Some(summary);
    Ok(())
}

/// A value for a task model's `fitted_on` record.
fn json<T: serde::Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or_default()
}

/// Every method's predictions, and the fitted models that travel (`longitude evaluate
/// --task-model` scores another site's data with them).
fn write_methods(
    cx: &Context<'_>,
    task: &str,
    dir: &Path,
    run: &mut BaselineRun,
    fine_tuned: Option<&model::finetune::Classifier<model::Cpu>>,
) -> Result<(), AdaptError> {
    let plan = cx.plan;
    let (examples, positives) = (run.summary().examples, run.summary().positives);
    for m in &mut run.methods {
        meds::labels::write_boolean_predictions(&dir.join(format!("{}.parquet", m.method)), &m.predictions)?;
        let Some(model) = &mut m.model else { continue };
        model.task = task.to_string();
        model.fitted_on.insert("split".into(), json(&plan.split.to_string()));
        model.fitted_on.insert("examples".into(), json(&examples));
        model.fitted_on.insert("positives".into(), json(&positives));
        model.fitted_on.insert("tuning_auroc".into(), json(&m.tuning_auroc));
        model.fitted_on.insert("lambda".into(), json(&m.lambda));
        if let Some(r) = &m.recalibration {
            model.fitted_on.insert("recalibration".into(), json(r));
        }
        if m.method == "fm_probe" || m.method == "fm_finetune" {
            let bundle = plan.foundation.as_ref().map(|f| f.model.clone());
            model.fitted_on.insert("model_bundle".into(), json(&bundle));
            model.foundation = cx.foundation.as_ref().and_then(|f| f.bundle().manifest().identity());
        }
        if let (Some(classifier), Some(f)) = (fine_tuned.filter(|_| m.method == "fm_finetune"), &cx.foundation) {
            model::weights::save(&classifier.body, f.config(), &dir.join(crate::finetune::WEIGHTS_FILE))?;
        }
        model.save(&dir.join(format!("{}.model.json", m.method)))?;
    }
    Ok(())
}

/// Why each method the report expects has no predictions for `task`, so that no blank in the
/// report goes unexplained.
fn not_run(
    plan: &AdaptPlan,
    task: &str,
    run: &BaselineRun,
    zero_shot: Option<&ZeroShotSummary>,
) -> BTreeMap<String, String> {
    let mut not_run = BTreeMap::new();
    let mut missing = |method: &str, why: String| {
        if !run.methods.iter().any(|m| m.method == method) {
            not_run.insert(method.to_string(), why);
        }
    };
    const NO_MODEL: &str = "no foundation model was given (--model)";
    let foundation = plan.foundation.as_ref();
    let probe = foundation.and_then(|f| f.probe.as_ref());
    match (foundation, probe) {
        (None, _) => missing("fm_probe", NO_MODEL.into()),
        (Some(_), None) => missing("fm_probe", "not requested in this run (--no-probe)".into()),
        _ => {}
    }
    match (foundation, probe, probe.and_then(|p| p.fine_tune.as_ref())) {
        (None, _, _) => missing("fm_finetune", NO_MODEL.into()),
        (Some(_), None, _) => missing("fm_finetune", "not requested in this run (--no-probe)".into()),
        (Some(_), Some(_), None) => missing("fm_finetune", "not requested in this run (--fine-tune)".into()),
        (Some(_), Some(_), Some(ft)) if !ft.covers(task) => {
            missing("fm_finetune", "not requested for this task (--fine-tune-tasks)".into())
        }
        (Some(_), Some(_), Some(_)) => {
            missing("fm_finetune", "the probe fitted no model to start fine-tuning from".into())
        }
    }
    match (foundation, zero_shot) {
        (None, _) => missing("fm_zero_shot", NO_MODEL.into()),
        (Some(_), None) => missing("fm_zero_shot", "not requested in this run (--zero-shot 0)".into()),
        (Some(_), Some(z)) => missing(
            "fm_zero_shot",
            format!(
                "no generated future settled this task's label at any of the {} sampled prediction times",
                z.prediction_times
            ),
        ),
    }
    match (&plan.truth, synth::oracle::outcome_of(task)) {
        (None, _) => missing("oracle", "no ground truth: the oracle exists for simulated data only (--truth)".into()),
        (Some(_), None) => missing("oracle", synth::oracle::NO_ORACLE.into()),
        _ => {}
    }
    not_run
}
