//! De-identification recall on the generator's planted identifiers: FHIR written by `synth`
//! (names, MRNs, SSNs, phones, emails, addresses, ZIPs, note dates) → `fhir` reader → `deid`.
//! Every planted value that appeared in a note must be gone from it.

use std::collections::BTreeMap;

use deid::{DateMode, DeidReport, Deidentifier, Key};
use synth::{SynthConfig, fhir as synth_fhir, simulate_patient, vocab};

#[test]
fn planted_identifiers_are_removed_from_notes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = SynthConfig::new(600, 2, 23);
    let codes = vocab::code_table();
    let mut buffers: [String; 7] = Default::default();
    let mut planted: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for i in 0..600 {
        let p = simulate_patient(&config, &codes, i);
        let r = synth_fhir::resources(&p, &codes, config.seed, synth_fhir::References::Relative);
        r.append_ndjson(&mut buffers);
        let mut values: Vec<String> = p.identity.planted().iter().map(|(_, v)| (*v).to_owned()).collect();
        values.retain(|v| v.len() > 2); // state abbreviations are not identifiers under Safe Harbor
        values.extend(p.truth.note_dates.iter().cloned());
        planted.insert(r.resources[0].1.clone(), values);
    }
    for (kind, buffer) in synth_fhir::RESOURCE_TYPES.iter().zip(&buffers) {
        std::fs::write(dir.path().join(format!("{kind}.ndjson")), buffer).expect("write");
    }
    let ingested = fhir::ingest(&[dir.path().to_path_buf()]).expect("ingest");
    let deid = Deidentifier::new(Key::from_bytes(&[7u8; 32]).expect("key"), DateMode::Shift);
    let mut report = DeidReport::default();
    let (mut present, mut leaked) = (0u64, 0u64);
    for (source, events) in &ingested.patients {
        let raw_texts: Vec<String> = events.iter().filter_map(|e| e.text_value.clone()).collect();
        let p = deid.patient(source, events.clone(), ingested.identifiers.get(source), &mut report);
        let clean: Vec<&str> = p.events.iter().filter_map(|e| e.text_value.as_deref()).collect();
        for value in &planted[source] {
            let lower = value.to_lowercase();
            for (raw, clean) in raw_texts.iter().zip(&clean) {
                if raw.to_lowercase().contains(&lower) {
                    present += 1;
                    if clean.to_lowercase().contains(&lower) {
                        leaked += 1;
                        eprintln!("leaked a {}-character planted value", value.chars().count());
                    }
                }
            }
        }
        assert!(p.subject_id > 0);
        assert!(p.events.iter().all(|e| !e.code.contains(source.as_str())));
    }
    let recall = 1.0 - leaked as f64 / present.max(1) as f64;
    eprintln!("planted identifier occurrences in notes: {present}, leaked: {leaked}, recall {recall:.4}");
    eprintln!("replacements: {:?}", report.replacements);
    assert!(present > 1000, "{present}");
    assert!(recall >= 0.999, "recall {recall:.4}");
}
