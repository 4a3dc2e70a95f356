//! `longitude bench model`: our transformer beside the PyTorch reference, same weights, same
//! shapes, same threads.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result};
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use model::generation::{Sampling, generate};
use model::{Cpu, CpuTrain, Model, ModelConfig};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use serde::Serialize;
use serde_json::{Value, json};

const TORCH_SCRIPT: &str = include_str!("../python/reference/bench_torch.py");
const REFERENCE_MODEL: &str = include_str!("../python/reference/longitude_model.py");

const BATCH: usize = 8;
const EMBED_LEN: usize = 1000;
const GEN_N: usize = 100;
const GEN_PROMPT: usize = 100;
const GEN_TOKENS: usize = 200;
const REPEATS: usize = 3;

#[derive(Serialize)]
struct Figures {
    train_tokens_per_s: f64,
    train_gflops: f64,
    train_peak_rss_mb: f64,
    embed_ms: f64,
    embed_gflops: f64,
    embed_pooled_ms: f64,
    generate_s: f64,
    generate_tokens_per_s: f64,
}

/// The median (the mean of the middle two for an even count); `xs` is never empty here.
fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n.is_multiple_of(2) { (xs[n / 2 - 1] + xs[n / 2]) / 2.0 } else { xs[n / 2] }
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn random_tokens<B: Backend>(
    rng: &mut ChaCha8Rng,
    rows: usize,
    len: usize,
    vocab: usize,
    device: &B::Device,
) -> Tensor<B, 2, Int> {
    let data: Vec<i64> = (0..rows * len).map(|_| rng.random_range(3..vocab as i64)).collect();
    Tensor::from_data(TensorData::new(data, [rows, len]), device)
}

fn ours(config: &ModelConfig, steps: usize, threads: usize) -> Result<Figures> {
    let device = Default::default();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let t = config.max_seq_len - 1;
    let pool = |n: usize| rayon::ThreadPoolBuilder::new().num_threads(n).build();

    // Training: the same step as `pretrain` (AdamW, clipping), random tokens, every position counted.
    let train = pool(threads)?.install(|| {
        CpuTrain::seed(&device, 0);
        let mut m: Model<CpuTrain> = config.init(&device);
        let mut optim = AdamWConfig::new()
            .with_epsilon(1e-8)
            .with_weight_decay(0.1)
            .with_grad_clipping(Some(burn::grad_clipping::GradientClippingConfig::Norm(1.0)))
            .init::<CpuTrain, Model<CpuTrain>>();
        let x = random_tokens::<CpuTrain>(&mut rng, BATCH, t + 1, config.vocab_size, &device);
        let inputs = x.clone().slice([0..BATCH, 0..t]);
        let targets = x.slice([0..BATCH, 1..t + 1]);
        let weights = Tensor::<CpuTrain, 2>::ones([BATCH, t], &device);
        let mut times = Vec::new();
        for step in 0..steps + 2 {
            let started = Instant::now();
            let loss = m.loss(inputs.clone(), None, targets.clone(), weights.clone());
            let grads = GradientsParams::from_grads(loss.backward(), &m);
            m = optim.step(1e-3, m, grads);
            // Wait for the work: reading the loss syncs.
            let _ = m.head.weight.val().slice([0..1, 0..1]).into_data();
            if step >= 2 {
                times.push(started.elapsed().as_secs_f64());
            }
        }
        (BATCH * t) as f64 / median(times)
    });
    let train_rss = peak_rss_mb();

    Cpu::seed(&device, 0);
    let m: Model<Cpu> = config.init(&device);
    let embed = pool(1)?.install(|| {
        let seq = random_tokens::<Cpu>(&mut rng, 1, EMBED_LEN, config.vocab_size, &device);
        let mut times = Vec::new();
        for _ in 0..=REPEATS {
            let started = Instant::now();
            let _ = m.hidden(seq.clone(), None).into_data();
            times.push(started.elapsed().as_secs_f64());
        }
        median(times[1..].to_vec())
    });
    // The probe's default embedding: every state of the pass read back for the mean and maximum.
    let embed_pooled = pool(1)?.install(|| {
        let history: Vec<u32> = (0..EMBED_LEN).map(|_| rng.random_range(3..config.vocab_size as u32)).collect();
        let contexts = [model::embedding::Context::from_tokens(history)];
        let mut times = Vec::new();
        for _ in 0..=REPEATS {
            let started = Instant::now();
            let _ = model::embedding::embed(&m, &contexts, model::embedding::Pooling::LastMeanMax, &device);
            times.push(started.elapsed().as_secs_f64());
        }
        median(times[1..].to_vec())
    });
    let tokenizer = generation_vocabulary(config.vocab_size)?;
    let generate_s = pool(threads)?.install(|| {
        let prompt = model::embedding::Context::from_tokens(
            (0..GEN_PROMPT).map(|_| rng.random_range(3..config.vocab_size as u32)).collect(),
        );
        let sampling = Sampling {
            max_new_tokens: GEN_TOKENS,
            max_seq_len: GEN_PROMPT + GEN_TOKENS,
            seed: 1,
            ..Default::default()
        };
        let mut times = Vec::new();
        for _ in 0..REPEATS {
            let started = Instant::now();
            let _ = generate(&m, &tokenizer, &prompt, 0, GEN_N, &sampling, &device);
            times.push(started.elapsed().as_secs_f64());
        }
        median(times)
    });
    // The hidden states only: no output head.
    let embed_flops =
        2.0 * (config.non_embedding_parameters() - config.vocab_size * config.d_model) as f64 * EMBED_LEN as f64
            + 4.0 * (config.n_layers * config.d_model * EMBED_LEN * EMBED_LEN) as f64 / 2.0;
    Ok(Figures {
        train_tokens_per_s: train,
        train_gflops: train * config.train_flops_per_token(t) / 1e9,
        train_peak_rss_mb: train_rss,
        embed_ms: embed * 1000.0,
        embed_gflops: embed_flops / embed / 1e9,
        embed_pooled_ms: embed_pooled * 1000.0,
        generate_s,
        generate_tokens_per_s: (GEN_N * GEN_TOKENS) as f64 / generate_s,
    })
}

