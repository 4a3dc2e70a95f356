//! CDS Hooks 2.0: the EHR asks for risks when a clinician opens a chart (`patient-view`).
//!
//! - `GET /cds-services`: discovery — one service, with prefetch templates for the patient,
//!   conditions, observations, medications, encounters and procedures.
//! - `POST /cds-services/{id}`: the hook. The caller is an EHR client of a tenant, known by its
//!   signed JWT ([`jwt`]). The record is the prefetch; whatever the EHR could not prefetch is
//!   fetched from its `fhirServer` with its `fhirAuthorization` ([`fetch`]), only from FHIR
//!   servers configured for that client; with neither, 412. The record is scored like a REST
//!   prediction (de-identified in memory, the site's deployed version), and each task at a
//!   `moderate` or `high` band becomes a card — a low risk makes no card, so that cards mean
//!   something. The call is in the audit log before the cards leave.
//! - `POST /cds-services/{id}/feedback`: what the clinician did with each card (accepted,
//!   overridden, and why), stored per tenant beside the card's model version and task.
//!
//! Errors are `OperationOutcome`s like the REST API's: CDS clients read the status.

pub mod fetch;
pub mod jwt;

use std::time::Instant;

use audit::{Action, Entry};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use store::sqlx;

use crate::error::ApiError;
use crate::routes::predict::{Prediction, Scored, choose, score};
use crate::tenants::{Caller, Role};
use crate::{AppState, deployments::LoadedVersion};

/// The one service's id.
pub const SERVICE_ID: &str = "longitude-risk";

/// The code system of the reasons a clinician may give for overriding a card.
pub const OVERRIDE_SYSTEM: &str = "https://longitude.health/fhir/CodeSystem/override-reason";

/// What the service prefetches: name → FHIR query template.
pub const PREFETCH: [(&str, &str); 6] = [
    ("patient", "Patient/{{context.patientId}}"),
    ("conditions", "Condition?patient={{context.patientId}}"),
    ("observations", "Observation?patient={{context.patientId}}"),
    ("medications", "MedicationRequest?patient={{context.patientId}}"),
    ("encounters", "Encounter?patient={{context.patientId}}"),
    ("procedures", "Procedure?patient={{context.patientId}}"),
];

/// The override reasons offered on each card.
const OVERRIDE_REASONS: [(&str, &str); 3] = [
    ("not-relevant", "Not relevant to this patient now"),
    ("already-addressed", "Already addressed"),
    ("disagree", "Disagree with the risk"),
];

