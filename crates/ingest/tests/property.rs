//! A property test of the whole ingest on messy exports: random mixes of valid resources and
//! every kind of damage a hospital export shows (truncated and non-UTF-8 lines, references to
//! missing patients, identical and conflicting copies, placeholder dates, identifiers typed into
//! codes, unknown resource types carrying text, blank lines, gzip cut short). For every case:
//! no panic; read = converted + skipped + quarantined for every type; every non-blank line of an
//! undamaged file is read once; every quarantined record is in the quarantine with its raw text;
//! and no planted identifier reaches the dataset or the report. Bounded in cases and time, with a
//! fixed seed (a failure names its case, and re-runs the same).

use std::io::Write;
use std::time::{Duration, Instant};

use deid::{DateMode, Deidentifier, Key};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

const CASES: u64 = 120;
const TIME: Duration = Duration::from_secs(40);

struct Person {
    id: String,
    surname: String,
    ssn: String,
}

fn letters(rng: &mut ChaCha8Rng, n: usize) -> String {
    (0..n).map(|_| char::from(b'a' + rng.random_range(0..26u8))).collect()
}

fn patient_line(p: &Person, gender: &str) -> String {
    format!(
        r#"{{"resourceType":"Patient","id":"{}","gender":"{gender}","birthDate":"1960-05-06","name":[{{"family":"{}","given":["Jo"]}}],"identifier":[{{"system":"http://hl7.org/fhir/sid/us-ssn","value":"{}"}}]}}"#,
        p.id, p.surname, p.ssn
    )
}

fn condition_line(id: &str, patient: &str, system: &str, code: &str, date: &str) -> String {
    format!(
        r#"{{"resourceType":"Condition","id":"{id}","subject":{{"reference":"Patient/{patient}"}},"code":{{"coding":[{{"system":"{system}","code":"{code}"}}]}},"onsetDateTime":"{date}"}}"#
    )
}