/// A tokenizer whose vocabulary has the benchmark's size (the model samples any token; only its
/// grammar tables are used). Fitted on a synthetic timeline with one code per slot.
fn generation_vocabulary(size: usize) -> Result<tokenizer::Tokenizer> {
    let mut codes = meds::CodeTable::new();
    let mut t = meds::Timeline::new(1);
    let structural = 3 + 10 + tokenizer::intervals::LADDER.len() + 19 + 1;
    for i in 0..size.saturating_sub(structural) {
        let c = codes.intern(&format!("BENCH/{i:05}"));
        for k in 0..5 {
            t.push(Some((i * 5 + k) as i64), c, None, None);
        }
    }
    Ok(tokenizer::Tokenizer::fit([&t], &codes, tokenizer::TokenizerConfig::default())?)
}

fn theirs(python: &Path, config: &ModelConfig, steps: usize, threads: usize) -> Result<Value> {
    let dir = tempfile::tempdir()?;
    outputs::atomic::write(
        &dir.path().join("bench_torch.py"),
        outputs::atomic::Access::Shared,
        TORCH_SCRIPT.as_bytes(),
    )?;
    outputs::atomic::write(
        &dir.path().join("longitude_model.py"),
        outputs::atomic::Access::Shared,
        REFERENCE_MODEL.as_bytes(),
    )?;
    let device = Default::default();
    Cpu::seed(&device, 0);
    let m: Model<Cpu> = config.init(&device);
    let weights = dir.path().join("model.safetensors");
    model::weights::save(&m, config, &weights)?;
    let args = json!({
        "batch": BATCH, "seq_len": config.max_seq_len, "train_steps": steps, "warmup": 2,
        "train_threads": threads, "embed_len": EMBED_LEN, "embed_threads": 1, "gen_n": GEN_N,
        "gen_prompt": GEN_PROMPT, "gen_tokens": GEN_TOKENS, "gen_threads": threads, "repeats": REPEATS,
    });
    let out = Command::new(python)
        .arg(dir.path().join("bench_torch.py"))
        .arg(&weights)
        .arg(args.to_string())
        .output()
        .with_context(|| format!("cannot run {}", python.display()))?;
    anyhow::ensure!(out.status.success(), "the PyTorch reference failed: {}", String::from_utf8_lossy(&out.stderr));
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// Fused multiply-adds of one core at full speed: twelve independent vector accumulators (more
/// than the FMA latency times the FMA units), in the widest instruction set the core has,
/// through pulp's safe dispatch. Returns GFLOP/s (two per multiply-add per lane).
fn core_peak_gflops() -> f64 {
    struct Peak(u64);
    impl pulp::WithSimd for Peak {
        type Output = (f32, usize);
        #[inline(always)]
        fn with_simd<S: pulp::Simd>(self, simd: S) -> (f32, usize) {
            let (a, b) = (simd.splat_f32s(1.000_000_1), simd.splat_f32s(0.999_999_9));
            let mut acc = [simd.splat_f32s(0.0); 12];
            for _ in 0..self.0 {
                for x in &mut acc {
                    *x = simd.mul_add_f32s(*x, a, b);
                }
            }
            let sum = acc.iter().fold(simd.splat_f32s(0.0), |s, &x| simd.add_f32s(s, x));
            (simd.reduce_sum_f32s(sum), S::F32_LANES)
        }
    }
    let iters = 50_000_000u64;
    (0..3)
        .map(|_| {
            let started = Instant::now();
            let (checksum, lanes) = pulp::Arch::new().dispatch(Peak(iters));
            std::hint::black_box(checksum);
            (iters * 12 * lanes as u64 * 2) as f64 / started.elapsed().as_secs_f64() / 1e9
        })
        .fold(0.0, f64::max)
}

/// One measure across rounds: each side's median, and the median and range of the rounds'
/// ratios (ours over theirs for rates, theirs over ours for times).
fn row(ours: &[f64], theirs: &[Option<f64>], higher_is_better: bool, digits: usize) -> [String; 3] {
    let ratios: Vec<f64> =
        ours.iter().zip(theirs).filter_map(|(&o, t)| t.map(|t| if higher_is_better { o / t } else { t / o })).collect();
    let theirs: Vec<f64> = theirs.iter().flatten().copied().collect();
    let ratio = match ratios.len() {
        0 => "—".to_owned(),
        1 => format!("{:.2}×", ratios[0]),
        _ => {
            let (lo, hi) = ratios.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &r| (lo.min(r), hi.max(r)));
            format!("{:.2}× ({lo:.2}–{hi:.2})", median(ratios))
        }
    };
    let side = |xs: Vec<f64>| if xs.is_empty() { "—".to_owned() } else { format!("{:.digits$}", median(xs)) };
    [side(ours.to_vec()), side(theirs), ratio]
}

