//! # watch — a site's deployed versions in use, watched
//!
//! [`run`] takes a site's latest extract (a de-identified MEDS dataset, its full history) and,
//! for every version the registry has deployed there:
//! - checks each month after the release's reference period (`data/reference.json`, the
//!   training data's last year) as a rolling window against it ([`monitor::check`]: new and
//!   vanished codes, code rates, value distributions, missingness, events per patient), for
//!   everyone and for each subgroup (sex, age band) against the subgroup's own reference;
//! - compares each task's risks in the latest batch run with an earlier run's
//!   ([`Kind::Scores`](monitor::Kind::Scores)), when both are given, and estimates each task's
//!   performance from the latest run's calibrated risks ([`monitor::estimate`], marked
//!   estimated), alerting when the estimated AUROC falls below the validated one;
//! - gathers clinicians' feedback on its CDS Hooks cards (accepted, overridden, and why),
//!   alerting when most are overridden;
//! - alerts when the latest window or the risks trip a threshold, and, when asked, **suspends**
//!   the version in the registry with the figures that tripped as the reason — an audited
//!   transition, so the server stops answering with it within its refresh period.
//!
//! [`prometheus`] and [`otlp_json`] give IT the same figures in the forms their collectors read.
//! Still to come (issue #31): performance over time from outcomes in later extracts, per-subgroup
//! checks.

use std::path::{Path, PathBuf};

use monitor::{Check, Finding, Kind, Month, Reference, Thresholds};
use registry::{Person, Registry};
use serde::{Deserialize, Serialize};
use signing::VerifierKey;

/// Why a site could not be watched.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The deployed versions could not be loaded.
    #[error(transparent)]
    Batch(#[from] batch::BatchError),
    /// The extract could not be read.
    #[error(transparent)]
    Dataset(#[from] meds::MedsError),
    /// The registry refused a suspension.
    #[error(transparent)]
    Registry(#[from] registry::RegistryError),
    /// Clinicians' feedback could not be read.
    #[error("reading clinicians' feedback: {0}")]
    Feedback(String),
    /// A file could not be read.
    #[error("{}: {reason}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// What to watch, and how.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The site.
    pub site: String,
    /// Its latest extract.
    pub data: PathBuf,
    /// Months per check: each month is checked with the months before it (3: a quarter).
    pub window: u32,
    /// When a change alerts.
    pub thresholds: Thresholds,
    /// The latest batch run's output directory: its risks give estimated performance...
    pub scores: Option<PathBuf>,
    /// ...and, with an earlier run's, are compared with those.
    pub baseline_scores: Option<PathBuf>,
    /// Suspend an alerting version in the registry.
    pub suspend: bool,
    /// Clinicians' feedback on the version's cards alerts when at least `min` cards have
    /// feedback and the share overridden reaches `rate` (default: 20 and 0.8).
    pub feedback: FeedbackThresholds,
}

/// When clinicians' feedback alerts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FeedbackThresholds {
    /// Cards with feedback needed before the share is judged.
    pub min: u64,
    /// The share overridden that alerts.
    pub rate: f64,
}

impl Default for FeedbackThresholds {
    fn default() -> Self {
        FeedbackThresholds { min: 20, rate: 0.8 }
    }
}

/// Clinicians' responses to one task's decision-support cards (CDS Hooks feedback).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Feedback {
    /// The task.
    pub task: String,
    /// Cards accepted.
    pub accepted: u64,
    /// Cards overridden.
    pub overridden: u64,
    /// Override reasons given, by code (`none` when no reason was chosen).
    pub reasons: std::collections::BTreeMap<String, u64>,
}

/// One version, watched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Watched {
    /// The version.
    pub id: String,
    /// `active` or `shadow`.
    pub mode: String,
    /// Its reference period, when its release carries one.
    pub reference: Option<(Month, Month)>,
    /// The monthly checks, oldest first.
    pub checks: Vec<Check>,
    /// Risks against the earlier run's, per task.
    pub scores: Vec<Finding>,
    /// Performance estimated from the latest run's risks, per task, beside what was validated.
    pub estimates: Vec<TaskEstimate>,
    /// Clinicians' feedback on its cards, per task, at every tenant.
    pub feedback: Vec<Feedback>,
    /// What alerts: the latest check's findings and the score findings.
    pub alerts: Vec<Finding>,
    /// The reason given to the registry, when the version was suspended.
    pub suspended: Option<String>,
}

/// A task's performance estimated from calibrated risks (never measured: see
/// [`monitor::estimate`]), beside the release's validated figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskEstimate {
    /// The task.
    pub task: String,
    /// The estimate (at the validated operating point's threshold).
    pub estimated: monitor::Estimate,
    /// The held-out AUROC the release's report gives.
    pub validated_auroc: Option<f64>,
    /// The held-out prevalence.
    pub validated_prevalence: Option<f64>,
}

