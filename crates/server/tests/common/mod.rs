//! What the server's tests share: a release trained on synthetic patients and deployed through
//! the registry, tenants with keys and a CDS Hooks client, a server on loopback.
#![allow(dead_code)] // each test binary uses some of it

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use adapt::featurizers::{Featurizer, SparseRow};
use adapt::logistic::Logistic;
use adapt::scorer::{Fitting, TaskModel};
use audit::{AuditLog, Entry};
use deid::{DateMode, Deidentifier, Key};
use meds::labels::BooleanLabel;
use registry::{Mode, Person, Policy, Registry};
use reqwest::StatusCode;
use serde_json::{Value, json};
use server::tenants::key_sha256;
use signing::SignerKey;
use synth::{Formats, OutputOptions, SynthConfig};

/// The held-out prevalence and operating point the fixture's report gives (the model's risks
/// fall around them, so that every band is seen).
pub const PREVALENCE: f64 = 0.08;
pub const THRESHOLD: f64 = 0.1;

pub const ORIGIN: &str = "audit.hospital.example/longitude";
pub const CLINICIAN: &str = "lgk_clinician-key-of-the-ehr";
pub const AUDITOR: &str = "lgk_auditor-key-of-the-hospital";
pub const PARTNER: &str = "lgk_partner-clinician-key";
pub const PARTNER_AUDITOR: &str = "lgk_partner-auditor-key";
pub const STINGY: &str = "lgk_stingy-tenant-key";
pub const NOWHERE: &str = "lgk_tenant-without-a-deployment";
pub const RESEARCHER: &str = "lgk_researcher-key-of-the-hospital";

pub fn deidentifier() -> Deidentifier {
    Deidentifier::new(Key::from_bytes(&[5u8; 40]).expect("key"), DateMode::Shift)
}

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

/// Synthetic patients as FHIR Bundles, ingested; a count-feature model fitted on them; a release
/// holding it with a report that validates it; signed by the owner.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub bundles: Vec<PathBuf>,
    pub release: PathBuf,
    pub owner: SignerKey,
    pub operator: SignerKey,
    pub model: TaskModel,
}

