//! Identifiers inside codes. A code is structured data, but it is typed by people and local
//! systems: a patient's SSN entered as a Condition's code, or a name inside a local code system's
//! code, would otherwise reach the dataset and its `codes.parquet` verbatim. Every code is
//! screened against the patient's own identifiers and the patterns that only identifiers have;
//! a hit quarantines the record that carried it, and is never written.

use fhir::{IdentifierKind, Identifiers};
use regex::Regex;

/// The patterns that, inside a code, can only be an identifier (dates, ZIP-like numbers and
/// record-number shapes are left out: vocabularies are full of such digits).
const PATTERNS: [(&str, &str); 3] = [
    ("an SSN pattern", r"\b\d{3}-\d{2}-\d{4}\b"),
    ("an email address", r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"),
    ("a phone number pattern", r"(?:\(\d{3}\)\s?|\b\d{3}[\s.-])\d{3}[\s.-]\d{4}\b"),
];

/// Identifier values shorter than this are not looked for in codes (initials, two-letter
/// given names: matching them would quarantine clinical codes by coincidence).
const MIN_NAME: usize = 3;
/// Numbers with fewer significant characters than this are not looked for inside longer codes
/// (a five-digit MRN is also a fragment of many SNOMED codes); they must match a code whole.
const MIN_EMBEDDED_ID: usize = 7;

/// The screen, built once.
#[derive(Debug)]
pub struct CodeScreen {
    patterns: Vec<(&'static str, Regex)>,
}

impl Default for CodeScreen {
    fn default() -> Self {
        Self::new()
    }
}

/// Letters and digits only, lower case: `123-45-6789` and `123456789` are one number.
fn squeeze(s: &str) -> String {
    s.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

/// The code's words: runs of letters or digits, lower case.
fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

/// A [`CodeScreen`] for one patient: the identifiers prepared once, and each distinct code
/// screened once.
#[derive(Debug)]
pub struct PatientCodeScreen<'a> {
    shared: &'a CodeScreen,
    identifiers: Option<&'a Identifiers>,
    seen: std::cell::RefCell<std::collections::HashMap<String, Option<&'static str>>>,
}

impl PatientCodeScreen<'_> {
    /// As [`CodeScreen::screen`], remembering the answer for the code.
    pub fn screen(&self, code: &str) -> Option<&'static str> {
        if let Some(answer) = self.seen.borrow().get(code) {
            return *answer;
        }
        let answer = self.shared.screen(code, self.identifiers);
        self.seen.borrow_mut().insert(code.to_owned(), answer);
        answer
    }
}

impl CodeScreen {
    /// The screen for one patient's codes (see [`PatientCodeScreen`]).
    pub fn for_patient<'a>(&'a self, identifiers: Option<&'a Identifiers>) -> PatientCodeScreen<'a> {
        PatientCodeScreen { shared: self, identifiers, seen: Default::default() }
    }

    /// Compiles the patterns.
    pub fn new() -> Self {
        let patterns = PATTERNS.iter().filter_map(|(what, re)| Regex::new(re).ok().map(|r| (*what, r))).collect();
        Self { patterns }
    }

    /// What identifier `code` (a MEDS code, `SYSTEM/value`) appears to carry, if any: one of the
    /// patient's own identifiers, or an identifier pattern. The answer names a kind, never the
    /// value.
    pub fn screen(&self, code: &str, identifiers: Option<&Identifiers>) -> Option<&'static str> {
        // The vocabulary prefix is ours (or a system URL); the value after it is the input.
        let value = code.split_once('/').map_or(code, |(_, v)| v);
        if let Some((what, _)) = self.patterns.iter().find(|(_, re)| re.is_match(value)) {
            return Some(what);
        }
        let ids = identifiers?;
        let code_words = words(value);
        let code_squeezed = squeeze(value);
        for (kind, v) in &ids.values {
            match kind {
                IdentifierKind::Id | IdentifierKind::Phone | IdentifierKind::Zip => {
                    let id = squeeze(v);
                    if id.len() >= MIN_NAME
                        && (code_squeezed == id || (id.len() >= MIN_EMBEDDED_ID && code_squeezed.contains(&id)))
                    {
                        return Some(match kind {
                            IdentifierKind::Phone => "the patient's phone number",
                            IdentifierKind::Zip => "the patient's postal code",
                            _ => "one of the patient's identifiers",
                        });
                    }
                }
                IdentifierKind::Email => {
                    if value.to_lowercase().contains(&v.to_lowercase()) {
                        return Some("the patient's email address");
                    }
                }
                IdentifierKind::Name | IdentifierKind::Address | IdentifierKind::City => {
                    let parts = words(v);
                    let significant: Vec<&String> = parts.iter().filter(|p| p.chars().count() >= MIN_NAME).collect();
                    if significant.is_empty() {
                        continue;
                    }
                    // Every significant word of the value, as whole words of the code.
                    let found = significant.iter().all(|p| code_words.iter().any(|w| w == *p))
                        || (significant.len() == 1
                            && code_squeezed.contains(significant[0].as_str())
                            && significant[0].chars().count() >= 5);
                    if found {
                        return Some(match kind {
                            IdentifierKind::Name => "the patient's name",
                            IdentifierKind::Address => "the patient's street address",
                            _ => "the patient's city",
                        });
                    }
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> Identifiers {
        Identifiers {
            values: vec![
                (IdentifierKind::Name, "Zzyzx".into()),
                (IdentifierKind::Name, "Al".into()),
                (IdentifierKind::Id, "900-12-3456".into()),
                (IdentifierKind::Id, "44054".into()),
                (IdentifierKind::Address, "12 Quarry Lane".into()),
                (IdentifierKind::City, "Springfield".into()),
            ],
            ..Default::default()
        }
    }

    #[test]
    fn a_patients_own_identifiers_inside_codes_are_found() {
        let s = CodeScreen::new();
        let ids = ids();
        assert_eq!(s.screen("SNOMED/900123456", Some(&ids)), Some("one of the patient's identifiers"));
        assert_eq!(s.screen("SNOMED/900-12-3456", None), Some("an SSN pattern"), "a pattern needs no list");
        assert_eq!(s.screen("LOCAL/DX_ZZYZX_FOLLOWUP", Some(&ids)), Some("the patient's name"));
        assert_eq!(s.screen("LOCAL/zzyzxclinic", Some(&ids)), Some("the patient's name"));
        assert_eq!(s.screen("LOCAL/12-quarry-lane", Some(&ids)), Some("the patient's street address"));
        assert_eq!(s.screen("http://x.org/cs/call-555-555-1234", None), Some("a phone number pattern"));
        assert_eq!(s.screen("LOCAL/a@b.org", None), Some("an email address"));
    }

    #[test]
    fn clinical_codes_pass() {
        let s = CodeScreen::new();
        let ids = ids();
        // A short MRN is a fragment of a real SNOMED code: only a whole match counts.
        for code in ["SNOMED/44054006", "LOINC/4548-4", "ICD10CM/E11.9", "RXNORM/860975", "ENCOUNTER/AMB", "GENDER/F"] {
            assert_eq!(s.screen(code, Some(&ids)), None, "{code}");
        }
        assert_eq!(s.screen("SNOMED/44054", Some(&ids)), Some("one of the patient's identifiers"));
        // "Al" is too short to look for; "Springfield" is a whole word only.
        assert_eq!(s.screen("LOCAL/ALT_PANEL", Some(&ids)), None);
    }
}
