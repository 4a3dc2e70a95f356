//! Code systems → the vocabulary prefixes of MEDS codes (`http://loinc.org` → `LOINC`).
//!
//! A system not in the table keeps its URL as the prefix (`http://acme.example/codes/123`), so
//! nothing is dropped, and the ingest report lists those systems so a data team can add them.

/// The prefix of a code system URL, or `None` if the table does not know it.
pub fn prefix(system: &str) -> Option<&'static str> {
    Some(match system {
        "http://loinc.org" => "LOINC",
        "http://snomed.info/sct" => "SNOMED",
        "http://hl7.org/fhir/sid/icd-10-cm" => "ICD10CM",
        "http://hl7.org/fhir/sid/icd-10" => "ICD10",
        "http://hl7.org/fhir/sid/icd-9-cm" => "ICD9CM",
        "http://www.nlm.nih.gov/research/umls/rxnorm" => "RXNORM",
        "http://www.ama-assn.org/go/cpt" => "CPT4",
        "http://hl7.org/fhir/sid/cvx" => "CVX",
        "http://hl7.org/fhir/sid/ndc" => "NDC",
        "urn:oid:2.16.840.1.113883.6.238" => "CDCREC",
        "http://unitsofmeasure.org" => "UCUM",
        "http://terminology.hl7.org/CodeSystem/v3-ActCode" => "ENCOUNTER",
        _ => return None,
    })
}

/// The MEDS code of `code` in `system` (unknown systems keep their URL as prefix).
pub fn meds_code(system: Option<&str>, code: &str) -> String {
    match system {
        Some(s) => match prefix(s) {
            Some(p) => format!("{p}/{code}"),
            None => format!("{}/{code}", s.trim_end_matches('/')),
        },
        None => format!("UNKNOWN_SYSTEM/{code}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_and_unknown_systems() {
        assert_eq!(meds_code(Some("http://loinc.org"), "4548-4"), "LOINC/4548-4");
        assert_eq!(meds_code(Some("http://acme.example/codes/"), "X1"), "http://acme.example/codes/X1");
        assert_eq!(meds_code(None, "X1"), "UNKNOWN_SYSTEM/X1");
    }
}
