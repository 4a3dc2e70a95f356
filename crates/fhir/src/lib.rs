//! # fhir — reading FHIR R4 into clinical events
//!
//! Reads what a health system exports — Bulk Data NDJSON (`.ndjson`, `.ndjson.gz`, one resource
//! type per file, in any order), Bundles (`collection`, `transaction`, `searchset`, `batch`,
//! with `urn:uuid:` references) and single resources — and turns each resource into timeline
//! events with vocabulary-prefixed codes, values in one canonical unit per code, or a named reason
//! to skip it, or an error to quarantine it. Every resource read is accounted for in the
//! [`Report`]: read = converted + skipped + quarantined, per type.
//!
//! De-identification is not done here: this crate only reads. Nothing it returns is written
//! anywhere until the `deid` step has run (see the ingest pipeline).
//!
//! [`read`] streams into a [`Sink`] in bounded memory, parsing on every core; [`ingest`] collects
//! into memory for small inputs and tests; [`read_text`] (and [`ingest_text`]) reads one document
//! already in memory — a request body, a CDS Hooks prefetch — with the same conversion and report.

#![forbid(unsafe_code)]

pub mod convert;
pub mod resource;
pub mod time;
pub mod units;
pub mod vocabulary;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use rayon::prelude::*;

pub use convert::{Converted, Event};
use resource::Resource;
use serde::Serialize;

/// What can stop ingestion as a whole (per-resource problems are quarantined instead).
#[derive(Debug, thiserror::Error)]
pub enum FhirError {
    /// A file or directory could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The path concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The sink could not take what was read (for example, a spill file could not be written).
    #[error("cannot store what was read: {0}")]
    Sink(#[source] std::io::Error),
}

/// Counts for one resource type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct TypeCounts {
    /// Resources read.
    pub read: u64,
    /// Converted to events.
    pub converted: u64,
    /// Skipped, by reason.
    pub skipped: BTreeMap<String, u64>,
    /// Quarantined.
    pub quarantined: u64,
    /// Events produced.
    pub events: u64,
}

/// One quarantined resource: where it was and what was wrong. The raw text is kept for the
/// quarantine directory only (it may hold PHI): it is never serialised into reports or logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Quarantined {
    /// The file.
    pub file: PathBuf,
    /// The line (NDJSON) or entry index (Bundle), 1-based.
    pub position: u64,
    /// What was wrong.
    pub error: String,
    /// The raw line or entry, byte for byte, if it could be read (a line that is not UTF-8 is
    /// kept as it came).
    #[serde(skip)]
    pub raw: Option<Vec<u8>>,
}

/// A file that could not be read to its end (truncated or corrupt compressed data). What was
/// read before the damage is kept and counted; what follows is lost, and the run must say so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Damaged {
    /// The file.
    pub file: PathBuf,
    /// Lines read before the damage.
    pub lines_read: u64,
    /// What was wrong (never content).
    pub error: String,
}

/// Everything read, accounted for.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct Report {
    /// Files read, and files skipped with the reason.
    pub files: Vec<(PathBuf, String)>,
    /// Per resource type.
    pub types: BTreeMap<String, TypeCounts>,
    /// Quarantined resources (the first [`QUARANTINE_LISTED`]; the counts per type are complete).
    pub quarantined: Vec<Quarantined>,
    /// Bytes read from the input files (compressed bytes for .gz).
    pub bytes: u64,
    /// Code systems with no prefix in the table (their URL became the prefix).
    pub unknown_systems: BTreeSet<String>,
    /// `(code, unit)` pairs kept as recorded because the unit could not be converted, with counts.
    pub unconverted_units: BTreeMap<String, u64>,
    /// Files that could not be read to the end: the records after the damage are lost.
    pub damaged: Vec<Damaged>,
}

impl Report {
    /// Whether read = converted + skipped + quarantined for every type.
    pub fn reconciles(&self) -> bool {
        self.types.values().all(|c| c.read == c.converted + c.skipped.values().sum::<u64>() + c.quarantined)
    }
}

