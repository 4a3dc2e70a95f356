//! `longitude adapt`: fit the baselines (and, as they join, the foundation model's adaptations)
//! for every labelled task, writing held-out predictions in the meds-evaluation schema.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::json;

#[derive(Debug, Clone, Args)]
pub struct AdaptArgs {
    /// The MEDS dataset the labels are about.
    #[arg(long)]
    pub meds: PathBuf,
    /// A directory of label files (`longitude label`'s output): one <task>.parquet per task.
    #[arg(long)]
    pub labels: PathBuf,
    /// Only these tasks (comma-separated) [default: every label file].
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// A code needs to occur in this many training subjects to become features.
    #[arg(long, default_value_t = 20)]
    pub min_subjects: usize,
    /// Seed (gradient boosting's column sampling).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The generator's ground truth (`longitude synth`'s OUT/truth): adds an `oracle` method,
    /// the probability of each task's outcome under the simulator's hidden state, for the tasks
    /// whose outcome the simulator knows. Synthetic data only.
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// A pretrained model bundle (`longitude pretrain`'s OUT/model): adds `fm_probe`, a linear
    /// probe on the model's embedding at each prediction time.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// With --model, skip the linear probe (zero-shot only: no embeddings are computed).
    #[arg(long)]
    pub no_probe: bool,
    /// The embedding the probe (and fine-tuning) reads: `last-mean-max` (the last token's state,
    /// then the mean and the maximum of every state up to it), `last-and-mean` (without the
    /// maximum) or `last` (the last token's state alone).
    #[arg(long, default_value = "last-mean-max")]
    pub probe_pooling: model::embedding::Pooling,
    /// At most this many train examples per task are embedded for the probe: every positive up to
    /// half of them, negatives filling the rest (a case-control sample whose log-odds shift is
    /// undone after fitting); tuning and held-out are always embedded in full.
    #[arg(long, default_value_t = 20_000)]
    pub probe_train_max: usize,
    /// Also fine-tune the model for each task (`fm_finetune`, needs --model and the probe): the
    /// probe's head and the whole transformer trained together on a seeded sample of train, the
    /// epoch kept chosen by tuning AUROC (epoch 0 is the probe). The fine-tuned weights are
    /// written beside the task model (OUT/<task>/fm_finetune.safetensors).
    #[arg(long)]
    pub fine_tune: bool,
    /// With --fine-tune, fine-tune only these tasks (comma-separated) [default: every task run]:
    /// an epoch takes minutes per task on a CPU, and the probe already comes close on some.
    #[arg(long, value_delimiter = ',', requires = "fine_tune")]
    pub fine_tune_tasks: Vec<String>,
    /// At most this many train examples per task are fine-tuned on: every positive up to half of
    /// them, negatives filling the rest (a case-control sample whose log-odds shift is undone
    /// after training); tuning and held-out are scored in full.
    #[arg(long, default_value_t = 2_000)]
    pub fine_tune_train_max: usize,
    /// Fine-tuning passes over the train sample.
    #[arg(long, default_value_t = 2)]
    pub fine_tune_epochs: usize,
    /// Fine-tuning learning rate (AdamW, constant).
    #[arg(long, default_value_t = 5e-5)]
    pub fine_tune_lr: f64,
    /// Also compute few-shot curves (k = 1, 2, 4, …, 128 examples per class, 3 draws each, and
    /// all of train) for the count-feature models and the probe: OUT/<task>/few_shot.json.
    #[arg(long)]
    pub few_shot: bool,
    /// Zero-shot risk from the model (`fm_zero_shot`, needs --model): this many futures are
    /// generated at each sampled held-out prediction time and read by the task's own ACES
    /// windows; the risk is the share with the outcome. 0: off.
    #[arg(long, default_value_t = 0)]
    pub zero_shot: usize,
    /// Zero-shot reads each generated future this many times: after the first, each reading
    /// redraws every value's bin from the model's probabilities where it generated it, then the
    /// value from that bin's train values, so a threshold in or above a rare bin (potassium ≥ 5.5)
    /// shows as a graded risk rather than almost never.
    #[arg(long, default_value_t = 16)]
    pub zero_shot_value_draws: usize,
    /// Zero-shot readings keep each future's sampled value bins (redrawing only the value within
    /// them) instead of redrawing the bin from the model's probabilities where it generated it.
    #[arg(long)]
    pub zero_shot_sampled_bins: bool,
    /// Zero-shot scores at most this many held-out prediction times per task: a seeded
    /// case-control sample (every positive up to half of it, negatives to fill it, chosen alike
    /// across tasks that predict at the same times so they share futures). adapt_report.json
    /// records the sample, and `longitude report` weights it back to the held-out population.
    #[arg(long, default_value_t = 500)]
    pub zero_shot_max: usize,
    /// Each generated future stops this many days after the prediction time (at least every
    /// task's label window; shorter futures cannot settle a negative).
    #[arg(long, default_value_t = 366)]
    pub zero_shot_days: i64,
    /// Each generated future stops after this many tokens.
    #[arg(long, default_value_t = 192)]
    pub zero_shot_tokens: usize,
    /// The predicates file the labels were made with (`longitude label --predicates`), to read
    /// generated futures with the same task definitions.
    #[arg(long)]
    pub predicates: Option<PathBuf>,
    /// Futures the oracle draws first per prediction time.
    #[arg(long, default_value_t = 64)]
    pub oracle_samples: u32,
    /// Futures the oracle draws at most per prediction time: past --oracle-samples it keeps
    /// doubling them while fewer than 16 showed the outcome, so rare risks are ranked rather
    /// than tied at 0 (see `synth::oracle::Precision`). Equal to --oracle-samples: a fixed count.
    #[arg(long, default_value_t = 1024)]
    pub oracle_max_samples: u32,
    /// How prediction times are split: `subject` (the dataset's subject splits),
    /// `temporal:YYYY-MM-DD` (train before the date, test on or after it; subjects disjoint too)
    /// or `site:NAME` (train at site NAME, test at every other site; needs --sites or --truth).
    #[arg(long, default_value = "subject")]
    pub split: adapt::splits::SplitSpec,
    /// Subjects' sites: parquet with `subject_id` and `site` [default with --truth: its
    /// subjects.parquet].
    #[arg(long)]
    pub sites: Option<PathBuf>,
    /// Output directory: <task>/<method>.parquet and adapt_report.json.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub replace: crate::claim::Replace,
}

