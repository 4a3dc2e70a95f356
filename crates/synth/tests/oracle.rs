//! The oracle is calibrated against the simulated world, discriminates, and measures treatment
//! effects with common random numbers.

use synth::calendar::{YEAR, date};
use synth::oracle::{Outcome, Query, already, risk, risks};
use synth::{Condition, Drug, Intervention, SynthConfig, simulate_patient, vocab};

/// AUROC by ranks (ties count half).
fn auroc(scores: &[(f64, bool)]) -> f64 {
    let pos: Vec<f64> = scores.iter().filter(|s| s.1).map(|s| s.0).collect();
    let neg: Vec<f64> = scores.iter().filter(|s| !s.1).map(|s| s.0).collect();
    let mut wins = 0.0;
    for p in &pos {
        for n in &neg {
            wins += if p > n {
                1.0
            } else if p == n {
                0.5
            } else {
                0.0
            };
        }
    }
    wins / (pos.len() * neg.len()).max(1) as f64
}

#[test]
fn diabetes_oracle_is_calibrated_and_discriminates() {
    let config = SynthConfig::new(2500, 2, 31);
    let codes = vocab::code_table();
    let at = date(2018, 1, 1);
    let mut scored = Vec::new();
    for i in 0..2500u64 {
        let q = Query { patient: i, at, horizon: YEAR, outcome: Outcome::Onset(Condition::Diabetes) };
        let p = simulate_patient(&config, &codes, i);
        let alive_adult = p.truth.death.is_none_or(|d| d > at) && p.person.age(at) >= 18.0 && p.person.birth < at;
        if !alive_adult || already(&config, &codes, &q) {
            continue;
        }
        let happened = p.truth.onset[Condition::Diabetes.index()].is_some_and(|t| t > at && t <= at + YEAR);
        scored.push((risk(&config, &codes, &q, 40), happened));
    }
    let n = scored.len() as f64;
    let predicted: f64 = scored.iter().map(|s| s.0).sum::<f64>() / n;
    let observed = scored.iter().filter(|s| s.1).count() as f64 / n;
    assert!(scored.iter().filter(|s| s.1).count() >= 10, "too few incident cases: {observed:.4}");
    assert!(
        (predicted - observed).abs() < 0.5 * observed.max(0.004),
        "predicted {predicted:.4}, observed {observed:.4}"
    );
    let auc = auroc(&scored);
    eprintln!("diabetes 1y: n={n}, predicted {predicted:.4}, observed {observed:.4}, oracle AUROC {auc:.3}");
    assert!(auc > 0.85, "oracle AUROC {auc:.3}");
}

#[test]
fn anticoagulation_lowers_the_true_stroke_risk_in_atrial_fibrillation() {
    let config = SynthConfig::new(6000, 2, 32);
    let codes = vocab::code_table();
    let at = date(2016, 1, 1);
    let (mut treated, mut untreated, mut n) = (0.0, 0.0, 0);
    for i in 0..6000u64 {
        let p = simulate_patient(&config, &codes, i);
        let af = p.truth.onset[Condition::AtrialFibrillation.index()].is_some_and(|t| t < at);
        if !af || p.truth.death.is_some_and(|d| d <= at) {
            continue;
        }
        let q = Query { patient: i, at, horizon: 2 * YEAR, outcome: Outcome::Onset(Condition::Stroke) };
        let arms = [Some(Intervention::Start(Drug::Anticoagulant)), Some(Intervention::Withhold(Drug::Anticoagulant))];
        let r = risks(&config, &codes, &q, &arms, 60);
        treated += r[0];
        untreated += r[1];
        n += 1;
    }
    assert!(n >= 15, "only {n} patients with AF");
    let (treated, untreated) = (treated / f64::from(n), untreated / f64::from(n));
    eprintln!("AF stroke 2y: n={n}, anticoagulated {treated:.4}, withheld {untreated:.4}");
    // Designed: stroke hazard x0.35 on anticoagulation.
    assert!(untreated > 0.0 && treated < 0.6 * untreated, "treated {treated:.4} vs untreated {untreated:.4}");
}
