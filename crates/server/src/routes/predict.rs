//! `POST /v1/predict`: a patient's record in, each task's risk out, audited before it leaves.

use std::sync::Arc;
use std::time::Instant;

use audit::{Action, Entry, Outcome};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Authenticated;
use crate::deployments::{LoadedVersion, Snapshot};
use crate::error::{ApiError, FHIR_JSON};
use crate::quota::rate_limit_headers;
pub use crate::risk::{BasisItem, OperatingPoint, Prediction};
use crate::tenants::{Caller, Role};
use crate::{AppState, fhir_out};

/// A prediction request (`Content-Type: application/json`). A FHIR document sent as
/// `application/fhir+json` is the record itself, with the tasks and model in the query.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PredictRequest {
    /// The tasks to score; every task the model answers when absent or empty.
    #[serde(default)]
    pub tasks: Vec<String>,
    /// The model to ask, by name or version id (`name@version`): needed only where the site
    /// runs several.
    #[serde(default)]
    pub model: Option<String>,
    /// The patient's record, FHIR R4: a Bundle, one resource, or an array of resources.
    #[schema(value_type = Object)]
    pub record: serde_json::Value,
}

/// The query of `POST /v1/predict`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PredictQuery {
    /// Tasks, comma-separated (with an `application/fhir+json` body).
    pub tasks: Option<String>,
    /// The model, by name or version id (with an `application/fhir+json` body).
    pub model: Option<String>,
    /// `fhir` for a Bundle of `RiskAssessment`s (as `Accept: application/fhir+json`).
    pub format: Option<String>,
}

/// The model version that answered.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ModelRef {
    /// `name@version`.
    pub id: String,
    /// The method that scored: the one its validation report describes.
    pub method: String,
    /// The bundle's manifest SHA-256, as registered.
    pub manifest_sha256: String,
}

/// A patient of the record that got no risk, and why.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UnscoredPatient {
    /// The patient, as the request referred to them.
    pub patient: String,
    /// Why.
    pub reason: String,
}

/// What became of the record's resources.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RecordSummary {
    /// Resources read.
    pub read: u64,
    /// Converted to events.
    pub converted: u64,
    /// Skipped (a status or type the model does not read), with the reasons and counts.
    pub skipped: std::collections::BTreeMap<String, u64>,
    /// Refused as malformed.
    pub quarantined: u64,
    /// Withheld: conflicting copies, codes that carry an identifier, resources of no patient.
    pub withheld: u64,
    /// Exact copies of a resource already read.
    pub duplicates: u64,
}

/// Where the call's audit record sits: ask `/v1/audit/proof` for its inclusion proof.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditReceipt {
    /// The record's position in the log.
    pub index: u64,
    /// Its leaf hash (hex).
    pub leaf: String,
}

/// The answer to `POST /v1/predict`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PredictResponse {
    /// The model version that answered.
    pub model: ModelRef,
    /// One per patient and task.
    pub predictions: Vec<Prediction>,
    /// Patients without a risk.
    pub unscored: Vec<UnscoredPatient>,
    /// What became of the record's resources.
    pub record: RecordSummary,
    /// The call's audit record.
    pub audit: AuditReceipt,
}

