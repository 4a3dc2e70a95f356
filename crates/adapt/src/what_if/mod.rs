//! "What if" comparisons: the same patients' futures generated twice from each prediction time —
//! as recorded, and changed — and the share of each arm in which the task's outcome happens. The
//! change is one of two ([`Change`]):
//!
//! - **start** a treatment at the prediction time (patients not on it): the changed futures begin
//!   with the treatment's code at that instant (given, not sampled: the model reads it as it
//!   reads a recorded prescription), then go on as the model generates them;
//! - **withhold** a treatment (patients on it): the model reads the history without any of its
//!   codes and never generates them — the record of a patient never prescribed it.
//!
//! Both arms draw from the same random streams (the futures of one prediction time depend only on
//! the seed, the subject and the time), so their difference is not the noise of two independent
//! samples. Each arm is read by the task's own ACES windows, as zero-shot risk is
//! ([`crate::zero_shot::judge`]).
//!
//! What the difference means: the model learned what follows a prescription *in the records it
//! was trained on*, where treatments are given for reasons (a statin after a high LDL). Its
//! "effect" is that association, confounding by indication included, not a causal effect. On
//! simulated data the generator's counterfactual oracle (`synth::oracle::risks`) gives the true
//! effect on the same prediction times, so the two can be put side by side.

use std::collections::HashMap;

use meds::labels::BooleanLabel;
use meds::{CodeId, Timeline};
use tasks::Task;

use crate::zero_shot::{Request, Risk, ZeroShot, judge, request};

mod study;
pub use study::{WhatIfPlan, study};

/// What a comparison changes at each prediction time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Start the treatment (its code) at the prediction time.
    Start(CodeId),
    /// Withhold the treatment (every code it is recorded as): the history without them, and
    /// futures that never prescribe it.
    Withhold(Vec<CodeId>),
}

impl Change {
    /// Whether the comparison is about patients already on the treatment (withholding it) rather
    /// than patients not on it (starting it).
    pub fn needs_treated(&self) -> bool {
        matches!(self, Change::Withhold(_))
    }
}

/// Why a comparison cannot be run.
#[derive(Debug, thiserror::Error)]
pub enum WhatIfError {
    /// The model has no token of its own for the treatment: it would read another code.
    #[error(
        "the treatment {code} is not in the model's vocabulary (it would be read as {read_as}): the model \
         cannot be told it was started or withheld"
    )]
    UnknownTreatment {
        /// The treatment's code.
        code: String,
        /// The token the tokenizer falls back to.
        read_as: String,
    },
    /// The task's futures must begin with its trigger event, after the prediction time.
    #[error(
        "the task predicts before its trigger event (its futures begin with that event): a treatment changed \
         at the prediction time cannot come first"
    )]
    PredictsBeforeTrigger,
    /// A study's plan cannot run (names the setting and what to give instead).
    #[error("{0}")]
    Plan(String),
    /// The task has no definition in the label directory's report.
    #[error("{task}: no such task in {labels}/label_report.json")]
    NoSuchTask {
        /// The task.
        task: String,
        /// The label directory.
        labels: std::path::PathBuf,
    },
    /// The model bundle could not be loaded.
    #[error("{path}: {source}")]
    Foundation {
        /// The bundle.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: crate::foundation::FoundationError,
    },
    /// The dataset or the label file.
    #[error(transparent)]
    Meds(#[from] meds::MedsError),
    /// The task definitions behind the labels.
    #[error(transparent)]
    Task(#[from] tasks::TaskError),
    /// The generator's ground truth.
    #[error(transparent)]
    Truth(#[from] synth::SynthError),
}

/// One prediction time, its futures read in both arms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Paired {
    /// The prediction time (and its recorded label).
    pub label: BooleanLabel,
    /// The futures as the record went on.
    pub as_recorded: Risk,
    /// The futures with the change made.
    pub changed: Risk,
}

pub use artifacts::what_if::{Cohort, Effect};

/// The prediction times of `labels` whose subject has a timeline and — as `treated` asks — has
/// (or has none of) `treatment` recorded at or before the prediction time, and the counts of all.
pub fn cohort(
    labels: &[BooleanLabel],
    timelines: &HashMap<i64, &Timeline>,
    treatment: &[CodeId],
    treated: bool,
) -> (Vec<BooleanLabel>, Cohort) {
    let mut counts = Cohort { offered: labels.len(), ..Cohort::default() };
    let mut kept = Vec::with_capacity(labels.len());
    for l in labels {
        let Some(t) = timelines.get(&l.subject_id) else {
            counts.without_timeline += 1;
            continue;
        };
        let upto = t.times.partition_point(|&x| x <= l.prediction_time);
        // Undated events (birth, statics) come first in a timeline and count as before.
        let on = t.codes[..upto].iter().any(|c| treatment.contains(c));
        if on {
            counts.on_treatment += 1;
        } else {
            counts.untreated += 1;
        }
        if on == treated {
            kept.push(*l);
        }
    }
    counts.eligible = kept.len();
    (kept, counts)
}

/// The result of [`ZeroShot::what_if`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Comparison {
    /// The prediction times where both arms settled the label.
    pub compared: Vec<Paired>,
    /// Prediction times where no future of one arm or the other settled the label.
    pub unresolved: usize,
    /// Futures generated per arm and prediction time.
    pub futures: usize,
    /// The compared times' changed futures.
    pub changed_futures: usize,
    /// Of which are changed as the change says (all of them, checked on the decoded events):
    /// beginning with the started treatment at the prediction time, or free of the withheld one.
    pub changed_as_intended: usize,
}

