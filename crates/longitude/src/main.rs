//! `longitude`: the command-line entry point. It parses arguments and wires library crates
//! together; every capability lives in a library crate.
#![deny(unsafe_code)] // allowed in `allocator` alone, which sets mimalloc's options

#[macro_use]
extern crate outputs;

mod adapt_cmd;
mod allocator;
mod audit_cmd;
mod bundle_cmd;
mod claim;
mod demo_cmd;
mod evaluate_cmd;
mod ingest_cmd;
mod label_cmd;
mod logging;
mod meds_cmd;
mod monitor_cmd;
mod pretrain_cmd;
mod progress;
mod registry_cmd;
mod report_cmd;
mod score_cmd;
mod serve_cmd;
mod steps;
mod synth_cmd;
mod tokenize_cmd;
mod what_if_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Longitude — an open clinical foundation-model platform that a health system can own.
///
/// Data flows left to right: FHIR or MEDS → de-identified MEDS timelines → tokenizer → pretrained
/// generative transformer → clinical tasks → validation → governance → serving → monitoring.
/// Every dataset on disk is a MEDS dataset (https://medical-event-data-standard.github.io/).
#[derive(Debug, Parser)]
#[command(name = "longitude", version, propagate_version = true, max_term_width = 100)]
struct Cli {
    /// Print nothing but results and errors (no progress bars, no info logs).
    #[arg(long, short, global = true)]
    quiet: bool,

    /// Log format on stderr. Set RUST_LOG (e.g. `RUST_LOG=debug`) for more detail.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Command,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Work with MEDS datasets: validate, describe, index, show.
    #[command(subcommand)]
    Meds(meds_cmd::MedsCommand),

    /// Read FHIR R4 (Bulk NDJSON, .ndjson.gz, Bundles, single resources), de-identify it and
    /// write a MEDS dataset.
    ///
    /// Every resource is converted, skipped with a named reason, or quarantined with its error;
    /// the counts reconcile and are written to OUT/ingest_report.json. De-identification (HIPAA
    /// Safe Harbor) happens before anything is written: keyed pseudonymous subject ids, shifted
    /// dates (or years only), ages over 89 aggregated, free text scrubbed.
    Ingest(ingest_cmd::IngestArgs),

    /// Simulate a clinical population with known ground truth and write it as MEDS.
    ///
    /// Writes OUT/meds/ (a MEDS dataset with train/tuning/held_out splits) and OUT/truth/ (true
    /// onsets, diagnosis and treatment times, sites, the configuration, prevalence by age band),
    /// kept apart so nothing downstream reads the truth by accident. Same seed, same bytes
    /// (set SOURCE_DATE_EPOCH to fix the creation time in dataset.json).
    Synth(synth_cmd::SynthArgs),

    /// Fit the tokenizer on a MEDS dataset's train split and write every split as tokens.
    ///
    /// Writes OUT/tokenizer.json (the versioned vocabulary, value bins and interval ladder that
    /// travel with a model), OUT/tokens/<split>.parquet (per subject: static tokens, event
    /// tokens and the time of each) and OUT/tokenize_report.json (fallbacks to parent and unknown
    /// codes, counted).
    Tokenize(tokenize_cmd::TokenizeArgs),

    /// Pretrain the foundation model on tokenized timelines (next-token prediction).
    ///
    /// AdamW with warm-up and cosine decay, gradient clipping and accumulation; checkpoints
    /// (weights, optimizer state, step) every N steps, written atomically, and `--resume`
    /// continues exactly. Writes OUT/metrics.jsonl (train loss, tokens/s, tuning loss and
    /// perplexity), OUT/model/ (safetensors, tokenizer, config) and OUT/pretrain_report.json.
    Pretrain(pretrain_cmd::PretrainArgs),

    /// Label a MEDS dataset with clinical prediction tasks written in ACES.
    ///
    /// Reads ACES task configurations unchanged (--task, repeatable, with an optional MEDS-DEV
    /// style --predicates file) or uses the built-in suite (--suite). Writes OUT/<task>.parquet
    /// in the MEDS label schema and OUT/label_report.json, which accounts for every trigger:
    /// labelled, excluded by a window constraint, or unresolved.
    Label(label_cmd::LabelArgs),