/// Scores a patient's record with the model deployed for the caller's site.
#[utoipa::path(
    post,
    path = "/v1/predict",
    tag = "predictions",
    params(PredictQuery),
    request_body(
        description = "The tasks and the record (or, as application/fhir+json, the record alone: a FHIR R4 Bundle, resource or array)",
        content((PredictRequest = "application/json"), (Object = "application/fhir+json"))
    ),
    responses(
        (status = 200, description = "Each task's risk (a Bundle of RiskAssessments with Accept: application/fhir+json)",
         content((PredictResponse = "application/json"), (Object = "application/fhir+json"))),
        (status = 400, description = "Malformed JSON", body = crate::routes::Outcome, content_type = "application/fhir+json"),
        (status = 401, description = "No or unknown API key", body = crate::routes::Outcome, content_type = "application/fhir+json"),
        (status = 403, description = "The client lacks the clinician role", body = crate::routes::Outcome, content_type = "application/fhir+json"),
        (status = 404, description = "The model named is not deployed here", body = crate::routes::Outcome, content_type = "application/fhir+json"),
        (status = 413, description = "The body is too large", body = crate::routes::Outcome, content_type = "application/fhir+json"),
        (status = 415, description = "Not JSON", body = crate::routes::Outcome, content_type = "application/fhir+json"),
        (status = 422, description = "Valid JSON, but no usable record or an unknown task", body = crate::routes::Outcome, content_type = "application/fhir+json"),
        (status = 429, description = "Over the tenant's quota", body = crate::routes::Outcome, content_type = "application/fhir+json"),
        (status = 503, description = "No version deployed for the tenant, or the audit log unavailable", body = crate::routes::Outcome, content_type = "application/fhir+json"),
    ),
    security(("api_key" = []))
)]
pub async fn predict(
    State(state): State<AppState>,
    auth: Authenticated,
    query: Result<Query<PredictQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let caller = auth.require(&state, Role::Clinician).await?.clone();
    let Query(query) = query.map_err(|e| ApiError::malformed(format!("the query: {e}")))?;
    let fhir = wants_fhir(&headers, &query);
    let mut entry = Entry::new(&caller.tenant, &caller.client, Action::Prediction);
    let answered = answer(&state, &caller, &query, &headers, body, &mut entry).await;
    entry.latency_us = Some(started.elapsed().as_micros() as u64);
    let (response, version, shadow) = match answered {
        Ok(answer) => answer,
        Err(e) => {
            let mut e = state.refuse(&mut entry, e).await;
            e.rate_limit = Some(auth.standing);
            return Err(e);
        }
    };
    let receipt = state.record(&entry).await?;
    for p in &response.predictions {
        state.metrics().prediction(&version.version.id, &p.task, p.band);
    }
    score_in_shadow(&state, &caller, &version, shadow, &entry);
    let response =
        PredictResponse { audit: AuditReceipt { index: receipt.index, leaf: receipt.leaf.clone() }, ..response };
    let mut out = if fhir {
        let body = fhir_out::bundle(&response.predictions, &version.version.id, &version.method);
        let mut r = (StatusCode::OK, body.to_string()).into_response();
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
        r
    } else {
        axum::Json(response).into_response()
    };
    rate_limit_headers(out.headers_mut(), &auth.standing);
    if let Ok(v) = HeaderValue::from_str(&format!("{};{}", receipt.index, receipt.leaf)) {
        out.headers_mut().insert("longitude-audit-receipt", v);
    }
    Ok(out)
}

fn wants_fhir(headers: &HeaderMap, query: &PredictQuery) -> bool {
    query.format.as_deref() == Some("fhir")
        || headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains(FHIR_JSON))
}

/// Reads, checks and scores the request; fills in the audit record as it learns.
async fn answer(
    state: &AppState,
    caller: &Caller,
    query: &PredictQuery,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    entry: &mut Entry,
) -> Result<(PredictResponse, Arc<LoadedVersion>, Shadow), ApiError> {
    let body = crate::routes::read_body(body, entry)?;
    let media = crate::routes::media_type(headers);
    let request = match media.as_str() {
        "application/json" => {
            let r: PredictRequest = serde_json::from_slice(&body).map_err(|e| json_error(&e))?;
            r
        }
        FHIR_JSON => {
            let record: serde_json::Value = serde_json::from_slice(&body).map_err(|e| json_error(&e))?;
            let tasks = query
                .tasks
                .as_deref()
                .map(|t| t.split(',').map(str::trim).filter(|t| !t.is_empty()).map(String::from).collect())
                .unwrap_or_default();
            PredictRequest { tasks, model: query.model.clone(), record }
        }
        _ => {
            return Err(ApiError::unsupported_media(
                "send the request as application/json (tasks and record) or application/fhir+json (the record)",
            ));
        }
    };
    let snapshot = state.deployments().snapshot();
    let version = choose(&snapshot, caller, request.model.as_deref(), &request.tasks)?;
    entry.model_version = Some(version.version.id.clone());
    for (i, task) in request.tasks.iter().enumerate() {
        if version.task(task).is_none() {
            let known: Vec<&str> = version.tasks.iter().map(|t| t.task.as_str()).collect();
            return Err(ApiError::unprocessable(format!(
                "{} does not answer task {task}; it answers {}",
                version.version.id,
                known.join(", ")
            ))
            .at(format!("tasks[{i}]")));
        }
    }
    entry.task = Some(if request.tasks.is_empty() { "*".into() } else { request.tasks.join(",") });
    if !(request.record.is_object() || request.record.is_array()) {
        return Err(ApiError::unprocessable("the record must be a FHIR resource, a Bundle or an array of resources")
            .at("record"));
    }
    let text = request.record.to_string();
    let Scored { predictions, unscored, record, patients } =
        score(state, &version, text.clone(), request.tasks.clone()).await?;
    if predictions.is_empty() {
        let why = if patients == 0 {
            format!(
                "the record holds no patient the model can read (a Patient resource and dated clinical resources are \
                 needed): {} resources read, {} converted, {} quarantined, {} withheld",
                record.read, record.converted, record.quarantined, record.withheld
            )
        } else {
            let reasons: Vec<&str> = unscored.iter().map(|u| u.reason.as_str()).collect();
            format!("no patient of the record could be scored: {}", reasons.join("; "))
        };
        return Err(ApiError::unprocessable(why).at("record"));
    }
    let high = predictions.iter().filter(|p| p.band == "high").count();
    let moderate = predictions.iter().filter(|p| p.band == "moderate").count();
    entry.output = Some(format!(
        "{} risks (high {high}, moderate {moderate}, low {}), {} unscored",
        predictions.len(),
        predictions.len() - high - moderate,
        unscored.len()
    ));
    let model = ModelRef {
        id: version.version.id.clone(),
        method: version.method.clone(),
        manifest_sha256: version.version.manifest_sha256.clone(),
    };
    let response =
        PredictResponse { model, predictions, unscored, record, audit: AuditReceipt { index: 0, leaf: String::new() } };
    Ok((response, version, Shadow { record: text, tasks: request.tasks }))
}

