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
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Int, Tensor, TensorData};

use crate::cache::{KvCache, LayerCache};
use kernels::attention;
use kernels::linear;

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

/// Rotary tables for positions `start..start + len`, laid out for [`Rotary::project`]: `(cos,
/// sin)`, each `[batch, len, D/2]` — the `K/2` angles of one head, repeated for each of the `H`
/// heads and for each sequence (materialised rather than broadcast: the CPU backend multiplies
/// same-shaped contiguous tensors several times faster than broadcast ones, forward and backward).
/// The rotation pairs dimension `i` with `i + K/2` of each head (the "rotate half" convention of
/// GPT-NeoX and Llama in Hugging Face), so the PyTorch reference reads the same weights without
/// permutation.
fn rope_tables<B: Backend>(
    start: usize,
    len: usize,
    batch: usize,
    n_heads: usize,
    head_dim: usize,
    theta: f64,
    device: &B::Device,
) -> (Tensor<B, 3>, Tensor<B, 3>) {
    let half = head_dim / 2;
    let width = n_heads * half;
    let freqs: Vec<f64> = (0..half).map(|i| 1.0 / theta.powf(2.0 * i as f64 / head_dim as f64)).collect();
    let mut cos = Vec::with_capacity(len * width);
    let mut sin = Vec::with_capacity(len * width);
    for p in start..start + len {
        let (c, s): (Vec<f32>, Vec<f32>) = freqs
            .iter()
            .map(|f| {
                let (s, c) = (p as f64 * f).sin_cos();
                (c as f32, s as f32)
            })
            .unzip();
        for _ in 0..n_heads {
            cos.extend_from_slice(&c);
            sin.extend_from_slice(&s);
        }
    }
    (
        Tensor::from_data(TensorData::new(cos.repeat(batch), [batch, len, width]), device),
        Tensor::from_data(TensorData::new(sin.repeat(batch), [batch, len, width]), device),
    )
}

/// Everything one forward pass shares across blocks for the rotary positions: the tables and the
/// column indices that split a `D → D` projection into the first and the second half of every
/// head.
struct Rotary<B: Backend> {
    /// On the CPU backends: the angles, applied by the fused rotation of [`kernels::rope`].
    angles: Option<kernels::rope::Angles>,
    /// Elsewhere: the tables and the columns of each head's halves (see [`Rotary::project`]).
    tables: Option<Tables<B>>,
    n_heads: usize,
    /// Position of the first row.
    start: usize,
}

/// [`rope_tables`] and the column indices of the first and second half of every head.
struct Tables<B: Backend> {
    cos: Tensor<B, 3>,
    sin: Tensor<B, 3>,
    first: Tensor<B, 1, Int>,
    second: Tensor<B, 1, Int>,
}

impl<B: Backend> Rotary<B> {
    fn new(
        start: usize,
        [batch, len]: [usize; 2],
        n_heads: usize,
        d_model: usize,
        theta: f64,
        device: &B::Device,
    ) -> Self {
        let k = d_model / n_heads;
        if kernels::rope::fused::<B>() {
            let angles = kernels::rope::Angles::new(start, len, k, theta);
            return Self { angles: Some(angles), tables: None, n_heads, start };
        }
        let (cos, sin) = rope_tables(start, len, batch, n_heads, k, theta, device);
        let columns = |offset: usize| {
            let idx: Vec<i64> =
                (0..n_heads).flat_map(|h| (0..k / 2).map(move |i| (h * k + offset + i) as i64)).collect();
            Tensor::from_data(TensorData::new(idx, [n_heads * k / 2]), device)
        };
        let tables = Tables { cos, sin, first: columns(0), second: columns(k / 2) };
        Self { angles: None, tables: Some(tables), n_heads, start }
    }

