//! The pipeline end to end on generated FHIR: the result does not depend on how many spill
//! shards or threads were used, the work directory (PHI) is gone afterwards, and the opted-out
//! are excluded and counted.

use std::path::{Path, PathBuf};

use deid::{DateMode, Deidentifier, Key};
use synth::{Formats, OutputOptions, SynthConfig};

fn deidentifier() -> Deidentifier {
    Deidentifier::new(Key::from_bytes(&[7u8; 40]).expect("key"), DateMode::Shift)
}

/// An event as a comparable row: time, code, value bits, text.
type Row = (i64, String, Option<u32>, Option<String>);

/// Every subject's events, in dataset order.
fn rows(root: &Path) -> Vec<(i64, Vec<Row>)> {
    let (codes, timelines) = meds::Dataset::open(root).expect("open").read_all().expect("read");
    timelines
        .iter()
        .map(|t| {
            let events = t
                .events()
                .map(|e| {
                    (
                        e.time.unwrap_or(i64::MIN),
                        codes.name(e.code).to_owned(),
                        e.numeric_value.map(f32::to_bits),
                        e.text_value.map(str::to_owned),
                    )
                })
                .collect();
            (t.subject_id, events)
        })
        .collect()
}

fn synth_fhir(dir: &Path, patients: usize) -> PathBuf {
    let options = OutputOptions {
        formats: Formats { meds: false, fhir_ndjson: true, fhir_bundles: false },
        created_at: Some("2026-01-01T00:00:00Z".into()),
        progress: None,
    };
    synth::generate(&SynthConfig::new(patients, 2, 11), dir, &options).expect("synth");
    dir.join("fhir")
}

fn options(inputs: &[&Path], out: &Path) -> ingest::Options {
    let inputs = inputs.iter().map(|p| p.to_path_buf()).collect();
    ingest::Options::new(inputs, out.join("meds"), out.join("quarantine"), out.join("work"))
}

fn run(input: &Path, out: &Path, shard_input_bytes: u64, threads: usize, opt_out: &[&str]) -> ingest::Summary {
    let mut options = options(&[input], out);
    options.shard_input_bytes = shard_input_bytes;
    options.opt_out = ingest::OptOut::parse(&opt_out.join("\n"));
    options.opt_out.allow_unmatched = true;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
    let summary = pool.install(|| ingest::run(&options, &deidentifier(), &|_| {})).expect("ingest");
    assert!(!out.join("work").exists(), "the spill (PHI) is deleted at the end");
    assert!(out.join("quarantine/CONTAINS-PHI.txt").exists());
    summary
}

#[test]
fn the_result_is_the_same_whatever_the_shards_and_threads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = synth_fhir(&dir.path().join("s"), 300);
    let one = run(&input, &dir.path().join("one"), ingest::SHARD_INPUT_BYTES, 1, &[]);
    let many = run(&input, &dir.path().join("many"), 200_000, 2, &[]);
    assert_eq!(one.spill_shards, 1);
    assert!(many.spill_shards > 20, "{} shards", many.spill_shards);
    assert!(one.reconciles && many.reconciles);
    assert_eq!(one.subjects, 300);
    assert_eq!((one.subjects, one.events), (many.subjects, many.events));
    assert_eq!(one.fhir.types, many.fhir.types);
    assert_eq!(one.deidentification, many.deidentification);
    let a = rows(&dir.path().join("one/meds"));
    let b = rows(&dir.path().join("many/meds"));
    assert_eq!(a, b, "identical datasets");
    // Written in pseudonym order within each split, so the source order cannot show.
    assert!(a.iter().all(|(id, _)| *id > 0));
    for split in ["train", "tuning", "held_out"] {
        let ids: Vec<i64> = meds::Dataset::open(dir.path().join("one/meds"))
            .expect("open")
            .shards()
            .iter()
            .filter(|s| s.prefix.as_deref() == Some(split))
            .flat_map(|s| {
                let mut ids = Vec::new();
                meds::reader::read_shard(&s.path, &Default::default(), |t| {
                    ids.push(t.subject_id);
                    Ok(())
                })
                .expect("shard");
                ids
            })
            .collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{split} in pseudonym order");
        assert!(ids.iter().all(|id| ingest::split_of(*id) == split));
    }
}

