//! Pretraining: next-token prediction over windows of timelines ([`crate::batches`]), AdamW with
//! linear warm-up and cosine decay, gradient clipping by norm, gradient accumulation.
//!
//! Every `checkpoint_every` steps (and at the end) a checkpoint is written atomically under
//! `OUT/checkpoints/step-NNNNNNNN/`: the model and AdamW state as burn records (parameter ids
//! included, so the optimizer's moments find their weights again), the weights as portable
//! safetensors, and the step. Batches are a pure function of the seed and step, so that is all
//! the state there is: `resume` continues exactly where the checkpoint left off, and the loss
//! curve matches an uninterrupted run's.
//!
//! Metrics go to `OUT/metrics.jsonl`, one line per step (train loss, learning rate, tokens/s) with
//! the tuning loss and perplexity every `eval_every` steps.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::{AutodiffModule, Module};
use burn::optim::{AdamWConfig, GradientsAccumulator, GradientsParams, Optimizer};
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder, Recorder};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};
use tokenizer::{Encoded, Tokenizer};

use crate::batches::{Batch, Windows};
use crate::{Model, ModelConfig, ModelError};

/// How to pretrain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PretrainConfig {
    /// The model's shape.
    pub model: ModelConfig,
    /// Tokens per window, prefix included.
    pub seq_len: usize,
    /// Windows per micro-batch.
    pub batch_size: usize,
    /// Micro-batches per optimizer step (gradient accumulation).
    pub accumulation: usize,
    /// Optimizer steps.
    pub steps: u64,
    /// Peak learning rate.
    pub lr: f64,
    /// Final learning rate (cosine decay ends there).
    pub min_lr: f64,
    /// Linear warm-up steps.
    pub warmup: u64,
    /// AdamW decoupled weight decay.
    pub weight_decay: f32,
    /// Gradient norm clip.
    pub grad_clip: f32,
    /// Seed of the weights and of every batch.
    pub seed: u64,
    /// Tuning loss every this many steps (and at the end).
    pub eval_every: u64,
    /// Tuning batches per evaluation.
    pub eval_batches: usize,
    /// A checkpoint every this many steps (and at the end).
    pub checkpoint_every: u64,
}

impl PretrainConfig {
    /// Defaults for a model preset: windows of the model's length, AdamW (lr 1e-3 for tiny and
    /// small, 3e-4 for base), 10% warm-up.
    pub fn for_model(model: ModelConfig, steps: u64) -> Self {
        let lr = if model.d_model >= 512 { 3e-4 } else { 1e-3 };
        Self {
            seq_len: model.max_seq_len,
            model,
            batch_size: 8,
            accumulation: 1,
            steps,
            lr,
            min_lr: lr / 10.0,
            warmup: (steps / 10).max(1),
            weight_decay: 0.1,
            grad_clip: 1.0,
            seed: 42,
            eval_every: (steps / 10).max(1),
            eval_batches: 8,
            checkpoint_every: (steps / 4).max(1),
        }
    }

    /// The learning rate at `step` (0-based): linear warm-up, then cosine decay to `min_lr`.
    pub fn lr_at(&self, step: u64) -> f64 {
        if step < self.warmup {
            return self.lr * (step + 1) as f64 / self.warmup as f64;
        }
        let span = self.steps.saturating_sub(self.warmup).max(1) as f64;
        let progress = ((step - self.warmup) as f64 / span).min(1.0);
        self.min_lr + 0.5 * (self.lr - self.min_lr) * (1.0 + (std::f64::consts::PI * progress).cos())
    }
}

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepMetrics {
    /// The step just taken (1-based).
    pub step: u64,
    /// Its learning rate.
    pub lr: f64,
    /// Mean train loss over its micro-batches.
    pub train_loss: f64,
    /// Input tokens per second for the step (padding included, as frameworks count them).
    pub tokens_per_s: f64,
    /// Input tokens seen so far.
    pub tokens_seen: u64,
    /// Tuning loss, on evaluation steps.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tuning_loss: Option<f64>,
    /// exp(tuning loss).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tuning_perplexity: Option<f64>,
}

