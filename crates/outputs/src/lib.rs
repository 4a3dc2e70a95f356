//! # outputs — the directories Longitude writes, and nothing else
//!
//! Architecture invariant: **Longitude deletes only what it can show it wrote.** A hospital
//! points commands at shared drives, mistypes paths and keeps notes beside exports; a command
//! that cleans its output before a re-run must never take any of that with it.
//!
//! - [`OutputDir::claim`] takes an output directory for one command. A new or empty directory
//!   becomes ours: a marker file ([`MARKER`]) says which command claimed it, and when the run
//!   ends, [`OutputDir::finish`] lists in it every file the run left there. A later run of the
//!   same command removes exactly the files that list names (and directories left empty), never
//!   anything else. A non-empty directory without a marker — or files in ours that the list does
//!   not name — are refused with a clear error, unless the user passes `--replace`, which writes
//!   beside them and deletes none of them.
//! - [`check_apart`] refuses an output inside an input, or an input inside an output (pointing
//!   `--out` at the export would otherwise overwrite or delete the source).
//! - [`WorkDir`] is a scratch directory for identified data: created owner-only, marked, removed
//!   on every exit path that runs code (including errors and unwinding), and found and removed by
//!   the next run after a kill. An existing directory without its marker is refused, never
//!   emptied.
//! - [`create_private`] opens a file readable by its owner only, for identified data.
//! - [`atomic`] is the one way every file is written: whole or not at all.
//! - [`artifact`] reads and writes the typed JSON files one step hands the next, each with its
//!   format and version, refusing a layout this build does not read.
//! - [`stdout`] prints results (`out!`, `outln!`): a closed pipe ends the program quietly.

#![forbid(unsafe_code)]

pub mod artifact;
pub mod atomic;
pub mod stdout;

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The marker file in every output directory a command claimed.
pub const MARKER: &str = ".longitude-output.json";
/// The marker file in every work directory.
pub const WORK_MARKER: &str = ".longitude-work.json";

const FORMAT: &str = "longitude-output";
const WORK_FORMAT: &str = "longitude-work";
const VERSION: u32 = 1;
/// How many foreign names an error quotes.
const EXAMPLES: usize = 3;

/// Why an output or work directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// A file system operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The path concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An output would be written inside an input.
    #[error("the output {output} is inside the input {input}: choose an output directory outside every input")]
    InsideInput {
        /// The output.
        output: PathBuf,
        /// The input that contains it.
        input: PathBuf,
    },
    /// An input lies inside an output, where cleaning or writing could destroy it.
    #[error("the input {input} is inside the output {output}: choose an output directory that holds no input")]
    HoldsInput {
        /// The output.
        output: PathBuf,
        /// The input inside it.
        input: PathBuf,
    },
    /// A non-empty directory that no Longitude command claimed.
    #[error(
        "{dir} is not empty and was not written by longitude ({count} entries, e.g. {examples}); choose a new or empty directory, or pass --replace to write beside what is there (none of it is deleted)"
    )]
    NotOurs {
        /// The directory.
        dir: PathBuf,
        /// Entries found.
        count: usize,
        /// A few of their names.
        examples: String,
    },
    /// A directory claimed by another command.
    #[error("{dir} was written by `longitude {by}`, not `longitude {command}`; choose another directory")]
    OtherCommand {
        /// The directory.
        dir: PathBuf,
        /// The command that claimed it.
        by: String,
        /// The command that asked.
        command: String,
    },
    /// Files inside our directory that our run did not write.
    #[error(
        "{dir} holds {count} files that `longitude {command}` did not write (e.g. {examples}); move them away, or pass --replace to keep them and write beside them"
    )]
    Foreign {
        /// The directory.
        dir: PathBuf,
        /// The command.
        command: String,
        /// Foreign files.
        count: usize,
        /// A few of their paths, relative to the directory.
        examples: String,
    },
    /// A run was asked to continue in a directory it cannot continue in.
    #[error("{dir}: {reason}")]
    CannotResume {
        /// The directory.
        dir: PathBuf,
        /// Why.
        reason: String,
    },
    /// An existing work directory without the work marker.
    #[error(
        "the work directory {dir} exists and was not made by longitude; choose another (it is created, used and removed by the run)"
    )]
    NotOurWork {
        /// The directory.
        dir: PathBuf,
    },
    /// A marker file that cannot be read as one.
    #[error("{path}: not a longitude marker file ({reason}); remove it by hand if the directory is not in use")]
    Marker {
        /// The marker file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> OutputError + '_ {
    move |source| OutputError::Io { path: path.to_path_buf(), source }
}

