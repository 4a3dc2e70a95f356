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
use tokenizer::{DecodedEvent, PAD, Tokenizer, ValueDraws};

use crate::embedding::Context;
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
    /// Tokens never generated (a treatment withheld for a "what if" comparison): the others are
    /// drawn in proportion to their probabilities, as if these had none.
    pub withheld: Vec<u32>,
}

impl Default for Sampling {
    fn default() -> Self {
        Self {
            temperature: 1.0,
            top_k: 0,
            max_new_tokens: 256,
            horizon: None,
            seed: 0,
            max_seq_len: 512,
            withheld: Vec::new(),
        }
    }
}

/// Why a trajectory stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum End {
    /// It generated a death.
    Death,
    /// Its clock passed the horizon.
    Horizon,
    /// It used up `max_new_tokens` (or the model's window).
    #[default]
    Length,
}

/// One sampled future.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Trajectory {
    /// The generated tokens.
    pub tokens: Vec<u32>,
    /// The events they decode to, timed from the prediction time (only those within the horizon).
    pub events: Vec<DecodedEvent>,
    /// Why it stopped.
    pub end: End,
    /// The seed its values were drawn with ([`Tokenizer::decode_sampled`]): decoding its tokens
    /// again with it gives the same values.
    pub value_seed: u64,
    /// Beside each of `tokens`, the value position the model read with it: for a value-bin
    /// token, where in its bin the value it decodes to lies ([`tokenizer::ValueBins::position`]
    /// of that value, as the encoder would have given it); 0 for every other token. A model with
    /// the value channel thus reads its own future as it reads a record; one without it ignores
    /// them.
    pub values: Vec<f32>,
    /// For each value-bin token in `tokens`, in order, the model's probabilities over the bin
    /// tokens where it was drawn (`Q1`… in order; the sampling temperature applied, renormalised
    /// over the bins). A reader can redraw the bin from them
    /// ([`Tokenizer::decode_resampled`]), so a rare bin counts with its probability rather than
    /// only when it was the one sampled.
    pub bin_probabilities: Vec<Vec<f32>>,
}

/// The token grammar, precomputed over the vocabulary.
struct Grammar {
    /// Tokens that may be generated at all.
    allowed: Vec<bool>,
    /// Value-bin tokens.
    bin: Vec<bool>,
    /// The value-bin tokens' ids, in order.
    bin_ids: Vec<usize>,
    /// Codes that carry values (a bin may follow them).
    binned: Vec<bool>,
    death: Option<u32>,
}

impl Grammar {
    fn new(tok: &Tokenizer, withheld: &[u32]) -> Self {
        let n = tok.len() as u32;
        let bin: Vec<bool> = (0..n).map(|t| tok.bin_of(t).is_some()).collect();
        Self {
            allowed: (0..n).map(|t| tok.is_predictable(t) && !withheld.contains(&t)).collect(),
            binned: (0..n).map(|t| tok.token(t).is_some_and(|x| tok.bins(&x.name).is_some())).collect(),
            bin_ids: (0..n as usize).filter(|&t| bin[t]).collect(),
            bin,
            death: tok.id(meds::schema::DEATH_CODE),
        }
    }

    fn permits(&self, previous: Option<u32>, t: usize) -> bool {
        self.allowed[t]
            && (!self.bin[t] || previous.is_some_and(|p| self.binned.get(p as usize).copied().unwrap_or(false)))
    }
}

/// The probabilities of the bin tokens in `logits` at temperature `t`, renormalised over them.
fn bin_probabilities(logits: &[f32], g: &Grammar, t: f32) -> Vec<f32> {
    let t = t.max(1e-4);
    let scaled: Vec<f32> = g.bin_ids.iter().map(|&i| logits[i] / t).collect();
    let max = scaled.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let weights: Vec<f64> = scaled.iter().map(|&l| f64::from(l - max).exp()).collect();
    let total: f64 = weights.iter().sum();
    weights.iter().map(|w| (w / total) as f32).collect()
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

/// One context to continue in a batched [`generate_batch`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prompt<'a> {
    /// Prefix and event tokens up to the prediction time, with their value positions (see
    /// [`crate::embedding::context`]). A generated bin's value is drawn as it is sampled, and the
    /// model reads its position in the bin beside it ([`Trajectory::values`]).
    pub context: &'a Context,
    /// The prediction time (µs) the futures' clocks start from.
    pub start: i64,
    /// Futures to sample.
    pub futures: usize,
    /// Seed of this prompt's futures (future `i` draws from its own stream).
    pub seed: u64,
}

