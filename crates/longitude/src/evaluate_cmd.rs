//! `longitude evaluate`: validate a predictions file (the meds-evaluation schema) — metrics with
//! patient-level bootstrap intervals, operating points, and a fairness audit over attributes read
//! from the MEDS data. Everything stays on the machine: this is the path a partner organisation
//! uses to validate a received model on its own data.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use eval::{Interval, Options};

#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// Predictions in the meds-evaluation schema (subject_id, prediction_time, boolean_value,
    /// predicted_boolean_value, predicted_boolean_probability). With --task-model: where the
    /// predictions it makes are written.
    #[arg(long, required_unless_present = "task_model")]
    pub predictions: Option<PathBuf>,
    /// A fitted task model (`longitude adapt`'s OUT/<task>/<method>.model.json): score --labels
    /// on the --meds data here, then evaluate — the external-validation path for a site that
    /// received the model. Nothing leaves the machine.
    #[arg(long, requires_all = ["labels", "meds"])]
    pub task_model: Option<PathBuf>,
    /// With --task-model: the site's labels for the task (MEDS label schema, e.g. from
    /// `longitude label` with the same ACES configuration).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// With a foundation-model task model (`fm_probe`, `fm_finetune`): the pretrained model
    /// bundle (its tokenizer; the probe also reads its embeddings).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// The MEDS dataset the predictions are about: sex, age band, race and ethnicity for the
    /// fairness audit are read from it.
    #[arg(long)]
    pub meds: Option<PathBuf>,
    /// Patient-level bootstrap resamples for the 95% intervals.
    #[arg(long, default_value_t = 1_000)]
    pub resamples: usize,
    /// Bootstrap seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Decision threshold for the fairness audit [default: the one giving 90% specificity].
    #[arg(long)]
    pub threshold: Option<f64>,
    /// Write the whole evaluation as JSON here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// With --task-model: fit a recalibration of the model to this site on the labels scored
    /// (its log-odds mapped by `a·z + b`, ranking unchanged) and write the recalibrated task
    /// model here. The evaluation printed is of the model as received, on the labels it was
    /// fitted on: judge the recalibrated model on other labels (a later period, other patients).
    #[arg(long, requires = "task_model")]
    pub recalibrate_out: Option<PathBuf>,
    /// Another method's predictions of the same labels (the model in use, a baseline): the AUROC
    /// difference on the prediction times both scored, with a paired patient-level bootstrap
    /// interval (each resample scores both on the same patients) — whether the evaluated model
    /// is ahead of it, level or behind. Both must score every time, not a case-control sample.
    #[arg(long)]
    pub compare_with: Option<PathBuf>,
}

fn with_ci(value: Option<f64>, ci: Option<Interval>) -> String {
    match (value, ci) {
        (Some(v), Some(i)) => format!("{v:.3} [{:.3}, {:.3}]", i.lower, i.upper),
        (Some(v), None) => format!("{v:.3}"),
        _ => "—".to_string(),
    }
}

