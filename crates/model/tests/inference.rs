//! Using the model: embeddings see nothing after the prediction time, and generated trajectories
//! are valid timelines.

use burn::module::Param;
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Tensor};
use meds::{CodeTable, Timeline};
use model::embedding::{Context, Pooling, context, embed, embed_at, pooled_hidden};
use model::generation::{End, Prompt, Sampling, Trajectory, generate, generate_batch};
use model::{Cpu, Model, ModelConfig};
use synth::{SynthConfig, simulate_patient, vocab};
use tokenizer::{Tokenizer, TokenizerConfig};

fn setup() -> (CodeTable, Vec<Timeline>, Tokenizer) {
    let config = SynthConfig::new(150, 2, 8);
    let codes = vocab::code_table();
    let timelines: Vec<Timeline> = (0..150).map(|i| simulate_patient(&config, &codes, i).timeline).collect();
    let tok = Tokenizer::fit(&timelines, &codes, TokenizerConfig::default()).expect("fit");
    (codes, timelines, tok)
}

/// A value table as training leaves it (a fresh one is zeros, which would hide the values).
fn with_value_table<B: Backend>(mut m: Model<B>, device: &B::Device) -> Model<B> {
    if let Some(table) = m.value_embed.as_mut() {
        let shape = table.weight.dims();
        table.weight = Param::from_tensor(Tensor::random(shape, Distribution::Normal(0.0, 0.5), device));
    }
    m
}

#[test]
fn an_embedding_never_sees_an_event_after_its_prediction_time() {
    let (mut codes, timelines, tok) = setup();
    let device = Default::default();
    Cpu::seed(&device, 4);
    let m = ModelConfig::tiny(tok.len()).init::<Cpu>(&device);
    let t = timelines.iter().find(|t| t.len() > 40).expect("a long timeline");
    let prediction_time = t.times[t.len() / 2];
    let mut later = t.clone();
    // The outcome is the very next event: one microsecond after the prediction time.
    later.push(Some(prediction_time + 1), codes.intern("ICD10CM/I63.9"), None, None);
    later.sort();
    let (a, b) = {
        let mut enc = tok.encoder(&codes);
        (enc.encode(t), enc.encode(&later))
    };
    let ctx_a = context(&a, &tok, prediction_time, 256);
    let ctx_b = context(&b, &tok, prediction_time, 256);
    assert_eq!(ctx_a, ctx_b, "the context stops at the prediction time");
    assert_eq!(ctx_a.values.len(), ctx_a.tokens.len(), "one value position per token");
    for (&token, &v) in ctx_a.tokens.iter().zip(&ctx_a.values) {
        assert!((-0.5..=0.5).contains(&v), "a position inside its bin: {v}");
        assert!(v == 0.0 || tok.bin_of(token).is_some(), "only value bins carry a position");
    }
    assert!(ctx_a.values.iter().any(|&v| v != 0.0), "the labs' positions travel with the context");
    let after = context(&b, &tok, prediction_time + 1, 256);
    let e = embed(&m, &[ctx_a, ctx_b, after], Pooling::Last, &device);
    assert_eq!(e.len(), 3);
    assert_eq!(e[0].len(), 64);
    assert_eq!(e[0], e[1], "an event after the prediction time changes nothing");
    assert_ne!(e[1], e[2], "it does change the embedding once it is in the past");
    // Batched with padding gives what one context alone gives.
    let alone = embed(&m, &[context(&a, &tok, prediction_time, 256)], Pooling::Last, &device);
    let diff = alone[0].iter().zip(&e[0]).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    assert!(diff < 1e-5, "{diff}");
}