/// The task definitions behind the label files, from `longitude label`'s label_report.json
/// (built-in suite tasks by name, others from the configuration file it names).
pub(crate) fn task_definitions(
    labels: &std::path::Path,
    predicates: Option<&std::path::Path>,
) -> Result<HashMap<String, tasks::Task>> {
    let path = labels.join("label_report.json");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("zero-shot reads each task's definition from {}", path.display()))?;
    let reports: Vec<serde_json::Value> =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let mut out = HashMap::new();
    for r in reports {
        let (Some(name), Some(source)) = (r["task"].as_str(), r["source"].as_str()) else {
            bail!("{}: every entry needs `task` and `source`", path.display());
        };
        let task = match source.strip_prefix("<built-in suite>/").and_then(|f| f.strip_suffix(".yaml")) {
            Some(builtin) => match tasks::suite::task(builtin) {
                Some(t) => t?,
                None => bail!("{name}: `{builtin}` is not a built-in task of this version"),
            },
            None => tasks::Task::load(std::path::Path::new(source), predicates)
                .with_context(|| format!("{name}: loading its definition {source}"))?,
        };
        out.insert(name.to_string(), task);
    }
    Ok(out)
}

/// The oracle's held-out predictions for a task.
fn oracle_predictions(
    config: &synth::SynthConfig,
    codes: &meds::CodeTable,
    (outcome, horizon): (synth::oracle::Outcome, i64),
    held_out: &[meds::labels::BooleanLabel],
    precision: synth::oracle::Precision,
) -> Vec<meds::labels::BooleanPrediction> {
    use rayon::prelude::*;
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
            Some(meds::labels::BooleanPrediction { label: *l, predicted_value: p >= 0.5, probability: p as f32 })
        })
        .collect()
}

