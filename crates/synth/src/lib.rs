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
pub mod fhir;
pub mod identity;
pub mod oracle;
pub mod patient;
pub mod prevalence;
pub mod simulate;
pub mod truth;
pub mod vocab;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use meds::{DatasetMetadata, DatasetWriter, WriterOptions};
use rand::RngExt;
use rayon::prelude::*;

pub use conditions::{Condition, Drug};
pub use config::{DriftConfig, GlucoseUnit, MessConfig, SiteProfile, SynthConfig};
pub use simulate::{Intervention, PatientTruth, SimulatedPatient, Stay, simulate_patient};

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

/// Which outputs to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Formats {
    /// `OUT/meds/`: a MEDS dataset.
    pub meds: bool,
    /// `OUT/fhir/<Type>.ndjson`: FHIR R4 Bulk Data NDJSON.
    pub fhir_ndjson: bool,
    /// `OUT/fhir/bundles/<patient>.json`: one FHIR R4 transaction Bundle per patient.
    pub fhir_bundles: bool,
}

impl Default for Formats {
    fn default() -> Self {
        Self { meds: true, fhir_ndjson: true, fhir_bundles: false }
    }
}

/// Output settings that are not part of the simulation itself.
#[derive(Debug, Clone, Default)]
pub struct OutputOptions {
    /// Which outputs to write.
    pub formats: Formats,
    /// `created_at` for `metadata/dataset.json` (ISO 8601); `None`: now. Fix it for byte-identical
    /// reruns (the CLI honours `SOURCE_DATE_EPOCH`).
    pub created_at: Option<String>,
    /// Called after each chunk of patients with the number done so far.
    pub progress: Option<fn(u64)>,
}

