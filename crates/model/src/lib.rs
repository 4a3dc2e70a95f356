//! # model — the Longitude foundation model
//!
//! A decoder-only transformer over the tokens of [`tokenizer`](../tokenizer): [`transformer`]
//! reads top to bottom (config, modules, forward, loss); [`cache`] holds keys and values for
//! generation. Generic over the burn backend: `Flex` on the CPU (multi-threaded through rayon),
//! `Cuda` behind the `cuda` feature, each wrapped in `Autodiff` to train.

#![forbid(unsafe_code)]

pub mod batches;
pub mod bundle;
pub mod cache;
pub mod embedding;
pub mod finetune;
pub mod generation;
pub mod pretrain;
pub mod transformer;
pub mod weights;

use std::path::{Path, PathBuf};

pub use cache::KvCache;
pub use transformer::{Block, Model, ModelConfig, masked_cross_entropy};

pub use kernels::{Cpu, CpuTrain};

/// What can go wrong saving or loading a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file is not what it should be.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The tokenized dataset or its tokenizer could not be read.
    #[error(transparent)]
    Tokenizer(#[from] tokenizer::TokenizerError),
    /// A pretraining plan that cannot run (checked before anything is read or written).
    #[error("{0}")]
    Plan(String),
    /// No model shape of that name.
    #[error("unknown model config {0:?}: tiny, small or base")]
    UnknownPreset(String),
    /// Training diverged: no bundle is written from it.
    #[error(
        "training diverged (tuning loss {tuning_loss} at step {steps}): no model bundle was written; try a lower learning rate"
    )]
    Diverged {
        /// The tuning loss at the end.
        tuning_loss: f64,
        /// Steps done.
        steps: u64,
    },
    /// The pretraining report could not be written.
    #[error(transparent)]
    Report(#[from] outputs::artifact::ArtifactError),
}

impl ModelError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io { path: path.to_path_buf(), source }
    }

    pub(crate) fn format(path: &Path, message: impl std::fmt::Display) -> Self {
        Self::Format { path: path.to_path_buf(), message: message.to_string() }
    }
}
