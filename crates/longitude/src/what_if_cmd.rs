//! `longitude what-if`: the foundation model's futures of a task's patients as recorded and with a
//! treatment started (or withheld) at the prediction time, the outcome's risk in each, and — on
//! simulated data — the generator's true effect of the same change on the same prediction times.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use adapt::what_if::{Effect, correlation, effect};
use anyhow::{Context, Result, bail};
use clap::Args;
use rayon::prelude::*;
use serde_json::json;

#[derive(Debug, Clone, Args)]
pub struct WhatIfArgs {
    /// The MEDS dataset the labels are about.
    #[arg(long)]
    pub meds: PathBuf,
    /// `longitude label`'s output directory (<task>.parquet and label_report.json).
    #[arg(long)]
    pub labels: PathBuf,
    /// The task whose outcome is compared (a label file's stem, e.g. stroke_in_af_1y).
    #[arg(long)]
    pub task: String,
    /// The pretrained model bundle (`longitude pretrain`'s OUT/model).
    #[arg(long)]
    pub model: PathBuf,
    /// The treatment's code, started at every prediction time of patients not on it (e.g.
    /// RXNORM/1364430, apixaban). It must have its own token in the model's vocabulary.
    #[arg(long)]
    pub treatment: String,
    /// Withhold the treatment instead, from patients on it: the model reads their history
    /// without any of its codes (--treated-by) and never generates them.
    #[arg(long)]
    pub withhold: bool,
    /// The codes the treatment is recorded as: a record of any at or before a prediction time
    /// means the patient is on it [default: the treatment; with --truth, every agent of its
    /// simulated drug class too].
    #[arg(long, value_delimiter = ',')]
    pub treated_by: Vec<String>,
    /// Whose prediction times: `train`, `tuning`, `held_out` or `all`.
    #[arg(long, default_value = "held_out")]
    pub split: String,
    /// At most this many eligible prediction times (a seeded sample).
    #[arg(long, default_value_t = 200)]
    pub max: usize,
    /// Futures per arm and prediction time.
    #[arg(long, default_value_t = 32)]
    pub futures: usize,
    /// Each future stops this many days after the prediction time (at least the task's label
    /// window: a shorter future cannot settle a negative).
    #[arg(long, default_value_t = 366)]
    pub days: i64,
    /// Each future stops after this many tokens.
    #[arg(long, default_value_t = 192)]
    pub tokens: usize,
    /// Seed (the sample of prediction times and the futures' random streams).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The generator's ground truth (`longitude synth`'s OUT/truth): adds the oracle's true
    /// effect on the same prediction times (the treatment must be a simulated drug's agent).
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// Futures the oracle draws first per prediction time (both arms share them).
    #[arg(long, default_value_t = 64)]
    pub oracle_samples: u32,
    /// Futures the oracle draws at most, while either arm has seen fewer than 16 outcomes.
    #[arg(long, default_value_t = 1024)]
    pub oracle_max_samples: u32,
    /// The predicates file the labels were made with (`longitude label --predicates`).
    #[arg(long)]
    pub predicates: Option<PathBuf>,
    /// Subject-level bootstrap resamples for the intervals.
    #[arg(long, default_value_t = 1000)]
    pub resamples: usize,
    /// Write the comparison (cohort, both estimates, every prediction time's risks) as JSON.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// The oracle's risks of one prediction time, as the simulator would have gone on and with the
/// change made.
struct OracleArms {
    as_recorded: f64,
    changed: f64,
}

pub fn run(args: &WhatIfArgs) -> Result<ExitCode> {
    let started = Instant::now();
    if !["train", "tuning", "held_out", "all"].contains(&args.split.as_str()) {
        bail!("--split must be train, tuning, held_out or all, not `{}`", args.split);
    }
    if args.futures == 0 {
        bail!("--futures must be at least 1");
    }
    let drug = synth::oracle::drug_of(&args.treatment);
    let oracle = match &args.truth {
        None => None,
        Some(dir) => {
            let Some((drug, _)) = &drug else {
                bail!(
                    "--truth: {} is not an agent of any drug class the generator prescribes, so the oracle has no \
                     counterfactual for it",
                    args.treatment
                );
            };
            let Some(outcome) = synth::oracle::outcome_of(&args.task) else {
                bail!("--truth: {}: {}", args.task, synth::oracle::NO_ORACLE);
            };
            Some((synth::oracle::load_truth(dir)?, *drug, outcome))
        }
    };
    let mut treated_by = args.treated_by.clone();
    if treated_by.is_empty() {
        treated_by.push(args.treatment.clone());
        if let (Some(_), Some((_, agents))) = (&oracle, &drug) {
            treated_by.extend(agents.iter().map(|a| a.to_string()).filter(|a| *a != args.treatment));
        }
    }

    let definitions = crate::adapt_cmd::task_definitions(&args.labels, args.predicates.as_deref())?;
    let Some(task) = definitions.get(&args.task) else {
        bail!("{}: no such task in {}/label_report.json", args.task, args.labels.display());
    };
    let labels_path = args.labels.join(format!("{}.parquet", args.task));
    let labels = meds::labels::read_boolean_labels(&labels_path)
        .with_context(|| format!("reading {}", labels_path.display()))?;
    let (mut codes, timelines, split_of) = crate::tokenize_cmd::read_with_splits(&args.meds)?;
    // The treatment may never have been recorded in this dataset: the model may still know it.
    let treatment = codes.intern(&args.treatment);
    let treated_ids: Vec<meds::CodeId> = treated_by.iter().map(|c| codes.intern(c)).collect();
    let change = if args.withhold {
        adapt::what_if::Change::Withhold(treated_ids.clone())
    } else {
        adapt::what_if::Change::Start(treatment)
    };
    let foundation = adapt::foundation::Foundation::load(&args.model)
        .with_context(|| format!("loading {}", args.model.display()))?;

    let in_split: Vec<meds::labels::BooleanLabel> = labels
        .into_iter()
        .filter(|l| args.split == "all" || split_of.get(&l.subject_id).is_some_and(|s| *s == args.split))
        .collect();
    let by_subject: HashMap<i64, &meds::Timeline> = timelines.iter().map(|t| (t.subject_id, t)).collect();
    let (eligible, cohort) = adapt::what_if::cohort(&in_split, &by_subject, &treated_ids, change.needs_treated());
    let sampled = adapt::zero_shot::sample(&eligible, args.max, args.seed);
    tracing::info!(
        task = args.task,
        offered = cohort.offered,
        eligible = cohort.eligible,
        sampled = sampled.len(),
        "what-if cohort"
    );

    let options = adapt::zero_shot::ZeroShotOptions {
        futures: args.futures,
        value_draws: 1,
        redraw_bins: false,
        horizon_days: args.days,
        max_new_tokens: args.tokens,
        temperature: 1.0,
        seed: args.seed,
        withheld_tokens: Vec::new(),
    };
    let mut runner = adapt::zero_shot::ZeroShot::new(&foundation, &timelines, &codes, options);
    let mut last = 0;
    let comparison = runner.what_if(task, &sampled, &change, |done, total| {
        if done >= last + 50 {
            last = done;
            tracing::info!(done, total, secs = started.elapsed().as_secs_f64(), "generating futures");
        }
    })?;
    let compared = &comparison.compared;
    let subjects: Vec<i64> = compared.iter().map(|p| p.label.subject_id).collect();
    let model_a: Vec<f64> = compared.iter().map(|p| p.as_recorded.probability()).collect();
    let model_b: Vec<f64> = compared.iter().map(|p| p.changed.probability()).collect();
    let model_effect = effect(&subjects, &model_a, &model_b, args.resamples, args.seed);
    let observed = compared.iter().filter(|p| p.label.value).count() as f64 / compared.len().max(1) as f64;

    let oracle_arms: Option<Vec<OracleArms>> =
        oracle.as_ref().map(|((config, synth_codes), drug, (outcome, horizon))| {
            let precision = synth::oracle::Precision::adaptive(args.oracle_samples, args.oracle_max_samples);
            let intervention =
                if args.withhold { synth::Intervention::Withhold(*drug) } else { synth::Intervention::Start(*drug) };
            let arms = [None, Some(intervention)];
            compared
                .par_iter()
                .map(|p| match synth::oracle::patient_index(p.label.subject_id) {
                    Some(patient) => {
                        let q = synth::oracle::Query {
                            patient,
                            at: p.label.prediction_time,
                            horizon: *horizon,
                            outcome: *outcome,
                        };
                        let r = synth::oracle::risks_with(config, synth_codes, &q, &arms, precision);
                        OracleArms { as_recorded: r[0], changed: r[1] }
                    }
                    None => OracleArms { as_recorded: f64::NAN, changed: f64::NAN },
                })
                .collect()
        });
    let oracle_summary = oracle_arms.as_ref().map(|arms| {
        // Subjects the generator did not make (or stays it has no course for) have no answer.
        let answered: Vec<usize> =
            (0..arms.len()).filter(|&i| arms[i].as_recorded.is_finite() && arms[i].changed.is_finite()).collect();
        let pick = |f: &dyn Fn(usize) -> f64| answered.iter().map(|&i| f(i)).collect::<Vec<f64>>();
        let (a, b) = (pick(&|i| arms[i].as_recorded), pick(&|i| arms[i].changed));
        let s: Vec<i64> = answered.iter().map(|&i| subjects[i]).collect();
        let truth = effect(&s, &a, &b, args.resamples, args.seed);
        let model_d = pick(&|i| model_b[i] - model_a[i]);
        let truth_d: Vec<f64> = b.iter().zip(&a).map(|(b, a)| b - a).collect();
        (truth, correlation(&model_d, &truth_d), answered.len())
    });

    print_summary(args, &cohort, &comparison, sampled.len(), observed, &model_effect, oracle_summary.as_ref());
    if let Some(out) = &args.out {
        let rows: Vec<serde_json::Value> = compared
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let mut row = json!({
                    "subject_id": p.label.subject_id,
                    "prediction_time": p.label.prediction_time,
                    "boolean_value": p.label.value,
                    "model_as_recorded": model_a[i],
                    "model_changed": model_b[i],
                    "model_futures_settled": [p.as_recorded.resolved, p.changed.resolved],
                });
                if let Some(arms) = &oracle_arms {
                    row["oracle_as_recorded"] = json!(finite(arms[i].as_recorded));
                    row["oracle_changed"] = json!(finite(arms[i].changed));
                }
                row
            })
            .collect();
        let oracle_json = match (&oracle, &oracle_summary) {
            (Some((_, drug, _)), Some((truth, r, answered))) => json!({
                "drug_class": drug.name(),
                "intervention": if args.withhold {
                    "withhold the drug class from the prediction time on (common random numbers across arms)"
                } else {
                    "start the drug class at the prediction time (common random numbers across arms)"
                },
                "first_futures": args.oracle_samples,
                "max_futures": args.oracle_max_samples,
                "answered": answered,
                "effect": truth,
                "correlation_with_model": r,
            }),
            _ => json!({ "not_run": "no ground truth (--truth): the oracle exists for simulated data only" }),
        };
        let report = json!({
            "task": args.task,
            "treatment": args.treatment,
            "change": if args.withhold { "withhold" } else { "start" },
            "treated_by": treated_by,
            "split": args.split,
            "seed": args.seed,
            "model_bundle": args.model,
            "cohort": cohort,
            "sampled": sampled.len(),
            "unresolved": comparison.unresolved,
            "compared": compared.len(),
            "observed_rate": observed,
            "model": {
                "futures_per_arm": comparison.futures,
                "changed_futures": comparison.changed_futures,
                "changed_as_intended": comparison.changed_as_intended,
                "horizon_days": args.days,
                "max_new_tokens": args.tokens,
                "effect": model_effect,
            },
            "oracle": oracle_json,
            "seconds": started.elapsed().as_secs_f64(),
            "rows": rows,
        });
        outputs::atomic::write_json(out, &report)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

fn print_summary(
    args: &WhatIfArgs,
    cohort: &adapt::what_if::Cohort,
    comparison: &adapt::what_if::Comparison,
    sampled: usize,
    observed: f64,
    model: &Effect,
    oracle: Option<&(Effect, Option<f64>, usize)>,
) {
    outln!(
        "{}: {} {} prediction times; {} on the treatment, {} not, {} without a timeline; {} sampled, {} compared, \
         {} unresolved",
        args.task,
        cohort.offered,
        args.split,
        cohort.on_treatment,
        cohort.untreated,
        cohort.without_timeline,
        sampled,
        comparison.compared.len(),
        comparison.unresolved
    );
    outln!("outcome recorded at {:.2}% of the compared times", 100.0 * observed);
    outln!(
        "{:<8} {:>12} {:>12} {:>26} {:>22}",
        "source",
        "as recorded",
        format!("{} {}", if args.withhold { "−" } else { "+" }, short(&args.treatment)),
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
    row("model", model);
    if let Some((truth, r, _)) = oracle {
        row("oracle", truth);
        outln!(
            "per-time effects, model vs oracle: correlation {}",
            r.map_or("— (one of them is constant)".to_string(), |r| format!("{r:.3}"))
        );
    }
}

/// The part of a code after its vocabulary (`RXNORM/1364430` → `1364430`), for a column header.
fn short(code: &str) -> &str {
    code.rsplit_once('/').map_or(code, |(_, c)| c)
}
