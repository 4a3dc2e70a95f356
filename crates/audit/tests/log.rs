//! The audit log in a real database, SQLite and PostgreSQL alike: every kind of tampering is
//! named, proofs check offline and fail on a changed tree, and concurrent writers keep one chain.

use std::collections::BTreeSet;
use std::sync::Arc;

use audit::log::{hex, unhex};
use audit::{Action, AuditLog, Entry, Frontier, LogError, ProofError, Tampering, merkle};
use signing::SignerKey;
use store::Database;
use store::sqlx::{self, Connection, Row};

const ORIGIN: &str = "audit.hospital.example/longitude";

/// Where fresh databases are made: SQLite files in a folder, or databases on one PostgreSQL
/// cluster.
enum Place {
    Sqlite(tempfile::TempDir),
    Postgres(testkit::Postgres),
}

impl Place {
    fn sqlite() -> Place {
        Place::Sqlite(tempfile::tempdir().expect("dir"))
    }

    fn postgres() -> Place {
        Place::Postgres(testkit::Postgres::start())
    }

    /// A new, empty database named `name`.
    async fn fresh(&self, name: &str) -> Database {
        let location = match self {
            Place::Sqlite(dir) => dir.path().join(format!("{name}.db")).to_str().expect("utf-8").to_string(),
            Place::Postgres(pg) => {
                sqlx::any::install_default_drivers();
                let mut admin = sqlx::AnyConnection::connect(&pg.url()).await.expect("admin");
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut admin)
                    .await
                    .expect("create database");
                admin.close().await.expect("close");
                pg.url_of(name)
            }
        };
        Database::open(&location).await.expect("open")
    }
}

fn operator(dir: &tempfile::TempDir, name: &str) -> SignerKey {
    SignerKey::generate("audit.hospital.example", &dir.path().join(name)).expect("key")
}

fn entry(i: u64) -> Entry {
    let mut e = Entry::new("site-a", format!("client-{i}"), Action::Prediction);
    e.model_version = Some("longitude-small@3".into());
    e.task = Some("new_t2d_1y".into());
    e.input_sha256 = Some(format!("{i:064x}"));
    e.output = Some("risk band: high".into());
    e.latency_us = Some(1_000 + i);
    e
}

/// A log of 20 records with checkpoints signed at 8 and 16.
async fn twenty(db: Database, key: SignerKey) -> AuditLog {
    let log = AuditLog::new(db, ORIGIN).checkpoint_every(key, 8);
    for i in 0..20 {
        let receipt = log.append(&entry(i)).await.expect("append");
        assert_eq!(receipt.index, i);
        assert_eq!(receipt.leaf, hex(&merkle::leaf_hash(entry_bytes(&log, i).await.as_bytes())));
    }
    log
}

async fn entry_bytes(log: &AuditLog, index: u64) -> String {
    let row = sqlx::query("SELECT body FROM audit_records WHERE idx = $1")
        .bind(index as i64)
        .fetch_one(log.database().pool())
        .await
        .expect("row");
    row.try_get("body").expect("body")
}

async fn sql(log: &AuditLog, statement: &str) {
    sqlx::query(sqlx::AssertSqlSafe(statement.to_string()))
        .execute(log.database().pool())
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
}

fn tampering(result: Result<audit::Verified, LogError>) -> Tampering {
    match result {
        Err(LogError::Tampered(t)) => t,
        other => panic!("expected tampering, got {other:?}"),
    }
}

/// Rewrites every stored hash and the head after an edit, as an insider with database access
/// would, and re-signs the checkpoints with the operator's key.
async fn rewrite_history(log: &AuditLog, key: &SignerKey) {
    let rows = sqlx::query("SELECT idx, body FROM audit_records ORDER BY idx")
        .fetch_all(log.database().pool())
        .await
        .expect("rows");
    let mut frontier = Frontier::default();
    for row in rows {
        let idx: i64 = row.try_get("idx").expect("idx");
        let body: String = row.try_get("body").expect("body");
        let record = audit::append(&mut frontier, body.into_bytes());
        sqlx::query("UPDATE audit_records SET leaf = $1, root = $2 WHERE idx = $3")
            .bind(hex(&record.leaf))
            .bind(hex(&record.root))
            .bind(idx)
            .execute(log.database().pool())
            .await
            .expect("rehash");
        if frontier.size().is_multiple_of(8) {
            let checkpoint = audit::Checkpoint { origin: ORIGIN.into(), size: frontier.size(), root: frontier.root() };
            sqlx::query("UPDATE audit_checkpoints SET root = $1, note = $2 WHERE size = $3")
                .bind(hex(&checkpoint.root))
                .bind(checkpoint.sign(key).expect("sign"))
                .bind(frontier.size() as i64)
                .execute(log.database().pool())
                .await
                .expect("re-sign");
        }
    }
    let peaks: String = frontier.peaks().map(hex).collect();
    sqlx::query("UPDATE audit_head SET size = $1, peaks = $2 WHERE id = 1")
        .bind(frontier.size() as i64)
        .bind(peaks)
        .execute(log.database().pool())
        .await
        .expect("head");
}