#[test]
fn the_opted_out_are_excluded_and_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = synth_fhir(&dir.path().join("s"), 40);
    let patients = std::fs::read_to_string(input.join("Patient.ndjson")).expect("patients");
    let ids: Vec<String> = patients
        .lines()
        .take(3)
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json")["id"].as_str().expect("id").to_owned())
        .collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).chain(["not-in-the-input"]).collect();
    // An entry that matches nobody fails the run, before anything is written…
    let mut strict = options(&[&input], &dir.path().join("strict"));
    strict.opt_out = ingest::OptOut::parse(&refs.join("\n"));
    let err = ingest::run(&strict, &deidentifier(), &|_| {}).expect_err("an unmatched entry");
    assert!(matches!(err, ingest::IngestError::OptOutUnmatched { unmatched: 1, entries: 4 }), "{err}");
    assert!(!err.to_string().contains("not-in-the-input"), "entries are counted, never quoted: {err}");
    assert!(!dir.path().join("strict/meds/data").exists(), "nothing written");
    assert!(!dir.path().join("strict/work").exists(), "the spill is removed on failure");
    // …unless the list may name patients outside this extract.
    let summary = run(&input, &dir.path().join("o"), 100_000, 2, &refs);
    assert_eq!(summary.opt_out.unmatched_entries, 1);
    assert_eq!(summary.opted_out_patients, 3, "only patients actually found are counted");
    assert_eq!(summary.subjects, 37);
    let d = deidentifier();
    let written: Vec<i64> = rows(&dir.path().join("o/meds")).into_iter().map(|(id, _)| id).collect();
    for id in &ids {
        assert!(!written.contains(&d.subject_id(id)), "an opted-out patient was written");
    }
}

#[test]
fn the_audit_finds_identifiers_that_survive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = synth_fhir(&dir.path().join("s"), 60);
    let out = dir.path().join("o");
    run(&input, &out, ingest::SHARD_INPUT_BYTES, 2, &[]);
    let planted = synth::truth::planted_identifiers(&dir.path().join("s/truth")).expect("truth");
    assert_eq!(planted.len(), 60);
    let d = deidentifier();
    let clean = ingest::leakage::measure(&planted, std::slice::from_ref(&input), &out.join("meds"), &d).expect("audit");
    assert!(clean.meets_targets && clean.leaks.is_empty(), "{clean:?}");
    assert_eq!(clean.patients, 60);

    // Plant values that are in the output: a word of a scrubbed note, and a code.
    let (codes, timelines) = meds::Dataset::open(out.join("meds")).expect("open").read_all().expect("read");
    let with_note = timelines.iter().find(|t| t.events().any(|e| e.text_value.is_some())).expect("a note");
    let note = with_note.events().find_map(|e| e.text_value).expect("text");
    let word = note.split(|c: char| !c.is_alphanumeric()).find(|w| w.len() >= 5).expect("a word").to_owned();
    let code = codes.name(with_note.events().map(|e| e.code).next().expect("an event")).to_owned();
    let source = planted.keys().find(|s| d.subject_id(s) == with_note.subject_id).expect("source").clone();
    let mut leaky = planted.clone();
    leaky.insert(source, vec![("note_word".into(), word), ("a_code".into(), code)]);
    let found = ingest::leakage::measure(&leaky, &[input], &out.join("meds"), &d).expect("audit");
    assert!(!found.meets_targets);
    assert!(found.text_recall < 1.0 && found.structured_recall < 1.0, "{found:?}");
    let places: Vec<&str> = found.leaks.iter().map(|l| l.place.as_str()).collect();
    assert!(places.contains(&"text") && places.contains(&"code"), "{places:?}");
    assert!(found.leaks.iter().all(|l| l.subject_id == with_note.subject_id));
}

