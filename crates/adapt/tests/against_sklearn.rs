//! Our L2 logistic regression against scikit-learn's on the same rows, scaling and penalty.

use adapt::featurizers::SparseRow;
use adapt::logistic::Logistic;
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};

#[test]
fn logistic_regression_matches_scikit_learn() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let width = 12;
    let mut make = |n: usize| -> (Vec<SparseRow>, Vec<bool>) {
        let mut rows = Vec::new();
        let mut y = Vec::new();
        for _ in 0..n {
            let mut row: SparseRow = Vec::new();
            for j in 0..width as u32 {
                if rng.random_bool(0.4) {
                    let v =
                        if j % 3 == 0 { rng.random_range(0.0..50.0f32) } else { f32::from(rng.random_range(1..4u8)) };
                    row.push((j, v));
                }
            }
            let z: f32 = -1.0
                + row.iter().map(|&(j, v)| if j < 4 { 0.3 * v / (1.0 + j as f32 * 10.0) } else { 0.0 }).sum::<f32>();
            y.push(rng.random_bool(f64::from(1.0 / (1.0 + (-z).exp()))));
            rows.push(row);
        }
        (rows, y)
    };
    let (train, y) = make(3_000);
    let (test, _) = make(300);
    let dir = tempfile::tempdir().expect("tempdir");
    for lambda in [1e-3, 1e-1] {
        let refs: Vec<&SparseRow> = train.iter().collect();
        let ours = Logistic::fit(&refs, &y, width, lambda).predict(&test.iter().collect::<Vec<_>>());
        let path = dir.path().join("data.json");
        let data = json!({ "rows": train, "y": y.iter().map(|&b| u8::from(b)).collect::<Vec<_>>(), "width": width, "lambda": lambda, "test": test });
        std::fs::write(&path, data.to_string()).expect("write");
        let theirs: Value = serde_json::from_str(&testkit::run_python("check_logistic.py", [&path])).expect("json");
        let theirs: Vec<f64> =
            theirs["probabilities"].as_array().expect("array").iter().map(|v| v.as_f64().expect("f64")).collect();
        let worst = ours.iter().zip(&theirs).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        assert!(worst < 1e-4, "λ {lambda}: max |p_ours - p_sklearn| = {worst}");
    }
}
