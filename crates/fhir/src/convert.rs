//! One FHIR resource → timeline events, or a named reason to skip it, or an error to quarantine it.

use crate::resource::{CodeableConcept, Resource};
use crate::{time, units, vocabulary};

/// A clinical event read from FHIR, keyed later by its patient.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Microseconds since the epoch (UTC), `None` for static facts (gender, race, ethnicity).
    pub time: Option<i64>,
    /// The MEDS code (`LOINC/4548-4`).
    pub code: String,
    /// The value in the code's canonical unit.
    pub numeric_value: Option<f32>,
    /// Free text (notes, string values).
    pub text_value: Option<String>,
}

/// What became of one resource.
#[derive(Debug, Clone, PartialEq)]
pub enum Converted {
    /// Events for the patient with this source id.
    Events {
        /// The patient's id in the source (`Patient.id`).
        patient: String,
        /// The events.
        events: Vec<Event>,
    },
    /// Nothing a timeline needs; the reason names why.
    Skipped(&'static str),
    /// Malformed or unusable: the error says what (never the resource's content).
    Quarantined(String),
}

/// Notes for the report: unknown code systems and unconvertible units met while converting.
#[derive(Debug, Default)]
pub struct Notes {
    /// Code systems with no prefix in the table.
    pub unknown_systems: Vec<String>,
    /// `(code, unit)` values kept as recorded because the unit could not be converted.
    pub unconverted_units: Vec<(String, String)>,
}

/// Resource types that carry nothing a timeline needs, with the reason reported.
pub fn skip_reason(resource_type: &str) -> Option<&'static str> {
    Some(match resource_type {
        "Claim" | "ExplanationOfBenefit" | "Coverage" => "billing: no clinical event beyond what other resources carry",
        "Organization" | "Practitioner" | "PractitionerRole" | "Location" | "CareTeam" | "Group" => {
            "directory data: describes who and where, not what happened to the patient"
        }
        "Device" | "SupplyDelivery" | "Provenance" | "ImagingStudy" | "Goal" | "CarePlan" | "Medication" => {
            "not mapped to timeline events yet"
        }
        _ => return None,
    })
}

fn pick_code(concept: &CodeableConcept, notes: &mut Notes) -> Option<String> {
    let known =
        concept.coding.iter().find(|c| c.code.is_some() && c.system.as_deref().and_then(vocabulary::prefix).is_some());
    let chosen = known.or_else(|| concept.coding.iter().find(|c| c.code.is_some()))?;
    let system = chosen.system.as_deref();
    if let Some(s) = system
        && vocabulary::prefix(s).is_none()
    {
        notes.unknown_systems.push(s.to_owned());
    }
    Some(vocabulary::meds_code(system, chosen.code.as_deref()?))
}

/// The patient id a reference points at: `Patient/123` → `123`; `urn:uuid:…` through `resolve`.
pub fn patient_of(reference: Option<&str>, resolve: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let reference = reference.ok_or("no subject/patient reference")?;
    if let Some(id) = reference.strip_prefix("Patient/") {
        return Ok(id.to_owned());
    }
    if let Some(id) = reference.rsplit_once("/Patient/").map(|(_, id)| id) {
        return Ok(id.to_owned());
    }
    resolve(reference).ok_or_else(|| "reference to a patient not in this bundle".to_owned())
}

