//! Writing and reading back: what goes in comes out, in MEDS order, in valid MEDS.

mod common;

use std::sync::Mutex;

use common::*;
use meds::metadata::{DatasetMetadata, read_codes, read_subject_splits};
use meds::{CodeTable, Dataset, MedsError, Timeline, TimelineStore};

/// An event with its code spelled out: (time, code, numeric value, text value).
type NamedEvent = (Option<i64>, String, Option<f32>, Option<String>);

fn by_name(codes: &CodeTable, t: &Timeline) -> Vec<NamedEvent> {
    t.events()
        .map(|e| (e.time, codes.name(e.code).to_owned(), e.numeric_value, e.text_value.map(str::to_owned)))
        .collect()
}

#[test]
fn written_dataset_reads_back_sorted_and_validates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("ds");
    let (codes, mut subjects) = write_sample(&root, 40);

    let report = meds::validate(&root);
    assert!(report.is_valid(), "{:#?}", report.findings);
    assert_eq!(report.findings, vec![], "a dataset we write has no warnings either");
    assert_eq!(report.subjects, 30);

    let dataset = Dataset::open(&root).expect("open");
    assert!(dataset.shards().len() > 3, "small shard size must produce several shards");
    let (read_codes_table, mut read) = dataset.read_all().expect("read");
    assert_eq!(read.len(), subjects.len());
    subjects.sort_by_key(|t| t.subject_id);
    read.sort_by_key(|t| t.subject_id);
    for (want, got) in subjects.iter_mut().zip(&read) {
        want.sort();
        assert!(got.is_sorted());
        assert_eq!(got.static_len(), 1, "the static event comes first");
        assert_eq!(by_name(&codes, want), by_name(&read_codes_table, got), "subject {}", want.subject_id);
    }

    let splits = read_subject_splits(&root).expect("splits");
    assert_eq!(splits.len(), 30);
    assert_eq!(splits.iter().filter(|(_, s)| s == "held_out").count(), 6);
    let mut listed: Vec<String> = read_codes(&root).expect("codes").into_iter().map(|c| c.code).collect();
    listed.sort();
    assert_eq!(listed, vec!["ICD10CM/E11.9", "LOINC/4548-4", "MEDS_BIRTH", "NOTE/progress", "SEX/F"]);
    let meta = DatasetMetadata::read(&root).expect("dataset.json");
    assert_eq!(meta.meds_version.as_deref(), Some(meds::schema::MEDS_VERSION));
    assert!(meta.created_at.is_some());
}

#[test]
fn parallel_iteration_sees_every_subject_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("ds");
    write_sample(&root, 25);
    let dataset = Dataset::open(&root).expect("open");
    let seen = Mutex::new(Vec::new());
    let codes = Mutex::new(CodeTable::new());
    let summary = dataset
        .for_each_subject(&codes, |_, t| {
            seen.lock().expect("lock").push(t.subject_id);
            Ok(())
        })
        .expect("iterate");
    let mut seen = seen.into_inner().expect("lock");
    seen.sort();
    assert_eq!(seen, (0..30).map(|s| 100 + s * 3).collect::<Vec<_>>());
    assert_eq!(summary.subjects, 30);
}

#[test]
fn store_gives_each_subject_and_notices_changes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("ds");
    let (codes, subjects) = write_sample(&root, 50);
    let dataset = Dataset::open(&root).expect("open");
    let path = TimelineStore::default_path(&root);
    let store = TimelineStore::open_or_build(&dataset, &path).expect("store");
    assert_eq!(store.len(), 30);
    for want in &subjects {
        let mut want = want.clone();
        want.sort();
        let got = store.get(want.subject_id).expect("get").expect("present");
        assert_eq!(by_name(&codes, &want), by_name(store.codes(), &got));
    }
    assert_eq!(store.get(1).expect("get"), None, "absent subject");
    // The store lives in a hidden directory that MEDS readers do not glob.
    assert!(Dataset::open(&root).expect("reopen").shards().iter().all(|s| !s.relative.starts_with(".longitude-index")));

    // Changing a shard makes the store stale; open_or_build rebuilds it.
    let shard = dataset.shards()[0].path.clone();
    let bytes = std::fs::read(&shard).expect("read shard");
    std::fs::write(&shard, &bytes).expect("touch");
    let file = std::fs::File::options().append(true).open(&shard).expect("open");
    file.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5)).expect("mtime");
    let err = TimelineStore::open(&dataset, &path).expect_err("stale");
    assert!(err.to_string().contains("stale"), "{err}");
    assert!(TimelineStore::open_or_build(&dataset, &path).is_ok());

    // A corrupt store is an error, not a panic.
    std::fs::write(&path, b"garbage").expect("corrupt");
    assert!(matches!(TimelineStore::open(&dataset, &path), Err(MedsError::Store { .. })));
}

#[test]
fn writer_refuses_what_would_break_meds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("ds");
    let mut codes = CodeTable::new();
    let c = codes.intern("X/1");
    let mut t = Timeline::new(1);
    t.push(Some(0), c, None, None);
    let mut w = meds::DatasetWriter::create(&root, Default::default()).expect("create");
    w.write_subject("train", &t, &codes).expect("first");
    let dup = w.write_subject("tuning", &t, &codes).expect_err("duplicate subject");
    assert!(dup.to_string().contains("subject 1 written twice"), "{dup}");
    let other = CodeTable::new();
    let mut t2 = Timeline::new(2);
    t2.push(Some(0), 0, None, None);
    assert!(w.write_subject("train", &t2, &other).is_err(), "a second code table is refused");
    assert!(w.write_subject("../escape", &Timeline::new(3), &codes).is_err(), "split names cannot escape data/");
    w.finish(&codes).expect("finish");
    assert!(meds::DatasetWriter::create(&root, Default::default()).is_err(), "never mixes into an existing dataset");
}

#[test]
fn an_unfinished_write_is_recognisable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("ds");
    let mut codes = CodeTable::new();
    let c = codes.intern("X/1");
    let mut w = meds::DatasetWriter::create(&root, meds::WriterOptions { shard_events: 2, ..Default::default() })
        .expect("create");
    for s in 0..5 {
        let mut t = Timeline::new(s);
        t.push(Some(s), c, None, None);
        t.push(Some(s + 1), c, None, None);
        w.write_subject("train", &t, &codes).expect("write");
    }
    drop(w); // interrupted before finish()
    let report = meds::validate(&root);
    assert!(!report.is_valid());
    assert!(
        report.errors().any(|f| f.file.as_deref() == Some(std::path::Path::new("metadata/dataset.json"))),
        "{:#?}",
        report.findings
    );
    // Readers refuse it as it stands…
    assert!(matches!(Dataset::open(&root), Err(meds::MedsError::Incomplete { .. })));
    // …though whatever shards exist are whole parquet files (no partial file under a .parquet name).
    std::fs::remove_file(root.join(meds::schema::WRITING_MARKER)).expect("marker");
    let dataset = Dataset::open(&root).expect("open");
    assert!(dataset.read_all().is_ok());
}
