//! Zero-shot risk from generated futures, as ETHOS and CoMET estimate it: sample many futures of
//! the patient from the prediction time with the pretrained model, read each future with the
//! task itself, and report the share in which the outcome happens.
//!
//! Reading a future "with the task itself" means the task's ACES windows judge the patient's
//! history up to the prediction time followed by the generated events — the same code that
//! labelled the real data, so a generated diagnosis counts exactly when a recorded one would.
//! A future that stops early cannot vouch for a negative: it counts only when it is positive,
//! or when it reached the end of the task's label window (the generation horizon, or a death).
//! Futures are generated once per (subject, prediction time) and shared by every task that
//! predicts there (the chronic tasks all predict at the same wellness visits).

use std::collections::HashMap;
use std::sync::Mutex;

use meds::labels::{BooleanLabel, BooleanPrediction};
use meds::{CodeTable, Timeline};
use model::generation::{End, Prompt, Sampling};
use tasks::Task;
use tokenizer::DecodedEvent;

use crate::foundation::Foundation;

/// Futures advanced together per model call: several prediction times' futures share a batch
/// (about 4 MB of cache each for `small`).
const BATCH_ROWS: usize = 64;

/// The code of the marker placed long after every future, so the task sees a record that
/// continues (follow-up constraints hold) with nothing more of interest. Whether the future
/// really covers a label window is decided by [`Future::covered_until`], not by the marker.
pub const FUTURE_END_CODE: &str = "LONGITUDE//FUTURE_END";

/// A day in µs.
const DAY: i64 = 86_400_000_000;

/// How far after a future's last event its end marker goes (a century).
const MARKER_AFTER: i64 = 36_525 * DAY;

/// How futures are sampled.
#[derive(Debug, Clone, PartialEq)]
pub struct ZeroShotOptions {
    /// Futures per prediction time.
    pub futures: usize,
    /// Each generated future is read this many times, its value bins decoded with a fresh draw
    /// from the bin's train values each time ([`tokenizer::Tokenizer::decode_sampled`]; the bins
    /// themselves are redrawn too, see `redraw_bins`); the risk is the share over every reading.
    /// A threshold inside a bin (potassium ≥ 5.5 in the top decile) is crossed by a few percent
    /// of one bin's values: with one reading, ten futures almost never show it and the risk is a
    /// constant; with many, the risk follows how often the model generates the bin. 1: one reading.
    pub value_draws: usize,
    /// Readings after the first redraw each value bin from the model's probabilities where it
    /// generated it ([`tokenizer::Tokenizer::decode_resampled`]) before drawing the value, so a
    /// bin the model gives a few percent (potassium above 5.5) counts with that weight rather
    /// than only in the futures that happened to sample it. Off: every reading keeps the sampled
    /// bins and redraws only the value within them.
    pub redraw_bins: bool,
    /// Each future stops once its clock passes this many days.
    pub horizon_days: i64,
    /// Each future stops after this many tokens (the context keeps the rest of the window).
    pub max_new_tokens: usize,
    /// Sampling temperature.
    pub temperature: f32,
    /// Seed: the futures of one prediction time depend only on it, the subject and the time.
    pub seed: u64,
    /// Tokens never generated (a treatment withheld in a "what if" comparison; empty otherwise).
    pub withheld_tokens: Vec<u32>,
}

impl Default for ZeroShotOptions {
    fn default() -> Self {
        Self {
            futures: 16,
            value_draws: 1,
            redraw_bins: true,
            horizon_days: 366,
            max_new_tokens: 192,
            temperature: 1.0,
            seed: 0,
            withheld_tokens: Vec::new(),
        }
    }
}

/// One generated future.
#[derive(Debug, Clone, PartialEq)]
pub struct Future {
    /// The events, timed (µs), all after the prediction time.
    pub events: Vec<DecodedEvent>,
    /// Why it stopped.
    pub end: End,
    /// The time up to which it says what happened: the horizon, forever after a death, or the
    /// clock where it ran out of tokens.
    pub covered_until: i64,
    /// The readings it stands for ([`ZeroShotOptions::value_draws`]): 1 for one reading of a
    /// future with values; all of them for a future without, which reads the same every time.
    pub readings: u32,
}

