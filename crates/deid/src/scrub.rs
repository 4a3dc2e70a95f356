//! Free-text scrubbing: the patient's own identifiers, then patterns, replaced by typed
//! placeholders (`[NAME]`, `[DATE]`, `[PHONE]`, …).

use std::collections::BTreeMap;

use fhir::{IdentifierKind, Identifiers};
use regex::{Regex, RegexBuilder};

/// Compiled patterns, built once and shared.
pub struct Scrubber {
    patterns: Vec<(&'static str, Regex)>,
}

impl std::fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scrubber").field("patterns", &self.patterns.len()).finish()
    }
}

fn placeholder(kind: IdentifierKind) -> &'static str {
    match kind {
        IdentifierKind::Name => "[NAME]",
        IdentifierKind::Phone => "[PHONE]",
        IdentifierKind::Email => "[EMAIL]",
        IdentifierKind::Id => "[ID]",
        IdentifierKind::Address => "[ADDRESS]",
        IdentifierKind::City => "[LOCATION]",
        IdentifierKind::Zip => "[ZIP]",
    }
}

const MONTHS: &str = "(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)";

impl Default for Scrubber {
    fn default() -> Self {
        Self::new()
    }
}

impl Scrubber {
    /// Compiles the patterns.
    pub fn new() -> Self {
        let specs: Vec<(&'static str, String)> = vec![
            ("[EMAIL]", r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}".into()),
            ("[URL]", r"(?:https?://|www\.)\S+".into()),
            ("[SSN]", r"\b\d{3}-\d{2}-\d{4}\b".into()),
            ("[PHONE]", r"(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\b\d{3}[\s.-])\d{3}[\s.-]\d{4}\b".into()),
            ("[ID]", r"\b(?:MRN|MR#|record(?:\s+number)?|acct|account)\s*[:#]?\s*[A-Za-z]*\d[\w-]*".into()),
            ("[ID]", r"\bMRN\d+\b".into()),
            ("[IP]", r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b".into()),
            ("[DATE]", format!(r"\b{MONTHS}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}\b")),
            ("[DATE]", format!(r"\b\d{{1,2}}\s+{MONTHS}\.?,?\s+\d{{4}}\b")),
            ("[DATE]", r"\b\d{1,2}[/-]\d{1,2}[/-]\d{2,4}\b".into()),
            ("[DATE]", r"\b\d{4}-\d{2}-\d{2}(?:T[\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?\b".into()),
            ("[ZIP]", r"\b\d{5}(?:-\d{4})?\b".into()),
            ("[NAME]", r"\b(?:Dr|Mr|Mrs|Ms|Mx|Miss)\.?(?:/(?:Mr|Mrs|Ms)\.?)?\s+[A-Z][\p{L}'-]+".into()),
        ];
        let patterns = specs
            .into_iter()
            .filter_map(|(tag, re)| RegexBuilder::new(&re).case_insensitive(true).build().ok().map(|r| (tag, r)))
            .collect();
        Self { patterns }
    }

    /// Compiles the literal patterns of one patient's identifiers into one case-insensitive
    /// regex (a named group per kind, longest values first). Build it once per patient, use it for
    /// every note of that patient.
    pub fn for_patient(&self, identifiers: Option<&Identifiers>) -> PatientScrubber<'_> {
        let mut by_kind: BTreeMap<IdentifierKind, Vec<&str>> = BTreeMap::new();
        for (kind, value) in identifiers.map(|i| i.values.as_slice()).unwrap_or_default() {
            if value.chars().count() >= 2 {
                by_kind.entry(*kind).or_default().push(value);
            }
        }
        let mut kinds = Vec::new();
        let mut groups = Vec::new();
        for (kind, mut values) in by_kind {
            values.sort_by_key(|v| std::cmp::Reverse(v.len()));
            values.dedup();
            let alternatives: Vec<String> = values
                .iter()
                .map(|v| {
                    let escaped = regex::escape(v);
                    if v.chars().all(char::is_alphanumeric) { format!(r"\b{escaped}\b") } else { escaped }
                })
                .collect();
            groups.push(format!("(?P<k{}>{})", kinds.len(), alternatives.join("|")));
            kinds.push(placeholder(kind));
        }
        let own = (!groups.is_empty())
            .then(|| RegexBuilder::new(&groups.join("|")).case_insensitive(true).build().ok())
            .flatten();
        PatientScrubber { own, kinds, shared: self }
    }

    /// Scrubs `text` of `identifiers` and of the patterns (see [`Scrubber::for_patient`] to scrub
    /// many texts of one patient); counts replacements by placeholder into `counts`.
    pub fn scrub(&self, text: &str, identifiers: Option<&Identifiers>, counts: &mut BTreeMap<String, u64>) -> String {
        self.for_patient(identifiers).scrub(text, counts)
    }
}

/// A scrubber specialised to one patient's identifiers.
pub struct PatientScrubber<'a> {
    own: Option<Regex>,
    kinds: Vec<&'static str>,
    shared: &'a Scrubber,
}

impl PatientScrubber<'_> {
    /// Scrubs the patient's own identifiers first, then the shared patterns.
    pub fn scrub(&self, text: &str, counts: &mut BTreeMap<String, u64>) -> String {
        let mut out = text.to_owned();
        if let Some(re) = &self.own {
            let replaced = re.replace_all(&out, |caps: &regex::Captures<'_>| {
                let tag = (0..self.kinds.len())
                    .find(|k| caps.name(&format!("k{k}")).is_some())
                    .map_or("[REDACTED]", |k| self.kinds[k]);
                *counts.entry(tag.to_owned()).or_default() += 1;
                tag
            });
            out = replaced.into_owned();
        }
        for (tag, re) in &self.shared.patterns {
            let n = re.find_iter(&out).count() as u64;
            if n > 0 {
                out = re.replace_all(&out, *tag).into_owned();
                *counts.entry((*tag).to_owned()).or_default() += n;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_and_own_identifiers() {
        let s = Scrubber::new();
        let ids = Identifiers {
            values: vec![(IdentifierKind::Name, "Zoë".into()), (IdentifierKind::Name, "Nguyễn".into())],
            ..Default::default()
        };
        let mut counts = BTreeMap::new();
        let out = s.scrub(
            "Zoë NGUYỄN seen 03/04/2019 and March 4, 2019 by Dr. Okafor; call (555) 555-1234, zoe@x.org, SSN 900-12-3456, MRN00012345, ZIP 55901. HbA1c 6.5%.",
            Some(&ids),
            &mut counts,
        );
        for leaked in ["Zoë", "NGUY", "03/04", "March", "Okafor", "555-1234", "zoe@", "900-12", "00012345", "55901"] {
            assert!(!out.contains(leaked), "{leaked} left in: {out}");
        }
        assert!(out.contains("HbA1c 6.5%"), "clinical content kept: {out}");
        assert!(out.contains("[NAME] [NAME] seen [DATE] and [DATE]"), "{out}");
        assert!(counts["[DATE]"] >= 2);
    }
}
