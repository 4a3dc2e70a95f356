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
//! carries a warning file, is created owner-only, and is deleted on every exit path (and at the
//! start of the next run, should a killed run have left one).
//!
//! Nothing is lost in silence: a line that is not UTF-8 costs that line (quarantined byte for
//! byte); a truncated or corrupt file fails the run unless partial input is accepted; copies of
//! one resource (same type and id) are dropped when identical and quarantined when they conflict;
//! records of a patient no Patient resource defines, and records whose codes carry an
//! identifier, are quarantined with their raw text, read again from the input.
//!
//! For serving, [`read_request`] takes one request's FHIR through the same steps in memory — the
//! same conversion, screening and de-identification — and returns the timelines the batch
//! pipeline would have written for it, event for event; nothing touches the disk.

#![forbid(unsafe_code)]

pub mod leakage;
pub mod optout;
pub mod quarantine;
mod report;
pub mod request;
pub mod spill;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use deid::{DeidReport, Deidentifier};
use meds::{CodeTable, DatasetMetadata, DatasetWriter, Timeline, WriterOptions};
use rayon::prelude::*;
use serde::Serialize;

use crate::optout::Excluded;
pub use crate::optout::{OptOut, OptOutSummary};
use crate::quarantine::QuarantineWriter;
pub use crate::report::IngestReport;
pub use crate::request::{RequestPatients, SourcePatient, read_request};
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
    /// A work, quarantine or output directory cannot be used.
    #[error(transparent)]
    Output(#[from] outputs::OutputError),
    /// A work, quarantine or output file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The path concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The inputs held no FHIR resource and no MEDS dataset.
    #[error(
        "no FHIR resources or MEDS data in the inputs: {files} files looked at ({reasons}); FHIR is read from .ndjson, .jsonl, .ldjson (optionally .gz) and .json files, MEDS from a directory whose data/ holds parquet shards"
    )]
    NothingRead {
        /// Files looked at.
        files: usize,
        /// What became of them, counted by reason.
        reasons: String,
    },
    /// Files that could not be read to their end.
    #[error(
        "{count} input file(s) could not be read to the end (first: {first}, {error} after line {lines_read}): the records after the damage are lost; re-export the file, or pass --accept-partial to ingest what could be read (the report lists what was lost)"
    )]
    Damaged {
        /// Damaged files.
        count: usize,
        /// The first of them.
        first: PathBuf,
        /// Lines it gave before the damage.
        lines_read: u64,
        /// What was wrong.
        error: String,
    },
    /// The opt-out list names nobody.
    #[error("the opt-out list names nobody (no entries besides blank lines and comments); check the file")]
    OptOutEmpty,
    /// A directory that holds PHI would lie inside the de-identified output.
    #[error("the {what} holds PHI and must not be inside the output directory")]
    PhiInside {
        /// Which directory (`quarantine directory`, `work directory`).
        what: &'static str,
    },
    /// Opt-out entries that matched no patient.
    #[error(
        "{unmatched} of {entries} opt-out entries match no patient in the input: the list may use another kind of id than the extract (accepted: a patient id, Patient/<id>, an identifier as system|value or |value); nobody is ingested until every entry is accounted for — pass --allow-unmatched-opt-out if the list covers patients outside this extract"
    )]
    OptOutUnmatched {
        /// Entries that matched nobody.
        unmatched: usize,
        /// Entries in all.
        entries: usize,
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
    /// The MEDS dataset root to write (must not hold shards yet; apart from every input).
    pub out: PathBuf,
    /// The quarantine directory (PHI: never inside the output). Claimed for the run
    /// ([`outputs::OutputDir::claim_private`]): owner-only, and a directory holding files that an
    /// earlier quarantine did not write is refused (or written beside, per `existing`).
    pub quarantine: PathBuf,
    /// The work directory for the spill (PHI while the run lasts: never inside the output).
    /// Created for the run and removed on every exit path ([`outputs::WorkDir`]); an existing
    /// directory that no run made is refused.
    pub work: PathBuf,
    /// Patients whose records must not be used.
    pub opt_out: OptOut,
    /// Ingest what could be read of damaged (truncated, corrupt) files instead of failing.
    pub accept_partial: bool,
    /// What to do with a quarantine directory that holds files the last quarantine did not write.
    pub existing: outputs::Existing,
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
    /// Options for a run into the ingest output directory `out` (the dataset goes to
    /// `out/meds`), its quarantine and work directories given or, by default, beside `out` as
    /// `OUT-quarantine` and `OUT-work`. Either one holds PHI, so one inside `out` is refused.
    pub fn beside(
        inputs: Vec<PathBuf>,
        out: &Path,
        quarantine: Option<&Path>,
        work: Option<&Path>,
    ) -> Result<Self, IngestError> {
        let quarantine = phi_dir(out, quarantine, "quarantine", "quarantine directory")?;
        let work = phi_dir(out, work, "work", "work directory")?;
        Ok(Self::new(inputs, out.join("meds"), quarantine, work))
    }

    /// Options with the defaults for everything but the paths.
    pub fn new(inputs: Vec<PathBuf>, out: PathBuf, quarantine: PathBuf, work: PathBuf) -> Self {
        Self {
            inputs,
            out,
            quarantine,
            work,
            opt_out: OptOut::default(),
            accept_partial: false,
            existing: outputs::Existing::Refuse,
            metadata: DatasetMetadata::default(),
            shard_input_bytes: SHARD_INPUT_BYTES,
        }
    }
}

