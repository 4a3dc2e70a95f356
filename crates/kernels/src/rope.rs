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
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorPrimitive};
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
