//! `longitude ingest`: FHIR → de-identified MEDS.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use deid::{DateMode, Deidentifier, Key};
use meds::DatasetMetadata;

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
    /// Where source records are spilled, by pseudonym, before de-identification [default:
    /// OUT-work beside OUT]. It holds PHI while the run lasts: created owner-only and deleted
    /// when the run ends, whatever the outcome (or by the next run, after a kill). An existing
    /// directory that no run made is refused.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// A file of patients whose records must not be used (research authorisation refused), one
    /// per line (`#` comments): a patient id, `Patient/<id>`, or an identifier as `system|value`
    /// or `|value` (a bare value also matches any identifier). They are excluded entirely and
    /// counted. An entry that matches no patient fails the run (see --allow-unmatched-opt-out).
    #[arg(long)]
    opt_out: Option<PathBuf>,
    /// Allow opt-out entries that match no patient in this input (the list covers patients
    /// outside this extract); they are counted in the report.
    #[arg(long, requires = "opt_out")]
    allow_unmatched_opt_out: bool,
    /// Ingest what could be read of truncated or corrupt files instead of failing; the report
    /// lists each damaged file and the line where reading stopped.
    #[arg(long)]
    accept_partial: bool,
    /// Scrub free text with a safe-list: every word not in these lists (one word per line, e.g.
    /// Debian's wamerican-large dictionary and the site's clinical vocabulary) is redacted, as
    /// Philter does, besides the identifier patterns. Repeatable. Without it only the patterns
    /// and the patient's own identifiers are removed; docs/benchmarks/deid.md measures both.
    #[arg(long)]
    safe_words: Vec<PathBuf>,
    /// Write into an OUT (or quarantine directory) that holds files longitude did not write,
    /// beside them. Nothing that longitude did not write is ever deleted.
    #[arg(long)]
    replace: bool,
    /// Audit the result against the ground truth of a `longitude synth` run (its truth/
    /// directory): measure how many planted identifiers survive, and put the recall in the report.
    /// Exits with 1 if the targets (100% structured, 99% free text) are not met.
    #[arg(long)]
    audit_truth: Option<PathBuf>,
    /// The dataset name in metadata/dataset.json.
    #[arg(long, default_value = "longitude-ingest")]
    name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    Shift,
    Year,
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

/// A sibling of OUT named `OUT-{suffix}`, or `given`; never inside OUT (it holds PHI).
fn beside_out(out: &Path, given: Option<&Path>, suffix: &str, what: &str) -> Result<PathBuf> {
    let dir = match given {
        Some(q) => q.to_path_buf(),
        None => {
            let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "ingest".into());
            out.with_file_name(format!("{name}-{suffix}"))
        }
    };
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    if absolute(&dir).starts_with(absolute(out)) {
        bail!("the {what} holds PHI and must not be inside the output directory");
    }
    Ok(dir)
}

pub fn run(args: &IngestArgs, progress: &Progress) -> Result<ExitCode> {
    let key = key(args)?;
    let quarantine = beside_out(&args.out, args.quarantine.as_deref(), "quarantine", "quarantine directory")?;
    let work = beside_out(&args.out, args.work_dir.as_deref(), "work", "work directory")?;
    let mode = match args.date_mode {
        Mode::Shift => DateMode::Shift,
        Mode::Year => DateMode::Year,
    };
    let mut opt_out = match &args.opt_out {
        Some(path) => ingest::OptOut::parse(
            &std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the opt-out list {}", path.display()))?,
        ),
        None => ingest::OptOut::default(),
    };
    opt_out.allow_unmatched = args.allow_unmatched_opt_out;
    if args.opt_out.is_some() && opt_out.is_empty() {
        bail!("the opt-out list names nobody (no entries besides blank lines and comments); check the file");
    }
    let mut deidentifier = Deidentifier::new(key, mode);
    if !args.safe_words.is_empty() {
        let words = deid::SafeWords::from_files(&args.safe_words)?;
        if words.is_empty() {
            bail!("the safe-lists name no word; check --safe-words");
        }
        deidentifier = deidentifier.with_safe_words(words);
    }
    // Paths that cannot work are refused before any folder is made.
    outputs::check_apart(&[&args.out, &quarantine, &work], &args.input)?;
    outputs::check_apart(&[&quarantine, &work], std::slice::from_ref(&args.out))?;
    let existing = if args.replace { outputs::Existing::KeepBeside } else { outputs::Existing::Refuse };
    // Claimed before anything is read: a re-run removes what the last run wrote, never more.
    let out = outputs::OutputDir::claim(&args.out, "ingest", &args.input, existing)?;
    let metadata = DatasetMetadata {
        dataset_name: Some(args.name.clone()),
        etl_name: Some("longitude ingest".into()),
        etl_version: Some(env!("CARGO_PKG_VERSION").into()),
        ..Default::default()
    };
    let options = ingest::Options {
        opt_out,
        accept_partial: args.accept_partial,
        existing,
        metadata,
        ..ingest::Options::new(args.input.clone(), args.out.join("meds"), quarantine, work)
    };
    let summary = crate::steps::ingest(&options, &deidentifier, progress)?;
    let deid_audit = match &args.audit_truth {
        Some(truth) => {
            let planted = synth::truth::planted_identifiers(truth)?;
            let fhir_inputs: Vec<PathBuf> = args.input.iter().filter(|p| !ingest::is_meds_root(p)).cloned().collect();
            Some(ingest::leakage::measure(&planted, &fhir_inputs, &options.out, &deidentifier)?)
        }
        None => None,
    };
    let out_report =
        ingest::IngestReport { date_mode: mode, text_policy: deidentifier.text_policy(), summary, deid_audit };
    // Written last and atomically: an interrupted run has no report that looks complete.
    let report_path = args.out.join(ingest::IngestReport::FILE);
    outputs::artifact::write(&report_path, &out_report)?;
    let summary = &out_report.summary;
    out.finish()?;

    outln!(
        "{:<34} {:>9} {:>10} {:>8} {:>12} {:>9}",
        "resource type",
        "read",
        "converted",
        "skipped",
        "quarantined",
        "events"
    );
    for (kind, c) in &summary.fhir.types {
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
        "\n{} subjects ({} opted out), {} events written to {} ({} date mode); counts {}{}; {} quarantined; {} identical duplicates dropped; {} text values scrubbed; report: {}",
        summary.subjects,
        summary.opted_out_patients,
        summary.events,
        args.out.join("meds").display(),
        match mode {
            DateMode::Shift => "shift",
            DateMode::Year => "year",
        },
        if summary.reconciles { "reconcile" } else { "DO NOT reconcile" },
        if summary.complete {
            String::new()
        } else {
            format!(
                " for what could be read — {} damaged file(s) read in part (--accept-partial; see the report)",
                summary.fhir.damaged.len()
            )
        },
        summary.quarantined,
        summary.duplicates_dropped,
        summary.deidentification.texts,
        report_path.display()
    );
    let mut ok = summary.reconciles;
    if let Some(a) = &out_report.deid_audit {
        let planted: u64 = a.kinds.values().map(|c| c.planted).sum();
        let occurrences: u64 = a.kinds.values().map(|c| c.text_occurrences).sum();
        outln!(
            "de-identification audit over {} patients: structured recall {:.4} ({planted} planted values), free-text recall {:.4} ({occurrences} occurrences): {}",
            a.patients,
            a.structured_recall,
            a.text_recall,
            if a.meets_targets { "targets met" } else { "TARGETS NOT MET" }
        );
        ok &= a.meets_targets;
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
