//! The metadata files of a MEDS dataset: `dataset.json`, `codes.parquet`, `subject_splits.parquet`.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{Array, ArrayRef, Int64Array, LargeStringArray, ListArray, RecordBatch, StringArray};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::{Deserialize, Serialize};

use crate::atomic::write_atomic;
use crate::codes::CodeInfo;
use crate::error::{MedsError, Result};
use crate::schema;

/// `metadata/dataset.json`: every field is optional in MEDS 0.4.1.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DatasetMetadata {
    /// The name of the dataset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_name: Option<String>,
    /// The version of the dataset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_version: Option<String>,
    /// The name of the ETL that produced it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etl_name: Option<String>,
    /// The version of that ETL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etl_version: Option<String>,
    /// The MEDS version the dataset follows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meds_version: Option<String>,
    /// When the dataset was created (ISO 8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// The dataset's licence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    /// Where the dataset lives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_uri: Option<String>,
    /// Where the dataset is described.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description_uri: Option<String>,
    /// Extra columns holding join keys to the raw source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_source_id_columns: Option<Vec<String>>,
    /// Extra columns that modify the code (units, priorities).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_modifier_columns: Option<Vec<String>>,
    /// Extra columns holding other value modalities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_value_modality_columns: Option<Vec<String>>,
    /// Extra columns identifying the site of care.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site_id_columns: Option<Vec<String>>,
    /// Any other extra columns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_extension_columns: Option<Vec<String>>,
}

impl DatasetMetadata {
    /// Reads `metadata/dataset.json` under `root`.
    pub fn read(root: &Path) -> Result<Self> {
        let path = root.join(schema::DATASET_METADATA_PATH);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(MedsError::MissingMetadata { path }),
            Err(e) => return Err(MedsError::io(path, e)),
        };
        let meta: Self = serde_json::from_str(&text).map_err(|e| MedsError::Metadata {
            path: path.clone(),
            message: format!("not valid dataset metadata JSON: {e}"),
        })?;
        if let Some(created) = &meta.created_at
            && chrono::NaiveDateTime::parse_from_str(created, "%Y-%m-%dT%H:%M:%S%.f").is_err()
            && chrono::DateTime::parse_from_rfc3339(created).is_err()
        {
            return Err(MedsError::Metadata { path, message: "`created_at` is not an ISO 8601 date-time".into() });
        }
        Ok(meta)
    }

    /// Writes `metadata/dataset.json` under `root`, atomically.
    pub fn write(&self, root: &Path) -> Result<()> {
        let path = root.join(schema::DATASET_METADATA_PATH);
        write_atomic(&path, |w| {
            serde_json::to_writer_pretty(&mut *w, self)
                .map_err(|e| MedsError::Metadata { path: path.clone(), message: e.to_string() })
        })
    }
}

/// One row of `metadata/codes.parquet`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeMetadata {
    /// The code.
    pub code: String,
    /// Its description and parents.
    pub info: CodeInfo,
}

/// Writes `metadata/codes.parquet` under `root`, atomically.
pub fn write_codes(root: &Path, codes: &[CodeMetadata]) -> Result<()> {
    let path = root.join(schema::CODES_PATH);
    let code: ArrayRef = Arc::new(StringArray::from_iter_values(codes.iter().map(|c| c.code.as_str())));
    let description: ArrayRef = Arc::new(StringArray::from_iter(codes.iter().map(|c| c.info.description.as_deref())));
    let mut parents = ListBuilder::new(StringBuilder::new());
    for c in codes {
        for p in &c.info.parent_codes {
            parents.values().append_value(p);
        }
        parents.append(true);
    }
    let parents: ArrayRef = Arc::new(parents.finish());
    let batch = RecordBatch::try_new(schema::codes_schema(), vec![code, description, parents])
        .map_err(|e| MedsError::arrow(&path, e))?;
    write_batch(&path, &batch)
}

/// Reads `metadata/codes.parquet` under `root`.
pub fn read_codes(root: &Path) -> Result<Vec<CodeMetadata>> {
    let path = root.join(schema::CODES_PATH);
    let mut out = Vec::new();
    for batch in read_batches(&path)? {
        let code = string_column(&path, &batch, schema::CODE, true)?.unwrap_or_default();
        let description = string_column(&path, &batch, "description", false)?;
        let parents = batch.column_by_name("parent_codes");
        let parents = match parents {
            None => None,
            Some(col) => Some(col.as_any().downcast_ref::<ListArray>().ok_or_else(|| MedsError::WrongType {
                path: path.clone(),
                column: "parent_codes".into(),
                expected: "list<string>".into(),
                found: col.data_type().to_string(),
            })?),
        };
        for i in 0..batch.num_rows() {
            let Some(c) = code.get(i) else {
                return Err(MedsError::NullInRequired { path, column: schema::CODE, count: 1 });
            };
            let mut info = CodeInfo { description: description.as_ref().and_then(|d| d.get(i)), ..CodeInfo::default() };
            if let Some(list) = parents
                && list.is_valid(i)
            {
                let values = list.value(i);
                if let Some(values) = values.as_any().downcast_ref::<StringArray>() {
                    info.parent_codes = values.iter().flatten().map(str::to_owned).collect();
                }
            }
            out.push(CodeMetadata { code: c, info });
        }
    }
    Ok(out)
}

