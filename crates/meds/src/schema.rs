//! The MEDS schemas, exactly as the reference `meds` Python package (0.4.1) defines them.
//!
//! Column names, Arrow types and nullability are part of the data contract: anything the MEDS
//! ecosystem writes must be readable here, and everything written here must pass the `meds`
//! package's own validation (checked by `tests/interop/`).

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Column holding the subject identifier (`int64`, never null).
pub const SUBJECT_ID: &str = "subject_id";
/// Column holding the event time (`timestamp[us]`, null for static events).
pub const TIME: &str = "time";
/// Column holding the event code (`string`, never null).
pub const CODE: &str = "code";
/// Column holding the numeric value (`float32`, nullable).
pub const NUMERIC_VALUE: &str = "numeric_value";
/// Column holding the text value (`large_string`, nullable).
pub const TEXT_VALUE: &str = "text_value";

/// Label-schema column: the time up to which (inclusive) data may be used.
pub const PREDICTION_TIME: &str = "prediction_time";
/// Label-schema column: a binary label.
pub const BOOLEAN_VALUE: &str = "boolean_value";
/// Label-schema column: an integer label.
pub const INTEGER_VALUE: &str = "integer_value";
/// Label-schema column: a real-valued label.
pub const FLOAT_VALUE: &str = "float_value";
/// Label-schema column: a categorical label.
pub const CATEGORICAL_VALUE: &str = "categorical_value";

/// Prediction-schema column (`meds-evaluation`): the predicted binary label.
pub const PREDICTED_BOOLEAN_VALUE: &str = "predicted_boolean_value";
/// Prediction-schema column (`meds-evaluation`): the predicted probability of the positive class.
pub const PREDICTED_BOOLEAN_PROBABILITY: &str = "predicted_boolean_probability";

/// The code of a subject's birth event.
pub const BIRTH_CODE: &str = "MEDS_BIRTH";
/// The code of a subject's death event.
pub const DEATH_CODE: &str = "MEDS_DEATH";

/// The split used to train models.
pub const TRAIN_SPLIT: &str = "train";
/// The split used for hyper-parameter tuning and early stopping.
pub const TUNING_SPLIT: &str = "tuning";
/// The split held out for final evaluation.
pub const HELD_OUT_SPLIT: &str = "held_out";

/// Directory (under the dataset root) holding the event shards.
pub const DATA_DIR: &str = "data";
/// The earliest plausible event time, 1850-01-01 (µs since the epoch): an earlier time in a
/// clinical record is a placeholder (`0000-01-01`) or an error, not a date.
pub const EARLIEST_PLAUSIBLE: i64 = -3_786_825_600_000_000;
/// How far past the present an event time may plausibly lie (scheduled care): one year (µs).
pub const PLAUSIBLE_AHEAD: i64 = 366 * 86_400_000_000;

/// A file in the dataset root while a writer is at work (removed when it finishes); readers
/// refuse a dataset that has it. Hidden, so other MEDS tools ignore it.
pub const WRITING_MARKER: &str = ".meds-writing";
/// Directory (under the dataset root) holding the metadata files.
pub const METADATA_DIR: &str = "metadata";
/// Path of the dataset metadata JSON, relative to the dataset root.
pub const DATASET_METADATA_PATH: &str = "metadata/dataset.json";
/// Path of the code metadata parquet, relative to the dataset root.
pub const CODES_PATH: &str = "metadata/codes.parquet";
/// Path of the subject splits parquet, relative to the dataset root.
pub const SUBJECT_SPLITS_PATH: &str = "metadata/subject_splits.parquet";

/// The MEDS version whose schemas this crate implements.
pub const MEDS_VERSION: &str = "0.4.1";

/// The Arrow type of `time` and `prediction_time`: microseconds, no time zone.
pub fn time_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, None)
}

/// The data schema of an event shard (`data/**/*.parquet`).
///
/// `numeric_value` and `text_value` are optional in MEDS (a shard may omit them); this is the full
/// schema that Longitude always writes.
pub fn data_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(SUBJECT_ID, DataType::Int64, false),
        Field::new(TIME, time_type(), true),
        Field::new(CODE, DataType::Utf8, false),
        Field::new(NUMERIC_VALUE, DataType::Float32, true),
        Field::new(TEXT_VALUE, DataType::LargeUtf8, true),
    ]))
}

/// The MEDS label schema for binary tasks: `subject_id`, `prediction_time`, `boolean_value`.
pub fn boolean_label_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(SUBJECT_ID, DataType::Int64, false),
        Field::new(PREDICTION_TIME, time_type(), false),
        Field::new(BOOLEAN_VALUE, DataType::Boolean, false),
    ]))
}

/// The `meds-evaluation` prediction schema for binary tasks: the label columns plus the predicted
/// value and probability.
pub fn boolean_prediction_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(SUBJECT_ID, DataType::Int64, false),
        Field::new(PREDICTION_TIME, time_type(), false),
        Field::new(BOOLEAN_VALUE, DataType::Boolean, false),
        Field::new(PREDICTED_BOOLEAN_VALUE, DataType::Boolean, false),
        Field::new(PREDICTED_BOOLEAN_PROBABILITY, DataType::Float32, false),
    ]))
}

/// The `meds-evaluation` prediction schema for predictions made before their outcome is known
/// (batch scoring): no `boolean_value` column (the schema allows it absent, never null), and
/// `predicted_boolean_value` null when the model has no validated threshold.
pub fn boolean_score_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(SUBJECT_ID, DataType::Int64, false),
        Field::new(PREDICTION_TIME, time_type(), false),
        Field::new(PREDICTED_BOOLEAN_VALUE, DataType::Boolean, true),
        Field::new(PREDICTED_BOOLEAN_PROBABILITY, DataType::Float32, false),
    ]))
}

/// The schema of `metadata/subject_splits.parquet`.
pub fn subject_splits_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(SUBJECT_ID, DataType::Int64, false),
        Field::new("split", DataType::Utf8, false),
    ]))
}

/// The schema of `metadata/codes.parquet`.
pub fn codes_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(CODE, DataType::Utf8, false),
        Field::new("description", DataType::Utf8, true),
        Field::new("parent_codes", DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))), true),
    ]))
}

/// The vocabulary of a code: the part before the first `/` (`ICD10CM/E11.9` → `ICD10CM`), or the
/// whole code when it has none (`MEDS_BIRTH`).
pub fn vocabulary(code: &str) -> &str {
    code.split_once('/').map_or(code, |(v, _)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabulary_is_the_prefix() {
        assert_eq!(vocabulary("ICD10CM/E11.9"), "ICD10CM");
        assert_eq!(vocabulary("ADMISSION//CARDIAC"), "ADMISSION");
        assert_eq!(vocabulary("MEDS_BIRTH"), "MEDS_BIRTH");
    }

    #[test]
    fn data_schema_matches_meds_types() {
        let s = data_schema();
        assert_eq!(s.field_with_name(TEXT_VALUE).map(|f| f.data_type().clone()).ok(), Some(DataType::LargeUtf8));
        assert!(!s.field_with_name(SUBJECT_ID).map(|f| f.is_nullable()).unwrap_or(true));
        assert!(s.field_with_name(TIME).map(|f| f.is_nullable()).unwrap_or(false));
    }
}
