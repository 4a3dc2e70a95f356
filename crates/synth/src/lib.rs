//! # synth — a synthetic clinical population with known ground truth
//!
//! No real patient data exists on our machines, and no user should need any to try Longitude.
//! This crate simulates a population month by month: hidden disease processes (glycemia →
//! diabetes → kidney disease, hypertension → heart failure, atrial fibrillation → stroke, lipids →
//! coronary disease → infarction, COPD, colorectal cancer, sepsis), care that observes them
//! imperfectly (visits, labs ordered for a reason, diagnoses coded after a lag, guideline-like
//! prescribing that changes trajectories), data mess (noise, missed visits, duplicates, rule-outs,
//! miscoding, units that differ by site) and practice drift over the calendar. It writes MEDS and,
//! apart, the ground truth. `docs/synth.md` documents every process and number.

#![forbid(unsafe_code)]

pub mod calendar;
pub mod conditions;
pub mod config;
pub mod patient;
pub mod prevalence;
pub mod simulate;
pub mod truth;
pub mod vocab;

use std::path::{Path, PathBuf};

use meds::{DatasetMetadata, DatasetWriter, WriterOptions};
use rand::RngExt;
use rayon::prelude::*;

pub use conditions::{Condition, Drug};
pub use config::{DriftConfig, GlucoseUnit, MessConfig, SiteProfile, SynthConfig};
pub use simulate::{PatientTruth, SimulatedPatient, simulate_patient};

/// What can go wrong generating a population.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// The configuration cannot be simulated.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Writing MEDS failed.
    #[error(transparent)]
    Meds(#[from] meds::MedsError),
    /// A file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Encoding an output file failed.
    #[error("{0}")]
    Output(String),
}

impl SynthError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io { path: path.to_path_buf(), source }
    }
}

/// Output settings that are not part of the simulation itself.
#[derive(Debug, Clone, Default)]
pub struct OutputOptions {
    /// `created_at` for `metadata/dataset.json` (ISO 8601); `None`: now. Fix it for byte-identical
    /// reruns (the CLI honours `SOURCE_DATE_EPOCH`).
    pub created_at: Option<String>,
    /// Called after each chunk of patients with the number done so far.
    pub progress: Option<fn(u64)>,
}

/// Counts from a generation run.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Patients simulated and written.
    pub patients: u64,
    /// MEDS events written.
    pub events: u64,
    /// Deaths recorded in the data.
    pub recorded_deaths: u64,
    /// Prevalence by age band on 1 January 2020 (or of the last simulated year, if earlier).
    pub prevalence: prevalence::Prevalence,
}

/// The split of patient `index`: 80% train, 10% tuning, 10% held out, fixed by the seed.
pub fn split_of(seed: u64, index: u64) -> &'static str {
    let mut rng = simulate::stream(seed, index, u64::MAX - 1, 0);
    match rng.random_range(0..10) {
        0 => meds::schema::TUNING_SPLIT,
        1 => meds::schema::HELD_OUT_SPLIT,
        _ => meds::schema::TRAIN_SPLIT,
    }
}

/// Simulates the population of `config` and writes `out/meds/` (a MEDS dataset) and `out/truth/`
/// (ground truth and the configuration used). Patients are simulated in parallel in chunks and
/// streamed to the writer in index order, so memory stays bounded and the output does not depend
/// on the thread count.
pub fn generate(config: &SynthConfig, out: &Path, options: &OutputOptions) -> Result<Summary, SynthError> {
    if config.sites.is_empty() {
        return Err(SynthError::Config("at least one site is needed".into()));
    }
    if config.end_year < config.record_start_year || config.record_start_year < 2001 {
        return Err(SynthError::Config("records must start after 2000 and before the end year".into()));
    }
    let codes = vocab::code_table();
    let metadata = DatasetMetadata {
        dataset_name: Some("longitude-synth".into()),
        dataset_version: Some(format!("seed-{}-patients-{}", config.seed, config.patients)),
        etl_name: Some("longitude synth".into()),
        etl_version: Some(env!("CARGO_PKG_VERSION").into()),
        created_at: options.created_at.clone(),
        license: Some("CC0-1.0 (synthetic data)".into()),
        ..Default::default()
    };
    let mut writer = DatasetWriter::create(out.join("meds"), WriterOptions { metadata, ..Default::default() })?;
    let mut truth = truth::TruthTables::default();
    let mut summary =
        Summary { prevalence: prevalence::Prevalence::new(config.end_year.min(2020)), ..Default::default() };
    const CHUNK: u64 = 2048;
    let n = config.patients as u64;
    let mut start = 0;
    while start < n {
        let end = (start + CHUNK).min(n);
        let patients: Vec<SimulatedPatient> =
            (start..end).into_par_iter().map(|i| simulate_patient(config, &codes, i)).collect();
        for (offset, p) in patients.iter().enumerate() {
            let index = start + offset as u64;
            writer.write_subject(split_of(config.seed, index), &p.timeline, &codes)?;
            truth.add(p, &config.sites[p.person.site].name);
            summary.prevalence.add(p);
            summary.events += p.timeline.len() as u64;
            summary.recorded_deaths += u64::from(p.truth.death.is_some_and(|d| p.person.registered(d)));
        }
        summary.patients += patients.len() as u64;
        if let Some(progress) = options.progress {
            progress(summary.patients);
        }
        start = end;
    }
    writer.finish(&codes)?;
    let truth_dir = out.join("truth");
    truth.write(&truth_dir)?;
    let config_json = serde_json::to_string_pretty(config).map_err(|e| SynthError::Output(e.to_string()))?;
    std::fs::write(truth_dir.join("config.json"), config_json).map_err(|e| SynthError::io(&truth_dir, e))?;
    let prevalence_json =
        serde_json::to_string_pretty(&summary.prevalence).map_err(|e| SynthError::Output(e.to_string()))?;
    std::fs::write(truth_dir.join("prevalence.json"), prevalence_json).map_err(|e| SynthError::io(&truth_dir, e))?;
    Ok(summary)
}
