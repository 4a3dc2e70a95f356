//! `longitude what-if`: the foundation model's futures of a task's patients as recorded and with a
//! treatment started (or withheld) at the prediction time, the outcome's risk in each, and — on
//! simulated data — the generator's true effect of the same change on the same prediction times.

use std::path::PathBuf;
use std::process::ExitCode;

use adapt::what_if::WhatIfPlan;
use anyhow::Result;
use artifacts::what_if::ChangeKind;
use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct WhatIfArgs {
    /// The MEDS dataset the labels are about.
    #[arg(long)]
    pub meds: PathBuf,
    /// `longitude label`'s output directory (<task>.parquet and label_report.json).
    #[arg(long)]
    pub labels: PathBuf,
    /// The task whose outcome is compared (a label file's stem, e.g. stroke_in_af_1y).
    #[arg(long)]
    pub task: String,
    /// The pretrained model bundle (`longitude pretrain`'s OUT/model).
    #[arg(long)]
    pub model: PathBuf,
    /// The treatment's code, started at every prediction time of patients not on it (e.g.
    /// RXNORM/1364430, apixaban). It must have its own token in the model's vocabulary.
    #[arg(long)]
    pub treatment: String,
    /// Withhold the treatment instead, from patients on it: the model reads their history
    /// without any of its codes (--treated-by) and never generates them.
    #[arg(long)]
    pub withhold: bool,
    /// The codes the treatment is recorded as: a record of any at or before a prediction time
    /// means the patient is on it [default: the treatment; with --truth, every agent of its
    /// simulated drug class too].
    #[arg(long, value_delimiter = ',')]
    pub treated_by: Vec<String>,
    /// Whose prediction times: `train`, `tuning`, `held_out` or `all`.
    #[arg(long, default_value = "held_out")]
    pub split: String,
    /// At most this many eligible prediction times (a seeded sample).
    #[arg(long, default_value_t = 200)]
    pub max: usize,
    /// Futures per arm and prediction time.
    #[arg(long, default_value_t = 32)]
    pub futures: usize,
    /// Each future stops this many days after the prediction time (at least the task's label
    /// window: a shorter future cannot settle a negative).
    #[arg(long, default_value_t = 366)]
    pub days: i64,
    /// Each future stops after this many tokens.
    #[arg(long, default_value_t = 192)]
    pub tokens: usize,
    /// Seed (the sample of prediction times and the futures' random streams).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The generator's ground truth (`longitude synth`'s OUT/truth): adds the oracle's true
    /// effect on the same prediction times (the treatment must be a simulated drug's agent).
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// Futures the oracle draws first per prediction time (both arms share them).
    #[arg(long, default_value_t = 64)]
    pub oracle_samples: u32,
    /// Futures the oracle draws at most, while either arm has seen fewer than 16 outcomes.
    #[arg(long, default_value_t = 1024)]
    pub oracle_max_samples: u32,
    /// The predicates file the labels were made with (`longitude label --predicates`).
    #[arg(long)]
    pub predicates: Option<PathBuf>,
    /// Subject-level bootstrap resamples for the intervals.
    #[arg(long, default_value_t = 1000)]
    pub resamples: usize,
    /// Write the comparison (cohort, both estimates, every prediction time's risks) as JSON.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

impl WhatIfArgs {
    /// The study these arguments describe.
    pub fn plan(&self) -> WhatIfPlan {
        WhatIfPlan {
            meds: self.meds.clone(),
            labels: self.labels.clone(),
            task: self.task.clone(),
            model: self.model.clone(),
            treatment: self.treatment.clone(),
            change: if self.withhold { ChangeKind::Withhold } else { ChangeKind::Start },
            treated_by: self.treated_by.clone(),
            split: self.split.clone(),
            max: self.max,
            futures: self.futures,
            days: self.days,
            tokens: self.tokens,
            seed: self.seed,
            truth: self.truth.clone(),
            oracle: synth::oracle::Precision::adaptive(self.oracle_samples, self.oracle_max_samples),
            predicates: self.predicates.clone(),
            resamples: self.resamples,
        }
    }
}

pub fn run(args: &WhatIfArgs) -> Result<ExitCode> {
    crate::steps::what_if(&args.plan(), args.out.as_deref())?;
    Ok(ExitCode::SUCCESS)
}
