//! Hand-made bad FHIR of each kind: every line is accounted for, bad ones quarantined with an
//! error that names the problem and the position, never the content; nothing panics.

use std::io::Write;

fn ingest_lines(name: &str, lines: &[&str]) -> fhir::Ingested {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    if name.ends_with(".gz") {
        let file = std::fs::File::create(&path).expect("create");
        let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        gz.write_all(lines.join("\n").as_bytes()).expect("write");
        gz.finish().expect("finish");
    } else {
        std::fs::write(&path, lines.join("\n")).expect("write");
    }
    fhir::ingest(&[dir.path().to_path_buf()]).expect("ingest")
}

const GOOD_PATIENT: &str = r#"{"resourceType":"Patient","id":"p1","gender":"female","birthDate":"1950-02-03"}"#;

#[test]
fn every_kind_of_bad_line_is_quarantined_with_its_position() {
    let lines = [
        GOOD_PATIENT,
        r#"{"resourceType":"Observation","id":"o1","subject":{"reference":"Patient/p1"},"code":{"coding":[{"system":"http://loinc.org","code":"4548-4"}]},"effectiveDateTime":"2020-01-01","valueQuantity":{"value":6.1,"unit":"%"}}"#,
        r#"{"resourceType":"Observation", "id": "truncated"#,
        r#"not json at all: Jane Doe 123-45-6789"#,
        r#"{"resourceType":"Condition","id":"c1","code":{"coding":[{"system":"http://snomed.info/sct","code":"44054006"}]},"onsetDateTime":"2020-01-01"}"#,
        r#"{"resourceType":"Condition","id":"c2","subject":{"reference":"Patient/p1"},"code":{"coding":[{"system":"http://snomed.info/sct","code":"44054006"}]},"onsetDateTime":"yesterday"}"#,
        r#"{"resourceType":"Condition","id":"c3","subject":{"reference":"Patient/p1"},"code":{"text":"free text only"},"onsetDateTime":"2020-01-01"}"#,
        r#"{"resourceType":"DocumentReference","id":"d1","subject":{"reference":"Patient/p1"},"type":{"coding":[{"system":"http://loinc.org","code":"11506-3"}]},"date":"2020-01-01T10:00:00Z","content":[{"attachment":{"contentType":"text/plain","data":"!!not base64!!"}}]}"#,
        r#"{"resourceType":"Observation","id":"o2","subject":{"reference":"Patient/p1"},"code":[1,2,3]}"#,
        r#"{"resourceType":"Claim","id":"cl1","patient":"not even a reference"}"#,
        r#"{"id":"no-type"}"#,
        "",
    ];
    let ingested = ingest_lines("Mixed.ndjson", &lines);
    let report = &ingested.report;
    assert!(report.reconciles());
    let read: u64 = report.types.values().map(|c| c.read).sum();
    assert_eq!(read, 11, "every non-empty line is counted once");
    let positions: Vec<u64> = report.quarantined.iter().map(|q| q.position).collect();
    assert_eq!(positions, vec![3, 4, 5, 6, 7, 8, 9, 11]);
    let errors: Vec<&str> = report.quarantined.iter().map(|q| q.error.as_str()).collect();
    for (error, needle) in errors.iter().zip([
        "truncated JSON",
        "invalid JSON",
        "no subject/patient reference",
        "malformed date or time",
        "no code",
        "not base64",
        "wrong shape",
        "no resourceType",
    ]) {
        assert!(error.contains(needle), "{error:?} should mention {needle:?}");
    }
    for q in &report.quarantined {
        assert!(!q.error.contains("Jane") && !q.error.contains("123-45"), "{q:?}");
    }
    // The billing resource with a malformed field is still just skipped: its shape does not matter.
    assert_eq!(report.types["Claim"].skipped.values().sum::<u64>(), 1);
    let p1 = &ingested.patients["p1"];
    assert!(p1.iter().any(|e| e.code == "LOINC/4548-4" && e.numeric_value == Some(6.1)));
}

