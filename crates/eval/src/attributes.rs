//! Subgroup attributes of each prediction, read from the MEDS data itself, so that a partner
//! evaluating a model on its own data needs nothing else: sex, race and ethnicity from static
//! codes (`GENDER/…` or `SEX/…`, `RACE/…`, `ETHNICITY/…`, any separator), and the age band at
//! the prediction time from `MEDS_BIRTH`.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use meds::labels::BooleanPrediction;
use meds::{CodeTable, Dataset, STATIC_TIME};

use crate::fairness::Attribute;

/// Age bands used for fairness audits.
pub const AGE_BANDS: [(f64, &str); 5] =
    [(18.0, "0-17"), (45.0, "18-44"), (65.0, "45-64"), (75.0, "65-74"), (f64::INFINITY, "75+")];

const YEAR_US: f64 = 365.25 * 86_400_000_000.0;

#[derive(Debug, Default, Clone)]
struct Person {
    sex: Option<String>,
    race: Option<String>,
    ethnicity: Option<String>,
    birth: Option<i64>,
}

/// The part of a static code after its vocabulary (`GENDER/F` → `F`, `SEX//male` → `male`).
fn value_of(code: &str, prefixes: &[&str]) -> Option<String> {
    let upper = code.to_ascii_uppercase();
    prefixes.iter().find(|p| upper.starts_with(*p)).map(|p| code[p.len()..].trim_start_matches('/').to_string())
}

/// The OMB categories of the CDC Race & Ethnicity code set (what US Core and Longitude's FHIR
/// ingest write), so subgroup tables name groups instead of showing bare codes.
const CDC_RACE_ETHNICITY: [(&str, &str); 8] = [
    ("1002-5", "American Indian or Alaska Native"),
    ("2028-9", "Asian"),
    ("2054-5", "Black or African American"),
    ("2076-8", "Native Hawaiian or Other Pacific Islander"),
    ("2106-3", "White"),
    ("2131-1", "Other Race"),
    ("2135-2", "Hispanic or Latino"),
    ("2186-5", "Not Hispanic or Latino"),
];

/// `White (2106-3)` for a CDC code; anything else unchanged.
fn named(value: String) -> String {
    match CDC_RACE_ETHNICITY.iter().find(|(c, _)| *c == value) {
        Some((c, name)) => format!("{name} ({c})"),
        None => value,
    }
}

/// Demographics of a dataset's subjects, read once and used for any number of prediction sets.
#[derive(Debug, Clone, Default)]
pub struct Demographics {
    by_subject: HashMap<i64, Person>,
}

impl Demographics {
    /// Reads the demographics of every subject (or only of `subjects`).
    pub fn read(dataset: &Dataset, subjects: Option<&std::collections::HashSet<i64>>) -> meds::Result<Demographics> {
        let codes = Mutex::new(CodeTable::new());
        let found: Mutex<HashMap<i64, Person>> = Mutex::new(HashMap::new());
        dataset.for_each_subject(&codes, |_, t| {
            if subjects.is_some_and(|s| !s.contains(&t.subject_id)) {
                return Ok(());
            }
            let table = codes.lock().unwrap_or_else(PoisonError::into_inner);
            let mut d = Person::default();
            for i in 0..t.len() {
                let code = table.name(t.codes[i]);
                if t.times[i] == STATIC_TIME {
                    if let Some(v) = value_of(code, &["GENDER", "SEX"]) {
                        d.sex = Some(v);
                    } else if let Some(v) = value_of(code, &["RACE"]) {
                        d.race = Some(named(v));
                    } else if let Some(v) = value_of(code, &["ETHNICITY"]) {
                        d.ethnicity = Some(named(v));
                    }
                } else if code == "MEDS_BIRTH" && d.birth.is_none() {
                    d.birth = Some(t.times[i]);
                }
            }
            drop(table);
            found.lock().unwrap_or_else(PoisonError::into_inner).insert(t.subject_id, d);
            Ok(())
        })?;
        Ok(Demographics { by_subject: found.into_inner().unwrap_or_else(PoisonError::into_inner) })
    }

    /// Number of subjects read.
    pub fn len(&self) -> usize {
        self.by_subject.len()
    }