    /// Fit the baselines for labelled tasks and predict the held-out split.
    ///
    /// For each OUT of `longitude label`: count features in the MEDS-Tab style (code × 30 days /
    /// 365 days / all history × count, last, min, max, mean) and demographics, at each prediction
    /// time from events at or before it; demographics-only and count-feature L2 logistic
    /// regression (regularisation chosen on tuning) and gradient-boosted trees (early stopping on
    /// tuning). Writes OUT/<task>/<method>.parquet (meds-evaluation schema) and adapt_report.json.
    Adapt(adapt_cmd::AdaptArgs),

    /// Compare a task's risk with and without a treatment started at the prediction time, as the
    /// foundation model's generated futures see it ("what if").
    ///
    /// For each sampled prediction time of the task (patients not already on the treatment), the
    /// model generates futures as the record went on and futures that begin with the treatment's
    /// code, on the same random streams; the task's own ACES windows read both. Prints each arm's
    /// mean risk, the difference and the relative risk with subject-level bootstrap intervals.
    /// What the model learned is what follows a prescription in its training records, confounding
    /// by indication included: with --truth (simulated data) the generator's counterfactual oracle
    /// gives the true effect on the same prediction times beside it.
    WhatIf(what_if_cmd::WhatIfArgs),

    /// Validate predictions (the meds-evaluation schema): AUROC, AUPRC, Brier, calibration,
    /// operating points, patient-level bootstrap 95% intervals and a fairness audit.
    ///
    /// With --meds, sex, age band, race and ethnicity are read from the MEDS data for subgroup
    /// metrics and disparity ratios (flagged outside [0.8, 1.25]). Runs entirely locally, so an
    /// organisation can validate a received model on its own data.
    Evaluate(evaluate_cmd::EvaluateArgs),

    /// Write the validation report: every task × method evaluated (bootstrap intervals,
    /// fairness audit), as one self-contained HTML page with inline SVG charts, its JSON, and the
    /// model card (ONC HTI-1 source attributes; CHAI Applied Model Card export).
    Report(report_cmd::ReportArgs),

    /// The owner's signature on model bundles: keygen, sign, verify.
    #[command(subcommand)]
    Bundle(bundle_cmd::BundleCommand),

    /// The model registry: register signed releases, validate them against a policy's gates,
    /// approve by name, deploy per site, suspend, retire; list and history.
    #[command(subcommand)]
    Registry(registry_cmd::RegistryCommand),

    /// The tamper-evident audit log: sign checkpoints, verify the whole log, keep a witness's
    /// copy, write and check proofs, export FHIR AuditEvents.
    #[command(subcommand)]
    Audit(audit_cmd::AuditCommand),

    /// Serve the deployed models: the partners' REST API under /v1 with its OpenAPI document at
    /// /openapi.json, FHIR RiskAssessments out, /health and /ready.
    ///
    /// Only versions the registry has deployed at a tenant's site answer, each from a bundle
    /// signed by a trusted owner key and unchanged since registration; the registry is re-read
    /// every --refresh-every seconds, so a suspension takes effect within it. Every call is an
    /// audit record before its answer leaves, with its receipt in the answer. Callers are the
    /// clients of the --tenants file, by API key (`longitude api-key` makes one).
    Serve(serve_cmd::ServeArgs),

    /// Score every patient of a MEDS dataset with every version deployed at a site, as the server
    /// would: predictions per shard in the meds-evaluation schema, one audit record per shard
    /// and version, resumable (a shard already scored is not scored again).
    ///
    /// Many machines share one run with --shard INDEX/COUNT, or --shard-count COUNT under a
    /// Kubernetes Indexed Job or a SLURM job array (deploy/ has examples); `merge-scores` then
    /// checks every shard was scored exactly once and writes the merged predictions.
    Score(score_cmd::ScoreArgs),

    /// Check that every shard of a `longitude score` run was scored exactly once — by the worker
    /// it was dealt to, unchanged since, with its audit record in the log — and write the merged
    /// predictions (OUT/merged/VERSION/TASK.parquet).
    MergeScores(score_cmd::MergeArgs),

