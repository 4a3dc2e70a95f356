//! Trajectory generation: sample many possible futures of a patient from a prediction time,
//! batched, with the KV cache, and decode them into timed events.
//!
//! Sampling follows the token grammar, so every trajectory is a valid timeline: never padding or
//! prefix tokens, and a value bin only right after a code that carries values. A trajectory ends
//! at death (`MEDS_DEATH`), when its clock passes the horizon, or after `max_new_tokens`. From
//! the trajectories come zero-shot risks (the share with an outcome before the horizon) and
//! "what if" comparisons (insert a treatment token into the context and generate again).

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use tokenizer::{DecodedEvent, PAD, Tokenizer};

use crate::{KvCache, Model};

/// How to sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Sampling {
    /// Softmax temperature (1: the model's distribution).
    pub temperature: f32,
    /// Keep only the `top_k` most likely tokens (0: all).
    pub top_k: usize,
    /// Stop a trajectory after this many tokens.
    pub max_new_tokens: usize,
    /// Stop a trajectory once its clock passes this many µs after the prediction time.
    pub horizon: Option<i64>,
    /// Seed (trajectory `i` draws from its own stream).
    pub seed: u64,
    /// The model's window: context and generated tokens together stay within it.
    pub max_seq_len: usize,
}

impl Default for Sampling {
    fn default() -> Self {
        Self { temperature: 1.0, top_k: 0, max_new_tokens: 256, horizon: None, seed: 0, max_seq_len: 512 }
    }
}

/// Why a trajectory stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// It generated a death.
    Death,
    /// Its clock passed the horizon.
    Horizon,
    /// It used up `max_new_tokens` (or the model's window).
    Length,
}

/// One sampled future.
#[derive(Debug, Clone, PartialEq)]
pub struct Trajectory {
    /// The generated tokens.
    pub tokens: Vec<u32>,
    /// The events they decode to, timed from the prediction time (only those within the horizon).
    pub events: Vec<DecodedEvent>,
    /// Why it stopped.
    pub end: End,
    /// The seed its values were drawn with when decoded ([`Tokenizer::decode_sampled`]): decoding
    /// its tokens again with it gives the same values.
    pub value_seed: u64,
}

/// The token grammar, precomputed over the vocabulary.
struct Grammar {
    /// Tokens that may be generated at all.
    allowed: Vec<bool>,
    /// Value-bin tokens.
    bin: Vec<bool>,
    /// Codes that carry values (a bin may follow them).
    binned: Vec<bool>,
    death: Option<u32>,
}

impl Grammar {
    fn new(tok: &Tokenizer) -> Self {
        let n = tok.len() as u32;
        let bin: Vec<bool> = (0..n).map(|t| tok.bin_of(t).is_some()).collect();
        Self {
            allowed: (0..n).map(|t| tok.is_predictable(t)).collect(),
            binned: (0..n).map(|t| tok.token(t).is_some_and(|x| tok.bins(&x.name).is_some())).collect(),
            bin,
            death: tok.id(meds::schema::DEATH_CODE),
        }
    }

    fn permits(&self, previous: Option<u32>, t: usize) -> bool {
        self.allowed[t]
            && (!self.bin[t] || previous.is_some_and(|p| self.binned.get(p as usize).copied().unwrap_or(false)))
    }
}

/// Draws one token from `logits` under the grammar, temperature and top-k.
fn sample(logits: &[f32], g: &Grammar, previous: Option<u32>, s: &Sampling, rng: &mut ChaCha8Rng) -> u32 {
    let t = s.temperature.max(1e-4);
    let mut candidates: Vec<(usize, f32)> =
        logits.iter().enumerate().filter(|(i, _)| g.permits(previous, *i)).map(|(i, &l)| (i, l / t)).collect();
    if s.top_k > 0 && candidates.len() > s.top_k {
        candidates.select_nth_unstable_by(s.top_k - 1, |a, b| b.1.total_cmp(&a.1));
        candidates.truncate(s.top_k);
    }
    let max = candidates.iter().map(|c| c.1).fold(f32::NEG_INFINITY, f32::max);
    let weights: Vec<f64> = candidates.iter().map(|c| f64::from(c.1 - max).exp()).collect();
    let total: f64 = weights.iter().sum();
    let mut r = rng.random::<f64>() * total;
    for (c, w) in candidates.iter().zip(&weights) {
        if r < *w {
            return c.0 as u32;
        }
        r -= w;
    }
    candidates.last().map_or(PAD, |c| c.0 as u32)
}