    /// Whether no subject was read.
    pub fn is_empty(&self) -> bool {
        self.by_subject.is_empty()
    }

    /// Refuses predictions whose subjects were not read from the dataset.
    pub fn check_covers(&self, predictions: &[BooleanPrediction]) -> Result<(), crate::EvalError> {
        let subjects: std::collections::HashSet<i64> = predictions.iter().map(|p| p.label.subject_id).collect();
        let missing = subjects.iter().filter(|s| !self.by_subject.contains_key(s)).count();
        if missing > 0 {
            return Err(crate::EvalError::Mismatch { missing, total: subjects.len() });
        }
        Ok(())
    }

    /// Sex, age band (at each prediction time), race and ethnicity of every prediction; subjects
    /// absent from the data get unknown values.
    pub fn attributes(&self, predictions: &[BooleanPrediction]) -> Vec<Attribute> {
        let none = Person::default();
        let get = |p: &BooleanPrediction| self.by_subject.get(&p.label.subject_id).unwrap_or(&none);
        let column = |name: &str, f: &dyn Fn(&BooleanPrediction, &Person) -> Option<String>| Attribute {
            name: name.to_string(),
            values: predictions.iter().map(|p| f(p, get(p))).collect(),
        };
        vec![
            column("sex", &|_, d| d.sex.clone()),
            column("age_band", &|p, d| {
                d.birth.map(|b| {
                    let age = (p.label.prediction_time - b) as f64 / YEAR_US;
                    AGE_BANDS.iter().find(|(upper, _)| age < *upper).map_or("75+", |(_, n)| n).to_string()
                })
            }),
            column("race", &|_, d| d.race.clone()),
            column("ethnicity", &|_, d| d.ethnicity.clone()),
        ]
    }
}

/// Each subject's site from a parquet file with `subject_id` (int64) and `site` (string) columns
/// — `longitude synth`'s `truth/subjects.parquet`, or a table the data team provides.
pub fn read_sites(path: &std::path::Path) -> Result<HashMap<i64, String>, crate::EvalError> {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    let fail = |message: String| crate::EvalError::Sites { path: path.to_path_buf(), message };
    let file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| fail(e.to_string()))?;
    let mut out = HashMap::new();
    for batch in reader {
        let batch = batch.map_err(|e| fail(e.to_string()))?;
        let ids = batch
            .column_by_name("subject_id")
            .and_then(|c| c.as_primitive_opt::<Int64Type>())
            .ok_or_else(|| fail("no int64 subject_id column".into()))?;
        let sites = batch
            .column_by_name("site")
            .and_then(|c| c.as_string_opt::<i32>())
            .ok_or_else(|| fail("no string site column".into()))?;
        for i in 0..batch.num_rows() {
            if !ids.is_null(i) && !sites.is_null(i) {
                out.insert(ids.value(i), sites.value(i).to_string());
            }
        }
    }
    Ok(out)
}

/// Sex, race, ethnicity and age band of every prediction, from the subjects' MEDS timelines.
/// Predictions with subjects the dataset lacks are an error ([`crate::EvalError::Mismatch`]).
pub fn from_meds(dataset: &Dataset, predictions: &[BooleanPrediction]) -> Result<Vec<Attribute>, crate::EvalError> {
    let wanted: std::collections::HashSet<i64> = predictions.iter().map(|p| p.label.subject_id).collect();
    let demographics = Demographics::read(dataset, Some(&wanted))?;
    demographics.check_covers(predictions)?;
    Ok(demographics.attributes(predictions))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_code_values() {
        assert_eq!(value_of("GENDER/F", &["GENDER", "SEX"]), Some("F".into()));
        assert_eq!(value_of("SEX//male", &["GENDER", "SEX"]), Some("male".into()));
        assert_eq!(value_of("RACE/2106-3", &["RACE"]), Some("2106-3".into()));
        assert_eq!(value_of("LOINC/123", &["RACE"]), None);
        assert_eq!(named("2106-3".into()), "White (2106-3)");
        assert_eq!(named("2135-2".into()), "Hispanic or Latino (2135-2)");
        assert_eq!(named("unknown".into()), "unknown");
    }
}
