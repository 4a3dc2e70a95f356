//! Files Longitude writes and reads back: each with a name for its layout and a version.
//!
//! Architecture invariant: **a build reads only the layouts it knows.** Every JSON file one step
//! writes and another reads (label reports, adapt reports, what-if comparisons, the model bundle's
//! manifest) is a type that implements [`Artifact`]; [`write`] puts its `format` and `version`
//! first, and [`read`] refuses a file of another format, or of a version this build does not
//! read, with an error that says which — rather than misreading it.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::atomic::{WriteError, write_json};

/// A typed file: what [`read`] and [`write`] need to know about it.
pub trait Artifact: Serialize + DeserializeOwned {
    /// The layout's name, written as the file's `format` (e.g. `longitude-adapt-report`).
    const FORMAT: &'static str;
    /// The layout's version: a build reads this version only.
    const VERSION: u32;
}

/// Why a typed file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not JSON, or not the layout its header claims.
    #[error("{path} is not a valid {format} file: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The layout expected.
        format: &'static str,
        /// The parser's message (names a field, never a value).
        message: String,
    },
    /// The file is another kind of file (or one written before files carried a format).
    #[error("{path} is not a {expected} file (its format is {found}); was it given in the place of another?")]
    Format {
        /// The file.
        path: PathBuf,
        /// The layout expected.
        expected: &'static str,
        /// The layout found (`none` when the file names none).
        found: String,
    },
    /// The file is of a version this build does not read.
    #[error(
        "{path} is a {format} file of version {found}; this build reads version {supported}: re-create it with this build"
    )]
    Version {
        /// The file.
        path: PathBuf,
        /// The layout.
        format: &'static str,
        /// The version found.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// The file could not be written.
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// What every typed file starts with.
#[derive(Default, Deserialize)]
struct Header {
    format: Option<String>,
    version: Option<u32>,
}

/// The file as written: the header, then the value's own fields.
#[derive(Serialize)]
struct Envelope<'a, T> {
    format: &'static str,
    version: u32,
    #[serde(flatten)]
    body: &'a T,
}

/// Writes `value` to `path` atomically ([`crate::atomic::write_json`]), its `format` and
/// `version` first. `T` must serialize as a JSON object (a struct with named fields).
pub fn write<T: Artifact>(path: &Path, value: &T) -> Result<(), ArtifactError> {
    Ok(write_json(path, &Envelope { format: T::FORMAT, version: T::VERSION, body: value })?)
}

/// Reads a file [`write`] wrote, refusing another format or version.
pub fn read<T: Artifact>(path: &Path) -> Result<T, ArtifactError> {
    let bytes = std::fs::read(path).map_err(|source| ArtifactError::Read { path: path.to_path_buf(), source })?;
    from_slice(path, &bytes)
}

/// [`read`] on bytes already in memory (`path` names them in errors).
pub fn from_slice<T: Artifact>(path: &Path, bytes: &[u8]) -> Result<T, ArtifactError> {
    let parse = |e: serde_json::Error| ArtifactError::Parse {
        path: path.to_path_buf(),
        format: T::FORMAT,
        message: without_quoted_values(&e.to_string()),
    };
    // Valid JSON that is not an object with a string `format` (an older file written as a bare
    // list, say) names no format; only a file that is not JSON at all is a parse error.
    let header = match serde_json::from_slice::<Header>(bytes) {
        Ok(header) => header,
        Err(e) if e.is_syntax() || e.is_eof() => return Err(parse(e)),
        Err(_) => Header::default(),
    };
    match header.format.as_deref() {
        Some(f) if f == T::FORMAT => {}
        found => {
            return Err(ArtifactError::Format {
                path: path.to_path_buf(),
                expected: T::FORMAT,
                found: found.unwrap_or("none").to_string(),
            });
        }
    }
    match header.version {
        Some(v) if v == T::VERSION => {}
        found => {
            return Err(ArtifactError::Version {
                path: path.to_path_buf(),
                format: T::FORMAT,
                found: found.unwrap_or(0),
                supported: T::VERSION,
            });
        }
    }
    serde_json::from_slice(bytes).map_err(parse)
}

/// A parser's message with every double-quoted value replaced by `"…"`: serde_json quotes the
/// value it could not read (`invalid type: string "…"`), which may be anything the file held.
fn without_quoted_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quoted = false;
    for c in message.chars() {
        if c == '"' {
            if !quoted {
                out.push_str("\"…\"");
            }
            quoted = !quoted;
        } else if !quoted {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Note {
        text: String,
        count: u32,
    }

    impl Artifact for Note {
        const FORMAT: &'static str = "test-note";
        const VERSION: u32 = 2;
    }

    #[test]
    fn a_file_reads_back_as_written_with_its_header_first() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("note.json");
        let note = Note { text: "x".into(), count: 3 };
        write(&path, &note).expect("write");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.starts_with("{\n  \"format\": \"test-note\",\n  \"version\": 2,"), "{text}");
        assert_eq!(read::<Note>(&path).expect("read"), note);
    }

    #[test]
    fn another_format_or_version_is_refused_and_says_which() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("note.json");
        let cases = [
            (r#"{"format":"test-other","version":2,"text":"x","count":1}"#, "its format is test-other"),
            (r#"{"text":"x","count":1}"#, "its format is none"),
            (r#"{"format":"test-note","version":3,"text":"x","count":1}"#, "version 3; this build reads version 2"),
            (r#"{"format":"test-note","version":2,"text":"x"}"#, "missing field"),
            (r#"[1, 2]"#, "its format is none"),
            (r#"[{"task":"x"}]"#, "its format is none"),
            (r#"{"format":7,"version":2}"#, "its format is none"),
            (r#"{"format":"test-note""#, "not a valid test-note file"),
            (r#"{"format":"test-note","version":2,"text":"x","count":"Jane Roe"}"#, "invalid type: string \"…\""),
        ];
        for (text, expected) in cases {
            std::fs::write(&path, text).expect("write");
            let err = read::<Note>(&path).expect_err(text).to_string();
            assert!(err.contains(expected), "{text}: {err}");
            assert!(!err.contains("Jane"), "a value read in the file is never quoted back: {err}");
        }
    }
}
