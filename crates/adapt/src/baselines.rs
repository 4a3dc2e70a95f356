//! The baselines, end to end: features at every labelled prediction time, each model fitted on
//! the train split with its regularisation chosen on the tuning split (AUROC), predictions for
//! the held-out split in the meds-evaluation schema.
//!
//! - `demographics_lr`: age and static codes (sex, race, ethnicity) only — the floor.
//! - `counts_lr`: MEDS-Tab-style count features + L2 logistic regression.
//! - `counts_gbm`: the same features + gradient-boosted trees.

use std::collections::HashMap;
use std::time::Instant;

use meds::labels::{BooleanLabel, BooleanPrediction};
use meds::{CodeTable, Timeline};
use rayon::prelude::*;
use serde::Serialize;

use crate::featurizers::{Featurizer, SparseRow};
use crate::gbm::{Gbm, GbmError};
use crate::logistic::Logistic;

/// L2 strengths tried for logistic regression.
pub const LAMBDAS: [f64; 5] = [1e-4, 1e-3, 1e-2, 1e-1, 1.0];

/// A labelled prediction time with its features.
#[derive(Debug, Clone)]
pub struct Example {
    /// The label.
    pub label: BooleanLabel,
    /// `train`, `tuning`, `held_out` (or another split name).
    pub split: String,
    /// Features at the prediction time.
    pub row: SparseRow,
}

/// Features for every label whose subject is in `timelines`; the featurizer is fitted on the
/// timelines of `train` subjects. Labels of subjects without a timeline or split are dropped
/// (and counted by the caller).
pub fn featurize(
    timelines: &[Timeline],
    codes: &CodeTable,
    splits: &HashMap<i64, String>,
    labels: &[BooleanLabel],
    min_subjects: usize,
) -> (Featurizer, Vec<Example>) {
    let train: Vec<&Timeline> =
        timelines.iter().filter(|t| splits.get(&t.subject_id).is_some_and(|s| s == "train")).collect();
    let featurizer = Featurizer::fit(&train, codes, min_subjects);
    let by_subject: HashMap<i64, &Timeline> = timelines.iter().map(|t| (t.subject_id, t)).collect();
    let mut per_subject: HashMap<i64, Vec<&BooleanLabel>> = HashMap::new();
    for l in labels {
        per_subject.entry(l.subject_id).or_default().push(l);
    }
    let mut subjects: Vec<(i64, Vec<&BooleanLabel>)> = per_subject.into_iter().collect();
    subjects.sort_by_key(|(s, _)| *s);
    let examples: Vec<Example> = subjects
        .par_iter()
        .flat_map_iter(|(s, ls)| {
            let (Some(t), Some(split)) = (by_subject.get(s), splits.get(s)) else { return Vec::new() };
            let times: Vec<i64> = ls.iter().map(|l| l.prediction_time).collect();
            let rows = featurizer.featurize(t, codes, &times);
            ls.iter().zip(rows).map(|(l, row)| Example { label: **l, split: split.clone(), row }).collect()
        })
        .collect();
    (featurizer, examples)
}

/// One baseline's held-out predictions and how it was fitted.
#[derive(Debug, Clone, Serialize)]
pub struct Fitted {
    /// `demographics_lr`, `counts_lr` or `counts_gbm`.
    pub method: String,
    /// Held-out predictions.
    #[serde(skip)]
    pub predictions: Vec<BooleanPrediction>,
    /// The regularisation chosen (logistic regression).
    pub lambda: Option<f64>,
    /// Tuning-split AUROC of the chosen model.
    pub tuning_auroc: Option<f64>,
    /// Seconds to fit (including the search).
    pub seconds: f64,
}

/// What [`fit_baselines`] returns: the fitted methods and the split sizes.
#[derive(Debug, Clone, Serialize)]
pub struct BaselineRun {
    /// Examples per split.
    pub examples: HashMap<String, usize>,
    /// Positives per split.
    pub positives: HashMap<String, usize>,
    /// Features.
    pub features: usize,
    /// The methods.
    pub methods: Vec<Fitted>,
}

fn auroc(p: &[f64], y: &[bool]) -> Option<f64> {
    eval::Ranked::new(p, y).metrics(None).auroc
}

fn restrict(rows: &[&SparseRow], keep: &[u32]) -> Vec<SparseRow> {
    rows.iter().map(|r| r.iter().filter(|(j, _)| keep.binary_search(j).is_ok()).copied().collect()).collect()
}

