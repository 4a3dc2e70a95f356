//! # ingest — FHIR and MEDS sources → de-identified MEDS, in bounded memory
//!
//! The pipeline behind `longitude ingest` (and the demo):
//!
//! 1. **Read** every source: FHIR through the streaming [`fhir::read`] (parsed on every core),
//!    MEDS datasets from another ETL shard by shard. Each patient's records are **spilled** to
//!    the work-directory shard that holds its pseudonym's range ([`spill`]); quarantined records
//!    stream to the quarantine directory ([`quarantine`]).
//! 2. **De-identify and write**, one spill shard at a time: gather each patient's records, drop
//!    the opted-out, de-identify in parallel ([`deid::Deidentifier`]), sort by pseudonym and
//!    write MEDS. Shards come back in pseudonym order, so the dataset is written in pseudonym
//!    order and the source's patient order cannot leak through.
//!
//! Memory is bounded by one spill shard (sized from the input, [`Options::shard_input_bytes`]),
//! a chunk of NDJSON lines, and the MEDS writer's shard buffers — not by the input. The result is
//! identical whatever the number of threads or spill shards.
//!
//! Before de-identification the spill holds PHI: the work directory is outside the output,
//! carries a warning file, is created owner-only, and is deleted as soon as it has been used (and
//! at the start of a run, should a killed run have left one).

#![forbid(unsafe_code)]

pub mod audit;
pub mod quarantine;
pub mod spill;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use deid::{DeidReport, Deidentifier};
use meds::{CodeTable, DatasetMetadata, DatasetWriter, Timeline, WriterOptions};
use rayon::prelude::*;
use serde::Serialize;

use crate::quarantine::QuarantineWriter;
use crate::spill::SpillWriter;

/// What can stop an ingest run (per-record problems are quarantined instead).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Reading FHIR failed as a whole.
    #[error(transparent)]
    Fhir(#[from] fhir::FhirError),
    /// A MEDS source could not be read, or the output could not be written.
    #[error(transparent)]
    Meds(#[from] meds::MedsError),
    /// A work, quarantine or output file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The path concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> IngestError + '_ {
    move |source| IngestError::Io { path: path.to_path_buf(), source }
}

/// What to ingest and where.
#[derive(Debug, Clone)]
pub struct Options {
    /// FHIR files or directories, and MEDS dataset roots.
    pub inputs: Vec<PathBuf>,
    /// The MEDS dataset root to write (must not hold shards yet).
    pub out: PathBuf,
    /// The quarantine directory (PHI: never inside the output).
    pub quarantine: PathBuf,
    /// The work directory for the spill (PHI while the run lasts: never inside the output). It is
    /// replaced if it exists and removed at the end.
    pub work: PathBuf,
    /// Source patient ids whose records must not be used.
    pub opt_out: HashSet<String>,
    /// Written to `metadata/dataset.json`.
    pub metadata: DatasetMetadata,
    /// About this many bytes of input go to one spill shard (compressed input counts
    /// [`GZIP_RATIO`] times its size). One shard's patients are in memory at a time.
    pub shard_input_bytes: u64,
}

/// The default for [`Options::shard_input_bytes`]: 256 MiB of FHIR JSON becomes some tens of MiB
/// of events in memory.
pub const SHARD_INPUT_BYTES: u64 = 256 << 20;
/// How much larger than its .gz file an NDJSON export is assumed to be, when sizing the spill.
pub const GZIP_RATIO: u64 = 8;
/// How much larger than its parquet shards a MEDS dataset is assumed to be as JSON, when sizing.
const PARQUET_RATIO: u64 = 10;

impl Options {
    /// Options with the defaults for everything but the paths.
    pub fn new(inputs: Vec<PathBuf>, out: PathBuf, quarantine: PathBuf, work: PathBuf) -> Self {
        Self {
            inputs,
            out,
            quarantine,
            work,
            opt_out: HashSet::new(),
            metadata: DatasetMetadata::default(),
            shard_input_bytes: SHARD_INPUT_BYTES,
        }
    }
}

/// Where a run is, for progress bars.
#[derive(Debug, Clone, Copy)]
pub enum Progress {
    /// Reading: bytes read so far, of about `total`.
    Reading {
        /// Bytes read.
        bytes: u64,
        /// Input bytes in all (compressed sizes for .gz).
        total: u64,
    },
    /// De-identifying and writing: spill shards done, of `total`.
    Writing {
        /// Shards done.
        done: usize,
        /// Shards in all.
        total: usize,
    },
}

/// The accounting of one run: everything read is converted, skipped or quarantined.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Whether read = converted + skipped + quarantined for every resource type.
    pub reconciles: bool,
    /// Patients on the opt-out list that were found in the input and excluded.
    pub opted_out_patients: u64,
    /// Per resource type counts, files, quarantined records (listed up to a cap), code systems
    /// and units met.
    pub fhir: fhir::Report,
    /// What de-identification changed.
    pub deidentification: DeidReport,
    /// Subjects written.
    pub subjects: u64,
    /// Events written.
    pub events: u64,
    /// Records quarantined (all of them, in the quarantine directory).
    pub quarantined: u64,
    /// Spill shards the run used.
    pub spill_shards: usize,
}

