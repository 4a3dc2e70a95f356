//! `longitude monitor`: a site's deployed versions against its latest extract (and its latest
//! batch risks against an earlier run's), alerts, and optionally the suspension.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use registry::Registry;
use signing::VerifierKey;

use crate::audit_cmd::{LogArgs, open};

/// How `longitude monitor` runs.
#[derive(Debug, Args)]
pub struct MonitorArgs {
    #[command(flatten)]
    log: LogArgs,
    /// The site whose deployed versions are watched.
    #[arg(long)]
    site: String,
    /// The owners' public keys a deployed bundle must be signed by: KEY.pub files or their
    /// one-line text. Repeatable.
    #[arg(long, required = true)]
    trusted: Vec<String>,
    /// The site's latest extract (de-identified MEDS, its whole history): every month after the
    /// release's reference period is checked.
    #[arg(long)]
    data: PathBuf,
    /// Months per check: each month with the months before it.
    #[arg(long, default_value_t = 3)]
    window: u32,
    /// Thresholds (YAML: any of new_code_events, min_expected, rate_ratio, z, min_values, psi,
    /// ks_p, median_shift, missing_change, estimated_auroc_drop) [default: the stated defaults].
    #[arg(long)]
    thresholds: Option<PathBuf>,
    /// The latest `longitude score` run's output directory (merged): each task's performance is
    /// estimated from its calibrated risks (marked estimated)...
    #[arg(long)]
    scores: Option<PathBuf>,
    /// ...and its risks compared with this earlier run's.
    #[arg(long, requires = "scores")]
    baseline_scores: Option<PathBuf>,
    /// Suspend an alerting version in the registry (audited; the server stops answering with
    /// it within its refresh period).
    #[arg(long)]
    suspend: bool,
    /// Write monitor.json, monitor.prom (Prometheus text) and monitor.otlp.json (OTLP/JSON
    /// metrics) here.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Watches the site; exits 3 when anything alerts.
pub fn run(args: &MonitorArgs) -> Result<ExitCode> {
    let trusted = args.trusted.iter().map(|k| VerifierKey::read_or_parse(k)).collect::<Result<Vec<_>, _>>()?;
    let thresholds = match &args.thresholds {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
            yaml_serde::from_str(&text).with_context(|| format!("{}: not a thresholds file", path.display()))?
        }
        None => monitor::Thresholds::default(),
    };
    let plan = watch::Plan {
        site: args.site.clone(),
        data: args.data.clone(),
        window: args.window,
        thresholds,
        scores: args.scores.clone(),
        baseline_scores: args.baseline_scores.clone(),
        suspend: args.suspend,
        feedback: watch::FeedbackThresholds::default(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let report = runtime.block_on(async {
        let log = open(&args.log).await?;
        anyhow::Ok(watch::run(&plan, &Registry::new(log.clone()), log.database(), &trusted).await?)
    })?;
    if let Some(out) = &args.out {
        std::fs::create_dir_all(out).with_context(|| out.display().to_string())?;
        let write = |name: &str, bytes: &[u8]| {
            outputs::atomic::write(&out.join(name), outputs::atomic::Access::Shared, bytes)
                .map_err(|e| anyhow::anyhow!("{}: {}", e.path.display(), e.source))
        };
        write("monitor.json", serde_json::to_string_pretty(&report)?.as_bytes())?;
        write("monitor.prom", watch::prometheus(&report).as_bytes())?;
        write("monitor.otlp.json", serde_json::to_string_pretty(&watch::otlp_json(&report))?.as_bytes())?;
    }
    outln!("{report}");
    let alerting = report.versions.iter().any(|v| !v.alerts.is_empty());
    Ok(if alerting { ExitCode::from(3) } else { ExitCode::SUCCESS })
}
