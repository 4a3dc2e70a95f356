//! Measuring de-identification, not assuming it: given the identifiers planted in the source
//! (the generator's ground truth), count how many survive in the written MEDS dataset.
//!
//! - **Structured**: every planted value is present in the source's structured fields (names,
//!   addresses, telecom, identifiers of the Patient resource). It has survived if it appears in
//!   any code of the patient's de-identified timeline.
//! - **Free text**: every occurrence of a planted value in the patient's source text (notes,
//!   string values) is counted; each occurrence still present in the patient's de-identified text
//!   is a leak.
//!
//! Matching is case-insensitive on whole words (a planted "Ann" is not found inside "Annual").
//! Two-letter state abbreviations are not measured: Safe Harbor allows geography at state level.
//! The measurement holds the source texts and the output in memory: it is meant for validation runs on
//! synthetic data, not for production extracts.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use deid::Deidentifier;
use serde::Serialize;

use crate::IngestError;

/// Targets (issue #5): every structured identifier removed; at least 99% of occurrences in text.
pub const STRUCTURED_TARGET: f64 = 1.0;
/// See [`STRUCTURED_TARGET`].
pub const TEXT_TARGET: f64 = 0.99;

/// Counts for one kind of identifier.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct KindCounts {
    /// Planted values audited (direct identifiers are in the Patient resource's structured
    /// fields; note dates only in text).
    pub planted: u64,
    /// Planted values found in the patient's output codes.
    pub structured_leaks: u64,
    /// Occurrences in the patient's source text.
    pub text_occurrences: u64,
    /// Occurrences still in the patient's output text.
    pub text_leaks: u64,
}

/// One surviving identifier: whose (pseudonym), what kind and where — never the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Leak {
    /// The pseudonymous subject id.
    pub subject_id: i64,
    /// The kind of identifier (`family_name`, `mrn`, …).
    pub kind: String,
    /// `code` or `text`.
    pub place: String,
}

/// What the measurement found: identifiers that survived, per kind.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct Leakage {
    /// Patients with planted identifiers that were found in the output.
    pub patients: u64,
    /// Patients with planted identifiers not in the output (opted out, or no events).
    pub patients_not_written: u64,
    /// Counts per kind of identifier.
    pub kinds: BTreeMap<String, KindCounts>,
    /// Share of planted values absent from output codes (1.0 when none was planted).
    pub structured_recall: f64,
    /// Share of text occurrences removed (1.0 when there were none).
    pub text_recall: f64,
    /// Whether both targets are met. The report never claims safety the figures do not show.
    pub meets_targets: bool,
    /// The first leaks found (up to 100), without values.
    pub leaks: Vec<Leak>,
}

/// Occurrences of `needle` in `hay` as a whole word; both already lower-cased.
pub fn count_words(hay: &str, needle: &str) -> u64 {
    if needle.is_empty() {
        return 0;
    }
    let mut n = 0;
    let mut from = 0;
    while let Some(at) = hay[from..].find(needle) {
        let start = from + at;
        let end = start + needle.len();
        let before = hay[..start].chars().next_back().is_some_and(char::is_alphanumeric);
        let after = hay[end..].chars().next().is_some_and(char::is_alphanumeric);
        if !before && !after {
            n += 1;
        }
        from = start + needle.chars().next().map_or(1, char::len_utf8);
    }
    n
}

/// Source texts per patient.
#[derive(Default)]
struct Texts(HashMap<String, Vec<String>>);

impl fhir::Sink for Texts {
    fn events(&mut self, patient: String, events: Vec<fhir::Event>, _: fhir::Origin<'_>) -> std::io::Result<()> {
        let texts: Vec<String> = events.into_iter().filter_map(|e| e.text_value).map(|t| t.to_lowercase()).collect();
        if !texts.is_empty() {
            self.0.entry(patient).or_default().extend(texts);
        }
        Ok(())
    }

    fn identifiers(&mut self, _: String, _: fhir::Identifiers) -> std::io::Result<()> {
        Ok(())
    }

    fn quarantined(&mut self, _: fhir::Quarantined) -> std::io::Result<()> {
        Ok(())
    }
}

/// Audits the dataset at `output`, written from the FHIR `source` with `deidentifier`, against the
/// `planted` identifiers (source patient id → `(kind, value)`).
pub fn measure(
    planted: &BTreeMap<String, Vec<(String, String)>>,
    source: &[PathBuf],
    output: &Path,
    deidentifier: &Deidentifier,
) -> Result<Leakage, IngestError> {
    let mut texts = Texts::default();
    fhir::read(source, &mut texts, &|_| {})?;
    let (codes, timelines) = meds::Dataset::open(output)?.read_all()?;
    let written: HashMap<i64, (Vec<String>, Vec<String>)> = timelines
        .iter()
        .map(|t| {
            let mut code_names: Vec<String> = t.events().map(|e| codes.name(e.code).to_lowercase()).collect();
            code_names.sort_unstable();
            code_names.dedup();
            let text: Vec<String> = t.events().filter_map(|e| e.text_value.map(str::to_lowercase)).collect();
            (t.subject_id, (code_names, text))
        })
        .collect();
    let mut a = Leakage::default();
    for (source_id, values) in planted {
        let subject_id = deidentifier.subject_id(source_id);
        let Some((out_codes, out_texts)) = written.get(&subject_id) else {
            a.patients_not_written += 1;
            continue;
        };
        a.patients += 1;
        let src_texts = texts.0.get(source_id).map(Vec::as_slice).unwrap_or_default();
        for (kind, value) in values {
            if value.chars().count() <= 2 {
                continue;
            }
            let value = value.to_lowercase();
            let c = a.kinds.entry(kind.clone()).or_default();
            c.planted += 1;
            let mut leak = |place: &str| {
                if a.leaks.len() < 100 {
                    a.leaks.push(Leak { subject_id, kind: kind.clone(), place: place.to_string() });
                }
            };
            if out_codes.iter().any(|code| count_words(code, &value) > 0) {
                c.structured_leaks += 1;
                leak("code");
            }
            c.text_occurrences += src_texts.iter().map(|t| count_words(t, &value)).sum::<u64>();
            let leaked: u64 = out_texts.iter().map(|t| count_words(t, &value)).sum();
            if leaked > 0 {
                c.text_leaks += leaked;
                leak("text");
            }
        }
    }
    let total = |f: fn(&KindCounts) -> u64| a.kinds.values().map(f).sum::<u64>();
    let recall = |leaks: u64, of: u64| if of == 0 { 1.0 } else { 1.0 - leaks.min(of) as f64 / of as f64 };
    a.structured_recall = recall(total(|c| c.structured_leaks), total(|c| c.planted));
    a.text_recall = recall(total(|c| c.text_leaks), total(|c| c.text_occurrences));
    a.meets_targets = a.patients > 0 && a.structured_recall >= STRUCTURED_TARGET && a.text_recall >= TEXT_TARGET;
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::count_words;

    #[test]
    fn whole_words_only_in_any_script() {
        assert_eq!(count_words("ann saw annual ann.", "ann"), 2);
        assert_eq!(count_words("mrn19000000 and xmrn19000000", "mrn19000000"), 1);
        assert_eq!(count_words("zoë zoë-ångström", "zoë"), 2);
        assert_eq!(count_words("東京 東京都", "東京"), 1);
        assert_eq!(count_words("(239) 555-4695 called", "(239) 555-4695"), 1);
        assert_eq!(count_words("", "x"), 0);
    }
}
