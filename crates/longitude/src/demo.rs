//! `longitude demo`: the longest pipeline that exists today, end to end.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, bail};
use deid::{DateMode, Deidentifier, Key};
use meds::{DatasetMetadata, TimelineStore};
use synth::{OutputOptions, SynthConfig};

use crate::progress::Progress;

pub fn run(
    out: &Path,
    patients: usize,
    pretrain_steps: u64,
    deid_key_file: Option<&Path>,
    replace: crate::claim::Replace,
    progress: &Progress,
) -> Result<ExitCode> {
    // What an earlier demo wrote here is replaced; nothing else is touched.
    // A key given is read before anything is written: a mistyped path makes no folder.
    let given_key = deid_key_file.map(Key::from_file).transpose()?;
    let claimed = crate::claim::claim(out, "demo", &[], replace)?;
    tracing::info!(patients, out = %out.display(), "step 1/11: simulating a clinical population at 2 sites (MEDS, FHIR, truth)");
    let spinner = progress.bar("simulating", None, "");
    let summary = synth::generate(&SynthConfig::new(patients, 2, 42), out, &OutputOptions::default())?;
    spinner.finish_and_clear();
    outln!("{}", summary.prevalence.render());

    tracing::info!("step 2/11: ingesting the FHIR export and de-identifying it");
    // A demo key beside the outputs; a real deployment keeps its key elsewhere, under guard.
    let key = match given_key {
        Some(key) => key,
        None => Key::generate(&out.join("demo-deid.key"))?,
    };
    let deidentifier = Deidentifier::new(key, DateMode::Shift);
    let root = out.join("ingested").join("meds");
    let options = ingest::Options {
        metadata: DatasetMetadata { dataset_name: Some("longitude-demo".into()), ..Default::default() },
        ..ingest::Options::new(
            vec![out.join("fhir")],
            root.clone(),
            out.join("ingested-quarantine"),
            out.join("ingested-work"),
        )
    };
    let ingested = crate::steps::ingest(&options, &deidentifier, progress)?;
    if !ingested.reconciles {
        bail!("FHIR ingest counts do not reconcile");
    }
    let read: u64 = ingested.fhir.types.values().map(|c| c.read).sum();
    outln!(
        "ingested {read} FHIR resources → {} de-identified subjects, {} events ({} notes scrubbed, {} quarantined)\n",
        ingested.subjects,
        ingested.events,
        ingested.deidentification.texts,
        ingested.quarantined
    );

    tracing::info!("step 3/11: validating the de-identified MEDS against MEDS {}", meds::schema::MEDS_VERSION);
    let validation = meds::validate(&root);
    if !validation.is_valid() {
        for f in validation.errors() {
            eprintln!("error: {:?}: {}", f.file, f.message);
        }
        bail!("the demo dataset is not valid MEDS");
    }

    tracing::info!("step 4/11: describing it");
    let d = meds::describe(&root, 3)?;
    out!("{}", d.render(&root));

    tracing::info!("step 5/11: building the random-access timeline store");
    let dataset = meds::Dataset::open(&root)?;
    let store = TimelineStore::open_or_build(&dataset, &TimelineStore::default_path(&root))?;
    let first = store.subject_ids().next().unwrap_or_default();
    let events = store.get(first)?.map_or(0, |t| t.len());
    outln!(
        "\nsimulated {} patients / {} events (ground truth in {}); subject {first} has {events} events in the store.",
        summary.patients,
        summary.events,
        out.join("truth").display()
    );

    tracing::info!("step 6/11: fitting the tokenizer on the train split and tokenizing every split");
    let tokens = out.join("tokenized");
    let config = tokenizer::TokenizerConfig::default();
    crate::steps::tokenize(&root, &tokens, config, &[Some(&root)], Default::default(), progress)?;

    tracing::info!("step 7/11: pretraining the tiny foundation model (a short demonstration run)");
    let pretrained = out.join("pretrained");
    let plan = model::pretrain::PretrainPlan {
        tokens: tokens.clone(),
        preset: "tiny".into(),
        steps: pretrain_steps,
        batch_size: 8,
        accumulation: 1,
        seq_len: None,
        value_channel: false,
        lr: Some(3e-3),
        seed: 42,
        eval_every: None,
        checkpoint_every: None,
        resume: false,
    };
    crate::steps::pretrain(&plan, &pretrained, Default::default(), progress)?;
    // The tasks run on the simulator's own MEDS (not the re-keyed, date-shifted ingest output)
    // so that the oracle can replay each subject's hidden state at the same prediction times.
    let synth_meds = out.join("meds");
    tracing::info!("step 8/11: labelling the built-in clinical tasks (ACES)");
    let labels = out.join("labels");
    let suite = tasks::suite::all()?;
    crate::steps::label(&suite, &synth_meds, &labels, &[Some(&synth_meds)], Default::default())?;
    tracing::info!(
        "step 9/11: baselines, the model's probe and zero-shot risk, and the oracle on every task; fine-tuning on the chronic ones"
    );
    let adapt = out.join("adapt");
    let zero_shot = adapt::zero_shot::ZeroShotOptions {
        futures: 8,
        value_draws: 16,
        redraw_bins: true,
        horizon_days: 366,
        max_new_tokens: 128,
        temperature: 1.0,
        seed: 42,
        withheld_tokens: Vec::new(),
    };
    let internal = adapt::AdaptPlan {
        meds: synth_meds.clone(),
        labels: labels.clone(),
        only: Vec::new(),
        min_subjects: 20,
        seed: 42,
        truth: Some(out.join("truth")),
        // A quarter of `adapt`'s default: the demo's three settings are most of its oracle time,
        // and 256 futures already rank risks down to a few in a thousand.
        oracle: synth::oracle::Precision::adaptive(64, 256),
        // The tiny model was pretrained on the de-identified copy of the same population; its
        // tokenizer reads the simulator's codes unchanged, and it sees time only as intervals
        // and age, so the date shift does not matter.
        foundation: Some(adapt::FoundationPlan {
            model: pretrained.join("model"),
            probe: Some(adapt::ProbePlan {
                pooling: model::embedding::Pooling::LastMeanMax,
                train_max: 5_000,
                // Fine-tuning where the oracle target is judged; the probe stands for the rest.
                fine_tune: Some(adapt::FineTunePlan {
                    tasks: tasks::suite::CHRONIC.iter().map(|t| t.to_string()).collect(),
                    train_max: 400,
                    epochs: 1,
                    lr: 1e-4,
                }),
            }),
            zero_shot: Some(adapt::ZeroShotPlan { options: zero_shot, max_prediction_times: 150 }),
        }),
        few_shot: true,
        split: adapt::splits::SplitSpec::Subject,
        sites: None,
        predicates: None,
    };
    crate::steps::adapt(&internal, &adapt, Default::default())?;
    // Temporal and external (cross-site) validation of the baselines, for the same report.
    let mut settings = vec![adapt];
    for (split, dir) in [("temporal:2021-01-01", "adapt-temporal"), ("site:north", "adapt-site")] {
        let out_dir = out.join(dir);
        let plan = adapt::AdaptPlan { foundation: None, few_shot: false, split: split.parse()?, ..internal.clone() };
        crate::steps::adapt(&plan, &out_dir, Default::default())?;
        settings.push(out_dir);
    }
    tracing::info!("step 10/11: what if statins were withheld from the patients on them (the model and the truth)");
    let what_if = out.join("what-if/mi_1y_statin_withheld.json");
    let study = adapt::what_if::WhatIfPlan {
        meds: out.join("meds"),
        labels: labels.clone(),
        task: "mi_1y".into(),
        model: pretrained.join("model"),
        treatment: "RXNORM/83367".into(),
        change: artifacts::what_if::ChangeKind::Withhold,
        treated_by: Vec::new(),
        split: "all".into(),
        max: 60,
        futures: 8,
        days: 366,
        tokens: 128,
        seed: 42,
        truth: Some(out.join("truth")),
        oracle: synth::oracle::Precision::adaptive(64, 256),
        predicates: None,
        resamples: 1_000,
    };
    crate::steps::what_if(&study, Some(&what_if))?;
    tracing::info!("step 11/11: the validation report and model card (with the what-if beside the truth)");
    let report = out.join("report");
    let plan = report::ReportPlan {
        adapt: settings,
        sites: Some(out.join("truth/subjects.parquet")),
        truth: Some(out.join("truth")),
        meds: synth_meds,
        candidate: "counts_gbm".into(),
        resamples: 1_000,
        chronic: Vec::new(),
        what_if: vec![what_if],
        title: "Longitude validation report (demo, synthetic data)".into(),
    };
    crate::steps::report(&plan, &report, Default::default())?;
    outln!("open {} in a browser: the validation report and model card", report.join("report.html").display());
    outln!("next: `longitude meds describe {}` or `longitude meds show {} {first}`", root.display(), root.display());
    outln!("      `longitude pretrain --tokens {} --out DIR --config small` for a longer run", tokens.display());
    outln!("(the model registry and the server are not built yet)");
    claimed.finish()?;
    Ok(ExitCode::SUCCESS)
}
