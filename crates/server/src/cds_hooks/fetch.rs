//! Reading what the EHR did not prefetch from its FHIR server, with the access it granted.
//!
//! Only FHIR servers configured for the calling client are read (a hook request names its
//! `fhirServer`; reading any URL a request names would let a caller make this server fetch from
//! anywhere). Searches ask for [`PAGE_SIZE`] a page and are followed page by page (`next` links on
//! the same server), up to [`MAX_PAGES`] (beyond, a 412 rather than a record cut short); each request has [`TIMEOUT`]. A server that refuses, fails or times out gives a
//! 412: the service cannot answer without the record.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::Value;

use super::FhirAuthorization;
use crate::AppState;
use crate::error::ApiError;
use crate::tenants::Caller;

/// Pages of one search followed at most.
pub const MAX_PAGES: usize = 50;
/// Resources asked for per page (`_count`; a server may give fewer).
pub const PAGE_SIZE: usize = 100;
/// Time allowed for each request to the FHIR server.
pub const TIMEOUT: Duration = Duration::from_secs(10);

fn precondition(message: String) -> ApiError {
    ApiError { status: StatusCode::PRECONDITION_FAILED, ..ApiError::unprocessable(message) }
}

/// Reads `query` (e.g. `Condition?patient=123`) from `server`; a search's pages are gathered into
/// one Bundle.
pub async fn get(
    state: &AppState,
    caller: &Caller,
    server: &str,
    authorization: Option<&FhirAuthorization>,
    query: &str,
) -> Result<Value, ApiError> {
    let base = server.trim_end_matches('/');
    if !state.may_fetch_from(caller, base) {
        return Err(precondition(format!(
            "the prefetch is incomplete and {base} is not a FHIR server this service may read for client {}",
            caller.client
        )));
    }
    let mut url = format!("{base}/{query}");
    if query.contains('?') {
        url.push_str(&format!("&_count={PAGE_SIZE}"));
    }
    let mut gathered: Option<Value> = None;
    let mut unread = true;
    for _ in 0..MAX_PAGES {
        let mut request = state.http().get(&url).header("accept", "application/fhir+json").timeout(TIMEOUT);
        if let Some(auth) = authorization {
            request = request.bearer_auth(&auth.access_token);
        }
        let response =
            request.send().await.map_err(|_| precondition(format!("the FHIR server {base} could not be reached")))?;
        if !response.status().is_success() {
            return Err(precondition(format!(
                "the FHIR server {base} answered {} to a read the service needs",
                response.status().as_u16()
            )));
        }
        let page: Value = response
            .json()
            .await
            .map_err(|_| precondition(format!("the FHIR server {base} did not answer with JSON")))?;
        let next = page
            .get("link")
            .and_then(Value::as_array)
            .and_then(|links| links.iter().find(|l| l["relation"] == "next"))
            .and_then(|l| l["url"].as_str())
            .filter(|u| u.starts_with(base))
            .map(String::from);
        match (&mut gathered, page["resourceType"] == "Bundle") {
            (None, _) => gathered = Some(page),
            (Some(first), true) => {
                let more = page.get("entry").and_then(Value::as_array).cloned().unwrap_or_default();
                if let Some(entries) = first.get_mut("entry").and_then(Value::as_array_mut) {
                    entries.extend(more);
                } else {
                    first["entry"] = Value::Array(more);
                }
            }
            (Some(_), false) => {
                unread = false;
                break;
            }
        }
        match next {
            Some(n) => url = n,
            None => {
                unread = false;
                break;
            }
        }
    }
    if unread {
        // A record cut short would be scored as if complete: refuse instead.
        return Err(precondition(format!("{query} has more than {MAX_PAGES} pages at {base}: send it as prefetch")));
    }
    gathered.ok_or_else(|| precondition(format!("the FHIR server {base} gave nothing")))
}
