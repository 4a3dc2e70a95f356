//! Prints the ingest report of the FHIR under the given paths as JSON.
fn main() {
    let paths: Vec<std::path::PathBuf> = std::env::args().skip(1).map(Into::into).collect();
    match fhir::ingest(&paths) {
        Ok(i) => println!("{}", serde_json::to_string_pretty(&i.report).unwrap_or_default()),
        Err(e) => eprintln!("error: {e}"),
    }
}
