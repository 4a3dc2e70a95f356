//! Causal self-attention of a block, on whichever backend: the fused CPU kernel of
//! [`crate::attention`] for inference on [`crate::Cpu`] (reading and appending the host
//! key/value cache in place), the fused kernel with its own backward pass for training on
//! [`crate::CpuTrain`], and burn's attention everywhere else (CUDA), with the cache as tensors.

use burn::tensor::backend::Backend;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Int, Tensor, TensorData};

use crate::attention as fused;
use crate::kv::LayerCache;

/// Causal self-attention of `q`, `key` (both rotated) and `value` `[B, T, D]` for positions
/// `start..start + T` of `n_heads` heads → `[B, T, D]`. With a cache, keys and values of earlier
/// positions are read from it and these are appended (`reserve`: the positions it should make
/// room for when it grows). Sequence `b` never attends to its first `pads[b]` positions.
pub fn self_attention<B: Backend>(
    q: Tensor<B, 3>,
    key: Tensor<B, 3>,
    value: Tensor<B, 3>,
    n_heads: usize,
    start: usize,
    cache: Option<(&mut LayerCache<B>, usize)>,
    pads: &[usize],
) -> Tensor<B, 3> {
    let head_dim = q.dims()[2] / n_heads;
    if on_host_cpu::<B>() && fused::supports(head_dim) {
        host_attention(q, key, value, n_heads, start, cache, pads)
    } else {
        tensor_attention(q, key, value, n_heads, cache, pads)
    }
}

/// Query rows per piece of [`causal_attention`].
const ATTENTION_CHUNK: usize = 128;

/// Causal self-attention over `T` positions (`q`, `k`, `v` all `[B, H, T, K]`), computed in
/// pieces of [`ATTENTION_CHUNK`] query rows, each against only the keys it may see. A query row
/// never looks ahead, so about half of the `T × T` score matrix is never computed — the kernels
/// mask it after computing it — and under autodiff the backward pass skips it too.
fn causal_attention<B: Backend>(q: Tensor<B, 4>, k: Tensor<B, 4>, v: Tensor<B, 4>) -> Tensor<B, 4> {
    let [b, h, t, d] = q.dims();
    let options = AttentionModuleOptions { scale: None, softcap: None, is_causal: true };
    if t <= ATTENTION_CHUNK {
        return attention(q, k, v, None, None, options);
    }
    let pieces = (0..t)
        .step_by(ATTENTION_CHUNK)
        .map(|start| {
            let end = (start + ATTENTION_CHUNK).min(t);
            // The kernels mask key j for query row i when j > i + (keys - queries): here that is
            // j > start + i, exactly the causal rule for these rows.
            attention(
                q.clone().slice([0..b, 0..h, start..end, 0..d]),
                k.clone().slice([0..b, 0..h, 0..end, 0..d]),
                v.clone().slice([0..b, 0..h, 0..end, 0..d]),
                None,
                None,
                options,
            )
        })
        .collect();
    Tensor::cat(pieces, 2)
}

/// Whether `B` is the plain CPU backend, whose tensors live in host memory: inference there runs
/// the fused attention kernel of [`crate::attention`]. (Autodiff and GPU backends use burn's
/// attention.)
fn on_host_cpu<B: Backend>() -> bool {
    std::any::TypeId::of::<B>() == std::any::TypeId::of::<crate::Cpu>()
}

/// The float contents of a CPU tensor. The CPU backend's float tensors are f32 throughout this
/// model, so anything else is a bug here, not an input error.
fn host_vec<B: Backend, const N: usize>(x: Tensor<B, N>) -> Vec<f32> {
    x.into_data().into_vec::<f32>().expect("the CPU backend computes in f32")
}

/// Attention through the fused CPU kernel: `q`, `key`, `value` `[B, T, D]` for positions
/// `start..start + T` → `[B, T, D]`.
fn host_attention<B: Backend>(
    q: Tensor<B, 3>,
    key: Tensor<B, 3>,
    value: Tensor<B, 3>,
    n_heads: usize,
    start: usize,
    cache: Option<(&mut LayerCache<B>, usize)>,
    pads: &[usize],
) -> Tensor<B, 3> {
    let [b, t, d] = q.dims();
    let device = q.device();
    let (q, key, value) = (host_vec(q), host_vec(key), host_vec(value));
    let shape = |key_stride: usize, offset: usize| fused::Shape {
        batch: b,
        queries: t,
        key_stride,
        offset,
        heads: n_heads,
        head_dim: d / n_heads,
    };
    let out = match cache {
        None => fused::causal_padded(&q, &key, &value, shape(t, start), pads),
        Some((slot, reserve)) => {
            let kv = slot.host(b, d);
            kv.append(&key, &value, t, reserve);
            match &kv.prefix {
                Some(prefix) => {
                    let shared = fused::Prefix {
                        keys: &prefix.keys,
                        values: &prefix.values,
                        len: prefix.len,
                        group_of: &kv.group_of,
                    };
                    fused::causal_shared(&q, shared, &kv.keys, &kv.values, shape(kv.capacity, kv.len - t), pads)
                }
                None => fused::causal_padded(&q, &kv.keys, &kv.values, shape(kv.capacity, kv.len - t), pads),
            }
        }
    };
    Tensor::from_data(TensorData::new(out, [b, t, d]), &device)
}

