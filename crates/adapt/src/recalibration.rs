//! Logistic recalibration (Platt scaling in log-odds form): a fitted model's log-odds `z` become
//! `slope · z + intercept`, the two numbers fitted by maximum likelihood on examples the model
//! never trained on.
//!
//! Why the probe needs it: its L2 strength is chosen from a coarse grid on tuning log-loss, and on
//! a case-control train sample with a few hundred positives the chosen fit still ranks well but
//! spreads its log-odds too wide (held-out calibration slopes of 0.5–0.75 on mortality, MI and
//! long stays in the second coherent run). A monotone map leaves every AUROC as it was and takes
//! the slope towards 1 wherever the examples it was fitted on and held-out are alike. With too few
//! tuning positives the numbers would be noise, so the model is then left as fitted.
//!
//! Two fits:
//! - [`Recalibration::fit`]: both numbers on tuning alone (a site's own labels, `longitude
//!   evaluate --recalibrate-out`, are fitted this way).
//! - [`Recalibration::fit_cross_fitted`]: the slope from tuning **and** out-of-fold log-odds of the
//!   train examples (each scored by a fit that never saw its subject, as scikit-learn's
//!   `CalibratedClassifierCV(ensemble=False)` does), the intercept from tuning alone. Tuning holds
//!   100–150 positives on the suite's chronic tasks, and a slope learned from them alone missed
//!   held-out's by 0.15–0.3 (CKD 3+: tuning 0.81, held-out after the map 1.18); the case-control
//!   train sample holds several times as many. A case-control sample changes the intercept and
//!   not the slope (the prior correction of King & Zeng, 2001), so the train log-odds get an
//!   intercept of their own and only the slope is shared.

use crate::logistic::lbfgs;

/// Fewest positives (and negatives) on the tuning split for a recalibration to be fitted.
pub const MIN_EXAMPLES_PER_CLASS: usize = 10;

/// A fitted recalibration: new log-odds = `slope · z + intercept`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Recalibration {
    /// The factor on the model's log-odds (its tuning calibration slope before the map).
    pub slope: f64,
    /// The shift added after the factor (its tuning calibration intercept).
    pub intercept: f64,
}

impl Recalibration {
    /// Fits the map on tuning log-odds `z` and labels `y`; `None` when either class has fewer
    /// than [`MIN_EXAMPLES_PER_CLASS`] examples, when a log-odds is not finite, or when the fitted
    /// slope is not positive (the model ranks tuning backwards or not at all: a map must not
    /// reverse its order).
    pub fn fit(z: &[f64], y: &[bool]) -> Option<Recalibration> {
        if !usable(z, y) {
            return None;
        }
        let (slope, intercepts) = shared_slope(&[(z, y)])?;
        Some(Recalibration { slope, intercept: intercepts[0] })
    }

    /// Fits the slope on tuning and on the train examples' out-of-fold log-odds together (each
    /// source with an intercept of its own), and keeps tuning's intercept. `None` under the same
    /// rules as [`Recalibration::fit`] on tuning; out-of-fold log-odds that are empty, hold one
    /// class only or are not all finite are left out (the fit is then tuning's alone).
    pub fn fit_cross_fitted(out_of_fold: (&[f64], &[bool]), tuning: (&[f64], &[bool])) -> Option<Recalibration> {
        if !usable(tuning.0, tuning.1) {
            return None;
        }
        let (z, y) = out_of_fold;
        let positives = y.iter().filter(|&&b| b).count();
        let oof_usable = z.len() == y.len() && positives > 0 && positives < y.len() && z.iter().all(|v| v.is_finite());
        if !oof_usable {
            return Recalibration::fit(tuning.0, tuning.1);
        }
        let (slope, intercepts) = shared_slope(&[tuning, out_of_fold])?;
        Some(Recalibration { slope, intercept: intercepts[0] })
    }

    /// The recalibrated log-odds of `z`.
    pub fn apply(&self, z: f64) -> f64 {
        self.slope * z + self.intercept
    }
}

/// Whether `z`, `y` can carry a fit: equal lengths, finite log-odds, and at least
/// [`MIN_EXAMPLES_PER_CLASS`] of each class.
fn usable(z: &[f64], y: &[bool]) -> bool {
    let positives = y.iter().filter(|&&b| b).count();
    z.len() == y.len()
        && positives >= MIN_EXAMPLES_PER_CLASS
        && y.len() - positives >= MIN_EXAMPLES_PER_CLASS
        && z.iter().all(|v| v.is_finite())
}

