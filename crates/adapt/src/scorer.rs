//! Fitted task models that travel: everything an organisation that receives a model needs to
//! score its own MEDS data with it — the feature layout fitted on the developer's training data
//! and the fitted weights or trees — in one versioned JSON file. Scoring reads only the
//! receiving site's timelines and labels; nothing leaves the machine.
//!
//! The linear probe's file holds the probe; the pretrained model it reads embeddings from is
//! the model bundle, given alongside (its tokenizer maps the receiving site's codes, unseen ones
//! falling back along their hierarchy).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use meds::labels::{BooleanLabel, BooleanPrediction};
use meds::{CodeTable, Timeline};
use serde::{Deserialize, Serialize};

use crate::featurizers::{Featurizer, SparseRow};
use crate::foundation::Foundation;
use crate::gbm::Gbm;
use crate::logistic::Logistic;
use model::embedding::Pooling;

/// The file format's name and version.
pub const FORMAT: &str = "longitude-task-model";
/// The newest version this build reads. It writes version 1; 2 for a model carrying a
/// [`SiteRecalibration`]; 3 for a probe or fine-tuned model on a pooled embedding other than the
/// last token's ([`Pooling`]); 4 for one on [`Pooling::LastMeanMax`] — so a build that would
/// ignore the map, or read the embedding differently, refuses the file instead of scoring it
/// wrongly.
pub const VERSION: u32 = 4;

/// How a task model turns a prediction time into a probability.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fitting {
    /// L2 logistic regression on count features (`columns`: only these features, e.g. the
    /// demographics-only baseline).
    Logistic {
        /// The feature layout fitted on the training split.
        featurizer: Featurizer,
        /// Feature columns kept (all when absent).
        columns: Option<Vec<u32>>,
        /// The fitted regression.
        model: Logistic,
    },
    /// Gradient-boosted trees on count features.
    Gbm {
        /// The feature layout fitted on the training split.
        featurizer: Featurizer,
        /// Each feature's value when a row omits it (`null`: missing, for value features).
        #[serde(with = "nan_as_null")]
        defaults: Vec<f64>,
        /// forust-ml's own JSON for the booster.
        booster: String,
    },
    /// Logistic regression on the pretrained model's embedding (needs the model bundle).
    Probe {
        /// The fitted probe.
        model: Logistic,
        /// The embedding it reads (files from before pooling was a choice read the last token's).
        #[serde(default, skip_serializing_if = "is_last")]
        pooling: Pooling,
    },
    /// The foundation model fine-tuned for the task: a logistic head on the embedding of the
    /// fine-tuned transformer (needs the model bundle, for its tokenizer and shape).
    FineTuned {
        /// The fine-tuned transformer's weights (safetensors), beside this file.
        weights: String,
        /// The head's weights, one per embedding dimension.
        head: Vec<f32>,
        /// The head's bias.
        bias: f32,
        /// The embedding the head reads.
        #[serde(default, skip_serializing_if = "is_last")]
        pooling: Pooling,
    },
}

fn is_last(pooling: &Pooling) -> bool {
    *pooling == Pooling::Last
}

impl Fitting {
    /// The oldest file version that holds this fitting faithfully.
    fn version(&self) -> u32 {
        match self {
            Fitting::Probe { pooling, .. } | Fitting::FineTuned { pooling, .. } => match pooling {
                Pooling::Last => 1,
                Pooling::LastAndMean => 3,
                Pooling::LastMeanMax => 4,
            },
            _ => 1,
        }
    }
}

/// A fitted task model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskModel {
    /// Always [`FORMAT`].
    pub format: String,
    /// 1, 2 with a [`SiteRecalibration`], 3 or 4 with a pooled embedding (see [`VERSION`]).
    pub version: u32,
    /// The task it predicts (the label file's name).
    pub task: String,
    /// `demographics_lr`, `counts_lr`, `counts_gbm` or `fm_probe`.
    pub method: String,
    /// The model.
    pub fitting: Fitting,
    /// Free-form facts about the fit (split sizes, tuning AUROC, λ), for the reader.
    #[serde(default)]
    pub fitted_on: BTreeMap<String, serde_json::Value>,
    /// The foundation model a probe or fine-tuned head was fitted on (its weights' and
    /// tokenizer's digests): scoring with any other model is refused. Absent in files from
    /// builds before it, and for methods that read no foundation model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub foundation: Option<model::bundle::ModelIdentity>,
    /// A receiving site's recalibration, applied to every probability the model scores (such a
    /// file is version 2: builds from before it refuse it rather than ignore the map).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site_recalibration: Option<SiteRecalibration>,
    /// The directory the file was read from (files it names are found there).
    #[serde(skip)]
    pub origin: Option<PathBuf>,
    /// The booster, parsed once (a GBM's JSON takes longer to read than to score a patient).
    #[serde(skip)]
    booster: std::sync::OnceLock<std::sync::Arc<Gbm>>,
}

