//! Adapting to clinical tasks: the baselines every foundation-model claim is measured against,
//! and the ways the pretrained model is adapted.
//!
//! The entry point is [`run`]: an [`AdaptPlan`] in, every labelled task's predictions, fitted
//! models and an [`artifacts::AdaptReport`] out ([`pipeline`]). The modules it draws on:
//!
//! - [`featurizers`]: count features in the MEDS-Tab style (code × window × aggregate) and
//!   demographics, from events at or before the prediction time only.
//! - [`logistic`]: L2 logistic regression on sparse rows (L-BFGS), checked against scikit-learn.
//! - [`gbm`]: gradient-boosted trees (forust-ml) behind our own interface.
//! - [`foundation`]: the pretrained model's embedding at each prediction time.
//! - [`baselines`]: fit each baseline and the foundation model's linear probe on the train split,
//!   choose regularisation on tuning, predict held-out prediction times; few-shot curves.
//! - [`case_control`]: case-control samples of train for the probe and fine-tuning, and the
//!   log-odds shift that takes their models back to the population's scale.
//! - [`recalibration`]: logistic recalibration of a fitted model's log-odds on the tuning split.
//! - [`scorer`]: fitted task models as versioned JSON files that score another site's MEDS data.
//! - [`external`]: external validation at a receiving site: a received model scores the site's
//!   labels, and is recalibrated to its outcome rates.
//! - [`zero_shot`]: risk as the share of generated futures in which the task's outcome happens,
//!   each future read by the task's own ACES windows.
//! - [`what_if`]: the same futures with a treatment started at the prediction time, beside the
//!   futures as recorded: the model's idea of the treatment's effect on the task's outcome.

pub mod baselines;
pub mod case_control;
pub mod external;
pub mod featurizers;
pub mod finetune;
pub mod foundation;
pub mod gbm;
pub mod logistic;
pub mod pipeline;
pub mod recalibration;
pub mod scorer;
pub mod splits;
pub mod what_if;
pub mod zero_shot;

pub use pipeline::{
    AdaptError, AdaptPlan, FineTunePlan, FoundationPlan, Observer, ProbePlan, ZeroShotPlan, label_files, run,
};