#[test]
fn gzipped_ndjson_units_and_unknown_systems() {
    let lines = [
        GOOD_PATIENT,
        r#"{"resourceType":"Observation","id":"g1","subject":{"reference":"Patient/p1"},"code":{"coding":[{"system":"http://loinc.org","code":"2345-7"}]},"effectiveDateTime":"2020-01-01T08:00:00Z","valueQuantity":{"value":5.5,"unit":"mmol/L","code":"mmol/L"}}"#,
        r#"{"resourceType":"Observation","id":"g2","subject":{"reference":"Patient/p1"},"code":{"coding":[{"system":"http://loinc.org","code":"2160-0"}]},"effectiveDateTime":"2020-01-01T08:00:00Z","valueQuantity":{"value":3,"unit":"parsecs"}}"#,
        r#"{"resourceType":"Condition","id":"u1","subject":{"reference":"Patient/p1"},"code":{"coding":[{"system":"http://acme.example/dx","code":"X9"}]},"recordedDate":"2020-02-01"}"#,
    ];
    let ingested = ingest_lines("Observation.000.ndjson.gz", &lines);
    assert!(ingested.report.quarantined.is_empty(), "{:?}", ingested.report.quarantined);
    let events = &ingested.patients["p1"];
    let glucose = events.iter().find(|e| e.code == "LOINC/2345-7").and_then(|e| e.numeric_value).expect("glucose");
    assert!((glucose - 99.09).abs() < 0.01, "mmol/L converted to mg/dL: {glucose}");
    assert!(ingested.report.unconverted_units.keys().any(|k| k.contains("parsecs")));
    assert!(events.iter().any(|e| e.code == "http://acme.example/dx/X9"), "unknown systems keep their URL");
    assert!(ingested.report.unknown_systems.contains("http://acme.example/dx"));
}

#[test]
fn bundle_references_that_do_not_resolve_are_quarantined() {
    let bundle = r#"{"resourceType":"Bundle","type":"collection","entry":[
        {"fullUrl":"urn:uuid:a","resource":{"resourceType":"Patient","id":"a","gender":"male"}},
        {"fullUrl":"urn:uuid:b","resource":{"resourceType":"Condition","subject":{"reference":"urn:uuid:a"},"code":{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10-cm","code":"I10"}]},"onsetDateTime":"2019"}},
        {"fullUrl":"urn:uuid:c","resource":{"resourceType":"Condition","subject":{"reference":"urn:uuid:zzz"},"code":{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10-cm","code":"I10"}]},"onsetDateTime":"2019"}}
    ]}"#;
    let ingested = ingest_lines("bundle.json", &[bundle]);
    assert_eq!(ingested.patients["a"].iter().filter(|e| e.code == "ICD10CM/I10").count(), 1);
    assert_eq!(ingested.report.quarantined.len(), 1);
    assert!(ingested.report.quarantined[0].error.contains("not in this bundle"));
    assert_eq!(ingested.report.quarantined[0].position, 3);
}

#[test]
fn missing_paths_are_errors() {
    let err = fhir::ingest(&["/nonexistent/fhir".into()]).expect_err("missing");
    assert!(err.to_string().contains("/nonexistent/fhir"));
}

#[test]
fn a_truncated_gzip_is_reported_damaged_with_what_came_before() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut lines = vec![GOOD_PATIENT.to_owned()];
    for i in 0..2000 {
        lines.push(format!(
            r#"{{"resourceType":"Observation","id":"o{i}","subject":{{"reference":"Patient/p1"}},"code":{{"coding":[{{"system":"http://loinc.org","code":"8867-4"}}]}},"effectiveDateTime":"2020-01-01","valueQuantity":{{"value":{i}}}}}"#
        ));
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(lines.join("\n").as_bytes()).expect("write");
    let bytes = gz.finish().expect("finish");
    let path = dir.path().join("Observation.ndjson.gz");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).expect("write");
    let ingested = fhir::ingest(&[dir.path().to_path_buf()]).expect("reading does not fail as a whole");
    let report = &ingested.report;
    assert!(report.quarantined.is_empty(), "the damage is not a record: {:?}", report.quarantined);
    assert_eq!(report.damaged.len(), 1, "the file is reported damaged");
    let d = &report.damaged[0];
    assert!(d.error.contains("truncated or corrupt"), "{}", d.error);
    let read = report.types["Observation"].read;
    assert!(read > 100 && read < 2000, "the lines before the cut were read: {read}");
    assert_eq!(d.lines_read, read + 1, "the patient and the observations before the damage");
    let status = &report.files.iter().find(|(f, _)| *f == path).expect("listed").1;
    assert!(status.starts_with("damaged"), "not marked read: {status}");
}

#[test]
fn a_line_that_is_not_utf8_costs_that_line_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bytes = b"{\"resourceType\":\"Patient\",\"id\":\"p0\",\"name\":[{\"family\":\"M\xfcller\"}]}\n".to_vec();
    bytes.extend_from_slice(GOOD_PATIENT.as_bytes());
    bytes.push(b'\n');
    std::fs::write(dir.path().join("Patient.ndjson"), &bytes).expect("write");
    let ingested = fhir::ingest(&[dir.path().to_path_buf()]).expect("ingest");
    assert!(ingested.patients.contains_key("p1"), "the rest of the file is read");
    let q = &ingested.report.quarantined;
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].position, 1);
    assert!(q[0].error.contains("not UTF-8"), "{}", q[0].error);
    assert!(ingested.report.damaged.is_empty());
    assert!(ingested.report.reconciles());
}

