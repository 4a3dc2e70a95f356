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

/// The oracles of outcomes settled inside one hospital stay or lab draw read the course's hidden
/// parameters: checked against what the recorded world then did, stay by stay and draw by draw.
#[test]
fn stay_and_draw_oracles_are_calibrated_against_the_recorded_courses() {
    let config = SynthConfig::new(4000, 2, 33);
    let codes = vocab::code_table();
    let id = |c: &str| codes.get(c).expect("a code the generator uses");
    let (end_code, potassium_code) = (id("ENCOUNTER_END/IMP"), id("LOINC/2823-3"));
    let (mut died, mut long, mut high) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..4000u64 {
        let p = simulate_patient(&config, &codes, i);
        let tl = &p.timeline;
        let ask =
            |outcome: Outcome, at: i64| risk(&config, &codes, &Query { patient: i, at, horizon: YEAR, outcome }, 0);
        for stay in &p.truth.stays {
            // The stay's end as recorded: its discharge, or the death that ended it.
            let Some(end) =
                (0..tl.len()).filter(|&k| tl.codes[k] == end_code).map(|k| tl.times[k]).find(|&t| t >= stay.admitted)
            else {
                continue; // still in hospital when the record ends
            };
            let death = p.truth.death.is_some_and(|d| d == end && d > stay.admitted);
            died.push((ask(Outcome::InHospitalDeath, stay.admitted), death));
            long.push((
                ask(Outcome::StayLongerThan { days: 7 }, stay.admitted),
                end > stay.admitted + 7 * 86_400_000_000,
            ));
        }
        for &(t, _) in &p.truth.potassium {
            let recorded = (0..tl.len()).find(|&k| tl.times[k] == t && tl.codes[k] == potassium_code);
            if let Some(v) = recorded.map(|k| tl.numeric_values[k]).filter(|v| !v.is_nan()) {
                high.push((ask(Outcome::PotassiumAtLeast { tenths: 55 }, t - 1_000_000), v >= 5.5));
            }
        }
    }
    for (name, scored, min_auc) in
        [("in-hospital death", &died, 0.55), ("stay > 7 days", &long, 0.6), ("potassium ≥ 5.5", &high, 0.9)]
    {
        let n = scored.len() as f64;
        let positives = scored.iter().filter(|s| s.1).count();
        let predicted = scored.iter().map(|s| s.0).sum::<f64>() / n;
        let observed = positives as f64 / n;
        let auc = auroc(scored);
        eprintln!(
            "{name}: n={n}, positives {positives}, predicted {predicted:.4}, observed {observed:.4}, AUROC {auc:.3}"
        );
        assert!(positives >= 20, "{name}: too few positives ({positives} of {n})");
        assert!(scored.iter().all(|s| (0.0..=1.0).contains(&s.0)), "{name}: a risk outside [0, 1]");
        // Calibration in the large: within three binomial standard errors (and 15%).
        let se = (predicted * (1.0 - predicted) / n).sqrt();
        assert!(
            (predicted - observed).abs() < (3.0 * se).max(0.15 * observed),
            "{name}: predicted {predicted:.4}, observed {observed:.4}"
        );
        assert!(auc > min_auc, "{name}: oracle AUROC {auc:.3}");
    }
}

/// The readmission oracle (the stay's scheduled readmission counted exactly, other admissions
/// re-drawn) against what the recorded world did after each discharge followed for 30 days.
#[test]
fn readmission_oracle_is_calibrated_against_the_recorded_discharges() {
    const DAY: i64 = 86_400_000_000;
    let config = SynthConfig::new(4000, 2, 34);
    let codes = vocab::code_table();
    let mut scored = Vec::new();
    for i in 0..4000u64 {
        let p = simulate_patient(&config, &codes, i);
        for stay in p.truth.stays.iter().filter(|s| !s.died) {
            let (d, end) = (stay.ended, stay.ended + 30 * DAY);
            // Followed for the whole window: registered and alive through it (the task's censoring).
            if p.person.registered_until <= end || p.truth.death.is_some_and(|x| x <= end) {
                continue;
            }
            let q = Query { patient: i, at: d, horizon: 30 * DAY, outcome: Outcome::Readmission };
            let happened = p.truth.stays.iter().any(|s| s.admitted > d && s.admitted <= end);
            scored.push((risk(&config, &codes, &q, 16), happened));
        }
    }
    let n = scored.len() as f64;
    let positives = scored.iter().filter(|s| s.1).count();
    let predicted = scored.iter().map(|s| s.0).sum::<f64>() / n;
    let observed = positives as f64 / n;
    let auc = auroc(&scored);
    eprintln!(
        "readmission 30d: n={n}, positives {positives}, predicted {predicted:.4}, observed {observed:.4}, AUROC {auc:.3}"
    );
    assert!(positives >= 20, "too few readmissions ({positives} of {n})");
    assert!(scored.iter().all(|s| (0.0..=1.0).contains(&s.0)), "a risk outside [0, 1]");
    let se = (predicted * (1.0 - predicted) / n).sqrt();
    assert!(
        (predicted - observed).abs() < (3.0 * se).max(0.15 * observed),
        "predicted {predicted:.4}, observed {observed:.4}"
    );
    assert!(auc > 0.55, "oracle AUROC {auc:.3}");
    // No stay discharged alive at a time that is not a discharge.
    let q = Query { patient: 0, at: 1, horizon: 30 * DAY, outcome: Outcome::Readmission };
    assert!(risk(&config, &codes, &q, 4).is_nan());
}

