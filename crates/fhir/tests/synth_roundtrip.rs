//! Reading the generator's FHIR gives back exactly the events of its direct MEDS output: every
//! code, time, value and note, patient by patient.

use std::collections::HashMap;

use synth::{SynthConfig, fhir as synth_fhir, simulate_patient, vocab};

type Key = (Option<i64>, String, Option<u32>, Option<String>);

fn key(time: Option<i64>, code: &str, value: Option<f32>, text: Option<&str>) -> Key {
    (time, code.to_owned(), value.map(f32::to_bits), text.map(str::to_owned))
}

#[test]
fn fhir_ingest_reproduces_the_direct_meds_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = SynthConfig::new(500, 2, 7);
    let codes = vocab::code_table();
    let mut buffers: [String; 7] = Default::default();
    let mut expected: HashMap<String, Vec<Key>> = HashMap::new();
    for i in 0..500 {
        let p = simulate_patient(&config, &codes, i);
        let r = synth_fhir::resources(&p, &codes, config.seed, synth_fhir::References::Relative);
        r.append_ndjson(&mut buffers);
        let mut events: Vec<Key> =
            p.timeline.events().map(|e| key(e.time, codes.name(e.code), e.numeric_value, e.text_value)).collect();
        events.sort();
        expected.insert(r.resources[0].1.clone(), events);
    }
    for (kind, buffer) in synth_fhir::RESOURCE_TYPES.iter().zip(&buffers) {
        std::fs::write(dir.path().join(format!("{kind}.ndjson")), buffer).expect("write");
    }

    let ingested = fhir::ingest(&[dir.path().to_path_buf()]).expect("ingest");
    assert!(ingested.report.reconciles());
    assert!(ingested.report.quarantined.is_empty(), "{:?}", ingested.report.quarantined.first());
    assert_eq!(ingested.patients.len(), 500);
    for (patient, events) in &ingested.patients {
        let mut got: Vec<Key> =
            events.iter().map(|e| key(e.time, &e.code, e.numeric_value, e.text_value.as_deref())).collect();
        got.sort();
        let want = &expected[patient];
        let missing: Vec<&Key> = want.iter().filter(|k| !got.contains(k)).take(4).collect();
        let extra: Vec<&Key> = got.iter().filter(|k| !want.contains(k)).take(4).collect();
        assert!(
            &got == want,
            "patient {patient}: {} vs {} events; missing {missing:?}; extra {extra:?}",
            got.len(),
            want.len()
        );
    }
}