#[test]
fn one_pass_over_the_latest_context_embeds_every_earlier_time() {
    let (codes, timelines, tok) = setup();
    let device = Default::default();
    Cpu::seed(&device, 6);
    let m = with_value_table(ModelConfig::tiny(tok.len()).with_value_channel(true).init::<Cpu>(&device), &device);
    let long: Vec<&Timeline> = timelines.iter().filter(|t| t.len() > 40).take(2).collect();
    assert_eq!(long.len(), 2, "two long timelines");
    let mut enc = tok.encoder(&codes);
    let mut passes = Vec::new();
    let mut alone = Vec::new();
    for t in &long {
        let e = enc.encode(t);
        let times = [t.times[t.len() / 4], t.times[t.len() / 2], t.times[t.len() - 1]];
        let contexts: Vec<Context> = times.iter().map(|&at| context(&e, &tok, at, 4096)).collect();
        let latest = contexts[2].clone();
        for c in &contexts {
            assert!(latest.starts_with(c), "a whole history fits the window: earlier contexts are prefixes");
        }
        passes.push((latest, contexts.iter().map(|c| c.len() - 1).collect::<Vec<usize>>()));
        alone.extend(contexts);
    }
    let inputs: Vec<(&Context, &[usize])> = passes.iter().map(|(c, at)| (c, at.as_slice())).collect();
    let shared: Vec<Vec<f32>> = embed_at(&m, &inputs, Pooling::Last, &device).into_iter().flatten().collect();
    let separate = embed(&m, &alone, Pooling::Last, &device);
    assert_eq!(shared.len(), 6);
    for (i, (a, b)) in shared.iter().zip(&separate).enumerate() {
        let diff = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
        assert!(diff < 1e-4, "time {i}: a read from the shared pass differs by {diff}");
    }
    // Earlier times differ from the latest: the reads are taken where asked, not at the end.
    assert_ne!(shared[0], shared[2]);
}

#[test]
fn pooled_embeddings_are_the_last_state_then_the_mean_and_the_maximum_of_every_state_up_to_it() {
    let (codes, timelines, tok) = setup();
    let device = Default::default();
    Cpu::seed(&device, 8);
    let m = with_value_table(ModelConfig::tiny(tok.len()).with_value_channel(true).init::<Cpu>(&device), &device);
    let mut enc = tok.encoder(&codes);
    let contexts: Vec<Context> = timelines
        .iter()
        .filter(|t| t.len() > 30)
        .take(3)
        .map(|t| context(&enc.encode(t), &tok, t.times[t.len() - 1], 200))
        .collect();
    let c = &contexts[0];
    // Every state of the first context, and three reads from one pass, out of order.
    let every: Vec<usize> = (0..c.len()).collect();
    let states = embed_at(&m, &[(c, every.as_slice())], Pooling::Last, &device).remove(0);
    let at = [c.len() - 1, 3, c.len() / 2];
    let d = states[0].len();
    let off = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    let pooled = embed_at(&m, &[(c, &at[..])], Pooling::LastAndMean, &device).remove(0);
    let with_max = embed_at(&m, &[(c, &at[..])], Pooling::LastMeanMax, &device).remove(0);
    for ((&p, v), w) in at.iter().zip(&pooled).zip(&with_max) {
        assert_eq!(v.len(), 2 * d);
        assert_eq!(w.len(), 3 * d);
        let mean: Vec<f32> =
            (0..d).map(|j| states[..=p].iter().map(|s| f64::from(s[j])).sum::<f64>() as f32 / (p + 1) as f32).collect();
        let max: Vec<f32> =
            (0..d).map(|j| states[..=p].iter().map(|s| s[j]).fold(f32::NEG_INFINITY, f32::max)).collect();
        assert!(off(&v[..d], &states[p]) < 1e-5, "the first part is the state at {p}");
        assert!(off(&v[d..], &mean) < 1e-5, "the second part is the mean of the states up to {p}");
        assert!(off(&w[..2 * d], v) < 1e-6, "the maximum is read after the same state and mean");
        assert!(off(&w[2 * d..], &max) < 1e-5, "the third part is the maximum of the states up to {p}");
        if p < c.len() - 1 {
            let later: Vec<f32> =
                (0..d).map(|j| states[..].iter().map(|s| s[j]).fold(f32::NEG_INFINITY, f32::max)).collect();
            assert_ne!(max, later, "the maximum at {p} never reads a later state");
        }
    }
    // The differentiable form fine-tuning uses agrees, contexts of unequal length padded in one
    // batch.
    let lens: Vec<usize> = contexts.iter().map(Context::len).collect();
    assert!(lens.iter().any(|&l| l != lens[0]), "unequal lengths: {lens:?}");
    let refs: Vec<&Context> = contexts.iter().collect();
    for pooling in [Pooling::LastAndMean, Pooling::LastMeanMax] {
        let host = embed(&m, &contexts, pooling, &device);
        let tensor = pooled_hidden(&m, &refs, pooling, &device);
        let values: Vec<f32> = tensor.into_data().convert::<f32>().to_vec::<f32>().expect("floats");
        assert_eq!(values.len(), contexts.len() * pooling.width(d));
        for (h, t) in host.iter().zip(values.chunks(pooling.width(d))) {
            let diff = off(h, t);
            assert!(diff < 1e-4, "{pooling:?}: host and tensor pooling differ by {diff}");
        }
    }
}

