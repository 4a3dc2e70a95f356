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
    finished: bool,
}

impl QuarantineWriter {
    /// Creates the quarantine files in `dir`, a directory the run has claimed (owner-only:
    /// [`outputs::OutputDir::claim_private`]); every file is readable by its owner only.
    pub fn create(dir: &Path) -> std::io::Result<Self> {
        let mut warning = outputs::create_private(&dir.join("CONTAINS-PHI.txt"))?;
        warning.write_all(
            b"This directory holds raw input records that could not be converted. They may contain \
              protected health information: restrict access, do not share, delete when resolved.\n",
        )?;
        Ok(Self {
            dir: dir.to_path_buf(),
            errors: BufWriter::new(outputs::create_private(&dir.join("errors.jsonl"))?),
            records: BufWriter::new(outputs::create_private(&dir.join("records.ndjson"))?),
            count: 0,
            finished: false,
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends one record.
    pub fn push(&mut self, record: &fhir::Quarantined) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.errors, record)?;
        self.errors.write_all(b"\n")?;
        // One line per record, so that line n of both files is the same record. The bytes are
        // kept as they came (a line that is not UTF-8 included), but for line breaks.
        let raw: Vec<u8> = match record.raw.as_deref() {
            Some(raw) => raw.iter().map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b }).collect(),
            None => b"null".to_vec(),
        };
        self.records.write_all(&raw)?;
        self.records.write_all(b"\n")?;
        self.count += 1;
        Ok(())
    }

    /// Flushes both files to disk; returns the directory and the number of records.
    pub fn finish(mut self) -> std::io::Result<(PathBuf, u64)> {
        self.finished = true;
        for w in [&mut self.errors, &mut self.records] {
            w.flush()?;
            w.get_ref().sync_all()?;
        }
        Ok((self.dir.clone(), self.count))
    }
}

impl Drop for QuarantineWriter {
    /// A run that fails keeps no quarantine: what it holds is a part of a run that produced
    /// nothing, identified, and the next run quarantines again what it finds. The files go, so
    /// that the claimed directory, if this run made it, goes with them.
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        for name in ["errors.jsonl", "records.ndjson", "CONTAINS-PHI.txt"] {
            let path = self.dir.join(name);
            if let Err(e) = std::fs::remove_file(&path)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::error!(file = %path.display(), error = %e, "could not remove a quarantine file of a failed run: remove it by hand");
            }
        }
    }
}
