//! Real third-party FHIR (../shared/data/fhir, see its PROVENANCE.md): every resource converted,
//! skipped with a named reason, or quarantined, and the counts match the provenance file.

use std::path::PathBuf;

fn shared(rel: &str) -> PathBuf {
    let path = testkit::repo_root().join("../shared/data/fhir").join(rel);
    assert!(path.exists(), "{} is missing: the shared development data must sit beside the clone", path.display());
    path
}

fn read_counts(rel: &str) -> (fhir::Ingested, Vec<(String, u64)>) {
    let ingested = fhir::ingest(&[shared(rel)]).expect("ingest");
    assert!(ingested.report.reconciles(), "{:#?}", ingested.report.types);
    let counts = ingested.report.types.iter().map(|(k, v)| (k.clone(), v.read)).collect();
    (ingested, counts)
}

#[test]
fn synthea_transaction_bundles() {
    let (ingested, counts) = read_counts("synthea-bundles/smart-generated-sample-data-r4");
    let want = [
        ("CarePlan", 17),
        ("Claim", 202),
        ("Condition", 69),
        ("DiagnosticReport", 82),
        ("Encounter", 168),
        ("ExplanationOfBenefit", 168),
        ("Immunization", 160),
        ("MedicationRequest", 34),
        ("Observation", 1214),
        ("Organization", 130),
        ("Patient", 25),
        ("Practitioner", 130),
        ("Procedure", 51),
    ];
    assert_eq!(counts, want.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect::<Vec<_>>());
    assert_eq!(counts.iter().map(|(_, n)| n).sum::<u64>(), 2450);
    assert_eq!(ingested.patients.len(), 25, "every urn:uuid reference resolved to its patient");
    let t = &ingested.report.types;
    for kind in ["Patient", "Encounter", "Condition", "Observation", "Immunization", "Procedure"] {
        assert_eq!(t[kind].converted, t[kind].read, "{kind}: {:?}", ingested.report.quarantined.first());
    }
    assert_eq!(t["Claim"].skipped.values().sum::<u64>(), 202);
}

#[test]
fn bulk_export_ndjson() {
    let (ingested, counts) = read_counts("bulk-ndjson/smart-sample-bulk-10-patients");
    let want = [
        ("AllergyIntolerance", 11),
        ("Condition", 555),
        ("Device", 16),
        ("DocumentReference", 1215),
        ("Encounter", 1215),
        ("Immunization", 161),
        ("Location", 44),
        ("MedicationRequest", 1745),
        ("Organization", 43),
        ("Patient", 13),
        ("Practitioner", 43),
        ("PractitionerRole", 43),
        ("Procedure", 2056),
    ];
    assert_eq!(counts, want.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect::<Vec<_>>());
    assert!(ingested.report.files.iter().any(|(f, why)| f.ends_with("log.ndjson") && why.contains("export log")));
    assert_eq!(
        ingested.patients.len(),
        13,
        "the Patient file comes after others alphabetically; order does not matter"
    );
    let docs = &ingested.report.types["DocumentReference"];
    assert_eq!(docs.converted, 1215);
    let notes = ingested.patients.values().flatten().filter(|e| e.text_value.is_some()).count();
    assert!(notes > 1000, "notes decoded: {notes}");
}

#[test]
fn us_core_observations_and_spec_examples() {
    let (ingested, counts) = read_counts("bulk-ndjson/cumulus-library-observation");
    assert_eq!(counts, vec![("Observation".to_owned(), 22)]);
    assert_eq!(ingested.report.types["Observation"].converted, 22);

    let (ingested, _) = read_counts("hl7-examples/r4");
    let read: u64 = ingested.report.types.values().map(|c| c.read).sum();
    // 20 single resources plus the transaction bundle's entries.
    assert!(read >= 21, "{read}");
    assert!(ingested.report.files.iter().any(|(f, why)| f.ends_with("package.json") && why.contains("manifest")));
    // The blood-pressure example's components became separate events.
    let codes: Vec<&str> = ingested.patients.values().flatten().map(|e| e.code.as_str()).collect();
    assert!(codes.contains(&"LOINC/8480-6") && codes.contains(&"LOINC/8462-4"));
    // medrx0302 and medrx0311 name their drug through a contained Medication (`#med0320`).
    assert!(codes.contains(&"SNOMED/324252006") && codes.contains(&"SNOMED/317935006"), "contained medications");
    let meds = &ingested.report.types["MedicationRequest"];
    assert_eq!(meds.converted, meds.read, "{:?}", meds.skipped);
}

/// A document held in memory (a request body, a CDS Hooks prefetch) is read exactly as the same
/// document in a file: every Synthea bundle gives the same events per patient and the same counts.
#[test]
fn a_bundle_in_memory_reads_as_the_same_bundle_on_disk() {
    let dir = shared("synthea-bundles/smart-generated-sample-data-r4");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{}", files.len());
    for file in files.iter().take(5) {
        let on_disk = fhir::ingest(std::slice::from_ref(file)).expect("from disk");
        let text = std::fs::read_to_string(file).expect("text");
        let in_memory = fhir::ingest_text("request", &text).expect("from memory");
        assert_eq!(in_memory.patients, on_disk.patients, "{}", file.display());
        assert_eq!(in_memory.report.types, on_disk.report.types, "{}", file.display());
        assert!(in_memory.report.reconciles());
        assert_eq!(in_memory.report.files, vec![(PathBuf::from("request"), "read".to_string())]);
    }
    // Not JSON at all: quarantined with its position, not an error, and the counts reconcile.
    let broken = fhir::ingest_text("request", "{\"resourceType\": \"Bundle\", \"entry\": [").expect("read");
    assert!(broken.patients.is_empty());
    assert!(broken.report.reconciles());
    assert_eq!(broken.report.types.values().map(|t| t.quarantined).sum::<u64>(), 1, "{:#?}", broken.report.types);
}
