//! Causal self-attention for training on the CPU, by matrix products: the forward and backward
//! passes of [`causal_trainable`], attention as one differentiable operation of the CPU training
//! backend.
//!
//! The tile-by-tile kernel of [`crate::attention`] never materialises scores, which is right for
//! inference (one row at a time, or a long history), but its multiply-adds ran at a fifth of the
//! matrix kernels' speed and made a quarter of a training step. Here each `(sequence, head)`
//! computes its scores with `gemm` into a `T × T` scratch — only the blocks of
//! [`BLOCK`] query rows against the keys they may see, so about half of it — takes the masked
//! softmax in place, and multiplies by the values. The backward pass rebuilds the softmax the
//! same way from the saved log-sum-exp (nothing `T × T` is kept between the passes) and gets
//! `dQ`, `dK`, `dV` as five more products.

use pulp::{Arch, NullaryFnOnce};
use rayon::prelude::*;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::tensor::{Tensor, TensorPrimitive};

use crate::attention::{Shape, exp};
use crate::host::{FlexTensor, from_host, host};
use crate::matmul::{View, matmul};
use crate::{Cpu, CpuTrain};

/// Query rows per block: scores are computed for a block against keys up to its last row.
const BLOCK: usize = 64;

/// The blocks of rows `0..t`: `(first, end)` pairs.
fn blocks(t: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..t).step_by(BLOCK).map(move |r0| (r0, (r0 + BLOCK).min(t)))
}

/// One `(sequence, head)`: views of its queries, keys and values (`T × K`, rows `D` apart).
struct Head<'a> {
    q: View<'a>,
    k: View<'a>,
    v: View<'a>,
    t: usize,
    scale: f32,
}

impl<'a> Head<'a> {
    fn new(x: (&'a [f32], &'a [f32], &'a [f32]), b: usize, h: usize, shape: Shape) -> Self {
        let (t, kd) = (shape.queries, shape.head_dim);
        let d = shape.heads * kd;
        let view = |x: &'a [f32]| View::rows(&x[b * t * d + h * kd..], t, kd, d);
        Self { q: view(x.0), k: view(x.1), v: view(x.2), t, scale: 1.0 / (kd as f32).sqrt() }
    }

    /// `scores[i, j] = q_i·k_j/√K` for every block of rows against the keys up to its end
    /// (`scores` is `T × T`, row-major; entries right of a block's end are not written).
    fn scores(&self, scores: &mut [f32]) {
        for (r0, r1) in blocks(self.t) {
            matmul(
                &mut scores[r0 * self.t..],
                self.t,
                self.q.slice_rows(r0, r1),
                self.k.slice_rows(0, r1).t(),
                self.scale,
                false,
            );
        }
    }
}

/// Row `i` of a block of scores, in place: `p_j = exp(s_j − lse)` for `j ≤ i`, `0` for the
/// rest of the block's columns; with `lse` `None` it is computed (and returned) first.
struct Softmax<'a> {
    row: &'a mut [f32],
    visible: usize,
    lse: Option<f32>,
}

impl NullaryFnOnce for Softmax<'_> {
    type Output = f32;

    #[inline(always)]
    fn call(self) -> f32 {
        let (seen, hidden) = self.row.split_at_mut(self.visible);
        hidden.fill(0.0);
        let lse = match self.lse {
            Some(l) => l,
            None => {
                let max = seen.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
                let mut lanes = [0.0f32; 16];
                let mut chunks = seen.chunks_exact(16);
                for c in &mut chunks {
                    for i in 0..16 {
                        lanes[i] += exp(c[i] - max);
                    }
                }
                let tail: f32 = chunks.remainder().iter().map(|&x| exp(x - max)).sum();
                max + (lanes.iter().sum::<f32>() + tail).ln()
            }
        };
        for s in seen.iter_mut() {
            *s = exp(*s - lse);
        }
        lse
    }
}

/// `ds_j ← p_j (dp_j − Δ)` over one row (`p` the softmax row, `dp` overwritten).
struct SoftmaxGrad<'a> {
    p: &'a [f32],
    dp: &'a mut [f32],
    delta: f32,
}

impl NullaryFnOnce for SoftmaxGrad<'_> {
    type Output = ();

    #[inline(always)]
    fn call(self) {
        for (d, &p) in self.dp.iter_mut().zip(self.p) {
            *d = p * (*d - self.delta);
        }
    }
}

