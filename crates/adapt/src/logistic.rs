//! L2-regularised logistic regression on sparse rows, fitted by L-BFGS.
//!
//! Hand-written (ENGINEERING.md): it is small, the crates that offer it bring a linear-algebra
//! stack we do not otherwise need, and its output is checked against scikit-learn's
//! `LogisticRegression` on the same data. Features are scaled by their standard deviation on the
//! training rows (not centred, so rows stay sparse); the intercept is not penalised. The objective
//! is the mean log-loss plus `λ/2·‖w‖²`, i.e. scikit-learn's with `C = 1/(λ·n)`.

use serde::{Deserialize, Serialize};

use crate::featurizers::SparseRow;

/// A fitted model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Logistic {
    /// Weights on the scaled features.
    weights: Vec<f64>,
    /// Intercept.
    intercept: f64,
    /// Per-feature scale (1/std; 0 for constant features).
    scale: Vec<f64>,
    /// The L2 strength used.
    pub lambda: f64,
    /// L-BFGS iterations taken.
    pub iterations: usize,
}

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// `log(1 + e^z)` without overflow.
fn softplus(z: f64) -> f64 {
    if z > 0.0 { z + (-z).exp().ln_1p() } else { z.exp().ln_1p() }
}

impl Logistic {
    /// Fits on `rows` (features below `width`) with labels `y` and L2 strength `lambda`.
    pub fn fit(rows: &[&SparseRow], y: &[bool], width: usize, lambda: f64) -> Logistic {
        let n = rows.len().max(1) as f64;
        let (mut sum, mut sq) = (vec![0.0f64; width], vec![0.0f64; width]);
        for r in rows {
            for &(j, v) in r.iter() {
                let v = f64::from(v);
                sum[j as usize] += v;
                sq[j as usize] += v * v;
            }
        }
        let scale: Vec<f64> = (0..width)
            .map(|j| {
                let mean = sum[j] / n;
                let var = (sq[j] / n - mean * mean).max(0.0);
                if var > 1e-12 { 1.0 / var.sqrt() } else { 0.0 }
            })
            .collect();
        let labels: Vec<f64> = y.iter().map(|&b| f64::from(u8::from(b))).collect();
        // Parameters: weights then the intercept.
        let objective = |theta: &[f64], grad: &mut [f64]| -> f64 {
            grad.fill(0.0);
            let (w, b) = theta.split_at(width);
            let mut loss = 0.0;
            for (r, &yi) in rows.iter().zip(&labels) {
                let z = b[0] + r.iter().map(|&(j, v)| w[j as usize] * f64::from(v) * scale[j as usize]).sum::<f64>();
                loss += softplus(z) - yi * z;
                let g = sigmoid(z) - yi;
                for &(j, v) in r.iter() {
                    grad[j as usize] += g * f64::from(v) * scale[j as usize];
                }
                grad[width] += g;
            }
            loss /= n;
            for g in grad.iter_mut() {
                *g /= n;
            }
            for j in 0..width {
                loss += 0.5 * lambda * w[j] * w[j];
                grad[j] += lambda * w[j];
            }
            loss
        };
        let mut theta = vec![0.0; width + 1];
        // Start the intercept at the prevalence's log-odds.
        let p = (labels.iter().sum::<f64>() / n).clamp(1e-6, 1.0 - 1e-6);
        theta[width] = (p / (1.0 - p)).ln();
        let iterations = lbfgs(&mut theta, objective, 500, 1e-7);
        let intercept = theta[width];
        theta.truncate(width);
        Logistic { weights: theta, intercept, scale, lambda, iterations }
    }

    /// The predicted probability of each row.
    pub fn predict(&self, rows: &[&SparseRow]) -> Vec<f64> {
        self.log_odds(rows).into_iter().map(sigmoid).collect()
    }

    /// The predicted log-odds of each row.
    pub fn log_odds(&self, rows: &[&SparseRow]) -> Vec<f64> {
        rows.iter()
            .map(|r| {
                self.intercept
                    + r.iter()
                        .filter(|(j, _)| (*j as usize) < self.weights.len())
                        .map(|&(j, v)| self.weights[j as usize] * f64::from(v) * self.scale[j as usize])
                        .sum::<f64>()
            })
            .collect()
    }

    /// Each feature's part in a row's log-odds (weight × value on the fitted scale), by index;
    /// with the intercept they sum to [`Logistic::log_odds`].
    pub fn contributions(&self, row: &SparseRow) -> Vec<(u32, f64)> {
        row.iter()
            .filter(|(j, _)| (*j as usize) < self.weights.len())
            .map(|&(j, v)| (j, self.weights[j as usize] * f64::from(v) * self.scale[j as usize]))
            .collect()
    }

    /// The same model with its log-odds `z` mapped to `slope · z + shift` (the weights and the
    /// intercept scaled, the intercept shifted): how a recalibration is folded into the model.
    pub fn map_log_odds(mut self, slope: f64, shift: f64) -> Logistic {
        for w in &mut self.weights {
            *w *= slope;
        }
        self.intercept = slope * self.intercept + shift;
        self
    }

    /// The same model with `delta` added to its log-odds (the intercept): how a model fitted on a
    /// [`case_control`](crate::case_control) sample returns to the population's scale.
    pub fn shift_log_odds(mut self, delta: f64) -> Logistic {
        self.intercept += delta;
        self
    }

