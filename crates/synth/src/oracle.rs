//! The oracle: the probability of an outcome under the simulator's own hidden state.
//!
//! Given a patient, a prediction time and an outcome with a horizon, the oracle replays the
//! patient's recorded history exactly up to the start of the month holding the prediction time,
//! then draws independent futures (Monte Carlo continuation: each future uses its own random
//! streams from that month on; how many, [`Precision`] says) and reports the share in which the
//! outcome happens in `(at, at + horizon]`. No model can do better on average, so its AUROC on
//! a task is the ceiling the evaluation reports. The oracle knows the hidden state as of the start of the prediction
//! month: events of that month before the prediction time are re-drawn, not replayed.
//!
//! The same machinery answers counterfactuals with common random numbers: the futures with and
//! without an intervention share every draw, so the difference of the two risks is the patient's
//! true treatment effect on the outcome.

use meds::CodeTable;
use rayon::prelude::*;

use crate::calendar::{DAY, HOUR, YEAR};
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
    /// Death during the hospital stay admitted at the query time (`horizon` unused).
    InHospitalDeath,
    /// The hospital stay admitted at the query time is still going `days` after admission
    /// (neither discharge nor death by then; `horizon` unused).
    StayLongerThan {
        /// Days after admission.
        days: u32,
    },
    /// The potassium drawn one second after the query time is recorded at or above this many
    /// tenths of a mmol/L (`horizon` unused).
    PotassiumAtLeast {
        /// The threshold in tenths of a mmol/L (55 for 5.5).
        tenths: u32,
    },
    /// An inpatient admission within `horizon` after the hospital discharge at the query time
    /// (see [`readmission_risk`]).
    Readmission,
}

impl Outcome {
    /// Whether the outcome is settled within the course of one recorded event — a hospital stay
    /// or a lab draw — whose hidden parameters the oracle reads directly (see [`course_risk`]).
    pub fn within_recorded_course(self) -> bool {
        matches!(self, Self::InHospitalDeath | Self::StayLongerThan { .. } | Self::PotassiumAtLeast { .. })
    }
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
        // Answered by `course_risk` and `readmission_risk`, never by re-drawn futures alone.
        Outcome::InHospitalDeath
        | Outcome::StayLongerThan { .. }
        | Outcome::PotassiumAtLeast { .. }
        | Outcome::Readmission => false,
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
        Outcome::InHospitalDeath
        | Outcome::StayLongerThan { .. }
        | Outcome::PotassiumAtLeast { .. }
        | Outcome::Readmission => false,
    }
}

/// `Φ(x)`, the standard normal distribution function (Abramowitz and Stegun 7.1.26 for erf;
/// absolute error below 1.5 · 10⁻⁷).
fn normal_cdf(x: f64) -> f64 {
    let z = x.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * z);
    let poly =
        t * (0.254_829_592 + t * (-0.284_496_736 + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-z * z).exp();
    if x >= 0.0 { 0.5 * (1.0 + erf) } else { 0.5 * (1.0 - erf) }
}

/// The probability that a stay drawn from `stay` lasts more than `x` days (its length is
/// log-normal around the median, clamped to 1–40 days).
fn stay_exceeds(stay: &crate::simulate::Stay, x: f64) -> f64 {
    use crate::simulate::{LOS_DAYS, LOS_SIGMA};
    if x >= LOS_DAYS.1 {
        0.0
    } else if x < LOS_DAYS.0 {
        1.0
    } else {
        1.0 - normal_cdf((x / stay.mean_los_days).ln() / LOS_SIGMA)
    }
}

/// The oracle for outcomes settled inside one recorded event's course
/// ([`Outcome::within_recorded_course`]): the exact probability under the simulator, computed
/// from the hidden parameters the recorded world drew that course from — no Monte Carlo, since
/// the month re-drawn by [`risks`] would not contain the stay or the draw the task predicts
/// from. `None` when the patient has no such stay or draw at the query time, or for another
/// outcome.
///
/// - In-hospital death: the stay's fatality, less the one draw in sixty that puts the death at
///   the admission minute itself (outside a window that starts after admission).
/// - A stay longer than `d` days: survivors' stays by the log-normal length; for deaths, the
///   death falls at `u/60` of the stay, so it counts when the stay exceeds `60·d/u`.
/// - Potassium at or above a threshold: the recorded value is the true level plus N(0, 0.3²),
///   rounded to 0.1, so it reaches the threshold when the unrounded value reaches it less 0.05.
///
/// Not modelled: the recording noise of the generator's mess model (a value lost or duplicated
/// by the pipeline), which shifts a few labels the oracle cannot see.
pub fn course_risk(config: &SynthConfig, codes: &CodeTable, q: &Query) -> Option<f64> {
    if !q.outcome.within_recorded_course() {
        return None;
    }
    let p = crate::simulate::simulate_patient(config, codes, q.patient);
    let stay = || p.truth.stays.iter().find(|s| s.admitted == q.at);
    match q.outcome {
        Outcome::InHospitalDeath => stay().map(|s| s.fatality * 59.0 / 60.0),
        Outcome::StayLongerThan { days } => stay().map(|s| {
            let d = f64::from(days);
            let died: f64 = (1..60).map(|u| stay_exceeds(s, 60.0 * d / f64::from(u))).sum::<f64>() / 60.0;
            (1.0 - s.fatality) * stay_exceeds(s, d) + s.fatality * died
        }),
        Outcome::PotassiumAtLeast { tenths } => {
            let threshold = f64::from(tenths) / 10.0 - 0.05;
            p.truth
                .potassium
                .iter()
                .filter(|(t, _)| *t == q.at + 1_000_000)
                .map(|(_, level)| 1.0 - normal_cdf((threshold - level) / crate::simulate::POTASSIUM_SD))
                .reduce(f64::max)
        }
        _ => None,
    }
}