/// A site, watched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The site.
    pub site: String,
    /// When (RFC 3339).
    pub at: String,
    /// The extract's last month with data.
    pub last_month: Option<Month>,
    /// The thresholds used.
    pub thresholds: Thresholds,
    /// Per deployed version.
    pub versions: Vec<Watched>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let last = self.last_month.map_or_else(|| "no dated events".to_string(), |m| m.to_string());
        write!(f, "site {}: extract through {last}", self.site)?;
        for v in &self.versions {
            let reference =
                v.reference.map_or_else(|| "no reference in its release".into(), |(a, b)| format!("reference {a}–{b}"));
            write!(
                f,
                "\n{} ({}, {reference}): {} monthly check(s), {} alert(s)",
                v.id,
                v.mode,
                v.checks.len(),
                v.alerts.len()
            )?;
            for e in &v.estimates {
                let validated = e.validated_auroc.map_or_else(|| "not in the report".into(), |a| format!("{a:.3}"));
                write!(
                    f,
                    "\n  {}: AUROC estimated {:.3} from {} risks (validated {validated}), prevalence estimated {:.3} — estimated, not measured",
                    e.task, e.estimated.auroc, e.estimated.n, e.estimated.prevalence
                )?;
            }
            for fb in &v.feedback {
                write!(f, "\n  {}: clinicians accepted {} card(s), overrode {}", fb.task, fb.accepted, fb.overridden)?;
            }
            for a in &v.alerts {
                let code = a.code.as_deref().map_or_else(String::new, |c| format!(" {c}"))
                    + &a.subgroup.as_deref().map_or_else(String::new, |g| format!(" [{g}]"));
                write!(
                    f,
                    "\n  ALERT {:?}{code}: {} {:.3} (threshold {}) — {}",
                    a.kind, a.statistic, a.value, a.threshold, a.detail
                )?;
            }
            if let Some(reason) = &v.suspended {
                write!(f, "\n  SUSPENDED in the registry: {reason}")?;
            }
        }
        Ok(())
    }
}

/// Who suspends on the monitor's behalf, as the registry records it.
pub fn monitor_person() -> Person {
    Person { name: "longitude monitor".into(), role: "monitor".into() }
}

