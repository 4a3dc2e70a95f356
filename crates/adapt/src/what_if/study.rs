//! A whole "what if" study in one call: [`study`] takes a [`WhatIfPlan`] (a task's labels, a
//! model, a treatment to start or withhold), samples the eligible prediction times, generates
//! both arms' futures, estimates the effect with subject-level intervals and — on simulated data
//! — puts the generator's true effect of the same change on the same times beside it, as a
//! [`WhatIfReport`].

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use artifacts::what_if::{ChangeKind, ModelArms, OracleComparison, TruthArms, WhatIfReport, WhatIfRow};
use meds::labels::BooleanLabel;
use rayon::prelude::*;

use super::{Change, WhatIfError, cohort, correlation, effect};
use crate::foundation::Foundation;
use crate::zero_shot::{ZeroShot, ZeroShotOptions};

/// The splits a study may draw its prediction times from.
pub const SPLITS: [&str; 4] = ["train", "tuning", "held_out", "all"];

/// What to compare, on what.
#[derive(Debug, Clone)]
pub struct WhatIfPlan {
    /// The MEDS dataset the labels are about.
    pub meds: PathBuf,
    /// The label directory (`<task>.parquet` and `label_report.json`).
    pub labels: PathBuf,
    /// The task whose outcome is compared.
    pub task: String,
    /// The model bundle.
    pub model: PathBuf,
    /// The treatment's code.
    pub treatment: String,
    /// Started (patients not on it) or withheld (patients on it).
    pub change: ChangeKind,
    /// The codes that count as being on the treatment [empty: the treatment; with `truth`, every
    /// agent of its simulated drug class too].
    pub treated_by: Vec<String>,
    /// Whose prediction times: one of [`SPLITS`].
    pub split: String,
    /// At most this many eligible prediction times (a seeded sample).
    pub max: usize,
    /// Futures per arm and prediction time.
    pub futures: usize,
    /// Each future stops this many days after the prediction time.
    pub days: i64,
    /// Each future stops after this many tokens.
    pub tokens: usize,
    /// Seed of the sample and of the futures.
    pub seed: u64,
    /// The generator's ground truth: adds the true effect (simulated data only).
    pub truth: Option<PathBuf>,
    /// How many futures the oracle draws per prediction time (both arms share them).
    pub oracle: synth::oracle::Precision,
    /// The predicates file the labels were made with.
    pub predicates: Option<PathBuf>,
    /// Subject-level bootstrap resamples for the intervals.
    pub resamples: usize,
}

