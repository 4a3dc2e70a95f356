//! Patients who refused the use of their records for research, and must not be in the dataset.
//!
//! Hospitals keep these lists in the forms their systems use, so an entry may be a bare patient
//! id (`123`), a FHIR reference (`Patient/123`), or an identifier with its system
//! (`urn:oid:1.2.36.146.595.217.0.1|12345`) or without it (`|12345`, or a bare `12345` matching
//! any of the patient's identifiers). An entry that matches no patient is most often a list in
//! another form than the extract (MRNs against FHIR ids): that fails the run unless the user says
//! the list may name patients outside this extract. Entries are never quoted in errors or reports:
//! only counted.

use std::collections::HashSet;

use fhir::Identifiers;
use serde::Serialize;

/// One entry of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    /// A bare value: the patient's id, or any of its identifier values.
    Bare(String),
    /// `Patient/<id>`: the patient's id only.
    Reference(String),
    /// `system|value`: an identifier in that system.
    Identifier {
        /// The system.
        system: String,
        /// The value.
        value: String,
    },
    /// `|value`: an identifier value in any system.
    AnySystem(String),
}

/// A parsed opt-out list, with what has matched so far.
#[derive(Debug, Clone, Default)]
pub struct OptOut {
    entries: Vec<Entry>,
    matched: Vec<bool>,
    /// Whether entries that match no patient are allowed (the list covers more than this extract).
    pub allow_unmatched: bool,
}

/// How the opt-out list was applied: counts only, never entries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct OptOutSummary {
    /// Entries in the list.
    pub entries: usize,
    /// Entries that matched at least one patient.
    pub matched_entries: usize,
    /// Entries that matched no patient in the input.
    pub unmatched_entries: usize,
}

impl OptOut {
    /// Reads the list in the file at `path` ([`OptOut::parse`]); a list that names nobody is
    /// refused (an empty export, or the wrong file), since ingesting with it excludes no one.
    pub fn read(path: &std::path::Path, allow_unmatched: bool) -> Result<Self, crate::IngestError> {
        let text = std::fs::read_to_string(path).map_err(|source| crate::IngestError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(source.kind(), format!("cannot read the opt-out list: {source}")),
        })?;
        let list = Self { allow_unmatched, ..Self::parse(&text) };
        if list.is_empty() {
            return Err(crate::IngestError::OptOutEmpty);
        }
        Ok(list)
    }

    /// Parses a list: one entry per line, blank lines and `#` comments ignored.
    pub fn parse(text: &str) -> Self {
        let entries: Vec<Entry> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| {
                if let Some(id) = l.strip_prefix("Patient/") {
                    Entry::Reference(id.to_owned())
                } else if let Some((system, value)) = l.split_once('|') {
                    if system.is_empty() {
                        Entry::AnySystem(value.to_owned())
                    } else {
                        Entry::Identifier { system: system.to_owned(), value: value.to_owned() }
                    }
                } else {
                    Entry::Bare(l.to_owned())
                }
            })
            .collect();
        let matched = vec![false; entries.len()];
        Self { entries, matched, allow_unmatched: false }
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether the patient with this source id and these identifiers is on the list; marks the
    /// entries that name it.
    pub fn check(&mut self, source_id: &str, identifiers: &Identifiers) -> bool {
        let mut hit = false;
        for (entry, matched) in self.entries.iter().zip(self.matched.iter_mut()) {
            let m = match entry {
                Entry::Reference(id) => id == source_id,
                Entry::Bare(v) => {
                    v == source_id || identifiers.values.iter().any(|(k, x)| *k == fhir::IdentifierKind::Id && x == v)
                }
                Entry::AnySystem(v) => identifiers.systems.iter().any(|(_, x)| x == v),
                Entry::Identifier { system, value } => {
                    identifiers.systems.iter().any(|(s, x)| s == system && x == value)
                }
            };
            if m {
                *matched = true;
                hit = true;
            }
        }
        hit
    }

    /// The counts (the patients excluded are `Summary::opted_out_patients`).
    pub fn summary(&self) -> OptOutSummary {
        let matched = self.matched.iter().filter(|m| **m).count();
        OptOutSummary {
            entries: self.entries.len(),
            matched_entries: matched,
            unmatched_entries: self.entries.len() - matched,
        }
    }
}

/// Patients excluded, by source id, as they are met.
pub(crate) type Excluded = HashSet<String>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_a_hospital_keeps_matches() {
        let ids = Identifiers {
            values: vec![(fhir::IdentifierKind::Id, "MRN-7".into()), (fhir::IdentifierKind::Name, "Ann".into())],
            systems: vec![("urn:mrn".into(), "MRN-7".into())],
            ..Default::default()
        };
        for line in ["p1", "Patient/p1", "MRN-7", "urn:mrn|MRN-7", "|MRN-7"] {
            let mut o = OptOut::parse(&format!("# refused research\n\n{line}\n"));
            assert!(o.check("p1", &ids), "{line}");
            assert_eq!(o.summary().unmatched_entries, 0);
        }
        for line in ["p2", "Patient/MRN-7", "urn:other|MRN-7", "Ann"] {
            let mut o = OptOut::parse(line);
            assert!(!o.check("p1", &ids), "{line} must not match");
            assert_eq!(o.summary(), OptOutSummary { entries: 1, unmatched_entries: 1, ..Default::default() });
        }
    }
}
