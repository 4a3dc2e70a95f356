//! Portable weights: safetensors with PyTorch's names and layouts, so the PyTorch world reads our
//! model as it is (`crates/benchmarks/python/reference/` does) — `embed.weight` `[V, D]`, `layers.{i}.wq.weight`
//! `[out, in]` (burn keeps linear weights as `[in, out]`: they are transposed on the way),
//! `layers.{i}.attn_norm.weight` `[D]`, …, `norm.weight`, `head.weight`, and `value_embed.weight`
//! `[V, D]` in a model with the value channel. The model's config
//! travels in the file's metadata, under one key (`longitude`: `{"format", "version", "config"}`)
//! so that the header, and so the file, is byte-identical for identical weights.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::{Model, ModelConfig, ModelError};

/// The `format` metadata value of a Longitude weights file.
pub const FORMAT: &str = "longitude-model";
/// Its version: "2" for a model with the value channel, which builds that predate the channel
/// must refuse rather than load without it; "1" otherwise, as before it existed. This build
/// reads both.
pub const VERSION: &str = "2";
/// The version of a model without the value channel.
pub const VERSION_PLAIN: &str = "1";
/// The metadata key that holds format, version and config.
pub const METADATA_KEY: &str = "longitude";

fn floats<B: Backend, const D: usize>(t: Tensor<B, D>) -> (Vec<usize>, Vec<f32>) {
    let shape = t.dims().to_vec();
    let data = t.into_data().convert::<f32>();
    (shape, data.to_vec::<f32>().unwrap_or_default())
}

/// Every weight under its PyTorch name, in PyTorch layout.
pub fn named_weights<B: Backend>(model: &Model<B>) -> BTreeMap<String, (Vec<usize>, Vec<f32>)> {
    let mut out = BTreeMap::new();
    let linear = |l: &Linear<B>| floats(l.weight.val().transpose());
    out.insert("embed.weight".into(), floats(model.embed.weight.val()));
    if let Some(table) = &model.value_embed {
        out.insert("value_embed.weight".into(), floats(table.weight.val()));
    }
    for (i, b) in model.layers.iter().enumerate() {
        let p = |n: &str| format!("layers.{i}.{n}.weight");
        out.insert(p("attn_norm"), floats(b.attn_norm.gamma.val()));
        out.insert(p("wq"), linear(&b.wq));
        out.insert(p("wk"), linear(&b.wk));
        out.insert(p("wv"), linear(&b.wv));
        out.insert(p("wo"), linear(&b.wo));
        out.insert(p("mlp_norm"), floats(b.mlp_norm.gamma.val()));
        out.insert(p("w_gate"), linear(&b.w_gate));
        out.insert(p("w_up"), linear(&b.w_up));
        out.insert(p("w_down"), linear(&b.w_down));
    }
    out.insert("norm.weight".into(), floats(model.norm.gamma.val()));
    out.insert("head.weight".into(), linear(&model.head));
    out
}

/// Writes the weights and config to `path` (atomically).
pub fn save<B: Backend>(model: &Model<B>, config: &ModelConfig, path: &Path) -> Result<(), ModelError> {
    let weights = named_weights(model);
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = weights
        .into_iter()
        .map(|(name, (shape, values))| (name, shape, values.iter().flat_map(|v| v.to_le_bytes()).collect()))
        .collect();
    let mut views = Vec::with_capacity(bytes.len());
    for (name, shape, data) in &bytes {
        let view = TensorView::new(Dtype::F32, shape.clone(), data).map_err(|e| ModelError::format(path, e))?;
        views.push((name.clone(), view));
    }
    let version = if config.value_channel { VERSION } else { VERSION_PLAIN };
    let header = serde_json::json!({ "format": FORMAT, "version": version, "config": config });
    let metadata = HashMap::from([(METADATA_KEY.to_owned(), header.to_string())]);
    let buffer = safetensors::serialize(views, Some(metadata)).map_err(|e| ModelError::format(path, e))?;
    outputs::atomic::write(path, outputs::atomic::Access::Shared, &buffer).map_err(|e| ModelError::io(path, e.source))
}

