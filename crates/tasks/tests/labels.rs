//! Labels from the built-in suite on hand-written timelines: the outcome as the very next event
//! is a positive whose prediction time precedes it; an outcome at the trigger's own timestamp is
//! history (the subject is excluded as already diagnosed), never a label; censoring excludes.

use std::sync::Mutex;

use meds::{CodeTable, Timeline};
use tasks::Outcome;

const MINUTE: i64 = 60_000_000;
const DAY: i64 = 1_440 * MINUTE;
const T0: i64 = 1_577_836_800_000_000; // 2020-01-01

fn timeline(codes: &Mutex<CodeTable>, events: &[(i64, &str, Option<f32>)]) -> Timeline {
    let mut table = codes.lock().expect("lock");
    let mut t = Timeline::new(7);
    for &(time, code, value) in events {
        t.push(Some(time), table.intern(code), value, None);
    }
    t
}

fn outcomes(task: &str, events: &[(i64, &str, Option<f32>)]) -> Vec<(i64, Outcome)> {
    let task = tasks::suite::task(task).expect("in the suite").expect("compiles");
    let codes = Mutex::new(CodeTable::new());
    let t = timeline(&codes, events);
    task.evaluate(&codes, &t)
}

#[test]
fn an_outcome_as_the_very_next_event_is_a_positive_label_after_the_prediction_time() {
    let events = [(T0, "CPT4/99396", None), (T0 + MINUTE, "ICD10CM/E11.9", None), (T0 + 400 * DAY, "CPT4/99213", None)];
    let got = outcomes("new_t2d_1y", &events);
    assert_eq!(got, vec![(T0, Outcome::Labelled { prediction_time: T0, value: true })]);
    // The label's evidence lies strictly after the prediction time: a featurizer that reads
    // events at or before it cannot see the diagnosis.
    let Outcome::Labelled { prediction_time, .. } = got[0].1 else { panic!() };
    assert!(events.iter().filter(|e| e.1.starts_with("ICD10CM/E11")).all(|e| e.0 > prediction_time));
}

#[test]
fn an_outcome_at_the_trigger_timestamp_is_history_not_a_label() {
    let events = [(T0, "CPT4/99396", None), (T0, "ICD10CM/E11.9", None), (T0 + 400 * DAY, "CPT4/99213", None)];
    assert_eq!(outcomes("new_t2d_1y", &events), vec![(T0, Outcome::Excluded("input.start".into()))]);
}

#[test]
fn a_subject_who_leaves_before_the_horizon_is_censored_not_negative() {
    let events = [(T0, "CPT4/99396", None), (T0 + 200 * DAY, "CPT4/99213", None)];
    assert_eq!(outcomes("new_t2d_1y", &events), vec![(T0, Outcome::Excluded("follow_up.end".into()))]);
    let observed = [(T0, "CPT4/99396", None), (T0 + 366 * DAY, "CPT4/99213", None)];
    assert_eq!(outcomes("new_t2d_1y", &observed), vec![(T0, Outcome::Labelled { prediction_time: T0, value: false })]);
}

#[test]
fn length_of_stay_and_hyperkalemia_read_as_intended() {
    let stay = |days: i64| {
        outcomes(
            "long_los_7d",
            &[
                (T0, "ENCOUNTER/IMP", None),
                (T0 + days * DAY + MINUTE, "ENCOUNTER_END/IMP", None),
                (T0 + 90 * DAY, "CPT4/99213", None),
            ],
        )
    };
    assert_eq!(stay(3), vec![(T0, Outcome::Labelled { prediction_time: T0, value: false })]);
    assert_eq!(stay(9), vec![(T0, Outcome::Labelled { prediction_time: T0, value: true })]);
    let k =
        outcomes("hyperkalemia_next_lab", &[(T0, "LOINC/2823-3", Some(4.1)), (T0 + DAY, "LOINC/2823-3", Some(5.5))]);
    let second = 1_000_000;
    // The first draw has no history before it (the input window `start: null` searches back for
    // the record's first event and finds none before the prediction time): not labelled, as in ACES.
    assert_eq!(
        k,
        vec![
            (T0, Outcome::Unresolved("input.start".into())),
            (T0 + DAY, Outcome::Labelled { prediction_time: T0 + DAY - second, value: true }),
        ]
    );
}
