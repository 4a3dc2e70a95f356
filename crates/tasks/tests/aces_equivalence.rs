//! `longitude label` against ACES itself (the `es-aces` package in the interop venv): same MEDS
//! data, same configuration files, and the label rows must be identical — same subjects,
//! prediction times and values. ACES also writes a row without prediction time or label when an
//! event search finds no event; we write none and count the trigger as unresolved, so those rows
//! are compared by count only.
//!
//! Three sources of configurations: the built-in suite on simulated patients, ACES's own sample
//! configurations on ACES's sample data, and MEDS-DEV's tasks with their MIMIC-IV predicates file
//! — plus randomly generated configurations on randomly generated data, which exercise the
//! corners of the window semantics (offsets landing exactly on events, inclusive and exclusive
//! ends, searches in both directions, chained windows, empty searches).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use meds::labels::BooleanLabel;
use meds::{CodeTable, Dataset, DatasetWriter, Timeline, WriterOptions};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use serde_json::Value;
use tasks::{LabelReport, Task};

type Row = (i64, i64, bool);

/// Runs ACES on `configs`; returns per config its rows and its count of rows without a time, or
/// the error with which ACES rejected the configuration.
fn aces(
    root: &Path,
    configs: &[PathBuf],
    predicates: Option<&Path>,
) -> BTreeMap<PathBuf, Result<(Vec<Row>, u64), String>> {
    let mut args: Vec<PathBuf> = vec![root.to_path_buf()];
    if let Some(p) = predicates {
        args.push("--predicates".into());
        args.push(p.to_path_buf());
    }
    args.extend(configs.iter().cloned());
    let out: Value = serde_json::from_str(&testkit::run_python("aces_labels.py", &args)).expect("json");
    configs
        .iter()
        .map(|c| {
            let v = &out[c.to_str().expect("utf-8 path")];
            if let Some(e) = v["error"].as_str() {
                return (c.clone(), Err(e.to_string()));
            }
            let rows = v["labels"]
                .as_array()
                .expect("labels")
                .iter()
                .map(|r| (r[0].as_i64().expect("id"), r[1].as_i64().expect("time"), r[2].as_bool().expect("bool")))
                .collect();
            (c.clone(), Ok((rows, v["rows_without_prediction_time"].as_u64().expect("count"))))
        })
        .collect()
}

fn ours(task: &Task, root: &Path) -> (Vec<Row>, LabelReport) {
    let (labels, report) = task.label(&Dataset::open(root).expect("open")).expect("label");
    let mut rows: Vec<Row> = labels.iter().map(|l: &BooleanLabel| (l.subject_id, l.prediction_time, l.value)).collect();
    rows.sort();
    (rows, report)
}

/// Labels `configs` both ways and asserts the rows are identical; returns our reports.
fn assert_equivalent(root: &Path, configs: &[PathBuf], predicates: Option<&Path>) -> Vec<LabelReport> {
    let theirs = aces(root, configs, predicates);
    let mut reports = Vec::new();
    for config in configs {
        let task = Task::load(config, predicates).unwrap_or_else(|e| panic!("{e}"));
        let (rows, report) = ours(&task, root);
        let (expected, without_time) =
            theirs[config].as_ref().unwrap_or_else(|e| panic!("ACES rejects {}: {e}", config.display()));
        if &rows != expected {
            let missing: Vec<_> = expected.iter().filter(|r| !rows.contains(r)).take(5).collect();
            let extra: Vec<_> = rows.iter().filter(|r| !expected.contains(r)).take(5).collect();
            panic!(
                "{}: {} labels vs ACES's {}\n  ACES only: {missing:?}\n  ours only: {extra:?}\n  config:\n{}",
                config.display(),
                rows.len(),
                expected.len(),
                std::fs::read_to_string(config).unwrap_or_default()
            );
        }
        let unresolved: u64 = report.unresolved.values().sum();
        assert!(
            *without_time <= unresolved,
            "{}: ACES wrote {without_time} rows without a time, we counted {unresolved} unresolved triggers",
            config.display()
        );
        assert_eq!(
            report.triggers,
            report.labels + report.excluded.values().sum::<u64>() + unresolved,
            "every trigger is accounted for"
        );
        reports.push(report);
    }
    reports
}

fn simulated(dir: &Path, patients: usize) -> PathBuf {
    let config = synth::SynthConfig::new(patients, 2, 11);
    let options = synth::OutputOptions {
        formats: synth::Formats { meds: true, fhir_ndjson: false, fhir_bundles: false },
        created_at: Some("2026-01-01T00:00:00Z".into()),
        progress: None,
    };
    synth::generate(&config, dir, &options).expect("synth");
    dir.join("meds")
}

