//! Ground truth, written apart from the data (`DIR/truth/`) so nothing downstream reads it by
//! accident: who each subject is, when each condition truly began and was first coded, and when
//! each drug class started.

use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;

use crate::SynthError;
use crate::conditions::{Condition, Drug};
use crate::simulate::SimulatedPatient;

/// Ground-truth rows of the patients since the last flush.
#[derive(Debug, Default)]
struct TruthRows {
    subject_id: Vec<i64>,
    site: Vec<String>,
    female: Vec<bool>,
    birth: Vec<i64>,
    registered_from: Vec<i64>,
    registered_until: Vec<i64>,
    death: Vec<Option<i64>>,
    cond_subject: Vec<i64>,
    cond_name: Vec<&'static str>,
    cond_onset: Vec<i64>,
    cond_diagnosed: Vec<Option<i64>>,
    drug_subject: Vec<i64>,
    drug_name: Vec<&'static str>,
    drug_start: Vec<i64>,
    ident_subject: Vec<i64>,
    ident_kind: Vec<&'static str>,
    ident_value: Vec<String>,
}

fn ts(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Timestamp(TimeUnit::Microsecond, None), nullable)
}

/// The four ground-truth files, written as patients stream past: one parquet row group per
/// flush, so memory stays bounded whatever the population size. Each file is put in place whole
/// when complete ([`outputs::atomic::Pending`]).
pub struct TruthWriter {
    rows: TruthRows,
    writers: Vec<(String, outputs::atomic::Pending, ArrowWriter<std::fs::File>)>,
}

const FILES: [&str; 4] = ["subjects", "conditions", "treatments", "identifiers"];

fn schemas() -> [Arc<Schema>; 4] {
    [
        Arc::new(Schema::new(vec![
            Field::new("subject_id", DataType::Int64, false),
            Field::new("site", DataType::Utf8, false),
            Field::new("female", DataType::Boolean, false),
            ts("birth", false),
            ts("registered_from", false),
            ts("registered_until", false),
            ts("death", true),
        ])),
        Arc::new(Schema::new(vec![
            Field::new("subject_id", DataType::Int64, false),
            Field::new("condition", DataType::Utf8, false),
            ts("onset", false),
            ts("diagnosed", true),
        ])),
        Arc::new(Schema::new(vec![
            Field::new("subject_id", DataType::Int64, false),
            Field::new("drug_class", DataType::Utf8, false),
            ts("start", false),
        ])),
        Arc::new(Schema::new(vec![
            Field::new("subject_id", DataType::Int64, false),
            Field::new("kind", DataType::Utf8, false),
            Field::new("value", DataType::Utf8, false),
        ])),
    ]
}

impl TruthWriter {
    /// Opens `subjects.parquet`, `conditions.parquet`, `treatments.parquet` and
    /// `identifiers.parquet` (every planted identifier: what de-identification must remove) under
    /// `dir`.
    pub fn create(dir: &Path) -> Result<Self, SynthError> {
        std::fs::create_dir_all(dir).map_err(|e| SynthError::io(dir, e))?;
        let mut writers = Vec::new();
        for (name, schema) in FILES.iter().zip(schemas()) {
            let path = dir.join(format!("{name}.parquet"));
            let (pending, file) = outputs::atomic::Pending::create(&path, outputs::atomic::Access::Shared)
                .map_err(|e| SynthError::io(&e.path, e.source))?;
            let writer = ArrowWriter::try_new(file, schema, None)
                .map_err(|e| SynthError::Output(format!("{}: {e}", path.display())))?;
            writers.push(((*name).to_owned(), pending, writer));
        }
        Ok(Self { rows: TruthRows::default(), writers })
    }

    /// Adds one patient's truth.
    pub fn add(&mut self, p: &SimulatedPatient, site_name: &str) {
        self.rows.add(p, site_name);
    }

    /// Writes the rows gathered so far as one row group per file.
    pub fn flush(&mut self) -> Result<(), SynthError> {
        let rows = std::mem::take(&mut self.rows);
        for ((name, _, writer), (schema, columns)) in
            self.writers.iter_mut().zip(schemas().into_iter().zip(rows.columns()))
        {
            let batch =
                RecordBatch::try_new(schema, columns).map_err(|e| SynthError::Output(format!("{name}: {e}")))?;
            writer.write(&batch).map_err(|e| SynthError::Output(format!("{name}: {e}")))?;
            writer.flush().map_err(|e| SynthError::Output(format!("{name}: {e}")))?;
        }
        Ok(())
    }

