//! Count features in the MEDS-Tab style, and demographics, computed at a prediction time from the
//! events at or before it — never after (a test puts an event one microsecond later and sees no
//! change).
//!
//! For each code of the vocabulary (fitted on the training subjects: codes seen in at least
//! `min_subjects` of them) and each window (the last 30 days, the last 365 days, all history):
//! the number of events; and for codes that carry numeric values, the last, minimum, maximum and
//! mean value. Then demographics: age in years at the prediction time, and one indicator per
//! static code (sex, race, ethnicity as the dataset writes them). Rows are sparse: most codes
//! never occur in most windows.

use std::collections::{BTreeMap, HashMap};

use meds::{CodeId, CodeTable, STATIC_TIME, Timeline};
use serde::{Deserialize, Serialize};

const DAY: i64 = 86_400_000_000;
const YEAR: f64 = 365.25 * 86_400_000_000.0;

/// Look-back windows, in microseconds (`i64::MAX`: all history).
pub const WINDOWS: [(i64, &str); 3] = [(30 * DAY, "30d"), (365 * DAY, "365d"), (i64::MAX, "all")];

/// Value aggregates for codes with numeric values.
pub const VALUE_AGGREGATES: [&str; 4] = ["last", "min", "max", "mean"];

/// One sparse feature row: (feature index, value), indices increasing.
pub type SparseRow = Vec<(u32, f32)>;

/// A dense vector (an embedding) as a sparse row.
pub fn dense_row(v: &[f32]) -> SparseRow {
    v.iter().enumerate().map(|(j, &x)| (j as u32, x)).collect()
}

/// Rows keeping only the features in `keep` (sorted), e.g. the demographics-only baseline's.
pub fn restrict(rows: &[&SparseRow], keep: &[u32]) -> Vec<SparseRow> {
    rows.iter().map(|r| r.iter().filter(|(j, _)| keep.binary_search(j).is_ok()).copied().collect()).collect()
}

/// The fitted feature layout.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Featurizer {
    /// Dynamic codes with features, and whether each carries numeric values.
    codes: Vec<(String, bool)>,
    /// Static codes (sex, race, …) with an indicator each.
    statics: Vec<String>,
    /// First feature index of each code.
    offsets: Vec<u32>,
    /// Index of the age feature (after all code features).
    age: u32,
    /// Total number of features.
    width: u32,
}

impl Featurizer {
    /// Fits the vocabulary on training timelines: dynamic codes present in at least
    /// `min_subjects` subjects, and every static code.
    pub fn fit(timelines: &[&Timeline], codes: &CodeTable, min_subjects: usize) -> Featurizer {
        let mut subjects: HashMap<CodeId, (usize, bool)> = HashMap::new();
        let mut statics: BTreeMap<String, ()> = BTreeMap::new();
        for t in timelines {
            let mut seen: HashMap<CodeId, bool> = HashMap::new();
            for i in 0..t.len() {
                if t.times[i] == STATIC_TIME {
                    statics.insert(codes.name(t.codes[i]).to_string(), ());
                } else {
                    *seen.entry(t.codes[i]).or_default() |= !t.numeric_values[i].is_nan();
                }
            }
            for (c, numeric) in seen {
                let e = subjects.entry(c).or_default();
                e.0 += 1;
                e.1 |= numeric;
            }
        }
        let mut kept: Vec<(String, bool)> = subjects
            .into_iter()
            .filter(|(_, (n, _))| *n >= min_subjects)
            .map(|(c, (_, numeric))| (codes.name(c).to_string(), numeric))
            .filter(|(c, _)| c != "MEDS_BIRTH")
            .collect();
        kept.sort();
        let mut offsets = Vec::with_capacity(kept.len());
        let mut next = 0u32;
        for (_, numeric) in &kept {
            offsets.push(next);
            next += (WINDOWS.len() * (1 + if *numeric { VALUE_AGGREGATES.len() } else { 0 })) as u32;
        }
        let age = next;
        let statics: Vec<String> = statics.into_keys().collect();
        let width = age + 1 + statics.len() as u32;
        Featurizer { codes: kept, statics, offsets, age, width }
    }

    /// Number of features.
    pub fn width(&self) -> usize {
        self.width as usize
    }

    /// Each feature's value when a row omits it: 0 for counts, NaN (missing) for value
    /// aggregates and age, 0 for static indicators. Sparse rows omit all of these.
    pub fn defaults(&self) -> Vec<f64> {
        let mut d: Vec<f64> = Vec::with_capacity(self.width());
        for (_, numeric) in &self.codes {
            let values = if *numeric { VALUE_AGGREGATES.len() } else { 0 };
            let per_window = std::iter::once(0.0).chain(std::iter::repeat_n(f64::NAN, values));
            d.extend(per_window.cycle().take(WINDOWS.len() * (1 + values)));
        }
        d.push(f64::NAN);
        d.extend(std::iter::repeat_n(0.0, self.statics.len()));
        d
    }

    /// Indices of the demographic features (age and static indicators).
    pub fn demographic_features(&self) -> Vec<u32> {
        (self.age..self.width).collect()
    }

    /// Feature names, in index order (`CODE/365d/count`, `CODE/all/mean`, `age`, `static/CODE`).
    pub fn names(&self) -> Vec<String> {
        let mut names = Vec::with_capacity(self.width());
        for (code, numeric) in &self.codes {
            for (_, w) in WINDOWS {
                names.push(format!("{code}/{w}/count"));
                if *numeric {
                    names.extend(VALUE_AGGREGATES.iter().map(|a| format!("{code}/{w}/{a}")));
                }
            }
        }
        names.push("age".into());
        names.extend(self.statics.iter().map(|s| format!("static/{s}")));
        names
    }

