//! Rotary positions applied in place of a projection's output, fused for the CPU backends: one
//! parallel pass forward and one backward. Composed from tensor operations, the rotation of a
//! query or key projection was two column selections of the weight, two half-width products,
//! six elementwise passes against materialised `[B, T, D/2]` tables and a concatenation — and
//! as many again under autodiff — each a single-threaded pass on the thread that drives the
//! step. Here the projection is one product ([`crate::linear()`]) and the rotation one pass.
//!
//! The convention is the transformer's ("rotate half", as GPT-NeoX and Llama in Hugging Face):
//! in each head of width `K`, dimension `i < K/2` pairs with `i + K/2`, rotated by the angle
//! `p · θ^(−2i/K)` of position `p`.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::nn::Linear;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData, TensorPrimitive};
use rayon::prelude::*;

use crate::host::{as_backend, from_host, host, same_type};
use crate::{Cpu, CpuTrain};

/// Rows (positions) per parallel piece.
const ROWS: usize = 16;

/// The angles of positions `start..start + len` for heads of width `head_dim`: `cos` and `sin`,
/// each `[len, K/2]`, computed in f64 and rounded once.
#[derive(Debug, Clone)]
pub struct Angles {
    cos: Vec<f32>,
    sin: Vec<f32>,
    half: usize,
    len: usize,
}

impl Angles {
    /// The angles of positions `start..start + len`.
    pub fn new(start: usize, len: usize, head_dim: usize, theta: f64) -> Self {
        let half = head_dim / 2;
        let freqs: Vec<f64> = (0..half).map(|i| 1.0 / theta.powf(2.0 * i as f64 / head_dim as f64)).collect();
        let (mut cos, mut sin) = (Vec::with_capacity(len * half), Vec::with_capacity(len * half));
        for p in start..start + len {
            for f in &freqs {
                let (s, c) = (p as f64 * f).sin_cos();
                cos.push(c as f32);
                sin.push(s as f32);
            }
        }
        Self { cos, sin, half, len }
    }
}

/// Whether `B` is a CPU backend that [`rotate`] fuses.
pub fn fused<B: Backend>() -> bool {
    let b = std::any::TypeId::of::<B>();
    b == std::any::TypeId::of::<Cpu>() || b == std::any::TypeId::of::<CpuTrain>()
}

/// `y` `[B, T, D]` (heads of width `2 · angles.half` side by side) rotated by `angles` (whose
/// `len` is `T`), on a backend [`fused`] accepts. Panics on another backend (the caller checks).
pub fn rotate<B: Backend>(y: Tensor<B, 3>, angles: &Angles) -> Tensor<B, 3> {
    let y = match same_type::<_, Tensor<Cpu, 3>>(y) {
        Ok(y) => return as_backend(inference(y, angles)),
        Err(y) => y,
    };
    match same_type::<_, Tensor<CpuTrain, 3>>(y) {
        Ok(y) => as_backend(trainable(y, angles)),
        Err(_) => panic!("rotate called on a backend it does not fuse"),
    }
}

/// The rotation (`sign` 1) or its inverse (`sign` −1, the backward pass: the transpose of a
/// rotation is the rotation by minus the angle) of `x` rows of width `d`, row `r` at angle row
/// `r % len`.
fn apply(x: &[f32], d: usize, angles: &Angles, sign: f32) -> Vec<f32> {
    let (half, len) = (angles.half, angles.len);
    let mut out = vec![0.0f32; x.len()];
    out.par_chunks_mut(ROWS * d).zip(x.par_chunks(ROWS * d)).enumerate().for_each(|(piece, (out, x))| {
        for (r, (o, x)) in out.chunks_exact_mut(d).zip(x.chunks_exact(d)).enumerate() {
            let pos = (piece * ROWS + r) % len;
            let (cos, sin) = (&angles.cos[pos * half..(pos + 1) * half], &angles.sin[pos * half..(pos + 1) * half]);
            for (o, x) in o.chunks_exact_mut(2 * half).zip(x.chunks_exact(2 * half)) {
                let (o1, o2) = o.split_at_mut(half);
                let (x1, x2) = x.split_at(half);
                for i in 0..half {
                    let s = sign * sin[i];
                    o1[i] = x1[i] * cos[i] - x2[i] * s;
                    o2[i] = x1[i] * s + x2[i] * cos[i];
                }
            }
        }
    });
    out
}

fn inference(y: Tensor<Cpu, 3>, angles: &Angles) -> Tensor<Cpu, 3> {
    let dims = y.dims();
    let y = y.into_primitive().tensor();
    let out = apply(&host(&y), dims[2], angles, 1.0);
    Tensor::from_primitive(TensorPrimitive::Float(from_host(out, dims)))
}

