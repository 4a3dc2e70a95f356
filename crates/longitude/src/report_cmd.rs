//! `longitude report`: evaluate every task × method's held-out predictions and write the
//! validation report (HTML + JSON) and the model card (HTI-1 attributes, CHAI export).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use report::card::{CardInfo, chai, model_card};
use report::{MethodResult, Report, TaskResult};

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Predictions by task: `longitude adapt`'s output (<task>/<method>.parquet). Repeat for
    /// each validation setting (internal, temporal, external): each directory's split is read
    /// from its adapt_report.json.
    #[arg(long, required = true)]
    pub adapt: Vec<PathBuf>,
    /// The generator's ground truth: lead times of alerts before the coded diagnosis and the
    /// true onset, for the diagnosis tasks. Synthetic data only.
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// Subjects' sites (parquet: subject_id, site): adds `site` to the fairness audit.
    #[arg(long)]
    pub sites: Option<PathBuf>,
    /// The MEDS dataset the predictions are about (subgroups for the fairness audit).
    #[arg(long)]
    pub meds: PathBuf,
    /// The method the model card describes.
    #[arg(long, default_value = "counts_gbm")]
    pub candidate: String,
    /// Patient-level bootstrap resamples.
    #[arg(long, default_value_t = 1_000)]
    pub resamples: usize,
    /// The chronic-disease tasks (comma-separated), held to the oracle target [default: the
    /// built-in suite's].
    #[arg(long, value_delimiter = ',')]
    pub chronic: Vec<String>,
    /// "What if" comparisons to put before the board (`longitude what-if --out`'s JSON files,
    /// repeatable): the model's effect of each treatment change beside the truth's.
    #[arg(long)]
    pub what_if: Vec<PathBuf>,
    /// Title of the report.
    #[arg(long, default_value = "Longitude validation report")]
    pub title: String,
    /// Output directory: report.html, report.json, model_card.json, chai_model_card.json.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub replace: crate::claim::Replace,
}

/// A `longitude what-if --out` file, as the report shows it.
fn read_what_if(path: &Path) -> Result<report::WhatIf> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let effect = |e: &serde_json::Value| -> Option<report::ChangeEffect> {
        let interval = &e["relative_risk_interval"];
        Some(report::ChangeEffect {
            risk_as_recorded: e["risk_as_recorded"].as_f64()?,
            risk_changed: e["risk_changed"].as_f64()?,
            relative_risk: e["relative_risk"].as_f64(),
            relative_risk_interval: interval["lower"].as_f64().zip(interval["upper"].as_f64()),
        })
    };
    let text_of = |k: &str| v[k].as_str().map(str::to_string);
    let (Some(task), Some(treatment), Some(change), Some(model)) =
        (text_of("task"), text_of("treatment"), text_of("change"), effect(&v["model"]["effect"]))
    else {
        bail!("{}: not a `longitude what-if --out` file (task, treatment, change, model.effect)", path.display());
    };
    Ok(report::WhatIf {
        task,
        treatment,
        change,
        compared: v["compared"].as_u64().unwrap_or(0) as usize,
        model,
        oracle: effect(&v["oracle"]["effect"]),
        correlation: v["oracle"]["correlation_with_model"].as_f64(),
    })
}

/// Method display order: baselines, then the foundation model, then the oracle.
const ORDER: [&str; 8] =
    ["demographics_lr", "counts_lr", "counts_gbm", "meds_tab", "fm_probe", "fm_finetune", "fm_zero_shot", "oracle"];

fn entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    v.sort();
    Ok(v)
}

/// The ground-truth condition behind each built-in diagnosis task.
fn diagnosis_condition(task: &str) -> Option<&'static str> {
    Some(match task {
        "new_t2d_1y" => "diabetes",
        "new_ckd3_1y" => "ckd3",
        "new_heart_failure_1y" => "heart_failure",
        "stroke_in_af_1y" => "stroke",
        "mi_1y" => "myocardial_infarction",
        "colorectal_cancer_1y" => "colorectal_cancer",
        _ => return None,
    })
}

/// The external setting's description, when one of the directories is external.
fn report_external(dirs: &[PathBuf]) -> Option<String> {
    dirs.iter().find_map(|d| {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(d.join("adapt_report.json")).ok()?).ok()?;
        v["_split"]["description"].as_str().filter(|s| s.starts_with("external")).map(str::to_string)
    })
}

/// How the predictions in `OUT/<task>/<method>.parquet` were sampled from the held-out times,
/// when `longitude adapt` scored that method on a case-control sample (`OUT/adapt_report.json`).
pub(crate) fn sample_design_of(predictions: &Path) -> Option<adapt::zero_shot::SampleDesign> {
    let method = predictions.file_stem()?.to_str()?;
    let task_dir = predictions.parent()?;
    let task = task_dir.file_name()?.to_str()?;
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(task_dir.parent()?.join("adapt_report.json")).ok()?).ok()?;
    sample_design(&report, task, method).filter(adapt::zero_shot::SampleDesign::is_case_control)
}