/// The header [`save`] writes into the safetensors metadata under [`METADATA_KEY`].
#[derive(serde::Deserialize)]
struct Header {
    format: String,
    version: String,
    config: ModelConfig,
}

/// Reads a file [`save`] wrote (or any file with the same names, shapes and f32 data) into a
/// model on `device`.
pub fn load<B: Backend>(path: &Path, device: &B::Device) -> Result<(Model<B>, ModelConfig), ModelError> {
    let buffer = std::fs::read(path).map_err(|e| ModelError::io(path, e))?;
    let (_, header) = SafeTensors::read_metadata(&buffer).map_err(|e| ModelError::format(path, e))?;
    let metadata = header.metadata().clone().unwrap_or_default();
    let text = metadata
        .get(METADATA_KEY)
        .ok_or_else(|| ModelError::format(path, "not a Longitude model (no longitude metadata)"))?;
    let ours: Header = serde_json::from_str(text)
        .map_err(|e| ModelError::format(path, format!("not a Longitude model's header: {e}")))?;
    if ours.format != FORMAT {
        return Err(ModelError::format(path, "not a Longitude model"));
    }
    if ours.version != VERSION && ours.version != VERSION_PLAIN {
        return Err(ModelError::format(
            path,
            format!("weights version {}; this build reads {VERSION_PLAIN} and {VERSION}", ours.version),
        ));
    }
    let config = ours.config;
    if config.value_channel && ours.version != VERSION {
        return Err(ModelError::format(path, format!("a value-channel model must be version {VERSION}")));
    }
    config.check().map_err(|e| ModelError::format(path, e))?;
    let tensors = SafeTensors::deserialize(&buffer).map_err(|e| ModelError::format(path, e))?;
    let get = |name: &str, shape: &[usize]| -> Result<Vec<f32>, ModelError> {
        let view = tensors.tensor(name).map_err(|_| ModelError::format(path, format!("no tensor {name}")))?;
        if view.dtype() != Dtype::F32 || view.shape() != shape {
            return Err(ModelError::format(
                path,
                format!("{name}: {:?} {:?}, expected F32 {shape:?}", view.dtype(), view.shape()),
            ));
        }
        Ok(view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
    };
    let vector = |name: &str, n: usize| -> Result<Param<Tensor<B, 1>>, ModelError> {
        Ok(Param::from_tensor(Tensor::from_data(TensorData::new(get(name, &[n])?, [n]), device)))
    };
    let matrix = |name: &str, rows: usize, cols: usize| -> Result<Tensor<B, 2>, ModelError> {
        Ok(Tensor::from_data(TensorData::new(get(name, &[rows, cols])?, [rows, cols]), device))
    };
    // PyTorch's [out, in] back to burn's [in, out].
    let linear = |name: &str, d_in: usize, d_out: usize| -> Result<Param<Tensor<B, 2>>, ModelError> {
        Ok(Param::from_tensor(matrix(name, d_out, d_in)?.transpose()))
    };
    let (d, f, v) = (config.d_model, config.d_ff, config.vocab_size);
    let mut model = config.init::<B>(device);
    model.embed.weight = Param::from_tensor(matrix("embed.weight", v, d)?);
    if let Some(table) = model.value_embed.as_mut() {
        table.weight = Param::from_tensor(matrix("value_embed.weight", v, d)?);
    }
    for (i, b) in model.layers.iter_mut().enumerate() {
        let p = |n: &str| format!("layers.{i}.{n}.weight");
        b.attn_norm.gamma = vector(&p("attn_norm"), d)?;
        b.wq.weight = linear(&p("wq"), d, d)?;
        b.wk.weight = linear(&p("wk"), d, d)?;
        b.wv.weight = linear(&p("wv"), d, d)?;
        b.wo.weight = linear(&p("wo"), d, d)?;
        b.mlp_norm.gamma = vector(&p("mlp_norm"), d)?;
        b.w_gate.weight = linear(&p("w_gate"), d, f)?;
        b.w_up.weight = linear(&p("w_up"), d, f)?;
        b.w_down.weight = linear(&p("w_down"), f, d)?;
    }
    model.norm.gamma = vector("norm.weight", d)?;
    model.head.weight = linear("head.weight", d, v)?;
    Ok((model, config))
}
