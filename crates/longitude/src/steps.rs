//! Each pipeline step as the binary runs it: claim its output directory, call the library with
//! progress shown, print the result. Shared by the step's command (which only turns arguments
//! into a plan) and by `demo`, so that no command module imports another.

use std::path::Path;
use std::time::Instant;

use adapt::AdaptPlan;
use adapt::what_if::WhatIfPlan;
use anyhow::Result;
use artifacts::TaskAdaptation;
use artifacts::what_if::WhatIfReport;
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
    inputs: &[&Path],
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
    if report.without_split > 0 {
        tracing::warn!(subjects = report.without_split, "subjects without a split are left out");
    }
    outln!("{report}\nwrote {}", out.display());
    Ok(report)
}

/// Pretrains into `out`, claimed for `pretrain` apart from the tokens (or resumed there), with a
/// progress bar of its steps (the loss and speed on it) and the tuning loss logged at each
/// evaluation.
pub fn pretrain(
    plan: &model::pretrain::PretrainPlan,
    out: &Path,
    replace: crate::claim::Replace,
    progress: &Progress,
) -> Result<model::pretrain::PretrainReport> {
    let claimed = if plan.resume {
        outputs::OutputDir::resume(out, "pretrain", std::slice::from_ref(&plan.tokens))?
    } else {
        crate::claim::claim(out, "pretrain", &[&plan.tokens], replace)?
    };
    let bar = progress.bar("pretraining", Some(plan.steps), "steps");
    let mut on_start = |config: &model::pretrain::PretrainConfig, train_subjects: usize| {
        let (parameters, vocabulary) = (config.model.parameters(), config.model.vocab_size);
        tracing::info!(parameters, vocabulary, train_subjects, "pretraining the {} model", plan.preset);
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
    claimed.finish()?;
    outln!("{report}; model bundle in {}", out.join(model::pretrain::BUNDLE_DIR).display());
    Ok(report)
}

/// Labels the dataset at `meds` with `tasks` into `out`, claimed for `label` apart from `inputs`,
/// printing a row per task.
pub fn label(
    tasks: &[tasks::Task],
    meds: &Path,
    out: &Path,
    inputs: &[&Path],
    replace: crate::claim::Replace,
) -> Result<tasks::LabelReports> {
    let dataset = meds::Dataset::open(meds)?;
    let claimed = crate::claim::claim(out, "label", inputs, replace)?;
    outln!("{}", tasks::LabelReport::table_header());
    let reports = tasks::label_all(tasks, &dataset, out, &mut |task, report, secs| {
        outln!("{}", report.table_row(secs));
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
    plan.check()?;
    let claimed = crate::claim::claim(out, "adapt", &plan.inputs(), replace)?;
    outln!("{}", TaskAdaptation::table_header());
    adapt::run(plan, out, &mut AdaptTable)?;
    claimed.finish()?;
    outln!("predictions and adapt_report.json in {} ({:.1} s)", out.display(), started.elapsed().as_secs_f64());
    Ok(())
}

/// Adaptation, as it goes: a table row per method as each task is written.
struct AdaptTable;

impl adapt::Observer for AdaptTable {
    fn task_done(&mut self, task: &str, result: &TaskAdaptation) {
        for row in result.table_rows(task) {
            outln!("{row}");
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
    outln!("{report}");
    if let Some(out) = out {
        artifacts::write(out, &report)?;
    }
    Ok(report)
}

/// Builds the report `plan` describes into `out`, claimed for `report` apart from its inputs,
/// and prints its table and targets.
pub fn report(plan: &ReportPlan, out: &Path, replace: crate::claim::Replace) -> Result<()> {
    let started = Instant::now();
    let (report, card) = report::build(plan)?;
    let claimed = crate::claim::claim(out, "report", &plan.inputs(), replace)?;
    report::write(&report, &card, out)?;
    claimed.finish()?;
    outln!("{report}");
    outln!(
        "report.html, report.json, model_card.json, chai_model_card.json in {} ({:.1} s)",
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