    /// `h` `[B, T, D]` projected by `w` and rotated, `[B, T, D]` (head-major columns). The projection is
    /// computed as two half-width products (the first and the second half of every head), so the
    /// rotation runs on contiguous `[B, T, D/2]` tensors against tables of the same shape instead of
    /// on strided slices of the head layout; the result is the same `rotate_half` rotation.
    ///
    /// On the CPU backends the projection is one product and the rotation one fused pass.
    fn project(&self, h: Tensor<B, 3>, w: &Linear<B>) -> Tensor<B, 3> {
        let tables = match (&self.angles, &self.tables) {
            (Some(angles), _) => return kernels::rope::rotate(linear(h, w), angles),
            (None, Some(tables)) => tables,
            (None, None) => unreachable!("a Rotary holds angles or tables"),
        };
        let [b, t, d] = h.dims();
        let (nh, k) = (self.n_heads, d / self.n_heads);
        let weight = w.weight.val(); // [D_in, D_out]
        let x1 = h.clone().matmul(weight.clone().select(1, tables.first.clone()).unsqueeze::<3>());
        let x2 = h.matmul(weight.select(1, tables.second.clone()).unsqueeze::<3>());
        let r1 = x1.clone() * tables.cos.clone() - x2.clone() * tables.sin.clone();
        let r2 = x1 * tables.sin.clone() + x2 * tables.cos.clone();
        let halves = |r: Tensor<B, 3>| r.reshape([b, t, nh, k / 2]);
        Tensor::cat(vec![halves(r1), halves(r2)], 3).reshape([b, t, d])
    }
}

/// Query rows per piece of [`causal_attention`].
const ATTENTION_CHUNK: usize = 128;

/// Causal self-attention over `T` positions (`q`, `k`, `v` all `[B, H, T, K]`), computed in
/// pieces of [`ATTENTION_CHUNK`] query rows, each against only the keys it may see. A query row
/// never looks ahead, so about half of the `T × T` score matrix is never computed — the kernels
/// mask it after computing it — and under autodiff the backward pass skips it too.
fn causal_attention<B: Backend>(q: Tensor<B, 4>, k: Tensor<B, 4>, v: Tensor<B, 4>) -> Tensor<B, 4> {
    let [b, h, t, d] = q.dims();
    let options = AttentionModuleOptions { scale: None, softcap: None, is_causal: true };
    if t <= ATTENTION_CHUNK {
        return attention(q, k, v, None, None, options);
    }
    let pieces = (0..t)
        .step_by(ATTENTION_CHUNK)
        .map(|start| {
            let end = (start + ATTENTION_CHUNK).min(t);
            // The kernels mask key j for query row i when j > i + (keys - queries): here that is
            // j > start + i, exactly the causal rule for these rows.
            attention(
                q.clone().slice([0..b, 0..h, start..end, 0..d]),
                k.clone().slice([0..b, 0..h, 0..end, 0..d]),
                v.clone().slice([0..b, 0..h, 0..end, 0..d]),
                None,
                None,
                options,
            )
        })
        .collect();
    Tensor::cat(pieces, 2)
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
        let d = x.dims()[2];
        let k = d / n_heads;
        let h = kernels::rms_norm(x.clone(), &self.attn_norm);
        let q = rope.project(h.clone(), &self.wq);
        let key = rope.project(h.clone(), &self.wk);
        let value = linear(h, &self.wv);
        let a = if on_host_cpu::<B>() && attention::supports(k) {
            host_attention(q, key, value, n_heads, rope.start, cache, pads)
        } else {
            tensor_attention(q, key, value, n_heads, cache, pads)
        };
        let x = x + linear(a, &self.wo);
        let h = kernels::rms_norm(x.clone(), &self.mlp_norm);
        let mlp = linear(kernels::swiglu(linear(h.clone(), &self.w_gate), linear(h, &self.w_up)), &self.w_down);
        x + mlp
    }
}

/// Whether `B` is the plain CPU backend, whose tensors live in host memory: inference there runs
/// the fused attention kernel of [`kernels::attention`]. (Autodiff and GPU backends use burn's
/// attention.)
fn on_host_cpu<B: Backend>() -> bool {
    std::any::TypeId::of::<B>() == std::any::TypeId::of::<crate::Cpu>()
}

