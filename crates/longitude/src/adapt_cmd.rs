//! `longitude adapt`: fit the baselines (and, as they join, the foundation model's adaptations)
//! for every labelled task, writing held-out predictions in the meds-evaluation schema.

use std::path::PathBuf;
use std::process::ExitCode;

use adapt::{AdaptPlan, FineTunePlan, FoundationPlan, ProbePlan, ZeroShotPlan};
use anyhow::{Result, bail};
use clap::Args;

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
    /// all of train) for the count-feature models and the probe (in adapt_report.json).
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

impl AdaptArgs {
    /// The plan these arguments describe; refuses combinations that cannot run.
    pub fn plan(&self) -> Result<AdaptPlan> {
        // Named before the model checks: a task the run leaves out is the first thing to fix.
        if !self.fine_tune_tasks.is_empty() {
            let tasks = adapt::label_files(&self.labels, &self.only)?;
            if let Some(unknown) = self.fine_tune_tasks.iter().find(|n| !tasks.iter().any(|(t, _)| t == *n)) {
                bail!(
                    "--fine-tune-tasks names {unknown}, which is not among this run's tasks (label files in {}, --only)",
                    self.labels.display()
                );
            }
        }
        if self.zero_shot > 0 && self.model.is_none() {
            bail!("--zero-shot generates futures with a model: give --model BUNDLE");
        }
        if self.fine_tune && (self.model.is_none() || self.no_probe) {
            bail!("--fine-tune starts from the linear probe: give --model BUNDLE (and not --no-probe)");
        }
        let fine_tune = self.fine_tune.then(|| FineTunePlan {
            tasks: self.fine_tune_tasks.clone(),
            train_max: self.fine_tune_train_max,
            epochs: self.fine_tune_epochs,
            lr: self.fine_tune_lr,
        });
        let foundation = self.model.as_ref().map(|model| FoundationPlan {
            model: model.clone(),
            probe: (!self.no_probe).then_some(ProbePlan {
                pooling: self.probe_pooling,
                train_max: self.probe_train_max,
                fine_tune,
            }),
            zero_shot: (self.zero_shot > 0).then(|| ZeroShotPlan {
                options: adapt::zero_shot::ZeroShotOptions {
                    futures: self.zero_shot,
                    value_draws: self.zero_shot_value_draws,
                    redraw_bins: !self.zero_shot_sampled_bins,
                    horizon_days: self.zero_shot_days,
                    max_new_tokens: self.zero_shot_tokens,
                    temperature: 1.0,
                    seed: self.seed,
                    withheld_tokens: Vec::new(),
                },
                max_prediction_times: self.zero_shot_max,
            }),
        });
        Ok(AdaptPlan {
            meds: self.meds.clone(),
            labels: self.labels.clone(),
            only: self.only.clone(),
            min_subjects: self.min_subjects,
            seed: self.seed,
            truth: self.truth.clone(),
            oracle: synth::oracle::Precision::adaptive(self.oracle_samples, self.oracle_max_samples),
            foundation,
            few_shot: self.few_shot,
            split: self.split.clone(),
            sites: self.sites.clone(),
            predicates: self.predicates.clone(),
        })
    }
}

pub fn run(args: &AdaptArgs) -> Result<ExitCode> {
    crate::steps::adapt(&args.plan()?, &args.out, args.replace)?;
    Ok(ExitCode::SUCCESS)
}
