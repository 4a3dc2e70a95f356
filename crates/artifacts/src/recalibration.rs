//! The recalibration a fitted method kept: logistic recalibration of its log-odds, chosen by a
//! closed test on the tuning split (the test itself is `adapt::recalibration`).

use serde::{Deserialize, Serialize};

/// A fitted recalibration: new log-odds = `slope · z + intercept`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Recalibration {
    /// The factor on the model's log-odds (its tuning calibration slope before the map).
    pub slope: f64,
    /// The shift added after the factor (its tuning calibration intercept).
    pub intercept: f64,
}

impl Recalibration {
    /// The map that changes nothing.
    pub const IDENTITY: Recalibration = Recalibration { slope: 1.0, intercept: 0.0 };

    /// The recalibrated log-odds of `z`.
    pub fn apply(&self, z: f64) -> f64 {
        self.slope * z + self.intercept
    }
}

/// What the closed test kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Update {
    /// The model as fitted (the map is the identity).
    None,
    /// The intercept only (slope 1): calibration in the large.
    Intercept,
    /// Intercept and slope.
    InterceptAndSlope,
}

/// The outcome of the closed test: the map kept and the evidence for it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClosedTest {
    /// Which update was kept.
    pub update: Update,
    /// The map kept (the identity for [`Update::None`]).
    #[serde(flatten)]
    pub map: Recalibration,
    /// The full map's fitted slope (kept or not).
    pub full_slope: f64,
    /// Likelihood-ratio statistic, full map against no update (2 degrees of freedom).
    pub lr_full_vs_none: f64,
    /// Likelihood-ratio statistic, intercept only against no update (1 degree of freedom).
    pub lr_intercept_vs_none: f64,
    /// Likelihood-ratio statistic, full map against intercept only (1 degree of freedom).
    pub lr_full_vs_intercept: f64,
    /// Tuning examples the test was run on.
    pub examples: usize,
    /// Positives among them.
    pub positives: usize,
}

impl ClosedTest {
    /// The map to fold into the model: `None` when the test kept no update.
    pub fn kept(&self) -> Option<Recalibration> {
        (self.update != Update::None).then_some(self.map)
    }
}
