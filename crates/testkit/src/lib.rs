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

/// A program of the API-testing venv (`scripts/api-venv`: schemathesis, openapi-python-client),
/// built on first use. Panics with the reason if it cannot be had.
pub fn api_tool(name: &str) -> PathBuf {
    let out = Command::new("bash").arg(repo_root().join("scripts/api-venv")).output().expect("run scripts/api-venv");
    assert!(
        out.status.success(),
        "could not build the API-testing venv (needs python3 and PyPI): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let python = PathBuf::from(String::from_utf8(out.stdout).expect("utf-8").trim());
    python.with_file_name(name)
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

/// A throwaway PostgreSQL cluster for one test: made with Debian's `initdb` in a temporary folder,
/// listening on a loopback port, stopped and deleted when dropped. Run as root (as in CI), the
/// server runs as the `postgres` user, since PostgreSQL refuses to run as root.
///
/// The binaries are found in `LONGITUDE_PG_BIN`, else the newest `/usr/lib/postgresql/*/bin`,
/// else on `PATH`. Panics with the reason if no cluster can be started: a test meant to run on
/// PostgreSQL must fail, not pass, where there is none (`.ci/run` installs Debian's package).
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl Postgres {
    /// Starts a new cluster.
    pub fn start() -> Postgres {
        let bin = postgres_bin();
        let as_postgres = is_root();
        let dir = tempfile::Builder::new().prefix("longitude-pg-").tempdir().expect("temporary folder");
        if as_postgres {
            let out = Command::new("chown").args(["-R", "postgres:"]).arg(dir.path()).output().expect("chown");
            assert!(out.status.success(), "chown to postgres: {}", String::from_utf8_lossy(&out.stderr));
        }
        let data = dir.path().join("data");
        let mut pg = Postgres { dir, bin, port: 0, as_postgres };
        pg.run(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-A".as_ref(),
                "trust".as_ref(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--no-sync".as_ref(),
            ],
        );
        // A free port can be taken between asking and binding: try a few.
        for _ in 0..5 {
            let port =
                std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
            let options = format!("-h 127.0.0.1 -p {port} -k {} -F -c max_connections=60", pg.dir.path().display());
            let log = pg.dir.path().join("server.log");
            let started = pg.try_run(
                "pg_ctl",
                &[
                    "-D".as_ref(),
                    data.as_os_str(),
                    "-o".as_ref(),
                    options.as_ref(),
                    "-l".as_ref(),
                    log.as_os_str(),
                    "-w".as_ref(),
                    "start".as_ref(),
                ],
            );
            if started {
                pg.port = port;
                return pg;
            }
        }
        panic!(
            "PostgreSQL did not start: {}",
            std::fs::read_to_string(pg.dir.path().join("server.log")).unwrap_or_default()
        );
    }

    /// The URL of the cluster's `postgres` database, as the `postgres` superuser.
    pub fn url(&self) -> String {
        self.url_of("postgres")
    }

    /// The URL of the database `name` on the cluster, as the `postgres` superuser.
    pub fn url_of(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn try_run(&self, program: &str, args: &[&OsStr]) -> bool {
        self.command(program).args(args).output().is_ok_and(|o| o.status.success())
    }

    fn run(&self, program: &str, args: &[&OsStr]) {
        let out = self.command(program).args(args).output().unwrap_or_else(|e| panic!("run {program}: {e}"));
        assert!(out.status.success(), "{program} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        self.try_run(
            "pg_ctl",
            &["-D".as_ref(), data.as_os_str(), "-m".as_ref(), "immediate".as_ref(), "-w".as_ref(), "stop".as_ref()],
        );
    }
}

fn postgres_bin() -> PathBuf {
    if let Some(dir) = std::env::var_os("LONGITUDE_PG_BIN") {
        return dir.into();
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| bin.join("initdb").is_file())
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    let on_path = Command::new("sh").args(["-c", "command -v initdb"]).output().ok().filter(|o| o.status.success());
    match on_path {
        Some(o) => PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()).parent().expect("a folder").to_path_buf(),
        None => panic!(
            "PostgreSQL's initdb was not found: install Debian's `postgresql` package (as .ci/run does) or set LONGITUDE_PG_BIN"
        ),
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}