/// The softmax of every row of `scores` (after [`Head::scores`]), causal: row `i` sees keys
/// `0..=i`; the columns past `i` up to its block's end become 0. `lse` (`T`) is read when
/// `given`, else written.
fn softmax_rows(scores: &mut [f32], t: usize, lse: &mut [f32], given: bool) {
    let arch = Arch::new();
    for (r0, r1) in blocks(t) {
        for i in r0..r1 {
            let row = &mut scores[i * t..i * t + r1];
            let l = arch.dispatch(Softmax { row, visible: i + 1, lse: given.then_some(lse[i]) });
            lse[i] = l;
        }
    }
}

/// Per-head results gathered into `[B, T, D]` buffers.
fn scatter(per_head: Vec<Vec<Vec<f32>>>, shape: Shape, outputs: usize) -> Vec<Vec<f32>> {
    let (t, heads, kd) = (shape.queries, shape.heads, shape.head_dim);
    let d = heads * kd;
    let mut out = vec![vec![0.0f32; shape.batch * t * d]; outputs];
    for (task, local) in per_head.into_iter().enumerate() {
        let (b, h) = (task / heads, task % heads);
        for (dst, local) in out.iter_mut().zip(local) {
            for (i, row) in local.chunks_exact(kd).enumerate() {
                dst[(b * t + i) * d + h * kd..][..kd].copy_from_slice(row);
            }
        }
    }
    out
}

/// Causal attention of whole sequences (`offset` 0, `key_stride` equal to `queries`): `q`, `k`,
/// `v` `[B, T, D]` → the output `[B, T, D]` and the log-sum-exp of each row's scaled scores per
/// head, `[B, T, H]` (the layout of [`crate::attention::causal_with_lse`]).
pub(crate) fn forward(q: &[f32], k: &[f32], v: &[f32], shape: Shape) -> (Vec<f32>, Vec<f32>) {
    assert!(shape.offset == 0 && shape.key_stride == shape.queries, "training attention is for whole sequences");
    let (t, heads, kd) = (shape.queries, shape.heads, shape.head_dim);
    assert_eq!(q.len(), shape.batch * t * heads * kd, "query buffer");
    assert!(k.len() == q.len() && v.len() == q.len(), "key and value buffers");
    let per_head: Vec<(Vec<f32>, Vec<f32>)> = (0..shape.batch * heads)
        .into_par_iter()
        .map_init(
            || vec![0.0f32; t * t],
            |scores, task| {
                let head = Head::new((q, k, v), task / heads, task % heads, shape);
                head.scores(scores);
                let mut lse = vec![0.0f32; t];
                softmax_rows(scores, t, &mut lse, false);
                let mut out = vec![0.0f32; t * kd];
                for (r0, r1) in blocks(t) {
                    let p = View::rows(&scores[r0 * t..], r1 - r0, r1, t);
                    matmul(&mut out[r0 * kd..], kd, p, head.v.slice_rows(0, r1), 1.0, false);
                }
                (out, lse)
            },
        )
        .collect();
    let mut lse = vec![0.0f32; shape.batch * t * heads];
    let mut outs = Vec::with_capacity(per_head.len());
    for (task, (out, l)) in per_head.into_iter().enumerate() {
        let (b, h) = (task / heads, task % heads);
        for (i, x) in l.into_iter().enumerate() {
            lse[(b * t + i) * heads + h] = x;
        }
        outs.push(vec![out]);
    }
    let out = scatter(outs, shape, 1).pop().expect("one output");
    (out, lse)
}

