//! FHIR R4 output: the recorded world of each patient as resources, written as Bulk Data NDJSON
//! (one file per resource type) and, optionally, one transaction Bundle per patient as Synthea
//! writes them.
//!
//! Resources are derived from the same timeline the MEDS output holds, so that ingesting this FHIR
//! gives back the MEDS events (modulo de-identification): demographics and birth/death go to
//! `Patient` (with the planted identifiers), `ENCOUNTER/*` events to `Encounter` (the visit's CPT
//! code as its type, the inpatient end as its period end), ICD-10-CM to `Condition`, LOINC values
//! to `Observation` (blood pressure as a panel with systolic and diastolic components), RxNorm to
//! `MedicationRequest`, other CPT codes to `Procedure`, and notes to `DocumentReference`.

use std::fmt::Write as _;

use meds::{CodeTable, Timeline};

use crate::calendar::{HOUR, ymd};
use crate::simulate::SimulatedPatient;
use crate::vocab::{demographics, encounter, lab};

/// The resource types written, in file order.
pub const RESOURCE_TYPES: [&str; 7] =
    ["Patient", "Encounter", "Condition", "Observation", "MedicationRequest", "Procedure", "DocumentReference"];

/// Code system URLs by vocabulary prefix.
pub fn system_of(vocabulary: &str) -> &'static str {
    match vocabulary {
        "ICD10CM" => "http://hl7.org/fhir/sid/icd-10-cm",
        "LOINC" => "http://loinc.org",
        "RXNORM" => "http://www.nlm.nih.gov/research/umls/rxnorm",
        "CPT4" => "http://www.ama-assn.org/go/cpt",
        _ => "urn:longitude:unknown",
    }
}

/// The UCUM unit of each LOINC code the simulator reports, with the site-dependent glucose units.
pub fn ucum_unit(loinc: &str) -> &'static str {
    match loinc {
        "4548-4" => "%",
        "2345-7" | "2160-0" | "2093-3" | "13457-7" | "2085-9" => "mg/dL",
        "14749-6" | "2823-3" | "2951-2" => "mmol/L",
        "62238-1" => "mL/min/{1.73_m2}",
        "14959-1" => "mg/g",
        "718-7" => "g/dL",
        "777-3" => "10*3/uL",
        "33762-6" => "pg/mL",
        "8480-6" | "8462-4" => "mm[Hg]",
        "8867-4" => "/min",
        "29463-7" => "kg",
        "39156-5" => "kg/m2",
        _ => "1",
    }
}

fn vital_sign(loinc: &str) -> bool {
    matches!(loinc, "8480-6" | "8462-4" | "8867-4" | "29463-7" | "39156-5" | "85354-9")
}

/// A FHIR `dateTime` (UTC) from microseconds since the epoch.
pub fn date_time(t: i64) -> String {
    let (y, m, d) = ymd(t);
    let secs = t.rem_euclid(86_400_000_000) / 1_000_000;
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs / 60 % 60, secs % 60)
}

fn date(t: i64) -> String {
    let (y, m, d) = ymd(t);
    format!("{y:04}-{m:02}-{d:02}")
}