/// How `method`'s predictions for `task` were sampled from the held-out times, when they were
/// The recalibration adapt kept for `method` on `task` (adapt_report.json's `run.methods`), if
/// it tested one.
fn recalibration_kept(adapt_report: &serde_json::Value, task: &str, method: &str) -> Option<report::RecalibrationKept> {
    let methods = adapt_report[task]["run"]["methods"].as_array()?;
    let fitted = methods.iter().find(|m| m["method"] == method)?;
    serde_json::from_value(fitted["recalibration"].clone()).ok()
}

/// (adapt_report.json's `samples`).
fn sample_design(adapt_report: &serde_json::Value, task: &str, method: &str) -> Option<adapt::zero_shot::SampleDesign> {
    serde_json::from_value(adapt_report[task]["samples"][method].clone()).ok()
}

/// `longitude adapt --few-shot`'s curves, if written.
fn read_few_shot(path: &Path) -> Result<Vec<report::FewShot>> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path)?).with_context(|| format!("reading {}", path.display()))?;
    let curves = v.as_array().map(Vec::as_slice).unwrap_or_default();
    Ok(curves
        .iter()
        .map(|c| report::FewShot {
            method: c["method"].as_str().unwrap_or_default().to_string(),
            points: c["points"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|p| (p["k"].as_u64().map(|k| k as usize), p["auroc"].as_f64()))
                .collect(),
        })
        .collect())
}

/// The method every foundation-model method is paired against.
const PAIRED_BASELINE: &str = "counts_gbm";
/// The methods paired against it: the foundation model's, and the oracle (how far above the
/// baseline the best possible model is: the room any model has to beat it).
const PAIRED_CANDIDATES: [&str; 3] = ["fm_probe", "fm_finetune", "oracle"];

/// Each of [`PAIRED_CANDIDATES`] present against [`PAIRED_BASELINE`], on the times both scored.
fn paired_comparisons(
    predictions: &HashMap<String, Vec<meds::labels::BooleanPrediction>>,
    options: &eval::Options,
) -> Vec<report::Comparison> {
    let Some(baseline) = predictions.get(PAIRED_BASELINE) else { return Vec::new() };
    PAIRED_CANDIDATES
        .iter()
        .filter_map(|&candidate| {
            let paired = eval::paired::paired_auroc(
                baseline,
                predictions.get(candidate)?,
                options.resamples,
                options.seed,
                options.level,
            )?;
            Some(report::Comparison { candidate: candidate.into(), baseline: PAIRED_BASELINE.into(), paired })
        })
        .collect()
}

