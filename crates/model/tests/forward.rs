//! The transformer's contracts: causal (a later token never changes an earlier output), the KV
//! cache gives the same logits as a full pass, training and inference backends agree, and it
//! learns.

use burn::module::{AutodiffModule, Param};
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Int, Tensor, TensorData};
use model::{Cpu, CpuTrain, KvCache, Model, ModelConfig};

fn tokens<B: Backend>(rows: &[Vec<i64>], device: &B::Device) -> Tensor<B, 2, Int> {
    let t = rows[0].len();
    let flat: Vec<i64> = rows.iter().flatten().copied().collect();
    Tensor::from_data(TensorData::new(flat, [rows.len(), t]), device)
}

fn floats<B: Backend>(rows: &[Vec<f32>], device: &B::Device) -> Tensor<B, 2> {
    let t = rows[0].len();
    let flat: Vec<f32> = rows.iter().flatten().copied().collect();
    Tensor::from_data(TensorData::new(flat, [rows.len(), t]), device)
}

/// A value table as training leaves it (a fresh one is zeros, which would hide the values).
fn with_value_table<B: Backend>(mut m: Model<B>, device: &B::Device) -> Model<B> {
    if let Some(table) = m.value_embed.as_mut() {
        let shape = table.weight.dims();
        table.weight = Param::from_tensor(Tensor::random(shape, Distribution::Normal(0.0, 0.5), device));
    }
    m
}

fn max_abs_diff<B: Backend, const D: usize>(a: Tensor<B, D>, b: Tensor<B, D>) -> f32 {
    (a - b).abs().max().into_scalar().elem()
}

use burn::tensor::ElementConversion;

#[test]
fn later_tokens_never_change_earlier_outputs() {
    let device = Default::default();
    Cpu::seed(&device, 1);
    let m = ModelConfig::tiny(50).init::<Cpu>(&device);
    let a = m.forward(tokens::<Cpu>(&[vec![3, 4, 5, 6, 7, 8]], &device), None);
    let b = m.forward(tokens::<Cpu>(&[vec![3, 4, 5, 6, 40, 41]], &device), None);
    let early = |x: Tensor<Cpu, 3>| x.slice([0..1, 0..4, 0..50]);
    assert!(max_abs_diff(early(a.clone()), early(b.clone())) < 1e-6);
    assert!(max_abs_diff(a, b) > 1e-4, "the later outputs do change");
}

#[test]
fn the_kv_cache_gives_the_logits_of_a_full_pass() {
    let device = Default::default();
    Cpu::seed(&device, 2);
    let m = with_value_table(ModelConfig::tiny(60).with_value_channel(true).init::<Cpu>(&device), &device);
    let rows = vec![vec![1, 5, 9, 13, 17, 21, 25, 29], vec![2, 6, 10, 14, 18, 22, 26, 30]];
    // The prompt's values are read; the generated steps carry none (their bins' middles, 0).
    let values: Vec<Vec<f32>> =
        (0..2).map(|r| (0..8).map(|i| if i < 5 { 0.1 * (i + r) as f32 - 0.3 } else { 0.0 }).collect()).collect();
    let full = m.forward(tokens::<Cpu>(&rows, &device), Some(floats::<Cpu>(&values, &device)));
    let mut cache = KvCache::new();
    let prompt: Vec<Vec<i64>> = rows.iter().map(|r| r[..5].to_vec()).collect();
    let prompt_values: Vec<Vec<f32>> = values.iter().map(|r| r[..5].to_vec()).collect();
    let mut parts = vec![m.forward_cached(
        tokens::<Cpu>(&prompt, &device),
        Some(floats::<Cpu>(&prompt_values, &device)),
        &mut cache,
    )];
    for i in 5..8 {
        let step: Vec<Vec<i64>> = rows.iter().map(|r| vec![r[i]]).collect();
        parts.push(m.forward_cached(tokens::<Cpu>(&step, &device), None, &mut cache));
    }
    assert_eq!(cache.len(), 8);
    let cached = Tensor::cat(parts, 1);
    let diff = max_abs_diff(full, cached);
    assert!(diff < 1e-4, "max abs difference {diff}");
}

