//! Putting the workers' predictions together, once every shard is shown scored exactly once.
//!
//! Before anything is written, every shard of the dataset must have one receipt, written by
//! the worker the run deals it to, for the shard as it is now (same digest), for every version
//! of the run, with each prediction file as written, and with its audit record in the log
//! (same leaf, naming the version, the shard's digest and the predictions' digest). No subject
//! may appear in two shards. Every problem found is listed; with none, each version's
//! predictions per task are written sorted by subject and time — the same bytes whether one
//! worker scored the dataset or many.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use meds::labels::Score;
use serde::{Deserialize, Serialize};

use crate::BatchError;
use crate::files::{self, Run, ShardReceipt};
use crate::score::shard_name;
use crate::share::Share;

/// One merged prediction file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergedFile {
    /// The version.
    pub version: String,
    /// The task.
    pub task: String,
    /// The file, relative to the output directory.
    pub path: String,
    /// Its SHA-256.
    pub sha256: String,
    /// Rows.
    pub rows: u64,
}

/// What a merge checked and wrote (`merged/summary.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Merged {
    /// The site.
    pub site: String,
    /// Shards checked: each scored exactly once.
    pub shards: usize,
    /// Workers that scored them.
    pub workers: u32,
    /// Audit records checked.
    pub audit_records: usize,
    /// Patients read.
    pub patients: u64,
    /// Patients left out as inactive.
    pub inactive: u64,
    /// Patients not scored, by reason, summed over versions.
    pub unscored: BTreeMap<String, u64>,
    /// The merged files.
    pub files: Vec<MergedFile>,
}

impl outputs::artifact::Artifact for Merged {
    const FORMAT: &'static str = "longitude-merged-scores";
    const VERSION: u32 = 1;
}

impl std::fmt::Display for Merged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "merged {} shard(s) scored by {} worker(s), each exactly once; {} audit records checked",
            self.shards, self.workers, self.audit_records
        )?;
        write!(f, "  {} patients read, {} inactive", self.patients, self.inactive)?;
        for (reason, n) in &self.unscored {
            write!(f, "\n  {n} not scored: {reason}")?;
        }
        for file in &self.files {
            write!(f, "\n  {} {}: {} predictions → {}", file.version, file.task, file.rows, file.path)?;
        }
        Ok(())
    }
}

/// Checks the run in `out` against the dataset in `data` and the audit log, then merges. See
/// the module documentation.
pub async fn merge(out: &Path, data: &Path, log: &audit::AuditLog) -> Result<Merged, BatchError> {
    let run: Run = outputs::artifact::read(&out.join(files::RUN))?;
    let dataset = meds::Dataset::open(data)?;
    let mut problems: Vec<String> = Vec::new();
    let now: Vec<String> = dataset.shards().iter().map(shard_name).collect();
    if now != run.shards {
        problems.push(format!(
            "the dataset's shards are not those the run dealt ({} now, {} then): score it again into a new directory",
            now.len(),
            run.shards.len()
        ));
    }
    let mut receipts: Vec<ShardReceipt> = Vec::with_capacity(run.shards.len());
    let mut audit_records = 0;
    for (position, (name, shard)) in run.shards.iter().zip(dataset.shards()).enumerate() {
        let path = out.join(files::receipt_path(name));
        if !path.exists() {
            let worker = Share { index: (position % run.workers as usize) as u32, count: run.workers };
            problems.push(format!("{name} was not scored (it is worker {worker}'s)"));
            continue;
        }
        let receipt: ShardReceipt = match outputs::artifact::read(&path) {
            Ok(r) => r,
            Err(e) => {
                problems.push(format!("{name}: {e}"));
                continue;
            }
        };
        let before = problems.len();
        check_receipt(out, &run, position, name, &shard.path, &receipt, &mut problems)?;
        for v in &receipt.versions {
            match check_audit(log, &receipt, v).await? {
                Some(problem) => problems.push(format!("{name}: {problem}")),
                None => audit_records += 1,
            }
        }
        if problems.len() == before {
            receipts.push(receipt);
        }
    }
    problems.extend(stray_receipts(out, &run)?);
    if !problems.is_empty() {
        return Err(BatchError::Unmerged { dir: out.into(), problems });
    }

    let mut merged = Merged {
        site: run.site.clone(),
        shards: receipts.len(),
        workers: run.workers,
        audit_records,
        patients: receipts.iter().map(|r| r.patients).sum(),
        inactive: receipts.iter().map(|r| r.inactive).sum(),
        unscored: BTreeMap::new(),
        files: Vec::new(),
    };
    for version in &run.versions {
        for task in &version.tasks {
            let mut scores: Vec<Score> = Vec::new();
            let mut seen: HashSet<i64> = HashSet::new();
            for receipt in &receipts {
                let Some(v) = receipt.versions.iter().find(|v| v.id == version.id) else { continue };
                let Some(file) = v.files.iter().find(|f| &f.task == task) else {
                    problems.push(format!("{}: no {task} predictions of {}", receipt.shard, version.id));
                    continue;
                };
                let these = meds::labels::read_scores(&out.join(&file.path))?;
                let subjects: HashSet<i64> = these.iter().map(|s| s.subject_id).collect();
                if let Some(twice) = subjects.iter().find(|s| seen.contains(s)) {
                    problems
                        .push(format!("subject {twice} is in more than one shard (seen again in {})", receipt.shard));
                }
                seen.extend(subjects);
                scores.extend(these);
            }
            scores.sort_by_key(|s| (s.subject_id, s.prediction_time));
            let relative = PathBuf::from("merged").join(&version.id).join(format!("{task}.parquet"));
            let path = out.join(&relative);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|source| BatchError::Io { path: parent.into(), source })?;
            }
            if problems.is_empty() {
                meds::labels::write_scores(&path, &scores)?;
                merged.files.push(MergedFile {
                    version: version.id.clone(),
                    task: task.clone(),
                    path: relative.to_string_lossy().replace('\\', "/"),
                    sha256: files::sha256_file(&path)?,
                    rows: scores.len() as u64,
                });
            }
        }
    }
    if !problems.is_empty() {
        return Err(BatchError::Unmerged { dir: out.into(), problems });
    }
    for receipt in &receipts {
        for v in &receipt.versions {
            for (reason, n) in &v.unscored {
                *merged.unscored.entry(reason.clone()).or_default() += n;
            }
        }
    }
    outputs::artifact::write(&out.join("merged/summary.json"), &merged)?;
    Ok(merged)
}

