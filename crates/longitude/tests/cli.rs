//! End-to-end tests of the `longitude` binary: real processes, real files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

/// A path as an argument of the command line (test paths are temporary directories: UTF-8).
trait AsArg {
    fn as_arg(&self) -> &str;
}

impl AsArg for Path {
    fn as_arg(&self) -> &str {
        self.to_str().expect("a UTF-8 test path")
    }
}

fn longitude(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_longitude")).args(args).output().expect("run longitude")
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Each prediction's probability in a predictions file, by (subject, prediction time).
fn probabilities(path: &Path) -> std::collections::HashMap<(i64, i64), f32> {
    meds::labels::read_boolean_predictions(path)
        .expect("a predictions file")
        .iter()
        .map(|p| ((p.label.subject_id, p.label.prediction_time), p.probability))
        .collect()
}

#[test]
fn help_names_the_subcommands() {
    let o = longitude(&["--help"]);
    assert!(o.status.success());
    for word in ["meds", "bench", "demo", "--quiet"] {
        assert!(stdout(&o).contains(word), "{word} missing from --help");
    }
    let o = longitude(&["meds", "--help"]);
    for word in ["validate", "describe", "index", "show"] {
        assert!(stdout(&o).contains(word), "{word} missing from meds --help");
    }
}

#[test]
fn demo_writes_a_dataset_that_describe_validate_and_show_agree_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A mistyped key file: refused before any folder is made.
    let elsewhere = dir.path().join("elsewhere");
    let o = longitude(&["--quiet", "demo", "--out", elsewhere.as_arg(), "--deid-key-file", "/no/such/key"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(!elsewhere.exists(), "nothing made for a run that could not start");
    let out = dir.path().as_arg();
    let o = longitude(&["--quiet", "demo", "--out", out, "--patients", "300", "--pretrain-steps", "12"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("fitted on") && stdout(&o).contains("vs unigram"), "{}", stdout(&o));
    assert!(dir.path().join("pretrained/model/model.safetensors").exists());
    owner_signs_and_a_partner_verifies_the_model_bundle(dir.path());
    governance_from_release_to_retirement(dir.path());
    assert!(dir.path().join("tokenized/tokens/train.parquet").exists());
    assert!(stdout(&o).contains("simulated 300 patients"), "{}", stdout(&o));
    assert!(dir.path().join("truth/conditions.parquet").exists());
    // Tasks, baselines, the oracle and the report joined the demo.
    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("report/report.json")).expect("report.json"))
            .expect("json");
    let tasks = report["tasks"].as_array().expect("tasks");
    assert!(tasks.len() >= 8, "{} tasks in the report", tasks.len());
    // No blank in the summary goes unexplained: a method that some task has and another lacks
    // carries the run's reason.
    let all: std::collections::BTreeSet<&str> = tasks
        .iter()
        .flat_map(|t| t["methods"].as_array().expect("methods").iter().map(|m| m["method"].as_str().expect("m")))
        .collect();
    let mut course_tasks = 0;
    for t in tasks {
        let has = |m: &str| t["methods"].as_array().expect("methods").iter().any(|x| x["method"] == m);
        for method in &all {
            if !has(method) {
                let why = t["not_run"][*method].as_str();
                assert!(
                    why.is_some_and(|w| !w.is_empty()),
                    "{} {}: {method} missing without a reason",
                    t["task"],
                    t["setting"]
                );
            }
        }
        // Tasks settled inside one stay or draw have the oracle of that course, and readmission
        // the oracle of what follows the discharge.
        if ["inhospital_mortality", "long_los_7d", "hyperkalemia_next_lab", "readmission_30d"]
            .iter()
            .any(|k| t["task"] == *k)
        {
            assert!(has("oracle"), "{}: an oracle row", t["task"]);
            course_tasks += 1;
        }
    }
    assert!(course_tasks > 0, "a hospital-course or lab task is in the demo's report");
    // The foundation model, and the oracle (the headroom), are paired against the count GBM on
    // the same held-out times: each difference is that of the two AUROCs the report shows.
    for candidate in ["fm_probe", "oracle"] {
        let mut paired = 0;
        for t in tasks {
            let auroc = |m: &str| {
                t["methods"].as_array().expect("methods").iter().find(|x| x["method"] == m)?["evaluation"]["metrics"]
                    ["auroc"]
                    .as_f64()
            };
            let (Some(a), Some(gbm)) = (auroc(candidate), auroc("counts_gbm")) else { continue };
            let c = t["comparisons"]
                .as_array()
                .and_then(|c| c.iter().find(|c| c["candidate"] == candidate && c["baseline"] == "counts_gbm"))
                .unwrap_or_else(|| panic!("{}: no paired comparison of {candidate}: {}", t["task"], t["comparisons"]));
            let d = c["paired"]["difference"].as_f64().expect("difference");
            assert!((d - (a - gbm)).abs() < 1e-9, "{} {candidate}: {d} vs {a} - {gbm}", t["task"]);
            let (lo, hi) = (c["paired"]["interval"]["lower"].as_f64(), c["paired"]["interval"]["upper"].as_f64());
            if let (Some(lo), Some(hi)) = (lo, hi) {
                assert!(
                    lo <= hi && (-1.0..=1.0).contains(&lo) && (-1.0..=1.0).contains(&hi),
                    "{} {candidate}: [{lo}, {hi}]",
                    t["task"]
                );
            }
            paired += 1;
        }
        assert!(paired > 0, "some task has both {candidate} and the GBM");
    }
    let t2d = tasks.iter().find(|t| t["task"] == "new_t2d_1y").expect("new_t2d_1y");
    let methods: Vec<&str> =
        t2d["methods"].as_array().expect("methods").iter().map(|m| m["method"].as_str().expect("m")).collect();
    assert_eq!(
        methods,
        ["demographics_lr", "counts_lr", "counts_gbm", "fm_probe", "fm_finetune", "fm_zero_shot", "oracle"]
    );
    // Fine-tuning ran on the chronic tasks only (--fine-tune-tasks), and the others say so.
    let mortality = tasks
        .iter()
        .find(|t| t["task"] == "mortality_1y" && t["setting"].as_str().is_some_and(|s| s.starts_with("internal")))
        .expect("mortality_1y");
    let why = mortality["not_run"]["fm_finetune"].as_str().unwrap_or_default();
    assert!(why.contains("--fine-tune-tasks"), "mortality_1y's fm_finetune: {why:?}");
    // The fine-tuned model travels too: its task model and weights, given the bundle, re-score
    // the held-out labels with the probabilities adapt wrote.
    let task_dir = dir.path().join("adapt/new_t2d_1y");
    let tuned: Value =
        serde_json::from_slice(&std::fs::read(task_dir.join("fm_finetune.model.json")).expect("task model"))
            .expect("json");
    assert_eq!(tuned["fitting"]["kind"], "fine_tuned", "{tuned}");
    // The head reads the pooled embedding with its maximum, which an older build could not:
    // version 4.
    assert_eq!(tuned["fitting"]["pooling"], "last_mean_max", "{tuned}");
    assert_eq!(tuned["version"], 4, "{tuned}");
    let epochs = tuned["fitted_on"]["epochs"].as_array().expect("epochs");
    assert_eq!(epochs.len(), 2, "epoch 0 (the probe) and one epoch of fine-tuning: {tuned}");
    assert!(epochs[1]["train_loss"].as_f64().is_some_and(f64::is_finite), "{tuned}");
    let rescored = dir.path().join("rescored_finetune.parquet");
    let rescore = longitude(&[
        "--quiet",
        "evaluate",
        "--task-model",
        task_dir.join("fm_finetune.model.json").as_arg(),
        "--model",
        dir.path().join("pretrained/model").as_arg(),
        "--allow-unsigned",
        "--labels",
        dir.path().join("labels/new_t2d_1y.parquet").as_arg(),
        "--meds",
        dir.path().join("meds").as_arg(),
        "--predictions",
        rescored.as_arg(),
        "--resamples",
        "20",
    ]);
    assert!(rescore.status.success(), "{}", stderr(&rescore));
    // Without --allow-unsigned, a bundle whose signature is not checked scores nothing.
    let unchecked = dir.path().join("unchecked.parquet");
    let refused = longitude(&[
        "evaluate",
        "--task-model",
        task_dir.join("fm_finetune.model.json").as_arg(),
        "--model",
        dir.path().join("pretrained/model").as_arg(),
        "--labels",
        dir.path().join("labels/new_t2d_1y.parquet").as_arg(),
        "--meds",
        dir.path().join("meds").as_arg(),
        "--predictions",
        unchecked.as_arg(),
    ]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("signature must be checked before it scores anything"), "{}", stderr(&refused));
    assert!(!unchecked.exists());
    let again = probabilities(&rescored);
    let held_out =
        meds::labels::read_boolean_predictions(&task_dir.join("fm_finetune.parquet")).expect("fine-tuned predictions");
    assert!(!held_out.is_empty());
    for h in &held_out {
        let r = again.get(&(h.label.subject_id, h.label.prediction_time)).expect("every held-out time re-scored");
        assert!((r - h.probability).abs() < 1e-5, "re-scored {r} vs fitted {}", h.probability);
    }
    // Zero-shot read every sampled held-out prediction time's futures with the task.
    let adapted = artifacts::AdaptReport::read(&dir.path().join("adapt")).expect("adapt report");
    // How the oracle drew its futures is on record (the demo: 64 first, up to 256).
    assert_eq!(
        adapted.oracle,
        Some(artifacts::adapt_report::OracleDraws { first_futures: 64, max_futures: 256, drawn_until_outcomes: 16 })
    );
    let t2d_adapted = &adapted.tasks["new_t2d_1y"];
    let zero_shot = t2d_adapted.zero_shot.as_ref().expect("zero-shot ran");
    let times = zero_shot.prediction_times as u64;
    assert!(times > 0 && times <= 150, "{zero_shot:?}");
    // 8 generated futures per time, each read once per value draw.
    let draws = zero_shot.value_draws as u64;
    assert!(draws > 1, "{zero_shot:?}");
    assert_eq!(zero_shot.futures, times * 8 * draws, "{zero_shot:?}");
    let scored = meds::labels::read_boolean_predictions(&dir.path().join("adapt/new_t2d_1y/fm_zero_shot.parquet"))
        .expect("zero-shot predictions");
    let unresolved = zero_shot.unresolved_prediction_times as u64;
    assert_eq!(scored.len() as u64, times - unresolved, "every settled prediction time is scored");
    assert!(scored.iter().all(|p| (0.0..=1.0).contains(&p.probability)));
    // The sample says what it stands for: all held-out times, drawn per class; the report
    // weights it back exactly when the classes were drawn at different rates.
    let design = t2d_adapted.samples["fm_zero_shot"];
    assert_eq!(
        design.population_positives + design.population_negatives,
        t2d_adapted.run.examples["held_out"],
        "{design:?}"
    );
    assert_eq!((design.sampled_positives + design.sampled_negatives) as u64, times, "{design:?}");
    let case_control = design.sampled_positives * design.population_negatives
        != design.sampled_negatives * design.population_positives;
    let reported = t2d["methods"].as_array().expect("methods").iter().find(|m| m["method"] == "fm_zero_shot");
    assert_eq!(reported.expect("zero-shot row")["evaluation"]["weighted"].as_bool(), Some(case_control));
    let curves: Vec<&str> =
        t2d["few_shot"].as_array().expect("few-shot curves").iter().map(|c| c["method"].as_str().expect("m")).collect();
    assert_eq!(curves, ["counts_lr", "counts_gbm", "fm_probe"]);
    assert!(dir.path().join("report/report.html").exists() && dir.path().join("report/chai_model_card.json").exists());

    // What if every adult at a wellness visit, not on a statin, started one: the model's
    // futures with and without the prescription, and the generator's true effect beside them.
    let what_if = dir.path().join("what_if.json");
    let path = |p: &str| dir.path().join(p).as_arg().to_string();
    let (meds_dir, labels_dir, model_dir, truth_dir) =
        (path("meds"), path("labels"), path("pretrained/model"), path("truth"));
    let args = [
        "--quiet",
        "what-if",
        "--meds",
        &meds_dir,
        "--labels",
        &labels_dir,
        "--task",
        "mi_1y",
        "--model",
        &model_dir,
        "--treatment",
        "RXNORM/83367",
        "--truth",
        &truth_dir,
        "--split",
        "all",
        "--max",
        "24",
        "--futures",
        "4",
        "--resamples",
        "50",
    ];
    let w = longitude(&[&args[..], &["--out", what_if.as_arg()]].concat());
    assert!(w.status.success(), "{}", stderr(&w));
    assert!(stdout(&w).contains("oracle") && stdout(&w).contains("relative risk"), "{}", stdout(&w));
    let report: Value = serde_json::from_slice(&std::fs::read(&what_if).expect("what_if.json")).expect("json");
    let n = |v: &Value| v.as_u64().unwrap_or_else(|| panic!("a count: {v}"));
    let cohort = &report["cohort"];
    // Every offered prediction time is accounted for, and every sampled one compared or not.
    assert_eq!(
        n(&cohort["offered"]),
        n(&cohort["without_timeline"]) + n(&cohort["on_treatment"]) + n(&cohort["untreated"]),
        "{cohort}"
    );
    assert_eq!(n(&cohort["eligible"]), n(&cohort["untreated"]));
    assert!(n(&cohort["on_treatment"]) > 0, "adults with hyperlipidemia are on statins: {cohort}");
    assert_eq!(n(&report["sampled"]), n(&cohort["eligible"]).min(24));
    assert_eq!(n(&report["compared"]) + n(&report["unresolved"]), n(&report["sampled"]));
    let rows = report["rows"].as_array().expect("rows");
    assert_eq!(rows.len() as u64, n(&report["compared"]));
    assert!(!rows.is_empty(), "{report}");
    // Every treated future begins with the statin at the prediction time.
    let model = &report["model"];
    assert_eq!(n(&model["changed_futures"]), rows.len() as u64 * 4);
    assert_eq!(n(&model["changed_as_intended"]), n(&model["changed_futures"]));
    for r in rows {
        for k in ["model_as_recorded", "model_changed", "oracle_as_recorded", "oracle_changed"] {
            let p = r[k].as_f64().unwrap_or_else(|| panic!("{k} in {r}"));
            assert!((0.0..=1.0).contains(&p), "{k} = {p}");
        }
    }
    // The effect is the difference of the arms' means, for the model and for the oracle.
    let mean = |k: &str| rows.iter().map(|r| r[k].as_f64().expect("risk")).sum::<f64>() / rows.len() as f64;
    let model_effect = &model["effect"];
    assert!((model_effect["risk_as_recorded"].as_f64().expect("risk") - mean("model_as_recorded")).abs() < 1e-9);
    assert!(
        (model_effect["difference"].as_f64().expect("d") - (mean("model_changed") - mean("model_as_recorded"))).abs()
            < 1e-9
    );
    // The generator's statin lowers the infarction hazard: started now, the true risk falls.
    let truth = &report["oracle"]["effect"];
    assert_eq!(n(&report["oracle"]["answered"]), rows.len() as u64);
    assert!((truth["risk_as_recorded"].as_f64().expect("risk") - mean("oracle_as_recorded")).abs() < 1e-9);
    let (before, after) = (mean("oracle_as_recorded"), mean("oracle_changed"));
    assert!(after < before, "starting a statin lowers the true MI risk: {after} vs {before}");
    // Patients the record shows on a statin at the prediction time were left out.
    let statin_users: std::collections::HashSet<(i64, i64)> = {
        let dataset = meds::Dataset::open(dir.path().join("meds")).expect("meds");
        let (codes, timelines) = dataset.read_all().expect("timelines");
        let statin = codes.get("RXNORM/83367").expect("statins are prescribed");
        rows.iter()
            .filter_map(|r| {
                let (s, t) = (r["subject_id"].as_i64()?, r["prediction_time"].as_i64()?);
                let tl = timelines.iter().find(|x| x.subject_id == s)?;
                let upto = tl.times.partition_point(|&x| x <= t);
                tl.codes[..upto].contains(&statin).then_some((s, t))
            })
            .collect()
    };
    assert!(statin_users.is_empty(), "already treated and compared: {statin_users:?}");
    // What cannot be asked is said, not answered with something else: a code the model has no
    // token for, a task whose futures must begin with a later trigger, a drug the generator
    // does not prescribe when its truth is asked for.
    let run_with = |base: &[&str], changes: &[(&str, &str)]| {
        let mut a: Vec<String> = base.iter().map(|x| x.to_string()).collect();
        for (flag, value) in changes {
            let i = a.iter().position(|x| x == flag).expect("flag");
            a[i + 1] = value.to_string();
        }
        longitude(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let unknown = run_with(&args, &[("--treatment", "RXNORM/9999999")]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("not an agent of any drug class"), "{}", stderr(&unknown));
    let no_truth: Vec<&str> = args.iter().copied().filter(|a| *a != "--truth" && *a != truth_dir).collect();
    let unknown = run_with(&no_truth, &[("--treatment", "RXNORM/9999999")]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("not in the model's vocabulary"), "{}", stderr(&unknown));
    let before_trigger = run_with(&args, &[("--task", "hyperkalemia_next_lab")]);
    assert_eq!(before_trigger.status.code(), Some(2));
    assert!(stderr(&before_trigger).contains("predicts before its trigger"), "{}", stderr(&before_trigger));
    // The same seed gives the same comparison.
    let again = longitude(&args);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(stdout(&again), stdout(&w));
    // And the other way, as the demo's last step asked: statins withheld from those on them,
    // which the model reads as a history without them and futures that never prescribe them;
    // the true risk rises.
    let withheld = dir.path().join("what-if/mi_1y_statin_withheld.json");
    let report: artifacts::WhatIfReport = artifacts::read(&withheld).expect("the demo's what-if");
    assert_eq!(report.change, artifacts::what_if::ChangeKind::Withhold);
    assert_eq!(report.cohort.eligible, report.cohort.on_treatment);
    let rows = &report.rows;
    assert!(!rows.is_empty(), "{report:?}");
    let model = &report.model;
    assert_eq!(model.changed_futures, rows.len() * 8);
    assert_eq!(model.changed_as_intended, model.changed_futures, "no withheld future has a statin");
    let mean = |risk: &dyn Fn(&artifacts::what_if::WhatIfRow) -> Option<f64>| {
        rows.iter().map(|r| risk(r).expect("risk")).sum::<f64>() / rows.len() as f64
    };
    let (before, after) = (mean(&|r| r.oracle_as_recorded), mean(&|r| r.oracle_changed));
    assert!(after > before, "withholding statins raises the true MI risk: {after} vs {before}");
    // The demo put it before the board: in the report, beside the truth, and in the card's
    // known limitations when the truth was measured.
    let board: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("report/report.json")).expect("report.json"))
            .expect("json");
    let shown = &board["what_if"][0];
    assert_eq!((shown["task"].as_str(), shown["change"].as_str()), (Some("mi_1y"), Some("withhold")));
    assert_eq!(shown["compared"].as_u64(), Some(rows.len() as u64));
    assert!((shown["model"]["risk_changed"].as_f64().expect("risk") - mean(&|r| Some(r.model_changed))).abs() < 1e-9);
    assert!((shown["oracle"]["risk_changed"].as_f64().expect("risk") - after).abs() < 1e-9);
    let html = std::fs::read_to_string(dir.path().join("report/report.html")).expect("html");
    assert!(html.contains("id=what-if") && html.contains("RXNORM/83367"));

    assert!(stdout(&o).contains("de-identified subjects"), "{}", stdout(&o));
    let root = dir.path().join("ingested/meds");
    let root_s = root.as_arg();
    let o = longitude(&["meds", "validate", root_s]);
    assert!(o.status.success(), "{}", stdout(&o));
    assert!(stdout(&o).contains("valid MEDS 0.4.1 (0 warning(s))"), "{}", stdout(&o));

    let o = longitude(&["meds", "describe", root_s, "--json"]);
    assert!(o.status.success());
    let d: Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(d["subjects"], 300);
    assert_eq!(d["metadata"]["dataset_name"], "longitude-demo");
    let split_subjects: u64 =
        d["splits"].as_array().expect("splits").iter().map(|s| s["subjects"].as_u64().unwrap_or(0)).sum();
    assert_eq!(split_subjects, 300);
    let vocab_events: u64 =
        d["vocabularies"].as_array().expect("vocabularies").iter().map(|v| v["events"].as_u64().unwrap_or(0)).sum();
    assert_eq!(vocab_events, d["events"].as_u64().expect("events"));

    let store = meds::TimelineStore::open_or_build(
        &meds::Dataset::open(&root).expect("open"),
        &meds::TimelineStore::default_path(&root),
    )
    .expect("store");
    // The demo's de-identification key is fresh each run, so subject order is too: take the
    // subject with the most events (some subjects have only a handful).
    let subject = store.subject_ids().max_by_key(|&s| (store.subject_len(s), s)).expect("a subject").to_string();
    let o = longitude(&["meds", "show", root_s, &subject, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).expect("json line")).collect();
    assert!(lines.len() > 5);
    let statics = lines.iter().take_while(|l| l["time"] == Value::Null).count();
    assert!(statics >= 3, "static events (gender, race, ethnicity, ZIP3) come first");
    assert_eq!(lines[statics]["code"], "MEDS_BIRTH");

    let o = longitude(&["meds", "show", root_s, "42"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("subject 42 is not in"));
}

/// The owner makes a key and signs the demo's model bundle; the bundle verifies against the
/// public key, and is refused — naming the key, the manifest or the file — when unsigned, signed
/// by another key of the same name, changed in a weight byte, or given another manifest.
fn owner_signs_and_a_partner_verifies_the_model_bundle(dir: &Path) {
    let (key, public, model) = (dir.join("owner.key"), dir.join("owner.pub"), dir.join("pretrained/model"));
    let o = longitude(&["bundle", "keygen", "--name", "hospital.example", "--key", key.as_arg()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stdout(&o).contains("PRIVATE"), "the private key is never printed");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&key).expect("key").permissions().mode() & 0o777, 0o600);
    let o = longitude(&["bundle", "keygen", "--name", "hospital.example", "--key", key.as_arg()]);
    assert_eq!(o.status.code(), Some(2), "a key is never overwritten");
    let verify = |bundle: &Path, trusted: &Path| {
        longitude(&["bundle", "verify", "--bundle", bundle.as_arg(), "--trusted", trusted.as_arg()])
    };
    let o = verify(&model, &public);
    assert!(o.status.code() == Some(2) && stderr(&o).contains("is not signed"), "{}", stderr(&o));
    let o = longitude(&["bundle", "sign", "--bundle", model.as_arg(), "--key", key.as_arg()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = verify(&model, &public);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("signed by hospital.example") && stdout(&o).contains("files match"), "{}", stdout(&o));
    // The public key's text works as well as its file.
    let text = std::fs::read_to_string(&public).expect("public key");
    let o = longitude(&["bundle", "verify", "--bundle", model.as_arg(), "--trusted", text.trim()]);
    assert!(o.status.success(), "{}", stderr(&o));

    let (other, other_public) = (dir.join("other.key"), dir.join("other.pub"));
    let o = longitude(&["bundle", "keygen", "--name", "hospital.example", "--key", other.as_arg()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = verify(&model, &other_public);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no signature by a trusted key"), "{}", stderr(&o));

    let copy = |name: &str| {
        let to = dir.join(name);
        std::fs::create_dir_all(&to).expect("dir");
        for file in std::fs::read_dir(&model).expect("bundle").map(|e| e.expect("entry").path()) {
            std::fs::copy(&file, to.join(file.file_name().expect("name"))).expect("copy");
        }
        to
    };
    let weights_changed = copy("tampered-weights");
    let weights = weights_changed.join("model.safetensors");
    let mut bytes = std::fs::read(&weights).expect("weights");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    std::fs::write(&weights, bytes).expect("write");
    let o = verify(&weights_changed, &public);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("model.safetensors") && stderr(&o).contains("does not match"), "{}", stderr(&o));
    // A partner scoring its own labels with the probe refuses the altered bundle, and uses the
    // signed one.
    let (labels, meds) = (dir.join("labels/new_t2d_1y.parquet"), dir.join("meds"));
    let probe = dir.join("adapt/new_t2d_1y/fm_probe.model.json");
    let evaluate = |bundle: &Path, predictions: &Path| {
        longitude(&[
            "--quiet",
            "evaluate",
            "--task-model",
            probe.as_arg(),
            "--labels",
            labels.as_arg(),
            "--meds",
            meds.as_arg(),
            "--model",
            bundle.as_arg(),
            "--trusted",
            public.as_arg(),
            "--predictions",
            predictions.as_arg(),
            "--resamples",
            "20",
        ])
    };
    let refused = dir.join("refused.parquet");
    let o = evaluate(&weights_changed, &refused);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("model.safetensors"), "{}", stderr(&o));
    assert!(!refused.exists(), "nothing scored with an altered bundle");
    let o = evaluate(&model, &dir.join("signed.parquet"));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("verified: signed by hospital.example"), "{}", stdout(&o));
    let manifest_changed = copy("tampered-manifest");
    let manifest = manifest_changed.join("bundle.json");
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    std::fs::write(&manifest, format!("{text}\n")).expect("write");
    let o = verify(&manifest_changed, &public);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("is not the manifest its owner signed"), "{}", stderr(&o));
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("dir");
    for entry in std::fs::read_dir(from).expect("read dir").map(|e| e.expect("entry")) {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// The owner assembles the demo's model, task models and report into a release and signs it; the
/// registry refuses it altered three ways, then takes it through its lifecycle: a policy it
/// fails (the gate named, with its margin), one it passes, an approval refused to the registrant,
/// one granted, a deployment and a retirement — all in the history, all in an audit log that
/// verifies.
fn governance_from_release_to_retirement(dir: &Path) {
    let (key, public, release) = (dir.join("owner.key"), dir.join("owner.pub"), dir.join("release"));
    let o = longitude(&[
        "bundle",
        "assemble",
        "--model",
        dir.join("pretrained/model").as_arg(),
        "--adapted",
        dir.join("adapt").as_arg(),
        "--report",
        dir.join("report").as_arg(),
        "--dataset",
        dir.join("meds").as_arg(),
        "--owner",
        "Example Health",
        "--out",
        release.as_arg(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = longitude(&["bundle", "sign", "--bundle", release.as_arg(), "--key", key.as_arg()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(release.join("bundle.json")).expect("manifest")).expect("json");
    assert_eq!(manifest["release"]["owner"], "Example Health");
    assert_eq!(manifest["release"]["training_data"]["subjects"], 300);
    assert!(manifest["files"]["report/report.json"]["sha256"].is_string(), "{manifest}");
    // The training data's reference for monitoring, signed with the rest.
    assert_eq!(manifest["release"]["reference"], "data/reference.json");
    assert!(manifest["files"]["data/reference.json"]["sha256"].is_string(), "{manifest}");

    let db = dir.join("registry.db");
    let registry = |args: &[&str]| {
        let mut all = vec!["registry", args[0], "--db", db.as_arg()];
        all.extend_from_slice(&args[1..]);
        longitude(&all)
    };
    let register = |bundle: &Path| {
        registry(&[
            "register",
            "--bundle",
            bundle.as_arg(),
            "--trusted",
            public.as_arg(),
            "--name",
            "demo-risk",
            "--by",
            "alice",
            "--role",
            "data-scientist",
        ])
    };
    // Altered three ways: a weight byte, a report figure, a manifest re-signed by another key.
    let weights = dir.join("release-weights");
    copy_tree(&release, &weights);
    let mut bytes = std::fs::read(weights.join("model.safetensors")).expect("weights");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    std::fs::write(weights.join("model.safetensors"), bytes).expect("write");
    let figure = dir.join("release-figure");
    copy_tree(&release, &figure);
    let report = std::fs::read_to_string(figure.join("report/report.json")).expect("report");
    let at = report.find("\"auroc\": 0.").expect("an AUROC") + "\"auroc\": 0.".len();
    let digit = report.as_bytes()[at] - b'0';
    let changed = format!("{}{}{}", &report[..at], (digit + 1) % 10, &report[at + 1..]);
    assert_ne!(changed, report);
    std::fs::write(figure.join("report/report.json"), changed).expect("write");
    let resigned = dir.join("release-resigned");
    copy_tree(&release, &resigned);
    let o = longitude(&["bundle", "sign", "--bundle", resigned.as_arg(), "--key", dir.join("other.key").as_arg()]);
    assert!(o.status.success(), "{}", stderr(&o));
    for (bundle, named) in
        [(&weights, "model.safetensors"), (&figure, "report/report.json"), (&resigned, "no signature by a trusted key")]
    {
        for o in [
            register(bundle),
            longitude(&["bundle", "verify", "--bundle", bundle.as_arg(), "--trusted", public.as_arg()]),
        ] {
            assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
            assert!(stderr(&o).contains(named), "{named}: {}", stderr(&o));
        }
    }
    let o = longitude(&[
        "--quiet",
        "evaluate",
        "--task-model",
        figure.join("tasks/new_t2d_1y/fm_probe.model.json").as_arg(),
        "--model",
        figure.as_arg(),
        "--trusted",
        public.as_arg(),
        "--labels",
        dir.join("labels/new_t2d_1y.parquet").as_arg(),
        "--meds",
        dir.join("meds").as_arg(),
        "--predictions",
        dir.join("figure.parquet").as_arg(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("report/report.json"), "{}", stderr(&o));

    let o = register(&release);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("registered demo-risk@1 (owner Example Health, signed by hospital.example"),
        "{}",
        stdout(&o)
    );

    // Policies drawn from the report's own figures: a bound just under the first AUROC interval's
    // lower end passes; one 0.05 above it fails, and says by how much.
    let figures: Value = serde_json::from_str(&report).expect("report");
    let candidate = figures["candidate"].as_str().expect("candidate").to_string();
    let (task, lower) = figures["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .filter(|t| t["setting"].as_str().is_some_and(|s| s.starts_with("internal")))
        .find_map(|t| {
            let method = t["methods"].as_array()?.iter().find(|m| m["method"] == candidate.as_str())?;
            Some((t["task"].as_str()?.to_string(), method["evaluation"]["intervals"]["auroc"]["lower"].as_f64()?))
        })
        .expect("a task with an AUROC interval");
    let policy = |name: &str, bound: f64| {
        let path = dir.join(format!("{name}.yaml"));
        let text = format!(
            "name: {name}\nversion: 1\ntasks: [{task}]\ngates:\n  auroc_lower_bound: {bound}\napproval:\n  two_person: true\n"
        );
        std::fs::write(&path, text).expect("policy");
        path
    };
    let (strict, fitting) = (policy("strict", lower + 0.05), policy("fitting", lower - 0.001));
    let validate = |policy: &Path| {
        registry(&[
            "validate",
            "--id",
            "demo-risk@1",
            "--bundle",
            release.as_arg(),
            "--trusted",
            public.as_arg(),
            "--policy",
            policy.as_arg(),
            "--by",
            "alice",
            "--role",
            "data-scientist",
        ])
    };
    let o = validate(&strict);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stdout(&o).contains(&format!("FAIL  {task:<22} auroc_lower_bound    {lower:.3} < ")), "{}", stdout(&o));
    assert!(stdout(&o).contains("short by 0.050"), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("failed 1 of 1 gates of strict v1") && stderr(&o).contains("stays registered"),
        "{}",
        stderr(&o)
    );
    let o = validate(&fitting);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("demo-risk@1 validated under fitting v1"), "{}", stdout(&o));

    let approve = |by: &str, reason: &str| {
        registry(&["approve", "--id", "demo-risk@1", "--by", by, "--role", "clinical-lead", "--reason", reason])
    };
    let o = approve("carol", " ");
    assert!(o.status.code() == Some(2) && stderr(&o).contains("an approval needs a reason"), "{}", stderr(&o));
    let o = approve("alice", "my own model");
    assert!(o.status.code() == Some(2) && stderr(&o).contains("requires a second person"), "{}", stderr(&o));
    let o = approve("carol", "gates passed; card reviewed");
    assert!(o.status.success(), "{}", stderr(&o));
    let step = |args: &[&str]| {
        let o = registry(args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    };
    step(&[
        "deploy",
        "--id",
        "demo-risk@1",
        "--site",
        "north",
        "--by",
        "carol",
        "--role",
        "clinical-lead",
        "--reason",
        "go-live",
    ]);
    // Served at north while deployed; the retirement is seen by the running server.
    let served = Served::start(dir, &db, &public, "north");
    let mut served_records = served.answers_for_the_deployed_version(dir);
    step(&["retire", "--id", "demo-risk@1", "--by", "carol", "--role", "clinical-lead", "--reason", "demo over"]);
    served_records += served.stops_answering();
    served.stop();
    let o = registry(&[
        "deploy",
        "--id",
        "demo-risk@1",
        "--site",
        "south",
        "--by",
        "carol",
        "--role",
        "r",
        "--reason",
        "x",
    ]);
    assert!(o.status.code() == Some(2) && stderr(&o).contains("retired is final"), "{}", stderr(&o));
    let o = registry(&["history", "--id", "demo-risk@1"]);
    let history = stdout(&o);
    let steps: Vec<&str> = history.lines().skip(1).map(|l| l.split_whitespace().nth(1).unwrap_or("")).collect();
    assert_eq!(steps, ["register", "validate", "approve", "deploy", "retire"], "{history}");

    // The server under load, as `bench serve` measures it (briefly: the figures are the
    // benchmark's to report, this checks it runs and that every request was answered and audited).
    let o = longitude(&[
        "bench",
        "serve",
        "--demo",
        dir.as_arg(),
        "--methods",
        "counts_gbm",
        "--requests",
        "12",
        "--concurrency",
        "2",
        "--patients",
        "3",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let row = stdout(&o).lines().find(|l| l.starts_with("counts_gbm")).map(String::from).expect("a row");
    let fields: Vec<&str> = row.split_whitespace().collect();
    assert_eq!((fields[1], fields[9], fields[10]), ("12", "0", "12"), "12 requests, no error, 12 audited: {row}");

    // The registry's steps are in the audit log, which verifies under the operator's checkpoint.
    let operator = dir.join("operator.key");
    assert!(
        longitude(&["bundle", "keygen", "--name", "audit.hospital.example", "--key", operator.as_arg()])
            .status
            .success()
    );
    let o = longitude(&["audit", "checkpoint", "--db", db.as_arg(), "--key", operator.as_arg()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = longitude(&["audit", "verify", "--db", db.as_arg(), "--trusted", dir.join("operator.pub").as_arg()]);
    assert!(o.status.success(), "{}", stderr(&o));
    // register, the failed and the passed validation, the refused and the granted approval,
    // deploy, retire, the refused deployment after retirement; and each call to the server.
    let expected = format!("verified: {} records", 8 + served_records);
    assert!(stdout(&o).starts_with(&expected), "{expected}: {}", stdout(&o));
}

/// A test that fails before `Served::stop` still stops the server.
impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `longitude serve` running as its own process over the registry's database.
struct Served {
    child: std::process::Child,
    url: String,
    key: String,
    runtime: tokio::runtime::Runtime,
    http: reqwest::Client,
}

impl Served {
    /// Starts the server for a tenant at `site` whose one client holds a key `longitude api-key`
    /// made; returns once it listens.
    fn start(dir: &Path, db: &Path, trusted: &Path, site: &str) -> Served {
        use std::io::BufRead;
        let o = longitude(&["api-key"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let field = |name: &str| {
            stdout(&o).lines().find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string())).expect("a field")
        };
        let (key, digest) = (field("key:"), field("key_sha256:"));
        let tenants = dir.join("tenants.yaml");
        let text = format!(
            "tenants:\n  - id: example-health\n    site: {site}\n    clients:\n      - id: ehr\n        roles: \
             [clinician]\n        key_sha256: [{digest}]\n"
        );
        std::fs::write(&tenants, text).expect("tenants");
        let mut child = Command::new(env!("CARGO_BIN_EXE_longitude"))
            .args(["--quiet", "serve", "--listen", "127.0.0.1:0", "--db", db.as_arg(), "--tenants", tenants.as_arg()])
            .args(["--trusted", trusted.as_arg(), "--deid-key-file", dir.join("demo-deid.key").as_arg()])
            .args(["--refresh-every", "0.2"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("serve");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("a line");
        let url = line.trim().strip_prefix("listening on ").expect("the address").to_string();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        // reqwest is built without a TLS provider (aws-lc needs cmake): ring, as the binary uses.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(60)).build().expect("client");
        Served { child, url, key, runtime, http }
    }

    fn get(&self, path: &str) -> (u16, Value) {
        self.runtime.block_on(async {
            let r = self.http.get(format!("{}{path}", self.url)).bearer_auth(&self.key).send().await.expect("get");
            (r.status().as_u16(), r.json().await.expect("json"))
        })
    }

    fn predict(&self, key: &str, body: &Value, fhir: bool) -> (u16, Value) {
        self.runtime.block_on(async {
            let mut request = self.http.post(format!("{}/v1/predict", self.url)).bearer_auth(key).json(body);
            if fhir {
                request = request.header("accept", "application/fhir+json");
            }
            let r = request.send().await.expect("post");
            (r.status().as_u16(), r.json().await.expect("json"))
        })
    }

    /// The demo's first patient, as a FHIR Bundle gathered from its export.
    fn patient(dir: &Path) -> Value {
        let first = std::fs::read_to_string(dir.join("fhir/Patient.ndjson")).expect("patients");
        let patient: Value = serde_json::from_str(first.lines().next().expect("a patient")).expect("json");
        let reference = format!("\"reference\":\"Patient/{}\"", patient["id"].as_str().expect("id"));
        let mut entries = vec![json!({ "resource": patient })];
        for kind in ["Encounter", "Condition", "Observation", "MedicationRequest", "Procedure"] {
            let text = std::fs::read_to_string(dir.join(format!("fhir/{kind}.ndjson"))).expect("ndjson");
            for line in text.lines().filter(|l| l.contains(&reference)) {
                entries.push(json!({ "resource": serde_json::from_str::<Value>(line).expect("json") }));
            }
        }
        json!({ "resourceType": "Bundle", "type": "collection", "entry": entries })
    }

    /// Calls each endpoint; returns the audit records the calls made.
    fn answers_for_the_deployed_version(&self, dir: &Path) -> usize {
        let (status, ready) = self.get("/ready");
        assert_eq!((status, ready["versions_answering"].as_u64()), (200, Some(1)), "{ready}");
        let (_, models) = self.get("/v1/models");
        let model = &models["models"][0];
        assert_eq!(model["id"], "demo-risk@1", "{models}");
        let tasks = model["tasks"].as_array().expect("tasks").len();
        assert!(tasks >= 8, "the candidate's task models: {models}");
        let (status, doc) = self.get("/openapi.json");
        assert!(status == 200 && doc["paths"]["/v1/predict"].is_object());

        let record = json!({ "record": Served::patient(dir) });
        let (status, body) = self.predict(&self.key, &record, false);
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["model"]["method"], model["method"]);
        let predictions = body["predictions"].as_array().expect("predictions");
        assert_eq!(predictions.len(), tasks, "every task the version answers: {body}");
        let counts = model["method"].as_str().is_some_and(|m| m.starts_with("counts_"));
        for p in predictions {
            let probability = p["probability"].as_f64().expect("a probability");
            assert!((0.0..1.0).contains(&probability), "{p}");
            // A model on count features says what moved each risk.
            assert_eq!(p["basis"].is_array(), counts, "{p}");
        }
        let (status, fhir) = self.predict(&self.key, &record, true);
        assert_eq!(status, 200, "{fhir}");
        let risks = dir.join("served-risks.json");
        std::fs::write(&risks, fhir.to_string()).expect("write");
        let summary: Value =
            serde_json::from_str(&testkit::run_python("check_server_fhir.py", [&risks])).expect("json");
        assert_eq!(summary["resources"]["RiskAssessment"].as_u64(), Some(tasks as u64), "{summary}");
        // The same probabilities, whichever the format.
        let fhir_probabilities: Vec<f64> =
            summary["probabilities"].as_array().expect("list").iter().filter_map(Value::as_f64).collect();
        let json_probabilities: Vec<f64> = predictions.iter().filter_map(|p| p["probability"].as_f64()).collect();
        assert_eq!(fhir_probabilities, json_probabilities);
        let (status, outcome) = self.predict("lgk_not-a-key", &record, false);
        assert_eq!((status, outcome["resourceType"].as_str()), (401, Some("OperationOutcome")));
        3
    }

    /// Polls until the retired version stops answering; returns the calls it took (each audited).
    fn stops_answering(&self) -> usize {
        let record = json!({ "record": { "resourceType": "Patient", "id": "x", "birthDate": "1950-01-01" } });
        for calls in 1..=100 {
            let (status, body) = self.predict(&self.key, &record, false);
            if status == 503 {
                assert_eq!(body["resourceType"], "OperationOutcome");
                return calls;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("the retired version still answers after 10 s");
    }

    /// Stops the server as an operator would (SIGTERM): it drains and exits cleanly.
    /// (A test that fails before this still stops it: see `Drop`.)
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().expect("kill").success());
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "the server exits cleanly on SIGTERM: {status}");
    }
}

#[test]
fn synth_writes_meds_and_truth_with_a_prevalence_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("s");
    let out_s = out.as_arg();
    let o = longitude(&["synth", "--patients", "2000", "--sites", "2", "--seed", "7", "--out", out_s]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    for needle in ["simulated 2000 patients (2 sites, seed 7)", "diabetes", "atrial_fibrillation", "all adults"] {
        assert!(text.contains(needle), "{needle:?} missing:\n{text}");
    }
    for f in ["truth/subjects.parquet", "truth/conditions.parquet", "truth/treatments.parquet", "truth/config.json"] {
        assert!(out.join(f).exists(), "{f}");
    }
    let o = longitude(&["meds", "validate", out.join("meds").as_arg()]);
    assert!(o.status.success(), "{}", stdout(&o));
    let o = longitude(&["meds", "describe", out.join("meds").as_arg(), "--json"]);
    let d: Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(d["subjects"], 2000);
    let vocabularies: Vec<&str> =
        d["vocabularies"].as_array().expect("vocabularies").iter().filter_map(|v| v["vocabulary"].as_str()).collect();
    for v in ["LOINC", "ICD10CM", "RXNORM", "CPT4", "ENCOUNTER", "MEDS_BIRTH", "GENDER", "RACE", "ETHNICITY"] {
        assert!(vocabularies.contains(&v), "{v} missing from {vocabularies:?}");
    }
    // A re-run replaces what the last one wrote (not merged into it), and nothing else.
    std::fs::write(out.join("notes.txt"), "mine").expect("write");
    let o = longitude(&["synth", "--patients", "10", "--out", out_s, "--replace"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = longitude(&["meds", "describe", out.join("meds").as_arg(), "--json"]);
    let d: Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(d["subjects"], 10, "replaced, not merged");
    assert!(out.join("notes.txt").exists());
    // A MEDS dataset that another tool wrote is never mixed into.
    let foreign = dir.path().join("theirs");
    std::fs::create_dir_all(foreign.join("meds/data/train")).expect("mkdir");
    std::fs::copy(walk(&out.join("meds/data"))[0].clone(), foreign.join("meds/data/train/0.parquet")).expect("copy");
    let o = longitude(&["synth", "--patients", "10", "--out", foreign.as_arg(), "--replace"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("refusing to mix"), "{}", stderr(&o));
}

#[test]
fn describe_reports_the_third_party_sample() {
    let root = repo_root().join("tests/data/meds/aces-meds-sample");
    let o = longitude(&["meds", "describe", root.as_arg()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    for needle in ["subjects        100", "events          77542", "splits (from data/ directories)", "ADMISSION"] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
}

#[test]
fn validate_fails_with_named_files_and_exit_code_1() {
    let root = repo_root().join("tests/data/meds/aces-meds-sample");
    let o = longitude(&["meds", "validate", root.as_arg(), "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let report: Value = serde_json::from_str(&stdout(&o)).expect("json");
    let files: Vec<&str> =
        report["findings"].as_array().expect("findings").iter().filter_map(|f| f["file"].as_str()).collect();
    assert!(files.contains(&"metadata/dataset.json"), "{files:?}");
}

#[test]
fn bad_paths_are_clear_errors_not_panics() {
    let o = longitude(&["meds", "describe", "/nonexistent/dataset"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no parquet shards under data/"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"));
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("data")).expect("mkdir");
    std::fs::write(dir.path().join("data/0.parquet"), b"not parquet").expect("write");
    let o = longitude(&["meds", "describe", dir.path().as_arg()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("data/0.parquet"), "{}", stderr(&o));
}

#[test]
fn bench_runs_small_and_reports_every_figure() {
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("bench.json");
    let o = longitude(&[
        "--quiet",
        "bench",
        "meds",
        "--events",
        "20000",
        "--events-per-subject",
        "100",
        "--lookups",
        "200",
        "--dir",
        dir.path().as_arg(),
        "--json",
        json.as_arg(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&json).expect("json")).expect("parse");
    for key in ["write_events_per_s", "read_1_thread_events_per_s", "lookup_mean_us"] {
        assert!(r[key].as_f64().is_some_and(|x| x > 0.0), "{key}: {}", r[key]);
    }
    assert!(r["events"].as_u64().is_some_and(|n| n > 15_000));
}

#[test]
fn the_meds_package_accepts_the_synthetic_population() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("s");
    let o = longitude(&["--quiet", "synth", "--patients", "500", "--seed", "3", "--out", out.as_arg()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary: Value = serde_json::from_str(&testkit::run_python("check_meds.py", [out.join("meds")])).expect("json");
    assert_eq!(summary["subjects"], 500);
    let splits = &summary["splits"];
    let total: u64 = ["train", "tuning", "held_out"].iter().map(|s| splits[s].as_u64().unwrap_or(0)).sum();
    assert_eq!(total, 500, "{splits}");
}

fn describe_json(root: &Path) -> Value {
    let o = longitude(&["meds", "describe", root.as_arg(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_str(&stdout(&o)).expect("json")
}

#[test]
fn ingest_turns_synthetic_fhir_into_deidentified_meds_with_the_same_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = dir.path().join("s");
    let o = longitude(&["--quiet", "synth", "--patients", "400", "--seed", "9", "--out", s.as_arg()]);
    assert!(o.status.success(), "{}", stderr(&o));
    // One record that cannot be read, carrying a name: it must end in the quarantine, raw, and
    // nowhere else.
    std::fs::write(
        s.join("fhir/Broken.ndjson"),
        "{\"resourceType\": \"Patient\", \"name\": [{\"family\": \"Zzyzx-Quarantine\"}\n",
    )
    .expect("write");
    let key = dir.path().join("secrets/deid.key");
    let ingest = |out: &Path, extra: &[&str]| {
        let mut args = vec!["--quiet", "ingest", "--input"];
        let fhir_dir = s.join("fhir");
        args.push(fhir_dir.as_arg());
        args.extend(["--out", out.as_arg(), "--deid-key-file", key.as_arg()]);
        args.extend(extra);
        let o = longitude(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    let a = dir.path().join("a");
    let truth = s.join("truth");
    let text = ingest(&a, &["--create-key", "--audit-truth", truth.as_arg()]);
    assert!(text.contains("counts reconcile"), "{text}");
    assert!(text.contains("targets met"), "{text}");
    assert!(key.exists(), "the key was created where asked, outside the output");
    let key_text = std::fs::read_to_string(&key).expect("key");
    for f in walk(&a) {
        let bytes = std::fs::read(&f).expect("read");
        assert!(!String::from_utf8_lossy(&bytes).contains(key_text.trim()), "key leaked into {}", f.display());
    }

    // Same events as the generator's direct MEDS output, in valid MEDS, under new ids.
    let direct = describe_json(&s.join("meds"));
    let ingested = describe_json(&a.join("meds"));
    assert_eq!(ingested["subjects"], direct["subjects"]);
    // Every event survives; de-identification adds one static ZIP3 fact per patient with a ZIP.
    let zip3 = ingested["vocabularies"]
        .as_array()
        .and_then(|v| v.iter().find(|v| v["vocabulary"] == "ZIP3"))
        .map_or(0, |v| v["events"].as_u64().unwrap_or(0));
    assert_eq!(zip3, 400);
    assert_eq!(ingested["events"].as_u64(), direct["events"].as_u64().map(|n| n + zip3));
    let top: Vec<&str> = ingested["vocabularies"]
        .as_array()
        .and_then(|v| v.iter().find(|v| v["vocabulary"] == "ZIP3"))
        .and_then(|v| v["top_codes"].as_array())
        .map(|codes| codes.iter().filter_map(|c| c[0].as_str()).collect())
        .unwrap_or_default();
    assert!(top.iter().all(|c| c.len() == "ZIP3/000".len()), "{top:?}");
    let o = longitude(&["meds", "validate", a.join("meds").as_arg()]);
    assert!(o.status.success(), "{}", stdout(&o));
    let summary: Value = serde_json::from_str(&testkit::run_python("check_meds.py", [a.join("meds")])).expect("json");
    assert_eq!(summary["subjects"], 400);
    let report: ingest::IngestReport = outputs::artifact::read(&a.join("ingest_report.json")).expect("ingest report");
    assert!(report.summary.reconciles);
    // Measured, not assumed: no planted identifier survives anywhere in the MEDS output.
    let audit = report.deid_audit.expect("the audit ran");
    assert_eq!(audit.patients, 400);
    assert!(audit.meets_targets);
    assert!(audit.leaks.is_empty(), "{:?}", audit.leaks.len());
    let occurrences: u64 = audit.kinds.values().map(|k| k.text_occurrences).sum();
    assert!(occurrences > 2000, "planted identifiers were in the source notes: {occurrences}");
    for (kind, k) in &audit.kinds {
        assert_eq!((k.structured_leaks, k.text_leaks), (0, 0), "{kind}");
    }
    let quarantine = dir.path().join("a-quarantine");
    assert!(quarantine.join("CONTAINS-PHI.txt").exists());
    let raw = std::fs::read_to_string(quarantine.join("records.ndjson")).expect("records");
    assert!(raw.contains("Zzyzx-Quarantine"), "the raw record is kept for review");
    for f in walk(&a) {
        let bytes = std::fs::read(&f).expect("read");
        assert!(!String::from_utf8_lossy(&bytes).contains("Zzyzx"), "quarantined content leaked into {}", f.display());
    }
    let inside = dir.path().join("a/q");
    let o = longitude(&[
        "ingest",
        "--input",
        s.join("fhir").as_arg(),
        "--out",
        a.as_arg(),
        "--deid-key-file",
        key.as_arg(),
        "--quarantine",
        inside.as_arg(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("must not be inside the output"), "{}", stderr(&o));
    assert!(report.summary.deidentification.replacements.get("[NAME]").copied().unwrap_or(0) > 0);

    // The same key gives the same pseudonyms; year mode keeps only years.
    let b = dir.path().join("b");
    ingest(&b, &["--date-mode", "year"]);
    let ids = |root: &Path| -> Vec<i64> {
        let splits = root.join("meds/metadata/subject_splits.parquet");
        let o = Command::new(testkit::python())
            .args(["-c", "import sys, pyarrow.parquet as pq; print(sorted(pq.read_table(sys.argv[1]).column('subject_id').to_pylist()))"])
            .arg(&splits)
            .output()
            .expect("python");
        serde_json::from_slice(&o.stdout).expect("ids")
    };
    assert_eq!(ids(&a), ids(&b));
    let years = describe_json(&b.join("meds"));
    assert!(years["first_time"].as_str().is_some_and(|t| t.ends_with("-01-01T00:00:00")), "{}", years["first_time"]);
    assert!(years["last_time"].as_str().is_some_and(|t| t.ends_with("-01-01T00:00:00")), "{}", years["last_time"]);

    // Opted-out patients are excluded entirely and counted.
    let first_patient = std::fs::read_to_string(s.join("fhir/Patient.ndjson")).expect("patients");
    let first: Value = serde_json::from_str(first_patient.lines().next().expect("a patient")).expect("json");
    let opt_out = dir.path().join("opt-out.txt");
    std::fs::write(&opt_out, format!("# refused research authorisation\n{}\n", first["id"].as_str().expect("id")))
        .expect("write");
    let d = dir.path().join("d");
    ingest(&d, &["--opt-out", opt_out.as_arg()]);
    assert_eq!(describe_json(&d.join("meds"))["subjects"], 399);
    let report: ingest::IngestReport = outputs::artifact::read(&d.join("ingest_report.json")).expect("report");
    assert_eq!(report.summary.opted_out_patients, 1);

    // Without a key, nothing is written.
    let c = dir.path().join("c");
    let o = Command::new(env!("CARGO_BIN_EXE_longitude"))
        .args(["ingest", "--input", s.join("fhir").as_arg(), "--out", c.as_arg()])
        .env_remove("LONGITUDE_DEID_KEY")
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("de-identification key is needed"));
    assert!(!c.exists());
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let p = entry.path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}

#[test]
fn ingest_rekeys_and_shifts_a_meds_dataset_from_another_etl() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = repo_root().join("tests/data/meds/aces-meds-sample");
    let out = dir.path().join("m");
    let key = dir.path().join("k");
    let o = longitude(&[
        "--quiet",
        "ingest",
        "--input",
        source.as_arg(),
        "--out",
        out.as_arg(),
        "--deid-key-file",
        key.as_arg(),
        "--create-key",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let before = describe_json(&source);
    let after = describe_json(&out.join("meds"));
    assert_eq!(
        (after["subjects"].clone(), after["events"].clone()),
        (before["subjects"].clone(), before["events"].clone())
    );
    assert_ne!(after["first_time"], before["first_time"], "dates moved");
    let o = longitude(&["meds", "validate", out.join("meds").as_arg()]);
    assert!(o.status.success(), "{}", stdout(&o));
    // No source subject id survives as a subject id.
    let source_ids = Command::new(testkit::python())
        .args(["-c", "import sys, glob, pyarrow.parquet as pq; print(sorted({i for f in glob.glob(sys.argv[1] + '/data/**/*.parquet', recursive=True) for i in pq.read_table(f).column('subject_id').to_pylist()}))"])
        .arg(&source)
        .output()
        .expect("python");
    let source_ids: Vec<i64> = serde_json::from_slice(&source_ids.stdout).expect("ids");
    let store = meds::TimelineStore::open_or_build(
        &meds::Dataset::open(out.join("meds")).expect("open"),
        &meds::TimelineStore::default_path(&out.join("meds")),
    )
    .expect("store");
    assert!(store.subject_ids().all(|id| source_ids.binary_search(&id).is_err()));
}

#[test]
fn a_killed_ingest_leaves_nothing_that_looks_complete_and_a_rerun_gives_the_same_result() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = dir.path().join("s");
    let o =
        longitude(&["--quiet", "synth", "--patients", "3000", "--seed", "5", "--format", "fhir", "--out", s.as_arg()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let input = s.join("fhir");
    let args = |out: &Path| -> Vec<String> {
        ["--quiet", "ingest", "--input", input.as_arg(), "--out", out.as_arg()]
            .iter()
            .map(|a| (*a).to_owned())
            .collect()
    };
    let key = "a-test-key-that-is-long-enough-for-hmac-0123456789";
    let killed = dir.path().join("killed");
    let mut child = Command::new(env!("CARGO_BIN_EXE_longitude"))
        .args(args(&killed))
        .env("LONGITUDE_DEID_KEY", key)
        .spawn()
        .expect("spawn");
    // Kill it once it is writing MEDS (the most delicate moment), or while reading if it is fast.
    let started = std::time::Instant::now();
    while !killed.join("meds/data").exists() && started.elapsed() < std::time::Duration::from_secs(60) {
        assert!(child.try_wait().expect("wait").is_none(), "ingest finished before it could be interrupted");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().expect("kill -9");
    child.wait().expect("reap");
    assert!(!killed.join("ingest_report.json").exists(), "a killed run has no report");
    assert!(!killed.join("meds/metadata/dataset.json").exists(), "a killed run has no dataset.json");
    let o = longitude(&["meds", "validate", killed.join("meds").as_arg()]);
    assert!(!o.status.success(), "a killed run's output does not validate");

    // Re-running into the same place replaces the debris and clears the spill (PHI).
    let rerun = Command::new(env!("CARGO_BIN_EXE_longitude"))
        .args(args(&killed))
        .env("LONGITUDE_DEID_KEY", key)
        .output()
        .expect("run");
    assert!(rerun.status.success(), "{}", stderr(&rerun));
    assert!(!dir.path().join("killed-work").exists());
    let clean = dir.path().join("clean");
    let o = Command::new(env!("CARGO_BIN_EXE_longitude"))
        .args(args(&clean))
        .env("LONGITUDE_DEID_KEY", key)
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", stderr(&o));
    let shards = |root: &Path| -> Vec<(PathBuf, Vec<u8>)> {
        let mut files: Vec<(PathBuf, Vec<u8>)> = walk(&root.join("meds/data"))
            .into_iter()
            .map(|f| (f.strip_prefix(root).expect("prefix").to_path_buf(), std::fs::read(&f).expect("read")))
            .collect();
        files.sort();
        files
    };
    let (a, b) = (shards(&killed), shards(&clean));
    assert!(!a.is_empty());
    assert!(a == b, "the re-run's shards are byte-identical to a clean run's");

    // A directory that ingest did not write is never emptied.
    let foreign = dir.path().join("foreign");
    std::fs::create_dir_all(&foreign).expect("mkdir");
    std::fs::write(foreign.join("notes.txt"), "keep me").expect("write");
    let o = Command::new(env!("CARGO_BIN_EXE_longitude"))
        .args(args(&foreign))
        .env("LONGITUDE_DEID_KEY", key)
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("was not written by longitude"), "{}", stderr(&o));
    assert!(foreign.join("notes.txt").exists());
}

/// Runs the binary with the test key; returns its output.
fn run_keyed(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_longitude"))
        .args(args)
        .env("LONGITUDE_DEID_KEY", "a-test-key-that-is-long-enough-for-hmac-0123456789")
        .output()
        .expect("run longitude")
}

/// A file a user keeps at `path`, which no command may delete.
fn sentinel(path: &Path) -> PathBuf {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, "a user's file").expect("write");
    path.to_path_buf()
}

#[test]
fn no_command_deletes_or_writes_over_what_it_did_not_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = |rel: &str| dir.path().join(rel);
    let s = |path: &Path| path.as_arg().to_owned();
    let mut sentinels = vec![sentinel(&p("beside.txt"))];

    // synth: refuses a folder with someone's files; with --replace writes beside them.
    sentinels.push(sentinel(&p("pop/thesis.docx")));
    let synth = |extra: &[&str]| {
        let out = s(&p("pop"));
        let mut args = vec!["--quiet", "synth", "--patients", "60", "--out", out.as_str()];
        args.extend_from_slice(extra);
        longitude(&args)
    };
    let o = synth(&[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--replace"), "{}", stderr(&o));
    assert!(!p("pop/meds").exists(), "nothing written");
    let o = synth(&["--replace"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = synth(&[]);
    assert!(o.status.success(), "a re-run replaces its own files: {}", stderr(&o));
    let fhir = p("pop/fhir");

    // ingest: a work directory that exists, the input itself, an output inside the input.
    let (input, out) = (s(&fhir), s(&p("ingested")));
    sentinels.push(sentinel(&p("scratch/keep.txt")));
    for (flag, value, needle) in [
        ("--work-dir", s(&p("scratch")), "was not made by longitude"),
        ("--work-dir", input.clone(), "inside the input"),
        ("--quarantine", s(&fhir.join("q")), "inside the input"),
    ] {
        let o = run_keyed(&["--quiet", "ingest", "--input", &input, "--out", &out, flag, &value]);
        assert_eq!(o.status.code(), Some(2), "{flag} {value}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{}", stderr(&o));
    }
    let o = run_keyed(&["--quiet", "ingest", "--input", &input, "--out", &s(&fhir.join("out"))]);
    assert!(stderr(&o).contains("inside the input"), "{}", stderr(&o));
    // A mistyped input: one clear line, the cause said once.
    let o = run_keyed(&["--quiet", "ingest", "--input", &s(&p("no-such-export")), "--out", &s(&p("x"))]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(stderr(&o).matches("No such file or directory").count(), 1, "{}", stderr(&o));
    assert!(!p("x").exists() && !p("x-quarantine").exists(), "nothing made for a run that read nothing");
    assert!(fhir.join("Patient.ndjson").exists(), "the export is intact");
    let o = run_keyed(&["--quiet", "ingest", "--input", &input, "--out", &out]);
    assert!(o.status.success(), "{}", stderr(&o));
    // A user's notes inside the output: a re-run refuses, --replace keeps them.
    sentinels.push(sentinel(&p("ingested/meds/data/README.md")));
    sentinels.push(sentinel(&p("ingested-quarantine/reviewed.txt")));
    let o = run_keyed(&["--quiet", "ingest", "--input", &input, "--out", &out]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("meds/data/README.md"), "{}", stderr(&o));
    let o = run_keyed(&["--quiet", "ingest", "--input", &input, "--out", &out, "--replace"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(p("ingested/meds/metadata/dataset.json").exists());

    // tokenize, label: the same rule.
    sentinels.push(sentinel(&p("tok/mine.txt")));
    let o = longitude(&["--quiet", "tokenize", "--meds", &s(&p("pop/meds")), "--out", &s(&p("tok"))]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    sentinels.push(sentinel(&p("labels/mine.txt")));
    let o = longitude(&["--quiet", "label", "--meds", &s(&p("pop/meds")), "--suite", "--out", &s(&p("labels"))]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = longitude(&["--quiet", "label", "--meds", &s(&p("pop/meds")), "--suite", "--out", &s(&p("pop/meds/l"))]);
    assert!(stderr(&o).contains("inside the input"), "{}", stderr(&o));

    for f in &sentinels {
        assert_eq!(std::fs::read_to_string(f).ok().as_deref(), Some("a user's file"), "{} was touched", f.display());
    }
}

#[test]
fn labelling_refuses_clashing_task_names_and_warns_of_predicates_that_match_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pop = dir.path().join("pop");
    let o = longitude(&["-q", "synth", "--patients", "60", "--format", "meds", "--out", pop.as_arg()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let task = |label_code: &str| {
        format!(
            "predicates:\n  visit:\n    code: {{regex: \"^ENCOUNTER/\"}}\n  outcome:\n    code: {label_code}\ntrigger: visit\nwindows:\n  input:\n    start: null\n    end: trigger\n    start_inclusive: True\n    end_inclusive: True\n    index_timestamp: end\n  target:\n    start: input.end\n    end: start + 365 days\n    start_inclusive: False\n    end_inclusive: True\n    label: outcome\n"
        )
    };
    for sub in ["a", "b"] {
        std::fs::create_dir_all(dir.path().join(sub)).expect("mkdir");
        std::fs::write(dir.path().join(sub).join("t.yaml"), task("MEDS_DEATH")).expect("write");
    }
    let (meds, a, b) = (pop.join("meds"), dir.path().join("a/t.yaml"), dir.path().join("b/t.yaml"));
    let path = |p: &Path| p.as_arg().to_owned();
    let out = path(&dir.path().join("labels"));
    let o =
        longitude(&["-q", "label", "--meds", &path(&meds), "--task", &path(&a), "--task", &path(&b), "--out", &out]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("two tasks are named `t`"), "{}", stderr(&o));
    // A typo in a code: the run goes on, and says so with the predicate's name.
    std::fs::write(&a, task("ICD10CM/E11.9X")).expect("write");
    let o = longitude(&["label", "--meds", &path(&meds), "--task", &path(&a), "--out", &out]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("match no code") && stderr(&o).contains("outcome"), "{}", stderr(&o));
    let report = tasks::LabelReports::read(&dir.path().join("labels")).expect("label report");
    assert_eq!(report.tasks[0].unmatched_predicates, ["outcome"]);
}

#[test]
fn pretraining_refuses_arguments_that_cannot_give_a_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("run");
    let tokens = dir.path().join("tokens").as_arg().to_owned();
    let out_s = out.as_arg().to_owned();
    for (extra, needle) in [
        (vec!["--lr", "NaN"], "--lr"),
        (vec!["--lr=-1"], "--lr"),
        (vec!["--batch-size", "0"], "--batch-size"),
        (vec!["--steps", "0"], "--steps"),
        (vec!["--seq-len", "1"], "--seq-len"),
        (vec!["--seq-len", "100000"], "for attention alone"),
        (vec!["--resume"], "nothing to resume"),
    ] {
        let mut args = vec!["--quiet", "pretrain", "--tokens", &tokens, "--out", &out_s, "--config", "tiny"];
        args.extend(extra.iter());
        let o = longitude(&args);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{extra:?}: {}", stderr(&o));
        assert!(!out.join("model").exists());
    }
}

#[test]
fn tokenize_fits_on_train_and_writes_splits_that_pyarrow_reads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = dir.path().join("s");
    let o =
        longitude(&["--quiet", "synth", "--patients", "300", "--seed", "4", "--format", "meds", "--out", s.as_arg()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let t = dir.path().join("t");
    let o = longitude(&["tokenize", "--meds", s.join("meds").as_arg(), "--out", t.as_arg()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("fitted on"), "{}", stdout(&o));
    let report: tokenizer::dataset::TokenizeReport =
        outputs::artifact::read(&t.join("tokenize_report.json")).expect("tokenize report");
    let subjects: u64 = report.splits.values().map(|s| s.subjects).sum();
    assert_eq!(subjects, 300);
    assert_eq!(report.fit.subjects, report.splits["train"].subjects, "fitted on train only");
    let vocabulary = report.vocabulary;
    // pyarrow reads the token files as they are: one row per subject, a time per token, ids in range.
    let check = "import sys, json, pyarrow.parquet as pq\n\
        t = pq.read_table(sys.argv[1]).to_pylist()\n\
        assert all(len(r['tokens']) == len(r['times']) for r in t)\n\
        assert all(0 <= x < int(sys.argv[2]) for r in t for x in r['tokens'] + r['statics'])\n\
        assert all(a <= b for r in t for a, b in zip(r['times'], r['times'][1:]))\n\
        print(json.dumps(len(t)))";
    let o = Command::new(testkit::python())
        .args(["-c", check])
        .arg(t.join("tokens/train.parquet"))
        .arg(vocabulary.to_string())
        .output()
        .expect("python");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), report.splits["train"].subjects.to_string());
    // No train split, no tokenizer: a clear error.
    let o = longitude(&["tokenize", "--meds", "/nonexistent", "--out", t.as_arg()]);
    assert!(!o.status.success() && stderr(&o).contains("/nonexistent"), "{}", stderr(&o));
}

fn metrics(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path.join("metrics.jsonl"))
        .expect("metrics")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect()
}

#[test]
fn pretraining_beats_the_unigram_baseline_and_resumes_exactly_after_a_kill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = dir.path().join("s");
    let o =
        longitude(&["--quiet", "synth", "--patients", "500", "--seed", "6", "--format", "meds", "--out", s.as_arg()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let t = dir.path().join("t");
    let o = longitude(&["--quiet", "tokenize", "--meds", s.join("meds").as_arg(), "--out", t.as_arg()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let args = |out: &Path, steps: &str, extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = ["--quiet", "pretrain", "--config", "tiny", "--seq-len", "128", "--lr", "3e-3"]
            .iter()
            .map(|x| (*x).to_owned())
            .collect();
        a.extend([
            "--tokens".into(),
            t.to_string_lossy().into_owned(),
            "--out".into(),
            out.to_string_lossy().into_owned(),
        ]);
        a.extend([
            "--steps".into(),
            steps.into(),
            "--checkpoint-every".into(),
            "4".into(),
            "--eval-every".into(),
            "4".into(),
        ]);
        a.extend(extra.iter().map(|x| (*x).to_owned()));
        a
    };
    let run = |a: Vec<String>| Command::new(env!("CARGO_BIN_EXE_longitude")).args(a).output().expect("run");

    // Learns: below the unigram baseline on the tuning split.
    let full = dir.path().join("full");
    let o = run(args(&full, "48", &[]));
    assert!(o.status.success(), "{}", stderr(&o));
    let report: model::pretrain::PretrainReport =
        outputs::artifact::read(&full.join("pretrain_report.json")).expect("pretrain report");
    let (loss, unigram) = (report.summary.tuning_loss, report.summary.unigram_tuning_loss);
    assert!(loss < unigram, "tuning loss {loss} should be below the unigram baseline {unigram}");
    assert!(report.below_unigram);
    let curve = metrics(&full);
    assert_eq!(curve.len(), 48);
    assert!(full.join("model/model.safetensors").exists() && full.join("model/tokenizer.json").exists());

    // Killed (-9) after a checkpoint, then resumed: the same curve, the same weights.
    let killed = dir.path().join("killed");
    let mut child =
        Command::new(env!("CARGO_BIN_EXE_longitude")).args(args(&killed, "48", &[])).spawn().expect("spawn");
    let started = std::time::Instant::now();
    while !killed.join("checkpoints/step-00000008/state.json").exists() && started.elapsed().as_secs() < 120 {
        assert!(child.try_wait().expect("wait").is_none(), "training finished before it could be killed");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().expect("kill -9");
    child.wait().expect("reap");
    assert!(!killed.join("pretrain_report.json").exists(), "a killed run has no report");
    let o = run(args(&killed, "48", &["--resume"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let resumed = metrics(&killed);
    assert_eq!(resumed.len(), 48);
    for (a, b) in curve.iter().zip(&resumed) {
        assert_eq!(a["step"], b["step"]);
        assert_eq!(a["train_loss"], b["train_loss"], "step {}", a["step"]);
        assert_eq!(a["tuning_loss"], b["tuning_loss"], "step {}", a["step"]);
    }
    let weights = |p: &Path| std::fs::read(p.join("model/model.safetensors")).expect("weights");
    assert!(weights(&full) == weights(&killed), "identical final weights");
    // `latest` naming a checkpoint that is not there: refused, nothing overwritten.
    std::fs::write(killed.join("checkpoints/latest"), "step-99999999").expect("write");
    let before = weights(&killed);
    let o = run(args(&killed, "48", &["--resume"]));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("step-99999999, which is missing"), "{}", stderr(&o));
    assert!(weights(&killed) == before && metrics(&killed).len() == 48, "nothing overwritten");
}

/// 600 simulated patients as MEDS in `out` (out/meds, out/truth).
fn synth_meds(out: &Path, seed: &str) {
    let args = ["-q", "synth", "--patients", "600", "--seed", seed, "--format", "meds", "--out"];
    let o = longitude(&[&args[..], &[out.as_arg()]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn label_adapt_evaluate_report_from_labels_to_a_page_a_browser_renders() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let s = d.join("s");
    synth_meds(&s, "5");
    let labels = d.join("labels");
    let meds = s.join("meds");
    let meds = meds.as_arg();
    let args = ["label", "--meds", meds, "--suite", "--out", labels.as_arg()];
    let o = longitude(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let report = tasks::LabelReports::read(&labels).expect("label report").tasks;
    assert_eq!(report.len(), 11, "the whole suite");
    let files: Vec<PathBuf> = report.iter().map(|r| labels.join(format!("{}.parquet", r.task))).collect();
    let checked: Value = serde_json::from_str(&testkit::run_python("check_labels.py", &files)).expect("json");
    for (r, f) in report.iter().zip(&files) {
        let c = &checked[f.as_arg()];
        assert_eq!(c["rows"], json!(r.labels), "{f:?}: the meds package reads every label we counted");
        assert_eq!(c["positives"], json!(r.positives), "{f:?}");
        let accounted = r.labels + r.excluded.values().sum::<u64>() + r.unresolved.values().sum::<u64>();
        assert_eq!(accounted, r.triggers, "every trigger accounted for in {f:?}");
    }
    assert!(stdout(&o).contains("new_t2d_1y"), "{}", stdout(&o));

    // Baselines on two tasks, predictions in the meds-evaluation schema, then evaluation.
    let adapt = d.join("adapt");
    // `adapt` on this dataset and its labels, with `extra` options, into `out`.
    let run_adapt = |extra: &[&str], out: &Path| {
        let labels = labels.as_arg();
        let mut args = vec!["adapt", "--meds", meds, "--labels", labels];
        args.extend_from_slice(extra);
        args.extend(["--out", out.as_arg()]);
        longitude(&args)
    };
    let o = run_adapt(&["--only", "new_t2d_1y,hyperkalemia_next_lab", "--min-subjects", "5"], &adapt);
    assert!(o.status.success(), "{}", stderr(&o));
    for method in ["demographics_lr", "counts_lr", "counts_gbm"] {
        let p = adapt.join("hyperkalemia_next_lab").join(format!("{method}.parquet"));
        let checked: Value =
            serde_json::from_str(&testkit::run_python("check_meds.py", [meds, "--predictions", p.as_arg()]))
                .expect("json");
        assert!(checked["predictions"].as_u64().expect("n") > 0, "{method}: {checked}");
    }
    // A temporal split: every held-out prediction time is on or after the cutoff.
    let temporal = d.join("adapt-temporal");
    let o = run_adapt(
        &["--only", "hyperkalemia_next_lab", "--min-subjects", "5", "--split", "temporal:2018-01-01"],
        &temporal,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let held_out = meds::labels::read_boolean_predictions(&temporal.join("hyperkalemia_next_lab/counts_lr.parquet"))
        .expect("read");
    let cutoff = 1_514_764_800_000_000; // 2018-01-01
    assert!(!held_out.is_empty() && held_out.iter().all(|p| p.label.prediction_time >= cutoff));
    let o = run_adapt(&["--split", "site:north"], &temporal);
    assert_eq!(o.status.code(), Some(2), "a site split without a sites table is a clear error");
    assert!(stderr(&o).contains("--sites"), "{}", stderr(&o));
    let o =
        run_adapt(&["--only", "hyperkalemia_next_lab", "--fine-tune", "--fine-tune-tasks", "new_t2d_1y"], &temporal);
    assert_eq!(o.status.code(), Some(2), "fine-tuning a task the run leaves out is a clear error");
    assert!(stderr(&o).contains("--fine-tune-tasks names new_t2d_1y"), "{}", stderr(&o));

    let e = d.join("evaluation.json");
    let p = adapt.join("hyperkalemia_next_lab/counts_gbm.parquet");
    let o = longitude(&[
        "evaluate",
        "--predictions",
        p.as_arg(),
        "--meds",
        meds,
        "--resamples",
        "100",
        "--out",
        e.as_arg(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("AUROC"), "{}", stdout(&o));
    let e: Value = serde_json::from_slice(&std::fs::read(&e).expect("evaluation")).expect("json");
    let auroc = e["metrics"]["auroc"].as_f64().expect("auroc");
    assert!(auroc > 0.7, "potassium history predicts the next potassium: AUROC {auroc}");
    let attributes: Vec<&str> =
        e["fairness"].as_array().expect("fairness").iter().map(|a| a["attribute"].as_str().expect("name")).collect();
    assert_eq!(attributes, ["sex", "age_band", "race", "ethnicity"]);
    // The decision curve's useful range, printed, is where the saved curve beats both references.
    let useful: Vec<f64> = e["decision_curve"]
        .as_array()
        .expect("decision_curve")
        .iter()
        .filter(|d| {
            let (nb, all) = (d["net_benefit"].as_f64().expect("nb"), d["treat_all"].as_f64().expect("all"));
            nb > all.max(0.0) + 1e-9
        })
        .map(|d| d["threshold"].as_f64().expect("t"))
        .collect();
    let line = match (useful.first(), useful.last()) {
        (Some(lo), Some(hi)) => format!("at thresholds {:.1}%–{:.1}%", 100.0 * lo, 100.0 * hi),
        _ => "at no threshold".into(),
    };
    assert!(stdout(&o).contains(&format!("acting on all and on none {line}")), "{line}: {}", stdout(&o));

    // Against another method on the same labels: the difference of the two AUROCs, paired.
    let lr = adapt.join("hyperkalemia_next_lab/counts_lr.parquet");
    let paired = d.join("paired.json");
    let o = longitude(&[
        "evaluate",
        "--predictions",
        p.as_arg(),
        "--compare-with",
        lr.as_arg(),
        "--resamples",
        "100",
        "--out",
        paired.as_arg(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("paired with"), "{}", stdout(&o));
    let paired: Value = serde_json::from_slice(&std::fs::read(&paired).expect("paired")).expect("json");
    let lr_auroc = {
        let preds = meds::labels::read_boolean_predictions(&lr).expect("lr predictions");
        let p: Vec<f64> = preds.iter().map(|x| f64::from(x.probability)).collect();
        let y: Vec<bool> = preds.iter().map(|x| x.label.value).collect();
        eval::Ranked::new(&p, &y).metrics(None).auroc.expect("auroc")
    };
    let difference = paired["paired"]["difference"]["difference"].as_f64().expect("difference");
    assert!((difference - (auroc - lr_auroc)).abs() < 1e-9, "{difference} vs {auroc} - {lr_auroc}");
    assert_eq!(paired["paired"]["difference"]["rows"], paired["n"], "every held-out time is shared");
    // A baseline that cannot be read is a clear error naming it.
    let o = longitude(&["evaluate", "--predictions", p.as_arg(), "--compare-with", "/nonexistent.parquet"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("/nonexistent.parquet"), "{}", stderr(&o));

    // The fitted model travels: re-scoring the same labels with the saved task model gives
    // exactly the held-out predictions adapt wrote...
    let model = adapt.join("hyperkalemia_next_lab/counts_gbm.model.json");
    let rescored = d.join("rescored.parquet");
    let all_labels = labels.join("hyperkalemia_next_lab.parquet");
    let o = longitude(&[
        "evaluate",
        "--task-model",
        model.as_arg(),
        "--labels",
        all_labels.as_arg(),
        "--meds",
        meds,
        "--predictions",
        rescored.as_arg(),
        "--resamples",
        "20",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let again = probabilities(&rescored);
    let held_out = meds::labels::read_boolean_predictions(&p).expect("adapt's predictions");
    assert!(!held_out.is_empty());
    for h in &held_out {
        let r = again.get(&(h.label.subject_id, h.label.prediction_time)).expect("every held-out time re-scored");
        assert_eq!(*r, h.probability, "the saved model predicts what the fitted one did");
    }
    // ...and another site scores its own population with it (external validation, locally).
    let other = d.join("other");
    synth_meds(&other, "6");
    let other_meds = other.join("meds");
    let other_labels = other.join("labels");
    let o = longitude(&[
        "label",
        "--meds",
        other_meds.as_arg(),
        "--suite",
        "--only",
        "hyperkalemia_next_lab",
        "--out",
        other_labels.as_arg(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let external = d.join("external.json");
    let o = longitude(&[
        "evaluate",
        "--task-model",
        model.as_arg(),
        "--labels",
        other_labels.join("hyperkalemia_next_lab.parquet").as_arg(),
        "--meds",
        other_meds.as_arg(),
        "--resamples",
        "100",
        "--out",
        external.as_arg(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("scored"), "{}", stdout(&o));
    let e: Value = serde_json::from_slice(&std::fs::read(&external).expect("evaluation")).expect("json");
    let auroc = e["metrics"]["auroc"].as_f64().expect("auroc");
    assert!(auroc > 0.7, "the received model still ranks the other site's draws: AUROC {auroc}");
    // Recalibrating to a site needs enough of its outcomes: the other site's handful of
    // positives is refused with the reason, nothing written.
    let recalibrated = d.join("recalibrated.model.json");
    let o = longitude(&[
        "evaluate",
        "--task-model",
        model.as_arg(),
        "--labels",
        other_labels.join("hyperkalemia_next_lab.parquet").as_arg(),
        "--meds",
        other_meds.as_arg(),
        "--recalibrate-out",
        recalibrated.as_arg(),
    ]);
    let positives = e["metrics"]["positives"].as_f64().expect("positives");
    if positives < 10.0 {
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains("at least 10 of each class"), "{}", stderr(&o));
        assert!(!recalibrated.exists());
    } else {
        assert!(o.status.success() && recalibrated.exists(), "{}", stderr(&o));
        std::fs::remove_file(&recalibrated).expect("remove");
    }
    // With enough of them (here new T2D's labels at the first site, all splits, and its count
    // model), the written model carries the map (version 2), ranks exactly as before, and is
    // calibrated on the labels it was fitted on (the map is their maximum-likelihood slope and
    // intercept).
    let t2d_model = adapt.join("new_t2d_1y/counts_lr.model.json");
    let t2d_labels = labels.join("new_t2d_1y.parquet");
    let score_all = |model: &Path, out: &Path, extra: &[&str]| {
        let mut args = vec![
            "evaluate",
            "--task-model",
            model.as_arg(),
            "--labels",
            t2d_labels.as_arg(),
            "--meds",
            meds,
            "--resamples",
            "20",
            "--out",
            out.as_arg(),
        ];
        args.extend_from_slice(extra);
        let o = longitude(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        (stdout(&o), serde_json::from_slice::<Value>(&std::fs::read(out).expect("evaluation")).expect("json"))
    };
    let (said, before) = score_all(&t2d_model, &d.join("before.json"), &["--recalibrate-out", recalibrated.as_arg()]);
    assert!(said.contains("recalibrated to this site"), "{said}");
    let written: Value =
        serde_json::from_slice(&std::fs::read(&recalibrated).expect("recalibrated model")).expect("json");
    assert_eq!(written["version"], 2, "{}", written["site_recalibration"]);
    assert!(written["site_recalibration"]["map"]["slope"].as_f64().is_some_and(|a| a > 0.0));
    let (_, after) = score_all(&recalibrated, &d.join("after.json"), &[]);
    let metric = |e: &Value, k: &str| e["metrics"][k].as_f64().unwrap_or_else(|| panic!("{k}"));
    assert!((metric(&after, "auroc") - metric(&before, "auroc")).abs() < 1e-6, "a recalibration keeps the ranking");
    let (slope, intercept) = (metric(&after, "calibration_slope"), metric(&after, "calibration_intercept"));
    assert!((slope - 1.0).abs() < 0.02 && intercept.abs() < 0.05, "slope {slope}, intercept {intercept}");
    // A recalibrated model is not recalibrated again on top.
    let o = longitude(&[
        "evaluate",
        "--task-model",
        recalibrated.as_arg(),
        "--labels",
        t2d_labels.as_arg(),
        "--meds",
        meds,
        "--recalibrate-out",
        d.join("twice.model.json").as_arg(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("already carries"), "{}", stderr(&o));
    // Something that is not a task model is refused with a clear error, not a panic.
    let bogus = d.join("bogus.model.json");
    std::fs::write(&bogus, r#"{"format": "something-else"}"#).expect("write");
    let o = longitude(&["evaluate", "--task-model", bogus.as_arg(), "--labels", all_labels.as_arg(), "--meds", meds]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("not a task model"), "{}", stderr(&o));

    // The report: one self-contained page that a real browser renders without errors.
    let report = d.join("report");
    let o = longitude(&[
        "report",
        "--adapt",
        adapt.as_arg(),
        "--meds",
        meds,
        "--resamples",
        "50",
        "--out",
        report.as_arg(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let html = std::fs::read_to_string(report.join("report.html")).expect("report.html");
    for external in ["<script", "<link", "src=", "url(", "@import"] {
        assert!(!html.contains(external), "the report fetches nothing and runs nothing: found {external}");
    }
    // The validation targets are judged in the report; without a model, the probe's are not measured.
    let judged: Value =
        serde_json::from_slice(&std::fs::read(report.join("report.json")).expect("report.json")).expect("json");
    let targets = judged["targets"].as_array().expect("targets");
    assert_eq!(targets.len(), 5, "{targets:?}");
    assert_eq!(targets[0]["status"], "not_measured", "no probe in this run: {}", targets[0]);
    assert_eq!(targets[4]["status"], "met", "the subgroup audit is there: {}", targets[4]);
    assert!(html.contains("id=targets") && html.contains("not measured"));
    // Every method carries its decision curve: never above the prevalence (a perfect model's net
    // benefit), acting on everyone as the prevalence alone says; drawn on the page.
    let mut curves = 0;
    for t in judged["tasks"].as_array().expect("tasks") {
        for m in t["methods"].as_array().expect("methods") {
            let e = &m["evaluation"];
            let Some(prevalence) = e["metrics"]["prevalence"].as_f64() else { continue };
            for d in e["decision_curve"].as_array().expect("decision_curve") {
                let (at, nb, all) = (
                    d["threshold"].as_f64().expect("t"),
                    d["net_benefit"].as_f64().expect("nb"),
                    d["treat_all"].as_f64().expect("all"),
                );
                assert!(
                    nb <= prevalence + 1e-9,
                    "{} {}: net benefit {nb} above prevalence {prevalence}",
                    t["task"],
                    m["method"]
                );
                let expected = prevalence - (1.0 - prevalence) * at / (1.0 - at);
                assert!((all - expected).abs() < 1e-9, "{} at {at}: treat all {all} vs {expected}", t["task"]);
                curves += 1;
            }
        }
    }
    assert!(curves > 0, "decision curves in report.json");
    assert!(html.contains("Decision curve: net benefit") && html.contains(">treat none<"), "drawn on the page");
    let card: Value =
        serde_json::from_slice(&std::fs::read(report.join("model_card.json")).expect("card")).expect("json");
    let attributes = card["attributes"].as_array().expect("attributes");
    assert!(attributes.len() >= 30, "HTI-1 source attributes: {}", attributes.len());
    assert!(attributes.iter().any(|a| a["id"] == "7(i)"
        && a["value"].as_str().expect("v").contains("AUROC")
        && a["value"].as_str().expect("v").contains("net benefit above treating all and none")));
    let chai: Value =
        serde_json::from_slice(&std::fs::read(report.join("chai_model_card.json")).expect("chai")).expect("json");
    assert!(
        chai["key_metrics"]["usefulness_usability_efficacy"]
            .as_str()
            .expect("metrics")
            .contains("hyperkalemia_next_lab")
    );
    let page = format!("file://{}", report.join("report.html").display());
    let shot = d.join("report.png");
    let chrome = |extra: &[&str]| {
        Command::new("chromium")
            .args(["--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,2000"])
            .args(["--enable-logging=stderr", "--v=0"])
            .args(extra)
            .arg(&page)
            .output()
            .expect("chromium must be installed for the page tests (.ci/run installs it)")
    };
    let o = chrome(&[&format!("--screenshot={}", shot.display())]);
    assert!(o.status.success(), "{}", stderr(&o));
    let console: Vec<&str> =
        std::str::from_utf8(&o.stderr).unwrap_or("").lines().filter(|l| l.contains("CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:?}");
    let png = std::fs::read(&shot).expect("screenshot");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 50_000, "a rendered page, not a blank one: {} bytes", png.len());
    let dom = stdout(&chrome(&["--dump-dom"]));
    assert!(dom.matches("<svg").count() >= 8, "charts rendered into the DOM");
    assert!(dom.contains("Model card") && dom.contains("hyperkalemia_next_lab"));

    // A configuration we cannot label is a clear error naming the construct, exit code 2.
    let bad = d.join("bad.yaml");
    std::fs::write(&bad, "predicates:\n  a:\n    code: A\ntrigger: a\nwindows:\n  w:\n    start: trigger\n    end: start + 1 year\n    start_inclusive: True\n    end_inclusive: True\n    label: a\n    index_timestamp: start\n").expect("write");
    let o = longitude(&["label", "--meds", meds, "--task", bad.as_arg(), "--out", labels.as_arg()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("365 days") && stderr(&o).contains("bad.yaml"), "{}", stderr(&o));
    let o = longitude(&["label", "--meds", meds, "--suite", "--only", "nonsense", "--out", labels.as_arg()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("nonsense"), "{}", stderr(&o));
}

#[test]
fn evaluate_weights_a_case_control_sample_back_to_its_population() {
    use meds::labels::{BooleanLabel, BooleanPrediction};
    let dir = tempfile::tempdir().expect("tempdir");
    let task_dir = dir.path().join("adapt/mi_1y");
    std::fs::create_dir_all(&task_dir).expect("mkdir");
    // 20 positives and 80 negatives drawn from 20 positives and 1,600 negatives.
    let predictions: Vec<BooleanPrediction> = (0..100)
        .map(|i| BooleanPrediction {
            label: BooleanLabel { subject_id: i, prediction_time: 0, value: i < 20 },
            predicted_value: false,
            probability: if i < 20 { 0.02 + i as f32 / 1000.0 } else { 0.01 + (i % 20) as f32 / 1000.0 },
        })
        .collect();
    let file = task_dir.join("fm_zero_shot.parquet");
    meds::labels::write_boolean_predictions(&file, &predictions).expect("write");
    let design = artifacts::SampleDesign {
        population_positives: 20,
        population_negatives: 1600,
        sampled_positives: 20,
        sampled_negatives: 80,
    };
    let mut task = artifacts::TaskAdaptation {
        run: artifacts::adapt_report::RunSummary {
            examples: Default::default(),
            positives: Default::default(),
            features: 0,
            methods: Vec::new(),
        },
        labels_without_subject_or_split: 0,
        zero_shot: None,
        samples: Default::default(),
        train_samples: Default::default(),
        not_run: Default::default(),
        few_shot: Vec::new(),
    };
    task.samples.insert("fm_zero_shot".into(), design);
    let report = artifacts::AdaptReport {
        split: artifacts::adapt_report::SplitRecord { scheme: "subject".into(), description: "internal".into() },
        oracle: None,
        tasks: [("mi_1y".to_string(), task)].into(),
    };
    report.write(&dir.path().join("adapt")).expect("report");
    let evaluate = |path: &Path| {
        let out = dir.path().join("e.json");
        let o = longitude(&[
            "--quiet",
            "evaluate",
            "--predictions",
            path.as_arg(),
            "--resamples",
            "50",
            "--out",
            out.as_arg(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let e: Value = serde_json::from_slice(&std::fs::read(&out).expect("e.json")).expect("json");
        (e, stdout(&o))
    };
    let (weighted, said) = evaluate(&file);
    assert_eq!(weighted["weighted"], true, "{weighted}");
    assert!((weighted["metrics"]["n"].as_f64().expect("n") - 1_620.0).abs() < 1e-9);
    assert!((weighted["metrics"]["prevalence"].as_f64().expect("prevalence") - 20.0 / 1_620.0).abs() < 1e-9);
    assert!(said.contains("case-control sample"), "{said}");
    // The same file outside its adapt directory is evaluated as it is.
    let alone = dir.path().join("fm_zero_shot.parquet");
    std::fs::copy(&file, &alone).expect("copy");
    let (plain, _) = evaluate(&alone);
    assert_eq!(plain["weighted"], false);
    assert!((plain["metrics"]["prevalence"].as_f64().expect("prevalence") - 0.2).abs() < 1e-9);
    // AUROC does not depend on the weights (each class keeps its ranking).
    assert!(
        (plain["metrics"]["auroc"].as_f64().expect("a") - weighted["metrics"]["auroc"].as_f64().expect("b")).abs()
            < 1e-9
    );
}

#[test]
fn a_safe_list_removes_from_notes_what_no_pattern_knows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("fhir");
    std::fs::create_dir_all(&input).expect("mkdir");
    // "Seen with her daughter Zsuzsanna Quillfeather at 41 Orchard Ct. Metformin continued."
    let note = "U2VlbiB3aXRoIGhlciBkYXVnaHRlciBac3V6c2FubmEgUXVpbGxmZWF0aGVyIGF0IDQxIE9yY2hhcmQgQ3QuIE1ldGZvcm1pbiBjb250aW51ZWQu";
    std::fs::write(
        input.join("export.ndjson"),
        format!(
            "{}\n{}\n",
            r#"{"resourceType":"Patient","id":"p1","gender":"female","birthDate":"1950-02-03"}"#,
            format_args!(
                r#"{{"resourceType":"DocumentReference","id":"d1","subject":{{"reference":"Patient/p1"}},"type":{{"coding":[{{"system":"http://loinc.org","code":"11506-3"}}]}},"date":"2020-01-01T10:00:00Z","content":[{{"attachment":{{"contentType":"text/plain","data":"{note}"}}}}]}}"#
            )
        ),
    )
    .expect("write");
    let words = dir.path().join("words.txt");
    std::fs::write(&words, "seen\nwith\nher\ndaughter\nat\ncontinued\nmetformin\n").expect("write");
    let text_of = |out: &Path| -> String {
        let (_, timelines) = meds::Dataset::open(out.join("meds")).expect("open").read_all().expect("read");
        timelines.iter().flat_map(|t| t.events().filter_map(|e| e.text_value.map(str::to_owned))).collect()
    };
    let (i, p, s) = (input.as_arg(), dir.path().join("patterns"), dir.path().join("safe"));
    let o = run_keyed(&["--quiet", "ingest", "--input", i, "--out", p.as_arg()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let patterns = text_of(&p);
    let o = run_keyed(&["--quiet", "ingest", "--input", i, "--out", s.as_arg(), "--safe-words", words.as_arg()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let safe = text_of(&s);
    for gone in ["Zsuzsanna", "Quillfeather", "41", "Orchard"] {
        assert!(!patterns.contains(gone) && !safe.contains(gone), "{gone}: {patterns} / {safe}");
    }
    assert!(safe.contains("daughter") && safe.contains("Metformin continued"), "{safe}");
    // Logs that go to a file (not a terminal) carry no colour codes.
    let o = run_keyed(&["ingest", "--input", i, "--out", dir.path().join("logged").as_arg()]);
    assert!(o.status.success() && stderr(&o).contains("INFO"), "{}", stderr(&o));
    assert!(!stderr(&o).contains('\u{1b}'), "ANSI escapes in a redirected log: {:?}", stderr(&o));
    let report: ingest::IngestReport = outputs::artifact::read(&s.join("ingest_report.json")).expect("report");
    assert!(report.text_policy.starts_with("safe-list (7 words)"), "{}", report.text_policy);
    let report: ingest::IngestReport = outputs::artifact::read(&p.join("ingest_report.json")).expect("report");
    assert_eq!(report.text_policy, "patterns");
}
