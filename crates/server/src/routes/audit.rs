//! `GET /v1/audit/proof`: the inclusion proof of one of the caller's tenant's audit records.

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::quota::rate_limit_headers;
use crate::tenants::Role;

/// Which record, under which checkpoint.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProofQuery {
    /// The record's position (a receipt's `index`).
    pub index: u64,
    /// The checkpoint's size; the latest when absent.
    pub size: Option<u64>,
}

/// A record's inclusion proof, checkable offline with the operator's public key.
#[derive(Debug, Serialize, ToSchema)]
pub struct Proof {
    /// The record's position.
    pub index: u64,
    /// The record as logged (canonical JSON).
    pub record: String,
    /// Its leaf hash (hex): the receipt's.
    pub leaf: String,
    /// The audit path, leaf to root (hex).
    pub path: Vec<String>,
    /// The signed checkpoint the path leads to (C2SP tlog-checkpoint).
    pub checkpoint: String,
}

/// Proves that one of the tenant's audit records is in the log under a signed checkpoint.
#[utoipa::path(
    get,
    path = "/v1/audit/proof",
    tag = "audit",
    params(ProofQuery),
    responses(
        (status = 200, description = "The record and its inclusion proof under a signed checkpoint", body = Proof),
        (status = 401, description = "No or unknown API key", body = crate::routes::Outcome, content_type = "application/fhir+json"),
        (status = 403, description = "The client lacks the auditor role", body = crate::routes::Outcome, content_type = "application/fhir+json"),
        (status = 404, description = "No such record of this tenant under a signed checkpoint", body = crate::routes::Outcome, content_type = "application/fhir+json"),
        (status = 429, description = "Over the tenant's quota (Retry-After says when to come back)", body = crate::routes::Outcome, content_type = "application/fhir+json"),
    ),
    security(("api_key" = []))
)]
pub async fn proof(
    State(state): State<AppState>,
    auth: Authenticated,
    query: Result<Query<ProofQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let caller = auth.require(&state, Role::Auditor).await?;
    let Query(q) = query.map_err(|e| ApiError::malformed(format!("the query: {e}")))?;
    let not_found =
        || ApiError::not_found(format!("tenant {} has no record {} under a signed checkpoint", caller.tenant, q.index));
    let proof = match state.audit().prove_inclusion(q.index, q.size).await {
        Ok(p) => p,
        Err(audit::LogError::NoSuch(_)) => return Err(not_found()),
        Err(e) => {
            tracing::error!(error = %e, "an inclusion proof failed");
            return Err(ApiError::unavailable("the audit log cannot give a proof now"));
        }
    };
    // A tenant sees only its own records: another's is as if absent.
    let own = serde_json::from_str::<audit::Entry>(&proof.record).is_ok_and(|e| e.tenant == caller.tenant);
    if !own {
        // Refused access, recorded as such: the answer is as if the record were absent.
        state.audit_refusal(&caller.tenant, &caller.client, "asked for the proof of another tenant's record").await;
        return Err(not_found());
    }
    let body = Proof {
        index: proof.index,
        record: proof.record,
        leaf: proof.leaf,
        path: proof.path,
        checkpoint: proof.checkpoint,
    };
    let mut r = Json(body).into_response();
    rate_limit_headers(r.headers_mut(), &auth.standing);
    Ok(r)
}
