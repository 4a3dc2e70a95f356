//! The generator's documented drifts are the test (docs/synth.md): each is detected within its
//! stated number of months and not before it starts, and a population without drift raises no
//! alert over a year of monthly checks. Every check is a rolling three-month window ending in
//! the month checked, against the reference year 2015 (the training period), with the default
//! thresholds; populations of 6,000 patients at one site, several seeds each.

use std::collections::BTreeMap;

use monitor::{Check, Kind, Month, MonthProfile, Reference, Thresholds, by_month, check};
use synth::{Formats, OutputOptions, SynthConfig};

/// The population `config` describes, as the generator writes it in MEDS.
fn simulate(config: &SynthConfig) -> (meds::CodeTable, Vec<meds::Timeline>) {
    let dir = tempfile::tempdir().expect("dir");
    let options = OutputOptions {
        formats: Formats { meds: true, fhir_ndjson: false, fhir_bundles: false },
        created_at: Some("2026-01-01T00:00:00Z".into()),
        progress: None,
    };
    synth::generate(config, dir.path(), &options).expect("synth");
    meds::Dataset::open(dir.path().join("meds")).expect("open").read_all().expect("read")
}

/// Its months, for everyone.
fn population(config: &SynthConfig) -> BTreeMap<Month, MonthProfile> {
    let (codes, timelines) = simulate(config);
    let refs: Vec<&meds::Timeline> = timelines.iter().collect();
    by_month(&refs, &codes)
}

/// Its months, for everyone and each subgroup.
fn profiles(config: &SynthConfig) -> monitor::Profiles {
    let (codes, timelines) = simulate(config);
    let refs: Vec<&meds::Timeline> = timelines.iter().collect();
    monitor::profiles_within(&refs, &codes, None, true)
}

const REFERENCE: (&str, &str) = ("2015-01", "2015-12");

fn m(text: &str) -> Month {
    text.parse().expect("a month")
}

fn reference(months: &BTreeMap<Month, MonthProfile>) -> Reference {
    Reference::of(months, m(REFERENCE.0), m(REFERENCE.1)).expect("a reference period with data")
}

/// Monthly checks from `first` to `last`, each of the quarter ending that month.
fn monthly(reference: &Reference, months: &BTreeMap<Month, MonthProfile>, first: &str, last: &str) -> Vec<Check> {
    m(first)
        .through(m(last))
        .into_iter()
        .map(|end| check(reference, months, end.back(2), end, &Thresholds::default()))
        .collect()
}

/// The first month whose check finds `kind` for `code`.
fn first_alert(checks: &[Check], kind: Kind, code: &str) -> Option<Month> {
    checks.iter().find(|c| c.findings.iter().any(|f| f.kind == kind && f.code.as_deref() == Some(code))).map(|c| c.last)
}

fn between(found: Option<Month>, from: &str, by: &str, what: &str) {
    let found = found.unwrap_or_else(|| panic!("{what}: never detected"));
    assert!(found >= m(from) && found <= m(by), "{what}: detected in {found}, expected {from}–{by}");
}

#[test]
fn each_documented_drift_is_detected_within_its_months_and_not_before() {
    for seed in [11, 3] {
        // One site with every drift of the default configuration, its creatinine assay included.
        let mut config = SynthConfig::new(6000, 1, seed);
        config.drift.assay_change_site = 0;
        let months = population(&config);
        let reference = reference(&months);
        let checks = monthly(&reference, &months, "2016-01", "2020-12");

        // Coding change, January 2017: E11.9 partly recoded as E11.65 — the new code within 3
        // months, the old one's fall within 6.
        between(first_alert(&checks, Kind::NewCode, "ICD10CM/E11.65"), "2017-01", "2017-03", "E11.65 appears");
        between(first_alert(&checks, Kind::CodeRate, "ICD10CM/E11.9"), "2017-01", "2017-06", "E11.9 falls");
        // A new drug class taken up from 2016, reaching 70% of second-line starts over 6 years:
        // gradual, and few starts a month in 6,000 patients — empagliflozin within 5 years
        // (measured over seeds 1–5: May 2017 to June 2020).
        between(first_alert(&checks, Kind::CodeRate, "RXNORM/1545653"), "2016-01", "2020-12", "SGLT2 uptake");
        // Screening intensifies in 2018: healthier people tested, HbA1c's deciles fall within 6
        // months.
        between(first_alert(&checks, Kind::Values, "LOINC/4548-4"), "2018-01", "2018-06", "HbA1c screening");
        // The creatinine assay reads 8% high from 2019: its deciles move within 6 months.
        between(first_alert(&checks, Kind::Values, "LOINC/2160-0"), "2019-01", "2019-06", "creatinine assay");
        let creatinine = checks
            .iter()
            .flat_map(|c| &c.findings)
            .find(|f| f.kind == Kind::Values && f.code.as_deref() == Some("LOINC/2160-0"))
            .expect("found");
        assert_eq!(creatinine.statistic, "median_shift");
        assert!(creatinine.value > 0.04 && creatinine.value < 0.12, "the 8% bias, as measured: {creatinine:?}");
    }
}

