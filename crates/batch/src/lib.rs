//! # batch — scoring a population at a time
//!
//! The nightly run beside the bedside call: every patient of a de-identified MEDS dataset (or
//! those with activity since a date) scored by every version the registry has deployed at a
//! site, through the very models and code the server answers with
//! ([`inference::deployed::LoadedVersion`], [`inference::Predictor::score_many`]), written in the
//! `meds-evaluation` prediction schema, without an outcome column until outcomes are known.
//!
//! Work is split by MEDS shard ([`share`]): many machines, each started by an existing
//! scheduler (a Kubernetes Indexed Job, a SLURM job array), score one population into one
//! output directory, each shard audited as one record per version ([`score`]) and resumable;
//! [`merge`] then checks that every shard was scored exactly once before it writes the merged
//! predictions. [`files`] lays out what is written.
//!
//! Times are in the dataset's own frame: in a date-shifted dataset each patient's events moved
//! by their own secret offset, so `--at` and `--active-since` are read in that frame (shifted by
//! up to a year per patient); each patient's latest event is the same point in any frame.

pub mod files;
pub mod merge;
pub mod score;
pub mod share;

use std::path::PathBuf;

pub use merge::{Merged, merge};
pub use score::{Plan, Progress, Scored, deployed_at, score};
pub use share::{Share, ShareError};

/// Why a batch run could not score or merge.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// The dataset could not be read.
    #[error(transparent)]
    Dataset(#[from] meds::MedsError),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A run's file could not be read or written.
    #[error(transparent)]
    Artifact(#[from] outputs::artifact::ArtifactError),
    /// The registry could not be read.
    #[error(transparent)]
    Registry(#[from] registry::RegistryError),
    /// Nothing is deployed at the site.
    #[error("no version is deployed at site {0}: nothing to score")]
    NothingDeployed(String),
    /// A deployed version cannot score.
    #[error("{version} cannot score: {source}")]
    Load {
        /// The version.
        version: String,
        /// Why.
        source: Box<inference::deployed::LoadError>,
    },
    /// A version failed while scoring.
    #[error(transparent)]
    Inference(#[from] inference::InferenceError),
    /// The audit log refused a record.
    #[error(transparent)]
    Audit(#[from] audit::LogError),
    /// The output directory holds another run's predictions.
    #[error(
        "{} holds the predictions of a run with other settings ({what}): use another output directory, or the same settings",
        dir.display()
    )]
    OtherRun {
        /// The directory.
        dir: PathBuf,
        /// What differs.
        what: String,
    },
    /// The merge found shards not scored exactly once, or files not as written.
    #[error("cannot merge the predictions in {}: {} problem(s):\n  {}", dir.display(), problems.len(), problems.join("\n  "))]
    Unmerged {
        /// The directory.
        dir: PathBuf,
        /// Each problem found.
        problems: Vec<String>,
    },
}

/// A time in microseconds as RFC 3339 (UTC).
pub fn format_time(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map_or_else(|| micros.to_string(), |t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
}
