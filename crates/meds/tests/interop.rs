//! Interop with the MEDS ecosystem, judged by its own tools (the `meds`, `meds-evaluation` and
//! `meds_reader` Python packages, in a venv that `scripts/interop-venv` builds on first use).

mod common;

use common::*;
use meds::labels::{BooleanLabel, BooleanPrediction, write_boolean_labels, write_boolean_predictions};
use meds::{Dataset, Timeline};
use serde_json::Value;
use testkit::run_python;

#[test]
fn meds_package_accepts_what_we_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("ds");
    let (_, subjects) = write_sample(&root, 40);
    let labels: Vec<BooleanLabel> = subjects
        .iter()
        .map(|t| BooleanLabel { subject_id: t.subject_id, prediction_time: 1_400_000_000_000_000, value: t.len() > 7 })
        .collect();
    let lp = dir.path().join("labels.parquet");
    write_boolean_labels(&lp, &labels).expect("labels");
    let preds: Vec<BooleanPrediction> =
        labels.iter().map(|&label| BooleanPrediction { label, predicted_value: true, probability: 0.75 }).collect();
    let pp = dir.path().join("predictions.parquet");
    write_boolean_predictions(&pp, &preds).expect("predictions");

    let out = run_python(
        "check_meds.py",
        [root.as_os_str(), "--labels".as_ref(), lp.as_os_str(), "--predictions".as_ref(), pp.as_os_str()],
    );
    let v: Value = serde_json::from_str(&out).expect("json");
    let events: usize = subjects.iter().map(Timeline::len).sum();
    assert_eq!(v["subjects"], 30);
    assert_eq!(v["events"], events as u64);
    assert_eq!(v["codes"], 5);
    assert_eq!(v["labels"], 30);
    assert_eq!(v["predictions"], 30);
    assert_eq!(v["splits"]["train"], 18);
    assert!(v["shards"].as_u64().expect("shards") > 3);
}

#[test]
fn we_read_what_pyarrow_writes_with_the_meds_schema() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("pw");
    run_python("write_meds.py", [&root]);
    let report = meds::validate(&root);
    assert!(report.is_valid() && report.findings.is_empty(), "{:#?}", report.findings);

    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("expected.json")).expect("expected")).expect("json");
    let expected = expected.as_object().expect("object");
    let (codes, timelines) = Dataset::open(&root).expect("open").read_all().expect("read");
    assert_eq!(timelines.len(), expected.len());
    for t in &timelines {
        let want = expected[&t.subject_id.to_string()].as_array().expect("events");
        assert_eq!(t.len(), want.len(), "subject {}", t.subject_id);
        for (e, w) in t.events().zip(want) {
            assert_eq!(e.time, w[0].as_i64(), "time");
            assert_eq!(codes.name(e.code), w[1].as_str().expect("code"));
            assert_eq!(e.numeric_value.map(f64::from), w[2].as_f64(), "value");
            assert_eq!(e.text_value, w[3].as_str(), "text");
        }
    }
    assert!(timelines.iter().any(|t| t.subject_id == (1 << 40) + 7), "64-bit subject ids survive");
}
