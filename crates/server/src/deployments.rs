//! The versions that answer: what the registry says is deployed, loaded from bundles that verify.
//!
//! A version answers only while the registry has it deployed at the caller's site. Its bundle is
//! loaded once, when it first appears deployed: the owner's signature is checked against the
//! trusted keys, the manifest must be the one registered (byte for byte, by SHA-256), and the
//! method served is the one the bundle's validation report describes — its `candidate`, the model
//! the gates were checked on and the board approved. An unsigned bundle, or one changed since
//! registration, never answers: the refusal is kept and shown by `/ready`.
//!
//! [`Deployments::refresh`] re-reads the registry; the server calls it on a timer and after every
//! registry change it makes, so a suspension made through any replica takes effect everywhere
//! within the timer's period.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use inference::Predictor;
use registry::policy::OperatingPointEvidence;
use registry::{Evidence, ModelVersion, Registry};
use signing::VerifierKey;

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
        if self.operating_point.and_then(|op| op.threshold).is_some_and(|t| probability >= t) {
            "high"
        } else if self.prevalence.is_some_and(|p| probability >= p) {
            "moderate"
        } else {
            "low"
        }
    }
}

/// A deployed version, loaded and ready to score.
#[derive(Debug)]
pub struct LoadedVersion {
    /// The registry's record of it.
    pub version: ModelVersion,
    /// How it answers at the site (`active` or `shadow`).
    pub mode: String,
    /// The method served: the report's candidate.
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
    pub fn load(version: &ModelVersion, mode: &str, trusted: &[VerifierKey]) -> Result<LoadedVersion, String> {
        let dir = Path::new(&version.bundle);
        let verified = provenance::verify(dir, trusted).map_err(|e| e.to_string())?;
        if verified.manifest_sha256 != version.manifest_sha256 {
            return Err(format!(
                "the bundle of {} has changed since it was registered (manifest SHA-256 {}, registered {})",
                version.id, verified.manifest_sha256, version.manifest_sha256
            ));
        }
        let evidence = Evidence::of_release(&verified)?;
        let method = evidence.candidate.clone();
        let mut names: Vec<String> = Vec::new();
        let tasks_dir = dir.join("tasks");
        let entries = std::fs::read_dir(&tasks_dir).map_err(|e| format!("{}: {e}", tasks_dir.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("{}: {e}", tasks_dir.display()))?;
            if entry.path().join(format!("{method}.model.json")).is_file() {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        names.sort();
        if names.is_empty() {
            return Err(format!("{} has no {method} task model (the method its report validated)", version.id));
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
        let predictor = Predictor::from_release(dir, &refs, &method).map_err(|e| e.to_string())?;
        let card_path = dir.join("report/model_card.json");
        let model_card = std::fs::read_to_string(&card_path).ok().and_then(|t| serde_json::from_str(&t).ok());
        let signature = std::fs::read_to_string(dir.join("bundle.sig")).map_err(|e| e.to_string())?;
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

/// What is deployed now, per site.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Site → its loaded versions (active first, then shadow), by version id.
    pub sites: HashMap<String, Vec<Arc<LoadedVersion>>>,
    /// Deployed versions that could not be loaded, and why: they do not answer.
    pub refused: Vec<(String, String)>,
    /// Whether the last read of the registry succeeded.
    pub registry_ok: bool,
}

impl Snapshot {
    /// The versions deployed at `site`.
    pub fn at(&self, site: &str) -> &[Arc<LoadedVersion>] {
        self.sites.get(site).map_or(&[], Vec::as_slice)
    }
}

/// The deployments the server answers with, refreshed from the registry.
#[derive(Debug)]
pub struct Deployments {
    registry: Registry,
    trusted: Vec<VerifierKey>,
    current: RwLock<Arc<Snapshot>>,
    refresh: tokio::sync::Mutex<()>,
}

impl Deployments {
    /// Deployments of `registry`, loading only bundles signed by one of `trusted`.
    pub fn new(registry: Registry, trusted: Vec<VerifierKey>) -> Deployments {
        Deployments {
            registry,
            trusted,
            current: RwLock::new(Arc::new(Snapshot::default())),
            refresh: Default::default(),
        }
    }

    /// What is deployed now.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.read().map_or_else(|p| p.into_inner().clone(), |s| s.clone())
    }

    /// Re-reads the registry: versions no longer deployed stop answering, new ones are verified
    /// and loaded (a version already loaded with the same bundle is kept as it is).
    pub async fn refresh(&self) -> Arc<Snapshot> {
        let _one_at_a_time = self.refresh.lock().await;
        let before = self.snapshot();
        let deployments = match self.registry.deployments(None).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the registry's deployments; keeping none");
                let snapshot = Arc::new(Snapshot { registry_ok: false, ..Default::default() });
                self.set(snapshot.clone());
                return snapshot;
            }
        };
        let mut next = Snapshot { registry_ok: true, ..Default::default() };
        for d in deployments {
            let known = before.at(&d.site).iter().find(|v| v.version.id == d.version_id && v.mode == d.mode).cloned();
            let loaded = match known {
                Some(v) => Ok(v),
                None => self.load(&d.version_id, &d.mode).await.map(Arc::new),
            };
            match loaded {
                Ok(v) => next.sites.entry(d.site.clone()).or_default().push(v),
                Err(why) => {
                    if !before.refused.iter().any(|(id, w)| *id == d.version_id && *w == why) {
                        tracing::error!(version = %d.version_id, site = %d.site, reason = %why, "a deployed version was refused");
                    }
                    next.refused.push((d.version_id.clone(), why));
                }
            }
        }
        for versions in next.sites.values_mut() {
            versions.sort_by_key(|v| (v.mode != "active", v.version.id.clone()));
        }
        let next = Arc::new(next);
        self.set(next.clone());
        next
    }

    async fn load(&self, id: &str, mode: &str) -> Result<LoadedVersion, String> {
        let version = self.registry.version(id).await.map_err(|e| e.to_string())?;
        let trusted = self.trusted.clone();
        let mode = mode.to_string();
        tokio::task::spawn_blocking(move || LoadedVersion::load(&version, &mode, &trusted))
            .await
            .map_err(|e| format!("loading {id} failed: {e}"))?
    }

    fn set(&self, snapshot: Arc<Snapshot>) {
        match self.current.write() {
            Ok(mut guard) => *guard = snapshot,
            Err(poisoned) => *poisoned.into_inner() = snapshot,
        }
    }
}
