//! The model bundle reads back as written, and a bundle that was altered, is missing its
//! manifest or comes from another version is refused before its weights are read.

use std::path::Path;

use meds::Timeline;
use model::bundle::{Bundle, MANIFEST, Manifest, VERSION, WEIGHTS};
use model::pretrain::PretrainConfig;
use model::{Cpu, Model, ModelConfig};
use synth::{SynthConfig, simulate_patient, vocab};
use tokenizer::{Tokenizer, TokenizerConfig};

/// A fresh tiny model written as a bundle into `dir/model`.
fn bundle(dir: &Path) -> Manifest {
    let codes = vocab::code_table();
    let config = SynthConfig::new(40, 2, 8);
    let timelines: Vec<Timeline> = (0..40).map(|i| simulate_patient(&config, &codes, i).timeline).collect();
    let tokenizer = Tokenizer::fit(&timelines, &codes, TokenizerConfig::default()).expect("fit");
    let pretrain = PretrainConfig::for_model(ModelConfig::tiny(tokenizer.len()), 1);
    let model: Model<Cpu> = pretrain.model.init(&Default::default());
    let weights = dir.join("checkpoint.safetensors");
    model::weights::save(&model, &pretrain.model, &weights).expect("save");
    model::bundle::write(&dir.join("model"), &weights, &tokenizer, &pretrain).expect("write")
}

#[test]
fn a_bundle_reads_back_as_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manifest = bundle(dir.path());
    let opened = Bundle::open(&dir.path().join("model")).expect("open");
    assert_eq!(opened.manifest(), &manifest);
    assert_eq!(manifest.files.len(), 3);
    assert!(manifest.files.values().all(|f| f.sha256.len() == 64 && f.bytes > 0));
    opened.load::<Cpu>(&Default::default()).expect("load");
}

#[test]
fn an_altered_or_foreign_bundle_is_refused_before_its_weights_are_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manifest = bundle(dir.path());
    let model = dir.path().join("model");
    // One byte of the weights changed.
    let mut weights = std::fs::read(model.join(WEIGHTS)).expect("read");
    let last = weights.len() - 1;
    weights[last] ^= 1;
    std::fs::write(model.join(WEIGHTS), &weights).expect("write");
    let err = Bundle::open(&model).expect_err("altered");
    assert!(err.to_string().contains("does not match the bundle's manifest"), "{err}");
    // No manifest: a bundle of an older build, or another directory.
    std::fs::remove_file(model.join(MANIFEST)).expect("remove");
    let err = Bundle::open(&model).expect_err("no manifest");
    assert!(err.to_string().contains("not a model bundle"), "{err}");
    // A newer version.
    let newer = Manifest { version: VERSION + 1, ..manifest };
    std::fs::write(model.join(MANIFEST), serde_json::to_string(&newer).expect("json")).expect("write");
    let err = Bundle::open(&model).expect_err("newer");
    assert!(err.to_string().contains("this build reads"), "{err}");
}
