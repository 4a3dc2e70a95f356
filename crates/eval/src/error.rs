//! Errors of evaluation. They carry counts and positions, never patient data.

/// Why predictions could not be evaluated.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// No predictions.
    #[error("no predictions to evaluate")]
    Empty,
    /// Probabilities outside [0, 1] or not finite.
    #[error("{count} predicted probabilities are not in [0, 1] (first at row {first})")]
    BadProbability {
        /// How many.
        count: usize,
        /// Row of the first.
        first: usize,
    },
    /// An attribute does not give one value per prediction.
    #[error("attribute `{name}` has {got} values for {expected} predictions")]
    AttributeLength {
        /// The attribute.
        name: String,
        /// Values given.
        got: usize,
        /// Predictions.
        expected: usize,
    },
    /// Design weights that are not one positive finite number per prediction.
    #[error("design weights: {message}")]
    BadWeights {
        /// What is wrong (counts and positions only).
        message: String,
    },
    /// Predictions whose subjects are not in the dataset they are evaluated with.
    #[error(
        "{missing} of {total} subjects of the predictions are not in the dataset: predictions and data do not belong together (another dataset, or another extract's pseudonyms?)"
    )]
    Mismatch {
        /// Subjects of the predictions absent from the dataset.
        missing: usize,
        /// Subjects of the predictions.
        total: usize,
    },
    /// The dataset could not be read.
    #[error(transparent)]
    Meds(#[from] meds::MedsError),
    /// A sites table could not be read.
    #[error("cannot read sites from {path}: {message}")]
    Sites {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        message: String,
    },
}
