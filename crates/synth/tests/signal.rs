//! The generator's signal is real and points the right way, and its output is reproducible.

use std::collections::BTreeMap;
use std::path::Path;

use meds::{CodeTable, Timeline};
use synth::calendar::{DAY, YEAR};
use synth::{Condition, Drug, OutputOptions, SimulatedPatient, SynthConfig, simulate_patient, vocab};

fn population(n: u64, seed: u64) -> (CodeTable, Vec<SimulatedPatient>) {
    let config = SynthConfig::new(n as usize, 2, seed);
    let codes = vocab::code_table();
    let patients = (0..n).map(|i| simulate_patient(&config, &codes, i)).collect();
    (codes, patients)
}

/// (time, value) of every event with `code`.
fn series(t: &Timeline, codes: &CodeTable, code: &str) -> Vec<(i64, f32)> {
    let Some(id) = codes.get(code) else { return Vec::new() };
    t.events().filter(|e| e.code == id).filter_map(|e| Some((e.time?, e.numeric_value?))).collect()
}

fn first(t: &Timeline, codes: &CodeTable, code_list: &[&str]) -> Option<i64> {
    let ids: Vec<u32> = code_list.iter().filter_map(|c| codes.get(c)).collect();
    t.events().find(|e| ids.contains(&e.code)).and_then(|e| e.time)
}

#[test]
fn high_hba1c_predicts_a_diabetes_diagnosis_within_a_year() {
    let (codes, patients) = population(6000, 11);
    let dx_codes = [vocab::dx::T2D.0, vocab::dx::T2D_HYPERGLYCEMIA.0];
    // (measurements, followed by a diagnosis within a year) for last HbA1c >= 6.0 and < 5.7.
    let (mut high, mut low) = ((0u32, 0u32), (0u32, 0u32));
    for p in &patients {
        let diagnosed = first(&p.timeline, &codes, &dx_codes);
        for (t, value) in series(&p.timeline, &codes, vocab::lab::HBA1C.0) {
            if diagnosed.is_some_and(|d| d <= t) || value >= 6.5 {
                continue; // already diagnosed, or diagnostic on its own
            }
            let within = diagnosed.is_some_and(|d| d > t && d <= t + YEAR);
            let bucket = if value >= 6.0 {
                &mut high
            } else if value < 5.7 {
                &mut low
            } else {
                continue;
            };
            bucket.0 += 1;
            bucket.1 += u32::from(within);
        }
    }
    let rate = |b: (u32, u32)| f64::from(b.1) / f64::from(b.0.max(1));
    assert!(high.0 > 100 && low.0 > 1000, "too few measurements: {high:?} {low:?}");
    assert!(rate(high) > 5.0 * rate(low), "HbA1c >= 6.0: {:.3}, < 5.7: {:.3}", rate(high), rate(low));
    // ADA: roughly 5-10% a year progress from HbA1c 6.0-6.4% to diabetes; a coded diagnosis also
    // needs a repeat test within the year.
    assert!(rate(high) > 0.04, "{:.3}", rate(high));
}

#[test]
fn coded_diagnoses_follow_true_onset() {
    let (_, patients) = population(6000, 12);
    let mut lags: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for p in &patients {
        for c in [Condition::Diabetes, Condition::Ckd3, Condition::HeartFailure, Condition::Hypertension] {
            if let (Some(onset), Some(dx)) = (p.truth.onset[c.index()], p.truth.diagnosed[c.index()]) {
                assert!(dx >= onset, "{} coded before onset for subject {}", c.name(), p.person.subject_id);
                if onset >= p.person.registered_from {
                    lags.entry(c.name()).or_default().push((dx - onset) / DAY);
                }
            }
        }
    }
    for (name, mut days) in lags {
        days.sort_unstable();
        let median = days[days.len() / 2];
        assert!(days.len() > 20, "{name}: only {} incident diagnoses", days.len());
        assert!(median > 14 && median < 3 * 365, "{name}: median lag {median} days");
    }
}

