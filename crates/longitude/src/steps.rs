//! Each pipeline step as the binary runs it: claim its output directory, call the library with
//! progress shown, print the result. Shared by the step's command (which only turns arguments
//! into a plan) and by `demo`, so that no command module imports another.

use std::path::Path;
use std::time::Instant;

use adapt::AdaptPlan;
use adapt::what_if::WhatIfPlan;
use anyhow::Result;
use artifacts::TaskAdaptation;
use artifacts::what_if::{ChangeKind, Effect, WhatIfReport};
use deid::Deidentifier;
use report::ReportPlan;

use crate::progress::Progress;

/// Ingests with progress bars for reading and for de-identifying.
pub fn ingest(options: &ingest::Options, deidentifier: &Deidentifier, progress: &Progress) -> Result<ingest::Summary> {
    let reading = progress.bar("reading", Some(1), "bytes");
    let writing = std::sync::OnceLock::new();
    let summary = ingest::run(options, deidentifier, &|p| match p {
        ingest::Progress::Reading { bytes, total } => {
            reading.set_length(total.max(bytes));
            reading.set_position(bytes);
        }
        ingest::Progress::Writing { done, total } => {
            reading.finish_and_clear();
            writing
                .get_or_init(|| progress.bar("de-identifying", Some(total as u64), "shards"))
                .set_position(done as u64);
        }
    })?;
    reading.finish_and_clear();
    if let Some(bar) = writing.get() {
        bar.finish_and_clear();
    }
    Ok(summary)
}

/// Tokenizes the dataset at `meds` into `out`, claimed for `tokenize` apart from `inputs`.
pub fn tokenize(
    meds: &Path,
    out: &Path,
    config: tokenizer::TokenizerConfig,
    inputs: &[Option<&Path>],
    replace: crate::claim::Replace,
    progress: &Progress,
) -> Result<tokenizer::dataset::TokenizeReport> {
    use anyhow::Context;
    let claimed = crate::claim::claim(out, "tokenize", inputs, replace)?;
    let spinner = progress.bar("tokenizing", None, "");
    let report = tokenizer::dataset::tokenize(meds, out, config)
        .with_context(|| format!("cannot tokenize {}", meds.display()))?;
    spinner.finish_and_clear();
    claimed.finish()?;
    tokenized(&report, out);
    Ok(report)
}

/// A tokenized dataset: the vocabulary and each split's fallbacks.
fn tokenized(report: &tokenizer::dataset::TokenizeReport, out: &Path) {
    if report.without_split > 0 {
        tracing::warn!(subjects = report.without_split, "subjects without a split are left out");
    }
    let fit = &report.fit;
    outln!(
        "fitted on {} train subjects / {} events: {} tokens ({} codes, {} with value bins)",
        fit.subjects,
        fit.events,
        report.vocabulary,
        fit.code_tokens,
        fit.binned_codes
    );
    outln!(
        "{:<10} {:>9} {:>11} {:>11} {:>12} {:>12}",
        "split",
        "subjects",
        "events",
        "tokens",
        "to parent",
        "to unknown"
    );
    for (split, s) in &report.splits {
        outln!(
            "{split:<10} {:>9} {:>11} {:>11} {:>12} {:>12}",
            s.subjects,
            s.events,
            s.tokens,
            s.parent_fallbacks,
            s.unknown_fallbacks.values().sum::<u64>()
        );
    }
    outln!("wrote {}", out.display());
}

/// Pretrains into `out`, claimed for `pretrain` apart from the tokens (or resumed there).
pub fn pretrain(
    plan: &model::pretrain::PretrainPlan,
    out: &Path,
    replace: crate::claim::Replace,
    progress: &Progress,
) -> Result<model::pretrain::PretrainReport> {
    let claimed = if plan.resume {
        outputs::OutputDir::resume(out, "pretrain", std::slice::from_ref(&plan.tokens))?
    } else {
        crate::claim::claim(out, "pretrain", &[Some(&plan.tokens)], replace)?
    };
    let report = pretrain_with_bar(plan, out, progress)?;
    claimed.finish()?;
    pretrained(&report, out);
    Ok(report)
}

