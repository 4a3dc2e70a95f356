//! Atomic file creation: write beside the target under a name no MEDS reader globs
//! (`.<name>.partial`), flush to disk, then rename. An interrupted run leaves at worst a
//! `.partial` file, never a truncated file under the final name.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{MedsError, Result};

/// The temporary path used while `path` is being written.
pub fn partial_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.partial"))
}

/// Creates `path` atomically: `fill` writes the content to a buffered temporary file, which is
/// synced and renamed over `path` only if `fill` succeeds.
pub fn write_atomic<T>(path: &Path, fill: impl FnOnce(&mut BufWriter<File>) -> Result<T>) -> Result<T> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| MedsError::io(parent, e))?;
    }
    let tmp = partial_path(path);
    let file = File::create(&tmp).map_err(|e| MedsError::io(&tmp, e))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let result = fill(&mut out).and_then(|value| {
        out.flush().map_err(|e| MedsError::io(&tmp, e))?;
        out.get_ref().sync_all().map_err(|e| MedsError::io(&tmp, e))?;
        Ok(value)
    });
    match result {
        Ok(value) => {
            std::fs::rename(&tmp, path).map_err(|e| MedsError::io(path, e))?;
            Ok(value)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_write_leaves_nothing_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("0.parquet");
        let r: Result<()> = write_atomic(&target, |w| {
            w.write_all(b"half").map_err(|e| MedsError::io("x", e))?;
            Err(MedsError::Writer { root: "x".into(), message: "interrupted".into() })
        });
        assert!(r.is_err());
        assert!(!target.exists());
        assert!(!partial_path(&target).exists());
        write_atomic(&target, |w| w.write_all(b"whole").map_err(|e| MedsError::io("x", e))).expect("write");
        assert_eq!(std::fs::read(&target).expect("read"), b"whole");
    }
}
