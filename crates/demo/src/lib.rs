//! # demo — the demonstration run, as plans
//!
//! `longitude demo` runs the longest pipeline that exists, end to end, on a simulated population
//! with known ground truth. [`Demo::new`] lays out every step's plan under one output directory;
//! a front end runs them in order (the command line's `demo` does, with its progress bars), so the
//! choices the demo makes — the tiny model, which tasks are fine-tuned, the three validation
//! settings, the what-if question — are written down once, here.
//!
//! The tasks run on the simulator's own MEDS (not the re-keyed, date-shifted ingest output) so
//! that the oracle can replay each subject's hidden state at the same prediction times; the model
//! is pretrained on the de-identified copy of the same population. Its tokenizer reads the
//! simulator's codes unchanged, and it sees time only as intervals and age, so the date shift
//! does not matter.

use std::path::{Path, PathBuf};

use adapt::splits::SplitSpec;
use adapt::what_if::WhatIfPlan;
use adapt::{AdaptPlan, FineTunePlan, FoundationPlan, ProbePlan, ZeroShotPlan};
use artifacts::what_if::ChangeKind;
use model::pretrain::PretrainPlan;
use report::ReportPlan;
use synth::SynthConfig;

/// The seed of everything the demo draws: population, weights, batches, futures.
pub const SEED: u64 = 42;

/// The temporal validation's cutoff, 2021-01-01 at midnight UTC (µs): train before, test after.
pub const TEMPORAL_CUTOFF: i64 = 1_609_459_200_000_000;

/// Every step of the demo, with where it reads and writes under [`Demo::out`].
#[derive(Debug, Clone)]
pub struct Demo {
    /// The output directory.
    pub out: PathBuf,
    /// The population: its MEDS (`meds/`), FHIR export (`fhir/`) and ground truth (`truth/`).
    pub synth: SynthConfig,
    /// Ingesting and de-identifying the FHIR export (into `ingested/meds`).
    pub ingest: ingest::Options,
    /// Where the de-identified dataset is tokenized.
    pub tokens: PathBuf,
    /// Pretraining the tiny model on it (into `pretrained/`).
    pub pretrain: PretrainPlan,
    /// Where the built-in tasks' labels go.
    pub labels: PathBuf,
    /// Adaptation in each validation setting (internal, temporal, external), with its output
    /// directory; only the internal one adapts the foundation model.
    pub adapt: Vec<(AdaptPlan, PathBuf)>,
    /// The what-if question (statins withheld) and where its answer goes.
    pub what_if: (WhatIfPlan, PathBuf),
    /// The validation report and model card, and their directory.
    pub report: (ReportPlan, PathBuf),
}

impl Demo {
    /// The demo for `patients` simulated patients at two sites, with `pretrain_steps` steps of
    /// pretraining, written under `out`.
    pub fn new(out: &Path, patients: usize, pretrain_steps: u64) -> Demo {
        let meds = out.join("meds");
        let truth = out.join("truth");
        let tokens = out.join("tokenized");
        let labels = out.join("labels");
        let model = out.join("pretrained").join(model::pretrain::BUNDLE_DIR);
        let ingest = ingest::Options {
            metadata: meds::DatasetMetadata { dataset_name: Some("longitude-demo".into()), ..Default::default() },
            ..ingest::Options::new(
                vec![out.join("fhir")],
                out.join("ingested").join("meds"),
                out.join("ingested-quarantine"),
                out.join("ingested-work"),
            )
        };
        let pretrain = PretrainPlan {
            tokens: tokens.clone(),
            preset: "tiny".into(),
            steps: pretrain_steps,
            batch_size: 8,
            accumulation: 1,
            seq_len: None,
            value_channel: false,
            lr: Some(3e-3),
            seed: SEED,
            eval_every: None,
            checkpoint_every: None,
            resume: false,
        };
        // A quarter of `adapt`'s default: the demo's three settings are most of its oracle time,
        // and 256 futures already rank risks down to a few in a thousand.
        let oracle = synth::oracle::Precision::adaptive(64, 256);
        let internal = AdaptPlan {
            meds: meds.clone(),
            labels: labels.clone(),
            only: Vec::new(),
            min_subjects: 20,
            seed: SEED,
            truth: Some(truth.clone()),
            oracle,
            foundation: Some(FoundationPlan {
                model: model.clone(),
                probe: Some(ProbePlan {
                    pooling: model::embedding::Pooling::LastMeanMax,
                    train_max: 5_000,
                    // Fine-tuning where the oracle target is judged; the probe stands for the rest.
                    fine_tune: Some(FineTunePlan {
                        tasks: tasks::suite::CHRONIC.iter().map(|t| t.to_string()).collect(),
                        train_max: 400,
                        epochs: 1,
                        lr: 1e-4,
                    }),
                }),
                zero_shot: Some(ZeroShotPlan {
                    options: adapt::zero_shot::ZeroShotOptions {
                        futures: 8,
                        value_draws: 16,
                        redraw_bins: true,
                        horizon_days: 366,
                        max_new_tokens: 128,
                        temperature: 1.0,
                        seed: SEED,
                        withheld_tokens: Vec::new(),
                    },
                    max_prediction_times: 150,
                }),
            }),
            few_shot: true,
            split: SplitSpec::Subject,
            sites: None,
            predicates: None,
        };
        // Temporal and external (cross-site) validation of the baselines, for the same report.
        let mut adapt = vec![(internal.clone(), out.join("adapt"))];
        let temporal = SplitSpec::Temporal { cutoff: TEMPORAL_CUTOFF };
        let external = SplitSpec::Site { name: "north".into() };
        for (split, dir) in [(temporal, "adapt-temporal"), (external, "adapt-site")] {
            let plan = AdaptPlan { foundation: None, few_shot: false, split, ..internal.clone() };
            adapt.push((plan, out.join(dir)));
        }
        let what_if_out = out.join("what-if").join("mi_1y_statin_withheld.json");
        let what_if = WhatIfPlan {
            meds: meds.clone(),
            labels: labels.clone(),
            task: "mi_1y".into(),
            model,
            treatment: "RXNORM/83367".into(),
            change: ChangeKind::Withhold,
            treated_by: Vec::new(),
            split: "all".into(),
            max: 60,
            futures: 8,
            days: 366,
            tokens: 128,
            seed: SEED,
            truth: Some(truth.clone()),
            oracle,
            predicates: None,
            resamples: 1_000,
        };
        let report = ReportPlan {
            adapt: adapt.iter().map(|(_, dir)| dir.clone()).collect(),
            sites: Some(truth.join("subjects.parquet")),
            truth: Some(truth),
            meds,
            candidate: "counts_gbm".into(),
            resamples: 1_000,
            chronic: Vec::new(),
            what_if: vec![what_if_out.clone()],
            title: "Longitude validation report (demo, synthetic data)".into(),
        };
        Demo {
            out: out.to_path_buf(),
            synth: SynthConfig::new(patients, 2, SEED),
            ingest,
            tokens,
            pretrain,
            labels,
            adapt,
            what_if: (what_if, what_if_out),
            report: (report, out.join("report")),
        }
    }

    /// The simulator's MEDS dataset (the tasks' data).
    pub fn meds(&self) -> PathBuf {
        self.out.join("meds")
    }

    /// The generator's ground truth.
    pub fn truth(&self) -> PathBuf {
        self.out.join("truth")
    }

    /// The pretrained model's directory.
    pub fn pretrained(&self) -> PathBuf {
        self.out.join("pretrained")
    }
}
