//! The baselines, end to end: features at every labelled prediction time, each model fitted on
//! the train split with its regularisation chosen on the tuning split (log-loss for the
//! regressions, early stopping for the trees), predictions for the held-out split in the
//! meds-evaluation schema.
//!
//! - `demographics_lr`: age and static codes (sex, race, ethnicity) only — the floor.
//! - `counts_lr`: MEDS-Tab-style count features + L2 logistic regression.
//! - `counts_gbm`: the same features + gradient-boosted trees.

use std::collections::HashMap;
use std::time::Instant;

use meds::labels::{BooleanLabel, BooleanPrediction};
use meds::{CodeTable, Timeline};
use model::embedding::Pooling;
use rayon::prelude::*;

use crate::featurizers::{Featurizer, SparseRow};
use crate::gbm::{Gbm, GbmError};
use crate::logistic::Logistic;
use crate::recalibration::ClosedTest;
use crate::scorer::{Fitting, TaskModel};

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
#[derive(Debug, Clone)]
pub struct Fitted {
    /// `demographics_lr`, `counts_lr` or `counts_gbm`.
    pub method: String,
    /// Held-out predictions.
    pub predictions: Vec<BooleanPrediction>,
    /// The regularisation chosen (logistic regression).
    pub lambda: Option<f64>,
    /// Tuning-split AUROC of the chosen model.
    pub tuning_auroc: Option<f64>,
    /// Seconds to fit (including the search).
    pub seconds: f64,
    /// The recalibration tested on tuning after the model (the probe, the fine-tuned head): what
    /// was kept and why; none where tuning had too few positives to test.
    pub recalibration: Option<ClosedTest>,
    /// The fitted model, to save for scoring elsewhere (none for the oracle and zero-shot).
    pub model: Option<TaskModel>,
}

impl Fitted {
    /// What the adapt report records of the fit.
    pub fn summary(&self) -> artifacts::adapt_report::MethodFit {
        artifacts::adapt_report::MethodFit {
            method: self.method.clone(),
            lambda: self.lambda,
            tuning_auroc: self.tuning_auroc,
            seconds: self.seconds,
            recalibration: self.recalibration,
        }
    }
}

/// The foundation model's linear probe: L2 logistic regression on the embedding at each
/// prediction time, λ chosen on tuning log-loss, then recalibrated as far as tuning calls for
/// ([`recalibration::closed_test`](crate::recalibration::closed_test)) where it has enough positives. `embeddings` gives each example's vector (same
/// order as `examples`). When the train examples are a [`case_control`](crate::case_control)
/// sample, `log_odds_shift` is its [`TrainSample::log_odds_shift`](crate::case_control::TrainSample)
/// (0 for all of train): the probe is shifted back by it before it scores tuning or held-out.
pub fn fit_probe(
    examples: &[Example],
    embeddings: &[SparseRow],
    width: usize,
    pooling: Pooling,
    log_odds_shift: f64,
) -> Fitted {
    let started = Instant::now();
    let idx = |split: &str| (0..examples.len()).filter(|&i| examples[i].split == split).collect::<Vec<usize>>();
    let (train, tuning, held_out) = (idx("train"), idx("tuning"), idx("held_out"));
    let rows = |ix: &[usize]| ix.iter().map(|&i| &embeddings[i]).collect::<Vec<&SparseRow>>();
    let ys = |ix: &[usize]| ix.iter().map(|&i| examples[i].label.value).collect::<Vec<bool>>();
    let (m, a) =
        tuned_sampled_logistic((&rows(&train), &ys(&train)), (&rows(&tuning), &ys(&tuning)), width, log_odds_shift);
    let recalibration = crate::recalibration::closed_test(&m.log_odds(&rows(&tuning)), &ys(&tuning));
    let m = match recalibration.as_ref().and_then(ClosedTest::kept) {
        Some(map) => m.map_log_odds(map.slope, map.intercept),
        None => m,
    };
    let ho: Vec<&Example> = held_out.iter().map(|&i| &examples[i]).collect();
    Fitted {
        method: "fm_probe".into(),
        predictions: predictions(&ho, &m.predict(&rows(&held_out))),
        lambda: Some(m.lambda),
        tuning_auroc: a,
        seconds: started.elapsed().as_secs_f64(),
        recalibration,
        model: Some(TaskModel::new("", "fm_probe", Fitting::Probe { model: m, pooling })),
    }
}

