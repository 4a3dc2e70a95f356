//! `longitude score` (batch scoring of a MEDS dataset by the site's deployed versions, one
//! worker's share of the shards) and `longitude merge-scores` (the check that every shard was
//! scored once, and the merged predictions).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use batch::{Plan, Share};
use clap::Args;
use registry::Registry;
use signing::VerifierKey;

use crate::audit_cmd::{LogArgs, open};
use crate::progress::Progress;

/// How `longitude score` runs.
#[derive(Debug, Args)]
pub struct ScoreArgs {
    #[command(flatten)]
    log: LogArgs,
    /// The MEDS dataset to score (de-identified, as `longitude ingest` wrote it).
    #[arg(long)]
    data: PathBuf,
    /// The output directory, shared by every worker of one run.
    #[arg(long)]
    out: PathBuf,
    /// The site whose deployed versions score (active and shadow).
    #[arg(long)]
    site: String,
    /// The owners' public keys a bundle must be signed by to score: KEY.pub files or their
    /// one-line text. Repeatable.
    #[arg(long, required = true)]
    trusted: Vec<String>,
    /// Read nothing after this time (YYYY-MM-DD or RFC 3339, in the dataset's time frame)
    /// [default: each patient's latest clinical event].
    #[arg(long)]
    at: Option<String>,
    /// Score only patients with a clinical event after this time (YYYY-MM-DD or RFC 3339).
    #[arg(long)]
    active_since: Option<String>,
    /// This worker's share of the shards, INDEX/COUNT (e.g. 2/8).
    #[arg(long, conflicts_with = "shard_count")]
    shard: Option<String>,
    /// The number of workers, this one's index read from the scheduler: JOB_COMPLETION_INDEX
    /// (a Kubernetes Indexed Job) or SLURM_ARRAY_TASK_ID (a SLURM job array).
    #[arg(long)]
    shard_count: Option<u32>,
    /// The tenant the audit records name [default: the site].
    #[arg(long)]
    tenant: Option<String>,
    /// The client the audit records name.
    #[arg(long, default_value = "batch-scoring")]
    client: String,
}

/// How `longitude merge-scores` runs.
#[derive(Debug, Args)]
pub struct MergeArgs {
    #[command(flatten)]
    log: LogArgs,
    /// The MEDS dataset the run scored.
    #[arg(long)]
    data: PathBuf,
    /// The run's output directory.
    #[arg(long)]
    out: PathBuf,
}

/// Scores this worker's shards.
pub fn run(args: &ScoreArgs, progress: &Progress) -> Result<ExitCode> {
    let share = match (&args.shard, args.shard_count) {
        (Some(text), _) => Share::parse(text)?,
        (None, Some(count)) => Share::from_scheduler(count, |name| std::env::var(name).ok())?,
        (None, None) => Share::ALL,
    };
    let trusted = args.trusted.iter().map(|k| VerifierKey::read_or_parse(k)).collect::<Result<Vec<_>, _>>()?;
    let plan = Plan {
        data: args.data.clone(),
        out: args.out.clone(),
        site: args.site.clone(),
        at: args.at.as_deref().map(|t| parse_time(t, "--at")).transpose()?,
        active_since: args.active_since.as_deref().map(|t| parse_time(t, "--active-since")).transpose()?,
        share,
        tenant: args.tenant.clone().unwrap_or_else(|| args.site.clone()),
        client: args.client.clone(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let scored = runtime.block_on(async {
        let log = open(&args.log).await?;
        let versions = batch::deployed_at(&Registry::new(log.clone()), &plan.site, &trusted).await?;
        let bar = progress.bar("scoring", None, "shards");
        let scored = batch::score(&plan, &versions, &log, &|p| {
            bar.set_length(p.of as u64);
            bar.set_position(p.done as u64);
        })
        .await?;
        bar.finish_and_clear();
        anyhow::Ok(scored)
    })?;
    outln!("{scored}");
    Ok(ExitCode::SUCCESS)
}

/// Checks and merges a run.
pub fn merge(args: &MergeArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let merged = runtime.block_on(async {
        let log = open(&args.log).await?;
        anyhow::Ok(batch::merge(&args.out, &args.data, &log).await?)
    })?;
    outln!("{merged}");
    Ok(ExitCode::SUCCESS)
}

/// A date (midnight UTC) or an RFC 3339 time, in microseconds.
fn parse_time(text: &str, flag: &str) -> Result<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_micros());
    }
    let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .with_context(|| format!("{flag} is a date (YYYY-MM-DD) or an RFC 3339 time; got {text:?}"))?;
    match date.and_hms_opt(0, 0, 0) {
        Some(t) => Ok(t.and_utc().timestamp_micros()),
        None => bail!("{flag}: {text:?} is not a time"),
    }
}
