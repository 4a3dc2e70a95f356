//! Patient representations at a prediction time, from the model's final hidden states over the
//! tokens up to that time only ([`Pooling`] says which states).
//!
//! The context for time `t` is the static prefix (with the age band at the context's start) and
//! the last event tokens whose time is at or before `t` — as many as fit in the model's window.

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};
use tokenizer::{Encoded, PAD, Tokenizer};

use crate::Model;

/// How a context's final (normalised) hidden states become one patient embedding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    /// The state at the context's last token, `D` floats: what the model predicts the next
    /// event from.
    #[default]
    Last,
    /// The last token's state, then the mean of the states at every token up to it: `2·D`
    /// floats. The mean keeps what the whole history held (a creatinine two years back) where
    /// the last state, shaped to predict the next token, has let it fade; on the 20,000-patient
    /// suite it lifts the probe by 0.01–0.035 AUROC (docs/benchmarks/validation.md).
    LastAndMean,
    /// [`LastAndMean`](Self::LastAndMean), then the largest value each feature reached at any
    /// token up to the last: `3·D` floats. A mean dilutes one event among hundreds of tokens; the
    /// maximum keeps that it happened (a single low eGFR, one infarction), as the count features'
    /// "ever" aggregates do.
    LastMeanMax,
}

impl Pooling {
    /// Every pooling, by its command-line name ([`Pooling::name`]).
    pub const ALL: [Pooling; 3] = [Pooling::Last, Pooling::LastAndMean, Pooling::LastMeanMax];

    /// The name a command line gives it: `last`, `last-and-mean`, `last-mean-max`.
    pub fn name(self) -> &'static str {
        match self {
            Pooling::Last => "last",
            Pooling::LastAndMean => "last-and-mean",
            Pooling::LastMeanMax => "last-mean-max",
        }
    }
}

impl std::fmt::Display for Pooling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Pooling {
    type Err = String;

    /// Reads a [`Pooling::name`].
    fn from_str(text: &str) -> Result<Self, String> {
        Pooling::ALL.into_iter().find(|p| p.name() == text).ok_or_else(|| {
            let names: Vec<&str> = Pooling::ALL.iter().map(|p| p.name()).collect();
            format!("the pooling must be one of {}, not `{text}`", names.join(", "))
        })
    }
}

impl Pooling {
    /// The embedding's width for a model of width `d_model`.
    pub fn width(self, d_model: usize) -> usize {
        match self {
            Pooling::Last => d_model,
            Pooling::LastAndMean => 2 * d_model,
            Pooling::LastMeanMax => 3 * d_model,
        }
    }
}

/// What the model reads: tokens and, beside each, its value position (the value channel,
/// [`tokenizer::Encoded::values`]; 0 for the prefix and for tokens without a value).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Context {
    /// Prefix and event tokens.
    pub tokens: Vec<u32>,
    /// One value position per token.
    pub values: Vec<f32>,
}

impl Context {
    /// Tokens read with no values (every value at its bin's middle).
    pub fn from_tokens(tokens: Vec<u32>) -> Self {
        let values = vec![0.0; tokens.len()];
        Self { tokens, values }
    }

    /// Tokens.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether there are no tokens.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The value position of token `i` (0 beyond [`values`](Self::values), as for padding).
    pub fn value(&self, i: usize) -> f32 {
        self.values.get(i).copied().unwrap_or(0.0)
    }

    /// Whether `other` is this context's beginning, token for token and value for value.
    pub fn starts_with(&self, other: &Context) -> bool {
        self.tokens.starts_with(&other.tokens) && self.values.starts_with(&other.values)
    }
}

/// What the model sees for a prediction at time `t` (µs): prefix plus the latest event tokens at
/// or before `t`, at most `max_len` in all, with their value positions.
pub fn context(encoded: &Encoded, tokenizer: &Tokenizer, t: i64, max_len: usize) -> Context {
    let end = encoded.len_until(t);
    let prefix_len = encoded.statics.len() + 2;
    let body = max_len.saturating_sub(prefix_len).max(1);
    let start = end.saturating_sub(body);
    let mut tokens = encoded.prefix_within(tokenizer, start, max_len);
    let mut values = vec![0.0; tokens.len()];
    tokens.extend_from_slice(&encoded.tokens[start..end]);
    values.extend((start..end).map(|i| encoded.value(i)));
    Context { tokens, values }
}

/// The embedding of each context (see [`Pooling`]). Contexts are batched, right-padded (causal
/// attention never looks right).
pub fn embed<B: Backend>(
    model: &Model<B>,
    contexts: &[Context],
    pooling: Pooling,
    device: &B::Device,
) -> Vec<Vec<f32>> {
    let last: Vec<[usize; 1]> = contexts.iter().map(|c| [c.len().max(1) - 1]).collect();
    let passes: Vec<(&Context, &[usize])> = contexts.iter().zip(&last).map(|(c, at)| (c, &at[..])).collect();
    embed_at(model, &passes, pooling, device).into_iter().flatten().collect()
}

