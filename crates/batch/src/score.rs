//! Scoring this worker's shards.
//!
//! Each shard is read whole (a MEDS shard holds every event of its subjects), every patient is
//! scored by every deployed version through [`inference::Predictor::score_many`] — the server's
//! own models, loaded and verified by [`LoadedVersion::load`] — at their latest clinical event
//! at or before the run's time, and each version's predictions are written per task. One audit
//! record per shard and version names the shard's digest and the predictions' digest; the
//! shard's receipt is written last. A shard whose receipt still holds (same input, same
//! versions, files as written) is not scored again: a worker stopped half-way resumes where it
//! stopped, and a second run is a no-op.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use inference::deployed::LoadedVersion;
use meds::labels::Score;
use rayon::prelude::*;
use registry::Registry;
use signing::VerifierKey;

use crate::files::{self, Run, ScoreFile, ShardReceipt, VersionReceipt, VersionScored};
use crate::share::Share;
use crate::{BatchError, format_time};

/// Patients scored in one call: large enough to batch the foundation model's reads, small
/// enough to spread a shard over every core.
const CHUNK: usize = 256;

/// What to score, where to write it, and who is scoring.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The MEDS dataset (de-identified, as ingested).
    pub data: PathBuf,
    /// The output directory, shared by every worker of the run.
    pub out: PathBuf,
    /// The site whose deployed versions score.
    pub site: String,
    /// Read nothing after this time (microseconds, the dataset's time frame); `None` scores
    /// each patient as of their latest clinical event.
    pub at: Option<i64>,
    /// Score only patients with a clinical event after this time.
    pub active_since: Option<i64>,
    /// This worker's share of the shards.
    pub share: Share,
    /// Who the audit records name: the tenant (organisation) and client (the job).
    pub tenant: String,
    /// The client the audit records name.
    pub client: String,
}

/// Where a worker is: shards done (scored or found done) of those it owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Shards done.
    pub done: usize,
    /// Shards this worker owns.
    pub of: usize,
}

/// What a worker did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scored {
    /// This worker.
    pub share: Option<Share>,
    /// Shards scored now.
    pub shards: usize,
    /// Shards found already scored (their receipts hold).
    pub already: usize,
    /// Patients read in the shards scored now.
    pub patients: u64,
    /// Patients scored, summed over versions.
    pub scored: u64,
    /// Patients not scored, by reason, summed over versions.
    pub unscored: BTreeMap<String, u64>,
    /// Patients left out as inactive.
    pub inactive: u64,
    /// The versions that scored.
    pub versions: Vec<String>,
}

impl std::fmt::Display for Scored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let share = self.share.map_or_else(String::new, |s| format!(" (worker {s})"));
        writeln!(
            f,
            "scored {} shard(s){share}, {} already scored; versions: {}",
            self.shards,
            self.already,
            self.versions.join(", ")
        )?;
        write!(
            f,
            "  {} patients read, {} scored (over versions), {} inactive",
            self.patients, self.scored, self.inactive
        )?;
        for (reason, n) in &self.unscored {
            write!(f, "\n  {n} not scored: {reason}")?;
        }
        Ok(())
    }
}

/// The versions deployed at `site`, active first, each verified and loaded.
pub async fn deployed_at(
    registry: &Registry,
    site: &str,
    trusted: &[VerifierKey],
) -> Result<Vec<LoadedVersion>, BatchError> {
    let mut deployments = registry.deployments(Some(site)).await?;
    deployments.sort_by_key(|d| (d.mode != "active", d.version_id.clone()));
    if deployments.is_empty() {
        return Err(BatchError::NothingDeployed(site.to_string()));
    }
    let mut out = Vec::new();
    for d in deployments {
        let version = registry.version(&d.version_id).await?;
        let loaded = LoadedVersion::load(&version, &d.mode, trusted)
            .map_err(|e| BatchError::Load { version: d.version_id.clone(), source: Box::new(e) })?;
        out.push(loaded);
    }
    Ok(out)
}

/// What a run scores with: the versions as the run file records them.
pub fn versions_scored(versions: &[LoadedVersion]) -> Vec<VersionScored> {
    versions
        .iter()
        .map(|v| VersionScored {
            id: v.version.id.clone(),
            manifest_sha256: v.version.manifest_sha256.clone(),
            mode: v.mode.clone(),
            method: v.method.clone(),
            tasks: v.tasks.iter().map(|t| t.task.clone()).collect(),
        })
        .collect()
}