/// Whether `path` is the root of a MEDS dataset (a directory whose data/ holds parquet shards).
pub fn is_meds_root(path: &Path) -> bool {
    path.join(meds::schema::DATA_DIR).is_dir() && meds::Dataset::open(path).is_ok()
}

/// The label MEDS sources are counted under in the report.
pub const MEDS_SUBJECT: &str = "(MEDS subject)";

/// Everything the reader hands over goes to the spill or the quarantine.
struct Sources<'a, F> {
    spill: SpillWriter<F>,
    quarantine: &'a mut QuarantineWriter,
}

impl<F: Fn(&str) -> i64> fhir::Sink for Sources<'_, F> {
    fn events(&mut self, patient: String, events: Vec<fhir::Event>, origin: fhir::Origin<'_>) -> std::io::Result<()> {
        self.spill.events(&patient, &events, origin.file, origin.position, origin.resource_type)
    }

    fn identifiers(&mut self, patient: String, identifiers: fhir::Identifiers) -> std::io::Result<()> {
        self.spill.identifiers(&patient, &identifiers)
    }

    fn quarantined(&mut self, record: fhir::Quarantined) -> std::io::Result<()> {
        self.quarantine.push(&record)
    }
}

/// Input bytes as JSON, estimated from file sizes, for sizing the spill.
fn input_size(fhir_inputs: &[PathBuf], meds_roots: &[PathBuf]) -> Result<(u64, u64), IngestError> {
    let mut scratch = fhir::Report::default();
    let mut on_disk = 0;
    let mut as_json = 0;
    for file in fhir::discover(fhir_inputs, &mut scratch)? {
        let len = std::fs::metadata(&file).map_err(io(&file))?.len();
        on_disk += len;
        as_json += if file.to_string_lossy().ends_with(".gz") { len * GZIP_RATIO } else { len };
    }
    for root in meds_roots {
        for shard in meds::Dataset::open(root)?.shards() {
            let len = std::fs::metadata(&shard.path).map_err(io(&shard.path))?.len();
            on_disk += len;
            as_json += len * PARQUET_RATIO;
        }
    }
    Ok((on_disk, as_json))
}

