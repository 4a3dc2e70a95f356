//! Fine-tuning: the classifier learns a task its starting head cannot see, keeps the best epoch
//! on tuning data (the starting point included), and padding never changes a context's score.

use burn::tensor::backend::Backend;
use model::embedding::{Context, Pooling};
use model::finetune::{Classifier, FineTuneConfig, fine_tune};
use model::{Cpu, CpuTrain, ModelConfig};

/// Rank-based AUROC (ties count half).
fn auroc(scores: &[f32], labels: &[bool]) -> f64 {
    let (mut wins, mut pairs) = (0.0, 0.0);
    for (i, &a) in scores.iter().enumerate() {
        for (j, &b) in scores.iter().enumerate() {
            if labels[i] && !labels[j] {
                pairs += 1.0;
                wins += if a > b {
                    1.0
                } else if a == b {
                    0.5
                } else {
                    0.0
                };
            }
        }
    }
    wins / pairs
}

/// Contexts of 6–20 tokens drawn from 4..40; the label is whether token 3 occurs — anywhere, so
/// the model has to carry it to the last position through attention.
fn examples(n: usize, seed: u64) -> Vec<(Context, bool)> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..n)
        .map(|i| {
            let len = 6 + (next() % 15) as usize;
            let mut c: Vec<u32> = (0..len).map(|_| 4 + (next() % 36) as u32).collect();
            let positive = i % 2 == 0;
            if positive {
                let at = (next() as usize) % (len - 1);
                c[at] = 3;
            }
            (Context::from_tokens(c), positive)
        })
        .collect()
}

#[test]
fn fine_tuning_learns_what_the_starting_head_cannot_and_keeps_the_best_epoch() {
    let device = Default::default();
    CpuTrain::seed(&device, 5);
    let body = ModelConfig::tiny(40).init::<CpuTrain>(&device);
    let d = body.embed.weight.dims()[1];
    let start = Classifier::new(body, Pooling::Last, &vec![0.0; d], 0.0, &device);
    let train = examples(320, 1);
    let tuning = examples(48, 2);
    let tuning_contexts: Vec<Context> = tuning.iter().map(|(c, _)| c.clone()).collect();
    let tuning_labels: Vec<bool> = tuning.iter().map(|(_, y)| *y).collect();
    let config = FineTuneConfig { epochs: 8, batch_size: 16, lr: 3e-3, ..FineTuneConfig::default() };
    let mut steps = 0;
    let tuned = fine_tune(
        start,
        &train,
        &tuning_contexts,
        |p| auroc(p, &tuning_labels),
        &config,
        &device,
        |done, _| steps = done,
    );
    assert_eq!(steps, 8 * 20, "every batch of every epoch is a step");
    assert_eq!(tuned.epochs.len(), 9);
    assert!((tuned.epochs[0].tuning - 0.5).abs() < 1e-9, "a zero head scores every context alike");
    let best = &tuned.epochs[tuned.best_epoch];
    assert!(tuned.epochs.iter().all(|e| e.tuning <= best.tuning), "the best epoch is kept");
    assert!(best.tuning > 0.85, "tuning AUROC after fine-tuning: {:?}", tuned.epochs);
    // The kept classifier is the one that scored best: scoring it again gives the same figure.
    let again = auroc(&tuned.classifier.predict(&tuning_contexts, 32, &device), &tuning_labels);
    assert!((again - best.tuning).abs() < 1e-9, "{again} vs {}", best.tuning);
    // Held-out examples it never saw.
    let held_out = examples(64, 3);
    let contexts: Vec<Context> = held_out.iter().map(|(c, _)| c.clone()).collect();
    let labels: Vec<bool> = held_out.iter().map(|(_, y)| *y).collect();
    let held = auroc(&tuned.classifier.predict(&contexts, 32, &device), &labels);
    assert!(held > 0.8, "held-out AUROC {held}");
}

#[test]
fn a_context_scores_the_same_alone_or_padded_in_a_batch() {
    let device = Default::default();
    for pooling in [Pooling::Last, Pooling::LastAndMean, Pooling::LastMeanMax] {
        Cpu::seed(&device, 6);
        let body = ModelConfig::tiny(40).init::<Cpu>(&device);
        let d = pooling.width(body.embed.weight.dims()[1]);
        let head: Vec<f32> = (0..d).map(|i| ((i * 7) % 11) as f32 / 10.0 - 0.5).collect();
        let classifier = Classifier::new(body, pooling, &head, 0.3, &device);
        let contexts: Vec<Context> = examples(10, 4).into_iter().map(|(c, _)| c).collect();
        let batched = classifier.predict(&contexts, 10, &device);
        for (c, p) in contexts.iter().zip(&batched) {
            let alone = classifier.predict(std::slice::from_ref(c), 1, &device)[0];
            assert!((alone - p).abs() < 1e-5, "{pooling:?}: {alone} alone vs {p} in a batch");
        }
        assert!(batched.iter().any(|&p| (p - batched[0]).abs() > 1e-4), "scores depend on the context");
    }
}

/// A recalibration folded into the head moves every context's log-odds by the same affine map,
/// and the head's parameters (what a task-model file carries) say so.
#[test]
fn a_log_odds_map_folded_into_the_head_maps_every_score() {
    let device = Default::default();
    Cpu::seed(&device, 7);
    let body = ModelConfig::tiny(40).init::<Cpu>(&device);
    let d = Pooling::LastAndMean.width(body.embed.weight.dims()[1]);
    let head: Vec<f32> = (0..d).map(|i| ((i * 5) % 13) as f32 / 10.0 - 0.6).collect();
    let classifier = Classifier::new(body, Pooling::LastAndMean, &head, -0.2, &device);
    let contexts: Vec<Context> = examples(12, 8).into_iter().map(|(c, _)| c).collect();
    let logit = |p: f32| (p / (1.0 - p)).ln();
    let before: Vec<f32> = classifier.predict(&contexts, 12, &device).into_iter().map(logit).collect();
    let mapped = classifier.map_log_odds(0.7, 0.4);
    let after: Vec<f32> = mapped.predict(&contexts, 12, &device).into_iter().map(logit).collect();
    for (b, a) in before.iter().zip(&after) {
        assert!((0.7 * b + 0.4 - a).abs() < 1e-3, "{b} mapped to {a}");
    }
    let (w, bias) = mapped.head_parameters();
    assert!((bias - (0.7 * -0.2 + 0.4)).abs() < 1e-6, "bias {bias}");
    assert!(w.iter().zip(&head).all(|(w, h)| (w - 0.7 * h).abs() < 1e-6));
}
