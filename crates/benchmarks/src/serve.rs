//! `longitude bench serve`: the server on loopback under load — requests and risks per second,
//! latency percentiles and errors — for each method a demo's release can serve, every call audited
//! (SQLite, as `longitude serve` keeps it by default).
//!
//! From a demo's outputs (`longitude demo --out DIR`) a release is assembled for each method, its
//! report naming that method as the candidate (the figures unchanged: this is a benchmark's
//! release, not one to deploy), signed with a key made for the run, registered, validated,
//! approved and deployed in a fresh database. The server runs in this process on a loopback port;
//! the load generator is in-process too (tokio and reqwest, a fixed number of requests from a
//! fixed number of concurrent clients), so both share the machine's cores, as `oha` on the same
//! host would. Each request is one patient of the demo's FHIR export (cycled through `patients`),
//! all the version's tasks asked for.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use audit::AuditLog;
use registry::{Mode, Person, Policy, Registry};
use serde_json::{Value, json};
use signing::SignerKey;
use store::Database;

/// The benchmark's settings.
#[derive(Debug, Clone)]
pub struct ServeBench {
    /// The demo's output directory.
    pub demo: PathBuf,
    /// The methods to serve, one run each.
    pub methods: Vec<String>,
    /// Requests per run.
    pub requests: usize,
    /// Concurrent clients.
    pub concurrency: usize,
    /// Distinct patients, cycled.
    pub patients: usize,
    /// The de-identification key the demo ingested with [default: the demo's `demo-deid.key`].
    pub deid_key: Option<PathBuf>,
    /// Also write the results as JSON here.
    pub json: Option<PathBuf>,
}

/// One run's figures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ServeRun {
    /// The method served.
    pub method: String,
    /// Requests sent.
    pub requests: usize,
    /// Concurrent clients.
    pub concurrency: usize,
    /// Requests answered with 200 per second.
    pub requests_per_s: f64,
    /// Risks returned per second (requests × tasks).
    pub risks_per_s: f64,
    /// Tasks per request.
    pub tasks: usize,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Slowest, ms.
    pub max_ms: f64,
    /// Answers other than 200.
    pub errors: usize,
    /// Audit records the run added (one per request).
    pub audited: u64,
}

const ORIGIN: &str = "bench.longitude.invalid/serve";
const KEY: &str = "lgk_benchmark-client";

/// Runs the benchmark and prints its table.
pub fn run(bench: &ServeBench) -> Result<()> {
    if bench.requests == 0 || bench.concurrency == 0 || bench.patients == 0 {
        bail!("--requests, --concurrency and --patients must be at least 1");
    }
    let records = patients(&bench.demo, bench.patients)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let mut runs = Vec::new();
    for method in &bench.methods {
        let run = runtime.block_on(one(bench, method, &records))?;
        runs.push(run);
    }
    println!(
        "{:<12} {:>8} {:>6} {:>6} {:>10} {:>10} {:>9} {:>9} {:>9} {:>7} {:>8}",
        "method", "requests", "conc", "tasks", "req/s", "risks/s", "p50 ms", "p99 ms", "max ms", "errors", "audited"
    );
    for r in &runs {
        println!(
            "{:<12} {:>8} {:>6} {:>6} {:>10.1} {:>10.1} {:>9.1} {:>9.1} {:>9.1} {:>7} {:>8}",
            r.method,
            r.requests,
            r.concurrency,
            r.tasks,
            r.requests_per_s,
            r.risks_per_s,
            r.p50_ms,
            r.p99_ms,
            r.max_ms,
            r.errors,
            r.audited
        );
    }
    if let Some(path) = &bench.json {
        std::fs::write(path, serde_json::to_string_pretty(&runs)?).with_context(|| path.display().to_string())?;
    }
    Ok(())
}

