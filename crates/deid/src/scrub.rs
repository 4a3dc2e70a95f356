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

    /// Scrubs `text` of `identifiers` (literal, case-insensitive, longest first) and of the
    /// patterns; counts replacements by placeholder into `counts`.
    pub fn scrub(&self, text: &str, identifiers: Option<&Identifiers>, counts: &mut BTreeMap<String, u64>) -> String {
        let mut out = text.to_owned();
        if let Some(ids) = identifiers {
            let mut values: Vec<&(IdentifierKind, String)> =
                ids.values.iter().filter(|(_, v)| v.chars().count() >= 2).collect();
            values.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
            for (kind, value) in values {
                let escaped = regex::escape(value);
                let pattern =
                    if value.chars().all(char::is_alphanumeric) { format!(r"\b{escaped}\b") } else { escaped };
                if let Ok(re) = RegexBuilder::new(&pattern).case_insensitive(true).build() {
                    let n = re.find_iter(&out).count() as u64;
                    if n > 0 {
                        out = re.replace_all(&out, placeholder(*kind)).into_owned();
                        *counts.entry(placeholder(*kind).to_owned()).or_default() += n;
                    }
                }
            }
        }
        for (tag, re) in &self.patterns {
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
            zip: None,
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
