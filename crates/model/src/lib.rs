//! # model — the Longitude foundation model
//!
//! A decoder-only transformer over the tokens of [`tokenizer`](../tokenizer): [`transformer`]
//! reads top to bottom (config, modules, forward, loss); [`cache`] holds keys and values for
//! generation. Generic over the burn backend: `Flex` on the CPU (multi-threaded through rayon),
//! `Cuda` behind the `cuda` feature, each wrapped in `Autodiff` to train.

#![forbid(unsafe_code)]

pub mod cache;
pub mod transformer;

pub use cache::KvCache;
pub use transformer::{Block, Model, ModelConfig, masked_cross_entropy};

/// The CPU backend for inference.
pub type Cpu = burn::backend::Flex;
/// The CPU backend for training.
pub type CpuTrain = burn::backend::Autodiff<Cpu>;
