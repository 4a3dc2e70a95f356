//! The registry on SQLite and on PostgreSQL: a signed release moves through its lifecycle only as
//! the lifecycle, the policy's gates and the approval rule allow; every step is in the history
//! and in the audit log, which verifies.

use std::path::{Path, PathBuf};

use audit::AuditLog;
use model::pretrain::PretrainConfig;
use model::{Cpu, Model, ModelConfig};
use registry::{Mode, Person, Policy, Registry, RegistryError};
use signing::SignerKey;
use store::Database;
use synth::{SynthConfig, simulate_patient, vocab};
use tokenizer::{Tokenizer, TokenizerConfig};

const PASSING: &str = "name: t2d-screening
version: 3
tasks: [new_t2d_1y]
gates:
  auroc_lower_bound: 0.75
  not_behind: counts_gbm
  calibration_slope: [0.8, 1.25]
  subgroup_ratios: [0.8, 1.25]
  external_drop: 0.10
approval:
  two_person: true
  roles: [clinical-safety-officer]
";

const STRICT: &str = "name: t2d-screening-strict
version: 1
tasks: [new_t2d_1y]
gates:
  auroc_lower_bound: 0.85
  subgroup_ratios: [0.9, 1.1]
  external_drop: 0.02
  what_if_agrees: true
";

fn person(name: &str, role: &str) -> Person {
    Person { name: name.into(), role: role.into() }
}

/// A tiny pretrained bundle, task model folder, report folder and MEDS metadata; assembled into
/// a release at `dir/<name>` by `owner` and signed with `key`.
fn release(dir: &Path, name: &str, owner: &str, key: &SignerKey) -> PathBuf {
    let model_dir = dir.join("pretrained");
    if !model_dir.exists() {
        let codes = vocab::code_table();
        let config = SynthConfig::new(30, 2, 8);
        let timelines: Vec<_> = (0..30).map(|i| simulate_patient(&config, &codes, i).timeline).collect();
        let tokenizer = Tokenizer::fit(&timelines, &codes, TokenizerConfig::default()).expect("fit");
        let pretrain = PretrainConfig::for_model(ModelConfig::tiny(tokenizer.len()), 1);
        let model: Model<Cpu> = pretrain.model.init(&Default::default());
        let weights = dir.join("checkpoint.safetensors");
        model::weights::save(&model, &pretrain.model, &weights).expect("save");
        model::bundle::write(&model_dir, &weights, &tokenizer, &pretrain).expect("bundle");
        let task = dir.join("adapted/new_t2d_1y");
        std::fs::create_dir_all(&task).expect("mkdir");
        std::fs::write(task.join("fm_probe.model.json"), "{\"format\":\"longitude-task-model\"}").expect("task model");
        std::fs::write(task.join("fm_probe.parquet"), "predictions stay home").expect("predictions");
        let report = dir.join("report");
        std::fs::create_dir_all(&report).expect("mkdir");
        std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/report.json"), report.join("report.json"))
            .expect("report");
        std::fs::write(report.join("model_card.json"), "{}").expect("card");
        let meds = dir.join("meds");
        meds::metadata::DatasetMetadata { dataset_name: Some("synthetic".into()), ..Default::default() }
            .write(&meds)
            .expect("dataset.json");
        let splits: Vec<(i64, String)> =
            (0..30).map(|i| (i, if i < 24 { "train" } else { "held_out" }.to_string())).collect();
        meds::metadata::write_subject_splits(&meds, &splits).expect("splits");
    }
    let out = dir.join(name);
    let plan = provenance::release::ReleasePlan {
        model: model_dir,
        adapted: dir.join("adapted"),
        report: dir.join("report"),
        dataset: dir.join("meds"),
        owner: owner.into(),
        out: out.clone(),
    };
    provenance::release::assemble(&plan).expect("assemble");
    provenance::sign(&out, key).expect("sign");
    out
}

