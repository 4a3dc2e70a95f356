//! # inference — scoring one patient, as a library
//!
//! What the server does with each clinical call, without the server: a request's FHIR becomes
//! de-identified timelines in memory ([`ingest::read_request`]: the batch pipeline's own
//! conversion, screening and de-identification), and each is scored by the task models of a
//! release — the very models the release's report validated ([`adapt::scorer::TaskModel`]),
//! with the foundation model they were fitted on (its pin is checked when the predictor is made,
//! not per call).
//!
//! A risk is given as of the patient's latest dated clinical event (a birth date alone is not a
//! history to score), in the model's (shifted) time frame:
//! the record as the model reads it, never the source's identifiers or dates. A patient with no
//! dated event gets no risk, and the reason is said.
//!
//! Each risk from a model on count features carries its basis: the features that moved it most
//! and by how much, so that a clinician can review why. [`embed`] gives a researcher the
//! foundation model's embedding of the same de-identified record. Still to come (issue #30): attribution
//! for the models on the foundation model's embedding, scoring at the request's own time, and the
//! key/value cache of known patients.

use std::path::Path;

pub mod deployed;

use adapt::foundation::Foundation;
pub use adapt::scorer::Contribution;
use adapt::scorer::{ScorerError, TaskModel};
use meds::labels::BooleanLabel;

/// Why a predictor could not be made or a patient scored.
#[derive(Debug, thiserror::Error)]
pub enum InferenceError {
    /// A task model could not be read or used.
    #[error(transparent)]
    Scorer(#[from] ScorerError),
    /// The foundation model could not be loaded.
    #[error("the foundation model: {0}")]
    Foundation(String),
    /// The request could not be read.
    #[error(transparent)]
    Request(#[from] ingest::IngestError),
    /// The release has no task model for a task asked for.
    #[error("the release has no {method} model for {task} (tasks/{task}/{method}.model.json)")]
    NoModel {
        /// The task.
        task: String,
        /// The method.
        method: String,
    },
}

/// One task's risk for one patient.
#[derive(Debug, Clone, PartialEq)]
pub struct Risk {
    /// The pseudonymous subject.
    pub subject_id: i64,
    /// The task.
    pub task: String,
    /// The method that scored it.
    pub method: String,
    /// The probability of the outcome, 0–1, calibrated as the model was validated.
    pub probability: f64,
    /// As of when, in the model's time frame (microseconds): the patient's latest dated event.
    pub as_of: i64,
    /// Events read (those at or before `as_of`).
    pub events: usize,
    /// The features that moved the risk most ([`BASIS`] at most, largest first), for the
    /// models on count features; `None` for the models on the foundation model's embedding.
    pub basis: Option<Vec<Contribution>>,
}

/// How many features a risk's basis names.
pub const BASIS: usize = 5;

/// A patient the predictor could not score, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unscored {
    /// The pseudonymous subject.
    pub subject_id: i64,
    /// Why.
    pub reason: &'static str,
}

/// What [`Predictor::predict`] gives back.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Predictions {
    /// One per patient and task.
    pub risks: Vec<Risk>,
    /// Patients without a risk.
    pub unscored: Vec<Unscored>,
}

/// Task models ready to score, with the foundation model those that need one read.
#[derive(Debug)]
pub struct Predictor {
    models: Vec<TaskModel>,
    foundation: Option<Foundation>,
}

impl Predictor {
    /// A predictor of `models`; `foundation` is required if any of them reads the foundation
    /// model, and must be the one each was fitted on.
    pub fn new(models: Vec<TaskModel>, foundation: Option<Foundation>) -> Result<Predictor, InferenceError> {
        for m in &models {
            match (&foundation, reads_foundation(m)) {
                (None, true) => return Err(ScorerError::NeedsFoundation(m.method.clone()).into()),
                // Scoring nothing checks the pin (and the shapes) once, here.
                (Some(f), true) => {
                    m.score(&[], &meds::CodeTable::new(), &[], Some(f))?;
                }
                _ => {}
            }
        }
        Ok(Predictor { models, foundation })
    }

    /// A predictor of the release in `release` (verified by the caller): the `method` model of
    /// each of `tasks`, and the release's foundation model if the method reads one.
    pub fn from_release(release: &Path, tasks: &[&str], method: &str) -> Result<Predictor, InferenceError> {
        let mut models = Vec::new();
        for task in tasks {
            let path = release.join("tasks").join(task).join(format!("{method}.model.json"));
            if !path.is_file() {
                return Err(InferenceError::NoModel { task: task.to_string(), method: method.into() });
            }
            models.push(TaskModel::load(&path)?);
        }
        let foundation = if models.iter().any(reads_foundation) {
            Some(Foundation::load(release).map_err(|e| InferenceError::Foundation(e.to_string()))?)
        } else {
            None
        };
        Predictor::new(models, foundation)
    }

    /// The foundation model the task models read, if any of them does.
    pub fn foundation(&self) -> Option<&Foundation> {
        self.foundation.as_ref()
    }

    /// The task models, in the order they score.
    pub fn models(&self) -> &[TaskModel] {
        &self.models
    }

    /// Scores every patient of a request with every task model. See the crate documentation.
    pub fn predict(&self, patients: &ingest::RequestPatients) -> Result<Predictions, InferenceError> {
        self.predict_tasks(patients, &[])
    }

