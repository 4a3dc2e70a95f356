//! `longitude ingest`: FHIR → de-identified MEDS.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
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

/// How dates are de-identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Every date of a patient moves by one secret offset.
    Shift,
    /// Only years are kept.
    Year,
}

impl Mode {
    /// The de-identifier's date mode.
    pub fn date_mode(self) -> DateMode {
        match self {
            Mode::Shift => DateMode::Shift,
            Mode::Year => DateMode::Year,
        }
    }
}

pub fn run(args: &IngestArgs, progress: &Progress) -> Result<ExitCode> {
    let key = Key::resolve(args.deid_key_file.as_deref(), args.create_key)?;
    let mode = args.date_mode.date_mode();
    let mut deidentifier = Deidentifier::new(key, mode);
    if !args.safe_words.is_empty() {
        deidentifier = deidentifier.with_safe_words(deid::SafeWords::from_files(&args.safe_words)?);
    }
    let existing = if args.replace { outputs::Existing::KeepBeside } else { outputs::Existing::Refuse };
    let options = ingest::Options {
        opt_out: match &args.opt_out {
            Some(path) => ingest::OptOut::read(path, args.allow_unmatched_opt_out)?,
            None => ingest::OptOut::default(),
        },
        accept_partial: args.accept_partial,
        existing,
        metadata: DatasetMetadata {
            dataset_name: Some(args.name.clone()),
            etl_name: Some("longitude ingest".into()),
            etl_version: Some(env!("CARGO_PKG_VERSION").into()),
            ..Default::default()
        },
        ..ingest::Options::beside(args.input.clone(), &args.out, args.quarantine.as_deref(), args.work_dir.as_deref())?
    };
    // Paths that cannot work are refused before any folder is made.
    outputs::check_apart(&[&args.out, &options.quarantine, &options.work], &args.input)?;
    outputs::check_apart(&[&options.quarantine, &options.work], std::slice::from_ref(&args.out))?;
    // Claimed before anything is read: a re-run removes what the last run wrote, never more.
    let out = outputs::OutputDir::claim(&args.out, "ingest", &args.input, existing)?;
    let summary = crate::steps::ingest(&options, &deidentifier, progress)?;
    let deid_audit = match &args.audit_truth {
        Some(truth) => {
            let planted = synth::truth::planted_identifiers(truth)?;
            let fhir_inputs: Vec<PathBuf> = args.input.iter().filter(|p| !ingest::is_meds_root(p)).cloned().collect();
            Some(ingest::leakage::measure(&planted, &fhir_inputs, &options.out, &deidentifier)?)
        }
        None => None,
    };
    let report = ingest::IngestReport { date_mode: mode, text_policy: deidentifier.text_policy(), summary, deid_audit };
    // Written last and atomically: an interrupted run has no report that looks complete.
    let report_path = args.out.join(ingest::IngestReport::FILE);
    outputs::artifact::write(&report_path, &report)?;
    out.finish()?;
    outln!("{report}\nthe dataset is in {}; the report in {}", options.out.display(), report_path.display());
    Ok(if report.ok() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
