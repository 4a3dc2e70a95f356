//! # deid — HIPAA Safe Harbor de-identification, before anything is written
//!
//! Takes a source patient's events (from the `fhir` reader or another MEDS dataset) and returns
//! them de-identified:
//! - `subject_id` is a keyed HMAC-SHA256 of the source patient id: the same key gives the same ids
//!   across runs (new extracts line up), and the key is never written anywhere;
//! - dates are moved by one secret per-patient offset (`DateMode::Shift`, intervals preserved)
//!   or reduced to their year (`DateMode::Year`, strict Safe Harbor);
//! - ages over 89 are aggregated: the birth date moves so that no event reveals an age above 90
//!   (the "90 or older" category);
//! - free text is scrubbed of the patient's own identifiers and of identifier patterns, replaced
//!   by typed placeholders.
//!
//! Direct identifiers in structured fields (names, addresses, phones, MRNs…) never become events
//! in the first place: the reader keeps them only to scrub text. Codes are trusted no more than
//! text: [`codes::CodeScreen`] finds a patient's own identifiers, or an identifier pattern, inside
//! a code, and the pipeline quarantines the record that carried it.

#![forbid(unsafe_code)]

pub mod codes;
pub mod key;
pub mod safe_words;
pub mod scrub;

use std::collections::BTreeMap;

use chrono::Datelike;
use fhir::{Event, Identifiers};
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use sha2::Sha256;

pub use key::{KEY_VARIABLE, Key, KeyError};
pub use safe_words::SafeWords;
pub use scrub::Scrubber;

const DAY: i64 = 86_400_000_000;

/// Three-digit ZIP areas with 20,000 people or fewer (HHS Safe Harbor guidance, 2000 Census),
/// which must be reported as `000`.
pub const RESTRICTED_ZIP3: [&str; 17] = [
    "036", "059", "063", "102", "203", "556", "692", "790", "821", "823", "830", "831", "878", "879", "884", "890",
    "893",
];

/// The Safe Harbor form of a ZIP code: its first three digits, or `000` for a restricted area;
/// `None` if it does not start with three digits.
pub fn zip3(zip: &str) -> Option<&'static str> {
    let digits: String = zip.chars().take(3).collect();
    if digits.len() != 3 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    if RESTRICTED_ZIP3.contains(&digits.as_str()) {
        return Some("000");
    }
    // Interned: 1,000 possible values.
    static ZIP3: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let table = ZIP3.get_or_init(|| (0..1000).map(|n| format!("{n:03}")).collect());
    digits.parse::<usize>().ok().and_then(|n| table.get(n)).map(String::as_str)
}
/// 90 years of 365.2425 days, in microseconds.
const NINETY_YEARS: i64 = 90 * 31_556_952_000_000;

/// How dates are de-identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DateMode {
    /// Every date of a patient moves by one secret offset of 1–365 days either way.
    #[default]
    Shift,
    /// Only the year is kept (every time becomes 1 January of its year).
    Year,
}

impl std::fmt::Display for DateMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DateMode::Shift => "shift",
            DateMode::Year => "year",
        })
    }
}

/// Counts of what de-identification changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct DeidReport {
    /// Patients de-identified.
    pub patients: u64,
    /// Events passed through.
    pub events: u64,
    /// Free-text values scrubbed.
    pub texts: u64,
    /// Replacements made in free text, by placeholder.
    pub replacements: BTreeMap<String, u64>,
    /// Patients whose birth date moved into the 90-or-older category.
    pub aged_90_plus: u64,
}

impl DeidReport {
    /// Adds another report's counts (reports of patients de-identified in parallel).
    pub fn merge(&mut self, other: DeidReport) {
        self.patients += other.patients;
        self.events += other.events;
        self.texts += other.texts;
        self.aged_90_plus += other.aged_90_plus;
        for (k, n) in other.replacements {
            *self.replacements.entry(k).or_default() += n;
        }
    }
}

/// One de-identified patient.
#[derive(Debug, Clone, PartialEq)]
pub struct DeidPatient {
    /// The pseudonymous MEDS subject id.
    pub subject_id: i64,
    /// The events, de-identified.
    pub events: Vec<Event>,
}

/// Applies one de-identification policy with one key.
#[derive(Debug)]
pub struct Deidentifier {
    key: Key,
    mode: DateMode,
    scrubber: Scrubber,
}

impl Deidentifier {
    /// A de-identifier for `key` and `mode`.
    pub fn new(key: Key, mode: DateMode) -> Self {
        Self { key, mode, scrubber: Scrubber::new() }
    }

    /// Free text keeps only the words of `words` (besides the patterns): see [`SafeWords`].
    pub fn with_safe_words(mut self, words: SafeWords) -> Self {
        self.scrubber = self.scrubber.with_safe_words(words);
        self
    }

    /// How free text is scrubbed, for reports: `patterns`, or `safe-list (N words)`.
    pub fn text_policy(&self) -> String {
        match self.scrubber.safe_words() {
            Some(w) => format!("safe-list ({} words) and patterns", w.len()),
            None => "patterns".into(),
        }
    }

