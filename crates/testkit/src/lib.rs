//! Test support shared by the integration tests of the workspace's crates.
//!
//! The interop tests are judged by the MEDS ecosystem's own Python packages, installed into a venv
//! that `scripts/interop-venv` builds once per machine, outside the clone.

#![forbid(unsafe_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The interop interpreter: `LONGITUDE_INTEROP_PYTHON`, or the venv `scripts/interop-venv` makes
/// (building it on first use). Panics with the reason if it cannot be had: an interop test that
/// cannot run must fail, not pass.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("LONGITUDE_INTEROP_PYTHON") {
        return p.into();
    }
    let out =
        Command::new("bash").arg(repo_root().join("scripts/interop-venv")).output().expect("run scripts/interop-venv");
    assert!(
        out.status.success(),
        "could not build the interop venv (needs python3 and PyPI): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).expect("utf-8").trim())
}

/// Runs `tests/interop/<script>` with `args` in the interop venv; returns its stdout, panicking
/// with its stderr if it fails.
pub fn run_python<I, S>(script: &str, args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let out = Command::new(python())
        .arg(repo_root().join("tests/interop").join(script))
        .args(args)
        .output()
        .expect("run python");
    assert!(out.status.success(), "{script} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8")
}
