//! The routes: thin handlers over [`AppState`], collected with their OpenAPI descriptions.

pub mod audit;
pub mod embed;
pub mod models;
pub mod predict;

use axum::Json;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::ApiError;

/// The request's body, its SHA-256 recorded in `entry` (the audit record's input hash); a body
/// over the server's limit is a 413.
pub(crate) fn read_body(
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
    entry: &mut ::audit::Entry,
) -> Result<axum::body::Bytes, ApiError> {
    use sha2::{Digest, Sha256};
    let body = body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::too_large("the request body is larger than this server accepts"),
        _ => ApiError::malformed("the request body could not be read"),
    })?;
    entry.input_sha256 = Some(Sha256::digest(&body).iter().map(|b| format!("{b:02x}")).collect());
    Ok(body)
}

/// The request's media type, lower case, without its parameters (`application/json`).
pub(crate) fn media_type(headers: &axum::http::HeaderMap) -> String {
    let value = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    value.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

/// A FHIR `OperationOutcome`: every error's body.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    /// Always `OperationOutcome`.
    pub resource_type: String,
    /// What went wrong.
    pub issue: Vec<Issue>,
}

/// One issue of an `OperationOutcome`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Issue {
    /// `error`.
    pub severity: String,
    /// The FHIR issue type.
    pub code: String,
    /// What went wrong, in words.
    pub diagnostics: String,
    /// Where in the request.
    pub expression: Option<Vec<String>>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Longitude",
        description = "Clinical risk predictions from a health system's own foundation model: only versions its \
                       registry deployed answer, and every answer is in a tamper-evident audit log before it leaves."
    ),
    modifiers(&ApiKeyScheme),
    tags(
        (name = "predictions", description = "Risks for a patient's record"),
        (name = "research", description = "Embeddings of a record by the foundation model"),
        (name = "models", description = "The model versions deployed for the caller"),
        (name = "audit", description = "Proofs that calls were recorded"),
        (name = "operations", description = "Liveness and readiness"),
    )
)]
struct ApiDoc;

struct ApiKeyScheme;

impl Modify for ApiKeyScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A tenant client's API key"))
                    .build(),
            ),
        );
    }
}

fn documented() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health))
        .routes(routes!(ready))
        .routes(routes!(models::list))
        .routes(routes!(models::one))
        .routes(routes!(predict::predict))
        .routes(routes!(embed::embed))
        .routes(routes!(audit::proof))
}

/// The OpenAPI 3.1 document of the REST API, as `/openapi.json` serves it.
pub fn openapi_json() -> String {
    documented().into_openapi().to_pretty_json().unwrap_or_else(|_| "{}".into())
}

/// Every route, with `/openapi.json` serving the document generated from them.
pub fn router(state: AppState) -> axum::Router {
    let limit = state.0.max_body_bytes;
    let (router, api) = documented().split_for_parts();
    let document = api.to_pretty_json().unwrap_or_else(|_| "{}".into());
    router
        .route(
            "/openapi.json",
            axum::routing::get(move || async move { ([("content-type", "application/json")], document) }),
        )
        .route("/cds-services", axum::routing::get(crate::cds_hooks::discovery))
        .route("/cds-services/{id}", axum::routing::post(crate::cds_hooks::service))
        .route("/cds-services/{id}/feedback", axum::routing::post(crate::cds_hooks::feedback))
        .route("/models/{id}/report", axum::routing::get(report))
        .route("/metrics", axum::routing::get(crate::metrics::exposition))
        .fallback(|| async { ApiError::not_found("no such route") })
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::metrics::track))
        .with_state(state)
}

/// `GET /models/{id}/report`: the validation report (HTML, self-contained) of a deployed
/// version, which cards link to. Public, as a clinician's browser carries no key: it holds only
/// aggregate validation figures.
pub async fn report(State(state): State<AppState>, axum::extract::Path(id): axum::extract::Path<String>) -> Response {
    let snapshot = state.deployments().snapshot();
    let Some(v) = snapshot.sites.values().flatten().find(|v| v.version.id == id) else {
        return ApiError::not_found(format!("no deployed model version {id}")).into_response();
    };
    match &v.report_html {
        Some(html) => ([("content-type", "text/html; charset=utf-8")], html.clone()).into_response(),
        None => ApiError::not_found(format!("{id} has no HTML report")).into_response(),
    }
}

/// Liveness.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: &'static str,
}

/// Whether the process is up.
#[utoipa::path(get, path = "/health", tag = "operations", responses((status = 200, description = "The process is up", body = Health)))]
pub async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// Whether the registry and the audit log can be read.
    pub ready: bool,
    /// Deployed versions loaded and answering, all sites.
    pub versions_answering: usize,
    /// Deployed versions refused (an unsigned or changed bundle): the server log says why.
    pub versions_refused: usize,
}

/// Whether the server can answer: the registry and the audit log are readable.
#[utoipa::path(
    get,
    path = "/ready",
    tag = "operations",
    responses((status = 200, description = "Ready to answer", body = Readiness), (status = 503, description = "Not ready: the registry or the audit log cannot be read", body = Readiness))
)]
pub async fn ready(State(state): State<AppState>) -> Response {
    let snapshot = state.deployments().snapshot();
    let log_ok = state.audit().size().await.is_ok();
    let body = Readiness {
        ready: snapshot.registry_ok && log_ok,
        versions_answering: snapshot.sites.values().map(Vec::len).sum(),
        versions_refused: snapshot.refused.len(),
    };
    let status = if body.ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body)).into_response()
}
