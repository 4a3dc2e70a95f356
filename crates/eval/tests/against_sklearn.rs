//! Every metric against scikit-learn and `meds-evaluation` on the same predictions file: random
//! probabilities with ties and a miscalibrated model, read by the Python side from the
//! meds-evaluation parquet file `meds` writes.

use meds::labels::{BooleanLabel, BooleanPrediction, write_boolean_predictions};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use serde_json::Value;

fn predictions(n: usize, seed: u64) -> Vec<BooleanPrediction> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            // A score on a coarse grid (ties), an overconfident probability, a label drawn from a
            // true risk that depends on the score.
            let score = f64::from(rng.random_range(0..200u32)) / 200.0;
            let true_risk = 0.02 + 0.5 * score * score;
            let value = rng.random_bool(true_risk);
            let probability = (0.9 * score * score) as f32;
            BooleanPrediction {
                label: BooleanLabel { subject_id: (i / 3) as i64, prediction_time: i as i64 * 1_000_000, value },
                predicted_value: probability >= 0.3,
                probability,
            }
        })
        .collect()
}

#[test]
fn metrics_match_scikit_learn_and_meds_evaluation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let preds = predictions(5_000, 3);
    let path = dir.path().join("predictions.parquet");
    write_boolean_predictions(&path, &preds).expect("write");
    let options = eval::Options { resamples: 200, threshold: Some(0.3), ..Default::default() };
    let e = eval::evaluate(&preds, &[], &options).expect("evaluate");
    let theirs: Value =
        serde_json::from_str(&testkit::run_python("check_metrics.py", [path.to_str().expect("p"), "0.3"]))
            .expect("json");
    let close = |ours: Option<f64>, key: &Value, tol: f64| {
        let t = key.as_f64().expect("number");
        let o = ours.expect("defined");
        assert!((o - t).abs() <= tol, "ours {o} vs theirs {t}");
    };
    let m = &e.metrics;
    close(m.auroc, &theirs["auroc"], 1e-12);
    close(m.auprc, &theirs["auprc"], 1e-12);
    close(m.brier, &theirs["brier"], 1e-9);
    close(m.calibration_slope, &theirs["calibration_slope"], 1e-5);
    close(m.calibration_intercept, &theirs["calibration_intercept"], 1e-5);
    let at = e.audit_point.as_ref().expect("the fixed threshold");
    close(at.sensitivity, &theirs["sensitivity"], 1e-12);
    close(at.specificity, &theirs["specificity"], 1e-12);
    close(at.ppv, &theirs["ppv"], 1e-12);
    let decision = e.decision_curve.iter().find(|d| d.threshold == 0.3).expect("0.3 on the decision curve");
    close(Some(decision.net_benefit), &theirs["net_benefit"], 1e-12);
    close(Some(decision.treat_all), &theirs["treat_all"], 1e-12);
    let me = &theirs["meds_evaluation"];
    close(m.auroc, &me["roc_auc_score"], 1e-12);
    close(m.auprc, &me["average_precision_score"], 1e-12);
    close(m.brier, &me["brier_score"], 1e-9);
    close(m.calibration_error, &me["calibration_error"], 1e-9);
    close(e.accuracy, &me["binary_accuracy"], 1e-12);
    close(e.f1, &me["f1_score"], 1e-12);
    // The model is overconfident at the top and underconfident at the bottom: the slope says so.
    assert!(m.calibration_slope.expect("slope") < 1.0);
    // The interval covers the estimate.
    let i = e.intervals.auroc.expect("interval");
    assert!(i.lower < m.auroc.expect("auroc") && m.auroc.expect("auroc") < i.upper);
}

#[test]
fn bad_probabilities_are_named_by_row_not_content() {
    let mut preds = predictions(10, 1);
    preds[4].probability = f32::NAN;
    preds[7].probability = 1.5;
    let err = eval::evaluate(&preds, &[], &eval::Options::default()).expect_err("rejected").to_string();
    assert!(err.contains("2 predicted probabilities") && err.contains("row 4"), "{err}");
}