/// The outcome of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PretrainSummary {
    /// Steps done in all (resumed ones included).
    pub steps: u64,
    /// The step this run started from (0 unless resumed).
    pub resumed_from: u64,
    /// The final tuning loss.
    pub tuning_loss: f64,
    /// exp(tuning loss).
    pub tuning_perplexity: f64,
    /// The tuning loss of predicting every token by its train frequency (the bar to clear).
    pub unigram_tuning_loss: f64,
    /// Input tokens per second over this run's steps.
    pub tokens_per_s: f64,
    /// Wall time of this run.
    pub seconds: f64,
    /// Weights.
    pub parameters: usize,
}

const STATE: &str = "state.json";
const LATEST: &str = "latest";

#[derive(Serialize, Deserialize)]
struct CheckpointState {
    step: u64,
    tokens_seen: u64,
    config: PretrainConfig,
}

fn recorder() -> NamedMpkFileRecorder<FullPrecisionSettings> {
    NamedMpkFileRecorder::new()
}

/// A batch as `(inputs, value positions, targets, weights)` tensors.
type BatchTensors<B> = (Tensor<B, 2, Int>, Option<Tensor<B, 2>>, Tensor<B, 2, Int>, Tensor<B, 2>);

fn tensors<B: Backend>(batch: &Batch, device: &B::Device) -> BatchTensors<B> {
    let shape = [batch.rows, batch.len];
    (
        Tensor::from_data(TensorData::new(batch.inputs.clone(), shape), device),
        Some(Tensor::from_data(TensorData::new(batch.values.clone(), shape), device)),
        Tensor::from_data(TensorData::new(batch.targets.clone(), shape), device),
        Tensor::from_data(TensorData::new(batch.weights.clone(), shape), device),
    )
}

/// The tuning batches every evaluation uses (fixed by the seed).
fn eval_batches(config: &PretrainConfig, tuning: &Windows<'_>) -> Vec<Batch> {
    (0..config.eval_batches as u64).map(|i| tuning.batch(config.batch_size, config.seed ^ 0xE7A1, 0, i)).collect()
}

/// Mean loss over `batches`, weighted by counted targets.
fn evaluate<B: Backend>(model: &Model<B>, batches: &[Batch], device: &B::Device) -> f64 {
    let (mut total, mut count) = (0.0, 0.0);
    for b in batches {
        let n = b.counted() as f64;
        if n == 0.0 {
            continue;
        }
        let (x, v, y, w) = tensors::<B>(b, device);
        let loss: f64 = model.loss(x, v, y, w).into_scalar().elem();
        total += loss * n;
        count += n;
    }
    if count == 0.0 { f64::NAN } else { total / count }
}

/// The loss of the train unigram distribution (add-one smoothed over predictable tokens) on
/// `batches`.
pub fn unigram_loss(tokenizer: &Tokenizer, train: &[Encoded], batches: &[Batch]) -> f64 {
    let mut counts = vec![0u64; tokenizer.len()];
    for s in train {
        for &t in &s.tokens {
            if let Some(c) = counts.get_mut(t as usize) {
                *c += 1;
            }
        }
    }
    let predictable: Vec<bool> = (0..tokenizer.len() as u32).map(|t| tokenizer.is_predictable(t)).collect();
    let total: u64 = counts.iter().zip(&predictable).filter(|(_, p)| **p).map(|(c, _)| c + 1).sum();
    let (mut loss, mut n) = (0.0, 0.0);
    for b in batches {
        for (&y, &w) in b.targets.iter().zip(&b.weights) {
            if w > 0.0 {
                let c = counts.get(y as usize).copied().unwrap_or(0) + 1;
                loss -= (c as f64 / total as f64).ln();
                n += 1.0;
            }
        }
    }
    if n == 0.0 { f64::NAN } else { loss / n }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> ModelError + '_ {
    move |e| ModelError::Io { path: path.to_path_buf(), source: e }
}

fn record_error(path: &Path) -> impl Fn(burn::record::RecorderError) -> ModelError + '_ {
    move |e| ModelError::Format { path: path.to_path_buf(), message: e.to_string() }
}

/// Writes `text` to `path` atomically.
fn write_atomic(path: &Path, text: &str) -> Result<(), ModelError> {
    outputs::atomic::write(path, outputs::atomic::Access::Shared, text.as_bytes()).map_err(|e| io(path)(e.source))
}

