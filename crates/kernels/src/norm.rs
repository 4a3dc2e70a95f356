//! RMSNorm, `y = x / √(mean(x²) + ε) · γ` over the last dimension, fused for the CPU backends:
//! one parallel, vectorised pass forward and one backward, instead of burn's six operations
//! (square, mean, add, square root, a broadcast division and a broadcast product), each a
//! single-threaded pass with an intermediate the size of the input, and their gradients under
//! autodiff. Nine norms run per step of `small`; other backends use burn's layer. The module
//! and its weight (`gamma`) are burn's, so checkpoints do not change.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::nn::RmsNorm;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorPrimitive};
use pulp::{Arch, NullaryFnOnce};
use rayon::prelude::*;

use crate::host::{FlexTensor, as_backend, from_host, host, same_type};
use crate::{Cpu, CpuTrain};

/// Rows per parallel piece.
const ROWS: usize = 32;

/// `norm` applied to `x` `[B, T, D]` on any backend.
pub fn rms_norm<B: Backend>(x: Tensor<B, 3>, norm: &RmsNorm<B>) -> Tensor<B, 3> {
    let x = match same_type::<_, (Tensor<Cpu, 3>, Tensor<Cpu, 1>)>((x, norm.gamma.val())) {
        Ok((x, gamma)) => return as_backend(inference(x, gamma, norm.epsilon)),
        Err((x, _)) => x,
    };
    match same_type::<_, (Tensor<CpuTrain, 3>, Tensor<CpuTrain, 1>)>((x, norm.gamma.val())) {
        Ok((x, gamma)) => as_backend(trainable(x, gamma, norm.epsilon)),
        Err((x, _)) => norm.forward(x),
    }
}

/// `y` rows and each row's `1/rms`, from `x` rows of width `gamma.len()`.
fn forward(x: &[f32], gamma: &[f32], eps: f32) -> (Vec<f32>, Vec<f32>) {
    let d = gamma.len();
    let mut y = vec![0.0f32; x.len()];
    let mut inv = vec![0.0f32; x.len() / d];
    y.par_chunks_mut(ROWS * d).zip(inv.par_chunks_mut(ROWS)).zip(x.par_chunks(ROWS * d)).for_each(|((y, inv), x)| {
        Arch::new().dispatch(Normalize { x, y, inv, gamma, eps });
    });
    (y, inv)
}

struct Normalize<'a> {
    x: &'a [f32],
    y: &'a mut [f32],
    inv: &'a mut [f32],
    gamma: &'a [f32],
    eps: f32,
}

impl NullaryFnOnce for Normalize<'_> {
    type Output = ();

    #[inline(always)]
    fn call(self) {
        let d = self.gamma.len();
        for ((x, y), inv) in self.x.chunks_exact(d).zip(self.y.chunks_exact_mut(d)).zip(self.inv.iter_mut()) {
            let r = 1.0 / (sum_of_squares(x) / d as f32 + self.eps).sqrt();
            *inv = r;
            for ((y, x), g) in y.iter_mut().zip(x).zip(self.gamma) {
                *y = x * r * g;
            }
        }
    }
}

/// `Σ x²`, in 16 lanes so it vectorises.
#[inline(always)]
fn sum_of_squares(x: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 16];
    let mut chunks = x.chunks_exact(16);
    for c in &mut chunks {
        for i in 0..16 {
            lanes[i] = c[i].mul_add(c[i], lanes[i]);
        }
    }
    lanes.iter().sum::<f32>() + chunks.remainder().iter().map(|v| v * v).sum::<f32>()
}

fn inference(x: Tensor<Cpu, 3>, gamma: Tensor<Cpu, 1>, eps: f64) -> Tensor<Cpu, 3> {
    let dims = x.dims();
    let (x, gamma) = (x.into_primitive().tensor(), gamma.into_primitive().tensor());
    let (y, _) = forward(&host(&x), &host(&gamma), eps as f32);
    Tensor::from_primitive(TensorPrimitive::Float(from_host(y, dims)))
}

fn trainable(x: Tensor<CpuTrain, 3>, gamma: Tensor<CpuTrain, 1>, eps: f64) -> Tensor<CpuTrain, 3> {
    let dims = x.dims();
    let (x, gamma) = (x.into_primitive().tensor(), gamma.into_primitive().tensor());
    let (hx, hg) = (x.primitive.clone(), gamma.primitive.clone());
    let (y, inv) = forward(&host(&hx), &host(&hg), eps as f32);
    let output = from_host(y, dims);
    let result = match Norm.prepare::<NoCheckpointing>([x.node.clone(), gamma.node.clone()]).compute_bound().stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(Saved { x: hx, gamma: hg, inv, dims }, output),
        OpsKind::UnTracked(prep) => prep.finish(output),
    };
    Tensor::from_primitive(TensorPrimitive::Float(result))
}

/// The input and `γ` (shared with the graph, not copied) and each row's `1/rms`.
#[derive(Debug, Clone)]
struct Saved {
    x: FlexTensor,
    gamma: FlexTensor,
    inv: Vec<f32>,
    dims: [usize; 3],
}

#[derive(Debug)]
struct Norm;

impl Backward<Cpu, 2> for Norm {
    type State = Saved;