/// One feature's part in a patient's risk: how far it moved the log-odds.
#[derive(Debug, Clone, PartialEq)]
pub struct Contribution {
    /// The feature (`CODE/365d/count`, `CODE/all/mean`, `age`, `static/CODE`).
    pub feature: String,
    /// Its value for the patient (NaN where missing).
    pub value: f64,
    /// Its part in the log-odds (positive: raised the risk).
    pub log_odds: f64,
}

/// A recalibration a receiving site fitted on its own labelled prediction times
/// (`longitude evaluate --task-model … --recalibrate-out`): the model's log-odds `z` become
/// `slope · z + intercept`, which keeps its ranking and moves its probabilities to the site's
/// outcome rates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SiteRecalibration {
    /// The map.
    pub map: crate::recalibration::Recalibration,
    /// Prediction times it was fitted on.
    pub examples: usize,
    /// Positives among them.
    pub positives: usize,
}

impl SiteRecalibration {
    /// Fits a site's recalibration on the model's `predictions` of that site's labelled times;
    /// `None` under the rules of [`crate::recalibration::fit`] (too few of either class, or a
    /// model that does not rank the site's times better than chance).
    pub fn fit(predictions: &[meds::labels::BooleanPrediction]) -> Option<SiteRecalibration> {
        let z: Vec<f64> = predictions.iter().map(|p| log_odds(f64::from(p.probability))).collect();
        let y: Vec<bool> = predictions.iter().map(|p| p.label.value).collect();
        let map = crate::recalibration::fit(&z, &y)?;
        Some(SiteRecalibration { map, examples: y.len(), positives: y.iter().filter(|&&b| b).count() })
    }
}

/// Why a task model could not be saved, read or used.
#[derive(Debug, thiserror::Error)]
pub enum ScorerError {
    /// Reading or writing the file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Not a task model this build can read.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The probe needs the model bundle.
    #[error("the `{0}` task model reads the pretrained model's embeddings: give the model bundle")]
    NeedsFoundation(String),
    /// The model bundle given is not the foundation model the task model was fitted on.
    #[error(
        "the `{method}` task model was fitted on the foundation model with weights SHA-256 {fitted}; the model \
         bundle given holds another ({given}): score it with the model it was fitted on"
    )]
    WrongFoundation {
        /// The task model's method.
        method: String,
        /// The fitted-on weights' digest.
        fitted: String,
        /// The given bundle's weights' digest.
        given: String,
    },
    /// The booster could not be rebuilt.
    #[error("gradient boosting: {0}")]
    Gbm(String),
}

impl TaskModel {
    /// A task model for `task`/`method` (format and version filled in).
    pub fn new(task: &str, method: &str, fitting: Fitting) -> TaskModel {
        TaskModel {
            format: FORMAT.into(),
            version: fitting.version(),
            task: task.into(),
            method: method.into(),
            fitting,
            fitted_on: BTreeMap::new(),
            foundation: None,
            site_recalibration: None,
            origin: None,
            booster: Default::default(),
        }
    }

    /// The booster of a GBM model, parsed on first use.
    fn gbm(&self, defaults: &[f64], booster: &str) -> Result<std::sync::Arc<Gbm>, ScorerError> {
        if let Some(g) = self.booster.get() {
            return Ok(g.clone());
        }
        let gbm = std::sync::Arc::new(
            Gbm::from_json(booster, defaults.to_vec()).map_err(|e| ScorerError::Gbm(e.to_string()))?,
        );
        let _ = self.booster.set(gbm.clone());
        Ok(gbm)
    }

