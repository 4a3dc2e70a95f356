//! `longitude pretrain`: next-token pretraining of the foundation model on tokenized timelines.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Args;
use model::ModelConfig;
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
fn check_args(args: &PretrainArgs) -> Result<()> {
    if let Some(lr) = args.lr
        && !(lr.is_finite() && lr > 0.0)
    {
        bail!("--lr must be a positive number (got {lr})");
    }
    if args.batch_size == 0 || args.accumulation == 0 || args.steps == 0 {
        bail!("--batch-size, --accumulation and --steps must be at least 1");
    }
    if args.eval_every == Some(0) || args.checkpoint_every == Some(0) {
        bail!("--eval-every and --checkpoint-every must be at least 1");
    }
    if args.seq_len.is_some_and(|n| n < 2) {
        bail!("--seq-len must be at least 2 (a token and the one it predicts)");
    }
    // The window's cost does not depend on the vocabulary: checked before anything is read.
    if let Some(shape) = ModelConfig::preset(&args.config, 1) {
        let window = args.seq_len.unwrap_or(shape.max_seq_len);
        if let Some(memory) = memory_bytes()
            && attention_bytes(&shape, args.batch_size, window) > memory / 2
        {
            bail!(
                "a window of {window} tokens with --batch-size {} needs about {} GiB for attention alone, more than half this machine's {} GiB: use a smaller --seq-len or --batch-size",
                args.batch_size,
                attention_bytes(&shape, args.batch_size, window) >> 30,
                memory >> 30
            );
        }
    }
    Ok(())
}

/// Bytes the attention of one training micro-batch holds for the backward pass (scores and
/// probabilities per layer and head, in f32): the part that grows with the square of the window.
fn attention_bytes(shape: &ModelConfig, batch: usize, seq_len: usize) -> u128 {
    2 * 4 * (batch as u128) * (shape.n_layers as u128) * (shape.n_heads as u128) * (seq_len as u128).pow(2)
}

/// The machine's memory in bytes, where the system says (Linux).
fn memory_bytes() -> Option<u128> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: u128 = text.lines().find(|l| l.starts_with("MemTotal:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

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
    check_args(args)?;
    crate::steps::pretrain(&args.plan(), &args.out, args.replace, progress)?;
    Ok(ExitCode::SUCCESS)
}
