//! Bad input gets a clear error naming the file and the problem — never a panic.

mod common;

use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, StringArray};
use arrow_schema::{DataType, Field, Schema};
use common::*;
use meds::{Dataset, MedsError, Severity};

fn rows(subject: Vec<i64>, time: Vec<Option<i64>>) -> Rows {
    let n = subject.len();
    Rows { subject, time, code: vec![Some("X/1"); n] }
}

/// Validation reports exactly one error for `file` whose message contains `needle`.
fn assert_error(root: &Path, file: &str, needle: &str) {
    let report = meds::validate(root);
    assert!(!report.is_valid(), "expected an error about {needle}");
    let hit = report
        .errors()
        .find(|f| f.message.contains(needle) && (file.is_empty() || f.file.as_deref() == Some(Path::new(file))));
    let hit = hit.unwrap_or_else(|| panic!("no error containing {needle:?}: {:#?}", report.findings));
    if !file.is_empty() {
        assert_eq!(hit.file.as_deref(), Some(Path::new(file)), "{hit:?}");
    }
}

fn read_error(root: &Path) -> MedsError {
    Dataset::open(root).and_then(|d| d.read_all().map(|_| ())).expect_err("reading must fail")
}

#[test]
fn wrong_column_type() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let schema = schema_with(Some(string_field("subject_id")));
    let mut cols = rows(vec![1, 1], vec![Some(0), Some(1)]).columns();
    cols[0] = Arc::new(StringArray::from(vec!["1", "1"]));
    dataset_with_shard(root, schema, cols);
    assert_error(root, "data/train/0.parquet", "column `subject_id` has type Utf8, MEDS requires int64");
    let err = read_error(root);
    assert!(err.to_string().contains("data/train/0.parquet"), "{err}");
}

#[test]
fn missing_column() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let schema = Arc::new(Schema::new(vec![
        Field::new("subject_id", DataType::Int64, false),
        Field::new("time", meds::schema::time_type(), true),
    ]));
    let cols: Vec<ArrayRef> = rows(vec![1], vec![Some(0)]).columns().into_iter().take(2).collect();
    dataset_with_shard(root, schema, cols);
    assert_error(root, "data/train/0.parquet", "missing required column `code`");
    assert!(matches!(read_error(root), MedsError::MissingColumn { column: "code", .. }));
}

#[test]
fn null_code() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let mut r = rows(vec![1, 1], vec![Some(0), Some(1)]);
    r.code[1] = None;
    dataset_with_shard(root, schema_with(Some(string_field("code"))), r.columns());
    assert_error(root, "data/train/0.parquet", "column `code` has 1 null value(s)");
}

#[test]
fn unsorted_shard() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    dataset_with_shard(root, schema_with(None), rows(vec![7, 7, 7], vec![Some(5), Some(9), Some(3)]).columns());
    assert_error(root, "data/train/0.parquet", "events of subject 7 are not sorted by time (row 2");
    assert!(matches!(read_error(root), MedsError::Unsorted { subject_id: 7, row: 2, .. }));
}

#[test]
fn static_event_after_timed_event_is_unsorted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    dataset_with_shard(root, schema_with(None), rows(vec![7, 7], vec![Some(5), None]).columns());
    assert_error(root, "data/train/0.parquet", "not sorted");
}

#[test]
fn subject_not_contiguous() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    dataset_with_shard(root, schema_with(None), rows(vec![1, 2, 1], vec![Some(0), Some(0), Some(1)]).columns());
    assert_error(root, "data/train/0.parquet", "events of subject 1 are not contiguous");
}

#[test]
fn subject_split_across_shards() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    dataset_with_shard(root, schema_with(None), rows(vec![1, 2], vec![Some(0), Some(0)]).columns());
    write_parquet(
        &root.join("data/train/1.parquet"),
        schema_with(None),
        rows(vec![3, 2], vec![Some(0), Some(1)]).columns(),
    );
    assert_error(root, "", "subject 2 is split across shards data/train/0.parquet and data/train/1.parquet");
    assert!(matches!(read_error(root), MedsError::SubjectInManyShards { subject_id: 2, .. }));
    // describe counts subject 2 once, with both of its events, and says it is split.
    let d = meds::describe(root, 3).expect("describe");
    assert_eq!((d.subjects, d.events, d.subjects_in_several_shards), (3, 4, 1));
    assert_eq!(d.events_per_subject.max, 2);
    let dataset = Dataset::open(root).expect("open");
    let store = root.join("store.lts");
    assert!(matches!(meds::TimelineStore::build(&dataset, &store), Err(MedsError::SubjectInManyShards { .. })));
    assert!(!store.exists(), "a failed build leaves no store behind");
}

