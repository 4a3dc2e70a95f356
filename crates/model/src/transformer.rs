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
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};
use kernels::kv::LayerCache;
use kernels::linear;
use kernels::rope::Rotary;

use crate::cache::KvCache;

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
    /// The continuous value channel: a second `[V, D]` table whose row for a token, times the
    /// token's value position ([`tokenizer::Encoded::values`], in [−½, ½]; 0 for tokens without
    /// a value), is added to the token's embedding — so the model reads where in its bin a lab
    /// value fell, not only the bin. Input only: the model still predicts bins. Off in models
    /// saved before it existed.
    #[config(default = false)]
    pub value_channel: bool,
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
        let tables = if self.value_channel { 3 } else { 2 };
        tables * v * d + d + l * (4 * d * d + 3 * d * f + 2 * d)
    }

    /// Weights that multiply: all but the input embedding tables, which are lookups.
    pub fn non_embedding_parameters(&self) -> usize {
        let tables = if self.value_channel { 2 } else { 1 };
        self.parameters() - tables * self.vocab_size * self.d_model
    }

    /// Training FLOPs per token (forward + backward ≈ 3 × forward), as model-FLOPs utilisation
    /// counts them (PaLM's appendix B): `6 × non-embedding weights` for the matrix products plus
    /// attention's `12 × layers × D × T` (the full `T × T`, though causal attention computes
    /// half).
    pub fn train_flops_per_token(&self, seq_len: usize) -> f64 {
        6.0 * self.non_embedding_parameters() as f64 + 12.0 * (self.n_layers * self.d_model * seq_len) as f64
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
            // Zeros: a fresh model reads values exactly as one without the channel, and learns
            // how much of them to use.
            value_embed: self
                .value_channel
                .then(|| EmbeddingConfig::new(self.vocab_size, d).with_initializer(Initializer::Zeros).init(device)),
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
    /// The value channel's table `[V, D]` ([`ModelConfig::value_channel`]).
    pub value_embed: Option<Embedding<B>>,
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

impl<B: Backend> Block<B> {
    /// `x` `[B, T, D]` → `[B, T, D]`, the block's input being positions `offset..offset + T`.
    /// With a cache, keys and values of earlier positions are read from it and this step's are
    /// appended (`reserve`: the positions it should make room for when it grows).
    fn forward(
        &self,
        x: Tensor<B, 3>,
        n_heads: usize,
        rope: &Rotary<B>,
        cache: Option<(&mut LayerCache<B>, usize)>,
        pads: &[usize],
    ) -> Tensor<B, 3> {
        let h = kernels::rms_norm(x.clone(), &self.attn_norm);
        let q = rope.project(h.clone(), &self.wq);
        let key = rope.project(h.clone(), &self.wk);
        let value = linear(h, &self.wv);
        let a = kernels::self_attention(q, key, value, n_heads, rope.start(), cache, pads);
        let x = x + linear(a, &self.wo);
        let h = kernels::rms_norm(x.clone(), &self.mlp_norm);
        let mlp = linear(kernels::swiglu(linear(h.clone(), &self.w_gate), linear(h, &self.w_up)), &self.w_down);
        x + mlp
    }
}

impl<B: Backend> Model<B> {
    /// The input embedding `[B, T, D]` of `tokens` `[B, T]` and their value positions `values`
    /// `[B, T]` (see [`ModelConfig::value_channel`]; `None` reads every value at its bin's middle,
    /// and a model without the channel ignores them).
    pub fn input(&self, tokens: Tensor<B, 2, Int>, values: Option<Tensor<B, 2>>) -> Tensor<B, 3> {
        match (&self.value_embed, values) {
            (Some(table), Some(values)) => {
                let [b, t] = tokens.dims();
                let d = self.embed.weight.dims()[1];
                let scale = values.reshape([b, t, 1]).expand([b, t, d]);
                self.embed.forward(tokens.clone()) + table.forward(tokens) * scale
            }
            _ => self.embed.forward(tokens),
        }
    }

    /// The final hidden states `[B, T, D]` (after the last norm) of `tokens` `[B, T]` (with their
    /// value positions, see [`input`](Self::input)) at positions `0..T`.
    pub fn hidden(&self, tokens: Tensor<B, 2, Int>, values: Option<Tensor<B, 2>>) -> Tensor<B, 3> {
        let d = self.embed.weight.dims()[1];
        let rope = Rotary::new(0, tokens.dims(), self.n_heads, d, self.rope_theta, &tokens.device());
        let mut x = self.input(tokens, values);
        for layer in &self.layers {
            x = layer.forward(x, self.n_heads, &rope, None, &[]);
        }
        kernels::rms_norm(x, &self.norm)
    }

    /// Next-token logits `[B, T, V]` for `tokens` `[B, T]` (and their value positions, see
    /// [`input`](Self::input)).
    pub fn forward(&self, tokens: Tensor<B, 2, Int>, values: Option<Tensor<B, 2>>) -> Tensor<B, 3> {
        linear(self.hidden(tokens, values), &self.head)
    }

    /// Logits `[B, T, V]` for `tokens` that continue what `cache` holds: the first call fills it
    /// with a whole prompt, later calls add one token per sequence. `values` as in
    /// [`input`](Self::input).
    pub fn forward_cached(
        &self,
        tokens: Tensor<B, 2, Int>,
        values: Option<Tensor<B, 2>>,
        cache: &mut KvCache<B>,
    ) -> Tensor<B, 3> {
        let [_, t] = tokens.dims();
        let d = self.embed.weight.dims()[1];
        let start = cache.len();
        let rope = Rotary::new(start, tokens.dims(), self.n_heads, d, self.rope_theta, &tokens.device());
        let mut x = self.input(tokens, values);
        cache.ensure_layers(self.layers.len());
        let reserve = cache.reserve();
        let pads = cache.pads().to_vec();
        for (layer, slot) in self.layers.iter().zip(cache.layers_mut()) {
            x = layer.forward(x, self.n_heads, &rope, Some((slot, reserve)), &pads);
        }
        cache.advance(t);
        linear(kernels::rms_norm(x, &self.norm), &self.head)
    }

    /// Mean cross-entropy of predicting `targets` `[B, T]` from `tokens` `[B, T]` (and their value
    /// positions, see [`input`](Self::input)), counting only
    /// positions whose `weights` `[B, T]` are 1 (0 for padding and the static prefix). Returns
    /// the loss (a scalar) to differentiate.
    ///
    /// The output head and the softmax run over [`LOSS_ROWS`] positions at a time: the whole
    /// `[B·T, V]` logits of a training batch (67 MB for 8 × 511 positions and 4,096 tokens) are
    /// never allocated at once, which keeps every buffer of the step small enough for the
    /// allocator to reuse instead of mapping fresh, zeroed pages from the kernel each time.
    pub fn loss(
        &self,
        tokens: Tensor<B, 2, Int>,
        values: Option<Tensor<B, 2>>,
        targets: Tensor<B, 2, Int>,
        weights: Tensor<B, 2>,
    ) -> Tensor<B, 1> {
        let hidden = self.hidden(tokens, values);
        let [b, t, d] = hidden.dims();
        let n = b * t;
        let hidden = hidden.reshape([n, d]);
        let weights = weights.reshape([n]);
        let count = weights.clone().sum().clamp_min(1.0);
        let targets = kernels::Targets::new(targets.reshape([n, 1]), weights);
        let mut total: Option<Tensor<B, 1>> = None;
        for start in (0..n).step_by(LOSS_ROWS) {
            let end = (start + LOSS_ROWS).min(n);
            let logits = linear(hidden.clone().slice([start..end, 0..d]), &self.head);
            let part = targets.nll(logits, start..end);
            total = Some(match total {
                Some(sum) => sum + part,
                None => part,
            });
        }
        match total {
            Some(sum) => sum / count,
            None => count * 0.0,
        }
    }
}

/// Positions per piece of [`Model::loss`].
pub const LOSS_ROWS: usize = 1024;

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
