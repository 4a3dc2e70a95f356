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
use serde_json::{Value, json};

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

/// One patient's resources, by type (indexes into [`RESOURCE_TYPES`]).
#[derive(Debug, Default)]
pub struct PatientResources {
    /// `(type index, resource)` in a stable order.
    pub resources: Vec<(usize, Value)>,
}

impl PatientResources {
    /// The resources as NDJSON lines appended to one buffer per type.
    pub fn append_ndjson(&self, buffers: &mut [String; 7]) {
        for (kind, r) in &self.resources {
            let _ = writeln!(buffers[*kind], "{r}");
        }
    }

    /// A transaction Bundle with `urn:uuid:` full URLs, as Synthea writes.
    pub fn bundle(&self) -> Value {
        let entries: Vec<Value> = self
            .resources
            .iter()
            .map(|(kind, r)| {
                json!({
                    "fullUrl": format!("urn:uuid:{}", r["id"].as_str().unwrap_or_default()),
                    "resource": bundle_refs(r.clone()),
                    "request": {"method": "POST", "url": RESOURCE_TYPES[*kind]},
                })
            })
            .collect();
        json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
    }
}

/// In a bundle, references point at `urn:uuid:` full URLs instead of `Type/id`.
fn bundle_refs(mut r: Value) -> Value {
    for field in ["subject", "encounter", "patient"] {
        if let Some(reference) = r.get_mut(field).and_then(|s| s.get_mut("reference"))
            && let Some(s) = reference.as_str()
            && let Some((_, id)) = s.split_once('/')
        {
            *reference = Value::String(format!("urn:uuid:{id}"));
        }
    }
    if let Some(context) = r.get_mut("context").and_then(|c| c.get_mut("encounter")).and_then(Value::as_array_mut) {
        for e in context {
            if let Some(s) = e.get("reference").and_then(Value::as_str).map(str::to_owned)
                && let Some((_, id)) = s.split_once('/')
            {
                e["reference"] = Value::String(format!("urn:uuid:{id}"));
            }
        }
    }
    r
}

fn coding(code: &str, codes: &CodeTable) -> Value {
    let (vocabulary, value) = code.split_once('/').unwrap_or(("", code));
    let display = codes.get(code).and_then(|id| codes.info(id).description.clone()).unwrap_or_default();
    json!({"coding": [{"system": system_of(vocabulary), "code": value, "display": display}], "text": display})
}