/// The float contents of a CPU tensor. The CPU backend's float tensors are f32 throughout this
/// model, so anything else is a bug here, not an input error.
fn host_vec<B: Backend, const N: usize>(x: Tensor<B, N>) -> Vec<f32> {
    x.into_data().into_vec::<f32>().expect("the CPU backend computes in f32")
}

/// Attention through the fused CPU kernel: `q`, `key`, `value` `[B, T, D]` for positions
/// `start..start + T` → `[B, T, D]`.
fn host_attention<B: Backend>(
    q: Tensor<B, 3>,
    key: Tensor<B, 3>,
    value: Tensor<B, 3>,
    n_heads: usize,
    start: usize,
    cache: Option<(&mut LayerCache<B>, usize)>,
    pads: &[usize],
) -> Tensor<B, 3> {
    let [b, t, d] = q.dims();
    let device = q.device();
    let (q, key, value) = (host_vec(q), host_vec(key), host_vec(value));
    let shape = |key_stride: usize, offset: usize| attention::Shape {
        batch: b,
        queries: t,
        key_stride,
        offset,
        heads: n_heads,
        head_dim: d / n_heads,
    };
    let out = match cache {
        None => attention::causal_padded(&q, &key, &value, shape(t, start), pads),
        Some((slot, reserve)) => {
            let kv = slot.host(b, d);
            kv.append(&key, &value, t, reserve);
            match &kv.prefix {
                Some(prefix) => {
                    let shared = attention::Prefix {
                        keys: &prefix.keys,
                        values: &prefix.values,
                        len: prefix.len,
                        group_of: &kv.group_of,
                    };
                    attention::causal_shared(&q, shared, &kv.keys, &kv.values, shape(kv.capacity, kv.len - t), pads)
                }
                None => attention::causal_padded(&q, &kv.keys, &kv.values, shape(kv.capacity, kv.len - t), pads),
            }
        }
    };
    Tensor::from_data(TensorData::new(out, [b, t, d]), &device)
}