#[test]
fn generated_trajectories_are_valid_timelines() {
    let (codes, timelines, tok) = setup();
    let device = Default::default();
    Cpu::seed(&device, 5);
    let m = ModelConfig::tiny(tok.len()).init::<Cpu>(&device);
    let t = timelines.iter().find(|t| t.len() > 40).expect("a long timeline");
    let enc = tok.encoder(&codes).encode(t);
    let start = t.times[t.len() / 2];
    let ctx = context(&enc, &tok, start, 256 - 64);
    let sampling = Sampling {
        max_new_tokens: 64,
        horizon: Some(365 * 86_400_000_000),
        seed: 9,
        max_seq_len: 256,
        ..Default::default()
    };
    let trajectories = generate(&m, &tok, &ctx, start, 16, &sampling, &device);
    assert_eq!(trajectories.len(), 16);
    assert!(trajectories.iter().any(|tr| !tr.events.is_empty()));
    for tr in &trajectories {
        assert!(tr.tokens.len() <= 64);
        assert!(tr.events.windows(2).all(|w| w[0].time <= w[1].time), "times never decrease");
        assert!(tr.events.iter().all(|e| e.time >= start && e.time <= start + 365 * 86_400_000_000));
        assert!(tr.events.iter().all(|e| tok.id(&e.code).is_some()), "codes are in the vocabulary");
        for (i, &token) in tr.tokens.iter().enumerate() {
            assert!(tok.is_predictable(token), "no prefix or padding tokens");
            if tok.bin_of(token).is_some() {
                let previous = i.checked_sub(1).and_then(|j| tok.token(tr.tokens[j])).expect("a bin follows a token");
                assert!(tok.bins(&previous.name).is_some(), "a bin follows a code that carries values");
            }
        }
        if tr.end == End::Death {
            assert_eq!(tr.events.last().map(|e| e.code.as_str()), Some("MEDS_DEATH"));
        }
        // Each bin token carries the distribution it was drawn from, which gives it weight.
        let drawn: Vec<usize> = tr.tokens.iter().filter_map(|&t| tok.bin_of(t)).collect();
        assert_eq!(tr.bin_probabilities.len(), drawn.len());
        for (p, &b) in tr.bin_probabilities.iter().zip(&drawn) {
            assert_eq!(p.len(), tok.config().bin_tokens());
            assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-4 && p.iter().all(|&x| x >= 0.0));
            assert!(p[b] > 0.0, "the sampled bin had probability");
        }
    }
    assert!(trajectories.iter().any(|t| !t.bin_probabilities.is_empty()), "some futures carry values");
    let again = generate(&m, &tok, &ctx, start, 16, &sampling, &device);
    assert_eq!(again, trajectories, "same seed, same futures");
    // A withheld code is never generated (a treatment withheld for a "what if"): the futures'
    // most frequent code is gone and the rest are still valid timelines.
    let mut counts = std::collections::HashMap::new();
    for tr in &trajectories {
        for &token in &tr.tokens {
            if tok.bin_of(token).is_none() && tok.rung_of(token).is_none() {
                *counts.entry(token).or_insert(0) += 1;
            }
        }
    }
    let (&common, _) = counts.iter().max_by_key(|(t, c)| (**c, **t)).expect("a generated code");
    let withheld = Sampling { withheld: vec![common], ..sampling.clone() };
    let without = generate(&m, &tok, &ctx, start, 16, &withheld, &device);
    assert_eq!(without.len(), 16);
    assert!(without.iter().all(|tr| !tr.tokens.contains(&common)), "{} was generated", common);
    assert!(without.iter().flat_map(|tr| &tr.tokens).all(|&t| tok.is_predictable(t)));
}

