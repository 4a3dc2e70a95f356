//! Weights are portable: the safetensors we write load back into an identical model, and both the
//! PyTorch module and an independent numpy implementation of the architecture
//! (crates/benchmarks/python/reference/) read them and reproduce our logits to 1e-4.

use burn::module::Param;
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, ElementConversion, Int, Tensor, TensorData};
use model::{Cpu, ModelConfig, weights};

/// Saves `m`, loads it back, and has the numpy and PyTorch references compute its logits on the
/// same tokens (and value positions, where `values` is given).
fn check_parity(m: &model::Model<Cpu>, config: &ModelConfig, values: Option<Vec<Vec<f32>>>) {
    let device = Default::default();
    let rows: Vec<Vec<i64>> =
        vec![(0..24).map(|i| (i * 7 + 3) % 300).collect(), (0..24).map(|i| (i * 13 + 1) % 300).collect()];
    let flat: Vec<i64> = rows.iter().flatten().copied().collect();
    let tokens = || Tensor::<Cpu, 2, Int>::from_data(TensorData::new(flat.clone(), [2, 24]), &device);
    let value_tensor = || {
        values.as_ref().map(|v| {
            let flat: Vec<f32> = v.iter().flatten().copied().collect();
            Tensor::<Cpu, 2>::from_data(TensorData::new(flat, [2, 24]), &device)
        })
    };
    let logits = m.forward(tokens(), value_tensor());

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("model.safetensors");
    weights::save(m, config, &path).expect("save");
    let (loaded, loaded_config) = weights::load::<Cpu>(&path, &device).expect("load");
    assert_eq!(&loaded_config, config);
    let again: f32 = (loaded.forward(tokens(), value_tensor()) - logits.clone()).abs().max().into_scalar().elem();
    assert_eq!(again, 0.0, "a saved and loaded model computes exactly the same logits");

    let logit_values: Vec<f32> = logits.into_data().to_vec::<f32>().expect("f32");
    let bytes: Vec<u8> = logit_values.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(dir.path().join("logits.f32"), bytes).expect("write");
    std::fs::write(dir.path().join("tokens.json"), serde_json::to_string(&rows).expect("json")).expect("write");
    let mut args = vec![path, dir.path().join("tokens.json"), dir.path().join("logits.f32")];
    if let Some(v) = &values {
        std::fs::write(dir.path().join("values.json"), serde_json::to_string(v).expect("json")).expect("write");
        args.push(dir.path().join("values.json"));
    }
    let out = testkit::run_python("check_model_logits.py", args);
    let report: serde_json::Value = serde_json::from_str(&out).expect("json");
    let diff = report["max_abs_diff"].as_f64().expect("diff");
    eprintln!("reference parity: {report}");
    assert_eq!(report["shape"], serde_json::json!([2, 24, 300]));
    assert!(diff <= 1e-4, "numpy: max abs difference {diff} > 1e-4");
    assert_eq!(report["torch_shape"], serde_json::json!([2, 24, 300]));
    let torch_diff = report["torch_max_abs_diff"].as_f64().expect("torch diff");
    assert!(torch_diff <= 1e-4, "PyTorch: max abs difference {torch_diff} > 1e-4");
    assert!(report["max_abs_logit"].as_f64().unwrap_or(0.0) > 0.01, "logits are not all zero");
}

#[test]
fn our_safetensors_give_the_same_logits_in_rust_and_in_the_reference() {
    let device = Default::default();
    Cpu::seed(&device, 11);
    // Small but not trivial: several heads and layers, a vocabulary of real size.
    let config = ModelConfig::new(300, 96, 3, 4, 256, 128);
    check_parity(&config.init::<Cpu>(&device), &config, None);
}

#[test]
fn the_value_channel_reads_the_same_in_rust_and_in_the_reference() {
    let device = Default::default();
    Cpu::seed(&device, 12);
    let config = ModelConfig::new(300, 96, 3, 4, 256, 128).with_value_channel(true);
    let mut m = config.init::<Cpu>(&device);
    // A trained table, not the fresh zeros, so the values move the logits.
    let table = m.value_embed.as_mut().expect("a value table");
    table.weight = Param::from_tensor(Tensor::random([300, 96], Distribution::Normal(0.0, 0.5), &device));
    let values: Vec<Vec<f32>> = (0..2)
        .map(|r| (0..24).map(|i| if i % 3 == 1 { ((i * 5 + r) % 11) as f32 / 10.0 - 0.5 } else { 0.0 }).collect())
        .collect();
    let flat: Vec<i64> = (0..24).map(|i| (i * 7 + 3) % 300).collect();
    let tokens = Tensor::<Cpu, 2, Int>::from_data(TensorData::new(flat, [1, 24]), &device);
    let with = m.forward(tokens.clone(), Some(Tensor::from_data(TensorData::new(values[0].clone(), [1, 24]), &device)));
    let without = m.forward(tokens, None);
    let moved: f32 = (with - without).abs().max().into_scalar().elem();
    assert!(moved > 1e-3, "the values change the logits: {moved}");
    check_parity(&m, &config, Some(values));
}

#[test]
fn files_that_are_not_our_weights_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("x.safetensors");
    std::fs::write(&path, b"not safetensors").expect("write");
    assert!(weights::load::<Cpu>(&path, &Default::default()).is_err());
    let err = weights::load::<Cpu>(&dir.path().join("missing"), &Default::default()).expect_err("missing");
    assert!(err.to_string().contains("missing"));
}

/// A model with the value channel is written as version 2, so a build that predates the channel
/// refuses it instead of loading it without its value table; a plain model stays version 1,
/// readable by every build.
#[test]
fn the_weights_version_says_whether_the_value_channel_is_there() {
    let device = Default::default();
    let dir = tempfile::tempdir().expect("tempdir");
    for (channel, version) in [(false, "1"), (true, "2")] {
        let config = ModelConfig::tiny(40).with_value_channel(channel);
        let path = dir.path().join(format!("{channel}.safetensors"));
        weights::save(&config.init::<Cpu>(&device), &config, &path).expect("save");
        let bytes = std::fs::read(&path).expect("read");
        let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).expect("header");
        let ours: serde_json::Value =
            serde_json::from_str(&header.metadata().clone().unwrap_or_default()[weights::METADATA_KEY]).expect("json");
        assert_eq!(ours["version"], version);
        let (loaded, loaded_config) = weights::load::<Cpu>(&path, &device).expect("load");
        assert_eq!(loaded_config.value_channel, channel);
        assert_eq!(loaded.value_embed.is_some(), channel);
    }
}
