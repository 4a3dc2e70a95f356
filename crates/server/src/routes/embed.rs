//! `POST /v1/embed`: a patient's record in, the foundation model's embedding of it out — for a
//! researcher's own models (clustering, retrieval, a probe of their own), never a risk.

use std::sync::Arc;
use std::time::Instant;

use audit::{Action, Entry};
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use model::embedding::Pooling;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Authenticated;
use crate::deployments::LoadedVersion;
use crate::error::ApiError;
use crate::quota::rate_limit_headers;
use crate::routes::predict::{AuditReceipt, ModelRef, choose, json_error, rfc3339};
use crate::tenants::{Caller, Role};

/// An embedding request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmbedRequest {
    /// The model to ask, by name or version id: needed only where the site runs several.
    #[serde(default)]
    pub model: Option<String>,
    /// How the model's states are read: `last` (the state at the last token, D floats),
    /// `last_and_mean` (2·D), `last_mean_max` (3·D). Default `last`.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub pooling: Option<Pooling>,
    /// The patient's record, FHIR R4: a Bundle, one resource, or an array of resources.
    #[schema(value_type = Object)]
    pub record: serde_json::Value,
}

/// One patient's embedding.
#[derive(Debug, Serialize, ToSchema)]
pub struct PatientEmbedding {
    /// The patient, as the request referred to them.
    pub patient: String,
    /// As of when (RFC 3339): the record's latest dated event.
    pub as_of: String,
    /// The vector.
    pub vector: Vec<f32>,
}

/// The answer to `POST /v1/embed`.
#[derive(Debug, Serialize, ToSchema)]
pub struct EmbedResponse {
    /// The model version whose foundation model embedded the record.
    pub model: ModelRef,
    /// How its states were read.
    #[schema(value_type = String)]
    pub pooling: Pooling,
    /// Floats per vector.
    pub dimensions: usize,
    /// One per patient with a dated event.
    pub embeddings: Vec<PatientEmbedding>,
    /// The call's audit record.
    pub audit: AuditReceipt,
}

/// Embeds a patient's record with the foundation model of the version deployed for the caller.
#[utoipa::path(
    post,
    path = "/v1/embed",
    tag = "research",
    request_body(content = EmbedRequest, description = "The record and how to read the model's states"),
    responses(
        (status = 200, description = "The embedding of each patient", body = EmbedResponse),
        (status = 400, description = "Malformed JSON", body = crate::routes::Outcome, content_type = "application/fhir+json"),
        (status = 401, description = "No or unknown API key", body = crate::routes::Outcome, content_type = "application/fhir+json"),
        (status = 403, description = "The client lacks the researcher role", body = crate::routes::Outcome, content_type = "application/fhir+json"),
        (status = 404, description = "The model named is not deployed here", body = crate::routes::Outcome, content_type = "application/fhir+json"),
        (status = 413, description = "The body is too large", body = crate::routes::Outcome, content_type = "application/fhir+json"),
        (status = 415, description = "Not JSON", body = crate::routes::Outcome, content_type = "application/fhir+json"),
        (status = 422, description = "Valid JSON, but no usable record", body = crate::routes::Outcome, content_type = "application/fhir+json"),
        (status = 429, description = "Over the tenant's quota (Retry-After says when to come back)", body = crate::routes::Outcome, content_type = "application/fhir+json"),
        (status = 503, description = "No version deployed for the tenant, or the audit log unavailable", body = crate::routes::Outcome, content_type = "application/fhir+json"),
    ),
    security(("api_key" = []))
)]
pub async fn embed(
    State(state): State<AppState>,
    auth: Authenticated,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let caller = auth.require(&state, Role::Researcher).await?.clone();
    let mut entry = Entry::new(&caller.tenant, &caller.client, Action::Research);
    entry.task = Some("embed".into());
    let answered = answer(&state, &caller, &headers, body, &mut entry).await;
    entry.latency_us = Some(started.elapsed().as_micros() as u64);
    let response = match answered {
        Ok(r) => r,
        Err(e) => {
            let mut e = state.refuse(&mut entry, e).await;
            e.rate_limit = Some(auth.standing);
            return Err(e);
        }
    };
    let receipt = state.record(&entry).await?;
    let response = EmbedResponse { audit: AuditReceipt { index: receipt.index, leaf: receipt.leaf }, ..response };
    let mut out = axum::Json(response).into_response();
    rate_limit_headers(out.headers_mut(), &auth.standing);
    Ok(out)
}

async fn answer(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    entry: &mut Entry,
) -> Result<EmbedResponse, ApiError> {
    let body = crate::routes::read_body(body, entry)?;
    if crate::routes::media_type(headers) != "application/json" {
        return Err(ApiError::unsupported_media("send the request as application/json (pooling and record)"));
    }
    let request: EmbedRequest = serde_json::from_slice(&body).map_err(|e| json_error(&e))?;
    if !(request.record.is_object() || request.record.is_array()) {
        return Err(ApiError::unprocessable("the record must be a FHIR resource, a Bundle or an array of resources")
            .at("record"));
    }
    let snapshot = state.deployments().snapshot();
    let version: Arc<LoadedVersion> = choose(&snapshot, caller, request.model.as_deref(), &[])?;
    entry.model_version = Some(version.version.id.clone());
    let pooling = request.pooling.unwrap_or_default();
    let text = request.record.to_string();
    let work = {
        let (state, version) = (state.clone(), version.clone());
        tokio::task::spawn_blocking(move || {
            let foundation = version
                .foundation()
                .ok_or_else(|| ApiError::unavailable("this model version carries no usable foundation model"))?;
            let patients = ingest::read_request(&text, state.deidentifier())
                .map_err(|e| ApiError::unprocessable(format!("the record could not be read: {e}")).at("record"))?;
            let embeddings = inference::embed(foundation, &patients, pooling);
            Ok::<_, ApiError>((patients, embeddings))
        })
    };
    let (patients, embeddings) = work.await.map_err(|_| ApiError::internal("embedding stopped unexpectedly"))??;
    if embeddings.is_empty() {
        return Err(ApiError::unprocessable(
            "the record holds no patient with a dated event (a Patient resource and dated clinical resources are needed)",
        )
        .at("record"));
    }
    let dimensions = embeddings[0].vector.len();
    let embeddings: Vec<PatientEmbedding> = embeddings
        .into_iter()
        .filter_map(|e| {
            let i = patients.timelines.iter().position(|t| t.subject_id == e.subject_id)?;
            let source = &patients.sources[i];
            Some(PatientEmbedding {
                patient: source.reference.clone(),
                as_of: rfc3339(e.as_of - source.shift.unwrap_or(0)),
                vector: e.vector,
            })
        })
        .collect();
    entry.output = Some(format!("{} embeddings of {dimensions} dimensions", embeddings.len()));
    Ok(EmbedResponse {
        model: ModelRef {
            id: version.version.id.clone(),
            method: "foundation".into(),
            manifest_sha256: version.version.manifest_sha256.clone(),
        },
        pooling,
        dimensions,
        embeddings,
        audit: AuditReceipt { index: 0, leaf: String::new() },
    })
}
