//! Fine-tuning the pretrained model for one binary clinical task: a logistic head on the
//! embedding at the prediction time ([`crate::embedding`]), trained together with the whole
//! transformer by binary cross-entropy.
//!
//! The head starts from the task's fitted linear probe (linear probing then fine-tuning, "LP-FT"
//! — Kumar et al., 2022: a random head's early gradients distort the pretrained features), so
//! epoch 0 *is* the probe. After every epoch the tuning split is scored and the best epoch is
//! kept, epoch 0 included: fine-tuning is used only where it helps on tuning data, and the
//! summary says which epoch won.
//!
//! Contexts are batched by similar length (right-padded; causal attention never looks right) and
//! the batches visited in an order drawn from the seed, so a run is reproducible on the CPU.

use burn::module::{AutodiffModule, Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use rand::seq::SliceRandom;
use serde::Serialize;

use crate::Model;
use crate::embedding::{Context, Pooling, pooled_hidden};

/// How to fine-tune.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FineTuneConfig {
    /// Passes over the training examples (the best epoch on tuning is kept).
    pub epochs: usize,
    /// Contexts per optimizer step.
    pub batch_size: usize,
    /// AdamW learning rate (constant; small, so the pretrained features move gently).
    pub lr: f64,
    /// AdamW decoupled weight decay.
    pub weight_decay: f32,
    /// Gradient norm clip.
    pub grad_clip: f32,
    /// Seed of the batch order.
    pub seed: u64,
}

impl Default for FineTuneConfig {
    fn default() -> Self {
        Self { epochs: 2, batch_size: 8, lr: 5e-5, weight_decay: 0.01, grad_clip: 1.0, seed: 42 }
    }
}

/// The pretrained model with a task head: `P(label) = σ(head · embedding + bias)`.
#[derive(Module, Debug)]
pub struct Classifier<B: Backend> {
    /// The transformer (its output head is not used).
    pub body: Model<B>,
    /// `pooling.width(D) → 1`, with a bias.
    pub head: Linear<B>,
    /// How the head's input is read from the transformer's states.
    #[module(skip)]
    pub pooling: Pooling,
}

impl<B: Backend> Classifier<B> {
    /// `body` with a head of `weights` (`pooling.width(D)` of them) and `bias`, on the embedding
    /// `pooling` reads.
    pub fn new(body: Model<B>, pooling: Pooling, weights: &[f32], bias: f32, device: &B::Device) -> Self {
        let d = pooling.width(body.embed.weight.dims()[1]);
        let mut head = LinearConfig::new(d, 1).with_bias(true).init::<B>(device);
        let mut w = weights.to_vec();
        w.resize(d, 0.0);
        head.weight = Param::from_tensor(Tensor::from_data(TensorData::new(w, [d, 1]), device));
        head.bias = Some(Param::from_tensor(Tensor::from_data(TensorData::new(vec![bias], [1]), device)));
        Self { body, head, pooling }
    }

    /// The same classifier with `delta` added to the head's bias (the log-odds of every
    /// context move by `delta`; the ranking is unchanged).
    pub fn shift_bias(mut self, delta: f32) -> Self {
        if let Some(bias) = self.head.bias.take() {
            self.head.bias = Some(Param::from_tensor(bias.val() + delta));
        }
        self
    }

    /// The same classifier with every log-odds `z` mapped to `slope · z + intercept` (a
    /// recalibration folded into the head; a positive slope keeps the ranking).
    pub fn map_log_odds(mut self, slope: f32, intercept: f32) -> Self {
        self.head.weight = Param::from_tensor(self.head.weight.val() * slope);
        let bias = match self.head.bias.take() {
            Some(bias) => bias.val() * slope + intercept,
            None => Tensor::from_floats([intercept], &self.head.weight.device()),
        };
        self.head.bias = Some(Param::from_tensor(bias));
        self
    }

    /// The head's weights and bias.
    pub fn head_parameters(&self) -> (Vec<f32>, f32) {
        let w = self.head.weight.val().into_data().convert::<f32>().to_vec::<f32>().unwrap_or_default();
        let b = self.head.bias.as_ref().map_or(0.0, |b| b.val().into_scalar().elem::<f32>());
        (w, b)
    }

    /// Log-odds `[N]` for each context.
    pub fn logits(&self, contexts: &[&Context], device: &B::Device) -> Tensor<B, 1> {
        let n = contexts.len();
        self.head.forward(pooled_hidden(&self.body, contexts, self.pooling, device)).reshape([n])
    }