/// Attention through burn's tensor operations (any backend, differentiable): `q`, `key`, `value`
/// `[B, T, D]` → `[B, T, D]`.
fn tensor_attention<B: Backend>(
    mut q: Tensor<B, 3>,
    mut key: Tensor<B, 3>,
    mut value: Tensor<B, 3>,
    n_heads: usize,
    cache: Option<(&mut LayerCache<B>, usize)>,
    pads: &[usize],
) -> Tensor<B, 3> {
    let [b, t, d] = q.dims();
    // Training on the CPU: the fused attention with its own backward pass.
    if cache.is_none() && pads.is_empty() && fused::supports(d / n_heads) {
        match crate::training_attention(q, key, value, n_heads) {
            Ok(a) => return a,
            Err((qq, kk, vv)) => (q, key, value) = (qq, kk, vv),
        }
    }
    let heads = |y: Tensor<B, 3>| y.reshape([b, t, n_heads, d / n_heads]).swap_dims(1, 2); // [B, H, T, K]
    let (q, mut key, mut value) = (heads(q), heads(key), heads(value));
    let mut cached = false;
    if let Some((slot, _)) = cache {
        if let LayerCache::Tensors { keys, values } = std::mem::take(slot) {
            key = Tensor::cat(vec![keys, key], 2);
            value = Tensor::cat(vec![values, value], 2);
            cached = true;
        }
        *slot = LayerCache::Tensors { keys: key.clone(), values: value.clone() };
    }
    // burn's causal mask hides key j from query i when j > i + (keys − queries), which is the
    // causal rule after a cache as well. Pieces pay off where the scores are materialised for the
    // backward pass (autodiff); fused forward kernels mask cheaply on their own.
    // Left padding: key j of sequence b is hidden when j < pads[b].
    let mask = (pads.iter().any(|&p| p > 0)).then(|| {
        let device = q.device();
        let keys = key.dims()[2];
        let pads: Vec<i64> = pads.iter().map(|&p| p as i64).collect();
        let pads = Tensor::<B, 1, Int>::from_data(TensorData::new(pads, [b]), &device).reshape([b, 1]);
        let positions = Tensor::<B, 1, Int>::arange(0..keys as i64, &device).reshape([1, keys]);
        positions.lower(pads).reshape([b, 1, 1, keys]).expand([b, n_heads, t, keys])
    });
    let a = if !cached && mask.is_none() && B::ad_enabled(&q.device()) {
        causal_attention(q, key, value)
    } else {
        let options = AttentionModuleOptions { scale: None, softcap: None, is_causal: true };
        attention(q, key, value, mask, None, options)
    };
    a.swap_dims(1, 2).reshape([b, t, d])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Cpu;

    /// The piecewise causal attention (what autodiff on a GPU records) against one call of
    /// burn's attention over the whole window.
    #[test]
    fn attention_in_pieces_equals_attention_in_one_call() {
        let device = Default::default();
        let (b, h, t, k) = (2, 2, 300, 16);
        let values = |seed: usize| -> Tensor<Cpu, 4> {
            let data: Vec<f32> =
                (0..b * h * t * k).map(|i| (((i + seed) * 2_654_435_761) % 1000) as f32 / 250.0 - 2.0).collect();
            Tensor::from_data(TensorData::new(data, [b, h, t, k]), &device)
        };
        let (q, key, value) = (values(1), values(2), values(3));
        let options = AttentionModuleOptions { scale: None, softcap: None, is_causal: true };
        let whole = attention(q.clone(), key.clone(), value.clone(), None, None, options);
        let pieces = causal_attention(q, key, value);
        let diff: f32 = (whole - pieces).abs().max().into_scalar();
        assert!(t > ATTENTION_CHUNK && diff < 1e-5, "max abs difference {diff}");
    }
}
