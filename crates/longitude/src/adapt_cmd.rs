//! `longitude adapt`: fit the baselines (and, as they join, the foundation model's adaptations)
//! for every labelled task, writing held-out predictions in the meds-evaluation schema.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::json;

#[derive(Debug, Args)]
pub struct AdaptArgs {
    /// The MEDS dataset the labels are about.
    #[arg(long)]
    pub meds: PathBuf,
    /// A directory of label files (`longitude label`'s output): one <task>.parquet per task.
    #[arg(long)]
    pub labels: PathBuf,
    /// Only these tasks (comma-separated) [default: every label file].
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// A code needs to occur in this many training subjects to become features.
    #[arg(long, default_value_t = 20)]
    pub min_subjects: usize,
    /// Seed (gradient boosting's column sampling).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output directory: <task>/<method>.parquet and adapt_report.json.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: &AdaptArgs) -> Result<ExitCode> {
    let mut tasks: Vec<(String, PathBuf)> = std::fs::read_dir(&args.labels)
        .with_context(|| format!("reading {}", args.labels.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .filter_map(|p| Some((p.file_stem()?.to_str()?.to_string(), p.clone())))
        .filter(|(n, _)| args.only.is_empty() || args.only.contains(n))
        .collect();
    tasks.sort();
    if tasks.is_empty() {
        bail!("no label files (<task>.parquet) in {}", args.labels.display());
    }
    let started = Instant::now();
    let (codes, by_split) = crate::tokenize_cmd::read_by_split(&args.meds)?;
    let mut splits: HashMap<i64, String> = HashMap::new();
    let mut timelines = Vec::new();
    for (split, ts) in by_split {
        for t in ts {
            splits.insert(t.subject_id, split.clone());
            timelines.push(t);
        }
    }
    tracing::info!(subjects = timelines.len(), secs = started.elapsed().as_secs_f64(), "read the dataset");
    std::fs::create_dir_all(&args.out)?;
    let mut report = BTreeMap::new();
    outln!(
        "{:<24} {:>8} {:>8} {:>8} {:>9}  {:<16} {:>8} {:>8}",
        "task",
        "train",
        "tuning",
        "held_out",
        "features",
        "method",
        "tune AUC",
        "secs"
    );
    for (task, path) in &tasks {
        let labels = meds::labels::read_boolean_labels(path)?;
        let (featurizer, examples) =
            adapt::baselines::featurize(&timelines, &codes, &splits, &labels, args.min_subjects);
        let dropped = labels.len() - examples.len();
        let run = adapt::baselines::fit_baselines(&featurizer, &examples, args.seed)?;
        let dir = args.out.join(task);
        std::fs::create_dir_all(&dir)?;
        for m in &run.methods {
            meds::labels::write_boolean_predictions(&dir.join(format!("{}.parquet", m.method)), &m.predictions)?;
            outln!(
                "{:<24} {:>8} {:>8} {:>8} {:>9}  {:<16} {:>8} {:>8.1}",
                task,
                run.examples.get("train").copied().unwrap_or(0),
                run.examples.get("tuning").copied().unwrap_or(0),
                run.examples.get("held_out").copied().unwrap_or(0),
                run.features,
                m.method,
                m.tuning_auroc.map_or("—".into(), |a| format!("{a:.3}")),
                m.seconds
            );
        }
        report.insert(task.clone(), json!({ "run": run, "labels_without_subject_or_split": dropped }));
    }
    let partial = args.out.join(".adapt_report.json.partial");
    std::fs::write(&partial, serde_json::to_string_pretty(&report)?)?;
    std::fs::rename(&partial, args.out.join("adapt_report.json"))?;
    outln!("predictions and adapt_report.json in {} ({:.1} s)", args.out.display(), started.elapsed().as_secs_f64());
    Ok(ExitCode::SUCCESS)
}