/// What pretraining reads: the tokenizer and the tokenized train and tuning splits.
#[derive(Debug, Clone, Copy)]
pub struct Corpus<'a> {
    /// The tokenizer the splits were encoded with.
    pub tokenizer: &'a Tokenizer,
    /// The train split (windows to learn from).
    pub train: &'a [Encoded],
    /// The tuning split (the loss reported every `eval_every` steps).
    pub tuning: &'a [Encoded],
}

/// The last complete checkpoint under `out`, if any.
pub fn latest_checkpoint(out: &Path) -> Option<PathBuf> {
    let dir = out.join("checkpoints");
    let name = std::fs::read_to_string(dir.join(LATEST)).ok()?;
    let path = dir.join(name.trim());
    path.join(STATE).exists().then_some(path)
}

/// Pretrains on the corpus's train split, evaluating on its tuning split, writing under `out`. With `resume`, continues
/// from the latest checkpoint there (its config wins, except the number of steps, which may grow).
/// `on_step` sees every step's metrics.
pub fn pretrain<B: AutodiffBackend>(
    config: &PretrainConfig,
    corpus: &Corpus<'_>,
    out: &Path,
    resume: bool,
    device: &B::Device,
    on_step: &mut dyn FnMut(&StepMetrics),
) -> Result<PretrainSummary, ModelError> {
    let Corpus { tokenizer, train, tuning } = *corpus;
    config.model.check().map_err(|m| ModelError::Format { path: out.to_path_buf(), message: m })?;
    std::fs::create_dir_all(out.join("checkpoints")).map_err(io(out))?;
    let metrics_path = out.join("metrics.jsonl");

    let mut config = config.clone();
    let mut optim = AdamWConfig::new()
        .with_epsilon(1e-8)
        .with_weight_decay(config.weight_decay)
        .with_grad_clipping(Some(burn::grad_clipping::GradientClippingConfig::Norm(config.grad_clip)))
        .init::<B, Model<B>>();
    if resume && latest_checkpoint(out).is_none() {
        let named = std::fs::read_to_string(out.join("checkpoints").join(LATEST)).ok();
        let message = match named {
            Some(name) => format!(
                "cannot resume: checkpoints/{LATEST} names {}, which is missing or incomplete; nothing was overwritten",
                name.trim()
            ),
            None => "cannot resume: no checkpoint was written here; run without --resume to start".to_owned(),
        };
        return Err(ModelError::Format { path: out.to_path_buf(), message });
    }
    if !(config.lr.is_finite() && config.lr > 0.0) || config.batch_size == 0 || config.steps == 0 {
        return Err(ModelError::Format {
            path: out.to_path_buf(),
            message: "the learning rate must be a positive number, and the batch size and steps at least 1".into(),
        });
    }
    let (mut model, mut step, mut tokens_seen) = match latest_checkpoint(out).filter(|_| resume) {
        Some(dir) => {
            let text = std::fs::read_to_string(dir.join(STATE)).map_err(io(&dir))?;
            let state: CheckpointState = serde_json::from_str(&text)
                .map_err(|e| ModelError::Format { path: dir.join(STATE), message: e.to_string() })?;
            let steps = config.steps.max(state.config.steps);
            config = PretrainConfig { steps, ..state.config.clone() };
            let model = config
                .model
                .init::<B>(device)
                .load_file(dir.join("model"), &recorder(), device)
                .map_err(record_error(&dir))?;
            let record = recorder().load(dir.join("optimizer"), device).map_err(record_error(&dir))?;
            optim = optim.load_record(record);
            // Lines after the checkpoint belong to the interrupted run: they are done again.
            let kept: String = std::fs::read_to_string(&metrics_path)
                .unwrap_or_default()
                .lines()
                .filter(|l| serde_json::from_str::<StepMetrics>(l).is_ok_and(|m| m.step <= state.step))
                .map(|l| format!("{l}\n"))
                .collect();
            write_atomic(&metrics_path, &kept)?;
            (model, state.step, state.tokens_seen)
        }
        None => {
            B::seed(device, config.seed);
            std::fs::write(&metrics_path, "").map_err(io(&metrics_path))?;
            (config.model.init::<B>(device), 0, 0)
        }
    };
    let resumed_from = step;

    let windows = Windows::new(train, tokenizer, config.seq_len);
    let tuning_windows = Windows::new(tuning, tokenizer, config.seq_len);
    let evals = eval_batches(&config, &tuning_windows);
    let unigram = unigram_loss(tokenizer, train, &evals);
    let mut metrics = std::fs::OpenOptions::new().append(true).open(&metrics_path).map_err(io(&metrics_path))?;
    let started = Instant::now();
    let mut tuning_loss = f64::NAN;
    let tokens_per_step = (config.batch_size * (config.seq_len - 1) * config.accumulation) as u64;
    while step < config.steps {
        let step_started = Instant::now();
        let lr = config.lr_at(step);
        let mut accumulator = GradientsAccumulator::<Model<B>>::new();
        let mut train_loss = 0.0;
        for micro in 0..config.accumulation as u64 {
            let batch = windows.batch(config.batch_size, config.seed, step, micro);
            let (x, v, y, w) = tensors::<B>(&batch, device);
            let loss = model.loss(x, v, y, w) / config.accumulation as f64;
            let value: f64 = loss.clone().into_scalar().elem();
            train_loss += value;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            accumulator.accumulate(&model, grads);
        }
        model = optim.step(lr, model, accumulator.grads());
        step += 1;
        tokens_seen += tokens_per_step;
        let mut m = StepMetrics {
            step,
            lr,
            train_loss,
            tokens_per_s: tokens_per_step as f64 / step_started.elapsed().as_secs_f64(),
            tokens_seen,
            tuning_loss: None,
            tuning_perplexity: None,
        };
        if step % config.eval_every == 0 || step == config.steps {
            tuning_loss = evaluate(&model.valid(), &evals, device);
            m.tuning_loss = Some(tuning_loss);
            m.tuning_perplexity = Some(tuning_loss.exp());
        }
        let line = serde_json::to_string(&m)
            .map_err(|e| ModelError::Format { path: metrics_path.clone(), message: e.to_string() })?;
        writeln!(metrics, "{line}").map_err(io(&metrics_path))?;
        metrics.flush().map_err(io(&metrics_path))?;
        if step % config.checkpoint_every == 0 || step == config.steps {
            let state = CheckpointState { step, tokens_seen, config: config.clone() };
            save_checkpoint(out, &model, &optim, &state)?;
        }
        on_step(&m);
    }
    if tuning_loss.is_nan() {
        tuning_loss = evaluate(&model.valid(), &evals, device);
    }
    let ran = (step - resumed_from) as f64;
    let seconds = started.elapsed().as_secs_f64();
    Ok(PretrainSummary {
        steps: step,
        resumed_from,
        tuning_loss,
        tuning_perplexity: tuning_loss.exp(),
        unigram_tuning_loss: unigram,
        tokens_per_s: if ran > 0.0 { ran * tokens_per_step as f64 / seconds } else { 0.0 },
        seconds,
        parameters: config.model.parameters(),
    })
}