    /// Features of one subject at each prediction time (ascending or not), from events at or
    /// before it. `codes` resolves the timeline's code ids.
    pub fn featurize(&self, timeline: &Timeline, codes: &CodeTable, prediction_times: &[i64]) -> Vec<SparseRow> {
        let index: HashMap<&str, usize> = self.codes.iter().enumerate().map(|(i, (c, _))| (c.as_str(), i)).collect();
        let static_index: HashMap<&str, usize> =
            self.statics.iter().enumerate().map(|(i, c)| (c.as_str(), i)).collect();
        // Resolve each event once: (time, vocabulary index, value).
        let mut events: Vec<(i64, usize, f32)> = Vec::new();
        let mut statics: Vec<usize> = Vec::new();
        let mut birth = None;
        for i in 0..timeline.len() {
            let name = codes.name(timeline.codes[i]);
            if timeline.times[i] == STATIC_TIME {
                statics.extend(static_index.get(name).copied());
            } else if name == "MEDS_BIRTH" {
                birth.get_or_insert(timeline.times[i]);
            } else if let Some(&k) = index.get(name) {
                events.push((timeline.times[i], k, timeline.numeric_values[i]));
            }
        }
        statics.sort_unstable();
        statics.dedup();
        prediction_times
            .iter()
            .map(|&pt| {
                let end = events.partition_point(|e| e.0 <= pt);
                let mut acc: BTreeMap<(usize, usize), Agg> = BTreeMap::new();
                for &(t, k, v) in events[..end].iter().rev() {
                    let age = pt - t;
                    for (w, (span, _)) in WINDOWS.iter().enumerate() {
                        if age <= *span {
                            acc.entry((k, w)).or_default().add(v);
                        }
                    }
                }
                let mut row: SparseRow = Vec::new();
                for ((k, w), a) in acc {
                    let numeric = self.codes[k].1;
                    let per_window = 1 + if numeric { VALUE_AGGREGATES.len() } else { 0 };
                    let base = self.offsets[k] + (w * per_window) as u32;
                    row.push((base, a.count as f32));
                    if numeric && a.values > 0 {
                        row.extend([
                            (base + 1, a.last),
                            (base + 2, a.min),
                            (base + 3, a.max),
                            (base + 4, (a.sum / f64::from(a.values)) as f32),
                        ]);
                    }
                }
                if let Some(b) = birth {
                    row.push((self.age, ((pt - b) as f64 / YEAR) as f32));
                }
                row.extend(statics.iter().map(|&s| (self.age + 1 + s as u32, 1.0)));
                row
            })
            .collect()
    }
}

/// Running aggregates of one code in one window, fed newest event first.
#[derive(Debug, Clone, Copy)]
struct Agg {
    count: u32,
    values: u32,
    last: f32,
    min: f32,
    max: f32,
    sum: f64,
}

impl Default for Agg {
    fn default() -> Agg {
        Agg { count: 0, values: 0, last: f32::NAN, min: f32::INFINITY, max: f32::NEG_INFINITY, sum: 0.0 }
    }
}

impl Agg {
    fn add(&mut self, v: f32) {
        self.count += 1;
        if !v.is_nan() {
            if self.values == 0 {
                self.last = v;
            }
            self.values += 1;
            self.min = self.min.min(v);
            self.max = self.max.max(v);
            self.sum += f64::from(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeline(codes: &mut CodeTable) -> Timeline {
        let mut t = Timeline::new(1);
        t.push(None, codes.intern("GENDER/F"), None, None);
        t.push(Some(0), codes.intern("MEDS_BIRTH"), None, None);
        let year = 365 * DAY;
        t.push(Some(50 * year), codes.intern("LAB"), Some(5.0), None);
        t.push(Some(50 * year + 300 * DAY), codes.intern("LAB"), Some(7.0), None);
        t.push(Some(50 * year + 340 * DAY), codes.intern("DX"), None, None);
        t.push(Some(50 * year + 350 * DAY), codes.intern("LAB"), Some(6.0), None);
        t
    }

    #[test]
    fn windows_aggregates_and_no_future() {
        let mut codes = CodeTable::new();
        let t = timeline(&mut codes);
        let f = Featurizer::fit(&[&t], &codes, 1);
        let names = f.names();
        let pt = 50 * 365 * DAY + 350 * DAY;
        let row = &f.featurize(&t, &codes, &[pt])[0];
        let get = |name: &str| {
            let i = names.iter().position(|n| n == name).unwrap_or_else(|| panic!("{name}")) as u32;
            row.iter().find(|(j, _)| *j == i).map(|(_, v)| *v)
        };
        assert_eq!(get("LAB/30d/count"), Some(1.0));
        assert_eq!(get("LAB/365d/count"), Some(3.0));
        assert_eq!(get("LAB/365d/last"), Some(6.0));
        assert_eq!(get("LAB/365d/min"), Some(5.0));
        assert_eq!(get("LAB/365d/max"), Some(7.0));
        assert_eq!(get("LAB/365d/mean"), Some(6.0));
        assert_eq!(get("DX/30d/count"), Some(1.0));
        assert_eq!(get("static/GENDER/F"), Some(1.0));
        assert!((get("age").expect("age") - 18_600.0 / 365.25).abs() < 1e-3);
        // The event at the prediction time counts; one a microsecond later does not.
        let before = &f.featurize(&t, &codes, &[pt - 1])[0];
        assert_ne!(before, row, "the event at the prediction time is an input");
        let mut later = t.clone();
        later.push(Some(pt + 1), codes.intern("DX"), None, None);
        assert_eq!(&f.featurize(&later, &codes, &[pt])[0], row, "nothing after the prediction time");
        for w in row.windows(2) {
            assert!(w[0].0 < w[1].0, "indices increase");
        }
    }
}