#[test]
fn treatment_changes_trajectories() {
    // The same patients in a world where metformin and statins are never prescribed: common random
    // numbers, so the difference in what is measured afterwards is the drugs' effect.
    let n = 8000;
    let codes = vocab::code_table();
    let factual_config = SynthConfig::new(n, 2, 13);
    let mut counterfactual_config = factual_config.clone();
    counterfactual_config.withhold = vec![Drug::Metformin, Drug::Statin];
    let mean_after = |p: &SimulatedPatient, code: &str, start: i64| {
        let v: Vec<f32> = series(&p.timeline, &codes, code)
            .into_iter()
            .filter(|(t, _)| *t > start + 90 * DAY && *t < start + 2 * YEAR)
            .map(|(_, v)| v)
            .collect();
        (!v.is_empty()).then(|| f64::from(v.iter().sum::<f32>() / v.len() as f32))
    };
    let (mut a1c, mut ldl) = (Vec::new(), Vec::new());
    for i in 0..n as u64 {
        let factual = simulate_patient(&factual_config, &codes, i);
        let (metformin, statin) =
            (factual.truth.drug_start[Drug::Metformin.index()], factual.truth.drug_start[Drug::Statin.index()]);
        if metformin.is_none() && statin.is_none() {
            continue;
        }
        let counterfactual = simulate_patient(&counterfactual_config, &codes, i);
        assert_eq!(counterfactual.truth.drug_start[Drug::Metformin.index()], None);
        if let Some(start) = metformin
            && let (Some(f), Some(c)) = (
                mean_after(&factual, vocab::lab::HBA1C.0, start),
                mean_after(&counterfactual, vocab::lab::HBA1C.0, start),
            )
        {
            a1c.push(f - c);
        }
        if let Some(start) = statin
            && let (Some(f), Some(c)) =
                (mean_after(&factual, vocab::lab::LDL.0, start), mean_after(&counterfactual, vocab::lab::LDL.0, start))
        {
            ldl.push(f / c);
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    assert!(a1c.len() > 30 && ldl.len() > 30, "{} {}", a1c.len(), ldl.len());
    // Designed effects: metformin -0.9 HbA1c points, statins -35% LDL.
    assert!((-1.2..-0.6).contains(&mean(&a1c)), "metformin effect on HbA1c {:.2}", mean(&a1c));
    assert!((0.55..0.8).contains(&mean(&ldl)), "statin effect on LDL x{:.2}", mean(&ldl));
}

#[test]
fn sites_differ_in_units_and_drift_is_visible() {
    let (codes, patients) = population(6000, 14);
    let mg = codes.get(vocab::lab::GLUCOSE_MG.0);
    let mmol = codes.get(vocab::lab::GLUCOSE_MMOL.0);
    for p in &patients {
        let has = |id: Option<u32>| id.is_some_and(|id| p.timeline.codes.contains(&id));
        match p.person.site {
            0 => assert!(!has(mmol), "site 0 reports glucose in mg/dL"),
            _ => assert!(!has(mg), "site 1 reports glucose in mmol/L"),
        }
    }
    // SGLT2 inhibitors: rare before 2016, common second-line choice later.
    let second_line: Vec<(i64, bool)> = patients
        .iter()
        .filter_map(|p| {
            let sglt2 = p.truth.drug_start[Drug::Sglt2.index()];
            let glp1 = p.truth.drug_start[Drug::Glp1.index()];
            match (sglt2, glp1) {
                (Some(s), g) if g.is_none_or(|g| s <= g) => Some((s, true)),
                (_, Some(g)) => Some((g, false)),
                _ => None,
            }
        })
        .collect();
    let share = |from: i32, to: i32| {
        let (lo, hi) = (synth::calendar::date(from, 1, 1), synth::calendar::date(to, 1, 1));
        let v: Vec<bool> = second_line.iter().filter(|(t, _)| *t >= lo && *t < hi).map(|(_, s)| *s).collect();
        (v.iter().filter(|s| **s).count() as f64 / v.len().max(1) as f64, v.len())
    };
    let (early, n_early) = share(2010, 2016);
    let (late, n_late) = share(2021, 2026);
    assert!(n_early > 5 && n_late > 5, "{n_early} {n_late}");
    assert!(late > early + 0.2, "SGLT2 share of second-line starts: {early:.2} before 2016, {late:.2} after 2021");
}

fn read_tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).expect("prefix").to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&path).expect("read"));
            }
        }
    }
    out
}

#[test]
fn same_seed_same_bytes_whatever_the_thread_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = SynthConfig::new(1500, 3, 99);
    let options = OutputOptions { created_at: Some("2026-01-01T00:00:00.000000".into()), ..Default::default() };
    let run = |threads: usize, name: &str| {
        let out = dir.path().join(name);
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
        pool.install(|| synth::generate(&config, &out, &options)).expect("generate");
        read_tree(&out)
    };
    let one = run(1, "one");
    let four = run(4, "four");
    assert!(one.len() >= 8, "{:?}", one.keys().collect::<Vec<_>>());
    assert_eq!(one.keys().collect::<Vec<_>>(), four.keys().collect::<Vec<_>>());
    for (name, bytes) in &one {
        assert!(four[name] == *bytes, "{name} differs between 1 and 4 threads");
    }
    let report = meds::validate(&dir.path().join("one/meds"));
    assert!(report.is_valid(), "{:#?}", report.findings);
    let other = SynthConfig::new(1500, 3, 100);
    synth::generate(&other, &dir.path().join("other"), &options).expect("generate");
    assert_ne!(read_tree(&dir.path().join("other/meds"))["data/train/0.parquet"], one["meds/data/train/0.parquet"]);
}

/// A population grown with the same seed begins with the smaller one, patient for patient and
/// split for split: a model pretrained on the smaller population's train split can be evaluated
/// on the larger one's held-out patients without having seen any of them.
#[test]
fn a_larger_population_begins_with_the_smaller_one() {
    let codes = vocab::code_table();
    let (small, large) = (SynthConfig::new(200, 2, 7), SynthConfig::new(5_000, 2, 7));
    let mut events = 0;
    for i in 0..200 {
        let (a, b) = (simulate_patient(&small, &codes, i), simulate_patient(&large, &codes, i));
        let rows = |p: &SimulatedPatient| {
            p.timeline.events().map(|e| (e.time, e.code, e.numeric_value.map(f32::to_bits))).collect::<Vec<_>>()
        };
        assert_eq!(rows(&a), rows(&b), "patient {i}'s record");
        assert_eq!(format!("{:?}", a.truth), format!("{:?}", b.truth), "patient {i}'s truth");
        assert_eq!(synth::split_of(small.seed, i), synth::split_of(large.seed, i));
        events += a.timeline.len();
    }
    assert!(events > 10_000, "{events} events compared");
    // Another seed is another population.
    let other = simulate_patient(&SynthConfig::new(200, 2, 8), &codes, 0);
    assert_ne!(format!("{:?}", other.truth), format!("{:?}", simulate_patient(&small, &codes, 0).truth));
}
