//! Predicates evaluated on a subject's timeline.
//!
//! As in ACES, events are first grouped by timestamp: each distinct timestamp of a subject is one
//! row holding, per predicate, the number of its events that satisfy the predicate. Derived
//! predicates are 0/1 per row (`and`: every input counted at that timestamp; `or`: any).
//! `_ANY_EVENT` is 1 on every row (it counts timestamps, not events), `_RECORD_START` and
//! `_RECORD_END` are 1 on the first and last row. Windows then sum rows; prefix sums make every
//! window count O(1) after a binary search.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use meds::{CodeId, CodeTable, Timeline};

use crate::config::{Predicate, TaskConfig};

/// The predicate columns of a task: its plain and derived predicates in dependency order, then
/// `_ANY_EVENT`, `_RECORD_START`, `_RECORD_END`.
#[derive(Debug)]
pub struct Columns {
    names: Vec<String>,
    plain: Vec<(usize, crate::config::PlainPredicate)>,
    derived: Vec<(usize, bool, Vec<usize>)>,
    statics: Vec<crate::config::PlainPredicate>,
    code_cache: Mutex<HashMap<CodeId, Matches>>,
}

/// Which plain predicates (by index into `Columns::plain`) and demographics (by index into
/// `Columns::statics`) match a code, before any value test.
#[derive(Debug, Clone, Default)]
struct Matches {
    plain: Vec<u16>,
    statics: Vec<u16>,
}

impl Columns {
    /// Lays out the columns of `config`.
    pub fn new(config: &TaskConfig) -> Columns {
        // Dependency order: plain first, then derived once their inputs are placed.
        let mut names: Vec<String> = Vec::new();
        let mut plain = Vec::new();
        for (n, p) in &config.predicates {
            if let Predicate::Plain(p) = p {
                plain.push((names.len(), p.clone()));
                names.push(n.clone());
            }
        }
        let mut pending: Vec<(&String, bool, &Vec<String>)> = config
            .predicates
            .iter()
            .filter_map(|(n, p)| match p {
                Predicate::Derived { all, inputs } => Some((n, *all, inputs)),
                Predicate::Plain(_) => None,
            })
            .collect();
        let mut derived = Vec::new();
        while !pending.is_empty() {
            let before = pending.len();
            pending.retain(|(n, all, inputs)| {
                let idx: Option<Vec<usize>> = inputs.iter().map(|i| names.iter().position(|x| x == i)).collect();
                match idx {
                    Some(idx) => {
                        derived.push((names.len(), *all, idx));
                        names.push((*n).clone());
                        false
                    }
                    None => true,
                }
            });
            // The configuration was checked for cycles and undefined inputs; this only guards.
            if pending.len() == before {
                break;
            }
        }
        names.extend(
            [crate::config::ANY_EVENT, crate::config::RECORD_START, crate::config::RECORD_END].map(String::from),
        );
        let statics = config.demographics.iter().map(|(_, p)| p.clone()).collect();
        Columns { names, plain, derived, statics, code_cache: Mutex::new(HashMap::new()) }
    }

    /// Number of columns.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether there are no columns (never: the special columns are always present).
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The column of a predicate name.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    fn matches(&self, codes: &Mutex<CodeTable>, timeline: &Timeline) -> HashMap<CodeId, Matches> {
        let mut cache = self.code_cache.lock().unwrap_or_else(PoisonError::into_inner);
        let missing: Vec<CodeId> = {
            let mut m: Vec<CodeId> = timeline.codes.iter().copied().filter(|c| !cache.contains_key(c)).collect();
            m.sort_unstable();
            m.dedup();
            m
        };
        if !missing.is_empty() {
            let table = codes.lock().unwrap_or_else(PoisonError::into_inner);
            for id in missing {
                let name = table.name(id);
                let plain =
                    (0..self.plain.len()).filter(|&i| self.plain[i].1.code.matches(name)).map(|i| i as u16).collect();
                let statics =
                    (0..self.statics.len()).filter(|&i| self.statics[i].code.matches(name)).map(|i| i as u16).collect();
                cache.insert(id, Matches { plain, statics });
            }
        }
        let mut out = HashMap::new();
        for c in &timeline.codes {
            if let Some(m) = cache.get(c)
                && (!m.plain.is_empty() || !m.statics.is_empty())
            {
                out.entry(*c).or_insert_with(|| m.clone());
            }
        }
        out
    }

