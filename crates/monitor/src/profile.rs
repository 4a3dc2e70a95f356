//! A population's data by calendar month: what monitoring compares.
//!
//! Each dated clinical event (demographics and birth left out) counts in the month it happened:
//! events and patients per month, events per code, the numeric values each code carried, the
//! events of a value-carrying code that came without one (missingness), and each patient's
//! events that month. A [`Reference`] summarises a run of months — the model's training
//! period — as rates and distributions small enough to carry in a release.

use std::collections::BTreeMap;

use chrono::{Datelike, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::distribution::Percentiles;

/// A calendar month, `YYYY-MM` (so written in JSON too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Month {
    /// The year.
    pub year: i32,
    /// The month, 1–12.
    pub month: u32,
}

impl Month {
    /// The month holding `micros` (UTC).
    pub fn of(micros: i64) -> Option<Month> {
        let t = chrono::DateTime::from_timestamp_micros(micros)?;
        Some(Month { year: t.year(), month: t.month() })
    }

    /// The month after.
    pub fn next(self) -> Month {
        if self.month == 12 { Month { year: self.year + 1, month: 1 } } else { Month { month: self.month + 1, ..self } }
    }

    /// Its first instant, in microseconds (UTC).
    pub fn start(self) -> i64 {
        Utc.with_ymd_and_hms(self.year, self.month, 1, 0, 0, 0).single().map_or(0, |t| t.timestamp_micros())
    }

