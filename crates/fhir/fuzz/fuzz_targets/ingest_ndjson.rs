//! Fuzzes the FHIR reader end to end: arbitrary bytes as an NDJSON file and as a JSON Bundle.
//! It must never panic, and every line it reads must be accounted for.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else { return };
    for name in ["Observation.ndjson", "bundle.json"] {
        let path = dir.path().join(name);
        if std::fs::write(&path, data).is_err() {
            return;
        }
        if let Ok(ingested) = fhir::ingest(&[path.clone()]) {
            assert!(ingested.report.reconciles());
        }
        let _ = std::fs::remove_file(&path);
    }
});
