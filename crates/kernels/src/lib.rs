//! # kernels — the model's fused CPU operations
//!
//! The operations a transformer step spends its time in, written for burn's CPU backend (`Flex`)
//! on host buffers, each with its own backward pass: projections ([`linear()`]), RMSNorm
//! ([`rms_norm`]), rotary positions ([`rope::Rotary`]), SwiGLU ([`swiglu()`]), a block's causal
//! self-attention with its key/value cache ([`self_attention()`], [`kv::LayerCache`]), and the
//! weighted cross-entropy of the logits ([`Targets`]).
//!
//! Every operation is generic over the burn backend and is the model's only way to that
//! computation, so the model's code reads the same on every backend: on [`Cpu`] and [`CpuTrain`]
//! it runs the fused kernel (the backend recognised by type at run time, without `unsafe`), on
//! every other backend (CUDA) burn's composed operations. Each fused operation is tested against
//! the composed one: value and every gradient.
//!
//! Architecture invariant: **this is the only library crate with `unsafe`**, in one module
//! (`matmul`), which calls `gemm`'s raw-pointer kernels after checking that every element they
//! touch lies inside its slice. Partial sums are added in a fixed order, so training gives the
//! same bits on every run and thread count.

#![deny(unsafe_code)] // allowed in `matmul` alone, which calls the gemm kernels

pub mod attention;
mod attention_train;
mod host;
pub mod kv;
mod linear;
mod loss;
mod matmul;
mod norm;
pub mod rope;
mod self_attention;
mod swiglu;
#[cfg(test)]
mod testing;

use std::ops::Range;

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};

pub use linear::linear;
pub use norm::rms_norm;
pub use self_attention::self_attention;
pub use swiglu::swiglu;

/// The CPU backend for inference.
pub type Cpu = burn::backend::Flex;
/// The CPU backend for training.
pub type CpuTrain = burn::backend::Autodiff<Cpu>;

/// Causal self-attention of `q`, `key`, `value` (`[batch, time, heads × head_dim]`) for training:
/// the fused kernel with its own backward pass when `B` is [`CpuTrain`]; the inputs back
/// otherwise, for the caller's composed attention.
#[allow(clippy::type_complexity)]
pub(crate) fn training_attention<B: Backend>(
    q: Tensor<B, 3>,
    key: Tensor<B, 3>,
    value: Tensor<B, 3>,
    n_heads: usize,
) -> Result<Tensor<B, 3>, (Tensor<B, 3>, Tensor<B, 3>, Tensor<B, 3>)> {
    type Train = Tensor<CpuTrain, 3>;
    match host::same_type::<_, (Train, Train, Train)>((q, key, value)) {
        Ok((q, key, value)) => Ok(host::as_backend(attention_train::causal_trainable(q, key, value, n_heads))),
        Err(inputs) => Err(inputs),
    }
}

/// The targets `[n, 1]` and weights `[n]` of a weighted cross-entropy, taken a piece of rows at
/// a time ([`Targets::nll`]) so that the logits of a whole batch are never held at once. On
/// [`CpuTrain`] the fused loss (with its own backward pass) reads host copies of them, made once.
pub struct Targets<B: Backend> {
    targets: Tensor<B, 2, Int>,
    weights: Tensor<B, 1>,
    host: Option<(Vec<i64>, Vec<f32>)>,
}

impl<B: Backend> Targets<B> {
    /// `targets` `[n, 1]` (token ids) and `weights` `[n]` (0 for positions that do not count).
    pub fn new(targets: Tensor<B, 2, Int>, weights: Tensor<B, 1>) -> Self {
        let host = (std::any::TypeId::of::<B>() == std::any::TypeId::of::<CpuTrain>()).then(|| {
            let ints = targets.clone().into_data().convert::<i64>().into_vec::<i64>();
            let floats = weights.clone().into_data().convert::<f32>().into_vec::<f32>();
            (ints.unwrap_or_default(), floats.unwrap_or_default())
        });
        Self { targets, weights, host }
    }

    /// `Σ weight · −log softmax(logits)[target]` over `rows`, whose logits are `logits`
    /// `[rows.len(), V]`.
    pub fn nll(&self, logits: Tensor<B, 2>, rows: Range<usize>) -> Tensor<B, 1> {
        let logits = match &self.host {
            Some((t, w)) if t.len() == w.len() && rows.end <= t.len() => {
                match host::same_type::<_, Tensor<CpuTrain, 2>>(logits) {
                    Ok(cpu) => {
                        let (t, w) = (t[rows.clone()].to_vec(), w[rows].to_vec());
                        return host::as_backend(loss::weighted_cross_entropy(cpu, t, w));
                    }
                    Err(logits) => logits,
                }
            }
            _ => logits,
        };
        let n = rows.len();
        let targets = self.targets.clone().slice([rows.clone(), 0..1]);
        let weights = self.weights.clone().narrow(0, rows.start, n);
        let picked = burn::tensor::activation::log_softmax(logits, 1).gather(1, targets).reshape([n]);
        -(picked * weights).sum()
    }
}