#[test]
fn references_to_patients_the_input_never_defines_are_quarantined_with_their_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("fhir");
    std::fs::create_dir_all(&input).expect("mkdir");
    let obs = |id: &str, patient: &str| {
        format!(
            r#"{{"resourceType":"Observation","id":"{id}","subject":{{"reference":"Patient/{patient}"}},"code":{{"coding":[{{"system":"http://loinc.org","code":"4548-4"}}]}},"effectiveDateTime":"2020-01-01","valueQuantity":{{"value":6.1,"unit":"%"}}}}"#
        )
    };
    // The Patient file sorts after the Observation file: order must not matter.
    std::fs::write(input.join("Observation.ndjson"), [obs("o1", "p1"), obs("o2", "ghost"), obs("o3", "p1")].join("\n"))
        .expect("write");
    std::fs::write(
        input.join("Patient.ndjson"),
        r#"{"resourceType":"Patient","id":"p1","gender":"female","birthDate":"1950-02-03"}"#,
    )
    .expect("write");
    let out = dir.path().join("o");
    let summary = run(&input, &out, ingest::SHARD_INPUT_BYTES, 2, &[]);
    assert!(summary.reconciles);
    let obs = &summary.fhir.types["Observation"];
    assert_eq!((obs.read, obs.converted, obs.quarantined, obs.events), (3, 2, 1, 2));
    assert_eq!(summary.subjects, 1);
    assert_eq!(summary.quarantined, 1);
    let q = &summary.fhir.quarantined;
    assert_eq!(q.len(), 1);
    assert!(q[0].file.ends_with("Observation.ndjson") && q[0].position == 2, "{q:?}");
    assert!(q[0].error.contains("no Patient resource"), "{}", q[0].error);
    assert!(!q[0].error.contains("ghost"), "the error names no identifier");
    let errors = std::fs::read_to_string(out.join("quarantine/errors.jsonl")).expect("errors");
    assert_eq!(errors.lines().count(), 1);
}

/// A small FHIR export written by hand: one line per resource.
fn export(dir: &Path, files: &[(&str, Vec<String>)]) -> PathBuf {
    let input = dir.join("fhir");
    std::fs::create_dir_all(&input).expect("mkdir");
    for (name, lines) in files {
        std::fs::write(input.join(name), lines.join("\n")).expect("write");
    }
    input
}

