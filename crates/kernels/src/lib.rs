//! # kernels — the model's fused CPU operations
//!
//! The operations a transformer step spends its time in, written for burn's CPU backend (`Flex`)
//! on host buffers, each with its own backward pass: projections ([`linear()`]), RMSNorm
//! ([`rms_norm`]), rotary positions ([`rope`]), SwiGLU ([`swiglu()`]), causal attention for
//! training ([`training_attention`]) and for inference with a KV cache ([`attention`]), and the
//! cross-entropy of the logits ([`cross_entropy`]).
//!
//! Every operation is generic over the burn backend and is the model's only way to that
//! computation: on [`Cpu`] and [`CpuTrain`] it runs the fused kernel (recognised by type at run
//! time, without `unsafe`), on every other backend (CUDA) burn's composed operations. Each fused
//! operation is tested against the composed one: value and every gradient.
//!
//! Architecture invariant: **this is the only library crate with `unsafe`**, in one module
//! (`matmul`), which calls `gemm`'s raw-pointer kernels after checking that every element they
//! touch lies inside its slice. Partial sums are added in a fixed order, so training gives the
//! same bits on every run and thread count.

#![deny(unsafe_code)] // allowed in `matmul` alone, which calls the gemm kernels

pub mod attention;
mod attention_train;
mod host;
mod linear;
mod loss;
mod matmul;
mod norm;
pub mod rope;
mod swiglu;
#[cfg(test)]
mod testing;

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

pub use linear::linear;
pub use norm::rms_norm;
pub use swiglu::swiglu;

/// The CPU backend for inference.
pub type Cpu = burn::backend::Flex;
/// The CPU backend for training.
pub type CpuTrain = burn::backend::Autodiff<Cpu>;

/// Whether `B` is one of the CPU backends the fused operations run on.
pub fn is_cpu<B: Backend>() -> bool {
    std::any::TypeId::of::<B>() == std::any::TypeId::of::<Cpu>()
        || std::any::TypeId::of::<B>() == std::any::TypeId::of::<CpuTrain>()
}

/// Causal self-attention of `q`, `key`, `value` (`[batch, time, heads × head_dim]`) for training:
/// the fused kernel with its own backward pass when `B` is [`CpuTrain`]; the inputs back
/// otherwise, for the caller's composed attention.
#[allow(clippy::type_complexity)]
pub fn training_attention<B: Backend>(
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

/// `Σ weight · −log softmax(logits)[target]` over the rows of `logits` `[n, V]`, with the targets
/// and weights given in host memory: the fused loss (and its backward pass) when `B` is
/// [`CpuTrain`]; the logits back otherwise, for the caller's composed loss.
pub fn cross_entropy<B: Backend>(
    logits: Tensor<B, 2>,
    targets: &[i64],
    weights: &[f32],
) -> Result<Tensor<B, 1>, Tensor<B, 2>> {
    match host::same_type::<_, Tensor<CpuTrain, 2>>(logits) {
        Ok(cpu) => Ok(host::as_backend(loss::weighted_cross_entropy(cpu, targets.to_vec(), weights.to_vec()))),
        Err(logits) => Err(logits),
    }
}