fn save_checkpoint<B: AutodiffBackend, O: Optimizer<Model<B>, B>>(
    out: &Path,
    model: &Model<B>,
    optim: &O,
    state: &CheckpointState,
) -> Result<(), ModelError> {
    let dir = out.join("checkpoints");
    let name = format!("step-{:08}", state.step);
    let partial = dir.join(format!(".{name}.partial"));
    if partial.exists() {
        std::fs::remove_dir_all(&partial).map_err(io(&partial))?;
    }
    std::fs::create_dir_all(&partial).map_err(io(&partial))?;
    model.clone().save_file(partial.join("model"), &recorder()).map_err(record_error(&partial))?;
    recorder().record(optim.to_record(), partial.join("optimizer")).map_err(record_error(&partial))?;
    crate::weights::save(&model.valid(), &state.config.model, &partial.join("model.safetensors"))?;
    let text = serde_json::to_string_pretty(state)
        .map_err(|e| ModelError::Format { path: partial.clone(), message: e.to_string() })?;
    write_atomic(&partial.join(STATE), &text)?;
    let final_dir = dir.join(&name);
    if final_dir.exists() {
        std::fs::remove_dir_all(&final_dir).map_err(io(&final_dir))?;
    }
    std::fs::rename(&partial, &final_dir).map_err(io(&final_dir))?;
    write_atomic(&dir.join(LATEST), &name)
}