fn patient(id: &str, gender: &str, extra: &str) -> String {
    format!(r#"{{"resourceType":"Patient","id":"{id}","gender":"{gender}","birthDate":"1950-02-03"{extra}}}"#)
}

fn condition(id: &str, patient: &str, system: &str, code: &str) -> String {
    format!(
        r#"{{"resourceType":"Condition","id":"{id}","subject":{{"reference":"Patient/{patient}"}},"code":{{"coding":[{{"system":"{system}","code":"{code}"}}]}},"onsetDateTime":"2020-01-01"}}"#
    )
}

const SNOMED: &str = "http://snomed.info/sct";

#[test]
fn opt_out_lists_in_the_forms_hospitals_keep_exclude_their_patients() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ident = |v: &str| format!(r#","identifier":[{{"system":"urn:oid:1.2.3","value":"{v}"}}]"#);
    let input = export(
        dir.path(),
        &[(
            "Patient.ndjson",
            vec![
                patient("p1", "female", &ident("MRN001")),
                patient("p2", "male", &ident("MRN002")),
                patient("p3", "male", &ident("MRN003")),
                patient("p4", "female", &ident("MRN004")),
            ],
        )],
    );
    let mut o = options(&[&input], &dir.path().join("o"));
    o.opt_out = ingest::OptOut::parse("# refused\nPatient/p1\nMRN002\nurn:oid:1.2.3|MRN003\n");
    let summary = ingest::run(&o, &deidentifier(), &|_| {}).expect("ingest");
    assert_eq!(summary.opted_out_patients, 3);
    assert_eq!(summary.subjects, 1);
    assert_eq!(summary.opt_out.matched_entries, 3);
}

#[test]
fn duplicates_are_dropped_and_conflicts_quarantined_and_counts_reconcile() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = export(
        dir.path(),
        &[
            (
                "Patient.ndjson",
                vec![patient("p1", "female", ""), patient("p2", "female", ""), patient("p2", "male", "")],
            ),
            (
                "Condition.ndjson",
                vec![condition("c1", "p1", SNOMED, "44054006"), condition("c1", "p1", SNOMED, "44054006")],
            ),
        ],
    );
    // The same export given twice, and a copy of one of its files under another name.
    std::fs::copy(input.join("Condition.ndjson"), input.join("Condition-copy.ndjson")).expect("copy");
    let out = dir.path().join("o");
    let mut o = options(&[&input, &input], &out);
    o.opt_out = ingest::OptOut::default();
    let summary = ingest::run(&o, &deidentifier(), &|_| {}).expect("ingest");
    assert!(summary.reconciles);
    let c = &summary.fhir.types["Condition"];
    assert_eq!((c.read, c.converted), (4, 1), "one condition, whatever the copies");
    assert_eq!(summary.duplicates_dropped, 3);
    let p = &summary.fhir.types["Patient"];
    assert_eq!((p.read, p.converted, p.quarantined), (3, 1, 2), "p2's two versions conflict");
    assert_eq!(summary.conflicting_quarantined, 2);
    let d = deidentifier();
    let written = rows(&out.join("meds"));
    let p1 = &written.iter().find(|(id, _)| *id == d.subject_id("p1")).expect("p1").1;
    assert_eq!(p1.iter().filter(|r| r.1 == "SNOMED/44054006").count(), 1, "not doubled");
    // p2 keeps no sex at all rather than two.
    if let Some((_, p2)) = written.iter().find(|(id, _)| *id == d.subject_id("p2")) {
        assert!(p2.iter().all(|r| !r.1.starts_with("GENDER")), "{p2:?}");
    }
    let records = std::fs::read_to_string(out.join("quarantine/records.ndjson")).expect("records");
    assert_eq!(records.lines().filter(|l| l.contains(r#""id":"p2""#)).count(), 2, "both versions kept raw");
}

#[test]
fn an_identifier_in_a_code_is_quarantined_never_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let extra = r#","name":[{"family":"Zzyzxowski","given":["Ann"]}],"identifier":[{"system":"http://hl7.org/fhir/sid/us-ssn","value":"900-12-3456"}]"#;
    let input = export(
        dir.path(),
        &[
            ("Patient.ndjson", vec![patient("p1", "female", extra)]),
            (
                "Condition.ndjson",
                vec![
                    condition("c1", "p1", SNOMED, "900123456"),
                    condition("c2", "p1", "http://hospital.example/dx", "FOLLOWUP-ZZYZXOWSKI"),
                    condition("c3", "p1", SNOMED, "44054006"),
                ],
            ),
        ],
    );
    let out = dir.path().join("o");
    let summary = ingest::run(&options(&[&input], &out), &deidentifier(), &|_| {}).expect("ingest");
    assert!(summary.reconciles);
    assert_eq!(summary.identifier_codes_quarantined, 2);
    let c = &summary.fhir.types["Condition"];
    assert_eq!((c.converted, c.quarantined), (1, 2));
    let (codes, _) = meds::Dataset::open(out.join("meds")).expect("open").read_all().expect("read");
    let names: Vec<String> = codes.names().map(str::to_owned).collect();
    assert!(names.iter().all(|n| !n.contains("900123456") && !n.to_lowercase().contains("zzyzx")), "{names:?}");
    let codes_parquet = std::fs::read(out.join("meds/metadata/codes.parquet")).expect("codes.parquet");
    assert!(!String::from_utf8_lossy(&codes_parquet).contains("900123456"));
    for q in &summary.fhir.quarantined {
        assert!(!q.error.contains("900") && !q.error.to_lowercase().contains("zzyzx"), "{}", q.error);
    }
}

#[test]
fn orphans_keep_their_raw_record_in_the_quarantine() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = export(
        dir.path(),
        &[
            ("Patient.ndjson", vec![patient("p1", "female", "")]),
            (
                "Condition.ndjson",
                vec![condition("c1", "p1", SNOMED, "44054006"), condition("c2", "ghost", SNOMED, "38341003")],
            ),
        ],
    );
    let out = dir.path().join("o");
    ingest::run(&options(&[&input], &out), &deidentifier(), &|_| {}).expect("ingest");
    let records = std::fs::read_to_string(out.join("quarantine/records.ndjson")).expect("records");
    assert_eq!(records.trim(), condition("c2", "ghost", SNOMED, "38341003"), "the raw record, not null");
}

#[test]
fn damaged_and_empty_inputs_fail_before_anything_is_written() {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("fhir");
    std::fs::create_dir_all(&input).expect("mkdir");
    let mut lines = vec![patient("p1", "female", "")];
    lines.extend((0..3000).map(|i| condition(&format!("c{i}"), "p1", SNOMED, "44054006")));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(lines.join("\n").as_bytes()).expect("gz");
    let bytes = gz.finish().expect("gz");
    std::fs::write(input.join("Condition.ndjson.gz"), &bytes[..bytes.len() / 2]).expect("write");
    let out = dir.path().join("o");
    let err = ingest::run(&options(&[&input], &out), &deidentifier(), &|_| {}).expect_err("damaged");
    assert!(matches!(err, ingest::IngestError::Damaged { count: 1, .. }), "{err}");
    assert!(err.to_string().contains("--accept-partial"), "{err}");
    assert!(!out.join("meds/data").exists() && !out.join("work").exists());
    // A failed run keeps no quarantine (identified records of a run that produced nothing).
    assert!(!out.join("quarantine").exists(), "the failed run's quarantine is removed");
    let mut partial = options(&[&input], &dir.path().join("p"));
    partial.accept_partial = true;
    let summary = ingest::run(&partial, &deidentifier(), &|_| {}).expect("partial accepted");
    assert!(!summary.complete && summary.fhir.damaged.len() == 1 && summary.subjects == 1);

    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).expect("mkdir");
    std::fs::write(empty.join("notes.txt"), "no FHIR here").expect("write");
    let err = ingest::run(&options(&[&empty], &dir.path().join("e")), &deidentifier(), &|_| {}).expect_err("empty");
    assert!(matches!(err, ingest::IngestError::NothingRead { files: 1, .. }), "{err}");
}