    /// Every month from `self` to `last`, both included.
    pub fn through(self, last: Month) -> Vec<Month> {
        let mut out = Vec::new();
        let mut m = self;
        while m <= last {
            out.push(m);
            m = m.next();
        }
        out
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl From<Month> for String {
    fn from(m: Month) -> String {
        m.to_string()
    }
}

impl TryFrom<String> for Month {
    type Error = String;
    fn try_from(s: String) -> Result<Month, String> {
        s.parse()
    }
}

impl std::str::FromStr for Month {
    type Err = String;
    fn from_str(s: &str) -> Result<Month, String> {
        let bad = || format!("a month is YYYY-MM; got {s:?}");
        let (y, m) = s.split_once('-').ok_or_else(bad)?;
        let (year, month) = (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if !(1..=12).contains(&month) {
            return Err(bad());
        }
        Ok(Month { year, month })
    }
}

/// One month of a population's data.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MonthProfile {
    /// Patients with a clinical event in the month.
    pub patients: u64,
    /// Clinical events.
    pub events: u64,
    /// Events per code.
    pub codes: BTreeMap<String, u64>,
    /// The numeric values each code carried.
    pub values: BTreeMap<String, Vec<f64>>,
    /// Events of each code without a numeric value.
    pub without_value: BTreeMap<String, u64>,
    /// Each active patient's number of events.
    pub events_per_patient: Vec<f64>,
}

impl MonthProfile {
    /// Adds another month's (or population's) profile to this one.
    pub fn absorb(&mut self, other: &MonthProfile) {
        self.patients += other.patients;
        self.events += other.events;
        for (c, n) in &other.codes {
            *self.codes.entry(c.clone()).or_default() += n;
        }
        for (c, v) in &other.values {
            self.values.entry(c.clone()).or_default().extend_from_slice(v);
        }
        for (c, n) in &other.without_value {
            *self.without_value.entry(c.clone()).or_default() += n;
        }
        self.events_per_patient.extend_from_slice(&other.events_per_patient);
    }
}

/// Every month of `timelines`, profiled.
pub fn by_month(timelines: &[&meds::Timeline], codes: &meds::CodeTable) -> BTreeMap<Month, MonthProfile> {
    by_month_within(timelines, codes, None)
}

/// The months of `timelines` from `range.0` to `range.1` (every month when `None`), profiled.
pub fn by_month_within(
    timelines: &[&meds::Timeline],
    codes: &meds::CodeTable,
    range: Option<(Month, Month)>,
) -> BTreeMap<Month, MonthProfile> {
    profiles_within(timelines, codes, range, false).all
}

/// A population's months, and each subgroup's.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Profiles {
    /// Everyone.
    pub all: BTreeMap<Month, MonthProfile>,
    /// By subgroup ([`subgroups_of`]): `sex=F`, `sex=M`, `age=18-44`, `age=45-64`, `age=65+`
    /// (age at the event; under 18 is `age=0-17`).
    pub subgroups: BTreeMap<String, BTreeMap<Month, MonthProfile>>,
}

/// The subgroups an event of a patient of `sex` (the code after `GENDER/`) born at `birth`
/// at `time` falls in.
pub fn subgroups_of(sex: Option<&str>, birth: Option<i64>, time: i64) -> Vec<String> {
    let mut out = Vec::with_capacity(2);
    if let Some(sex) = sex {
        out.push(format!("sex={sex}"));
    }
    if let Some(birth) = birth {
        let years = (time - birth) as f64 / 31_556_952_000_000.0;
        let band = match years {
            y if y < 18.0 => "0-17",
            y if y < 45.0 => "18-44",
            y if y < 65.0 => "45-64",
            _ => "65+",
        };
        out.push(format!("age={band}"));
    }
    out
}

/// The months of `timelines` in `range` (every month when `None`), profiled for everyone and,
/// when `by_subgroup`, for each subgroup too.
pub fn profiles_within(
    timelines: &[&meds::Timeline],
    codes: &meds::CodeTable,
    range: Option<(Month, Month)>,
    by_subgroup: bool,
) -> Profiles {
    let birth_code = codes.get(meds::schema::BIRTH_CODE);
    let mut out = Profiles::default();
    let mut this_patient: BTreeMap<(Option<String>, Month), u64> = BTreeMap::new();
    for t in timelines {
        this_patient.clear();
        let birth = t.events().find(|e| Some(e.code) == birth_code).and_then(|e| e.time);
        let sex = t.events().filter(|e| e.time.is_none()).find_map(|e| codes.name(e.code).strip_prefix("GENDER/"));
        for e in t.events() {
            let Some(time) = e.time else { continue };
            if Some(e.code) == birth_code {
                continue;
            }
            let Some(month) = Month::of(time) else { continue };
            if range.is_some_and(|(first, last)| month < first || month > last) {
                continue;
            }
            let code = codes.name(e.code);
            let value = e.numeric_value.map(f64::from);
            add_event(out.all.entry(month).or_default(), code, value);
            *this_patient.entry((None, month)).or_default() += 1;
            if by_subgroup {
                for group in subgroups_of(sex, birth, time) {
                    add_event(out.subgroups.entry(group.clone()).or_default().entry(month).or_default(), code, value);
                    *this_patient.entry((Some(group), month)).or_default() += 1;
                }
            }
        }
        for ((group, month), n) in &this_patient {
            let months = match group {
                None => &mut out.all,
                Some(g) => out.subgroups.entry(g.clone()).or_default(),
            };
            let p = months.entry(*month).or_default();
            p.patients += 1;
            p.events_per_patient.push(*n as f64);
        }
    }
    // A code that never carries a value has no missingness to watch.
    for p in out.all.values_mut().chain(out.subgroups.values_mut().flat_map(|m| m.values_mut())) {
        let valued: Vec<String> = p.values.keys().cloned().collect();
        p.without_value.retain(|c, _| valued.contains(c));
    }
    out
}

fn add_event(p: &mut MonthProfile, code: &str, value: Option<f64>) {
    p.events += 1;
    match value {
        Some(v) => p.values.entry(code.to_string()).or_default().push(v),
        None => *p.without_value.entry(code.to_string()).or_default() += 1,
    }
    *p.codes.entry(code.to_string()).or_default() += 1;
}

/// The smallest count a reference keeps (the usual small-cell rule for released aggregates).
pub const SMALL_CELL: u64 = 11;

/// What a code did in the reference period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodeReference {
    /// Events.
    pub events: u64,
    /// Events per active patient-month.
    pub rate: f64,
}

/// The values a code carried in the reference period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValueReference {
    /// Their distribution.
    pub values: Percentiles,
    /// The share of the code's events without a value.
    pub missing: f64,
    /// The code's events.
    pub events: u64,
}

