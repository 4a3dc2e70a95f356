//! `longitude report`: evaluate every task × method's held-out predictions and write the
//! validation report (HTML + JSON) and the model card (HTI-1 attributes, CHAI export).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use report::ReportPlan;

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Predictions by task: `longitude adapt`'s output (<task>/<method>.parquet). Repeat for
    /// each validation setting (internal, temporal, external): each directory's split is read
    /// from its adapt_report.json.
    #[arg(long, required = true)]
    pub adapt: Vec<PathBuf>,
    /// The generator's ground truth: lead times of alerts before the coded diagnosis and the
    /// true onset, for the diagnosis tasks. Synthetic data only.
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// Subjects' sites (parquet: subject_id, site): adds `site` to the fairness audit.
    #[arg(long)]
    pub sites: Option<PathBuf>,
    /// The MEDS dataset the predictions are about (subgroups for the fairness audit).
    #[arg(long)]
    pub meds: PathBuf,
    /// The method the model card describes.
    #[arg(long, default_value = "counts_gbm")]
    pub candidate: String,
    /// Patient-level bootstrap resamples.
    #[arg(long, default_value_t = 1_000)]
    pub resamples: usize,
    /// The chronic-disease tasks (comma-separated), held to the oracle target [default: the
    /// built-in suite's].
    #[arg(long, value_delimiter = ',')]
    pub chronic: Vec<String>,
    /// "What if" comparisons to put before the board (`longitude what-if --out`'s JSON files,
    /// repeatable): the model's effect of each treatment change beside the truth's.
    #[arg(long)]
    pub what_if: Vec<PathBuf>,
    /// Title of the report.
    #[arg(long, default_value = "Longitude validation report")]
    pub title: String,
    /// Output directory: report.html, report.json, model_card.json, chai_model_card.json.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub replace: crate::claim::Replace,
}

impl ReportArgs {
    /// The report these arguments describe.
    pub fn plan(&self) -> ReportPlan {
        ReportPlan {
            adapt: self.adapt.clone(),
            truth: self.truth.clone(),
            sites: self.sites.clone(),
            meds: self.meds.clone(),
            candidate: self.candidate.clone(),
            resamples: self.resamples,
            chronic: self.chronic.clone(),
            what_if: self.what_if.clone(),
            title: self.title.clone(),
        }
    }
}

pub fn run(args: &ReportArgs) -> Result<ExitCode> {
    crate::steps::report(&args.plan(), &args.out, args.replace)?;
    Ok(ExitCode::SUCCESS)
}
