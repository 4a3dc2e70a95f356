//! Patient representations at a prediction time: the final hidden state of the last token the
//! model may see, using only events up to that time.
//!
//! The context for time `t` is the static prefix (with the age band at the context's start) and
//! the last event tokens whose time is at or before `t` — as many as fit in the model's window.

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use tokenizer::{Encoded, PAD, Tokenizer};

use crate::Model;

/// The tokens the model sees for a prediction at time `t` (µs): prefix plus the latest event
/// tokens at or before `t`, at most `max_len` in all.
pub fn context(encoded: &Encoded, tokenizer: &Tokenizer, t: i64, max_len: usize) -> Vec<u32> {
    let end = encoded.len_until(t);
    let prefix_len = encoded.statics.len() + 2;
    let body = max_len.saturating_sub(prefix_len).max(1);
    let start = end.saturating_sub(body);
    let mut tokens = encoded.prefix_within(tokenizer, start, max_len);
    tokens.extend_from_slice(&encoded.tokens[start..end]);
    tokens
}

/// The embedding of each context: the final (normalised) hidden state at its last token, `D`
/// floats each. Contexts are batched, right-padded (causal attention never looks right).
pub fn embed<B: Backend>(model: &Model<B>, contexts: &[Vec<u32>], device: &B::Device) -> Vec<Vec<f32>> {
    if contexts.is_empty() {
        return Vec::new();
    }
    let picked: Vec<&[u32]> = contexts.iter().map(Vec::as_slice).collect();
    let hidden = last_hidden(model, &picked, device);
    let d = hidden.dims()[1];
    let values: Vec<f32> = hidden.into_data().convert::<f32>().to_vec::<f32>().unwrap_or_default();
    values.chunks(d).map(<[f32]>::to_vec).collect()
}

/// The embeddings at several positions of each of `passes` — `(tokens, positions)`: the final
/// (normalised) hidden state after `tokens[..=p]` for each `p` in `positions`, `D` floats each,
/// grouped per pass. One run of the model over a subject's latest context serves every earlier
/// prediction time whose context is a prefix of it (attention is causal: the state at `p` never
/// depends on a later token), which costs one pass instead of one per time. Positions beyond a
/// pass's tokens are read at its last token.
pub fn embed_at<B: Backend>(model: &Model<B>, passes: &[(&[u32], &[usize])], device: &B::Device) -> Vec<Vec<Vec<f32>>> {
    if passes.is_empty() {
        return Vec::new();
    }
    let t = passes.iter().map(|(c, _)| c.len()).max().unwrap_or(1).max(1);
    let n = passes.len();
    let mut flat = Vec::with_capacity(n * t);
    for (c, _) in passes {
        flat.extend(c.iter().map(|&x| i64::from(x)));
        flat.extend(std::iter::repeat_n(i64::from(PAD), t - c.len()));
    }
    let tokens = Tensor::<B, 2, Int>::from_data(TensorData::new(flat, [n, t]), device);
    let hidden = model.hidden(tokens); // [N, T, D]
    let d = hidden.dims()[2];
    let rows: Vec<i64> = passes
        .iter()
        .enumerate()
        .flat_map(|(i, (c, at))| {
            let last = c.len().max(1) - 1;
            at.iter().map(move |&p| (i * t + p.min(last)) as i64)
        })
        .collect();
    let picked = rows.len();
    let index = Tensor::<B, 1, Int>::from_data(TensorData::new(rows, [picked]), device);
    let values: Vec<f32> =
        hidden.reshape([n * t, d]).select(0, index).into_data().convert::<f32>().to_vec::<f32>().unwrap_or_default();
    let mut vectors = values.chunks(d).map(<[f32]>::to_vec);
    passes.iter().map(|(_, at)| vectors.by_ref().take(at.len()).collect()).collect()
}

/// The final hidden state `[N, D]` at the last token of each of `contexts` (one batch,
/// right-padded), differentiable on an autodiff backend (fine-tuning reads it).
pub fn last_hidden<B: Backend>(model: &Model<B>, contexts: &[&[u32]], device: &B::Device) -> Tensor<B, 2> {
    let t = contexts.iter().map(|c| c.len()).max().unwrap_or(1).max(1);
    let n = contexts.len();
    let mut flat = Vec::with_capacity(n * t);
    for c in contexts {
        flat.extend(c.iter().map(|&x| i64::from(x)));
        flat.extend(std::iter::repeat_n(i64::from(PAD), t - c.len()));
    }
    let tokens = Tensor::<B, 2, Int>::from_data(TensorData::new(flat, [n, t]), device);
    let hidden = model.hidden(tokens); // [N, T, D]
    let d = hidden.dims()[2];
    let last: Vec<i64> = contexts.iter().map(|c| c.len().max(1) as i64 - 1).collect();
    let index = Tensor::<B, 1, Int>::from_data(TensorData::new(last, [n]), device).reshape([n, 1, 1]).expand([n, 1, d]);
    hidden.gather(1, index).reshape([n, d])
}