#[test]
fn placeholder_dates_are_quarantined_not_read() {
    let lines = [
        r#"{"resourceType":"Patient","id":"p1","gender":"female","birthDate":"0000-01-01"}"#,
        r#"{"resourceType":"Patient","id":"p2","gender":"female","birthDate":"1950-02-03"}"#,
        r#"{"resourceType":"Condition","id":"c9","subject":{"reference":"Patient/p2"},"code":{"coding":[{"system":"http://snomed.info/sct","code":"44054006"}]},"onsetDateTime":"9999-12-31"}"#,
    ];
    let ingested = ingest_lines("Mixed.ndjson", &lines);
    let errors: Vec<&str> = ingested.report.quarantined.iter().map(|q| q.error.as_str()).collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors.iter().all(|e| e.contains("implausible")), "{errors:?}");
    assert!(ingested.patients["p2"].iter().all(|e| e.time.is_none_or(|t| t < 4_102_444_800_000_000)));
}

#[test]
fn an_unknown_resource_type_is_counted_under_a_fixed_label() {
    let lines = [
        GOOD_PATIENT,
        r#"{"resourceType":"Jane Doe 555-12-3456","id":"x","subject":{"reference":"Patient/p1"}}"#,
        r#"{"resourceType":"Jane Doe 555-12-3456","id":"y","code":[1]}"#,
    ];
    let ingested = ingest_lines("Mixed.ndjson", &lines);
    let report = serde_json::to_string(&ingested.report).expect("json");
    assert!(!report.contains("Jane") && !report.contains("555-12"), "input text reached the report: {report}");
    assert_eq!(ingested.report.types[fhir::resource::UNKNOWN_TYPE].read, 2);
    assert!(ingested.report.reconciles());
}

#[test]
fn arrays_pretty_printed_ndjson_and_jsonl_are_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let condition = |id: &str| {
        format!(
            r#"{{"resourceType":"Condition","id":"{id}","subject":{{"reference":"Patient/p1"}},"code":{{"coding":[{{"system":"http://snomed.info/sct","code":"44054006"}}]}},"onsetDateTime":"2020-01-01"}}"#
        )
    };
    std::fs::write(dir.path().join("array.json"), format!("[{GOOD_PATIENT}, {}]", condition("a1"))).expect("write");
    let pretty: serde_json::Value = serde_json::from_str(&condition("pretty")).expect("json");
    let pretty = serde_json::to_string_pretty(&pretty).expect("pretty");
    std::fs::write(dir.path().join("Condition.ndjson"), &pretty).expect("write");
    std::fs::write(dir.path().join("Condition.jsonl"), condition("l1") + "\n" + &condition("l2")).expect("write");
    let ingested = fhir::ingest(&[dir.path().to_path_buf()]).expect("ingest");
    let report = &ingested.report;
    assert!(report.quarantined.is_empty(), "{:?}", report.quarantined);
    assert_eq!(report.types["Condition"].converted, 4, "array, pretty-printed NDJSON and .jsonl");
    assert_eq!(report.types["Patient"].converted, 1);
    // The pretty-printed record can be read again for the quarantine, at the position reported.
    let raw = fhir::raw_records(&dir.path().join("Condition.ndjson"), &[1].into()).expect("raw");
    assert!(String::from_utf8_lossy(&raw[&1]).contains("pretty"));
    let raw = fhir::raw_records(&dir.path().join("array.json"), &[2].into()).expect("raw");
    assert!(String::from_utf8_lossy(&raw[&2]).contains("a1"));
    let raw = fhir::raw_records(&dir.path().join("Condition.jsonl"), &[2].into()).expect("raw");
    assert!(String::from_utf8_lossy(&raw[&2]).contains("l2"));
}

#[test]
fn the_same_file_named_twice_is_read_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("Patient.ndjson");
    std::fs::write(&file, GOOD_PATIENT).expect("write");
    let ingested = fhir::ingest(&[file.clone(), dir.path().to_path_buf()]).expect("ingest");
    assert_eq!(ingested.report.types["Patient"].read, 1);
    assert!(ingested.report.files.iter().any(|(_, why)| why.contains("more than once")));
}
