//! Labelling a MEDS dataset with a task: every subject in parallel, one label per trigger that
//! survives the task's windows, and a report that accounts for every trigger.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use meds::labels::BooleanLabel;
use meds::{CodeTable, Dataset, Timeline};
use serde::{Deserialize, Serialize};

use crate::config::TaskConfig;
use crate::error::Result;
use crate::windows::{Outcome, TaskTree};

/// A task ready to label data: its configuration and compiled window tree.
#[derive(Debug)]
pub struct Task {
    /// The configuration.
    pub config: TaskConfig,
    /// Where it came from (a file, or `<built-in suite>/NAME.yaml`).
    pub source: PathBuf,
    tree: TaskTree,
}

impl Task {
    /// Reads and compiles a task configuration file, with an optional predicates file.
    pub fn load(path: &Path, predicates: Option<&Path>) -> Result<Task> {
        let config = TaskConfig::load(path, predicates)?;
        Task::new(config, path.to_path_buf())
    }

    /// Compiles a parsed configuration.
    pub fn new(config: TaskConfig, source: PathBuf) -> Result<Task> {
        let tree = TaskTree::new(&config, &source)?;
        Ok(Task { config, source, tree })
    }

    /// The task's name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Evaluates every trigger of one subject's (sorted) timeline: `(trigger time, outcome)`.
    /// Empty when the subject fails a patient demographic or has no timed events.
    pub fn evaluate(&self, codes: &Mutex<CodeTable>, timeline: &Timeline) -> Vec<(i64, Outcome)> {
        match self.tree.columns().rows(codes, timeline) {
            Some(rows) => self.tree.evaluate(&rows),
            None => Vec::new(),
        }
    }

    /// Judges one timeline at one prediction time: the label of the trigger whose prediction
    /// time is `prediction_time`, with the end of its label window. `None` when no trigger of
    /// the timeline is labelled at that time (excluded, unresolved, or no such trigger). Used to
    /// read a generated future (history plus sampled events) exactly as the task reads real data.
    pub fn judge(&self, codes: &Mutex<CodeTable>, timeline: &Timeline, prediction_time: i64) -> Option<Judgement> {
        let rows = self.tree.columns().rows(codes, timeline)?;
        self.tree.evaluate_windows(&rows).into_iter().find_map(|(_, outcome, window)| match outcome {
            Outcome::Labelled { prediction_time: t, value } if t == prediction_time => {
                Some(Judgement { value, label_window_end: window.map_or(t, |w| w.1) })
            }
            _ => None,
        })
    }

    /// The trigger time of the label this timeline gets at `prediction_time`, if any. It is
    /// after the prediction time when the task predicts before its trigger (the result of a lab
    /// being drawn, predicted just before the draw).
    pub fn trigger_of(&self, codes: &Mutex<CodeTable>, timeline: &Timeline, prediction_time: i64) -> Option<i64> {
        self.evaluate(codes, timeline).into_iter().find_map(|(trigger, outcome)| match outcome {
            Outcome::Labelled { prediction_time: t, .. } if t == prediction_time => Some(trigger),
            _ => None,
        })
    }

    /// Whether an event with this code alone satisfies the trigger predicate's code test (plain
    /// trigger predicates only; a derived trigger answers `false`).
    pub fn code_triggers(&self, code: &str) -> bool {
        self.config.predicates.iter().any(|(name, p)| {
            *name == self.config.trigger && matches!(p, crate::config::Predicate::Plain(p) if p.code.matches(code))
        })
    }