/// A reference period, summarised: what later months are compared with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    /// The first month.
    pub first: Month,
    /// The last month.
    pub last: Month,
    /// Active patient-months (each month's active patients, summed).
    pub patient_months: u64,
    /// Events.
    pub events: u64,
    /// Per code.
    pub codes: BTreeMap<String, CodeReference>,
    /// Per value-carrying code.
    pub values: BTreeMap<String, ValueReference>,
    /// Events per active patient-month.
    pub events_per_patient: Percentiles,
    /// Each subgroup's reference (see [`Profiles::subgroups`]), where it has data.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub subgroups: BTreeMap<String, Reference>,
}

impl Reference {
    /// The reference of `months` from `first` to `last`; `None` if no month in it has data.
    pub fn of(months: &BTreeMap<Month, MonthProfile>, first: Month, last: Month) -> Option<Reference> {
        let mut all = MonthProfile::default();
        for (_, p) in months.range(first..=last) {
            all.absorb(p);
        }
        if all.patients == 0 {
            return None;
        }
        // A reference travels with the release: small cells are left out (a code seen fewer than
        // SMALL_CELL times counts as unseen), and a distribution's extremes — one patient's values
        // — are trimmed to its 1st and 99th percentiles.
        let codes = all
            .codes
            .iter()
            .filter(|&(_, &n)| n >= SMALL_CELL)
            .map(|(c, &n)| (c.clone(), CodeReference { events: n, rate: n as f64 / all.patients as f64 }))
            .collect();
        let values = all
            .values
            .iter()
            .filter(|(_, v)| v.len() as u64 >= SMALL_CELL)
            .map(|(c, v)| {
                let events = all.codes.get(c).copied().unwrap_or(0);
                let missing = all.without_value.get(c).copied().unwrap_or(0) as f64 / events.max(1) as f64;
                (c.clone(), ValueReference { values: Percentiles::of(v).trimmed(), missing, events })
            })
            .collect();
        Some(Reference {
            first,
            last,
            patient_months: all.patients,
            events: all.events,
            codes,
            values,
            events_per_patient: Percentiles::of(&all.events_per_patient).trimmed(),
            subgroups: BTreeMap::new(),
        })
    }
}

/// The last month with a clinical event in `timelines`.
pub fn last_month(timelines: &[&meds::Timeline], codes: &meds::CodeTable) -> Option<Month> {
    let birth = codes.get(meds::schema::BIRTH_CODE);
    timelines
        .iter()
        .flat_map(|t| t.events().filter(|e| Some(e.code) != birth).filter_map(|e| e.time))
        .max()
        .and_then(Month::of)
}

impl Month {
    /// The month `n` months before.
    pub fn back(self, n: u32) -> Month {
        let index = i64::from(self.year) * 12 + i64::from(self.month) - 1 - i64::from(n);
        Month { year: index.div_euclid(12) as i32, month: index.rem_euclid(12) as u32 + 1 }
    }
}

/// The reference of a MEDS dataset: its last `months` months with data (the practice the model
/// learned last and was validated on); `None` for a dataset without dated events.
pub fn reference_of_dataset(root: &std::path::Path, months: u32) -> meds::Result<Option<Reference>> {
    let (codes, timelines) = meds::Dataset::open(root)?.read_all()?;
    let refs: Vec<&meds::Timeline> = timelines.iter().collect();
    let Some(last) = last_month(&refs, &codes) else { return Ok(None) };
    let first = last.back(months.max(1) - 1);
    let profiled = profiles_within(&refs, &codes, Some((first, last)), true);
    Ok(Reference::of(&profiled.all, first, last).map(|mut r| {
        r.subgroups = profiled
            .subgroups
            .iter()
            .filter_map(|(group, months)| Some((group.clone(), Reference::of(months, first, last)?)))
            .collect();
        r
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_step_across_years_and_read_back() {
        let m: Month = "2019-02".parse().expect("month");
        assert_eq!(m.back(2).to_string(), "2018-12");
        assert_eq!(m.back(0), m);
        assert_eq!(m.back(14).to_string(), "2017-12");
        assert_eq!(Month { year: 2018, month: 12 }.next().to_string(), "2019-01");
        assert_eq!(m.back(3).through(m).len(), 4);
        assert_eq!(Month::of(m.start()), Some(m));
        assert!("2019-13".parse::<Month>().is_err() && "2019".parse::<Month>().is_err());
    }
}