/// Where futures start: a subject's prediction time, and — for a task that predicts before its
/// trigger — the trigger event the future must begin with (its time and code; its value is the
/// model's to generate). A lab being drawn is known when its result is predicted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Request {
    /// The subject.
    pub subject_id: i64,
    /// The prediction time (µs).
    pub time: i64,
    /// The given trigger event: its time (after `time`) and code.
    pub prompt: Option<(i64, meds::CodeId)>,
}

/// The request for one label of `task`: plain, or prompted with the trigger event when the
/// label's trigger comes after its prediction time and the trigger is a plain code predicate.
pub fn request(task: &Task, codes: &Mutex<CodeTable>, timeline: &Timeline, label: &BooleanLabel) -> Request {
    let plain = Request { subject_id: label.subject_id, time: label.prediction_time, prompt: None };
    let Some(trigger) = task.trigger_of(codes, timeline, label.prediction_time) else { return plain };
    if trigger <= label.prediction_time {
        return plain;
    }
    let table = codes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let from = timeline.times.partition_point(|&t| t < trigger);
    let to = timeline.times.partition_point(|&t| t <= trigger);
    let code = (from..to).map(|i| timeline.codes[i]).find(|&c| task.code_triggers(table.name(c)));
    Request { prompt: code.map(|c| (trigger, c)), ..plain }
}

/// A zero-shot estimate at one prediction time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Risk {
    /// Futures with the outcome.
    pub positives: u32,
    /// Futures that settle the label (positive, or negative through the label window).
    pub resolved: u32,
    /// Futures drawn.
    pub drawn: u32,
}

impl Risk {
    /// The share of settling futures with the outcome (0 when none settles).
    pub fn probability(&self) -> f64 {
        if self.resolved == 0 { 0.0 } else { f64::from(self.positives) / f64::from(self.resolved) }
    }
}

/// SplitMix64's finaliser: a fixed, well-mixed 64-bit permutation.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A stable hash of a prediction time (the same on every machine and Rust release), for
/// samples that coincide across tasks and futures that depend only on where they start.
pub(crate) fn key_hash(seed: u64, subject: i64, time: i64) -> u64 {
    mix(mix(mix(seed) ^ subject as u64) ^ time as u64)
}

/// At most `max` of `labels`, chosen by a seeded hash of (subject, prediction time) — so tasks
/// that predict at the same times sample the same times and share their futures.
pub fn sample(labels: &[BooleanLabel], max: usize, seed: u64) -> Vec<BooleanLabel> {
    let mut keyed: Vec<(u64, BooleanLabel)> =
        labels.iter().map(|l| (key_hash(seed, l.subject_id, l.prediction_time), *l)).collect();
    if keyed.len() > max {
        keyed.select_nth_unstable_by_key(max, |(h, _)| *h);
        keyed.truncate(max);
    }
    let mut out: Vec<BooleanLabel> = keyed.into_iter().map(|(_, l)| l).collect();
    out.sort_by_key(|l| (l.subject_id, l.prediction_time));
    out
}

pub use artifacts::adapt_report::ZeroShotSummary;
pub use artifacts::samples::SampleDesign;

/// A case-control sample of at most `max` of `labels`: every positive up to half of `max`, then
/// negatives to fill it, each class chosen by the seeded hash of [`sample`] (so tasks that share
/// prediction times share their sampled negatives and their futures). With fewer than `max`
/// labels, all of them. The [`SampleDesign`] says how to weight the sample back.
pub fn case_control_sample(labels: &[BooleanLabel], max: usize, seed: u64) -> (Vec<BooleanLabel>, SampleDesign) {
    let (positives, negatives): (Vec<BooleanLabel>, Vec<BooleanLabel>) = labels.iter().partition(|l| l.value);
    let keep_positives = positives.len().min(max / 2);
    let keep_negatives = negatives.len().min(max - keep_positives);
    let keep_positives = positives.len().min(max - keep_negatives);
    let mut out = sample(&positives, keep_positives, seed);
    out.extend(sample(&negatives, keep_negatives, seed));
    out.sort_by_key(|l| (l.subject_id, l.prediction_time));
    let design = SampleDesign {
        population_positives: positives.len(),
        population_negatives: negatives.len(),
        sampled_positives: keep_positives,
        sampled_negatives: keep_negatives,
    };
    (out, design)
}

