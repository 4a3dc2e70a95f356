//! MEDS label files (`subject_id`, `prediction_time`, `boolean_value`) and `meds-evaluation`
//! prediction files (the label columns plus `predicted_boolean_value` and
//! `predicted_boolean_probability`).

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, ArrayRef, BooleanArray, Float32Array, Int64Array, RecordBatch, TimestampMicrosecondArray};
use arrow_schema::{DataType, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::atomic::write_atomic;
use crate::error::{MedsError, Result};
use crate::schema;

/// A binary label for a subject at a prediction time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BooleanLabel {
    /// The subject.
    pub subject_id: i64,
    /// Microseconds since the epoch; data up to and including this time may be used.
    pub prediction_time: i64,
    /// The label.
    pub value: bool,
}

/// A model's prediction for a [`BooleanLabel`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BooleanPrediction {
    /// The label predicted.
    pub label: BooleanLabel,
    /// The predicted class.
    pub predicted_value: bool,
    /// The predicted probability of `true`.
    pub probability: f32,
}

fn label_columns(labels: impl ExactSizeIterator<Item = BooleanLabel> + Clone) -> Vec<ArrayRef> {
    vec![
        Arc::new(Int64Array::from_iter_values(labels.clone().map(|l| l.subject_id))),
        Arc::new(TimestampMicrosecondArray::from_iter_values(labels.clone().map(|l| l.prediction_time))),
        Arc::new(BooleanArray::from_iter(labels.map(|l| Some(l.value)))),
    ]
}

/// Writes labels in the MEDS label schema, atomically.
pub fn write_boolean_labels(path: &Path, labels: &[BooleanLabel]) -> Result<()> {
    let batch = RecordBatch::try_new(schema::boolean_label_schema(), label_columns(labels.iter().copied()))
        .map_err(|e| MedsError::arrow(path, e))?;
    write(path, &batch)
}

/// Writes predictions in the `meds-evaluation` prediction schema, atomically.
pub fn write_boolean_predictions(path: &Path, predictions: &[BooleanPrediction]) -> Result<()> {
    let mut columns = label_columns(predictions.iter().map(|p| p.label));
    columns.push(Arc::new(BooleanArray::from_iter(predictions.iter().map(|p| Some(p.predicted_value)))));
    columns.push(Arc::new(Float32Array::from_iter_values(predictions.iter().map(|p| p.probability))));
    let batch =
        RecordBatch::try_new(schema::boolean_prediction_schema(), columns).map_err(|e| MedsError::arrow(path, e))?;
    write(path, &batch)
}

/// A prediction made before its outcome is known (a batch score): a `meds-evaluation` row
/// without `boolean_value` until the outcome arrives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// The subject.
    pub subject_id: i64,
    /// Microseconds since the epoch; data up to and including this time were used.
    pub prediction_time: i64,
    /// The predicted class at the model's validated threshold, when it has one.
    pub predicted_value: Option<bool>,
    /// The predicted probability of `true`.
    pub probability: f32,
}

/// Writes scores in the `meds-evaluation` prediction schema ([`schema::boolean_score_schema`]),
/// atomically.
pub fn write_scores(path: &Path, scores: &[Score]) -> Result<()> {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(scores.iter().map(|s| s.subject_id))),
        Arc::new(TimestampMicrosecondArray::from_iter_values(scores.iter().map(|s| s.prediction_time))),
        Arc::new(BooleanArray::from_iter(scores.iter().map(|s| s.predicted_value))),
        Arc::new(Float32Array::from_iter_values(scores.iter().map(|s| s.probability))),
    ];
    let batch = RecordBatch::try_new(schema::boolean_score_schema(), columns).map_err(|e| MedsError::arrow(path, e))?;
    write(path, &batch)
}

/// Reads scores written by [`write_scores`] (a `boolean_value` column, if any, is ignored).
pub fn read_scores(path: &Path) -> Result<Vec<Score>> {
    let mut out = Vec::new();
    for batch in batches(path)? {
        let ids = required(path, &batch, schema::SUBJECT_ID)?;
        let ids = ids
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| wrong(path, schema::SUBJECT_ID, "int64", ids.data_type()))?;
        let times = required(path, &batch, schema::PREDICTION_TIME)?;
        if times.data_type() != &DataType::Timestamp(TimeUnit::Microsecond, None) {
            return Err(wrong(path, schema::PREDICTION_TIME, "timestamp[us]", times.data_type()));
        }
        let times = times.as_primitive::<TimestampMicrosecondType>();
        let predicted = batch
            .column_by_name(schema::PREDICTED_BOOLEAN_VALUE)
            .ok_or(MedsError::MissingColumn { path: path.into(), column: schema::PREDICTED_BOOLEAN_VALUE })?;
        let predicted = predicted
            .as_boolean_opt()
            .ok_or_else(|| wrong(path, schema::PREDICTED_BOOLEAN_VALUE, "bool", predicted.data_type()))?;
        let probs = required(path, &batch, schema::PREDICTED_BOOLEAN_PROBABILITY)?;
        let probs = probs
            .as_primitive_opt::<Float32Type>()
            .ok_or_else(|| wrong(path, schema::PREDICTED_BOOLEAN_PROBABILITY, "float32", probs.data_type()))?;
        out.extend((0..batch.num_rows()).map(|i| Score {
            subject_id: ids.value(i),
            prediction_time: times.value(i),
            predicted_value: predicted.is_valid(i).then(|| predicted.value(i)),
            probability: probs.value(i),
        }));
    }
    Ok(out)
}