/// Watches `plan.site`. See the crate documentation.
pub async fn run(
    plan: &Plan,
    registry: &Registry,
    db: &store::Database,
    trusted: &[VerifierKey],
) -> Result<Report, WatchError> {
    let versions = batch::deployed_at(registry, &plan.site, trusted).await?;
    let (codes, timelines) = meds::Dataset::open(&plan.data)?.read_all()?;
    let refs: Vec<&meds::Timeline> = timelines.iter().collect();
    let last_month = monitor::last_month(&refs, &codes);
    let mut report = Report {
        site: plan.site.clone(),
        at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        last_month,
        thresholds: plan.thresholds,
        versions: Vec::new(),
    };
    for version in &versions {
        let reference = read_reference(Path::new(&version.version.bundle))?;
        let mut watched = Watched {
            id: version.version.id.clone(),
            mode: version.mode.clone(),
            reference: reference.as_ref().map(|r| (r.first, r.last)),
            checks: Vec::new(),
            scores: Vec::new(),
            estimates: Vec::new(),
            feedback: feedback(db, &version.version.id).await?,
            alerts: Vec::new(),
            suspended: None,
        };
        if let (Some(r), Some(last)) = (&reference, last_month) {
            let first = r.last.next();
            if first <= last {
                let window = plan.window.max(1) - 1;
                let profiles =
                    monitor::profiles_within(&refs, &codes, Some((first.back(window), last)), !r.subgroups.is_empty());
                for end in first.through(last) {
                    let start = end.back(window).max(first);
                    let mut check = monitor::check(r, &profiles.all, start, end, &plan.thresholds);
                    // Each subgroup against its own reference: a drift in one group can hide in all.
                    for (group, reference) in &r.subgroups {
                        let Some(months) = profiles.subgroups.get(group) else { continue };
                        let found = monitor::check(reference, months, start, end, &plan.thresholds).findings;
                        check
                            .findings
                            .extend(found.into_iter().map(|f| monitor::Finding { subgroup: Some(group.clone()), ..f }));
                    }
                    watched.checks.push(check);
                }
            }
        }
        if let Some(latest) = &plan.scores {
            if let Some(before) = &plan.baseline_scores {
                watched.scores = score_drift(before, latest, &version.version.id, &version.tasks, &plan.thresholds)?;
            }
            watched.estimates = estimates(latest, &version.version.id, &version.tasks);
        }
        watched.alerts = watched.checks.last().map(|c| c.findings.clone()).unwrap_or_default();
        watched.alerts.extend(watched.scores.iter().cloned());
        for fb in &watched.feedback {
            let answered = fb.accepted + fb.overridden;
            let rate = fb.overridden as f64 / answered.max(1) as f64;
            if answered >= plan.feedback.min && rate >= plan.feedback.rate {
                watched.alerts.push(Finding {
                    kind: Kind::Feedback,
                    code: Some(fb.task.clone()),
                    statistic: "override_rate".into(),
                    value: rate,
                    threshold: plan.feedback.rate,
                    detail: format!("clinicians overrode {} of {answered} cards with feedback", fb.overridden),
                    subgroup: None,
                });
            }
        }
        for e in &watched.estimates {
            if let Some(validated) = e.validated_auroc {
                let drop = validated - e.estimated.auroc;
                if drop >= plan.thresholds.estimated_auroc_drop {
                    watched.alerts.push(Finding {
                        kind: Kind::EstimatedPerformance,
                        code: Some(e.task.clone()),
                        statistic: "estimated_auroc_drop".into(),
                        value: drop,
                        threshold: plan.thresholds.estimated_auroc_drop,
                        detail: format!(
                            "AUROC estimated {:.3} from {} calibrated risks (validated {validated:.3}); estimated, not measured",
                            e.estimated.auroc, e.estimated.n
                        ),
                        subgroup: None,
                    });
                }
            }
        }
        if plan.suspend && !watched.alerts.is_empty() {
            let first = &watched.alerts[0];
            let when = watched.checks.last().map_or_else(String::new, |c| format!(" in {}–{}", c.first, c.last));
            let reason = format!(
                "monitoring: {} alert(s){when}; first: {:?}{} {} {:.3} (threshold {})",
                watched.alerts.len(),
                first.kind,
                first.code.as_deref().map_or_else(String::new, |c| format!(" {c}")),
                first.statistic,
                first.value,
                first.threshold
            );
            registry.suspend(&watched.id, &monitor_person(), &reason).await?;
            watched.suspended = Some(reason);
        }
        report.versions.push(watched);
    }
    Ok(report)
}