/// What kind of identifier a value is (it decides the placeholder that replaces it in text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize)]
pub enum IdentifierKind {
    /// A name part.
    Name,
    /// A phone or fax number.
    Phone,
    /// An email address.
    Email,
    /// A record number, SSN or other business identifier.
    Id,
    /// A street address line.
    Address,
    /// A city.
    City,
    /// A ZIP or postal code.
    Zip,
}

/// A patient's direct identifiers as the source recorded them. They exist only so that free text
/// can be scrubbed of them; they are never written anywhere.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identifiers {
    /// Every identifying value with its kind.
    pub values: Vec<(IdentifierKind, String)>,
    /// The ZIP or postal code, if any.
    pub zip: Option<String>,
    /// Business identifiers with their system (`Patient.identifier`): what an opt-out list may
    /// name a patient by.
    pub systems: Vec<(String, String)>,
}

/// Where the reader puts what it reads, in input order (files sorted, lines in order), whatever
/// the number of threads that parsed it.
pub trait Sink {
    /// Events of one resource, for the patient with this source id; `origin` says where the
    /// resource was read.
    fn events(&mut self, patient: String, events: Vec<Event>, origin: Origin<'_>) -> std::io::Result<()>;
    /// The direct identifiers of a patient, from its Patient resource (a patient may have several).
    fn identifiers(&mut self, patient: String, identifiers: Identifiers) -> std::io::Result<()>;
    /// A quarantined record with its raw text (which may hold PHI).
    fn quarantined(&mut self, record: Quarantined) -> std::io::Result<()>;
}

/// Where a converted resource came from: enough to find it again (and to quarantine it later if
/// a check across files fails, such as a reference to a patient the input never defines).
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// The file.
    pub file: &'a Path,
    /// The line (NDJSON) or entry index (Bundle), 1-based.
    pub position: u64,
    /// The resource type.
    pub resource_type: &'a str,
    /// The resource's id, if it has one: with the type, what duplicates are detected by.
    pub id: Option<&'a str>,
}

/// The result of reading into memory: events per source patient id, and the report. For inputs
/// that fit in memory (tests, small extracts); `longitude ingest` streams through [`read`].
#[derive(Debug, Default)]
pub struct Ingested {
    /// Events by the source's patient id (`Patient.id`), in reading order.
    pub patients: BTreeMap<String, Vec<Event>>,
    /// Direct identifiers by the source's patient id, for scrubbing free text.
    pub identifiers: BTreeMap<String, Identifiers>,
    /// The accounting.
    pub report: Report,
}

impl Sink for Ingested {
    fn events(&mut self, patient: String, events: Vec<Event>, _origin: Origin<'_>) -> std::io::Result<()> {
        self.patients.entry(patient).or_default().extend(events);
        Ok(())
    }

    fn identifiers(&mut self, patient: String, identifiers: Identifiers) -> std::io::Result<()> {
        self.identifiers.entry(patient).or_default().merge(identifiers);
        Ok(())
    }

    fn quarantined(&mut self, _record: Quarantined) -> std::io::Result<()> {
        Ok(())
    }
}

impl Identifiers {
    /// Adds another record's identifiers (a patient may have several Patient resources).
    pub fn merge(&mut self, other: Identifiers) {
        for v in other.values {
            if !self.values.contains(&v) {
                self.values.push(v);
            }
        }
        if self.zip.is_none() {
            self.zip = other.zip;
        }
        for v in other.systems {
            if !self.systems.contains(&v) {
                self.systems.push(v);
            }
        }
    }
}

/// At most this many quarantined records are listed in the [`Report`] (all of them go to the
/// sink, and every one is counted per type).
pub const QUARANTINE_LISTED: usize = 10_000;

/// One converted resource: patient, events, position, resource type, resource id.
type ConvertedResource = (String, Vec<Event>, u64, String, Option<String>);