/// How many futures the oracle re-draws for one query.
///
/// A share of `n` futures cannot tell apart risks below about `1/n`: at 128 futures, 36% of the
/// suite's 1-year-mortality prediction times read 0 of 128 — tied with each other, though 0.8% of
/// those patients died — and the oracle's AUROC fell below the count GBM's (0.749 vs 0.776; 0.803
/// at 1,024 futures, docs/benchmarks/validation.md). So the oracle draws `samples` futures, then,
/// while fewer than `hits` of them showed the outcome, as many again as it has drawn (doubling),
/// up to `max_samples` in all. A common risk stops at `samples`; a rare one is drawn until it is
/// resolved or the cap is reached. The share is of every future drawn; stopping on the count
/// raises it by at most about `1/(hits − 1)` of itself (as inverse binomial sampling does), a
/// quarter of its standard error at 16 hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Precision {
    /// Futures drawn first.
    pub samples: u32,
    /// Futures drawn at most.
    pub max_samples: u32,
    /// Outcomes seen after which no more futures are drawn.
    pub hits: u32,
}

impl Precision {
    /// Exactly `samples` futures.
    pub fn fixed(samples: u32) -> Self {
        Self { samples, max_samples: samples, hits: 0 }
    }

    /// `samples` futures first, up to `max_samples` until [`RESOLVING_HITS`] outcomes are seen.
    pub fn adaptive(samples: u32, max_samples: u32) -> Self {
        Self { samples, max_samples: max_samples.max(samples), hits: RESOLVING_HITS }
    }
}

/// The outcomes [`Precision::adaptive`] draws futures until it has seen: a share's relative
/// standard error is then about 1/√16 = 25%, enough to rank rare risks against one another.
pub const RESOLVING_HITS: u32 = 16;

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
    risks_with(config, codes, q, arms, Precision::fixed(samples))
}

/// [`risks`] with the futures drawn as `precision` says (the arms share every future: more are
/// drawn while any arm has fewer than `precision.hits` outcomes).
pub fn risks_with(
    config: &SynthConfig,
    codes: &CodeTable,
    q: &Query,
    arms: &[Option<Intervention>],
    precision: Precision,
) -> Vec<f64> {
    if q.outcome.within_recorded_course() {
        // The course was drawn at admission or at the draw; a treatment started at the query
        // time does not change it.
        return vec![course_risk(config, codes, q).unwrap_or(f64::NAN); arms.len()];
    }
    if q.outcome == Outcome::Readmission {
        return readmission_risks(config, codes, q, arms, precision);
    }
    let (history, alive, branch) = replay(config, codes, q.patient, month_of(q.at));
    if !alive || history.truth().death.is_some_and(|d| d <= q.at) {
        return vec![0.0; arms.len()];
    }
    let span = (branch, month_of(q.at + q.horizon) + 1);
    share_of_futures(&history, arms, q.at, span, precision, |future| {
        happened(future, codes, q.outcome, q.at, q.at + q.horizon)
    })
}

/// The recorded world (replica 0) replayed from the patient's first month up to, not including,
/// month `branch`; whether the patient is still alive then; and the month futures branch at
/// (`branch`, or the first month if that is later).
fn replay<'a>(config: &'a SynthConfig, codes: &'a CodeTable, patient: u64, branch: i64) -> (Ctx<'a>, bool, i64) {
    let mut history = Ctx::new(config, codes, patient);
    let (first, _) = history.begin();
    let branch = branch.max(first);
    for m in first..branch {
        if !history.step_month(m, 0) {
            return (history, false, branch);
        }
    }
    (history, true, branch)
}