/// Clinicians' feedback on the cards `version` gave, per task (every tenant's: the cards table
/// names the version and task; no patient is stored in either).
async fn feedback(db: &store::Database, version: &str) -> Result<Vec<Feedback>, WatchError> {
    use store::sqlx::Row;
    let rows = store::sqlx::query(
        "SELECT c.task AS task, f.outcome AS outcome, COALESCE(f.override_reason, 'none') AS reason, COUNT(*) AS n \
         FROM cds_feedback f JOIN cds_cards c ON c.uuid = f.card WHERE c.model_version = $1 \
         GROUP BY c.task, f.outcome, COALESCE(f.override_reason, 'none') ORDER BY c.task",
    )
    .bind(version)
    .fetch_all(db.pool())
    .await
    .map_err(|e| WatchError::Feedback(e.to_string()))?;
    let mut out: Vec<Feedback> = Vec::new();
    for row in rows {
        let get = |name: &str| row.try_get::<String, _>(name).map_err(|e| WatchError::Feedback(e.to_string()));
        let (task, outcome, reason) = (get("task")?, get("outcome")?, get("reason")?);
        let n = row.try_get::<i64, _>("n").map_err(|e| WatchError::Feedback(e.to_string()))?.max(0) as u64;
        if out.last().is_none_or(|f| f.task != task) {
            out.push(Feedback { task: task.clone(), accepted: 0, overridden: 0, reasons: Default::default() });
        }
        let Some(f) = out.last_mut() else { continue };
        match outcome.as_str() {
            "accepted" => f.accepted += n,
            "overridden" => {
                f.overridden += n;
                *f.reasons.entry(reason).or_default() += n;
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The reference a release carries, if any.
fn read_reference(bundle: &Path) -> Result<Option<Reference>, WatchError> {
    let path = bundle.join("data/reference.json");
    if !path.is_file() {
        return Ok(None);
    }
    let text =
        std::fs::read_to_string(&path).map_err(|e| WatchError::File { path: path.clone(), reason: e.to_string() })?;
    serde_json::from_str(&text).map(Some).map_err(|e| WatchError::File { path, reason: e.to_string() })
}

/// The risks of a batch run's merged file for `task`, if there is one.
fn merged_risks(run: &Path, version: &str, task: &str) -> Option<Vec<f64>> {
    let path = run.join("merged").join(version).join(format!("{task}.parquet"));
    let scores = meds::labels::read_scores(&path).ok()?;
    Some(scores.iter().map(|s| f64::from(s.probability)).collect())
}

/// Each task's performance estimated from the run's risks.
fn estimates(run: &Path, version: &str, tasks: &[inference::deployed::TaskInfo]) -> Vec<TaskEstimate> {
    tasks
        .iter()
        .filter_map(|task| {
            let risks = merged_risks(run, version, &task.task)?;
            let threshold = task.operating_point.and_then(|op| op.threshold);
            Some(TaskEstimate {
                task: task.task.clone(),
                estimated: monitor::estimate(&risks, threshold)?,
                validated_auroc: task.auroc,
                validated_prevalence: task.prevalence,
            })
        })
        .collect()
}

/// Each task's risks in the run `after` against those in `before` (batch runs' output
/// directories, merged).
fn score_drift(
    before: &Path,
    after: &Path,
    version: &str,
    tasks: &[inference::deployed::TaskInfo],
    t: &Thresholds,
) -> Result<Vec<Finding>, WatchError> {
    let mut out = Vec::new();
    for task in tasks {
        let (Some(old), Some(new)) =
            (merged_risks(before, version, &task.task), merged_risks(after, version, &task.task))
        else {
            continue;
        };
        if (old.len() as u64) < t.min_values || (new.len() as u64) < t.min_values {
            continue;
        }
        let reference = monitor::Percentiles::of(&old);
        if let Some(f) = monitor::compare(&reference, &new)
            .and_then(|shift| monitor::drift::value_finding(Kind::Scores, Some(&task.task), &shift, t))
        {
            out.push(f);
        }
    }
    Ok(out)
}

/// A version's alerts counted by kind; `any` = 0 when there are none (a gauge that reads 0,
/// not a missing series).
fn alerts_by_kind(v: &Watched) -> std::collections::BTreeMap<String, usize> {
    let mut kinds = std::collections::BTreeMap::new();
    for a in &v.alerts {
        *kinds.entry(format!("{:?}", a.kind)).or_default() += 1;
    }
    if kinds.is_empty() {
        kinds.insert("any".into(), 0);
    }
    kinds
}

/// The report as Prometheus text (for node_exporter's textfile collector or a push gateway).
pub fn prometheus(report: &Report) -> String {
    let mut out = String::new();
    out.push_str("# HELP longitude_monitor_alerts Alerts in the latest check, by version and kind.\n");
    out.push_str("# TYPE longitude_monitor_alerts gauge\n");
    for v in &report.versions {
        let kinds = alerts_by_kind(v);
        for (kind, n) in kinds {
            out.push_str(&format!(
                "longitude_monitor_alerts{{site=\"{}\",version=\"{}\",kind=\"{kind}\"}} {n}\n",
                report.site, v.id
            ));
        }
    }
    out.push_str("# HELP longitude_monitor_suspended Whether the monitor suspended the version in this run.\n");
    out.push_str("# TYPE longitude_monitor_suspended gauge\n");
    for v in &report.versions {
        out.push_str(&format!(
            "longitude_monitor_suspended{{site=\"{}\",version=\"{}\"}} {}\n",
            report.site,
            v.id,
            u8::from(v.suspended.is_some())
        ));
    }
    out
}

/// The report as OpenTelemetry metrics in OTLP/JSON (what an OTLP/HTTP collector accepts at
/// `/v1/metrics`): one gauge of alerts per version and kind.
pub fn otlp_json(report: &Report) -> serde_json::Value {
    let nanos = chrono::DateTime::parse_from_rfc3339(&report.at)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
        .unwrap_or(0)
        .to_string();
    let attr = |k: &str, v: &str| serde_json::json!({ "key": k, "value": { "stringValue": v } });
    let mut points = Vec::new();
    for v in &report.versions {
        let kinds = alerts_by_kind(v);
        for (kind, n) in kinds {
            points.push(serde_json::json!({
                "attributes": [attr("site", &report.site), attr("version", &v.id), attr("kind", &kind)],
                "timeUnixNano": nanos,
                "asInt": n.to_string(),
            }));
        }
    }
    serde_json::json!({
        "resourceMetrics": [{
            "resource": { "attributes": [attr("service.name", "longitude-monitor")] },
            "scopeMetrics": [{
                "scope": { "name": "longitude.monitor", "version": env!("CARGO_PKG_VERSION") },
                "metrics": [{
                    "name": "longitude.monitor.alerts",
                    "description": "Alerts in the latest check, by version and kind.",
                    "unit": "{alert}",
                    "gauge": { "dataPoints": points }
                }]
            }]
        }]
    })
}