/// Writes `metadata/subject_splits.parquet` under `root`, atomically.
pub fn write_subject_splits(root: &Path, splits: &[(i64, String)]) -> Result<()> {
    let path = root.join(schema::SUBJECT_SPLITS_PATH);
    let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(splits.iter().map(|(id, _)| *id)));
    let names: ArrayRef = Arc::new(StringArray::from_iter_values(splits.iter().map(|(_, s)| s.as_str())));
    let batch = RecordBatch::try_new(schema::subject_splits_schema(), vec![ids, names])
        .map_err(|e| MedsError::arrow(&path, e))?;
    write_batch(&path, &batch)
}

/// Reads `metadata/subject_splits.parquet` under `root` as `(subject_id, split)` pairs.
pub fn read_subject_splits(root: &Path) -> Result<Vec<(i64, String)>> {
    let path = root.join(schema::SUBJECT_SPLITS_PATH);
    let mut out = Vec::new();
    for batch in read_batches(&path)? {
        let ids = batch
            .column_by_name(schema::SUBJECT_ID)
            .ok_or_else(|| MedsError::MissingColumn { path: path.clone(), column: schema::SUBJECT_ID })?;
        let ids = ids.as_any().downcast_ref::<Int64Array>().ok_or_else(|| MedsError::WrongType {
            path: path.clone(),
            column: schema::SUBJECT_ID.into(),
            expected: "int64".into(),
            found: ids.data_type().to_string(),
        })?;
        let split = string_column(&path, &batch, "split", true)?.unwrap_or_default();
        if ids.null_count() > 0 {
            return Err(MedsError::NullInRequired { path, column: schema::SUBJECT_ID, count: ids.null_count() });
        }
        for i in 0..batch.num_rows() {
            let Some(s) = split.get(i) else {
                return Err(MedsError::NullInRequired { path, column: "split", count: 1 });
            };
            out.push((ids.value(i), s));
        }
    }
    Ok(out)
}

/// A string column read as owned optional strings, accepting `string` and `large_string`.
#[derive(Default)]
struct StringColumn(Vec<Option<String>>);

impl StringColumn {
    fn get(&self, i: usize) -> Option<String> {
        self.0.get(i).cloned().flatten()
    }
}

fn string_column(path: &Path, batch: &RecordBatch, name: &'static str, required: bool) -> Result<Option<StringColumn>> {
    let Some(col) = batch.column_by_name(name) else {
        return if required { Err(MedsError::MissingColumn { path: path.into(), column: name }) } else { Ok(None) };
    };
    let values: Vec<Option<String>> = if let Some(a) = col.as_any().downcast_ref::<StringArray>() {
        a.iter().map(|v| v.map(str::to_owned)).collect()
    } else if let Some(a) = col.as_any().downcast_ref::<LargeStringArray>() {
        a.iter().map(|v| v.map(str::to_owned)).collect()
    } else {
        return Err(MedsError::WrongType {
            path: path.into(),
            column: name.into(),
            expected: "string".into(),
            found: col.data_type().to_string(),
        });
    };
    Ok(Some(StringColumn(values)))
}

fn read_batches(path: &Path) -> Result<Vec<RecordBatch>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(MedsError::MissingMetadata { path: path.into() });
        }
        Err(e) => return Err(MedsError::io(path, e)),
    };
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| MedsError::parquet(path, e))?;
    reader.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| MedsError::arrow(path, e))
}

fn write_batch(path: &Path, batch: &RecordBatch) -> Result<()> {
    write_atomic(path, |w| {
        let mut writer = ArrowWriter::try_new(w, batch.schema(), None).map_err(|e| MedsError::parquet(path, e))?;
        writer.write(batch).map_err(|e| MedsError::parquet(path, e))?;
        writer.close().map_err(|e| MedsError::parquet(path, e))?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_round_trips() {
        let dir = tempfile::tempdir().expect("tempdir");
        let meta = DatasetMetadata {
            dataset_name: Some("t".into()),
            meds_version: Some(schema::MEDS_VERSION.into()),
            created_at: Some("2026-11-25T01:02:03.456789".into()),
            ..Default::default()
        };
        meta.write(dir.path()).expect("write");
        assert_eq!(DatasetMetadata::read(dir.path()).expect("read"), meta);

        let codes = vec![
            CodeMetadata {
                code: "ICD10CM/E11.9".into(),
                info: CodeInfo {
                    description: Some("Type 2 diabetes".into()),
                    parent_codes: vec!["ICD10CM/E11".into()],
                },
            },
            CodeMetadata { code: "MEDS_BIRTH".into(), info: CodeInfo::default() },
        ];
        write_codes(dir.path(), &codes).expect("codes");
        assert_eq!(read_codes(dir.path()).expect("read codes"), codes);

        let splits = vec![(1, "train".to_string()), (2, "held_out".to_string())];
        write_subject_splits(dir.path(), &splits).expect("splits");
        assert_eq!(read_subject_splits(dir.path()).expect("read splits"), splits);
    }

    #[test]
    fn missing_and_malformed_metadata_are_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = DatasetMetadata::read(dir.path()).expect_err("missing");
        assert!(matches!(err, MedsError::MissingMetadata { .. }), "{err}");
        std::fs::create_dir_all(dir.path().join("metadata")).expect("mkdir");
        std::fs::write(dir.path().join(schema::DATASET_METADATA_PATH), "{\"dataset_name\": 3}").expect("write");
        let err = DatasetMetadata::read(dir.path()).expect_err("malformed");
        assert!(err.to_string().contains("dataset.json"), "{err}");
        assert!(matches!(read_codes(dir.path()), Err(MedsError::MissingMetadata { .. })));
    }
}