#[test]
fn work_and_quarantine_directories_are_private_and_never_someone_elses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = export(dir.path(), &[("Patient.ndjson", vec![patient("p1", "female", "")])]);
    // A work directory that exists and that no run made, holding someone's files: refused.
    let out = dir.path().join("o");
    std::fs::create_dir_all(out.join("work")).expect("mkdir");
    std::fs::write(out.join("work/keep.txt"), "mine").expect("write");
    let err = ingest::run(&options(&[&input], &out), &deidentifier(), &|_| {}).expect_err("not our work dir");
    assert!(matches!(err, ingest::IngestError::Output(outputs::OutputError::NotOurWork { .. })), "{err}");
    assert!(out.join("work/keep.txt").exists());
    // A work directory inside the input: refused before anything is read.
    let mut inside = options(&[&input], &dir.path().join("o2"));
    inside.work = input.join("spill");
    let err = ingest::run(&inside, &deidentifier(), &|_| {}).expect_err("inside the input");
    assert!(matches!(err, ingest::IngestError::Output(outputs::OutputError::InsideInput { .. })), "{err}");
    assert!(!input.join("spill").exists());
    let out = dir.path().join("o3");
    ingest::run(&options(&[&input], &out), &deidentifier(), &|_| {}).expect("ingest");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&out.join("quarantine")), 0o700);
        for f in ["errors.jsonl", "records.ndjson", "CONTAINS-PHI.txt"] {
            assert_eq!(mode(&out.join("quarantine").join(f)), 0o600, "{f}");
        }
    }
}