/// The report's file name in a pretraining output directory.
pub const REPORT_FILE: &str = "pretrain_report.json";
/// The model bundle's directory name in a pretraining output directory.
pub const BUNDLE_DIR: &str = "model";

/// What to pretrain, on what ([`run`]).
#[derive(Debug, Clone)]
pub struct PretrainPlan {
    /// A tokenized directory (`tokenizer.json`, `tokens/<split>.parquet`).
    pub tokens: PathBuf,
    /// The model's shape: a preset (`tiny`, `small`, `base`), sized to the tokenizer's vocabulary.
    pub preset: String,
    /// Optimizer steps.
    pub steps: u64,
    /// Windows per micro-batch.
    pub batch_size: usize,
    /// Micro-batches per step.
    pub accumulation: usize,
    /// Tokens per window [default: the preset's].
    pub seq_len: Option<usize>,
    /// Feed each token's value to the model (the value channel).
    pub value_channel: bool,
    /// Peak learning rate [default: the preset's]; the floor is a tenth of it.
    pub lr: Option<f64>,
    /// Seed of the weights and the batches.
    pub seed: u64,
    /// Tuning loss every this many steps [default: the preset's].
    pub eval_every: Option<u64>,
    /// A checkpoint every this many steps [default: the preset's].
    pub checkpoint_every: Option<u64>,
    /// Continue from the latest checkpoint in the output directory.
    pub resume: bool,
}

impl PretrainPlan {
    /// Refuses a plan that cannot run, before anything is read: a step count, batch or
    /// interval of zero, a learning rate that is not a positive number, a window of fewer than
    /// two tokens, or a window whose attention alone would take more than half this machine's
    /// memory.
    pub fn check(&self) -> Result<(), ModelError> {
        let refuse = |message: String| Err(ModelError::Plan(message));
        if let Some(lr) = self.lr
            && !(lr.is_finite() && lr > 0.0)
        {
            return refuse(format!("--lr must be a positive number (got {lr})"));
        }
        if self.batch_size == 0 || self.accumulation == 0 || self.steps == 0 {
            return refuse("--batch-size, --accumulation and --steps must be at least 1".into());
        }
        if self.eval_every == Some(0) || self.checkpoint_every == Some(0) {
            return refuse("--eval-every and --checkpoint-every must be at least 1".into());
        }
        if self.seq_len.is_some_and(|n| n < 2) {
            return refuse("--seq-len must be at least 2 (a token and the one it predicts)".into());
        }
        // The window's cost does not depend on the vocabulary.
        if let Some(shape) = ModelConfig::preset(&self.preset, 1)
            && let Some(memory) = memory_bytes()
        {
            let window = self.seq_len.unwrap_or(shape.max_seq_len);
            let attention = attention_bytes(&shape, self.batch_size, window);
            if attention > memory / 2 {
                return refuse(format!(
                    "a window of {window} tokens with --batch-size {} needs about {} GiB for attention alone, more \
                     than half this machine's {} GiB: use a smaller --seq-len or --batch-size",
                    self.batch_size,
                    attention >> 30,
                    memory >> 30
                ));
            }
        }
        Ok(())
    }
}

/// Bytes of the attention scores and probabilities a training step keeps, all layers.
fn attention_bytes(shape: &ModelConfig, batch: usize, seq_len: usize) -> u128 {
    2 * 4 * (batch as u128) * (shape.n_layers as u128) * (shape.n_heads as u128) * (seq_len as u128).pow(2)
}

