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
//! Status: the reading and mapping slice of issue #5. Streaming to bounded memory, the `deid`
//! crate and `longitude ingest` come next.

#![forbid(unsafe_code)]

pub mod convert;
pub mod resource;
pub mod time;
pub mod units;
pub mod vocabulary;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

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
}

/// Counts for one resource type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Quarantined {
    /// The file.
    pub file: PathBuf,
    /// The line (NDJSON) or entry index (Bundle), 1-based.
    pub position: u64,
    /// What was wrong.
    pub error: String,
    /// The raw line or entry, if it could be read.
    #[serde(skip)]
    pub raw: Option<String>,
}

/// Everything read, accounted for.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Files read, and files skipped with the reason.
    pub files: Vec<(PathBuf, String)>,
    /// Per resource type.
    pub types: BTreeMap<String, TypeCounts>,
    /// Quarantined resources.
    pub quarantined: Vec<Quarantined>,
    /// Code systems with no prefix in the table (their URL became the prefix).
    pub unknown_systems: BTreeSet<String>,
    /// `(code, unit)` pairs kept as recorded because the unit could not be converted, with counts.
    pub unconverted_units: BTreeMap<String, u64>,
}

impl Report {
    /// Whether read = converted + skipped + quarantined for every type.
    pub fn reconciles(&self) -> bool {
        self.types.values().all(|c| c.read == c.converted + c.skipped.values().sum::<u64>() + c.quarantined)
    }
}

/// What kind of identifier a value is (it decides the placeholder that replaces it in text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
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
}

/// The result of reading: events per source patient id, and the report.
#[derive(Debug, Default)]
pub struct Ingested {
    /// Events by the source's patient id (`Patient.id`), in reading order.
    pub patients: BTreeMap<String, Vec<Event>>,
    /// Direct identifiers by the source's patient id, for scrubbing free text.
    pub identifiers: BTreeMap<String, Identifiers>,
    /// The accounting.
    pub report: Report,
}

impl Ingested {
    fn take(
        &mut self,
        file: &Path,
        position: u64,
        r: &Resource,
        raw: &dyn Fn() -> String,
        resolve: &dyn Fn(&str) -> Option<String>,
    ) {
        let kind = r.resource_type.clone().unwrap_or_else(|| "(no resourceType)".into());
        let mut notes = convert::Notes::default();
        let converted = convert::convert(r, resolve, &mut notes);
        let counts = self.report.types.entry(kind).or_default();
        counts.read += 1;
        match converted {
            Converted::Events { patient, events } => {
                counts.converted += 1;
                counts.events += events.len() as u64;
                if r.resource_type.as_deref() == Some("Patient") {
                    self.identifiers.insert(patient.clone(), identifiers_of(r));
                }
                self.patients.entry(patient).or_default().extend(events);
            }
            Converted::Skipped(reason) => *counts.skipped.entry(reason.to_owned()).or_default() += 1,
            Converted::Quarantined(error) => {
                counts.quarantined += 1;
                self.report.quarantined.push(Quarantined {
                    file: file.to_path_buf(),
                    position,
                    error,
                    raw: Some(raw()),
                });
            }
        }
        self.report.unknown_systems.extend(notes.unknown_systems);
        for (code, unit) in notes.unconverted_units {
            *self.report.unconverted_units.entry(format!("{code} [{unit}]")).or_default() += 1;
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
                let counts = self.report.types.entry(head.resource_type.clone()).or_default();
                counts.read += 1;
                if let Some(reason) = convert::skip_reason(&head.resource_type) {
                    *counts.skipped.entry(reason.to_owned()).or_default() += 1;
                } else {
                    counts.quarantined += 1;
                    let error = format!("{}: {} for this resource type", head.resource_type, error.classify_name());
                    let raw = Some(text.to_owned());
                    self.report.quarantined.push(Quarantined { file: file.to_path_buf(), position, error, raw });
                }
            }
            Err(_) => {
                self.quarantine(file, position, format!("not a FHIR resource: {}", error.classify_name()));
                if let Some(q) = self.report.quarantined.last_mut() {
                    q.raw = Some(text.to_owned());
                }
            }
        }
    }

    fn quarantine(&mut self, file: &Path, position: u64, error: String) {
        let counts = self.report.types.entry("(unparsable)".into()).or_default();
        counts.read += 1;
        counts.quarantined += 1;
        self.report.quarantined.push(Quarantined { file: file.to_path_buf(), position, error, raw: None });
    }

    fn take_bundle_or_resource(&mut self, file: &Path, position: u64, r: Resource, text: &str) {
        if r.resource_type.as_deref() != Some("Bundle") {
            self.take(file, position, &r, &|| text.to_owned(), &|_| None);
            return;
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
            let parsed = e.resource.as_ref().map(|v| serde_json::from_value::<Resource>(v.clone()));
            match parsed {
                Some(Err(error)) => {
                    let text = e.resource.as_ref().map(|v| v.to_string()).unwrap_or_default();
                    self.unparsed(file, i as u64 + 1, &text, &error);
                }
                Some(Ok(res)) => {
                    let mut res = res;
                    // A Patient without an id in a bundle is identified by its fullUrl.
                    if res.resource_type.as_deref() == Some("Patient") && res.id.is_none() {
                        res.id = e.full_url.clone();
                    }
                    let raw = || e.resource.as_ref().map(|v| v.to_string()).unwrap_or_default();
                    self.take(file, i as u64 + 1, &res, &raw, &resolve);
                }
                None => {
                    // A transaction's DELETE or GET carries a request, not a resource.
                    let counts = self.report.types.entry("(bundle request without resource)".into()).or_default();
                    counts.read += 1;
                    *counts.skipped.entry("a request (e.g. DELETE) carries no clinical content".into()).or_default() +=
                        1;
                }
            }
        }
    }
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
    for i in identifier.iter().filter_map(|i| i.value.as_deref()) {
        push(K::Id, i);
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
    ids
}