#[test]
fn a_few_steps_of_adamw_learn_a_pattern() {
    let device = Default::default();
    CpuTrain::seed(&device, 3);
    let mut m = ModelConfig::tiny(20).init::<CpuTrain>(&device);
    let mut optim = AdamWConfig::new().init();
    // Each sequence counts up by one: the next token is predictable.
    let rows: Vec<Vec<i64>> = (0..8).map(|s| (0..16).map(|i| ((s + i) % 17 + 3) as i64).collect()).collect();
    let input: Vec<Vec<i64>> = rows.iter().map(|r| r[..15].to_vec()).collect();
    let target: Vec<Vec<i64>> = rows.iter().map(|r| r[1..].to_vec()).collect();
    let weights = Tensor::<CpuTrain, 2>::ones([8, 15], &device);
    let mut first = None;
    let mut last = 0.0;
    for _ in 0..60 {
        let loss = m.loss(tokens(&input, &device), None, tokens(&target, &device), weights.clone());
        let value: f32 = loss.clone().into_scalar().elem();
        first.get_or_insert(value);
        last = value;
        let grads = GradientsParams::from_grads(loss.backward(), &m);
        m = optim.step(3e-3, m, grads);
    }
    let first = first.unwrap_or_default();
    assert!(first > 2.5, "starts near ln(20) = 3.0: {first}");
    assert!(last < 0.5 * first, "learns: {first} → {last}");
    let _inference = m.valid();
}

/// The training backend (autodiff, fused attention and loss with their own backward passes) and
/// the inference backend compute the same model on a window longer than one attention tile.
#[test]
fn the_training_and_inference_backends_agree() {
    let device = Default::default();
    CpuTrain::seed(&device, 4);
    let trained = with_value_table(ModelConfig::tiny(70).with_value_channel(true).init::<CpuTrain>(&device), &device);
    let inference = trained.valid();
    let rows: Vec<Vec<i64>> = (0..2).map(|s| (0..300).map(|i| ((i * 7 + s * 3) % 67 + 3) as i64).collect()).collect();
    let values: Vec<Vec<f32>> =
        (0..2).map(|s| (0..300).map(|i| ((i * 3 + s) % 11) as f32 / 10.0 - 0.5).collect()).collect();
    let differentiable =
        trained.forward(tokens::<CpuTrain>(&rows, &device), Some(floats::<CpuTrain>(&values, &device))).inner();
    let fused = inference.forward(tokens::<Cpu>(&rows, &device), Some(floats::<Cpu>(&values, &device)));
    let diff = max_abs_diff(differentiable, fused);
    assert!(diff < 1e-4, "max abs difference {diff}");
}

/// The value channel carries what the bin token cannot: here the token after each "lab" token is
/// 5 when the lab's value position is above its bin's middle and 6 when below — a coin toss
/// (ln 2 = 0.69 nats) to a model that sees only tokens, nearly certain to one that reads the
/// values.
#[test]
fn the_value_channel_learns_what_the_bin_token_cannot_say() {
    let device = Default::default();
    let train = |channel: bool| {
        CpuTrain::seed(&device, 5);
        let mut m = ModelConfig::tiny(20).with_value_channel(channel).init::<CpuTrain>(&device);
        let mut optim = AdamWConfig::new().init();
        let mut last = f32::NAN;
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut coin = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.is_multiple_of(2)
        };
        for _ in 0..80 {
            // Rows of (lab 3, answer 5|6) pairs, the answers drawn at random; only the answers
            // are counted as targets.
            let (mut input, mut target, mut values, mut weights) = (vec![], vec![], vec![], vec![]);
            for _ in 0..8 {
                let (mut x, mut v) = (vec![], vec![]);
                for k in 0..8u32 {
                    let above = coin();
                    let position = if above { 0.1 + 0.05 * (k % 3) as f32 } else { -0.1 - 0.05 * (k % 3) as f32 };
                    x.extend([3i64, if above { 5 } else { 6 }]);
                    v.extend([position, 0.0]);
                }
                input.push(x[..15].to_vec());
                target.push(x[1..].to_vec());
                values.push(v[..15].to_vec());
                weights.push((0..15).map(|i| if i % 2 == 0 { 1.0f32 } else { 0.0 }).collect::<Vec<_>>());
            }
            let loss = m.loss(
                tokens(&input, &device),
                Some(floats(&values, &device)),
                tokens(&target, &device),
                floats(&weights, &device),
            );
            last = loss.clone().into_scalar().elem();
            let grads = GradientsParams::from_grads(loss.backward(), &m);
            m = optim.step(3e-3, m, grads);
        }
        last
    };
    let (with, without) = (train(true), train(false));
    eprintln!("answer loss after 80 steps: {with:.3} nats with the values, {without:.3} without");
    assert!(without > 0.6, "tokens alone cannot beat a coin toss: {without}");
    assert!(with < 0.2, "the values tell the answer: {with} nats");
}
