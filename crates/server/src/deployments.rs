//! The versions that answer: what the registry says is deployed, loaded from bundles that verify.
//!
//! A version answers only while the registry has it deployed at the caller's site. Its bundle is
//! loaded once, when it first appears deployed, and verified as [`LoadedVersion::load`] says
//! (the same load as batch scoring's). An unsigned bundle, or one changed since registration,
//! never answers: the refusal is kept and shown by `/ready`.
//!
//! [`Deployments::refresh`] re-reads the registry; the server calls it on a timer and after every
//! registry change it makes, so a suspension made through any replica takes effect everywhere
//! within the timer's period.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

pub use inference::deployed::{LoadedVersion, TaskInfo};
use registry::Registry;
use signing::VerifierKey;

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
        tokio::task::spawn_blocking(move || LoadedVersion::load(&version, &mode, &trusted).map_err(|e| e.to_string()))
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