/// The scheduled readmission's timing, counted over its grid: never before 3 days, always by 57.
#[test]
fn a_scheduled_readmission_lands_between_three_and_fifty_seven_days() {
    use synth::oracle::scheduled_readmission_within;
    const DAY: i64 = 86_400_000_000;
    let discharged = date(2019, 3, 4) + 13 * 3_600_000_000;
    assert_eq!(scheduled_readmission_within(discharged, 2 * DAY), 0.0);
    assert_eq!(scheduled_readmission_within(discharged, 57 * DAY), 1.0);
    let month = scheduled_readmission_within(discharged, 30 * DAY);
    // k + u ≤ 30 days for about 405 of the 756 day pairs.
    assert!((month - 405.0 / 756.0).abs() < 0.03, "{month}");
}

/// A share of a few futures ties every rare risk at 0; the adaptive oracle draws more where it
/// has seen too few outcomes and ranks them, while a common risk keeps its first futures.
#[test]
fn the_adaptive_oracle_ranks_the_rare_risks_a_fixed_count_ties_at_zero() {
    use synth::oracle::{Precision, RESOLVING_HITS, risk_with};
    let config = SynthConfig::new(3000, 2, 35);
    let codes = vocab::code_table();
    let at = date(2018, 1, 1);
    let (first, most) = (32u32, 512u32);
    let (mut fixed, mut adaptive) = (Vec::new(), Vec::new());
    for i in 0..3000u64 {
        let p = simulate_patient(&config, &codes, i);
        if p.truth.death.is_some_and(|d| d <= at) || p.person.age(at) < 40.0 || p.person.birth >= at {
            continue;
        }
        let q = Query { patient: i, at, horizon: YEAR, outcome: Outcome::Death };
        let died = p.truth.death.is_some_and(|d| d > at && d <= at + YEAR);
        let f = risk(&config, &codes, &q, first);
        let a = risk_with(&config, &codes, &q, Precision::adaptive(first, most));
        if f * f64::from(first) >= f64::from(RESOLVING_HITS) {
            assert_eq!(a, f, "patient {i}: a resolved risk keeps its first {first} futures");
        }
        // Each share is of a whole number of futures between the first count and the cap.
        let drawn = [32.0, 64.0, 128.0, 256.0, 512.0];
        assert!(drawn.iter().any(|n| (a * n - (a * n).round()).abs() < 1e-9), "patient {i}: {a}");
        fixed.push((f, died));
        adaptive.push((a, died));
    }
    let zeros = |s: &[(f64, bool)]| s.iter().filter(|x| x.0 == 0.0).count();
    let (zf, za) = (zeros(&fixed), zeros(&adaptive));
    let (af, aa) = (auroc(&fixed), auroc(&adaptive));
    let deaths = fixed.iter().filter(|s| s.1).count();
    eprintln!("death 1y, {} adults, {deaths} deaths: zeros {zf} → {za}, AUROC {af:.3} → {aa:.3}", fixed.len());
    assert!(deaths >= 10, "too few deaths: {deaths}");
    assert!(zf * 2 > fixed.len(), "most adults' 1-year death risk is below 1/{first}: {zf} of {}", fixed.len());
    assert!(za * 3 < zf, "the adaptive oracle resolves most of them: {za} zeros left of {zf}");
    assert!(aa > af, "ranking the rare risks raises the AUROC: {af:.3} → {aa:.3}");
}
