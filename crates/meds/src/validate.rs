//! Whole-dataset validation against MEDS 0.4.1: shard schemas and invariants, metadata files, and
//! the consistency between them.

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rayon::prelude::*;
use serde::Serialize;

use crate::codes::CodeTable;
use crate::error::MedsError;
use crate::metadata::{DatasetMetadata, read_codes, read_subject_splits};
use crate::reader::{Dataset, read_shard, shard_layout};
use crate::schema;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The dataset breaks the MEDS contract.
    Error,
    /// The dataset is readable but deviates from MEDS or is internally inconsistent.
    Warning,
}

/// One problem found, with the file it concerns (relative to the dataset root).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// How serious it is.
    pub severity: Severity,
    /// The file concerned, if any.
    pub file: Option<PathBuf>,
    /// What is wrong, in words (never event content).
    pub message: String,
}

/// The outcome of [`validate`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct ValidationReport {
    /// The dataset root.
    pub root: PathBuf,
    /// Event shards found.
    pub shards: usize,
    /// Subjects read from the shards that could be read.
    pub subjects: u64,
    /// Events read from the shards that could be read.
    pub events: u64,
    /// Distinct codes seen in the data.
    pub codes: usize,
    /// Everything found, errors first.
    pub findings: Vec<Finding>,
}

/// What was read, each finding on its own line, then the verdict.
impl std::fmt::Display for ValidationReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{}: {} shard(s), {} subjects, {} events, {} codes",
            self.root.display(),
            self.shards,
            self.subjects,
            self.events,
            self.codes
        )?;
        for finding in &self.findings {
            let level = match finding.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            match &finding.file {
                Some(file) => writeln!(f, "  {level}: {}: {}", file.display(), finding.message)?,
                None => writeln!(f, "  {level}: {}", finding.message)?,
            }
        }
        let (errors, warnings) = (self.errors().count(), self.warnings().count());
        if self.is_valid() {
            write!(f, "valid MEDS {} ({warnings} warning(s))", crate::schema::MEDS_VERSION)
        } else {
            write!(f, "NOT valid MEDS: {errors} error(s), {warnings} warning(s)")
        }
    }
}

impl ValidationReport {
    /// Whether the dataset is valid MEDS (no errors; warnings allowed).
    pub fn is_valid(&self) -> bool {
        !self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    /// The errors.
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.severity == Severity::Error)
    }

    /// The warnings.
    pub fn warnings(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.severity == Severity::Warning)
    }

    fn push(&mut self, severity: Severity, file: Option<&Path>, message: impl Into<String>) {
        self.findings.push(Finding { severity, file: file.map(Path::to_path_buf), message: message.into() });
    }

    fn push_error(&mut self, root: &Path, e: &MedsError) {
        let file = error_file(e).map(|p| p.strip_prefix(root).unwrap_or(p).to_path_buf());
        let message = e.to_string();
        let message = match &file {
            Some(f) => {
                let full = root.join(f);
                message
                    .strip_prefix(&format!("{}: ", full.display()))
                    .or_else(|| message.strip_prefix(&format!("{}: ", f.display())))
                    .unwrap_or(&message)
                    .to_owned()
            }
            None => message,
        };
        self.findings.push(Finding { severity: Severity::Error, file, message });
    }
}

fn error_file(e: &MedsError) -> Option<&Path> {
    match e {
        MedsError::Io { path, .. }
        | MedsError::Parquet { path, .. }
        | MedsError::Arrow { path, .. }
        | MedsError::MissingColumn { path, .. }
        | MedsError::WrongType { path, .. }
        | MedsError::NullInRequired { path, .. }
        | MedsError::Unsorted { path, .. }
        | MedsError::NotContiguous { path, .. }
        | MedsError::MissingMetadata { path }
        | MedsError::Metadata { path, .. }
        | MedsError::Store { path, .. } => Some(path),
        MedsError::Write(e) => Some(&e.path),
        MedsError::SubjectInManyShards { .. }
        | MedsError::NoShards { .. }
        | MedsError::Incomplete { .. }
        | MedsError::Writer { .. } => None,
    }
}