    /// The `top` features that moved one patient's risk at `time` the most, largest part first,
    /// for the models on count features: a logistic regression's weight × value, a booster's
    /// per-feature contributions (XGBoost's approximate method; with its bias they sum to its
    /// log-odds). In the model's own log-odds, before any site recalibration. `None` for the
    /// models that read the foundation model's embedding (attribution over its input tokens is
    /// not computed).
    pub fn basis(
        &self,
        timeline: &Timeline,
        codes: &CodeTable,
        time: i64,
        top: usize,
    ) -> Result<Option<Vec<Contribution>>, ScorerError> {
        let row: SparseRow;
        let (featurizer, parts): (&Featurizer, Vec<(usize, f64)>) = match &self.fitting {
            Fitting::Logistic { featurizer, columns, model } => {
                row = featurizer.featurize(timeline, codes, &[time]).pop().unwrap_or_default();
                let parts = match columns {
                    Some(keep) => {
                        let kept = crate::featurizers::restrict(&[&row], keep).pop().unwrap_or_default();
                        model.contributions(&kept).into_iter().map(|(j, c)| (keep[j as usize] as usize, c)).collect()
                    }
                    None => model.contributions(&row).into_iter().map(|(j, c)| (j as usize, c)).collect(),
                };
                (featurizer, parts)
            }
            Fitting::Gbm { featurizer, defaults, booster } => {
                row = featurizer.featurize(timeline, codes, &[time]).pop().unwrap_or_default();
                let all = self.gbm(defaults, booster)?.contributions(&row);
                let features = all.len().saturating_sub(1);
                (featurizer, all.into_iter().take(features).enumerate().filter(|(_, c)| *c != 0.0).collect())
            }
            Fitting::Probe { .. } | Fitting::FineTuned { .. } => return Ok(None),
        };
        let defaults = featurizer.defaults();
        let value = |j: usize| {
            row.iter()
                .find(|(k, _)| *k as usize == j)
                .map_or(defaults.get(j).copied().unwrap_or(0.0), |(_, v)| f64::from(*v))
        };
        let names = featurizer.names();
        let mut parts = parts;
        parts.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
        Ok(Some(
            parts
                .into_iter()
                .take(top)
                .map(|(j, c)| Contribution {
                    feature: names.get(j).cloned().unwrap_or_else(|| format!("feature {j}")),
                    value: value(j),
                    log_odds: c,
                })
                .collect(),
        ))
    }

    /// A boosted-trees task model from a fitted booster.
    pub fn from_gbm(task: &str, method: &str, featurizer: Featurizer, gbm: &Gbm) -> Result<TaskModel, ScorerError> {
        let booster = gbm.to_json().map_err(|e| ScorerError::Gbm(e.to_string()))?;
        Ok(TaskModel::new(task, method, Fitting::Gbm { featurizer, defaults: gbm.defaults().to_vec(), booster }))
    }

    /// The same model with a site's recalibration, applied after everything it computes.
    pub fn with_site_recalibration(mut self, site: SiteRecalibration) -> TaskModel {
        self.site_recalibration = Some(site);
        self.version = self.version.max(2);
        self
    }

    /// Writes the file atomically (a temporary file renamed into place).
    pub fn save(&self, path: &Path) -> Result<(), ScorerError> {
        let io = |source| ScorerError::Io { path: path.display().to_string(), source };
        let text = serde_json::to_string(self).map_err(|e| io(std::io::Error::other(e)))?;
        outputs::atomic::write(path, outputs::atomic::Access::Shared, text.as_bytes()).map_err(|e| io(e.source))
    }

