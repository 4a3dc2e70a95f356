//! `longitude demo`: the longest pipeline that exists today, end to end.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, bail};
use meds::TimelineStore;
use synth::{OutputOptions, SynthConfig};

use crate::meds_cmd::render_description;
use crate::progress::Progress;

pub fn run(out: &Path, patients: usize, progress: &Progress) -> Result<ExitCode> {
    for dir in ["meds", "truth"] {
        let path = out.join(dir);
        if path.exists() {
            std::fs::remove_dir_all(&path)?;
        }
    }
    let root = out.join("meds");
    tracing::info!(patients, out = %out.display(), "step 1/4: simulating a clinical population (2 sites)");
    let spinner = progress.bar("simulating", None, "");
    let summary = synth::generate(&SynthConfig::new(patients, 2, 42), out, &OutputOptions::default())?;
    spinner.finish_and_clear();
    outln!("{}", summary.prevalence.render());

    tracing::info!("step 2/4: validating the MEDS output against MEDS {}", meds::schema::MEDS_VERSION);
    let report = meds::validate(&root);
    if !report.is_valid() {
        for f in report.errors() {
            eprintln!("error: {:?}: {}", f.file, f.message);
        }
        bail!("the demo dataset is not valid MEDS");
    }

    tracing::info!("step 3/4: describing it");
    let d = meds::describe(&root, 3)?;
    out!("{}", render_description(&root, &d));

    tracing::info!("step 4/4: building the random-access timeline store");
    let dataset = meds::Dataset::open(&root)?;
    let store = TimelineStore::open_or_build(&dataset, &TimelineStore::default_path(&root))?;
    let first = store.subject_ids().next().unwrap_or_default();
    let events = store.get(first)?.map_or(0, |t| t.len());
    outln!(
        "\nsimulated {} patients / {} events; ground truth in {}; subject {first} has {events} events in the store.",
        summary.patients,
        summary.events,
        out.join("truth").display()
    );
    outln!("next: `longitude meds describe {}` or `longitude meds show {} {first}`", root.display(), root.display());
    outln!("(FHIR output and ingest, pretraining, the validation report and the server are not built yet)");
    Ok(ExitCode::SUCCESS)
}
