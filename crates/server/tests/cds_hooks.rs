//! CDS Hooks on loopback: discovery, `patient-view` from the prefetch and from a FHIR server (a
//! small one on loopback), 412 without either, JWTs checked as the specification requires (each
//! bad one refused with 401 and audited), feedback stored per tenant; the specification's own
//! example requests replayed; every document judged again in Python by the specification's rules.

mod common;

use std::path::{Path, PathBuf};

use audit::{Action, AuditLog};
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use jsonwebtoken::Algorithm;
use registry::Registry;
use reqwest::StatusCode;
use serde_json::{Value, json};
use store::Database;

use common::*;

const FHIR_TOKEN: &str = "ehr-fhir-access-token";
const SERVICE: &str = "/cds-services/longitude-risk";
const SPEC: &str = "../../../shared/data/cds-hooks/cds-hooks-spec-docs";

/// A patient's resources, as a small FHIR server serves them.
#[derive(Clone)]
struct FhirServer {
    resources: std::sync::Arc<Vec<Value>>,
}

/// Resources per page of the loopback FHIR server's searchsets at most, whatever `_count` asks (a
/// patient's observations take several pages).
const PAGE: usize = 25;

/// `GET /fhir/Patient/{id}` and `GET /fhir/{type}?patient={id}` (searchsets of [`PAGE`] a page),
/// behind the EHR's bearer token.
async fn fhir_read(
    State(server): State<FhirServer>,
    UrlPath(path): UrlPath<String>,
    Query(query): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<axum::Json<Value>, AxumStatus> {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("Bearer {FHIR_TOKEN}")) {
        return Err(AxumStatus::UNAUTHORIZED);
    }
    if let Some(id) = path.strip_prefix("Patient/") {
        return server
            .resources
            .iter()
            .find(|r| r["resourceType"] == "Patient" && r["id"] == id)
            .cloned()
            .map(axum::Json)
            .ok_or(AxumStatus::NOT_FOUND);
    }
    let patient = format!("Patient/{}", query.get("patient").ok_or(AxumStatus::BAD_REQUEST)?);
    let matching: Vec<&Value> = server
        .resources
        .iter()
        .filter(|r| r["resourceType"] == path.as_str())
        .filter(|r| r["subject"]["reference"] == patient.as_str() || r["patient"]["reference"] == patient.as_str())
        .collect();
    let page: usize = query.get("_page").and_then(|p| p.parse().ok()).unwrap_or(0);
    let size = query.get("_count").and_then(|c| c.parse().ok()).unwrap_or(PAGE).min(PAGE);
    let entries: Vec<Value> = matching.iter().skip(page * PAGE).take(PAGE).map(|r| json!({ "resource": r })).collect();
    let mut bundle =
        json!({ "resourceType": "Bundle", "type": "searchset", "total": matching.len(), "entry": entries });
    if (page + 1) * size < matching.len() {
        let base = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("");
        bundle["link"] = json!([{ "relation": "next", "url": format!("http://{base}/fhir/{path}?patient={}&_count={size}&_page={}", &patient[8..], page + 1) }]);
    }
    Ok(axum::Json(bundle))
}

