//! # store — where the audit log and the registry keep their records
//!
//! One database holds both: **SQLite** by default (a file, write-ahead logging, nothing to set
//! up), **PostgreSQL** when a `postgres://` URL is given (several server replicas sharing one
//! log). Both are reached through sqlx's `Any` driver with one set of migrations in portable SQL
//! (TEXT and BIGINT columns, ids made by the application, `$1` placeholders), so every query the
//! crates above write runs unchanged on either, and the same tests run against both.
//!
//! A location never appears in an error or a log with its password: [`Database::describe`] is
//! what may be shown.

use std::borrow::Cow;
use std::path::Path;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Row, SqlSafeStr};

pub use sqlx;

/// Why the database could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The location is neither a PostgreSQL URL nor a usable SQLite file path.
    #[error("cannot use {location} as a database: {reason}")]
    Location {
        /// The location, without any password.
        location: String,
        /// Why.
        reason: String,
    },
    /// Connecting failed.
    #[error("cannot open the database {location}: {source}")]
    Connect {
        /// The location, without any password.
        location: String,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// The schema could not be brought up to date.
    #[error("cannot bring the database {location} up to date: {source}")]
    Migrate {
        /// The location, without any password.
        location: String,
        /// The migrator's error.
        source: sqlx::migrate::MigrateError,
    },
}

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// A SQLite file in write-ahead-logging mode.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// An open database whose schema is current.
#[derive(Debug, Clone)]
pub struct Database {
    pool: AnyPool,
    engine: Engine,
    described: String,
}

/// The schema, in order. Each file is applied once, inside a transaction, and recorded with its
/// checksum: a changed file is refused rather than silently re-applied.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "audit log", include_str!("../migrations/0001_audit_log.sql")),
    (2, "model registry", include_str!("../migrations/0002_registry.sql")),
    (3, "CDS Hooks", include_str!("../migrations/0003_cds_hooks.sql")),
];

impl Database {
    /// Opens `location` — `postgres://user@host:port/db` (or `postgresql://`), `sqlite://PATH`,
    /// or a plain file path for SQLite, created if missing (its folder must exist) — and applies
    /// any migrations it lacks.
    pub async fn open(location: &str) -> Result<Database, StoreError> {
        sqlx::any::install_default_drivers();
        let (engine, url, described) = resolve(location)?;
        let connect_error = |source| StoreError::Connect { location: described.clone(), source };
        // One connection first: a refused or misnamed server is reported at once, where the
        // pool would retry until its acquire timeout. On SQLite it also switches the file to
        // write-ahead logging, persistent in the file: readers never wait for the writer, and a
        // commit is one append to the log (synchronous=FULL, sqlx's default, keeps it durable).
        let mut probe = <sqlx::AnyConnection as sqlx::Connection>::connect(&url).await.map_err(connect_error)?;
        if engine == Engine::Sqlite {
            // The switch needs the file to itself, which a second process opening a new file at
            // the same moment denies without waiting: retry while it is busy. Done on this lone
            // connection, before the pool opens others that could hold the file themselves.
            let mut wal = false;
            for attempt in 1..=200u64 {
                match sqlx::query("PRAGMA journal_mode = WAL").fetch_all(&mut probe).await {
                    Ok(rows) => {
                        let mode: Option<String> = rows.first().and_then(|r| r.try_get(0).ok());
                        if mode.is_some_and(|m| m.eq_ignore_ascii_case("wal")) {
                            wal = true;
                            break;
                        }
                    }
                    Err(e) if is_transient(&e) => {}
                    Err(e) => return Err(connect_error(e)),
                }
                tokio::time::sleep(std::time::Duration::from_millis(5 * attempt.min(20))).await;
            }
            if !wal {
                return Err(StoreError::Location {
                    location: described.clone(),
                    reason: "it could not be switched to write-ahead logging (another process holds it)".into(),
                });
            }
        }
        sqlx::Connection::close(probe).await.map_err(connect_error)?;
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect(&url)
            .await
            .map_err(connect_error)?;
        let migrations = MIGRATIONS
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(version, Cow::Borrowed(description), MigrationType::Simple, sql.into_sql_str(), false)
            })
            .collect();
        let migrator = Migrator::with_migrations(migrations);
        // PostgreSQL's migrations take an advisory lock; SQLite's take none, so two processes
        // opening a new file at once can both try to apply one. The loser's transaction rolls
        // back; on the next try it finds the migration applied (or applies what is left).
        let mut attempt = 0;
        while let Err(source) = migrator.run(&pool).await {
            attempt += 1;
            if engine == Engine::Postgres || attempt == 5 {
                return Err(StoreError::Migrate { location: described.clone(), source });
            }
            tokio::time::sleep(std::time::Duration::from_millis(20 * attempt)).await;
        }
        Ok(Database { pool, engine, described })
    }

    /// Opens `location` as [`Database::open`] does, but only if it is already there: for commands
    /// that read or check records, where a mistyped SQLite path must be an error — not a new,
    /// empty database that "verifies" (a PostgreSQL database must exist to be connected to).
    pub async fn open_existing(location: &str) -> Result<Database, StoreError> {
        let (engine, _, described) = resolve(location)?;
        if engine == Engine::Sqlite && !Path::new(&described).is_file() {
            return Err(StoreError::Location {
                location: described,
                reason: "there is no database there (no file): give the one the server or `registry register` wrote"
                    .into(),
            });
        }
        Database::open(location).await
    }

    /// The connection pool, for the crates that keep their records here.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Which database this is.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// The location as it may be shown: a SQLite path, or a PostgreSQL URL without its password.
    pub fn describe(&self) -> &str {
        &self.described
    }

    /// Closes every connection, waiting for those in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Whether `error` is a transient lock conflict worth retrying: SQLite's `SQLITE_BUSY` family