/// The oracle's risks of one prediction time, as the simulator would have gone on and with the
/// change made (NaN where it has no answer).
struct OracleArms {
    as_recorded: f64,
    changed: f64,
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// Runs the study `plan` describes; `progress(done, total)` as futures are generated.
pub fn study(plan: &WhatIfPlan, mut progress: impl FnMut(usize, usize)) -> Result<WhatIfReport, WhatIfError> {
    let started = Instant::now();
    if !SPLITS.contains(&plan.split.as_str()) {
        return Err(WhatIfError::Plan(format!(
            "the split must be train, tuning, held_out or all, not `{}`",
            plan.split
        )));
    }
    if plan.futures == 0 {
        return Err(WhatIfError::Plan("at least one future per arm is needed".into()));
    }
    let withhold = plan.change == ChangeKind::Withhold;
    let drug = synth::oracle::drug_of(&plan.treatment);
    let oracle = match &plan.truth {
        None => None,
        Some(dir) => {
            let Some((drug, _)) = &drug else {
                return Err(WhatIfError::Plan(format!(
                    "--truth: {} is not an agent of any drug class the generator prescribes, so the oracle has no \
                     counterfactual for it",
                    plan.treatment
                )));
            };
            let Some(outcome) = synth::oracle::outcome_of(&plan.task) else {
                return Err(WhatIfError::Plan(format!("--truth: {}: {}", plan.task, synth::oracle::NO_ORACLE)));
            };
            Some((synth::oracle::load_truth(dir)?, *drug, outcome))
        }
    };
    let mut treated_by = plan.treated_by.clone();
    if treated_by.is_empty() {
        treated_by.push(plan.treatment.clone());
        if let (Some(_), Some((_, agents))) = (&oracle, &drug) {
            treated_by.extend(agents.iter().map(|a| a.to_string()).filter(|a| *a != plan.treatment));
        }
    }

    let definitions = tasks::LabelReports::read(&plan.labels)?.definitions(plan.predicates.as_deref())?;
    let Some(task) = definitions.get(&plan.task) else {
        return Err(WhatIfError::NoSuchTask { task: plan.task.clone(), labels: plan.labels.clone() });
    };
    let labels = meds::labels::read_boolean_labels(&plan.labels.join(format!("{}.parquet", plan.task)))?;
    let meds::SplitTimelines { mut codes, timelines, split_of } = meds::read_with_splits(&plan.meds)?;
    // The treatment may never have been recorded in this dataset: the model may still know it.
    let treatment = codes.intern(&plan.treatment);
    let treated_ids: Vec<meds::CodeId> = treated_by.iter().map(|c| codes.intern(c)).collect();
    let change = if withhold { Change::Withhold(treated_ids.clone()) } else { Change::Start(treatment) };
    let foundation =
        Foundation::load(&plan.model).map_err(|source| WhatIfError::Foundation { path: plan.model.clone(), source })?;

    let in_split: Vec<BooleanLabel> = labels
        .into_iter()
        .filter(|l| plan.split == "all" || split_of.get(&l.subject_id).is_some_and(|s| *s == plan.split))
        .collect();
    let by_subject: HashMap<i64, &meds::Timeline> = timelines.iter().map(|t| (t.subject_id, t)).collect();
    let (eligible, cohort) = cohort(&in_split, &by_subject, &treated_ids, change.needs_treated());
    let sampled = crate::zero_shot::sample(&eligible, plan.max, plan.seed);
    tracing::info!(
        task = plan.task,
        offered = cohort.offered,
        eligible = cohort.eligible,
        sampled = sampled.len(),
        "what-if cohort"
    );

    let options = ZeroShotOptions {
        futures: plan.futures,
        value_draws: 1,
        redraw_bins: false,
        horizon_days: plan.days,
        max_new_tokens: plan.tokens,
        temperature: 1.0,
        seed: plan.seed,
        withheld_tokens: Vec::new(),
    };
    let mut runner = ZeroShot::new(&foundation, &timelines, &codes, options);
    let comparison = runner.what_if(task, &sampled, &change, &mut progress)?;
    let compared = &comparison.compared;
    let subjects: Vec<i64> = compared.iter().map(|p| p.label.subject_id).collect();
    let model_a: Vec<f64> = compared.iter().map(|p| p.as_recorded.probability()).collect();
    let model_b: Vec<f64> = compared.iter().map(|p| p.changed.probability()).collect();
    let model_effect = effect(&subjects, &model_a, &model_b, plan.resamples, plan.seed);
    let observed = compared.iter().filter(|p| p.label.value).count() as f64 / compared.len().max(1) as f64;

    let oracle_arms: Option<Vec<OracleArms>> =
        oracle.as_ref().map(|((config, synth_codes), drug, (outcome, horizon))| {
            let intervention =
                if withhold { synth::Intervention::Withhold(*drug) } else { synth::Intervention::Start(*drug) };
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
                        let r = synth::oracle::risks_with(config, synth_codes, &q, &arms, plan.oracle);
                        OracleArms { as_recorded: r[0], changed: r[1] }
                    }
                    None => OracleArms { as_recorded: f64::NAN, changed: f64::NAN },
                })
                .collect()
        });
    let oracle_side = match (&oracle, &oracle_arms) {
        (Some((_, drug, _)), Some(arms)) => {
            // Subjects the generator did not make (or stays it has no course for) have no answer.
            let answered: Vec<usize> =
                (0..arms.len()).filter(|&i| arms[i].as_recorded.is_finite() && arms[i].changed.is_finite()).collect();
            let pick = |f: &dyn Fn(usize) -> f64| answered.iter().map(|&i| f(i)).collect::<Vec<f64>>();
            let (a, b) = (pick(&|i| arms[i].as_recorded), pick(&|i| arms[i].changed));
            let s: Vec<i64> = answered.iter().map(|&i| subjects[i]).collect();
            let truth = effect(&s, &a, &b, plan.resamples, plan.seed);
            let model_d = pick(&|i| model_b[i] - model_a[i]);
            let truth_d: Vec<f64> = b.iter().zip(&a).map(|(b, a)| b - a).collect();
            OracleComparison::Compared(TruthArms {
                drug_class: drug.name().to_string(),
                intervention: if withhold {
                    "withhold the drug class from the prediction time on (common random numbers across arms)"
                } else {
                    "start the drug class at the prediction time (common random numbers across arms)"
                }
                .to_string(),
                first_futures: plan.oracle.samples,
                max_futures: plan.oracle.max_samples,
                answered: answered.len(),
                effect: truth,
                correlation_with_model: correlation(&model_d, &truth_d),
            })
        }
        _ => OracleComparison::NotRun {
            not_run: "no ground truth (--truth): the oracle exists for simulated data only".into(),
        },
    };
    let rows = compared
        .iter()
        .enumerate()
        .map(|(i, p)| WhatIfRow {
            subject_id: p.label.subject_id,
            prediction_time: p.label.prediction_time,
            boolean_value: p.label.value,
            model_as_recorded: model_a[i],
            model_changed: model_b[i],
            model_futures_settled: [p.as_recorded.resolved, p.changed.resolved],
            oracle_as_recorded: oracle_arms.as_ref().and_then(|a| finite(a[i].as_recorded)),
            oracle_changed: oracle_arms.as_ref().and_then(|a| finite(a[i].changed)),
        })
        .collect();
    Ok(WhatIfReport {
        task: plan.task.clone(),
        treatment: plan.treatment.clone(),
        change: plan.change,
        treated_by,
        split: plan.split.clone(),
        seed: plan.seed,
        model_bundle: plan.model.clone(),
        cohort,
        sampled: sampled.len(),
        unresolved: comparison.unresolved,
        compared: compared.len(),
        observed_rate: observed,
        model: ModelArms {
            futures_per_arm: comparison.futures,
            changed_futures: comparison.changed_futures,
            changed_as_intended: comparison.changed_as_intended,
            horizon_days: plan.days,
            max_new_tokens: plan.tokens,
            effect: model_effect,
        },
        oracle: oracle_side,
        seconds: started.elapsed().as_secs_f64(),
        rows,
    })
}
