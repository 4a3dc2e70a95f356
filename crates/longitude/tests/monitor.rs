//! `longitude monitor` end to end: a release whose reference is its training data's last year,
//! deployed; a later extract where a site recoded its diabetes diagnoses alerts and, with
//! --suspend, suspends the version in the registry (audited, with the figure as the reason),
//! while a later extract without drift raises nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use audit::AuditLog;
use registry::Registry;
use synth::{Formats, OutputOptions, SynthConfig};

fn meds_of(config: &SynthConfig, dir: &Path) -> PathBuf {
    let options = OutputOptions {
        formats: Formats { meds: true, fhir_ndjson: false, fhir_bundles: false },
        created_at: Some("2026-01-01T00:00:00Z".into()),
        progress: None,
    };
    synth::generate(config, dir, &options).expect("synth");
    dir.join("meds")
}

/// The site's population through `end_year`, its E11.9 coding changing in `recode_year`.
fn population(end_year: i32, recode_year: i32, dir: &Path) -> PathBuf {
    let mut config = SynthConfig::new(3000, 1, 7);
    config.end_year = end_year;
    let never = 2100;
    config.drift.sglt2_uptake_start_year = never;
    config.drift.screening_intensifies_year = never;
    config.drift.assay_change_year = never;
    config.drift.coding_change_year = recode_year;
    meds_of(&config, dir)
}

fn monitor(db: &str, owner: &str, data: &Path, out: &Path, suspend: bool) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_longitude"));
    c.args(["monitor", "--db", db, "--site", "main", "--trusted", owner, "--data"])
        .arg(data)
        .arg("--out")
        .arg(out)
        .env("LONGITUDE_LOG", "warn");
    if suspend {
        c.arg("--suspend");
    }
    c.output().expect("run")
}