#[test]
fn a_population_without_drift_raises_no_alert_in_a_year_of_monthly_checks() {
    for seed in [12, 1, 2] {
        let mut config = SynthConfig::new(6000, 1, seed);
        let never = 2100;
        config.drift.sglt2_uptake_start_year = never;
        config.drift.screening_intensifies_year = never;
        config.drift.assay_change_year = never;
        config.drift.coding_change_year = never;
        let profiles = profiles(&config);
        let months = &profiles.all;
        let reference = reference(months);
        let checks = monthly(&reference, months, "2016-01", "2016-12");
        assert_eq!(checks.len(), 12);
        for c in &checks {
            assert!(c.patient_months > 1000, "the checks see the population: {}", c.patient_months);
            assert!(c.findings.is_empty(), "seed {seed}, {}: {:#?}", c.last, c.findings);
        }
        // Nor in any subgroup, each against its own reference.
        let subgroups = &profiles.subgroups;
        assert!(subgroups.len() >= 5, "{:?}", subgroups.keys().collect::<Vec<_>>());
        for (group, months) in subgroups {
            let Some(reference) = Reference::of(months, m(REFERENCE.0), m(REFERENCE.1)) else { continue };
            for c in monthly(&reference, months, "2016-01", "2016-12") {
                assert!(c.findings.is_empty(), "seed {seed}, {group}, {}: {:#?}", c.last, c.findings);
            }
        }
    }
}

#[test]
fn a_shift_in_case_mix_is_seen_in_the_first_month() {
    // The reference population, then the same site taking in patients 15 years older.
    let config = SynthConfig::new(6000, 1, 13);
    let before = population(&config);
    let reference = reference(&before);
    let mut older = config.clone();
    older.sites[0].age_shift_years = -15.0;
    let after = population(&older);
    let checks = monthly(&reference, &after, "2016-01", "2016-01");
    let kinds: Vec<Kind> = checks[0].findings.iter().map(|f| f.kind).collect();
    assert!(kinds.contains(&Kind::CodeRate), "older patients carry more diagnoses: {:#?}", checks[0].findings);
}

#[test]
fn a_drift_in_one_subgroup_is_found_in_that_subgroup() {
    // A drift-free population; from June 2016 one lab reads 15% high for women only (say a
    // sex-specific reference change at the lab), found against the women's own reference.
    let mut config = SynthConfig::new(6000, 1, 21);
    let never = 2100;
    config.drift.sglt2_uptake_start_year = never;
    config.drift.screening_intensifies_year = never;
    config.drift.assay_change_year = never;
    config.drift.coding_change_year = never;
    let (codes, timelines) = simulate(&config);
    let creatinine = codes.get("LOINC/2160-0").expect("creatinine is measured");
    let female = codes.get("GENDER/F").expect("women");
    let from = m("2016-06").start();
    let drifted: Vec<meds::Timeline> = timelines
        .iter()
        .map(|t| {
            let is_female = t.events().any(|e| e.code == female);
            let mut out = meds::Timeline::with_capacity(t.subject_id, t.len());
            for e in t.events() {
                let biased = is_female && e.code == creatinine && e.time.is_some_and(|time| time >= from);
                let value = e.numeric_value.map(|v| if biased { v * 1.15 } else { v });
                out.push(e.time, e.code, value, e.text_value.map(str::to_string));
            }
            out
        })
        .collect();
    let refs: Vec<&meds::Timeline> = drifted.iter().collect();
    let profiles = monitor::profiles_within(&refs, &codes, None, true);
    let (first, last) = (m(REFERENCE.0), m(REFERENCE.1));
    let women = Reference::of(&profiles.subgroups["sex=F"], first, last).expect("women's reference");
    let men = Reference::of(&profiles.subgroups["sex=M"], first, last).expect("men's reference");
    let women_checks = monthly(&women, &profiles.subgroups["sex=F"], "2016-01", "2016-12");
    let men_checks = monthly(&men, &profiles.subgroups["sex=M"], "2016-01", "2016-12");
    between(first_alert(&women_checks, Kind::Values, "LOINC/2160-0"), "2016-06", "2016-09", "women's creatinine");
    assert!(
        men_checks.iter().all(|c| c.findings.is_empty()),
        "{:#?}",
        men_checks.iter().flat_map(|c| &c.findings).collect::<Vec<_>>()
    );
    assert!(profiles.subgroups.keys().any(|k| k.starts_with("age=")));
}
