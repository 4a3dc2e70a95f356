//! The JWT a CDS client sends with each call, checked as CDS Hooks 2.0 requires.
//!
//! - Signed with an asymmetric algorithm, ES384 or RS384: `none`, HMAC and the rest are refused
//!   before any key is looked at.
//! - The key is found by the header's `kid` in the JSON Web Key Set configured for the token's
//!   issuer; an `iss` no tenant's client is configured with is refused.
//! - `aud` must be the exact URL called (this server's public URL and the path), `exp` and `iat`
//!   are required, with [`LEEWAY_S`] seconds of clock skew allowed, and a token may live at most
//!   [`MAX_LIFETIME_S`] seconds (the specification's five minutes).
//! - `jti` is required and accepted once: ids are kept in the database until they expire, so a
//!   token replayed at another replica is refused too.

use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header, errors::ErrorKind};
use serde::Deserialize;
use store::sqlx;

use crate::AppState;
use crate::tenants::Caller;

/// Clock skew allowed on `exp` and `iat`, seconds.
pub const LEEWAY_S: u64 = 30;
/// The longest a token may live, seconds.
pub const MAX_LIFETIME_S: i64 = 300;

#[derive(Debug, Deserialize)]
struct Unverified {
    iss: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Claims {
    iss: String,
    exp: i64,
    iat: Option<i64>,
    jti: Option<String>,
}

/// Checks the `Authorization` header of a CDS Hooks call to `audience` (the URL called);
/// returns the client, or why it is refused (for a 401 and the audit log: no token content).
pub async fn verify(state: &AppState, authorization: Option<&str>, audience: &str) -> Result<Caller, String> {
    let token = authorization
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or("no bearer JWT")?;
    let header = decode_header(token).map_err(|_| "not a signed JWT")?;
    if !matches!(header.alg, Algorithm::ES384 | Algorithm::RS384) {
        return Err(format!("alg {:?} is refused: CDS Hooks JWTs are signed with ES384 or RS384", header.alg));
    }
    let kid = header.kid.as_deref().ok_or("the JWT header names no kid")?;
    let payload = token.split('.').nth(1).ok_or("not a signed JWT")?;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| "the JWT payload is not base64url")?;
    let unverified: Unverified = serde_json::from_slice(&payload).map_err(|_| "the JWT payload is not JSON")?;
    let iss = unverified.iss.ok_or("the JWT names no iss")?;
    let (caller, issuer) = state.issuer(&iss).ok_or_else(|| format!("iss {iss} is not an allowed CDS client"))?;
    let keys = issuer.jwks.as_ref().ok_or_else(|| format!("no key set is configured for {iss}"))?;
    let jwk = keys.find(kid).ok_or_else(|| format!("no key {kid} in the key set of {iss}"))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|_| format!("key {kid} of {iss} is not usable"))?;
    let mut validation = Validation::new(header.alg);
    validation.leeway = LEEWAY_S;
    validation.set_audience(&[audience]);
    validation.set_issuer(&[&iss]);
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    let claims = decode::<Claims>(token, &key, &validation)
        .map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => "the JWT has expired".to_string(),
            ErrorKind::InvalidAudience => format!("the JWT's aud is not {audience}"),
            ErrorKind::InvalidIssuer => "the JWT's iss does not match".to_string(),
            ErrorKind::InvalidSignature => "the JWT's signature does not verify".to_string(),
            ErrorKind::InvalidAlgorithm => "the JWT's alg does not match its key".to_string(),
            ErrorKind::MissingRequiredClaim(c) => format!("the JWT has no {c}"),
            _ => "the JWT could not be verified".to_string(),
        })?
        .claims;
    let now = chrono::Utc::now().timestamp();
    let leeway = LEEWAY_S as i64;
    let iat = claims.iat.ok_or("the JWT has no iat")?;
    if iat > now + leeway {
        return Err("the JWT was issued in the future".into());
    }
    if claims.exp > now + MAX_LIFETIME_S + leeway {
        return Err(format!("the JWT lives longer than {MAX_LIFETIME_S} s"));
    }
    let jti = claims.jti.filter(|j| !j.is_empty()).ok_or("the JWT has no jti")?;
    let pool = state.audit().database().pool();
    // Forget ids once their tokens could no longer be accepted anyway.
    sqlx::query("DELETE FROM cds_jti WHERE expires_at < $1")
        .bind(now - leeway)
        .execute(pool)
        .await
        .map_err(|_| "the JWT could not be checked against those already used")?;
    let inserted = sqlx::query(
        "INSERT INTO cds_jti (issuer, jti, expires_at) VALUES ($1, $2, $3) ON CONFLICT (issuer, jti) DO NOTHING",
    )
    .bind(&claims.iss)
    .bind(&jti)
    .bind(claims.exp)
    .execute(pool)
    .await
    .map_err(|_| "the JWT could not be checked against those already used")?;
    if inserted.rows_affected() == 0 {
        return Err("the JWT's jti was already used".into());
    }
    Ok(caller)
}
