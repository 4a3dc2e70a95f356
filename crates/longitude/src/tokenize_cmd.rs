//! `longitude tokenize`: fit the tokenizer on a dataset's train split and write every split as
//! token sequences.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;

use anyhow::{Context, Result, bail};
use clap::Args;
use meds::{CodeTable, Timeline};
use rayon::prelude::*;
use serde::Serialize;
use tokenizer::{EncodeStats, Encoded, Tokenizer, TokenizerConfig};

use crate::progress::Progress;

#[derive(Debug, Args)]
pub struct TokenizeArgs {
    /// The MEDS dataset root.
    #[arg(long)]
    pub meds: PathBuf,
    /// Output directory: tokenizer.json, tokens/<split>.parquet, tokenize_report.json.
    #[arg(long)]
    pub out: PathBuf,
    /// A code needs at least this many train events to get a token of its own.
    #[arg(long, default_value_t = TokenizerConfig::default().min_count)]
    pub min_count: u64,
    /// Value bins per code (10: deciles).
    #[arg(long, default_value_t = TokenizerConfig::default().bins)]
    pub bins: usize,
    /// Thresholds added to the value bins' quantile edges: `clinical` (the built-in guideline
    /// table: eGFR 15/30/45/60/90, HbA1c 5.7/6.5, potassium 3.5/5.0/5.5/6.0…), `none`, or a JSON
    /// file of code → thresholds (`{"LOINC/2823-3": [5.5, 6.0]}`). Not the default: a threshold
    /// that is a bin edge makes zero-shot risk of it rest on the model's probabilities for rare
    /// bins (docs/benchmarks/validation.md, "Clinical cut points").
    #[arg(long, default_value = "none")]
    pub cut_points: String,
    #[command(flatten)]
    pub replace: crate::claim::Replace,
}

/// The `--cut-points` table.
fn cut_points(arg: &str) -> Result<BTreeMap<String, Vec<f32>>> {
    match arg {
        "none" => Ok(BTreeMap::new()),
        "clinical" => Ok(tokenizer::cut_points::clinical()),
        path => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read the cut points {path}"))?;
            serde_json::from_str(&text)
                .with_context(|| format!("{path} is not a JSON object of code → list of thresholds"))
        }
    }
}

#[derive(Serialize)]
struct Report<'a> {
    vocabulary: usize,
    fit: &'a tokenizer::FitSummary,
    splits: BTreeMap<String, EncodeStats>,
}

/// Every subject with its split: `metadata/subject_splits.parquet` where present, else the shard's
/// first directory under data/ (MEDS ETLs name it after the split); unknown → `train` is never
/// assumed: such subjects are reported and left out.
pub fn read_by_split(root: &Path) -> Result<(CodeTable, BTreeMap<String, Vec<Timeline>>)> {
    let dataset = meds::Dataset::open(root)?;
    let declared: HashMap<i64, String> = match meds::metadata::read_subject_splits(root) {
        Ok(splits) => splits.into_iter().collect(),
        Err(_) => HashMap::new(),
    };
    let codes = Mutex::new(CodeTable::new());
    let found: Mutex<Vec<(String, Timeline)>> = Mutex::new(Vec::new());
    dataset.for_each_subject(&codes, |shard, t| {
        let split = declared.get(&t.subject_id).cloned().or_else(|| shard.prefix.clone()).unwrap_or_default();
        found.lock().unwrap_or_else(|p| p.into_inner()).push((split, t));
        Ok(())
    })?;
    let mut by_split: BTreeMap<String, Vec<Timeline>> = BTreeMap::new();
    for (split, t) in found.into_inner().unwrap_or_else(|p| p.into_inner()) {
        by_split.entry(split).or_default().push(t);
    }
    // Shards are read in parallel: put subjects back in a fixed order.
    for ts in by_split.values_mut() {
        ts.sort_by_key(|t| t.subject_id);
    }
    Ok((codes.into_inner().unwrap_or_else(|p| p.into_inner()), by_split))
}