    /// Watch a site's deployed versions in use: each month of its latest extract since the
    /// release's reference period (the training data's last year) checked for drift — new and
    /// vanished codes, code rates, lab value distributions, missingness, events per patient —
    /// and the latest batch risks against an earlier run's; alerts with the figure that tripped
    /// and the threshold; --suspend suspends an alerting version in the registry (audited).
    /// Exits 3 when anything alerts.
    Monitor(monitor_cmd::MonitorArgs),

    /// Print the REST API's OpenAPI 3.1 document (what `/openapi.json` serves), e.g. to generate
    /// a client without a running server.
    ApiDoc,

    /// Make a new API key for a tenant's client: prints the key (give it to the client once) and
    /// its SHA-256 (the tenants file holds only that).
    ApiKey,

    /// Benchmarks of the hot paths, printed as tables (and JSON with --json).
    #[command(subcommand)]
    Bench(benchmarks::BenchCommand),

    /// Run the longest pipeline that exists today, end to end, on synthetic data.
    ///
    /// Today: simulate a clinical population with ground truth (MEDS and FHIR), ingest and
    /// de-identify its FHIR export, validate and describe the resulting MEDS, build its
    /// random-access timeline store, tokenize it and pretrain the tiny model briefly; label the
    /// built-in tasks, fit the baselines, the foundation model's linear probe, fine-tuning and
    /// zero-shot risk, and the oracle, and write the validation report and model card
    /// (OUT/report/report.html); then ask what if statins were withheld from the patients on
    /// them, the model's futures beside the generator's truth (OUT/what-if/). The model registry
    /// and the server join as they are built.
    Demo {
        /// Where to write the demo's outputs (what an earlier demo wrote there is replaced).
        #[arg(long, default_value = "longitude-demo")]
        out: PathBuf,
        /// How many synthetic patients.
        #[arg(long, default_value_t = 5_000)]
        patients: usize,
        /// Pretraining steps of the tiny model.
        #[arg(long, default_value_t = 300)]
        pretrain_steps: u64,
        /// The de-identification key to ingest with (default: a new one, kept beside the outputs
        /// as `demo-deid.key`). With the same key the demo writes the same outputs.
        #[arg(long)]
        deid_key_file: Option<PathBuf>,
        #[command(flatten)]
        replace: claim::Replace,
    },
}

fn main() -> ExitCode {
    allocator::keep_freed_pages();
    let cli = Cli::parse();
    logging::init(cli.quiet, cli.log_format);
    let progress = progress::Progress::new(cli.quiet);
    let result = match cli.command {
        Command::Meds(cmd) => meds_cmd::run(cmd, &progress),
        Command::Synth(args) => synth_cmd::run(&args, &progress),
        Command::Ingest(args) => ingest_cmd::run(&args, &progress),
        Command::Tokenize(args) => tokenize_cmd::run(&args, &progress),
        Command::Pretrain(args) => pretrain_cmd::run(&args, &progress),
        Command::Label(args) => label_cmd::run(&args),
        Command::Evaluate(args) => evaluate_cmd::run(&args),
        Command::Adapt(args) => adapt_cmd::run(&args),
        Command::WhatIf(args) => what_if_cmd::run(&args),
        Command::Report(args) => report_cmd::run(&args),
        Command::Bundle(cmd) => bundle_cmd::run(cmd),
        Command::Audit(cmd) => audit_cmd::run(cmd),
        Command::Registry(cmd) => registry_cmd::run(cmd),
        Command::Serve(args) => serve_cmd::run(&args),
        Command::ApiKey => serve_cmd::new_api_key(),
        Command::Score(args) => score_cmd::run(&args, &progress),
        Command::MergeScores(args) => score_cmd::merge(&args),
        Command::Monitor(args) => monitor_cmd::run(&args),
        Command::ApiDoc => {
            println!("{}", server::routes::openapi_json());
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(cmd) => benchmarks::run(cmd),
        Command::Demo { out, patients, pretrain_steps, deid_key_file, replace } => {
            demo_cmd::run(&out, patients, pretrain_steps, deid_key_file.as_deref(), replace, &progress)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", render_error(&e));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes on one line, as `{:#}` would print them, but without repeating a
/// cause that the message before it already ends with (the library errors name their source in
/// their message, for callers that print only that).
fn render_error(e: &anyhow::Error) -> String {
    let mut line = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !line.ends_with(&cause) {
            line.push_str(": ");
            line.push_str(&cause);
        }
    }
    line
}
