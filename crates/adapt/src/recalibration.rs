//! Logistic recalibration on the tuning split (Platt scaling in log-odds form): a fitted model's
//! log-odds `z` become `slope · z + intercept`, the two numbers fitted by maximum likelihood on
//! the tuning examples the model never trained on.
//!
//! Why the probe needs it: its L2 strength is chosen from a coarse grid on tuning log-loss, and on
//! a case-control train sample with a few hundred positives the chosen fit still ranks well but
//! spreads its log-odds too wide (held-out calibration slopes of 0.5–0.75 on mortality, MI and
//! long stays in the second coherent run). A monotone map leaves every AUROC as it was and takes
//! the slope towards 1 wherever tuning and held-out are alike. With too few tuning positives the
//! two numbers would be noise, so the model is then left as fitted.

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
        let positives = y.iter().filter(|&&b| b).count();
        if z.len() != y.len()
            || positives < MIN_EXAMPLES_PER_CLASS
            || y.len() - positives < MIN_EXAMPLES_PER_CLASS
            || z.iter().any(|v| !v.is_finite())
        {
            return None;
        }
        let n = z.len() as f64;
        let objective = |theta: &[f64], grad: &mut [f64]| -> f64 {
            let (a, b) = (theta[0], theta[1]);
            let (mut loss, mut ga, mut gb) = (0.0, 0.0, 0.0);
            for (&zi, &yi) in z.iter().zip(y) {
                let s = a * zi + b;
                let yi = f64::from(u8::from(yi));
                loss += if s > 0.0 { s + (-s).exp().ln_1p() } else { s.exp().ln_1p() } - yi * s;
                let g = 1.0 / (1.0 + (-s).exp()) - yi;
                ga += g * zi;
                gb += g;
            }
            grad[0] = ga / n;
            grad[1] = gb / n;
            loss / n
        };
        let mut theta = [1.0, 0.0];
        lbfgs(&mut theta, objective, 200, 1e-9);
        let (slope, intercept) = (theta[0], theta[1]);
        (slope.is_finite() && intercept.is_finite() && slope > 0.0).then_some(Recalibration { slope, intercept })
    }

    /// The recalibrated log-odds of `z`.
    pub fn apply(&self, z: f64) -> f64 {
        self.slope * z + self.intercept
    }
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
}