/// One random export: lines per file (as bytes), and the planted identifiers.
fn export(rng: &mut ChaCha8Rng) -> (Vec<Vec<Vec<u8>>>, Vec<Person>) {
    let people: Vec<Person> = (0..rng.random_range(1..6usize))
        .map(|i| Person {
            id: format!("p{i}"),
            surname: format!("Qz{}", letters(rng, 6)),
            ssn: format!(
                "{:03}-{:02}-{:04}",
                rng.random_range(100..900),
                rng.random_range(10..99),
                rng.random_range(1000..9999)
            ),
        })
        .collect();
    let mut lines: Vec<Vec<u8>> = Vec::new();
    for p in &people {
        lines.push(patient_line(p, "female").into_bytes());
    }
    for i in 0..rng.random_range(0..40usize) {
        let p = &people[rng.random_range(0..people.len())];
        let id = format!("c{}", rng.random_range(0..30));
        let line = match rng.random_range(0..12) {
            0 => condition_line(&id, "ghost", "http://snomed.info/sct", "44054006", "2020-01-01"),
            1 => condition_line(&id, &p.id, "http://snomed.info/sct", &p.ssn.replace('-', ""), "2020-01-01"),
            2 => condition_line(&id, &p.id, "http://hospital.example/dx", &format!("FU-{}", p.surname), "2020-01-01"),
            3 => condition_line(&id, &p.id, "http://snomed.info/sct", "38341003", "9999-12-31"),
            4 => {
                let good = condition_line(&id, &p.id, "http://snomed.info/sct", "38341003", "2020-01-01");
                good[..rng.random_range(1..good.len())].to_owned()
            }
            5 => {
                let mut bytes = patient_line(p, "male").into_bytes();
                let at = rng.random_range(0..bytes.len());
                bytes[at] = 0xff;
                lines.push(bytes);
                continue;
            }
            6 => format!(r#"{{"resourceType":"{} {}","id":"x{i}"}}"#, p.surname, p.ssn),
            7 => patient_line(p, "male"),
            8 => String::new(),
            _ => condition_line(&id, &p.id, "http://snomed.info/sct", "44054006", "2021-03-04"),
        };
        lines.push(line.into_bytes());
        if rng.random_bool(0.15) {
            let copy = lines[lines.len() - 1].clone();
            lines.push(copy);
        }
    }
    // Shuffle, then deal into one to three files.
    for i in (1..lines.len()).rev() {
        lines.swap(i, rng.random_range(0..=i));
    }
    let files = rng.random_range(1..4usize);
    let mut out = vec![Vec::new(); files];
    for (i, l) in lines.into_iter().enumerate() {
        out[i % files].push(l);
    }
    (out, people)
}

#[test]
fn ingest_accounts_for_every_record_of_messy_exports_and_leaks_no_identifier() {
    let started = Instant::now();
    let deidentifier = Deidentifier::new(Key::from_bytes(&[3u8; 40]).expect("key"), DateMode::Shift);
    let mut cases = 0;
    for case in 0..CASES {
        if started.elapsed() > TIME {
            break;
        }
        cases += 1;
        let mut rng = ChaCha8Rng::seed_from_u64(case);
        let (files, people) = export(&mut rng);
        let dir = tempfile::tempdir().expect("tempdir");
        let input = dir.path().join("export");
        std::fs::create_dir_all(&input).expect("mkdir");
        let mut expected_reads = 0;
        let mut damaged_files = 0;
        for (i, lines) in files.iter().enumerate() {
            let joined = lines.join(&b'\n');
            let non_blank = lines.iter().filter(|l| !String::from_utf8_lossy(l).trim().is_empty()).count();
            if rng.random_bool(0.3) {
                let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                gz.write_all(&joined).expect("gz");
                let mut bytes = gz.finish().expect("gz");
                if rng.random_bool(0.3) && bytes.len() > 40 {
                    bytes.truncate(bytes.len() - rng.random_range(1..20));
                    damaged_files += 1;
                } else {
                    expected_reads += non_blank;
                }
                std::fs::write(input.join(format!("part{i}.ndjson.gz")), bytes).expect("write");
            } else {
                expected_reads += non_blank;
                std::fs::write(input.join(format!("part{i}.ndjson")), joined).expect("write");
            }
        }
        let out = dir.path().join("out");
        let mut options = ingest::Options::new(vec![input.clone()], out.join("meds"), out.join("q"), out.join("w"));
        options.accept_partial = true;
        let summary = match ingest::run(&options, &deidentifier, &|_| {}) {
            Ok(s) => s,
            Err(ingest::IngestError::NothingRead { .. }) if expected_reads == 0 => continue,
            Err(e) => panic!("case {case}: {e}"),
        };
        let report = &summary.fhir;
        assert!(summary.reconciles, "case {case}: counts do not reconcile: {:?}", report.types);
        let read: usize = report.types.values().map(|c| c.read as usize).sum();
        if damaged_files == 0 {
            assert_eq!(read, expected_reads, "case {case}: every non-blank line is read once");
            assert!(summary.complete);
        } else {
            assert!(read >= expected_reads && !summary.complete, "case {case}: {read} vs {expected_reads}");
        }
        let quarantined: u64 = report.types.values().map(|c| c.quarantined).sum();
        assert_eq!(quarantined, summary.quarantined, "case {case}");
        let records = std::fs::read(out.join("q/records.ndjson")).expect("records");
        let raw_lines: Vec<&[u8]> = records.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect();
        assert_eq!(raw_lines.len() as u64, quarantined, "case {case}: one raw line per quarantined record");
        assert!(raw_lines.iter().all(|l| *l != b"null"), "case {case}: every quarantined record kept raw");
        assert!(!out.join("w").exists(), "case {case}: the spill is gone");

        // No planted identifier in the dataset or the report.
        let report_json = serde_json::to_string(&summary).expect("json").to_lowercase();
        let mut written = String::new();
        if let Ok(dataset) = meds::Dataset::open(out.join("meds")) {
            let (codes, timelines) = dataset.read_all().expect("read");
            written.extend(codes.names().map(|c| format!("{c}\n")));
            for t in &timelines {
                for e in t.events() {
                    written.push_str(e.text_value.unwrap_or_default());
                }
            }
        }
        let written = written.to_lowercase();
        for p in &people {
            for value in [p.surname.to_lowercase(), p.ssn.clone(), p.ssn.replace('-', "")] {
                assert!(!written.contains(&value), "case {case}: {value} reached the dataset");
                assert!(!report_json.contains(&value), "case {case}: {value} reached the report");
            }
        }
    }
    assert!(cases >= 20, "only {cases} cases ran in {TIME:?}");
}

#[test]
fn the_export_shapes_cover_every_kind_of_damage() {
    // The generator above is only a test if its exports hold each kind of damage somewhere.
    let mut seen = [false; 4];
    for case in 0..CASES {
        let (files, _) = export(&mut ChaCha8Rng::seed_from_u64(case));
        for l in files.iter().flatten() {
            let text = String::from_utf8_lossy(l);
            seen[0] |= std::str::from_utf8(l).is_err();
            seen[1] |= text.contains("ghost");
            seen[2] |= text.contains("9999-12-31");
            seen[3] |= text.starts_with('{') && !text.ends_with('}');
        }
    }
    assert_eq!(seen, [true; 4], "not UTF-8, orphan, placeholder date, truncated");
}
