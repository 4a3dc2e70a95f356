//! External validation at a receiving site: a task model fitted elsewhere scores the site's own
//! labelled prediction times ([`score_site`]), and may be recalibrated to the site's outcome rates
//! ([`recalibrate_for_site`]). Nothing leaves the site's machine.

use std::path::{Path, PathBuf};

use meds::labels::BooleanPrediction;

use crate::foundation::{Foundation, FoundationError};
use crate::recalibration::MIN_EXAMPLES_PER_CLASS;
use crate::scorer::{Fitting, ScorerError, SiteRecalibration, TaskModel};

/// Why a received model could not score a site's data or be recalibrated to it.
#[derive(Debug, thiserror::Error)]
pub enum ExternalError {
    /// The task model could not be read, used or written.
    #[error(transparent)]
    Scorer(#[from] ScorerError),
    /// The pretrained model bundle the task model reads could not be loaded.
    #[error("loading {path}: {source}")]
    Foundation {
        /// The bundle.
        path: PathBuf,
        /// The cause.
        #[source]
        source: FoundationError,
    },
    /// The site's MEDS data or labels could not be read, or the predictions written.
    #[error(transparent)]
    Meds(#[from] meds::MedsError),
    /// No label's subject is in the site's data.
    #[error("none of the {labels} labels in {labels_path} has a subject in {meds}")]
    NoSubject {
        /// Labels read.
        labels: usize,
        /// The label file.
        labels_path: PathBuf,
        /// The MEDS dataset.
        meds: PathBuf,
    },
    /// The model already carries a site's recalibration.
    #[error("--recalibrate-out: this task model already carries a site's recalibration; start from the received model")]
    AlreadyRecalibrated,
    /// A fine-tuned model would be written where its weights are not.
    #[error(
        "--recalibrate-out: a fine-tuned model reads its weights ({weights}) from its own directory; write the \
         recalibrated model beside them"
    )]
    WeightsElsewhere {
        /// The weights file the model names.
        weights: String,
    },
    /// Too few of a class, or a model no better than chance on the site's times.
    #[error(
        "--recalibrate-out: no recalibration fitted on {examples} prediction times ({positives} positive): it needs \
         at least {MIN_EXAMPLES_PER_CLASS} of each class and a model that ranks them better than chance"
    )]
    NotFitted {
        /// Prediction times scored.
        examples: usize,
        /// Positives among them.
        positives: usize,
    },
}

/// A received model's predictions of a site's labels.
#[derive(Debug, Clone)]
pub struct SiteScores {
    /// One per label whose subject is in the site's data.
    pub predictions: Vec<BooleanPrediction>,
    /// Labels whose subject has no timeline there.
    pub without_timeline: usize,
}

/// Scores the labels at `labels` on the MEDS dataset at `meds` with `model`, from events at or
/// before each prediction time only; `bundle` is the pretrained model a probe or fine-tuned
/// model reads.
pub fn score_site(
    model: &TaskModel,
    bundle: Option<&Path>,
    meds_root: &Path,
    labels: &Path,
) -> Result<SiteScores, ExternalError> {
    let foundation = bundle
        .map(|path| Foundation::load(path).map_err(|source| ExternalError::Foundation { path: path.into(), source }))
        .transpose()?;
    let read = meds::labels::read_boolean_labels(labels)?;
    let (codes, by_split) = meds::read_by_split(meds_root)?;
    let timelines: Vec<&meds::Timeline> = by_split.values().flatten().collect();
    let (predictions, without_timeline) = model.score(&timelines, &codes, &read, foundation.as_ref())?;
    if predictions.is_empty() {
        return Err(ExternalError::NoSubject {
            labels: read.len(),
            labels_path: labels.into(),
            meds: meds_root.into(),
        });
    }
    Ok(SiteScores { predictions, without_timeline })
}

/// Fits the site's recalibration of `model` on its `predictions` of the site's labelled times
/// and writes the recalibrated model to `path`; returns the recalibration. A model that already
/// carries one is refused, as is a fine-tuned model written away from its weights.
pub fn recalibrate_for_site(
    model: TaskModel,
    predictions: &[BooleanPrediction],
    path: &Path,
) -> Result<SiteRecalibration, ExternalError> {
    if model.site_recalibration.is_some() {
        return Err(ExternalError::AlreadyRecalibrated);
    }
    if let Fitting::FineTuned { weights, .. } = &model.fitting {
        // The file names its weights relative to its own directory.
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if !dir.join(weights).exists() {
            return Err(ExternalError::WeightsElsewhere { weights: weights.clone() });
        }
    }
    let Some(site) = SiteRecalibration::fit(predictions) else {
        let positives = predictions.iter().filter(|p| p.label.value).count();
        return Err(ExternalError::NotFitted { examples: predictions.len(), positives });
    };
    model.with_site_recalibration(site).save(path)?;
    Ok(site)
}
