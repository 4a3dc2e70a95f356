//! Atomic file creation, as every Longitude file is written: `outputs::atomic` (a temporary
//! `.<name>.partial` beside the target, which no MEDS reader globs, synced, renamed, and the
//! directory synced). An interrupted run leaves at worst a `.partial` file, never a truncated
//! file under the final name.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use crate::error::Result;

/// Creates `path` atomically: `fill` writes the content to a buffered temporary file, which is
/// synced and renamed over `path` only if `fill` succeeds.
pub fn write_atomic<T>(path: &Path, fill: impl FnOnce(&mut BufWriter<File>) -> Result<T>) -> Result<T> {
    outputs::atomic::write_with(path, outputs::atomic::Access::Shared, fill)
}
