//! `longitude bench score`: batch scoring's speed — patients per second, and per core — for
//! each method a demo's release can score, at each thread count asked for.
//!
//! From a demo's outputs (`longitude demo --out DIR`) a release is assembled and deployed for
//! each method as `bench serve` does; then the demo's MEDS dataset (the one its models were
//! fitted on) is scored whole, end to end as `longitude score` runs: every shard read and
//! hashed, every patient scored for every task, the predictions written and each shard audited.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};

/// The benchmark's settings.
#[derive(Debug, Clone)]
pub struct ScoreBench {
    /// The demo's output directory.
    pub demo: PathBuf,
    /// The methods to score with, one run each per thread count.
    pub methods: Vec<String>,
    /// Thread counts (the rayon pool's size).
    pub threads: Vec<usize>,
    /// Also write the results as JSON here.
    pub json: Option<PathBuf>,
}

/// One run's figures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ScoreRun {
    /// The method.
    pub method: String,
    /// Threads scoring.
    pub threads: usize,
    /// Tasks scored per patient.
    pub tasks: usize,
    /// Patients read.
    pub patients: u64,
    /// Patients scored.
    pub scored: u64,
    /// Wall time, seconds.
    pub seconds: f64,
    /// Patients read per second.
    pub patients_per_s: f64,
    /// Patients per second per thread.
    pub patients_per_s_per_core: f64,
    /// Risks (patients scored × tasks) per second.
    pub risks_per_s: f64,
    /// Audit records written (one per shard).
    pub audited: u64,
}

/// Runs the benchmark and prints its table.
pub fn run(bench: &ScoreBench) -> Result<()> {
    if bench.threads.contains(&0) {
        bail!("--threads must be at least 1");
    }
    let data = bench.demo.join("meds");
    let shards = meds::Dataset::open(&data).with_context(|| format!("the demo's dataset {}", data.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let mut runs = Vec::new();
    for method in &bench.methods {
        let dir = tempfile::tempdir()?;
        let deployed = runtime.block_on(crate::serve::deploy(&bench.demo, dir.path(), method))?;
        let registry = registry::Registry::new(deployed.log.clone());
        let versions = runtime.block_on(batch::deployed_at(&registry, "bench", &[deployed.owner.verifier()]))?;
        // One version per run: `scored` counts its patients, each scored for every task.
        let tasks = versions.iter().map(|v| v.tasks.len()).sum::<usize>();
        for &threads in &bench.threads {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
            let plan = batch::Plan {
                data: data.clone(),
                out: dir.path().join(format!("scores-{threads}")),
                site: "bench".into(),
                at: None,
                active_since: None,
                share: batch::Share::ALL,
                tenant: "bench".into(),
                client: "bench".into(),
            };
            let before = runtime.block_on(deployed.log.size())?;
            let started = Instant::now();
            let scored = pool.install(|| runtime.block_on(batch::score(&plan, &versions, &deployed.log, &|_| {})))?;
            let seconds = started.elapsed().as_secs_f64();
            let audited = runtime.block_on(deployed.log.size())? - before;
            runs.push(ScoreRun {
                method: method.clone(),
                threads,
                tasks,
                patients: scored.patients,
                scored: scored.scored,
                seconds,
                patients_per_s: scored.patients as f64 / seconds,
                patients_per_s_per_core: scored.patients as f64 / seconds / threads as f64,
                risks_per_s: (scored.scored as usize * tasks) as f64 / seconds,
                audited,
            });
        }
    }
    println!("{} shard(s) of {}", shards.shards().len(), data.display());
    println!(
        "{:<12} {:>7} {:>6} {:>9} {:>9} {:>9} {:>11} {:>14} {:>10} {:>8}",
        "method",
        "threads",
        "tasks",
        "patients",
        "scored",
        "seconds",
        "patients/s",
        "patients/s/core",
        "risks/s",
        "audited"
    );
    for r in &runs {
        println!(
            "{:<12} {:>7} {:>6} {:>9} {:>9} {:>9.2} {:>11.1} {:>14.1} {:>10.1} {:>8}",
            r.method,
            r.threads,
            r.tasks,
            r.patients,
            r.scored,
            r.seconds,
            r.patients_per_s,
            r.patients_per_s_per_core,
            r.risks_per_s,
            r.audited
        );
    }
    if let Some(path) = &bench.json {
        std::fs::write(path, serde_json::to_string_pretty(&runs)?).with_context(|| path.display().to_string())?;
    }
    Ok(())
}
