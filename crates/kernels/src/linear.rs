//! The model's projections, `y = x · W` (no bias), on the CPU backends: rows split into pieces,
//! each piece one single-threaded `gemm` product on its own thread, the output a fresh `Vec`.
//!
//! burn's CPU backend multiplies with the same kernels, but allocates each product's output as
//! a zeroed byte buffer and then copies it once more to align it for `f32` — a `memset` and a
//! `memmove` of the whole output on the thread that drives the step while the other threads
//! wait: a tenth of a training step of `small` (seven projections per block, forward and twice
//! backward). Here the output is allocated and never zeroed: the threads that compute it are the
//! first to write it ([`crate::matmul::product`]). The backward pass takes `dx = dy · Wᵀ` the
//! same way and `dW = xᵀ · dy` as one partial sum per thread, added at the end.
//!
//! The weights stay burn's `Linear` modules (`[d_in, d_out]`), so checkpoints do not change;
//! other backends use burn's layer.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::nn::Linear;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorPrimitive};
use rayon::prelude::*;

use crate::host::{FlexTensor, as_backend, from_host, host, same_type};
use crate::matmul::{View, matmul, product};
use crate::{Cpu, CpuTrain};

/// `layer` applied to `x` (`[…, d_in]` → `[…, d_out]`) on any backend.
pub fn linear<B: Backend, const N: usize>(x: Tensor<B, N>, layer: &Linear<B>) -> Tensor<B, N> {
    if layer.bias.is_some() {
        return layer.forward(x);
    }
    let x = match same_type::<_, (Tensor<Cpu, N>, Tensor<Cpu, 2>)>((x, layer.weight.val())) {
        Ok((x, w)) => return as_backend(inference(x, w)),
        Err((x, _)) => x,
    };
    match same_type::<_, (Tensor<CpuTrain, N>, Tensor<CpuTrain, 2>)>((x, layer.weight.val())) {
        Ok((x, w)) => as_backend(trainable(x, w)),
        Err((x, _)) => layer.forward(x),
    }
}

/// Rows per piece for `n` rows: about two pieces per thread (so a thread slowed by its
/// neighbours on a shared machine does not hold the others up), at least 32 rows (below that the
/// kernels' fixed costs show).
/// Groups of rows whose weight gradients are summed apart, then together in order.
const WEIGHT_GRADIENT_GROUPS: usize = 8;

fn piece_rows(n: usize) -> usize {
    let pieces = 2 * rayon::current_num_threads().max(1);
    n.div_ceil(pieces).max(32)
}

/// `x` `[n, d]` · `w` `[d, o]` → `[n, o]`, row-major.
fn forward(x: &[f32], w: &[f32], d: usize, o: usize) -> Vec<f32> {
    product(x, d, View::rows(w, d, o, o), piece_rows(x.len() / d))
}

/// The output shape: `x`'s with the last dimension `o`.
fn output_dims<const N: usize>(mut dims: [usize; N], o: usize) -> [usize; N] {
    dims[N - 1] = o;
    dims
}

fn inference<const N: usize>(x: Tensor<Cpu, N>, w: Tensor<Cpu, 2>) -> Tensor<Cpu, N> {
    let dims = x.dims();
    let [d, o] = w.dims();
    let (x, w) = (x.into_primitive().tensor(), w.into_primitive().tensor());
    let y = forward(&host(&x), &host(&w), d, o);
    Tensor::from_primitive(TensorPrimitive::Float(from_host(y, output_dims(dims, o))))
}

fn trainable<const N: usize>(x: Tensor<CpuTrain, N>, w: Tensor<CpuTrain, 2>) -> Tensor<CpuTrain, N> {
    let dims = x.dims();
    let [d, o] = w.dims();
    let (x, w) = (x.into_primitive().tensor(), w.into_primitive().tensor());
    let (hx, hw) = (x.primitive.clone(), w.primitive.clone());
    let output = from_host(forward(&host(&hx), &host(&hw), d, o), output_dims(dims, o));
    let result = match Project.prepare::<NoCheckpointing>([x.node.clone(), w.node.clone()]).compute_bound().stateful() {
        OpsKind::Tracked(prep) => prep.finish(Saved { x: hx, w: hw, dims: dims.to_vec(), d, o }, output),
        OpsKind::UnTracked(prep) => prep.finish(output),
    };
    Tensor::from_primitive(TensorPrimitive::Float(result))
}

/// The input and the weight (shared with the graph, not copied), and their shapes.
#[derive(Debug, Clone)]
struct Saved {
    x: FlexTensor,
    w: FlexTensor,
    dims: Vec<usize>,
    /// The weight's `[d_in, d_out]`.
    d: usize,
    o: usize,
}

#[derive(Debug)]
struct Project;

impl Backward<Cpu, 2> for Project {
    type State = Saved;