/// What one unit of work (a group of lines, a file) produced, before it is merged in order.
#[derive(Debug, Default)]
struct Batch {
    /// The file everything in this batch comes from.
    file: PathBuf,
    types: BTreeMap<String, TypeCounts>,
    patients: Vec<ConvertedResource>,
    identifiers: Vec<(String, Identifiers)>,
    quarantined: Vec<Quarantined>,
    unknown_systems: BTreeSet<String>,
    unconverted_units: BTreeMap<String, u64>,
    files: Vec<(PathBuf, String)>,
    /// Positions whose raw text to keep ([`raw_records`]), and what was kept.
    capture: Option<std::sync::Arc<BTreeSet<u64>>>,
    captured: BTreeMap<u64, Vec<u8>>,
}

impl Batch {
    fn new(file: &Path) -> Self {
        Self { file: file.to_path_buf(), ..Default::default() }
    }

    /// Merges into the report and hands the content to the sink, in order.
    fn flush(self, report: &mut Report, sink: &mut dyn Sink) -> Result<(), FhirError> {
        for (kind, c) in self.types {
            let t = report.types.entry(kind).or_default();
            t.read += c.read;
            t.converted += c.converted;
            t.quarantined += c.quarantined;
            t.events += c.events;
            for (reason, n) in c.skipped {
                *t.skipped.entry(reason).or_default() += n;
            }
        }
        report.unknown_systems.extend(self.unknown_systems);
        for (k, n) in self.unconverted_units {
            *report.unconverted_units.entry(k).or_default() += n;
        }
        report.files.extend(self.files);
        for (patient, ids) in self.identifiers {
            sink.identifiers(patient, ids).map_err(FhirError::Sink)?;
        }
        for (patient, events, position, kind, id) in self.patients {
            let origin = Origin { file: &self.file, position, resource_type: &kind, id: id.as_deref() };
            sink.events(patient, events, origin).map_err(FhirError::Sink)?;
        }
        for q in self.quarantined {
            if report.quarantined.len() < QUARANTINE_LISTED {
                report.quarantined.push(Quarantined { raw: None, ..q.clone() });
            }
            sink.quarantined(q).map_err(FhirError::Sink)?;
        }
        Ok(())
    }

    fn take(
        &mut self,
        file: &Path,
        position: u64,
        r: &Resource,
        raw: &dyn Fn() -> String,
        resolve: &dyn Fn(&str) -> Option<String>,
    ) {
        if self.capture.as_ref().is_some_and(|c| c.contains(&position)) {
            self.captured.insert(position, raw().into_bytes());
        }
        let kind = r.resource_type.as_deref().map_or("(no resourceType)", resource::type_label).to_owned();
        let mut notes = convert::Notes::default();
        let converted = convert::convert(r, resolve, &mut notes);
        let counts = self.types.entry(kind).or_default();
        counts.read += 1;
        match converted {
            Converted::Events { patient, events } => {
                counts.converted += 1;
                counts.events += events.len() as u64;
                if r.resource_type.as_deref() == Some("Patient") {
                    self.identifiers.push((patient.clone(), identifiers_of(r)));
                }
                self.patients.push((patient, events, position, kind_of(r), r.id.clone()));
            }
            Converted::Skipped(reason) => *counts.skipped.entry(reason.to_owned()).or_default() += 1,
            Converted::Quarantined(error) => {
                counts.quarantined += 1;
                let raw = Some(raw().into_bytes());
                self.quarantined.push(Quarantined { file: file.to_path_buf(), position, error, raw });
            }
        }
        self.unknown_systems.extend(notes.unknown_systems);
        for (code, unit) in notes.unconverted_units {
            *self.unconverted_units.entry(format!("{code} [{unit}]")).or_default() += 1;
        }
    }