async fn fhir_server(resources: Vec<Value>) -> String {
    let app = axum::Router::new()
        .route("/fhir/{*path}", axum::routing::get(fhir_read))
        .with_state(FhirServer { resources: std::sync::Arc::new(resources) });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/fhir", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// The resources of a synthetic patient's Bundle, and the patient's id.
/// The synthetic Bundles refer to their Patient by `fullUrl` (`urn:uuid:…`), as a transaction
/// does; an EHR's FHIR server answers with resources that say `Patient/<id>`, so the references
/// are rewritten as a server would give them.
fn resources(bundle: &Path) -> (String, Vec<Value>) {
    let bundle: Value = serde_json::from_str(&std::fs::read_to_string(bundle).expect("read")).expect("json");
    let entries = bundle["entry"].as_array().expect("entries");
    let mut text =
        serde_json::to_string(&entries.iter().map(|e| e["resource"].clone()).collect::<Vec<_>>()).expect("json");
    for e in entries {
        if let (Some(full), Some(kind), Some(id)) =
            (e["fullUrl"].as_str(), e["resource"]["resourceType"].as_str(), e["resource"]["id"].as_str())
        {
            text = text.replace(&format!("\"{full}\""), &format!("\"{kind}/{id}\""));
        }
    }
    let resources: Vec<Value> = serde_json::from_str(&text).expect("json");
    let id = resources.iter().find(|r| r["resourceType"] == "Patient").expect("a Patient")["id"]
        .as_str()
        .expect("id")
        .to_string();
    (id, resources)
}

/// The prefetch the discovery asks for, built from the patient's resources.
fn prefetch(id: &str, resources: &[Value]) -> Value {
    let search = |kind: &str| {
        let entries: Vec<Value> =
            resources.iter().filter(|r| r["resourceType"] == kind).map(|r| json!({ "resource": r })).collect();
        json!({ "resourceType": "Bundle", "type": "searchset", "entry": entries })
    };
    json!({
        "patient": resources.iter().find(|r| r["resourceType"] == "Patient" && r["id"] == id),
        "conditions": search("Condition"),
        "observations": search("Observation"),
        "medications": search("MedicationRequest"),
        "encounters": search("Encounter"),
        "procedures": search("Procedure"),
    })
}

struct Hooks {
    url: String,
    http: reqwest::Client,
    jti: std::cell::Cell<u32>,
}

impl Hooks {
    fn next_jti(&self) -> String {
        self.jti.set(self.jti.get() + 1);
        format!("jti-{}-{}", std::process::id(), self.jti.get())
    }

    fn token(&self, path: &str) -> String {
        jwt("ehr-es384.pem", Algorithm::ES384, "ehr-es384", &claims(&format!("{}{path}", self.url), &self.next_jti()))
    }

    async fn call_with(&self, path: &str, token: &str, body: &Value) -> reqwest::Response {
        self.http.post(format!("{}{path}", self.url)).bearer_auth(token).json(body).send().await.expect("call")
    }

    async fn call(&self, body: &Value) -> reqwest::Response {
        self.call_with(SERVICE, &self.token(SERVICE), body).await
    }
}

fn hook(patient: &str, prefetch: Option<Value>, fhir_server: Option<&str>, token: &str) -> Value {
    let mut body = json!({
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "hook": "patient-view",
        "context": { "userId": "Practitioner/example", "patientId": patient },
    });
    if let Some(p) = prefetch {
        body["prefetch"] = p;
    }
    if let Some(server) = fhir_server {
        body["fhirServer"] = json!(server);
        body["fhirAuthorization"] = json!({ "access_token": token, "token_type": "Bearer", "expires_in": 300, "scope": "user/*.read", "subject": "longitude" });
    }
    body
}

fn write(dir: &Path, name: &str, value: &Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, value.to_string()).expect("write");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patient_view_answers_from_the_prefetch_or_the_fhir_server_and_refuses_bad_jwts() {
    let f = fixture();
    let dir = tempfile::tempdir().expect("dir");
    let db = Database::open(dir.path().join("longitude.db").to_str().expect("utf-8")).await.expect("open");
    let log = AuditLog::new(db, ORIGIN);
    let registry = Registry::new(log.clone());
    deploy(&registry, &f.release, &f.owner, "main").await;
    let patients: Vec<(String, Vec<Value>)> = f.bundles.iter().map(|b| resources(b)).collect();
    let all: Vec<Value> = patients.iter().flat_map(|(_, r)| r.clone()).collect();
    let fhir = fhir_server(all).await;
    let server = start_with(log.clone(), &f, &fhir).await;
    let hooks = Hooks { url: server.url.clone(), http: client(), jti: Default::default() };
    let mut judged = Vec::new();

    // Discovery: one patient-view service with the prefetch it reads.
    let discovery: Value =
        hooks.http.get(format!("{}/cds-services", hooks.url)).send().await.expect("get").json().await.expect("json");
    let service = &discovery["services"][0];
    assert_eq!((service["hook"].as_str(), service["id"].as_str()), (Some("patient-view"), Some("longitude-risk")));
    for key in ["patient", "conditions", "observations", "medications", "encounters", "procedures"] {
        assert!(service["prefetch"][key].as_str().is_some_and(|t| t.contains("{{context.patientId}}")), "{key}");
    }
    judged.push(format!("discovery={}", write(dir.path(), "discovery.json", &discovery).display()));

    // From the prefetch, then from the FHIR server (paged, behind its token): the same cards,
    // one per task at a moderate or high band, as the REST API bands the same patient.
    let mut cards_seen = 0;
    let mut first_card = None;
    for (n, (id, resources)) in patients.iter().take(8).enumerate() {
        let response = hooks.call(&hook(id, Some(prefetch(id, resources)), None, FHIR_TOKEN)).await;
        assert_eq!(response.status(), StatusCode::OK);
        let from_prefetch: Value = response.json().await.expect("json");
        let response = hooks.call(&hook(id, None, Some(&fhir), FHIR_TOKEN)).await;
        let status = response.status();
        let fetched: Value = response.json().await.expect("json");
        assert_eq!(status, StatusCode::OK, "{fetched}");
        let summaries = |v: &Value| -> Vec<String> {
            v["cards"]
                .as_array()
                .expect("cards")
                .iter()
                .map(|c| c["summary"].as_str().expect("s").to_string())
                .collect()
        };
        assert_eq!(
            summaries(&from_prefetch),
            summaries(&fetched),
            "patient {n}: the fetched record is the prefetched one"
        );
        let rest = predict(
            &hooks.url,
            CLINICIAN,
            &json!({ "record": { "resourceType": "Bundle", "type": "collection",
            "entry": resources.iter().map(|r| json!({ "resource": r })).collect::<Vec<_>>() } }),
        )
        .await;
        let rest: Value = rest.json().await.expect("json");
        // (A record with demographics alone gets no risk: a 422 here, no card there.)
        let elevated = rest["predictions"].as_array().map_or(0, |p| p.iter().filter(|p| p["band"] != "low").count());
        let cards = from_prefetch["cards"].as_array().expect("cards");
        assert_eq!(cards.len(), elevated, "{rest}");
        for card in cards {
            assert_eq!(card["uuid"].as_str().map(str::len), Some(36));
            assert!(card["summary"].as_str().expect("summary").chars().count() < 140);
            assert!(card["source"]["url"].as_str().expect("url").ends_with("/report"));
            let report = hooks.http.get(card["links"][0]["url"].as_str().expect("url")).send().await.expect("get");
            assert_eq!(report.status(), StatusCode::OK, "the card's link opens");
            first_card.get_or_insert_with(|| card["uuid"].as_str().expect("uuid").to_string());
        }
        cards_seen += cards.len();
        judged.push(format!("response={}", write(dir.path(), &format!("cards-{n}.json"), &from_prefetch).display()));
    }
    assert!(cards_seen > 0, "some of the patients are at a moderate or high risk");

    // Neither prefetch nor FHIR server: 412. A FHIR server not configured for the client, or one
    // that refuses the token: 412 too.
    let (id, resources) = &patients[0];
    for body in [
        hook(id, None, None, FHIR_TOKEN),
        hook(id, None, Some("http://127.0.0.1:9/fhir"), FHIR_TOKEN),
        hook(id, None, Some(&fhir), "a-wrong-token"),
    ] {
        let r = hooks.call(&body).await;
        outcome_of(r, StatusCode::PRECONDITION_FAILED).await;
    }
    let mut partial = prefetch(id, resources);
    partial["observations"] = Value::Null; // the EHR could not prefetch it: fetched instead
    assert_eq!(hooks.call(&hook(id, Some(partial), Some(&fhir), FHIR_TOKEN)).await.status(), StatusCode::OK);

    // The JWT, each way wrong: 401, audited. RS384 is accepted as well as ES384.
    let body = hook(id, Some(prefetch(id, resources)), None, FHIR_TOKEN);
    let aud = format!("{}{SERVICE}", hooks.url);
    let rs384 = jwt("ehr-rs384.pem", Algorithm::RS384, "ehr-rs384", &claims(&aud, &hooks.next_jti()));
    assert_eq!(hooks.call_with(SERVICE, &rs384, &body).await.status(), StatusCode::OK);
    let now = chrono::Utc::now().timestamp();
    let hs256 = jsonwebtoken::encode(
        &jsonwebtoken::Header { kid: Some("ehr-es384".into()), ..jsonwebtoken::Header::new(Algorithm::HS256) },
        &claims(&aud, &hooks.next_jti()),
        &jsonwebtoken::EncodingKey::from_secret(b"a shared secret").expect("secret"),
    )
    .expect("hs256");
    use base64::Engine as _;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let none =
        format!("{}.{}.", b64(&json!({"alg": "none", "kid": "ehr-es384"})), b64(&claims(&aud, &hooks.next_jti())));
    let wrong_aud = jwt(
        "ehr-es384.pem",
        Algorithm::ES384,
        "ehr-es384",
        &claims("https://elsewhere.example/cds-services/longitude-risk", &hooks.next_jti()),
    );
    let mut old = claims(&aud, &hooks.next_jti());
    old["iat"] = json!(now - 600);
    old["exp"] = json!(now - 300);
    let expired = jwt("ehr-es384.pem", Algorithm::ES384, "ehr-es384", &old);
    let once = jwt("ehr-es384.pem", Algorithm::ES384, "ehr-es384", &claims(&aud, "used-once"));
    assert_eq!(hooks.call_with(SERVICE, &once, &body).await.status(), StatusCode::OK);
    let stranger = jwt("stranger-es384.pem", Algorithm::ES384, "stranger", &claims(&aud, &hooks.next_jti()));
    let mut evil = claims(&aud, &hooks.next_jti());
    evil["iss"] = json!("https://evil.example");
    let evil = jwt("ehr-es384.pem", Algorithm::ES384, "ehr-es384", &evil);
    let mut forever = claims(&aud, &hooks.next_jti());
    forever["exp"] = json!(now + 86_400);
    let forever = jwt("ehr-es384.pem", Algorithm::ES384, "ehr-es384", &forever);
    let refusals = [
        (hs256, "alg HS256 is refused"),
        (none, "not a signed JWT"),
        (wrong_aud, "aud is not"),
        (expired, "expired"),
        (once, "jti was already used"),
        (stranger, "no key stranger"),
        (evil, "iss https://evil.example is not an allowed CDS client"),
        (forever, "lives longer than 300 s"),
    ];
    for (token, why) in &refusals {
        let r = hooks.call_with(SERVICE, token, &body).await;
        let o = outcome_of(r, StatusCode::UNAUTHORIZED).await;
        assert!(o["issue"][0]["diagnostics"].as_str().expect("text").contains(why), "{why}: {o}");
    }
    let no_token = hooks.http.post(format!("{}{SERVICE}", hooks.url)).json(&body).send().await.expect("call");
    outcome_of(no_token, StatusCode::UNAUTHORIZED).await;

    // Feedback on a card: stored for the tenant, the comment's text not kept.
    let card = first_card.expect("a card");
    let feedback_path = format!("{SERVICE}/feedback");
    let feedback = json!({ "feedback": [{
        "card": card,
        "outcome": "overridden",
        "overrideReason": {
            "reason": { "code": "already-addressed", "system": "https://longitude.health/fhir/CodeSystem/override-reason", "display": "Already addressed" },
            "userComment": "Seen by nephrology last week"
        },
        "outcomeTimestamp": "2026-12-07T10:00:00Z"
    }]});
    judged.push(format!("feedback={}", write(dir.path(), "feedback.json", &feedback).display()));
    let r = hooks.call_with(&feedback_path, &hooks.token(&feedback_path), &feedback).await;
    assert_eq!(r.status(), StatusCode::OK);
    let wrong_audience = hooks.call_with(&feedback_path, &hooks.token(SERVICE), &feedback).await;
    outcome_of(wrong_audience, StatusCode::UNAUTHORIZED).await;
    let mut unknown = feedback.clone();
    unknown["feedback"][0]["card"] = json!("00000000-0000-4000-8000-000000000000");
    let r = hooks.call_with(&feedback_path, &hooks.token(&feedback_path), &unknown).await;
    outcome_of(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    let stored: Vec<(String, String, String, String)> =
        store::sqlx::query_as("SELECT tenant, outcome, override_reason, commented FROM cds_feedback")
            .fetch_all(log.database().pool())
            .await
            .expect("feedback rows");
    assert_eq!(stored, [("example-health".into(), "overridden".into(), "already-addressed".into(), "yes".into())]);

    // The specification's example requests, replayed: each answered as the specification allows
    // (a hook this service does not offer, or no patient, is a 400; a prefetch it cannot complete
    // from a server it may not read is a 412), and its own patient-view example with our prefetch.
    for (file, status) in [
        ("examples-L0009-hook-request.json", StatusCode::BAD_REQUEST),
        ("examples-L0139-hook-request.json", StatusCode::BAD_REQUEST),
        ("specification-current-L1065-hook-request.json", StatusCode::BAD_REQUEST),
        ("specification-current-L0167-hook-request.json", StatusCode::PRECONDITION_FAILED),
    ] {
        let example: Value = serde_json::from_str(
            &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(SPEC).join(file)).expect("example"),
        )
        .expect("json");
        outcome_of(hooks.call(&example).await, status).await;
        if file.contains("L0167") {
            let mut ours = example.clone();
            ours["context"]["patientId"] = json!(id);
            ours["prefetch"] = prefetch(id, resources);
            let r = hooks.call(&ours).await;
            assert_eq!(r.status(), StatusCode::OK);
            let cards: Value = r.json().await.expect("json");
            judged.push(format!("response={}", write(dir.path(), "replayed.json", &cards).display()));
        }
    }
    server.stop().await;

    // Every refused JWT is in the audit log, with its reason; the log verifies.
    let all = entries(&log).await;
    let failures: Vec<&str> =
        all.iter().filter(|e| e.action == Action::AuthenticationFailure).filter_map(|e| e.output.as_deref()).collect();
    for (_, why) in &refusals {
        assert!(failures.iter().any(|f| f.contains(why)), "{why} audited: {failures:?}");
    }
    assert_eq!(all.iter().filter(|e| e.action == Action::Feedback).count(), 1);
    assert!(all.iter().any(|e| e.action == Action::Prediction && e.user.as_deref() == Some("Practitioner/example")));
    log.verify(&[f.operator.verifier()], &[]).await.expect("the audit log verifies");

    // The specification's rules, judged again in Python: on its own examples first (the judge
    // agrees with the specification), then on ours.
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join(SPEC);
    let mut args = vec![
        format!("discovery={}", spec.join("specification-current-L0100-discovery-response.json").display()),
        format!("response={}", spec.join("specification-current-L0695-cds-response.json").display()),
    ];
    args.extend(judged);
    let summary: Value = serde_json::from_str(&testkit::run_python("check_cds_hooks.py", &args)).expect("json");
    assert_eq!(summary["feedback"], 1, "{summary}");
    assert!(summary["cards"].as_u64().expect("cards") as usize >= cards_seen + 2, "{summary}");
}
