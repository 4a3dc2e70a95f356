//! `longitude synth`: the synthetic population generator.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::OnceLock;
use std::time::Instant;

use anyhow::Result;
use clap::{Args, ValueEnum};
use indicatif::ProgressBar;
use synth::{OutputOptions, SynthConfig};

use crate::progress::Progress;

#[derive(Debug, Args)]
pub struct SynthArgs {
    /// How many patients.
    #[arg(long, default_value_t = 2_000)]
    patients: usize,
    /// How many sites (they differ in population, screening, coding habits and lab units).
    #[arg(long, default_value_t = 2)]
    sites: usize,
    /// The random seed.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Output directory (gets meds/, fhir/ and truth/).
    #[arg(long)]
    out: PathBuf,
    /// What to write besides the ground truth: MEDS, FHIR R4 Bulk NDJSON, or both.
    #[arg(long, value_enum, default_value_t = Format::Both)]
    format: Format,
    /// Also write one FHIR transaction Bundle per patient (OUT/fhir/bundles/), as Synthea does.
    #[arg(long)]
    fhir_bundles: bool,
    /// A JSON configuration (see `synth::SynthConfig`, and OUT/truth/config.json of any run) that
    /// replaces the defaults; --patients, --sites and --seed still apply.
    #[arg(long)]
    config: Option<PathBuf>,
    #[command(flatten)]
    replace: crate::claim::Replace,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// A MEDS dataset (OUT/meds/).
    Meds,
    /// FHIR R4 Bulk Data NDJSON, one file per resource type (OUT/fhir/).
    Fhir,
    /// Both.
    Both,
}

static BAR: OnceLock<ProgressBar> = OnceLock::new();

fn tick(done: u64) {
    if let Some(bar) = BAR.get() {
        bar.set_position(done);
    }
}

/// `created_at` from `SOURCE_DATE_EPOCH` (reproducible-builds convention), if set.
pub fn run(args: &SynthArgs, progress: &Progress) -> Result<ExitCode> {
    let config = match &args.config {
        Some(path) => SynthConfig::from_file(path, args.patients, args.sites, args.seed)?,
        None => SynthConfig::new(args.patients, args.sites, args.seed),
    };
    let formats = synth::Formats {
        meds: args.format != Format::Fhir,
        fhir_ndjson: args.format != Format::Meds,
        fhir_bundles: args.fhir_bundles,
    };
    let bar = BAR.get_or_init(|| progress.bar("simulating", Some(args.patients as u64), "patients"));
    bar.reset();
    bar.set_length(args.patients as u64);
    let started = Instant::now();
    let options = OutputOptions { formats, created_at: OutputOptions::source_date(), progress: Some(tick) };
    let out = crate::claim::claim(&args.out, "synth", args.config.as_deref().as_slice(), args.replace)?;
    let summary = synth::generate(&config, &args.out, &options)?;
    out.finish()?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    outln!(
        "simulated {} patients ({} sites, seed {}) in {:.1}s: {} events, {} recorded deaths",
        summary.patients,
        config.sites.len(),
        config.seed,
        seconds,
        summary.events,
        summary.recorded_deaths
    );
    if formats.meds {
        outln!("  MEDS:  {}", args.out.join("meds").display());
    }
    if formats.fhir_ndjson || formats.fhir_bundles {
        outln!(
            "  FHIR:  {} ({} resources, {:.1} MB of NDJSON)",
            args.out.join("fhir").display(),
            summary.fhir_resources,
            summary.fhir_bytes as f64 / 1e6
        );
    }
    outln!("  truth: {}\n", args.out.join("truth").display());
    out!("{}", summary.prevalence.render());
    Ok(ExitCode::SUCCESS)
}
