//! # server — the model in use: partners' REST API, FHIR out, every answer audited first
//!
//! `longitude serve` runs this crate: an axum application over explicit state ([`AppState`]),
//! with thin handlers in [`routes`] that call the library crates — [`ingest::read_request`] to
//! de-identify a request's FHIR in memory, [`inference::Predictor`] to score it, the [`registry`]
//! for what may answer, the [`audit`] log for what was done.
//!
//! What a hospital can rely on:
//! - **Only what the registry deployed answers**, at the caller's site, from a bundle whose
//!   owner's signature verified against the trusted keys and whose manifest is the one registered
//!   ([`deployments`]). A suspension made anywhere is seen within the refresh period.
//! - **Every answer is in the audit log before it leaves**: the response carries its receipt
//!   (position and leaf hash) and `/v1/audit/proof` proves it under a signed checkpoint. If the
//!   record cannot be written, the answer is not given (503). Refused calls — bad keys, missing
//!   roles, unusable records — are recorded too.
//! - **Callers are tenants' clients** with API keys stored as digests and roles ([`tenants`]),
//!   held to per-tenant quotas ([`quota`]); a tenant sees only its own site's models and its own
//!   audit records.
//! - **Errors are FHIR `OperationOutcome`s** with the status that says what is wrong ([`error`]);
//!   bad input is never a 500, and no response, log line or audit record names a patient.
//! - The OpenAPI 3.1 document at `/openapi.json` is generated from the handlers themselves.

pub mod auth;
pub mod cds_hooks;
pub mod deployments;
pub mod error;
pub mod fhir_out;
pub mod metrics;
pub mod quota;
pub mod risk;
pub mod routes;
pub mod tenants;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use audit::{Action, AuditLog, Entry, Outcome, Receipt};
use axum::Router;
use deid::Deidentifier;
use registry::Registry;
use signing::{SignerKey, VerifierKey};

pub use deployments::{Deployments, LoadedVersion, Snapshot};
pub use error::ApiError;
pub use quota::Standing;
pub use tenants::{Caller, Role, Tenants};

/// How the server is set up.
#[derive(Debug)]
pub struct Settings {
    /// Who may call.
    pub tenants: Tenants,
    /// The owners' keys a bundle must be signed by to answer.
    pub trusted: Vec<VerifierKey>,
    /// The de-identification the model's training data went through (same key, same dates).
    pub deidentifier: Deidentifier,
    /// The largest request body, bytes.
    pub max_body_bytes: usize,
    /// How often the registry's deployments are re-read.
    pub refresh_every: Duration,
    /// The operator's key and how often to sign a checkpoint of the audit log (when it grew).
    pub checkpoint: Option<(SignerKey, Duration)>,
    /// The URL callers reach this server at (e.g. `https://risk.hospital.example`), without a
    /// trailing slash: a CDS Hooks JWT's `aud` must be this and the path called, and cards link
    /// to reports under it.
    pub public_url: String,
}

struct Inner {
    audit: AuditLog,
    deployments: Deployments,
    callers: HashMap<String, Caller>,
    quotas_per_minute: HashMap<String, u32>,
    quotas: quota::Quotas,
    deidentifier: Deidentifier,
    max_body_bytes: usize,
    refresh_every: Duration,
    checkpoint: Option<(SignerKey, Duration)>,
    issuers: HashMap<String, (Caller, tenants::CdsIssuer)>,
    public_url: String,
    http: reqwest::Client,
    metrics: metrics::Metrics,
}

/// What every handler shares: the audit log, the deployments, the callers.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("audit", &self.0.audit.origin()).finish_non_exhaustive()
    }
}

impl AppState {
    /// The state of a server writing to `audit` (whose database holds the registry).
    pub fn new(audit: AuditLog, settings: Settings) -> AppState {
        install_tls_provider();
        let registry = Registry::new(audit.clone());
        let callers = settings.tenants.callers();
        let issuers = settings.tenants.issuers();
        let quotas_per_minute =
            settings.tenants.tenants.iter().map(|t| (t.id.clone(), t.requests_per_minute)).collect();
        AppState(Arc::new(Inner {
            deployments: Deployments::new(registry, settings.trusted),
            audit,
            callers,
            quotas_per_minute,
            quotas: quota::Quotas::default(),
            deidentifier: settings.deidentifier,
            max_body_bytes: settings.max_body_bytes,
            refresh_every: settings.refresh_every,
            checkpoint: settings.checkpoint,
            issuers,
            public_url: settings.public_url.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap_or_default(),
            metrics: metrics::Metrics::default(),
        }))
    }

