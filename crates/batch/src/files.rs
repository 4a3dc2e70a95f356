//! The files a batch run writes, and what each says.
//!
//! ```text
//! OUT/scores.json                              the run: site, time, workers, versions, shards
//! OUT/shards/<shard>/receipt.json              one shard scored: its input's digest, the
//!                                              files written and their digests, the audit record
//! OUT/shards/<shard>/<version>/<task>.parquet  its predictions (meds-evaluation schema)
//! OUT/merged/<version>/<task>.parquet          every shard's predictions, after `merge`
//! OUT/merged/summary.json                      what the merge checked and wrote
//! ```
//!
//! `<shard>` is the MEDS shard's path in its dataset without `.parquet` (`data/train/0`).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::BatchError;
use crate::share::Share;

/// The run's file, relative to the output directory.
pub const RUN: &str = "scores.json";

/// A deployed version as the run scored it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionScored {
    /// The registry's id.
    pub id: String,
    /// The SHA-256 of its bundle's manifest, as registered.
    pub manifest_sha256: String,
    /// `active` or `shadow` at the site.
    pub mode: String,
    /// The method scored (the report's candidate).
    pub method: String,
    /// The tasks, sorted.
    pub tasks: Vec<String>,
}

/// What every worker of one run shares: written by the first, checked by every other, so that
/// workers started with other settings, or after the registry changed, refuse to mix their
/// predictions in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    /// The site whose deployments were scored.
    pub site: String,
    /// The latest time read, RFC 3339, when one was given (else each patient's latest event).
    pub at: Option<String>,
    /// Only patients with a clinical event after this time, RFC 3339, when given.
    pub active_since: Option<String>,
    /// How many workers share the shards.
    pub workers: u32,
    /// The versions scored.
    pub versions: Vec<VersionScored>,
    /// The dataset's shards, by path in the dataset, in the order they are dealt to workers.
    pub shards: Vec<String>,
}

impl outputs::artifact::Artifact for Run {
    const FORMAT: &'static str = "longitude-scores";
    const VERSION: u32 = 1;
}

/// One prediction file of a shard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoreFile {
    /// The task.
    pub task: String,
    /// The file, relative to the output directory.
    pub path: String,
    /// Its SHA-256, hex.
    pub sha256: String,
    /// Rows (patients scored).
    pub rows: u64,
}

/// One version's predictions for one shard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionReceipt {
    /// The version.
    pub id: String,
    /// Patients scored (each for every task).
    pub scored: u64,
    /// Patients not scored, by reason.
    pub unscored: BTreeMap<String, u64>,
    /// The files, one per task.
    pub files: Vec<ScoreFile>,
    /// The digest the audit record names: SHA-256 over each file's `task sha256` line.
    pub predictions_sha256: String,
    /// Where the audit record sits in the log.
    pub audit: audit::Receipt,
}

/// One shard scored: written last, after its predictions and its audit records, so that a
/// shard with a receipt is done and a shard without one is scored again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardReceipt {
    /// The shard, by path in the dataset.
    pub shard: String,
    /// The SHA-256 of the shard's file when it was scored.
    pub input_sha256: String,
    /// The worker that scored it.
    pub worker: Share,
    /// Patients read.
    pub patients: u64,
    /// Patients left out: no clinical event after `active_since`.
    pub inactive: u64,
    /// Per version.
    pub versions: Vec<VersionReceipt>,
}

impl outputs::artifact::Artifact for ShardReceipt {
    const FORMAT: &'static str = "longitude-shard-scores";
    const VERSION: u32 = 1;
}

/// The folder of a shard's outputs, relative to the output directory.
pub fn shard_dir(shard: &str) -> PathBuf {
    Path::new("shards").join(shard.strip_suffix(".parquet").unwrap_or(shard))
}

/// A shard's receipt, relative to the output directory.
pub fn receipt_path(shard: &str) -> PathBuf {
    shard_dir(shard).join("receipt.json")
}

/// The SHA-256 of a file, hex, read in blocks.
pub fn sha256_file(path: &Path) -> Result<String, BatchError> {
    let io = |source| BatchError::Io { path: path.to_path_buf(), source };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// The digest an audit record names for a version's files: SHA-256 over `task sha256\n` lines.
pub fn predictions_digest(files: &[ScoreFile]) -> String {
    let mut hasher = Sha256::new();
    for f in files {
        hasher.update(format!("{} {}\n", f.task, f.sha256).as_bytes());
    }
    hex(&hasher.finalize())
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `run` as the output directory's run file unless one is there; a run file already
/// there must say the same (another worker of the same run wrote it), else the run is refused.
pub fn claim_run(out: &Path, run: &Run) -> Result<(), BatchError> {
    std::fs::create_dir_all(out).map_err(|source| BatchError::Io { path: out.into(), source })?;
    let path = out.join(RUN);
    // Written whole beside it, then linked into place: linking fails if another worker's file
    // is already there, and a reader never sees a half-written one.
    let mine = out.join(format!(".{RUN}.{}", std::process::id()));
    outputs::artifact::write(&mine, run)?;
    let linked = std::fs::hard_link(&mine, &path);
    let _ = std::fs::remove_file(&mine);
    match linked {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let theirs: Run = outputs::artifact::read(&path)?;
            match differences(&theirs, run) {
                None => Ok(()),
                Some(what) => Err(BatchError::OtherRun { dir: out.into(), what }),
            }
        }
        Err(source) => Err(BatchError::Io { path, source }),
    }
}

fn differences(theirs: &Run, mine: &Run) -> Option<String> {
    let mut what = Vec::new();
    if theirs.site != mine.site {
        what.push(format!("the site ({} there, {} here)", theirs.site, mine.site));
    }
    if theirs.at != mine.at || theirs.active_since != mine.active_since {
        what.push("the scoring time (--at, --active-since)".to_string());
    }
    if theirs.workers != mine.workers {
        what.push(format!("the worker count ({} there, {} here)", theirs.workers, mine.workers));
    }
    if theirs.versions != mine.versions {
        let ids = |r: &Run| r.versions.iter().map(|v| v.id.as_str()).collect::<Vec<_>>().join(", ");
        what.push(format!("the deployed versions ({} there, {} here)", ids(theirs), ids(mine)));
    }
    if theirs.shards != mine.shards {
        what.push(format!("the dataset's shards ({} there, {} here)", theirs.shards.len(), mine.shards.len()));
    }
    (!what.is_empty()).then(|| what.join("; "))
}