#[test]
fn a_meds_subject_with_a_placeholder_time_is_quarantined_whole() {
    use meds::{CodeTable, DatasetWriter, Timeline, WriterOptions};
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join("other-etl");
    let mut writer = DatasetWriter::create(&source, WriterOptions::default()).expect("writer");
    let mut codes = CodeTable::new();
    let lab = codes.intern("LOINC/4548-4");
    let birth = codes.intern("MEDS_BIRTH");
    let mut fine = Timeline::with_capacity(1, 2);
    fine.push(Some(0), birth, None, None);
    fine.push(Some(1_600_000_000_000_000), lab, Some(6.1), None);
    writer.write_subject("train", &fine, &codes).expect("write");
    // Year 9999: a placeholder, not a date.
    let mut placeholder = Timeline::with_capacity(2, 2);
    placeholder.push(Some(0), birth, None, None);
    placeholder.push(Some(253_402_214_400_000_000), lab, Some(7.0), None);
    writer.write_subject("train", &placeholder, &codes).expect("write");
    writer.finish(&codes).expect("finish");

    let out = dir.path().join("o");
    let summary = ingest::run(&options(&[&source], &out), &deidentifier(), &|_| {}).expect("ingest");
    let counts = &summary.fhir.types[ingest::MEDS_SUBJECT];
    assert_eq!((counts.read, counts.converted, counts.quarantined), (2, 1, 1));
    assert!(summary.reconciles);
    assert_eq!(summary.subjects, 1);
    let records = std::fs::read_to_string(out.join("quarantine/records.ndjson")).expect("records");
    assert!(records.contains("253402214400000000"), "the subject's rows are kept as they were");
    let errors = std::fs::read_to_string(out.join("quarantine/errors.jsonl")).expect("errors");
    assert!(errors.contains("implausible"), "{errors}");
}

/// A patient's record in a request (a CDS Hooks prefetch, a REST body) becomes, in memory, the
/// very timeline the batch pipeline writes for the same record with the same key: the same
/// pseudonymous subject, the same shifted times, the same codes and values.
#[test]
fn a_request_gives_the_timeline_the_export_gave() {
    let dir = tempfile::tempdir().expect("dir");
    let options = OutputOptions {
        formats: Formats { meds: false, fhir_ndjson: false, fhir_bundles: true },
        created_at: Some("2026-01-01T00:00:00Z".into()),
        progress: None,
    };
    synth::generate(&SynthConfig::new(12, 2, 11), dir.path(), &options).expect("synth");
    let bundles = dir.path().join("fhir/bundles");
    let out = dir.path().join("out");
    let summary = ingest::run(&options_for(&bundles, &out), &deidentifier(), &|_| {}).expect("ingest");
    assert_eq!(summary.subjects, 12);
    let batch: std::collections::BTreeMap<i64, Vec<Row>> = rows(&out.join("meds")).into_iter().collect();

    let mut files: Vec<PathBuf> =
        std::fs::read_dir(&bundles).expect("bundles").map(|e| e.expect("entry").path()).collect();
    files.sort();
    assert_eq!(files.len(), 12);
    for file in files {
        let text = std::fs::read_to_string(&file).expect("bundle");
        let request = ingest::read_request(&text, &deidentifier()).expect("request");
        assert!(request.fhir.reconciles());
        assert_eq!(request.timelines.len(), 1, "one patient per bundle");
        let t = &request.timelines[0];
        let rows: Vec<Row> = t
            .events()
            .map(|e| {
                (
                    e.time.unwrap_or(i64::MIN),
                    request.codes.name(e.code).to_owned(),
                    e.numeric_value.map(f32::to_bits),
                    e.text_value.map(str::to_owned),
                )
            })
            .collect();
        let expected = batch.get(&t.subject_id).expect("the same pseudonymous subject in the export");
        assert_eq!(&rows, expected, "subject {}: event for event, in order", t.subject_id);
    }
    // A record for a patient the request never defines is withheld, not scored.
    let orphan = r#"{"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/nobody"},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006"}]},
        "onsetDateTime": "2020-01-01"}"#;
    let request = ingest::read_request(orphan, &deidentifier()).expect("request");
    assert!(request.timelines.is_empty());
    assert_eq!(request.withheld, 1);
}

fn options_for(input: &Path, out: &Path) -> ingest::Options {
    options(&[input], out)
}