/// What to do with a non-empty directory that holds files this command did not write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Existing {
    /// Refuse it (the default: a mistyped path must not mix outputs into someone's folder).
    #[default]
    Refuse,
    /// Write beside them; they are never deleted (`--replace`).
    KeepBeside,
}

/// The content of [`MARKER`].
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Marker {
    format: String,
    version: u32,
    /// The command that claimed the directory, e.g. `ingest`.
    command: String,
    /// Whether the run finished; an unfinished run's files are all its own.
    complete: bool,
    /// Files (relative paths, `/`-separated) the last finished run left.
    files: Vec<String>,
    /// Files that were there before the claim, or that the run did not write: never deleted.
    foreign: Vec<String>,
}

impl Marker {
    fn read(path: &Path) -> Result<Self, OutputError> {
        let text = std::fs::read_to_string(path).map_err(io(path))?;
        let m: Marker = serde_json::from_str(&text)
            .map_err(|e| OutputError::Marker { path: path.to_path_buf(), reason: e.to_string() })?;
        if m.format != FORMAT || m.version != VERSION {
            return Err(OutputError::Marker {
                path: path.to_path_buf(),
                reason: format!("format {} version {}, expected {FORMAT} version {VERSION}", m.format, m.version),
            });
        }
        Ok(m)
    }

    fn write(&self, dir: &Path) -> Result<(), OutputError> {
        let path = dir.join(MARKER);
        atomic::write_json(&path, self).map_err(|e| OutputError::Io { path: e.path, source: e.source })
    }
}

/// An output directory claimed by one command for one run.
#[derive(Debug)]
pub struct OutputDir {
    root: PathBuf,
    command: String,
    foreign: BTreeSet<String>,
    /// Whether this claim made the directory (a run that fails before writing anything then
    /// removes it again, leaving no empty folder behind).
    created: bool,
    finished: bool,
}

impl OutputDir {
    /// Claims `root` for `command`, checking it against `inputs` (see [`check_apart`]). A new or
    /// empty directory is created and marked; a directory this command claimed before is cleaned
    /// of the files its last run wrote; anything else is refused unless `existing` says to write
    /// beside it.
    pub fn claim(root: &Path, command: &str, inputs: &[PathBuf], existing: Existing) -> Result<Self, OutputError> {
        check_apart(&[root], inputs)?;
        Self::claim_unchecked(root, command, existing, false)
    }

    /// As [`OutputDir::claim`], for a directory that holds identified data: the directory is
    /// made readable by its owner only.
    pub fn claim_private(
        root: &Path,
        command: &str,
        inputs: &[PathBuf],
        existing: Existing,
    ) -> Result<Self, OutputError> {
        check_apart(&[root], inputs)?;
        Self::claim_unchecked(root, command, existing, true)
    }

    /// Continues in a directory this command claimed before, keeping what it holds (a resumed
    /// training run). The directory must exist and carry this command's marker.
    pub fn resume(root: &Path, command: &str, inputs: &[PathBuf]) -> Result<Self, OutputError> {
        check_apart(&[root], inputs)?;
        let path = root.join(MARKER);
        if !path.exists() {
            return Err(OutputError::CannotResume {
                dir: root.to_path_buf(),
                reason: format!("nothing to resume: no earlier `longitude {command}` run wrote here"),
            });
        }
        let mut m = Marker::read(&path)?;
        if m.command != command {
            return Err(OutputError::OtherCommand { dir: root.to_path_buf(), by: m.command, command: command.into() });
        }
        m.complete = false;
        m.write(root)?;
        Ok(Self {
            root: root.to_path_buf(),
            command: command.into(),
            foreign: m.foreign.into_iter().collect(),
            created: false,
            finished: false,
        })
    }