/// A sibling of `out` named `OUT-{suffix}`, or `given`; never inside `out` (it holds PHI).
fn phi_dir(out: &Path, given: Option<&Path>, suffix: &str, what: &'static str) -> Result<PathBuf, IngestError> {
    let dir = match given {
        Some(dir) => dir.to_path_buf(),
        None => {
            let name = out.file_name().map_or_else(|| "ingest".into(), |n| n.to_string_lossy().into_owned());
            out.with_file_name(format!("{name}-{suffix}"))
        }
    };
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    if absolute(&dir).starts_with(absolute(out)) {
        return Err(IngestError::PhiInside { what });
    }
    Ok(dir)
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
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Summary {
    /// Whether read = converted + skipped + quarantined for every resource type.
    pub reconciles: bool,
    /// Whether every input file was read to its end (false only with
    /// [`Options::accept_partial`]; `fhir.damaged` lists what was lost).
    pub complete: bool,
    /// Patients on the opt-out list that were found in the input and excluded.
    pub opted_out_patients: u64,
    /// How the opt-out list was applied (counts only).
    pub opt_out: OptOutSummary,
    /// Per resource type counts, files, quarantined records (listed up to a cap), code systems
    /// and units met.
    pub fhir: fhir::Report,
    /// What de-identification changed.
    pub deidentification: DeidReport,
    /// Records dropped as identical copies of one already read (same type and id, same events).
    pub duplicates_dropped: u64,
    /// Records quarantined as conflicting copies (same type and id, different events).
    pub conflicting_quarantined: u64,
    /// Records quarantined because a code carried an identifier.
    pub identifier_codes_quarantined: u64,
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

/// Everything the reader hands over goes to the spill or the quarantine; patients are checked
/// against the opt-out list as their identifiers arrive.
struct Sources<'a, F> {
    spill: SpillWriter<F>,
    quarantine: &'a mut QuarantineWriter,
    opt_out: &'a mut OptOut,
    excluded: &'a mut Excluded,
}

impl<F: Fn(&str) -> i64> fhir::Sink for Sources<'_, F> {
    fn events(&mut self, patient: String, events: Vec<fhir::Event>, origin: fhir::Origin<'_>) -> std::io::Result<()> {
        self.spill.events(&patient, &events, origin.file, origin.position, origin.resource_type, origin.id)
    }

    fn identifiers(&mut self, patient: String, identifiers: fhir::Identifiers) -> std::io::Result<()> {
        if self.opt_out.check(&patient, &identifiers) {
            self.excluded.insert(patient.clone());
        }
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

const WORK_WARNING: &str = "Work files of a running `longitude ingest`: source records before de-identification \
    (protected health information). Deleted when the run ends; if the run was killed, the next run \
    with the same work directory deletes them, or delete this directory.\n";

/// Runs the whole pipeline. See the crate documentation.
pub fn run(
    options: &Options,
    deidentifier: &Deidentifier,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Summary, IngestError> {
    outputs::check_apart(&[&options.out, &options.quarantine, &options.work], &options.inputs)?;
    outputs::check_apart(&[&options.quarantine, &options.work], std::slice::from_ref(&options.out))?;
    let (meds_roots, fhir_inputs): (Vec<PathBuf>, Vec<PathBuf>) =
        options.inputs.iter().cloned().partition(|p| is_meds_root(p));
    let (total, as_json) = input_size(&fhir_inputs, &meds_roots)?;
    let shards = as_json.div_ceil(options.shard_input_bytes.max(1)).clamp(1, 4096) as usize;
    let work = outputs::WorkDir::create(&options.work, "ingest", WORK_WARNING, &options.inputs)?;
    let quarantine_dir =
        outputs::OutputDir::claim_private(&options.quarantine, "ingest quarantine", &options.inputs, options.existing)?;
    let mut quarantine = QuarantineWriter::create(quarantine_dir.path()).map_err(io(&options.quarantine))?;
    let spill = SpillWriter::create(work.path(), shards, |source: &str| deidentifier.subject_id(source))
        .map_err(io(work.path()))?;
    let mut opt_out = options.opt_out.clone();
    let mut excluded = Excluded::new();
    let mut sources = Sources { spill, quarantine: &mut quarantine, opt_out: &mut opt_out, excluded: &mut excluded };
    tracing::info!(files = fhir_inputs.len(), meds_sources = meds_roots.len(), spill_shards = shards, "reading");

    let mut report = if fhir_inputs.is_empty() {
        fhir::Report::default()
    } else {
        fhir::read(&fhir_inputs, &mut sources, &|bytes| progress(Progress::Reading { bytes, total }))?
    };
    for root in &meds_roots {
        read_meds(root, &mut sources, &mut report, work.path())?;
    }
    let (shard_paths, source_files) = sources.spill.finish().map_err(io(work.path()))?;

    // Refuse before anything is written: nothing read, damaged files, an opt-out list that does
    // not fit the extract.
    let read: u64 = report.types.values().map(|c| c.read).sum();
    if read == 0 {
        let mut reasons: std::collections::BTreeMap<&str, usize> = Default::default();
        for (_, why) in &report.files {
            *reasons.entry(why.as_str()).or_default() += 1;
        }
        let reasons = reasons.iter().map(|(why, n)| format!("{n} {why}")).collect::<Vec<_>>().join("; ");
        return Err(IngestError::NothingRead {
            files: report.files.len(),
            reasons: if reasons.is_empty() { "no files".into() } else { reasons },
        });
    }
    if let Some(d) = report.damaged.first()
        && !options.accept_partial
    {
        return Err(IngestError::Damaged {
            count: report.damaged.len(),
            first: d.file.clone(),
            lines_read: d.lines_read,
            error: d.error.clone(),
        });
    }
    let opt_out_summary = opt_out.summary();
    if opt_out_summary.unmatched_entries > 0 && !opt_out.allow_unmatched {
        return Err(IngestError::OptOutUnmatched {
            unmatched: opt_out_summary.unmatched_entries,
            entries: opt_out_summary.entries,
        });
    }

    // De-identify and write, one shard at a time, in pseudonym order.
    let mut writer = DatasetWriter::create(
        &options.out,
        WriterOptions { metadata: options.metadata.clone(), ..Default::default() },
    )?;
    let screen = deid::codes::CodeScreen::new();
    let mut withdrawn = Withdrawals::default();
    let mut codes = CodeTable::new();
    let mut deid_report = DeidReport::default();
    let mut opted_out = 0;
    for (i, path) in shard_paths.iter().enumerate() {
        let gathered = spill::read_shard(path).map_err(io(path))?;
        let mut kept: Vec<(String, spill::Gathered)> = Vec::with_capacity(gathered.len());
        for (source, g) in gathered {
            if excluded.contains(&source) {
                opted_out += 1;
            } else if g.identifiers.is_none() {
                for (origin, events) in records(&g) {
                    withdrawn.quarantine(
                        origin,
                        events,
                        "refers to a patient that no Patient resource in the input defines",
                        Reason::Orphan,
                    );
                }
            } else {
                kept.push((source, g));
            }
        }
        // Gathered in hash order; the order of de-identification does not matter (sorted below,
        // and the quarantine is sorted by place when settled).
        let results: Vec<(Option<(deid::DeidPatient, DeidReport)>, Withdrawals)> = kept
            .into_par_iter()
            .map(|(source, g)| {
                let mut w = Withdrawals::default();
                let identifiers = g.identifiers.clone();
                let events = screen_records(identifiers.as_ref(), g, &screen, &mut w);
                let p = (!events.is_empty()).then(|| {
                    let mut r = DeidReport::default();
                    (deidentifier.patient(&source, events, identifiers.as_ref(), &mut r), r)
                });
                (p, w)
            })
            .collect();
        let mut patients = Vec::with_capacity(results.len());
        for (p, w) in results {
            withdrawn.absorb(w);
            patients.extend(p);
        }
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
    withdrawn.settle(&source_files, &mut report, &mut quarantine)?;
    let (_, quarantined) = quarantine.finish().map_err(io(&options.quarantine))?;
    quarantine_dir.finish()?;
    work.remove()?;
    Ok(Summary {
        reconciles: report.reconciles(),
        complete: report.damaged.is_empty(),
        opted_out_patients: opted_out,
        opt_out: opt_out_summary,
        duplicates_dropped: withdrawn.duplicates,
        conflicting_quarantined: withdrawn.conflicting,
        identifier_codes_quarantined: withdrawn.identifier_codes,
        fhir: report,
        deidentification: deid_report,
        subjects: written.subjects,
        events: written.events,
        quarantined,
        spill_shards: shards,
    })
}

/// Each record of a gathered patient with its events.
fn records(g: &spill::Gathered) -> impl Iterator<Item = (&spill::RecordOrigin, &[fhir::Event])> {
    let mut start = 0;
    g.origins.iter().map(move |o| {
        let end = (start + o.events as usize).min(g.events.len());
        let slice = &g.events[start.min(end)..end];
        start = end;
        (o, slice)
    })
}

/// A hash of a record's events: two copies of a resource that give the same events are the same
/// record, whatever their JSON spelling.
fn content_hash(events: &[fhir::Event]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for e in events {
        e.time.hash(&mut h);
        e.code.hash(&mut h);
        e.numeric_value.map(f32::to_bits).hash(&mut h);
        e.text_value.hash(&mut h);
    }
    h.finish()
}

/// A patient's records after the checks that need all of them together: identical copies of a
/// resource dropped, conflicting copies and records whose codes carry an identifier quarantined.
/// Returns the events kept, in input order.
fn screen_records(
    identifiers: Option<&fhir::Identifiers>,
    g: spill::Gathered,
    screen: &deid::codes::CodeScreen,
    withdrawn: &mut Withdrawals,
) -> Vec<fhir::Event> {
    let screen = screen.for_patient(identifiers);
    let mut first: HashMap<(&str, u64), u64> = HashMap::new();
    let mut conflicting: HashSet<(&str, u64)> = HashSet::new();
    let mut duplicate = vec![false; g.origins.len()];
    for (i, (o, events)) in records(&g).enumerate() {
        let Some(id) = o.id else { continue };
        let key = (o.resource_type.as_str(), id);
        let hash = content_hash(events);
        match first.get(&key) {
            None => {
                first.insert(key, hash);
            }
            Some(&h) if h == hash => duplicate[i] = true,
            Some(_) => {
                conflicting.insert(key);
            }
        }
    }
    // Which records stay; their events are then moved out, not copied.
    let mut keep = vec![false; g.origins.len()];
    for (i, (o, events)) in records(&g).enumerate() {
        let key = o.id.map(|id| (o.resource_type.as_str(), id));
        if key.is_some_and(|k| conflicting.contains(&k)) {
            withdrawn.quarantine(
                o,
                events,
                "conflicting copies of one resource (same type and id, different content): every copy quarantined",
                Reason::Conflict,
            );
        } else if duplicate[i] {
            withdrawn.skip(o, events, "an identical copy of a resource already read (same type and id)");
        } else if let Some(what) = events.iter().find_map(|e| screen.screen(&e.code)) {
            withdrawn.quarantine(o, events, &format!("a code carries {what}"), Reason::IdentifierInCode);
        } else {
            keep[i] = true;
        }
    }
    let counts: Vec<usize> = g.origins.iter().map(|o| o.events as usize).collect();
    let mut events = g.events.into_iter();
    let mut kept = Vec::new();
    for (n, keep) in counts.into_iter().zip(keep) {
        if keep {
            kept.extend(events.by_ref().take(n));
        } else {
            events.by_ref().take(n).for_each(drop);
        }
    }
    kept
}

/// Why a converted record was withdrawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reason {
    Orphan,
    Conflict,
    IdentifierInCode,
}

/// A converted record withdrawn after reading.
#[derive(Debug)]
struct Withdrawn {
    file: u32,
    position: u64,
    resource_type: String,
    events: u64,
    error: String,
    /// The record itself when it cannot be read again from a FHIR file (a MEDS subject).
    raw: Option<Vec<u8>>,
}

/// Converted records taken back by the checks across records: counted out of `converted` and
/// into `skipped` or `quarantined` when settled, so that the counts keep reconciling.
#[derive(Debug, Default)]
struct Withdrawals {
    quarantined: Vec<Withdrawn>,
    skipped: Vec<(String, u64, String)>,
    duplicates: u64,
    conflicting: u64,
    identifier_codes: u64,
}

impl Withdrawals {
    fn quarantine(&mut self, o: &spill::RecordOrigin, events: &[fhir::Event], error: &str, reason: Reason) {
        match reason {
            Reason::Conflict => self.conflicting += 1,
            Reason::IdentifierInCode => self.identifier_codes += 1,
            Reason::Orphan => {}
        }
        // A MEDS subject has no file to be read again from: its events are the record.
        let raw = (o.resource_type == MEDS_SUBJECT).then(|| meds_record(events));
        self.quarantined.push(Withdrawn {
            file: o.file,
            position: o.position,
            resource_type: o.resource_type.clone(),
            events: events.len() as u64,
            error: format!("{}: {error}", o.resource_type),
            raw,
        });
    }

    /// Adds another patient's withdrawals.
    fn absorb(&mut self, other: Withdrawals) {
        self.quarantined.extend(other.quarantined);
        self.skipped.extend(other.skipped);
        self.duplicates += other.duplicates;
        self.conflicting += other.conflicting;
        self.identifier_codes += other.identifier_codes;
    }

    fn skip(&mut self, o: &spill::RecordOrigin, events: &[fhir::Event], reason: &str) {
        self.duplicates += 1;
        self.skipped.push((o.resource_type.clone(), events.len() as u64, reason.to_owned()));
    }

    /// Moves the counts, and writes every quarantined record with its raw text, read again from
    /// its file.
    fn settle(
        &mut self,
        files: &[PathBuf],
        report: &mut fhir::Report,
        quarantine: &mut QuarantineWriter,
    ) -> Result<(), IngestError> {
        for (kind, events, reason) in self.skipped.drain(..) {
            let counts = report.types.entry(kind).or_default();
            counts.converted -= 1;
            counts.events -= events;
            *counts.skipped.entry(reason).or_default() += 1;
        }
        let mut by_file: BTreeMap<u32, BTreeSet<u64>> = BTreeMap::new();
        for w in self.quarantined.iter().filter(|w| w.raw.is_none()) {
            by_file.entry(w.file).or_default().insert(w.position);
        }
        let mut raws: HashMap<(u32, u64), Vec<u8>> = HashMap::new();
        for (file, positions) in by_file {
            if let Some(path) = files.get(file as usize) {
                for (position, raw) in fhir::raw_records(path, &positions)? {
                    raws.insert((file, position), raw);
                }
            }
        }
        // In input order, whatever order the patients were gathered in.
        self.quarantined.sort_by_key(|w| (w.file, w.position));
        for w in self.quarantined.drain(..) {
            let counts = report.types.entry(w.resource_type.clone()).or_default();
            counts.converted -= 1;
            counts.quarantined += 1;
            counts.events -= w.events;
            let raw = w.raw.or_else(|| raws.remove(&(w.file, w.position)));
            let record = fhir::Quarantined {
                file: files.get(w.file as usize).cloned().unwrap_or_default(),
                position: w.position,
                error: w.error,
                raw,
            };
            if report.quarantined.len() < fhir::QUARANTINE_LISTED {
                report.quarantined.push(fhir::Quarantined { raw: None, ..record.clone() });
            }
            quarantine.push(&record).map_err(io(quarantine.dir()))?;
        }
        Ok(())
    }
}

/// A MEDS subject's events as one JSON line, for the quarantine.
fn meds_record(events: &[fhir::Event]) -> Vec<u8> {
    let rows: Vec<serde_json::Value> = events
        .iter()
        .map(|e| {
            serde_json::json!({"time": e.time, "code": e.code, "numeric_value": e.numeric_value, "text_value": e.text_value})
        })
        .collect();
    serde_json::to_vec(&rows).unwrap_or_default()
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
    sources: &mut Sources<'_, F>,
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
            let source = t.subject_id.to_string();
            // A MEDS subject defines its patient (there is no Patient resource to wait for).
            let none = fhir::Identifiers::default();
            if sources.opt_out.check(&source, &none) {
                sources.excluded.insert(source.clone());
            }
            // A placeholder time (year 0, 9999) would move the patient's birth or history: the
            // subject is the record here, and is quarantined whole, its rows kept as they were.
            let result = if events.iter().any(|e| e.time.is_some_and(|t| !fhir::time::is_plausible(t))) {
                counts.quarantined += 1;
                let q = fhir::Quarantined {
                    file: shard.path.clone(),
                    position: counts.read,
                    error: format!("{MEDS_SUBJECT}: {}", fhir::time::DateError::Implausible.describe("time")),
                    raw: Some(meds_record(&events)),
                };
                if report.quarantined.len() < fhir::QUARANTINE_LISTED {
                    report.quarantined.push(fhir::Quarantined { raw: None, ..q.clone() });
                }
                sources.quarantine.push(&q)
            } else {
                counts.converted += 1;
                counts.events += events.len() as u64;
                sources
                    .spill
                    .identifiers(&source, &none)
                    .and_then(|()| sources.spill.events(&source, &events, &shard.path, counts.read, MEDS_SUBJECT, None))
            };
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
    t.quarantined += counts.quarantined;
    t.events += counts.events;
    report.files.push((root.to_path_buf(), "read as a MEDS dataset".into()));
    Ok(())
}
