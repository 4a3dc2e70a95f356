//! `longitude tokenize`: fit the tokenizer on a dataset's train split and write every split as
//! token sequences.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use tokenizer::TokenizerConfig;

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
impl TokenizeArgs {
    /// The tokenizer configuration these arguments describe.
    pub fn config(&self) -> Result<TokenizerConfig> {
        Ok(TokenizerConfig {
            min_count: self.min_count,
            bins: self.bins,
            cut_points: tokenizer::cut_points::named(&self.cut_points)?,
        })
    }
}

pub fn run(args: &TokenizeArgs, progress: &Progress) -> Result<ExitCode> {
    let config = args.config()?;
    // A file of cut points is an input (the built-in tables' names have no extension).
    let file = Path::new(&args.cut_points);
    let inputs = if file.extension().is_some() { vec![args.meds.as_path(), file] } else { vec![args.meds.as_path()] };
    crate::steps::tokenize(&args.meds, &args.out, config, &inputs, args.replace, progress)?;
    Ok(ExitCode::SUCCESS)
}