/// `timeline` without the events whose code is in `codes`.
fn without(timeline: &Timeline, codes: &[CodeId]) -> Timeline {
    let mut out = Timeline::with_capacity(timeline.subject_id, timeline.len());
    for e in timeline.events().filter(|e| !codes.contains(&e.code)) {
        out.push(e.time, e.code, e.numeric_value, e.text_value.map(str::to_string));
    }
    out
}

impl ZeroShot<'_> {
    /// Generates the futures of every one of `labels` (a cohort: see [`cohort`]) as recorded and
    /// with `change` made at the prediction time, and reads both with `task`. The as-recorded
    /// futures are the ones [`ZeroShot::predict`] reads for the same times (same seed): a
    /// comparison and a zero-shot run share them. `progress(done, total)` follows generation.
    pub fn what_if(
        &mut self,
        task: &Task,
        labels: &[BooleanLabel],
        change: &Change,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<Comparison, WhatIfError> {
        let tokenizer = self.foundation.parts().0;
        let treatment: &[CodeId] = match change {
            Change::Start(code) => std::slice::from_ref(code),
            Change::Withhold(codes) => codes,
        };
        let names: Vec<String> = treatment.iter().map(|&c| self.codes.name(c).to_string()).collect();
        // Every code must have its own token (withholding: at least one, and only exact tokens
        // are withheld — a parent's token stands for other codes too).
        let exact: Vec<u32> = names
            .iter()
            .filter_map(|n| match tokenizer.lookup(n) {
                (token, tokenizer::Lookup::Exact) => Some(token),
                _ => None,
            })
            .collect();
        if exact.is_empty() || (matches!(change, Change::Start(_)) && exact.len() < names.len()) {
            let name = names.first().cloned().unwrap_or_default();
            let (token, _) = tokenizer.lookup(&name);
            let read_as = tokenizer.token(token).map_or_else(|| token.to_string(), |t| t.name.clone());
            return Err(WhatIfError::UnknownTreatment { code: name, read_as });
        }
        let mut arms = Vec::with_capacity(labels.len());
        for l in labels {
            let Some(t) = self.timelines.get(&l.subject_id) else { continue };
            let plain = request(task, &self.reading, t, l);
            if plain.prompt.is_some() {
                return Err(WhatIfError::PredictsBeforeTrigger);
            }
            arms.push((*l, plain));
        }
        // As recorded, and started treatments (prompts, cached like triggers): the runner's
        // shared futures. Withheld treatments are read from other timelines with other sampling:
        // generated here, not cached.
        let started = |r: &Request| match change {
            Change::Start(code) => Request { prompt: Some((r.time, *code)), ..*r },
            Change::Withhold(_) => *r,
        };
        let shared = arms.iter().flat_map(|(_, r)| match change {
            Change::Start(_) => vec![*r, started(r)],
            Change::Withhold(_) => vec![*r],
        });
        let missing = self.not_generated(shared);
        let (withheld_timelines, withheld_requests): (HashMap<i64, Timeline>, Vec<Request>) = match change {
            Change::Start(_) => (HashMap::new(), Vec::new()),
            Change::Withhold(codes) => (
                arms.iter()
                    .filter_map(|(l, _)| Some((l.subject_id, without(self.timelines.get(&l.subject_id)?, codes))))
                    .collect(),
                arms.iter().map(|(_, r)| *r).collect(),
            ),
        };
        let total = missing.len() + withheld_requests.len();
        self.generate(&missing, |done| progress(done, total));
        let withheld_futures = if withheld_requests.is_empty() {
            HashMap::new()
        } else {
            let options = crate::zero_shot::ZeroShotOptions { withheld_tokens: exact, ..self.options.clone() };
            let mut subjects: Vec<i64> = withheld_requests.iter().map(|r| r.subject_id).collect();
            subjects.sort_unstable();
            subjects.dedup();
            let needed: Vec<&Timeline> = subjects.iter().filter_map(|s| withheld_timelines.get(s)).collect();
            let done_before = missing.len();
            self.foundation
                .futures(&needed, self.codes, &withheld_requests, &options, |done| progress(done_before + done, total))
        };
        let mut out = Comparison { futures: self.options.futures, ..Comparison::default() };
        for (label, plain) in arms {
            let Some(t) = self.timelines.get(&label.subject_id).copied() else { continue };
            let (changed_timeline, changed) = match change {
                Change::Start(_) => (t, self.futures.get(&started(&plain))),
                Change::Withhold(_) => {
                    (withheld_timelines.get(&label.subject_id).unwrap_or(t), withheld_futures.get(&plain))
                }
            };
            let (Some(a), Some(b)) = (self.futures.get(&plain), changed) else {
                out.unresolved += 1;
                continue;
            };
            let as_recorded = judge(task, &self.reading, t, label.prediction_time, a);
            let changed_risk = judge(task, &self.reading, changed_timeline, label.prediction_time, b);
            if as_recorded.resolved == 0 || changed_risk.resolved == 0 {
                out.unresolved += 1;
                continue;
            }
            out.changed_futures += b.len();
            out.changed_as_intended += b
                .iter()
                .filter(|f| match change {
                    Change::Start(_) => {
                        f.events.first().is_some_and(|e| e.code == names[0] && e.time == label.prediction_time)
                    }
                    Change::Withhold(_) => !f.events.iter().any(|e| names.contains(&e.code)),
                })
                .count();
            out.compared.push(Paired { label, as_recorded, changed: changed_risk });
        }
        Ok(out)
    }
}

