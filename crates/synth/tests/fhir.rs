//! The FHIR output carries the recorded world and the planted identifiers; MEDS codes never do.

use synth::{SynthConfig, fhir, simulate_patient, vocab};

#[test]
fn fhir_resources_mirror_the_timeline_and_carry_planted_identifiers() {
    let config = SynthConfig::new(300, 2, 21);
    let codes = vocab::code_table();
    let mut notes = 0;
    for i in 0..300 {
        let p = simulate_patient(&config, &codes, i);
        let r = fhir::resources(&p, &codes, config.seed, fhir::References::Relative);
        let values = r.values();
        assert_eq!(values.len(), r.resources.len(), "every resource is valid JSON");
        let patient = &values[0];
        assert_eq!(patient["resourceType"], "Patient");
        assert_eq!(patient["name"][0]["family"], p.identity.family.as_str());
        assert_eq!(patient["identifier"][0]["value"], p.identity.mrn.as_str());
        assert_eq!(patient["address"][0]["postalCode"], p.identity.zip.as_str());

        // Every clinical event of the timeline is carried by some resource: conditions one to
        // one, medications one to one, observations one to one except that a systolic and a
        // diastolic reading at the same instant share a blood-pressure panel.
        let count = |prefix: &str| p.timeline.codes.iter().filter(|&&c| codes.name(c).starts_with(prefix)).count();
        let of_type = |t: &str| values.iter().filter(|x| x["resourceType"] == t).count();
        assert_eq!(of_type("Condition"), count("ICD10CM/"));
        assert_eq!(of_type("MedicationRequest"), count("RXNORM/"));
        assert_eq!(of_type("Encounter"), count("ENCOUNTER/"));
        let panels = values.iter().filter(|x| x["code"]["coding"][0]["code"] == "85354-9").count();
        let loinc_events = count("LOINC/");
        assert_eq!(of_type("Observation") + panels + of_type("DocumentReference"), loinc_events);

        for doc in values.iter().filter(|x| x["resourceType"] == "DocumentReference") {
            notes += 1;
            let data = doc["content"][0]["attachment"]["data"].as_str().expect("data");
            assert!(!data.is_empty());
        }
        // Identifiers live in notes' text and the Patient resource, never in codes.
        for (_, value) in p.identity.planted() {
            if value.len() > 3 {
                assert!(codes.names().all(|c| !c.contains(value)), "{value} in a code");
            }
        }
        for (_, text) in &p.timeline.text_values {
            assert!(text.contains(&p.identity.mrn), "notes name the patient's MRN");
        }
    }
    assert!(notes > 100, "{notes} notes");
}

#[test]
fn a_real_fhir_library_accepts_every_resource_and_bundle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("s");
    let options = synth::OutputOptions {
        formats: synth::Formats { meds: true, fhir_ndjson: true, fhir_bundles: true },
        ..Default::default()
    };
    let summary = synth::generate(&SynthConfig::new(150, 2, 5), &out, &options).expect("generate");
    let report = testkit::run_python("check_fhir.py", [out.join("fhir")]);
    let v: serde_json::Value = serde_json::from_str(&report).expect("json");
    assert_eq!(v["resources"]["Patient"], 150);
    assert_eq!(v["bundles"], 150);
    let total: u64 = v["resources"].as_object().expect("counts").values().filter_map(serde_json::Value::as_u64).sum();
    assert_eq!(total, summary.fhir_resources);
    // The ground truth streams out in row groups; every patient is there once, with identifiers.
    let rows = |name: &str| -> usize {
        let file = std::fs::File::open(out.join("truth").join(name)).expect("open");
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.build())
            .expect("reader");
        reader.map(|b| b.expect("batch").num_rows()).sum()
    };
    assert_eq!(rows("subjects.parquet"), 150);
    assert!(rows("identifiers.parquet") >= 150 * 10);
    assert!(rows("conditions.parquet") > 100);
    assert!(!out.join("truth/.subjects.parquet.partial").exists());
}