fn trainable(y: Tensor<CpuTrain, 3>, angles: &Angles) -> Tensor<CpuTrain, 3> {
    let dims = y.dims();
    let y = y.into_primitive().tensor();
    let out = from_host(apply(&host(&y.primitive), dims[2], angles, 1.0), dims);
    let result = match Rotate.prepare::<NoCheckpointing>([y.node.clone()]).compute_bound().stateful() {
        OpsKind::Tracked(prep) => prep.finish((angles.clone(), dims), out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    };
    Tensor::from_primitive(TensorPrimitive::Float(result))
}

#[derive(Debug)]
struct Rotate;

impl Backward<Cpu, 1> for Rotate {
    type State = (Angles, [usize; 3]);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (angles, dims) = ops.state;
        unary::<Cpu, _>(ops.parents, ops.node, grads, |grad| {
            from_host(apply(&host(&grad), dims[2], &angles, -1.0), dims)
        });
    }
}

/// Rotary tables for positions `start..start + len`, laid out for [`Rotary::project`]: `(cos,
/// sin)`, each `[batch, len, D/2]` — the `K/2` angles of one head, repeated for each of the `H`
/// heads and for each sequence (materialised rather than broadcast: the CPU backend multiplies
/// same-shaped contiguous tensors several times faster than broadcast ones, forward and backward).
/// The rotation pairs dimension `i` with `i + K/2` of each head (the "rotate half" convention of
/// GPT-NeoX and Llama in Hugging Face), so the PyTorch reference reads the same weights without
/// permutation.
fn rope_tables<B: Backend>(
    start: usize,
    len: usize,
    batch: usize,
    n_heads: usize,
    head_dim: usize,
    theta: f64,
    device: &B::Device,
) -> (Tensor<B, 3>, Tensor<B, 3>) {
    let half = head_dim / 2;
    let width = n_heads * half;
    let freqs: Vec<f64> = (0..half).map(|i| 1.0 / theta.powf(2.0 * i as f64 / head_dim as f64)).collect();
    let mut cos = Vec::with_capacity(len * width);
    let mut sin = Vec::with_capacity(len * width);
    for p in start..start + len {
        let (c, s): (Vec<f32>, Vec<f32>) = freqs
            .iter()
            .map(|f| {
                let (s, c) = (p as f64 * f).sin_cos();
                (c as f32, s as f32)
            })
            .unzip();
        for _ in 0..n_heads {
            cos.extend_from_slice(&c);
            sin.extend_from_slice(&s);
        }
    }
    (
        Tensor::from_data(TensorData::new(cos.repeat(batch), [batch, len, width]), device),
        Tensor::from_data(TensorData::new(sin.repeat(batch), [batch, len, width]), device),
    )
}

/// Everything one forward pass shares across blocks for the rotary positions: the tables and the
/// column indices that split a `D → D` projection into the first and the second half of every
/// head.
pub struct Rotary<B: Backend> {
    /// On the CPU backends: the angles, applied by the fused rotation ([`rotate`]).
    angles: Option<Angles>,
    /// Elsewhere: the tables and the columns of each head's halves (see [`Rotary::project`]).
    tables: Option<Tables<B>>,
    n_heads: usize,
    /// Position of the first row.
    start: usize,
}

/// [`rope_tables`] and the column indices of the first and second half of every head.
struct Tables<B: Backend> {
    cos: Tensor<B, 3>,
    sin: Tensor<B, 3>,
    first: Tensor<B, 1, Int>,
    second: Tensor<B, 1, Int>,
}

impl<B: Backend> Rotary<B> {
    /// The rotation of positions `start..start + len` for `batch` sequences of `n_heads` heads
    /// in a model `d_model` wide: angles for the fused rotation on the CPU backends, tables
    /// elsewhere.
    pub fn new(
        start: usize,
        [batch, len]: [usize; 2],
        n_heads: usize,
        d_model: usize,
        theta: f64,
        device: &B::Device,
    ) -> Self {
        let k = d_model / n_heads;
        if fused::<B>() {
            let angles = Angles::new(start, len, k, theta);
            return Self { angles: Some(angles), tables: None, n_heads, start };
        }
        let (cos, sin) = rope_tables(start, len, batch, n_heads, k, theta, device);
        let columns = |offset: usize| {
            let idx: Vec<i64> =
                (0..n_heads).flat_map(|h| (0..k / 2).map(move |i| (h * k + offset + i) as i64)).collect();
            Tensor::from_data(TensorData::new(idx, [n_heads * k / 2]), device)
        };
        let tables = Tables { cos, sin, first: columns(0), second: columns(k / 2) };
        Self { angles: None, tables: Some(tables), n_heads, start }
    }