pub use crate::featurizers::dense_row;
use crate::featurizers::restrict;

/// Examples per class in the few-shot curves (EHRSHOT's), then all of train.
pub const SHOTS: [usize; 8] = [1, 2, 4, 8, 16, 32, 64, 128];

pub use artifacts::adapt_report::{FewShotCurve, FewShotPoint};

/// How a few-shot model is fitted: rows of train (subset), the full tuning split, and the rows to
/// predict; returns held-out probabilities (`None` if the model could not be fitted).
pub type FitFn<'a> =
    dyn Fn(&[&SparseRow], &[bool], &[&SparseRow], &[bool], &[&SparseRow]) -> Option<Vec<f64>> + Sync + 'a;

/// Few-shot curve: for each k, `replicates` draws of k positives and k negatives from train
/// (seeded), fitted by `fit` (tuning on the full tuning split, as EHRSHOT does), scored by
/// held-out AUROC; then all of train.
pub fn few_shot(
    method: &str,
    examples: &[Example],
    rows: &[SparseRow],
    fit: &FitFn<'_>,
    replicates: usize,
    seed: u64,
) -> FewShotCurve {
    use rand::SeedableRng;
    use rand::rngs::ChaCha8Rng;
    use rand::seq::SliceRandom;
    let idx = |split: &str| (0..examples.len()).filter(|&i| examples[i].split == split).collect::<Vec<usize>>();
    let (train, tuning, held_out) = (idx("train"), idx("tuning"), idx("held_out"));
    let r = |ix: &[usize]| ix.iter().map(|&i| &rows[i]).collect::<Vec<&SparseRow>>();
    let y = |ix: &[usize]| ix.iter().map(|&i| examples[i].label.value).collect::<Vec<bool>>();
    let (pos, neg): (Vec<usize>, Vec<usize>) = train.iter().partition(|&&i| examples[i].label.value);
    let (xt, yt, xh, yh) = (r(&tuning), y(&tuning), r(&held_out), y(&held_out));
    let score = |sub: &[usize]| fit(&r(sub), &y(sub), &xt, &yt, &xh).and_then(|p| auroc(&p, &yh));
    let mut points: Vec<FewShotPoint> = SHOTS
        .iter()
        .filter(|&&k| k <= pos.len() && k <= neg.len())
        .map(|&k| {
            let replicates: Vec<Option<f64>> = (0..replicates)
                .into_par_iter()
                .map(|rep| {
                    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ ((k as u64) << 32) ^ rep as u64);
                    let mut p = pos.clone();
                    let mut n = neg.clone();
                    p.shuffle(&mut rng);
                    n.shuffle(&mut rng);
                    let sub: Vec<usize> = p[..k].iter().chain(&n[..k]).copied().collect();
                    score(&sub)
                })
                .collect();
            let defined: Vec<f64> = replicates.iter().flatten().copied().collect();
            let mean = (!defined.is_empty()).then(|| defined.iter().sum::<f64>() / defined.len() as f64);
            FewShotPoint { k: Some(k), auroc: mean, replicates }
        })
        .collect();
    let all = score(&train);
    points.push(FewShotPoint { k: None, auroc: all, replicates: vec![all] });
    FewShotCurve { method: method.into(), points }
}

/// Logistic regression as a few-shot fitter.
pub fn logistic_fitter(width: usize) -> Box<FitFn<'static>> {
    Box::new(move |x, y, xt, yt, xh| Some(tuned_logistic((x, y), (xt, yt), width).0.predict(xh)))
}