    /// With `g = γ ⊙ dy` and `r = 1/rms`: `dx = r·g − (r³/D)·(g·x)·x`, `dγ = Σ_rows dy ⊙ x·r`.
    fn backward(self, ops: Ops<Saved, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let Saved { x, gamma, inv, dims } = ops.state;
        let dy = grads.consume::<Cpu>(&ops.node);
        let (x, gamma, dy) = (host(&x), host(&gamma), host(&dy));
        let d = gamma.len();
        let mut dx = vec![0.0f32; x.len()];
        let d_gamma = dx
            .par_chunks_mut(ROWS * d)
            .zip(x.par_chunks(ROWS * d))
            .zip(dy.par_chunks(ROWS * d))
            .zip(inv.par_chunks(ROWS))
            .map(|(((dx, x), dy), inv)| Arch::new().dispatch(Gradient { x, dy, inv, gamma: &gamma, dx }))
            .collect::<Vec<Vec<f32>>>()
            .into_iter()
            // Summed in row order, not as work-stealing split the rows: the same bits every run.
            .fold(vec![0.0f32; d], |mut a, b| {
                for (a, b) in a.iter_mut().zip(&b) {
                    *a += b;
                }
                a
            });
        let [px, pg] = ops.parents;
        if let Some(node) = px {
            grads.register::<Cpu>(node.id, from_host(dx, dims));
        }
        if let Some(node) = pg {
            grads.register::<Cpu>(node.id, from_host(d_gamma, [d]));
        }
    }
}

/// One piece of rows: writes `dx`, returns the piece's share of `dγ`.
struct Gradient<'a> {
    x: &'a [f32],
    dy: &'a [f32],
    inv: &'a [f32],
    gamma: &'a [f32],
    dx: &'a mut [f32],
}

impl NullaryFnOnce for Gradient<'_> {
    type Output = Vec<f32>;

    #[inline(always)]
    fn call(self) -> Vec<f32> {
        let d = self.gamma.len();
        let mut d_gamma = vec![0.0f32; d];
        for (((x, dy), &r), dx) in
            self.x.chunks_exact(d).zip(self.dy.chunks_exact(d)).zip(self.inv).zip(self.dx.chunks_exact_mut(d))
        {
            let mut lanes = [0.0f32; 16];
            let (mut xc, mut dc, mut gc) = (x.chunks_exact(16), dy.chunks_exact(16), self.gamma.chunks_exact(16));
            for ((x, dy), g) in (&mut xc).zip(&mut dc).zip(&mut gc) {
                for i in 0..16 {
                    lanes[i] = (g[i] * dy[i]).mul_add(x[i], lanes[i]);
                }
            }
            let tail: f32 =
                xc.remainder().iter().zip(dc.remainder()).zip(gc.remainder()).map(|((x, dy), g)| g * dy * x).sum();
            let gx = lanes.iter().sum::<f32>() + tail;
            let c = r * r * r * gx / d as f32;
            for ((((dx, x), dy), g), dg) in dx.iter_mut().zip(x).zip(dy).zip(self.gamma).zip(d_gamma.iter_mut()) {
                *dx = r * g * dy - c * x;
                *dg = (dy * x).mul_add(r, *dg);
            }
        }
        d_gamma
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::RmsNormConfig;
    use burn::tensor::TensorData;

    #[test]
    fn fused_norm_matches_burns_layer_in_value_and_gradients() {
        let device = Default::default();
        let shape = [3, 37, 40];
        let n = shape.iter().product::<usize>();
        let values: Vec<f32> = (0..n).map(|i| ((i * 7919) % 400) as f32 / 50.0 - 4.0).collect();
        let target: Vec<f32> = (0..n).map(|i| ((i * 104_729) % 300) as f32 / 100.0 - 1.5).collect();
        // A γ that is not all ones, so its gradient and its product both count.
        let mut norm: RmsNorm<CpuTrain> = RmsNormConfig::new(40).init(&device);
        let gamma: Vec<f32> = (0..40).map(|i| 0.5 + i as f32 / 40.0).collect();
        norm.gamma = burn::module::Param::from_tensor(Tensor::from_data(TensorData::new(gamma.clone(), [40]), &device));
        let run = |fused: bool| {
            let x = Tensor::<CpuTrain, 3>::from_data(TensorData::new(values.clone(), shape), &device).require_grad();
            let y = if fused { rms_norm(x.clone(), &norm) } else { norm.forward(x.clone()) };
            let weights = Tensor::<CpuTrain, 3>::from_data(TensorData::new(target.clone(), shape), &device);
            let grads = (y.clone() * weights).sum().backward();
            let f = |t: Vec<f32>| t;
            [
                f(y.into_data().into_vec::<f32>().expect("f32")),
                f(x.grad(&grads).expect("dx").into_data().into_vec::<f32>().expect("f32")),
                f(norm.gamma.val().grad(&grads).expect("dγ").into_data().into_vec::<f32>().expect("f32")),
            ]
        };
        let inference = {
            let cpu_norm: RmsNorm<Cpu> = RmsNorm {
                gamma: burn::module::Param::from_tensor(Tensor::from_data(TensorData::new(gamma, [40]), &device)),
                epsilon: norm.epsilon,
            };
            let x = Tensor::<Cpu, 3>::from_data(TensorData::new(values.clone(), shape), &device);
            rms_norm(x, &cpu_norm).into_data().into_vec::<f32>().expect("f32")
        };
        let (fused, composed) = (run(true), run(false));
        crate::testing::assert_matches_composed(&["value", "dx", "dγ"], &fused, &composed, &inference, 1e-4);
    }
}