/// What a shadow version is given: the record and the tasks the answering version was.
struct Shadow {
    record: String,
    tasks: Vec<String>,
}

/// Scores the request with every version deployed in shadow beside `version` (same model name,
/// same site), after the answer and apart from it: each shadow's risks are an audit record of
/// their own, never returned, so that a new version can be compared on live traffic before it
/// answers.
fn score_in_shadow(state: &AppState, caller: &Caller, version: &LoadedVersion, shadow: Shadow, answered: &Entry) {
    let snapshot = state.deployments().snapshot();
    let shadows: Vec<Arc<LoadedVersion>> = snapshot
        .at(&caller.site)
        .iter()
        .filter(|v| v.mode == "shadow" && v.version.name == version.version.name)
        .cloned()
        .collect();
    for v in shadows {
        let (state, record, tasks) = (state.clone(), shadow.record.clone(), shadow.tasks.clone());
        let mut entry = Entry::new(&answered.tenant, &answered.client, Action::Prediction);
        entry.input_sha256 = answered.input_sha256.clone();
        entry.task = answered.task.clone();
        entry.model_version = Some(v.version.id.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let tasks: Vec<String> = tasks.into_iter().filter(|t| v.task(t).is_some()).collect();
            match score(&state, &v, record, tasks).await {
                Ok(scored) => {
                    let high = scored.predictions.iter().filter(|p| p.band == "high").count();
                    let moderate = scored.predictions.iter().filter(|p| p.band == "moderate").count();
                    entry.output = Some(format!(
                        "shadow: {} risks (high {high}, moderate {moderate}, low {}), not returned",
                        scored.predictions.len(),
                        scored.predictions.len() - high - moderate
                    ));
                }
                Err(e) => {
                    entry.outcome = Outcome::Failed;
                    entry.output = Some(format!("shadow: {} {}", e.status.as_u16(), e.code));
                }
            }
            entry.latency_us = Some(started.elapsed().as_micros() as u64);
            let _ = state.record(&entry).await;
        });
    }
}

/// A record scored by one version: the predictions, the patients without one, and what became
/// of the record's resources.
pub(crate) struct Scored {
    pub predictions: Vec<Prediction>,
    pub unscored: Vec<UnscoredPatient>,
    pub record: RecordSummary,
    /// Patients the record defines (with a Patient resource and an event).
    pub patients: usize,
}