/// The [`Effect`] of paired risks (`as_recorded[i]` and `changed[i]` at the prediction time of
/// `subjects[i]`), with `resamples` subject-level bootstrap resamples.
pub fn effect(subjects: &[i64], as_recorded: &[f64], changed: &[f64], resamples: usize, seed: u64) -> Effect {
    let n = subjects.len().min(as_recorded.len()).min(changed.len());
    let (subjects, as_recorded, changed) = (&subjects[..n], &as_recorded[..n], &changed[..n]);
    let mean = |x: &[f64]| if x.is_empty() { f64::NAN } else { x.iter().sum::<f64>() / x.len() as f64 };
    let (a, b) = (mean(as_recorded), mean(changed));
    let ratio = |a: f64, b: f64| (a > 0.0).then(|| b / a);
    let (mut differences, mut ratios) = (Vec::new(), Vec::new());
    if n > 0 && resamples > 0 {
        for m in eval::resample_means(subjects, &[as_recorded, changed], resamples, seed) {
            differences.push(Some(m[1] - m[0]));
            ratios.push(ratio(m[0], m[1]));
        }
    }
    Effect {
        prediction_times: n,
        subjects: eval::subject_index(subjects).1,
        risk_as_recorded: a,
        risk_changed: b,
        difference: b - a,
        difference_interval: eval::percentile_interval(&differences, 0.95),
        relative_risk: ratio(a, b),
        relative_risk_interval: eval::percentile_interval(&ratios, 0.95),
    }
}

