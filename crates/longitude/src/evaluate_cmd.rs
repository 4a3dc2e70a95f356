//! `longitude evaluate`: validate a predictions file (the meds-evaluation schema) — metrics with
//! patient-level bootstrap intervals, operating points, and a fairness audit over attributes read
//! from the MEDS data. Everything stays on the machine: this is the path a partner organisation
//! uses to validate a received model on its own data.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use eval::Options;

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
    /// With --model: a public key of the bundle's owner (`longitude bundle keygen`'s KEY.pub, or
    /// its one-line text); the bundle must be signed by it and match its manifest byte for byte
    /// before anything is scored. Repeatable. Required with --model, unless --allow-unsigned.
    #[arg(long, requires = "model")]
    pub trusted: Vec<String>,
    /// With --model and no --trusted: score with a bundle whose signature is not checked — the
    /// owner's own development bundle, before it is signed. A warning is logged.
    #[arg(long, requires = "model", conflicts_with = "trusted")]
    pub allow_unsigned: bool,
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

/// Scores the site's labels with a received task model (recalibrating it when asked); returns
/// where the predictions went.
fn score(args: &EvaluateArgs, model_path: &Path) -> Result<PathBuf> {
    let (Some(meds_root), Some(labels)) = (&args.meds, &args.labels) else {
        anyhow::bail!("--task-model needs --meds and --labels");
    };
    let model = adapt::scorer::TaskModel::load(model_path)?;
    if let Some(bundle) = &args.model {
        if args.allow_unsigned {
            tracing::warn!("the model bundle's signature is not checked (--allow-unsigned)");
        } else if args.trusted.is_empty() {
            anyhow::bail!(
                "the model bundle's signature must be checked before it scores anything: give --trusted with its \
                 owner's public key (KEY.pub or its text), or --allow-unsigned for your own unsigned development bundle"
            );
        } else {
            let keys =
                args.trusted.iter().map(|k| signing::VerifierKey::read_or_parse(k)).collect::<Result<Vec<_>, _>>()?;
            let verified = provenance::verify(bundle, &keys)?;
            outln!("model bundle {} verified: signed by {}", bundle.display(), verified.signed_by.join(", "));
        }
    }
    let site = adapt::external::score_site(&model, args.model.as_deref(), meds_root, labels)?;
    let out = match (&args.predictions, &args.out) {
        (Some(p), _) => p.clone(),
        (None, Some(o)) => o.with_extension("predictions.parquet"),
        (None, None) => std::env::temp_dir().join(format!("longitude-{}-{}.parquet", model.task, model.method)),
    };
    meds::labels::write_boolean_predictions(&out, &site.predictions)?;
    outln!(
        "scored {} prediction times with {} ({}) on {}; {} labels had no subject in the data; predictions in {}",
        site.predictions.len(),
        model.method,
        model.task,
        meds_root.display(),
        site.without_timeline,
        out.display()
    );
    if let Some(path) = &args.recalibrate_out {
        let fitted = adapt::external::recalibrate_for_site(model, &site.predictions, path)?;
        outln!(
            "recalibrated to this site on {} prediction times ({} positive): log-odds × {:.3} {:+.3}; written to {}",
            fitted.examples,
            fitted.positives,
            fitted.map.slope,
            fitted.map.intercept,
            path.display()
        );
    }
    Ok(out)
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
        report::check_pairable([&predictions, other])?;
    }
    let evaluation = report::evaluate_file(&predictions, args.meds.as_deref(), &options)
        .with_context(|| format!("evaluating {}", predictions.display()))?;
    outln!("{evaluation}");
    let paired =
        args.compare_with.as_ref().map(|other| report::compare_files(&predictions, other, &options)).transpose()?;
    if let Some(p) = &paired {
        outln!("{p}");
    }
    if let Some(out) = &args.out {
        outputs::atomic::write_json(out, &report::FileEvaluation { evaluation, paired })?;
    }
    outln!("evaluated in {:.2} s ({} resamples)", started.elapsed().as_secs_f64(), args.resamples);
    Ok(ExitCode::SUCCESS)
}