/// Gradient boosting as a few-shot fitter (features' defaults as in [`Gbm::fit`]).
pub fn gbm_fitter(defaults: Vec<f64>, seed: u64) -> Box<FitFn<'static>> {
    Box::new(move |x, y, xt, yt, xh| Gbm::fit((x, y), (xt, yt), &defaults, seed).ok().map(|g| g.predict(xh)))
}

/// What [`fit_baselines`] returns: the fitted methods and the split sizes.
#[derive(Debug, Clone)]
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

impl BaselineRun {
    /// What the adapt report records of the run.
    pub fn summary(&self) -> artifacts::adapt_report::RunSummary {
        artifacts::adapt_report::RunSummary {
            examples: self.examples.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            positives: self.positives.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            features: self.features,
            methods: self.methods.iter().map(Fitted::summary).collect(),
        }
    }
}

pub(crate) fn auroc(p: &[f64], y: &[bool]) -> Option<f64> {
    eval::Ranked::new(p, y).metrics(None).auroc
}

pub(crate) fn predictions(examples: &[&Example], probability: &[f64]) -> Vec<BooleanPrediction> {
    examples
        .iter()
        .zip(probability)
        .map(|(e, &p)| BooleanPrediction { label: e.label, predicted_value: p >= 0.5, probability: p as f32 })
        .collect()
}

/// Mean negative log-likelihood of `p` for labels `y` (probabilities clipped to [1e-7, 1 − 1e-7]).
pub(crate) fn log_loss(p: &[f64], y: &[bool]) -> f64 {
    let n = p.len().max(1) as f64;
    p.iter()
        .zip(y)
        .map(|(&p, &y)| {
            let p = p.clamp(1e-7, 1.0 - 1e-7);
            -(if y { p.ln() } else { (1.0 - p).ln() })
        })
        .sum::<f64>()
        / n
}

/// Logistic regression with λ chosen on tuning log-loss; returns the model and its tuning AUROC.
///
/// Log-loss rather than AUROC: AUROC is blind to the scale of the scores, so on rare tasks every
/// λ ranked the tuning examples about as well and the tie went to the strongest penalty, whose
/// predictions are nearly flat (calibration slopes of 5–17 on the held-out split). Log-loss is a
/// proper scoring rule: it picks the λ whose probabilities are right, ranking included. Ties go to
/// the stronger penalty.
pub fn tuned_logistic(
    train: (&[&SparseRow], &[bool]),
    tuning: (&[&SparseRow], &[bool]),
    width: usize,
) -> (Logistic, Option<f64>) {
    tuned_sampled_logistic(train, tuning, width, 0.0)
}