    /// Probabilities for `contexts`, `batch` at a time, batched by similar length.
    pub fn predict(&self, contexts: &[Context], batch: usize, device: &B::Device) -> Vec<f32> {
        let mut out = vec![0.0; contexts.len()];
        for group in by_length(contexts, batch.max(1)) {
            let picked: Vec<&Context> = group.iter().map(|&i| &contexts[i]).collect();
            let z = burn::tensor::activation::sigmoid(self.logits(&picked, device));
            let values = z.into_data().convert::<f32>().to_vec::<f32>().unwrap_or_default();
            for (&i, p) in group.iter().zip(values) {
                out[i] = p;
            }
        }
        out
    }
}

/// Indices of `contexts` in groups of at most `batch`, each group of similar length.
fn by_length(contexts: &[Context], batch: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..contexts.len()).collect();
    order.sort_by_key(|&i| (contexts[i].len(), i));
    order.chunks(batch).map(<[usize]>::to_vec).collect()
}

/// One epoch's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Epoch {
    /// 0 is the starting point (the probe's head on the pretrained body).
    pub epoch: usize,
    /// Mean training loss over the epoch (none for epoch 0).
    pub train_loss: Option<f64>,
    /// The tuning criterion (higher is better; the caller's, e.g. AUROC).
    pub tuning: f64,
}

/// A fine-tuned classifier and how it got there.
#[derive(Debug)]
pub struct FineTuned<B: Backend> {
    /// The best epoch's classifier, for inference.
    pub classifier: Classifier<B>,
    /// Every epoch, 0 first.
    pub epochs: Vec<Epoch>,
    /// The epoch kept.
    pub best_epoch: usize,
}

/// Binary cross-entropy `mean(softplus(z) − y·z)` of log-odds `z` against `labels`.
fn bce<B: Backend>(z: Tensor<B, 1>, labels: &[bool], device: &B::Device) -> Tensor<B, 1> {
    let y: Vec<f32> = labels.iter().map(|&l| if l { 1.0 } else { 0.0 }).collect();
    let y = Tensor::<B, 1>::from_data(TensorData::new(y, [labels.len()]), device);
    (burn::tensor::activation::softplus(z.clone(), 1.0) - y * z).mean()
}

/// Fine-tunes `start` on `train` (context, label), scoring `tuning` contexts with `criterion`
/// (probabilities in `tuning`'s order → higher is better) after every epoch; returns the best
/// epoch's classifier. `progress(done, total)` counts optimizer steps.
pub fn fine_tune<B: AutodiffBackend>(
    start: Classifier<B>,
    train: &[(Context, bool)],
    tuning: &[Context],
    criterion: impl Fn(&[f32]) -> f64,
    config: &FineTuneConfig,
    device: &B::Device,
    mut progress: impl FnMut(usize, usize),
) -> FineTuned<B::InnerBackend> {
    let inner = |c: &Classifier<B>| c.valid();
    let score = |c: &Classifier<B::InnerBackend>| criterion(&c.predict(tuning, 32, &Default::default()));
    let mut best = inner(&start);
    let mut best_score = score(&best);
    let mut epochs = vec![Epoch { epoch: 0, train_loss: None, tuning: best_score }];
    let mut best_epoch = 0;

    let contexts: Vec<Context> = train.iter().map(|(c, _)| c.clone()).collect();
    let mut batches = by_length(&contexts, config.batch_size.max(1));
    let total = batches.len() * config.epochs;
    let mut optim = AdamWConfig::new()
        .with_epsilon(1e-8)
        .with_weight_decay(config.weight_decay)
        .with_grad_clipping(Some(burn::grad_clipping::GradientClippingConfig::Norm(config.grad_clip)))
        .init::<B, Classifier<B>>();
    let mut classifier = start;
    let mut done = 0;
    for epoch in 1..=config.epochs {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        batches.shuffle(&mut rng);
        let (mut loss_sum, mut count) = (0.0, 0usize);
        for group in &batches {
            let picked: Vec<&Context> = group.iter().map(|&i| &contexts[i]).collect();
            let labels: Vec<bool> = group.iter().map(|&i| train[i].1).collect();
            let loss = bce(classifier.logits(&picked, device), &labels, device);
            let value: f64 = loss.clone().into_scalar().elem();
            loss_sum += value * group.len() as f64;
            count += group.len();
            let grads = GradientsParams::from_grads(loss.backward(), &classifier);
            classifier = optim.step(config.lr, classifier, grads);
            done += 1;
            progress(done, total);
        }
        let now = inner(&classifier);
        let tuning_score = score(&now);
        epochs.push(Epoch { epoch, train_loss: (count > 0).then(|| loss_sum / count as f64), tuning: tuning_score });
        if tuning_score > best_score {
            (best, best_score, best_epoch) = (now, tuning_score, epoch);
        }
    }
    FineTuned { classifier: best, epochs, best_epoch }
}