/// Samples `n` futures continuing `context` (prefix and event tokens up to the prediction time,
/// see [`crate::embedding::context`]) from `start` (µs, the prediction time), all in one batch.
/// At most `sampling.max_seq_len - context.len()` tokens are generated per trajectory.
pub fn generate<B: Backend>(
    model: &Model<B>,
    tokenizer: &Tokenizer,
    context: &[u32],
    start: i64,
    n: usize,
    sampling: &Sampling,
    device: &B::Device,
) -> Vec<Trajectory> {
    let g = Grammar::new(tokenizer);
    let max_seq_len = sampling.max_seq_len;
    // The context is never cut here (its front is the prefix): callers leave room for the
    // future by building it with `max_len = max_seq_len - max_new_tokens`.
    let budget = sampling.max_new_tokens.min(max_seq_len.saturating_sub(context.len()));
    let mut rngs: Vec<ChaCha8Rng> = (0..n as u64)
        .map(|i| ChaCha8Rng::seed_from_u64(sampling.seed ^ i.wrapping_mul(0xA24B_AED4_963E_E407)))
        .collect();
    let mut out: Vec<Trajectory> = (0..n)
        .map(|_| Trajectory { tokens: Vec::new(), events: Vec::new(), end: End::Length, value_seed: 0 })
        .collect();
    let mut done = vec![false; n];
    let mut clock = vec![0i64; n];
    // One prefill of the context, its cache and last logits repeated for the `n` futures.
    let t = context.len();
    let mut prefill = KvCache::with_reserve(t + budget);
    let flat: Vec<i64> = context.iter().map(|&x| i64::from(x)).collect();
    let first =
        model.forward_cached(Tensor::<B, 2, Int>::from_data(TensorData::new(flat, [1, t]), device), &mut prefill);
    let [_, steps, v] = first.dims();
    let mut logits = first.slice([0..1, steps - 1..steps, 0..v]).repeat_dim(0, n);
    let mut cache = prefill.repeat(n);
    let mut previous: Vec<Option<u32>> = vec![context.last().copied(); n];
    for _ in 0..budget {
        let [_, steps, v] = logits.dims();
        let last = logits.slice([0..n, steps - 1..steps, 0..v]).reshape([n, v]);
        let values: Vec<f32> = last.into_data().convert::<f32>().to_vec::<f32>().unwrap_or_default();
        let mut next = Vec::with_capacity(n);
        for i in 0..n {
            if done[i] {
                next.push(i64::from(PAD));
                continue;
            }
            let token = sample(&values[i * v..(i + 1) * v], &g, previous[i], sampling, &mut rngs[i]);
            if let Some(rung) = tokenizer.rung_of(token) {
                clock[i] += tokenizer.intervals().typical[rung];
            }
            if sampling.horizon.is_some_and(|h| clock[i] > h) {
                done[i] = true;
                out[i].end = End::Horizon;
                next.push(i64::from(PAD));
                continue;
            }
            out[i].tokens.push(token);
            previous[i] = Some(token);
            if Some(token) == g.death {
                done[i] = true;
                out[i].end = End::Death;
            }
            next.push(i64::from(token));
        }
        if done.iter().all(|&d| d) {
            break;
        }
        logits =
            model.forward_cached(Tensor::<B, 2, Int>::from_data(TensorData::new(next, [n, 1]), device), &mut cache);
    }
    // A generated bin decodes to a draw from that bin's train values, not its median: futures are
    // samples, and a threshold inside a bin must be crossed in the share of them the data says.
    for (i, tr) in out.iter_mut().enumerate() {
        tr.value_seed = sampling.seed ^ (i as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03);
        tr.events = tokenizer.decode_sampled(&tr.tokens, start, tr.value_seed).events;
    }
    out
}