async fn each_kind_of_tampering_is_named(place: Place) {
    let keys = tempfile::tempdir().expect("keys");
    let key = operator(&keys, "operator.key");
    let trusted = [key.verifier()];
    let fresh = |name: &'static str| place.fresh(name);

    let clean = twenty(fresh("clean").await, operator(&keys, "unused.key")).await;
    let other_trusted = [SignerKey::read(&keys.path().join("unused.key")).expect("key").verifier()];
    let verified = clean.verify(&other_trusted, &[]).await.expect("a clean log verifies");
    assert_eq!((verified.records, verified.checkpoints), (20, 2));
    // Checkpoints signed by a key the verifier does not trust are refused, naming the size.
    let err = clean.verify(&trusted, &[]).await.expect_err("untrusted signer");
    assert!(matches!(err, LogError::Checkpoint { size: 8, .. }), "{err}");

    let edited = twenty(fresh("edited").await, operator(&keys, "k1")).await;
    let trusted1 = [SignerKey::read(&keys.path().join("k1")).expect("key").verifier()];
    sql(&edited, "UPDATE audit_records SET body = REPLACE(body, 'client-5', 'client-x') WHERE idx = 5").await;
    assert_eq!(tampering(edited.verify(&trusted1, &[]).await), Tampering::Edited { index: 5 });

    let deleted = twenty(fresh("deleted").await, key.clone()).await;
    sql(&deleted, "DELETE FROM audit_records WHERE idx = 7").await;
    assert_eq!(tampering(deleted.verify(&trusted, &[]).await), Tampering::Missing { expected: 7, found: 8 });

    let swapped = twenty(fresh("swapped").await, key.clone()).await;
    sql(&swapped, "UPDATE audit_records SET idx = -1 WHERE idx = 3").await;
    sql(&swapped, "UPDATE audit_records SET idx = 3 WHERE idx = 4").await;
    sql(&swapped, "UPDATE audit_records SET idx = 4 WHERE idx = -1").await;
    assert_eq!(tampering(swapped.verify(&trusted, &[]).await), Tampering::Diverged { index: 3 });

    let inserted = twenty(fresh("inserted").await, key.clone()).await;
    for idx in (10..20).rev() {
        sql(&inserted, &format!("UPDATE audit_records SET idx = {} WHERE idx = {idx}", idx + 1)).await;
    }
    let forged = entry(99).canonical().expect("json");
    let forged_leaf = hex(&merkle::leaf_hash(forged.as_bytes()));
    sqlx::query(
        "INSERT INTO audit_records (idx, body, leaf, root) SELECT 10, $1, $2, root FROM audit_records WHERE idx = 11",
    )
    .bind(&forged)
    .bind(&forged_leaf)
    .execute(inserted.database().pool())
    .await
    .expect("insert");
    assert_eq!(tampering(inserted.verify(&trusted, &[]).await), Tampering::Diverged { index: 10 });

    let truncated = twenty(fresh("truncated").await, key.clone()).await;
    sql(&truncated, "DELETE FROM audit_records WHERE idx >= 12").await;
    assert_eq!(tampering(truncated.verify(&trusted, &[]).await), Tampering::Truncated { records: 12, size: 16 });

    // Truncated after the last checkpoint: the head still remembers.
    let tail = twenty(fresh("tail").await, key.clone()).await;
    sql(&tail, "DELETE FROM audit_records WHERE idx >= 18").await;
    assert!(matches!(tail.verify(&trusted, &[]).await, Err(LogError::HeadMismatch { records: 18, head: 20 })));

    // An insider edits a record, rewrites every hash and the head, and re-signs the checkpoints
    // with the operator's key. The log is self-consistent again; only a witness's copy of the
    // checkpoints it saw before shows the fork.
    let forked = twenty(fresh("forked").await, key.clone()).await;
    let witnessed: Vec<String> = forked.checkpoints().await.expect("checkpoints").into_iter().map(|c| c.note).collect();
    assert_eq!(witnessed.len(), 2);
    sql(&forked, "UPDATE audit_records SET body = REPLACE(body, 'risk band: high', 'risk band: low') WHERE idx = 2")
        .await;
    rewrite_history(&forked, &key).await;
    forked.verify(&trusted, &[]).await.expect("self-consistent after a full rewrite");
    assert_eq!(tampering(forked.verify(&trusted, &witnessed).await), Tampering::Forked { size: 8 });
    // And the rewrite with the witness's checkpoints alone is a mismatch at the first of them.
    sql(&forked, "DELETE FROM audit_checkpoints").await;
    assert_eq!(tampering(forked.verify(&trusted, &witnessed).await), Tampering::CheckpointMismatch { size: 8 });
}

#[tokio::test]
async fn each_kind_of_tampering_is_named_on_sqlite() {
    each_kind_of_tampering_is_named(Place::sqlite()).await;
}

