//! The database opens the same way on SQLite and on PostgreSQL, and its schema is applied once.

use sqlx::Row;
use store::{Database, Engine};

async fn schema_is_current_and_reopening_changes_nothing(location: &str, engine: Engine) {
    let db = Database::open(location).await.expect("open");
    assert_eq!(db.engine(), engine);
    let head = sqlx::query("SELECT size, peaks FROM audit_head WHERE id = $1")
        .bind(1i64)
        .fetch_one(db.pool())
        .await
        .expect("head");
    assert_eq!(head.try_get::<i64, _>("size").expect("size"), 0);
    db.close().await;
    // A second open (a restart, or a second replica) applies nothing twice.
    let again = Database::open(location).await.expect("reopen");
    let heads = sqlx::query("SELECT COUNT(*) AS n FROM audit_head").fetch_one(again.pool()).await.expect("count");
    assert_eq!(heads.try_get::<i64, _>("n").expect("n"), 1);
    if engine == Engine::Sqlite {
        let mode = sqlx::query("PRAGMA journal_mode").fetch_one(again.pool()).await.expect("pragma");
        assert_eq!(mode.try_get::<String, _>(0).expect("mode"), "wal");
    }
    again.close().await;
}

#[tokio::test]
async fn sqlite_by_default() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("longitude.db");
    schema_is_current_and_reopening_changes_nothing(path.to_str().expect("utf-8"), Engine::Sqlite).await;
}

#[tokio::test]
async fn postgres_by_url() {
    let pg = testkit::Postgres::start();
    schema_is_current_and_reopening_changes_nothing(&pg.url(), Engine::Postgres).await;
}

#[tokio::test]
async fn an_unreachable_server_is_a_clear_error_without_the_password() {
    let err = Database::open("postgres://audit:hunter2@127.0.0.1:1/longitude").await.expect_err("refused");
    let shown = err.to_string();
    assert!(shown.contains("cannot open the database postgres://audit:***@127.0.0.1:1/longitude"), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");
}
