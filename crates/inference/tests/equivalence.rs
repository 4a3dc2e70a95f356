//! A patient scored at the bedside from a FHIR request gets exactly the risk the same model gives
//! the same patient in the batch pipeline's de-identified dataset.

use std::collections::BTreeMap;
use std::path::PathBuf;

use adapt::featurizers::{Featurizer, SparseRow};
use adapt::logistic::Logistic;
use adapt::scorer::{Fitting, TaskModel};
use deid::{DateMode, Deidentifier, Key};
use meds::labels::BooleanLabel;
use synth::{Formats, OutputOptions, SynthConfig};

fn deidentifier() -> Deidentifier {
    Deidentifier::new(Key::from_bytes(&[5u8; 40]).expect("key"), DateMode::Shift)
}

#[test]
fn the_bedside_risk_is_the_batch_risk() {
    let dir = tempfile::tempdir().expect("dir");
    let options = OutputOptions {
        formats: Formats { meds: false, fhir_ndjson: false, fhir_bundles: true },
        created_at: Some("2026-01-01T00:00:00Z".into()),
        progress: None,
    };
    synth::generate(&SynthConfig::new(30, 2, 5), dir.path(), &options).expect("synth");
    let bundles = dir.path().join("fhir/bundles");
    let out = dir.path().join("out");
    let ingest_options =
        ingest::Options::new(vec![bundles.clone()], out.join("meds"), out.join("quarantine"), out.join("work"));
    ingest::run(&ingest_options, &deidentifier(), &|_| {}).expect("ingest");

    // A count-feature model fitted on the de-identified dataset, as `adapt` fits its baselines.
    let (codes, timelines) = meds::Dataset::open(out.join("meds")).expect("open").read_all().expect("read");
    let refs: Vec<&meds::Timeline> = timelines.iter().collect();
    let featurizer = Featurizer::fit(&refs, &codes, 2);
    let labels: Vec<BooleanLabel> = timelines
        .iter()
        .filter_map(|t| {
            let last = t.events().filter_map(|e| e.time).max()?;
            Some(BooleanLabel { subject_id: t.subject_id, prediction_time: last, value: t.len() % 3 == 0 })
        })
        .collect();
    let rows: Vec<SparseRow> = timelines
        .iter()
        .zip(&labels)
        .flat_map(|(t, l)| featurizer.featurize(t, &codes, &[l.prediction_time]))
        .collect();
    let row_refs: Vec<&SparseRow> = rows.iter().collect();
    let y: Vec<bool> = labels.iter().map(|l| l.value).collect();
    let logistic = Logistic::fit(&row_refs, &y, featurizer.width(), 1.0);
    let model =
        TaskModel::new("long_history", "counts_lr", Fitting::Logistic { featurizer, columns: None, model: logistic });

    let (batch, missing) = model.score(&refs, &codes, &labels, None).expect("batch");
    assert_eq!(missing, 0);
    let batch: BTreeMap<i64, (i64, f32)> =
        batch.iter().map(|p| (p.label.subject_id, (p.label.prediction_time, p.probability))).collect();
    let spread = batch.values().map(|(_, p)| *p).fold((1.0f32, 0.0f32), |(lo, hi), p| (lo.min(p), hi.max(p)));
    assert!(spread.1 - spread.0 > 0.05, "the model tells patients apart: {spread:?}");

    // The same model, carried in a release: from_release finds it and scores alike.
    let release = release_with(dir.path(), &model, &out.join("meds"));
    let from_release = inference::Predictor::from_release(&release, &["long_history"], "counts_lr").expect("release");
    let missing = inference::Predictor::from_release(&release, &["no_such_task"], "counts_lr").expect_err("no model");
    assert_eq!(
        missing.to_string(),
        "the release has no counts_lr model for no_such_task (tasks/no_such_task/counts_lr.model.json)"
    );
    let predictor = inference::Predictor::new(vec![model], None).expect("predictor");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&bundles).expect("dir").map(|e| e.expect("entry").path()).collect();
    files.sort();
    assert_eq!(files.len(), 30);
    for file in files {
        let text = std::fs::read_to_string(&file).expect("bundle");
        let request = ingest::read_request(&text, &deidentifier()).expect("request");
        let predictions = predictor.predict(&request).expect("predict");
        assert_eq!(from_release.predict(&request).expect("predict"), predictions);
        assert!(predictions.unscored.is_empty());
        assert_eq!(predictions.risks.len(), 1);
        let risk = &predictions.risks[0];
        let (as_of, probability) = batch[&risk.subject_id];
        assert_eq!(risk.as_of, as_of, "as of the same (shifted) time");
        assert_eq!(risk.probability, f64::from(probability), "subject {}", risk.subject_id);
        assert_eq!((risk.task.as_str(), risk.method.as_str()), ("long_history", "counts_lr"));
    }

    // Batch scoring's call gives every bedside risk...
    let many = predictor.score_many(&refs, &codes, None, &[]).expect("many");
    let many: BTreeMap<i64, (i64, f32)> =
        many.risks.iter().map(|r| (r.subject_id, (r.as_of, r.probability as f32))).collect();
    assert_eq!(many, batch);
    // ...and, at a time, reads nothing after it: each patient as of their last event by then.
    let mut times: Vec<i64> = batch.values().map(|(t, _)| *t).collect();
    times.sort();
    let at = times[times.len() / 2];
    let earlier: Vec<BooleanLabel> = timelines
        .iter()
        .filter_map(|t| {
            let time = inference::scoring_time(t, &codes, Some(at))?;
            assert!(time <= at);
            Some(BooleanLabel { subject_id: t.subject_id, prediction_time: time, value: false })
        })
        .collect();
    let (expected, _) = predictor.models()[0].score(&refs, &codes, &earlier, None).expect("score");
    let then = predictor.score_many(&refs, &codes, Some(at), &[]).expect("many");
    assert_eq!(then.risks.len(), expected.len());
    assert_eq!(then.risks.len() + then.unscored.len(), timelines.len());
    for (r, e) in then.risks.iter().zip(&expected) {
        assert_eq!(
            (r.subject_id, r.as_of, r.probability as f32),
            (e.label.subject_id, e.label.prediction_time, e.probability)
        );
    }
    assert!(then.unscored.iter().all(|u| u.reason == inference::NO_HISTORY_YET));
}

