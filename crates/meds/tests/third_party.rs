//! Real third-party MEDS data (copied from ../shared/data/meds into tests/data/meds, see
//! tests/data/PROVENANCE.md) reads with the counts its provenance states.

mod common;

use std::path::PathBuf;

use meds::Dataset;
use testkit::repo_root;

fn data(name: &str) -> PathBuf {
    repo_root().join("tests/data/meds").join(name)
}

fn shard_counts(name: &str) -> Vec<(String, u64, u64)> {
    let dataset = Dataset::open(data(name)).expect("open");
    let codes = std::sync::Mutex::new(meds::CodeTable::new());
    dataset
        .shards()
        .iter()
        .map(|s| {
            let summary = meds::reader::read_shard(&s.path, &codes, |_| Ok(())).expect("read shard");
            (s.relative.to_string_lossy().into_owned(), summary.subjects, summary.events)
        })
        .collect()
}

#[test]
fn aces_meds_sample_counts_match_provenance() {
    // PROVENANCE: 100 subjects, 77,542 events; train/0 26,563 rows (35 subjects); train/1 26,643 (35);
    // tuning/0 13,500 (15); held_out/0 10,836 (15).
    assert_eq!(
        shard_counts("aces-meds-sample"),
        vec![
            ("data/held_out/0.parquet".into(), 15, 10_836),
            ("data/train/0.parquet".into(), 35, 26_563),
            ("data/train/1.parquet".into(), 35, 26_643),
            ("data/tuning/0.parquet".into(), 15, 13_500),
        ]
    );
    let d = meds::describe(&data("aces-meds-sample"), 3).expect("describe");
    assert_eq!((d.subjects, d.events), (100, 77_542));
    assert_eq!(d.split_source, "data/ directories", "there is no metadata/ upstream");
    let splits: Vec<(String, u64)> = d.splits.iter().map(|s| (s.split.clone(), s.subjects)).collect();
    assert_eq!(splits, vec![("held_out".into(), 15), ("train".into(), 70), ("tuning".into(), 15)]);
    // Static rows (null time) exist and sort first; numeric_value is double upstream.
    assert!(d.static_events > 0);
    let report = meds::validate(&data("aces-meds-sample"));
    assert!(report.warnings().any(|w| w.message.contains("`numeric_value` is double")));
    assert!(report.errors().any(|e| e.message.contains("required metadata file is missing")));
}

#[test]
fn meds_transforms_example_counts_match_provenance() {
    // PROVENANCE: 6 subjects, 62 events (train/0 30, train/1 14, tuning/0 7, held_out/0 11); 5 codes in codes.parquet.
    let counts: Vec<(String, u64)> =
        shard_counts("meds-transforms-example").into_iter().map(|(p, _, e)| (p, e)).collect();
    assert_eq!(
        counts,
        vec![
            ("data/held_out/0.parquet".into(), 11),
            ("data/train/0.parquet".into(), 30),
            ("data/train/1.parquet".into(), 14),
            ("data/tuning/0.parquet".into(), 7),
        ]
    );
    let root = data("meds-transforms-example");
    assert_eq!(meds::metadata::read_codes(&root).expect("codes").len(), 5);
    let d = meds::describe(&root, 3).expect("describe");
    assert_eq!((d.subjects, d.events), (6, 62));
    assert_eq!(d.split_source, "metadata/subject_splits.parquet");
    let report = meds::validate(&root);
    assert!(report.is_valid(), "{:#?}", report.findings);
}

#[test]
fn third_party_timelines_are_in_meds_order() {
    for name in ["aces-meds-sample", "meds-transforms-example"] {
        let (_, timelines) = Dataset::open(data(name)).expect("open").read_all().expect("read");
        assert!(timelines.iter().all(|t| t.is_sorted()), "{name}");
    }
}
