//! `longitude pretrain`: next-token pretraining of the foundation model on tokenized timelines.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use model::pretrain::{Corpus, PretrainConfig, StepMetrics, pretrain};
use model::{CpuTrain, ModelConfig};
use serde::Serialize;
use tokenizer::Tokenizer;

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

#[derive(Serialize)]
struct Report<'a> {
    config: &'a PretrainConfig,
    #[serde(flatten)]
    summary: &'a model::pretrain::PretrainSummary,
    below_unigram: bool,
    threads: usize,
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

pub fn run(args: &PretrainArgs, progress: &Progress) -> Result<ExitCode> {
    check_args(args)?;
    let out = if args.resume {
        outputs::OutputDir::resume(&args.out, "pretrain", std::slice::from_ref(&args.tokens))?
    } else {
        crate::claim::claim(&args.out, "pretrain", &[Some(&args.tokens)], args.replace)?
    };
    let tok_path = args.tokens.join("tokenizer.json");
    let tokenizer = Tokenizer::load(&tok_path).with_context(|| "run `longitude tokenize` first")?;
    let read =
        |split: &str| tokenizer::dataset::read_split(&args.tokens.join("tokens").join(format!("{split}.parquet")));
    let train = read(meds::schema::TRAIN_SPLIT)?;
    let tuning = read(meds::schema::TUNING_SPLIT)?;
    if train.is_empty() || tuning.is_empty() {
        bail!("pretraining needs subjects in both the train and tuning splits");
    }
    let Some(mut shape) = ModelConfig::preset(&args.config, tokenizer.len()) else {
        bail!("unknown model config {:?}: tiny, small or base", args.config);
    };
    if let Some(n) = args.seq_len {
        shape.max_seq_len = n;
    }
    shape.value_channel = args.value_channel;

    let mut config = PretrainConfig::for_model(shape, args.steps);
    config.batch_size = args.batch_size;
    config.accumulation = args.accumulation.max(1);
    config.seed = args.seed;
    if let Some(lr) = args.lr {
        config.lr = lr;
        config.min_lr = lr / 10.0;
    }
    if let Some(n) = args.eval_every {
        config.eval_every = n.max(1);
    }
    if let Some(n) = args.checkpoint_every {
        config.checkpoint_every = n.max(1);
    }
    tracing::info!(
        parameters = config.model.parameters(),
        vocabulary = tokenizer.len(),
        train_subjects = train.len(),
        "pretraining the {} model",
        args.config
    );
    let bar = progress.bar("pretraining", Some(config.steps), "steps");
    let device = Default::default();
    let mut on_step = |m: &StepMetrics| {
        bar.set_position(m.step);
        bar.set_message(format!("loss {:.3} · {:.0} tok/s", m.train_loss, m.tokens_per_s));
        if let Some(t) = m.tuning_loss {
            tracing::info!(step = m.step, train_loss = m.train_loss, tuning_loss = t, "evaluated");
        }
    };
    let corpus = Corpus { tokenizer: &tokenizer, train: &train, tuning: &tuning };
    let summary = pretrain::<CpuTrain>(&config, &corpus, &args.out, args.resume, &device, &mut on_step)?;
    bar.finish_and_clear();

    if !summary.tuning_loss.is_finite() {
        bail!(
            "training diverged (tuning loss {} at step {}): no model bundle was written; try a lower --lr",
            summary.tuning_loss,
            summary.steps
        );
    }
    // The model bundle: portable weights, the tokenizer that goes with them, the config.
    let bundle = args.out.join("model");
    let latest = model::pretrain::latest_checkpoint(&args.out).context("no checkpoint was written")?;
    model::bundle::write(&bundle, &latest.join(model::bundle::WEIGHTS), &tokenizer, &config)?;
    let report = Report {
        config: &config,
        summary: &summary,
        below_unigram: summary.tuning_loss < summary.unigram_tuning_loss,
        threads: rayon::current_num_threads(),
    };
    outputs::atomic::write_json(&args.out.join("pretrain_report.json"), &report)?;
    out.finish()?;
    outln!(
        "{} steps ({} parameters, {:.0} tokens/s on {} threads): tuning loss {:.4} (perplexity {:.2}) vs unigram {:.4}; model bundle in {}",
        summary.steps,
        summary.parameters,
        summary.tokens_per_s,
        report.threads,
        summary.tuning_loss,
        summary.tuning_perplexity,
        summary.unigram_tuning_loss,
        bundle.display()
    );
    Ok(ExitCode::SUCCESS)
}
