//! Who is calling: an API key in `Authorization: Bearer <key>`, looked up by its SHA-256 among the
//! tenants' clients. A missing or unknown key is refused with 401, a role the route needs and the
//! client lacks with 403, and both refusals are audit records (tenant and client where known,
//! never the key).

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use crate::error::ApiError;
use crate::tenants::{Caller, Role, key_sha256};
use crate::{AppState, Standing};

/// An authenticated caller within its quota, as a handler receives it.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// Who.
    pub caller: Caller,
    /// Its tenant's quota after this request.
    pub standing: Standing,
}

impl Authenticated {
    /// The caller if it holds `role`; else 403, audited.
    pub async fn require(&self, state: &AppState, role: Role) -> Result<&Caller, ApiError> {
        if self.caller.roles.contains(&role) {
            return Ok(&self.caller);
        }
        let why =
            format!("this route needs the {} role, which client {} does not hold", role.name(), self.caller.client);
        state.audit_refusal(&self.caller.tenant, &self.caller.client, &why).await;
        Err(ApiError::forbidden(why))
    }
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim);
        let Some(key) = presented.filter(|k| !k.is_empty()) else {
            state.audit_refusal("-", "-", "no API key").await;
            return Err(ApiError::unauthenticated("an API key is required: Authorization: Bearer <key>"));
        };
        let Some(caller) = state.caller(&key_sha256(key)) else {
            state.audit_refusal("-", "-", "an unknown API key").await;
            return Err(ApiError::unauthenticated("the API key is not known"));
        };
        let standing = state.take_quota(&caller);
        if let Some(wait) = standing.retry_after {
            let mut e = ApiError::throttled(
                format!("tenant {} is over its quota of {} requests a minute", caller.tenant, standing.limit),
                wait,
            );
            e.rate_limit = Some(standing);
            return Err(e);
        }
        Ok(Authenticated { caller, standing })
    }
}
