//! Design-weighted evaluation: a prediction of weight k counts as k predictions, so a
//! case-control sample weighted by its inverse sampling fractions reports its population's
//! figures.

use eval::{Attribute, Options};
use meds::labels::{BooleanLabel, BooleanPrediction};

fn prediction(subject: i64, probability: f64, value: bool) -> BooleanPrediction {
    BooleanPrediction {
        label: BooleanLabel { subject_id: subject, prediction_time: 0, value },
        predicted_value: probability >= 0.5,
        probability: probability as f32,
    }
}

/// A small deterministic generator (SplitMix64) so the test needs no RNG crate.
fn uniform(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
}

fn close(a: Option<f64>, b: Option<f64>, tol: f64, what: &str) {
    let (a, b) = (a.unwrap_or_else(|| panic!("{what}: left undefined")), b.unwrap_or_else(|| panic!("{what}: right")));
    assert!((a - b).abs() <= tol, "{what}: {a} vs {b}");
}

#[test]
fn integer_design_weights_equal_repeating_the_predictions() {
    let mut s = 11;
    let mut sample = Vec::new();
    let mut weights = Vec::new();
    let mut groups = Vec::new();
    let mut repeated = Vec::new();
    let mut repeated_groups = Vec::new();
    for subject in 0..400 {
        let p = uniform(&mut s);
        let y = uniform(&mut s) < p * 0.6;
        let w = 1 + (subject % 4) as usize;
        let group = Some(if subject % 3 == 0 { "a" } else { "b" }.to_string());
        sample.push(prediction(subject, p, y));
        weights.push(w as f64);
        groups.push(group.clone());
        for copy in 0..w {
            // Copies are distinct subjects only for the bootstrap; point figures ignore subjects.
            repeated.push(prediction(subject * 10 + copy as i64, p, y));
            repeated_groups.push(group.clone());
        }
    }
    let options = Options { resamples: 0, ..Options::default() };
    let weighted =
        eval::evaluate_weighted(&sample, Some(&weights), &[Attribute { name: "g".into(), values: groups }], &options)
            .expect("weighted");
    let plain = eval::evaluate(&repeated, &[Attribute { name: "g".into(), values: repeated_groups }], &options)
        .expect("repeated");
    assert!(weighted.weighted && !plain.weighted);
    assert_eq!(weighted.n, 400, "n counts the sample");
    let (a, b) = (&weighted.metrics, &plain.metrics);
    assert!((a.n - b.n).abs() < 1e-9 && (a.positives - b.positives).abs() < 1e-9);
    close(a.auroc, b.auroc, 1e-12, "auroc");
    close(a.auprc, b.auprc, 1e-12, "auprc");
    close(a.brier, b.brier, 1e-12, "brier");
    close(a.calibration_slope, b.calibration_slope, 1e-7, "slope");
    close(a.calibration_intercept, b.calibration_intercept, 1e-7, "intercept");
    close(a.ece, b.ece, 1e-12, "ece");
    close(weighted.accuracy, plain.accuracy, 1e-12, "accuracy");
    close(weighted.f1, plain.f1, 1e-12, "f1");
    assert_eq!(weighted.roc, plain.roc);
    assert_eq!(weighted.pr, plain.pr);
    assert_eq!(weighted.operating_points, plain.operating_points);
    assert_eq!(weighted.audit_point, plain.audit_point, "the 90%-specificity threshold is the population's");
    let (fa, fb) = (&weighted.fairness[0], &plain.fairness[0]);
    for (ga, gb) in fa.groups.iter().zip(&fb.groups) {
        assert_eq!(ga.group, gb.group);
        assert_eq!(ga.at_threshold, gb.at_threshold);
        assert_eq!(ga.ratios, gb.ratios);
        close(ga.metrics.auroc, gb.metrics.auroc, 1e-12, "group auroc");
    }
}

#[test]
fn a_weighted_case_control_sample_reports_its_populations_calibration() {
    // A population of 60,000 with a 2% outcome and calibrated risks.
    let mut s = 5;
    let population: Vec<BooleanPrediction> = (0..60_000)
        .map(|i| {
            let p = 0.08 * uniform(&mut s).powi(3);
            let y = uniform(&mut s) < p;
            prediction(i, p, y)
        })
        .collect();
    let positives = population.iter().filter(|p| p.label.value).count();
    assert!((800..1_600).contains(&positives), "{positives} positives");
    // Case-control: every positive, one negative in twenty.
    let sample: Vec<BooleanPrediction> =
        population.iter().filter(|p| p.label.value || p.label.subject_id % 20 == 0).copied().collect();
    let weights: Vec<f64> = sample.iter().map(|p| if p.label.value { 1.0 } else { 20.0 }).collect();
    let options = Options { resamples: 200, ..Options::default() };
    let truth = eval::evaluate(&population, &[], &options).expect("population");
    let naive = eval::evaluate(&sample, &[], &options).expect("naive");
    let weighted = eval::evaluate_weighted(&sample, Some(&weights), &[], &options).expect("weighted");
    // AUROC needs no weights (sampling on the label keeps each class's ranking) …
    close(naive.metrics.auroc, truth.metrics.auroc, 0.02, "naive auroc");
    close(weighted.metrics.auroc, truth.metrics.auroc, 0.02, "weighted auroc");
    // … but calibration does: unweighted, the enriched sample looks badly under-predicted.
    let naive_intercept = naive.metrics.calibration_intercept.expect("intercept");
    assert!(naive_intercept > 2.0, "naive calibration-in-the-large {naive_intercept}");
    close(weighted.metrics.calibration_intercept, truth.metrics.calibration_intercept, 0.15, "intercept");
    close(weighted.metrics.calibration_slope, truth.metrics.calibration_slope, 0.15, "slope");
    close(weighted.metrics.prevalence, truth.metrics.prevalence, 0.002, "prevalence");
    close(weighted.metrics.brier, truth.metrics.brier, 0.002, "brier");
    let ppv = |e: &eval::Evaluation| e.audit_point.as_ref().and_then(|a| a.ppv);
    close(ppv(&weighted), ppv(&truth), 0.03, "ppv at 90% specificity");
    let i = weighted.intervals.auroc.expect("interval");
    assert!(i.lower < truth.metrics.auroc.expect("auroc") && truth.metrics.auroc.expect("auroc") < i.upper);
}

#[test]
fn bad_design_weights_are_refused_without_data() {
    let sample = [prediction(1, 0.2, false), prediction(2, 0.7, true)];
    for weights in [vec![1.0], vec![1.0, 0.0], vec![f64::NAN, 1.0]] {
        let err = eval::evaluate_weighted(&sample, Some(&weights), &[], &Options::default())
            .expect_err("refused")
            .to_string();
        assert!(err.starts_with("design weights:"), "{err}");
    }
}
