//! `longitude label`: label a MEDS dataset with ACES tasks (a configuration file, or the built-in
//! suite), writing MEDS label files and a report that accounts for every trigger.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use tasks::{LabelReport, Task};

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
    let dataset = meds::Dataset::open(&args.meds)?;
    let inputs: Vec<Option<&std::path::Path>> = std::iter::once(Some(args.meds.as_path()))
        .chain(args.tasks.iter().map(|t| Some(t.as_path())))
        .chain([args.predicates.as_deref()])
        .collect();
    let out = crate::claim::claim(&args.out, "label", &inputs, args.replace)?;
    let mut reports: Vec<LabelReport> = Vec::new();
    outln!(
        "{:<26} {:>9} {:>9} {:>8} {:>10} {:>10} {:>7}",
        "task",
        "triggers",
        "labels",
        "pos %",
        "excluded",
        "unresolved",
        "secs"
    );
    for task in &tasks {
        let started = Instant::now();
        let (labels, report) = task.label(&dataset).with_context(|| format!("labelling {}", task.name()))?;
        let path = args.out.join(format!("{}.parquet", task.name()));
        meds::labels::write_boolean_labels(&path, &labels)?;
        outln!(
            "{:<26} {:>9} {:>9} {:>7.2}% {:>10} {:>10} {:>7.2}",
            task.name(),
            report.triggers,
            report.labels,
            100.0 * report.prevalence(),
            report.excluded.values().sum::<u64>(),
            report.unresolved.values().sum::<u64>(),
            started.elapsed().as_secs_f64()
        );
        if !report.unmatched_predicates.is_empty() {
            tracing::warn!(
                task = task.name(),
                predicates = %report.unmatched_predicates.join(", "),
                "predicates match no code in the dataset (a typo, or another vocabulary?): their windows never see an event"
            );
        }
        reports.push(report);
    }
    outputs::atomic::write_json(&args.out.join("label_report.json"), &reports)?;
    out.finish()?;
    outln!("labels and label_report.json in {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}
