//! `GET /v1/models` and `GET /v1/models/{id}`: the versions deployed for the caller's site.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Authenticated;
use crate::deployments::LoadedVersion;
use crate::error::ApiError;
use crate::quota::rate_limit_headers;

/// A task a version answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskSummary {
    /// The task.
    pub task: String,
    /// What it predicts.
    pub description: String,
    /// Held-out AUROC of the served method.
    pub auroc: Option<f64>,
    /// Held-out prevalence.
    pub prevalence: Option<f64>,
}

/// A deployed version.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelSummary {
    /// `name@version`.
    pub id: String,
    /// The model's name.
    pub name: String,
    /// Its version under the name.
    pub version: i64,
    /// `active` (answers) or `shadow` (scored and logged, never returned).
    pub mode: String,
    /// The method that scores.
    pub method: String,
    /// The owning organisation.
    pub owner: String,
    /// The bundle's manifest SHA-256, as registered.
    pub manifest_sha256: String,
    /// The keys that signed it.
    pub signed_by: String,
    /// The tasks it answers.
    pub tasks: Vec<TaskSummary>,
}

/// The models deployed for the caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelList {
    /// Each version.
    pub models: Vec<ModelSummary>,
}

/// A deployed version with its model card and signature.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelDetail {
    /// The version.
    #[serde(flatten)]
    pub summary: ModelSummary,
    /// Who registered it, and when.
    pub registered_by: String,
    /// When.
    pub registered_at: String,
    /// The bundle's model card.
    #[schema(value_type = Option<Object>)]
    pub model_card: Option<serde_json::Value>,
    /// The owner's signed note over the bundle's manifest (C2SP signed-note), checkable with the
    /// owner's public key.
    pub signature: String,
}

fn summary(v: &LoadedVersion) -> ModelSummary {
    ModelSummary {
        id: v.version.id.clone(),
        name: v.version.name.clone(),
        version: v.version.version,
        mode: v.mode.clone(),
        method: v.method.clone(),
        owner: v.version.owner.clone(),
        manifest_sha256: v.version.manifest_sha256.clone(),
        signed_by: v.version.signed_by.clone(),
        tasks: v
            .tasks
            .iter()
            .map(|t| TaskSummary {
                task: t.task.clone(),
                description: t.description.clone(),
                auroc: t.auroc,
                prevalence: t.prevalence,
            })
            .collect(),
    }
}

/// The model versions deployed for the caller's site.
#[utoipa::path(
    get,
    path = "/v1/models",
    tag = "models",
    responses(
        (status = 200, description = "The versions deployed for the caller's site", body = ModelList),
        (status = 401, description = "No or unknown API key", body = crate::routes::Outcome, content_type = "application/fhir+json"),
        (status = 429, description = "Over the tenant's quota (Retry-After says when to come back)", body = crate::routes::Outcome, content_type = "application/fhir+json"),
    ),
    security(("api_key" = []))
)]
pub async fn list(State(state): State<AppState>, auth: Authenticated) -> Response {
    let snapshot = state.deployments().snapshot();
    let models = snapshot.at(&auth.caller.site).iter().map(|v| summary(v)).collect();
    let mut r = Json(ModelList { models }).into_response();
    rate_limit_headers(r.headers_mut(), &auth.standing);
    r
}

/// One model version deployed for the caller's site, with its model card and signature.
#[utoipa::path(
    get,
    path = "/v1/models/{id}",
    tag = "models",
    params(("id" = String, Path, description = "The version id (`name@version`)")),
    responses(
        (status = 200, description = "The version, its model card and signature", body = ModelDetail),
        (status = 401, description = "No or unknown API key", body = crate::routes::Outcome, content_type = "application/fhir+json"),
        (status = 404, description = "Not found for this tenant", body = crate::routes::Outcome, content_type = "application/fhir+json"),
        (status = 429, description = "Over the tenant's quota (Retry-After says when to come back)", body = crate::routes::Outcome, content_type = "application/fhir+json"),
    ),
    security(("api_key" = []))
)]
pub async fn one(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let snapshot = state.deployments().snapshot();
    let v = snapshot.at(&auth.caller.site).iter().find(|v| v.version.id == id).ok_or_else(|| {
        ApiError::not_found(format!("no model version {id} is deployed for tenant {}", auth.caller.tenant))
    })?;
    let detail = ModelDetail {
        summary: summary(v),
        registered_by: v.version.registered_by.clone(),
        registered_at: v.version.registered_at.clone(),
        model_card: v.model_card.clone(),
        signature: v.signature.clone(),
    };
    let mut r = Json(detail).into_response();
    rate_limit_headers(r.headers_mut(), &auth.standing);
    Ok(r)
}
