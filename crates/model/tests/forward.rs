//! The transformer's contracts: causal (a later token never changes an earlier output), the KV
//! cache gives the same logits as a full pass, training and inference backends agree, and it
//! learns.

use burn::module::AutodiffModule;
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use model::{Cpu, CpuTrain, KvCache, ModelConfig};

fn tokens<B: Backend>(rows: &[Vec<i64>], device: &B::Device) -> Tensor<B, 2, Int> {
    let t = rows[0].len();
    let flat: Vec<i64> = rows.iter().flatten().copied().collect();
    Tensor::from_data(TensorData::new(flat, [rows.len(), t]), device)
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
    let a = m.forward(tokens::<Cpu>(&[vec![3, 4, 5, 6, 7, 8]], &device));
    let b = m.forward(tokens::<Cpu>(&[vec![3, 4, 5, 6, 40, 41]], &device));
    let early = |x: Tensor<Cpu, 3>| x.slice([0..1, 0..4, 0..50]);
    assert!(max_abs_diff(early(a.clone()), early(b.clone())) < 1e-6);
    assert!(max_abs_diff(a, b) > 1e-4, "the later outputs do change");
}

#[test]
fn the_kv_cache_gives_the_logits_of_a_full_pass() {
    let device = Default::default();
    Cpu::seed(&device, 2);
    let m = ModelConfig::tiny(60).init::<Cpu>(&device);
    let rows = vec![vec![1, 5, 9, 13, 17, 21, 25, 29], vec![2, 6, 10, 14, 18, 22, 26, 30]];
    let full = m.forward(tokens::<Cpu>(&rows, &device));
    let mut cache = KvCache::new();
    let prompt: Vec<Vec<i64>> = rows.iter().map(|r| r[..5].to_vec()).collect();
    let mut parts = vec![m.forward_cached(tokens::<Cpu>(&prompt, &device), &mut cache)];
    for i in 5..8 {
        let step: Vec<Vec<i64>> = rows.iter().map(|r| vec![r[i]]).collect();
        parts.push(m.forward_cached(tokens::<Cpu>(&step, &device), &mut cache));
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
        let loss = m.loss(tokens(&input, &device), tokens(&target, &device), weights.clone());
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
    let trained = ModelConfig::tiny(70).init::<CpuTrain>(&device);
    let inference = trained.valid();
    let rows: Vec<Vec<i64>> = (0..2).map(|s| (0..300).map(|i| ((i * 7 + s * 3) % 67 + 3) as i64).collect()).collect();
    let differentiable = trained.forward(tokens::<CpuTrain>(&rows, &device)).inner();
    let fused = inference.forward(tokens::<Cpu>(&rows, &device));
    let diff = max_abs_diff(differentiable, fused);
    assert!(diff < 1e-4, "max abs difference {diff}");
}