pub fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("dir");
    let options = OutputOptions {
        formats: Formats { meds: false, fhir_ndjson: false, fhir_bundles: true },
        created_at: Some("2026-01-01T00:00:00Z".into()),
        progress: None,
    };
    synth::generate(&SynthConfig::new(30, 2, 5), dir.path(), &options).expect("synth");
    let bundles_dir = dir.path().join("fhir/bundles");
    let meds_dir = dir.path().join("ingested/meds");
    let ingest_options = ingest::Options::new(
        vec![bundles_dir.clone()],
        meds_dir.clone(),
        dir.path().join("ingested/quarantine"),
        dir.path().join("ingested/work"),
    );
    ingest::run(&ingest_options, &deidentifier(), &|_| {}).expect("ingest");
    let (codes, timelines) = meds::Dataset::open(&meds_dir).expect("open").read_all().expect("read");
    let refs: Vec<&meds::Timeline> = timelines.iter().collect();
    let featurizer = Featurizer::fit(&refs, &codes, 2);
    let labels: Vec<BooleanLabel> = timelines
        .iter()
        .filter_map(|t| {
            let last = t.events().filter_map(|e| e.time).max()?;
            Some(BooleanLabel { subject_id: t.subject_id, prediction_time: last, value: t.len() % 3 == 0 })
        })
        .collect();
    let rows: Vec<SparseRow> = timelines
        .iter()
        .zip(&labels)
        .flat_map(|(t, l)| featurizer.featurize(t, &codes, &[l.prediction_time]))
        .collect();
    let row_refs: Vec<&SparseRow> = rows.iter().collect();
    let y: Vec<bool> = labels.iter().map(|l| l.value).collect();
    let logistic = Logistic::fit(&row_refs, &y, featurizer.width(), 1.0);
    let model =
        TaskModel::new("long_history", "counts_lr", Fitting::Logistic { featurizer, columns: None, model: logistic });

    // The release: an untrained tiny foundation model (a release carries one), the task model,
    // and a report whose figures the policy's gates read.
    let tokenizer = tokenizer::Tokenizer::fit(&timelines, &codes, tokenizer::TokenizerConfig::default()).expect("fit");
    let pretrain = model::pretrain::PretrainConfig::for_model(model::ModelConfig::tiny(tokenizer.len()), 1);
    let untrained: model::Model<model::Cpu> = pretrain.model.init(&Default::default());
    let weights = dir.path().join("checkpoint.safetensors");
    model::weights::save(&untrained, &pretrain.model, &weights).expect("save");
    model::bundle::write(&dir.path().join("pretrained"), &weights, &tokenizer, &pretrain).expect("bundle");
    let task = dir.path().join("adapted/long_history");
    std::fs::create_dir_all(&task).expect("mkdir");
    model.save(&task.join("counts_lr.model.json")).expect("task model");
    let report = dir.path().join("report");
    std::fs::create_dir_all(&report).expect("mkdir");
    let evidence = json!({
        "candidate": "counts_lr",
        "tasks": [{
            "task": "long_history",
            "setting": "internal: held-out subjects",
            "description": "A long record (a test task).",
            "methods": [{
                "method": "counts_lr",
                "evaluation": {
                    "metrics": { "auroc": 0.81, "calibration_slope": 1.02, "prevalence": PREVALENCE },
                    "intervals": { "auroc": { "lower": 0.74, "upper": 0.88 } },
                    "audit_point": { "threshold": THRESHOLD, "sensitivity": 0.6, "specificity": 0.9, "ppv": 0.7, "flag_rate": 0.2 }
                }
            }]
        }]
    });
    std::fs::write(report.join("report.json"), evidence.to_string()).expect("report");
    std::fs::write(report.join("model_card.json"), r#"{"name": "long-history risk"}"#).expect("card");
    std::fs::write(report.join("report.html"), "<!doctype html><title>Validation report</title><p>AUROC 0.81</p>")
        .expect("page");
    let release = dir.path().join("release");
    provenance::release::assemble(&provenance::release::ReleasePlan {
        model: dir.path().join("pretrained"),
        adapted: dir.path().join("adapted"),
        report,
        dataset: meds_dir,
        owner: "Example Health".into(),
        out: release.clone(),
    })
    .expect("assemble");
    let owner = SignerKey::generate("owner.example", &dir.path().join("owner.key")).expect("key");
    provenance::sign(&release, &owner).expect("sign");
    let operator = SignerKey::generate("audit.hospital.example", &dir.path().join("operator.key")).expect("key");
    let mut bundles: Vec<PathBuf> =
        std::fs::read_dir(&bundles_dir).expect("dir").map(|e| e.expect("entry").path()).collect();
    bundles.sort();
    Fixture { dir, bundles, release, owner, operator, model }
}

pub fn person(name: &str, role: &str) -> Person {
    Person { name: name.into(), role: role.into() }
}

/// Registers, validates, approves and deploys `release` at `site`: returns the version id.
pub async fn deploy(registry: &Registry, release: &Path, owner: &SignerKey, site: &str) -> String {
    let verified = provenance::verify(release, &[owner.verifier()]).expect("verified");
    let v = registry
        .register(&verified, release.to_str().expect("utf-8"), "long-history", &person("alice", "data-scientist"))
        .await
        .expect("register");
    let (policy, sha) = Policy::parse(
        "name: long-history\nversion: 1\ntasks: [long_history]\ngates:\n  auroc_lower_bound: 0.7\napproval:\n  \
         two_person: true\n  roles: [clinical-safety-officer]\n",
    )
    .expect("policy");
    let validation = registry.validate(&v.id, &verified, &policy, &sha, &person("alice", "data-scientist")).await;
    assert!(validation.expect("validate").passed);
    let carol = person("carol", "clinical-safety-officer");
    registry.approve(&v.id, &carol, "reviewed the card").await.expect("approve");
    registry.deploy(&v.id, site, Mode::Active, &carol, "go-live").await.expect("deploy");
    v.id
}

/// A fixture's release deployed at `main` in a fresh SQLite database.
pub struct Deployed {
    pub f: Fixture,
    /// Holds the database: keep it as long as the log is used (`dir: _dir`, not `..`).
    pub dir: tempfile::TempDir,
    pub log: AuditLog,
    pub registry: Registry,
    pub id: String,
}

pub async fn deployed() -> Deployed {
    let f = fixture();
    let dir = tempfile::tempdir().expect("dir");
    let db = store::Database::open(dir.path().join("db").to_str().expect("utf-8")).await.expect("open");
    let log = AuditLog::new(db, ORIGIN);
    let registry = Registry::new(log.clone());
    let id = deploy(&registry, &f.release, &f.owner, "main").await;
    Deployed { f, dir, log, registry, id }
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
