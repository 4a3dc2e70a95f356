//! `longitude bench audit`: audited appends per second, one writer and several, on the database
//! given (a SQLite file or a PostgreSQL URL).
//!
//! Each writer has its own connection pool, as a server replica would, and appends synthetic
//! prediction records (action `benchmark`) as fast as its commits return; a checkpoint is signed
//! in the append transaction at the interval given, with a key made for the run. The log must be
//! empty or hold only earlier benchmark records: the benchmark never writes into a real log.
//!
//! With `--receipts` every writer prints `receipt <index>` as each append commits — what a
//! server would release — so that a test can kill the process at any moment and check that
//! every receipt printed is in a log that still verifies.

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use audit::{Action, AuditLog, Entry};
use sha2::{Digest, Sha256};
use signing::SignerKey;
use store::Database;
use store::sqlx::{self, Row};

/// The benchmark's settings.
#[derive(Debug, Clone)]
pub struct AuditBench {
    /// Where the log is kept.
    pub db: String,
    /// Concurrent writers, each with its own pool.
    pub writers: usize,
    /// Records each writer appends.
    pub records: u64,
    /// Sign a checkpoint every this many records.
    pub checkpoint_every: u64,
    /// Print each receipt as it commits.
    pub receipts: bool,
    /// The operator key to sign checkpoints with [default: one made for the run and discarded].
    pub key: Option<std::path::PathBuf>,
}

/// The log's name in benchmark checkpoints.
const ORIGIN: &str = "bench.longitude.invalid/audit";

/// Runs the benchmark and prints its table.
pub fn run(bench: &AuditBench) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run_async(bench))
}

async fn run_async(bench: &AuditBench) -> Result<()> {
    if bench.writers == 0 || bench.records == 0 {
        bail!("--writers and --records must be at least 1");
    }
    let db = Database::open(&bench.db).await?;
    let foreign = sqlx::query("SELECT COUNT(*) AS n FROM audit_records WHERE body NOT LIKE $1")
        .bind("%\"action\":\"benchmark\"%")
        .fetch_one(db.pool())
        .await?;
    if foreign.try_get::<i64, _>("n")? > 0 {
        bail!("{} holds audit records that are not the benchmark's: give an empty database", db.describe());
    }
    let keys = tempfile::tempdir()?;
    let key = match &bench.key {
        Some(path) => SignerKey::read(path)?,
        None => SignerKey::generate("bench.longitude.invalid", &keys.path().join("operator.key"))?,
    };
    let before = AuditLog::new(db.clone(), ORIGIN).size().await?;

    let started = Instant::now();
    let mut tasks = Vec::new();
    for writer in 0..bench.writers {
        let pool = Database::open(&bench.db).await?;
        let log = Arc::new(AuditLog::new(pool, ORIGIN).checkpoint_every(key.clone(), bench.checkpoint_every));
        let (records, receipts) = (bench.records, bench.receipts);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(records as usize);
            for i in 0..records {
                let entry = synthetic(writer, i);
                let t = Instant::now();
                let receipt = log.append(&entry).await?;
                latencies.push(t.elapsed().as_secs_f64() * 1e6);
                if receipts {
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "receipt {}", receipt.index)?;
                    out.flush()?;
                }
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.context("a writer panicked")??);
    }
    let seconds = started.elapsed().as_secs_f64();
    let after = AuditLog::new(db.clone(), ORIGIN).size().await?;
    let appended = bench.writers as u64 * bench.records;
    // Other processes may append to the same log meanwhile: it grew by at least ours.
    if after < before + appended {
        bail!("the log grew by {} records, fewer than the {appended} appended", after - before);
    }
    latencies.sort_by(f64::total_cmp);
    let quantile = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    let engine = match db.engine() {
        store::Engine::Sqlite => "SQLite (WAL)",
        store::Engine::Postgres => "PostgreSQL",
    };
    outln!("| database | writers | records | appends/s | p50 µs | p99 µs | checkpoint every |");
    outln!("|---|---:|---:|---:|---:|---:|---:|");
    outln!(
        "| {engine} | {} | {appended} | {:.0} | {:.0} | {:.0} | {} |",
        bench.writers,
        appended as f64 / seconds,
        quantile(0.5),
        quantile(0.99),
        bench.checkpoint_every
    );
    Ok(())
}

/// A prediction-shaped record with no PHI: what a served prediction writes.
fn synthetic(writer: usize, i: u64) -> Entry {
    let mut entry = Entry::new(format!("site-{}", writer % 3), format!("bench-client-{writer}"), Action::Benchmark);
    entry.model_version = Some("bench-model@1".into());
    entry.task = Some("new_t2d_1y".into());
    let input = Sha256::digest(format!("{writer}:{i}").as_bytes());
    entry.input_sha256 = Some(input.iter().map(|b| format!("{b:02x}")).collect());
    entry.output = Some("risk band: moderate".into());
    entry.latency_us = Some(850 + i % 300);
    entry
}