/// This machine's memory (Linux; `None` elsewhere).
fn memory_bytes() -> Option<u128> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: u128 = text.lines().find(|l| l.starts_with("MemTotal:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// `pretrain_report.json`: the run's configuration and outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PretrainReport {
    /// The configuration trained with.
    pub config: PretrainConfig,
    /// What the run did.
    #[serde(flatten)]
    pub summary: PretrainSummary,
    /// Whether the tuning loss ended below the unigram baseline's (the model learned more than
    /// code frequencies).
    pub below_unigram: bool,
    /// Threads trained on.
    pub threads: usize,
}

/// Steps, size, speed, and the tuning loss beside the unigram baseline's.
impl std::fmt::Display for PretrainReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &self.summary;
        write!(
            f,
            "{} steps ({} parameters, {:.0} tokens/s on {} threads): tuning loss {:.4} (perplexity {:.2}) vs unigram {:.4}",
            s.steps,
            s.parameters,
            s.tokens_per_s,
            self.threads,
            s.tuning_loss,
            s.tuning_perplexity,
            s.unigram_tuning_loss
        )
    }
}

impl outputs::artifact::Artifact for PretrainReport {
    const FORMAT: &'static str = "longitude-pretrain-report";
    const VERSION: u32 = 1;
}

impl PretrainPlan {
    /// The pretraining configuration for a vocabulary of `vocabulary` tokens.
    pub fn config(&self, vocabulary: usize) -> Result<PretrainConfig, ModelError> {
        let Some(mut shape) = ModelConfig::preset(&self.preset, vocabulary) else {
            return Err(ModelError::UnknownPreset(self.preset.clone()));
        };
        if let Some(n) = self.seq_len {
            shape.max_seq_len = n;
        }
        shape.value_channel = self.value_channel;
        let mut config = PretrainConfig::for_model(shape, self.steps);
        config.batch_size = self.batch_size;
        config.accumulation = self.accumulation.max(1);
        config.seed = self.seed;
        if let Some(lr) = self.lr {
            config.lr = lr;
            config.min_lr = lr / 10.0;
        }
        if let Some(n) = self.eval_every {
            config.eval_every = n.max(1);
        }
        if let Some(n) = self.checkpoint_every {
            config.checkpoint_every = n.max(1);
        }
        Ok(config)
    }
}

/// Pretrains the model `plan` describes on the CPU, writing checkpoints, metrics, the model
/// bundle (`out/model`) and `pretrain_report.json` into `out` (a directory the caller has claimed
/// or resumes). `on_step` sees every step's metrics. A run whose tuning loss is not finite writes
/// no bundle ([`ModelError::Diverged`]).
pub fn run(
    plan: &PretrainPlan,
    out: &Path,
    on_start: &mut dyn FnMut(&PretrainConfig, usize),
    on_step: &mut dyn FnMut(&StepMetrics),
) -> Result<PretrainReport, ModelError> {
    plan.check()?;
    let tokenizer = Tokenizer::load(&plan.tokens.join(tokenizer::dataset::TOKENIZER_FILE))?;
    let read = |split: &str| tokenizer::dataset::read_split(&tokenizer::dataset::split_path(&plan.tokens, split));
    let train = read(meds::schema::TRAIN_SPLIT)?;
    let tuning = read(meds::schema::TUNING_SPLIT)?;
    if train.is_empty() || tuning.is_empty() {
        return Err(ModelError::format(&plan.tokens, "pretraining needs subjects in both the train and tuning splits"));
    }
    let config = plan.config(tokenizer.len())?;
    on_start(&config, train.len());
    let corpus = Corpus { tokenizer: &tokenizer, train: &train, tuning: &tuning };
    let summary = pretrain::<crate::CpuTrain>(&config, &corpus, out, plan.resume, &Default::default(), on_step)?;
    if !summary.tuning_loss.is_finite() {
        return Err(ModelError::Diverged { tuning_loss: summary.tuning_loss, steps: summary.steps });
    }
    // The model bundle: portable weights, the tokenizer that goes with them, the config.
    let latest = latest_checkpoint(out).ok_or_else(|| ModelError::format(out, "no checkpoint was written"))?;
    crate::bundle::write(&out.join(BUNDLE_DIR), &latest.join(crate::bundle::WEIGHTS), &tokenizer, &config)?;
    let report = PretrainReport {
        config,
        below_unigram: summary.tuning_loss < summary.unigram_tuning_loss,
        summary,
        threads: rayon::current_num_threads(),
    };
    outputs::artifact::write(&out.join(REPORT_FILE), &report)?;
    Ok(report)
}