/// The embeddings at several positions of each of `passes` — `(context, positions)`: the
/// [`Pooling`] of the final (normalised) hidden states of `context[..=p]` for each `p` in
/// `positions`, grouped per pass. One run of the model over a subject's latest context serves
/// every earlier prediction time whose context is a prefix of it (attention is causal: the state
/// at `p` never depends on a later token), which costs one pass instead of one per time.
/// Positions beyond a pass's tokens are read at its last token.
pub fn embed_at<B: Backend>(
    model: &Model<B>,
    passes: &[(&Context, &[usize])],
    pooling: Pooling,
    device: &B::Device,
) -> Vec<Vec<Vec<f32>>> {
    if passes.is_empty() {
        return Vec::new();
    }
    let contexts: Vec<&Context> = passes.iter().map(|(c, _)| *c).collect();
    let hidden = padded_hidden(model, &contexts, device);
    let [n, t, d] = hidden.dims();
    let clamp = |c: &Context, p: usize| p.min(c.len().max(1) - 1);
    if pooling == Pooling::Last {
        let rows: Vec<i64> = passes
            .iter()
            .enumerate()
            .flat_map(|(i, (c, at))| at.iter().map(move |&p| (i * t + clamp(c, p)) as i64))
            .collect();
        let picked = rows.len();
        let index = Tensor::<B, 1, Int>::from_data(TensorData::new(rows, [picked]), device);
        let values: Vec<f32> = hidden
            .reshape([n * t, d])
            .select(0, index)
            .into_data()
            .convert::<f32>()
            .to_vec::<f32>()
            .unwrap_or_default();
        let mut vectors = values.chunks(d).map(<[f32]>::to_vec);
        return passes.iter().map(|(_, at)| vectors.by_ref().take(at.len()).collect()).collect();
    }
    // Every state is needed for the means and maxima: one sweep per pass, a running sum (and
    // maximum) read at each position in increasing order.
    let with_max = pooling == Pooling::LastMeanMax;
    let states: Vec<f32> = hidden.into_data().convert::<f32>().to_vec::<f32>().unwrap_or_default();
    let state = |i: usize, q: usize| &states[(i * t + q) * d..(i * t + q + 1) * d];
    passes
        .iter()
        .enumerate()
        .map(|(i, (c, at))| {
            let mut order: Vec<usize> = (0..at.len()).collect();
            order.sort_by_key(|&k| clamp(c, at[k]));
            let mut out = vec![Vec::new(); at.len()];
            let mut sum = vec![0f64; d];
            let mut max = vec![f32::NEG_INFINITY; d];
            let mut summed = 0;
            for k in order {
                let p = clamp(c, at[k]);
                while summed <= p {
                    for ((s, m), &x) in sum.iter_mut().zip(max.iter_mut()).zip(state(i, summed)) {
                        *s += f64::from(x);
                        *m = m.max(x);
                    }
                    summed += 1;
                }
                let mut v = Vec::with_capacity(pooling.width(d));
                v.extend_from_slice(state(i, p));
                v.extend(sum.iter().map(|s| (s / summed as f64) as f32));
                if with_max {
                    v.extend_from_slice(&max);
                }
                out[k] = v;
            }
            out
        })
        .collect()
}

/// The embedding `[N, pooling.width(D)]` of each of `contexts` (one batch, right-padded), as
/// [`embed`] computes it but differentiable on an autodiff backend (fine-tuning reads it).
pub fn pooled_hidden<B: Backend>(
    model: &Model<B>,
    contexts: &[&Context],
    pooling: Pooling,
    device: &B::Device,
) -> Tensor<B, 2> {
    let hidden = padded_hidden(model, contexts, device);
    let [n, t, d] = hidden.dims();
    let lengths: Vec<usize> = contexts.iter().map(|c| c.len().max(1)).collect();
    let last: Vec<i64> = lengths.iter().map(|&l| l as i64 - 1).collect();
    let index = Tensor::<B, 1, Int>::from_data(TensorData::new(last, [n]), device).reshape([n, 1, 1]).expand([n, 1, d]);
    let last = hidden.clone().gather(1, index).reshape([n, d]);
    if pooling == Pooling::Last {
        return last;
    }
    // Each row's states up to its last token, averaged: padding weighs nothing.
    let weights: Vec<f32> =
        lengths.iter().flat_map(|&l| (0..t).map(move |q| if q < l { 1.0 / l as f32 } else { 0.0 })).collect();
    let weights = Tensor::<B, 2>::from_data(TensorData::new(weights, [n, t]), device).reshape([n, t, 1]);
    let mean = (hidden.clone() * weights.expand([n, t, d])).sum_dim(1).reshape([n, d]);
    if pooling == Pooling::LastAndMean {
        return Tensor::cat(vec![last, mean], 1);
    }
    // The maximum over real tokens: padding is pushed far below any state first.
    let floor: Vec<f32> = lengths.iter().flat_map(|&l| (0..t).map(move |q| if q < l { 0.0 } else { -1e9 })).collect();
    let floor = Tensor::<B, 2>::from_data(TensorData::new(floor, [n, t]), device).reshape([n, t, 1]);
    let max = (hidden + floor.expand([n, t, d])).max_dim(1).reshape([n, d]);
    Tensor::cat(vec![last, mean, max], 1)
}

/// The final hidden states `[N, T, D]` of `contexts` run as one batch, right-padded to the
/// longest (causal attention never looks right, so padding changes no real position).
fn padded_hidden<B: Backend>(model: &Model<B>, contexts: &[&Context], device: &B::Device) -> Tensor<B, 3> {
    let t = contexts.iter().map(|c| c.len()).max().unwrap_or(1).max(1);
    let n = contexts.len();
    let mut flat = Vec::with_capacity(n * t);
    let mut values = Vec::with_capacity(n * t);
    for c in contexts {
        flat.extend(c.tokens.iter().map(|&x| i64::from(x)));
        flat.extend(std::iter::repeat_n(i64::from(PAD), t - c.len()));
        values.extend((0..t).map(|i| c.value(i)));
    }
    let values = Tensor::<B, 2>::from_data(TensorData::new(values, [n, t]), device);
    model.hidden(Tensor::<B, 2, Int>::from_data(TensorData::new(flat, [n, t]), device), Some(values))
}