    /// Evaluates every predicate on a subject's timeline (sorted, as MEDS requires). `None` when
    /// the subject fails a patient demographic or has no timed events.
    pub fn rows(&self, codes: &Mutex<CodeTable>, timeline: &Timeline) -> Option<Rows> {
        let matches = self.matches(codes, timeline);
        let c = self.len();
        let n_events = timeline.len();
        let value = |i: usize| {
            let v = timeline.numeric_values[i];
            (!v.is_nan()).then_some(v)
        };
        // Demographics: each needs a static (untimed) event that satisfies it.
        let mut static_ok = vec![false; self.statics.len()];
        let mut times = Vec::new();
        let mut counts: Vec<u32> = Vec::new();
        for i in 0..n_events {
            let time = timeline.times[i];
            let code = timeline.codes[i];
            if time == meds::STATIC_TIME {
                if let Some(m) = matches.get(&code) {
                    for &s in &m.statics {
                        if self.statics[s as usize].matches_value(value(i)) {
                            static_ok[s as usize] = true;
                        }
                    }
                }
                continue;
            }
            if times.last() != Some(&time) {
                times.push(time);
                counts.extend(std::iter::repeat_n(0, c));
            }
            let row = times.len() - 1;
            if let Some(m) = matches.get(&code) {
                for &p in &m.plain {
                    let (col, pred) = &self.plain[p as usize];
                    if pred.matches_value(value(i)) {
                        counts[row * c + col] += 1;
                    }
                }
            }
        }
        if static_ok.iter().any(|ok| !ok) || times.is_empty() {
            return None;
        }
        let n = times.len();
        let (any, first, last) = (c - 3, c - 2, c - 1);
        for row in 0..n {
            let r = &mut counts[row * c..(row + 1) * c];
            for (col, all, inputs) in &self.derived {
                let hit = if *all { inputs.iter().all(|&i| r[i] > 0) } else { inputs.iter().any(|&i| r[i] > 0) };
                r[*col] = u32::from(hit);
            }
            r[any] = 1;
            r[first] = u32::from(row == 0);
            r[last] = u32::from(row == n - 1);
        }
        let mut prefix = vec![0u32; (n + 1) * c];
        for row in 0..n {
            for col in 0..c {
                prefix[(row + 1) * c + col] = prefix[row * c + col] + counts[row * c + col];
            }
        }
        Some(Rows { subject_id: timeline.subject_id, times, columns: c, prefix })
    }
}

/// One subject's predicate counts by distinct timestamp, as prefix sums.
#[derive(Debug, Clone)]
pub struct Rows {
    /// The subject.
    pub subject_id: i64,
    /// Distinct event times, ascending (microseconds since the epoch).
    pub times: Vec<i64>,
    columns: usize,
    prefix: Vec<u32>,
}

impl Rows {
    /// Number of rows (distinct timestamps).
    pub fn len(&self) -> usize {
        self.times.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
    }

    /// Number of predicate columns.
    pub fn columns(&self) -> usize {
        self.columns
    }

    /// The count of column `col` at row `row`.
    pub fn count(&self, row: usize, col: usize) -> u32 {
        self.prefix[(row + 1) * self.columns + col] - self.prefix[row * self.columns + col]
    }

    /// Sum of column `col` over rows `lo..hi`.
    pub fn sum(&self, lo: usize, hi: usize, col: usize) -> u32 {
        if hi <= lo { 0 } else { self.prefix[hi * self.columns + col] - self.prefix[lo * self.columns + col] }
    }

    /// The row range whose times lie between `from` and `to` (`from <= to`), each end included
    /// or not.
    pub fn range(&self, from: i64, from_inclusive: bool, to: i64, to_inclusive: bool) -> (usize, usize) {
        let lo = if from_inclusive {
            self.times.partition_point(|&t| t < from)
        } else {
            self.times.partition_point(|&t| t <= from)
        };
        let hi = if to_inclusive {
            self.times.partition_point(|&t| t <= to)
        } else {
            self.times.partition_point(|&t| t < to)
        };
        (lo, hi.max(lo))
    }
}
