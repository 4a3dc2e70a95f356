//! The training loss on the CPU, fused: weighted next-token cross-entropy over `[N, V]` logits
//! as one differentiable operation of the `Autodiff<Flex>` backend, forward and backward each a
//! single pass over the logits.
//!
//! Why: composed from burn's operations, `log_softmax` + `gather` + weighting kept several
//! `[N, V]` tensors for the backward pass and rebuilt them there (the `gather` gradient scatters
//! into a fresh zeroed `[N, V]`, the softmax gradient takes three more passes), with `exp`
//! evaluated one element at a time — about a fifth of a training step. Here the forward pass keeps
//! only each row's log-sum-exp, and the backward pass writes `w · g · (softmax − one-hot)` in one
//! go. The inner loops run under the best instruction set `pulp` finds, like the attention kernel.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::tensor::{Tensor, TensorPrimitive};
use pulp::{Arch, Simd, WithSimd};
use rayon::prelude::*;

use crate::attention::exp;
use crate::host::{FlexTensor, from_host, host, to_host};
use crate::{Cpu, CpuTrain};

/// `Σᵢ wᵢ · −log softmax(logitsᵢ)[targetᵢ]` over the rows of `logits` `[N, V]`, differentiable
/// with respect to the logits. A target outside the vocabulary counts for nothing.
pub(crate) fn weighted_cross_entropy(
    logits: Tensor<CpuTrain, 2>,
    targets: Vec<i64>,
    weights: Vec<f32>,
) -> Tensor<CpuTrain, 1> {
    let [n, v] = logits.dims();
    let input = logits.into_primitive().tensor();
    let values = host(&input.primitive);
    let mut lse = vec![0.0f32; n];
    let total =
        Arch::new().dispatch(Forward { logits: &values, v, targets: &targets, weights: &weights, lse: &mut lse });
    let output = from_host(vec![total as f32], [1]);
    let state = State { logits: input.primitive.clone(), lse, targets, weights, v };
    let out = match CrossEntropy.prepare::<NoCheckpointing>([input.node.clone()]).compute_bound().stateful() {
        OpsKind::Tracked(prep) => prep.finish(state, output),
        OpsKind::UnTracked(prep) => prep.finish(output),
    };
    Tensor::from_primitive(TensorPrimitive::Float(out))
}

/// What the backward pass needs: the logits, each row's log-sum-exp, targets and weights.
#[derive(Debug, Clone)]
struct State {
    logits: FlexTensor,
    lse: Vec<f32>,
    targets: Vec<i64>,
    weights: Vec<f32>,
    v: usize,
}

#[derive(Debug)]
struct CrossEntropy;

impl Backward<Cpu, 1> for CrossEntropy {
    type State = State;

    fn backward(self, ops: Ops<State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let State { logits, lse, targets, weights, v } = ops.state;
        unary::<Cpu, _>(ops.parents, ops.node, grads, |grad| {
            let g = Tensor::<Cpu, 1>::from_primitive(TensorPrimitive::Float(grad))
                .into_data()
                .into_vec::<f32>()
                .ok()
                .and_then(|x| x.first().copied())
                .unwrap_or(0.0);
            let mut host = to_host(logits);
            let n = lse.len();
            Arch::new().dispatch(Gradient { logits: &mut host, v, lse: &lse, targets: &targets, weights: &weights, g });
            from_host(host, [n, v])
        });
    }
}

/// Rows per parallel piece.
const ROWS: usize = 16;

struct Forward<'a> {
    logits: &'a [f32],
    v: usize,
    targets: &'a [i64],
    weights: &'a [f32],
    lse: &'a mut [f32],
}

impl WithSimd for Forward<'_> {
    type Output = f64;

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> f64 {
        let Forward { logits, v, targets, weights, lse } = self;
        lse.par_chunks_mut(ROWS)
            .enumerate()
            .map(|(piece, lse)| {
                let mut total = 0.0f64;
                for (r, out) in lse.iter_mut().enumerate() {
                    let i = piece * ROWS + r;
                    let row = &logits[i * v..(i + 1) * v];
                    *out = simd.vectorize(LogSumExp(row));
                    let target = usize::try_from(targets[i]).ok().filter(|&t| t < v);
                    if let Some(t) = target {
                        total += f64::from(weights[i]) * f64::from(*out - row[t]);
                    }
                }
                total
            })
            .collect::<Vec<f64>>()
            .into_iter()
            // Summed in row order, not as work-stealing split the rows: the same bits every run.
            .sum()
    }
}

