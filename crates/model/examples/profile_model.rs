//! Profiling harness (not shipped): `cargo run --release -p model --example profile_model -- MODE N`
//! (`gen N CONTEXT FUTURES`: one prompt of CONTEXT tokens, FUTURES futures of 200 tokens).
// The shipped binary's allocator, so profiles see what users run.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::tensor::{Int, Tensor, TensorData};
use model::{Cpu, CpuTrain, Model, ModelConfig};
use std::time::Instant;

fn toks<B: burn::tensor::backend::Backend>(rows: usize, len: usize, v: usize, d: &B::Device) -> Tensor<B, 2, Int> {
    let data: Vec<i64> = (0..rows * len).map(|i| (3 + (i * 2654435761) % (v - 3)) as i64).collect();
    Tensor::from_data(TensorData::new(data, [rows, len]), d)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("embed");
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
    let config = ModelConfig::small(4096);
    let device = Default::default();
    match mode {
        "embed" => {
            let m: Model<Cpu> = config.init(&device);
            let seq = toks::<Cpu>(1, 1000, 4096, &device);
            for _ in 0..n {
                let t = Instant::now();
                let _ = m.hidden(seq.clone(), None).into_data();
                eprintln!("embed {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
            }
        }
        "train" => {
            let mut m: Model<CpuTrain> = config.init(&device);
            let mut optim = AdamWConfig::new()
                .with_weight_decay(0.1)
                .with_grad_clipping(Some(burn::grad_clipping::GradientClippingConfig::Norm(1.0)))
                .init::<CpuTrain, Model<CpuTrain>>();
            let x = toks::<CpuTrain>(8, 512, 4096, &device);
            let inputs = x.clone().slice([0..8, 0..511]);
            let targets = x.slice([0..8, 1..512]);
            let w = Tensor::<CpuTrain, 2>::ones([8, 511], &device);
            for _ in 0..n {
                let t = Instant::now();
                let loss = m.loss(inputs.clone(), None, targets.clone(), w.clone());
                let t1 = t.elapsed().as_secs_f64();
                let grads = loss.backward();
                let t2 = t.elapsed().as_secs_f64();
                let grads = GradientsParams::from_grads(grads, &m);
                m = optim.step(1e-3, m, grads);
                let _ = m.head.weight.val().slice([0..1, 0..1]).into_data();
                let s = t.elapsed().as_secs_f64();
                eprintln!(
                    "step {:.0} ms (fwd {:.0}, bwd {:.0}, opt {:.0}) {:.0} tok/s",
                    s * 1e3,
                    t1 * 1e3,
                    (t2 - t1) * 1e3,
                    (s - t2) * 1e3,
                    8.0 * 511.0 / s
                );
            }
        }
        "gen" => {
            let m: Model<Cpu> = config.init(&device);
            let context: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(100);
            let futures: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(100);
            for _ in 0..n {
                let t = Instant::now();
                let mut cache = model::KvCache::new();
                let _ = m.forward_cached(toks::<Cpu>(1, context, 4096, &device), None, &mut cache).into_data();
                let mut cache = cache.repeat_each(&[futures]);
                let mut next = toks::<Cpu>(futures, 1, 4096, &device);
                let mut t_logits = 0.0;
                for _ in 0..200 {
                    let s = Instant::now();
                    let logits = m.forward_cached(next, None, &mut cache);
                    let d = logits.into_data();
                    t_logits += s.elapsed().as_secs_f64();
                    let v = d.as_slice::<f32>().expect("f32");
                    let ids: Vec<i64> = v
                        .chunks(4096)
                        .map(|r| {
                            (r.iter().enumerate().fold((0, f32::MIN), |a, (i, &x)| if x > a.1 { (i, x) } else { a }).0
                                as i64
                                % 4000)
                                + 3
                        })
                        .collect();
                    next = Tensor::from_data(TensorData::new(ids, [futures, 1]), &device);
                }
                eprintln!("gen {:.2} s (model {:.2} s)", t.elapsed().as_secs_f64(), t_logits);
            }
        }
        _ => panic!("mode"),
    }
}