/// The first `n` patients of the demo's FHIR export with a clinical resource (a record of
/// demographics alone is answered 422 and is not what this measures), each as a collection
/// Bundle. Looks at no more than the first `2n`.
fn patients(demo: &Path, n: usize) -> Result<Vec<Value>> {
    let fhir = demo.join("fhir");
    let list = std::fs::read_to_string(fhir.join("Patient.ndjson"))
        .with_context(|| format!("{}: not a demo's output (no fhir/Patient.ndjson)", demo.display()))?;
    let mut by_patient: HashMap<String, Vec<Value>> = HashMap::new();
    let mut order = Vec::new();
    for line in list.lines().take(n.saturating_mul(2)) {
        let patient: Value = serde_json::from_str(line)?;
        let id = patient["id"].as_str().context("a Patient without an id")?.to_string();
        order.push(id.clone());
        by_patient.insert(format!("Patient/{id}"), vec![patient]);
    }
    for kind in ["Encounter", "Condition", "Observation", "MedicationRequest", "Procedure", "DocumentReference"] {
        let Ok(text) = std::fs::read_to_string(fhir.join(format!("{kind}.ndjson"))) else { continue };
        for line in text.lines() {
            let resource: Value = serde_json::from_str(line)?;
            let reference = resource["subject"]["reference"].as_str().or(resource["patient"]["reference"].as_str());
            if let Some(list) = reference.and_then(|r| by_patient.get_mut(r)) {
                list.push(resource);
            }
        }
    }
    Ok(order
        .iter()
        .filter_map(|id| by_patient.remove(&format!("Patient/{id}")))
        .filter(|resources| resources.len() > 1)
        .take(n)
        .map(|resources| {
            let entries: Vec<Value> = resources.into_iter().map(|r| json!({ "resource": r })).collect();
            json!({ "record": { "resourceType": "Bundle", "type": "collection", "entry": entries } })
        })
        .collect())
}

/// A release of the demo's outputs whose report names `method` as its candidate.
fn release(demo: &Path, dir: &Path, method: &str, key: &SignerKey) -> Result<(PathBuf, String)> {
    let report = dir.join(format!("report-{method}"));
    std::fs::create_dir_all(&report)?;
    for entry in std::fs::read_dir(demo.join("report"))? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            std::fs::copy(entry.path(), report.join(entry.file_name()))?;
        }
    }
    let mut figures: Value = serde_json::from_str(&std::fs::read_to_string(report.join("report.json"))?)?;
    figures["candidate"] = json!(method);
    let task = figures["tasks"]
        .as_array()
        .and_then(|tasks| {
            // A task the method has an AUROC interval on: the benchmark's policy gate reads it.
            tasks.iter().find(|t| {
                t["setting"].as_str().is_some_and(|s| s.starts_with("internal"))
                    && t["methods"].as_array().is_some_and(|m| {
                        m.iter().any(|m| m["method"] == method && m["evaluation"]["intervals"]["auroc"].is_object())
                    })
            })
        })
        .and_then(|t| t["task"].as_str())
        .with_context(|| format!("the demo's report has no task with an AUROC interval for {method}"))?
        .to_string();
    std::fs::write(report.join("report.json"), serde_json::to_string(&figures)?)?;
    let out = dir.join(format!("release-{method}"));
    provenance::release::assemble(&provenance::release::ReleasePlan {
        model: demo.join("pretrained").join(model::pretrain::BUNDLE_DIR),
        adapted: demo.join("adapt"),
        report,
        dataset: demo.join("meds"),
        owner: "Benchmark".into(),
        out: out.clone(),
    })?;
    provenance::sign(&out, key)?;
    Ok((out, task))
}

/// A demo's `method` released, signed with a key made for the run, registered, validated,
/// approved and deployed at site `bench` in a fresh SQLite database under `dir`.
pub(crate) struct BenchDeployment {
    /// The database's audit log.
    pub log: AuditLog,
    /// The owner's key.
    pub owner: SignerKey,
}