impl Foundation {
    /// Generates `options.futures` futures for each request whose subject has a timeline, each
    /// read `options.value_draws` times (so that many `Future`s per generated one). `progress`
    /// gets the number of requests done.
    pub fn futures(
        &self,
        timelines: &[&Timeline],
        codes: &CodeTable,
        requests: &[Request],
        options: &ZeroShotOptions,
        mut progress: impl FnMut(usize),
    ) -> HashMap<Request, Vec<Future>> {
        let mut wanted: HashMap<i64, Vec<Request>> = HashMap::new();
        for r in requests {
            wanted.entry(r.subject_id).or_default().push(*r);
        }
        let (tokenizer, model, config) = self.parts();
        let max_seq_len = config.max_seq_len;
        let max_new_tokens = options.max_new_tokens.min(max_seq_len / 2).max(1);
        let budget = max_seq_len - max_new_tokens;
        let horizon = options.horizon_days.saturating_mul(DAY);
        let device = Default::default();
        let mut encoder = tokenizer.encoder(codes);
        // Every request's context first; then batches of contexts of similar length, so one
        // model call advances the futures of several prediction times.
        let mut prompts = Vec::with_capacity(requests.len());
        for t in timelines {
            let Some(these) = wanted.get_mut(&t.subject_id) else { continue };
            these.sort_unstable();
            these.dedup();
            let encoded = encoder.encode(t);
            for r in these.iter() {
                // A prompted future starts after the given trigger event: the history up to the
                // prediction time plus that event (no value), encoded as the data would be.
                let (context, start, given) = match r.prompt {
                    None => (model::embedding::context(&encoded, tokenizer, r.time, budget), r.time, None),
                    Some((at, code)) => {
                        let keep = t.times.partition_point(|&x| x <= r.time);
                        let mut prompted = Timeline::with_capacity(t.subject_id, keep + 1);
                        for i in 0..keep {
                            if let Some(e) = t.event(i) {
                                prompted.push(e.time, e.code, e.numeric_value, None);
                            }
                        }
                        prompted.push(Some(at), code, None, None);
                        let context = model::embedding::context(&encoder.encode(&prompted), tokenizer, at, budget);
                        let last = context.tokens.last().copied();
                        (context, at, last)
                    }
                };
                prompts.push((*r, context, start, given));
            }
        }
        prompts.sort_by_key(|(r, context, ..)| (context.len(), *r));
        let sampling = Sampling {
            temperature: options.temperature,
            top_k: 0,
            max_new_tokens,
            horizon: Some(horizon),
            seed: options.seed,
            max_seq_len,
            withheld: options.withheld_tokens.clone(),
        };
        let per_batch = (BATCH_ROWS / options.futures.max(1)).max(1);
        let mut out = HashMap::with_capacity(requests.len());
        for group in prompts.chunks(per_batch) {
            let batch: Vec<Prompt> = group
                .iter()
                .map(|(r, context, start, _)| Prompt {
                    context,
                    start: *start,
                    futures: options.futures,
                    seed: key_hash(options.seed, r.subject_id, r.time),
                })
                .collect();
            let generated = model::generation::generate_batch(model, tokenizer, &batch, &sampling, &device);
            for ((r, _, start, given), drawn) in group.iter().zip(generated) {
                let (start, given) = (*start, *given);
                let draws = options.value_draws.max(1) as u64;
                // A future without a value reads the same every time: it is read once and stands
                // for all its readings.
                let futures = drawn
                    .iter()
                    .flat_map(|tr| {
                        let valued = tr.tokens.iter().any(|&k| tokenizer.bin_of(k).is_some());
                        let (copies, readings) = if valued { (draws, 1) } else { (1, draws as u32) };
                        (0..copies).map(move |d| (tr, d, readings))
                    })
                    .map(|(tr, d, readings)| {
                        let clock = tokenizer.elapsed(&tr.tokens);
                        let covered_until = match tr.end {
                            End::Death => i64::MAX,
                            End::Horizon => start + horizon,
                            End::Length => start + clock,
                        };
                        // The given event leads the future, with the value generated for it; the
                        // first reading keeps generation's own draw.
                        let seed = if d == 0 { tr.value_seed } else { mix(tr.value_seed ^ d) };
                        let decode = |tokens: &[u32]| {
                            if d > 0 && options.redraw_bins {
                                tokenizer.decode_resampled(tokens, start, seed, &tr.bin_probabilities).events
                            } else {
                                tokenizer.decode_sampled(tokens, start, seed).events
                            }
                        };
                        let events = match given {
                            Some(token) => {
                                let mut tokens = Vec::with_capacity(tr.tokens.len() + 1);
                                tokens.push(token);
                                tokens.extend_from_slice(&tr.tokens);
                                decode(&tokens)
                            }
                            None if d == 0 => tr.events.clone(),
                            None => decode(&tr.tokens),
                        };
                        Future { events, end: tr.end, covered_until, readings }
                    })
                    .collect();
                out.insert(*r, futures);
            }
            progress(out.len());
        }
        out
    }
}