    /// The number of features it weighs.
    pub fn width(&self) -> usize {
        self.weights.len()
    }

    /// Coefficients on the original (unscaled) features, and the intercept.
    pub fn coefficients(&self) -> (Vec<f64>, f64) {
        (self.weights.iter().zip(&self.scale).map(|(w, s)| w * s).collect(), self.intercept)
    }
}

/// Minimises `f` (which writes its gradient) from `x` by L-BFGS with a backtracking (Armijo)
/// line search; returns the iterations taken. Stops when the gradient's max-norm falls below
/// `tolerance` or the objective stops decreasing.
pub fn lbfgs(x: &mut [f64], mut f: impl FnMut(&[f64], &mut [f64]) -> f64, max_iter: usize, tolerance: f64) -> usize {
    const MEMORY: usize = 10;
    let n = x.len();
    let mut g = vec![0.0; n];
    let mut fx = f(x, &mut g);
    let mut s_hist: Vec<Vec<f64>> = Vec::new();
    let mut y_hist: Vec<Vec<f64>> = Vec::new();
    let mut rho: Vec<f64> = Vec::new();
    let mut g_new = vec![0.0; n];
    let mut x_new = vec![0.0; n];
    for iter in 0..max_iter {
        if g.iter().fold(0.0f64, |m, v| m.max(v.abs())) < tolerance {
            return iter;
        }
        // Two-loop recursion: d = -H g.
        let mut q = g.clone();
        let mut alpha = vec![0.0; s_hist.len()];
        for k in (0..s_hist.len()).rev() {
            alpha[k] = rho[k] * dot(&s_hist[k], &q);
            axpy(-alpha[k], &y_hist[k], &mut q);
        }
        if let (Some(s), Some(yv)) = (s_hist.last(), y_hist.last()) {
            let gamma = dot(s, yv) / dot(yv, yv);
            q.iter_mut().for_each(|v| *v *= gamma);
        }
        for k in 0..s_hist.len() {
            let beta = rho[k] * dot(&y_hist[k], &q);
            axpy(alpha[k] - beta, &s_hist[k], &mut q);
        }
        let mut d: Vec<f64> = q.iter().map(|v| -v).collect();
        let mut slope = dot(&g, &d);
        if slope >= 0.0 {
            // Not a descent direction: restart from steepest descent.
            d = g.iter().map(|v| -v).collect();
            slope = dot(&g, &d);
            s_hist.clear();
            y_hist.clear();
            rho.clear();
        }
        let mut step = if s_hist.is_empty() { 1.0 / g.iter().map(|v| v * v).sum::<f64>().sqrt().max(1.0) } else { 1.0 };
        let mut f_new;
        loop {
            for i in 0..n {
                x_new[i] = x[i] + step * d[i];
            }
            f_new = f(&x_new, &mut g_new);
            if f_new <= fx + 1e-4 * step * slope || step < 1e-16 {
                break;
            }
            step *= 0.5;
        }
        if f_new.is_nan() || f_new >= fx {
            return iter;
        }
        let s: Vec<f64> = (0..n).map(|i| x_new[i] - x[i]).collect();
        let yv: Vec<f64> = (0..n).map(|i| g_new[i] - g[i]).collect();
        let sy = dot(&s, &yv);
        if sy > 1e-12 {
            if s_hist.len() == MEMORY {
                s_hist.remove(0);
                y_hist.remove(0);
                rho.remove(0);
            }
            s_hist.push(s);
            y_hist.push(yv);
            rho.push(1.0 / sy);
        }
        x.copy_from_slice(&x_new);
        g.copy_from_slice(&g_new);
        let converged = (fx - f_new).abs() <= 1e-12 * fx.abs().max(1.0);
        fx = f_new;
        if converged {
            return iter + 1;
        }
    }
    max_iter
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn axpy(a: f64, x: &[f64], y: &mut [f64]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lbfgs_minimises_a_quadratic() {
        let mut x = vec![5.0, -3.0];
        lbfgs(
            &mut x,
            |x, g| {
                g[0] = 2.0 * (x[0] - 1.0);
                g[1] = 20.0 * (x[1] + 2.0);
                (x[0] - 1.0).powi(2) + 10.0 * (x[1] + 2.0).powi(2)
            },
            100,
            1e-10,
        );
        assert!((x[0] - 1.0).abs() < 1e-6 && (x[1] + 2.0).abs() < 1e-6, "{x:?}");
    }

    #[test]
    fn separates_a_learnable_signal() {
        // y = 1 when feature 0 is large; feature 1 is noise.
        let rows: Vec<SparseRow> = (0..400).map(|i| vec![(0, (i % 20) as f32), (1, ((i * 7) % 13) as f32)]).collect();
        let y: Vec<bool> = (0..400).map(|i| i % 20 >= 12).collect();
        let refs: Vec<&SparseRow> = rows.iter().collect();
        let m = Logistic::fit(&refs, &y, 2, 1e-3);
        let p = m.predict(&refs);
        let correct = p.iter().zip(&y).filter(|(p, y)| (**p > 0.5) == **y).count();
        assert!(correct >= 390, "{correct}");
        let (w, _) = m.coefficients();
        assert!(w[0] > 0.5 && w[1].abs() < w[0] / 10.0, "{w:?}");
    }
}
