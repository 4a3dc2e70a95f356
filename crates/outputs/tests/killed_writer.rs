//! A writer killed mid-way (SIGKILL: no destructor, no clean-up) leaves the old file or the new
//! one, never a torn one. The writer is this test binary itself, started as a child running the
//! ignored `writer` below, which rewrites one file over and over until it is killed.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

const TARGET_ENV: &str = "LONGITUDE_KILLED_WRITER_TARGET";
/// Big enough that a kill often lands in the middle of a write.
const SIZE: usize = 4 << 20;

/// Version `v` of the file: `SIZE` bytes of one letter, then the version number.
fn version(v: u64) -> Vec<u8> {
    let mut bytes = vec![b'a' + (v % 26) as u8; SIZE];
    bytes.extend_from_slice(format!("\nversion {v}\n").as_bytes());
    bytes
}

/// Whether `bytes` is exactly some version.
fn whole(bytes: &[u8]) -> bool {
    let Some(tail) = std::str::from_utf8(&bytes[bytes.len().min(SIZE)..]).ok() else { return false };
    let Some(v) = tail.trim().strip_prefix("version ").and_then(|v| v.parse::<u64>().ok()) else { return false };
    bytes == version(v).as_slice()
}

#[test]
#[ignore = "the child process of a_killed_writer_leaves_the_old_file_or_the_new_one"]
fn writer() {
    let Some(target) = std::env::var_os(TARGET_ENV) else { return };
    let target = Path::new(&target);
    for v in 0.. {
        outputs::atomic::write(target, outputs::atomic::Access::Shared, &version(v)).expect("write");
    }
}

#[test]
fn a_killed_writer_leaves_the_old_file_or_the_new_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("report.json");
    let mut versions_seen = 0;
    for (round, wait_ms) in [40u64, 90, 150, 230, 310, 420].into_iter().enumerate() {
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args(["--exact", "writer", "--ignored", "--nocapture", "--test-threads=1"])
            .env(TARGET_ENV, &target)
            .spawn()
            .expect("start the writer");
        std::thread::sleep(Duration::from_millis(wait_ms));
        child.kill().expect("kill");
        child.wait().expect("reap");
        if target.exists() {
            let bytes = std::fs::read(&target).expect("read");
            assert!(whole(&bytes), "round {round}: a torn file of {} bytes", bytes.len());
            versions_seen += 1;
        }
    }
    assert!(versions_seen > 0, "the writer never finished a first version: the test proved nothing");
}