#[test]
fn a_predictor_refuses_a_probe_without_its_foundation_model() {
    let rows = [vec![(0u32, 1.0f32)], vec![(1, 1.0)]];
    let refs: Vec<&SparseRow> = rows.iter().collect();
    let probe = TaskModel::new(
        "t",
        "fm_probe",
        Fitting::Probe { model: Logistic::fit(&refs, &[true, false], 2, 1.0), pooling: Default::default() },
    );
    let err = inference::Predictor::new(vec![probe], None).expect_err("no foundation");
    assert!(err.to_string().contains("give the model bundle"), "{err}");
}

/// A release (an untrained tiny foundation model, `model` as the task's only model, a report
/// folder, the dataset's fingerprint) assembled in `dir/release`.
fn release_with(dir: &std::path::Path, model: &TaskModel, dataset: &std::path::Path) -> PathBuf {
    let codes = synth::vocab::code_table();
    let config = SynthConfig::new(20, 2, 3);
    let timelines: Vec<meds::Timeline> =
        (0..20).map(|i| synth::simulate_patient(&config, &codes, i).timeline).collect();
    let tokenizer = tokenizer::Tokenizer::fit(&timelines, &codes, tokenizer::TokenizerConfig::default()).expect("fit");
    let pretrain = model::pretrain::PretrainConfig::for_model(model::ModelConfig::tiny(tokenizer.len()), 1);
    let untrained: model::Model<model::Cpu> = pretrain.model.init(&Default::default());
    let weights = dir.join("checkpoint.safetensors");
    model::weights::save(&untrained, &pretrain.model, &weights).expect("save");
    model::bundle::write(&dir.join("pretrained"), &weights, &tokenizer, &pretrain).expect("bundle");
    let task = dir.join("adapted/long_history");
    std::fs::create_dir_all(&task).expect("mkdir");
    model.save(&task.join("counts_lr.model.json")).expect("task model");
    let report = dir.join("report");
    std::fs::create_dir_all(&report).expect("mkdir");
    std::fs::write(report.join("report.json"), "{}").expect("report");
    std::fs::write(report.join("model_card.json"), "{}").expect("card");
    let plan = provenance::release::ReleasePlan {
        model: dir.join("pretrained"),
        adapted: dir.join("adapted"),
        report,
        dataset: dataset.to_path_buf(),
        owner: "Example Health".into(),
        out: dir.join("release"),
    };
    provenance::release::assemble(&plan).expect("assemble");
    plan.out
}
