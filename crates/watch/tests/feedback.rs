//! Clinicians' CDS Hooks feedback, read by `watch::run` from the database the server writes it
//! to — on SQLite and on PostgreSQL: per version and task, with reasons; most overridden alerts.

use audit::AuditLog;
use registry::Registry;

async fn feedback_is_read_and_alerts(location: &str) {
    let f = fixtures::fixture();
    let db = store::Database::open(location).await.expect("open");
    let log = AuditLog::new(db.clone(), fixtures::ORIGIN);
    let registry = Registry::new(log);
    let id = fixtures::deploy(&registry, &f.release, &f.owner, "main").await;
    // 4 accepted and 21 overridden cards of this version; one of another version's.
    for i in 0..26 {
        let card = format!("card-{i}");
        let version = if i == 25 { "other@1" } else { id.as_str() };
        store::sqlx::query(
            "INSERT INTO cds_cards (uuid, tenant, service, model_version, task, band, issued_at) \
             VALUES ($1, 'example-health', 'longitude-risk', $2, 'long_history', 'high', '2026-12-01T00:00:00Z')",
        )
        .bind(&card)
        .bind(version)
        .execute(db.pool())
        .await
        .expect("card");
        let (outcome, reason) = match i {
            0..4 => ("accepted", None),
            4..10 => ("overridden", None),
            _ => ("overridden", Some("not-relevant")),
        };
        store::sqlx::query(
            "INSERT INTO cds_feedback (tenant, client, service, card, outcome, override_reason, commented, outcome_at, \
             received_at) VALUES ('example-health', 'ehr', 'longitude-risk', $1, $2, $3, 'no', NULL, '2026-12-01T00:00:01Z')",
        )
        .bind(&card)
        .bind(outcome)
        .bind(reason)
        .execute(db.pool())
        .await
        .expect("feedback");
    }
    let plan = watch::Plan {
        site: "main".into(),
        data: f.dir.path().join("ingested/meds"),
        window: 3,
        thresholds: monitor::Thresholds::default(),
        scores: None,
        baseline_scores: None,
        suspend: false,
        feedback: watch::FeedbackThresholds::default(),
    };
    let report = watch::run(&plan, &registry, &db, &[f.owner.verifier()]).await.expect("watched");
    let watched = &report.versions[0];
    assert_eq!(watched.id, id);
    assert_eq!(watched.feedback.len(), 1);
    let fb = &watched.feedback[0];
    assert_eq!((fb.task.as_str(), fb.accepted, fb.overridden), ("long_history", 4, 21));
    assert_eq!(fb.reasons.get("not-relevant"), Some(&15));
    assert_eq!(fb.reasons.get("none"), Some(&6));
    let alert = watched.alerts.iter().find(|a| a.kind == monitor::Kind::Feedback).expect("a feedback alert");
    assert!((alert.value - 21.0 / 25.0).abs() < 1e-12, "{alert:?}");
    assert!(watched.suspended.is_none(), "no --suspend, no suspension");
    assert_eq!(registry.version(&id).await.expect("version").state, "deployed");
}

#[tokio::test]
async fn feedback_on_sqlite() {
    let dir = tempfile::tempdir().expect("dir");
    feedback_is_read_and_alerts(dir.path().join("db").to_str().expect("utf-8")).await;
}

#[tokio::test]
async fn feedback_on_postgres() {
    let pg = testkit::Postgres::start();
    feedback_is_read_and_alerts(&pg.url()).await;
}
