//! The Longitude transformer, top to bottom: a decoder-only model over patient event tokens in the
//! line of ETHOS and CoMET — token embedding, `n_layers` pre-norm blocks (RMSNorm → causal
//! self-attention with rotary positions → residual; RMSNorm → SwiGLU MLP → residual), a final
//! RMSNorm and an untied output head. No biases anywhere. Time enters through the interval tokens
//! the tokenizer writes; order through the rotary positions.
//!
//! Shapes: `B` batch, `T` tokens, `D` model width, `H` heads, `K = D / H` head width, `V`
//! vocabulary, `F` SwiGLU hidden width.
//!
//! The same code runs on every burn backend (`Flex` on the CPU, `Cuda` on a GPU); with an
//! `Autodiff` backend it trains.

use burn::config::Config;
use burn::module::{Initializer, Module};
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig, RmsNorm, RmsNormConfig};
use burn::tensor::activation::silu;
use burn::tensor::backend::Backend;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Int, Tensor, TensorData};

use crate::cache::{KvCache, LayerCache};

/// The model's shape. Presets: [`ModelConfig::tiny`], [`ModelConfig::small`], [`ModelConfig::base`].
#[derive(Config, Debug, PartialEq)]
pub struct ModelConfig {
    /// Vocabulary size (the tokenizer's).
    pub vocab_size: usize,
    /// Model width `D`.
    pub d_model: usize,
    /// Transformer blocks.
    pub n_layers: usize,
    /// Attention heads `H` (`D` must divide by it; the head width must be even for RoPE).
    pub n_heads: usize,
    /// SwiGLU hidden width `F`.
    pub d_ff: usize,
    /// The longest sequence (prefix included) the model reads.
    pub max_seq_len: usize,
    /// RoPE base.
    #[config(default = 10000.0)]
    pub rope_theta: f64,
    /// RMSNorm epsilon.
    #[config(default = 1e-5)]
    pub norm_eps: f64,
}

impl ModelConfig {
    /// For tests: trains in seconds on one core.
    pub fn tiny(vocab_size: usize) -> Self {
        Self::new(vocab_size, 64, 2, 2, 176, 256)
    }

    /// The CPU demo default (the size ENGINEERING.md measured burn against PyTorch with).
    pub fn small(vocab_size: usize) -> Self {
        Self::new(vocab_size, 256, 4, 4, 688, 512)
    }

    /// For a GPU.
    pub fn base(vocab_size: usize) -> Self {
        Self::new(vocab_size, 768, 12, 12, 2048, 2048)
    }

    /// A preset by name (`tiny`, `small`, `base`).
    pub fn preset(name: &str, vocab_size: usize) -> Option<Self> {
        match name {
            "tiny" => Some(Self::tiny(vocab_size)),
            "small" => Some(Self::small(vocab_size)),
            "base" => Some(Self::base(vocab_size)),
            _ => None,
        }
    }

    /// Checks the shape is buildable.
    pub fn check(&self) -> Result<(), String> {
        if self.vocab_size == 0 || self.d_model == 0 || self.n_layers == 0 || self.n_heads == 0 || self.d_ff == 0 {
            return Err("every size must be positive".into());
        }
        if !self.d_model.is_multiple_of(self.n_heads) || !(self.d_model / self.n_heads).is_multiple_of(2) {
            return Err(format!("d_model {} must split into {} heads of even width", self.d_model, self.n_heads));
        }
        if self.max_seq_len < 2 {
            return Err("max_seq_len must be at least 2".into());
        }
        Ok(())
    }

    /// Weights in the model.
    pub fn parameters(&self) -> usize {
        let (d, f, v, l) = (self.d_model, self.d_ff, self.vocab_size, self.n_layers);
        2 * v * d + d + l * (4 * d * d + 3 * d * f + 2 * d)
    }

    /// Training FLOPs per token (forward + backward ≈ 3 × forward): `6 × weights` for the matrix
    /// products plus attention's `12 × layers × D × T`.
    pub fn train_flops_per_token(&self, seq_len: usize) -> f64 {
        6.0 * self.parameters() as f64 + 12.0 * (self.n_layers * self.d_model * seq_len) as f64
    }

