//! `longitude demo`: the longest pipeline that exists today, end to end.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, bail};
use meds::{DatasetMetadata, DatasetWriter, TimelineStore, WriterOptions};

use crate::meds_cmd::render_description;
use crate::progress::Progress;
use crate::workload;

pub fn run(out: &Path, subjects: usize, progress: &Progress) -> Result<ExitCode> {
    let root = out.join("meds");
    if root.exists() {
        std::fs::remove_dir_all(&root)?;
    }
    tracing::info!(subjects, out = %root.display(), "step 1/4: writing a synthetic MEDS dataset");
    let codes = workload::code_table();
    let timelines = workload::subjects(&codes, 42, subjects, 300);
    let options = WriterOptions {
        metadata: DatasetMetadata {
            dataset_name: Some("longitude-demo".into()),
            dataset_version: Some("1".into()),
            etl_name: Some("longitude demo".into()),
            etl_version: Some(env!("CARGO_PKG_VERSION").into()),
            ..Default::default()
        },
        ..WriterOptions::default()
    };
    let bar = progress.bar("writing", Some(timelines.len() as u64), "subjects");
    let mut writer = DatasetWriter::create(&root, options)?;
    for (i, t) in timelines.iter().enumerate() {
        writer.write_subject(workload::split_of(i), t, &codes)?;
        bar.inc(1);
    }
    let written = writer.finish(&codes)?;
    bar.finish_and_clear();

    tracing::info!("step 2/4: validating it against MEDS {}", meds::schema::MEDS_VERSION);
    let report = meds::validate(&root);
    if !report.is_valid() {
        for f in report.errors() {
            eprintln!("error: {:?}: {}", f.file, f.message);
        }
        bail!("the demo dataset is not valid MEDS");
    }

    tracing::info!("step 3/4: describing it");
    let d = meds::describe(&root, 3)?;
    print!("{}", render_description(&root, &d));

    tracing::info!("step 4/4: building the random-access timeline store");
    let dataset = meds::Dataset::open(&root)?;
    let store = TimelineStore::open_or_build(&dataset, &TimelineStore::default_path(&root))?;
    let first = store.subject_ids().next().unwrap_or_default();
    let events = store.get(first)?.map_or(0, |t| t.len());
    println!(
        "\nwrote {} subjects / {} events in {} shards; subject {first} has {events} events in the store.",
        written.subjects,
        written.events,
        written.shards.len()
    );
    println!("next: `longitude meds describe {}` or `longitude meds show {} {first}`", root.display(), root.display());
    println!(
        "(synthetic clinical population, FHIR ingest, pretraining, validation report and the server are not built yet)"
    );
    Ok(ExitCode::SUCCESS)
}