    /// A line or file that did not parse as a resource: skipped if its type is one the timeline
    /// does not use (its shape does not matter then), quarantined otherwise.
    fn unparsed(&mut self, file: &Path, position: u64, text: &str, error: &serde_json::Error) {
        #[derive(serde::Deserialize)]
        struct Head {
            #[serde(rename = "resourceType")]
            resource_type: String,
        }
        match serde_json::from_str::<Head>(text) {
            Ok(head) => {
                let label = resource::type_label(&head.resource_type);
                let counts = self.types.entry(label.to_owned()).or_default();
                counts.read += 1;
                if let Some(reason) = convert::skip_reason(&head.resource_type) {
                    *counts.skipped.entry(reason.to_owned()).or_default() += 1;
                } else {
                    counts.quarantined += 1;
                    let error = format!("{label}: {} for this resource type", error.classify_name());
                    let raw = Some(text.as_bytes().to_vec());
                    self.quarantined.push(Quarantined { file: file.to_path_buf(), position, error, raw });
                }
            }
            Err(_) => {
                let error = format!("not a FHIR resource: {}", error.classify_name());
                self.quarantine(file, position, error, Some(text.as_bytes().to_vec()));
            }
        }
    }

    fn quarantine(&mut self, file: &Path, position: u64, error: String, raw: Option<Vec<u8>>) {
        let counts = self.types.entry("(unparsable)".into()).or_default();
        counts.read += 1;
        counts.quarantined += 1;
        self.quarantined.push(Quarantined { file: file.to_path_buf(), position, error, raw });
    }

    /// One NDJSON line.
    fn text(&mut self, file: &Path, position: u64, text: &str) {
        match serde_json::from_str::<Resource>(text) {
            Ok(r) => {
                self.bundle_or_resource(file, position - 1, r, text);
            }
            Err(e) => self.unparsed(file, position, text, &e),
        }
    }

    /// One whole JSON document: a resource, a Bundle, or a JSON array of them. Positions count
    /// resources and entries through the document from 1.
    fn document(&mut self, file: &Path, text: &str) {
        if !text.trim_start().starts_with('[') {
            self.text(file, 1, text);
            return;
        }
        let items = match serde_json::from_str::<Vec<serde_json::Value>>(text) {
            Ok(items) => items,
            Err(e) => return self.unparsed(file, 1, text, &e),
        };
        let mut used = 0;
        for item in items {
            let raw = item.to_string();
            match serde_json::from_value::<Resource>(item) {
                Ok(r) => used += self.bundle_or_resource(file, used, r, &raw),
                Err(e) => {
                    used += 1;
                    self.unparsed(file, used, &raw, &e);
                }
            }
        }
    }

    /// A resource at position `before + 1`, or a Bundle whose entries take the positions after
    /// `before`; returns how many positions it used.
    fn bundle_or_resource(&mut self, file: &Path, before: u64, r: Resource, text: &str) -> u64 {
        if r.resource_type.as_deref() != Some("Bundle") {
            self.take(file, before + 1, &r, &|| text.to_owned(), &|_| None);
            return 1;
        }
        // Bundle-local references (`urn:uuid:…`, or the fullUrl of a Patient entry) resolve to
        // the Patient's id; other entries may come before the Patient.
        let mut patients: HashMap<String, String> = HashMap::new();
        for e in &r.entry {
            if let (Some(url), Some(res)) = (&e.full_url, &e.resource)
                && res.get("resourceType").and_then(|t| t.as_str()) == Some("Patient")
            {
                let id = res.get("id").and_then(|i| i.as_str()).map_or_else(|| url.clone(), str::to_owned);
                patients.insert(url.clone(), id);
            }
        }
        let resolve = |reference: &str| patients.get(reference).cloned();
        for (i, e) in r.entry.iter().enumerate() {
            let position = before + i as u64 + 1;
            let parsed = e.resource.as_ref().map(|v| serde_json::from_value::<Resource>(v.clone()));
            match parsed {
                Some(Err(error)) => {
                    let text = e.resource.as_ref().map(|v| v.to_string()).unwrap_or_default();
                    self.unparsed(file, position, &text, &error);
                }
                Some(Ok(res)) => {
                    let mut res = res;
                    // A Patient without an id in a bundle is identified by its fullUrl.
                    if res.resource_type.as_deref() == Some("Patient") && res.id.is_none() {
                        res.id = e.full_url.clone();
                    }
                    let raw = || e.resource.as_ref().map(|v| v.to_string()).unwrap_or_default();
                    self.take(file, position, &res, &raw, &resolve);
                }
                None => {
                    // A transaction's DELETE or GET carries a request, not a resource.
                    let counts = self.types.entry("(bundle request without resource)".into()).or_default();
                    counts.read += 1;
                    *counts.skipped.entry("a request (e.g. DELETE) carries no clinical content".into()).or_default() +=
                        1;
                }
            }
        }
        (r.entry.len() as u64).max(1)
    }
}

