//! The oracle: the probability of an outcome under the simulator's own hidden state.
//!
//! Given a patient, a prediction time and an outcome with a horizon, the oracle replays the
//! patient's recorded history exactly up to the start of the month holding the prediction time,
//! then draws `samples` independent futures (Monte Carlo continuation: each future uses its own
//! random streams from that month on) and reports the share in which the outcome happens in
//! `(at, at + horizon]`. No model can do better on average, so its AUROC on a task is the ceiling
//! the evaluation reports. The oracle knows the hidden state as of the start of the prediction
//! month: events of that month before the prediction time are re-drawn, not replayed.
//!
//! The same machinery answers counterfactuals with common random numbers: the futures with and
//! without an intervention share every draw, so the difference of the two risks is the patient's
//! true treatment effect on the outcome.

use meds::CodeTable;
use rayon::prelude::*;

use crate::calendar::YEAR;
use crate::conditions::Condition;
use crate::config::SynthConfig;
use crate::simulate::{Ctx, Intervention};

/// What the oracle is asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The condition truly begins (chronic) or occurs (acute: MI, stroke, sepsis, GI bleed).
    Onset(Condition),
    /// The condition's code is first recorded.
    Diagnosis(Condition),
    /// Death.
    Death,
    /// A code starting with one of these prefixes is recorded (e.g. `ICD10CM/E11`): the outcome exactly as
    /// a coded-diagnosis task labels it, rule-out and miscoded entries included, so the oracle is
    /// the ceiling for that label rather than for the true onset.
    Recorded(&'static [&'static str]),
}

/// One oracle question.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Query {
    /// The patient's index in the population (subject_id − 1,000,000).
    pub patient: u64,
    /// The prediction time (µs since the epoch).
    pub at: i64,
    /// The horizon after `at` (µs).
    pub horizon: i64,
    /// The outcome.
    pub outcome: Outcome,
}

/// The index of the patient with MEDS `subject_id`, if it is one the generator makes.
pub fn patient_index(subject_id: i64) -> Option<u64> {
    u64::try_from(subject_id.checked_sub(1_000_000)?).ok()
}

const BASE_YEAR: i32 = 2000;

fn month_of(t: i64) -> i64 {
    let (y, m, _) = crate::calendar::ymd(t);
    i64::from(y - BASE_YEAR) * 12 + i64::from(m) - 1
}

fn happened(future: &Ctx, codes: &CodeTable, outcome: Outcome, from: i64, to: i64) -> bool {
    let truth = future.truth();
    let occurrences = &future.occurrences;
    let inside = |t: i64| t > from && t <= to;
    match outcome {
        Outcome::Recorded(prefixes) => {
            let r = future.recorded();
            (0..r.len()).any(|i| inside(r.times[i]) && prefixes.iter().any(|p| codes.name(r.codes[i]).starts_with(p)))
        }
        Outcome::Onset(c) if !c.chronic() => occurrences.iter().any(|(k, t)| *k == c && inside(*t)),
        Outcome::Onset(c) => truth.onset[c.index()].is_some_and(inside),
        Outcome::Diagnosis(c) => truth.diagnosed[c.index()].is_some_and(inside),
        Outcome::Death => truth.death.is_some_and(inside),
    }
}

/// Whether the outcome already happened by `at` in the recorded world (such prediction times are
/// usually excluded by a task's criteria: "new diabetes" needs no diabetes before).
pub fn already(config: &SynthConfig, codes: &CodeTable, q: &Query) -> bool {
    let p = crate::simulate::simulate_patient(config, codes, q.patient);
    match q.outcome {
        Outcome::Onset(c) => p.truth.onset[c.index()].is_some_and(|t| t <= q.at),
        Outcome::Diagnosis(c) => p.truth.diagnosed[c.index()].is_some_and(|t| t <= q.at),
        Outcome::Death => p.truth.death.is_some_and(|t| t <= q.at),
        Outcome::Recorded(prefixes) => (0..p.timeline.len()).any(|i| {
            p.timeline.times[i] <= q.at && prefixes.iter().any(|x| codes.name(p.timeline.codes[i]).starts_with(x))
        }),
    }
}

/// The oracle's risks for one query: for each intervention arm (`None` = as the simulator would
/// have gone on), the share of `samples` futures in which the outcome happens. All arms share
/// their random streams (common random numbers).
pub fn risks(
    config: &SynthConfig,
    codes: &CodeTable,
    q: &Query,
    arms: &[Option<Intervention>],
    samples: u32,
) -> Vec<f64> {
    let branch = month_of(q.at);
    let stop = month_of(q.at + q.horizon) + 1;
    let mut history = Ctx::new(config, codes, q.patient);
    let (first, _) = history.begin();
    let mut alive = true;
    for m in first..branch.max(first) {
        if !history.step_month(m, 0) {
            alive = false;
            break;
        }
    }
    if !alive || history.truth().death.is_some_and(|d| d <= q.at) {
        return vec![0.0; arms.len()];
    }
    arms.iter()
        .map(|arm| {
            let hits: u32 = (1..=u64::from(samples))
                .into_par_iter()
                .map(|replica| {
                    let mut future = history.clone();
                    future.occurrences.clear();
                    if let Some(intervention) = arm {
                        future.intervene(q.at, *intervention);
                    }
                    for m in branch.max(first)..stop {
                        if !future.step_month(m, replica) {
                            break;
                        }
                    }
                    u32::from(happened(&future, codes, q.outcome, q.at, q.at + q.horizon))
                })
                .sum();
            f64::from(hits) / f64::from(samples.max(1))
        })
        .collect()
}

/// The oracle risk of `q`'s outcome.
pub fn risk(config: &SynthConfig, codes: &CodeTable, q: &Query, samples: u32) -> f64 {
    risks(config, codes, q, &[None], samples)[0]
}

/// A one-year horizon, the usual one for the built-in tasks.
pub const ONE_YEAR: i64 = YEAR;
