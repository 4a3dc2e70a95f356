//! The one error type of the handlers: each refusal is a FHIR `OperationOutcome` with the status
//! that says what went wrong, and never names a patient.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The FHIR media type.
pub const FHIR_JSON: &str = "application/fhir+json";

/// A refused or failed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The FHIR issue type (`invalid`, `structure`, `security`, `forbidden`, `not-found`,
    /// `too-long`, `not-supported`, `processing`, `throttled`, `transient`, `exception`).
    pub code: &'static str,
    /// What went wrong, for the caller (no PHI).
    pub message: String,
    /// Where in the request, when known (e.g. `line 3, column 14`, `tasks[1]`).
    pub location: Option<String>,
    /// Seconds to wait, for 429 and 503.
    pub retry_after: Option<u64>,
    /// The tenant's quota standing, for 429.
    pub rate_limit: Option<crate::quota::Standing>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), location: None, retry_after: None, rate_limit: None }
    }

    /// 400: the request is malformed.
    pub fn malformed(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "structure", message)
    }

    /// 401: no or bad credentials.
    pub fn unauthenticated(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "security", message)
    }

    /// 403: authenticated, not allowed.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not-found", message)
    }

    /// 413.
    pub fn too_large(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too-long", message)
    }

    /// 415.
    pub fn unsupported_media(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "not-supported", message)
    }

    /// 422: well-formed, but not a usable record or request.
    pub fn unprocessable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "processing", message)
    }

    /// 429.
    pub fn throttled(message: impl Into<String>, retry_after: u64) -> ApiError {
        ApiError {
            retry_after: Some(retry_after),
            ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, "throttled", message)
        }
    }

    /// 503: nothing can answer now (no deployed version, the audit log unavailable).
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError { retry_after: Some(5), ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "transient", message) }
    }

    /// 500: the server failed (never for bad input).
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "exception", message)
    }

    /// Says where in the request.
    pub fn at(mut self, location: impl Into<String>) -> ApiError {
        self.location = Some(location.into());
        self
    }

    /// The `OperationOutcome`.
    pub fn outcome(&self) -> serde_json::Value {
        let mut issue = json!({ "severity": "error", "code": self.code, "diagnostics": self.message });
        if let Some(location) = &self.location {
            issue["expression"] = json!([location]);
        }
        json!({ "resourceType": "OperationOutcome", "issue": [issue] })
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.outcome().to_string();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(standing) = &self.rate_limit {
            crate::quota::rate_limit_headers(headers, standing);
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