/// A model with the value channel reads its own future as it reads a record: beside each
/// generated bin, where in the bin the value that future decodes to lies — the position the
/// encoder gives that value — not the bin's middle for every value.
#[test]
fn a_generated_value_is_read_at_its_place_in_its_bin() {
    let (codes, timelines, tok) = setup();
    let device = Default::default();
    Cpu::seed(&device, 11);
    let m = with_value_table(ModelConfig::tiny(tok.len()).with_value_channel(true).init::<Cpu>(&device), &device);
    let t = timelines.iter().find(|t| t.len() > 40).expect("a long timeline");
    let enc = tok.encoder(&codes).encode(t);
    let start = t.times[t.len() / 2];
    let ctx = context(&enc, &tok, start, 256 - 64);
    let sampling = Sampling { max_new_tokens: 64, seed: 3, max_seq_len: 256, ..Default::default() };
    let futures = generate(&m, &tok, &ctx, start, 32, &sampling, &device);
    let mut read = Vec::new();
    for tr in &futures {
        assert_eq!(tr.values.len(), tr.tokens.len(), "a value position beside every token");
        // The k-th bin token's value is the k-th valued event's (a bin always follows its code).
        let mut valued = tr.events.iter().filter_map(|e| e.numeric_value.map(|v| (e.code.as_str(), v)));
        for (i, &token) in tr.tokens.iter().enumerate() {
            let Some(b) = tok.bin_of(token) else {
                assert_eq!(tr.values[i], 0.0, "only bins carry a value position");
                continue;
            };
            // The grammar lets any bin follow a code with values; one beyond the code's own bins
            // decodes to no value, and is read at the middle.
            let code = tok.token(tr.tokens[i - 1]).expect("a bin follows its code");
            let bins = tok.bins(&code.name).expect("a bin follows a code with values");
            if b >= bins.typical.len() {
                assert_eq!(tr.values[i], 0.0, "a bin the code lacks is read at the middle");
                continue;
            }
            let Some((valued_code, value)) = valued.next() else { break }; // beyond the last decoded event
            assert_eq!(valued_code, code.name, "the k-th decodable bin gives the k-th valued event");
            assert_eq!(bins.bin(value), b, "the value decoded is in the bin generated");
            assert_eq!(tr.values[i], bins.position(b, value), "read where the decoded value lies");
            read.push(tr.values[i]);
        }
        assert_eq!(tok.decode_sampled(&tr.tokens, start, tr.value_seed).events, tr.events, "decoding again agrees");
    }
    assert!(read.len() >= 8, "futures carry values: {}", read.len());
    assert!(read.iter().all(|p| (-0.5..=0.5).contains(p)));
    assert!(read.iter().any(|&p| p < -0.1) && read.iter().any(|&p| p > 0.1), "spread across the bin: {read:?}");
    // The positions reach the model: the state after a future read with them differs from the
    // state after the same tokens read with every value at its bin's middle.
    let tr = futures.iter().find(|tr| tr.values.iter().any(|&v| v != 0.0)).expect("a future with values");
    let read_as = |values: &[f32]| {
        let mut c = ctx.clone();
        c.tokens.extend(&tr.tokens);
        c.values.extend(values);
        embed(&m, &[c], Pooling::Last, &device).remove(0)
    };
    let (with, middle) = (read_as(&tr.values), read_as(&vec![0.0; tr.values.len()]));
    let moved = with.iter().zip(&middle).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(moved > 1e-3, "the model reads the positions: {moved}");
    assert_eq!(generate(&m, &tok, &ctx, start, 32, &sampling, &device), futures, "same seed, same futures");
}

