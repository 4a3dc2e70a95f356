//! The quarantine directory: raw input records that could not be converted, with their errors.
//!
//! It holds PHI (the raw records), so it is never inside the output, carries a `CONTAINS-PHI.txt`
//! warning, and is written as records arrive (memory does not grow with the number of bad
//! records).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Streams quarantined records to `errors.jsonl` (file, position, error: no content) and
/// `records.ndjson` (the raw record, line for line with the errors).
pub struct QuarantineWriter {
    dir: PathBuf,
    errors: BufWriter<File>,
    records: BufWriter<File>,
    count: u64,
}

impl QuarantineWriter {
    /// Creates (or empties) the quarantine directory.
    pub fn create(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(
            dir.join("CONTAINS-PHI.txt"),
            "This directory holds raw input records that could not be converted. They may contain \
             protected health information: restrict access, do not share, delete when resolved.\n",
        )?;
        Ok(Self {
            dir: dir.to_path_buf(),
            errors: BufWriter::new(File::create(dir.join("errors.jsonl"))?),
            records: BufWriter::new(File::create(dir.join("records.ndjson"))?),
            count: 0,
        })
    }

    /// Appends one record.
    pub fn push(&mut self, record: &fhir::Quarantined) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.errors, record)?;
        self.errors.write_all(b"\n")?;
        // One line per record, so that line n of both files is the same record.
        let raw = record.raw.as_deref().unwrap_or("null").replace(['\n', '\r'], " ");
        self.records.write_all(raw.as_bytes())?;
        self.records.write_all(b"\n")?;
        self.count += 1;
        Ok(())
    }

    /// Flushes both files to disk; returns the directory and the number of records.
    pub fn finish(self) -> std::io::Result<(PathBuf, u64)> {
        for w in [self.errors, self.records] {
            w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        }
        Ok((self.dir, self.count))
    }
}