/// De-identifies the FHIR document `text` in memory and scores it with `version`'s models of
/// `tasks` (all when empty), off the async threads.
pub(crate) async fn score(
    state: &AppState,
    version: &Arc<LoadedVersion>,
    text: String,
    tasks: Vec<String>,
) -> Result<Scored, ApiError> {
    let scoring = {
        let (state, version) = (state.clone(), version.clone());
        tokio::task::spawn_blocking(move || {
            let patients = ingest::read_request(&text, state.deidentifier())
                .map_err(|e| ApiError::unprocessable(format!("the record could not be read: {e}")).at("record"))?;
            let scored = version
                .predictor
                .predict_tasks(&patients, &tasks)
                .map_err(|e| ApiError::internal(format!("scoring failed: {e}")))?;
            Ok::<_, ApiError>((patients, scored))
        })
    };
    let (patients, scored) = scoring.await.map_err(|_| ApiError::internal("scoring stopped unexpectedly"))??;
    let source =
        |subject: i64| patients.timelines.iter().position(|t| t.subject_id == subject).map(|i| &patients.sources[i]);
    let mut predictions = Vec::with_capacity(scored.risks.len());
    for risk in &scored.risks {
        let (Some(patient), Some(task)) = (source(risk.subject_id), version.task(&risk.task)) else { continue };
        let (at, time_frame) = match patient.shift {
            Some(shift) => (risk.as_of - shift, "record"),
            None => (risk.as_of, "model"),
        };
        predictions.push(Prediction {
            patient: patient.reference.clone(),
            task: risk.task.clone(),
            description: task.description.clone(),
            probability: risk.probability,
            band: task.band(risk.probability),
            as_of: rfc3339(at),
            time_frame,
            horizon: None,
            events: risk.events,
            basis: risk.basis.as_ref().map(|b| {
                b.iter()
                    .map(|c| BasisItem {
                        feature: c.feature.clone(),
                        value: c.value.is_finite().then_some(c.value),
                        log_odds: c.log_odds,
                    })
                    .collect()
            }),
            operating_point: task.operating_point.map(|op| OperatingPoint {
                threshold: op.threshold,
                sensitivity: op.sensitivity,
                ppv: op.ppv,
                flag_rate: op.flag_rate,
            }),
        });
    }
    let unscored: Vec<UnscoredPatient> = scored
        .unscored
        .iter()
        .filter_map(|u| {
            Some(UnscoredPatient { patient: source(u.subject_id)?.reference.clone(), reason: u.reason.into() })
        })
        .collect();
    let mut record = RecordSummary {
        read: 0,
        converted: 0,
        skipped: Default::default(),
        quarantined: 0,
        withheld: patients.withheld,
        duplicates: patients.duplicates_dropped,
    };
    for counts in patients.fhir.types.values() {
        record.read += counts.read;
        record.converted += counts.converted;
        record.quarantined += counts.quarantined;
        for (why, n) in &counts.skipped {
            *record.skipped.entry(why.clone()).or_default() += n;
        }
    }
    Ok(Scored { predictions, unscored, record, patients: patients.timelines.len() })
}

/// The version that answers: the one named, else the site's only active version, else the only
/// active one answering every task asked for.
pub(crate) fn choose(
    snapshot: &Snapshot,
    caller: &Caller,
    model: Option<&str>,
    tasks: &[String],
) -> Result<Arc<LoadedVersion>, ApiError> {
    let active: Vec<&Arc<LoadedVersion>> = snapshot.at(&caller.site).iter().filter(|v| v.mode == "active").collect();
    if active.is_empty() {
        return Err(ApiError::unavailable(format!("no model version is deployed for tenant {}", caller.tenant)));
    }
    if let Some(name) = model {
        return active
            .iter()
            .find(|v| v.version.id == name || v.version.name == name)
            .map(|v| Arc::clone(v))
            .ok_or_else(|| {
                ApiError::not_found(format!("no model {name} is deployed for tenant {}", caller.tenant)).at("model")
            });
    }
    if let [only] = active.as_slice() {
        return Ok(Arc::clone(only));
    }
    let covering: Vec<&&Arc<LoadedVersion>> =
        active.iter().filter(|v| tasks.iter().all(|t| v.task(t).is_some())).collect();
    match covering.as_slice() {
        [only] if !tasks.is_empty() => Ok(Arc::clone(only)),
        _ => {
            let ids: Vec<&str> = active.iter().map(|v| v.version.id.as_str()).collect();
            Err(ApiError::unprocessable(format!(
                "several models are deployed here ({}): name one with `model`",
                ids.join(", ")
            ))
            .at("model"))
        }
    }
}

pub(crate) fn json_error(e: &serde_json::Error) -> ApiError {
    let at = format!("line {}, column {}", e.line(), e.column());
    match e.classify() {
        serde_json::error::Category::Data => {
            ApiError::unprocessable(format!("the request is not a prediction request: {e}")).at(at)
        }
        _ => ApiError::malformed(format!("the body is not valid JSON ({})", describe_syntax(e))).at(at),
    }
}

/// A syntax error without the offending text (which may be a patient's).
fn describe_syntax(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Eof => "it ends early",
        serde_json::error::Category::Syntax => "a syntax error",
        serde_json::error::Category::Io => "it could not be read",
        serde_json::error::Category::Data => "unexpected content",
    }
}

/// Microseconds since the epoch as RFC 3339 (UTC).
pub fn rfc3339(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map_or_else(|| micros.to_string(), |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}