fn io(path: &Path, source: std::io::Error) -> FhirError {
    FhirError::Io { path: path.to_path_buf(), source }
}

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
        } else if name.ends_with(".ndjson") || name.ends_with(".ndjson.gz") || name.ends_with(".json") {
            if name == "package.json" {
                report.files.push((p, "skipped: package manifest, not a resource".into()));
            } else {
                out.push(p);
            }
        } else {
            report.files.push((p, "skipped: not .ndjson, .ndjson.gz or .json".into()));
        }
    }
    out.sort();
    Ok(out)
}

/// Reads every FHIR file under `paths` into events per patient, accounting for every resource.
pub fn ingest(paths: &[PathBuf]) -> Result<Ingested, FhirError> {
    let mut ingested = Ingested::default();
    let files = discover(paths, &mut ingested.report)?;
    for file in files {
        let name = file.to_string_lossy().into_owned();
        let handle = std::fs::File::open(&file).map_err(|e| io(&file, e))?;
        if name.ends_with(".json") {
            let mut text = String::new();
            BufReader::new(handle).read_to_string(&mut text).map_err(|e| io(&file, e))?;
            match serde_json::from_str::<Resource>(&text) {
                Ok(r) => ingested.take_bundle_or_resource(&file, 1, r, &text),
                Err(e) => ingested.unparsed(&file, 1, &text, &e),
            }
        } else {
            let reader: Box<dyn BufRead> = if name.ends_with(".gz") {
                Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(handle)))
            } else {
                Box::new(BufReader::new(handle))
            };
            for (i, line) in reader.lines().enumerate() {
                let line = match line {
                    Ok(line) => line,
                    Err(e) => {
                        // Truncated or corrupt compressed data, or bytes that are not UTF-8: the
                        // rest of this file cannot be read; say where it stopped.
                        let what = if e.kind() == std::io::ErrorKind::InvalidData {
                            "not UTF-8 text"
                        } else {
                            "truncated or corrupt data"
                        };
                        ingested.quarantine(&file, i as u64 + 1, format!("unreadable from here on: {what}"));
                        break;
                    }
                };
                if line.trim().is_empty() {
                    continue;
                }
                match serde_json::from_str::<Resource>(&line) {
                    Ok(r) => ingested.take_bundle_or_resource(&file, i as u64 + 1, r, &line),
                    Err(e) => ingested.unparsed(&file, i as u64 + 1, &line, &e),
                }
            }
        }
        ingested.report.files.push((file, "read".into()));
    }
    Ok(ingested)
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
