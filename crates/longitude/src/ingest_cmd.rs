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
    /// Inputs: FHIR directories (searched recursively), .ndjson, .ndjson.gz or .json files, and
    /// MEDS dataset roots from another ETL (a directory holding data/*.parquet), which are
    /// re-keyed and date-shifted under the same policy.
    #[arg(long, required = true, num_args = 1..)]
    input: Vec<PathBuf>,
    /// Output directory (gets meds/ and ingest_report.json).
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
    /// Where quarantined records go, raw, with their errors [default: OUT-quarantine beside OUT].
    /// It contains PHI: it is never inside OUT, and is marked as such.
    #[arg(long)]
    quarantine: Option<PathBuf>,
    /// A file of source patient ids (one per line, `#` comments) whose records must not be used
    /// (research authorisation refused): they are excluded entirely and counted.
    #[arg(long)]
    opt_out: Option<PathBuf>,
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
    opted_out_patients: u64,
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

/// Whether `path` is the root of a MEDS dataset (a directory whose data/ holds parquet shards).
fn is_meds_root(path: &std::path::Path) -> bool {
    path.join(meds::schema::DATA_DIR).is_dir() && meds::Dataset::open(path).is_ok()
}

/// Reads FHIR inputs with the `fhir` reader and MEDS roots with the `meds` reader into one set of
/// source patients. A MEDS subject's source id is its `subject_id`.
fn read_sources(inputs: &[PathBuf]) -> Result<fhir::Ingested> {
    let (meds_roots, fhir_inputs): (Vec<PathBuf>, Vec<PathBuf>) = inputs.iter().cloned().partition(|p| is_meds_root(p));
    let mut ingested = if fhir_inputs.is_empty() { fhir::Ingested::default() } else { fhir::ingest(&fhir_inputs)? };
    for root in meds_roots {
        let (codes, timelines) = meds::Dataset::open(&root)?
            .read_all()
            .with_context(|| format!("cannot read the MEDS dataset {}", root.display()))?;
        let counts = ingested.report.types.entry("(MEDS subject)".into()).or_default();
        for t in timelines {
            let events: Vec<fhir::Event> = t
                .events()
                .map(|e| fhir::Event {
                    time: e.time,
                    code: codes.name(e.code).to_owned(),
                    numeric_value: e.numeric_value,
                    text_value: e.text_value.map(str::to_owned),
                })
                .collect();
            counts.read += 1;
            counts.converted += 1;
            counts.events += events.len() as u64;
            ingested.patients.entry(t.subject_id.to_string()).or_default().extend(events);
        }
        ingested.report.files.push((root, "read as a MEDS dataset".into()));
    }
    Ok(ingested)
}

/// The quarantine directory: given, or `OUT-quarantine` beside OUT; never inside OUT.
fn quarantine_dir(args: &IngestArgs) -> Result<PathBuf> {
    let dir = match &args.quarantine {
        Some(q) => q.clone(),
        None => {
            let name =
                args.out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "ingest".into());
            args.out.with_file_name(format!("{name}-quarantine"))
        }
    };
    let absolute = |p: &std::path::Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    if absolute(&dir).starts_with(absolute(&args.out)) {
        bail!("the quarantine directory holds PHI and must not be inside the output directory");
    }
    Ok(dir)
}

/// Writes the raw quarantined records (PHI) and their errors, with a warning file.
fn write_quarantine(dir: &std::path::Path, quarantined: &[fhir::Quarantined]) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join("CONTAINS-PHI.txt"),
        "This directory holds raw input records that could not be converted. They may contain \
         protected health information: restrict access, do not share, delete when resolved.\n",
    )?;
    let mut errors = String::new();
    let mut raw = String::new();
    for q in quarantined {
        errors.push_str(&serde_json::to_string(q)?);
        errors.push('\n');
        raw.push_str(q.raw.as_deref().unwrap_or("null"));
        raw.push('\n');
    }
    std::fs::write(dir.join("errors.jsonl"), errors)?;
    std::fs::write(dir.join("records.ndjson"), raw)?;
    Ok(())
}

pub fn run(args: &IngestArgs, progress: &Progress) -> Result<ExitCode> {
    let key = key(args)?;
    let quarantine = quarantine_dir(args)?;
    let mode = match args.date_mode {
        Mode::Shift => DateMode::Shift,
        Mode::Year => DateMode::Year,
    };
    let opt_out: std::collections::HashSet<String> = match &args.opt_out {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the opt-out list {}", path.display()))?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_owned)
            .collect(),
        None => Default::default(),
    };
    let spinner = progress.bar("reading", None, "");
    let mut ingested = read_sources(&args.input)?;
    spinner.finish_and_clear();
    // Opted-out patients leave before de-identification: nothing of theirs is written.
    let before = ingested.patients.len();
    ingested.patients.retain(|source, _| !opt_out.contains(source));
    ingested.identifiers.retain(|source, _| !opt_out.contains(source));
    let opted_out = (before - ingested.patients.len()) as u64;

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

    write_quarantine(&quarantine, &ingested.report.quarantined)?;
    let out_report = IngestReport {
        date_mode: mode,
        opted_out_patients: opted_out,
        reconciles: ingested.report.reconciles(),
        fhir: &ingested.report,
        deidentification: &report,
        subjects: written.subjects,
        events: written.events,
    };
    let events = written.events;
    // Written last and atomically: an interrupted run has no report that looks complete.
    let report_path = args.out.join("ingest_report.json");
    let partial = args.out.join(".ingest_report.json.partial");
    std::fs::write(&partial, serde_json::to_string_pretty(&out_report)?)?;
    std::fs::rename(&partial, &report_path)?;

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
        "\n{} subjects ({opted_out} opted out), {events} events written to {} ({} date mode); counts {}; {} text values scrubbed; report: {}",
        written.subjects,
        args.out.join("meds").display(),
        match mode {
            DateMode::Shift => "shift",
            DateMode::Year => "year",
        },
        if out_report.reconciles { "reconcile" } else { "DO NOT reconcile" },
        report.texts,
        report_path.display()
    );
    Ok(if out_report.reconciles { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