fn write(path: &Path, batch: &RecordBatch) -> Result<()> {
    write_atomic(path, |w| {
        let mut writer = ArrowWriter::try_new(w, batch.schema(), None).map_err(|e| MedsError::parquet(path, e))?;
        writer.write(batch).map_err(|e| MedsError::parquet(path, e))?;
        writer.close().map_err(|e| MedsError::parquet(path, e))?;
        Ok(())
    })
}

fn batches(path: &Path) -> Result<Vec<RecordBatch>> {
    let file = File::open(path).map_err(|e| MedsError::io(path, e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| MedsError::parquet(path, e))?;
    reader.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| MedsError::arrow(path, e))
}

fn required<'a>(path: &Path, batch: &'a RecordBatch, name: &'static str) -> Result<&'a ArrayRef> {
    let col = batch.column_by_name(name).ok_or(MedsError::MissingColumn { path: path.into(), column: name })?;
    if col.null_count() > 0 {
        return Err(MedsError::NullInRequired { path: path.into(), column: name, count: col.null_count() });
    }
    Ok(col)
}

fn wrong(path: &Path, column: &str, expected: &str, found: &DataType) -> MedsError {
    MedsError::WrongType {
        path: path.into(),
        column: column.into(),
        expected: expected.into(),
        found: found.to_string(),
    }
}

fn read_labels_of(path: &Path, batch: &RecordBatch) -> Result<Vec<BooleanLabel>> {
    let ids = required(path, batch, schema::SUBJECT_ID)?;
    let ids =
        ids.as_primitive_opt::<Int64Type>().ok_or_else(|| wrong(path, schema::SUBJECT_ID, "int64", ids.data_type()))?;
    let times = required(path, batch, schema::PREDICTION_TIME)?;
    if times.data_type() != &DataType::Timestamp(TimeUnit::Microsecond, None) {
        return Err(wrong(path, schema::PREDICTION_TIME, "timestamp[us]", times.data_type()));
    }
    let times = times.as_primitive::<TimestampMicrosecondType>();
    let values = required(path, batch, schema::BOOLEAN_VALUE)?;
    let values =
        values.as_boolean_opt().ok_or_else(|| wrong(path, schema::BOOLEAN_VALUE, "bool", values.data_type()))?;
    Ok((0..batch.num_rows())
        .map(|i| BooleanLabel { subject_id: ids.value(i), prediction_time: times.value(i), value: values.value(i) })
        .collect())
}

/// Reads a MEDS label file with boolean labels.
pub fn read_boolean_labels(path: &Path) -> Result<Vec<BooleanLabel>> {
    let mut out = Vec::new();
    for batch in batches(path)? {
        out.extend(read_labels_of(path, &batch)?);
    }
    Ok(out)
}

/// Reads a `meds-evaluation` prediction file with boolean predictions.
pub fn read_boolean_predictions(path: &Path) -> Result<Vec<BooleanPrediction>> {
    let mut out = Vec::new();
    for batch in batches(path)? {
        let labels = read_labels_of(path, &batch)?;
        let predicted = required(path, &batch, schema::PREDICTED_BOOLEAN_VALUE)?;
        let predicted = predicted
            .as_boolean_opt()
            .ok_or_else(|| wrong(path, schema::PREDICTED_BOOLEAN_VALUE, "bool", predicted.data_type()))?;
        let prob = required(path, &batch, schema::PREDICTED_BOOLEAN_PROBABILITY)?;
        let probs: Vec<f32> = if let Some(p) = prob.as_primitive_opt::<Float32Type>() {
            p.values().to_vec()
        } else if let Some(p) = prob.as_primitive_opt::<Float64Type>() {
            p.values().iter().map(|&x| x as f32).collect()
        } else {
            return Err(wrong(path, schema::PREDICTED_BOOLEAN_PROBABILITY, "float32", prob.data_type()));
        };
        out.extend(labels.into_iter().enumerate().map(|(i, label)| BooleanPrediction {
            label,
            predicted_value: predicted.value(i),
            probability: probs[i],
        }));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_round_trip_with_unknown_outcomes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("scores.parquet");
        let scores = vec![
            Score { subject_id: 3, prediction_time: 1_000, predicted_value: Some(true), probability: 0.75 },
            Score { subject_id: 9, prediction_time: 2_000, predicted_value: None, probability: 0.125 },
        ];
        write_scores(&path, &scores).expect("write");
        assert_eq!(read_scores(&path).expect("read"), scores);
        // No label column: these are not labels.
        assert!(read_boolean_labels(&path).is_err());
    }

    #[test]
    fn labels_and_predictions_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let labels = vec![
            BooleanLabel { subject_id: 1, prediction_time: 1_600_000_000_000_000, value: true },
            BooleanLabel { subject_id: 2, prediction_time: 1_600_000_000_000_001, value: false },
        ];
        let lp = dir.path().join("labels.parquet");
        write_boolean_labels(&lp, &labels).expect("write labels");
        assert_eq!(read_boolean_labels(&lp).expect("read labels"), labels);
        let preds: Vec<BooleanPrediction> = labels
            .iter()
            .map(|&label| BooleanPrediction { label, predicted_value: label.value, probability: 0.25 })
            .collect();
        let pp = dir.path().join("predictions.parquet");
        write_boolean_predictions(&pp, &preds).expect("write predictions");
        assert_eq!(read_boolean_predictions(&pp).expect("read predictions"), preds);
        assert!(matches!(read_boolean_predictions(&lp), Err(MedsError::MissingColumn { .. })));
    }
}