/// For each arm (an intervention at `at`, or none), the share of the futures of `history` —
/// months `span.0..span.1` drawn afresh, replica by replica, the arms sharing their random
/// streams — in which `hit` holds; as many futures as `precision` says. Replicas are numbered
/// from 1 in the order drawn, so the first `precision.samples` are the same whatever the cap.
fn share_of_futures(
    history: &Ctx<'_>,
    arms: &[Option<Intervention>],
    at: i64,
    (branch, stop): (i64, i64),
    precision: Precision,
    hit: impl Fn(&Ctx<'_>) -> bool + Sync,
) -> Vec<f64> {
    let count = |arm: &Option<Intervention>, replicas: std::ops::RangeInclusive<u64>| -> u32 {
        replicas
            .into_par_iter()
            .map(|replica| {
                let mut future = history.clone();
                future.occurrences.clear();
                if let Some(intervention) = arm {
                    future.intervene(at, *intervention);
                }
                for m in branch..stop {
                    if !future.step_month(m, replica) {
                        break;
                    }
                }
                u32::from(hit(&future))
            })
            .sum()
    };
    let mut hits = vec![0u32; arms.len()];
    let mut drawn = 0u32;
    let mut round = precision.samples;
    while round > 0 {
        let replicas = u64::from(drawn) + 1..=u64::from(drawn) + u64::from(round);
        for (h, arm) in hits.iter_mut().zip(arms) {
            *h += count(arm, replicas.clone());
        }
        drawn += round;
        let resolved = hits.iter().all(|&h| h >= precision.hits);
        round = if resolved { 0 } else { drawn.min(precision.max_samples.saturating_sub(drawn)) };
    }
    hits.iter().map(|&h| f64::from(h) / f64::from(drawn.max(1))).collect()
}

/// The probability that the readmission a stay's discharge may schedule falls within `horizon`
/// of the discharge at `discharged`, given that one is scheduled: its whole-day delay `k`
/// ([`READMIT_DAYS`](crate::simulate::READMIT_DAYS)) puts it on a day, and the admission then
/// draws `u` more days and `h` hours from that day's start, so it lands at
/// `floor_day(discharged) + (k + u) days + h hours`. Counted exactly over the uniform grid.
pub fn scheduled_readmission_within(discharged: i64, horizon: i64) -> f64 {
    use crate::simulate::{ADMISSION_DAYS, ADMISSION_HOURS, READMIT_DAYS};
    let day_start = discharged - discharged.rem_euclid(DAY);
    let (mut inside, mut all) = (0u64, 0u64);
    for k in READMIT_DAYS {
        for u in ADMISSION_DAYS {
            for h in ADMISSION_HOURS {
                let at = day_start + (k + u) * DAY + h * HOUR;
                all += 1;
                inside += u64::from(at > discharged && at <= discharged + horizon);
            }
        }
    }
    inside as f64 / all.max(1) as f64
}

/// The oracle of [`Outcome::Readmission`] for each arm; `NaN` when no stay of the patient was
/// discharged alive at the query time.
///
/// A readmission within the horizon comes two ways in the simulator. The stay's own course
/// schedules one with its [`Stay::readmission`](crate::Stay) probability, whose timing is
/// uniform ([`scheduled_readmission_within`]): that part is exact. Any other admission (a new MI,
/// an exacerbation, sepsis…) comes from the month-by-month hazards: those are re-drawn as
/// `samples` futures branching at the month after the discharge's — the recorded world's month
/// of the discharge is replayed, its scheduled readmission forgotten, and only stays the futures
/// draw count. The month of the discharge itself holds no second acute admission (one per month),
/// so its remainder adds nothing. The two ways are treated as independent:
/// `1 − (1 − scheduled)(1 − other)`. Not modelled: a background admission that pre-empts the
/// scheduled one (the stay is then already counted), and the mess model's recording noise.
fn readmission_risks(
    config: &SynthConfig,
    codes: &CodeTable,
    q: &Query,
    arms: &[Option<Intervention>],
    precision: Precision,
) -> Vec<f64> {
    // The discharge's month replayed holds the stay (admitted then or before).
    let (mut history, alive, branch) = replay(config, codes, q.patient, month_of(q.at) + 1);
    let Some(stay) = history.truth().stays.iter().find(|s| s.ended == q.at && !s.died) else {
        return vec![f64::NAN; arms.len()];
    };
    let scheduled = stay.readmission * scheduled_readmission_within(q.at, q.horizon);
    if !alive {
        // Died by the end of the discharge's month: nothing more to re-draw.
        return vec![scheduled; arms.len()];
    }
    history.forget_readmission(q.at);
    let drawn_before = history.truth().stays.len();
    let span = (branch, month_of(q.at + q.horizon) + 1);
    share_of_futures(&history, arms, q.at, span, precision, |future| {
        let stays = &future.truth().stays[drawn_before.min(future.truth().stays.len())..];
        stays.iter().any(|s| s.admitted > q.at && s.admitted <= q.at + q.horizon)
    })
    .into_iter()
    .map(|other| 1.0 - (1.0 - scheduled) * (1.0 - other))
    .collect()
}

/// The oracle risk of `q`'s outcome: [`course_risk`] for outcomes inside one recorded course
/// (`NaN` when the patient has no stay or draw at that time), else `samples` re-drawn futures.
pub fn risk(config: &SynthConfig, codes: &CodeTable, q: &Query, samples: u32) -> f64 {
    risks(config, codes, q, &[None], samples)[0]
}

/// [`risk`] with the futures drawn as `precision` says.
pub fn risk_with(config: &SynthConfig, codes: &CodeTable, q: &Query, precision: Precision) -> f64 {
    risks_with(config, codes, q, &[None], precision)[0]
}

/// A one-year horizon, the usual one for the built-in tasks.
pub const ONE_YEAR: i64 = YEAR;

// The built-in task suite, as the oracle answers it: which simulated outcome each task's label
// stands for, which drug class a treatment code starts, and the generator's configuration that
// patients are replayed from.

/// The generator's configuration (`longitude synth`'s OUT/truth/config.json) and its code table:
/// what the oracle replays patients from.
pub fn load_truth(truth: &std::path::Path) -> Result<(SynthConfig, CodeTable), crate::SynthError> {
    let path = truth.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|e| crate::SynthError::io(&path, e))?;
    let config: SynthConfig = serde_json::from_str(&text)
        .map_err(|e| crate::SynthError::Config(format!("{}: not a generator configuration: {e}", path.display())))?;
    Ok((config, crate::vocab::code_table()))
}

