//! Gradient-boosted trees (forust-ml, XGBoost's algorithm in pure Rust) behind our own small
//! interface, so the booster can be swapped without touching callers. Log-loss objective, depth-4
//! trees, learning rate 0.1, 10% column sampling per tree, and early stopping on the tuning rows'
//! log-loss (at most 300 trees, patience 20).

use forust_ml::gradientbooster::EvaluationData;
use forust_ml::metric::Metric;
use forust_ml::{GradientBooster, Matrix};

use crate::featurizers::SparseRow;

/// A fitted booster.
pub struct Gbm {
    booster: GradientBooster,
    defaults: Vec<f64>,
}

/// Why a booster could not be fitted.
#[derive(Debug, thiserror::Error)]
#[error("gradient boosting failed: {0}")]
pub struct GbmError(String);

fn dense(rows: &[&SparseRow], defaults: &[f64]) -> Vec<f64> {
    // Column-major, as forust reads it.
    let (n, width) = (rows.len(), defaults.len());
    let mut data = Vec::with_capacity(n * width);
    for d in defaults {
        data.extend(std::iter::repeat_n(*d, n));
    }
    for (i, r) in rows.iter().enumerate() {
        for &(j, v) in r.iter() {
            if (j as usize) < width {
                data[j as usize * n + i] = f64::from(v);
            }
        }
    }
    data
}

impl std::fmt::Debug for Gbm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gbm")
            .field("trees", &self.booster.trees.len())
            .field("best_iteration", &self.booster.best_iteration)
            .finish()
    }
}

impl Gbm {
    /// The booster in forust-ml's JSON.
    pub fn to_json(&self) -> Result<String, GbmError> {
        self.booster.json_dump().map_err(|e| GbmError(e.to_string()))
    }

    /// A booster from [`Gbm::to_json`]'s text, with the features' defaults it was fitted with.
    pub fn from_json(json: &str, defaults: Vec<f64>) -> Result<Gbm, GbmError> {
        let booster = GradientBooster::from_json(json).map_err(|e| GbmError(e.to_string()))?;
        Ok(Gbm { booster, defaults })
    }

    /// Each feature's value when a row omits it.
    pub fn defaults(&self) -> &[f64] {
        &self.defaults
    }

    /// Fits on `train`, stopping early on `tuning`. `defaults` gives each feature's value when a
    /// row omits it (0 for counts, NaN — missing — for values).
    pub fn fit(
        train: (&[&SparseRow], &[bool]),
        tuning: (&[&SparseRow], &[bool]),
        defaults: &[f64],
        seed: u64,
    ) -> Result<Gbm, GbmError> {
        let to_f = |y: &[bool]| y.iter().map(|&b| f64::from(u8::from(b))).collect::<Vec<f64>>();
        let (x, y) = (dense(train.0, defaults), to_f(train.1));
        let (xt, yt) = (dense(tuning.0, defaults), to_f(tuning.1));
        let width = defaults.len();
        let m = Matrix::new(&x, train.0.len(), width);
        let mt = Matrix::new(&xt, tuning.0.len(), width);
        let weights = vec![1.0; train.0.len()];
        let tuning_weights = vec![1.0; tuning.0.len()];
        let mut booster = GradientBooster::default()
            .set_iterations(300)
            .set_learning_rate(0.1)
            .set_max_depth(4)
            .set_colsample_bytree(0.1_f64.max(20.0 / width.max(1) as f64).min(1.0))
            .set_seed(seed)
            .set_evaluation_metric(Some(Metric::LogLoss))
            .set_early_stopping_rounds(Some(20));
        let eval: Vec<EvaluationData> =
            if tuning.0.is_empty() { Vec::new() } else { vec![(mt, yt.as_slice(), tuning_weights.as_slice())] };
        booster.fit(&m, &y, &weights, (!eval.is_empty()).then_some(eval)).map_err(|e| GbmError(e.to_string()))?;
        Ok(Gbm { booster, defaults: defaults.to_vec() })
    }

    /// Predicted probabilities.
    pub fn predict(&self, rows: &[&SparseRow]) -> Vec<f64> {
        let x = dense(rows, &self.defaults);
        let m = Matrix::new(&x, rows.len(), self.defaults.len());
        self.booster.predict(&m, true).into_iter().map(|z| 1.0 / (1.0 + (-z).exp())).collect()
    }
}