impl OutputOptions {
    /// `created_at` from `SOURCE_DATE_EPOCH` (seconds since 1970, the reproducible-builds
    /// convention) when it is set, for byte-identical reruns; `None` (now) otherwise.
    pub fn source_date() -> Option<String> {
        let secs: i64 = std::env::var("SOURCE_DATE_EPOCH").ok()?.trim().parse().ok()?;
        chrono::DateTime::from_timestamp(secs, 0).map(|t| t.naive_utc().format("%Y-%m-%dT%H:%M:%S%.6f").to_string())
    }
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
    /// FHIR resources written (NDJSON lines).
    pub fhir_resources: u64,
    /// Bytes of FHIR NDJSON written.
    pub fhir_bytes: u64,
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

/// NDJSON files written atomically ([`outputs::atomic::Pending`]): in place only when complete.
struct NdjsonFiles {
    dir: PathBuf,
    files: Vec<(outputs::atomic::Pending, BufWriter<File>)>,
}

impl NdjsonFiles {
    fn create(dir: &Path) -> Result<Self, SynthError> {
        let files = fhir::RESOURCE_TYPES
            .iter()
            .map(|t| {
                let path = dir.join(format!("{t}.ndjson"));
                outputs::atomic::Pending::create(&path, outputs::atomic::Access::Shared)
                    .map(|(pending, f)| (pending, BufWriter::with_capacity(1 << 20, f)))
                    .map_err(|e| SynthError::io(&e.path, e.source))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { dir: dir.to_path_buf(), files })
    }

    fn append(&mut self, buffers: &[String; 7]) -> Result<u64, SynthError> {
        let mut bytes = 0;
        for ((_, file), buffer) in self.files.iter_mut().zip(buffers) {
            file.write_all(buffer.as_bytes()).map_err(|e| SynthError::io(&self.dir, e))?;
            bytes += buffer.len() as u64;
        }
        Ok(bytes)
    }

    fn finish(self) -> Result<(), SynthError> {
        for (pending, file) in self.files {
            let file = file.into_inner().map_err(|e| SynthError::io(pending.target(), e.into_error()))?;
            pending.commit(file).map_err(|e| SynthError::io(&e.path, e.source))?;
        }
        Ok(())
    }
}

/// One patient, simulated and rendered (rendering runs on the worker threads too).
struct Rendered {
    patient: SimulatedPatient,
    ndjson: Option<[String; 7]>,
    bundle: Option<(String, String)>,
    resources: u64,
}

fn render(config: &SynthConfig, codes: &meds::CodeTable, index: u64, formats: Formats) -> Rendered {
    let patient = simulate_patient(config, codes, index);
    let (mut ndjson, mut bundle, mut resources) = (None, None, 0);
    if formats.fhir_ndjson {
        let r = fhir::resources(&patient, codes, config.seed, fhir::References::Relative);
        resources = r.resources.len() as u64;
        let mut buffers: [String; 7] = Default::default();
        r.append_ndjson(&mut buffers);
        ndjson = Some(buffers);
    }
    if formats.fhir_bundles {
        let r = fhir::resources(&patient, codes, config.seed, fhir::References::UrnUuid);
        resources = r.resources.len() as u64;
        let id = r.resources.first().map(|(_, id, _)| id.clone()).unwrap_or_default();
        bundle = Some((id, r.bundle()));
    }
    Rendered { patient, ndjson, bundle, resources }
}

/// Simulates the population of `config` and writes, as `options.formats` asks, `out/meds/` (a
/// MEDS dataset), `out/fhir/` (FHIR R4 NDJSON and/or per-patient Bundles) and always `out/truth/`
/// (ground truth, planted identifiers and the configuration used). Patients are simulated and
/// rendered in parallel in chunks and written in index order, so memory stays bounded and the
/// output does not depend on the thread count.
pub fn generate(config: &SynthConfig, out: &Path, options: &OutputOptions) -> Result<Summary, SynthError> {
    if config.sites.is_empty() {
        return Err(SynthError::Config("at least one site is needed".into()));
    }
    if config.end_year < config.record_start_year || config.record_start_year < 2001 {
        return Err(SynthError::Config("records must start after 2000 and before the end year".into()));
    }
    let formats = options.formats;
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
    let mut writer = if formats.meds {
        Some(DatasetWriter::create(out.join("meds"), WriterOptions { metadata, ..Default::default() })?)
    } else {
        None
    };
    let fhir_dir = out.join("fhir");
    let mut ndjson = if formats.fhir_ndjson { Some(NdjsonFiles::create(&fhir_dir)?) } else { None };
    let bundle_dir = fhir_dir.join("bundles");
    if formats.fhir_bundles {
        std::fs::create_dir_all(&bundle_dir).map_err(|e| SynthError::io(&bundle_dir, e))?;
    }
    let truth_dir = out.join("truth");
    let mut truth = truth::TruthWriter::create(&truth_dir)?;
    let mut summary =
        Summary { prevalence: prevalence::Prevalence::new(config.end_year.min(2020)), ..Default::default() };
    const CHUNK: u64 = 2048;
    let n = config.patients as u64;
    let mut start = 0;
    while start < n {
        let end = (start + CHUNK).min(n);
        let rendered: Vec<Rendered> =
            (start..end).into_par_iter().map(|i| render(config, &codes, i, formats)).collect();
        for (offset, r) in rendered.iter().enumerate() {
            let index = start + offset as u64;
            let p = &r.patient;
            if let Some(writer) = writer.as_mut() {
                writer.write_subject(split_of(config.seed, index), &p.timeline, &codes)?;
            }
            if let (Some(files), Some(buffers)) = (ndjson.as_mut(), r.ndjson.as_ref()) {
                summary.fhir_bytes += files.append(buffers)?;
            }
            if let Some((id, json)) = &r.bundle {
                let path = bundle_dir.join(format!("{id}.json"));
                outputs::atomic::write(&path, outputs::atomic::Access::Shared, json.as_bytes())
                    .map_err(|e| SynthError::io(&e.path, e.source))?;
            }
            summary.fhir_resources += r.resources;
            truth.add(p, &config.sites[p.person.site].name);
            summary.prevalence.add(p);
            summary.events += p.timeline.len() as u64;
            summary.recorded_deaths += u64::from(p.truth.death.is_some_and(|d| p.person.registered(d)));
        }
        truth.flush()?;
        summary.patients += rendered.len() as u64;
        if let Some(progress) = options.progress {
            progress(summary.patients);
        }
        start = end;
    }
    if let Some(writer) = writer {
        writer.finish(&codes)?;
    }
    if let Some(files) = ndjson {
        files.finish()?;
    }
    truth.finish()?;
    let config_json = serde_json::to_string_pretty(config).map_err(|e| SynthError::Output(e.to_string()))?;
    outputs::atomic::write(&truth_dir.join("config.json"), outputs::atomic::Access::Shared, config_json.as_bytes())
        .map_err(|e| SynthError::io(&e.path, e.source))?;
    let prevalence_json =
        serde_json::to_string_pretty(&summary.prevalence).map_err(|e| SynthError::Output(e.to_string()))?;
    outputs::atomic::write(
        &truth_dir.join("prevalence.json"),
        outputs::atomic::Access::Shared,
        prevalence_json.as_bytes(),
    )
    .map_err(|e| SynthError::io(&e.path, e.source))?;
    Ok(summary)
}