/// (another connection held the write lock past the busy timeout), or PostgreSQL's serialization
/// failure and deadlock codes.
pub fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(e) => {
            let code = e.code();
            matches!(code.as_deref(), Some("5" | "517" | "261" | "6" | "40001" | "40P01"))
        }
        _ => false,
    }
}

/// The engine, the driver URL and the shown form of `location`.
fn resolve(location: &str) -> Result<(Engine, String, String), StoreError> {
    let refuse = |reason: &str| StoreError::Location { location: redact(location), reason: reason.to_string() };
    if location.starts_with("postgres://") || location.starts_with("postgresql://") {
        return Ok((Engine::Postgres, location.to_string(), redact(location)));
    }
    if location.contains("://") && !location.starts_with("sqlite://") {
        return Err(refuse("only postgres:// URLs and SQLite file paths are supported"));
    }
    let path = location.strip_prefix("sqlite://").unwrap_or(location);
    if path.is_empty() || path == ":memory:" {
        return Err(refuse("give a file: an in-memory database would lose every record at exit"));
    }
    if path.contains(['?', '#']) {
        return Err(refuse("a SQLite path may not contain '?' or '#'"));
    }
    let parent = Path::new(path).parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(parent) = parent.filter(|p| !p.is_dir()) {
        return Err(refuse(&format!("its folder {} does not exist", parent.display())));
    }
    Ok((Engine::Sqlite, format!("sqlite://{path}?mode=rwc"), path.to_string()))
}

/// `location` without the password of a URL's user information.
fn redact(location: &str) -> String {
    let Some((scheme, rest)) = location.split_once("://") else { return location.to_string() };
    let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((user, host)) => {
            let user = user.split_once(':').map_or(user, |(name, _)| name);
            format!("{scheme}://{user}:***@{host}{tail}")
        }
        None => location.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_never_appears_in_what_is_shown() {
        assert_eq!(
            redact("postgres://audit:s3cret@db.local:5432/longitude"),
            "postgres://audit:***@db.local:5432/longitude"
        );
        assert_eq!(redact("postgres://db.local/longitude"), "postgres://db.local/longitude");
        assert_eq!(redact("/var/lib/longitude/audit.db"), "/var/lib/longitude/audit.db");
        let err = resolve("mysql://u:pw@h/db").expect_err("refused");
        assert!(!err.to_string().contains("pw"), "{err}");
    }

    #[test]
    fn locations_that_would_lose_records_or_cannot_be_opened_are_refused() {
        for bad in ["", ":memory:", "sqlite://", "/no/such/folder/audit.db", "a?b.db", "mysql://h/db"] {
            assert!(resolve(bad).is_err(), "{bad}");
        }
        assert_eq!(resolve("audit.db").expect("relative path").0, Engine::Sqlite);
        assert_eq!(resolve("postgresql://h/db").expect("url").0, Engine::Postgres);
    }
}