/// A deterministic version-4-shaped UUID for the `n`-th resource of a patient.
pub fn uuid(seed: u64, subject_id: i64, n: u64) -> String {
    let mut rng_a = crate::simulate::stream(seed, subject_id as u64, u64::MAX - 2, n);
    use rand::RngExt;
    let a: u64 = rng_a.random();
    let b: u64 = rng_a.random();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        0x8000 | (b >> 48 & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (FHIR `base64Binary`).
pub fn base64(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(BASE64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// How references are written: `Patient/<id>` in NDJSON, `urn:uuid:<id>` inside a Bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum References {
    /// `Type/id`, as Bulk Data NDJSON uses.
    Relative,
    /// `urn:uuid:id`, as transaction Bundles with `urn:uuid:` full URLs use.
    UrnUuid,
}

/// One patient's resources as JSON text, by type (indexes into [`RESOURCE_TYPES`]).
#[derive(Debug, Default)]
pub struct PatientResources {
    /// `(type index, id, resource JSON)` in a stable order; the Patient first.
    pub resources: Vec<(usize, String, String)>,
}

impl PatientResources {
    /// Appends each resource as one NDJSON line to the buffer of its type.
    pub fn append_ndjson(&self, buffers: &mut [String; 7]) {
        for (kind, _, json) in &self.resources {
            buffers[*kind].push_str(json);
            buffers[*kind].push('\n');
        }
    }

    /// A transaction Bundle with `urn:uuid:` full URLs (build the resources with
    /// [`References::UrnUuid`]).
    pub fn bundle(&self) -> String {
        let mut out = String::from(r#"{"resourceType":"Bundle","type":"transaction","entry":["#);
        for (i, (kind, id, json)) in self.resources.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(
                out,
                r#"{{"fullUrl":"urn:uuid:{id}","resource":{json},"request":{{"method":"POST","url":"{}"}}}}"#,
                RESOURCE_TYPES[*kind]
            );
        }
        out.push_str("]}");
        out
    }

    /// The resources parsed back into JSON values (for tests and tools, not the hot path).
    pub fn values(&self) -> Vec<serde_json::Value> {
        self.resources.iter().filter_map(|(_, _, json)| serde_json::from_str(json).ok()).collect()
    }
}

/// Writes `s` as a JSON string literal.
fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A JSON number for a measured value (`null` for NaN: FHIR has no NaN).
fn number(out: &mut String, v: f32) {
    if v.is_finite() {
        let _ = write!(out, "{v}");
    } else {
        out.push_str("null");
    }
}

/// `{"coding":[{"system":…,"code":…,"display":…}],"text":…}` for a prefixed code.
fn codeable(out: &mut String, code: &str, codes: &CodeTable) {
    let (vocabulary, value) = code.split_once('/').unwrap_or(("", code));
    let display = codes.get(code).and_then(|id| codes.info(id).description.as_deref()).unwrap_or_default();
    let _ = write!(out, r#"{{"coding":[{{"system":"{}","code":"#, system_of(vocabulary));
    string(out, value);
    out.push_str(r#","display":"#);
    string(out, display);
    out.push_str(r#"}],"text":"#);
    string(out, display);
    out.push('}');
}

fn reference(out: &mut String, mode: References, kind: &str, id: &str) {
    match mode {
        References::Relative => {
            let _ = write!(out, r#"{{"reference":"{kind}/{id}"}}"#);
        }
        References::UrnUuid => {
            let _ = write!(out, r#"{{"reference":"urn:uuid:{id}"}}"#);
        }
    }
}

fn quantity(out: &mut String, v: f32, loinc: &str) {
    let unit = ucum_unit(loinc);
    out.push_str(r#"{"value":"#);
    number(out, v);
    let _ = write!(out, r#","unit":"{unit}","system":"http://unitsofmeasure.org","code":"{unit}"}}"#);
}

/// Builds the FHIR resources of one simulated patient.
pub fn resources(p: &SimulatedPatient, codes: &CodeTable, seed: u64, mode: References) -> PatientResources {
    let t: &Timeline = &p.timeline;
    let id = &p.identity;
    let sid = p.person.subject_id;
    let mut counter = 0u64;
    let mut next_id = || {
        counter += 1;
        uuid(seed, sid, counter)
    };
    let patient_id = next_id();
    let mut subject = String::new();
    reference(&mut subject, mode, "Patient", &patient_id);
    let mut out = PatientResources::default();
    let name = |code: u32| codes.name(code);

    // Patient, with the planted identifiers.
    let race = demographics::RACES[p.person.race];
    let ethnicity = if p.person.hispanic { demographics::HISPANIC } else { demographics::NOT_HISPANIC };
    let mut r = String::with_capacity(1500);
    let _ = write!(r, r#"{{"resourceType":"Patient","id":"{patient_id}","extension":["#);
    for (i, (code, url)) in [
        (race, "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"),
        (ethnicity, "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity"),
    ]
    .into_iter()
    .enumerate()
    {
        let omb = code.0.split_once('/').map_or(code.0, |(_, c)| c);
        if i > 0 {
            r.push(',');
        }
        let _ = write!(
            r,
            r#"{{"url":"{url}","extension":[{{"url":"ombCategory","valueCoding":{{"system":"urn:oid:2.16.840.1.113883.6.238","code":"{omb}","display":"{d}"}}}},{{"url":"text","valueString":"{d}"}}]}}"#,
            d = code.1
        );
    }
    r.push_str(r#"],"identifier":[{"type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0203","code":"MR","display":"Medical record number"}]},"system":"http://hospital.longitude.example/mrn","value":"#);
    string(&mut r, &id.mrn);
    r.push_str(r#"},{"type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0203","code":"SS","display":"Social Security number"}]},"system":"http://hl7.org/fhir/sid/us-ssn","value":"#);
    string(&mut r, &id.ssn);
    r.push_str(r#"}],"name":[{"use":"official","family":"#);
    string(&mut r, &id.family);
    r.push_str(r#","given":["#);
    for (i, g) in id.given.split(' ').enumerate() {
        if i > 0 {
            r.push(',');
        }
        string(&mut r, g);
    }
    r.push_str(r#"]}],"telecom":[{"system":"phone","value":"#);
    string(&mut r, &id.phone);
    r.push_str(r#","use":"home"},{"system":"email","value":"#);
    string(&mut r, &id.email);
    let _ = write!(
        r,
        r#"}}],"gender":"{}","birthDate":"{}","address":[{{"line":["#,
        if p.person.female { "female" } else { "male" },
        date(p.person.birth)
    );
    string(&mut r, &id.street);
    r.push_str(r#"],"city":"#);
    string(&mut r, &id.city);
    r.push_str(r#","state":"#);
    string(&mut r, &id.state);
    r.push_str(r#","postalCode":"#);
    string(&mut r, &id.zip);
    r.push_str(r#","country":"US"}]"#);
    let death_code = codes.get("MEDS_DEATH");
    if let Some(death) = t.events().find(|e| Some(e.code) == death_code).and_then(|e| e.time) {
        let _ = write!(r, r#","deceasedDateTime":"{}""#, date_time(death));
    }
    r.push('}');
    out.resources.push((0, patient_id.clone(), r));

    // Encounters first, so other resources can reference the one in progress.
    let inpatient_end = codes.get(encounter::INPATIENT_END.0);
    let mut encounters: Vec<(i64, i64, String)> = Vec::new();
    let events: Vec<_> = t.events().collect();
    for (i, e) in events.iter().enumerate() {
        let (Some(start), code) = (e.time, name(e.code)) else { continue };
        let Some(class) = code.strip_prefix("ENCOUNTER/") else { continue };
        // An inpatient stay ends at its own discharge event, if the record holds one before the
        // next admission (a stay still open when registration ended has no end).
        let inpatient = codes.get(encounter::INPATIENT.0);
        let end = match class {
            "IMP" => events[i + 1..]
                .iter()
                .take_while(|x| Some(x.code) != inpatient)
                .find(|x| Some(x.code) == inpatient_end && x.time.is_some_and(|x| x >= start))
                .and_then(|x| x.time),
            "EMER" => Some(start + 3 * HOUR),
            _ => Some(start + HOUR / 2),
        };
        // The visit's CPT code recorded at the same instant is the encounter's type.
        let visit_cpt = events
            .iter()
            .find(|x| x.time == Some(start) && name(x.code).starts_with("CPT4/99") && name(x.code) != "CPT4/99238");
        let encounter_id = next_id();
        let mut r = String::with_capacity(600);
        let _ = write!(
            r,
            r#"{{"resourceType":"Encounter","id":"{encounter_id}","status":"{}","class":{{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"{class}"}},"subject":{subject},"period":{{"start":"{}""#,
            if end.is_some() { "finished" } else { "in-progress" },
            date_time(start)
        );
        if let Some(end) = end {
            let _ = write!(r, r#","end":"{}""#, date_time(end));
        }
        r.push('}');
        if let Some(v) = visit_cpt {
            r.push_str(r#","type":["#);
            codeable(&mut r, name(v.code), codes);
            r.push(']');
        }
        r.push('}');
        encounters.push((start, end.unwrap_or(start + 24 * HOUR), encounter_id.clone()));
        out.resources.push((1, encounter_id, r));
    }
    let encounter_at = |time: i64| -> Option<&str> {
        encounters.iter().rev().find(|(s, e, _)| *s <= time && time <= *e + 2 * HOUR).map(|(_, _, id)| id.as_str())
    };

    let sbp = codes.get(lab::SBP.0);
    let dbp = codes.get(lab::DBP.0);
    let mut used_dbp = vec![false; events.len()];
    for (i, e) in events.iter().enumerate() {
        let Some(time) = e.time else { continue };
        let code = name(e.code);
        let (vocabulary, value) = code.split_once('/').unwrap_or(("", code));
        let kind = match vocabulary {
            "ICD10CM" => 2,
            "LOINC" if e.text_value.is_some() => 6,
            "LOINC" if Some(e.code) == dbp && used_dbp[i] => continue,
            "LOINC" => 3,
            "RXNORM" => 4,
            "CPT4" if code.starts_with("CPT4/99") && code != "CPT4/99238" => continue, // encounter types
            "CPT4" => 5,
            _ => continue, // encounters, birth, death: carried above
        };
        let rid = next_id();
        let when = date_time(time);
        let mut r = String::with_capacity(700);
        let _ = write!(r, r#"{{"resourceType":"{}","id":"{rid}","#, RESOURCE_TYPES[kind]);
        match kind {
            2 => {
                r.push_str(r#""clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active"}]},"verificationStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-ver-status","code":"confirmed"}]},"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-category","code":"encounter-diagnosis"}]}],"code":"#);
                codeable(&mut r, code, codes);
                let _ = write!(r, r#","subject":{subject},"onsetDateTime":"{when}","recordedDate":"{when}""#);
            }
            6 => {
                r.push_str(r#""status":"current","type":"#);
                codeable(&mut r, code, codes);
                let _ = write!(
                    r,
                    r#","subject":{subject},"date":"{when}","content":[{{"attachment":{{"contentType":"text/plain; charset=utf-8","data":"{}"}}}}]"#,
                    base64(e.text_value.unwrap_or_default().as_bytes())
                );
            }
            3 => {
                let category = if vital_sign(value) { "vital-signs" } else { "laboratory" };
                let _ = write!(
                    r,
                    r#""status":"final","category":[{{"coding":[{{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"{category}"}}]}}],"subject":{subject},"effectiveDateTime":"{when}","code":"#
                );
                // A systolic reading with its diastolic partner at the same instant becomes a
                // blood-pressure panel with two components, as US Core records them.
                let partner = (Some(e.code) == sbp)
                    .then(|| {
                        (i + 1..events.len())
                            .take_while(|&j| events[j].time == e.time)
                            .find(|&j| Some(events[j].code) == dbp && !used_dbp[j])
                    })
                    .flatten();
                match (partner, e.numeric_value) {
                    (Some(j), Some(systolic)) => {
                        used_dbp[j] = true;
                        r.push_str(r#"{"coding":[{"system":"http://loinc.org","code":"85354-9","display":"Blood pressure panel with all children optional"}]},"component":[{"code":"#);
                        codeable(&mut r, code, codes);
                        r.push_str(r#","valueQuantity":"#);
                        quantity(&mut r, systolic, "8480-6");
                        r.push_str(r#"},{"code":"#);
                        codeable(&mut r, name(events[j].code), codes);
                        r.push_str(r#","valueQuantity":"#);
                        quantity(&mut r, events[j].numeric_value.unwrap_or(f32::NAN), "8462-4");
                        r.push_str("}]");
                    }
                    (_, Some(v)) => {
                        codeable(&mut r, code, codes);
                        r.push_str(r#","valueQuantity":"#);
                        quantity(&mut r, v, value);
                    }
                    (_, None) => codeable(&mut r, code, codes),
                }
            }
            4 => {
                r.push_str(r#""status":"active","intent":"order","medicationCodeableConcept":"#);
                codeable(&mut r, code, codes);
                let _ = write!(r, r#","subject":{subject},"authoredOn":"{when}""#);
            }
            _ => {
                r.push_str(r#""status":"completed","code":"#);
                codeable(&mut r, code, codes);
                let _ = write!(r, r#","subject":{subject},"performedDateTime":"{when}""#);
            }
        }
        if let Some(enc) = encounter_at(time) {
            if kind == 6 {
                r.push_str(r#","context":{"encounter":["#);
                reference(&mut r, mode, "Encounter", enc);
                r.push_str("]}");
            } else {
                r.push_str(r#","encounter":"#);
                reference(&mut r, mode, "Encounter", enc);
            }
        }
        r.push('}');
        out.resources.push((kind, rid, r));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, want) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foobar", "Zm9vYmFy")] {
            assert_eq!(base64(input.as_bytes()), want);
        }
    }

    #[test]
    fn date_times_are_fhir_instants() {
        assert_eq!(date_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(date_time(crate::calendar::date(2019, 3, 4) + 3_723_000_000), "2019-03-04T01:02:03Z");
        assert_eq!(date_time(crate::calendar::date(1931, 12, 31)), "1931-12-31T00:00:00Z");
    }

    #[test]
    fn strings_are_escaped() {
        let mut out = String::new();
        string(&mut out, "O'Brien \"Jr\"\\ line\nnext\u{1}");
        let back: String = serde_json::from_str(&out).expect("valid JSON");
        assert_eq!(back, "O'Brien \"Jr\"\\ line\nnext\u{1}");
    }

    #[test]
    fn uuids_are_deterministic_and_distinct() {
        assert_eq!(uuid(1, 2, 3), uuid(1, 2, 3));
        assert_ne!(uuid(1, 2, 3), uuid(1, 2, 4));
        assert_eq!(uuid(1, 2, 3).len(), 36);
    }
}
