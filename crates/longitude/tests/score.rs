//! `longitude score` and `merge-scores` as processes: four workers sharing one population give
//! the very bytes one worker gives, every shard audited once per version; a re-run scores
//! nothing; a merge refuses a missing, altered or foreign shard; the predictions are the
//! deployed model's own and conform to `meds-evaluation`'s schema.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use audit::AuditLog;
use registry::Registry;

fn longitude(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_longitude"));
    c.args(args).env("LONGITUDE_LOG", "warn");
    c
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

fn failed(out: Output) -> String {
    assert!(!out.status.success(), "should fail:\n{}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8(out.stderr).expect("utf-8")
}

struct Setup {
    f: fixtures::Fixture,
    _db_dir: tempfile::TempDir,
    db: String,
    id: String,
    log: AuditLog,
    runtime: tokio::runtime::Runtime,
}

impl Setup {
    fn new() -> Setup {
        let f = fixtures::fixture_with(60);
        let db_dir = tempfile::tempdir().expect("dir");
        let db = db_dir.path().join("registry.db").to_str().expect("utf-8").to_string();
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
        let (id, log) = runtime.block_on(async {
            let database = store::Database::open(&db).await.expect("open");
            let log = AuditLog::new(database, "longitude.local/audit");
            let id = fixtures::deploy(&Registry::new(log.clone()), &f.release, &f.owner, "main").await;
            (id, log)
        });
        Setup { f, _db_dir: db_dir, db, id, log, runtime }
    }

    /// The fixture's ingested patients, in small shards: enough for four workers.
    fn meds(&self) -> PathBuf {
        let resharded = self.f.dir.path().join("resharded");
        if !resharded.exists() {
            let (codes, timelines) =
                meds::Dataset::open(self.f.dir.path().join("ingested/meds")).expect("open").read_all().expect("read");
            let options = meds::WriterOptions { shard_events: 400, ..Default::default() };
            let mut writer = meds::DatasetWriter::create(&resharded, options).expect("create");
            for (i, t) in timelines.iter().enumerate() {
                writer.write_subject(["train", "held_out"][i % 2], t, &codes).expect("write");
            }
            writer.finish(&codes).expect("finish");
        }
        resharded
    }

    fn score(&self, out: &Path, extra: &[&str]) -> Command {
        let trusted = self.f.owner.verifier().to_string();
        let meds = self.meds();
        let mut args = vec![
            "score",
            "--db",
            &self.db,
            "--data",
            meds.to_str().expect("utf-8"),
            "--out",
            out.to_str().expect("utf-8"),
            "--site",
            "main",
            "--trusted",
            &trusted,
        ];
        args.extend_from_slice(extra);
        longitude(&args)
    }

    fn merge(&self, out: &Path) -> Output {
        let meds = self.meds();
        longitude(&[
            "merge-scores",
            "--db",
            &self.db,
            "--data",
            meds.to_str().expect("utf-8"),
            "--out",
            out.to_str().expect("utf-8"),
        ])
        .output()
        .expect("run")
    }

    fn audit_size(&self) -> u64 {
        self.runtime.block_on(self.log.size()).expect("size")
    }
}

fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.push(p.strip_prefix(root).expect("under").to_path_buf());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn four_workers_score_what_one_does_each_shard_once() {
    let s = Setup::new();
    let shards = meds::Dataset::open(s.meds()).expect("open").shards().len();
    assert!(shards >= 4, "the fixture gives {shards} shards; four workers need at least four");
    let work = tempfile::tempdir().expect("dir");
    let four = work.path().join("four");
    let one = work.path().join("one");
    let before = s.audit_size();

    // Four workers at once, as an Indexed Job would start them.
    let workers: Vec<_> = (0..4)
        .map(|i| {
            let share = format!("{i}/4");
            s.score(&four, &["--shard", &share]).spawn().expect("spawn")
        })
        .collect();
    for w in workers {
        let out = w.wait_with_output().expect("wait");
        assert!(out.status.success(), "a worker failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(s.audit_size() - before, shards as u64, "one audit record per shard (one version)");
    let merged_four = ok(s.merge(&four));
    assert!(
        merged_four.contains(&format!("merged {shards} shard(s) scored by 4 worker(s), each exactly once")),
        "{merged_four}"
    );

    // One worker, through the scheduler's environment.
    ok(s.score(&one, &["--shard-count", "1"]).env("JOB_COMPLETION_INDEX", "0").output().expect("run"));
    ok(s.merge(&one));
    let written = files_under(&four);
    assert_eq!(written, files_under(&one));
    assert!(written.iter().any(|p| p.starts_with("merged")));
    for file in &written {
        assert_eq!(
            std::fs::read(four.join(file)).expect("read"),
            std::fs::read(one.join(file)).expect("read"),
            "{}",
            file.display()
        );
    }

    // Resumable and idempotent: a second run scores nothing and writes no audit record.
    let size = s.audit_size();
    let again = ok(s.score(&four, &["--shard", "2/4"]).output().expect("run"));
    assert!(again.contains("scored 0 shard(s) (worker 2/4)"), "{again}");
    assert_eq!(s.audit_size(), size);

    // The predictions are the deployed model's own, for every patient with a clinical history.
    let merged = one.join("merged").join(&s.id).join("long_history.parquet");
    let scores = meds::labels::read_scores(&merged).expect("scores");
    let (codes, timelines) = meds::Dataset::open(s.meds()).expect("open").read_all().expect("read");
    let refs: Vec<&meds::Timeline> = timelines.iter().collect();
    let labels: Vec<meds::labels::BooleanLabel> = scores
        .iter()
        .map(|sc| meds::labels::BooleanLabel {
            subject_id: sc.subject_id,
            prediction_time: sc.prediction_time,
            value: false,
        })
        .collect();
    let (expected, _) = s.f.model.score(&refs, &codes, &labels, None).expect("score");
    let mut expected: Vec<(i64, f32)> = expected.iter().map(|p| (p.label.subject_id, p.probability)).collect();
    expected.sort_by_key(|e| e.0);
    let got: Vec<(i64, f32)> = scores.iter().map(|sc| (sc.subject_id, sc.probability)).collect();
    assert_eq!(got, expected);
    for sc in &scores {
        assert_eq!(sc.predicted_value, Some(f64::from(sc.probability) >= fixtures::THRESHOLD));
        let t = timelines.iter().find(|t| t.subject_id == sc.subject_id).expect("a patient of the dataset");
        assert_eq!(Some(sc.prediction_time), inference::scoring_time(t, &codes, None));
    }
    let unscored = timelines.iter().filter(|t| inference::scoring_time(t, &codes, None).is_none()).count();
    assert_eq!(scores.len() + unscored, timelines.len(), "every patient scored or counted unscored");

    // meds-evaluation reads them as predictions whose outcomes are not yet known.
    let checked = testkit::run_python("check_scores.py", [&merged]);
    let report: serde_json::Value = serde_json::from_str(&checked).expect("json");
    let file = &report[merged.to_str().expect("utf-8")];
    assert_eq!(file["rows"], scores.len());
    assert_eq!(file["unknown_outcomes"], scores.len());
}

#[test]
fn a_merge_refuses_shards_missing_altered_or_dealt_elsewhere() {
    let s = Setup::new();
    let work = tempfile::tempdir().expect("dir");
    let out = work.path().join("run");
    // Only worker 1 of 4 ran: the other workers' shards are named.
    ok(s.score(&out, &["--shard", "1/4"]).output().expect("run"));
    let refused = failed(s.merge(&out));
    assert!(refused.contains("data/") && refused.contains("was not scored (it is worker 0/4's)"), "{refused}");

    // A worker started with another count is refused before it writes anything.
    let refused = failed(s.score(&out, &["--shard", "0/2"]).output().expect("run"));
    assert!(refused.contains("the worker count (4 there, 2 here)"), "{refused}");

    for i in [0, 2, 3] {
        ok(s.score(&out, &["--shard", &format!("{i}/4")]).output().expect("run"));
    }
    ok(s.merge(&out));

    // A prediction file edited after it was written: the merge names it.
    let victim = files_under(&out).into_iter().find(|p| p.starts_with("shards")).expect("a shard's file");
    let mut scores = meds::labels::read_scores(&out.join(&victim)).expect("read");
    scores[0].probability = 0.999;
    meds::labels::write_scores(&out.join(&victim), &scores).expect("write");
    let refused = failed(s.merge(&out));
    assert!(refused.contains("changed since it was written"), "{refused}");
    // Scoring again rewrites that shard (its receipt no longer holds) and the merge passes.
    let size = s.audit_size();
    for i in 0..4 {
        ok(s.score(&out, &["--shard", &format!("{i}/4")]).output().expect("run"));
    }
    assert_eq!(s.audit_size(), size + 1, "only the altered shard was scored again");
    ok(s.merge(&out));

    // A version suspended after the run: a new run at the site has nothing to score.
    s.runtime.block_on(async {
        let registry = Registry::new(s.log.clone());
        registry.suspend(&s.id, &fixtures::person("carol", "clinical-safety-officer"), "drift").await.expect("suspend");
    });
    let refused = failed(s.score(&work.path().join("after"), &[]).output().expect("run"));
    assert!(refused.contains("no version is deployed at site main"), "{refused}");
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array().expect("a list").iter().map(|a| a.as_str().expect("a string").to_string()).collect()
}

#[test]
fn the_kubernetes_and_slurm_examples_score_and_merge_as_written() {
    let s = Setup::new();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    // The pods' /data volume, here: the extract, the owner's key, the output.
    let volume = tempfile::tempdir().expect("dir");
    let data = volume.path();
    std::os::unix::fs::symlink(s.meds(), data.join("meds")).expect("link");
    std::fs::create_dir_all(data.join("keys")).expect("mkdir");
    std::fs::write(data.join("keys/owner.pub"), s.f.owner.verifier().to_string()).expect("key");
    let mounted = |args: Vec<String>| -> Vec<String> {
        args.into_iter().map(|a| a.replace("=/data/", &format!("={}/", data.display()))).collect()
    };

    let text = std::fs::read_to_string(repo.join("deploy/score-indexed-job.yaml")).expect("manifest");
    let docs: Vec<serde_json::Value> =
        text.split("\n---\n").map(|d| yaml_serde::from_str(d).expect("a YAML document")).collect();
    let (job, merge) = (&docs[0], &docs[1]);
    assert_eq!(job["spec"]["completionMode"], "Indexed");
    let workers = job["spec"]["completions"].as_u64().expect("completions");
    let container = &job["spec"]["template"]["spec"]["containers"][0];
    let origin = container["env"][1]["value"].as_str().expect("the origin").to_string();
    let args = mounted(strings(&container["args"]));
    for index in 0..workers {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(longitude(&args)
            .env("LONGITUDE_DB", &s.db)
            .env("LONGITUDE_AUDIT_ORIGIN", &origin)
            .env("JOB_COMPLETION_INDEX", index.to_string())
            .output()
            .expect("run"));
    }
    let args = mounted(strings(&merge["spec"]["template"]["spec"]["containers"][0]["args"]));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let merged = ok(longitude(&args).env("LONGITUDE_DB", &s.db).output().expect("run"));
    assert!(merged.contains(&format!("scored by {workers} worker(s), each exactly once")), "{merged}");

    // The SLURM array script, each task as SLURM would start it (array 0-7), `longitude` on PATH.
    let out = data.join("slurm");
    let bin = Path::new(env!("CARGO_BIN_EXE_longitude")).parent().expect("bin dir").to_path_buf();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    for task in 0..8 {
        ok(Command::new("bash")
            .arg(repo.join("deploy/score-slurm.sh"))
            .env("PATH", &path)
            .env("LONGITUDE_DB", &s.db)
            .env("LONGITUDE_LOG", "warn")
            .env("MEDS", data.join("meds"))
            .env("OUT", &out)
            .env("OWNER_KEY", data.join("keys/owner.pub"))
            .env("SLURM_ARRAY_TASK_ID", task.to_string())
            .env("SLURM_ARRAY_TASK_MIN", "0")
            .env("SLURM_ARRAY_TASK_COUNT", "8")
            .output()
            .expect("run"));
    }
    let merged = ok(s.merge(&out));
    assert!(merged.contains("scored by 8 worker(s), each exactly once"), "{merged}");
    let kubernetes = data.join("scores/nightly/merged");
    for file in files_under(&kubernetes) {
        assert_eq!(
            std::fs::read(kubernetes.join(&file)).expect("read"),
            std::fs::read(out.join("merged").join(&file)).expect("read")
        );
    }
}
