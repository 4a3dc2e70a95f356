//! The foundation model as a feature extractor: the patient's embedding at each prediction time
//! (the model's final hidden state after the last token at or before that time — never an event
//! after it), for the linear probe.
//!
//! Contexts of one subject share one encoding and, where one is a prefix of another (most
//! histories fit the model's window), one pass of the model; passes are batched by similar length
//! so little compute goes to padding; identical (subject, time) requests — the chronic tasks all
//! predict at the same wellness visits — are embedded once.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use meds::{CodeTable, Timeline};
use model::bundle::Bundle;
use model::embedding::{Context, Pooling};
use model::{Cpu, CpuTrain, Model, ModelConfig};
use tokenizer::Tokenizer;

/// A pretrained model bundle (`longitude pretrain`'s OUT/model, [`model::bundle`]): weights and
/// the tokenizer they were trained with, checked against the bundle's manifest.
pub struct Foundation {
    bundle: Bundle,
    model: Model<Cpu>,
}

impl std::fmt::Debug for Foundation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Foundation")
            .field("config", self.bundle.config())
            .field("vocabulary", &self.bundle.tokenizer().len())
            .finish()
    }
}

/// Why a bundle could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FoundationError {
    /// The bundle (its manifest, files, tokenizer or weights).
    #[error("model bundle: {0}")]
    Model(#[from] model::ModelError),
}

impl Foundation {
    /// Opens the bundle in `dir` ([`Bundle::open`]: every file checked against its manifest) and
    /// loads the model.
    pub fn load(dir: &Path) -> Result<Foundation, FoundationError> {
        let bundle = Bundle::open(dir)?;
        let model = bundle.load::<Cpu>(&Default::default())?;
        Ok(Foundation { bundle, model })
    }

    /// A copy of the model on the CPU training backend (for fine-tuning), read from the bundle.
    pub fn trainable(&self) -> Result<Model<CpuTrain>, FoundationError> {
        Ok(self.bundle.load::<CpuTrain>(&Default::default())?)
    }

    /// The bundle the model came from.
    pub fn bundle(&self) -> &Bundle {
        &self.bundle
    }

    /// The tokenizer, the model and its shape.
    pub(crate) fn parts(&self) -> (&Tokenizer, &Model<Cpu>, &ModelConfig) {
        (self.bundle.tokenizer(), &self.model, self.bundle.config())
    }

    /// The width of the embedding `pooling` reads.
    pub fn width(&self, pooling: Pooling) -> usize {
        pooling.width(self.bundle.config().d_model)
    }

    /// The model's shape.
    pub fn config(&self) -> &ModelConfig {
        self.bundle.config()
    }

    /// The tokens the model reads for every requested (subject, prediction time) whose subject
    /// has a timeline: the static prefix and the latest tokens at or before the time.
    pub fn contexts(
        &self,
        timelines: &[&Timeline],
        codes: &CodeTable,
        requests: &[(i64, i64)],
    ) -> HashMap<(i64, i64), Context> {
        let mut wanted: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        for &(s, t) in requests {
            wanted.entry(s).or_default().push(t);
        }
        let (tokenizer, _, config) = self.parts();
        let mut encoder = tokenizer.encoder(codes);
        let mut contexts = HashMap::with_capacity(requests.len());
        for t in timelines {
            let Some(times) = wanted.get_mut(&t.subject_id) else { continue };
            times.sort_unstable();
            times.dedup();
            let encoded = encoder.encode(t);
            for &time in times.iter() {
                let context = model::embedding::context(&encoded, tokenizer, time, config.max_seq_len);
                contexts.insert((t.subject_id, time), context);
            }
        }
        contexts
    }