/// Creates the work directory afresh, owner-only, with a warning.
fn fresh_work_dir(work: &Path) -> Result<(), IngestError> {
    if work.exists() {
        std::fs::remove_dir_all(work).map_err(io(work))?;
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(work).map_err(io(work))?;
    std::fs::write(
        work.join("CONTAINS-PHI.txt"),
        "Work files of a running `longitude ingest`: source records before de-identification. \
         Deleted when the run ends; if the run was killed, delete this directory or re-run.\n",
    )
    .map_err(io(work))
}

/// Runs the whole pipeline. See the crate documentation.
pub fn run(
    options: &Options,
    deidentifier: &Deidentifier,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Summary, IngestError> {
    let (meds_roots, fhir_inputs): (Vec<PathBuf>, Vec<PathBuf>) =
        options.inputs.iter().cloned().partition(|p| is_meds_root(p));
    let (total, as_json) = input_size(&fhir_inputs, &meds_roots)?;
    let shards = as_json.div_ceil(options.shard_input_bytes.max(1)).clamp(1, 4096) as usize;
    fresh_work_dir(&options.work)?;
    let mut quarantine = QuarantineWriter::create(&options.quarantine).map_err(io(&options.quarantine))?;
    let spill = SpillWriter::create(&options.work, shards, |source: &str| deidentifier.subject_id(source))
        .map_err(io(&options.work))?;
    let mut sources = Sources { spill, quarantine: &mut quarantine };
    tracing::info!(files = fhir_inputs.len(), meds_sources = meds_roots.len(), spill_shards = shards, "reading");

    let mut report = if fhir_inputs.is_empty() {
        fhir::Report::default()
    } else {
        fhir::read(&fhir_inputs, &mut sources, &|bytes| progress(Progress::Reading { bytes, total }))?
    };
    for root in &meds_roots {
        read_meds(root, &mut sources.spill, &mut report, &options.work)?;
    }
    let (shard_paths, source_files) = sources.spill.finish().map_err(io(&options.work))?;

    // De-identify and write, one shard at a time, in pseudonym order.
    let mut writer = DatasetWriter::create(
        &options.out,
        WriterOptions { metadata: options.metadata.clone(), ..Default::default() },
    )?;
    let mut codes = CodeTable::new();
    let mut deid_report = DeidReport::default();
    let mut opted_out = 0;
    for (i, path) in shard_paths.iter().enumerate() {
        let gathered = spill::read_shard(path).map_err(io(path))?;
        let mut kept: Vec<(String, spill::Gathered)> = Vec::with_capacity(gathered.len());
        for (source, g) in gathered {
            if options.opt_out.contains(&source) {
                opted_out += 1;
            } else if g.identifiers.is_none() {
                orphan(&g, &source_files, &mut report, &mut quarantine).map_err(io(&options.quarantine))?;
            } else if !g.events.is_empty() {
                kept.push((source, g));
            }
        }
        // Gathered in hash order; the order of de-identification does not matter (sorted below).
        let mut patients: Vec<(deid::DeidPatient, DeidReport)> = kept
            .into_par_iter()
            .map(|(source, g)| {
                let mut r = DeidReport::default();
                let p = deidentifier.patient(&source, g.events, g.identifiers.as_ref(), &mut r);
                (p, r)
            })
            .collect();
        patients.sort_by_key(|(p, _)| p.subject_id);
        for (p, r) in patients {
            deid_report.merge(r);
            let mut t = Timeline::with_capacity(p.subject_id, p.events.len());
            for e in p.events {
                let code = codes.intern(&e.code);
                t.push(e.time, code, e.numeric_value, e.text_value);
            }
            writer.write_subject(split_of(p.subject_id), &t, &codes)?;
        }
        std::fs::remove_file(path).map_err(io(path))?;
        progress(Progress::Writing { done: i + 1, total: shard_paths.len() });
    }
    let written = writer.finish(&codes)?;
    let (_, quarantined) = quarantine.finish().map_err(io(&options.quarantine))?;
    std::fs::remove_dir_all(&options.work).map_err(io(&options.work))?;
    Ok(Summary {
        reconciles: report.reconciles(),
        opted_out_patients: opted_out,
        fhir: report,
        deidentification: deid_report,
        subjects: written.subjects,
        events: written.events,
        quarantined,
        spill_shards: shards,
    })
}

/// Records of a patient that no Patient resource (or MEDS subject) defines: a reference to a
/// missing patient. They move from converted to quarantined, each with its file and position (the
/// raw line is in the input at that place; it was not kept).
fn orphan(
    g: &spill::Gathered,
    files: &[PathBuf],
    report: &mut fhir::Report,
    quarantine: &mut QuarantineWriter,
) -> std::io::Result<()> {
    for o in &g.origins {
        let counts = report.types.entry(o.resource_type.clone()).or_default();
        counts.converted -= 1;
        counts.quarantined += 1;
        counts.events -= u64::from(o.events);
        let record = fhir::Quarantined {
            file: files.get(o.file as usize).cloned().unwrap_or_default(),
            position: o.position,
            error: format!("{}: refers to a patient that no Patient resource in the input defines", o.resource_type),
            raw: None,
        };
        if report.quarantined.len() < fhir::QUARANTINE_LISTED {
            report.quarantined.push(record.clone());
        }
        quarantine.push(&record)?;
    }
    Ok(())
}

/// The split of a subject: 80% train, 10% tuning, 10% held out, by pseudonym (so a patient keeps
/// its split across extracts made with the same key).
pub fn split_of(subject_id: i64) -> &'static str {
    match subject_id % 10 {
        8 => meds::schema::TUNING_SPLIT,
        9 => meds::schema::HELD_OUT_SPLIT,
        _ => meds::schema::TRAIN_SPLIT,
    }
}

/// Streams a MEDS dataset from another ETL into the spill, shard by shard; its `subject_id` is
/// the source patient id.
fn read_meds<F: Fn(&str) -> i64>(
    root: &Path,
    spill: &mut SpillWriter<F>,
    report: &mut fhir::Report,
    work: &Path,
) -> Result<(), IngestError> {
    let dataset = meds::Dataset::open(root)?;
    let codes = Mutex::new(CodeTable::new());
    let mut counts = fhir::TypeCounts::default();
    let mut failed: Option<std::io::Error> = None;
    for shard in dataset.shards() {
        meds::reader::read_shard(&shard.path, &codes, |t| {
            let names = codes.lock().unwrap_or_else(|p| p.into_inner());
            let events: Vec<fhir::Event> = t
                .events()
                .map(|e| fhir::Event {
                    time: e.time,
                    code: names.name(e.code).to_owned(),
                    numeric_value: e.numeric_value,
                    text_value: e.text_value.map(str::to_owned),
                })
                .collect();
            drop(names);
            counts.read += 1;
            counts.converted += 1;
            counts.events += events.len() as u64;
            let source = t.subject_id.to_string();
            // A MEDS subject defines its patient (there is no Patient resource to wait for).
            let result = spill
                .identifiers(&source, &fhir::Identifiers::default())
                .and_then(|()| spill.events(&source, &events, &shard.path, counts.read, MEDS_SUBJECT));
            if failed.is_none()
                && let Err(e) = result
            {
                failed = Some(e);
            }
            Ok(())
        })?;
        if let Some(e) = failed.take() {
            return Err(IngestError::Io { path: work.to_path_buf(), source: e });
        }
    }
    let t = report.types.entry(MEDS_SUBJECT.into()).or_default();
    t.read += counts.read;
    t.converted += counts.converted;
    t.events += counts.events;
    report.files.push((root.to_path_buf(), "read as a MEDS dataset".into()));
    Ok(())
}