#[test]
fn the_built_in_suite_labels_simulated_patients_exactly_as_aces() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = simulated(dir.path(), 2_000);
    let configs: Vec<PathBuf> = tasks::suite::SUITE
        .iter()
        .map(|(name, yaml)| {
            let path = dir.path().join(format!("{name}.yaml"));
            std::fs::write(&path, yaml).expect("write config");
            path
        })
        .collect();
    let reports = assert_equivalent(&root, &configs, None);
    // The comparison must have something to compare: every task labels someone, and every task
    // with a non-rare outcome has positives and negatives.
    for r in &reports {
        assert!(r.labels > 0, "{} labelled nobody", r.task);
        if !["colorectal_cancer_1y", "stroke_in_af_1y", "mi_1y"].contains(&r.task.as_str()) {
            assert!(r.positives > 0 && r.positives < r.labels, "{}: {} of {} positive", r.task, r.positives, r.labels);
        }
    }
    // Censoring: chronic tasks exclude triggers without follow-up to the horizon.
    let t2d = reports.iter().find(|r| r.task == "new_t2d_1y").expect("t2d");
    assert!(t2d.excluded.get("follow_up.end").copied().unwrap_or(0) > 0, "{t2d:?}");
}

#[test]
fn aces_sample_configs_on_aces_sample_data_match_aces() {
    let root = testkit::repo_root().join("tests/data/meds/aces-meds-sample");
    let dir = testkit::repo_root().join("tests/data/aces/aces-sample-configs");
    let configs: Vec<PathBuf> =
        ["abnormal_lab", "imminent_mortality", "inhospital_mortality", "long_term_recurrence", "readmission_risk"]
            .iter()
            .map(|n| dir.join(format!("{n}.yaml")))
            .collect();
    let reports = assert_equivalent(&root, &configs, None);
    let labelled: u64 = reports.iter().map(|r| r.labels).sum();
    assert!(labelled > 100, "the sample configs label the sample data: {labelled}");
    // The sample's one configuration without a label cannot be a prediction task: a clear error.
    let err = Task::load(&dir.join("intervention_weaning.yaml"), None).expect_err("no label window").to_string();
    assert!(err.contains("label"), "{err}");
}

#[test]
fn meds_dev_tasks_with_their_predicates_file_match_aces() {
    let base = testkit::repo_root().join("tests/data/aces/meds-dev");
    let predicates = base.join("datasets/MIMIC-IV/predicates.yaml");
    let configs: Vec<PathBuf> = [
        "tasks/mortality/in_icu/first_24h.yaml",
        "tasks/abnormal_lab/cbc/anemia/first_24h.yaml",
        "tasks/abnormal_lab/blood_chemistry/hyponatremia/first_24h.yaml",
    ]
    .iter()
    .map(|p| base.join(p))
    .collect();
    // Without the predicates file the `???` placeholders are named in the error.
    let err = Task::load(&configs[0], None).expect_err("placeholders").to_string();
    assert!(err.contains("???") && err.contains("icu_admission"), "{err}");
    // With it they parse and label exactly as ACES; MIMIC-IV codes are absent from the ACES
    // sample, so this checks agreement on the empty result as well as the parse.
    let root = testkit::repo_root().join("tests/data/meds/aces-meds-sample");
    assert_equivalent(&root, &configs, Some(&predicates));
}

// ----- random configurations on random data -------------------------------------------------

const CODES: [&str; 4] = ["A", "B", "C", "D"];
const HOUR: i64 = 3_600_000_000;

/// Subjects with events on an hourly grid (so offsets land exactly on events), several events
/// per timestamp, values 0..10 on C and D, and a static code on some subjects.
fn random_dataset(root: &Path, rng: &mut ChaCha8Rng) {
    let mut codes = CodeTable::new();
    let ids: Vec<u32> = CODES.iter().map(|c| codes.intern(c)).collect();
    let stat = codes.intern("STATIC//X");
    let mut writer = DatasetWriter::create(root, WriterOptions::default()).expect("create");
    for s in 0..60 {
        let mut t = Timeline::new(s);
        if rng.random_bool(0.5) {
            t.push(None, stat, None, None);
        }
        let mut hour = 1_577_836_800_000_000 / HOUR + rng.random_range(0..48);
        for _ in 0..rng.random_range(1..25) {
            hour += rng.random_range(0..30);
            for _ in 0..rng.random_range(1..3) {
                let c = rng.random_range(0..4);
                let value = (c >= 2).then(|| rng.random_range(0..10) as f32);
                t.push(Some(hour * HOUR), ids[c], value, None);
            }
        }
        writer.write_subject("train", &t, &codes).expect("write");
    }
    writer.finish(&codes).expect("finish");
}

fn random_offset(rng: &mut ChaCha8Rng) -> String {
    let h = rng.random_range(1..60);
    if rng.random_bool(0.3) { format!("{} days", h / 10 + 1) } else { format!("{h}h") }
}

fn random_predicate(rng: &mut ChaCha8Rng, with_special: bool) -> String {
    let options: &[&str] = if with_special {
        &["a", "b", "c_high", "c_or_d", "a_and_b", "_ANY_EVENT"]
    } else {
        &["a", "b", "c_high", "c_or_d", "a_and_b"]
    };
    options[rng.random_range(0..options.len())].to_string()
}

