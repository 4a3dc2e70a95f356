//! The SwiGLU gate, `silu(gate) ⊙ up`, fused for the CPU backends: one vectorised pass instead of
//! burn's sigmoid, two multiplications and their intermediates (and, under autodiff, their
//! gradients) — about a tenth of an embedding's time went there, with `exp` evaluated one element
//! at a time. Other backends use burn's operations.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::tensor::activation::silu;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorPrimitive};
use pulp::{Arch, NullaryFnOnce};
use rayon::prelude::*;

use crate::attention::exp;
use crate::host::{FlexTensor, as_backend, from_host, host, same_type, to_host};
use crate::{Cpu, CpuTrain};

/// Elements per parallel piece.
const PIECE: usize = 1 << 14;

/// `silu(gate) ⊙ up` for `gate`, `up` `[B, T, F]`, on any backend.
pub fn swiglu<B: Backend>(gate: Tensor<B, 3>, up: Tensor<B, 3>) -> Tensor<B, 3> {
    let (gate, up) = match same_type::<_, (Tensor<Cpu, 3>, Tensor<Cpu, 3>)>((gate, up)) {
        Ok((gate, up)) => return as_backend(inference(gate, up)),
        Err(inputs) => inputs,
    };
    let (gate, up) = match same_type::<_, (Tensor<CpuTrain, 3>, Tensor<CpuTrain, 3>)>((gate, up)) {
        Ok((gate, up)) => return as_backend(trainable(gate, up)),
        Err(inputs) => inputs,
    };
    silu(gate) * up
}

fn inference(gate: Tensor<Cpu, 3>, up: Tensor<Cpu, 3>) -> Tensor<Cpu, 3> {
    let dims = gate.dims();
    let mut g = to_host(gate.into_primitive().tensor());
    let u = to_host(up.into_primitive().tensor());
    g.par_chunks_mut(PIECE)
        .zip(u.par_chunks(PIECE))
        .for_each(|(g, u)| Arch::new().dispatch(Forward { gate: g, up: u }));
    Tensor::from_primitive(TensorPrimitive::Float(from_host(g, dims)))
}

/// `silu(x) = x·σ(x)` and `σ(x)`, through `e^(−|x|)` so the exponential never overflows.
#[inline(always)]
fn silu_sigmoid(x: f32) -> (f32, f32) {
    let e = exp(-x.abs());
    let r = 1.0 / (1.0 + e);
    let s = if x >= 0.0 { r } else { e * r };
    (x * s, s)
}

/// `gate ← silu(gate) ⊙ up`.
struct Forward<'a> {
    gate: &'a mut [f32],
    up: &'a [f32],
}

impl NullaryFnOnce for Forward<'_> {
    type Output = ();

    #[inline(always)]
    fn call(self) {
        for (g, u) in self.gate.iter_mut().zip(self.up) {
            *g = silu_sigmoid(*g).0 * u;
        }
    }
}

fn trainable(gate: Tensor<CpuTrain, 3>, up: Tensor<CpuTrain, 3>) -> Tensor<CpuTrain, 3> {
    let dims = gate.dims();
    let (gate, up) = (gate.into_primitive().tensor(), up.into_primitive().tensor());
    let (g, u) = (gate.primitive.clone(), up.primitive.clone());
    let mut out = to_host(g.clone());
    let up_values = host(&u);
    out.par_chunks_mut(PIECE)
        .zip(up_values.par_chunks(PIECE))
        .for_each(|(o, u)| Arch::new().dispatch(Forward { gate: o, up: u }));
    let output = from_host(out, dims);
    let result =
        match SwiGlu.prepare::<NoCheckpointing>([gate.node.clone(), up.node.clone()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish(Saved { gate: g, up: u, dims }, output),
            OpsKind::UnTracked(prep) => prep.finish(output),
        };
    Tensor::from_primitive(TensorPrimitive::Float(result))
}

/// The inputs, shared with the graph (not copied).
#[derive(Debug, Clone)]
struct Saved {
    gate: FlexTensor,
    up: FlexTensor,
    dims: [usize; 3],
}

#[derive(Debug)]
struct SwiGlu;

impl Backward<Cpu, 2> for SwiGlu {
    type State = Saved;

    /// `d gate = dy ⊙ up ⊙ σ(g)(1 + g(1 − σ(g)))`, `d up = dy ⊙ silu(g)`.
    fn backward(self, ops: Ops<Saved, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let Saved { gate, up, dims } = ops.state;
        let (mut gate, mut up) = (to_host(gate), to_host(up));
        let dy = grads.consume::<Cpu>(&ops.node);
        let dy = host(&dy);
        gate.par_chunks_mut(PIECE)
            .zip(up.par_chunks_mut(PIECE))
            .zip(dy.par_chunks(PIECE))
            .for_each(|((g, u), dy)| Arch::new().dispatch(Gradient { gate: g, up: u, dy }));
        let [pg, pu] = ops.parents;
        if let Some(node) = pg {
            grads.register::<Cpu>(node.id, from_host(gate, dims));
        }
        if let Some(node) = pu {
            grads.register::<Cpu>(node.id, from_host(up, dims));
        }
    }
}

/// In place: `gate ← d gate`, `up ← d up`.
struct Gradient<'a> {
    gate: &'a mut [f32],
    up: &'a mut [f32],
    dy: &'a [f32],
}

impl NullaryFnOnce for Gradient<'_> {
    type Output = ();

    #[inline(always)]
    fn call(self) {
        for ((g, u), dy) in self.gate.iter_mut().zip(self.up.iter_mut()).zip(self.dy) {
            let (silu, s) = silu_sigmoid(*g);
            let d_gate = dy * *u * s * (1.0 + *g * (1.0 - s));
            *u = dy * silu;
            *g = d_gate;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    fn values(seed: usize) -> Vec<f32> {
        (0..2 * 7 * 33).map(|i| (((i + seed) * 2_654_435_761) % 2000) as f32 / 100.0 - 10.0).collect()
    }

    #[test]
    fn fused_gate_matches_silu_times_up_in_value_and_gradient() {
        let device = Default::default();
        let shape = [2, 7, 33];
        let make =
            |seed| Tensor::<CpuTrain, 3>::from_data(TensorData::new(values(seed), shape), &device).require_grad();
        let weights = Tensor::<CpuTrain, 3>::from_data(TensorData::new(values(9), shape), &device);
        let run = |fused: bool| {
            let (g, u) = (make(1), make(2));
            let y = if fused { swiglu(g.clone(), u.clone()) } else { silu(g.clone()) * u.clone() };
            let grads = (y.clone() * weights.clone()).sum().backward();
            let host = |x: Tensor<CpuTrain, 3>| x.into_data().into_vec::<f32>().expect("f32");
            let grad = |x: &Tensor<CpuTrain, 3>| {
                x.grad(&grads).expect("a gradient").into_data().into_vec::<f32>().expect("f32")
            };
            [host(y), grad(&g), grad(&u)]
        };
        let inference = {
            let cpu = |seed| Tensor::<Cpu, 3>::from_data(TensorData::new(values(seed), shape), &device);
            swiglu(cpu(1), cpu(2)).into_data().into_vec::<f32>().expect("f32")
        };
        let (fused, composed) = (run(true), run(false));
        crate::testing::assert_matches_composed(&["value", "d gate", "d up"], &fused, &composed, &inference, 1e-5);
    }
}