#[test]
fn a_recoding_alerts_and_suspends_while_a_stable_extract_does_not() {
    let f = fixtures::fixture();
    let work = tempfile::tempdir().expect("dir");
    // Trained on 2012–2017; the reference is 2017.
    let training = population(2017, 2100, &work.path().join("training"));
    let release = work.path().join("release");
    provenance::release::assemble(&provenance::release::ReleasePlan {
        model: f.dir.path().join("pretrained"),
        adapted: f.dir.path().join("adapted"),
        report: f.dir.path().join("report"),
        dataset: training,
        owner: "Example Health".into(),
        out: release.clone(),
    })
    .expect("assemble");
    provenance::sign(&release, &f.owner).expect("sign");
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(release.join("data/reference.json")).expect("the reference"))
            .expect("json");
    assert_eq!((reference["first"].as_str(), reference["last"].as_str()), (Some("2017-01"), Some("2017-12")));

    let db = work.path().join("registry.db").to_str().expect("utf-8").to_string();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let log = runtime.block_on(async { AuditLog::new(store::Database::open(&db).await.expect("open"), "test/audit") });
    let registry = Registry::new(log.clone());
    let id = runtime.block_on(fixtures::deploy(&registry, &release, &f.owner, "main"));
    let owner = f.owner.verifier().to_string();

    // The same site two years on, no drift: 24 monthly checks, nothing alerts.
    let stable = population(2019, 2100, &work.path().join("stable"));
    let out = monitor(&db, &owner, &stable, &work.path().join("stable-report"), true);
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(0), "{said}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("24 monthly check(s), 0 alert(s)"), "{said}");
    assert_eq!(runtime.block_on(registry.version(&id)).expect("version").state, "deployed");

    // Risks against an earlier batch run's: a run against itself raises nothing; a run that read
    // only the first years of each record (`--at 2013-01-01`: fewer events, other risks) does.
    let score = |out: &Path, at: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_longitude"));
        c.args(["score", "--db", &db, "--site", "main", "--trusted", &owner, "--data"])
            .arg(&stable)
            .arg("--out")
            .arg(out)
            .env("LONGITUDE_LOG", "warn");
        if let Some(at) = at {
            c.args(["--at", at]);
        }
        assert!(c.output().expect("run").status.success());
        let mut merge = Command::new(env!("CARGO_BIN_EXE_longitude"));
        merge.args(["merge-scores", "--db", &db, "--data"]).arg(&stable).arg("--out").arg(out);
        assert!(merge.output().expect("run").status.success());
    };
    let (now, then) = (work.path().join("scores-now"), work.path().join("scores-2013"));
    score(&now, None);
    score(&then, Some("2013-01-01"));
    let strict = work.path().join("strict.yaml");
    std::fs::write(&strict, "estimated_auroc_drop: 0.02\n").expect("thresholds");
    let lenient = work.path().join("lenient.yaml");
    std::fs::write(&lenient, "estimated_auroc_drop: 0.5\n").expect("thresholds");
    let with_scores = |baseline: &Path, latest: &Path, thresholds: &Path| {
        Command::new(env!("CARGO_BIN_EXE_longitude"))
            .args(["monitor", "--db", &db, "--site", "main", "--trusted", &owner, "--data"])
            .arg(&stable)
            .arg("--baseline-scores")
            .arg(baseline)
            .arg("--scores")
            .arg(latest)
            .arg("--thresholds")
            .arg(thresholds)
            .env("LONGITUDE_LOG", "warn")
            .output()
            .expect("run")
    };
    // Against itself the risks have not moved; their calibrated estimate of the AUROC (about
    // 0.76) is below the 0.81 the fixture's report validated (its model was fitted on other
    // patients): beyond a strict allowance that alerts, marked estimated; within a lenient one,
    // nothing does.
    let same = with_scores(&now, &now, &lenient);
    let said = String::from_utf8_lossy(&same.stdout).to_string();
    assert_eq!(same.status.code(), Some(0), "{said}");
    assert!(said.contains("long_history: AUROC estimated ") && said.contains("(validated 0.810)"), "{said}");
    let same = with_scores(&now, &now, &strict);
    let said = String::from_utf8_lossy(&same.stdout).to_string();
    assert_eq!(same.status.code(), Some(3), "{said}");
    assert!(said.contains("ALERT EstimatedPerformance long_history") && !said.contains("ALERT Scores"), "{said}");
    let moved = with_scores(&then, &now, &lenient);
    let said = String::from_utf8_lossy(&moved.stdout).to_string();
    assert_eq!(moved.status.code(), Some(3), "{said}");
    assert!(said.contains("ALERT Scores long_history: "), "{said}");
    assert_eq!(
        runtime.block_on(registry.version(&id)).expect("version").state,
        "deployed",
        "no --suspend, no suspension"
    );

    // Clinicians answer its CDS Hooks cards: 5 accepted, 20 overridden (as the server records
    // them) — most overridden, an alert; another version's feedback does not count.
    runtime.block_on(async {
        let pool = log.database().pool();
        for i in 0..26 {
            let (card, version) = (format!("card-{i}"), if i == 25 { "other@1" } else { id.as_str() });
            store::sqlx::query(
                "INSERT INTO cds_cards (uuid, tenant, service, model_version, task, band, issued_at) \
                 VALUES ($1, 'example-health', 'longitude-risk', $2, 'long_history', 'high', '2026-12-01T00:00:00Z')",
            )
            .bind(&card)
            .bind(version)
            .execute(pool)
            .await
            .expect("card");
            let (outcome, reason) = if i < 5 { ("accepted", None) } else { ("overridden", Some("not-relevant")) };
            store::sqlx::query(
                "INSERT INTO cds_feedback (tenant, client, service, card, outcome, override_reason, commented, \
                 outcome_at, received_at) VALUES ('example-health', 'ehr', 'longitude-risk', $1, $2, $3, 'no', NULL, \
                 '2026-12-01T00:00:01Z')",
            )
            .bind(&card)
            .bind(outcome)
            .bind(reason)
            .execute(pool)
            .await
            .expect("feedback");
        }
    });
    let out = monitor(&db, &owner, &stable, &work.path().join("feedback-report"), false);
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(3), "{said}");
    assert!(said.contains("long_history: clinicians accepted 5 card(s), overrode 20"), "{said}");
    assert!(said.contains("ALERT Feedback long_history: override_rate 0.800 (threshold 0.8)"), "{said}");

    // The site recodes E11.9 as E11.65 from 2018: alert, and suspension.
    let recoded = population(2019, 2018, &work.path().join("recoded"));
    let report_dir = work.path().join("recoded-report");
    let out = monitor(&db, &owner, &recoded, &report_dir, true);
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(3), "{said}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("ALERT NewCode ICD10CM/E11.65") || said.contains("ALERT CodeRate ICD10CM/E11.9"), "{said}");
    assert!(said.contains("SUSPENDED in the registry: monitoring:"), "{said}");
    let version = runtime.block_on(registry.version(&id)).expect("version");
    assert_eq!(version.state, "suspended");
    let history = runtime.block_on(registry.history(&id)).expect("history");
    let last = history.last().expect("a transition");
    assert_eq!(
        (last.actor.as_str(), last.role.as_str(), last.to.as_str()),
        ("longitude monitor", "monitor", "suspended")
    );
    assert!(last.reason.starts_with("monitoring: ") && last.reason.contains("threshold"), "{}", last.reason);
    assert!(runtime.block_on(registry.deployments(Some("main"))).expect("deployments").is_empty());

    // What IT's collectors read.
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report_dir.join("monitor.json")).expect("json")).expect("json");
    assert_eq!(report["versions"][0]["id"], id.as_str());
    assert!(!report["versions"][0]["alerts"].as_array().expect("alerts").is_empty());
    let prom = std::fs::read_to_string(report_dir.join("monitor.prom")).expect("prom");
    assert!(prom.contains(&format!("longitude_monitor_suspended{{site=\"main\",version=\"{id}\"}} 1")), "{prom}");
    let otlp: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report_dir.join("monitor.otlp.json")).expect("otlp"))
            .expect("json");
    let points = &otlp["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]["gauge"]["dataPoints"];
    assert!(points.as_array().is_some_and(|p| !p.is_empty()), "{otlp}");

    // Monitoring again finds nothing deployed to watch.
    let out = monitor(&db, &owner, &recoded, &report_dir, true);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no version is deployed at site main"));
}