/// The reported type of a parsed resource.
fn kind_of(r: &Resource) -> String {
    r.resource_type.as_deref().map_or("", resource::type_label).to_owned()
}

fn list<T: serde::de::DeserializeOwned>(v: &Option<serde_json::Value>) -> Vec<T> {
    v.as_ref().and_then(|v| serde_json::from_value(v.clone()).ok()).unwrap_or_default()
}

fn identifiers_of(r: &Resource) -> Identifiers {
    let names: Vec<resource::HumanName> = list(&r.name);
    let telecom: Vec<resource::Valued> = list(&r.telecom);
    let identifier: Vec<resource::Valued> = list(&r.identifier);
    let address: Vec<resource::Address> = list(&r.address);
    use IdentifierKind as K;
    let mut ids = Identifiers::default();
    let mut systems = Vec::new();
    let mut push = |kind: IdentifierKind, v: &str| {
        if !v.trim().is_empty() {
            ids.values.push((kind, v.to_owned()));
        }
    };
    for n in &names {
        for part in n.family.iter().chain(&n.given).chain(&n.text) {
            push(K::Name, part);
        }
    }
    for t in &telecom {
        if let Some(v) = &t.value {
            push(if v.contains('@') { K::Email } else { K::Phone }, v);
        }
    }
    for i in &identifier {
        if let Some(v) = i.value.as_deref() {
            push(K::Id, v);
            if let Some(system) = i.system.as_deref() {
                systems.push((system.to_owned(), v.to_owned()));
            }
        }
    }
    for a in &address {
        for line in &a.line {
            push(K::Address, line);
        }
        if let Some(city) = &a.city {
            push(K::City, city);
        }
        if let Some(zip) = &a.postal_code {
            push(K::Zip, zip);
        }
    }
    ids.zip = address.iter().find_map(|a| a.postal_code.clone());
    ids.systems = systems;
    ids
}

fn io(path: &Path, source: std::io::Error) -> FhirError {
    FhirError::Io { path: path.to_path_buf(), source }
}

/// The spellings of newline-delimited JSON read as FHIR (Bulk Data's `.ndjson`, and the `.jsonl`
/// and `.ldjson` that other exporters write), plain or gzipped.
pub const NDJSON_SUFFIXES: &[&str] = &[".ndjson", ".ndjson.gz", ".jsonl", ".jsonl.gz", ".ldjson", ".ldjson.gz"];

/// Lists the FHIR files under `paths` (directories recursively), sorted; other files are reported
/// as skipped with the reason.
pub fn discover(paths: &[PathBuf], report: &mut Report) -> Result<Vec<PathBuf>, FhirError> {
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = paths.to_vec();
    while let Some(p) = stack.pop() {
        let meta = std::fs::metadata(&p).map_err(|e| io(&p, e))?;
        if meta.is_dir() {
            for entry in std::fs::read_dir(&p).map_err(|e| io(&p, e))? {
                stack.push(entry.map_err(|e| io(&p, e))?.path());
            }
            continue;
        }
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if name == "log.ndjson" {
            report.files.push((p, "skipped: Bulk Data export log, not resources".into()));
        } else if NDJSON_SUFFIXES.iter().any(|s| name.ends_with(s)) || name.ends_with(".json") {
            if name == "package.json" {
                report.files.push((p, "skipped: package manifest, not a resource".into()));
            } else {
                out.push(p);
            }
        } else {
            report.files.push((p, "skipped: not .ndjson, .jsonl, .ldjson (optionally .gz) or .json".into()));
        }
    }
    out.sort();
    // The same file named twice (or through two paths) is read once.
    let mut seen = std::collections::HashSet::new();
    let mut unique = Vec::with_capacity(out.len());
    for p in out {
        if seen.insert(p.canonicalize().unwrap_or_else(|_| p.clone())) {
            unique.push(p);
        } else {
            report.files.push((p, "skipped: the same file was given more than once".into()));
        }
    }
    Ok(unique)
}