/// The history of `timeline` up to and including `prediction_time`, followed by one future's
/// events (moved just after the prediction time if they share it: the history already holds
/// everything recorded at that instant) and the end marker.
pub fn continued(codes: &Mutex<CodeTable>, timeline: &Timeline, prediction_time: i64, future: &Future) -> Timeline {
    let keep = timeline.times.partition_point(|&t| t <= prediction_time);
    let mut out = Timeline::with_capacity(timeline.subject_id, keep + future.events.len() + 1);
    for i in 0..keep {
        if let Some(e) = timeline.event(i) {
            out.push(e.time, e.code, e.numeric_value, e.text_value.map(str::to_string));
        }
    }
    let mut table = codes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut last = prediction_time;
    for e in &future.events {
        let time = e.time.max(prediction_time + 1);
        last = last.max(time);
        out.push(Some(time), table.intern(&e.code), e.numeric_value, None);
    }
    out.push(Some(last + MARKER_AFTER), table.intern(FUTURE_END_CODE), None, None);
    out
}

/// Reads every future of one prediction time with the task.
///
/// A negative settles only through the whole label window. A positive settles as soon as the
/// future shows it — unless the history alone, with nothing generated after the prediction time,
/// already reads positive: that label rests on something *not* happening (no discharge in seven
/// days), and a future that ran out of tokens on day three has not shown it; it settles only
/// through the whole label window too.
pub fn judge(
    task: &Task,
    codes: &Mutex<CodeTable>,
    timeline: &Timeline,
    prediction_time: i64,
    futures: &[Future],
) -> Risk {
    let mut risk = Risk { drawn: futures.iter().map(|f| f.readings).sum(), ..Risk::default() };
    let nothing = Future { events: Vec::new(), end: End::Length, covered_until: prediction_time, readings: 0 };
    let by_absence = task
        .judge(codes, &continued(codes, timeline, prediction_time, &nothing), prediction_time)
        .is_some_and(|j| j.value);
    for f in futures {
        let continued = continued(codes, timeline, prediction_time, f);
        let Some(j) = task.judge(codes, &continued, prediction_time) else { continue };
        let covered = j.label_window_end <= f.covered_until;
        if j.value && (covered || !by_absence) {
            risk.positives += f.readings;
            risk.resolved += f.readings;
        } else if !j.value && covered {
            risk.resolved += f.readings;
        }
    }
    risk
}