async fn lifecycle(location: &str) {
    let dir = tempfile::tempdir().expect("dir");
    let key = SignerKey::generate("hospital.example", &dir.path().join("owner.key")).expect("key");
    let trusted = [key.verifier()];
    let one = release(dir.path(), "release-1", "Example Health", &key);
    let manifest = model::bundle::Bundle::open(&one).expect("open").manifest().clone();
    let data = &manifest.release.as_ref().expect("a release").training_data;
    assert_eq!((data.subjects, data.splits["train"].subjects, data.splits["held_out"].subjects), (30, 24, 6));
    assert!(manifest.files.contains_key("tasks/new_t2d_1y/fm_probe.model.json"));
    assert!(!manifest.files.keys().any(|f| f.ends_with(".parquet")), "no patient-level predictions in a release");
    // A release refused leaves nothing behind: no task models, or written inside an input.
    let plan = |adapted: &str, out: PathBuf| provenance::release::ReleasePlan {
        model: dir.path().join("pretrained"),
        adapted: dir.path().join(adapted),
        report: dir.path().join("report"),
        dataset: dir.path().join("meds"),
        owner: "Example Health".into(),
        out,
    };
    let empty = dir.path().join("release-empty");
    let err = provenance::release::assemble(&plan("report", empty.clone())).expect_err("no task models");
    assert!(err.to_string().contains("holds no task models"), "{err}");
    assert!(!empty.exists());
    let inside = dir.path().join("pretrained/release");
    assert!(provenance::release::assemble(&plan("adapted", inside.clone())).is_err());
    assert!(!inside.exists());

    let db = Database::open(location).await.expect("open");
    let log = AuditLog::new(db, "audit.hospital.example/longitude");
    let registry = Registry::new(log.clone());
    let (alice, bob, carol) = (
        person("alice", "data-scientist"),
        person("bob", "data-scientist"),
        person("carol", "clinical-safety-officer"),
    );
    let verified = provenance::verify(&one, &trusted).expect("verified");
    let v1 = registry.register(&verified, one.to_str().expect("utf-8"), "t2d-risk", &alice).await.expect("register");
    assert_eq!((v1.id.as_str(), v1.state.as_str(), v1.owner.as_str()), ("t2d-risk@1", "registered", "Example Health"));
    let again = registry.register(&verified, "elsewhere", "t2d-risk", &bob).await.expect_err("twice");
    assert!(again.to_string().contains("already registered as t2d-risk@1"), "{again}");

    let early = registry.approve("t2d-risk@1", &carol, "looks good").await.expect_err("not yet validated");
    assert_eq!(
        early.to_string(),
        "cannot approve t2d-risk@1: it is registered; from registered the lifecycle allows validate, retire"
    );

    let (strict, strict_sha) = Policy::parse(STRICT).expect("policy");
    let failed = registry.validate("t2d-risk@1", &verified, &strict, &strict_sha, &alice).await.expect("evaluated");
    assert!(!failed.passed);
    let why: Vec<String> =
        failed.gates.iter().filter(|g| !g.passed).map(|g| format!("{} {}: {}", g.task, g.gate, g.detail)).collect();
    assert_eq!(
        why,
        [
            "new_t2d_1y auroc_lower_bound: 0.801 < 0.850: short by 0.049",
            "new_t2d_1y subgroup_ratios: sex M fpr = 1.19: outside by 0.09 (the worst of 14)",
            "new_t2d_1y external_drop: 0.846 internal, 0.801 external: drop +0.045, over by 0.025",
            "new_t2d_1y what_if_agrees: not for treatment decisions: opposite to the truth on 1 (withhold RXNORM/6809: \
             model RR 0.62, true RR 1.35)",
        ]
    );
    assert_eq!(registry.version("t2d-risk@1").await.expect("v").state, "registered");

    let (policy, policy_sha) = Policy::parse(PASSING).expect("policy");
    let passed = registry.validate("t2d-risk@1", &verified, &policy, &policy_sha, &alice).await.expect("evaluated");
    assert!(passed.passed, "{:?}", passed.gates);
    assert_eq!(passed.gates.len(), 5);

    for (who, reason, refusal) in [
        (&carol, " ", "an approval needs a reason"),
        (&person("", "clinical-safety-officer"), "ok", "needs the name and role"),
        (&alice, "ready", "alice registered t2d-risk@1 and may not also approve it"),
        (&bob, "ready", "the role data-scientist may not approve under the policy t2d-screening v3"),
    ] {
        let err = registry.approve("t2d-risk@1", who, reason).await.expect_err("refused");
        assert!(err.to_string().contains(refusal), "{err}");
    }
    let approved = registry.approve("t2d-risk@1", &carol, "gates passed; reviewed the card").await.expect("approve");
    assert_eq!(approved.state, "approved");
    registry.deploy("t2d-risk@1", "north", Mode::Active, &carol, "go-live").await.expect("deploy");
    let twice = registry.deploy("t2d-risk@1", "north", Mode::Active, &carol, "again").await.expect_err("twice");
    assert!(twice.to_string().contains("already deployed at north"), "{twice}");

    // A second release beside the first: not active where the first answers, but in shadow.
    let two = release(dir.path(), "release-2", "Example Health System", &key);
    let verified2 = provenance::verify(&two, &trusted).expect("verified");
    registry.register(&verified2, two.to_str().expect("utf-8"), "t2d-risk", &bob).await.expect("v2");
    let wrong = registry.validate("t2d-risk@2", &verified, &policy, &policy_sha, &bob).await.expect_err("v1's bundle");
    assert!(matches!(wrong, RegistryError::BundleChanged { .. }), "{wrong}");
    registry.validate("t2d-risk@2", &verified2, &policy, &policy_sha, &bob).await.expect("validated");
    registry.approve("t2d-risk@2", &carol, "shadow first").await.expect("approved");
    let clash = registry.deploy("t2d-risk@2", "north", Mode::Active, &carol, "switch").await.expect_err("clash");
    assert!(clash.to_string().contains("t2d-risk@1 already answers at north"), "{clash}");
    registry.deploy("t2d-risk@2", "north", Mode::Shadow, &carol, "shadow beside v1").await.expect("shadow");
    let here: Vec<(String, String)> =
        registry.deployments(Some("north")).await.expect("list").into_iter().map(|d| (d.version_id, d.mode)).collect();
    assert_eq!(here, [("t2d-risk@1".into(), "active".into()), ("t2d-risk@2".into(), "shadow".into())]);

    registry.retire("t2d-risk@1", &carol, "replaced by v2").await.expect("retire");
    let dead = registry.deploy("t2d-risk@1", "south", Mode::Active, &carol, "revive").await.expect_err("final");
    assert!(dead.to_string().ends_with("from retired the lifecycle allows nothing: retired is final"), "{dead}");
    assert_eq!(registry.deployments(None).await.expect("list").len(), 1);

    let history = registry.history("t2d-risk@1").await.expect("history");
    let steps: Vec<(&str, &str, &str, &str)> =
        history.iter().map(|t| (t.action.as_str(), t.from.as_str(), t.to.as_str(), t.actor.as_str())).collect();
    assert_eq!(
        steps,
        [
            ("register", "none", "registered", "alice"),
            ("validate", "registered", "validated", "alice"),
            ("approve", "validated", "approved", "carol"),
            ("deploy", "approved", "deployed", "carol"),
            ("retire", "deployed", "retired", "carol"),
        ]
    );
    assert!(history[1].detail.contains(&policy_sha), "the policy's hash is recorded with the decision");
    assert_eq!(history[2].reason, "gates passed; reviewed the card");

    // Every step, and every refusal and failed validation, is in the audit log, which verifies.
    let verified_log = log.verify(&[], &[]).await.expect("the audit log verifies");
    assert_eq!(verified_log.records, 5 + 4 + 1 + 6, "5 steps of v1, 4 of v2, the failed validation, 6 refusals");
}

#[tokio::test]
async fn the_lifecycle_on_sqlite() {
    let dir = tempfile::tempdir().expect("dir");
    lifecycle(dir.path().join("registry.db").to_str().expect("utf-8")).await;
}

#[tokio::test]
async fn the_lifecycle_on_postgres() {
    let pg = testkit::Postgres::start();
    lifecycle(&pg.url()).await;
}
