//! `longitude meds …`: validate, describe, index and show MEDS datasets.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use meds::describe::format_time;
use meds::{Dataset, Severity, TimelineStore};

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
            let path = store.unwrap_or_else(|| store_path(&dir));
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
        outln!(
            "{}: {} shard(s), {} subjects, {} events, {} codes",
            dir.display(),
            report.shards,
            report.subjects,
            report.events,
            report.codes
        );
        for f in &report.findings {
            let level = match f.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            match &f.file {
                Some(file) => outln!("  {level}: {}: {}", file.display(), f.message),
                None => outln!("  {level}: {}", f.message),
            }
        }
        let (errors, warnings) = (report.errors().count(), report.warnings().count());
        if report.is_valid() {
            outln!("valid MEDS {} ({warnings} warning(s))", meds::schema::MEDS_VERSION);
        } else {
            outln!("NOT valid MEDS: {errors} error(s), {warnings} warning(s)");
        }
    }
    Ok(if report.is_valid() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Where the timeline store of `dir` lives: beside the dataset when that directory is writable,
/// otherwise (a read-only dataset, shared storage) in the user's cache, keyed by the dataset path.
fn store_path(dir: &Path) -> PathBuf {
    let beside = TimelineStore::default_path(dir);
    let writable =
        beside.parent().is_some_and(|p| std::fs::create_dir_all(p).is_ok() && tempfile::tempfile_in(p).is_ok());
    if writable {
        return beside;
    }
    let absolute = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let key = absolute
        .to_string_lossy()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    cache.join("longitude").join("stores").join(format!("{key:016x}.lts"))
}

fn show(dir: &Path, subject_id: i64, store: Option<PathBuf>, json: bool) -> Result<ExitCode> {
    let dataset = Dataset::open(dir)?;
    let path = store.unwrap_or_else(|| store_path(dir));
    let store = TimelineStore::open_or_build(&dataset, &path)?;
    let Some(timeline) = store.get(subject_id)? else {
        eprintln!("subject {subject_id} is not in {}", dir.display());
        return Ok(ExitCode::from(1));
    };
    let codes = store.codes();
    for e in timeline.events() {
        let time = e.time.map(format_time);
        if json {
            let line = serde_json::json!({
                "subject_id": subject_id,
                "time": time,
                "code": codes.name(e.code),
                "numeric_value": e.numeric_value,
                "text_value": e.text_value,
            });
            outln!("{line}");
        } else {
            let value = e.numeric_value.map(|v| format!(" = {v}")).unwrap_or_default();
            let text = e.text_value.map(|t| format!(" \"{t}\"")).unwrap_or_default();
            outln!("{:<19}  {}{value}{text}", time.as_deref().unwrap_or("(static)"), codes.name(e.code));
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_goes_beside_a_writable_dataset_and_to_the_cache_otherwise() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(store_path(dir.path()), TimelineStore::default_path(dir.path()));
        // A directory that cannot hold the store (here: a path through a regular file, which
        // fails even for root, unlike permission bits).
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, b"x").expect("write");
        let fallback = store_path(&file.join("dataset"));
        assert!(fallback.to_string_lossy().contains("longitude/stores/"), "{}", fallback.display());
        assert_eq!(fallback, store_path(&file.join("dataset")), "stable for the same dataset");
    }
}