/// Builds the FHIR resources of one simulated patient.
pub fn resources(p: &SimulatedPatient, codes: &CodeTable, seed: u64) -> PatientResources {
    let t: &Timeline = &p.timeline;
    let id = &p.identity;
    let sid = p.person.subject_id;
    let mut counter = 0u64;
    let mut next_id = || {
        counter += 1;
        uuid(seed, sid, counter)
    };
    let patient_id = next_id();
    let subject = json!({"reference": format!("Patient/{patient_id}")});
    let mut out = PatientResources::default();

    let name = |code: u32| codes.name(code);
    let race = demographics::RACES[p.person.race];
    let ethnicity = if p.person.hispanic { demographics::HISPANIC } else { demographics::NOT_HISPANIC };
    let omb = |code: &str, display: &str, url: &str, text: &str| {
        json!({
            "url": url,
            "extension": [
                {"url": "ombCategory", "valueCoding": {"system": "urn:oid:2.16.840.1.113883.6.238", "code": code, "display": display}},
                {"url": "text", "valueString": text},
            ]
        })
    };
    let mut patient = json!({
        "resourceType": "Patient",
        "id": patient_id,
        "extension": [
            omb(race.0.trim_start_matches("RACE/"), race.1, "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race", race.1),
            omb(ethnicity.0.trim_start_matches("ETHNICITY/"), ethnicity.1, "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity", ethnicity.1),
        ],
        "identifier": [
            {"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR", "display": "Medical record number"}]},
             "system": "http://hospital.longitude.example/mrn", "value": id.mrn},
            {"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "SS", "display": "Social Security number"}]},
             "system": "http://hl7.org/fhir/sid/us-ssn", "value": id.ssn},
        ],
        "name": [{"use": "official", "family": id.family, "given": id.given.split(' ').collect::<Vec<_>>()}],
        "telecom": [
            {"system": "phone", "value": id.phone, "use": "home"},
            {"system": "email", "value": id.email},
        ],
        "gender": if p.person.female { "female" } else { "male" },
        "birthDate": date(p.person.birth),
        "address": [{"line": [id.street], "city": id.city, "state": id.state, "postalCode": id.zip, "country": "US"}],
    });
    let death_code = codes.get("MEDS_DEATH");
    if let Some(death) = t.events().find(|e| Some(e.code) == death_code).and_then(|e| e.time) {
        patient["deceasedDateTime"] = Value::String(date_time(death));
    }
    out.resources.push((0, patient));

    // Encounters first, so other resources can reference the one in progress.
    let inpatient_end = codes.get(encounter::INPATIENT_END.0);
    let mut encounters: Vec<(i64, i64, String)> = Vec::new();
    let events: Vec<_> = t.events().collect();
    for (i, e) in events.iter().enumerate() {
        let (Some(start), code) = (e.time, name(e.code)) else { continue };
        let Some(class) = code.strip_prefix("ENCOUNTER/") else { continue };
        let end = match class {
            "IMP" => events[i..]
                .iter()
                .find(|x| Some(x.code) == inpatient_end && x.time.is_some_and(|x| x >= start))
                .and_then(|x| x.time)
                .unwrap_or(start + 24 * HOUR),
            "EMER" => start + 3 * HOUR,
            _ => start + HOUR / 2,
        };
        // The visit's CPT code recorded at the same instant is the encounter's type.
        let visit_cpt = events
            .iter()
            .find(|x| x.time == Some(start) && name(x.code).starts_with("CPT4/99") && name(x.code) != "CPT4/99238");
        let encounter_id = next_id();
        let mut resource = json!({
            "resourceType": "Encounter",
            "id": encounter_id,
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": class},
            "subject": subject,
            "period": {"start": date_time(start), "end": date_time(end)},
        });
        if let Some(v) = visit_cpt {
            resource["type"] = json!([coding(name(v.code), codes)]);
        }
        encounters.push((start, end, encounter_id));
        out.resources.push((1, resource));
    }
    let encounter_at = |time: i64| -> Option<Value> {
        encounters
            .iter()
            .rev()
            .find(|(s, e, _)| *s <= time && time <= *e + 2 * HOUR)
            .map(|(_, _, id)| json!({"reference": format!("Encounter/{id}")}))
    };

    let sbp = codes.get(lab::SBP.0);
    let dbp = codes.get(lab::DBP.0);
    let mut used_dbp = vec![false; events.len()];
    for (i, e) in events.iter().enumerate() {
        let Some(time) = e.time else { continue };
        let code = name(e.code);
        let (vocabulary, value) = code.split_once('/').unwrap_or(("", code));
        let enc = encounter_at(time);
        let mut resource = match vocabulary {
            "ICD10CM" => json!({
                "resourceType": "Condition",
                "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
                "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]},
                "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category", "code": "encounter-diagnosis"}]}],
                "code": coding(code, codes),
                "subject": subject,
                "onsetDateTime": date_time(time),
                "recordedDate": date_time(time),
            }),
            "LOINC" if e.text_value.is_some() => json!({
                "resourceType": "DocumentReference",
                "status": "current",
                "type": coding(code, codes),
                "subject": subject,
                "date": date_time(time),
                "content": [{"attachment": {"contentType": "text/plain; charset=utf-8", "data": base64(e.text_value.unwrap_or_default().as_bytes())}}],
            }),
            "LOINC" if Some(e.code) == dbp && used_dbp[i] => continue,
            "LOINC" => {
                let category = if vital_sign(value) { "vital-signs" } else { "laboratory" };
                let quantity = |v: f32, loinc: &str| json!({"value": v, "unit": ucum_unit(loinc), "system": "http://unitsofmeasure.org", "code": ucum_unit(loinc)});
                let mut obs = json!({
                    "resourceType": "Observation",
                    "status": "final",
                    "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": category}]}],
                    "subject": subject,
                    "effectiveDateTime": date_time(time),
                });
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
                    (Some(j), Some(s)) => {
                        used_dbp[j] = true;
                        obs["code"] = json!({"coding": [{"system": "http://loinc.org", "code": "85354-9", "display": "Blood pressure panel with all children optional"}]});
                        obs["component"] = json!([
                            {"code": coding(code, codes), "valueQuantity": quantity(s, "8480-6")},
                            {"code": coding(name(events[j].code), codes), "valueQuantity": quantity(events[j].numeric_value.unwrap_or(f32::NAN), "8462-4")},
                        ]);
                    }
                    (_, Some(v)) => {
                        obs["code"] = coding(code, codes);
                        obs["valueQuantity"] = quantity(v, value);
                    }
                    (_, None) => {
                        obs["code"] = coding(code, codes);
                    }
                }
                obs
            }
            "RXNORM" => json!({
                "resourceType": "MedicationRequest",
                "status": "active",
                "intent": "order",
                "medicationCodeableConcept": coding(code, codes),
                "subject": subject,
                "authoredOn": date_time(time),
            }),
            "CPT4" if code.starts_with("CPT4/99") && code != "CPT4/99238" => continue, // encounter types
            "CPT4" => json!({
                "resourceType": "Procedure",
                "status": "completed",
                "code": coding(code, codes),
                "subject": subject,
                "performedDateTime": date_time(time),
            }),
            _ => continue, // encounters, birth, death: already carried above
        };
        resource["id"] = Value::String(next_id());
        if let Some(enc) = enc {
            if resource["resourceType"] == "DocumentReference" {
                resource["context"] = json!({"encounter": [enc]});
            } else {
                resource["encounter"] = enc;
            }
        }
        let kind = RESOURCE_TYPES.iter().position(|r| resource["resourceType"] == *r).unwrap_or(0);
        out.resources.push((kind, resource));
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
    fn uuids_are_deterministic_and_distinct() {
        assert_eq!(uuid(1, 2, 3), uuid(1, 2, 3));
        assert_ne!(uuid(1, 2, 3), uuid(1, 2, 4));
        assert_eq!(uuid(1, 2, 3).len(), 36);
    }
}
