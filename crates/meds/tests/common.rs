//! Helpers shared by the integration tests: small datasets and hand-made bad shards.
#![allow(dead_code, missing_docs)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{
    ArrayRef, Float32Array, Int64Array, LargeStringArray, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Schema};
use meds::{CodeTable, DatasetWriter, Timeline, WriterOptions};
use parquet::arrow::ArrowWriter;

pub const DAY: i64 = 86_400_000_000;

/// A few subjects with static events, values, notes (non-ASCII included) and shuffled order.
pub fn sample_subjects(codes: &mut CodeTable) -> Vec<Timeline> {
    let birth = codes.intern("MEDS_BIRTH");
    let sex = codes.intern("SEX/F");
    let hba1c = codes.intern("LOINC/4548-4");
    let dx = codes.intern("ICD10CM/E11.9");
    let note = codes.intern("NOTE/progress");
    let mut out = Vec::new();
    for s in 0..30i64 {
        let mut t = Timeline::new(100 + s * 3);
        let t0 = 1_300_000_000_000_000 + s * DAY;
        // Deliberately out of order: the writer must sort, static first.
        t.push(Some(t0 + 40 * DAY), dx, None, None);
        t.push(Some(t0 + 10 * DAY), hba1c, Some(5.5 + s as f32 * 0.1), None);
        t.push(None, sex, None, None);
        t.push(Some(t0 - 50 * 365 * DAY), birth, None, None);
        t.push(Some(t0 + 10 * DAY), note, None, Some(format!("Seen by Dr. Müller, visit {s} — ça va")));
        for k in 0..(s % 7) {
            t.push(Some(t0 + (100 + k) * DAY), hba1c, Some(6.0 + k as f32), None);
        }
        out.push(t);
    }
    out
}

/// Writes `subjects` as a dataset at `root` with small shards; returns the code table.
pub fn write_sample(root: &Path, shard_events: usize) -> (CodeTable, Vec<Timeline>) {
    let mut codes = CodeTable::new();
    let subjects = sample_subjects(&mut codes);
    let mut w = DatasetWriter::create(root, WriterOptions { shard_events, ..Default::default() }).expect("create");
    for (i, t) in subjects.iter().enumerate() {
        let split = ["train", "train", "train", "tuning", "held_out"][i % 5];
        w.write_subject(split, t, &codes).expect("write subject");
    }
    w.finish(&codes).expect("finish");
    (codes, subjects)
}

/// The MEDS data schema, possibly with one field replaced.
pub fn schema_with(replace: Option<Field>) -> Arc<Schema> {
    let base = meds::schema::data_schema();
    let fields: Vec<Field> = base
        .fields()
        .iter()
        .map(|f| match &replace {
            Some(r) if r.name() == f.name() => r.clone(),
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// Rows of a hand-made shard.
pub struct Rows {
    pub subject: Vec<i64>,
    pub time: Vec<Option<i64>>,
    pub code: Vec<Option<&'static str>>,
}

impl Rows {
    pub fn columns(&self) -> Vec<ArrayRef> {
        let n = self.subject.len();
        vec![
            Arc::new(Int64Array::from(self.subject.clone())),
            Arc::new(TimestampMicrosecondArray::from(self.time.clone())),
            Arc::new(StringArray::from(self.code.clone())),
            Arc::new(Float32Array::from(vec![None::<f32>; n])),
            Arc::new(LargeStringArray::from(vec![None::<&str>; n])),
        ]
    }
}

/// Writes a parquet file with exactly these columns (no validation).
pub fn write_parquet(path: &Path, schema: Arc<Schema>, columns: Vec<ArrayRef>) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    let batch = RecordBatch::try_new(schema.clone(), columns).expect("batch");
    let file = std::fs::File::create(path).expect("create");
    let mut w = ArrowWriter::try_new(file, schema, None).expect("writer");
    w.write(&batch).expect("write");
    w.close().expect("close");
}

/// A valid dataset (metadata included) whose single shard is replaced by the caller.
pub fn dataset_with_shard(root: &Path, schema: Arc<Schema>, columns: Vec<ArrayRef>) -> PathBuf {
    write_sample(root, 1 << 20);
    for split in ["train", "tuning", "held_out"] {
        let _ = std::fs::remove_dir_all(root.join("data").join(split));
    }
    let shard = root.join("data/train/0.parquet");
    write_parquet(&shard, schema, columns);
    shard
}

pub fn string_field(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}