    /// The URL callers reach this server at.
    pub fn public_url(&self) -> &str {
        &self.0.public_url
    }

    pub(crate) fn issuer(&self, iss: &str) -> Option<(Caller, tenants::CdsIssuer)> {
        self.0.issuers.get(iss).cloned()
    }

    /// The server's metrics.
    pub fn metrics(&self) -> &metrics::Metrics {
        &self.0.metrics
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.0.http
    }

    /// Whether the FHIR server at `base` is one configured for `caller`'s CDS Hooks client.
    pub(crate) fn may_fetch_from(&self, caller: &Caller, base: &str) -> bool {
        self.0
            .issuers
            .values()
            .any(|(c, issuer)| c == caller && issuer.fhir_servers.iter().any(|s| s.trim_end_matches('/') == base))
    }

    /// The deployments answering.
    pub fn deployments(&self) -> &Deployments {
        &self.0.deployments
    }

    /// The audit log.
    pub fn audit(&self) -> &AuditLog {
        &self.0.audit
    }

    pub(crate) fn deidentifier(&self) -> &Deidentifier {
        &self.0.deidentifier
    }

    pub(crate) fn caller(&self, key_sha256: &str) -> Option<Caller> {
        self.0.callers.get(key_sha256).cloned()
    }

    pub(crate) fn take_quota(&self, caller: &Caller) -> Standing {
        let per_minute = self.0.quotas_per_minute.get(&caller.tenant).copied().unwrap_or(60);
        self.0.quotas.take(&caller.tenant, per_minute)
    }

    /// Appends `entry`; an answer whose record cannot be written is not given.
    pub(crate) async fn record(&self, entry: &Entry) -> Result<Receipt, ApiError> {
        self.0.audit.append(entry).await.map_err(|e| {
            tracing::error!(error = %e, "the audit log refused a record; the answer is withheld");
            ApiError::unavailable("the audit log cannot record this call now, so it is not answered")
        })
    }

    /// Records a call that was refused or failed (its status and issue type only: never the
    /// message, which may quote the request) and gives the error back to be returned.
    pub(crate) async fn refuse(&self, entry: &mut Entry, e: ApiError) -> ApiError {
        entry.outcome =
            if e.status == axum::http::StatusCode::INTERNAL_SERVER_ERROR { Outcome::Failed } else { Outcome::Refused };
        entry.output = Some(format!("{} {}", e.status.as_u16(), e.code));
        // The refusal stands whether or not its record could be written.
        let _ = self.record(entry).await;
        e
    }

    /// Records a refused authentication or authorisation (best effort: the refusal stands
    /// whether or not the record is written, and a failure is logged).
    pub(crate) async fn audit_refusal(&self, tenant: &str, client: &str, why: &str) {
        let mut entry = Entry::new(tenant, client, Action::AuthenticationFailure);
        entry.outcome = Outcome::Refused;
        entry.output = Some(why.to_string());
        if let Err(e) = self.0.audit.append(&entry).await {
            tracing::error!(error = %e, "an authentication failure could not be recorded");
        }
    }
}

/// Makes rustls use ring (already built for the database's TLS): reqwest is built without a
/// provider so that aws-lc, which needs cmake, stays out of the build. Idempotent.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The application: every route, and the OpenAPI document generated from them at
/// `/openapi.json`.
pub fn app(state: AppState) -> Router {
    routes::router(state)
}

/// Serves `state` on `listener` until `shutdown` resolves, then drains the requests in flight.
/// Re-reads the registry every refresh period and signs audit checkpoints on their timer
/// meanwhile.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    state.deployments().refresh().await;
    let refresher = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(state.0.refresh_every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                state.deployments().refresh().await;
            }
        })
    };
    let checkpointer = state.0.checkpoint.clone().map(|(key, every)| {
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut signed = 0;
            loop {
                tick.tick().await;
                match state.audit().size().await {
                    Ok(size) if size > signed => match state.audit().checkpoint(&key).await {
                        Ok(c) => signed = c.size,
                        Err(e) => tracing::warn!(error = %e, "an audit checkpoint could not be signed"),
                    },
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "the audit log's size could not be read"),
                }
            }
        })
    });
    let result = axum::serve(listener, app(state)).with_graceful_shutdown(shutdown).await;
    refresher.abort();
    if let Some(c) = checkpointer {
        c.abort();
    }
    result
}
