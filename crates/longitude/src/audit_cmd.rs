//! `longitude audit …`: checkpoints, the whole-log check, proofs and exports of the audit log.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use audit::{AuditLog, ConsistencyProof, InclusionProof, LogError};
use clap::{Args, Subcommand, ValueEnum};
use signing::{SignerKey, VerifierKey};
use store::Database;

/// Which log, in which database.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// The database: a SQLite file path or a postgres:// URL.
    #[arg(long, env = "LONGITUDE_DB")]
    pub db: String,
    /// The log's name, the first line of its checkpoints (e.g. `audit.hospital.example/longitude`).
    #[arg(long, env = "LONGITUDE_AUDIT_ORIGIN", default_value = "longitude.local/audit")]
    pub origin: String,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Sign a checkpoint of the log as it stands (size and root) with the operator's key.
    Checkpoint {
        #[command(flatten)]
        log: LogArgs,
        /// The operator's private key (`longitude bundle keygen` makes one).
        #[arg(long, env = "LONGITUDE_AUDIT_KEY")]
        key: PathBuf,
    },
    /// Recompute the tree from every record and check it against every signed checkpoint (and a
    /// witness's copies); exits 2 naming the first edited, removed, inserted or moved record, a
    /// truncation, or a forked checkpoint.
    Verify {
        #[command(flatten)]
        log: LogArgs,
        /// The operator's public key: a KEY.pub file or its one-line text. Repeatable.
        #[arg(long, required = true)]
        trusted: Vec<String>,
        /// A witness file (`audit witness` writes one): checkpoints kept outside the operator's
        /// control, which the log must still match.
        #[arg(long)]
        witness: Option<PathBuf>,
    },
    /// Append the log's signed checkpoints not yet in FILE to it (JSON lines), for a witness to
    /// keep outside the operator's control.
    Witness {
        #[command(flatten)]
        log: LogArgs,
        /// The witness file, created if missing.
        #[arg(long)]
        out: PathBuf,
    },
    /// Write a proof, checkable offline: that record INDEX is in the log (`--index`), or that
    /// the log at checkpoint FIRST is a prefix of a later one (`--consistency`).
    Prove {
        #[command(flatten)]
        log: LogArgs,
        /// The record (a receipt's index).
        #[arg(long, conflicts_with = "consistency", required_unless_present = "consistency")]
        index: Option<u64>,
        /// The size of the older checkpoint.
        #[arg(long)]
        consistency: Option<u64>,
        /// The size of the checkpoint to prove against [default: the latest].
        #[arg(long)]
        size: Option<u64>,
        /// Where to write the proof (JSON).
        #[arg(long)]
        out: PathBuf,
    },
    /// Check a proof `audit prove` wrote against the operator's public key, without the log.
    CheckProof {
        /// The proof file.
        #[arg(long)]
        proof: PathBuf,
        /// The operator's public key: a KEY.pub file or its one-line text. Repeatable.
        #[arg(long, required = true)]
        trusted: Vec<String>,
        /// The log's name.
        #[arg(long, env = "LONGITUDE_AUDIT_ORIGIN", default_value = "longitude.local/audit")]
        origin: String,
    },
    /// Export the log's records.
    Export {
        #[command(flatten)]
        log: LogArgs,
        /// The format.
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// Where to write them.
        #[arg(long)]
        out: PathBuf,
    },
}

/// Export formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    /// FHIR R4 AuditEvent resources, one per line (NDJSON).
    Fhir,
}

pub fn run(cmd: AuditCommand) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(run_async(cmd))
}

/// The log in an existing database: these commands read, check or extend a log that is there, and
/// never make an empty one out of a mistyped path.
pub async fn open(args: &LogArgs) -> Result<AuditLog> {
    Ok(AuditLog::new(Database::open_existing(&args.db).await?, args.origin.clone()))
}

fn trusted_keys(given: &[String]) -> Result<Vec<VerifierKey>> {
    Ok(given.iter().map(|k| VerifierKey::read_or_parse(k)).collect::<Result<Vec<_>, _>>()?)
}

