//! `longitude meds …`: validate, describe, index and show MEDS datasets.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use meds::{Dataset, TimelineStore};

use crate::progress::Progress;

#[derive(Debug, Subcommand)]
pub enum MedsCommand {
    /// Check a dataset against the MEDS 0.4.1 standard: shard schemas and invariants (sorted,
    /// contiguous, one shard per subject), dataset.json, codes.parquet and subject_splits.parquet.
    /// Exits 1 if the dataset is not valid MEDS.
    Validate {
        /// The dataset root (the directory holding data/ and metadata/).
        dir: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Summarise a dataset: subjects, events, codes, time range, events per subject, top codes per
    /// vocabulary and splits.
    Describe {
        /// The dataset root.
        dir: PathBuf,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
        /// How many top codes to list per vocabulary.
        #[arg(long, default_value_t = 5)]
        top: usize,
    },
    /// Build (or rebuild) the random-access timeline store beside a dataset.
    Index {
        /// The dataset root.
        dir: PathBuf,
        /// Where to write the store [default: DIR/.longitude-index/timelines.lts, or the user's
        /// cache if DIR is read-only].
        #[arg(long)]
        store: Option<PathBuf>,
    },
    /// Print one subject's timeline (building the timeline store if needed).
    Show {
        /// The dataset root.
        dir: PathBuf,
        /// The subject's MEDS subject_id.
        subject_id: i64,
        /// Where the store lives [default: DIR/.longitude-index/timelines.lts, or the user's cache
        /// if DIR is read-only].
        #[arg(long)]
        store: Option<PathBuf>,
        /// Print the timeline as JSON lines (one event per line).
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: MedsCommand, progress: &Progress) -> Result<ExitCode> {
    match cmd {
        MedsCommand::Validate { dir, json } => validate(&dir, json, progress),
        MedsCommand::Describe { dir, json, top } => {
            let spinner = progress.bar("describing", None, "");
            let d = meds::describe(&dir, top).with_context(|| format!("cannot describe {}", dir.display()))?;
            spinner.finish_and_clear();
            if json {
                outln!("{}", serde_json::to_string_pretty(&d)?);
            } else {
                out!("{}", d.render(&dir));
            }
            Ok(ExitCode::SUCCESS)
        }
        MedsCommand::Index { dir, store } => {
            let dataset = Dataset::open(&dir)?;
            let path = store.unwrap_or_else(|| TimelineStore::path_for(&dir));
            let spinner = progress.bar("indexing", None, "");
            let started = std::time::Instant::now();
            let summary = TimelineStore::build(&dataset, &path)?;
            spinner.finish_and_clear();
            outln!(
                "indexed {} subjects, {} events into {} ({:.1} MB) in {:.2}s",
                summary.subjects,
                summary.events,
                path.display(),
                summary.bytes as f64 / 1e6,
                started.elapsed().as_secs_f64()
            );
            Ok(ExitCode::SUCCESS)
        }
        MedsCommand::Show { dir, subject_id, store, json } => show(&dir, subject_id, store, json),
    }
}

fn validate(dir: &Path, json: bool, progress: &Progress) -> Result<ExitCode> {
    let spinner = progress.bar("validating", None, "");
    let report = meds::validate(dir);
    spinner.finish_and_clear();
    if json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        outln!("{report}");
    }
    Ok(if report.is_valid() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn show(dir: &Path, subject_id: i64, store: Option<PathBuf>, json: bool) -> Result<ExitCode> {
    let dataset = Dataset::open(dir)?;
    let path = store.unwrap_or_else(|| TimelineStore::path_for(dir));
    let store = TimelineStore::open_or_build(&dataset, &path)?;
    let Some(timeline) = store.get(subject_id)? else {
        eprintln!("subject {subject_id} is not in {}", dir.display());
        return Ok(ExitCode::from(1));
    };
    for event in timeline.events() {
        outln!("{}", meds::describe::event_line(store.codes(), subject_id, &event, json));
    }
    Ok(ExitCode::SUCCESS)
}