    /// Scores every patient of a request with the models of `tasks` (every model when it is
    /// empty; a task the predictor lacks is skipped: check [`Predictor::models`] first).
    pub fn predict_tasks(
        &self,
        patients: &ingest::RequestPatients,
        tasks: &[String],
    ) -> Result<Predictions, InferenceError> {
        let mut out = Predictions::default();
        for timeline in &patients.timelines {
            let Some(as_of) = scoring_time(timeline, &patients.codes, None) else {
                out.unscored.push(Unscored { subject_id: timeline.subject_id, reason: NO_HISTORY });
                continue;
            };
            let events = timeline.events().filter(|e| e.time.is_none_or(|t| t <= as_of)).count();
            let label = BooleanLabel { subject_id: timeline.subject_id, prediction_time: as_of, value: false };
            // The probes of every task read one embedding of the patient.
            let mut embeddings = adapt::scorer::Embeddings::default();
            for model in self.models.iter().filter(|m| tasks.is_empty() || tasks.contains(&m.task)) {
                let (scored, _) = model.score_sharing(
                    &[timeline],
                    &patients.codes,
                    &[label],
                    self.foundation.as_ref(),
                    &mut embeddings,
                )?;
                let basis = model.basis(timeline, &patients.codes, as_of, BASIS)?;
                for p in scored {
                    out.risks.push(Risk {
                        subject_id: timeline.subject_id,
                        task: model.task.clone(),
                        method: model.method.clone(),
                        probability: f64::from(p.probability),
                        as_of,
                        events,
                        basis: basis.clone(),
                    });
                }
            }
        }
        Ok(out)
    }
}

impl Predictor {
    /// Scores many patients at once, as batch scoring does: each as of [`scoring_time`] with
    /// `at`, every model (or those of `tasks`) over all of them in one call, without the basis.
    /// Risks come model by model, patients in the order given.
    pub fn score_many(
        &self,
        timelines: &[&meds::Timeline],
        codes: &meds::CodeTable,
        at: Option<i64>,
        tasks: &[String],
    ) -> Result<Predictions, InferenceError> {
        let mut out = Predictions::default();
        let mut scored: Vec<&meds::Timeline> = Vec::with_capacity(timelines.len());
        let mut labels = Vec::with_capacity(timelines.len());
        let mut events = std::collections::HashMap::with_capacity(timelines.len());
        for &timeline in timelines {
            match scoring_time(timeline, codes, at) {
                Some(as_of) => {
                    scored.push(timeline);
                    labels.push(BooleanLabel { subject_id: timeline.subject_id, prediction_time: as_of, value: false });
                    let n = timeline.events().filter(|e| e.time.is_none_or(|t| t <= as_of)).count();
                    events.insert(timeline.subject_id, n);
                }
                None => out.unscored.push(Unscored {
                    subject_id: timeline.subject_id,
                    reason: if at.is_some() { NO_HISTORY_YET } else { NO_HISTORY },
                }),
            }
        }
        // The probes of every task read one embedding of each patient.
        let mut embeddings = adapt::scorer::Embeddings::default();
        for model in self.models.iter().filter(|m| tasks.is_empty() || tasks.contains(&m.task)) {
            let (predictions, _) =
                model.score_sharing(&scored, codes, &labels, self.foundation.as_ref(), &mut embeddings)?;
            out.risks.extend(predictions.into_iter().map(|p| Risk {
                subject_id: p.label.subject_id,
                task: model.task.clone(),
                method: model.method.clone(),
                probability: f64::from(p.probability),
                as_of: p.label.prediction_time,
                events: events.get(&p.label.subject_id).copied().unwrap_or(0),
                basis: None,
            }));
        }
        Ok(out)
    }
}

/// Why a record of demographics alone is not scored.
pub const NO_HISTORY: &str = "no dated clinical event in the record (demographics alone are not scored)";

/// Why a patient is not scored at a time before their first clinical event.
pub const NO_HISTORY_YET: &str = "no dated clinical event at or before the scoring time";

/// When a patient is scored: their latest dated clinical event, at or before `at` when it is
/// given; `None` when there is none. A birth date alone is no clinical history: scored "as of"
/// it, a record of demographics would get a newborn's risk, unlike any time the model was
/// validated at.
pub fn scoring_time(timeline: &meds::Timeline, codes: &meds::CodeTable, at: Option<i64>) -> Option<i64> {
    let birth = codes.get(meds::schema::BIRTH_CODE);
    timeline
        .events()
        .filter(|e| Some(e.code) != birth)
        .filter_map(|e| e.time)
        .filter(|&t| at.is_none_or(|at| t <= at))
        .max()
}

/// One patient's embedding: the foundation model's state after reading their record.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    /// The pseudonymous subject.
    pub subject_id: i64,
    /// As of when, in the model's time frame (microseconds): the patient's latest dated event.
    pub as_of: i64,
    /// The vector.
    pub vector: Vec<f32>,
}

/// Each patient of a request embedded by `foundation` as of their latest dated event, as
/// `pooling` reads the model's states; patients with no dated event are left out.
pub fn embed(
    foundation: &Foundation,
    patients: &ingest::RequestPatients,
    pooling: model::embedding::Pooling,
) -> Vec<Embedding> {
    let requests: Vec<(i64, i64)> = patients
        .timelines
        .iter()
        .filter_map(|t| Some((t.subject_id, t.events().filter_map(|e| e.time).max()?)))
        .collect();
    let timelines: Vec<&meds::Timeline> = patients.timelines.iter().collect();
    let mut vectors = foundation.embed(&timelines, &patients.codes, &requests, pooling, 32, |_| {});
    requests
        .iter()
        .filter_map(|&(subject_id, as_of)| {
            Some(Embedding { subject_id, as_of, vector: vectors.remove(&(subject_id, as_of))? })
        })
        .collect()
}

/// Whether `model` reads the foundation model (a probe or a fine-tuned head).
fn reads_foundation(model: &TaskModel) -> bool {
    matches!(model.fitting, adapt::scorer::Fitting::Probe { .. } | adapt::scorer::Fitting::FineTuned { .. })
}