    /// Flushes, closes and renames every file into place.
    pub fn finish(mut self) -> Result<(), SynthError> {
        self.flush()?;
        for (name, pending, writer) in self.writers {
            let file = writer.into_inner().map_err(|e| SynthError::Output(format!("{name}: {e}")))?;
            pending.commit(file).map_err(|e| SynthError::io(&e.path, e.source))?;
        }
        Ok(())
    }
}

impl TruthRows {
    fn add(&mut self, p: &SimulatedPatient, site_name: &str) {
        let id = p.person.subject_id;
        self.subject_id.push(id);
        self.site.push(site_name.to_owned());
        self.female.push(p.person.female);
        self.birth.push(p.person.birth);
        self.registered_from.push(p.person.registered_from);
        self.registered_until.push(p.person.registered_until);
        self.death.push(p.truth.death);
        for c in Condition::ALL {
            if let Some(onset) = p.truth.onset[c.index()] {
                self.cond_subject.push(id);
                self.cond_name.push(c.name());
                self.cond_onset.push(onset);
                self.cond_diagnosed.push(p.truth.diagnosed[c.index()]);
            }
        }
        for (kind, value) in p.identity.planted() {
            self.ident_subject.push(id);
            self.ident_kind.push(kind);
            self.ident_value.push(value.to_owned());
        }
        for date in &p.truth.note_dates {
            self.ident_subject.push(id);
            self.ident_kind.push("note_date");
            self.ident_value.push(date.clone());
        }
        for d in Drug::ALL {
            if let Some(start) = p.truth.drug_start[d.index()] {
                self.drug_subject.push(id);
                self.drug_name.push(d.name());
                self.drug_start.push(start);
            }
        }
    }

    /// The columns of the four tables, in [`FILES`] order.
    fn columns(self) -> [Vec<ArrayRef>; 4] {
        [
            vec![
                Arc::new(Int64Array::from(self.subject_id)),
                Arc::new(StringArray::from_iter_values(&self.site)),
                Arc::new(BooleanArray::from(self.female)),
                Arc::new(TimestampMicrosecondArray::from(self.birth)),
                Arc::new(TimestampMicrosecondArray::from(self.registered_from)),
                Arc::new(TimestampMicrosecondArray::from(self.registered_until)),
                Arc::new(TimestampMicrosecondArray::from(self.death)),
            ],
            vec![
                Arc::new(Int64Array::from(self.cond_subject)),
                Arc::new(StringArray::from_iter_values(&self.cond_name)),
                Arc::new(TimestampMicrosecondArray::from(self.cond_onset)),
                Arc::new(TimestampMicrosecondArray::from(self.cond_diagnosed)),
            ],
            vec![
                Arc::new(Int64Array::from(self.drug_subject)),
                Arc::new(StringArray::from_iter_values(&self.drug_name)),
                Arc::new(TimestampMicrosecondArray::from(self.drug_start)),
            ],
            vec![
                Arc::new(Int64Array::from(self.ident_subject)),
                Arc::new(StringArray::from_iter_values(&self.ident_kind)),
                Arc::new(StringArray::from_iter_values(&self.ident_value)),
            ],
        ]
    }
}