pub fn run(args: &ReportArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let dataset = meds::Dataset::open(&args.meds)?;
    let demographics = eval::attributes::Demographics::read(&dataset, None)?;
    let options = eval::Options { resamples: args.resamples, ..Default::default() };
    let sites = match &args.sites {
        Some(p) => Some(eval::attributes::read_sites(p)?),
        None => None,
    };
    let attributes = |predictions: &[meds::labels::BooleanPrediction]| {
        let mut a = demographics.attributes(predictions);
        if let Some(sites) = &sites {
            a.push(eval::Attribute {
                name: "site".into(),
                values: predictions.iter().map(|p| sites.get(&p.label.subject_id).cloned()).collect(),
            });
        }
        a
    };
    let conditions = match &args.truth {
        Some(dir) => synth::truth::read_conditions(dir)?,
        None => Vec::new(),
    };
    let events = |condition: &str| -> (HashMap<i64, i64>, HashMap<i64, i64>) {
        let rows = conditions.iter().filter(|c| c.condition == condition);
        (
            rows.clone().filter_map(|c| c.diagnosed.map(|d| (c.subject_id, d))).collect(),
            rows.map(|c| (c.subject_id, c.onset)).collect(),
        )
    };
    let mut tasks = Vec::new();
    for adapt_dir in &args.adapt {
        let adapt_report = std::fs::read(adapt_dir.join("adapt_report.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .unwrap_or_default();
        let setting = adapt_report["_split"]["description"]
            .as_str()
            .map_or_else(|| "unspecified: no adapt_report.json beside the predictions".into(), str::to_string);
        for task_dir in entries(adapt_dir)?.into_iter().filter(|p| p.is_dir()) {
            let task = task_dir.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            let mut methods = Vec::new();
            // The predictions the paired comparisons need: the count GBM's and the foundation
            // model's, each scored on every held-out time (not a weighted sample).
            let mut paired_inputs: HashMap<String, Vec<meds::labels::BooleanPrediction>> = HashMap::new();
            for file in entries(&task_dir)?.into_iter().filter(|p| p.extension().is_some_and(|x| x == "parquet")) {
                let method = file.file_stem().and_then(|n| n.to_str()).unwrap_or_default().to_string();
                let predictions = meds::labels::read_boolean_predictions(&file)?;
                if predictions.is_empty() {
                    tracing::warn!(task, method, "no held-out predictions; left out of the report");
                    continue;
                }
                demographics.check_covers(&predictions).with_context(|| {
                    format!("{} against the --meds dataset {}", file.display(), args.meds.display())
                })?;
                let design = sample_design(&adapt_report, &task, &method)
                    .filter(adapt::zero_shot::SampleDesign::is_case_control)
                    .map(|d| predictions.iter().map(|p| d.weight(p.label.value)).collect::<Vec<f64>>());
                let evaluation =
                    eval::evaluate_weighted(&predictions, design.as_deref(), &attributes(&predictions), &options)
                        .with_context(|| format!("evaluating {}", file.display()))?;
                let mut lead_times = Vec::new();
                if let (Some(condition), Some(point)) = (diagnosis_condition(&task), &evaluation.audit_point)
                    && !conditions.is_empty()
                {
                    let (coded, onset) = events(condition);
                    lead_times.push(eval::lead_time(&predictions, &coded, point.threshold, "coded diagnosis"));
                    lead_times.push(eval::lead_time(&predictions, &onset, point.threshold, "true onset"));
                }
                let recalibration = recalibration_kept(&adapt_report, &task, &method);
                if design.is_none() && (method == PAIRED_BASELINE || PAIRED_CANDIDATES.contains(&method.as_str())) {
                    paired_inputs.insert(method.clone(), predictions);
                }
                methods.push(MethodResult { method, evaluation, lead_times, recalibration });
            }
            let comparisons = paired_comparisons(&paired_inputs, &options);
            methods
                .sort_by_key(|m| (ORDER.iter().position(|o| *o == m.method).unwrap_or(ORDER.len()), m.method.clone()));
            if methods.is_empty() {
                continue;
            }
            let description = tasks::suite::task(&task).and_then(|t| t.ok()).and_then(|t| t.config.description);
            let few_shot = read_few_shot(&task_dir.join("few_shot.json"))?;
            let not_run = adapt_report[&task]["not_run"]
                .as_object()
                .map(|o| o.iter().filter_map(|(m, why)| Some((m.clone(), why.as_str()?.to_string()))).collect())
                .unwrap_or_default();
            tasks.push(TaskResult {
                task,
                setting: setting.clone(),
                description,
                methods,
                few_shot,
                not_run,
                comparisons,
            });
        }
    }
    if tasks.is_empty() {
        bail!("no predictions (<task>/<method>.parquet) under the --adapt directories");
    }
    let meta = meds::metadata::DatasetMetadata::read(&args.meds).ok();
    let subjects = demographics.len();
    let dataset_name = meta.map_or_else(|| args.meds.display().to_string(), |m| m.dataset_name.unwrap_or_default());
    let chronic: Vec<&str> = if args.chronic.is_empty() {
        tasks::suite::CHRONIC.to_vec()
    } else {
        args.chronic.iter().map(String::as_str).collect()
    };
    let mut report = Report {
        title: args.title.clone(),
        generated: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        dataset: format!("{dataset_name} ({subjects} subjects)"),
        candidate: args.candidate.clone(),
        external: report_external(&args.adapt),
        tasks,
        targets: Vec::new(),
        what_if: args.what_if.iter().map(|p| read_what_if(p)).collect::<Result<_>>()?,
    };
    report.targets = report::targets::targets(&report, &chronic);
    let card = model_card(&report, &CardInfo::default());
    let inputs: Vec<Option<&std::path::Path>> = args
        .adapt
        .iter()
        .chain(&args.what_if)
        .map(|p| Some(p.as_path()))
        .chain([Some(args.meds.as_path()), args.truth.as_deref(), args.sites.as_deref()])
        .collect();
    let out = crate::claim::claim(&args.out, "report", &inputs, args.replace)?;
    outputs::atomic::write_json(&args.out.join("report.json"), &report)?;
    outputs::atomic::write_json(&args.out.join("model_card.json"), &card)?;
    outputs::atomic::write_json(&args.out.join("chai_model_card.json"), &chai(&card))?;
    let html = report::html::render(&report, &card);
    outputs::atomic::write(&args.out.join("report.html"), outputs::atomic::Access::Shared, html.as_bytes())?;
    out.finish()?;
    outln!("{:<9} {:<24} {:<16} {:>8} {:>24}", "setting", "task", "method", "n", "AUROC [95% CI]");
    for t in &report.tasks {
        let setting = t.setting.split(':').next().unwrap_or_default();
        for m in &t.methods {
            let e = &m.evaluation;
            let ci = e.intervals.auroc.map_or(String::new(), |i| format!(" [{:.3}, {:.3}]", i.lower, i.upper));
            let auroc = e.metrics.auroc.map_or("—".into(), |a| format!("{a:.3}{ci}"));
            outln!("{:<9} {:<24} {:<16} {:>8} {:>24}", setting, t.task, m.method, e.n, auroc);
        }
    }
    outln!("targets (internal split):");
    for t in &report.targets {
        outln!("  {:<13} {} — {}", format!("{:?}", t.status).to_lowercase(), t.asked, t.measured);
    }
    outln!(
        "report.html, report.json, model_card.json, chai_model_card.json in {} ({:.1} s)",
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
