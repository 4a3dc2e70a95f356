//! `longitude audit …` and `longitude bench audit` as a hospital's operator and a partner use
//! them, on SQLite and on PostgreSQL: checkpoints, the whole-log check, a witness, proofs checked
//! offline, the FHIR export judged by a FHIR library, two processes appending at once, and a
//! writer killed with SIGKILL mid-append.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use store::sqlx::{self, Row};

const ORIGIN: &str = "bench.longitude.invalid/audit";

fn longitude(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_longitude")).args(args).output().expect("run longitude")
}

fn ok(args: &[&str]) -> String {
    let o = longitude(args);
    assert!(o.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).expect("utf-8")
}

/// Exits 2 with `expected` in its error, and no panic.
fn refused(args: &[&str], expected: &str) {
    let o = longitude(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    assert!(err.contains(expected), "{args:?}: expected {expected:?} in {err}");
    assert!(!err.contains("panicked"), "{err}");
}

fn keygen(dir: &Path) -> (String, String) {
    let key = dir.join("operator.key");
    ok(&["bundle", "keygen", "--name", "hospital.example", "--key", key.to_str().expect("utf-8")]);
    (key.to_str().expect("utf-8").into(), dir.join("operator.pub").to_str().expect("utf-8").into())
}

async fn execute(db: &str, statement: &str) {
    let db = store::Database::open(db).await.expect("open");
    sqlx::query(sqlx::AssertSqlSafe(statement.to_string())).execute(db.pool()).await.expect("tamper");
    db.close().await;
}

async fn count(db: &str) -> i64 {
    let db = store::Database::open(db).await.expect("open");
    let row = sqlx::query("SELECT COUNT(*) AS n FROM audit_records").fetch_one(db.pool()).await.expect("count");
    row.try_get("n").expect("n")
}

async fn operator_and_partner(db: &str) {
    let dir = tempfile::tempdir().expect("dir");
    let (key, public) = keygen(dir.path());
    let path = |name: &str| dir.path().join(name).to_str().expect("utf-8").to_string();
    let log = ["--db", db, "--origin", ORIGIN];
    fn joined<'a>(args: &[&'a str], log: &[&'a str]) -> Vec<&'a str> {
        [args, log].concat()
    }

    let table = ok(&[
        "bench",
        "audit",
        "--db",
        db,
        "--writers",
        "2",
        "--records",
        "60",
        "--checkpoint-every",
        "25",
        "--key",
        &key,
    ]);
    assert!(table.contains("| 2 | 120 |"), "{table}");
    let signed = ok(&joined(&["audit", "checkpoint", "--key", &key], &log));
    assert!(signed.starts_with("checkpoint of 120 records signed by hospital.example"), "{signed}");
    let witnessed = ok(&joined(&["audit", "witness", "--out", &path("witness.jsonl")], &log));
    assert!(witnessed.starts_with("5 new checkpoints witnessed"), "{witnessed}");
    let verified = ok(&joined(&["audit", "verify", "--trusted", &public, "--witness", &path("witness.jsonl")], &log));
    assert!(verified.starts_with("verified: 120 records"), "{verified}");

    // A partner's receipt said index 17: the operator proves it; the partner checks offline.
    ok(&joined(&["audit", "prove", "--index", "17", "--out", &path("inclusion.json")], &log));
    let held =
        ok(&["audit", "check-proof", "--proof", &path("inclusion.json"), "--trusted", &public, "--origin", ORIGIN]);
    assert_eq!(held.trim(), "proof holds: record 17 is in the log of 120 records");
    ok(&joined(&["audit", "prove", "--consistency", "50", "--out", &path("consistency.json")], &log));
    let held =
        ok(&["audit", "check-proof", "--proof", &path("consistency.json"), "--trusted", &public, "--origin", ORIGIN]);
    assert_eq!(held.trim(), "proof holds: the log of 120 records extends the log of 50");
    let proof = std::fs::read_to_string(path("inclusion.json")).expect("proof");
    let forged = proof.replacen("\"index\": 17", "\"index\": 18", 1);
    std::fs::write(path("forged.json"), forged).expect("write");
    refused(
        &["audit", "check-proof", "--proof", &path("forged.json"), "--trusted", &public, "--origin", ORIGIN],
        "record is not in this log at 18",
    );
    let o = longitude(&joined(&["audit", "prove", "--index", "500", "--out", &path("x.json")], &log));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("record 500 is not covered by the checkpoint of size 120"), "{err}");

    // The export is FHIR a FHIR library accepts, one AuditEvent per record, in log order.
    ok(&joined(&["audit", "export", "--format", "fhir", "--out", &path("events.ndjson")], &log));
    let judged: Value =
        serde_json::from_str(&testkit::run_python("check_audit_events.py", [path("events.ndjson")])).expect("json");
    assert_eq!(judged["count"], 120);
    assert_eq!(judged["actions"]["E"], 120);
    assert_eq!(judged["indexes"], Value::from((0..120).collect::<Vec<u64>>()));

    // Someone edits a record in the database: verify names it and exits 2.
    execute(
        db,
        "UPDATE audit_records SET body = REPLACE(body, 'risk band: moderate', 'risk band: low') WHERE idx = 33",
    )
    .await;
    refused(&joined(&["audit", "verify", "--trusted", &public], &log), "record 33 was edited");
    // A key the log was not signed with, and a missing key file, are clear errors too.
    let elsewhere = dir.path().join("stranger");
    std::fs::create_dir(&elsewhere).expect("mkdir");
    let (_, stranger) = keygen(&elsewhere);
    refused(&joined(&["audit", "verify", "--trusted", &stranger], &log), "no signature by a trusted key");
    // A mistyped database path is an error, and no empty database is made that would "verify".
    let typo = path("audit-typo.db");
    if !db.starts_with("postgres") {
        let o = longitude(&["audit", "verify", "--db", &typo, "--origin", ORIGIN, "--trusted", &public]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains("there is no database there"), "{err}");
        assert!(!Path::new(&typo).exists(), "nothing created");
    }
    let o = longitude(&joined(&["audit", "verify", "--trusted", &path("nowhere.pub")], &log));
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("no such key file"), "{o:?}");
}

