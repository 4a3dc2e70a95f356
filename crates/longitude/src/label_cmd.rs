//! `longitude label`: label a MEDS dataset with ACES tasks (a configuration file, or the built-in
//! suite), writing MEDS label files and a report that accounts for every trigger.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

#[derive(Debug, Args)]
pub struct LabelArgs {
    /// The MEDS dataset root.
    #[arg(long)]
    pub meds: PathBuf,
    /// An ACES task configuration (YAML). Repeatable.
    #[arg(long = "task")]
    pub tasks: Vec<PathBuf>,
    /// A predicates file overriding the tasks' `predicates` and `patient_demographics` (as
    /// MEDS-DEV's per-dataset `predicates.yaml`).
    #[arg(long)]
    pub predicates: Option<PathBuf>,
    /// Label with the built-in suite (every task, or those named with --only).
    #[arg(long)]
    pub suite: bool,
    /// With --suite: only these tasks (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Output directory: <task>.parquet per task (MEDS label schema) and label_report.json.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub replace: crate::claim::Replace,
}

/// Loads the tasks the arguments name.
pub fn run(args: &LabelArgs) -> Result<ExitCode> {
    let tasks = tasks::suite::select(&args.tasks, args.predicates.as_deref(), args.suite, &args.only)?;
    let inputs: Vec<&std::path::Path> =
        [&args.meds].into_iter().chain(&args.tasks).chain(&args.predicates).map(|p| p.as_path()).collect();
    crate::steps::label(&tasks, &args.meds, &args.out, &inputs, args.replace)?;
    Ok(ExitCode::SUCCESS)
}