    /// Builds the model with fresh weights (normal, σ = 0.02; the residual projections scaled
    /// by 1/√(2 · layers), as GPT-2 does). Seed the backend first for reproducible weights.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Model<B> {
        let std = Initializer::Normal { mean: 0.0, std: 0.02 };
        let residual = Initializer::Normal { mean: 0.0, std: 0.02 / (2.0 * self.n_layers as f64).sqrt() };
        let linear = |i: usize, o: usize, init: &Initializer| {
            LinearConfig::new(i, o).with_bias(false).with_initializer(init.clone()).init(device)
        };
        let norm = || RmsNormConfig::new(self.d_model).with_epsilon(self.norm_eps).init(device);
        let d = self.d_model;
        let layers = (0..self.n_layers)
            .map(|_| Block {
                attn_norm: norm(),
                wq: linear(d, d, &std),
                wk: linear(d, d, &std),
                wv: linear(d, d, &std),
                wo: linear(d, d, &residual),
                mlp_norm: norm(),
                w_gate: linear(d, self.d_ff, &std),
                w_up: linear(d, self.d_ff, &std),
                w_down: linear(self.d_ff, d, &residual),
            })
            .collect();
        Model {
            embed: EmbeddingConfig::new(self.vocab_size, d).with_initializer(std.clone()).init(device),
            layers,
            norm: norm(),
            head: linear(d, self.vocab_size, &std),
            n_heads: self.n_heads,
            rope_theta: self.rope_theta,
        }
    }
}

/// The model. Built by [`ModelConfig::init`] or loaded from a bundle.
#[derive(Module, Debug)]
pub struct Model<B: Backend> {
    /// Token embedding `[V, D]`.
    pub embed: Embedding<B>,
    /// The blocks.
    pub layers: Vec<Block<B>>,
    /// Final norm.
    pub norm: RmsNorm<B>,
    /// Output head `D → V`.
    pub head: Linear<B>,
    /// Attention heads.
    pub n_heads: usize,
    /// RoPE base.
    pub rope_theta: f64,
}

/// One pre-norm transformer block.
#[derive(Module, Debug)]
pub struct Block<B: Backend> {
    /// Norm before attention.
    pub attn_norm: RmsNorm<B>,
    /// Query projection `D → D`.
    pub wq: Linear<B>,
    /// Key projection `D → D`.
    pub wk: Linear<B>,
    /// Value projection `D → D`.
    pub wv: Linear<B>,
    /// Output projection `D → D`.
    pub wo: Linear<B>,
    /// Norm before the MLP.
    pub mlp_norm: RmsNorm<B>,
    /// SwiGLU gate `D → F`.
    pub w_gate: Linear<B>,
    /// SwiGLU up `D → F`.
    pub w_up: Linear<B>,
    /// SwiGLU down `F → D`.
    pub w_down: Linear<B>,
}

/// Rotary tables for positions `start..start + len`: `(cos, sin)`, each `[len, K/2]`. The
/// rotation pairs dimension `i` with `i + K/2` (the "rotate half" convention of GPT-NeoX and
/// Llama in Hugging Face), so the PyTorch reference reads the same weights without permutation.
fn rope_tables<B: Backend>(
    start: usize,
    len: usize,
    head_dim: usize,
    theta: f64,
    device: &B::Device,
) -> (Tensor<B, 2>, Tensor<B, 2>) {
    let half = head_dim / 2;
    let mut cos = Vec::with_capacity(len * half);
    let mut sin = Vec::with_capacity(len * half);
    for p in start..start + len {
        for i in 0..half {
            let freq = 1.0 / theta.powf(2.0 * i as f64 / head_dim as f64);
            let angle = p as f64 * freq;
            cos.push(angle.cos() as f32);
            sin.push(angle.sin() as f32);
        }
    }
    (
        Tensor::from_data(TensorData::new(cos, [len, half]), device),
        Tensor::from_data(TensorData::new(sin, [len, half]), device),
    )
}

/// Rotates `x` `[B, H, T, K]` by the tables `[T, K/2]`.
fn rotate<B: Backend>(x: Tensor<B, 4>, cos: &Tensor<B, 2>, sin: &Tensor<B, 2>) -> Tensor<B, 4> {
    let [b, h, t, k] = x.dims();
    let half = k / 2;
    let x1 = x.clone().slice([0..b, 0..h, 0..t, 0..half]);
    let x2 = x.slice([0..b, 0..h, 0..t, half..k]);
    let cos = cos.clone().unsqueeze::<4>(); // [1, 1, T, K/2]
    let sin = sin.clone().unsqueeze::<4>();
    Tensor::cat(vec![x1.clone() * cos.clone() - x2.clone() * sin.clone(), x1 * sin + x2 * cos], 3)
}