fn predictions(examples: &[&Example], probability: &[f64]) -> Vec<BooleanPrediction> {
    examples
        .iter()
        .zip(probability)
        .map(|(e, &p)| BooleanPrediction { label: e.label, predicted_value: p >= 0.5, probability: p as f32 })
        .collect()
}

/// Logistic regression with λ chosen on tuning AUROC; returns (model, λ, tuning AUROC).
pub fn tuned_logistic(
    train: (&[&SparseRow], &[bool]),
    tuning: (&[&SparseRow], &[bool]),
    width: usize,
) -> (Logistic, Option<f64>) {
    let fits: Vec<(Logistic, Option<f64>)> = LAMBDAS
        .par_iter()
        .map(|&lambda| {
            let m = Logistic::fit(train.0, train.1, width, lambda);
            let a = auroc(&m.predict(tuning.0), tuning.1);
            (m, a)
        })
        .collect();
    // Best tuning AUROC; ties (and undefined AUROC) go to the stronger penalty.
    let mut best = 0;
    for (i, (_, a)) in fits.iter().enumerate() {
        if a.unwrap_or(f64::MIN) > fits[best].1.unwrap_or(f64::MIN) {
            best = i;
        }
    }
    if fits.iter().all(|(_, a)| a.is_none()) {
        best = fits.len() - 1;
    }
    fits.into_iter().nth(best).unwrap_or_else(|| (Logistic::fit(train.0, train.1, width, 1.0), None))
}

/// Fits the three baselines and predicts the held-out examples.
pub fn fit_baselines(featurizer: &Featurizer, examples: &[Example], seed: u64) -> Result<BaselineRun, GbmError> {
    let of = |split: &str| examples.iter().filter(|e| e.split == split).collect::<Vec<&Example>>();
    let (train, tuning, held_out) = (of("train"), of("tuning"), of("held_out"));
    fn rows<'a>(es: &[&'a Example]) -> Vec<&'a SparseRow> {
        es.iter().map(|e| &e.row).collect()
    }
    let ys = |es: &[&Example]| es.iter().map(|e| e.label.value).collect::<Vec<bool>>();
    let (xtr, ytr, xtu, ytu, xho) = (rows(&train), ys(&train), rows(&tuning), ys(&tuning), rows(&held_out));
    let width = featurizer.width();
    let mut methods = Vec::new();

    let started = Instant::now();
    let demo = featurizer.demographic_features();
    let (dtr, dtu, dho) = (restrict(&xtr, &demo), restrict(&xtu, &demo), restrict(&xho, &demo));
    fn r(v: &[SparseRow]) -> Vec<&SparseRow> {
        v.iter().collect()
    }
    let (m, a) = tuned_logistic((&r(&dtr), &ytr), (&r(&dtu), &ytu), width);
    methods.push(Fitted {
        method: "demographics_lr".into(),
        predictions: predictions(&held_out, &m.predict(&r(&dho))),
        lambda: Some(m.lambda),
        tuning_auroc: a,
        seconds: started.elapsed().as_secs_f64(),
    });

    let started = Instant::now();
    let (m, a) = tuned_logistic((&xtr, &ytr), (&xtu, &ytu), width);
    methods.push(Fitted {
        method: "counts_lr".into(),
        predictions: predictions(&held_out, &m.predict(&xho)),
        lambda: Some(m.lambda),
        tuning_auroc: a,
        seconds: started.elapsed().as_secs_f64(),
    });

    let started = Instant::now();
    let g = Gbm::fit((&xtr, &ytr), (&xtu, &ytu), &featurizer.defaults(), seed)?;
    methods.push(Fitted {
        method: "counts_gbm".into(),
        predictions: predictions(&held_out, &g.predict(&xho)),
        lambda: None,
        tuning_auroc: auroc(&g.predict(&xtu), &ytu),
        seconds: started.elapsed().as_secs_f64(),
    });

    let count = |es: &[&Example]| es.len();
    let pos = |es: &[&Example]| es.iter().filter(|e| e.label.value).count();
    Ok(BaselineRun {
        examples: [("train", count(&train)), ("tuning", count(&tuning)), ("held_out", count(&held_out))]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        positives: [("train", pos(&train)), ("tuning", pos(&tuning)), ("held_out", pos(&held_out))]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        features: width,
        methods,
    })
}