/// The planted direct identifiers of every patient under `truth_dir` (what de-identification must
/// remove), keyed by the patient's FHIR id (`Patient.id` in the generator's FHIR output): a list of
/// `(kind, value)` such as `("family_name", "Kowalski")`. For de-identification audits.
pub fn planted_identifiers(
    truth_dir: &Path,
) -> Result<std::collections::BTreeMap<String, Vec<(String, String)>>, SynthError> {
    use arrow_array::Array;
    let config_path = truth_dir.join("config.json");
    let config: crate::SynthConfig = serde_json::from_str(
        &std::fs::read_to_string(&config_path)
            .map_err(|e| SynthError::Output(format!("{}: {e}", config_path.display())))?,
    )
    .map_err(|e| SynthError::Output(format!("{}: {e}", config_path.display())))?;
    let path = truth_dir.join("identifiers.parquet");
    let fail = |e: &dyn std::fmt::Display| SynthError::Output(format!("{}: {e}", path.display()));
    let file = std::fs::File::open(&path).map_err(|e| fail(&e))?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| fail(&e))?;
    let mut out: std::collections::BTreeMap<String, Vec<(String, String)>> = Default::default();
    let mut fhir_ids: std::collections::HashMap<i64, String> = Default::default();
    for batch in reader {
        let batch = batch.map_err(|e| fail(&e))?;
        let column = |name: &str| batch.column_by_name(name).ok_or_else(|| fail(&format!("no column {name}")));
        let ids =
            column("subject_id")?.as_any().downcast_ref::<Int64Array>().ok_or_else(|| fail(&"subject_id type"))?;
        let kinds = column("kind")?.as_any().downcast_ref::<StringArray>().ok_or_else(|| fail(&"kind type"))?;
        let values = column("value")?.as_any().downcast_ref::<StringArray>().ok_or_else(|| fail(&"value type"))?;
        for i in 0..batch.num_rows() {
            if ids.is_null(i) || kinds.is_null(i) || values.is_null(i) {
                continue;
            }
            let sid = ids.value(i);
            let fhir_id = fhir_ids.entry(sid).or_insert_with(|| crate::fhir::uuid(config.seed, sid, 1)).clone();
            out.entry(fhir_id).or_default().push((kinds.value(i).to_owned(), values.value(i).to_owned()));
        }
    }
    Ok(out)
}

/// One row of `truth/conditions.parquet`: a condition's true onset and first coded diagnosis.
#[derive(Debug, Clone, PartialEq)]
pub struct ConditionRow {
    /// The subject.
    pub subject_id: i64,
    /// The condition's name as written (`diabetes`, `ckd3`, …).
    pub condition: String,
    /// True onset (µs).
    pub onset: i64,
    /// First time its code was recorded, if ever.
    pub diagnosed: Option<i64>,
}

/// The condition in `conditions.parquet` behind each built-in diagnosis task (the true onset and
/// first coded diagnosis that a task's alerts are measured against).
pub fn diagnosis_condition(task: &str) -> Option<&'static str> {
    Some(match task {
        "new_t2d_1y" => "diabetes",
        "new_ckd3_1y" => "ckd3",
        "new_heart_failure_1y" => "heart_failure",
        "stroke_in_af_1y" => "stroke",
        "mi_1y" => "myocardial_infarction",
        "colorectal_cancer_1y" => "colorectal_cancer",
        _ => return None,
    })
}

/// Reads `truth_dir/conditions.parquet`.
pub fn read_conditions(truth_dir: &Path) -> Result<Vec<ConditionRow>, SynthError> {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int64Type, TimestampMicrosecondType};
    let path = truth_dir.join("conditions.parquet");
    let fail = |e: &dyn std::fmt::Display| SynthError::Output(format!("{}: {e}", path.display()));
    let file = std::fs::File::open(&path).map_err(|e| fail(&e))?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| fail(&e))?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| fail(&e))?;
        let col = |name: &str| batch.column_by_name(name).ok_or_else(|| fail(&format!("no column {name}")));
        let ids = col("subject_id")?.as_primitive_opt::<Int64Type>().ok_or_else(|| fail(&"subject_id type"))?;
        let names = col("condition")?.as_string_opt::<i32>().ok_or_else(|| fail(&"condition type"))?;
        let onset = col("onset")?.as_primitive_opt::<TimestampMicrosecondType>().ok_or_else(|| fail(&"onset type"))?;
        let dx =
            col("diagnosed")?.as_primitive_opt::<TimestampMicrosecondType>().ok_or_else(|| fail(&"diagnosed type"))?;
        for i in 0..batch.num_rows() {
            out.push(ConditionRow {
                subject_id: ids.value(i),
                condition: names.value(i).to_string(),
                onset: onset.value(i),
                diagnosed: (!dx.is_null(i)).then(|| dx.value(i)),
            });
        }
    }
    Ok(out)
}