    /// The position of the first row.
    pub fn start(&self) -> usize {
        self.start
    }

    /// `h` `[B, T, D]` projected by `w` and rotated, `[B, T, D]` (head-major columns). The projection is
    /// computed as two half-width products (the first and the second half of every head), so the
    /// rotation runs on contiguous `[B, T, D/2]` tensors against tables of the same shape instead of
    /// on strided slices of the head layout; the result is the same `rotate_half` rotation.
    ///
    /// On the CPU backends the projection is one product and the rotation one fused pass.
    pub fn project(&self, h: Tensor<B, 3>, w: &Linear<B>) -> Tensor<B, 3> {
        let tables = match (&self.angles, &self.tables) {
            (Some(angles), _) => return rotate(crate::linear(h, w), angles),
            (None, Some(tables)) => tables,
            (None, None) => unreachable!("a Rotary holds angles or tables"),
        };
        let [b, t, d] = h.dims();
        let (nh, k) = (self.n_heads, d / self.n_heads);
        let weight = w.weight.val(); // [D_in, D_out]
        let x1 = h.clone().matmul(weight.clone().select(1, tables.first.clone()).unsqueeze::<3>());
        let x2 = h.matmul(weight.select(1, tables.second.clone()).unsqueeze::<3>());
        let r1 = x1.clone() * tables.cos.clone() - x2.clone() * tables.sin.clone();
        let r2 = x1 * tables.sin.clone() + x2 * tables.cos.clone();
        let halves = |r: Tensor<B, 3>| r.reshape([b, t, nh, k / 2]);
        Tensor::cat(vec![halves(r1), halves(r2)], 3).reshape([b, t, d])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    /// The rotation composed from tensor operations (what other backends run), in value and
    /// gradient, and the inference path, against the fused one.
    #[test]
    fn fused_rotation_matches_the_composed_one_in_value_and_gradient() {
        let device = Default::default();
        let (b, t, heads, k, start) = (2, 5, 3, 8, 7);
        let d = heads * k;
        let angles = Angles::new(start, t, k, 10_000.0);
        let values: Vec<f32> = (0..b * t * d).map(|i| ((i * 7919) % 200) as f32 / 50.0 - 2.0).collect();
        let target: Vec<f32> = (0..b * t * d).map(|i| ((i * 104_729) % 300) as f32 / 100.0 - 1.5).collect();
        let table =
            |v: &[f32]| Tensor::<CpuTrain, 4>::from_data(TensorData::new(v.to_vec(), [1, t, 1, k / 2]), &device);
        let run = |fused: bool| {
            let y =
                Tensor::<CpuTrain, 3>::from_data(TensorData::new(values.clone(), [b, t, d]), &device).require_grad();
            let out = if fused {
                rotate(y.clone(), &angles)
            } else {
                let heads4 = y.clone().reshape([b, t, heads, k]);
                let x1 = heads4.clone().slice([0..b, 0..t, 0..heads, 0..k / 2]);
                let x2 = heads4.slice([0..b, 0..t, 0..heads, k / 2..k]);
                let (cos, sin) = (table(&angles.cos), table(&angles.sin));
                let r1 = x1.clone() * cos.clone() - x2.clone() * sin.clone();
                let r2 = x1 * sin + x2 * cos;
                Tensor::cat(vec![r1, r2], 3).reshape([b, t, d])
            };
            let weights = Tensor::<CpuTrain, 3>::from_data(TensorData::new(target.clone(), [b, t, d]), &device);
            let grads = (out.clone() * weights).sum().backward();
            [
                out.into_data().into_vec::<f32>().expect("f32"),
                y.grad(&grads).expect("dy").into_data().into_vec::<f32>().expect("f32"),
            ]
        };
        let inference =
            rotate(Tensor::<Cpu, 3>::from_data(TensorData::new(values.clone(), [b, t, d]), &device), &angles)
                .into_data()
                .into_vec::<f32>()
                .expect("f32");
        let (fused, composed) = (run(true), run(false));
        for (name, (a, c)) in ["value", "gradient"]
            .iter()
            .zip(fused.iter().zip(&composed))
            .chain([(&"inference", (&inference, &composed[0]))])
        {
            let worst = a.iter().zip(c).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
            assert!(worst < 1e-5, "{name}: max abs difference {worst}");
        }
    }
}