    fn hmac(&self, purpose: &[u8], source_id: &str) -> [u8; 32] {
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(self.key.bytes()).expect("HMAC accepts keys of any length");
        mac.update(purpose);
        mac.update(&[0]);
        mac.update(source_id.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The pseudonymous subject id of a source patient id (positive, never 0).
    pub fn subject_id(&self, source_id: &str) -> i64 {
        let h = self.hmac(b"subject-id", source_id);
        let v = i64::from_be_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]]) & i64::MAX;
        v.max(1)
    }

    /// The secret date offset of a source patient, in microseconds (1–365 days, either sign).
    pub fn shift(&self, source_id: &str) -> i64 {
        let h = self.hmac(b"date-shift", source_id);
        let days = i64::from(u16::from_be_bytes([h[0], h[1]]) % 365) + 1;
        if h[2] & 1 == 0 { days * DAY } else { -days * DAY }
    }

    /// What this policy adds to a source patient's times, in microseconds: their secret offset
    /// when dates are shifted, none when they are cut to the year.
    pub fn date_shift(&self, source_id: &str) -> Option<i64> {
        match self.mode {
            DateMode::Shift => Some(self.shift(source_id)),
            DateMode::Year => None,
        }
    }

    fn year_of(t: i64) -> i64 {
        let year = chrono::DateTime::from_timestamp_micros(t).map_or(1970, |d| d.year());
        chrono::NaiveDate::from_ymd_opt(year, 1, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map_or(t, |d| d.and_utc().timestamp_micros())
    }

    /// De-identifies one patient's events. `identifiers` (from the source) scrub free text.
    pub fn patient(
        &self,
        source_id: &str,
        mut events: Vec<Event>,
        identifiers: Option<&Identifiers>,
        report: &mut DeidReport,
    ) -> DeidPatient {
        let shift = self.shift(source_id);
        // Compiling the patient's own patterns costs more than scrubbing: only when there is text.
        let scrubber = events.iter().any(|e| e.text_value.is_some()).then(|| self.scrubber.for_patient(identifiers));
        for e in &mut events {
            if let Some(t) = e.time.as_mut() {
                *t = match self.mode {
                    DateMode::Shift => *t + shift,
                    DateMode::Year => Self::year_of(*t),
                };
            }
            if let (Some(text), Some(scrubber)) = (e.text_value.as_mut(), scrubber.as_ref()) {
                *text = scrubber.scrub(text, &mut report.replacements);
                report.texts += 1;
            }
        }
        // Ages over 89: move the birth so that the latest event shows an age of 90 at most.
        let last = events.iter().filter_map(|e| e.time).max();
        if let Some(last) = last
            && let Some(birth) = events.iter_mut().find(|e| e.code == "MEDS_BIRTH").and_then(|e| e.time.as_mut())
            && last - *birth > NINETY_YEARS
        {
            *birth = match self.mode {
                DateMode::Shift => last - NINETY_YEARS,
                DateMode::Year => Self::year_of(last - NINETY_YEARS),
            };
            report.aged_90_plus += 1;
        }
        // Geography survives only as the Safe Harbor three-digit ZIP, a static fact.
        if let Some(zip) = identifiers.and_then(|i| i.zip.as_deref()).and_then(zip3) {
            events.push(Event { time: None, code: format!("ZIP3/{zip}"), numeric_value: None, text_value: None });
        }
        report.patients += 1;
        report.events += events.len() as u64;
        DeidPatient { subject_id: self.subject_id(source_id), events }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> Key {
        Key::from_bytes(&[byte; 40]).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn pseudonyms_and_shifts_are_keyed_stable_and_distinct() {
        let a = Deidentifier::new(key(1), DateMode::Shift);
        let b = Deidentifier::new(key(2), DateMode::Shift);
        assert_eq!(a.subject_id("p1"), a.subject_id("p1"));
        assert_ne!(a.subject_id("p1"), a.subject_id("p2"));
        assert_ne!(a.subject_id("p1"), b.subject_id("p1"));
        let s = a.shift("p1");
        assert!(s != 0 && s.abs() <= 365 * DAY && s % DAY == 0);
        assert!(Key::from_bytes(b"short").is_err());
        assert_eq!(format!("{:?}", key(1)), "Key(<secret>)");
    }

    #[test]
    fn zip_codes_become_three_digits_or_000() {
        assert_eq!(zip3("55901-1234"), Some("559"));
        assert_eq!(zip3("82301"), Some("000"), "Rawlins, WY is a restricted area");
        assert_eq!(zip3("03601"), Some("000"));
        assert_eq!(zip3("N1 9GU"), None);
    }

    #[test]
    fn intervals_survive_and_the_very_old_become_90() {
        let d = Deidentifier::new(key(3), DateMode::Shift);
        let ev =
            |t: Option<i64>, code: &str| Event { time: t, code: code.into(), numeric_value: None, text_value: None };
        let birth = -40 * 365 * DAY; // 1930
        let events =
            vec![ev(None, "GENDER/F"), ev(Some(birth), "MEDS_BIRTH"), ev(Some(0), "A"), ev(Some(55 * 365 * DAY), "B")];
        let mut report = DeidReport::default();
        let p = d.patient("p9", events, None, &mut report);
        assert_eq!(p.events[0].time, None);
        assert_eq!(p.events[3].time.zip(p.events[2].time).map(|(b, a)| b - a), Some(55 * 365 * DAY));
        let new_birth = p.events[1].time.unwrap_or_default();
        let last = p.events[3].time.unwrap_or_default();
        assert_eq!(last - new_birth, NINETY_YEARS, "aged 95 at the last event: shown as 90");
        assert_eq!(report.aged_90_plus, 1);

        let y = Deidentifier::new(key(3), DateMode::Year);
        let p = y.patient("p9", vec![ev(Some(DAY * 400), "A")], None, &mut DeidReport::default());
        assert_eq!(p.events[0].time, Some(365 * DAY), "1971-02-05 becomes 1971-01-01");
    }
}