/// Zero-shot predictions for `labels` (each with its [`Request`]) from their futures. Labels
/// without futures or without a timeline are skipped, and so are those where no future settles
/// the label.
pub fn predict(
    task: &Task,
    codes: &Mutex<CodeTable>,
    timelines: &HashMap<i64, &Timeline>,
    futures: &HashMap<Request, Vec<Future>>,
    labels: &[(BooleanLabel, Request)],
) -> (Vec<BooleanPrediction>, ZeroShotSummary) {
    let mut summary = ZeroShotSummary::default();
    let mut out = Vec::with_capacity(labels.len());
    for (l, r) in labels {
        let (Some(t), Some(f)) = (timelines.get(&l.subject_id), futures.get(r)) else {
            continue;
        };
        if r.prompt.is_some() {
            summary.prompted += 1;
        }
        let risk = judge(task, codes, t, l.prediction_time, f);
        summary.prediction_times += 1;
        summary.futures += u64::from(risk.drawn);
        summary.resolved += u64::from(risk.resolved);
        if risk.resolved == 0 {
            // Nothing generated settles the label here: no prediction rather than a made-up one.
            summary.unresolved_prediction_times += 1;
            continue;
        }
        let p = risk.probability();
        out.push(BooleanPrediction { label: *l, predicted_value: p >= 0.5, probability: p as f32 });
    }
    (out, summary)
}

/// Zero-shot prediction across tasks: one model, one dataset, and the futures generated so far,
/// so a prediction time generated for one task serves every later task that predicts there.
pub struct ZeroShot<'a> {
    pub(crate) foundation: &'a Foundation,
    pub(crate) timelines: HashMap<i64, &'a Timeline>,
    pub(crate) codes: &'a CodeTable,
    /// A copy of `codes` (same ids) that generated codes are added to while futures are read.
    pub(crate) reading: Mutex<CodeTable>,
    pub(crate) options: ZeroShotOptions,
    /// Every future generated so far, by where it starts (shared by tasks and by what-if arms).
    pub(crate) futures: HashMap<Request, Vec<Future>>,
}

impl std::fmt::Debug for ZeroShot<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZeroShot").field("options", &self.options).field("generated", &self.futures.len()).finish()
    }
}