/// [`tuned_logistic`] for a train split that is a case-control sample raising the log-odds by
/// `log_odds_shift`: each fit is shifted back before it is scored on tuning (whose log-loss must
/// see the population's probabilities), and the model returned is the shifted one.
pub fn tuned_sampled_logistic(
    train: (&[&SparseRow], &[bool]),
    tuning: (&[&SparseRow], &[bool]),
    width: usize,
    log_odds_shift: f64,
) -> (Logistic, Option<f64>) {
    let fits: Vec<(Logistic, f64, Option<f64>)> = LAMBDAS
        .par_iter()
        .map(|&lambda| {
            let m = Logistic::fit(train.0, train.1, width, lambda).shift_log_odds(-log_odds_shift);
            let p = m.predict(tuning.0);
            (m, log_loss(&p, tuning.1), auroc(&p, tuning.1))
        })
        .collect();
    // LAMBDAS increase, so `<=` hands ties to the stronger penalty; an empty tuning split keeps it.
    let mut best = fits.len().saturating_sub(1);
    if !tuning.1.is_empty() {
        for (i, (_, loss, _)) in fits.iter().enumerate() {
            let current = fits[best].1;
            if loss.is_finite() && (!current.is_finite() || *loss <= current) {
                best = i;
            }
        }
    }
    fits.into_iter()
        .nth(best)
        .map(|(m, _, a)| (m, a))
        .unwrap_or_else(|| (Logistic::fit(train.0, train.1, width, 1.0).shift_log_odds(-log_odds_shift), None))
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
        recalibration: None,
        model: Some(TaskModel::new(
            "",
            "demographics_lr",
            Fitting::Logistic { featurizer: featurizer.clone(), columns: Some(demo.clone()), model: m },
        )),
    });

    let started = Instant::now();
    let (m, a) = tuned_logistic((&xtr, &ytr), (&xtu, &ytu), width);
    methods.push(Fitted {
        method: "counts_lr".into(),
        predictions: predictions(&held_out, &m.predict(&xho)),
        lambda: Some(m.lambda),
        tuning_auroc: a,
        seconds: started.elapsed().as_secs_f64(),
        recalibration: None,
        model: Some(TaskModel::new(
            "",
            "counts_lr",
            Fitting::Logistic { featurizer: featurizer.clone(), columns: None, model: m },
        )),
    });

    let started = Instant::now();
    let g = Gbm::fit((&xtr, &ytr), (&xtu, &ytu), &featurizer.defaults(), seed)?;
    methods.push(Fitted {
        method: "counts_gbm".into(),
        predictions: predictions(&held_out, &g.predict(&xho)),
        lambda: None,
        tuning_auroc: auroc(&g.predict(&xtu), &ytu),
        seconds: started.elapsed().as_secs_f64(),
        recalibration: None,
        model: TaskModel::from_gbm("", "counts_gbm", featurizer.clone(), &g).ok(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recalibration::Update;
    use rand::rngs::ChaCha8Rng;
    use rand::{RngExt, SeedableRng};

    /// A rare outcome (about 4%) carried by two of 128 noisy features, 1,500 training examples:
    /// the strongest penalty's probabilities are nearly flat, the weakest's too extreme. The rule
    /// must pick the grid's best tuning log-loss, and that choice must carry to new data: its
    /// held-out log-loss within 2% of the grid's best there.
    #[test]
    fn the_penalty_is_chosen_on_tuning_log_loss_and_carries_to_new_data() {
        const WIDTH: usize = 128;
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut draw = |n: usize| -> (Vec<SparseRow>, Vec<bool>) {
            (0..n)
                .map(|_| {
                    let x: Vec<f32> = (0..WIDTH).map(|_| rng.random_range(-1.0f32..1.0) * 2.0).collect();
                    let logit = -5.0 + 1.5 * f64::from(x[0]) + 1.0 * f64::from(x[1]);
                    let y = rng.random_bool(1.0 / (1.0 + (-logit).exp()));
                    (dense_row(&x), y)
                })
                .unzip()
        };
        let (xtr, ytr) = draw(1500);
        let (xtu, ytu) = draw(3000);
        let (xho, yho) = draw(20000);
        fn refs(x: &[SparseRow]) -> Vec<&SparseRow> {
            x.iter().collect()
        }
        let (m, _) = tuned_logistic((&refs(&xtr), &ytr), (&refs(&xtu), &ytu), WIDTH);
        let grid: Vec<Logistic> = LAMBDAS.iter().map(|&l| Logistic::fit(&refs(&xtr), &ytr, WIDTH, l)).collect();
        let chosen = log_loss(&m.predict(&refs(&xtu)), &ytu);
        for g in &grid {
            let other = log_loss(&g.predict(&refs(&xtu)), &ytu);
            assert!(chosen <= other + 1e-12, "λ {} ({chosen:.5}) lost to λ {} ({other:.5})", m.lambda, g.lambda);
        }
        let held_out = log_loss(&m.predict(&refs(&xho)), &yho);
        let best = grid.iter().map(|g| log_loss(&g.predict(&refs(&xho)), &yho)).fold(f64::MAX, f64::min);
        assert!(
            held_out <= 1.02 * best,
            "held-out log-loss {held_out:.5} at λ {}, the grid's best {best:.5}",
            m.lambda
        );
    }

    /// A probe fitted on a case-control sample of a rare outcome (1 in 60) predicts on the
    /// population's scale once shifted back: the held-out mean probability matches the held-out
    /// rate, where the unshifted fit predicts several times too much. The probe as `fit_probe`
    /// returns it is also tested for recalibration on tuning, which alone brings even an unshifted
    /// fit back (the closed test sees it off in the large and updates its intercept), and must keep
    /// the ranking.
    #[test]
    fn a_probe_on_a_case_control_sample_is_shifted_back_to_the_population() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut examples = Vec::new();
        for (split, n) in [("train", 30_000), ("tuning", 6_000), ("held_out", 30_000)] {
            for i in 0..n {
                let x: Vec<f32> = (0..4).map(|_| rng.random_range(-1.0f32..1.0) * 1.7).collect();
                let logit = -4.6 + 1.2 * f64::from(x[0]) - 0.8 * f64::from(x[1]);
                let value = rng.random_bool(1.0 / (1.0 + (-logit).exp()));
                let label = meds::labels::BooleanLabel { subject_id: i, prediction_time: examples.len() as i64, value };
                examples.push(Example { label, split: split.into(), row: dense_row(&x) });
            }
        }
        let (sub_examples, sample) = crate::case_control::with_train_sample(&examples, 1_000, 3);
        assert!(sample.log_odds_shift > 2.0, "a rare outcome's sample is enriched: {sample:?}");
        let of = |split: &str| sub_examples.iter().filter(|e| e.split == split).collect::<Vec<&Example>>();
        let (train, tuning, held_out) = (of("train"), of("tuning"), of("held_out"));
        fn rows<'a>(es: &[&'a Example]) -> Vec<&'a SparseRow> {
            es.iter().map(|e| &e.row).collect()
        }
        let ys = |es: &[&Example]| es.iter().map(|e| e.label.value).collect::<Vec<bool>>();
        let rate = ys(&held_out).iter().filter(|&&b| b).count() as f64 / held_out.len() as f64;
        let mean = |p: &[f64]| p.iter().sum::<f64>() / p.len() as f64;
        let fit = |shift: f64| {
            let (m, _) = tuned_sampled_logistic((&rows(&train), &ys(&train)), (&rows(&tuning), &ys(&tuning)), 4, shift);
            mean(&m.predict(&rows(&held_out)))
        };
        let (shifted, unshifted) = (fit(sample.log_odds_shift), fit(0.0));
        assert!((shifted / rate - 1.0).abs() < 0.2, "shifted mean {shifted:.4} vs rate {rate:.4}");
        assert!(unshifted > 3.0 * rate, "unshifted mean {unshifted:.4} vs rate {rate:.4}");
        let sub_rows: Vec<SparseRow> = sub_examples.iter().map(|e| e.row.clone()).collect();
        let probe_mean = |f: &Fitted| {
            f.predictions.iter().map(|p| f64::from(p.probability)).sum::<f64>() / f.predictions.len() as f64
        };
        let probe = fit_probe(&sub_examples, &sub_rows, 4, Pooling::Last, sample.log_odds_shift);
        let unshifted_probe = fit_probe(&sub_examples, &sub_rows, 4, Pooling::Last, 0.0);
        assert!(probe.recalibration.is_some(), "tuning has enough positives to test");
        let update = unshifted_probe.recalibration.map(|t| t.update);
        assert!(matches!(update, Some(Update::Intercept | Update::InterceptAndSlope)), "{update:?}");
        for (name, f) in [("probe", &probe), ("unshifted probe", &unshifted_probe)] {
            assert!((probe_mean(f) / rate - 1.0).abs() < 0.2, "{name}: mean {:.4} vs rate {rate:.4}", probe_mean(f));
        }
        let ranks = |f: &Fitted| {
            let p: Vec<f64> = f.predictions.iter().map(|p| f64::from(p.probability)).collect();
            let y: Vec<bool> = f.predictions.iter().map(|p| p.label.value).collect();
            auroc(&p, &y).unwrap_or(0.0)
        };
        let shifted = probe;
        assert!(ranks(&shifted) > 0.75, "held-out AUROC {:.3}", ranks(&shifted));
    }
}
