//! One request's patients, de-identified in memory: what the server scores.
//!
//! A request body or a CDS Hooks prefetch holds one patient's record (sometimes a few) as FHIR.
//! [`read_request`] takes it through the same steps as [`crate::run`] takes an export — the same
//! FHIR conversion ([`fhir::read_text`]), the same screening of duplicate and conflicting copies and
//! of codes that carry identifiers, the same de-identification (pseudonymous subject id, dates
//! shifted or kept as the policy says, free text scrubbed) — so that a patient scored at the
//! bedside is the patient the model was validated on, event for event. Nothing is written to
//! disk: what would be quarantined is counted, and the identified record is dropped with the
//! request.

use std::collections::HashMap;

use deid::{DeidReport, Deidentifier};
use meds::{CodeTable, Timeline};

use crate::spill::{Gathered, RecordOrigin, id_hash};
use crate::{IngestError, Withdrawals};

/// The de-identified patients of one request.
#[derive(Debug, Default)]
pub struct RequestPatients {
    /// One timeline per patient, by pseudonymous subject id, each in MEDS order.
    pub timelines: Vec<Timeline>,
    /// For each timeline, the patient as the request named them: for the answer to the caller
    /// only, never to be logged or cached.
    pub sources: Vec<SourcePatient>,
    /// The codes the timelines use.
    pub codes: CodeTable,
    /// Per resource type: read, converted, skipped (with reasons), quarantined.
    pub fhir: fhir::Report,
    /// What de-identification changed.
    pub deidentification: DeidReport,
    /// Records dropped as identical copies of one already read.
    pub duplicates_dropped: u64,
    /// Records withheld: conflicting copies, codes carrying an identifier, and events of a
    /// patient the request never defines (no Patient resource).
    pub withheld: u64,
}

/// A request's patient as the caller knows them: what an answer refers back to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePatient {
    /// The FHIR reference the request used (`Patient/<id>`).
    pub reference: String,
    /// What de-identification added to the patient's times (microseconds), where dates were
    /// shifted: subtract it to give a time of the model's frame in the caller's.
    pub shift: Option<i64>,
}

/// Gathers a request's records per source patient, in memory.
#[derive(Default)]
struct Gatherer {
    patients: HashMap<String, Gathered>,
}

impl fhir::Sink for Gatherer {
    fn events(&mut self, patient: String, events: Vec<fhir::Event>, origin: fhir::Origin<'_>) -> std::io::Result<()> {
        let g = self.patients.entry(patient).or_default();
        g.origins.push(RecordOrigin {
            file: 0,
            position: origin.position,
            resource_type: origin.resource_type.to_string(),
            events: events.len() as u32,
            id: origin.id.map(id_hash),
        });
        g.events.extend(events);
        Ok(())
    }

    fn identifiers(&mut self, patient: String, identifiers: fhir::Identifiers) -> std::io::Result<()> {
        let g = self.patients.entry(patient).or_default();
        match &mut g.identifiers {
            Some(known) => known.merge(identifiers),
            None => g.identifiers = Some(identifiers),
        }
        Ok(())
    }

    fn quarantined(&mut self, _record: fhir::Quarantined) -> std::io::Result<()> {
        // Counted in the report; the raw text (PHI) is not kept.
        Ok(())
    }
}

/// Reads the FHIR document `text` (a Bundle, a resource or an array of them) and de-identifies
/// its patients with `deidentifier`, in memory. See the module documentation.
pub fn read_request(text: &str, deidentifier: &Deidentifier) -> Result<RequestPatients, IngestError> {
    let mut gatherer = Gatherer::default();
    let fhir = fhir::read_text("request", text, &mut gatherer)?;
    let screen = deid::codes::CodeScreen::new();
    let mut withdrawn = Withdrawals::default();
    let mut out = RequestPatients { fhir, ..Default::default() };
    let mut sources: Vec<(String, Gathered)> = gatherer.patients.into_iter().collect();
    sources.sort_by_key(|(source, _)| deidentifier.subject_id(source));
    for (source, g) in sources {
        let Some(identifiers) = g.identifiers.clone() else {
            out.withheld += g.origins.len() as u64;
            continue;
        };
        let events = crate::screen_records(Some(&identifiers), g, &screen, &mut withdrawn);
        if events.is_empty() {
            continue;
        }
        let p = deidentifier.patient(&source, events, Some(&identifiers), &mut out.deidentification);
        let mut t = Timeline::with_capacity(p.subject_id, p.events.len());
        for e in p.events {
            let code = out.codes.intern(&e.code);
            t.push(e.time, code, e.numeric_value, e.text_value);
        }
        // MEDS order, as the dataset writer sorts it: the order the model was trained to read.
        t.sort();
        out.timelines.push(t);
        out.sources
            .push(SourcePatient { reference: format!("Patient/{source}"), shift: deidentifier.date_shift(&source) });
    }
    out.duplicates_dropped = withdrawn.duplicates;
    out.withheld += withdrawn.conflicting + withdrawn.identifier_codes;
    Ok(out)
}
