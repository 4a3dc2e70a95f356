//! `longitude bench …`: benchmarks of the hot paths, printed as tables.
//!
//! Each subcommand of [`BenchCommand`] times one hot path and prints a markdown table (the
//! figures in docs/benchmarks/). The Python sides (meds_reader, the de-identification tools, the
//! PyTorch reference model) live in this crate's `python/` folder and are embedded at build time,
//! so `longitude bench` runs from any directory.

#[macro_use]
extern crate outputs;

mod audit;
mod reference;
mod score;
mod serve;
mod workload;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use meds::{CodeTable, Dataset, DatasetWriter, ShardCompression, Timeline, TimelineStore, WriterOptions};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use rayon::prelude::*;
use serde::Serialize;

const MEDS_READER_SCRIPT: &str = include_str!("../python/meds_reader_bench.py");
const DEID_SCRIPT: &str = include_str!("../python/deid/deid_bench.py");

/// The benchmarks, one per hot path.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// MEDS write, full read and single-subject random access, side by side with meds_reader.
    Meds {
        /// Events to generate.
        #[arg(long, default_value_t = 10_000_000)]
        events: u64,
        /// Mean events per subject.
        #[arg(long, default_value_t = 500)]
        events_per_subject: usize,
        /// Random single-subject lookups to time.
        #[arg(long, default_value_t = 100_000)]
        lookups: usize,
        /// Shard compression.
        #[arg(long, value_enum, default_value_t = Compression::Snappy)]
        compression: Compression,
        /// Working directory (kept afterwards) [default: a temporary directory].
        #[arg(long)]
        dir: Option<PathBuf>,
        /// A Python with `meds_reader` installed, to run the comparison (skipped if absent).
        #[arg(long, env = "LONGITUDE_BENCH_PYTHON")]
        python: Option<PathBuf>,
        /// Also write the results as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Evaluation: metrics, 1,000 patient-level bootstrap resamples and the operating-point
    /// table on random predictions (read from a predictions file, as `longitude evaluate` does).
    Evaluate {
        /// Predictions (5 per subject).
        #[arg(long, default_value_t = 100_000)]
        predictions: usize,
        /// Bootstrap resamples.
        #[arg(long, default_value_t = 1_000)]
        resamples: usize,
    },
    /// The population generator to MEDS: patients per second on one thread and on all cores.
    Synth {
        /// Patients to simulate.
        #[arg(long, default_value_t = 100_000)]
        patients: usize,
        /// Working directory [default: a temporary directory].
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// The foundation model: training throughput of `small`, embedding one long history on one
    /// thread, generating 100 trajectories of 200 tokens on all threads — beside the PyTorch
    /// reference (crates/benchmarks/python/reference/) on the same weights and shapes.
    Model {
        /// A Python with torch, numpy and safetensors (skipped if absent).
        #[arg(long, env = "LONGITUDE_BENCH_TORCH_PYTHON")]
        python: Option<PathBuf>,
        /// Vocabulary size of the benchmarked model.
        #[arg(long, default_value_t = 4096)]
        vocab: usize,
        /// Timed training steps (after 2 warm-up steps).
        #[arg(long, default_value_t = 5)]
        steps: usize,
        /// Rounds, each timing the reference and then ours: the table gives each side's median
        /// and the median (and range) of the rounds' ratios, so that a slow spell on a shared
        /// machine falls on both sides of a pair.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Also write the results as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// De-identification of free text: recall per identifier type and precision for Longitude's
    /// scrubber, philter-lite and presidio-analyzer, on the same third-party text (philter-lite's
    /// annotated i2b2-style notes; sentences from presidio-evaluator's templates).
    Deid {
        /// A Python with crates/benchmarks/python/deid/requirements.txt installed (`scripts/deid-bench-venv`
        /// prints one).
        #[arg(long, env = "LONGITUDE_BENCH_DEID_PYTHON")]
        python: PathBuf,
        /// Sentences to generate from presidio-evaluator's templates.
        #[arg(long, default_value_t = 1_000)]
        sentences: usize,
        /// A dictionary to measure the safe-list policy with (as `ingest --safe-words`; Debian's
        /// `wamerican-large` writes /usr/share/dict/american-english-large). Repeatable.
        #[arg(long)]
        safe_words: Vec<PathBuf>,
        /// Also write the results as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// The scrubber's redactions for the de-identification benchmark: JSON lines `{"id", "text"}`
    /// on stdin, `{"id", "spans": [[start, end, placeholder]]}` (character offsets) on stdout.
    #[command(hide = true)]
    DeidSpans {
        /// Safe-lists of words (one per line; repeatable): redact every word they do not know.
        #[arg(long)]
        safe_words: Vec<PathBuf>,
    },
    /// The audit log: appends per second (each committed, with its Merkle hashes and a signed
    /// checkpoint at the interval) by one writer or several, each with its own connection pool.
    Audit {
        /// The database: a SQLite file path or a postgres:// URL. It must be empty or hold only
        /// earlier benchmark records.
        #[arg(long)]
        db: String,
        /// Concurrent writers.
        #[arg(long, default_value_t = 1)]
        writers: usize,
        /// Records each writer appends.
        #[arg(long, default_value_t = 2_000)]
        records: u64,
        /// Sign a checkpoint every this many records.
        #[arg(long, default_value_t = 1_000)]
        checkpoint_every: u64,
        /// Print `receipt <index>` as each append commits (for the crash tests).
        #[arg(long)]
        receipts: bool,
        /// The operator key to sign checkpoints with [default: one made for the run and
        /// discarded].
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// The server on loopback under load, from a demo's outputs: requests and risks per second,
    /// p50/p99 latency and errors for each method served, every call audited (SQLite).
    Serve {
        /// A demo's output directory (`longitude demo --out DIR`).
        #[arg(long)]
        demo: PathBuf,
        /// Methods to serve, one run each.
        #[arg(long, num_args = 1.., default_values_t = ["counts_gbm".to_string(), "fm_probe".to_string()])]
        methods: Vec<String>,
        /// Requests per run.
        #[arg(long, default_value_t = 400)]
        requests: usize,
        /// Concurrent clients.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// Distinct patients of the demo's FHIR export, cycled.
        #[arg(long, default_value_t = 50)]
        patients: usize,
        /// The de-identification key the demo ingested with [default: DEMO/demo-deid.key].
        #[arg(long)]
        deid_key_file: Option<PathBuf>,
        /// Also write the results as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Batch scoring from a demo's outputs: patients per second, and per core, for each method
    /// and thread count, end to end as `longitude score` runs (read, score, write, audit).
    Score {
        /// A demo's output directory (`longitude demo --out DIR`).
        #[arg(long)]
        demo: PathBuf,
        /// Methods to score with, one run each.
        #[arg(long, num_args = 1.., default_values_t = ["counts_gbm".to_string(), "fm_probe".to_string()])]
        methods: Vec<String>,
        /// Thread counts, one run each.
        #[arg(long, num_args = 1.., default_values_t = [1usize, 2])]
        threads: Vec<usize>,
        /// Also write the results as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// The tokenizer: fitting on train and encoding every timeline, on one thread and all cores.
    Tokenize {
        /// Simulated patients (64,000 give about 10 M events).
        #[arg(long, default_value_t = 64_000)]
        patients: usize,
    },
}

/// How the benchmark's MEDS shards are compressed.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Compression {
    /// Uncompressed.
    None,
    /// Snappy (fast).
    Snappy,
    /// Zstandard (small).
    Zstd,
}

#[derive(Debug, Default, Serialize)]
struct MedsBench {
    threads: usize,
    subjects: usize,
    events: u64,
    compression: String,
    dataset_bytes: u64,
    write_events_per_s: f64,
    write_events_per_s_range: (f64, f64),
    read_1_thread_events_per_s: f64,
    read_all_threads_events_per_s: f64,
    store_build_seconds: f64,
    store_bytes: u64,
    lookup_mean_us: f64,
    lookup_p50_us: f64,
    lookup_p99_us: f64,
    lookup_mean_events: f64,
    meds_reader: Option<serde_json::Value>,
}

/// Runs one benchmark.
pub fn run(cmd: BenchCommand) -> Result<ExitCode> {
    match cmd {
        BenchCommand::Model { python, vocab, steps, rounds, json } => {
            crate::reference::run(python.as_deref(), vocab, steps, rounds, json.as_deref())?;
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Evaluate { predictions, resamples } => {
            bench_evaluate(predictions, resamples)?;
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Deid { python, sentences, safe_words, json } => {
            let dir = tempfile::tempdir()?;
            let script = dir.path().join("deid_bench.py");
            outputs::atomic::write(&script, outputs::atomic::Access::Shared, DEID_SCRIPT.as_bytes())?;
            let me = std::env::current_exe()?;
            let mut cmd = Command::new(&python);
            // presidio-evaluator's generator iterates sets: fix Python's hashing so the corpus is
            // the same on every run.
            cmd.env("PYTHONHASHSEED", "0");
            cmd.arg(&script).arg("--longitude").arg(&me).arg("--sentences").arg(sentences.to_string());
            if let Some(j) = &json {
                cmd.arg("--json").arg(j);
            }
            for w in &safe_words {
                cmd.arg("--safe-words").arg(w);
            }
            let status = cmd.status().with_context(|| format!("cannot run {}", python.display()))?;
            if !status.success() {
                bail!("the de-identification benchmark failed ({status})");
            }
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::DeidSpans { safe_words } => {
            deid_spans(&safe_words)?;
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Audit { db, writers, records, checkpoint_every, receipts, key } => {
            audit::run(&audit::AuditBench { db, writers, records, checkpoint_every, receipts, key })?;
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Serve { demo, methods, requests, concurrency, patients, deid_key_file, json } => {
            let deid_key = deid_key_file;
            serve::run(&serve::ServeBench { demo, methods, requests, concurrency, patients, deid_key, json })?;
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Score { demo, methods, threads, json } => {
            score::run(&score::ScoreBench { demo, methods, threads, json })?;
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Tokenize { patients } => {
            bench_tokenize(patients)?;
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Synth { patients, dir } => {
            let tmp = tempfile::tempdir()?;
            let dir = dir.unwrap_or_else(|| tmp.path().to_path_buf());
            bench_synth(&dir, patients)?;
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Meds { events, events_per_subject, lookups, compression, dir, python, json } => {
            let tmp;
            let dir = match dir {
                Some(d) => d,
                None => {
                    tmp = tempfile::tempdir()?;
                    tmp.path().to_path_buf()
                }
            };
            let result = bench_meds(&dir, events, events_per_subject, lookups, compression, python.as_deref())?;
            out!("{}", render(&result));
            if let Some(path) = json {
                outputs::atomic::write_json(&path, &result)?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn bench_evaluate(n: usize, resamples: usize) -> Result<()> {
    use meds::labels::{BooleanLabel, BooleanPrediction};
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let predictions: Vec<BooleanPrediction> = (0..n)
        .map(|i| {
            let score: f64 = rng.random();
            let value = rng.random_bool(0.02 + 0.2 * score * score);
            BooleanPrediction {
                label: BooleanLabel { subject_id: (i / 5) as i64, prediction_time: i as i64, value },
                predicted_value: score > 0.5,
                probability: score as f32,
            }
        })
        .collect();
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("predictions.parquet");
    meds::labels::write_boolean_predictions(&path, &predictions)?;
    let options = eval::Options { resamples, ..Default::default() };
    let started = Instant::now();
    let e = report::evaluate_file(&path, None, &options)?;
    let secs = started.elapsed().as_secs_f64();
    let threads = rayon::current_num_threads();
    outln!(
        "evaluate: {n} predictions ({} subjects), {resamples} patient-level bootstrap resamples, {threads} threads: {secs:.2} s (AUROC {:.4})",
        e.subjects,
        e.metrics.auroc.unwrap_or(f64::NAN)
    );
    Ok(())
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => dir_size(&e.path()),
                    _ => e.metadata().map(|m| m.len()).unwrap_or(0),
                })
                .sum()
        })
        .unwrap_or(0)
}

fn one_thread() -> Result<rayon::ThreadPool> {
    Ok(rayon::ThreadPoolBuilder::new().num_threads(1).build()?)
}

fn bench_meds(
    dir: &Path,
    events: u64,
    per_subject: usize,
    lookups: usize,
    compression: Compression,
    python: Option<&Path>,
) -> Result<MedsBench> {
    let mut r = MedsBench { threads: rayon::current_num_threads(), ..Default::default() };
    let subjects = (events / per_subject.max(1) as u64).max(1) as usize;
    tracing::info!(subjects, per_subject, "generating the workload");
    let codes = workload::code_table();
    let timelines = workload::subjects(&codes, 7, subjects, per_subject);
    r.subjects = timelines.len();
    r.events = timelines.iter().map(|t| t.len() as u64).sum();

    // Write: three times into fresh directories, median reported. Every shard is fsynced before
    // its rename, so the figure includes flushing to disk, and the spread shows the disk's noise.
    let root = dir.join("meds");
    let compression = match compression {
        Compression::None => ShardCompression::None,
        Compression::Snappy => ShardCompression::Snappy,
        Compression::Zstd => ShardCompression::Zstd(1),
    };
    r.compression = format!("{compression:?}");
    let mut rates = Vec::new();
    for run in 0..3 {
        if root.exists() {
            std::fs::remove_dir_all(&root)?;
        }
        let options = WriterOptions { compression, shard_events: 1_000_000, ..WriterOptions::default() };
        tracing::info!(run = run + 1, subjects = timelines.len(), "writing");
        let started = Instant::now();
        let mut writer = DatasetWriter::create(&root, options)?;
        for (i, t) in timelines.iter().enumerate() {
            writer.write_subject(workload::split_of(i), t, &codes)?;
        }
        writer.finish(&codes)?;
        rates.push(r.events as f64 / started.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    r.write_events_per_s = rates[1];
    r.write_events_per_s_range = (rates[0], rates[2]);
    drop(timelines);
    r.dataset_bytes = dir_size(&root.join("data"));

    // Full read into typed timelines: best of three, page cache warm.
    let dataset = Dataset::open(&root)?;
    let read = |pool: &rayon::ThreadPool| -> Result<f64> {
        let mut best = f64::INFINITY;
        for _ in 0..3 {
            let started = Instant::now();
            let (table, all): (CodeTable, Vec<Timeline>) = pool.install(|| dataset.read_all())?;
            let elapsed = started.elapsed().as_secs_f64();
            let n: u64 = all.iter().map(|t| t.len() as u64).sum();
            if n != r.events || table.is_empty() {
                bail!("read {n} events, wrote {}", r.events);
            }
            best = best.min(elapsed);
        }
        Ok(r.events as f64 / best)
    };
    r.read_1_thread_events_per_s = read(&one_thread()?)?;
    r.read_all_threads_events_per_s = read(&rayon::ThreadPoolBuilder::new().build()?)?;

    // Random access.
    let store_path = TimelineStore::default_path(&root);
    let started = Instant::now();
    let summary = TimelineStore::build(&dataset, &store_path)?;
    r.store_build_seconds = started.elapsed().as_secs_f64();
    r.store_bytes = summary.bytes;
    let store = TimelineStore::open(&dataset, &store_path)?;
    let ids: Vec<i64> = store.subject_ids().collect();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let sample: Vec<i64> = (0..lookups.max(1)).map(|_| ids[rng.random_range(0..ids.len())]).collect();
    let (mut buf, mut t) = (Vec::new(), Timeline::default());
    for &id in sample.iter().take(10_000) {
        store.load_into(id, &mut buf, &mut t)?;
    }
    let mut latencies = Vec::with_capacity(sample.len());
    let mut loaded = 0u64;
    let started = Instant::now();
    for &id in &sample {
        let t0 = Instant::now();
        store.load_into(id, &mut buf, &mut t)?;
        latencies.push(t0.elapsed().as_nanos() as u64);
        loaded += t.len() as u64;
    }
    r.lookup_mean_us = started.elapsed().as_secs_f64() * 1e6 / sample.len() as f64;
    latencies.sort_unstable();
    let q = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize] as f64 / 1e3;
    r.lookup_p50_us = q(0.5);
    r.lookup_p99_us = q(0.99);
    r.lookup_mean_events = loaded as f64 / sample.len() as f64;

    if let Some(python) = python {
        r.meds_reader = Some(run_meds_reader(python, &root, dir, lookups)?);
    } else {
        tracing::warn!("no --python (or LONGITUDE_BENCH_PYTHON) with meds_reader: comparison skipped");
    }
    Ok(r)
}

fn bench_synth(dir: &Path, patients: usize) -> Result<()> {
    let config = synth::SynthConfig::new(patients, 2, 7);
    let threads = rayon::current_num_threads();
    outln!("synth benchmark: {patients} patients, 2 sites, records 2010-2025 (hidden history from 2000)\n");
    outln!("| output | threads | seconds | patients/s per core | events or resources | MB/s per core |");
    outln!("| --- | ---: | ---: | ---: | ---: | ---: |");
    let meds_only = synth::Formats { meds: true, fhir_ndjson: false, fhir_bundles: false };
    let fhir_only = synth::Formats { meds: false, fhir_ndjson: true, fhir_bundles: false };
    for (name, formats) in [("MEDS", meds_only), ("FHIR NDJSON", fhir_only)] {
        for (label, pool) in [(1, one_thread()?), (threads, rayon::ThreadPoolBuilder::new().build()?)] {
            let out = dir.join(format!("synth-{label}"));
            if out.exists() {
                std::fs::remove_dir_all(&out)?;
            }
            let options = synth::OutputOptions { formats, ..Default::default() };
            let started = Instant::now();
            let summary = pool.install(|| synth::generate(&config, &out, &options))?;
            let seconds = started.elapsed().as_secs_f64();
            let per_core = summary.patients as f64 / seconds / label as f64;
            let (items, bytes) = if formats.meds {
                (summary.events, dir_size(&out.join("meds")))
            } else {
                (summary.fhir_resources, summary.fhir_bytes)
            };
            outln!(
                "| {name} | {label} | {seconds:.2} | {per_core:.0} | {items} | {:.1} |",
                bytes as f64 / 1e6 / seconds / label as f64
            );
        }
    }
    Ok(())
}

fn bench_tokenize(patients: usize) -> Result<()> {
    let config = synth::SynthConfig::new(patients, 2, 7);
    let codes = synth::vocab::code_table();
    let timelines: Vec<meds::Timeline> =
        (0..patients as u64).into_par_iter().map(|i| synth::simulate_patient(&config, &codes, i).timeline).collect();
    let events: usize = timelines.iter().map(meds::Timeline::len).sum();
    let train: Vec<&meds::Timeline> = timelines
        .iter()
        .enumerate()
        .filter(|(i, _)| synth::split_of(config.seed, *i as u64) == meds::schema::TRAIN_SPLIT)
        .map(|(_, t)| t)
        .collect();
    let train_events: usize = train.iter().map(|t| t.len()).sum();
    outln!("tokenizer benchmark: {patients} simulated patients, {events} events ({train_events} in train)\n");
    outln!("| step | threads | seconds | events/s | tokens |");
    outln!("| --- | ---: | ---: | ---: | ---: |");
    let started = Instant::now();
    let tok = tokenizer::Tokenizer::fit(train.iter().copied(), &codes, tokenizer::TokenizerConfig::default())?;
    let seconds = started.elapsed().as_secs_f64();
    outln!("| fit (train) | 1 | {seconds:.2} | {:.2e} | {} in vocabulary |", train_events as f64 / seconds, tok.len());
    let threads = rayon::current_num_threads();
    // One untimed pass first: the first pass over fresh memory swings from run to run with how
    // the kernel hands out pages, which says nothing about the encoder.
    drop(tok.encode_all(&codes, &timelines));
    for (label, pool) in [(1, one_thread()?), (threads, rayon::ThreadPoolBuilder::new().build()?)] {
        let started = Instant::now();
        let (_, stats) = pool.install(|| tok.encode_all(&codes, &timelines));
        let seconds = started.elapsed().as_secs_f64();
        outln!("| encode (all splits) | {label} | {seconds:.2} | {:.2e} | {} |", events as f64 / seconds, stats.tokens);
    }
    Ok(())
}

fn run_meds_reader(python: &Path, root: &Path, dir: &Path, lookups: usize) -> Result<serde_json::Value> {
    let script = dir.join("meds_reader_bench.py");
    outputs::atomic::write(&script, outputs::atomic::Access::Shared, MEDS_READER_SCRIPT.as_bytes())?;
    let work = dir.join("meds_reader_db");
    if work.exists() {
        std::fs::remove_dir_all(&work)?;
    }
    // meds_reader_convert sits beside the interpreter in a venv.
    let bin = python.parent().map(Path::to_path_buf).unwrap_or_default();
    let path = std::env::join_paths(
        std::iter::once(bin).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )?;
    tracing::info!("running meds_reader on the same dataset");
    let out = Command::new(python)
        .arg(&script)
        .arg("--dataset")
        .arg(root)
        .arg("--work")
        .arg(&work)
        .arg("--lookups")
        .arg(lookups.to_string())
        .env("PATH", path)
        .output()
        .with_context(|| format!("cannot run {}", python.display()))?;
    if !out.status.success() {
        bail!("meds_reader benchmark failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

fn render(r: &MedsBench) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let m = |x: f64| format!("{:.1} M", x / 1e6);
    let _ = writeln!(
        s,
        "MEDS benchmark: {} subjects, {} events ({:.0} per subject), {} compression, {:.1} MB of parquet, {} threads\n",
        r.subjects,
        r.events,
        r.events as f64 / r.subjects.max(1) as f64,
        r.compression,
        r.dataset_bytes as f64 / 1e6,
        r.threads
    );
    let mr = r.meds_reader.as_ref();
    let mr_f = |k: &str| mr.and_then(|v| v.get(k)).and_then(serde_json::Value::as_f64);
    let ratio = |ours: f64, theirs: Option<f64>, higher_is_better: bool| match theirs {
        Some(t) if t > 0.0 && ours > 0.0 => format!("{:.1}x", if higher_is_better { ours / t } else { t / ours }),
        _ => "-".into(),
    };
    let _ = writeln!(s, "| measure | longitude | meds_reader | ours vs theirs |");
    let _ = writeln!(s, "| --- | ---: | ---: | ---: |");
    let _ = writeln!(
        s,
        "| write MEDS parquet, events/s ({} threads; median of 3, range {} to {}) | {} | - | - |",
        r.threads,
        m(r.write_events_per_s_range.0),
        m(r.write_events_per_s_range.1),
        m(r.write_events_per_s)
    );
    let convert = mr_f("convert_seconds").map(|x| format!("{x:.2} s convert")).unwrap_or_else(|| "-".into());
    let _ = writeln!(
        s,
        "| build random-access store | {:.2} s | {convert} | {} |",
        r.store_build_seconds,
        ratio(1.0 / r.store_build_seconds, mr_f("convert_seconds").map(|x| 1.0 / x), true)
    );
    let theirs_read = mr_f("full_read_events_per_s");
    let _ = writeln!(
        s,
        "| full read into typed timelines, events/s, 1 thread | {} | {} | {} |",
        m(r.read_1_thread_events_per_s),
        theirs_read.map(m).unwrap_or_else(|| "-".into()),
        ratio(r.read_1_thread_events_per_s, theirs_read, true)
    );
    let _ =
        writeln!(s, "| full read, events/s, {} threads | {} | - | - |", r.threads, m(r.read_all_threads_events_per_s));
    let _ = writeln!(
        s,
        "| (reference) pyarrow parquet decode to Arrow tables, events/s, 1 thread | - | {} | {} |",
        mr_f("pyarrow_decode_events_per_s").map(m).unwrap_or_else(|| "-".into()),
        ratio(r.read_1_thread_events_per_s, mr_f("pyarrow_decode_events_per_s"), true)
    );
    let lazy = mr_f("lookup_lazy_us");
    let full = mr_f("lookup_events_us");
    let _ = writeln!(
        s,
        "| one subject, warm, mean µs (ours: all events decoded) | {:.2} | {} lazy / {} with events | {} / {} |",
        r.lookup_mean_us,
        lazy.map(|x| format!("{x:.2}")).unwrap_or_else(|| "-".into()),
        full.map(|x| format!("{x:.2}")).unwrap_or_else(|| "-".into()),
        ratio(r.lookup_mean_us, lazy, false),
        ratio(r.lookup_mean_us, full, false)
    );
    let _ = writeln!(s, "| one subject, p50 / p99 µs | {:.2} / {:.2} | - | - |", r.lookup_p50_us, r.lookup_p99_us);
    let _ = writeln!(
        s,
        "| events per looked-up subject | {:.0} | {} | - |",
        r.lookup_mean_events,
        mr_f("lookup_mean_events").map(|x| format!("{x:.0}")).unwrap_or_else(|| "-".into())
    );
    s
}

/// `bench deid-spans`: the scrubber's spans for each text on stdin, as character offsets.
fn deid_spans(safe_words: &[PathBuf]) -> Result<()> {
    use std::io::{BufRead, Write};
    #[derive(serde::Deserialize)]
    struct Doc {
        id: String,
        text: String,
    }
    let mut scrubber = deid::Scrubber::new();
    if !safe_words.is_empty() {
        scrubber = scrubber.with_safe_words(deid::SafeWords::from_files(safe_words)?);
    }
    let patient = scrubber.for_patient(None);
    let stdin = std::io::stdin().lock();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for line in stdin.lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let doc: Doc = serde_json::from_str(&line).context("a line that is not {\"id\", \"text\"}")?;
        // Byte offsets to character offsets (what Python indexes by).
        let chars: Vec<usize> = doc.text.char_indices().map(|(b, _)| b).collect();
        let at = |byte: usize| chars.partition_point(|&b| b < byte);
        let spans: Vec<(usize, usize, &str)> =
            patient.spans(&doc.text).into_iter().map(|(r, tag)| (at(r.start), at(r.end), tag)).collect();
        serde_json::to_writer(&mut out, &serde_json::json!({"id": doc.id, "spans": spans}))?;
        out.write_all(b"\n")?;
    }
    Ok(())
}
