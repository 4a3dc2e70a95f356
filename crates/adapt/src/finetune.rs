//! `fm_finetune`: the foundation model fine-tuned for one task — the probe's head on the
//! embedding at the prediction time, then the head and the whole transformer trained together on
//! the task's training examples ([`model::finetune`]), the epoch kept chosen by tuning AUROC
//! (epoch 0, the probe itself, included: fine-tuning is used where it helps).
//!
//! Training runs on a [`case_control`](crate::case_control) sample of train, so the head starts
//! from the probe shifted by the sample's log-odds shift and is shifted back after training:
//! probabilities keep the population's scale. The kept epoch is then recalibrated as far as
//! tuning calls for ([`recalibration::closed_test`](crate::recalibration::closed_test), as the probe is).
//!
//! The fitted body is a full set of weights (`ADAPT/<task>/fm_finetune.safetensors`, the bundle's
//! tokenizer unchanged) and the head travels in the task-model file, so a receiving site scores
//! it as it scores the probe.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Instant;

use meds::{CodeTable, Timeline};
use model::Cpu;
use model::embedding::{Context, Pooling};
use model::finetune::{Classifier, Epoch, FineTuneConfig, fine_tune};

use crate::baselines::{Example, Fitted, auroc, predictions};
use crate::case_control::{TrainSample, case_control};
use crate::foundation::{Foundation, FoundationError};
use crate::logistic::Logistic;
use crate::recalibration::ClosedTest;
use crate::scorer::{Fitting, TaskModel};

/// The weights file of a fine-tuned body, beside the task-model file.
pub const WEIGHTS_FILE: &str = "fm_finetune.safetensors";

/// A fine-tuning run: the held-out predictions and task model, the classifier to save, and the
/// epochs it went through.
#[derive(Debug)]
pub struct FineTuneRun {
    /// `fm_finetune`'s held-out predictions and task model.
    pub fitted: Fitted,
    /// The kept classifier (its body is saved as [`WEIGHTS_FILE`]).
    pub classifier: Classifier<Cpu>,
    /// Every epoch's training loss and tuning AUROC, epoch 0 (the probe) first.
    pub epochs: Vec<Epoch>,
    /// The epoch kept.
    pub best_epoch: usize,
    /// The train sample fine-tuned on.
    pub sample: TrainSample,
}

/// Fine-tunes `foundation` for the task of `examples` (train, tuning and held-out), starting the
/// head from the fitted `probe` (on the embedding `pooling` reads), on a
/// [`case_control`](crate::case_control) sample of at most `train_max` train examples.
/// `progress(done, total)` counts optimizer steps.
#[allow(clippy::too_many_arguments)]
pub fn fit_fine_tuned(
    foundation: &Foundation,
    timelines: &[&Timeline],
    codes: &CodeTable,
    examples: &[Example],
    probe: &Logistic,
    pooling: Pooling,
    train_max: usize,
    config: &FineTuneConfig,
    progress: impl FnMut(usize, usize),
) -> Result<FineTuneRun, FoundationError> {
    let started = Instant::now();
    let (kept, sample) = case_control(examples, train_max, config.seed);
    let examples: Vec<&Example> =
        kept.iter().map(|&i| &examples[i]).chain(examples.iter().filter(|e| e.split != "train")).collect();
    let requests: Vec<(i64, i64)> = examples.iter().map(|e| (e.label.subject_id, e.label.prediction_time)).collect();
    let contexts: HashMap<(i64, i64), Context> = foundation.contexts(timelines, codes, &requests);
    let split = |name: &str| -> Vec<(Context, &Example)> {
        examples
            .iter()
            .filter(|e| e.split == name)
            .filter_map(|e| Some((contexts.get(&(e.label.subject_id, e.label.prediction_time))?.clone(), *e)))
            .collect()
    };
    let (train, tuning, held_out) = (split("train"), split("tuning"), split("held_out"));
    let train: Vec<(Context, bool)> = train.into_iter().map(|(c, e)| (c, e.label.value)).collect();
    let tuning_contexts: Vec<Context> = tuning.iter().map(|(c, _)| c.clone()).collect();
    let tuning_labels: Vec<bool> = tuning.iter().map(|(_, e)| e.label.value).collect();

    let (weights, bias) = probe.coefficients();
    let weights: Vec<f32> = weights.iter().map(|&w| w as f32).collect();
    let device = Default::default();
    let shift = sample.log_odds_shift as f32;
    let start = Classifier::new(foundation.trainable()?, pooling, &weights, bias as f32 + shift, &device);
    // Every epoch's tuning probabilities, kept to recalibrate the epoch that is kept.
    let scored: RefCell<Vec<Vec<f64>>> = RefCell::new(Vec::new());
    let criterion = |p: &[f32]| {
        let p: Vec<f64> = p.iter().map(|&x| f64::from(x)).collect();
        let a = auroc(&p, &tuning_labels).unwrap_or(f64::NAN);
        scored.borrow_mut().push(p);
        a
    };
    let tuned = fine_tune(start, &train, &tuning_contexts, criterion, config, &device, progress);
    // Back to the population's scale (the ranking, and so every AUROC above, is unchanged), then
    // recalibrated as far as tuning calls for: fine-tuning can sharpen the head's log-odds well
    // past what the ranking earns (held-out calibration slope 0.45 on CKD 3+ without a map).
    let tuning_log_odds: Vec<f64> = scored
        .into_inner()
        .get(tuned.best_epoch)
        .map(|p| p.iter().map(|&p| eval::logit(p) - f64::from(shift)).collect())
        .unwrap_or_default();
    let recalibration = crate::recalibration::closed_test(&tuning_log_odds, &tuning_labels);
    let classifier = tuned.classifier.shift_bias(-shift);
    let classifier = match recalibration.as_ref().and_then(ClosedTest::kept) {
        Some(map) => classifier.map_log_odds(map.slope as f32, map.intercept as f32),
        None => classifier,
    };

    let held_contexts: Vec<Context> = held_out.iter().map(|(c, _)| c.clone()).collect();
    let probability: Vec<f64> = classifier.predict(&held_contexts, 32, &device).into_iter().map(f64::from).collect();
    let held: Vec<&Example> = held_out.iter().map(|(_, e)| *e).collect();
    let (head, bias) = classifier.head_parameters();
    let mut task_model =
        TaskModel::new("", "fm_finetune", Fitting::FineTuned { weights: WEIGHTS_FILE.into(), head, bias, pooling });
    task_model.fitted_on.insert("best_epoch".into(), tuned.best_epoch.into());
    task_model.fitted_on.insert("epochs".into(), serde_json::to_value(&tuned.epochs).unwrap_or_default());
    task_model.fitted_on.insert("config".into(), serde_json::to_value(config).unwrap_or_default());
    task_model.fitted_on.insert("train_sample".into(), serde_json::to_value(&sample).unwrap_or_default());
    let fitted = Fitted {
        method: "fm_finetune".into(),
        predictions: predictions(&held, &probability),
        lambda: None,
        tuning_auroc: tuned.epochs.get(tuned.best_epoch).map(|e| e.tuning).filter(|a| a.is_finite()),
        seconds: started.elapsed().as_secs_f64(),
        recalibration,
        model: Some(task_model),
    };
    Ok(FineTuneRun { fitted, classifier, epochs: tuned.epochs, best_epoch: tuned.best_epoch, sample })
}
