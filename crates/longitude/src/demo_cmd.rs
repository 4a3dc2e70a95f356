//! `longitude demo`: the longest pipeline that exists today, end to end, as the `demo` crate
//! plans it.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, bail};
use deid::{DateMode, Deidentifier, Key};
use demo::Demo;
use meds::TimelineStore;
use synth::OutputOptions;

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
    let demo = Demo::new(out, patients, pretrain_steps);
    let claimed = crate::claim::claim(out, "demo", &[], replace)?;
    tracing::info!(patients, out = %out.display(), "step 1/11: simulating a clinical population at 2 sites (MEDS, FHIR, truth)");
    let spinner = progress.bar("simulating", None, "");
    let summary = synth::generate(&demo.synth, out, &OutputOptions::default())?;
    spinner.finish_and_clear();
    outln!("{}", summary.prevalence.render());

    tracing::info!("step 2/11: ingesting the FHIR export and de-identifying it");
    // A demo key beside the outputs; a real deployment keeps its key elsewhere, under guard.
    let key = match given_key {
        Some(key) => key,
        None => Key::generate(&out.join("demo-deid.key"))?,
    };
    let ingested = crate::steps::ingest(&demo.ingest, &Deidentifier::new(key, DateMode::Shift), progress)?;
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

    let root = &demo.ingest.out;
    tracing::info!("step 3/11: validating the de-identified MEDS against MEDS {}", meds::schema::MEDS_VERSION);
    let validation = meds::validate(root);
    if !validation.is_valid() {
        eprintln!("{validation}");
        bail!("the demo dataset is not valid MEDS");
    }
    tracing::info!("step 4/11: describing it");
    out!("{}", meds::describe(root, 3)?.render(root));
    tracing::info!("step 5/11: building the random-access timeline store");
    let store = TimelineStore::open_or_build(&meds::Dataset::open(root)?, &TimelineStore::default_path(root))?;
    let first = store.subject_ids().next().unwrap_or_default();
    let events = store.get(first)?.map_or(0, |t| t.len());
    outln!(
        "\nsimulated {} patients / {} events (ground truth in {}); subject {first} has {events} events in the store.",
        summary.patients,
        summary.events,
        demo.truth().display()
    );

    tracing::info!("step 6/11: fitting the tokenizer on the train split and tokenizing every split");
    let config = tokenizer::TokenizerConfig::default();
    crate::steps::tokenize(root, &demo.tokens, config, &[root], Default::default(), progress)?;
    tracing::info!("step 7/11: pretraining the tiny foundation model (a short demonstration run)");
    crate::steps::pretrain(&demo.pretrain, &demo.pretrained(), Default::default(), progress)?;
    tracing::info!("step 8/11: labelling the built-in clinical tasks (ACES)");
    let meds = demo.meds();
    crate::steps::label(&tasks::suite::all()?, &meds, &demo.labels, &[&meds], Default::default())?;
    tracing::info!(
        "step 9/11: baselines, the model's probe and zero-shot risk, and the oracle on every task; fine-tuning on the chronic ones; then temporal and external validation"
    );
    for (plan, dir) in &demo.adapt {
        crate::steps::adapt(plan, dir, Default::default())?;
    }
    tracing::info!("step 10/11: what if statins were withheld from the patients on them (the model and the truth)");
    let (study, answer) = &demo.what_if;
    crate::steps::what_if(study, Some(answer))?;
    tracing::info!("step 11/11: the validation report and model card (with the what-if beside the truth)");
    let (plan, report) = &demo.report;
    crate::steps::report(plan, report, Default::default())?;
    outln!("open {} in a browser: the validation report and model card", report.join("report.html").display());
    outln!("next: `longitude meds describe {}` or `longitude meds show {} {first}`", root.display(), root.display());
    outln!("      `longitude pretrain --tokens {} --out DIR --config small` for a longer run", demo.tokens.display());
    outln!("(the model registry and the server are not built yet)");
    claimed.finish()?;
    Ok(ExitCode::SUCCESS)
}
