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

fn run(input: &Path, out: &Path, shard_input_bytes: u64, threads: usize, opt_out: &[&str]) -> ingest::Summary {
    let mut options =
        ingest::Options::new(vec![input.to_path_buf()], out.join("meds"), out.join("quarantine"), out.join("work"));
    options.shard_input_bytes = shard_input_bytes;
    options.opt_out = opt_out.iter().map(|s| (*s).to_owned()).collect();
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
    let summary = run(&input, &dir.path().join("o"), 100_000, 2, &refs);
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
    let clean = ingest::audit::audit(&planted, std::slice::from_ref(&input), &out.join("meds"), &d).expect("audit");
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
    let found = ingest::audit::audit(&leaky, &[input], &out.join("meds"), &d).expect("audit");
    assert!(!found.meets_targets);
    assert!(found.text_recall < 1.0 && found.structured_recall < 1.0, "{found:?}");
    let places: Vec<&str> = found.leaks.iter().map(|l| l.place).collect();
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
