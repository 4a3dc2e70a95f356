//! A version the registry deployed, loaded from a bundle that verifies.
//!
//! Whatever scores for a site — the server per request, `longitude score` per night — loads a
//! deployed version the same way: the owner's signature is checked against the trusted keys,
//! the manifest must be the one registered (byte for byte, by SHA-256), and the method scored is
//! the one the bundle's validation report describes — its `candidate`, the model the gates were
//! checked on and the board approved. An unsigned bundle, or one changed since registration,
//! never scores: [`LoadedVersion::load`] says why.

use std::path::{Path, PathBuf};

use registry::policy::OperatingPointEvidence;
use registry::{Evidence, ModelVersion};
use signing::VerifierKey;

use crate::{InferenceError, Predictor};

/// Why a deployed version cannot score.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The bundle does not verify against the trusted keys.
    #[error(transparent)]
    Provenance(#[from] provenance::ProvenanceError),
    /// The bundle verifies, but is not the one registered.
    #[error(
        "the bundle of {id} has changed since it was registered (manifest SHA-256 {found}, registered {registered})"
    )]
    Changed {
        /// The version.
        id: String,
        /// The manifest's digest now.
        found: String,
        /// The digest registered.
        registered: String,
    },
    /// The release's validation report cannot be read.
    #[error("the validation report of {id}: {reason}")]
    Report {
        /// The version.
        id: String,
        /// Why.
        reason: String,
    },
    /// A file of the bundle cannot be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The release holds no model of the method its report validated.
    #[error("{id} has no {method} task model (the method its report validated)")]
    NoTaskModel {
        /// The version.
        id: String,
        /// The method.
        method: String,
    },
    /// The task models cannot be loaded.
    #[error(transparent)]
    Predictor(#[from] InferenceError),
}

/// One task a version answers, with what its validation says about it.
#[derive(Debug, Clone)]
pub struct TaskInfo {
    /// The task.
    pub task: String,
    /// What it predicts, in words.
    pub description: String,
    /// Its prevalence among held-out examples.
    pub prevalence: Option<f64>,
    /// The held-out AUROC of the served method.
    pub auroc: Option<f64>,
    /// The operating point the report audited, which sets the "high" band.
    pub operating_point: Option<OperatingPointEvidence>,
}

impl TaskInfo {
    /// The qualitative band of a risk: `high` at or above the validated operating point,
    /// `moderate` at or above the task's prevalence, else `low`.
    pub fn band(&self, probability: f64) -> &'static str {
        if self.flags(probability) == Some(true) {
            "high"
        } else if self.prevalence.is_some_and(|p| probability >= p) {
            "moderate"
        } else {
            "low"
        }
    }

    /// Whether a risk is at or above the validated operating point's threshold (`None` when the
    /// report audited none): the predicted value of a batch prediction.
    pub fn flags(&self, probability: f64) -> Option<bool> {
        self.operating_point.and_then(|op| op.threshold).map(|t| probability >= t)
    }
}

/// A deployed version, loaded and ready to score.
#[derive(Debug)]
pub struct LoadedVersion {
    /// The registry's record of it.
    pub version: ModelVersion,
    /// How it scores at the site (`active` or `shadow`).
    pub mode: String,
    /// The method scored: the report's candidate.
    pub method: String,
    /// The tasks it answers.
    pub tasks: Vec<TaskInfo>,
    /// The bundle's model card (`report/model_card.json`), where it has one.
    pub model_card: Option<serde_json::Value>,
    /// The owner's signed note over the manifest (`bundle.sig`).
    pub signature: String,
    /// The validation report page (`report/report.html`), where the bundle has one: read when
    /// the bundle was verified, so that what is shown is what was signed.
    pub report_html: Option<String>,
    /// The task models.
    pub predictor: Predictor,
    /// The release's foundation model when the task models do not read it (for embeddings);
    /// see [`LoadedVersion::foundation`].
    own_foundation: Option<adapt::foundation::Foundation>,
}

impl LoadedVersion {
    /// Verifies and loads the bundle of `version`. See the module documentation.
    pub fn load(version: &ModelVersion, mode: &str, trusted: &[VerifierKey]) -> Result<LoadedVersion, LoadError> {
        let dir = Path::new(&version.bundle);
        let verified = provenance::verify(dir, trusted)?;
        if verified.manifest_sha256 != version.manifest_sha256 {
            return Err(LoadError::Changed {
                id: version.id.clone(),
                found: verified.manifest_sha256,
                registered: version.manifest_sha256.clone(),
            });
        }
        let evidence =
            Evidence::of_release(&verified).map_err(|reason| LoadError::Report { id: version.id.clone(), reason })?;
        let method = evidence.candidate.clone();
        let mut names: Vec<String> = Vec::new();
        let tasks_dir = dir.join("tasks");
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| LoadError::Io { path, source }
        };
        for entry in std::fs::read_dir(&tasks_dir).map_err(io(&tasks_dir))? {
            let entry = entry.map_err(io(&tasks_dir))?;
            if entry.path().join(format!("{method}.model.json")).is_file() {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        names.sort();
        if names.is_empty() {
            return Err(LoadError::NoTaskModel { id: version.id.clone(), method });
        }
        let tasks = names
            .iter()
            .map(|task| {
                let found = evidence.internal(task, &method);
                TaskInfo {
                    task: task.clone(),
                    description: found.map(|(t, _)| t.description.clone()).unwrap_or_default(),
                    prevalence: found.and_then(|(_, e)| e.metrics.prevalence),
                    auroc: found.and_then(|(_, e)| e.metrics.auroc),
                    operating_point: found.and_then(|(_, e)| e.audit_point),
                }
            })
            .collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let predictor = Predictor::from_release(dir, &refs, &method)?;
        let card_path = dir.join("report/model_card.json");
        let model_card = std::fs::read_to_string(&card_path).ok().and_then(|t| serde_json::from_str(&t).ok());
        let sig = dir.join("bundle.sig");
        let signature = std::fs::read_to_string(&sig).map_err(io(&sig))?;
        let report_html = std::fs::read_to_string(dir.join("report/report.html")).ok();
        // Loaded once: a probe's or head's predictor already holds it.
        let own_foundation = match predictor.foundation() {
            Some(_) => None,
            None => adapt::foundation::Foundation::load(dir).ok(),
        };
        Ok(LoadedVersion {
            version: version.clone(),
            mode: mode.into(),
            method,
            tasks,
            model_card,
            signature,
            report_html,
            predictor,
            own_foundation,
        })
    }

    /// The release's foundation model (`None` if it could not be loaded).
    pub fn foundation(&self) -> Option<&adapt::foundation::Foundation> {
        self.predictor.foundation().or(self.own_foundation.as_ref())
    }

    /// The task, if this version answers it.
    pub fn task(&self, task: &str) -> Option<&TaskInfo> {
        self.tasks.iter().find(|t| t.task == task)
    }
}
