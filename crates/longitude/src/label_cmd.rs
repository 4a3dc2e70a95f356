//! `longitude label`: label a MEDS dataset with ACES tasks (a configuration file, or the built-in
//! suite), writing MEDS label files and a report that accounts for every trigger.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use tasks::Task;

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
pub fn tasks_of(args: &LabelArgs) -> Result<Vec<Task>> {
    let mut tasks = Vec::new();
    for path in &args.tasks {
        tasks.push(Task::load(path, args.predicates.as_deref())?);
    }
    if args.suite {
        for name in tasks::suite::names() {
            if args.only.is_empty() || args.only.iter().any(|o| o == name) {
                tasks.push(tasks::suite::task(name).context("built-in task")??);
            }
        }
        if let Some(unknown) = args.only.iter().find(|o| tasks::suite::task(o).is_none()) {
            let names: Vec<&str> = tasks::suite::names().collect();
            bail!("--only names `{unknown}`, which is not in the suite ({})", names.join(", "));
        }
    }
    if tasks.is_empty() {
        bail!("no task: give --task FILE (repeatable) or --suite");
    }
    // Each task writes OUT/<name>.parquet: two of one name would overwrite each other.
    let mut seen = std::collections::BTreeSet::new();
    for t in &tasks {
        if !seen.insert(t.name()) {
            bail!("two tasks are named `{}` (a task is named after its file); rename one", t.name());
        }
    }
    Ok(tasks)
}

pub fn run(args: &LabelArgs) -> Result<ExitCode> {
    let tasks = tasks_of(args)?;
    let inputs: Vec<Option<&std::path::Path>> = std::iter::once(Some(args.meds.as_path()))
        .chain(args.tasks.iter().map(|t| Some(t.as_path())))
        .chain([args.predicates.as_deref()])
        .collect();
    crate::steps::label(&tasks, &args.meds, &args.out, &inputs, args.replace)?;
    Ok(ExitCode::SUCCESS)
}