impl<'a> ZeroShot<'a> {
    /// A runner over `timelines` (whose codes are in `codes`).
    pub fn new(
        foundation: &'a Foundation,
        timelines: &'a [Timeline],
        codes: &'a CodeTable,
        options: ZeroShotOptions,
    ) -> ZeroShot<'a> {
        let mut reading = CodeTable::new();
        for name in codes.names() {
            reading.intern(name);
        }
        ZeroShot {
            foundation,
            timelines: timelines.iter().map(|t| (t.subject_id, t)).collect(),
            codes,
            reading: Mutex::new(reading),
            options,
            futures: HashMap::new(),
        }
    }

    /// The distinct `requests` whose futures have not been generated yet, in order.
    pub(crate) fn not_generated(&self, requests: impl Iterator<Item = Request>) -> Vec<Request> {
        let mut missing: Vec<Request> = requests.filter(|r| !self.futures.contains_key(r)).collect();
        missing.sort_unstable();
        missing.dedup();
        missing
    }

    /// Generates the futures of `requests` (sorted, as [`Self::not_generated`] returns them) from
    /// this runner's timelines and keeps them. `progress` gets the number done.
    pub(crate) fn generate(&mut self, requests: &[Request], progress: impl FnMut(usize)) {
        let mut subjects: Vec<i64> = requests.iter().map(|r| r.subject_id).collect();
        subjects.dedup();
        let needed: Vec<&Timeline> = subjects.iter().filter_map(|s| self.timelines.get(s).copied()).collect();
        let fresh = self.foundation.futures(&needed, self.codes, requests, &self.options, progress);
        self.futures.extend(fresh);
    }

    /// Zero-shot predictions for a seeded case-control sample of at most `max` of `labels`
    /// (held-out labels of `task`; see [`case_control_sample`]), generating the futures not
    /// generated yet. The summary's `sample` says how to weight the predictions back to all of
    /// `labels`. `progress(done, total)` follows generation.
    pub fn predict(
        &mut self,
        task: &Task,
        labels: &[BooleanLabel],
        max: usize,
        mut progress: impl FnMut(usize, usize),
    ) -> (Vec<BooleanPrediction>, ZeroShotSummary) {
        let (drawn, design) = case_control_sample(labels, max, self.options.seed);
        let sampled: Vec<(BooleanLabel, Request)> = drawn
            .into_iter()
            .filter_map(|l| Some((l, request(task, &self.reading, self.timelines.get(&l.subject_id)?, &l))))
            .collect();
        let missing = self.not_generated(sampled.iter().map(|(_, r)| *r));
        let total = missing.len();
        self.generate(&missing, |done| progress(done, total));
        let (predictions, mut summary) = predict(task, &self.reading, &self.timelines, &self.futures, &sampled);
        summary.generated = total;
        summary.value_draws = self.options.value_draws.max(1);
        summary.sample = design;
        (predictions, summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const YEAR: i64 = 365 * DAY;

    fn task() -> Task {
        tasks::suite::task("new_t2d_1y").expect("in the suite").expect("compiles")
    }

    /// A subject with wellness visits in 2015 and 2016 (a prediction time at the first).
    fn history(codes: &Mutex<CodeTable>) -> (Timeline, i64) {
        let mut table = codes.lock().expect("lock");
        let t0 = 1_420_070_400_000_000; // 2015-01-01
        let mut t = Timeline::new(1);
        t.push(None, table.intern("MEDS_BIRTH"), None, None);
        t.push(Some(t0), table.intern("CPT4/99395"), None, None);
        t.push(Some(t0 + 400 * DAY), table.intern("CPT4/99395"), None, None);
        (t, t0)
    }

    fn future(events: &[(i64, &str)], end: End, covered_until: i64) -> Future {
        Future {
            events: events
                .iter()
                .map(|&(time, code)| DecodedEvent { time, code: code.into(), numeric_value: None })
                .collect(),
            end,
            covered_until,
            readings: 1,
        }
    }

    #[test]
    fn the_task_reads_generated_futures_as_it_reads_records() {
        let codes = Mutex::new(CodeTable::new());
        let (t, t0) = history(&codes);
        let task = task();
        // The real record has no diagnosis: labelled negative at t0.
        let real = task.judge(&codes, &t, t0).expect("labelled");
        assert!(!real.value);
        let futures = vec![
            // Diagnosed in the year: positive.
            future(&[(t0 + 30 * DAY, "CPT4/99213"), (t0 + 40 * DAY, "ICD10CM/E11.9")], End::Horizon, t0 + 366 * DAY),
            // Diagnosed after the year: negative, and it reached the horizon.
            future(&[(t0 + 380 * DAY, "ICD10CM/E11")], End::Length, t0 + 381 * DAY),
            // Nothing happens until the horizon: negative.
            future(&[], End::Horizon, t0 + 366 * DAY),
            // Died without a diagnosis: negative (nothing more can happen).
            future(&[(t0 + 100 * DAY, "MEDS_DEATH")], End::Death, i64::MAX),
            // Ran out of tokens after two months without a diagnosis: cannot say.
            future(&[(t0 + 60 * DAY, "CPT4/99213")], End::Length, t0 + 61 * DAY),
            // Ran out of tokens but already diagnosed: positive.
            future(&[(t0 + 10 * DAY, "ICD10CM/E11")], End::Length, t0 + 11 * DAY),
            // Generated at the prediction instant itself: moved just after it, so it counts.
            future(&[(t0, "ICD10CM/E11")], End::Horizon, t0 + 366 * DAY),
        ];
        let risk = judge(&task, &codes, &t, t0, &futures);
        assert_eq!(risk, Risk { positives: 3, resolved: 6, drawn: 7 });
        assert!((risk.probability() - 0.5).abs() < 1e-12);
    }

    #[test]
    fn a_label_that_rests_on_an_absence_settles_only_through_its_window() {
        let codes = Mutex::new(CodeTable::new());
        let stay = tasks::suite::task("long_los_7d").expect("in the suite").expect("compiles");
        let t0 = 1_420_070_400_000_000; // 2015-01-01
        let mut t = Timeline::new(1);
        {
            let mut table = codes.lock().expect("lock");
            t.push(None, table.intern("MEDS_BIRTH"), None, None);
            t.push(Some(t0), table.intern("ENCOUNTER/IMP"), None, None);
        }
        let futures = vec![
            // Still in hospital when the week is over: positive.
            future(&[(t0 + DAY, "LOINC/2823-3")], End::Horizon, t0 + 366 * DAY),
            // Discharged on day 3 and the future goes on: negative.
            future(&[(t0 + 3 * DAY, "ENCOUNTER_END/IMP")], End::Horizon, t0 + 366 * DAY),
            // Out of tokens on day 2, no discharge yet: cannot say (the record reads positive
            // only because nothing follows).
            future(&[(t0 + DAY, "LOINC/2823-3")], End::Length, t0 + 2 * DAY),
            // Out of tokens on day 9, never discharged: positive.
            future(&[(t0 + 8 * DAY, "LOINC/2823-3")], End::Length, t0 + 9 * DAY),
            // Died in hospital on day 2: the stay ended before the week did (negative).
            future(&[(t0 + 2 * DAY, "MEDS_DEATH"), (t0 + 2 * DAY, "ENCOUNTER_END/IMP")], End::Death, i64::MAX),
        ];
        assert_eq!(judge(&stay, &codes, &t, t0, &futures), Risk { positives: 2, resolved: 4, drawn: 5 });
        // An outcome the future shows still settles early (the diabetes test above: the
        // history alone reads negative).
        let (h, h0) = history(&codes);
        let early = future(&[(h0 + 10 * DAY, "ICD10CM/E11")], End::Length, h0 + 11 * DAY);
        assert_eq!(judge(&task(), &codes, &h, h0, &[early]), Risk { positives: 1, resolved: 1, drawn: 1 });
    }

    #[test]
    fn history_after_the_prediction_time_is_never_read() {
        let codes = Mutex::new(CodeTable::new());
        let (mut t, t0) = history(&codes);
        // The real record is diagnosed 10 days later; the future says nothing happens.
        let e11 = codes.lock().expect("lock").intern("ICD10CM/E11");
        t.push(Some(t0 + 10 * DAY), e11, None, None);
        t.sort();
        let quiet = future(&[], End::Horizon, t0 + 366 * DAY);
        let continued = continued(&codes, &t, t0, &quiet);
        assert!(continued.times.iter().all(|&x| x == meds::STATIC_TIME || x <= t0 || x > t0 + 366 * DAY));
        assert_eq!(judge(&task(), &codes, &t, t0, &[quiet]), Risk { positives: 0, resolved: 1, drawn: 1 });
    }

    #[test]
    fn a_lab_being_drawn_is_given_and_only_its_result_is_generated() {
        let codes = Mutex::new(CodeTable::new());
        let task = tasks::suite::task("hyperkalemia_next_lab").expect("in the suite").expect("compiles");
        let t0 = 1_420_070_400_000_000;
        let draw = t0 + 30 * DAY;
        let mut t = Timeline::new(1);
        let k = {
            let mut table = codes.lock().expect("lock");
            t.push(None, table.intern("MEDS_BIRTH"), None, None);
            let k = table.intern("LOINC/2823-3");
            t.push(Some(t0), k, Some(4.0), None);
            t.push(Some(draw), k, Some(6.1), None);
            k
        };
        let second = 1_000_000;
        let label = BooleanLabel { subject_id: 1, prediction_time: draw - second, value: true };
        let r = request(&task, &codes, &t, &label);
        assert_eq!(r.prompt, Some((draw, k)), "the draw is given; its result is not");
        let result = |v: f32| Future {
            events: vec![
                DecodedEvent { time: draw, code: "LOINC/2823-3".into(), numeric_value: Some(v) },
                DecodedEvent { time: draw + DAY, code: "CPT4/99213".into(), numeric_value: None },
            ],
            end: End::Horizon,
            covered_until: draw + 366 * DAY,
            readings: 1,
        };
        let risk = judge(&task, &codes, &t, label.prediction_time, &[result(6.2), result(4.4), result(5.6)]);
        assert_eq!(risk, Risk { positives: 2, resolved: 3, drawn: 3 });
        // A future read once for several identical readings counts as all of them.
        let risk =
            judge(&task, &codes, &t, label.prediction_time, &[Future { readings: 4, ..result(6.2) }, result(4.4)]);
        assert_eq!(risk, Risk { positives: 4, resolved: 5, drawn: 5 });
        // A task predicting at its trigger needs nothing given.
        let wellness = BooleanLabel { subject_id: 1, prediction_time: t0, value: false };
        let plain = request(&self::task(), &codes, &t, &wellness);
        assert_eq!(plain.prompt, None);
    }

    #[test]
    fn samples_coincide_across_tasks() {
        let labels: Vec<BooleanLabel> = (0..100)
            .map(|i| BooleanLabel { subject_id: i / 3, prediction_time: (i % 3) * YEAR, value: i % 7 == 0 })
            .collect();
        let a = sample(&labels, 20, 3);
        assert_eq!(a.len(), 20);
        // A task with a subset of the same prediction times samples the ones it shares.
        let subset: Vec<BooleanLabel> = labels.iter().filter(|l| l.subject_id % 2 == 0).copied().collect();
        let b = sample(&subset, 20, 3);
        let shared = a.iter().filter(|l| l.subject_id % 2 == 0).count();
        assert!(shared > 0);
        assert!(a.iter().filter(|l| l.subject_id % 2 == 0).all(|l| b.contains(l)));
        assert_eq!(sample(&labels, 200, 3).len(), 100);
    }

    #[test]
    fn a_case_control_sample_keeps_the_rare_positives_and_says_how_to_weigh_them() {
        // 1,000 times, 10 positive.
        let labels: Vec<BooleanLabel> = (0..1_000)
            .map(|i| BooleanLabel { subject_id: i / 2, prediction_time: (i % 2) * YEAR, value: i % 100 == 7 })
            .collect();
        let (drawn, design) = case_control_sample(&labels, 100, 3);
        assert_eq!(drawn.len(), 100);
        assert_eq!(drawn.iter().filter(|l| l.value).count(), 10, "every positive");
        assert_eq!(
            design,
            SampleDesign {
                population_positives: 10,
                population_negatives: 990,
                sampled_positives: 10,
                sampled_negatives: 90
            }
        );
        assert!(design.is_case_control());
        assert!((design.weight(true) - 1.0).abs() < 1e-12 && (design.weight(false) - 11.0).abs() < 1e-12);
        // Weighted back, the sample has the population's counts.
        let total: f64 = drawn.iter().map(|l| design.weight(l.value)).sum();
        assert!((total - 1_000.0).abs() < 1e-9);
        // Common outcomes: positives are capped at half the sample.
        let common: Vec<BooleanLabel> =
            labels.iter().map(|l| BooleanLabel { value: l.subject_id % 3 == 0, ..*l }).collect();
        let (drawn, design) = case_control_sample(&common, 100, 3);
        assert_eq!((drawn.len(), design.sampled_positives, design.sampled_negatives), (100, 50, 50));
        // Fewer labels than the cap: all of them, weight 1, not case-control.
        let (drawn, design) = case_control_sample(&labels[..60], 100, 3);
        assert_eq!(drawn.len(), 60);
        assert!(!design.is_case_control() && design.weight(false) == 1.0);
        // Chosen negatives are the ones a plain sample of the negatives would choose (shared futures).
        let negatives: Vec<BooleanLabel> = labels.iter().filter(|l| !l.value).copied().collect();
        let (drawn, _) = case_control_sample(&labels, 100, 3);
        let plain = sample(&negatives, 90, 3);
        assert!(drawn.iter().filter(|l| !l.value).all(|l| plain.contains(l)));
    }
}