/// NaN values stored (not null) in a shard's `numeric_value` column; 0 if it cannot be read
/// (the reader reports that).
fn stored_nan(path: &Path) -> u64 {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float32Type, Float64Type};
    use parquet::arrow::ProjectionMask;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let Ok(file) = File::open(path) else { return 0 };
    let Ok(builder) = ParquetRecordBatchReaderBuilder::try_new(file) else { return 0 };
    let mask = ProjectionMask::columns(builder.parquet_schema(), [schema::NUMERIC_VALUE]);
    let Ok(reader) = builder.with_projection(mask).build() else { return 0 };
    let mut n = 0;
    for batch in reader.flatten() {
        let Some(column) = batch.column_by_name(schema::NUMERIC_VALUE) else { continue };
        let valid = |i: usize| !column.is_null(i);
        if let Some(a) = column.as_primitive_opt::<Float32Type>() {
            n += a.values().iter().enumerate().filter(|(i, v)| v.is_nan() && valid(*i)).count() as u64;
        } else if let Some(a) = column.as_primitive_opt::<Float64Type>() {
            n += a.values().iter().enumerate().filter(|(i, v)| v.is_nan() && valid(*i)).count() as u64;
        }
    }
    n
}

/// Events a schema check cannot catch, counted per shard.
#[derive(Debug, Default)]
struct Implausible {
    /// Times outside [`schema::EARLIEST_PLAUSIBLE`], now + [`schema::PLAUSIBLE_AHEAD`].
    times: u64,
    /// NaN or infinite numeric values.
    values: u64,
}

