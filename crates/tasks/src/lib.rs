//! Clinical prediction tasks for MEDS data, written in ACES, the MEDS ecosystem's task language.
//!
//! A task says *when* a prediction is made (the `trigger` event and the window whose end or
//! start is the `index_timestamp`), *who* is eligible (`patient_demographics` and `has`
//! constraints on windows, e.g. no prior diagnosis, follow-up to the horizon) and *what* is
//! predicted (the `label` predicate's presence in the label window). [`TaskConfig`] reads real
//! ACES YAML unchanged (with MEDS-DEV's separate predicates files); [`Task::label`] labels a
//! [`meds::Dataset`] in parallel and accounts for every trigger in a [`LabelReport`]; the labels
//! are MEDS label files (`subject_id`, `prediction_time`, `boolean_value`).
//!
//! Equivalence with ACES (the `es-aces` package, 0.7) is tested on the built-in suite and on
//! third-party configurations. One deliberate difference: when an event search (`-> discharge`)
//! finds no event, ACES writes a row without prediction time or label; we write no label and
//! count the trigger as unresolved. Events one microsecond apart may also order differently
//! (ACES shifts search boundaries by 1 µs).
//!
//! No leakage by construction: a label's prediction time is a window boundary, and ACES's window
//! semantics decide whether events at that instant belong to the input; features must use only
//! events at or before the prediction time.

mod config;
mod duration;
mod error;
mod label_set;
mod labeler;
mod predicates;
pub mod suite;
mod windows;

pub use config::{
    ANY_EVENT, Bound, CodeMatch, PlainPredicate, Predicate, RECORD_END, RECORD_START, Side, TaskConfig, Window,
};
pub use duration::parse_duration;
pub use error::{Result, TaskError};
pub use label_set::{LabelReports, REPORT_FILE, label_all};
pub use labeler::{Judgement, LabelReport, Task};
pub use predicates::{Columns, Rows};
pub use windows::{LabelWindow, Outcome, TaskTree};