/// `GET /cds-services`.
pub async fn discovery() -> Json<Value> {
    let prefetch: Map<String, Value> = PREFETCH.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
    Json(json!({
        "services": [{
            "hook": "patient-view",
            "id": SERVICE_ID,
            "title": "Longitude clinical risk",
            "description": "Risks of the clinical outcomes the health system's deployed model was validated on, from \
                            the patient's record, with the validated operating point and the model's report.",
            "prefetch": prefetch,
            "usageRequirements": "Send the prefetch, or a fhirServer and fhirAuthorization that can read the \
                                  patient's Condition, Observation, MedicationRequest, Encounter and Procedure \
                                  resources.",
        }]
    }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HookRequest {
    hook: String,
    hook_instance: String,
    #[serde(default)]
    fhir_server: Option<String>,
    #[serde(default)]
    fhir_authorization: Option<FhirAuthorization>,
    context: HookContext,
    #[serde(default)]
    prefetch: Option<Map<String, Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HookContext {
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    patient_id: Option<String>,
}

/// The access a CDS client grants to its FHIR server.
#[derive(Debug, Clone, Deserialize)]
pub struct FhirAuthorization {
    /// The bearer token.
    pub access_token: String,
    /// `Bearer`.
    pub token_type: String,
}

fn audience(state: &AppState, path: &str) -> String {
    format!("{}{path}", state.public_url())
}

/// Authenticates a CDS call: its JWT, for `path`, and the clinician role. Refusals are audited.
async fn authenticate(state: &AppState, headers: &HeaderMap, path: &str) -> Result<Caller, ApiError> {
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    match jwt::verify(state, authorization, &audience(state, path)).await {
        Ok(caller) if caller.roles.contains(&Role::Clinician) => Ok(caller),
        Ok(caller) => {
            let why = format!("CDS Hooks needs the clinician role, which client {} does not hold", caller.client);
            state.audit_refusal(&caller.tenant, &caller.client, &why).await;
            Err(ApiError::forbidden(why))
        }
        Err(why) => {
            state.audit_refusal("-", "-", &format!("CDS Hooks: {why}")).await;
            Err(ApiError::unauthenticated(why))
        }
    }
}

/// `POST /cds-services/{id}`.
pub async fn service(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    if id != SERVICE_ID {
        return Err(ApiError::not_found(format!("no CDS service {id}: this server offers {SERVICE_ID}")));
    }
    let caller = authenticate(&state, &headers, &format!("/cds-services/{id}")).await?;
    let mut entry = Entry::new(&caller.tenant, &caller.client, Action::Prediction);
    let answered = answer(&state, &caller, body, &mut entry).await;
    entry.latency_us = Some(started.elapsed().as_micros() as u64);
    match answered {
        Ok(cards) => {
            state.record(&entry).await?;
            Ok(Json(json!({ "cards": cards })).into_response())
        }
        Err(e) => Err(state.refuse(&mut entry, e).await),
    }
}

async fn answer(
    state: &AppState,
    caller: &Caller,
    body: Result<Bytes, BytesRejection>,
    entry: &mut Entry,
) -> Result<Vec<Value>, ApiError> {
    let body = crate::routes::read_body(body, entry)?;
    let request: HookRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::malformed("the body is not a CDS Hooks request (hook, hookInstance and context are required)")
            .at(format!("line {}, column {}", e.line(), e.column()))
    })?;
    if request.hook != "patient-view" {
        return Err(ApiError::malformed(format!("{SERVICE_ID} answers the patient-view hook only")).at("hook"));
    }
    entry.user = request.context.user_id.clone();
    let patient_id = request
        .context
        .patient_id
        .filter(|p| !p.is_empty() && !p.contains('/'))
        .ok_or_else(|| ApiError::malformed("patient-view needs context.patientId").at("context.patientId"))?;
    let snapshot = state.deployments().snapshot();
    let version = choose(&snapshot, caller, None, &[])?;
    entry.model_version = Some(version.version.id.clone());
    entry.task = Some("*".into());
    let record =
        gather(state, caller, &request.prefetch, &request.fhir_server, &request.fhir_authorization, &patient_id)
            .await?;
    let Scored { predictions, .. } = score(state, &version, record.to_string(), Vec::new()).await?;
    let reference = format!("Patient/{patient_id}");
    for p in predictions.iter().filter(|p| p.patient == reference) {
        state.metrics().prediction(&version.version.id, &p.task, p.band);
    }
    let mut cards = Vec::new();
    for p in predictions.iter().filter(|p| p.patient == reference && p.band != "low") {
        let uuid = uuid_v4().map_err(|_| ApiError::internal("no randomness for a card id"))?;
        sqlx::query(
            "INSERT INTO cds_cards (uuid, tenant, service, model_version, task, band, issued_at) VALUES ($1, $2, $3, \
             $4, $5, $6, $7)",
        )
        .bind(&uuid)
        .bind(&caller.tenant)
        .bind(SERVICE_ID)
        .bind(&version.version.id)
        .bind(&p.task)
        .bind(p.band)
        .bind(audit::entry::now())
        .execute(state.audit().database().pool())
        .await
        .map_err(|_| ApiError::unavailable("the card could not be recorded"))?;
        cards.push(card(state, &version, p, &uuid));
    }
    entry.output =
        Some(format!("hook {}: {} cards of {} risks", short(&request.hook_instance), cards.len(), predictions.len()));
    Ok(cards)
}

/// The first characters of a hook instance id (an opaque id of the EHR's, kept short).
fn short(id: &str) -> String {
    id.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').take(36).collect()
}

/// The patient's record: each prefetch the EHR sent, and what it did not, fetched.
async fn gather(
    state: &AppState,
    caller: &Caller,
    prefetch: &Option<Map<String, Value>>,
    fhir_server: &Option<String>,
    authorization: &Option<FhirAuthorization>,
    patient_id: &str,
) -> Result<Value, ApiError> {
    let mut resources = Vec::new();
    for (name, template) in PREFETCH {
        let given = prefetch.as_ref().and_then(|p| p.get(name)).filter(|v| !v.is_null());
        let value = match (given, fhir_server) {
            (Some(v), _) => v.clone(),
            (None, Some(server)) => {
                let query = template.replace("{{context.patientId}}", patient_id);
                fetch::get(state, caller, server, authorization.as_ref(), &query).await?
            }
            (None, None) => {
                return Err(ApiError {
                    status: StatusCode::PRECONDITION_FAILED,
                    ..ApiError::unprocessable(format!(
                        "prefetch {name} is missing and there is no fhirServer to fetch it from"
                    ))
                    .at(format!("prefetch.{name}"))
                });
            }
        };
        collect(value, &mut resources);
    }
    Ok(json!({ "resourceType": "Bundle", "type": "collection", "entry": resources }))
}

/// Adds a resource, or a Bundle's resources, as collection entries.
fn collect(value: Value, into: &mut Vec<Value>) {
    if value["resourceType"] == "Bundle" {
        if let Some(entries) = value.get("entry").and_then(Value::as_array) {
            for e in entries {
                if let Some(r) = e.get("resource").filter(|r| r["resourceType"] != "OperationOutcome") {
                    collect(r.clone(), into);
                }
            }
        }
    } else if value.is_object() {
        into.push(json!({ "resource": value }));
    }
}

/// A card for one task's risk.
fn card(state: &AppState, version: &LoadedVersion, p: &Prediction, uuid: &str) -> Value {
    let percent = p.probability * 100.0;
    let what = if p.description.is_empty() { p.task.clone() } else { p.description.trim_end_matches('.').to_string() };
    let summary = fit(&format!("{} risk ({percent:.0}%): {what}", capitalised(p.band)), 139);
    let mut detail =
        format!("**{percent:.1}%** risk — {what}.\n\nAs of {} ({} events of the record read). ", p.as_of, p.events);
    match &p.operating_point {
        Some(op) if op.threshold.is_some() => {
            let share = |v: Option<f64>| v.map_or_else(|| "—".into(), |v| format!("{:.0}%", v * 100.0));
            detail.push_str(&format!(
                "The validated operating point is {:.1}%: on held-out patients it flagged {} of them, {} of those \
                 flagged had the outcome (PPV), and it found {} of those who did (sensitivity).",
                op.threshold.unwrap_or_default() * 100.0,
                share(op.flag_rate),
                share(op.ppv),
                share(op.sensitivity)
            ));
        }
        _ => detail.push_str("The band is set by the task's prevalence among held-out patients."),
    }
    if let Some(basis) = p.basis.as_ref().filter(|b| !b.is_empty()) {
        detail.push_str("\n\nWhat moved this risk most:\n");
        for b in basis {
            let value = b.value.map_or_else(|| "none recorded".to_string(), |v| format!("{v}"));
            let way = if b.log_odds >= 0.0 { "raised" } else { "lowered" };
            detail.push_str(&format!("- `{}` = {value} ({way} it, {:+.2} log-odds)\n", b.feature, b.log_odds));
        }
    }
    detail.push_str(&format!(
        "\n\nModel {} ({}), owned by {}.",
        version.version.id, version.method, version.version.owner
    ));
    let report = format!("{}/models/{}/report", state.public_url(), version.version.id);
    json!({
        "uuid": uuid,
        "summary": summary,
        "indicator": if p.band == "high" { "warning" } else { "info" },
        "detail": detail,
        "source": {
            "label": format!("Longitude · {}", version.version.id),
            "url": report,
            "topic": { "system": crate::fhir_out::TASK_SYSTEM, "code": p.task },
        },
        "overrideReasons": OVERRIDE_REASONS
            .iter()
            .map(|(code, display)| json!({ "system": OVERRIDE_SYSTEM, "code": code, "display": display }))
            .collect::<Vec<_>>(),
        "links": [{ "label": "Validation report and model card", "url": report, "type": "absolute" }],
    })
}

fn capitalised(band: &str) -> String {
    let mut c = band.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

/// `text` cut at a word boundary to at most `max` characters, with an ellipsis when cut.
fn fit(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out = String::new();
    for word in text.split(' ') {
        if out.chars().count() + word.chars().count() + 2 > max {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out.push('…');
    out
}

/// A random (version 4) UUID.
fn uuid_v4() -> std::io::Result<String> {
    use std::io::Read;
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32]))
}

#[derive(Debug, Deserialize)]
struct FeedbackRequest {
    feedback: Vec<Feedback>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Feedback {
    card: String,
    outcome: String,
    #[serde(default)]
    override_reason: Option<OverrideReason>,
    #[serde(default)]
    outcome_timestamp: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OverrideReason {
    #[serde(default)]
    reason: Option<Value>,
    #[serde(default)]
    user_comment: Option<String>,
}

/// `POST /cds-services/{id}/feedback`.
pub async fn feedback(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    if id != SERVICE_ID {
        return Err(ApiError::not_found(format!("no CDS service {id}: this server offers {SERVICE_ID}")));
    }
    let caller = authenticate(&state, &headers, &format!("/cds-services/{id}/feedback")).await?;
    let body = body.map_err(|_| ApiError::malformed("the feedback could not be read"))?;
    let request: FeedbackRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::malformed("the body is not CDS Hooks feedback (a feedback array of card outcomes)").at(format!(
            "line {}, column {}",
            e.line(),
            e.column()
        ))
    })?;
    let pool = state.audit().database().pool();
    let mut tx = pool.begin().await.map_err(|_| ApiError::unavailable("the feedback could not be stored now"))?;
    let mut overridden = 0;
    for (i, f) in request.feedback.iter().enumerate() {
        if !matches!(f.outcome.as_str(), "accepted" | "overridden") {
            return Err(ApiError::malformed("outcome is accepted or overridden").at(format!("feedback[{i}].outcome")));
        }
        let issued = sqlx::query("SELECT uuid FROM cds_cards WHERE uuid = $1 AND tenant = $2")
            .bind(&f.card)
            .bind(&caller.tenant)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|_| ApiError::unavailable("the feedback could not be stored now"))?;
        if issued.is_none() {
            return Err(ApiError::unprocessable(format!(
                "card {} was not issued to tenant {}",
                short(&f.card),
                caller.tenant
            ))
            .at(format!("feedback[{i}].card")));
        }
        let reason = f
            .override_reason
            .as_ref()
            .and_then(|r| r.reason.as_ref())
            .and_then(|r| r.get("code"))
            .and_then(Value::as_str)
            .map(String::from);
        let commented = f.override_reason.as_ref().and_then(|r| r.user_comment.as_ref()).is_some_and(|c| !c.is_empty());
        overridden += usize::from(f.outcome == "overridden");
        sqlx::query(
            "INSERT INTO cds_feedback (tenant, client, service, card, outcome, override_reason, commented, outcome_at, \
             received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&caller.tenant)
        .bind(&caller.client)
        .bind(SERVICE_ID)
        .bind(&f.card)
        .bind(&f.outcome)
        .bind(reason)
        .bind(if commented { "yes" } else { "no" })
        .bind(f.outcome_timestamp.clone())
        .bind(audit::entry::now())
        .execute(&mut *tx)
        .await
        .map_err(|_| ApiError::unavailable("the feedback could not be stored now"))?;
    }
    let mut entry = Entry::new(&caller.tenant, &caller.client, Action::Feedback);
    entry.output = Some(format!("{} card outcomes, {overridden} overridden", request.feedback.len()));
    state
        .audit()
        .append_within(&mut tx, &entry)
        .await
        .map_err(|_| ApiError::unavailable("the feedback could not be recorded now"))?;
    tx.commit().await.map_err(|_| ApiError::unavailable("the feedback could not be stored now"))?;
    Ok(StatusCode::OK.into_response())
}