/// Pearson's correlation of two equally long series (none when either is constant or they are
/// shorter than 3): how well one estimate of per-patient effects follows another.
pub fn correlation(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len().min(y.len());
    if n < 3 {
        return None;
    }
    let (mx, my) = (x[..n].iter().sum::<f64>() / n as f64, y[..n].iter().sum::<f64>() / n as f64);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x[..n].iter().zip(&y[..n]) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(subject_id: i64, prediction_time: i64) -> BooleanLabel {
        BooleanLabel { subject_id, prediction_time, value: false }
    }

    #[test]
    fn the_cohort_takes_the_untreated_or_the_treated_and_counts_every_time() {
        let mut codes = meds::CodeTable::new();
        let (visit, apixaban, warfarin) =
            (codes.intern("CPT4/99213"), codes.intern("RXNORM/1364430"), codes.intern("RXNORM/11289"));
        let mut a = Timeline::new(1);
        a.push(Some(10), visit, None, None);
        a.push(Some(20), warfarin, None, None);
        a.push(Some(30), visit, None, None);
        let mut b = Timeline::new(2);
        b.push(Some(10), visit, None, None);
        b.push(Some(40), apixaban, None, None);
        let timelines: HashMap<i64, &Timeline> = [(1, &a), (2, &b)].into();
        let labels = [label(1, 10), label(1, 20), label(1, 30), label(2, 10), label(2, 39), label(2, 40), label(3, 5)];
        let (untreated, counts) = cohort(&labels, &timelines, &[apixaban, warfarin], false);
        assert_eq!(untreated, vec![label(1, 10), label(2, 10), label(2, 39)]);
        // A prescription at the prediction time itself is already in the record then.
        assert_eq!(counts, Cohort { offered: 7, without_timeline: 1, on_treatment: 3, untreated: 3, eligible: 3 });
        assert_eq!(counts.offered, counts.without_timeline + counts.on_treatment + counts.untreated);
        let (treated, counts) = cohort(&labels, &timelines, &[apixaban, warfarin], true);
        assert_eq!(treated, vec![label(1, 20), label(1, 30), label(2, 40)]);
        assert_eq!(counts.eligible, counts.on_treatment);
        // Withholding reads the history without the treatment's codes, and nothing else.
        let w = without(&a, &[apixaban, warfarin]);
        assert_eq!(w.codes, vec![visit, visit]);
        assert_eq!(w.times, vec![10, 30]);
    }

    #[test]
    fn the_effect_is_the_paired_difference_of_means() {
        let subjects: Vec<i64> = (0..400).map(|i| i / 2).collect();
        let as_recorded: Vec<f64> = (0..400).map(|i| f64::from(i % 10) / 50.0).collect();
        let changed: Vec<f64> = as_recorded.iter().map(|p| p * 0.5).collect();
        let e = effect(&subjects, &as_recorded, &changed, 500, 1);
        assert_eq!((e.prediction_times, e.subjects), (400, 200));
        assert!((e.risk_as_recorded - 0.09).abs() < 1e-12, "{e:?}");
        assert!((e.difference + 0.045).abs() < 1e-12, "{e:?}");
        // Every patient's risk is halved: every resample's ratio is exactly one half.
        let rr = e.relative_risk_interval.expect("interval");
        assert!((e.relative_risk.expect("ratio") - 0.5).abs() < 1e-12);
        assert!((rr.lower - 0.5).abs() < 1e-9 && (rr.upper - 0.5).abs() < 1e-9, "{rr:?}");
        let d = e.difference_interval.expect("interval");
        assert!(d.lower < -0.045 && -0.045 < d.upper && d.upper < 0.0, "{d:?}");
        let none = effect(&[], &[], &[], 100, 1);
        assert_eq!((none.prediction_times, none.relative_risk, none.difference_interval), (0, None, None));
    }

    #[test]
    fn correlation_matches_its_definition() {
        let x = [1.0, 2.0, 3.0, 4.0];
        assert!((correlation(&x, &[2.0, 4.0, 6.0, 8.0]).expect("r") - 1.0).abs() < 1e-12);
        assert!((correlation(&x, &[8.0, 6.0, 4.0, 2.0]).expect("r") + 1.0).abs() < 1e-12);
        // numpy.corrcoef([1, 2, 3, 4], [1, 3, 2, 4])[0, 1] = 0.8
        assert!((correlation(&x, &[1.0, 3.0, 2.0, 4.0]).expect("r") - 0.8).abs() < 1e-12);
        assert_eq!(correlation(&x, &[1.0; 4]), None);
        assert_eq!(correlation(&x[..2], &x[..2]), None);
    }
}
