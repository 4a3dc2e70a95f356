//! `longitude ingest`: FHIR → de-identified MEDS.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use deid::{DateMode, DeidReport, Deidentifier, Key};
use meds::{CodeTable, DatasetMetadata, DatasetWriter, Timeline, WriterOptions};
use serde::Serialize;

use crate::progress::Progress;

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// FHIR inputs: directories (searched recursively), .ndjson, .ndjson.gz or .json files.
    #[arg(long, required = true, num_args = 1..)]
    input: Vec<PathBuf>,
    /// Output directory (gets meds/, ingest_report.json and quarantine/).
    #[arg(long)]
    out: PathBuf,
    /// The de-identification key file (at least 32 bytes). Without it, LONGITUDE_DEID_KEY is used.
    /// Keep the same key across extracts so that subject ids line up; never share it.
    #[arg(long)]
    deid_key_file: Option<PathBuf>,
    /// Create the key file (random, owner-readable only) if it does not exist.
    #[arg(long, requires = "deid_key_file")]
    create_key: bool,
    /// `shift`: every date of a patient moves by one secret offset (intervals kept);
    /// `year`: only years are kept (strict Safe Harbor).
    #[arg(long, value_enum, default_value_t = Mode::Shift)]
    date_mode: Mode,
    /// Where quarantined resources are listed [default: OUT/quarantine].
    #[arg(long)]
    quarantine: Option<PathBuf>,
    /// The dataset name in metadata/dataset.json.
    #[arg(long, default_value = "longitude-ingest")]
    name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    Shift,
    Year,
}

#[derive(Serialize)]
struct IngestReport<'a> {
    date_mode: DateMode,
    reconciles: bool,
    fhir: &'a fhir::Report,
    deidentification: &'a DeidReport,
    subjects: u64,
    events: u64,
}

fn key(args: &IngestArgs) -> Result<Key> {
    if let Some(path) = &args.deid_key_file {
        if !path.exists() && args.create_key {
            tracing::info!(path = %path.display(), "creating a new de-identification key");
            return Ok(Key::generate(path)?);
        }
        return Key::from_file(path).with_context(|| "cannot read the de-identification key");
    }
    match std::env::var("LONGITUDE_DEID_KEY") {
        Ok(k) => Ok(Key::from_bytes(k.as_bytes())?),
        Err(_) => bail!(
            "a de-identification key is needed: --deid-key-file FILE (add --create-key the first time) or LONGITUDE_DEID_KEY"
        ),
    }
}

/// De-identifies every patient of `ingested` and writes them as a MEDS dataset at `root`, in
/// pseudonym order (the source order of patients, and so of shards, must not leak through).
pub fn write_deidentified(
    ingested: &fhir::Ingested,
    deidentifier: &Deidentifier,
    root: &std::path::Path,
    metadata: DatasetMetadata,
    bar: &indicatif::ProgressBar,
) -> Result<(meds::WriteSummary, DeidReport)> {
    let mut report = DeidReport::default();
    let mut patients: Vec<deid::DeidPatient> = ingested
        .patients
        .iter()
        .map(|(source, events)| {
            deidentifier.patient(source, events.clone(), ingested.identifiers.get(source), &mut report)
        })
        .collect();
    patients.sort_by_key(|p| p.subject_id);
    let mut writer = DatasetWriter::create(root, WriterOptions { metadata, ..Default::default() })?;
    let mut codes = CodeTable::new();
    for p in patients {
        let mut t = Timeline::with_capacity(p.subject_id, p.events.len());
        for e in p.events {
            let code = codes.intern(&e.code);
            t.push(e.time, code, e.numeric_value, e.text_value);
        }
        let split = match p.subject_id % 10 {
            8 => meds::schema::TUNING_SPLIT,
            9 => meds::schema::HELD_OUT_SPLIT,
            _ => meds::schema::TRAIN_SPLIT,
        };
        writer.write_subject(split, &t, &codes)?;
        bar.inc(1);
    }
    Ok((writer.finish(&codes)?, report))
}

pub fn run(args: &IngestArgs, progress: &Progress) -> Result<ExitCode> {
    let key = key(args)?;
    let mode = match args.date_mode {
        Mode::Shift => DateMode::Shift,
        Mode::Year => DateMode::Year,
    };
    let spinner = progress.bar("reading FHIR", None, "");
    let ingested = fhir::ingest(&args.input)?;
    spinner.finish_and_clear();

    let deidentifier = Deidentifier::new(key, mode);
    let metadata = DatasetMetadata {
        dataset_name: Some(args.name.clone()),
        etl_name: Some("longitude ingest".into()),
        etl_version: Some(env!("CARGO_PKG_VERSION").into()),
        ..Default::default()
    };
    let bar = progress.bar("de-identifying", Some(ingested.patients.len() as u64), "patients");
    let (written, report) = write_deidentified(&ingested, &deidentifier, &args.out.join("meds"), metadata, &bar)?;
    bar.finish_and_clear();

    let quarantine = args.quarantine.clone().unwrap_or_else(|| args.out.join("quarantine"));
    std::fs::create_dir_all(&quarantine)?;
    let lines: Vec<String> =
        ingested.report.quarantined.iter().map(|q| serde_json::to_string(q).unwrap_or_default()).collect();
    std::fs::write(quarantine.join("quarantined.jsonl"), lines.join("\n"))?;
    let out_report = IngestReport {
        date_mode: mode,
        reconciles: ingested.report.reconciles(),
        fhir: &ingested.report,
        deidentification: &report,
        subjects: written.subjects,
        events: written.events,
    };
    let events = written.events;
    std::fs::write(args.out.join("ingest_report.json"), serde_json::to_string_pretty(&out_report)?)?;

    outln!(
        "{:<34} {:>9} {:>10} {:>8} {:>12} {:>9}",
        "resource type",
        "read",
        "converted",
        "skipped",
        "quarantined",
        "events"
    );
    for (kind, c) in &ingested.report.types {
        outln!(
            "{kind:<34} {:>9} {:>10} {:>8} {:>12} {:>9}",
            c.read,
            c.converted,
            c.skipped.values().sum::<u64>(),
            c.quarantined,
            c.events
        );
    }
    outln!(
        "\n{} subjects, {events} events written to {} ({} date mode); counts {}; {} text values scrubbed; report: {}",
        written.subjects,
        args.out.join("meds").display(),
        match mode {
            DateMode::Shift => "shift",
            DateMode::Year => "year",
        },
        if out_report.reconciles { "reconcile" } else { "DO NOT reconcile" },
        report.texts,
        args.out.join("ingest_report.json").display()
    );
    Ok(if out_report.reconciles { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