/// Reads every FHIR file under `paths` into memory, accounting for every resource.
pub fn ingest(paths: &[PathBuf]) -> Result<Ingested, FhirError> {
    let mut ingested = Ingested::default();
    let report = read(paths, &mut ingested, &|_| {})?;
    ingested.report = report;
    Ok(ingested)
}

/// Reads one FHIR JSON document held in memory — a resource, a Bundle (as a CDS Hooks prefetch
/// or a request body carries one) or a JSON array of them — into `sink`, accounting for every
/// resource exactly as [`read`] does for a file: the same conversion, the same reasons, the same
/// report. `name` labels the document in the report and in quarantine records (e.g. `request`);
/// nothing is read from or written to disk.
pub fn read_text(name: &str, text: &str, sink: &mut dyn Sink) -> Result<Report, FhirError> {
    let mut report = Report::default();
    let label = Path::new(name);
    let mut batch = Batch::new(label);
    batch.document(label, text);
    batch.files.push((label.to_path_buf(), "read".into()));
    batch.flush(&mut report, sink)?;
    report.bytes = text.len() as u64;
    Ok(report)
}

/// [`read_text`] into memory.
pub fn ingest_text(name: &str, text: &str) -> Result<Ingested, FhirError> {
    let mut ingested = Ingested::default();
    ingested.report = read_text(name, text, &mut ingested)?;
    Ok(ingested)
}

/// NDJSON is parsed in chunks of about this many bytes: big enough to keep every core busy, small
/// enough that memory does not grow with the input.
const CHUNK_BYTES: usize = 8 << 20;
/// Lines per unit of parallel work within a chunk.
const LINES_PER_TASK: usize = 512;

/// Reads every FHIR file under `paths` into `sink`, accounting for every resource, and returns
/// the report. Streaming: memory is bounded by a chunk of lines per NDJSON file and a few .json
/// files at a time, whatever the input size. Parsing and conversion run in parallel on the
/// current rayon pool; the sink sees everything in input order, so the result does not depend on
/// the number of threads. `progress` is called with the bytes read so far (compressed bytes for
/// .gz files).
pub fn read(paths: &[PathBuf], sink: &mut dyn Sink, progress: &(dyn Fn(u64) + Sync)) -> Result<Report, FhirError> {
    let mut report = Report::default();
    let files = discover(paths, &mut report)?;
    let bytes_read = std::sync::atomic::AtomicU64::new(0);
    let group = 2 * rayon::current_num_threads().max(1);
    let mut i = 0;
    while i < files.len() {
        if is_json(&files[i]) {
            // A group of whole .json files (bundles, single resources), parsed in parallel.
            let end = (i..files.len()).take(group).take_while(|&j| is_json(&files[j])).last().map_or(i, |j| j + 1);
            let batches: Vec<Result<Batch, FhirError>> = files[i..end]
                .par_iter()
                .map(|file| {
                    let text = std::fs::read(file).map_err(|e| io(file, e))?;
                    bytes_read.fetch_add(text.len() as u64, Ordering::Relaxed);
                    let mut batch = Batch::new(file);
                    match String::from_utf8(text) {
                        Ok(text) => batch.document(file, &text),
                        Err(e) => batch.quarantine(file, 1, "not UTF-8 text".into(), Some(e.into_bytes())),
                    }
                    batch.files.push((file.clone(), "read".into()));
                    Ok(batch)
                })
                .collect();
            for batch in batches {
                batch?.flush(&mut report, sink)?;
            }
            progress(bytes_read.load(Ordering::Relaxed));
            i = end;
        } else {
            read_ndjson(&files[i], &mut report, sink, &bytes_read, progress)?;
            i += 1;
        }
    }
    report.bytes = bytes_read.into_inner();
    Ok(report)
}