fn check_receipt(
    out: &Path,
    run: &Run,
    position: usize,
    name: &str,
    input: &Path,
    receipt: &ShardReceipt,
    problems: &mut Vec<String>,
) -> Result<(), BatchError> {
    let dealt = Share { index: (position % run.workers as usize) as u32, count: run.workers };
    if receipt.shard != name {
        problems.push(format!("{name}: its receipt names {}", receipt.shard));
    }
    if receipt.worker != dealt {
        problems.push(format!("{name}: scored by worker {}, but the run deals it to worker {dealt}", receipt.worker));
    }
    if files::sha256_file(input)? != receipt.input_sha256 {
        problems.push(format!("{name}: the shard has changed since it was scored"));
    }
    if !receipt.versions.iter().map(|v| &v.id).eq(run.versions.iter().map(|v| &v.id)) {
        problems.push(format!("{name}: not scored by the run's versions"));
    }
    for v in &receipt.versions {
        if files::predictions_digest(&v.files) != v.predictions_sha256 {
            problems.push(format!("{name}: the digest of {}'s predictions does not match its files", v.id));
        }
        for f in &v.files {
            match files::sha256_file(&out.join(&f.path)) {
                Ok(sha) if sha == f.sha256 => {}
                Ok(_) => problems.push(format!("{}: changed since it was written", f.path)),
                Err(_) => problems.push(format!("{}: missing", f.path)),
            }
        }
    }
    Ok(())
}

/// The problem with a version's audit record, if any.
async fn check_audit(
    log: &audit::AuditLog,
    receipt: &ShardReceipt,
    v: &files::VersionReceipt,
) -> Result<Option<String>, BatchError> {
    let Some(record) = log.record(v.audit.index).await? else {
        return Ok(Some(format!("the audit log has no record {} for {}", v.audit.index, v.id)));
    };
    if audit::log::hex(&record.leaf) != v.audit.leaf {
        return Ok(Some(format!("audit record {} is not the one written for {}", v.audit.index, v.id)));
    }
    let entry: audit::Entry = match serde_json::from_slice(&record.bytes) {
        Ok(e) => e,
        Err(_) => return Ok(Some(format!("audit record {} is not an audit entry", v.audit.index))),
    };
    let names_it = entry.action == audit::Action::Prediction
        && entry.model_version.as_deref() == Some(v.id.as_str())
        && entry.input_sha256.as_deref() == Some(receipt.input_sha256.as_str())
        && entry
            .output
            .as_deref()
            .is_some_and(|o| o.ends_with(&format!("predictions sha256 {}", v.predictions_sha256)));
    Ok((!names_it)
        .then(|| format!("audit record {} does not name {}'s predictions of this shard", v.audit.index, v.id)))
}

/// Receipts under `shards/` for shards the run did not deal.
fn stray_receipts(out: &Path, run: &Run) -> Result<Vec<String>, BatchError> {
    let dealt: HashSet<PathBuf> = run.shards.iter().map(|s| out.join(files::receipt_path(s))).collect();
    let mut found = Vec::new();
    let mut stack = vec![out.join("shards")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries {
            let entry = entry.map_err(|source| BatchError::Io { path: dir.clone(), source })?;
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n == "receipt.json") && !dealt.contains(&path) {
                found.push(format!("{}: a receipt for a shard the run did not deal", path.display()));
            }
        }
    }
    found.sort();
    Ok(found)
}