/// Runs `plan` into `out` with a progress bar of its steps (the loss and speed on it) and the
/// tuning loss logged at each evaluation.
fn pretrain_with_bar(
    plan: &model::pretrain::PretrainPlan,
    out: &Path,
    progress: &Progress,
) -> Result<model::pretrain::PretrainReport> {
    let bar = progress.bar("pretraining", Some(plan.steps), "steps");
    let mut on_start = |config: &model::pretrain::PretrainConfig, train_subjects: usize| {
        tracing::info!(
            parameters = config.model.parameters(),
            vocabulary = config.model.vocab_size,
            train_subjects,
            "pretraining the {} model",
            plan.preset
        );
    };
    let mut on_step = |m: &model::pretrain::StepMetrics| {
        bar.set_position(m.step);
        bar.set_message(format!("loss {:.3} · {:.0} tok/s", m.train_loss, m.tokens_per_s));
        if let Some(t) = m.tuning_loss {
            tracing::info!(step = m.step, train_loss = m.train_loss, tuning_loss = t, "evaluated");
        }
    };
    let report = model::pretrain::run(plan, out, &mut on_start, &mut on_step)?;
    bar.finish_and_clear();
    Ok(report)
}

/// A pretraining run's outcome.
fn pretrained(report: &model::pretrain::PretrainReport, out: &Path) {
    let summary = &report.summary;
    outln!(
        "{} steps ({} parameters, {:.0} tokens/s on {} threads): tuning loss {:.4} (perplexity {:.2}) vs unigram {:.4}; model bundle in {}",
        summary.steps,
        summary.parameters,
        summary.tokens_per_s,
        report.threads,
        summary.tuning_loss,
        summary.tuning_perplexity,
        summary.unigram_tuning_loss,
        out.join(model::pretrain::BUNDLE_DIR).display()
    );
}

/// Labels the dataset at `meds` with `tasks` into `out`, claimed for `label` apart from `inputs`,
/// printing a row per task.
pub fn label(
    tasks: &[tasks::Task],
    meds: &Path,
    out: &Path,
    inputs: &[Option<&Path>],
    replace: crate::claim::Replace,
) -> Result<tasks::LabelReports> {
    let dataset = meds::Dataset::open(meds)?;
    let claimed = crate::claim::claim(out, "label", inputs, replace)?;
    outln!(
        "{:<26} {:>9} {:>9} {:>8} {:>10} {:>10} {:>7}",
        "task",
        "triggers",
        "labels",
        "pos %",
        "excluded",
        "unresolved",
        "secs"
    );
    let reports = tasks::label_all(tasks, &dataset, out, &mut |task, report, secs| {
        outln!(
            "{:<26} {:>9} {:>9} {:>7.2}% {:>10} {:>10} {:>7.2}",
            task.name(),
            report.triggers,
            report.labels,
            100.0 * report.prevalence(),
            report.excluded.values().sum::<u64>(),
            report.unresolved.values().sum::<u64>(),
            secs
        );
        if !report.unmatched_predicates.is_empty() {
            tracing::warn!(
                task = task.name(),
                predicates = %report.unmatched_predicates.join(", "),
                "predicates match no code in the dataset (a typo, or another vocabulary?): their windows never see an event"
            );
        }
    })?;
    claimed.finish()?;
    outln!("labels and label_report.json in {}", out.display());
    Ok(reports)
}

/// Runs `plan` into `out`, claimed for `adapt` apart from its inputs, printing the table.
pub fn adapt(plan: &AdaptPlan, out: &Path, replace: crate::claim::Replace) -> Result<()> {
    let started = Instant::now();
    let model = plan.foundation.as_ref().map(|f| f.model.as_path());
    let inputs = [
        Some(plan.meds.as_path()),
        Some(plan.labels.as_path()),
        plan.truth.as_deref(),
        model,
        plan.predicates.as_deref(),
        plan.sites.as_deref(),
    ];
    let claimed = crate::claim::claim(out, "adapt", &inputs, replace)?;
    adapt::run(plan, out, &mut AdaptTable::new())?;
    claimed.finish()?;
    outln!("predictions and adapt_report.json in {} ({:.1} s)", out.display(), started.elapsed().as_secs_f64());
    Ok(())
}

/// Adaptation, as it goes: a table row per method as each task is written.
struct AdaptTable;

impl AdaptTable {
    /// Prints the table's header.
    fn new() -> AdaptTable {
        outln!(
            "{:<24} {:>8} {:>8} {:>8} {:>9}  {:<16} {:>8} {:>8}",
            "task",
            "train",
            "tuning",
            "held_out",
            "features",
            "method",
            "tune AUC",
            "secs"
        );
        AdaptTable
    }
}