#[tokio::test]
async fn operator_and_partner_on_sqlite() {
    let dir = tempfile::tempdir().expect("dir");
    operator_and_partner(dir.path().join("audit.db").to_str().expect("utf-8")).await;
}

#[tokio::test]
async fn operator_and_partner_on_postgres() {
    let pg = testkit::Postgres::start();
    operator_and_partner(&pg.url()).await;
}

/// Two processes, three writers each, append at once: one chain of exactly 2 × 3 × 50 records.
async fn two_processes(db: &str) {
    let dir = tempfile::tempdir().expect("dir");
    let (key, public) = keygen(dir.path());
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_longitude"))
            .args([
                "bench",
                "audit",
                "--db",
                db,
                "--writers",
                "3",
                "--records",
                "50",
                "--checkpoint-every",
                "40",
                "--key",
                &key,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn")
    };
    let (a, b) = (spawn(), spawn());
    for child in [a, b] {
        let o = child.wait_with_output().expect("wait");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    assert_eq!(count(db).await, 300);
    let verified = ok(&["audit", "verify", "--db", db, "--origin", ORIGIN, "--trusted", &public]);
    assert!(verified.starts_with("verified: 300 records, root"), "{verified}");
    assert!(verified.contains(", 7 signed checkpoints match"), "{verified}");
}

#[tokio::test]
async fn two_processes_keep_one_chain_on_sqlite() {
    let dir = tempfile::tempdir().expect("dir");
    two_processes(dir.path().join("audit.db").to_str().expect("utf-8")).await;
}

#[tokio::test]
async fn two_processes_keep_one_chain_on_postgres() {
    let pg = testkit::Postgres::start();
    two_processes(&pg.url()).await;
}

/// A writer killed with SIGKILL mid-append: the log still verifies, and every receipt it
/// released (printed after its commit) is in it.
async fn killed_mid_append(db: &str) {
    let dir = tempfile::tempdir().expect("dir");
    let (key, public) = keygen(dir.path());
    let mut child = Command::new(env!("CARGO_BIN_EXE_longitude"))
        .args(["bench", "audit", "--db", db, "--writers", "4", "--records", "1000000", "--checkpoint-every", "30"])
        .args(["--key", &key, "--receipts"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut released = Vec::new();
    while released.len() < 150 {
        let line = lines.next().expect("the writer ended early").expect("line");
        released.push(line.strip_prefix("receipt ").expect("a receipt").parse::<u64>().expect("index"));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    // What was printed before the kill and is still in the pipe was released too.
    released.extend(lines.map_while(Result::ok).filter_map(|l| l.strip_prefix("receipt ")?.parse::<u64>().ok()));

    let verified = ok(&["audit", "verify", "--db", db, "--origin", ORIGIN, "--trusted", &public]);
    let records: u64 =
        verified.strip_prefix("verified: ").and_then(|v| v.split(' ').next()).expect("count").parse().expect("n");
    assert!(records >= released.len() as u64, "{records} records but {} receipts released", released.len());
    let missing: Vec<u64> = released.iter().copied().filter(|&i| i >= records).collect();
    assert!(missing.is_empty(), "released receipts not in the log: {missing:?}");
    // And the log goes on: a new writer appends after the crash.
    ok(&["bench", "audit", "--db", db, "--records", "10", "--key", &key]);
    let after = ok(&["audit", "verify", "--db", db, "--origin", ORIGIN, "--trusted", &public]);
    assert!(after.starts_with(&format!("verified: {} records", records + 10)), "{after}");
}

#[tokio::test]
async fn a_writer_killed_mid_append_leaves_a_log_that_verifies_on_sqlite() {
    let dir = tempfile::tempdir().expect("dir");
    killed_mid_append(dir.path().join("audit.db").to_str().expect("utf-8")).await;
}

#[tokio::test]
async fn a_writer_killed_mid_append_leaves_a_log_that_verifies_on_postgres() {
    let pg = testkit::Postgres::start();
    killed_mid_append(&pg.url()).await;
}
