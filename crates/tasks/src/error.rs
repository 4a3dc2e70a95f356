//! Errors of the task library. Configuration errors name the file, the construct and what to do;
//! none carries patient data (a task configuration holds none, and labelling errors carry only
//! counts and pseudonymous ids).

use std::path::PathBuf;

/// Why a task could not be read or labelled.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// The configuration file could not be read.
    #[error("cannot read task configuration {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not valid YAML.
    #[error("task configuration {path} is not valid YAML: {message}")]
    Yaml {
        /// The file (or `<suite>/NAME` for a built-in task).
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// The YAML is well formed but is not a valid ACES configuration, or uses a part of the
    /// language this labeler does not support (it never guesses).
    #[error("task configuration {path}: {message}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the construct.
        message: String,
    },
    /// A window offset that `pytimeparse` (and therefore ACES) would not read.
    #[error("cannot read the duration `{text}`: {why}")]
    Duration {
        /// The text as written.
        text: String,
        /// Why it was rejected.
        why: String,
    },
    /// A label directory's report could not be read or written.
    #[error(transparent)]
    Artifact(#[from] outputs::artifact::ArtifactError),
    /// A label report names a built-in task this version does not have.
    #[error("{task}: the labels were made with the built-in task `{builtin}`, which this version does not have")]
    UnknownBuiltin {
        /// The task as the report names it.
        task: String,
        /// The built-in task it was made with.
        builtin: String,
    },
    /// The selection names no task.
    #[error("no task: give --task FILE (repeatable) or --suite")]
    NoTask,
    /// `only` names a task the built-in suite does not have.
    #[error("--only names `{name}`, which is not in the suite ({suite})")]
    NotInSuite {
        /// The name given.
        name: String,
        /// The suite's names.
        suite: String,
    },
    /// Two tasks of one selection share a name (each writes `<name>.parquet`).
    #[error("two tasks are named `{0}` (a task is named after its file); rename one")]
    DuplicateName(String),
    /// The MEDS dataset could not be read.
    #[error(transparent)]
    Meds(#[from] meds::MedsError),
}

/// Result with a [`TaskError`].
pub type Result<T> = std::result::Result<T, TaskError>;
