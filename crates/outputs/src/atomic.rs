//! One way to write a file: whole or not at all.
//!
//! Architecture invariant: **a reader finds the old file or the new one, never a torn one**, even
//! when the writer is killed or the machine loses power mid-way. Every file Longitude writes goes
//! through [`write_with`] (or its shorthands [`write`] and [`write_json`]): the content goes to a
//! temporary file beside the target, named so that no reader globs it (`.<name>.partial`), which
//! is flushed and synced to disk, renamed over the target, and the directory synced so that the
//! rename itself survives a crash. A write that fails removes its temporary file.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

/// A file could not be written: which, and why.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {source}")]
pub struct WriteError {
    /// The file that was being written.
    pub path: PathBuf,
    /// The underlying error.
    #[source]
    pub source: std::io::Error,
}

impl WriteError {
    fn new(path: &Path, source: std::io::Error) -> Self {
        Self { path: path.to_path_buf(), source }
    }
}

/// Who may read the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Access {
    /// As the process's umask allows (reports, models, datasets).
    #[default]
    Shared,
    /// The owner only (0600): keys and identified data.
    Private,
}

/// The temporary path used while `path` is being written: `.<name>.partial` beside it.
pub fn partial_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.partial"))
}

/// A file written over time (rows streamed as they come), put in place whole by
/// [`Pending::commit`]. Until then it is a temporary file beside the target; dropped without a
/// commit (an error, a panic), the temporary file is removed.
#[derive(Debug)]
pub struct Pending {
    target: PathBuf,
    tmp: PathBuf,
    committed: bool,
}

impl Pending {
    /// Starts writing `path` (its directory created if missing): the file to write into, and the
    /// handle that puts it in place.
    pub fn create(path: &Path, access: Access) -> Result<(Self, File), WriteError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| WriteError::new(parent, e))?;
        }
        let tmp = partial_path(path);
        let file = match access {
            Access::Shared => File::create(&tmp),
            Access::Private => crate::create_private(&tmp),
        }
        .map_err(|e| WriteError::new(&tmp, e))?;
        Ok((Self { target: path.to_path_buf(), tmp, committed: false }, file))
    }

    /// The file this will become.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Syncs `file` (all buffers above it already flushed into it), renames it over the target
    /// and syncs the directory.
    pub fn commit(mut self, file: File) -> Result<(), WriteError> {
        file.sync_all().map_err(|e| WriteError::new(&self.tmp, e))?;
        drop(file);
        std::fs::rename(&self.tmp, &self.target).map_err(|e| WriteError::new(&self.target, e))?;
        self.committed = true;
        let dir = self.target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        sync_dir(dir).map_err(|e| WriteError::new(&self.target, e))
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Writes `path` whole or not at all: `fill` writes the content into a buffered temporary file,
/// which is synced and renamed over `path` only if `fill` succeeds; the directory (created if
/// missing) is synced after the rename. `fill`'s own error type carries our failures too.
pub fn write_with<T, E: From<WriteError>>(
    path: &Path,
    access: Access,
    fill: impl FnOnce(&mut BufWriter<File>) -> Result<T, E>,
) -> Result<T, E> {
    let (pending, file) = Pending::create(path, access)?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let value = fill(&mut out)?;
    let file = out.into_inner().map_err(|e| WriteError::new(&pending.tmp, e.into_error()))?;
    pending.commit(file)?;
    Ok(value)
}

/// Writes `bytes` to `path` whole or not at all ([`write_with`]).
pub fn write(path: &Path, access: Access, bytes: &[u8]) -> Result<(), WriteError> {
    write_with(path, access, |w| w.write_all(bytes).map_err(|e| WriteError::new(path, e)))
}

/// Writes `value` as indented JSON, ending with a line break, whole or not at all.
pub fn write_json<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<(), WriteError> {
    write_with(path, Access::Shared, |w| {
        serde_json::to_writer_pretty(&mut *w, value).map_err(|e| WriteError::new(path, e.into()))?;
        w.write_all(b"\n").map_err(|e| WriteError::new(path, e))
    })
}

/// Syncs a directory, so that a rename into it survives a crash (a no-op where directories cannot
/// be opened as files).
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_is_in_place_only_once_committed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("rows.ndjson");
        let (pending, mut file) = Pending::create(&target, Access::Shared).expect("create");
        file.write_all(b"{}\n").expect("write");
        assert!(!target.exists() && partial_path(&target).exists());
        drop((pending, file));
        assert!(!partial_path(&target).exists(), "an abandoned stream leaves nothing");
        let (pending, mut file) = Pending::create(&target, Access::Shared).expect("create");
        file.write_all(b"{}\n").expect("write");
        pending.commit(file).expect("commit");
        assert_eq!(std::fs::read(&target).expect("read"), b"{}\n");
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("sub/report.json");
        write_json(&target, &serde_json::json!({"version": 1})).expect("first");
        let failed: Result<(), WriteError> = write_with(&target, Access::Shared, |w| {
            w.write_all(b"{\"half").map_err(|e| WriteError::new(&target, e))?;
            Err(WriteError::new(&target, std::io::Error::other("interrupted")))
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read_to_string(&target).expect("read"), "{\n  \"version\": 1\n}\n");
        assert!(!partial_path(&target).exists());
    }

    #[cfg(unix)]
    #[test]
    fn private_files_are_the_owners_alone() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("key");
        write(&target, Access::Private, b"secret").expect("write");
        assert_eq!(std::fs::metadata(&target).expect("meta").permissions().mode() & 0o777, 0o600);
    }
}