#[test]
fn futures_of_several_contexts_in_one_batch_are_each_contexts_own() {
    let (codes, timelines, tok) = setup();
    let device = Default::default();
    Cpu::seed(&device, 7);
    let m = ModelConfig::tiny(tok.len()).init::<Cpu>(&device);
    let mut enc = tok.encoder(&codes);
    let open = Sampling { max_new_tokens: 24, max_seq_len: 256, horizon: None, ..Default::default() };
    // Contexts of different lengths (left-padded to the longest in the batch).
    let prompts: Vec<(Context, i64)> = timelines
        .iter()
        .filter(|t| t.len() > 10)
        .take(3)
        .enumerate()
        .map(|(i, t)| {
            let at = t.times[t.len() * (i + 1) / 4];
            (context(&enc.encode(t), &tok, at, 256 - 24), at)
        })
        .collect();
    let lengths: Vec<usize> = prompts.iter().map(|p| p.0.len()).collect();
    assert!(lengths.iter().min() < lengths.iter().max(), "{lengths:?}");
    let batch: Vec<Prompt> = prompts
        .iter()
        .enumerate()
        .map(|(i, (c, at))| Prompt { context: c, start: *at, futures: 3 + i, seed: 100 + i as u64 })
        .collect();
    // A horizon just under the clock the upper quarter of the open-ended futures reach ends at
    // least that quarter part-way (a future's draws up to its stop do not depend on the horizon),
    // so finished rows leave the batch while others go on, whatever the untrained weights are.
    let mut clocks: Vec<i64> =
        generate_batch(&m, &tok, &batch, &open, &device).iter().flatten().map(|t| tok.elapsed(&t.tokens)).collect();
    clocks.sort_unstable();
    let upper = clocks[clocks.len() - clocks.len().div_ceil(4)];
    let horizon = clocks.iter().copied().filter(|&c| c < upper).max();
    let horizon = horizon.unwrap_or_else(|| panic!("futures reach different clocks: {clocks:?}"));
    let sampling = Sampling { horizon: Some(horizon), ..open };
    let together = generate_batch(&m, &tok, &batch, &sampling, &device);
    assert_eq!(together.iter().map(Vec::len).collect::<Vec<_>>(), vec![3, 4, 5]);
    let lengths: Vec<usize> = together.iter().flatten().map(|t| t.tokens.len()).collect();
    let early = lengths.iter().filter(|&&l| l < 24).count();
    assert!(early * 4 >= lengths.len() && early < lengths.len(), "futures end part-way: {lengths:?}");
    for (p, got) in batch.iter().zip(&together) {
        let alone =
            generate(&m, &tok, p.context, p.start, p.futures, &Sampling { seed: p.seed, ..sampling.clone() }, &device);
        assert_same_futures(got, &alone, "a prompt's futures do not depend on its batch");
    }
    // burn's own attention (the GPU path) masks the padding the same way.
    let tensors = ModelConfig::tiny(tok.len()).init::<model::CpuTrain>(&device);
    let together = generate_batch(&tensors, &tok, &batch, &sampling, &device);
    for (p, got) in batch.iter().zip(&together) {
        let sampling = Sampling { seed: p.seed, ..sampling.clone() };
        let alone = generate(&tensors, &tok, p.context, p.start, p.futures, &sampling, &device);
        assert_same_futures(got, &alone, "tensor attention: a prompt's futures do not depend on its batch");
    }
}

/// The same futures: tokens, events, ends and seeds exactly; the bin probabilities to float
/// rounding (a batch's sums may round differently from a lone prompt's).
fn assert_same_futures(got: &[Trajectory], alone: &[Trajectory], what: &str) {
    let plain = |ts: &[Trajectory]| -> Vec<Trajectory> {
        ts.iter().map(|t| Trajectory { bin_probabilities: Vec::new(), ..t.clone() }).collect()
    };
    assert_eq!(plain(got), plain(alone), "{what}");
    for (a, b) in got.iter().zip(alone) {
        assert_eq!(a.bin_probabilities.len(), b.bin_probabilities.len(), "{what}");
        for (p, q) in a.bin_probabilities.iter().zip(&b.bin_probabilities) {
            assert!(p.len() == q.len() && p.iter().zip(q).all(|(x, y)| (x - y).abs() < 1e-5), "{what}: {p:?} {q:?}");
        }
    }
}