fn is_json(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "json")
}

/// A reader that counts the bytes it passes on.
struct Counting<'a, R> {
    inner: R,
    count: &'a std::sync::atomic::AtomicU64,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Lines read from an NDJSON file, with where reading stopped if it could not go on.
#[derive(Default)]
struct Chunk {
    /// Line number and text of each non-empty line that is UTF-8.
    lines: Vec<(u64, String)>,
    /// Line number and bytes of each line that is not UTF-8 (it costs that line only).
    not_utf8: Vec<(u64, Vec<u8>)>,
    /// The line where the rest of the file became unreadable, and why.
    broken: Option<(u64, &'static str)>,
    end: bool,
}

fn next_chunk(reader: &mut dyn BufRead, next_line: &mut u64) -> Chunk {
    let mut chunk = Chunk::default();
    let mut bytes = 0;
    while bytes < CHUNK_BYTES {
        let mut line = Vec::new();
        *next_line += 1;
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => {
                chunk.end = true;
                break;
            }
            Ok(n) => {
                bytes += n;
                match String::from_utf8(line) {
                    Ok(text) if text.trim().is_empty() => {}
                    Ok(text) => chunk.lines.push((*next_line, text)),
                    Err(e) => chunk.not_utf8.push((*next_line, e.into_bytes())),
                }
            }
            Err(_) => {
                // Truncated or corrupt compressed data: the rest of this file cannot be read.
                chunk.broken = Some((*next_line, "truncated or corrupt data"));
                chunk.end = true;
                break;
            }
        }
    }
    chunk
}

/// Whether an NDJSON file's first line shows a pretty-printed JSON document rather than one
/// resource per line (a line that opens an object or array that it does not close).
fn is_document(first_line: &str) -> bool {
    let t = first_line.trim();
    (t.starts_with('{') || t.starts_with('['))
        && serde_json::from_str::<serde::de::IgnoredAny>(t)
            .is_err_and(|e| e.classify() == serde_json::error::Category::Eof)
}

fn open_ndjson<'a>(
    file: &Path,
    count: &'a std::sync::atomic::AtomicU64,
) -> Result<Box<dyn BufRead + Send + 'a>, FhirError> {
    let handle = std::fs::File::open(file).map_err(|e| io(file, e))?;
    let counted = Counting { inner: handle, count };
    Ok(if file.to_string_lossy().ends_with(".gz") {
        Box::new(BufReader::with_capacity(1 << 20, flate2::read::MultiGzDecoder::new(counted)))
    } else {
        Box::new(BufReader::with_capacity(1 << 20, counted))
    })
}

/// The whole text of an NDJSON file that is in fact one pretty-printed JSON document: its first
/// line opens a value it does not close, and the whole file parses as JSON. Anything else is read
/// line by line (a truncated first line costs that line only).
fn as_document(file: &Path, first: &Chunk) -> Option<String> {
    if !first.lines.first().is_some_and(|(n, l)| *n == 1 && is_document(l)) {
        return None;
    }
    let text = read_document(file)?;
    serde_json::from_str::<serde::de::IgnoredAny>(&text).is_ok().then_some(text)
}

/// Reads a whole (decompressed) file as text; `None` if it cannot be read to its end or is not
/// UTF-8 (it is then read line by line, where each problem costs its line).
fn read_document(file: &Path) -> Option<String> {
    let mut bytes = Vec::new();
    let count = std::sync::atomic::AtomicU64::new(0);
    open_ndjson(file, &count).ok()?.read_to_end(&mut bytes).ok()?;
    String::from_utf8(bytes).ok()
}