    /// Reads a file written by [`TaskModel::save`], refusing other formats and newer versions.
    pub fn load(path: &Path) -> Result<TaskModel, ScorerError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ScorerError::Io { path: name.clone(), source })?;
        let mut model: TaskModel = serde_json::from_str(&text)
            .map_err(|e| ScorerError::Format { path: name.clone(), message: format!("not a task model: {e}") })?;
        if model.format != FORMAT {
            return Err(ScorerError::Format {
                path: name,
                message: format!("format `{}`, not `{FORMAT}`", model.format),
            });
        }
        if model.version > VERSION {
            return Err(ScorerError::Format {
                path: name,
                message: format!("version {} is newer than this build reads ({VERSION})", model.version),
            });
        }
        model.origin = path.parent().map(Path::to_path_buf);
        Ok(model)
    }

    /// Scores `labels` on the receiving site's `timelines`: one prediction per label whose
    /// subject has a timeline, from events at or before its prediction time only. Returns the
    /// predictions and the number of labels whose subject has no timeline.
    pub fn score(
        &self,
        timelines: &[&Timeline],
        codes: &CodeTable,
        labels: &[BooleanLabel],
        foundation: Option<&Foundation>,
    ) -> Result<(Vec<BooleanPrediction>, usize), ScorerError> {
        self.score_sharing(timelines, codes, labels, foundation, &mut Embeddings::default())
    }

    /// [`TaskModel::score`], reusing the embeddings in `embeddings` and keeping those it
    /// computes: the probes of many tasks on one foundation model read each patient's record
    /// once. `embeddings` must hold only embeddings of these timelines by `foundation`.
    pub fn score_sharing(
        &self,
        timelines: &[&Timeline],
        codes: &CodeTable,
        labels: &[BooleanLabel],
        foundation: Option<&Foundation>,
        embeddings: &mut Embeddings,
    ) -> Result<(Vec<BooleanPrediction>, usize), ScorerError> {
        if let (Some(pin), Some(f)) = (&self.foundation, foundation) {
            let given = f.bundle().manifest().identity();
            if given.as_ref() != Some(pin) {
                return Err(ScorerError::WrongFoundation {
                    method: self.method.clone(),
                    fitted: pin.weights_sha256.clone(),
                    given: given.map_or_else(|| "no weights".into(), |g| g.weights_sha256),
                });
            }
        }
        let mut wanted: BTreeMap<i64, Vec<BooleanLabel>> = BTreeMap::new();
        for l in labels {
            wanted.entry(l.subject_id).or_default().push(*l);
        }
        let mut scored: Vec<BooleanLabel> = Vec::with_capacity(labels.len());
        let mut rows: Vec<SparseRow> = Vec::with_capacity(labels.len());
        let mut needed: Vec<&Timeline> = Vec::new();
        for t in timelines {
            let Some(ls) = wanted.get(&t.subject_id) else { continue };
            needed.push(t);
            scored.extend(ls.iter().copied());
            if let Fitting::Logistic { featurizer, .. } | Fitting::Gbm { featurizer, .. } = &self.fitting {
                let times: Vec<i64> = ls.iter().map(|l| l.prediction_time).collect();
                rows.extend(featurizer.featurize(t, codes, &times));
            }
        }
        let probabilities = match &self.fitting {
            Fitting::Logistic { columns, model, .. } => {
                let kept: Vec<SparseRow> = match columns {
                    Some(keep) => crate::featurizers::restrict(&rows.iter().collect::<Vec<_>>(), keep),
                    None => rows,
                };
                model.predict(&kept.iter().collect::<Vec<_>>())
            }
            Fitting::Gbm { defaults, booster, .. } => {
                self.gbm(defaults, booster)?.predict(&rows.iter().collect::<Vec<_>>())
            }
            Fitting::Probe { model, pooling } => {
                let Some(f) = foundation else { return Err(ScorerError::NeedsFoundation(self.method.clone())) };
                let width = f.width(*pooling);
                if model.width() != width {
                    return Err(ScorerError::Format {
                        path: self.origin.clone().unwrap_or_default().display().to_string(),
                        message: format!(
                            "the probe weighs {} embedding dimensions; the given model bundle's {pooling:?} \
                             embedding has {width}",
                            model.width()
                        ),
                    });
                }
                let requests: Vec<(i64, i64)> = scored.iter().map(|l| (l.subject_id, l.prediction_time)).collect();
                let embedded = embeddings.of(*pooling);
                let missing: Vec<(i64, i64)> = requests.iter().filter(|k| !embedded.contains_key(k)).copied().collect();
                if !missing.is_empty() {
                    embedded.extend(f.embed(&needed, codes, &missing, *pooling, 32, |_| {}));
                }
                let rows: Vec<SparseRow> = requests
                    .iter()
                    .map(|k| crate::featurizers::dense_row(embedded.get(k).map_or(&[][..], Vec::as_slice)))
                    .collect();
                model.predict(&rows.iter().collect::<Vec<_>>())
            }
            Fitting::FineTuned { weights, head, bias, pooling } => {
                let Some(f) = foundation else { return Err(ScorerError::NeedsFoundation(self.method.clone())) };
                let path = self.origin.clone().unwrap_or_default().join(weights);
                let format = |message: String| ScorerError::Format { path: path.display().to_string(), message };
                let (body, config) = model::weights::load::<model::Cpu>(&path, &Default::default())
                    .map_err(|e| format(e.to_string()))?;
                if config != *f.config() {
                    return Err(format("the fine-tuned weights are not of the given model bundle's shape".into()));
                }
                let device = Default::default();
                if head.len() != pooling.width(config.d_model) {
                    return Err(format(format!(
                        "the head weighs {} embedding dimensions; the fine-tuned model's {pooling:?} embedding has {}",
                        head.len(),
                        pooling.width(config.d_model)
                    )));
                }
                let classifier = model::finetune::Classifier::new(body, *pooling, head, *bias, &device);
                let requests: Vec<(i64, i64)> = scored.iter().map(|l| (l.subject_id, l.prediction_time)).collect();
                let contexts = f.contexts(&needed, codes, &requests);
                let ordered: Vec<model::embedding::Context> =
                    requests.iter().map(|k| contexts.get(k).cloned().unwrap_or_default()).collect();
                classifier.predict(&ordered, 32, &device).into_iter().map(f64::from).collect()
            }
        };
        let probabilities: Vec<f64> = match &self.site_recalibration {
            Some(site) => probabilities.into_iter().map(|p| sigmoid(site.map.apply(log_odds(p)))).collect(),
            None => probabilities,
        };
        let predictions = scored
            .iter()
            .zip(probabilities)
            .map(|(l, p)| BooleanPrediction { label: *l, predicted_value: p >= 0.5, probability: p as f32 })
            .collect::<Vec<_>>();
        let missing = labels.len() - predictions.len();
        Ok((predictions, missing))
    }
}

