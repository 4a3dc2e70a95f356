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

/// Accumulates ground-truth rows as patients stream past.
#[derive(Debug, Default)]
pub struct TruthTables {
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

impl TruthTables {
    /// Adds one patient's truth.
    pub fn add(&mut self, p: &SimulatedPatient, site_name: &str) {
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

    /// Writes `subjects.parquet`, `conditions.parquet`, `treatments.parquet` and
    /// `identifiers.parquet` (every planted identifier: what de-identification must remove) under
    /// `dir`.
    pub fn write(&self, dir: &Path) -> Result<(), SynthError> {
        std::fs::create_dir_all(dir).map_err(|e| SynthError::io(dir, e))?;
        let subjects = Schema::new(vec![
            Field::new("subject_id", DataType::Int64, false),
            Field::new("site", DataType::Utf8, false),
            Field::new("female", DataType::Boolean, false),
            ts("birth", false),
            ts("registered_from", false),
            ts("registered_until", false),
            ts("death", true),
        ]);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(self.subject_id.clone())),
            Arc::new(StringArray::from_iter_values(&self.site)),
            Arc::new(BooleanArray::from(self.female.clone())),
            Arc::new(TimestampMicrosecondArray::from(self.birth.clone())),
            Arc::new(TimestampMicrosecondArray::from(self.registered_from.clone())),
            Arc::new(TimestampMicrosecondArray::from(self.registered_until.clone())),
            Arc::new(TimestampMicrosecondArray::from(self.death.clone())),
        ];
        write(&dir.join("subjects.parquet"), subjects, columns)?;

        let conditions = Schema::new(vec![
            Field::new("subject_id", DataType::Int64, false),
            Field::new("condition", DataType::Utf8, false),
            ts("onset", false),
            ts("diagnosed", true),
        ]);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(self.cond_subject.clone())),
            Arc::new(StringArray::from_iter_values(&self.cond_name)),
            Arc::new(TimestampMicrosecondArray::from(self.cond_onset.clone())),
            Arc::new(TimestampMicrosecondArray::from(self.cond_diagnosed.clone())),
        ];
        write(&dir.join("conditions.parquet"), conditions, columns)?;

        let treatments = Schema::new(vec![
            Field::new("subject_id", DataType::Int64, false),
            Field::new("drug_class", DataType::Utf8, false),
            ts("start", false),
        ]);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(self.drug_subject.clone())),
            Arc::new(StringArray::from_iter_values(&self.drug_name)),
            Arc::new(TimestampMicrosecondArray::from(self.drug_start.clone())),
        ];
        write(&dir.join("treatments.parquet"), treatments, columns)?;

        let identifiers = Schema::new(vec![
            Field::new("subject_id", DataType::Int64, false),
            Field::new("kind", DataType::Utf8, false),
            Field::new("value", DataType::Utf8, false),
        ]);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(self.ident_subject.clone())),
            Arc::new(StringArray::from_iter_values(&self.ident_kind)),
            Arc::new(StringArray::from_iter_values(&self.ident_value)),
        ];
        write(&dir.join("identifiers.parquet"), identifiers, columns)
    }
}

fn write(path: &Path, schema: Schema, columns: Vec<ArrayRef>) -> Result<(), SynthError> {
    let schema = Arc::new(schema);
    let batch = RecordBatch::try_new(schema.clone(), columns)
        .map_err(|e| SynthError::Output(format!("{}: {e}", path.display())))?;
    let file = std::fs::File::create(path).map_err(|e| SynthError::io(path, e))?;
    let mut writer =
        ArrowWriter::try_new(file, schema, None).map_err(|e| SynthError::Output(format!("{}: {e}", path.display())))?;
    writer.write(&batch).map_err(|e| SynthError::Output(format!("{}: {e}", path.display())))?;
    writer.close().map_err(|e| SynthError::Output(format!("{}: {e}", path.display())))?;
    Ok(())
}