/// The gradients of [`forward`] from its inputs, output and log-sum-exp and the gradient of its
/// output: `(dQ, dK, dV)`, each `[B, T, D]`. Per `(sequence, head)`: `P` rebuilt from the
/// log-sum-exp, `dP = dO·Vᵀ`, `dS = P ⊙ (dP − Δ)` with `Δᵢ = dOᵢ·Oᵢ`, then `dQ = dS·K/√K`,
/// `dK = dSᵀ·Q/√K`, `dV = Pᵀ·dO` — each product over the causal blocks only.
pub(crate) fn backward(
    (q, k, v): (&[f32], &[f32], &[f32]),
    out: &[f32],
    lse: &[f32],
    d_out: &[f32],
    shape: Shape,
) -> [Vec<f32>; 3] {
    assert!(shape.offset == 0 && shape.key_stride == shape.queries, "training attention is for whole sequences");
    let (t, heads, kd) = (shape.queries, shape.heads, shape.head_dim);
    let d = heads * kd;
    let per_head: Vec<Vec<Vec<f32>>> = (0..shape.batch * heads)
        .into_par_iter()
        .map_init(
            || (vec![0.0f32; t * t], vec![0.0f32; t * t]),
            |(p, ds), task| {
                let (b, h) = (task / heads, task % heads);
                let head = Head::new((q, k, v), b, h, shape);
                let at = |i: usize| (b * t + i) * d + h * kd;
                let d_o = View::rows(&d_out[b * t * d + h * kd..], t, kd, d);
                let mut l: Vec<f32> = (0..t).map(|i| lse[(b * t + i) * heads + h]).collect();
                head.scores(p);
                softmax_rows(p, t, &mut l, true);
                // dP = dO·Vᵀ over the same blocks, then dS in place.
                let arch = Arch::new();
                for (r0, r1) in blocks(t) {
                    matmul(&mut ds[r0 * t..], t, d_o.slice_rows(r0, r1), head.v.slice_rows(0, r1).t(), 1.0, false);
                    for i in r0..r1 {
                        let (o, g) = (&out[at(i)..at(i) + kd], &d_out[at(i)..at(i) + kd]);
                        let delta: f32 = g.iter().zip(o).map(|(a, b)| a * b).sum();
                        let row = i * t..i * t + r1;
                        arch.dispatch(SoftmaxGrad { p: &p[row.clone()], dp: &mut ds[row], delta });
                    }
                }
                let (mut dq, mut dk, mut dv) = (vec![0.0f32; t * kd], vec![0.0f32; t * kd], vec![0.0f32; t * kd]);
                for (r0, r1) in blocks(t) {
                    // dQ rows r0..r1: their dS row block against keys 0..r1.
                    let ds_rows = View::rows(&ds[r0 * t..], r1 - r0, r1, t);
                    matmul(&mut dq[r0 * kd..], kd, ds_rows, head.k.slice_rows(0, r1), head.scale, false);
                    // dK, dV for keys r0..r1: every query row from r0 on (earlier rows cannot see
                    // them; within the blocks the masked entries are 0).
                    let ds_cols = View::rows(&ds[r0 * t + r0..], t - r0, r1 - r0, t).t();
                    matmul(&mut dk[r0 * kd..], kd, ds_cols, head.q.slice_rows(r0, t), head.scale, false);
                    let p_cols = View::rows(&p[r0 * t + r0..], t - r0, r1 - r0, t).t();
                    matmul(&mut dv[r0 * kd..], kd, p_cols, d_o.slice_rows(r0, t), 1.0, false);
                }
                vec![dq, dk, dv]
            },
        )
        .collect();
    let mut grads = scatter(per_head, shape, 3);
    let dv = grads.pop().expect("dV");
    let dk = grads.pop().expect("dK");
    let dq = grads.pop().expect("dQ");
    [dq, dk, dv]
}

/// Causal self-attention as one differentiable operation of the CPU training backend: `q`, `k`,
/// `v` `[B, T, D]` (rotated; `H` heads) → `[B, T, D]`, forward and backward by matrix products
/// (the passes below). Autodiff otherwise records the decomposed attention — scores, mask,
/// softmax, weighted sum — and keeps and differentiates each `[B, H, T, T]` intermediate.
pub(crate) fn causal_trainable(
    q: Tensor<CpuTrain, 3>,
    k: Tensor<CpuTrain, 3>,
    v: Tensor<CpuTrain, 3>,
    heads: usize,
) -> Tensor<CpuTrain, 3> {
    let [b, t, d] = q.dims();
    let shape = Shape { batch: b, queries: t, key_stride: t, offset: 0, heads, head_dim: d / heads };
    let (q, k, v) = (q.into_primitive().tensor(), k.into_primitive().tensor(), v.into_primitive().tensor());
    // The inputs' buffers are read in place and kept (shared, not copied) for the backward pass.
    let (hq, hk, hv) = (q.primitive.clone(), k.primitive.clone(), v.primitive.clone());
    let (out, lse) = forward(&host(&hq), &host(&hk), &host(&hv), shape);
    let output = from_host(out, [b, t, d]);
    let prepared = FusedAttention.prepare::<NoCheckpointing>([q.node.clone(), k.node.clone(), v.node.clone()]);
    let result = match prepared.compute_bound().stateful() {
        OpsKind::Tracked(prep) => prep.finish(Saved { q: hq, k: hk, v: hv, out: output.clone(), lse, shape }, output),
        OpsKind::UnTracked(prep) => prep.finish(output),
    };
    Tensor::from_primitive(TensorPrimitive::Float(result))
}