/// Attention through burn's tensor operations (any backend, differentiable): `q`, `key`, `value`
/// `[B, T, D]` → `[B, T, D]`.
fn tensor_attention<B: Backend>(
    mut q: Tensor<B, 3>,
    mut key: Tensor<B, 3>,
    mut value: Tensor<B, 3>,
    n_heads: usize,
    cache: Option<(&mut LayerCache<B>, usize)>,
    pads: &[usize],
) -> Tensor<B, 3> {
    let [b, t, d] = q.dims();
    // Training on the CPU: the fused attention with its own backward pass.
    if cache.is_none() && pads.is_empty() && attention::supports(d / n_heads) {
        match kernels::training_attention(q, key, value, n_heads) {
            Ok(a) => return a,
            Err((qq, kk, vv)) => (q, key, value) = (qq, kk, vv),
        }
    }
    let heads = |y: Tensor<B, 3>| y.reshape([b, t, n_heads, d / n_heads]).swap_dims(1, 2); // [B, H, T, K]
    let (q, mut key, mut value) = (heads(q), heads(key), heads(value));
    let mut cached = false;
    if let Some((slot, _)) = cache {
        if let LayerCache::Tensors { keys, values } = std::mem::take(slot) {
            key = Tensor::cat(vec![keys, key], 2);
            value = Tensor::cat(vec![values, value], 2);
            cached = true;
        }
        *slot = LayerCache::Tensors { keys: key.clone(), values: value.clone() };
    }
    // burn's causal mask hides key j from query i when j > i + (keys − queries), which is the
    // causal rule after a cache as well. Pieces pay off where the scores are materialised for the
    // backward pass (autodiff); fused forward kernels mask cheaply on their own.
    // Left padding: key j of sequence b is hidden when j < pads[b].
    let mask = (pads.iter().any(|&p| p > 0)).then(|| {
        let device = q.device();
        let keys = key.dims()[2];
        let pads: Vec<i64> = pads.iter().map(|&p| p as i64).collect();
        let pads = Tensor::<B, 1, Int>::from_data(TensorData::new(pads, [b]), &device).reshape([b, 1]);
        let positions = Tensor::<B, 1, Int>::arange(0..keys as i64, &device).reshape([1, keys]);
        positions.lower(pads).reshape([b, 1, 1, keys]).expand([b, n_heads, t, keys])
    });
    let a = if !cached && mask.is_none() && B::ad_enabled(&q.device()) {
        causal_attention(q, key, value)
    } else {
        let options = AttentionModuleOptions { scale: None, softcap: None, is_causal: true };
        attention(q, key, value, mask, None, options)
    };
    a.swap_dims(1, 2).reshape([b, t, d])
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
        let targets = targets.reshape([n, 1]);
        let weights = weights.reshape([n]);
        let count = weights.clone().sum().clamp_min(1.0);
        // Training on the CPU: the fused cross-entropy of `kernels::cross_entropy`, fed host copies of the
        // (constant) targets and weights.
        let host = (std::any::TypeId::of::<B>() == std::any::TypeId::of::<crate::CpuTrain>()).then(|| {
            let ints = targets.clone().into_data().convert::<i64>().into_vec::<i64>();
            let floats = weights.clone().into_data().convert::<f32>().into_vec::<f32>();
            (ints.unwrap_or_default(), floats.unwrap_or_default())
        });
        let mut total: Option<Tensor<B, 1>> = None;
        for start in (0..n).step_by(LOSS_ROWS) {
            let end = (start + LOSS_ROWS).min(n);
            let logits = linear(hidden.clone().slice([start..end, 0..d]), &self.head);
            let part = piece_nll(
                logits,
                targets.clone().slice([start..end, 0..1]),
                weights.clone().narrow(0, start, end - start),
                host.as_ref().map(|(t, w)| (&t[start..end], &w[start..end])),
            );
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

/// `Σ weight · −log softmax(logits)[target]` over the rows of one piece: `logits` `[n, V]`,
/// `targets` `[n, 1]`, `weights` `[n]`; `host` holds the same targets and weights in host memory
/// when `B` is the CPU training backend, which then runs the fused loss.
fn piece_nll<B: Backend>(
    logits: Tensor<B, 2>,
    targets: Tensor<B, 2, Int>,
    weights: Tensor<B, 1>,
    host: Option<(&[i64], &[f32])>,
) -> Tensor<B, 1> {
    let logits = match host {
        Some((t, w)) if t.len() == w.len() => match kernels::cross_entropy(logits, t, w) {
            Ok(nll) => return nll,
            Err(logits) => logits,
        },
        _ => logits,
    };
    let [n, _] = logits.dims();
    let picked = burn::tensor::activation::log_softmax(logits, 1).gather(1, targets).reshape([n]);
    -(picked * weights).sum()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Cpu;

    /// The piecewise causal attention (what autodiff on a GPU records) against one call of
    /// burn's attention over the whole window.
    #[test]
    fn attention_in_pieces_equals_attention_in_one_call() {
        let device = Default::default();
        let (b, h, t, k) = (2, 2, 300, 16);
        let values = |seed: usize| -> Tensor<Cpu, 4> {
            let data: Vec<f32> =
                (0..b * h * t * k).map(|i| (((i + seed) * 2_654_435_761) % 1000) as f32 / 250.0 - 2.0).collect();
            Tensor::from_data(TensorData::new(data, [b, h, t, k]), &device)
        };
        let (q, key, value) = (values(1), values(2), values(3));
        let options = AttentionModuleOptions { scale: None, softcap: None, is_causal: true };
        let whole = attention(q.clone(), key.clone(), value.clone(), None, None, options);
        let pieces = causal_attention(q, key, value);
        let diff: f32 = (whole - pieces).abs().max().into_scalar();
        assert!(t > ATTENTION_CHUNK && diff < 1e-5, "max abs difference {diff}");
    }
}
