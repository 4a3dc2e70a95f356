//! Gradient-boosted trees (forust-ml, XGBoost's algorithm in pure Rust) behind our own small
//! interface, so the booster can be swapped without touching callers. Log-loss objective, depth-4
//! trees, learning rate 0.1, 10% column sampling per tree, and early stopping on the tuning rows'
//! log-loss (at most 300 trees, patience 20).

use forust_ml::gradientbooster::EvaluationData;
use forust_ml::metric::Metric;
use forust_ml::{GradientBooster, Matrix};

use crate::featurizers::SparseRow;

/// The base score (log-odds) of a booster trained on one class.
const MAX_BASE_LOGIT: f64 = 30.0;

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
    ///
    /// forust-ml marks missing values with NaN, which its JSON writes as `null` and cannot read
    /// back: the marker is put back by hand.
    pub fn from_json(json: &str, defaults: Vec<f64>) -> Result<Gbm, GbmError> {
        let mut value: serde_json::Value = serde_json::from_str(json).map_err(|e| GbmError(e.to_string()))?;
        if value.get("base_score").is_some_and(serde_json::Value::is_null) {
            return Err(GbmError(
                "the booster was saved with an infinite base score (trained on one class) by an earlier version: \
                 fit it again"
                    .into(),
            ));
        }
        let nan_missing = value.get("missing").is_some_and(serde_json::Value::is_null);
        if nan_missing {
            value["missing"] = serde_json::json!(0.0);
        }
        let mut booster = GradientBooster::from_json(&value.to_string()).map_err(|e| GbmError(e.to_string()))?;
        if nan_missing {
            booster.missing = f64::NAN;
        }
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
        // Trained on one class there is nothing to learn (and the trees' leaf weights would be
        // 0/0): no trees, the base score alone.
        let one_class = train.1.iter().all(|&b| b == train.1.first().copied().unwrap_or(false));
        let mut booster = GradientBooster::default()
            .set_iterations(if one_class { 0 } else { 300 })
            .set_learning_rate(0.1)
            .set_max_depth(4)
            .set_colsample_bytree(0.1_f64.max(20.0 / width.max(1) as f64).min(1.0))
            .set_seed(seed)
            .set_evaluation_metric(Some(Metric::LogLoss))
            .set_early_stopping_rounds(Some(20));
        let eval: Vec<EvaluationData> =
            if tuning.0.is_empty() { Vec::new() } else { vec![(mt, yt.as_slice(), tuning_weights.as_slice())] };
        booster.fit(&m, &y, &weights, (!eval.is_empty()).then_some(eval)).map_err(|e| GbmError(e.to_string()))?;
        // On one class the base score is the log-odds of 0 or 1: infinite, which JSON cannot
        // hold. A logit of ±30 gives the same risks to 13 decimal places, and a model that can be
        // saved and read back.
        if booster.base_score.is_infinite() {
            booster.base_score = booster.base_score.signum() * MAX_BASE_LOGIT;
        } else if booster.base_score.is_nan() {
            return Err(GbmError("no training rows to fit a base score on".into()));
        }
        Ok(Gbm { booster, defaults: defaults.to_vec() })
    }

    /// Each feature's part in one row's log-odds, by feature index, and the booster's bias last
    /// (XGBoost's approximate contributions: they sum to the row's log-odds).
    pub fn contributions(&self, row: &SparseRow) -> Vec<f64> {
        let x = dense(&[row], &self.defaults);
        let m = Matrix::new(&x, 1, self.defaults.len());
        self.booster.predict_contributions(&m, forust_ml::gradientbooster::ContributionsMethod::Average, false)
    }

    /// Predicted probabilities.
    pub fn predict(&self, rows: &[&SparseRow]) -> Vec<f64> {
        let x = dense(rows, &self.defaults);
        let m = Matrix::new(&x, rows.len(), self.defaults.len());
        self.booster.predict(&m, true).into_iter().map(|z| 1.0 / (1.0 + (-z).exp())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_booster_read_back_from_its_json_predicts_as_it_did() {
        // Two features: a count, and a value whose default is NaN (missing), as the count
        // featurizer gives them.
        let rows: Vec<SparseRow> = (0..200)
            .map(|i| {
                let mut r: SparseRow = vec![(0, (i % 7) as f32)];
                if i % 3 != 0 {
                    r.push((1, (i % 11) as f32));
                }
                r
            })
            .collect();
        let refs: Vec<&SparseRow> = rows.iter().collect();
        let y: Vec<bool> = (0..200).map(|i| i % 7 > 3 || i % 11 == 2).collect();
        let defaults = vec![0.0, f64::NAN];
        let gbm = Gbm::fit((&refs[..150], &y[..150]), (&refs[150..], &y[150..]), &defaults, 1).expect("fit");
        let json = gbm.to_json().expect("json");
        assert!(json.contains("\"missing\":null"), "forust writes its NaN marker as null");
        let back = Gbm::from_json(&json, defaults).expect("read back");
        assert!(back.booster.missing.is_nan());
        let (before, after) = (gbm.predict(&refs), back.predict(&refs));
        assert_eq!(before, after);
        // The contributions sum to the log-odds.
        for (row, p) in refs.iter().zip(&after).take(20) {
            let z: f64 = back.contributions(row).iter().sum();
            assert!((1.0 / (1.0 + (-z).exp()) - p).abs() < 1e-9, "{z} vs {p}");
        }
        assert!(before.iter().any(|p| (p - before[0]).abs() > 1e-6), "the booster tells rows apart");

        // Trained on one class: saved, read back, and every risk (almost exactly) 0.
        let none = [false; 200];
        let flat =
            Gbm::fit((&refs[..150], &none[..150]), (&refs[150..], &none[150..]), &[0.0, f64::NAN], 1).expect("fit");
        let back = Gbm::from_json(&flat.to_json().expect("json"), vec![0.0, f64::NAN]).expect("read back");
        assert!(back.predict(&refs).iter().all(|p| *p < 1e-12));
    }
}