    fn claim_unchecked(root: &Path, command: &str, existing: Existing, private: bool) -> Result<Self, OutputError> {
        let mut foreign = BTreeSet::new();
        let created = !root.exists();
        if root.exists() {
            let marker = root.join(MARKER);
            if marker.exists() {
                let m = Marker::read(&marker)?;
                if m.command != command {
                    return Err(OutputError::OtherCommand { dir: root.into(), by: m.command, command: command.into() });
                }
                foreign = clean(root, &m, command, existing)?;
            } else {
                let present = files_under(root)?;
                let entries = std::fs::read_dir(root).map_err(io(root))?.count();
                if entries > 0 && existing == Existing::Refuse {
                    let names: Vec<String> = std::fs::read_dir(root)
                        .map_err(io(root))?
                        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
                        .collect();
                    return Err(OutputError::NotOurs { dir: root.into(), count: entries, examples: examples(&names) });
                }
                foreign = present.into_iter().collect();
            }
        } else {
            std::fs::create_dir_all(root).map_err(io(root))?;
        }
        if private {
            restrict(root)?;
        }
        let m = Marker {
            format: FORMAT.into(),
            version: VERSION,
            command: command.into(),
            complete: false,
            files: Vec::new(),
            foreign: foreign.iter().cloned().collect(),
        };
        m.write(root)?;
        Ok(Self { root: root.to_path_buf(), command: command.into(), foreign, created, finished: false })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// A path inside the directory.
    pub fn join(&self, relative: impl AsRef<Path>) -> PathBuf {
        self.root.join(relative)
    }

    /// Marks the run finished and lists the files it left (everything in the directory but what
    /// was there before and the marker); returns how many.
    pub fn finish(mut self) -> Result<usize, OutputError> {
        self.finished = true;
        let files: Vec<String> =
            files_under(&self.root)?.into_iter().filter(|f| !self.foreign.contains(f) && f != MARKER).collect();
        let n = files.len();
        let m = Marker {
            format: FORMAT.into(),
            version: VERSION,
            command: std::mem::take(&mut self.command),
            complete: true,
            files,
            foreign: std::mem::take(&mut self.foreign).into_iter().collect(),
        };
        m.write(&self.root)?;
        Ok(n)
    }
}

impl Drop for OutputDir {
    /// A run that ends without `finish` (an error) leaves what it wrote, marked unfinished, for
    /// the next run to replace; but a directory it made and wrote nothing into goes again.
    fn drop(&mut self) {
        if self.finished || !self.created {
            return;
        }
        if files_under(&self.root).is_ok_and(|f| f.iter().all(|f| f == MARKER)) {
            let _ = std::fs::remove_file(self.root.join(MARKER));
            let _ = remove_empty_dirs(&self.root);
            let _ = std::fs::remove_dir(&self.root);
        }
    }
}

/// Removes what an earlier run of ours wrote; returns the files kept as foreign.
fn clean(root: &Path, m: &Marker, command: &str, existing: Existing) -> Result<BTreeSet<String>, OutputError> {
    let present = files_under(root)?;
    let ours: BTreeSet<&str> = m.files.iter().map(String::as_str).collect();
    let known_foreign: BTreeSet<&str> = m.foreign.iter().map(String::as_str).collect();
    let nested_marker = |f: &str| f.ends_with(MARKER) || f.ends_with(&format!("{MARKER}.partial"));
    // An unfinished run claimed a new or empty directory, so what it left (but what was foreign
    // when it started) is its own.
    let is_ours =
        |f: &str| f == MARKER || (!known_foreign.contains(f) && (!m.complete || ours.contains(f) || nested_marker(f)));
    let new_foreign: Vec<&String> =
        present.iter().filter(|f| !is_ours(f) && !known_foreign.contains(f.as_str())).collect();
    if !new_foreign.is_empty() && existing == Existing::Refuse {
        let names: Vec<String> = new_foreign.iter().map(|s| (*s).clone()).collect();
        return Err(OutputError::Foreign {
            dir: root.into(),
            command: command.into(),
            count: names.len(),
            examples: examples(&names),
        });
    }
    let mut kept = BTreeSet::new();
    for f in &present {
        if f == MARKER {
            continue;
        }
        if is_ours(f) {
            let path = root.join(f);
            std::fs::remove_file(&path).map_err(io(&path))?;
        } else {
            kept.insert(f.clone());
        }
    }
    remove_empty_dirs(root)?;
    Ok(kept)
}

fn examples(names: &[String]) -> String {
    let mut shown: Vec<&str> = names.iter().take(EXAMPLES).map(String::as_str).collect();
    shown.sort_unstable();
    let more = names.len().saturating_sub(EXAMPLES);
    let list = shown.join(", ");
    if more > 0 { format!("{list} and {more} more") } else { list }
}

/// Every file under `root`, as `/`-separated relative paths, sorted.
fn files_under(root: &Path) -> Result<Vec<String>, OutputError> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let entry = entry.map_err(io(&dir))?;
            let kind = entry.file_type().map_err(io(&entry.path()))?;
            if kind.is_dir() {
                stack.push(entry.path());
            } else {
                let rel = entry.path().strip_prefix(root).map(Path::to_path_buf).unwrap_or_else(|_| entry.path());
                let parts: Vec<String> =
                    rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
                out.push(parts.join("/"));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Removes the directories under `root` (not `root`) that are empty, deepest first.
fn remove_empty_dirs(root: &Path) -> Result<(), OutputError> {
    fn walk(dir: &Path) -> Result<bool, OutputError> {
        let mut empty = true;
        for entry in std::fs::read_dir(dir).map_err(io(dir))? {
            let entry = entry.map_err(io(dir))?;
            if entry.file_type().map_err(io(&entry.path()))?.is_dir() {
                let path = entry.path();
                if walk(&path)? {
                    std::fs::remove_dir(&path).map_err(io(&path))?;
                } else {
                    empty = false;
                }
            } else {
                empty = false;
            }
        }
        Ok(empty)
    }
    walk(root).map(|_| ())
}

/// The absolute form of `path` with symbolic links and `..` resolved as far as the path exists.
fn resolved(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(c) = existing.canonicalize() {
            let mut out = c;
            for part in rest.iter().rev() {
                out.push(part);
            }
            return normalise(&out);
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent;
            }
            _ => return normalise(&absolute),
        }
    }
}

fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Refuses any output inside an input (or equal to it) and any input inside an output.
pub fn check_apart(outputs: &[&Path], inputs: &[PathBuf]) -> Result<(), OutputError> {
    for output in outputs {
        let o = resolved(output);
        for input in inputs {
            let i = resolved(input);
            if o.starts_with(&i) {
                return Err(OutputError::InsideInput { output: output.to_path_buf(), input: input.clone() });
            }
            if i.starts_with(&o) {
                return Err(OutputError::HoldsInput { output: output.to_path_buf(), input: input.clone() });
            }
        }
    }
    Ok(())
}

/// Makes a directory readable, writable and searchable by its owner only.
fn restrict(dir: &Path) -> Result<(), OutputError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io(dir))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Creates (or truncates) a file readable and writable by its owner only, for identified data.
pub fn create_private(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path)?;
    // A file that existed keeps its old mode through `open`: set it.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

#[derive(Debug, Serialize, Deserialize)]
struct WorkMarker {
    format: String,
    version: u32,
    /// The command whose run made it.
    command: String,
}

/// A scratch directory for identified data, owner-only, removed when dropped.
#[derive(Debug)]
pub struct WorkDir {
    path: PathBuf,
}

impl WorkDir {
    /// Creates `path` for `command`, owner-only, with `warning` in a `CONTAINS-PHI.txt` beside
    /// the marker. A work directory left by a killed run (it carries the marker) is removed
    /// first; an existing directory without the marker is refused. The path must be apart from
    /// `inputs` ([`check_apart`]).
    pub fn create(path: &Path, command: &str, warning: &str, inputs: &[PathBuf]) -> Result<Self, OutputError> {
        check_apart(&[path], inputs)?;
        if path.exists() {
            let marker = path.join(WORK_MARKER);
            let ours = std::fs::read_to_string(&marker)
                .ok()
                .and_then(|t| serde_json::from_str::<WorkMarker>(&t).ok())
                .is_some_and(|m| m.format == WORK_FORMAT);
            if !ours {
                return Err(OutputError::NotOurWork { dir: path.to_path_buf() });
            }
            tracing::warn!(dir = %path.display(), "removing a work directory an interrupted run left");
            std::fs::remove_dir_all(path).map_err(io(path))?;
        }
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(path).map_err(io(path))?;
        restrict(path)?;
        let marker = WorkMarker { format: WORK_FORMAT.into(), version: VERSION, command: command.into() };
        let text = serde_json::to_string(&marker)
            .map_err(|e| OutputError::Marker { path: path.join(WORK_MARKER), reason: e.to_string() })?;
        let dir = Self { path: path.to_path_buf() };
        for (name, text) in [(WORK_MARKER, text.as_str()), ("CONTAINS-PHI.txt", warning)] {
            atomic::write(&path.join(name), atomic::Access::Private, text.as_bytes())
                .map_err(|e| OutputError::Io { path: e.path, source: e.source })?;
        }
        Ok(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the directory now, reporting a failure (dropping it removes it silently).
    pub fn remove(self) -> Result<(), OutputError> {
        let path = self.path.clone();
        std::mem::forget(self);
        std::fs::remove_dir_all(&path).map_err(io(&path))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            tracing::error!(dir = %self.path.display(), error = %e, "could not remove a work directory holding identified data: remove it by hand");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type R = Result<(), Box<dyn std::error::Error>>;

    fn write(path: &Path, text: &str) -> std::io::Result<()> {
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p)?;
        }
        std::fs::write(path, text)
    }

    #[test]
    fn a_rerun_removes_only_what_the_last_run_wrote() -> R {
        let dir = tempfile::tempdir()?;
        let out = dir.path().join("out");
        let claim = OutputDir::claim(&out, "ingest", &[], Existing::Refuse)?;
        write(&claim.join("meds/data/train/0.parquet"), "x")?;
        write(&claim.join("report.json"), "{}")?;
        assert_eq!(claim.finish()?, 2);
        // Someone leaves notes in the output, at the top and deep inside.
        write(&out.join("meds/data/README.md"), "notes")?;
        let err = OutputDir::claim(&out, "ingest", &[], Existing::Refuse).expect_err("foreign files refused");
        assert!(err.to_string().contains("meds/data/README.md"), "{err}");
        assert!(out.join("meds/data/train/0.parquet").exists(), "a refused claim deletes nothing");
        let claim = OutputDir::claim(&out, "ingest", &[], Existing::KeepBeside)?;
        assert!(out.join("meds/data/README.md").exists(), "kept");
        assert!(!out.join("meds/data/train").exists() && !out.join("report.json").exists(), "ours removed");
        write(&claim.join("meds/data/train/0.parquet"), "y")?;
        claim.finish()?;
        // The kept file stays foreign on later runs: never deleted, no longer refused.
        let claim = OutputDir::claim(&out, "ingest", &[], Existing::Refuse)?;
        assert!(out.join("meds/data/README.md").exists());
        claim.finish()?;
        Ok(())
    }

    #[test]
    fn a_folder_that_is_not_ours_is_refused_or_written_beside() -> R {
        let dir = tempfile::tempdir()?;
        write(&dir.path().join("thesis.docx"), "years of work")?;
        let err = OutputDir::claim(dir.path(), "label", &[], Existing::Refuse).expect_err("refused");
        assert!(matches!(err, OutputError::NotOurs { count: 1, .. }), "{err}");
        let claim = OutputDir::claim(dir.path(), "label", &[], Existing::KeepBeside)?;
        write(&claim.join("task.parquet"), "x")?;
        claim.finish()?;
        let claim = OutputDir::claim(dir.path(), "label", &[], Existing::Refuse)?;
        assert!(dir.path().join("thesis.docx").exists());
        assert!(!dir.path().join("task.parquet").exists());
        drop(claim);
        let err = OutputDir::claim(dir.path(), "adapt", &[], Existing::KeepBeside).expect_err("another command's");
        assert!(matches!(err, OutputError::OtherCommand { .. }), "{err}");
        Ok(())
    }

    #[test]
    fn an_unfinished_run_is_cleaned_whole_but_for_what_was_there_before() -> R {
        let dir = tempfile::tempdir()?;
        let out = dir.path().join("out");
        write(&out.join("keep.txt"), "mine")?;
        let claim = OutputDir::claim(&out, "tokenize", &[], Existing::KeepBeside)?;
        write(&claim.join("tokens/train.parquet"), "half")?;
        drop(claim); // killed: no finish
        let claim = OutputDir::claim(&out, "tokenize", &[], Existing::Refuse)?;
        assert!(out.join("keep.txt").exists());
        assert!(!out.join("tokens").exists());
        claim.finish()?;
        Ok(())
    }

    #[test]
    fn a_failed_run_that_wrote_nothing_leaves_no_folder() -> R {
        let dir = tempfile::tempdir()?;
        let out = dir.path().join("out");
        drop(OutputDir::claim(&out, "ingest", &[], Existing::Refuse)?);
        assert!(!out.exists(), "made, unused, removed");
        std::fs::create_dir_all(&out)?;
        drop(OutputDir::claim(&out, "ingest", &[], Existing::Refuse)?);
        assert!(out.exists(), "a folder the user made stays");
        let claim = OutputDir::claim(&dir.path().join("used"), "ingest", &[], Existing::Refuse)?;
        write(&claim.join("half.parquet"), "x")?;
        drop(claim);
        assert!(dir.path().join("used/half.parquet").exists(), "what a failed run wrote stays for the next to replace");
        Ok(())
    }

    #[test]
    fn outputs_and_inputs_stay_apart() -> R {
        let dir = tempfile::tempdir()?;
        let input = dir.path().join("export");
        std::fs::create_dir_all(&input)?;
        let err = OutputDir::claim(&input, "ingest", std::slice::from_ref(&input), Existing::KeepBeside)
            .expect_err("the input itself");
        assert!(matches!(err, OutputError::InsideInput { .. }), "{err}");
        let inside = input.join("sub/../out");
        assert!(matches!(check_apart(&[&inside], std::slice::from_ref(&input)), Err(OutputError::InsideInput { .. })));
        let file = input.join("Patient.ndjson");
        write(&file, "{}")?;
        assert!(matches!(check_apart(&[dir.path()], &[file]), Err(OutputError::HoldsInput { .. })));
        check_apart(&[&dir.path().join("export-out")], &[input])?;
        Ok(())
    }

    #[test]
    fn resume_needs_an_earlier_run_of_the_same_command() -> R {
        let dir = tempfile::tempdir()?;
        let out = dir.path().join("run");
        assert!(matches!(OutputDir::resume(&out, "pretrain", &[]), Err(OutputError::CannotResume { .. })));
        let claim = OutputDir::claim(&out, "pretrain", &[], Existing::Refuse)?;
        write(&claim.join("checkpoints/step-1/model"), "w")?;
        claim.finish()?;
        let again = OutputDir::resume(&out, "pretrain", &[])?;
        assert!(out.join("checkpoints/step-1/model").exists(), "resume keeps the checkpoints");
        again.finish()?;
        Ok(())
    }

    #[test]
    fn work_directories_are_private_marked_and_removed() -> R {
        let dir = tempfile::tempdir()?;
        let work = dir.path().join("w");
        std::fs::create_dir_all(&work)?;
        assert!(matches!(WorkDir::create(&work, "ingest", "PHI", &[]), Err(OutputError::NotOurWork { .. })));
        std::fs::remove_dir(&work)?;
        let w = WorkDir::create(&work, "ingest", "PHI", &[])?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&work)?.permissions().mode() & 0o777, 0o700);
            let f = create_private(&work.join("spill.bin"))?;
            assert_eq!(f.metadata()?.permissions().mode() & 0o777, 0o600);
        }
        std::mem::forget(w); // as if killed
        assert!(work.exists());
        let w = WorkDir::create(&work, "ingest", "PHI", &[])?;
        assert!(!work.join("spill.bin").exists(), "the killed run's spill is gone");
        drop(w);
        assert!(!work.exists(), "dropped on an error path: removed");
        Ok(())
    }
}