    /// `dx = dy · Wᵀ`, `dW = xᵀ · dy`.
    fn backward(self, ops: Ops<Saved, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let Saved { x, w, dims, d, o } = ops.state;
        let dy = grads.consume::<Cpu>(&ops.node);
        let (x, w, dy) = (host(&x), host(&w), host(&dy));
        let n = x.len() / d;
        let rows = piece_rows(n);
        let [px, pw] = ops.parents;
        if let Some(node) = px {
            let dx = product(&dy, o, View::rows(&w, d, o, o).t(), rows);
            grads.register::<Cpu>(node.id, from_host(dx, dims));
        }
        if let Some(node) = pw {
            // Rows in a fixed number of groups, whatever the thread count, summed in order: the
            // gradient is the same bit for bit on every run and machine (rayon's fold would group
            // rows as work-stealing happens to split them).
            let group = n.div_ceil(WEIGHT_GRADIENT_GROUPS).max(32);
            let partials: Vec<Vec<f32>> = x
                .par_chunks(group * d)
                .zip(dy.par_chunks(group * o))
                .map(|(x, dy)| {
                    let r = x.len() / d;
                    let mut dw = vec![0.0f32; d * o];
                    matmul(&mut dw, o, View::rows(x, r, d, d).t(), View::rows(dy, r, o, o), 1.0, true);
                    dw
                })
                .collect();
            let dw = partials
                .into_iter()
                .reduce(|mut a, b| {
                    a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
                    a
                })
                .unwrap_or_else(|| vec![0.0f32; d * o]);
            grads.register::<Cpu>(node.id, from_host(dw, [d, o]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::LinearConfig;
    use burn::tensor::TensorData;

    #[test]
    fn fused_projection_matches_burns_layer_in_value_and_gradients() {
        let device = Default::default();
        let (shape, d, o) = ([3, 45, 24], 24, 40);
        let n = shape.iter().product::<usize>();
        let values: Vec<f32> = (0..n).map(|i| ((i * 7919) % 400) as f32 / 50.0 - 4.0).collect();
        let target: Vec<f32> = (0..n / d * o).map(|i| ((i * 104_729) % 300) as f32 / 100.0 - 1.5).collect();
        let layer: Linear<CpuTrain> = LinearConfig::new(d, o).with_bias(false).init(&device);
        let run = |fused: bool| {
            let x = Tensor::<CpuTrain, 3>::from_data(TensorData::new(values.clone(), shape), &device).require_grad();
            let y = if fused { linear(x.clone(), &layer) } else { layer.forward(x.clone()) };
            let weights = Tensor::<CpuTrain, 3>::from_data(TensorData::new(target.clone(), [3, 45, o]), &device);
            let grads = (y.clone() * weights).sum().backward();
            let f = |t: Tensor<CpuTrain, 3>| t.into_data().into_vec::<f32>().expect("f32");
            [
                f(y),
                x.grad(&grads).expect("dx").into_data().into_vec::<f32>().expect("f32"),
                layer.weight.val().grad(&grads).expect("dW").into_data().into_vec::<f32>().expect("f32"),
            ]
        };
        let inference = {
            let cpu: Linear<Cpu> =
                Linear { weight: burn::module::Param::from_tensor(layer.weight.val().inner()), bias: None };
            let x = Tensor::<Cpu, 3>::from_data(TensorData::new(values.clone(), shape), &device);
            linear(x, &cpu).into_data().into_vec::<f32>().expect("f32")
        };
        let (fused, composed) = (run(true), run(false));
        crate::testing::assert_matches_composed(&["value", "dx", "dW"], &fused, &composed, &inference, 1e-4);
    }

    #[test]
    fn the_weight_gradient_is_the_same_bits_on_every_run_and_thread_count() {
        let device = Default::default();
        let (rows, d, o) = (4096, 32, 48);
        let values: Vec<f32> = (0..rows * d).map(|i| ((i * 7919) % 997) as f32 / 300.0 - 1.6).collect();
        let target: Vec<f32> = (0..rows * o).map(|i| ((i * 104_729) % 991) as f32 / 500.0 - 1.0).collect();
        let layer: Linear<CpuTrain> = LinearConfig::new(d, o).with_bias(false).init(&device);
        let gradient = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
            pool.install(|| {
                let x = Tensor::<CpuTrain, 3>::from_data(TensorData::new(values.clone(), [1, rows, d]), &device)
                    .require_grad();
                let w = Tensor::<CpuTrain, 3>::from_data(TensorData::new(target.clone(), [1, rows, o]), &device);
                let grads = (linear(x.clone(), &layer) * w).sum().backward();
                let mut all = layer.weight.val().grad(&grads).expect("dW").into_data().into_vec::<f32>().expect("f32");
                all.extend(x.grad(&grads).expect("dx").into_data().into_vec::<f32>().expect("f32"));
                all
            })
        };
        let first = gradient(3);
        for threads in [1, 2, 3, 3, 4, 7] {
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
            assert_eq!(bits(&gradient(threads)), bits(&first), "{threads} threads");
        }
    }
}