fn read_ndjson(
    file: &Path,
    report: &mut Report,
    sink: &mut dyn Sink,
    bytes_read: &std::sync::atomic::AtomicU64,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(), FhirError> {
    let mut reader = open_ndjson(file, bytes_read)?;
    let mut next_line = 0;
    let mut chunk = next_chunk(reader.as_mut(), &mut next_line);
    if let Some(text) = as_document(file, &chunk) {
        let mut batch = Batch::new(file);
        batch.document(file, &text);
        batch.files.push((file.to_path_buf(), "read as one JSON document (not one resource per line)".into()));
        batch.flush(report, sink)?;
        progress(bytes_read.load(Ordering::Relaxed));
        return Ok(());
    }
    loop {
        let Chunk { lines, not_utf8, broken, end } = std::mem::take(&mut chunk);
        // Parse this chunk on every core while the next one is read.
        let (batches, following) = rayon::join(
            || {
                lines
                    .par_chunks(LINES_PER_TASK)
                    .map(|task| {
                        let mut batch = Batch::new(file);
                        for (position, line) in task {
                            batch.text(file, *position, line.trim_end_matches(['\n', '\r']));
                        }
                        batch
                    })
                    .collect::<Vec<_>>()
            },
            || (!end).then(|| next_chunk(reader.as_mut(), &mut next_line)),
        );
        for batch in batches {
            batch.flush(report, sink)?;
        }
        if !not_utf8.is_empty() {
            let mut batch = Batch::new(file);
            for (position, bytes) in not_utf8 {
                batch.quarantine(file, position, "a line that is not UTF-8 text".into(), Some(bytes));
            }
            batch.flush(report, sink)?;
        }
        progress(bytes_read.load(Ordering::Relaxed));
        if let Some((position, what)) = broken {
            let lines_read = position - 1;
            report.damaged.push(Damaged { file: file.to_path_buf(), lines_read, error: what.into() });
            report
                .files
                .push((file.to_path_buf(), format!("damaged: {what} after line {lines_read}; the rest is lost")));
            return Ok(());
        }
        match following {
            Some(c) => chunk = c,
            None => break,
        }
    }
    report.files.push((file.to_path_buf(), "read".into()));
    Ok(())
}

/// The raw text of the records at `positions` of `file`, read again (the pipeline keeps no raw
/// text for records it converted; when a check across files later quarantines one, the
/// quarantine still gets the record as it came). Positions are those [`read`] reported.
pub fn raw_records(file: &Path, positions: &BTreeSet<u64>) -> Result<BTreeMap<u64, Vec<u8>>, FhirError> {
    let mut batch = Batch::new(file);
    batch.capture = Some(std::sync::Arc::new(positions.clone()));
    let count = std::sync::atomic::AtomicU64::new(0);
    if is_json(file) {
        let text = std::fs::read(file).map_err(|e| io(file, e))?;
        if let Ok(text) = String::from_utf8(text) {
            batch.document(file, &text);
        }
        return Ok(batch.captured);
    }
    let mut reader = open_ndjson(file, &count)?;
    let mut next_line = 0;
    let mut first = true;
    loop {
        let chunk = next_chunk(reader.as_mut(), &mut next_line);
        if std::mem::take(&mut first)
            && let Some(text) = as_document(file, &chunk)
        {
            batch.document(file, &text);
            return Ok(batch.captured);
        }
        for (position, line) in &chunk.lines {
            if positions.contains(position) {
                batch.text(file, *position, line.trim_end_matches(['\n', '\r']));
            }
        }
        if chunk.end || positions.last().is_none_or(|last| *last < next_line) {
            return Ok(batch.captured);
        }
    }
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    /// The kind of JSON error, without the input excerpt serde may quote (it could be PHI).
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "I/O error",
            serde_json::error::Category::Syntax => "invalid JSON",
            serde_json::error::Category::Data => "JSON of the wrong shape",
            serde_json::error::Category::Eof => "truncated JSON",
        }
    }
}