/// Samples `n` futures continuing `context` (prefix and event tokens up to the prediction time,
/// see [`crate::embedding::context`]) from `start` (µs, the prediction time), all in one batch.
/// At most `sampling.max_seq_len - context.len()` tokens are generated per trajectory.
pub fn generate<B: Backend>(
    model: &Model<B>,
    tokenizer: &Tokenizer,
    context: &Context,
    start: i64,
    n: usize,
    sampling: &Sampling,
    device: &B::Device,
) -> Vec<Trajectory> {
    let prompt = Prompt { context, start, futures: n, seed: sampling.seed };
    generate_batch(model, tokenizer, &[prompt], sampling, device).pop().unwrap_or_default()
}

/// The futures of several contexts in one batch: each context is prefilled once (left-padded to
/// the longest, the padding never attended to), its cache repeated for its futures, and every
/// future of every prompt advances one token per model call — dozens of rows per matrix product
/// instead of one prompt's handful. Each prompt's futures are what [`generate`] gives it alone
/// with `seed = prompt.seed` (same random streams; floating-point sums may round differently).
/// `sampling.seed` is unused here.
pub fn generate_batch<B: Backend>(
    model: &Model<B>,
    tokenizer: &Tokenizer,
    prompts: &[Prompt<'_>],
    sampling: &Sampling,
    device: &B::Device,
) -> Vec<Vec<Trajectory>> {
    let g = Grammar::new(tokenizer, &sampling.withheld);
    let max_seq_len = sampling.max_seq_len;
    let width = prompts.iter().map(|p| p.context.len()).max().unwrap_or(0);
    if prompts.is_empty() || width == 0 {
        return prompts.iter().map(|_| Vec::new()).collect();
    }
    // The context is never cut here (its front is the prefix): callers leave room for the
    // future by building it with `max_len = max_seq_len - max_new_tokens`.
    let budgets: Vec<usize> =
        prompts.iter().map(|p| sampling.max_new_tokens.min(max_seq_len.saturating_sub(p.context.len()))).collect();
    let counts: Vec<usize> = prompts.iter().map(|p| p.futures).collect();
    // Row r of the batch: prompt `owner[r]`, its future `index[r]`.
    let owner: Vec<usize> = counts.iter().enumerate().flat_map(|(i, &n)| std::iter::repeat_n(i, n)).collect();
    let index: Vec<u64> = counts.iter().flat_map(|&n| 0..n as u64).collect();
    let n = owner.len();
    let mut rngs: Vec<ChaCha8Rng> = owner
        .iter()
        .zip(&index)
        .map(|(&p, &i)| ChaCha8Rng::seed_from_u64(prompts[p].seed ^ i.wrapping_mul(0xA24B_AED4_963E_E407)))
        .collect();
    // Each future's values are drawn while it is sampled, from the stream its decoding reads.
    let value_seeds: Vec<u64> = owner
        .iter()
        .zip(&index)
        .map(|(&p, &i)| prompts[p].seed ^ (i + 1).wrapping_mul(0xD1B5_4A32_D192_ED03))
        .collect();
    let mut draws: Vec<ValueDraws> = value_seeds.iter().map(|&s| ValueDraws::new(s)).collect();
    let channel = model.value_embed.is_some();
    let mut out: Vec<Trajectory> = (0..n).map(|_| Trajectory::default()).collect();
    let mut done: Vec<bool> = owner.iter().map(|&p| budgets[p] == 0).collect();
    let mut clock = vec![0i64; n];
    // One prefill of the right-aligned contexts; each one's cache and last logits repeated for
    // its futures.
    let pads: Vec<usize> = prompts.iter().map(|p| width - p.context.len()).collect();
    let mut flat = Vec::with_capacity(prompts.len() * width);
    let mut values = Vec::with_capacity(prompts.len() * width);
    for (p, &pad) in prompts.iter().zip(&pads) {
        flat.extend(std::iter::repeat_n(i64::from(PAD), pad));
        flat.extend(p.context.tokens.iter().map(|&x| i64::from(x)));
        values.extend(std::iter::repeat_n(0.0, pad));
        values.extend((0..p.context.len()).map(|i| p.context.value(i)));
    }
    let most = budgets.iter().copied().max().unwrap_or(0);
    let mut prefill = KvCache::left_padded(pads, width + most);
    let first = model.forward_cached(
        Tensor::<B, 2, Int>::from_data(TensorData::new(flat, [prompts.len(), width]), device),
        Some(Tensor::<B, 2>::from_data(TensorData::new(values, [prompts.len(), width]), device)),
        &mut prefill,
    );
    let v = first.dims()[2];
    let rows = Tensor::<B, 1, Int>::from_data(
        TensorData::new(owner.iter().map(|&p| p as i64).collect::<Vec<i64>>(), [n]),
        device,
    );
    let mut logits = first.slice([0..prompts.len(), width - 1..width, 0..v]).select(0, rows);
    let mut cache = prefill.repeat_each(&counts);
    let mut previous: Vec<Option<u32>> = owner.iter().map(|&p| prompts[p].context.tokens.last().copied()).collect();
    // The rows still in the batch (a finished future leaves it once enough have finished, so
    // the model stops spending attention on its cache).
    let mut live: Vec<usize> = (0..n).collect();
    for step in 0..most {
        let [rows, steps, v] = logits.dims();
        let last = logits.slice([0..rows, steps - 1..steps, 0..v]).reshape([rows, v]);
        let values: Vec<f32> = last.into_data().convert::<f32>().to_vec::<f32>().unwrap_or_default();
        let mut next = Vec::with_capacity(rows);
        let mut next_values = Vec::with_capacity(rows);
        for (slot, &i) in live.iter().enumerate() {
            if !done[i] && step >= budgets[owner[i]] {
                // The model's window is full (out[i].end stays Length).
                done[i] = true;
            }
            if done[i] {
                next.push(i64::from(PAD));
                next_values.push(0.0);
                continue;
            }
            let row = &values[slot * v..(slot + 1) * v];
            let token = sample(row, &g, previous[i], sampling, &mut rngs[i]);
            if let Some(rung) = tokenizer.rung_of(token) {
                clock[i] += tokenizer.intervals().typical[rung];
            }
            if sampling.horizon.is_some_and(|h| clock[i] > h) {
                done[i] = true;
                out[i].end = End::Horizon;
                next.push(i64::from(PAD));
                next_values.push(0.0);
                continue;
            }
            out[i].tokens.push(token);
            let mut position = 0.0;
            if g.bin[token as usize] {
                out[i].bin_probabilities.push(bin_probabilities(row, &g, sampling.temperature));
                // The grammar put a code with values right before it: draw where in the bin this
                // value lies, as its decoding will.
                let bins = previous[i].and_then(|p| tokenizer.token(p)).and_then(|t| tokenizer.bins(&t.name));
                if let (Some(bins), Some(b)) = (bins, tokenizer.bin_of(token)) {
                    let u = draws[i].next_uniform();
                    position = bins.draw(b, u).map_or(0.0, |v| bins.position(b, v));
                }
            }
            out[i].values.push(position);
            previous[i] = Some(token);
            if Some(token) == g.death {
                done[i] = true;
                out[i].end = End::Death;
            }
            next.push(i64::from(token));
            next_values.push(position);
        }
        if done.iter().all(|&d| d) {
            break;
        }
        let finished = live.iter().filter(|&&i| done[i]).count();
        if finished * 4 >= live.len() {
            let keep: Vec<usize> = (0..live.len()).filter(|&slot| !done[live[slot]]).collect();
            cache = cache.select(&keep);
            next = keep.iter().map(|&slot| next[slot]).collect();
            next_values = keep.iter().map(|&slot| next_values[slot]).collect();
            live = keep.iter().map(|&slot| live[slot]).collect();
        }
        let rows = live.len();
        let next = Tensor::<B, 2, Int>::from_data(TensorData::new(next, [rows, 1]), device);
        let values = channel.then(|| Tensor::<B, 2>::from_data(TensorData::new(next_values, [rows, 1]), device));
        logits = model.forward_cached(next, values, &mut cache);
    }
    // A generated bin decodes to a draw from that bin's train values, not its median: futures are
    // samples, and a threshold inside a bin must be crossed in the share of them the data says.
    // The decoder reads the value seed's stream as the sampling above did: the same draws.
    let mut grouped: Vec<Vec<Trajectory>> = counts.iter().map(|&c| Vec::with_capacity(c)).collect();
    for ((mut tr, &p), &seed) in out.into_iter().zip(&owner).zip(&value_seeds) {
        tr.value_seed = seed;
        tr.events = tokenizer.decode_sampled(&tr.tokens, prompts[p].start, tr.value_seed).events;
        grouped[p].push(tr);
    }
    grouped
}