/// Validates the dataset at `root`, reading every shard (in parallel) and every metadata file.
/// Never fails: every problem becomes a [`Finding`].
pub fn validate(root: &Path) -> ValidationReport {
    let mut report = ValidationReport { root: root.to_path_buf(), ..Default::default() };

    match DatasetMetadata::read(root) {
        Ok(_) => {}
        Err(e) => report.push_error(root, &e),
    }

    let dataset = match Dataset::open(root) {
        Ok(d) => d,
        Err(e) => {
            report.push_error(root, &e);
            return sorted(report);
        }
    };
    report.shards = dataset.shards().len();

    let codes = Mutex::new(CodeTable::new());
    type ShardOutcome = (Vec<i64>, u64, Vec<String>, Option<MedsError>, Implausible);
    let latest = chrono::Utc::now().timestamp_micros().saturating_add(schema::PLAUSIBLE_AHEAD);
    let outcomes: Vec<ShardOutcome> = dataset
        .shards()
        .par_iter()
        .map(|shard| {
            let mut notes = Vec::new();
            if let Ok(file) = File::open(&shard.path)
                && let Ok((layout, _)) = shard_layout(&shard.path, &file)
            {
                notes = layout.deviations;
            }
            let mut ids = Vec::new();
            let mut odd = Implausible::default();
            match read_shard(&shard.path, &codes, |t| {
                ids.push(t.subject_id);
                for e in t.events() {
                    if e.time.is_some_and(|t| !(schema::EARLIEST_PLAUSIBLE..=latest).contains(&t)) {
                        odd.times += 1;
                    }
                    if e.numeric_value.is_some_and(f32::is_infinite) {
                        odd.values += 1;
                    }
                }
                Ok(())
            }) {
                Ok(summary) => {
                    // The reader holds a missing value as NaN, so a NaN stored as a value is
                    // counted from the column itself.
                    odd.values += stored_nan(&shard.path);
                    (ids, summary.events, notes, None, odd)
                }
                Err(e) => (ids, 0, notes, Some(e), odd),
            }
        })
        .collect();

    let mut by_shard: Vec<Vec<i64>> = Vec::with_capacity(outcomes.len());
    for (shard, (ids, events, notes, error, odd)) in dataset.shards().iter().zip(outcomes) {
        for note in notes {
            report.push(Severity::Warning, Some(&shard.relative), note);
        }
        if odd.times > 0 {
            report.push(
                Severity::Error,
                Some(&shard.relative),
                format!(
                    "{} event time(s) before 1850 or more than a year from now: placeholders or errors, not dates",
                    odd.times
                ),
            );
        }
        if odd.values > 0 {
            report.push(
                Severity::Error,
                Some(&shard.relative),
                format!("{} numeric value(s) are NaN or infinite", odd.values),
            );
        }
        match error {
            Some(e) => report.push_error(root, &e),
            None => {
                report.subjects += ids.len() as u64;
                report.events += events;
            }
        }
        by_shard.push(ids);
    }
    let mut all: Vec<(i64, usize)> =
        by_shard.iter().enumerate().flat_map(|(s, ids)| ids.iter().map(move |&id| (id, s))).collect();
    all.sort_unstable();
    let mut split_subjects = 0usize;
    for w in all.windows(2) {
        if w[0].0 == w[1].0 && w[0].1 != w[1].1 {
            split_subjects += 1;
            if split_subjects <= 5 {
                report.push_error(
                    root,
                    &MedsError::SubjectInManyShards {
                        subject_id: w[0].0,
                        first: dataset.shards()[w[0].1].relative.clone(),
                        second: dataset.shards()[w[1].1].relative.clone(),
                    },
                );
            }
        }
    }
    if split_subjects > 5 {
        report.push(Severity::Error, None, format!("{split_subjects} subjects in total are split across shards"));
    }
    let data_codes = codes.into_inner().unwrap_or_else(|p| p.into_inner());
    report.codes = data_codes.len();

    let codes_path = Path::new(schema::CODES_PATH);
    match read_codes(root) {
        // MEDS says the code and split files *should* exist, and other tools read datasets
        // without them: their absence is a warning, and a command that needs them says so.
        Err(MedsError::MissingMetadata { .. }) => report.push(
            Severity::Warning,
            Some(codes_path),
            "absent: MEDS recommends it (code descriptions and parents); nothing here needs it to read the data",
        ),
        Err(e) => report.push_error(root, &e),
        Ok(rows) => {
            let listed: HashSet<&str> = rows.iter().map(|r| r.code.as_str()).collect();
            let missing: Vec<&str> = data_codes.names().filter(|c| !listed.contains(c)).collect();
            if !missing.is_empty() {
                // Counts only: code strings from some ETLs embed free text.
                report.push(
                    Severity::Warning,
                    Some(codes_path),
                    format!("{} of {} code(s) in the data are not listed", missing.len(), data_codes.len()),
                );
            }
        }
    }

    let splits_path = Path::new(schema::SUBJECT_SPLITS_PATH);
    match read_subject_splits(root) {
        Err(MedsError::MissingMetadata { .. }) => report.push(
            Severity::Warning,
            Some(splits_path),
            "absent: MEDS recommends it; commands that need train/tuning/held_out splits read them from data/<split>/ directories, or say how to make them",
        ),
        Err(e) => report.push_error(root, &e),
        Ok(splits) => {
            let mut ids: Vec<i64> = splits.iter().map(|(id, _)| *id).collect();
            ids.sort_unstable();
            let dups = ids.windows(2).filter(|w| w[0] == w[1]).count();
            if dups > 0 {
                report.push(
                    Severity::Error,
                    Some(splits_path),
                    format!("{dups} subject(s) are assigned to more than one split"),
                );
            }
            ids.dedup();
            let in_data: Vec<i64> = {
                let mut v: Vec<i64> = all.iter().map(|(id, _)| *id).collect();
                v.dedup();
                v
            };
            let unassigned = in_data.iter().filter(|id| ids.binary_search(id).is_err()).count();
            if unassigned > 0 {
                report.push(
                    Severity::Warning,
                    Some(splits_path),
                    format!("{unassigned} subject(s) in the data have no split"),
                );
            }
            let absent = ids.iter().filter(|id| in_data.binary_search(id).is_err()).count();
            if absent > 0 {
                report.push(
                    Severity::Warning,
                    Some(splits_path),
                    format!("{absent} subject(s) have a split but no events"),
                );
            }
        }
    }
    sorted(report)
}

fn sorted(mut report: ValidationReport) -> ValidationReport {
    report.findings.sort_by_key(|f| f.severity != Severity::Error);
    report
}