/// Maximum likelihood for `P(y) = σ(a · z + b_s)`: one slope `a` over every source `s`, an
/// intercept per source (the log-likelihood is averaged over all examples together, so a larger
/// source weighs more). `None` unless the slope comes out finite and positive.
fn shared_slope(sources: &[(&[f64], &[bool])]) -> Option<(f64, Vec<f64>)> {
    let n = sources.iter().map(|(z, _)| z.len()).sum::<usize>().max(1) as f64;
    let objective = |theta: &[f64], grad: &mut [f64]| -> f64 {
        let a = theta[0];
        let mut loss = 0.0;
        grad.iter_mut().for_each(|g| *g = 0.0);
        for (k, (z, y)) in sources.iter().enumerate() {
            let b = theta[1 + k];
            for (&zi, &yi) in z.iter().zip(y.iter()) {
                let s = a * zi + b;
                let yi = f64::from(u8::from(yi));
                loss += if s > 0.0 { s + (-s).exp().ln_1p() } else { s.exp().ln_1p() } - yi * s;
                let g = 1.0 / (1.0 + (-s).exp()) - yi;
                grad[0] += g * zi;
                grad[1 + k] += g;
            }
        }
        grad.iter_mut().for_each(|g| *g /= n);
        loss / n
    };
    let mut theta = vec![0.0; 1 + sources.len()];
    theta[0] = 1.0;
    lbfgs(&mut theta, objective, 200, 1e-9);
    let slope = theta[0];
    let ok = slope.is_finite() && slope > 0.0 && theta.iter().all(|t| t.is_finite());
    ok.then(|| (slope, theta[1..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Labels drawn from `sigmoid(0.6·z − 0.4)`: a model reporting `z` is over-confident, and
    /// the fit must find about (0.6, −0.4).
    #[test]
    fn recovers_the_slope_and_intercept_the_labels_were_drawn_with() {
        let mut state = 12345u64;
        let mut uniform = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let (mut z, mut y) = (Vec::new(), Vec::new());
        for _ in 0..40_000 {
            let zi = 6.0 * uniform() - 4.0;
            let p = 1.0 / (1.0 + (-(0.6 * zi - 0.4)).exp());
            z.push(zi);
            y.push(uniform() < p);
        }
        let r = Recalibration::fit(&z, &y).expect("fitted");
        assert!((r.slope - 0.6).abs() < 0.04 && (r.intercept + 0.4).abs() < 0.06, "{r:?}");
        assert!((r.apply(2.0) - (2.0 * r.slope + r.intercept)).abs() < 1e-12);
    }

    #[test]
    fn too_few_positives_or_a_backwards_model_leave_the_model_alone() {
        let z: Vec<f64> = (0..100).map(|i| f64::from(i) / 10.0 - 5.0).collect();
        let few: Vec<bool> = (0..100).map(|i| i >= 95).collect();
        assert_eq!(Recalibration::fit(&z, &few), None);
        // Positives at the low scores: a positive slope cannot fit them.
        let backwards: Vec<bool> = (0..100).map(|i| i < 30).collect();
        assert_eq!(Recalibration::fit(&z, &backwards), None);
        assert_eq!(Recalibration::fit(&[f64::NAN; 40], &[true; 40]), None);
    }

    /// Out-of-fold log-odds of a case-control sample: the same slope as the population's, an
    /// intercept raised by the sampling. Over many small tuning splits (about 40 positives each),
    /// the slope shared with them lands far nearer the truth than tuning's own, and the intercept
    /// kept is tuning's (the population's), not the sample's.
    #[test]
    fn the_cross_fitted_slope_borrows_the_train_sample_and_keeps_tunings_intercept() {
        let mut state = 99u64;
        let mut uniform = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut draw = |n: usize, intercept: f64| {
            let (mut z, mut y) = (Vec::new(), Vec::new());
            for _ in 0..n {
                let zi = 6.0 * uniform() - 5.0;
                z.push(zi);
                y.push(uniform() < 1.0 / (1.0 + (-(0.6 * zi + intercept)).exp()));
            }
            (z, y)
        };
        let (oz, oy) = draw(4_000, 1.5);
        let (mut alone, mut shared, mut intercepts) = (0.0, 0.0, 0.0);
        let rounds = 40;
        for _ in 0..rounds {
            let (tz, ty) = draw(200, -0.4);
            let a = Recalibration::fit(&tz, &ty).expect("tuning alone");
            let c = Recalibration::fit_cross_fitted((&oz, &oy), (&tz, &ty)).expect("cross-fitted");
            alone += (a.slope - 0.6).powi(2);
            shared += (c.slope - 0.6).powi(2);
            intercepts += c.intercept;
        }
        let (alone, shared) = ((alone / rounds as f64).sqrt(), (shared / rounds as f64).sqrt());
        assert!(shared < 0.5 * alone, "slope error: cross-fitted {shared:.3}, tuning alone {alone:.3}");
        assert!(shared < 0.05, "cross-fitted slope error {shared:.3}");
        let intercept = intercepts / rounds as f64;
        assert!((intercept + 0.4).abs() < 0.1, "mean intercept {intercept:.3}: tuning's is -0.4, the sample's 1.5");
        // Too few tuning positives: no map, however large the train sample.
        let few: Vec<bool> = (0..100).map(|i| i >= 95).collect();
        let z: Vec<f64> = (0..100).map(f64::from).collect();
        assert_eq!(Recalibration::fit_cross_fitted((&oz, &oy), (&z, &few)), None);
        // Out-of-fold log-odds of one class only carry no slope: tuning's alone is fitted.
        let (tz, ty) = draw(400, -0.4);
        let one_class = vec![true; oz.len()];
        assert_eq!(Recalibration::fit_cross_fitted((&oz, &one_class), (&tz, &ty)), Recalibration::fit(&tz, &ty));
    }
}