pub fn run(args: &AdaptArgs) -> Result<ExitCode> {
    let oracle = args.truth.as_deref().map(synth::oracle::load_truth).transpose()?;
    let oracle_precision = synth::oracle::Precision::adaptive(args.oracle_samples, args.oracle_max_samples);
    let mut tasks: Vec<(String, PathBuf)> = std::fs::read_dir(&args.labels)
        .with_context(|| format!("reading {}", args.labels.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .filter_map(|p| Some((p.file_stem()?.to_str()?.to_string(), p.clone())))
        .filter(|(n, _)| args.only.is_empty() || args.only.contains(n))
        .collect();
    tasks.sort();
    if tasks.is_empty() {
        bail!("no label files (<task>.parquet) in {}", args.labels.display());
    }
    if let Some(unknown) = args.fine_tune_tasks.iter().find(|n| !tasks.iter().any(|(t, _)| t == *n)) {
        bail!(
            "--fine-tune-tasks names {unknown}, which is not among this run's tasks (label files in {}, --only)",
            args.labels.display()
        );
    }
    let fine_tunes = |task: &str| {
        args.fine_tune && (args.fine_tune_tasks.is_empty() || args.fine_tune_tasks.iter().any(|t| t == task))
    };
    let started = Instant::now();
    let (codes, timelines, splits) = crate::tokenize_cmd::read_with_splits(&args.meds)?;
    tracing::info!(subjects = timelines.len(), secs = started.elapsed().as_secs_f64(), "read the dataset");
    let sites_table = match (&args.sites, &args.truth) {
        (Some(p), _) => Some(p.clone()),
        (None, Some(truth)) => Some(truth.join("subjects.parquet")),
        (None, None) => None,
    };
    let sites = match (&args.split, sites_table) {
        (spec, Some(path)) if spec.needs_sites() => Some(eval::attributes::read_sites(&path)?),
        _ => None,
    };
    let scheme = args.split.scheme(sites).context("--split")?;
    let foundation = match &args.model {
        Some(bundle) => {
            Some(adapt::foundation::Foundation::load(bundle).with_context(|| format!("loading {}", bundle.display()))?)
        }
        None => None,
    };
    let pooling = args.probe_pooling;
    let mut embedded: HashMap<(i64, i64), Vec<f32>> = HashMap::new();
    if args.zero_shot > 0 && foundation.is_none() {
        bail!("--zero-shot generates futures with a model: give --model BUNDLE");
    }
    if args.fine_tune && (foundation.is_none() || args.no_probe) {
        bail!("--fine-tune starts from the linear probe: give --model BUNDLE (and not --no-probe)");
    }
    let definitions =
        if args.zero_shot > 0 { Some(task_definitions(&args.labels, args.predicates.as_deref())?) } else { None };
    let mut zero_shot = foundation.as_ref().filter(|_| args.zero_shot > 0).map(|f| {
        let options = adapt::zero_shot::ZeroShotOptions {
            futures: args.zero_shot,
            value_draws: args.zero_shot_value_draws,
            redraw_bins: !args.zero_shot_sampled_bins,
            horizon_days: args.zero_shot_days,
            max_new_tokens: args.zero_shot_tokens,
            temperature: 1.0,
            seed: args.seed,
            withheld_tokens: Vec::new(),
        };
        adapt::zero_shot::ZeroShot::new(f, &timelines, &codes, options)
    });
    let out = crate::claim::claim(
        &args.out,
        "adapt",
        &[
            Some(&args.meds),
            Some(&args.labels),
            args.truth.as_deref(),
            args.model.as_deref(),
            args.predicates.as_deref(),
            args.sites.as_deref(),
        ],
        args.replace,
    )?;
    let mut report = BTreeMap::new();
    outln!(
        "{:<24} {:>8} {:>8} {:>8} {:>9}  {:<16} {:>8} {:>8}",
        "task",
        "train",
        "tuning",
        "held_out",
        "features",
        "method",
        "tune AUC",
        "secs"
    );
    for (task, path) in &tasks {
        let labels = meds::labels::read_boolean_labels(path)?;
        // Labels of another dataset would give models fitted on nothing but intercepts.
        let known: std::collections::HashSet<i64> = timelines.iter().map(|t| t.subject_id).collect();
        let subjects: std::collections::HashSet<i64> = labels.iter().map(|l| l.subject_id).collect();
        let missing = subjects.iter().filter(|s| !known.contains(s)).count();
        if missing > 0 {
            bail!(
                "{}: {missing} of {} labelled subjects are not in {}: the labels and the data do not belong together (labels of another dataset or extract?)",
                path.display(),
                subjects.len(),
                args.meds.display()
            );
        }
        let (featurizer, examples) =
            adapt::baselines::featurize(&timelines, &codes, &splits, &labels, args.min_subjects);
        let mut examples = examples;
        examples.retain_mut(|e| match scheme.assign(e.label.subject_id, e.label.prediction_time, &e.split) {
            Some(split) => {
                e.split = split.to_string();
                true
            }
            None => false,
        });
        let dropped = labels.len() - examples.len();
        let mut run = adapt::baselines::fit_baselines(&featurizer, &examples, args.seed)?;
        let mut curves = Vec::new();
        // Methods fitted on a sample of train rather than all of it, and how it was drawn.
        let mut train_samples = serde_json::Map::new();
        let mut fine_tuned: Option<model::finetune::Classifier<model::Cpu>> = None;
        if args.few_shot {
            let rows: Vec<adapt::featurizers::SparseRow> = examples.iter().map(|e| e.row.clone()).collect();
            let lr = adapt::baselines::logistic_fitter(featurizer.width());
            curves.push(adapt::baselines::few_shot("counts_lr", &examples, &rows, &*lr, 3, args.seed));
            let gbm = adapt::baselines::gbm_fitter(featurizer.defaults(), args.seed);
            curves.push(adapt::baselines::few_shot("counts_gbm", &examples, &rows, &*gbm, 3, args.seed));
        }
        if let Some(f) = foundation.as_ref().filter(|_| !args.no_probe) {
            // The probe sees every tuning and held-out example and a case-control sample of train.
            let (probe_examples, sample) =
                adapt::case_control::with_train_sample(&examples, args.probe_train_max, args.seed);
            let missing: Vec<(i64, i64)> = probe_examples
                .iter()
                .map(|e| (e.label.subject_id, e.label.prediction_time))
                .filter(|k| !embedded.contains_key(k))
                .collect();
            let started = Instant::now();
            let subjects: std::collections::HashSet<i64> = missing.iter().map(|(s, _)| *s).collect();
            let needed: Vec<&meds::Timeline> = timelines.iter().filter(|t| subjects.contains(&t.subject_id)).collect();
            let total = missing.len();
            let mut last = 0;
            let fresh = f.embed(&needed, &codes, &missing, pooling, 32, |done| {
                if done >= last + 2_000 {
                    last = done;
                    tracing::info!(
                        task,
                        done,
                        total,
                        secs = started.elapsed().as_secs_f64(),
                        "embedding prediction times"
                    );
                }
            });
            embedded.extend(fresh);
            tracing::info!(task, embedded = total, secs = started.elapsed().as_secs_f64(), "embeddings done");
            let rows: Vec<adapt::featurizers::SparseRow> = probe_examples
                .iter()
                .map(|e| {
                    adapt::baselines::dense_row(
                        embedded.get(&(e.label.subject_id, e.label.prediction_time)).map_or(&[][..], Vec::as_slice),
                    )
                })
                .collect();
            let mut fitted =
                adapt::baselines::fit_probe(&probe_examples, &rows, f.width(pooling), pooling, sample.log_odds_shift);
            if let Some(m) = fitted.model.as_mut() {
                m.fitted_on.insert("train_sample".into(), serde_json::to_value(&sample)?);
            }
            train_samples.insert("fm_probe".to_string(), json!(sample));
            fitted.seconds += started.elapsed().as_secs_f64();
            let probe = match fitted.model.as_ref().map(|m| &m.fitting) {
                Some(adapt::scorer::Fitting::Probe { model, .. }) => Some(model.clone()),
                _ => None,
            };
            run.methods.push(fitted);
            if let Some(probe) = probe.filter(|_| fine_tunes(task)) {
                let config = model::finetune::FineTuneConfig {
                    epochs: args.fine_tune_epochs,
                    lr: args.fine_tune_lr,
                    seed: args.seed,
                    ..Default::default()
                };
                let started = Instant::now();
                let all: Vec<&meds::Timeline> = timelines.iter().collect();
                let mut last = 0;
                let tuned = adapt::finetune::fit_fine_tuned(
                    f,
                    &all,
                    &codes,
                    &examples,
                    &probe,
                    pooling,
                    args.fine_tune_train_max,
                    &config,
                    |done, total| {
                        if done >= last + 50 || done == total {
                            last = done;
                            tracing::info!(task, done, total, secs = started.elapsed().as_secs_f64(), "fine-tuning");
                        }
                    },
                )?;
                let tuning: Vec<String> =
                    tuned.epochs.iter().map(|e| format!("epoch {}: {:.4}", e.epoch, e.tuning)).collect();
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
                train_samples.insert("fm_finetune".to_string(), json!(tuned.sample));
                fine_tuned = Some(tuned.classifier);
                run.methods.push(tuned.fitted);
            }
            if args.few_shot {
                let lr = adapt::baselines::logistic_fitter(f.width(pooling));
                curves.push(adapt::baselines::few_shot("fm_probe", &probe_examples, &rows, &*lr, 3, args.seed));
            }
        }
        let mut zero_shot_summary = None;
        if let (Some(runner), Some(definitions)) = (&mut zero_shot, &definitions) {
            let Some(definition) = definitions.get(task) else {
                bail!("{task}: no definition in {}/label_report.json", args.labels.display());
            };
            let started = Instant::now();
            let held_out: Vec<meds::labels::BooleanLabel> =
                examples.iter().filter(|e| e.split == "held_out").map(|e| e.label).collect();
            let mut last = 0;
            let (predictions, summary) = runner.predict(definition, &held_out, args.zero_shot_max, |done, total| {
                if done >= last + 100 {
                    last = done;
                    tracing::info!(task, done, total, secs = started.elapsed().as_secs_f64(), "generating futures");
                }
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
            let empty = predictions.is_empty();
            zero_shot_summary = Some(summary);
            if !empty {
                run.methods.push(adapt::baselines::Fitted {
                    method: "fm_zero_shot".into(),
                    predictions,
                    lambda: None,
                    tuning_auroc: None,
                    seconds: started.elapsed().as_secs_f64(),
                    recalibration: None,
                    model: None,
                });
            }
        }
        if let (Some((config, synth_codes)), Some(outcome)) = (&oracle, synth::oracle::outcome_of(task)) {
            let started = Instant::now();
            let held_out: Vec<meds::labels::BooleanLabel> =
                examples.iter().filter(|e| e.split == "held_out").map(|e| e.label).collect();
            let predictions = oracle_predictions(config, synth_codes, outcome, &held_out, oracle_precision);
            if predictions.len() != held_out.len() {
                bail!(
                    "{task}: {} held-out prediction times have no oracle answer: subjects that are not the \
                     generator's (was the dataset re-keyed by ingest?) or times with no stay or draw it recorded",
                    held_out.len() - predictions.len()
                );
            }
            run.methods.push(adapt::baselines::Fitted {
                method: "oracle".into(),
                predictions,
                lambda: None,
                tuning_auroc: None,
                seconds: started.elapsed().as_secs_f64(),
                recalibration: None,
                model: None,
            });
        }
        let dir = args.out.join(task);
        std::fs::create_dir_all(&dir)?;
        if !curves.is_empty() {
            outputs::atomic::write_json(&dir.join("few_shot.json"), &curves)?;
        }
        for m in &mut run.methods {
            meds::labels::write_boolean_predictions(&dir.join(format!("{}.parquet", m.method)), &m.predictions)?;
            if let Some(model) = &mut m.model {
                // The fitted model travels: `longitude evaluate --task-model` scores another
                // site's data with it.
                model.task = task.clone();
                model.fitted_on.insert("split".into(), json!(args.split.to_string()));
                model.fitted_on.insert("examples".into(), json!(run.examples));
                model.fitted_on.insert("positives".into(), json!(run.positives));
                model.fitted_on.insert("tuning_auroc".into(), json!(m.tuning_auroc));
                model.fitted_on.insert("lambda".into(), json!(m.lambda));
                if let Some(r) = &m.recalibration {
                    model.fitted_on.insert("recalibration".into(), json!(r));
                }
                if m.method == "fm_probe" || m.method == "fm_finetune" {
                    model.fitted_on.insert("model_bundle".into(), json!(args.model));
                }
                if let (Some(classifier), Some(f)) =
                    (fine_tuned.as_ref().filter(|_| m.method == "fm_finetune"), &foundation)
                {
                    model::weights::save(&classifier.body, f.config(), &dir.join(adapt::finetune::WEIGHTS_FILE))?;
                }
                model.save(&dir.join(format!("{}.model.json", m.method)))?;
            }
            outln!(
                "{:<24} {:>8} {:>8} {:>8} {:>9}  {:<16} {:>8} {:>8.1}",
                task,
                run.examples.get("train").copied().unwrap_or(0),
                run.examples.get("tuning").copied().unwrap_or(0),
                run.examples.get("held_out").copied().unwrap_or(0),
                run.features,
                m.method,
                m.tuning_auroc.map_or("—".into(), |a| format!("{a:.3}")),
                m.seconds
            );
        }
        // Why each method the report expects has no predictions here, so that no blank in the
        // report goes unexplained.
        let mut not_run = serde_json::Map::new();
        let mut missing = |method: &str, why: String| {
            if !run.methods.iter().any(|m| m.method == method) {
                not_run.insert(method.to_string(), json!(why));
            }
        };
        match (&args.model, args.no_probe) {
            (None, _) => missing("fm_probe", "no foundation model was given (--model)".into()),
            (Some(_), true) => missing("fm_probe", "not requested in this run (--no-probe)".into()),
            _ => {}
        }
        match (&args.model, args.no_probe, args.fine_tune) {
            (None, _, _) => missing("fm_finetune", "no foundation model was given (--model)".into()),
            (Some(_), true, _) => missing("fm_finetune", "not requested in this run (--no-probe)".into()),
            (Some(_), false, false) => missing("fm_finetune", "not requested in this run (--fine-tune)".into()),
            (Some(_), false, true) if !fine_tunes(task) => {
                missing("fm_finetune", "not requested for this task (--fine-tune-tasks)".into())
            }
            (Some(_), false, true) => {
                missing("fm_finetune", "the probe fitted no model to start fine-tuning from".into())
            }
        }
        match (&args.model, &zero_shot_summary) {
            (None, _) => missing("fm_zero_shot", "no foundation model was given (--model)".into()),
            (Some(_), None) => missing("fm_zero_shot", "not requested in this run (--zero-shot 0)".into()),
            (Some(_), Some(z)) => missing(
                "fm_zero_shot",
                format!(
                    "no generated future settled this task's label at any of the {} sampled prediction times",
                    z.prediction_times
                ),
            ),
        }
        match (&args.truth, synth::oracle::outcome_of(task)) {
            (None, _) => {
                missing("oracle", "no ground truth: the oracle exists for simulated data only (--truth)".into())
            }
            (Some(_), None) => missing("oracle", synth::oracle::NO_ORACLE.into()),
            _ => {}
        }
        // Methods scored on a sample of the held-out times, and how to weight it back (the
        // report evaluates them as the population they stand for).
        let samples: serde_json::Map<String, serde_json::Value> =
            zero_shot_summary.as_ref().map(|z| ("fm_zero_shot".to_string(), json!(z.sample))).into_iter().collect();
        report.insert(
            task.clone(),
            json!({
                "run": run,
                "labels_without_subject_or_split": dropped,
                "zero_shot": zero_shot_summary,
                "samples": samples,
                "train_samples": train_samples,
                "not_run": not_run,
            }),
        );
    }
    report.insert("_split".to_string(), json!({ "scheme": args.split.to_string(), "description": scheme.describe() }));
    if oracle.is_some() {
        // How the oracle's shares were drawn, so a reader can tell a quantised ceiling.
        report.insert(
            "_oracle".to_string(),
            json!({
                "first_futures": oracle_precision.samples,
                "max_futures": oracle_precision.max_samples,
                "drawn_until_outcomes": oracle_precision.hits,
            }),
        );
    }
    outputs::atomic::write_json(&args.out.join("adapt_report.json"), &report)?;
    out.finish()?;
    outln!("predictions and adapt_report.json in {} ({:.1} s)", args.out.display(), started.elapsed().as_secs_f64());
    Ok(ExitCode::SUCCESS)
}