fn when(candidates: &[Option<&String>]) -> Result<i64, String> {
    let Some(s) = candidates.iter().flatten().next() else { return Err("no date or time".into()) };
    time::parse_plausible(s).map_err(|e| e.describe("date or time"))
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Decodes standard base64 (whitespace ignored); `None` if malformed.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let mut buf = 0u32;
    let mut bits = 0;
    for b in s.bytes().filter(|b| !b.is_ascii_whitespace()) {
        if b == b'=' {
            break;
        }
        let v = BASE64.iter().position(|&c| c == b)? as u32;
        buf = (buf << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    Some(out)
}

fn text_of(content_type: Option<&str>, data: Option<&str>) -> Result<Option<String>, String> {
    let Some(data) = data else { return Ok(None) };
    if !content_type.unwrap_or("text/plain").starts_with("text/") {
        return Ok(None);
    }
    let bytes = base64_decode(data).ok_or("attachment data is not base64")?;
    String::from_utf8(bytes).map(Some).map_err(|_| "attachment text is not UTF-8".into())
}

fn value_event(code: String, t: i64, q: Option<&crate::resource::Quantity>, notes: &mut Notes) -> Event {
    let numeric_value = q.and_then(|q| {
        let v = q.value?;
        let unit = q.code.as_deref().or(q.unit.as_deref());
        match units::canonical(&code, v, unit) {
            Some(v) => Some(v as f32),
            None => {
                notes.unconverted_units.push((code.clone(), unit.unwrap_or_default().to_owned()));
                Some(v as f32)
            }
        }
    });
    Event { time: Some(t), code, numeric_value, text_value: None }
}

/// Converts one resource. `resolve` maps bundle-local references (`urn:uuid:…`) to patient ids.
pub fn convert(r: &Resource, resolve: &dyn Fn(&str) -> Option<String>, notes: &mut Notes) -> Converted {
    let kind = r.resource_type.as_deref().unwrap_or_default();
    if r.status.as_deref() == Some("entered-in-error") {
        return Converted::Skipped("entered in error");
    }
    if let Some(reason) = skip_reason(kind) {
        return Converted::Skipped(reason);
    }
    let result = match kind {
        "Patient" => patient(r),
        "Encounter" => encounter(r, resolve, notes),
        "Condition" | "AllergyIntolerance" => coded(
            r,
            r.code.as_ref(),
            resolve,
            &[
                r.onset_date_time.as_ref(),
                r.onset_period.as_ref().and_then(|p| p.start.as_ref()),
                r.recorded_date.as_ref(),
            ],
            notes,
        ),
        "Procedure" => coded(
            r,
            r.code.as_ref(),
            resolve,
            &[r.performed_date_time.as_ref(), r.performed_period.as_ref().and_then(|p| p.start.as_ref())],
            notes,
        ),
        "Immunization" => coded(r, r.vaccine_code.as_ref(), resolve, &[r.occurrence_date_time.as_ref()], notes),
        "MedicationRequest" | "MedicationStatement" => {
            let contained = r.medication_reference.as_ref().and_then(|m| contained_medication(r, m));
            if r.medication_codeable_concept.is_none() && contained.is_none() && r.medication_reference.is_some() {
                return Converted::Skipped(
                    "medication given by reference to a Medication resource outside this one (not joined yet)",
                );
            }
            coded(
                r,
                r.medication_codeable_concept.as_ref().or(contained.as_ref()),
                resolve,
                &[r.authored_on.as_ref(), r.effective_date_time.as_ref()],
                notes,
            )
        }
        "Observation" => observation(r, resolve, notes),
        "DiagnosticReport" => diagnostic_report(r, resolve, notes),
        "DocumentReference" => document(r, resolve, notes),
        "" => Err("no resourceType".into()),
        _ => return Converted::Skipped("resource type not used by the timeline"),
    };
    match result {
        Ok((patient, events)) => Converted::Events { patient, events },
        Err(e) => Converted::Quarantined(format!("{kind}: {e}")),
    }
}

type Outcome = Result<(String, Vec<Event>), String>;

/// The code of the contained Medication that a `#id` reference points at.
fn contained_medication(r: &Resource, reference: &crate::resource::Reference) -> Option<CodeableConcept> {
    let id = reference.reference.as_deref()?.strip_prefix('#')?;
    let medication = r.contained.iter().find(|c| {
        c.get("resourceType").and_then(|t| t.as_str()) == Some("Medication")
            && c.get("id").and_then(|i| i.as_str()) == Some(id)
    })?;
    serde_json::from_value(medication.get("code")?.clone()).ok()
}

fn subject(r: &Resource, resolve: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let reference = r.subject.as_ref().or(r.patient.as_ref()).and_then(|s| s.reference.as_deref());
    patient_of(reference, resolve)
}

fn patient(r: &Resource) -> Outcome {
    let id = r.id.clone().ok_or("Patient without an id")?;
    let mut events = Vec::new();
    let gender = match r.gender.as_deref() {
        Some("female") => "GENDER/F",
        Some("male") => "GENDER/M",
        Some("other") => "GENDER/O",
        _ => "GENDER/UNK",
    };
    events.push(Event { time: None, code: gender.into(), numeric_value: None, text_value: None });
    for ext in &r.extension {
        let prefix = match ext.url.as_deref() {
            Some(u) if u.ends_with("us-core-race") => "RACE",
            Some(u) if u.ends_with("us-core-ethnicity") => "ETHNICITY",
            _ => continue,
        };
        for inner in ext.extension.iter().filter(|e| e.url.as_deref() == Some("ombCategory")) {
            if let Some(code) = inner.value_coding.as_ref().and_then(|c| c.code.as_deref()) {
                events.push(Event {
                    time: None,
                    code: format!("{prefix}/{code}"),
                    numeric_value: None,
                    text_value: None,
                });
            }
        }
    }
    if let Some(b) = &r.birth_date {
        let t = time::parse_plausible(b).map_err(|e| e.describe("birthDate"))?;
        events.push(Event { time: Some(t), code: "MEDS_BIRTH".into(), numeric_value: None, text_value: None });
    }
    if let Some(d) = &r.deceased_date_time {
        let t = time::parse_plausible(d).map_err(|e| e.describe("deceasedDateTime"))?;
        events.push(Event { time: Some(t), code: "MEDS_DEATH".into(), numeric_value: None, text_value: None });
    }
    Ok((id, events))
}

fn encounter(r: &Resource, resolve: &dyn Fn(&str) -> Option<String>, notes: &mut Notes) -> Outcome {
    let patient = subject(r, resolve)?;
    let period = r.period.as_ref().ok_or("no period")?;
    let start = when(&[period.start.as_ref()])?;
    let class = match &r.class {
        Some(crate::resource::EncounterClass::Coding(c)) => c.code.clone(),
        Some(crate::resource::EncounterClass::Concepts(v)) => {
            v.first().and_then(|c| c.coding.first()).and_then(|c| c.code.clone())
        }
        None => None,
    }
    .ok_or("no class")?;
    let mut events =
        vec![Event { time: Some(start), code: format!("ENCOUNTER/{class}"), numeric_value: None, text_value: None }];
    if let Some(types) = r.type_.as_ref().and_then(|t| t.as_array()) {
        for t in types {
            if let Ok(concept) = serde_json::from_value::<CodeableConcept>(t.clone())
                && let Some(code) = pick_code(&concept, notes)
            {
                events.push(Event { time: Some(start), code, numeric_value: None, text_value: None });
            }
        }
    }
    // Inpatient stays keep their end, so length of stay is recoverable.
    if class == "IMP"
        && let Some(end) = period.end.as_deref().and_then(|e| time::parse_plausible(e).ok())
    {
        events.push(Event { time: Some(end), code: "ENCOUNTER_END/IMP".into(), numeric_value: None, text_value: None });
    }
    Ok((patient, events))
}

fn coded(
    r: &Resource,
    concept: Option<&CodeableConcept>,
    resolve: &dyn Fn(&str) -> Option<String>,
    times: &[Option<&String>],
    notes: &mut Notes,
) -> Outcome {
    let patient = subject(r, resolve)?;
    let code = concept.and_then(|c| pick_code(c, notes)).ok_or("no code")?;
    let t = when(times)?;
    Ok((patient, vec![Event { time: Some(t), code, numeric_value: None, text_value: None }]))
}

fn observation(r: &Resource, resolve: &dyn Fn(&str) -> Option<String>, notes: &mut Notes) -> Outcome {
    let patient = subject(r, resolve)?;
    let t = when(&[
        r.effective_date_time.as_ref(),
        r.effective_period.as_ref().and_then(|p| p.start.as_ref()),
        r.issued.as_ref(),
    ])?;
    let mut events = Vec::new();
    // Components (systolic and diastolic pressure) are separate events; the panel code carries
    // no value of its own.
    for c in &r.component {
        let Some(code) = c.code.as_ref().and_then(|c| pick_code(c, notes)) else { continue };
        if let Some(v) = c.value_codeable_concept.as_ref().and_then(|v| pick_code(v, notes)) {
            events.push(Event { time: Some(t), code, numeric_value: None, text_value: None });
            events.push(Event { time: Some(t), code: v, numeric_value: None, text_value: None });
        } else {
            events.push(value_event(code, t, c.value_quantity.as_ref(), notes));
        }
    }
    let has_value = r.value_quantity.is_some() || r.value_codeable_concept.is_some() || r.value_string.is_some();
    if events.is_empty() || has_value {
        let code = r.code.as_ref().and_then(|c| pick_code(c, notes)).ok_or("no code")?;
        let mut e = value_event(code, t, r.value_quantity.as_ref(), notes);
        e.text_value = r.value_string.clone();
        events.push(e);
        if let Some(v) = r.value_codeable_concept.as_ref().and_then(|v| pick_code(v, notes)) {
            events.push(Event { time: Some(t), code: v, numeric_value: None, text_value: None });
        }
    }
    Ok((patient, events))
}

fn diagnostic_report(r: &Resource, resolve: &dyn Fn(&str) -> Option<String>, notes: &mut Notes) -> Outcome {
    let patient = subject(r, resolve)?;
    let code = r.code.as_ref().and_then(|c| pick_code(c, notes)).ok_or("no code")?;
    let t = when(&[
        r.effective_date_time.as_ref(),
        r.effective_period.as_ref().and_then(|p| p.start.as_ref()),
        r.issued.as_ref(),
    ])?;
    let mut text = None;
    for a in &r.presented_form {
        if let Some(s) = text_of(a.content_type.as_deref(), a.data.as_deref())? {
            text = Some(s);
            break;
        }
    }
    Ok((patient, vec![Event { time: Some(t), code, numeric_value: None, text_value: text }]))
}

fn document(r: &Resource, resolve: &dyn Fn(&str) -> Option<String>, notes: &mut Notes) -> Outcome {
    let patient = subject(r, resolve)?;
    let concept: CodeableConcept =
        r.type_.as_ref().and_then(|t| serde_json::from_value(t.clone()).ok()).ok_or("no document type")?;
    let code = pick_code(&concept, notes).ok_or("no document type code")?;
    let t = when(&[r.date.as_ref()])?;
    let mut text = None;
    for c in &r.content {
        if let Some(a) = &c.attachment
            && let Some(s) = text_of(a.content_type.as_deref(), a.data.as_deref())?
        {
            text = Some(s);
            break;
        }
    }
    Ok((patient, vec![Event { time: Some(t), code, numeric_value: None, text_value: text }]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip() {
        assert_eq!(base64_decode("Zm9vYmFy").as_deref(), Some(&b"foobar"[..]));
        assert_eq!(base64_decode("Zm8=").as_deref(), Some(&b"fo"[..]));
        assert_eq!(base64_decode("not base64!"), None);
    }
}