async fn run_async(cmd: AuditCommand) -> Result<ExitCode> {
    match cmd {
        AuditCommand::Checkpoint { log, key } => {
            let key = SignerKey::read(&key)?;
            let log = open(&log).await?;
            let signed = log.checkpoint(&key).await?;
            outln!("checkpoint of {} records signed by {}:", signed.size, key.name());
            out!("{}", signed.note);
        }
        AuditCommand::Verify { log, trusted, witness } => {
            let keys = trusted_keys(&trusted)?;
            let witnessed = match &witness {
                Some(path) => read_witness(path)?.into_iter().map(|(_, note)| note).collect(),
                None => Vec::new(),
            };
            let log = open(&log).await?;
            match log.verify(&keys, &witnessed).await {
                Ok(v) => outln!(
                    "verified: {} records, root {}, {} signed checkpoints match{}",
                    v.records,
                    audit::log::hex(&v.root),
                    v.checkpoints,
                    if witness.is_some() { " (witness included)" } else { "" }
                ),
                Err(e @ (LogError::Tampered(_) | LogError::HeadMismatch { .. } | LogError::Checkpoint { .. })) => {
                    eprintln!("error: the audit log in {} does not verify: {e}", log.database().describe());
                    return Ok(ExitCode::from(2));
                }
                Err(e) => return Err(e.into()),
            }
        }
        AuditCommand::Witness { log, out } => {
            let mut kept = if out.exists() { read_witness(&out)? } else { Vec::new() };
            let log = open(&log).await?;
            let mut added = 0;
            for c in log.checkpoints().await? {
                if let Some((_, note)) = kept.iter().find(|(size, _)| *size == c.size) {
                    if *note != c.note {
                        eprintln!(
                            "error: the log's checkpoint of size {} differs from the one witnessed: the log was forked",
                            c.size
                        );
                        return Ok(ExitCode::from(2));
                    }
                    continue;
                }
                kept.push((c.size, c.note));
                added += 1;
            }
            let lines: String = kept
                .iter()
                .map(|(size, note)| format!("{}\n", serde_json::json!({"size": size, "note": note})))
                .collect();
            outputs::atomic::write(&out, outputs::atomic::Access::Shared, lines.as_bytes())?;
            outln!("{added} new checkpoints witnessed in {} ({} in all)", out.display(), kept.len());
        }
        AuditCommand::Prove { log, index, consistency, size, out } => {
            let log = open(&log).await?;
            let json = match (index, consistency) {
                (Some(index), _) => serde_json::to_vec_pretty(&log.prove_inclusion(index, size).await?)?,
                (None, Some(first)) => serde_json::to_vec_pretty(&log.prove_consistency(first, size).await?)?,
                (None, None) => bail!("give --index or --consistency"),
            };
            outputs::atomic::write(&out, outputs::atomic::Access::Shared, &json)?;
            outln!("proof written to {}", out.display());
        }
        AuditCommand::CheckProof { proof, trusted, origin } => {
            let keys = trusted_keys(&trusted)?;
            let text = std::fs::read_to_string(&proof).with_context(|| format!("cannot read {}", proof.display()))?;
            let value: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a proof (not JSON)", proof.display()))?;
            let checked = if value.get("index").is_some() {
                let p: InclusionProof = serde_json::from_value(value).context("not an inclusion proof")?;
                p.check(&keys, &origin).map(|c| format!("record {} is in the log of {} records", p.index, c.size))
            } else {
                let p: ConsistencyProof = serde_json::from_value(value).context("not a consistency proof")?;
                p.check(&keys, &origin)
                    .map(|(a, b)| format!("the log of {} records extends the log of {}", b.size, a.size))
            };
            match checked {
                Ok(said) => outln!("proof holds: {said}"),
                Err(e) => {
                    eprintln!("error: the proof in {} does not hold: {e}", proof.display());
                    return Ok(ExitCode::from(2));
                }
            }
        }
        AuditCommand::Export { log, format: ExportFormat::Fhir, out } => {
            let log = open(&log).await?;
            let origin = log.origin().to_string();
            let mut lines = String::new();
            let mut count = 0u64;
            log.walk(|record| {
                let entry: audit::Entry =
                    serde_json::from_slice(&record.bytes).map_err(|_| LogError::Corrupt { what: "record" })?;
                let event = entry.audit_event(&origin, record.index, &audit::log::hex(&record.leaf));
                lines.push_str(&event.to_string());
                lines.push('\n');
                count += 1;
                Ok(())
            })
            .await?;
            outputs::atomic::write(&out, outputs::atomic::Access::Shared, lines.as_bytes())?;
            outln!("{count} AuditEvent resources written to {}", out.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The `(size, note)` pairs of a witness file.
fn read_witness(path: &Path) -> Result<Vec<(u64, String)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read the witness file {}", path.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, line)| {
            let v: serde_json::Value =
                serde_json::from_str(line).with_context(|| format!("{} line {}: not JSON", path.display(), i + 1))?;
            match (v["size"].as_u64(), v["note"].as_str()) {
                (Some(size), Some(note)) => Ok((size, note.to_string())),
                _ => bail!("{} line {}: not a witnessed checkpoint ({{\"size\", \"note\"}})", path.display(), i + 1),
            }
        })
        .collect()
}