    /// The task's code predicates (and patient demographics) that match no code of `codes`: most
    /// often a typo or another vocabulary's spelling, which would otherwise give 0% positives
    /// without a word.
    pub fn unmatched_predicates(&self, codes: &CodeTable) -> Vec<String> {
        let plain = self.config.predicates.iter().filter_map(|(name, p)| match p {
            crate::config::Predicate::Plain(p) => Some((name, p)),
            crate::config::Predicate::Derived { .. } => None,
        });
        let statics = self.config.demographics.iter().map(|(name, p)| (name, p));
        plain
            .chain(statics)
            .filter(|(_, p)| !codes.names().any(|c| p.code.matches(c)))
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Labels every subject of a dataset. Labels come back sorted by subject and prediction
    /// time, whatever the thread count.
    pub fn label(&self, dataset: &Dataset) -> Result<(Vec<BooleanLabel>, LabelReport)> {
        let codes = Mutex::new(CodeTable::new());
        let collected = Mutex::new((Vec::new(), LabelReport::new(self)));
        dataset.for_each_subject(&codes, |_, timeline| {
            let outcomes = self.evaluate(&codes, &timeline);
            let mut guard = collected.lock().unwrap_or_else(PoisonError::into_inner);
            let (labels, report) = &mut *guard;
            report.subjects += 1;
            if !outcomes.is_empty() {
                report.subjects_with_triggers += 1;
            }
            for (_, outcome) in outcomes {
                report.triggers += 1;
                match outcome {
                    Outcome::Labelled { prediction_time, value } => {
                        labels.push(BooleanLabel { subject_id: timeline.subject_id, prediction_time, value });
                    }
                    Outcome::Excluded(node) => *report.excluded.entry(node).or_default() += 1,
                    Outcome::Unresolved(node) => *report.unresolved.entry(node).or_default() += 1,
                }
            }
            Ok(())
        })?;
        let (mut labels, mut report) = collected.into_inner().unwrap_or_else(PoisonError::into_inner);
        let codes = codes.into_inner().unwrap_or_else(PoisonError::into_inner);
        report.unmatched_predicates = self.unmatched_predicates(&codes);
        labels.sort_by_key(|l| (l.subject_id, l.prediction_time, l.value));
        report.labels = labels.len() as u64;
        report.positives = labels.iter().filter(|l| l.value).count() as u64;
        report.subjects_labelled = {
            let mut ids: Vec<i64> = labels.iter().map(|l| l.subject_id).collect();
            ids.dedup();
            ids.len() as u64
        };
        Ok((labels, report))
    }
}

/// The label a task gives a timeline at one prediction time ([`Task::judge`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Judgement {
    /// Whether the label predicate occurred in the label window.
    pub value: bool,
    /// The label window's far end (µs): a future that stops earlier cannot vouch for a negative.
    pub label_window_end: i64,
}

/// What labelling did, trigger by trigger: `triggers = labels + Σ excluded + Σ unresolved`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelReport {
    /// The task.
    pub task: String,
    /// Its source.
    pub source: String,
    /// Subjects read.
    pub subjects: u64,
    /// Subjects with at least one trigger event (after the demographic filter).
    pub subjects_with_triggers: u64,
    /// Subjects with at least one label.
    pub subjects_labelled: u64,
    /// Trigger events (distinct timestamps where the trigger predicate holds).
    pub triggers: u64,
    /// Labels written.
    pub labels: u64,
    /// Labels that are `true`.
    pub positives: u64,
    /// Triggers dropped because a window's `has` constraint failed, by window end.
    pub excluded: BTreeMap<String, u64>,
    /// Triggers dropped because an event search (`->`/`<-`) found no event, by window end.
    /// ACES writes such a trigger as a row with no prediction time and no label; a label without
    /// a prediction time is unusable, so Longitude counts it here instead.
    pub unresolved: BTreeMap<String, u64>,
    /// Code predicates and demographics that match no code of the dataset (a typo, or another
    /// vocabulary): their windows can never see an event.
    pub unmatched_predicates: Vec<String>,
}

impl LabelReport {
    fn new(task: &Task) -> LabelReport {
        LabelReport {
            task: task.name().to_string(),
            source: task.source.display().to_string(),
            subjects: 0,
            subjects_with_triggers: 0,
            subjects_labelled: 0,
            triggers: 0,
            labels: 0,
            positives: 0,
            excluded: BTreeMap::new(),
            unresolved: BTreeMap::new(),
            unmatched_predicates: Vec::new(),
        }
    }

    /// The header of the table `longitude label` prints, a row per task ([`LabelReport::table_row`]).
    pub fn table_header() -> String {
        format!(
            "{:<26} {:>9} {:>9} {:>8} {:>10} {:>10} {:>7}",
            "task", "triggers", "labels", "pos %", "excluded", "unresolved", "secs"
        )
    }

    /// This task's row of that table, labelled in `seconds`.
    pub fn table_row(&self, seconds: f64) -> String {
        format!(
            "{:<26} {:>9} {:>9} {:>7.2}% {:>10} {:>10} {seconds:>7.2}",
            self.task,
            self.triggers,
            self.labels,
            100.0 * self.prevalence(),
            self.excluded.values().sum::<u64>(),
            self.unresolved.values().sum::<u64>(),
        )
    }

    /// Share of labels that are positive.
    pub fn prevalence(&self) -> f64 {
        if self.labels == 0 { 0.0 } else { self.positives as f64 / self.labels as f64 }
    }
}
