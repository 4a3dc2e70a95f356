//! `longitude pretrain`: next-token pretraining of the foundation model on tokenized timelines.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use model::pretrain::PretrainPlan;

use crate::progress::Progress;

#[derive(Debug, Args)]
pub struct PretrainArgs {
    /// The output of `longitude tokenize` (tokenizer.json and tokens/).
    #[arg(long)]
    pub tokens: PathBuf,
    /// Where checkpoints, metrics.jsonl, the model bundle (model/) and the report go.
    #[arg(long)]
    pub out: PathBuf,
    /// Model size: tiny (tests), small (CPU), base (GPU).
    #[arg(long, default_value = "small")]
    pub config: String,
    /// Optimizer steps.
    #[arg(long, default_value_t = 1000)]
    pub steps: u64,
    /// Windows per micro-batch.
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
    /// Micro-batches per step (gradient accumulation).
    #[arg(long, default_value_t = 1)]
    pub accumulation: usize,
    /// Tokens per window, prefix included [default: the model's maximum].
    #[arg(long)]
    pub seq_len: Option<usize>,
    /// Give the model the continuous value channel: where in its bin each lab value fell, beside
    /// the bin token (docs/benchmarks/validation.md measures what it buys).
    #[arg(long)]
    pub value_channel: bool,
    /// Peak learning rate [default: by model size].
    #[arg(long)]
    pub lr: Option<f64>,
    /// Seed of the weights and of every batch.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Tuning loss every N steps [default: steps / 10].
    #[arg(long)]
    pub eval_every: Option<u64>,
    /// A checkpoint every N steps [default: steps / 4].
    #[arg(long)]
    pub checkpoint_every: Option<u64>,
    /// Continue from the latest checkpoint in OUT (exactly: same batches, same optimizer state).
    #[arg(long)]
    pub resume: bool,
    #[command(flatten)]
    pub replace: crate::claim::Replace,
}

/// Refuses arguments that cannot give a model, before any work starts.
impl PretrainArgs {
    /// The pretraining these arguments describe.
    pub fn plan(&self) -> PretrainPlan {
        PretrainPlan {
            tokens: self.tokens.clone(),
            preset: self.config.clone(),
            steps: self.steps,
            batch_size: self.batch_size,
            accumulation: self.accumulation,
            seq_len: self.seq_len,
            value_channel: self.value_channel,
            lr: self.lr,
            seed: self.seed,
            eval_every: self.eval_every,
            checkpoint_every: self.checkpoint_every,
            resume: self.resume,
        }
    }
}

pub fn run(args: &PretrainArgs, progress: &Progress) -> Result<ExitCode> {
    let plan = args.plan();
    plan.check()?;
    crate::steps::pretrain(&plan, &args.out, args.replace, progress)?;
    Ok(ExitCode::SUCCESS)
}