/// `log Σ exp(row)`, shifted by the row's maximum.
struct LogSumExp<'a>(&'a [f32]);

impl pulp::NullaryFnOnce for LogSumExp<'_> {
    type Output = f32;

    #[inline(always)]
    fn call(self) -> f32 {
        let row = self.0;
        let mut lanes = [f32::NEG_INFINITY; 16];
        let mut chunks = row.chunks_exact(16);
        for c in &mut chunks {
            for i in 0..16 {
                lanes[i] = lanes[i].max(c[i]);
            }
        }
        let max = lanes.iter().chain(chunks.remainder()).fold(f32::NEG_INFINITY, |m, &x| m.max(x));
        let mut sums = [0.0f32; 16];
        let mut chunks = row.chunks_exact(16);
        for c in &mut chunks {
            for i in 0..16 {
                sums[i] += exp(c[i] - max);
            }
        }
        let tail: f32 = chunks.remainder().iter().map(|&x| exp(x - max)).sum();
        max + (sums.iter().sum::<f32>() + tail).ln()
    }
}

struct Gradient<'a> {
    logits: &'a mut [f32],
    v: usize,
    lse: &'a [f32],
    targets: &'a [i64],
    weights: &'a [f32],
    g: f32,
}

impl WithSimd for Gradient<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let Gradient { logits, v, lse, targets, weights, g } = self;
        logits.par_chunks_mut(ROWS * v).enumerate().for_each(|(piece, rows)| {
            for (r, row) in rows.chunks_mut(v).enumerate() {
                let i = piece * ROWS + r;
                let scale = g * weights[i];
                simd.vectorize(SoftmaxGrad { row, lse: lse[i], scale });
                if let Some(t) = usize::try_from(targets[i]).ok().filter(|&t| t < v) {
                    row[t] -= scale;
                }
            }
        });
    }
}

/// `row ← scale · exp(row − lse)` (the softmax, weighted).
struct SoftmaxGrad<'a> {
    row: &'a mut [f32],
    lse: f32,
    scale: f32,
}

impl pulp::NullaryFnOnce for SoftmaxGrad<'_> {
    type Output = ();

    #[inline(always)]
    fn call(self) {
        for x in self.row.iter_mut() {
            *x = self.scale * exp(*x - self.lse);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Int, TensorData, activation::log_softmax};

    /// The fused loss and its gradient against burn's own composition of the same formula.
    #[test]
    fn matches_log_softmax_and_gather_value_and_gradient() {
        let device = Default::default();
        let (n, v) = (37, 53);
        let values: Vec<f32> = (0..n * v).map(|i| ((i * 7919) % 1000) as f32 / 100.0 - 5.0).collect();
        let targets: Vec<i64> = (0..n).map(|i| ((i * 13) % v) as i64).collect();
        let weights: Vec<f32> = (0..n).map(|i| if i % 5 == 0 { 0.0 } else { 1.0 }).collect();
        let make = || Tensor::<CpuTrain, 2>::from_data(TensorData::new(values.clone(), [n, v]), &device).require_grad();

        let a = make();
        let fused = weighted_cross_entropy(a.clone(), targets.clone(), weights.clone()) * 0.5;
        let fused_value: f32 = fused.clone().into_scalar();
        let fused_grad = a.grad(&fused.backward()).expect("a gradient").into_data().into_vec::<f32>().expect("f32");

        let b = make();
        let t = Tensor::<CpuTrain, 2, Int>::from_data(TensorData::new(targets.clone(), [n, 1]), &device);
        let w = Tensor::<CpuTrain, 1>::from_data(TensorData::new(weights.clone(), [n]), &device);
        let composed = -(log_softmax(b.clone(), 1).gather(1, t).reshape([n]) * w).sum() * 0.5;
        let composed_value: f32 = composed.clone().into_scalar();
        let composed_grad =
            b.grad(&composed.backward()).expect("a gradient").into_data().into_vec::<f32>().expect("f32");

        assert!(
            (fused_value - composed_value).abs() < 1e-3 * composed_value.abs(),
            "{fused_value} vs {composed_value}"
        );
        let worst = fused_grad.iter().zip(&composed_grad).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
        assert!(worst < 1e-5, "max gradient difference {worst}");
        assert!(composed_grad.iter().any(|x| x.abs() > 1e-3), "the gradient is not trivially zero");
    }
}