/// Embeddings computed while scoring, by pooling, subject and time: see
/// [`TaskModel::score_sharing`].
#[derive(Debug, Default)]
pub struct Embeddings {
    by_pooling: Vec<(Pooling, ByRequest)>,
}

/// Embeddings by (subject, time).
type ByRequest = HashMap<(i64, i64), Vec<f32>>;

impl Embeddings {
    fn of(&mut self, pooling: Pooling) -> &mut ByRequest {
        let at = match self.by_pooling.iter().position(|(p, _)| *p == pooling) {
            Some(at) => at,
            None => {
                self.by_pooling.push((pooling, HashMap::new()));
                self.by_pooling.len() - 1
            }
        };
        &mut self.by_pooling[at].1
    }
}

/// JSON has no NaN: missing-value defaults are written as `null` and read back as NaN.
mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(values: &[f64], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(values.iter().map(|v| if v.is_nan() { None } else { Some(*v) }))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        Ok(Vec::<Option<f64>>::deserialize(d)?.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect())
    }
}

/// `log(p / (1 − p))`, with `p` kept inside (1e-7, 1 − 1e-7) so certainty stays finite.
pub fn log_odds(p: f64) -> f64 {
    let p = p.clamp(1e-7, 1.0 - 1e-7);
    (p / (1.0 - p)).ln()
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(pooling: Pooling) -> TaskModel {
        let rows = [vec![(0u32, 1.0f32)], vec![(1, 1.0)], vec![(0, 0.5)], vec![(1, 0.2)]];
        let refs: Vec<&SparseRow> = rows.iter().collect();
        let model = Logistic::fit(&refs, &[true, false, true, false], 2, 1.0);
        TaskModel::new("t", "fm_probe", Fitting::Probe { model, pooling })
    }

    /// A fresh tiny model bundle in `dir`, its tokenizer fitted on `patients` simulated patients.
    fn tiny_bundle(dir: &Path, patients: u64) -> Foundation {
        let codes = synth::vocab::code_table();
        let config = synth::SynthConfig::new(patients as usize, 2, 8);
        let timelines: Vec<Timeline> =
            (0..patients).map(|i| synth::simulate_patient(&config, &codes, i).timeline).collect();
        let tokenizer =
            tokenizer::Tokenizer::fit(&timelines, &codes, tokenizer::TokenizerConfig::default()).expect("fit");
        let pretrain = model::pretrain::PretrainConfig::for_model(model::ModelConfig::tiny(tokenizer.len()), 1);
        let weights_model: model::Model<model::Cpu> = pretrain.model.init(&Default::default());
        let weights = dir.join("checkpoint.safetensors");
        model::weights::save(&weights_model, &pretrain.model, &weights).expect("save");
        model::bundle::write(&dir.join("model"), &weights, &tokenizer, &pretrain).expect("bundle");
        Foundation::load(&dir.join("model")).expect("load")
    }

    #[test]
    fn a_probe_is_scored_only_with_the_foundation_model_it_was_fitted_on() {
        let (a, b) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
        let (fitted_on, other) = (tiny_bundle(a.path(), 40), tiny_bundle(b.path(), 25));
        let width = fitted_on.width(Pooling::Last);
        assert_eq!(width, other.width(Pooling::Last), "same shape: only the pin tells them apart");
        let rows: Vec<SparseRow> = (0..4).map(|i| vec![(i as u32 % width as u32, 1.0f32)]).collect();
        let refs: Vec<&SparseRow> = rows.iter().collect();
        let mut probe = TaskModel::new(
            "t",
            "fm_probe",
            Fitting::Probe {
                model: Logistic::fit(&refs, &[true, false, true, false], width, 1.0),
                pooling: Pooling::Last,
            },
        );
        probe.foundation = fitted_on.bundle().manifest().identity();
        let codes = synth::vocab::code_table();
        let err = probe.score(&[], &codes, &[], Some(&other)).expect_err("another model");
        assert!(matches!(err, ScorerError::WrongFoundation { .. }), "{err}");
        assert!(err.to_string().contains("score it with the model it was fitted on"), "{err}");
        probe.score(&[], &codes, &[], Some(&fitted_on)).expect("its own model");
        // The pin travels in the file.
        let path = a.path().join("probe.model.json");
        probe.save(&path).expect("save");
        assert_eq!(TaskModel::load(&path).expect("load").foundation, probe.foundation);
    }

    #[test]
    fn a_probe_file_says_which_embedding_it_reads_and_older_files_read_the_last_token() {
        let dir = tempfile::tempdir().expect("tempdir");
        // The last token's embedding: the version-1 file older builds wrote, no pooling key.
        let last = probe(Pooling::Last);
        let text = serde_json::to_value(&last).expect("json");
        assert_eq!(text["version"], 1);
        assert!(text["fitting"].get("pooling").is_none(), "{text}");
        let path = dir.path().join("last.json");
        last.save(&path).expect("save");
        let read = TaskModel::load(&path).expect("load");
        assert!(matches!(read.fitting, Fitting::Probe { pooling: Pooling::Last, .. }));
        // The pooled embedding needs a build that knows it: version 3, which this one reads.
        let pooled = probe(Pooling::LastAndMean);
        let text = serde_json::to_value(&pooled).expect("json");
        assert_eq!(text["version"], 3);
        assert_eq!(text["fitting"]["pooling"], "last_and_mean");
        let path = dir.path().join("pooled.json");
        pooled.save(&path).expect("save");
        let read = TaskModel::load(&path).expect("load");
        assert!(matches!(read.fitting, Fitting::Probe { pooling: Pooling::LastAndMean, .. }));
        // The maximum too: version 4, which a build that knows only the mean refuses.
        let with_max = probe(Pooling::LastMeanMax);
        let text = serde_json::to_value(&with_max).expect("json");
        assert_eq!(text["version"], 4);
        assert_eq!(text["fitting"]["pooling"], "last_mean_max");
        let path = dir.path().join("max.json");
        with_max.save(&path).expect("save");
        let read = TaskModel::load(&path).expect("load");
        assert!(matches!(read.fitting, Fitting::Probe { pooling: Pooling::LastMeanMax, .. }));
        // A site's recalibration never lowers the version.
        let site = SiteRecalibration {
            map: crate::recalibration::Recalibration { slope: 1.0, intercept: 0.0 },
            examples: 10,
            positives: 5,
        };
        assert_eq!(probe(Pooling::LastAndMean).with_site_recalibration(site).version, 3);
        assert_eq!(probe(Pooling::Last).with_site_recalibration(site).version, 2);
    }
}