pub(crate) async fn deploy(demo: &Path, dir: &Path, method: &str) -> Result<BenchDeployment> {
    let owner = SignerKey::generate("bench.owner", &dir.join("owner.key"))?;
    let (release, task) = release(demo, dir, method, &owner)?;
    let db = Database::open(dir.join("bench.db").to_str().context("a UTF-8 temporary path")?).await?;
    let log = AuditLog::new(db, ORIGIN);
    let registry = Registry::new(log.clone());
    let verified = provenance::verify(&release, &[owner.verifier()])?;
    let (alice, carol) =
        (Person { name: "alice".into(), role: "bench".into() }, Person { name: "carol".into(), role: "bench".into() });
    let version = registry.register(&verified, release.to_str().context("UTF-8")?, "bench", &alice).await?;
    let (policy, sha) = Policy::parse(&format!(
        "name: bench\nversion: 1\ntasks: [{task}]\ngates:\n  auroc_lower_bound: 0.0\napproval:\n  two_person: true\n"
    ))?;
    let validation = registry.validate(&version.id, &verified, &policy, &sha, &alice).await?;
    if !validation.passed {
        bail!("the benchmark's release failed its one gate: {:?}", validation.gates);
    }
    registry.approve(&version.id, &carol, "benchmark").await?;
    registry.deploy(&version.id, "bench", Mode::Active, &carol, "benchmark").await?;
    Ok(BenchDeployment { log, owner })
}

async fn one(bench: &ServeBench, method: &str, records: &[Value]) -> Result<ServeRun> {
    let dir = tempfile::tempdir()?;
    let BenchDeployment { log, owner } = deploy(&bench.demo, dir.path(), method).await?;

    let key_file = bench.deid_key.clone().unwrap_or_else(|| bench.demo.join("demo-deid.key"));
    let key = deid::Key::from_file(&key_file)?;
    let tenants = server::Tenants::parse(&format!(
        "tenants:\n  - id: bench\n    site: bench\n    requests_per_minute: 1000000000\n    clients:\n      - id: load\n        \
         roles: [clinician]\n        key_sha256: [{}]\n",
        server::tenants::key_sha256(KEY)
    ))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let settings = server::Settings {
        tenants,
        trusted: vec![owner.verifier()],
        deidentifier: deid::Deidentifier::new(key, deid::DateMode::Shift),
        max_body_bytes: 64 * 1024 * 1024,
        refresh_every: Duration::from_secs(60),
        checkpoint: None,
        public_url: url.clone(),
    };
    let state = server::AppState::new(log.clone(), settings);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    let before = log.size().await?;

    server::install_tls_provider();
    let client = reqwest::Client::builder().timeout(Duration::from_secs(120)).build()?;
    let bodies: Arc<Vec<String>> = Arc::new(records.iter().map(Value::to_string).collect());
    // One request first, unmeasured: the version is loaded and the tasks counted.
    let first: Value = client
        .post(format!("{url}/v1/predict"))
        .bearer_auth(KEY)
        .header("content-type", "application/json")
        .body(bodies[0].clone())
        .send()
        .await?
        .json()
        .await?;
    let tasks = first["predictions"].as_array().map_or(0, Vec::len);
    if tasks == 0 {
        bail!("the server gave no risk for the first patient: {first}");
    }
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..bench.concurrency {
        let (client, url, bodies, next, total) =
            (client.clone(), url.clone(), bodies.clone(), next.clone(), bench.requests);
        clients.push(tokio::spawn(async move {
            let mut timings = Vec::new();
            let mut errors = 0usize;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let t = Instant::now();
                let response = client
                    .post(format!("{url}/v1/predict"))
                    .bearer_auth(KEY)
                    .header("content-type", "application/json")
                    .body(bodies[i % bodies.len()].clone())
                    .send()
                    .await;
                let ok = match response {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                timings.push(t.elapsed().as_secs_f64() * 1e3);
                errors += usize::from(!ok);
            }
            (timings, errors)
        }));
    }
    let mut timings = Vec::new();
    let mut errors = 0;
    for c in clients {
        let (t, e) = c.await?;
        timings.extend(t);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let _ = stop.send(());
    serving.await??;
    let audited = log.size().await? - before - 1;
    timings.sort_by(f64::total_cmp);
    let at = |q: f64| timings[((timings.len() as f64 - 1.0) * q).round() as usize];
    let answered = bench.requests - errors;
    Ok(ServeRun {
        method: method.into(),
        requests: bench.requests,
        concurrency: bench.concurrency,
        requests_per_s: answered as f64 / elapsed,
        risks_per_s: (answered * tasks) as f64 / elapsed,
        tasks,
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        max_ms: at(1.0),
        errors,
        audited,
    })
}