/// Scores the site's labels with a received task model; returns where the predictions went.
fn score(args: &EvaluateArgs, model_path: &Path) -> Result<PathBuf> {
    let (Some(meds_root), Some(labels)) = (&args.meds, &args.labels) else {
        anyhow::bail!("--task-model needs --meds and --labels");
    };
    let model = adapt::scorer::TaskModel::load(model_path)?;
    let foundation = match &args.model {
        Some(bundle) => {
            Some(adapt::foundation::Foundation::load(bundle).with_context(|| format!("loading {}", bundle.display()))?)
        }
        None => None,
    };
    let labels_read = meds::labels::read_boolean_labels(labels)?;
    let (codes, by_split) = meds::read_by_split(meds_root)?;
    let timelines: Vec<&meds::Timeline> = by_split.values().flat_map(|ts| ts.iter()).collect();
    let (predictions, missing) = model.score(&timelines, &codes, &labels_read, foundation.as_ref())?;
    if predictions.is_empty() {
        anyhow::bail!(
            "none of the {} labels in {} has a subject in {}",
            labels_read.len(),
            labels.display(),
            meds_root.display()
        );
    }
    let out = match &args.predictions {
        Some(p) => p.clone(),
        None => match &args.out {
            Some(o) => o.with_extension("predictions.parquet"),
            None => std::env::temp_dir().join(format!("longitude-{}-{}.parquet", model.task, model.method)),
        },
    };
    meds::labels::write_boolean_predictions(&out, &predictions)?;
    outln!(
        "scored {} prediction times with {} ({}) on {}; {} labels had no subject in the data; predictions in {}",
        predictions.len(),
        model.method,
        model.task,
        meds_root.display(),
        missing,
        out.display()
    );
    if let Some(path) = &args.recalibrate_out {
        recalibrate(model, &predictions, path)?;
    }
    Ok(out)
}

/// Fits the site's recalibration on the scored `predictions` and writes the recalibrated model.
fn recalibrate(
    model: adapt::scorer::TaskModel,
    predictions: &[meds::labels::BooleanPrediction],
    path: &Path,
) -> Result<()> {
    use adapt::recalibration::MIN_EXAMPLES_PER_CLASS;
    if model.site_recalibration.is_some() {
        anyhow::bail!(
            "--recalibrate-out: this task model already carries a site's recalibration; start from the received model"
        );
    }
    if let adapt::scorer::Fitting::FineTuned { weights, .. } = &model.fitting {
        // The file names its weights relative to its own directory.
        let out_dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if !out_dir.join(weights).exists() {
            anyhow::bail!(
                "--recalibrate-out: a fine-tuned model reads its weights ({weights}) from its own directory; write the \
                 recalibrated model beside them"
            );
        }
    }
    let Some(site) = adapt::scorer::SiteRecalibration::fit(predictions) else {
        let positives = predictions.iter().filter(|p| p.label.value).count();
        anyhow::bail!(
            "--recalibrate-out: no recalibration fitted on {} prediction times ({positives} positive): it needs at \
             least {MIN_EXAMPLES_PER_CLASS} of each class and a model that ranks them better than chance",
            predictions.len()
        );
    };
    let (map, positives, examples) = (site.map, site.positives, site.examples);
    model.with_site_recalibration(site).save(path)?;
    outln!(
        "recalibrated to this site on {examples} prediction times ({positives} positive): log-odds × {:.3} {:+.3}; written to {}",
        map.slope,
        map.intercept,
        path.display()
    );
    Ok(())
}

/// Refuses a paired comparison of a case-control sample (before anything is evaluated).
fn check_pairable(files: [&Path; 2]) -> Result<()> {
    for file in files {
        if artifacts::AdaptReport::case_control_design_of(file)?.is_some() {
            anyhow::bail!(
                "--compare-with: {} holds a case-control sample of the prediction times; a paired comparison needs \
                 every time scored by both",
                file.display()
            );
        }
    }
    Ok(())
}

/// The AUROC of `predictions` minus that of `baseline` on the times both scored, printed with
/// its paired interval.
fn compare(predictions: &Path, baseline: &Path, options: &Options) -> Result<eval::paired::PairedDifference> {
    let ours = meds::labels::read_boolean_predictions(predictions)?;
    let theirs =
        meds::labels::read_boolean_predictions(baseline).with_context(|| format!("reading {}", baseline.display()))?;
    let Some(d) = eval::paired::paired_auroc(&theirs, &ours, options.resamples, options.seed, options.level) else {
        anyhow::bail!(
            "--compare-with: {} and {} share no prediction times with both outcomes (same subject, time and label)",
            predictions.display(),
            baseline.display()
        );
    };
    let verdict = d.verdict().map_or("no interval", eval::paired::Verdict::as_str);
    outln!(
        "paired with {}: AUROC {:.3} vs {:.3}, difference {} on {} shared times ({} positive): {verdict}",
        baseline.display(),
        d.candidate_auroc,
        d.baseline_auroc,
        match d.interval {
            Some(i) => format!("{:+.3} [{:+.3}, {:+.3}]", d.difference, i.lower, i.upper),
            None => format!("{:+.3}", d.difference),
        },
        d.rows,
        d.positives
    );
    Ok(d)
}