/// A random but valid ACES configuration: an input window ending at (or near) the trigger, a
/// gap or event-bounded window, and a label window chained to it.
fn random_config(rng: &mut ChaCha8Rng) -> String {
    let b = |rng: &mut ChaCha8Rng| if rng.random_bool(0.5) { "True" } else { "False" };
    let has = |rng: &mut ChaCha8Rng| -> String {
        if rng.random_bool(0.5) {
            return String::new();
        }
        let p = random_predicate(rng, true);
        let (lo, hi) = match rng.random_range(0..3) {
            0 => ("None".to_string(), rng.random_range(0..2).to_string()),
            1 => (rng.random_range(1..3).to_string(), "None".to_string()),
            _ => ("1".to_string(), "3".to_string()),
        };
        format!("    has:\n      {p}: ({lo}, {hi})\n")
    };
    let trigger = ["a", "b", "a_and_b", "_ANY_EVENT"][rng.random_range(0..4)];
    let demographics = if rng.random_bool(0.2) { "patient_demographics:\n  x:\n    code: STATIC//X\n" } else { "" };
    let input_end = match rng.random_range(0..3) {
        0 => "trigger".to_string(),
        1 => format!("trigger + {}", random_offset(rng)),
        _ => format!("trigger - {}", random_offset(rng)),
    };
    let input_start = match rng.random_range(0..10) {
        0..3 => "null".to_string(),
        3..6 => format!("end - {}", random_offset(rng)),
        6..9 => format!("end <- {}", random_predicate(rng, false)),
        // Invalid: a start after its end. Both must reject it.
        _ => format!("end -> {}", random_predicate(rng, false)),
    };
    let (gap_start, gap_end) = match rng.random_range(0..4) {
        0 => ("trigger".to_string(), format!("start + {}", random_offset(rng))),
        1 => ("trigger".to_string(), format!("start -> {}", random_predicate(rng, false))),
        2 => ("input.end".to_string(), format!("start + {}", random_offset(rng))),
        _ => (format!("end - {}", random_offset(rng)), format!("trigger + {}", random_offset(rng))),
    };
    let (target_start, target_end) = match rng.random_range(0..4) {
        0 => ("gap.end".to_string(), format!("start + {}", random_offset(rng))),
        1 => ("gap.end".to_string(), format!("start -> {}", random_predicate(rng, false))),
        2 => ("gap.end".to_string(), "null".to_string()),
        _ => (format!("end <- {}", random_predicate(rng, false)), "gap.start".to_string()),
    };
    let label = random_predicate(rng, false);
    let (index_window, index_side) = match rng.random_range(0..4) {
        0 => ("input", "end"),
        1 => ("input", "start"),
        2 => ("gap", "end"),
        _ => ("target", "start"),
    };
    let index =
        |w: &str| if w == index_window { format!("    index_timestamp: {index_side}\n") } else { String::new() };
    let window = |rng: &mut ChaCha8Rng, name: &str, start: &str, end: &str, extra: String| {
        format!(
            "  {name}:\n    start: {start}\n    end: {end}\n    start_inclusive: {}\n    end_inclusive: {}\n{}{}{extra}",
            b(rng),
            b(rng),
            has(rng),
            index(name)
        )
    };
    let input = window(rng, "input", &input_start, &input_end, String::new());
    let gap = window(rng, "gap", &gap_start, &gap_end, String::new());
    let target = window(rng, "target", &target_start, &target_end, format!("    label: {label}\n"));
    format!(
        "predicates:\n  a:\n    code: A\n  b:\n    code: B\n  c_high:\n    code: C\n    value_min: 5\n    value_min_inclusive: {}\n  d:\n    code: {{ regex: \"^D$\" }}\n    value_max: 7\n  c_or_d:\n    expr: or(c_high, d)\n  a_and_b:\n    expr: and(a, b)\n{demographics}\ntrigger: {trigger}\n\nwindows:\n{input}{gap}{target}",
        b(rng)
    )
}

#[test]
fn random_configurations_on_random_data_match_aces() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = ChaCha8Rng::seed_from_u64(2026);
    let root = dir.path().join("meds");
    random_dataset(&root, &mut rng);
    let (mut configs, mut rejected) = (Vec::new(), Vec::new());
    for i in 0..150 {
        let path = dir.path().join(format!("random_{i}.yaml"));
        std::fs::write(&path, random_config(&mut rng)).expect("write");
        // Some random combinations are not valid ACES (a bound on the wrong side of its
        // reference, say): both must reject those.
        match Task::load(&path, None) {
            Ok(_) => configs.push(path),
            Err(e) => rejected.push((path, e.to_string())),
        }
    }
    let judged = aces(&root, &rejected.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>(), None);
    for (path, ours) in &rejected {
        assert!(judged[path].is_err(), "we reject {} ({ours}) but ACES accepts it", path.display());
    }
    assert!(!rejected.is_empty() && configs.len() >= 100, "{} valid, {} invalid of 150", configs.len(), rejected.len());
    let reports = assert_equivalent(&root, &configs, None);
    let with_labels = reports.iter().filter(|r| r.labels > 0).count();
    let with_both = reports.iter().filter(|r| r.positives > 0 && r.positives < r.labels).count();
    assert!(
        with_labels > 60 && with_both > 30,
        "random tasks must label something: {with_labels} labelled, {with_both} mixed"
    );
}