/// Scores this worker's shards of `plan.data` with `versions`, appending to `log`. See the
/// module documentation. Blocks the calling thread while it scores (run it on the thread that
/// drives the runtime, or in a blocking task).
pub async fn score(
    plan: &Plan,
    versions: &[LoadedVersion],
    log: &audit::AuditLog,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Scored, BatchError> {
    let dataset = meds::Dataset::open(&plan.data)?;
    let shards: Vec<&meds::Shard> = dataset.shards().iter().collect();
    let names: Vec<String> = shards.iter().map(|s| shard_name(s)).collect();
    let run = Run {
        site: plan.site.clone(),
        at: plan.at.map(format_time),
        active_since: plan.active_since.map(format_time),
        workers: plan.share.count,
        versions: versions_scored(versions),
        shards: names.clone(),
    };
    files::claim_run(&plan.out, &run)?;
    let mine: Vec<usize> = (0..shards.len()).filter(|&p| plan.share.owns(p)).collect();
    let mut summary = Scored {
        share: Some(plan.share),
        versions: run.versions.iter().map(|v| v.id.clone()).collect(),
        ..Default::default()
    };
    progress(Progress { done: 0, of: mine.len() });
    for (done, &position) in mine.iter().enumerate() {
        let shard = shards[position];
        let name = &names[position];
        let input_sha256 = files::sha256_file(&shard.path)?;
        let receipt_path = plan.out.join(files::receipt_path(name));
        if receipt_holds(plan, &run, name, &input_sha256) {
            summary.already += 1;
        } else {
            // A receipt that no longer holds is removed first: a stop while rescoring leaves none.
            if receipt_path.exists() {
                std::fs::remove_file(&receipt_path)
                    .map_err(|source| BatchError::Io { path: receipt_path.clone(), source })?;
            }
            let receipt = score_shard(plan, versions, log, shard, name, input_sha256).await?;
            summary.shards += 1;
            summary.patients += receipt.patients;
            summary.inactive += receipt.inactive;
            for v in &receipt.versions {
                summary.scored += v.scored;
                for (reason, n) in &v.unscored {
                    *summary.unscored.entry(reason.clone()).or_default() += n;
                }
            }
            outputs::artifact::write(&receipt_path, &receipt)?;
        }
        progress(Progress { done: done + 1, of: mine.len() });
    }
    Ok(summary)
}

/// The shard's name in a run: its path in the dataset, with `/` separators.
pub fn shard_name(shard: &meds::Shard) -> String {
    shard.relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

/// Whether the shard's receipt says it is done for this run: the same input, every version of
/// the run, and every file as written.
fn receipt_holds(plan: &Plan, run: &Run, name: &str, input_sha256: &str) -> bool {
    let Ok(receipt) = outputs::artifact::read::<ShardReceipt>(&plan.out.join(files::receipt_path(name))) else {
        return false;
    };
    receipt.input_sha256 == input_sha256
        && receipt.versions.iter().map(|v| &v.id).eq(run.versions.iter().map(|v| &v.id))
        && receipt
            .versions
            .iter()
            .flat_map(|v| &v.files)
            .all(|f| files::sha256_file(&plan.out.join(&f.path)).is_ok_and(|sha| sha == f.sha256))
}

async fn score_shard(
    plan: &Plan,
    versions: &[LoadedVersion],
    log: &audit::AuditLog,
    shard: &meds::Shard,
    name: &str,
    input_sha256: String,
) -> Result<ShardReceipt, BatchError> {
    let codes = Mutex::new(meds::CodeTable::new());
    let mut timelines = Vec::new();
    meds::reader::read_shard(&shard.path, &codes, |t| {
        timelines.push(t);
        Ok(())
    })?;
    let codes = codes.into_inner().unwrap_or_else(|p| p.into_inner());
    let patients = timelines.len() as u64;
    let active: Vec<&meds::Timeline> = timelines
        .iter()
        .filter(|t| match plan.active_since {
            Some(since) => inference::scoring_time(t, &codes, plan.at).is_some_and(|last| last > since),
            None => true,
        })
        .collect();
    let inactive = patients - active.len() as u64;
    let mut receipts = Vec::with_capacity(versions.len());
    for version in versions {
        let started = Instant::now();
        let chunks: Vec<inference::Predictions> = active
            .par_chunks(CHUNK)
            .map(|chunk| version.predictor.score_many(chunk, &codes, plan.at, &[]))
            .collect::<Result<_, _>>()?;
        let mut by_task: BTreeMap<&str, Vec<Score>> =
            version.tasks.iter().map(|t| (t.task.as_str(), Vec::new())).collect();
        let mut unscored: BTreeMap<String, u64> = BTreeMap::new();
        for chunk in &chunks {
            for u in &chunk.unscored {
                *unscored.entry(u.reason.to_string()).or_default() += 1;
            }
            for r in &chunk.risks {
                let flags = version.task(&r.task).and_then(|t| t.flags(r.probability));
                by_task.entry(r.task.as_str()).or_default().push(Score {
                    subject_id: r.subject_id,
                    prediction_time: r.as_of,
                    predicted_value: flags,
                    probability: r.probability as f32,
                });
            }
        }
        let scored = active.len() as u64 - unscored.values().sum::<u64>();
        let mut score_files = Vec::with_capacity(by_task.len());
        for (task, scores) in &by_task {
            let relative = files::shard_dir(name).join(&version.version.id).join(format!("{task}.parquet"));
            let path = plan.out.join(&relative);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|source| BatchError::Io { path: parent.into(), source })?;
            }
            meds::labels::write_scores(&path, scores)?;
            score_files.push(ScoreFile {
                task: task.to_string(),
                path: relative.to_string_lossy().replace('\\', "/"),
                sha256: files::sha256_file(&path)?,
                rows: scores.len() as u64,
            });
        }
        let predictions_sha256 = files::predictions_digest(&score_files);
        let mut entry = audit::Entry::new(&plan.tenant, &plan.client, audit::Action::Prediction);
        entry.model_version = Some(version.version.id.clone());
        entry.input_sha256 = Some(input_sha256.clone());
        entry.output = Some(format!(
            "batch scores of {name}: {patients} patients, {scored} scored for {} task(s); predictions sha256 {predictions_sha256}",
            score_files.len()
        ));
        entry.latency_us = Some(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX));
        let audit = log.append(&entry).await?;
        receipts.push(VersionReceipt {
            id: version.version.id.clone(),
            scored,
            unscored,
            files: score_files,
            predictions_sha256,
            audit,
        });
    }
    Ok(ShardReceipt {
        shard: name.to_string(),
        input_sha256,
        worker: plan.share,
        patients,
        inactive,
        versions: receipts,
    })
}