    /// Embeddings (as `pooling` reads them) for every requested (subject, prediction time) whose
    /// subject has a timeline. Up to `batch` model passes run at once; a subject's earlier times
    /// whose contexts are prefixes of a later one's are read from that one's pass (see
    /// [`shared_passes`]). `progress` gets the number of embeddings done.
    pub fn embed(
        &self,
        timelines: &[&Timeline],
        codes: &CodeTable,
        requests: &[(i64, i64)],
        pooling: Pooling,
        batch: usize,
        mut progress: impl FnMut(usize),
    ) -> HashMap<(i64, i64), Vec<f32>> {
        let mut passes = shared_passes(self.contexts(timelines, codes, requests));
        passes.sort_by_key(|p| (p.context.len(), p.reads.first().map(|r| r.0)));
        let mut out = HashMap::with_capacity(requests.len());
        let device = Default::default();
        for chunk in passes.chunks(batch.max(1)) {
            let positions: Vec<Vec<usize>> = chunk.iter().map(|p| p.reads.iter().map(|r| r.1).collect()).collect();
            let inputs: Vec<(&Context, &[usize])> =
                chunk.iter().zip(&positions).map(|(p, at)| (&p.context, at.as_slice())).collect();
            let vectors = model::embedding::embed_at(&self.model, &inputs, pooling, &device);
            for (pass, vs) in chunk.iter().zip(vectors) {
                for ((key, _), v) in pass.reads.iter().zip(vs) {
                    out.insert(*key, v);
                }
            }
            progress(out.len());
        }
        out
    }
}

/// One run of the model over a context, and the (subject, time) embeddings read from it: each
/// at the position of its own context's last token.
#[derive(Debug, Clone, PartialEq)]
pub struct Pass {
    /// What the model reads.
    pub context: Context,
    /// `((subject, time), position)` pairs read from the pass.
    pub reads: Vec<((i64, i64), usize)>,
}

/// Groups contexts into as few passes as exactness allows: a context that is a prefix of a
/// longer one of the same subject (the usual case — the same window start, fewer events) is read
/// from the longer one's pass; a context whose window slid (a history longer than the model's
/// window) gets its own. Token-for-token comparison, so a shared read is never an approximation.
pub fn shared_passes(contexts: HashMap<(i64, i64), Context>) -> Vec<Pass> {
    let mut by_subject: BTreeMap<i64, Vec<(i64, Context)>> = BTreeMap::new();
    for ((subject, time), context) in contexts {
        by_subject.entry(subject).or_default().push((time, context));
    }
    let mut passes = Vec::new();
    for (subject, mut these) in by_subject {
        // Longest first, so every context meets the passes it could be a prefix of.
        these.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(b.0.cmp(&a.0)));
        let first = passes.len();
        for (time, context) in these {
            let at = context.len().max(1) - 1;
            match passes[first..].iter_mut().find(|p: &&mut Pass| p.context.starts_with(&context)) {
                Some(pass) => pass.reads.push(((subject, time), at)),
                None => passes.push(Pass { context, reads: vec![((subject, time), at)] }),
            }
        }
    }
    passes
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_share_a_pass_and_a_slid_window_gets_its_own() {
        let valued = |tokens: Vec<u32>| {
            let values = tokens.iter().map(|&t| if t == 2 { 0.25 } else { 0.0 }).collect();
            Context { tokens, values }
        };
        let mut slid_values = valued(vec![9, 9, 1, 2]);
        slid_values.values[3] = -0.25;
        let contexts = HashMap::from([
            ((1, 30), valued(vec![9, 9, 1, 2, 3, 4])),
            ((1, 10), valued(vec![9, 9, 1, 2])),
            ((1, 20), valued(vec![9, 9, 1, 2, 3])),
            // The window slid: not a prefix of the longest.
            ((1, 40), valued(vec![9, 9, 3, 4, 5])),
            // The same tokens with another value: not a prefix either.
            ((1, 50), slid_values),
            ((2, 10), valued(vec![9, 8, 1])),
        ]);
        let mut passes = shared_passes(contexts);
        passes.sort_by_key(|p| p.reads[0].0);
        assert_eq!(passes.len(), 4);
        assert_eq!(passes[0].context.tokens, vec![9, 9, 1, 2, 3, 4]);
        assert_eq!(passes[0].reads, vec![((1, 30), 5), ((1, 20), 4), ((1, 10), 3)]);
        assert_eq!(passes[1].context.tokens, vec![9, 9, 3, 4, 5]);
        assert_eq!(passes[1].reads, vec![((1, 40), 4)]);
        assert_eq!(passes[2].reads, vec![((1, 50), 3)], "a different value is a different context");
        assert_eq!(passes[3].reads, vec![((2, 10), 2)], "another subject never shares");
    }
}