/// [`read_by_split`] flattened: every timeline (split by split, in subject order) and each
/// subject's split.
pub fn read_with_splits(root: &Path) -> Result<(CodeTable, Vec<Timeline>, HashMap<i64, String>)> {
    let (codes, by_split) = read_by_split(root)?;
    let mut splits = HashMap::new();
    let mut timelines = Vec::new();
    for (split, ts) in by_split {
        for t in ts {
            splits.insert(t.subject_id, split.clone());
            timelines.push(t);
        }
    }
    Ok((codes, timelines, splits))
}

/// Encodes timelines in parallel, in order, with one encoder per chunk.
pub fn encode_all(tok: &Tokenizer, codes: &CodeTable, timelines: &[Timeline]) -> (Vec<Encoded>, EncodeStats) {
    let parts: Vec<(Vec<Encoded>, EncodeStats)> = timelines
        .par_chunks(512)
        .map(|chunk| {
            let mut enc = tok.encoder(codes);
            let out = chunk.iter().map(|t| enc.encode(t)).collect();
            (out, enc.stats().clone())
        })
        .collect();
    let mut stats = EncodeStats::default();
    let mut all = Vec::with_capacity(timelines.len());
    for (part, s) in parts {
        stats.merge(&s);
        all.extend(part);
    }
    (all, stats)
}

pub fn run(args: &TokenizeArgs, progress: &Progress) -> Result<ExitCode> {
    let cut_points_file = Some(Path::new(&args.cut_points)).filter(|p| p.extension().is_some());
    let out = crate::claim::claim(&args.out, "tokenize", &[Some(&args.meds), cut_points_file], args.replace)?;
    let spinner = progress.bar("reading", None, "");
    let (codes, splits) = read_by_split(&args.meds).with_context(|| format!("cannot read {}", args.meds.display()))?;
    spinner.finish_and_clear();
    if let Some(unsplit) = splits.get("") {
        tracing::warn!(subjects = unsplit.len(), "subjects without a split are left out");
    }
    let Some(train) = splits.get(meds::schema::TRAIN_SPLIT) else {
        bail!("{} has no train split to fit the tokenizer on", args.meds.display());
    };
    let config =
        TokenizerConfig { min_count: args.min_count, bins: args.bins, cut_points: cut_points(&args.cut_points)? };
    let tok = Tokenizer::fit(train, &codes, config)?;
    std::fs::create_dir_all(args.out.join("tokens"))?;
    let mut report = Report { vocabulary: tok.len(), fit: tok.fit_summary(), splits: BTreeMap::new() };
    for (split, timelines) in splits.iter().filter(|(s, _)| !s.is_empty()) {
        let (encoded, stats) = encode_all(&tok, &codes, timelines);
        tokenizer::dataset::write_split(&args.out.join("tokens").join(format!("{split}.parquet")), &encoded)?;
        report.splits.insert(split.clone(), stats);
    }
    tok.save(&args.out.join("tokenizer.json"))?;
    outputs::atomic::write_json(&args.out.join("tokenize_report.json"), &report)?;
    out.finish()?;

    outln!(
        "fitted on {} train subjects / {} events: {} tokens ({} codes, {} with value bins)",
        tok.fit_summary().subjects,
        tok.fit_summary().events,
        tok.len(),
        tok.fit_summary().code_tokens,
        tok.fit_summary().binned_codes
    );
    outln!(
        "{:<10} {:>9} {:>11} {:>11} {:>12} {:>12}",
        "split",
        "subjects",
        "events",
        "tokens",
        "to parent",
        "to unknown"
    );
    for (split, s) in &report.splits {
        outln!(
            "{split:<10} {:>9} {:>11} {:>11} {:>12} {:>12}",
            s.subjects,
            s.events,
            s.tokens,
            s.parent_fallbacks,
            s.unknown_fallbacks.values().sum::<u64>()
        );
    }
    outln!("wrote {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}
