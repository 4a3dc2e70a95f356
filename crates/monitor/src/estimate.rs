//! Performance before outcomes arrive, estimated from calibrated risks (confidence-based
//! performance estimation, as NannyML's CBPE does).
//!
//! If a model's risks are calibrated, a patient with risk `p` has the outcome with probability
//! `p`; the expected confusion matrix at a threshold and the expected AUROC follow from the
//! risks alone: `E[TP] = Σ_{p ≥ t} p`, `E[FP] = Σ_{p ≥ t} (1 − p)`, and the AUROC as the chance
//! that a patient with the outcome ranks above one without, each pair weighted `p_i (1 − p_j)`.
//! The estimate holds while calibration does: it sees a change of case mix (risks moving), not
//! a change in what the risks mean (which only outcomes show). It is always marked estimated.

use serde::{Deserialize, Serialize};

/// Performance expected from calibrated risks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// Risks read.
    pub n: u64,
    /// The expected prevalence (the mean risk).
    pub prevalence: f64,
    /// The expected AUROC.
    pub auroc: f64,
    /// At the threshold, when one was given: the share flagged.
    pub flag_rate: Option<f64>,
    /// ...the expected positive predictive value.
    pub ppv: Option<f64>,
    /// ...the expected sensitivity.
    pub sensitivity: Option<f64>,
}

/// The estimate of `risks` (each in 0–1), at `threshold` when given; `None` for fewer than two
/// risks or risks that expect no outcome, or no non-outcome.
pub fn estimate(risks: &[f64], threshold: Option<f64>) -> Option<Estimate> {
    let mut p: Vec<f64> = risks.iter().copied().filter(|v| v.is_finite()).map(|v| v.clamp(0.0, 1.0)).collect();
    if p.len() < 2 {
        return None;
    }
    p.sort_by(f64::total_cmp);
    let positives: f64 = p.iter().sum();
    let negatives: f64 = p.len() as f64 - positives;
    if positives <= 0.0 || negatives <= 0.0 {
        return None;
    }
    // Ascending: each patient outranks every one before them (ties count half).
    let mut concordant = 0.0;
    let mut negatives_below = 0.0;
    let mut i = 0;
    while i < p.len() {
        let mut j = i;
        while j < p.len() && p[j] == p[i] {
            j += 1;
        }
        let tie_pos: f64 = p[i..j].iter().sum();
        let tie_neg: f64 = p[i..j].iter().map(|v| 1.0 - v).sum();
        concordant +=
            tie_pos * negatives_below + 0.5 * (tie_pos * tie_neg - p[i..j].iter().map(|v| v * (1.0 - v)).sum::<f64>());
        negatives_below += tie_neg;
        i = j;
    }
    // A patient is never paired with themself: remove the self-pairs' weight from the total.
    let pairs = positives * negatives - p.iter().map(|v| v * (1.0 - v)).sum::<f64>();
    let auroc = if pairs > 0.0 { concordant / pairs } else { 0.5 };
    let at = threshold.map(|t| {
        let flagged: Vec<f64> = p.iter().copied().filter(|&v| v >= t).collect();
        let tp: f64 = flagged.iter().sum();
        let rate = flagged.len() as f64 / p.len() as f64;
        let ppv = if flagged.is_empty() { None } else { Some(tp / flagged.len() as f64) };
        (rate, ppv, tp / positives)
    });
    Some(Estimate {
        n: p.len() as u64,
        prevalence: positives / p.len() as f64,
        auroc,
        flag_rate: at.map(|a| a.0),
        ppv: at.and_then(|a| a.1),
        sensitivity: at.map(|a| a.2),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic uniform draw (SplitMix64).
    fn uniform(seed: &mut u64) -> f64 {
        *seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn realised_auroc(risks: &[f64], outcomes: &[bool]) -> f64 {
        let (mut concordant, mut pairs) = (0.0, 0.0);
        for (i, &a) in risks.iter().enumerate() {
            for (j, &b) in risks.iter().enumerate() {
                if outcomes[i] && !outcomes[j] {
                    pairs += 1.0;
                    concordant += if a > b {
                        1.0
                    } else if a == b {
                        0.5
                    } else {
                        0.0
                    };
                }
            }
        }
        concordant / pairs
    }

    #[test]
    fn calibrated_risks_estimate_what_their_outcomes_then_show() {
        let mut seed = 7;
        let risks: Vec<f64> = (0..3000).map(|_| uniform(&mut seed).powi(3)).collect();
        let outcomes: Vec<bool> = risks.iter().map(|&p| uniform(&mut seed) < p).collect();
        let e = estimate(&risks, Some(0.5)).expect("estimate");
        let realised = realised_auroc(&risks, &outcomes);
        assert!((e.auroc - realised).abs() < 0.02, "estimated {} realised {realised}", e.auroc);
        let prevalence = outcomes.iter().filter(|&&o| o).count() as f64 / outcomes.len() as f64;
        assert!((e.prevalence - prevalence).abs() < 0.02);
        let flagged: Vec<usize> = (0..risks.len()).filter(|&i| risks[i] >= 0.5).collect();
        let ppv = flagged.iter().filter(|&&i| outcomes[i]).count() as f64 / flagged.len() as f64;
        assert!((e.ppv.expect("ppv") - ppv).abs() < 0.05, "{e:?} vs {ppv}");
        assert!((e.flag_rate.expect("rate") - flagged.len() as f64 / risks.len() as f64).abs() < 1e-12);
    }

    #[test]
    fn risks_that_tell_no_one_apart_estimate_chance() {
        let e = estimate(&[0.2; 100], None).expect("estimate");
        assert!((e.auroc - 0.5).abs() < 1e-9, "{e:?}");
        assert!((e.prevalence - 0.2).abs() < 1e-9);
        assert!(estimate(&[0.0, 0.0], None).is_none());
        assert!(estimate(&[0.3], None).is_none());
    }
}