pub fn run(args: &EvaluateArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let options =
        Options { resamples: args.resamples, seed: args.seed, threshold: args.threshold, ..Default::default() };
    let predictions = match (&args.task_model, &args.predictions) {
        (Some(model), _) => score(args, model)?,
        (None, Some(p)) => p.clone(),
        (None, None) => anyhow::bail!("give --predictions FILE, or --task-model FILE with --labels and --meds"),
    };
    if let Some(other) = &args.compare_with {
        check_pairable([&predictions, other])?;
    }
    let e = report::evaluate_file(&predictions, args.meds.as_deref(), &options)
        .with_context(|| format!("evaluating {}", predictions.display()))?;
    let m = &e.metrics;
    let i = &e.intervals;
    if e.weighted {
        outln!(
            "a case-control sample (adapt_report.json): figures are weighted back to the {:.0} held-out prediction times it was drawn from",
            m.n
        );
    }
    outln!(
        "predictions {}  subjects {}  positives {:.0} ({:.2}%)",
        e.n,
        e.subjects,
        m.positives,
        100.0 * m.prevalence.unwrap_or(0.0)
    );
    outln!("AUROC                 {}", with_ci(m.auroc, i.auroc));
    outln!("AUPRC                 {}", with_ci(m.auprc, i.auprc));
    outln!("Brier                 {}", with_ci(m.brier, i.brier));
    outln!("calibration slope     {}", with_ci(m.calibration_slope, i.calibration_slope));
    outln!("calibration intercept {}", with_ci(m.calibration_intercept, i.calibration_intercept));
    outln!("ECE                   {}", with_ci(m.ece, i.ece));
    if let Some(p) = &e.audit_point {
        let f = |x: Option<f64>| x.map_or("—".into(), |v| format!("{v:.3}"));
        outln!(
            "at threshold {:.4}: sensitivity {}  specificity {}  PPV {}  flag rate {}  NNE {}",
            p.threshold,
            f(p.sensitivity),
            f(p.specificity),
            f(p.ppv),
            f(p.flag_rate),
            f(p.nne)
        );
    }
    match eval::useful_thresholds(&e.decision_curve) {
        Some((lo, hi)) => outln!(
            "decision curve: acting on the flags beats acting on all and on none at thresholds {:.1}%–{:.1}%",
            100.0 * lo,
            100.0 * hi
        ),
        None => outln!("decision curve: acting on the flags beats acting on all and on none at no threshold"),
    }
    for a in &e.fairness {
        outln!(
            "fairness {:<10} reference {:<10} AUROC gap {}  flagged: {}",
            a.attribute,
            a.reference,
            a.auroc_gap.map_or("—".into(), |g| format!("{g:.3}")),
            a.flagged_summary()
        );
    }
    let paired = match &args.compare_with {
        Some(other) => Some(compare(&predictions, other, &options)?),
        None => None,
    };
    if let Some(out) = &args.out {
        let mut value = serde_json::to_value(&e)?;
        if let (Some(p), Some(object)) = (&paired, value.as_object_mut()) {
            object.insert("paired".into(), serde_json::json!({ "baseline": args.compare_with, "difference": p }));
        }
        outputs::atomic::write_json(out, &value)?;
    }
    outln!("evaluated in {:.2} s ({} resamples)", started.elapsed().as_secs_f64(), args.resamples);
    Ok(ExitCode::SUCCESS)
}