impl adapt::Observer for AdaptTable {
    fn task_done(&mut self, task: &str, result: &TaskAdaptation) {
        let run = &result.run;
        let count = |split: &str| run.examples.get(split).copied().unwrap_or(0);
        for m in &run.methods {
            outln!(
                "{:<24} {:>8} {:>8} {:>8} {:>9}  {:<16} {:>8} {:>8.1}",
                task,
                count("train"),
                count("tuning"),
                count("held_out"),
                run.features,
                m.method,
                m.tuning_auroc.map_or("—".into(), |a| format!("{a:.3}")),
                m.seconds
            );
        }
    }
}

/// Runs `plan`, prints its summary and writes it to `out` when given.
pub fn what_if(plan: &WhatIfPlan, out: Option<&Path>) -> Result<WhatIfReport> {
    let started = Instant::now();
    let mut last = 0;
    let report = adapt::what_if::study(plan, |done, total| {
        if done >= last + 50 {
            last = done;
            tracing::info!(done, total, secs = started.elapsed().as_secs_f64(), "generating futures");
        }
    })?;
    print_what_if(&report);
    if let Some(out) = out {
        artifacts::write(out, &report)?;
    }
    Ok(report)
}

/// A what-if study: its cohort, and the model's and the truth's effect with intervals.
fn print_what_if(r: &WhatIfReport) {
    let cohort = &r.cohort;
    outln!(
        "{}: {} {} prediction times; {} on the treatment, {} not, {} without a timeline; {} sampled, {} compared, \
         {} unresolved",
        r.task,
        cohort.offered,
        r.split,
        cohort.on_treatment,
        cohort.untreated,
        cohort.without_timeline,
        r.sampled,
        r.compared,
        r.unresolved
    );
    outln!("outcome recorded at {:.2}% of the compared times", 100.0 * r.observed_rate);
    outln!(
        "{:<8} {:>12} {:>12} {:>26} {:>22}",
        "source",
        "as recorded",
        format!("{} {}", if r.change == ChangeKind::Withhold { "−" } else { "+" }, short(&r.treatment)),
        "difference [95% CI]",
        "relative risk [95% CI]"
    );
    let row = |name: &str, e: &Effect| {
        let ci = |i: Option<eval::Interval>, scale: f64, d: usize| {
            i.map_or("—".to_string(), |i| format!("[{:+.*}, {:+.*}]", d, i.lower * scale, d, i.upper * scale))
        };
        let rr = e.relative_risk.map_or("—".to_string(), |r| format!("{r:.2}"));
        outln!(
            "{:<8} {:>11.2}% {:>11.2}% {:>8} pts {:>17} {:>5} {:>16}",
            name,
            100.0 * e.risk_as_recorded,
            100.0 * e.risk_changed,
            format!("{:+.2}", 100.0 * e.difference),
            ci(e.difference_interval, 100.0, 2),
            rr,
            e.relative_risk_interval.map_or("—".to_string(), |i| format!("[{:.2}, {:.2}]", i.lower, i.upper))
        );
    };
    row("model", &r.model.effect);
    if let Some(truth) = r.oracle.compared() {
        row("oracle", &truth.effect);
        outln!(
            "per-time effects, model vs oracle: correlation {}",
            truth.correlation_with_model.map_or("— (one of them is constant)".to_string(), |r| format!("{r:.3}"))
        );
    }
}

/// The part of a code after its vocabulary (`RXNORM/1364430` → `1364430`), for a column header.
fn short(code: &str) -> &str {
    code.rsplit_once('/').map_or(code, |(_, c)| c)
}

/// Builds the report `plan` describes into `out`, claimed for `report` apart from its inputs,
/// and prints its table and targets.
pub fn report(plan: &ReportPlan, out: &Path, replace: crate::claim::Replace) -> Result<()> {
    let started = Instant::now();
    let (report, card) = report::build(plan)?;
    let inputs: Vec<Option<&Path>> = plan
        .adapt
        .iter()
        .chain(&plan.what_if)
        .map(|p| Some(p.as_path()))
        .chain([Some(plan.meds.as_path()), plan.truth.as_deref(), plan.sites.as_deref()])
        .collect();
    let claimed = crate::claim::claim(out, "report", &inputs, replace)?;
    report::write(&report, &card, out)?;
    claimed.finish()?;
    print_report(&report);
    outln!(
        "report.html, report.json, model_card.json, chai_model_card.json in {} ({:.1} s)",
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The validation report: every setting × task × method's AUROC, then the targets.
fn print_report(report: &report::Report) {
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
}