#[tokio::test]
async fn each_kind_of_tampering_is_named_on_postgres() {
    each_kind_of_tampering_is_named(Place::postgres()).await;
}

async fn proofs_check_offline_and_fail_on_a_changed_tree(place: Place) {
    let keys = tempfile::tempdir().expect("keys");
    let key = operator(&keys, "operator.key");
    let trusted = [key.verifier()];
    let log = twenty(place.fresh("proofs").await, key.clone()).await;
    assert_eq!(log.checkpoint(&key).await.expect("checkpoint at 20").size, 20);

    for index in 0..20 {
        let proof = log.prove_inclusion(index, None).await.expect("prove");
        let checkpoint = proof.check(&trusted, ORIGIN).expect("includes");
        assert_eq!(checkpoint.size, 20);
        let record: Entry = serde_json::from_str(&proof.record).expect("the record reads back");
        assert_eq!(record.client, format!("client-{index}"));
    }
    let proof = log.prove_inclusion(5, Some(8)).await.expect("prove under 8");
    proof.check(&trusted, ORIGIN).expect("includes under 8");
    assert!(matches!(log.prove_inclusion(9, Some(8)).await, Err(LogError::NoSuch(_))));
    assert!(matches!(log.prove_inclusion(0, Some(9)).await, Err(LogError::NoSuch(_))));

    let mut changed_path = proof.clone();
    changed_path.path[0] = hex(&[0u8; 32]);
    assert!(matches!(changed_path.check(&trusted, ORIGIN), Err(ProofError::NotIncluded { index: 5 })));
    let mut changed_record = proof.clone();
    changed_record.record = changed_record.record.replace("client-5", "client-6");
    assert!(matches!(changed_record.check(&trusted, ORIGIN), Err(ProofError::Record)));
    let mut moved = proof.clone();
    moved.index = 4;
    assert!(matches!(moved.check(&trusted, ORIGIN), Err(ProofError::NotIncluded { index: 4 })));
    let stranger = operator(&keys, "stranger.key");
    assert!(matches!(proof.check(&[stranger.verifier()], ORIGIN), Err(ProofError::Checkpoint(_))));

    let consistency = log.prove_consistency(8, None).await.expect("prove 8 -> 20");
    let (first, second) = consistency.check(&trusted, ORIGIN).expect("consistent");
    assert_eq!((first.size, second.size), (8, 20));
    log.prove_consistency(16, Some(20)).await.expect("16 -> 20").check(&trusted, ORIGIN).expect("consistent");
    let mut bent = consistency.clone();
    let mut hash = unhex(&bent.path[0]).expect("hex");
    hash[31] ^= 1;
    bent.path[0] = hex(&hash);
    assert!(matches!(bent.check(&trusted, ORIGIN), Err(ProofError::Inconsistent { first: 8, second: 20 })));
}

#[tokio::test]
async fn proofs_check_offline_and_fail_on_a_changed_tree_on_sqlite() {
    proofs_check_offline_and_fail_on_a_changed_tree(Place::sqlite()).await;
}

#[tokio::test]
async fn proofs_check_offline_and_fail_on_a_changed_tree_on_postgres() {
    proofs_check_offline_and_fail_on_a_changed_tree(Place::postgres()).await;
}

/// `writers` tasks, each with its own connection pool (as separate replicas would have), append
/// `each` records at once; the log holds exactly `writers × each` records in one chain.
async fn concurrent_writers_keep_one_chain(place: Place, writers: u64, each: u64) {
    let keys = tempfile::tempdir().expect("keys");
    let key = operator(&keys, "operator.key");
    let trusted = [key.verifier()];
    let first = place.fresh("concurrent").await;
    let location = match &place {
        Place::Sqlite(_) => first.describe().to_string(),
        Place::Postgres(pg) => pg.url_of("concurrent"),
    };
    let mut tasks = Vec::new();
    for w in 0..writers {
        let db = Database::open(&location).await.expect("open");
        let log = Arc::new(AuditLog::new(db, ORIGIN).checkpoint_every(key.clone(), 16));
        tasks.push(tokio::spawn(async move {
            let mut indexes = Vec::new();
            for i in 0..each {
                indexes.push(log.append(&entry(w * 1_000 + i)).await.expect("append").index);
            }
            indexes
        }));
    }
    let mut seen = BTreeSet::new();
    for task in tasks {
        for index in task.await.expect("writer") {
            assert!(seen.insert(index), "index {index} given twice");
        }
    }
    let total = writers * each;
    assert_eq!(seen, (0..total).collect::<BTreeSet<_>>(), "no gaps, no repeats");
    let log = AuditLog::new(first, ORIGIN);
    let verified = log.verify(&trusted, &[]).await.expect("one chain that verifies");
    assert_eq!(verified.records, total);
    assert_eq!(verified.checkpoints as u64, total / 16);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_keep_one_chain_on_sqlite() {
    concurrent_writers_keep_one_chain(Place::sqlite(), 4, 40).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_keep_one_chain_on_postgres() {
    concurrent_writers_keep_one_chain(Place::postgres(), 6, 40).await;
}