#[test]
fn missing_metadata_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write_sample(root, 1 << 20);
    // codes.parquet and subject_splits.parquet are recommended: their absence is a warning.
    for f in ["metadata/codes.parquet", "metadata/subject_splits.parquet"] {
        std::fs::remove_file(root.join(f)).expect("remove");
        let report = meds::validate(root);
        assert!(report.is_valid(), "{f}: {:#?}", report.findings);
        assert!(
            report.warnings().any(|w| w.file.as_deref() == Some(Path::new(f)) && w.message.contains("absent")),
            "{f}: {:#?}",
            report.findings
        );
    }
    std::fs::remove_file(root.join("metadata/dataset.json")).expect("remove");
    assert_error(root, "metadata/dataset.json", "required metadata file is missing");
}

#[test]
fn malformed_metadata_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write_sample(root, 1 << 20);
    std::fs::write(root.join("metadata/dataset.json"), "{\"created_at\": \"yesterday\"}").expect("write");
    assert_error(root, "metadata/dataset.json", "`created_at` is not an ISO 8601 date-time");
    std::fs::write(root.join("metadata/codes.parquet"), b"PAR1 not really").expect("write");
    assert_error(root, "metadata/codes.parquet", "parquet");
    let splits = Arc::new(Schema::new(vec![Field::new("subject_id", DataType::Int64, false)]));
    write_parquet(&root.join("metadata/subject_splits.parquet"), splits, vec![Arc::new(Int64Array::from(vec![1]))]);
    assert_error(root, "metadata/subject_splits.parquet", "missing required column `split`");
}

#[test]
fn not_parquet_at_all() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write_sample(root, 1 << 20);
    std::fs::write(root.join("data/train/9.parquet"), b"this is not parquet").expect("write");
    assert_error(root, "data/train/9.parquet", "parquet");
    // A truncated copy of a real shard.
    let real = std::fs::read(root.join("data/train/0.parquet")).expect("read");
    std::fs::write(root.join("data/train/9.parquet"), &real[..real.len() / 2]).expect("write");
    assert_error(root, "data/train/9.parquet", "parquet");
}

#[test]
fn no_data_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert!(matches!(Dataset::open(dir.path()), Err(MedsError::NoShards { .. })));
    let report = meds::validate(dir.path());
    assert!(report.errors().any(|f| f.message.contains("no parquet shards")));
}

#[test]
fn tolerated_deviations_are_warnings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let schema = schema_with(Some(Field::new("text_value", DataType::Utf8, true)));
    let mut cols = rows(vec![1], vec![Some(0)]).columns();
    cols[4] = Arc::new(StringArray::from(vec![Some("note")]));
    dataset_with_shard(root, schema, cols);
    let report = meds::validate(root);
    let w: Vec<_> = report.warnings().collect();
    assert!(
        w.iter().any(|f| f.severity == Severity::Warning && f.message.contains("`text_value` is string")),
        "{w:#?}"
    );
    let (_, timelines) = Dataset::open(root).expect("open").read_all().expect("read");
    assert_eq!(timelines[0].text_value(0), Some("note"));
}

#[test]
fn errors_never_carry_event_content() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let mut r = rows(vec![7, 7], vec![Some(9), Some(3)]);
    r.code = vec![Some("SECRET/Jane-Doe"), Some("SECRET/Jane-Doe")];
    dataset_with_shard(root, schema_with(None), r.columns());
    let report = meds::validate(root);
    for f in &report.findings {
        assert!(!f.message.contains("Jane"), "{f:?}");
    }
    assert!(!read_error(root).to_string().contains("Jane"));
}

#[test]
fn placeholder_times_and_non_finite_values_are_errors() {
    use arrow_array::Float32Array;
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    // 0000-01-01 and 9999-12-31 (µs), then a plausible time with a NaN and an infinite value.
    let year_0 = -62_167_219_200_000_000;
    let year_9999 = 253_402_214_400_000_000;
    let r = rows(vec![1, 1, 1, 1], vec![Some(year_0), Some(0), Some(1), Some(year_9999)]);
    let mut cols = r.columns();
    cols[3] = Arc::new(Float32Array::from(vec![None, Some(f32::NAN), Some(f32::INFINITY), Some(1.0)]));
    dataset_with_shard(root, schema_with(None), cols);
    assert_error(root, "data/train/0.parquet", "2 event time(s) before 1850");
    assert_error(root, "data/train/0.parquet", "2 numeric value(s) are NaN or infinite");
}

#[test]
fn a_dataset_whose_writer_has_not_finished_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    dataset_with_shard(root, schema_with(None), rows(vec![1], vec![Some(0)]).columns());
    std::fs::write(root.join(meds::schema::WRITING_MARKER), "").expect("marker");
    assert!(matches!(Dataset::open(root), Err(MedsError::Incomplete { .. })));
    assert_error(root, "", "incomplete");
}
