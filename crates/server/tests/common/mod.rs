//! What the server's tests share: a release trained on synthetic patients and deployed through
//! the registry, tenants with keys and a CDS Hooks client, a server on loopback.
#![allow(dead_code)] // each test binary uses some of it

use std::path::Path;
use std::time::{Duration, Instant};

use audit::{AuditLog, Entry};
pub use fixtures::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use server::tenants::key_sha256;

pub const CLINICIAN: &str = "lgk_clinician-key-of-the-ehr";
pub const AUDITOR: &str = "lgk_auditor-key-of-the-hospital";
pub const PARTNER: &str = "lgk_partner-clinician-key";
pub const PARTNER_AUDITOR: &str = "lgk_partner-auditor-key";
pub const STINGY: &str = "lgk_stingy-tenant-key";
pub const NOWHERE: &str = "lgk_tenant-without-a-deployment";
pub const RESEARCHER: &str = "lgk_researcher-key-of-the-hospital";

pub const EHR_ISS: &str = "https://ehr.example.org";

/// A test key of `tests/data` (PKCS#8 PEM).
pub fn test_key(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)).expect("a test key")
}

fn encoding_key(name: &str, alg: jsonwebtoken::Algorithm) -> jsonwebtoken::EncodingKey {
    match alg {
        jsonwebtoken::Algorithm::RS384 => jsonwebtoken::EncodingKey::from_rsa_pem(&test_key(name)).expect("RSA key"),
        _ => jsonwebtoken::EncodingKey::from_ec_pem(&test_key(name)).expect("EC key"),
    }
}

/// The EHR's public JSON Web Key Set: its ES384 key (`ehr-es384`) and RS384 key (`ehr-rs384`).
pub fn ehr_jwks() -> Value {
    let jwk = |file: &str, kid: &str, alg: jsonwebtoken::Algorithm| {
        let mut jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&encoding_key(file, alg), alg).expect("jwk");
        jwk.common.key_id = Some(kid.into());
        jwk
    };
    json!({ "keys": [
        jwk("ehr-es384.pem", "ehr-es384", jsonwebtoken::Algorithm::ES384),
        jwk("ehr-rs384.pem", "ehr-rs384", jsonwebtoken::Algorithm::RS384),
    ]})
}

/// A JWT signed with the test key `file` as `alg`, naming `kid`, with `claims`.
pub fn jwt(file: &str, alg: jsonwebtoken::Algorithm, kid: &str, claims: &Value) -> String {
    let mut header = jsonwebtoken::Header::new(alg);
    header.kid = Some(kid.into());
    header.typ = Some("JWT".into());
    jsonwebtoken::encode(&header, claims, &encoding_key(file, alg)).expect("sign")
}

/// The claims CDS Hooks asks for: the EHR as `iss`, `aud` the URL called, five minutes to live.
pub fn claims(aud: &str, jti: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({ "iss": EHR_ISS, "aud": aud, "exp": now + 300, "iat": now, "jti": jti })
}

pub fn tenants(fhir_server: &str) -> server::Tenants {
    let client = |id: &str, role: &str, key: &str| {
        format!("      - id: {id}\n        roles: [{role}]\n        key_sha256: [{}]\n", key_sha256(key))
    };
    let text = format!(
        "tenants:\n  - id: example-health\n    site: main\n    clients:\n{}{}{}  - id: partner\n    site: main\n    \
         clients:\n{}{}  - id: stingy\n    site: main\n    requests_per_minute: 3\n    clients:\n{}  - id: \
         elsewhere\n    site: south\n    clients:\n{}",
        client("ehr", "clinician", CLINICIAN),
        client("compliance", "auditor", AUDITOR),
        client("research", "researcher", RESEARCHER),
        client("partner-app", "clinician", PARTNER),
        client("partner-audit", "auditor", PARTNER_AUDITOR),
        client("stingy-app", "clinician", STINGY),
        client("south-ehr", "clinician", NOWHERE),
    );
    let cds = format!(
        "      - id: ehr-cds\n        roles: [clinician]\n        cds_hooks:\n          iss: {EHR_ISS}\n          jwks: {}\n          \
         fhir_servers: [{fhir_server}]\n",
        ehr_jwks()
    );
    let text = text.replacen("  - id: partner\n", &format!("{cds}  - id: partner\n"), 1);
    server::Tenants::parse(&text).expect("tenants")
}

pub struct Running {
    pub url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await.expect("join").expect("served");
    }
}

pub async fn start(log: AuditLog, f: &Fixture) -> Running {
    start_with(log, f, "http://127.0.0.1:9").await
}

/// A server whose CDS Hooks client may be read from the FHIR server at `fhir_server`.
pub async fn start_with(log: AuditLog, f: &Fixture, fhir_server: &str) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let settings = server::Settings {
        public_url: url.clone(),
        tenants: tenants(fhir_server),
        trusted: vec![f.owner.verifier()],
        deidentifier: deidentifier(),
        max_body_bytes: 2 * 1024 * 1024,
        refresh_every: Duration::from_millis(200),
        checkpoint: Some((f.operator.clone(), Duration::from_millis(200))),
    };
    let state = server::AppState::new(log, settings);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    Running { url, stop: Some(stop), task }
}

pub fn client() -> reqwest::Client {
    server::install_tls_provider();
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client")
}

pub async fn predict(url: &str, key: &str, body: &Value) -> reqwest::Response {
    client().post(format!("{url}/v1/predict")).bearer_auth(key).json(body).send().await.expect("send")
}

/// Polls `check` until it holds or `limit` passes.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < limit {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

pub async fn outcome_of(response: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    let media = response.headers()["content-type"].to_str().expect("ascii").to_string();
    assert_eq!(media, "application/fhir+json");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["resourceType"], "OperationOutcome", "{body}");
    body
}

pub async fn entries(log: &AuditLog) -> Vec<Entry> {
    let mut out = Vec::new();
    log.walk(|r| {
        out.push(serde_json::from_slice(&r.bytes).expect("an entry"));
        Ok(())
    })
    .await
    .expect("walk");
    out
}
