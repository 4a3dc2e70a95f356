//! The server on loopback, over real HTTP, on SQLite and on PostgreSQL: a release trained on
//! synthetic data, signed, registered, validated, approved and deployed through the registry,
//! answers only while deployed; every call is in the audit log, which verifies afterwards.

mod common;

use std::time::Duration;

use audit::{Action, AuditLog, Outcome};
use registry::{Policy, Registry};
use reqwest::StatusCode;
use serde_json::{Value, json};
use store::Database;

use common::*;

async fn served_and_audited(location: &str) {
    let f = fixture();
    let db = Database::open(location).await.expect("open");
    let log = AuditLog::new(db, ORIGIN);
    let registry = Registry::new(log.clone());
    let id = deploy(&registry, &f.release, &f.owner, "main").await;
    let server = start(log.clone(), &f).await;
    let url = server.url.clone();
    let http = client();

    let health = http.get(format!("{url}/health")).send().await.expect("health");
    assert_eq!(health.status(), StatusCode::OK);
    let ready: Value = http.get(format!("{url}/ready")).send().await.expect("ready").json().await.expect("json");
    assert_eq!((ready["ready"].as_bool(), ready["versions_answering"].as_u64()), (Some(true), Some(1)), "{ready}");

    // The models deployed for the caller, with the card and the owner's signature.
    let models: Value = http
        .get(format!("{url}/v1/models"))
        .bearer_auth(CLINICIAN)
        .send()
        .await
        .expect("models")
        .json()
        .await
        .expect("j");
    assert_eq!(models["models"][0]["id"], id.as_str());
    assert_eq!(models["models"][0]["method"], "counts_lr");
    assert_eq!(models["models"][0]["tasks"][0]["task"], "long_history");
    let one = http.get(format!("{url}/v1/models/{id}")).bearer_auth(CLINICIAN).send().await.expect("model");
    let one: Value = one.json().await.expect("json");
    assert_eq!(one["model_card"]["name"], "long-history risk");
    let signature = one["signature"].as_str().expect("signature");
    assert!(signing::open(signature, &[f.owner.verifier()]).is_ok(), "the signature checks with the owner's key");
    let nowhere = http.get(format!("{url}/v1/models/{id}")).bearer_auth(NOWHERE).send().await.expect("model");
    outcome_of(nowhere, StatusCode::NOT_FOUND).await;

    // Each patient's risk is the one the model gives the same record in process (the bedside is
    // the batch: same conversion, same de-identification), as of the record's own latest date.
    let predictor = inference::Predictor::new(vec![f.model.clone()], None).expect("predictor");
    let mut receipts = Vec::new();
    let mut fhir_files = Vec::new();
    for (n, file) in f.bundles.iter().take(6).enumerate() {
        let text = std::fs::read_to_string(file).expect("bundle");
        let record: Value = serde_json::from_str(&text).expect("json");
        let expected =
            predictor.predict(&ingest::read_request(&text, &deidentifier()).expect("read")).expect("predict");
        let response = predict(&url, CLINICIAN, &json!({"tasks": ["long_history"], "record": record})).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers().contains_key("ratelimit-remaining"));
        let receipt_header = response.headers()["longitude-audit-receipt"].to_str().expect("ascii").to_string();
        let body: Value = response.json().await.expect("json");
        let p = &body["predictions"][0];
        assert_eq!(p["probability"].as_f64(), Some(expected.risks[0].probability), "{body}");
        assert_eq!(body["model"]["id"], id.as_str());
        let patient_id = record["entry"]
            .as_array()
            .expect("entries")
            .iter()
            .find(|e| e["resource"]["resourceType"] == "Patient")
            .and_then(|e| e["resource"]["id"].as_str())
            .expect("a Patient");
        assert_eq!(p["patient"], format!("Patient/{patient_id}"));
        let day = &p["as_of"].as_str().expect("as_of")[..10];
        assert!(text.contains(day), "as of {day}, a date of the record itself (not the shifted one)");
        assert_eq!(p["time_frame"], "record");
        // The basis: what moved the risk, largest first, as the model computes it in process.
        let basis = p["basis"].as_array().expect("a basis for a count-feature model");
        let expected_basis = expected.risks[0].basis.as_ref().expect("basis");
        assert!(!basis.is_empty() && basis.len() <= inference::BASIS);
        assert_eq!(basis.len(), expected_basis.len());
        for (b, e) in basis.iter().zip(expected_basis) {
            assert_eq!((b["feature"].as_str(), b["log_odds"].as_f64()), (Some(e.feature.as_str()), Some(e.log_odds)));
        }
        let sizes: Vec<f64> = basis.iter().map(|b| b["log_odds"].as_f64().expect("f").abs()).collect();
        assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "largest first: {sizes:?}");
        let band = if expected.risks[0].probability >= THRESHOLD {
            "high"
        } else if expected.risks[0].probability >= PREVALENCE {
            "moderate"
        } else {
            "low"
        };
        assert_eq!(p["band"], band);
        let index = body["audit"]["index"].as_u64().expect("index");
        assert_eq!(receipt_header, format!("{index};{}", body["audit"]["leaf"].as_str().expect("leaf")));
        receipts.push(index);
        if n < 2 {
            // The same as FHIR: a Bundle of RiskAssessments.
            let response = http
                .post(format!("{url}/v1/predict?tasks=long_history"))
                .bearer_auth(CLINICIAN)
                .header("content-type", "application/fhir+json")
                .header("accept", "application/fhir+json")
                .body(text.clone())
                .send()
                .await
                .expect("fhir");
            assert_eq!(response.status(), StatusCode::OK);
            let bundle: Value = response.json().await.expect("json");
            let ra = &bundle["entry"][0]["resource"];
            assert_eq!(ra["resourceType"], "RiskAssessment");
            assert_eq!(ra["prediction"][0]["probabilityDecimal"].as_f64(), Some(expected.risks[0].probability));
            assert_eq!(ra["performer"]["identifier"]["value"], id.as_str());
            let path = f.dir.path().join(format!("risk-{n}.json"));
            std::fs::write(&path, bundle.to_string()).expect("write");
            fhir_files.push(path);
        }
    }

    // The foundation model's embedding of a record, for a researcher: the vector the model gives
    // in process, as wide as the pooling reads.
    let record: Value = serde_json::from_str(&std::fs::read_to_string(&f.bundles[0]).expect("read")).expect("json");
    let embed = |key: &'static str, body: Value| {
        let http = http.clone();
        let url = url.clone();
        async move { http.post(format!("{url}/v1/embed")).bearer_auth(key).json(&body).send().await.expect("embed") }
    };
    let r = embed(RESEARCHER, json!({ "record": record })).await;
    assert_eq!(r.status(), StatusCode::OK);
    let embedded: Value = r.json().await.expect("json");
    let foundation = adapt::foundation::Foundation::load(&f.release).expect("foundation");
    let request = ingest::read_request(&record.to_string(), &deidentifier()).expect("read");
    let expected = inference::embed(&foundation, &request, model::embedding::Pooling::Last);
    let vector: Vec<f32> = embedded["embeddings"][0]["vector"]
        .as_array()
        .expect("vector")
        .iter()
        .map(|v| v.as_f64().expect("f") as f32)
        .collect();
    assert_eq!(vector, expected[0].vector);
    assert_eq!(embedded["dimensions"].as_u64(), Some(foundation.width(model::embedding::Pooling::Last) as u64));
    let wide: Value =
        embed(RESEARCHER, json!({ "pooling": "last_and_mean", "record": record })).await.json().await.expect("json");
    assert_eq!(wide["dimensions"].as_u64(), Some(2 * vector.len() as u64));
    outcome_of(
        embed(RESEARCHER, json!({ "pooling": "sum", "record": record })).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    outcome_of(embed(CLINICIAN, json!({ "record": record })).await, StatusCode::FORBIDDEN).await;

    // Refusals: each a FHIR OperationOutcome with the status that says what is wrong.
    let patient: Value = serde_json::from_str(&std::fs::read_to_string(&f.bundles[0]).expect("read")).expect("json");
    let no_key = http.post(format!("{url}/v1/predict")).json(&json!({"record": patient})).send().await.expect("send");
    assert_eq!(no_key.headers()["www-authenticate"], "Bearer");
    outcome_of(no_key, StatusCode::UNAUTHORIZED).await;
    outcome_of(predict(&url, "lgk_not-a-key", &json!({"record": patient})).await, StatusCode::UNAUTHORIZED).await;
    outcome_of(predict(&url, AUDITOR, &json!({"record": patient})).await, StatusCode::FORBIDDEN).await;
    let malformed = http
        .post(format!("{url}/v1/predict"))
        .bearer_auth(CLINICIAN)
        .header("content-type", "application/json")
        .body("{\"record\": {\"resourceType\": \"Bundle\",")
        .send()
        .await
        .expect("send");
    let o = outcome_of(malformed, StatusCode::BAD_REQUEST).await;
    assert_eq!(o["issue"][0]["expression"][0], "line 1, column 37", "{o}");
    let plain = http.post(format!("{url}/v1/predict")).bearer_auth(CLINICIAN).body("hello").send().await.expect("send");
    outcome_of(plain, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    let huge =
        json!({"record": {"resourceType": "Bundle", "type": "collection", "entry": [], "pad": "x".repeat(2_200_000)}});
    outcome_of(predict(&url, CLINICIAN, &huge).await, StatusCode::PAYLOAD_TOO_LARGE).await;
    let no_patient = json!({"record": {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}});
    let o = outcome_of(predict(&url, CLINICIAN, &no_patient).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    let outcome_file = f.dir.path().join("outcome.json");
    std::fs::write(&outcome_file, o.to_string()).expect("write");
    fhir_files.push(outcome_file);
    assert!(o["issue"][0]["diagnostics"].as_str().expect("text").contains("no patient"), "{o}");
    let demographics =
        json!({"record": {"resourceType": "Patient", "id": "p1", "birthDate": "1950-02-03", "gender": "female"}});
    let o = outcome_of(predict(&url, CLINICIAN, &demographics).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(o["issue"][0]["diagnostics"].as_str().expect("text").contains("demographics alone are not scored"), "{o}");
    let unknown_task = json!({"tasks": ["mortality_1y"], "record": patient});
    let o = outcome_of(predict(&url, CLINICIAN, &unknown_task).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(o["issue"][0]["expression"][0], "tasks[0]");
    let unknown_model = json!({"model": "other-model", "record": patient});
    outcome_of(predict(&url, CLINICIAN, &unknown_model).await, StatusCode::NOT_FOUND).await;
    outcome_of(predict(&url, NOWHERE, &json!({"record": patient})).await, StatusCode::SERVICE_UNAVAILABLE).await;
    outcome_of(http.get(format!("{url}/v2/nothing")).send().await.expect("send"), StatusCode::NOT_FOUND).await;

    // Quotas: three a minute for the stingy tenant, then 429 with when to come back.
    for _ in 0..3 {
        assert_eq!(predict(&url, STINGY, &json!({"record": patient})).await.status(), StatusCode::OK);
    }
    let throttled = predict(&url, STINGY, &json!({"record": patient})).await;
    assert_eq!(throttled.headers()["retry-after"], "20");
    assert_eq!(throttled.headers()["ratelimit-remaining"], "0");
    outcome_of(throttled, StatusCode::TOO_MANY_REQUESTS).await;

    // The receipts prove inclusion under a signed checkpoint, for the tenant's auditor only.
    let last = *receipts.last().expect("receipts");
    let proof_url = format!("{url}/v1/audit/proof?index={last}");
    let proved = eventually(Duration::from_secs(10), || async {
        http.get(&proof_url).bearer_auth(AUDITOR).send().await.is_ok_and(|r| r.status() == StatusCode::OK)
    })
    .await;
    assert!(proved, "a checkpoint covering the receipt is signed within the timer");
    let proof: audit::InclusionProof =
        http.get(&proof_url).bearer_auth(AUDITOR).send().await.expect("proof").json().await.expect("json");
    let checkpoint = proof.check(&[f.operator.verifier()], ORIGIN).expect("the proof checks offline");
    assert!(checkpoint.size > last);
    let other = http.get(&proof_url).bearer_auth(PARTNER_AUDITOR).send().await.expect("proof");
    outcome_of(other, StatusCode::NOT_FOUND).await;
    let clinician = http.get(&proof_url).bearer_auth(CLINICIAN).send().await.expect("proof");
    outcome_of(clinician, StatusCode::FORBIDDEN).await;

    // The metrics count what was answered, by route template and model: no patient in them.
    let metrics = http.get(format!("{url}/metrics")).send().await.expect("metrics").text().await.expect("text");
    assert!(
        metrics.contains(r#"longitude_http_requests_total{route="/v1/predict",method="POST",status="200"}"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"longitude_http_requests_total{route="/v1/predict",method="POST",status="401"} 2"#));
    assert!(metrics.contains("longitude_http_request_duration_seconds_bucket"));
    let counted: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("longitude_predictions_total{") && l.contains(&format!("model=\"{id}\"")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(counted, 11.0, "6 JSON answers, 2 FHIR, 3 for the stingy tenant");
    assert!(!metrics.contains("Patient/"));

    // A suspension is seen within the refresh period: the version stops answering.
    registry.suspend(&id, &person("carol", "clinical-safety-officer"), "a safety signal").await.expect("suspend");
    let refused = eventually(Duration::from_secs(5), || async {
        predict(&url, CLINICIAN, &json!({"record": patient})).await.status() == StatusCode::SERVICE_UNAVAILABLE
    })
    .await;
    assert!(refused, "a suspended version stops answering within seconds");
    let models: Value = http
        .get(format!("{url}/v1/models"))
        .bearer_auth(CLINICIAN)
        .send()
        .await
        .expect("models")
        .json()
        .await
        .expect("j");
    assert_eq!(models["models"].as_array().map(Vec::len), Some(0));
    server.stop().await;

    // Every call is in the log: predictions with their receipts, refusals, failed keys.
    let all = entries(&log).await;
    for index in &receipts {
        let e = &all[*index as usize];
        assert_eq!(
            (e.action, e.outcome, e.tenant.as_str(), e.client.as_str()),
            (Action::Prediction, Outcome::Success, "example-health", "ehr")
        );
        assert_eq!(e.model_version.as_deref(), Some(id.as_str()));
    }
    let failures = all.iter().filter(|e| e.action == Action::AuthenticationFailure).count();
    assert_eq!(
        failures, 6,
        "no key, an unknown key, the clinician embedding, the auditor predicting, the partner's and the clinician's proofs"
    );
    let refusals = all.iter().filter(|e| e.action == Action::Prediction && e.outcome == Outcome::Refused).count();
    let outputs: Vec<&str> =
        all.iter().filter(|e| e.outcome == Outcome::Refused).filter_map(|e| e.output.as_deref()).collect();
    assert!(refusals >= 7, "bad JSON, media type, size, no patient, task, model, no deployment: {outputs:?}");
    assert!(!all.iter().any(|e| e.output.as_deref().is_some_and(|o| o.contains("Patient/"))), "no patient in the log");
    log.verify(&[f.operator.verifier()], &[]).await.expect("the audit log verifies");

    // The FHIR answers, an OperationOutcome, and the calls' audit records as AuditEvents validate
    // with a FHIR library.
    let mut index = 0u64;
    log.walk(|r| {
        let entry: audit::Entry = serde_json::from_slice(&r.bytes).expect("entry");
        let path = f.dir.path().join(format!("audit-{index}.json"));
        std::fs::write(&path, entry.audit_event(ORIGIN, r.index, &audit::log::hex(&r.leaf)).to_string())
            .expect("write");
        fhir_files.push(path);
        index += 1;
        Ok(())
    })
    .await
    .expect("walk");
    let summary = testkit::run_python("check_server_fhir.py", &fhir_files);
    let summary: Value = serde_json::from_str(&summary).expect("json");
    assert_eq!(summary["resources"]["RiskAssessment"], 2, "{summary}");
    assert_eq!(summary["resources"]["OperationOutcome"], 1, "{summary}");
    assert_eq!(summary["resources"]["AuditEvent"].as_u64(), Some(index), "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployed_version_answers_and_every_call_is_audited_on_sqlite() {
    let dir = tempfile::tempdir().expect("dir");
    served_and_audited(dir.path().join("longitude.db").to_str().expect("utf-8")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployed_version_answers_and_every_call_is_audited_on_postgres() {
    let pg = testkit::Postgres::start();
    served_and_audited(&pg.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_changed_after_registration_or_unsigned_never_answers() {
    let Deployed { f, dir: _dir, log, .. } = deployed().await;
    // After deployment, someone edits a task model on disk.
    let model_file = f.release.join("tasks/long_history/counts_lr.model.json");
    let text = std::fs::read_to_string(&model_file).expect("read");
    std::fs::write(&model_file, text.replacen("\"counts_lr\"", "\"counts_lr\" ", 1)).expect("write");
    let server = start(log.clone(), &f).await;
    let ready: Value =
        client().get(format!("{}/ready", server.url)).send().await.expect("ready").json().await.expect("json");
    assert_eq!((ready["versions_answering"].as_u64(), ready["versions_refused"].as_u64()), (Some(0), Some(1)));
    let patient: Value = serde_json::from_str(&std::fs::read_to_string(&f.bundles[0]).expect("read")).expect("json");
    outcome_of(predict(&server.url, CLINICIAN, &json!({"record": patient})).await, StatusCode::SERVICE_UNAVAILABLE)
        .await;
    // Put back, but the signature removed: still refused.
    std::fs::write(&model_file, text).expect("write");
    std::fs::remove_file(f.release.join("bundle.sig")).expect("unsign");
    tokio::time::sleep(Duration::from_millis(500)).await;
    outcome_of(predict(&server.url, CLINICIAN, &json!({"record": patient})).await, StatusCode::SERVICE_UNAVAILABLE)
        .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_every_route() {
    let f = fixture();
    let dir = tempfile::tempdir().expect("dir");
    let db = Database::open(dir.path().join("db").to_str().expect("utf-8")).await.expect("open");
    let server = start(AuditLog::new(db, ORIGIN), &f).await;
    let doc: Value =
        client().get(format!("{}/openapi.json", server.url)).send().await.expect("doc").json().await.expect("json");
    assert!(doc["openapi"].as_str().expect("version").starts_with("3.1"), "{}", doc["openapi"]);
    for path in ["/v1/predict", "/v1/embed", "/v1/models", "/v1/models/{id}", "/v1/audit/proof", "/health", "/ready"] {
        assert!(doc["paths"][path].is_object(), "{path} is described");
    }
    assert_eq!(doc["components"]["securitySchemes"]["api_key"]["scheme"], "bearer");
    assert!(doc["components"]["schemas"]["PredictResponse"].is_object());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_postgres_serve_alike_write_one_log_and_both_see_a_suspension() {
    let pg = testkit::Postgres::start();
    let f = fixture();
    let open = || async { AuditLog::new(Database::open(&pg.url()).await.expect("open"), ORIGIN) };
    let registry = Registry::new(open().await);
    let id = deploy(&registry, &f.release, &f.owner, "main").await;
    let (one, two) = (start(open().await, &f).await, start(open().await, &f).await);
    let record: Value = serde_json::from_str(&std::fs::read_to_string(&f.bundles[0]).expect("read")).expect("json");
    let body = json!({ "record": record });
    // Calls to both, interleaved and concurrent: the same answer from each, every one logged once.
    let mut calls = Vec::new();
    for i in 0..12 {
        let url = if i % 2 == 0 { one.url.clone() } else { two.url.clone() };
        let body = body.clone();
        calls.push(tokio::spawn(async move {
            let r = predict(&url, CLINICIAN, &body).await;
            assert_eq!(r.status(), StatusCode::OK);
            r.json::<Value>().await.expect("json")
        }));
    }
    let mut indexes = Vec::new();
    let mut probabilities = std::collections::BTreeSet::new();
    for call in calls {
        let answer = call.await.expect("join");
        indexes.push(answer["audit"]["index"].as_u64().expect("index"));
        probabilities.insert(answer["predictions"][0]["probability"].to_string());
    }
    assert_eq!(probabilities.len(), 1, "both replicas give the same risk");
    indexes.sort_unstable();
    indexes.dedup();
    assert_eq!(indexes.len(), 12, "each call has its own place in the one log");

    // Suspended through the registry (as through either replica's database): both stop answering.
    registry.suspend(&id, &person("carol", "clinical-safety-officer"), "a safety signal").await.expect("suspend");
    for server in [&one, &two] {
        let url = server.url.clone();
        let body = body.clone();
        let refused = eventually(Duration::from_secs(5), || {
            let (url, body) = (url.clone(), body.clone());
            async move { predict(&url, CLINICIAN, &body).await.status() == StatusCode::SERVICE_UNAVAILABLE }
        })
        .await;
        assert!(refused, "{url} stops answering within seconds");
    }
    one.stop().await;
    two.stop().await;
    let log = open().await;
    let verified = log.verify(&[f.operator.verifier()], &[]).await.expect("one log, and it verifies");
    let predictions = entries(&log).await.iter().filter(|e| e.action == Action::Prediction).count();
    assert!(predictions >= 14, "12 answers and at least one refusal per replica: {predictions}");
    assert!(verified.records as usize >= predictions);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_in_shadow_is_scored_and_logged_but_never_answers() {
    let Deployed { f, dir: _dir, log, registry, id: active } = deployed().await;
    // A second release of the same model (another manifest: the owner's name differs), deployed
    // in shadow beside the first.
    let second = f.dir.path().join("release-2");
    provenance::release::assemble(&provenance::release::ReleasePlan {
        model: f.dir.path().join("pretrained"),
        adapted: f.dir.path().join("adapted"),
        report: f.dir.path().join("report"),
        dataset: f.dir.path().join("ingested/meds"),
        owner: "Example Health System".into(),
        out: second.clone(),
    })
    .expect("assemble");
    provenance::sign(&second, &f.owner).expect("sign");
    let verified = provenance::verify(&second, &[f.owner.verifier()]).expect("verified");
    let v2 = registry
        .register(&verified, second.to_str().expect("utf-8"), "long-history", &person("bob", "data-scientist"))
        .await
        .expect("register");
    let (policy, sha) = Policy::parse(
        "name: long-history\nversion: 1\ntasks: [long_history]\ngates:\n  auroc_lower_bound: 0.7\napproval:\n  \
         two_person: true\n",
    )
    .expect("policy");
    assert!(registry.validate(&v2.id, &verified, &policy, &sha, &person("bob", "ds")).await.expect("v").passed);
    let carol = person("carol", "clinical-safety-officer");
    registry.approve(&v2.id, &carol, "shadow first").await.expect("approve");
    registry.deploy(&v2.id, "main", registry::Mode::Shadow, &carol, "beside v1").await.expect("shadow");

    let server = start(log.clone(), &f).await;
    let models: Value = client()
        .get(format!("{}/v1/models", server.url))
        .bearer_auth(CLINICIAN)
        .send()
        .await
        .expect("models")
        .json()
        .await
        .expect("json");
    let modes: Vec<(&str, &str)> = models["models"]
        .as_array()
        .expect("models")
        .iter()
        .map(|m| (m["id"].as_str().expect("id"), m["mode"].as_str().expect("mode")))
        .collect();
    assert_eq!(modes, [(active.as_str(), "active"), (v2.id.as_str(), "shadow")]);
    let record: Value = serde_json::from_str(&std::fs::read_to_string(&f.bundles[0]).expect("read")).expect("json");
    let answer: Value = predict(&server.url, CLINICIAN, &json!({ "record": record })).await.json().await.expect("json");
    assert_eq!(answer["model"]["id"], active.as_str(), "the active version answers");
    let shadowed = eventually(Duration::from_secs(10), || {
        let log = log.clone();
        let id = v2.id.clone();
        async move {
            entries(&log).await.iter().any(|e| {
                e.model_version.as_deref() == Some(id.as_str())
                    && e.action == Action::Prediction
                    && e.output.as_deref().is_some_and(|o| o.starts_with("shadow: 1 risks"))
            })
        }
    })
    .await;
    assert!(shadowed, "the shadow version's risks are in the log");
    server.stop().await;
    let all = entries(&log).await;
    let answered =
        all.iter().find(|e| e.model_version.as_deref() == Some(active.as_str()) && e.action == Action::Prediction);
    let shadow =
        all.iter().find(|e| e.model_version.as_deref() == Some(v2.id.as_str()) && e.action == Action::Prediction);
    assert_eq!(answered.expect("answer").input_sha256, shadow.expect("shadow").input_sha256, "the same request");
}

/// schemathesis (from PyPI) against `/openapi.json` on loopback, with a version deployed: no
/// server error, and every response as the document describes it (status, content type, headers,
/// body schema). The one check left out is schemathesis's "positive data acceptance": a record
/// valid by the schema (any JSON object) is often not a patient the model can read, and the 422
/// that says so is the documented answer. One worker: with two, hypothesis's reading of lambda
/// sources races in Python's AST module now and then (a "Runtime Error" of the tool's own).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_schema_violation() {
    let Deployed { f, dir, log, .. } = deployed().await;
    let server = start(log.clone(), &f).await;
    let schemathesis = testkit::api_tool("schemathesis");
    let url = format!("{}/openapi.json", server.url);
    let report = dir.path().join("schemathesis.json");
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(schemathesis)
            .args(["run", &url, "-H", &format!("Authorization: Bearer {CLINICIAN}")])
            .args([
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,\
                 response_schema_conformance",
            ])
            .args(["--phases", "examples,coverage,fuzzing", "--max-examples", "25", "--seed", "7", "--workers", "1"])
            .args(["--report", "json", "--report-json-path", report.to_str().expect("utf-8")])
            .env("NO_COLOR", "1")
            .output()
            .expect("run schemathesis")
    })
    .await
    .expect("join");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "schemathesis found failures:\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("Tested: 7"), "every operation tested:\n{text}");
    server.stop().await;
    log.verify(&[f.operator.verifier()], &[]).await.expect("the audit log verifies after the fuzzing");
}

/// Every file under `dir`, relative, with its bytes (`skip`: a top-level folder left out).
fn tree(dir: &std::path::Path, skip: &str) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("dir") {
            let path = entry.expect("entry").path();
            let relative = path.strip_prefix(dir).expect("inside").to_string_lossy().into_owned();
            if relative == skip || relative.contains("__pycache__") {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(relative, std::fs::read(&path).expect("read"));
            }
        }
    }
    out
}

/// The partners' Python client (clients/python), generated by openapi-python-client from the
/// document the live server serves, is the one committed — and passes its test against that
/// server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generated_python_client_is_current_and_works_against_the_live_server() {
    let Deployed { f, dir, log, .. } = deployed().await;
    let server = start(log, &f).await;
    let doc =
        client().get(format!("{}/openapi.json", server.url)).send().await.expect("doc").text().await.expect("text");
    let doc_path = dir.path().join("openapi.json");
    std::fs::write(&doc_path, &doc).expect("write");
    let repo = testkit::repo_root();
    let generated = dir.path().join("generated");
    let generator = testkit::api_tool("openapi-python-client");
    let python = testkit::api_tool("python");
    let (url, record) = (server.url.clone(), f.bundles[0].clone());
    let (gen_out, live) = tokio::task::spawn_blocking(move || {
        let gen_out = std::process::Command::new(generator)
            .args(["generate", "--path", doc_path.to_str().expect("utf-8"), "--meta", "setup", "--fail-on-warning"])
            .args(["--config", repo.join("clients/python-client.yaml").to_str().expect("utf-8")])
            .args(["--output-path", generated.to_str().expect("utf-8")])
            .output()
            .expect("run openapi-python-client");
        let live = std::process::Command::new(python)
            .arg(repo.join("clients/python/tests/test_live.py"))
            .env("PYTHONPATH", repo.join("clients/python"))
            .env("LONGITUDE_URL", &url)
            .env("LONGITUDE_KEY", CLINICIAN)
            .env("LONGITUDE_RECORD", &record)
            .output()
            .expect("run the client's test");
        (gen_out, live)
    })
    .await
    .expect("join");
    assert!(gen_out.status.success(), "{}", String::from_utf8_lossy(&gen_out.stderr));
    let (fresh, committed) =
        (tree(&dir.path().join("generated"), "tests"), tree(&testkit::repo_root().join("clients/python"), "tests"));
    let differ: Vec<&String> =
        fresh.keys().chain(committed.keys()).filter(|k| fresh.get(*k) != committed.get(*k)).collect();
    assert!(differ.is_empty(), "clients/python is out of date (run scripts/python-client): {differ:?}");
    assert!(live.status.success(), "{}", String::from_utf8_lossy(&live.stderr));
    let summary: Value = serde_json::from_slice(&live.stdout).expect("json");
    assert_eq!(summary["predictions"].as_array().map(Vec::len), Some(1), "{summary}");
    server.stop().await;
}
