//! The errors of the MEDS library. Every error names the file it concerns; none carries event
//! content (codes and values may be sensitive), only pseudonymous subject ids, row numbers and counts.

use std::path::PathBuf;

/// Result type of the MEDS library.
pub type Result<T, E = MedsError> = std::result::Result<T, E>;

/// What can go wrong reading, writing or validating a MEDS dataset.
#[derive(Debug, thiserror::Error)]
pub enum MedsError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be written whole (see `outputs::atomic`).
    #[error(transparent)]
    Write(#[from] outputs::atomic::WriteError),
    /// A parquet file could not be decoded or encoded.
    #[error("{path}: parquet: {source}")]
    Parquet {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// An Arrow operation failed (for example building a record batch).
    #[error("{path}: arrow: {source}")]
    Arrow {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: arrow_schema::ArrowError,
    },
    /// A required column is absent.
    #[error("{path}: missing required column `{column}`")]
    MissingColumn {
        /// The file concerned.
        path: PathBuf,
        /// The missing column.
        column: &'static str,
    },
    /// A column has a type the MEDS schema does not allow (and that cannot be read as the right one).
    #[error("{path}: column `{column}` has type {found}, MEDS requires {expected}")]
    WrongType {
        /// The file concerned.
        path: PathBuf,
        /// The column concerned.
        column: String,
        /// The type MEDS requires.
        expected: String,
        /// The type found.
        found: String,
    },
    /// A column that must never be null has nulls.
    #[error("{path}: column `{column}` has {count} null value(s), MEDS forbids nulls there")]
    NullInRequired {
        /// The file concerned.
        path: PathBuf,
        /// The column concerned.
        column: &'static str,
        /// How many nulls.
        count: usize,
    },
    /// A subject's events are not sorted by time (static events first).
    #[error(
        "{path}: events of subject {subject_id} are not sorted by time (row {row} is earlier than the row before it)"
    )]
    Unsorted {
        /// The file concerned.
        path: PathBuf,
        /// The (pseudonymous) subject.
        subject_id: i64,
        /// Row number within the file (0-based).
        row: u64,
    },
    /// A subject's events are not contiguous within a shard.
    #[error("{path}: events of subject {subject_id} are not contiguous (the subject reappears at row {row})")]
    NotContiguous {
        /// The file concerned.
        path: PathBuf,
        /// The (pseudonymous) subject.
        subject_id: i64,
        /// Row number within the file (0-based) where the subject reappears.
        row: u64,
    },
    /// A subject appears in more than one shard.
    #[error("subject {subject_id} is split across shards {first} and {second}; MEDS requires one shard per subject")]
    SubjectInManyShards {
        /// The (pseudonymous) subject.
        subject_id: i64,
        /// One shard holding the subject.
        first: PathBuf,
        /// Another shard holding the subject.
        second: PathBuf,
    },
    /// A required metadata file is absent.
    #[error("{path}: required metadata file is missing")]
    MissingMetadata {
        /// The expected location.
        path: PathBuf,
    },
    /// A metadata file exists but is malformed.
    #[error("{path}: {message}")]
    Metadata {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The dataset's writer has not finished (it is running, or was interrupted).
    #[error(
        "{root}: the dataset is incomplete — its writer has not finished (a run still going, or one that was interrupted); re-run the step that writes it"
    )]
    Incomplete {
        /// The dataset root.
        root: PathBuf,
    },
    /// The dataset has no event shards.
    #[error("{root}: no parquet shards under data/")]
    NoShards {
        /// The dataset root.
        root: PathBuf,
    },
    /// The timeline store beside a dataset is missing, stale or corrupt.
    #[error("{path}: timeline store: {message}")]
    Store {
        /// The store file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A writer was used in a way that would produce an invalid dataset.
    #[error("{root}: {message}")]
    Writer {
        /// The dataset being written.
        root: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl MedsError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }

    pub(crate) fn parquet(path: impl Into<PathBuf>, source: parquet::errors::ParquetError) -> Self {
        Self::Parquet { path: path.into(), source }
    }

    pub(crate) fn arrow(path: impl Into<PathBuf>, source: arrow_schema::ArrowError) -> Self {
        Self::Arrow { path: path.into(), source }
    }
}