impl<B: Backend> Block<B> {
    /// `x` `[B, T, D]` → `[B, T, D]`. With a cache, keys and values of earlier positions are read
    /// from it and this step's are appended.
    fn forward(
        &self,
        x: Tensor<B, 3>,
        n_heads: usize,
        rope: &(Tensor<B, 2>, Tensor<B, 2>),
        cache: Option<&mut LayerCache<B>>,
    ) -> Tensor<B, 3> {
        let [b, t, d] = x.dims();
        let k = d / n_heads;
        let h = self.attn_norm.forward(x.clone());
        let heads = |y: Tensor<B, 3>| y.reshape([b, t, n_heads, k]).swap_dims(1, 2); // [B, H, T, K]
        let q = rotate(heads(self.wq.forward(h.clone())), &rope.0, &rope.1);
        let mut key = rotate(heads(self.wk.forward(h.clone())), &rope.0, &rope.1);
        let mut value = heads(self.wv.forward(h));
        let mut causal = true;
        if let Some((ck, cv)) = cache {
            if let (Some(pk), Some(pv)) = (ck.take(), cv.take()) {
                key = Tensor::cat(vec![pk, key], 2);
                value = Tensor::cat(vec![pv, value], 2);
                // One new query against everything cached: nothing later to hide. Several new
                // queries after a cache would need an offset mask, which generation never asks.
                causal = t > 1;
            }
            *ck = Some(key.clone());
            *cv = Some(value.clone());
        }
        let options = AttentionModuleOptions { scale: None, softcap: None, is_causal: causal };
        let a = attention(q, key, value, None, None, options); // [B, H, T, K]
        let a = a.swap_dims(1, 2).reshape([b, t, d]);
        let x = x + self.wo.forward(a);
        let h = self.mlp_norm.forward(x.clone());
        let mlp = self.w_down.forward(silu(self.w_gate.forward(h.clone())) * self.w_up.forward(h));
        x + mlp
    }
}

impl<B: Backend> Model<B> {
    /// The final hidden states `[B, T, D]` (after the last norm) of `tokens` `[B, T]` at positions
    /// `0..T`.
    pub fn hidden(&self, tokens: Tensor<B, 2, Int>) -> Tensor<B, 3> {
        let [_, t] = tokens.dims();
        let d = self.embed.weight.dims()[1];
        let rope = rope_tables::<B>(0, t, d / self.n_heads, self.rope_theta, &tokens.device());
        let mut x = self.embed.forward(tokens);
        for layer in &self.layers {
            x = layer.forward(x, self.n_heads, &rope, None);
        }
        self.norm.forward(x)
    }

    /// Next-token logits `[B, T, V]` for `tokens` `[B, T]`.
    pub fn forward(&self, tokens: Tensor<B, 2, Int>) -> Tensor<B, 3> {
        self.head.forward(self.hidden(tokens))
    }

    /// Logits `[B, T, V]` for `tokens` that continue what `cache` holds: the first call fills it
    /// with a whole prompt, later calls add one token per sequence.
    pub fn forward_cached(&self, tokens: Tensor<B, 2, Int>, cache: &mut KvCache<B>) -> Tensor<B, 3> {
        let [_, t] = tokens.dims();
        let d = self.embed.weight.dims()[1];
        let start = cache.len();
        let rope = rope_tables::<B>(start, t, d / self.n_heads, self.rope_theta, &tokens.device());
        let mut x = self.embed.forward(tokens);
        cache.ensure_layers(self.layers.len());
        for (layer, slot) in self.layers.iter().zip(cache.layers_mut()) {
            x = layer.forward(x, self.n_heads, &rope, Some(slot));
        }
        cache.advance(t);
        self.head.forward(self.norm.forward(x))
    }

    /// Mean cross-entropy of predicting `targets` `[B, T]` from `tokens` `[B, T]`, counting only
    /// positions whose `weights` `[B, T]` are 1 (0 for padding and the static prefix). Returns
    /// the loss (a scalar) to differentiate.
    pub fn loss(&self, tokens: Tensor<B, 2, Int>, targets: Tensor<B, 2, Int>, weights: Tensor<B, 2>) -> Tensor<B, 1> {
        let logits = self.forward(tokens);
        masked_cross_entropy(logits, targets, weights)
    }
}

/// Mean negative log-likelihood of `targets` under `logits` `[B, T, V]`, over positions with
/// weight 1.
pub fn masked_cross_entropy<B: Backend>(
    logits: Tensor<B, 3>,
    targets: Tensor<B, 2, Int>,
    weights: Tensor<B, 2>,
) -> Tensor<B, 1> {
    let [b, t, v] = logits.dims();
    let logp = burn::tensor::activation::log_softmax(logits.reshape([b * t, v]), 1);
    let picked = logp.gather(1, targets.reshape([b * t, 1])).reshape([b * t]);
    let w = weights.reshape([b * t]);
    let count = w.clone().sum().clamp_min(1.0);
    -(picked * w).sum() / count
}
