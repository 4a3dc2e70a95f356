//! The foundation model as a feature extractor: the patient's embedding at each prediction time
//! (the model's final hidden state after the last token at or before that time — never an event
//! after it), for the linear probe.
//!
//! Contexts of one subject share one encoding; contexts are batched by similar length so little
//! compute goes to padding; identical (subject, time) requests — the chronic tasks all predict at
//! the same wellness visits — are embedded once.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use meds::{CodeTable, Timeline};
use model::{Cpu, CpuTrain, Model, ModelConfig};
use tokenizer::Tokenizer;

/// A pretrained model bundle (`longitude pretrain`'s OUT/model): weights and the tokenizer they
/// were trained with.
pub struct Foundation {
    /// The weights file, read again for a trainable copy.
    weights: PathBuf,
    tokenizer: Tokenizer,
    model: Model<Cpu>,
    config: ModelConfig,
}

impl std::fmt::Debug for Foundation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Foundation").field("config", &self.config).field("vocabulary", &self.tokenizer.len()).finish()
    }
}

/// Why a bundle could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FoundationError {
    /// The tokenizer file.
    #[error("model bundle tokenizer: {0}")]
    Tokenizer(#[from] tokenizer::TokenizerError),
    /// The weights.
    #[error("model bundle weights: {0}")]
    Model(#[from] model::ModelError),
}

impl Foundation {
    /// Loads `bundle/model.safetensors` and `bundle/tokenizer.json`.
    pub fn load(bundle: &Path) -> Result<Foundation, FoundationError> {
        let tokenizer = Tokenizer::load(&bundle.join("tokenizer.json"))?;
        let weights = bundle.join("model.safetensors");
        let (model, config) = model::weights::load::<Cpu>(&weights, &Default::default())?;
        Ok(Foundation { weights, tokenizer, model, config })
    }

    /// A copy of the model on the CPU training backend (for fine-tuning), read from the bundle.
    pub fn trainable(&self) -> Result<Model<CpuTrain>, FoundationError> {
        Ok(model::weights::load::<CpuTrain>(&self.weights, &Default::default())?.0)
    }

    /// The tokenizer, the model and its shape.
    pub(crate) fn parts(&self) -> (&Tokenizer, &Model<Cpu>, &ModelConfig) {
        (&self.tokenizer, &self.model, &self.config)
    }

    /// The embedding width.
    pub fn width(&self) -> usize {
        self.config.d_model
    }

    /// The model's shape.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The tokens the model reads for every requested (subject, prediction time) whose subject
    /// has a timeline: the static prefix and the latest tokens at or before the time.
    pub fn contexts(
        &self,
        timelines: &[&Timeline],
        codes: &CodeTable,
        requests: &[(i64, i64)],
    ) -> HashMap<(i64, i64), Vec<u32>> {
        let mut wanted: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        for &(s, t) in requests {
            wanted.entry(s).or_default().push(t);
        }
        let mut encoder = self.tokenizer.encoder(codes);
        let mut contexts = HashMap::with_capacity(requests.len());
        for t in timelines {
            let Some(times) = wanted.get_mut(&t.subject_id) else { continue };
            times.sort_unstable();
            times.dedup();
            let encoded = encoder.encode(t);
            for &time in times.iter() {
                let context = model::embedding::context(&encoded, &self.tokenizer, time, self.config.max_seq_len);
                contexts.insert((t.subject_id, time), context);
            }
        }
        contexts
    }

    /// Embeddings for every requested (subject, prediction time) whose subject has a timeline.
    /// `batch` contexts go through the model at once.
    pub fn embed(
        &self,
        timelines: &[&Timeline],
        codes: &CodeTable,
        requests: &[(i64, i64)],
        batch: usize,
        mut progress: impl FnMut(usize),
    ) -> HashMap<(i64, i64), Vec<f32>> {
        let mut contexts: Vec<((i64, i64), Vec<u32>)> = self.contexts(timelines, codes, requests).into_iter().collect();
        contexts.sort_by_key(|(key, c)| (c.len(), *key));
        let mut out = HashMap::with_capacity(contexts.len());
        let device = Default::default();
        for chunk in contexts.chunks(batch.max(1)) {
            let inputs: Vec<Vec<u32>> = chunk.iter().map(|(_, c)| c.clone()).collect();
            let vectors = model::embedding::embed(&self.model, &inputs, &device);
            for ((key, _), v) in chunk.iter().zip(vectors) {
                out.insert(*key, v);
            }
            progress(out.len());
        }
        out
    }
}