/// What the backward pass keeps from the forward pass.
#[derive(Debug, Clone)]
struct Saved {
    q: FlexTensor,
    k: FlexTensor,
    v: FlexTensor,
    out: FlexTensor,
    lse: Vec<f32>,
    shape: Shape,
}

#[derive(Debug)]
struct FusedAttention;

impl Backward<Cpu, 3> for FusedAttention {
    type State = Saved;

    fn backward(self, ops: Ops<Saved, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let Saved { q, k, v, out, lse, shape } = ops.state;
        let d_out = grads.consume::<Cpu>(&ops.node);
        let dims = [shape.batch, shape.queries, shape.heads * shape.head_dim];
        let [dq, dk, dv] = backward((&host(&q), &host(&k), &host(&v)), &host(&out), &lse, &host(&d_out), shape);
        for (parent, grad) in ops.parents.into_iter().zip([dq, dk, dv]) {
            if let Some(node) = parent {
                grads.register::<Cpu>(node.id, from_host(grad, dims));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attention::tests::noise;

    /// Outputs and log-sum-exps equal the tile kernel's (itself checked against the textbook
    /// formula), across block edges: one row, exactly one block, one past it, several.
    #[test]
    fn forward_matches_the_tile_kernel_at_block_edges() {
        for (batch, t, heads, kd) in [(1, 1, 1, 16), (2, 64, 2, 16), (1, 65, 3, 32), (2, 130, 2, 64)] {
            let shape = Shape { batch, queries: t, key_stride: t, offset: 0, heads, head_dim: kd };
            let n = batch * t * heads * kd;
            let (q, k, v) = (noise(n, 1), noise(n, 2), noise(n, 3));
            let (out, lse) = forward(&q, &k, &v, shape);
            let (want, want_lse) = crate::attention::causal_with_lse(&q, &k, &v, shape);
            let worst = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
            assert!(worst(&out, &want) < 1e-5, "{shape:?}: output off by {}", worst(&out, &want));
            assert!(worst(&lse, &want_lse) < 1e-4, "{shape:?}: lse off by {}", worst(&lse, &want_lse));
        }
    }

    /// The fused operation's gradients against autodiff through burn's own attention.
    #[test]
    fn gradients_match_autodiff_through_the_decomposed_attention() {
        use burn::tensor::TensorData;
        use burn::tensor::module::attention;
        use burn::tensor::ops::AttentionModuleOptions;
        let device = Default::default();
        let (b, t, heads, kd) = (2, 150, 2, 32);
        let d = heads * kd;
        let leaf = |seed| {
            let data = TensorData::new(noise(b * t * d, seed), [b, t, d]);
            Tensor::<CpuTrain, 3>::from_data(data, &device).require_grad()
        };
        let weights = Tensor::<CpuTrain, 3>::from_data(TensorData::new(noise(b * t * d, 9), [b, t, d]), &device);
        let grads_of = |fused: bool| {
            let (q, k, v) = (leaf(4), leaf(5), leaf(6));
            let out = if fused {
                causal_trainable(q.clone(), k.clone(), v.clone(), heads)
            } else {
                let split = |x: Tensor<CpuTrain, 3>| x.reshape([b, t, heads, kd]).swap_dims(1, 2);
                let options = AttentionModuleOptions { scale: None, softcap: None, is_causal: true };
                attention(split(q.clone()), split(k.clone()), split(v.clone()), None, None, options)
                    .swap_dims(1, 2)
                    .reshape([b, t, d])
            };
            let g = (out.clone() * weights.clone()).sum().backward();
            let host =
                |x: &Tensor<CpuTrain, 3>| x.grad(&g).expect("a gradient").into_data().into_vec::<f32>().expect("f32");
            let value = out.inner().into_data().into_vec::<f32>().expect("f32");
            [value, host(&q), host(&k), host(&v)]
        };
        let (fused, composed) = (grads_of(true), grads_of(false));
        for (name, (a, c)) in ["output", "dQ", "dK", "dV"].iter().zip(fused.iter().zip(&composed)) {
            let worst = a.iter().zip(c).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
            let scale = c.iter().fold(0.0f32, |m, x| m.max(x.abs()));
            assert!(scale > 1e-2, "{name} is not trivially zero");
            assert!(worst < 1e-4 * scale.max(1.0), "{name}: max abs difference {worst} (values up to {scale})");
        }
    }
}
