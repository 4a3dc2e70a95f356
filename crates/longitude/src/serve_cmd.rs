//! `longitude serve` (the server over the registry and the audit log) and `longitude api-key`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use audit::AuditLog;
use clap::Args;
use deid::{Deidentifier, Key};
use signing::{SignerKey, VerifierKey};
use store::Database;

use crate::audit_cmd::LogArgs;
use crate::ingest_cmd::Mode;

/// How `longitude serve` runs.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    log: LogArgs,
    /// Where to listen (port 0 picks a free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The tenants file: tenants, their sites, clients, roles and API key digests (YAML).
    #[arg(long, env = "LONGITUDE_TENANTS")]
    tenants: PathBuf,
    /// The owners' public keys a bundle must be signed by to answer: KEY.pub files or their
    /// one-line text. Repeatable. A deployed bundle signed by no trusted key never answers.
    #[arg(long, required = true)]
    trusted: Vec<String>,
    /// The de-identification key the training data was ingested with (without it,
    /// LONGITUDE_DEID_KEY). A request's patient is de-identified with it in memory, as the
    /// ingest did, so that the model reads them as it was validated.
    #[arg(long)]
    deid_key_file: Option<PathBuf>,
    /// The date de-identification the training data went through.
    #[arg(long, value_enum, default_value_t = Mode::Shift)]
    date_mode: Mode,
    /// The safe-list files the ingest scrubbed free text with, if any. Repeatable.
    #[arg(long)]
    safe_words: Vec<PathBuf>,
    /// The operator's private key, to sign a checkpoint of the audit log on a timer.
    #[arg(long, env = "LONGITUDE_AUDIT_KEY")]
    audit_key: Option<PathBuf>,
    /// Seconds between audit checkpoints (signed only when the log grew).
    #[arg(long, default_value_t = 10.0)]
    checkpoint_every: f64,
    /// Seconds between reads of the registry's deployments (a suspension takes effect within it).
    #[arg(long, default_value_t = 2.0)]
    refresh_every: f64,
    /// The URL callers reach this server at (what CDS Hooks JWTs name as `aud`, and what cards
    /// link under) [default: http:// and the address listened on].
    #[arg(long)]
    public_url: Option<String>,
    /// The largest request body, in megabytes.
    #[arg(long, default_value_t = 8)]
    max_body_mb: usize,
}

/// Runs the server until SIGINT or SIGTERM, then drains the requests in flight.
pub fn run(args: &ServeArgs) -> Result<ExitCode> {
    let tenants = server::Tenants::read(&args.tenants)?;
    let trusted = args.trusted.iter().map(|k| VerifierKey::read_or_parse(k)).collect::<Result<Vec<_>, _>>()?;
    let key = Key::resolve(args.deid_key_file.as_deref(), false)?;
    let mut deidentifier = Deidentifier::new(key, args.date_mode.date_mode());
    if !args.safe_words.is_empty() {
        deidentifier = deidentifier.with_safe_words(deid::SafeWords::from_files(&args.safe_words)?);
    }
    let checkpoint = match &args.audit_key {
        Some(path) => Some((SignerKey::read(path)?, seconds(args.checkpoint_every, "--checkpoint-every")?)),
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(args.listen))
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener.local_addr()?;
    let settings = server::Settings {
        public_url: args.public_url.clone().unwrap_or_else(|| format!("http://{address}")),
        tenants,
        trusted,
        deidentifier,
        max_body_bytes: args.max_body_mb.max(1) * 1024 * 1024,
        refresh_every: seconds(args.refresh_every, "--refresh-every")?,
        checkpoint,
    };
    runtime.block_on(async {
        let db = Database::open_existing(&args.log.db).await?;
        let audit = AuditLog::new(db, args.log.origin.clone());
        let state = server::AppState::new(audit, settings);
        println!("listening on http://{address}");
        tracing::info!(%address, "serving");
        server::serve(listener, state, shutdown_signal()).await?;
        tracing::info!("stopped: requests in flight were answered");
        Ok(ExitCode::SUCCESS)
    })
}

fn seconds(value: f64, flag: &str) -> Result<Duration> {
    anyhow::ensure!(value.is_finite() && value > 0.0, "{flag} must be a positive number of seconds");
    Ok(Duration::from_secs_f64(value))
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return interrupt.await.unwrap_or(()),
        };
        tokio::select! {
            _ = interrupt => {},
            _ = terminate.recv() => {},
        }
    }
    #[cfg(not(unix))]
    interrupt.await.unwrap_or(());
}

/// Prints a new API key and the line of the tenants file that admits it.
pub fn new_api_key() -> Result<ExitCode> {
    let key = server::tenants::new_key().context("cannot read the operating system's randomness")?;
    println!("key:        {key}");
    println!("key_sha256: {}", server::tenants::key_sha256(&key));
    eprintln!("Give the key to the client once; put only its key_sha256 in the tenants file.");
    Ok(ExitCode::SUCCESS)
}