pub fn run(python: Option<&Path>, vocab: usize, steps: usize, rounds: usize, json_out: Option<&Path>) -> Result<()> {
    let config = ModelConfig::small(vocab);
    let threads = rayon::current_num_threads();
    let rounds = rounds.max(1);
    outln!(
        "model benchmark: `small` ({} parameters: d {}, {} layers, {} heads, SwiGLU {}), vocabulary {vocab}, {threads} threads, {rounds} rounds\n",
        config.parameters(),
        config.d_model,
        config.n_layers,
        config.n_heads,
        config.d_ff
    );
    let (mut us, mut reference) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        // PyTorch first, in its own process; ours after it in each round.
        if let Some(p) = python {
            reference.push(theirs(p, &config, steps, threads)?);
        }
        us.push(ours(&config, steps, threads)?);
        tracing::info!(round, rounds, "model benchmark round done");
    }
    let pick = |f: fn(&Figures) -> f64| us.iter().map(f).collect::<Vec<f64>>();
    let theirs_of = |k: &str| -> Vec<Option<f64>> {
        if reference.is_empty() { vec![None; us.len()] } else { reference.iter().map(|v| v[k].as_f64()).collect() }
    };
    outln!("| measure | Longitude (burn Flex) | PyTorch reference | ours vs PyTorch (range over rounds) |");
    outln!("| --- | ---: | ---: | ---: |");
    let [o, t, r] = row(&pick(|f| f.train_tokens_per_s), &theirs_of("train_tokens_per_s"), true, 0);
    outln!("| training tokens/s (batch {BATCH} × {}, AdamW) | {o} | {t} | {r} |", config.max_seq_len - 1);
    let [o, t, _] = row(&pick(|f| f.train_peak_rss_mb), &theirs_of("train_peak_rss_mb"), false, 0);
    outln!("| training peak RSS, MB | {o} | {t} | |");
    let [o, t, r] = row(&pick(|f| f.embed_ms), &theirs_of("embed_ms"), false, 1);
    outln!("| embed a {EMBED_LEN}-token history, 1 thread, ms | {o} | {t} | {r} |");
    let [o, _, _] = row(&pick(|f| f.embed_pooled_ms), &vec![None; us.len()], false, 1);
    outln!("| the same, read as the probe's last + mean + max embedding, ms | {o} | | |");
    let [o, t, r] = row(&pick(|f| f.generate_s), &theirs_of("generate_s"), false, 2);
    outln!("| generate {GEN_N} × {GEN_TOKENS} tokens (KV cache), {threads} threads, s | {o} | {t} | {r} |");
    let peak = core_peak_gflops();
    let (train, embed) = (median(pick(|f| f.train_gflops)), median(pick(|f| f.embed_gflops)));
    outln!(
        "\nachieved (medians, model FLOPs as PaLM counts them): training {train:.1} GFLOP/s on {threads} threads \
         ({:.0}% of their peak), embedding {embed:.1} GFLOP/s on 1 thread ({:.0}% of its peak); one core's peak, \
         measured: {peak:.1} GFLOP/s of fused multiply-adds",
        100.0 * train / (peak * threads as f64),
        100.0 * embed / peak
    );
    if let Some(path) = json_out {
        outputs::atomic::write_json(path, &json!({ "rounds": { "ours": us, "pytorch": reference } }))?;
    }
    Ok(())
}
