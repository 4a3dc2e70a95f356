//! One task's risk for one patient, as the server answers it: in JSON (`/v1/predict`), in FHIR
//! (`fhir_out`) and on a CDS Hooks card.

use serde::Serialize;
use utoipa::ToSchema;

/// The validated operating point of a task: flagging at this threshold gave these figures on
/// held-out patients.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OperatingPoint {
    /// Risks at or above it are `high` (absent where none reached the audited specificity).
    pub threshold: Option<f64>,
    /// Share of patients with the outcome it flagged.
    pub sensitivity: Option<f64>,
    /// Share of those flagged who had the outcome.
    pub ppv: Option<f64>,
    /// Share of patients flagged.
    pub flag_rate: Option<f64>,
}

/// One task's risk for one patient.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Prediction {
    /// The patient, as the request referred to them (`Patient/<id>`).
    pub patient: String,
    /// The task.
    pub task: String,
    /// What it predicts.
    pub description: String,
    /// The probability of the outcome, a fraction from 0 to 1, calibrated as validated.
    pub probability: f64,
    /// `low` (below the task's prevalence), `moderate`, or `high` (at or above the validated
    /// operating point).
    pub band: &'static str,
    /// As of when (RFC 3339): the latest dated event of the record.
    pub as_of: String,
    /// `record` when `as_of` is in the record's own time; `model` when the de-identification
    /// cuts dates to the year and it is in the model's.
    pub time_frame: &'static str,
    /// The end of the period the risk is for, where the task defines one.
    pub horizon: Option<String>,
    /// Events of the record read.
    pub events: usize,
    /// The operating point that sets the `high` band.
    pub operating_point: Option<OperatingPoint>,
    /// What moved the risk most, largest first (for the models on count features; absent for
    /// those on the foundation model's embedding).
    pub basis: Option<Vec<BasisItem>>,
}

/// One feature's part in a risk.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BasisItem {
    /// The feature: `CODE/WINDOW/STATISTIC` (e.g. `LOINC/4548-4/365d/mean`), `age`, or
    /// `static/CODE`.
    pub feature: String,
    /// Its value in the record (absent where the record has none).
    pub value: Option<f64>,
    /// How far it moved the risk's log-odds (positive: up).
    pub log_odds: f64,
}