/// The simulator's outcome behind each built-in task, and its horizon: the label's own codes
/// recorded in the horizon (so the oracle is the ceiling for the label as coded, rule-out and
/// miscoded entries included); for tasks settled inside one hospital stay or lab draw, that
/// course's own outcome; for 30-day readmission, the discharge's scheduled readmission and the
/// re-drawn other admissions ([`Outcome::Readmission`]).
pub fn outcome_of(task: &str) -> Option<(Outcome, i64)> {
    use Outcome::{InHospitalDeath, PotassiumAtLeast, Readmission, Recorded, StayLongerThan};
    const THIRTY_DAYS: i64 = 30 * 86_400_000_000;
    Some(match task {
        "inhospital_mortality" => (InHospitalDeath, ONE_YEAR),
        "long_los_7d" => (StayLongerThan { days: 7 }, ONE_YEAR),
        "hyperkalemia_next_lab" => (PotassiumAtLeast { tenths: 55 }, ONE_YEAR),
        "readmission_30d" => (Readmission, THIRTY_DAYS),
        "new_t2d_1y" => (Recorded(&["ICD10CM/E11"]), ONE_YEAR),
        "new_ckd3_1y" => (Recorded(&["ICD10CM/N18.3", "ICD10CM/N18.4", "ICD10CM/N18.5", "ICD10CM/N18.6"]), ONE_YEAR),
        "new_heart_failure_1y" => (Recorded(&["ICD10CM/I50"]), ONE_YEAR),
        "stroke_in_af_1y" => (Recorded(&["ICD10CM/I63"]), ONE_YEAR),
        "mi_1y" => (Recorded(&["ICD10CM/I21", "ICD10CM/I22"]), ONE_YEAR),
        "colorectal_cancer_1y" => (Recorded(&["ICD10CM/C18", "ICD10CM/C19", "ICD10CM/C20"]), ONE_YEAR),
        "mortality_1y" => (Recorded(&["MEDS_DEATH"]), ONE_YEAR),
        _ => return None,
    })
}

/// Why a task without an [`outcome_of`] has no oracle answer.
pub const NO_ORACLE: &str = "the simulator's oracle answers the built-in suite's tasks: this task is not one \
     of them, so which simulated outcome its label stands for is unknown";

/// The simulated drug class whose agent `code` is (`RXNORM/1364430`, apixaban: anticoagulation),
/// and the codes of every agent of that class.
pub fn drug_of(code: &str) -> Option<(crate::Drug, Vec<&'static str>)> {
    crate::Drug::ALL.into_iter().find_map(|d| {
        let agents = [d.code(false).0, d.code(true).0];
        agents.contains(&code).then(|| {
            let mut codes = agents.to_vec();
            codes.dedup();
            (d, codes)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drug_class_is_found_by_either_agent() {
        let (drug, agents) = drug_of("RXNORM/11289").expect("warfarin");
        assert_eq!(drug, crate::Drug::Anticoagulant);
        assert_eq!(agents, vec!["RXNORM/1364430", "RXNORM/11289"]);
        assert_eq!(drug_of("RXNORM/83367").map(|(d, a)| (d, a.len())), Some((crate::Drug::Statin, 1)));
        assert!(drug_of("ICD10CM/I48").is_none());
    }
}
