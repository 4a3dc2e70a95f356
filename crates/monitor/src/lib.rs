//! # monitor — watching a deployed model's inputs
//!
//! A model is validated on one period of one population; in use, practice moves: a new drug
//! class is taken up, a site recodes a diagnosis, a lab changes its assay, the case mix shifts.
//! This crate sees those changes in the data before they are seen in outcomes: a population's
//! data by calendar month ([`profile`]), a reference period summarised small enough to carry in
//! a release ([`profile::Reference`]), and each later window checked against it ([`drift`]), each
//! alert with the figure that tripped it and the stated threshold it crossed. The statistics
//! are in [`distribution`]; [`estimate`] gives the performance calibrated risks promise before
//! outcomes arrive.
//!
//! Values are held per month in memory while profiling (a month of a health system's labs is
//! millions of numbers, not billions); a streaming quantile sketch would lift that limit.

pub mod distribution;
pub mod drift;
pub mod estimate;
pub mod profile;

pub use distribution::{Percentiles, Shift, compare};
pub use drift::{Check, Finding, Kind, Thresholds, check};
pub use estimate::{Estimate, estimate};
pub use profile::{
    Month, MonthProfile, Profiles, Reference, by_month, by_month_within, last_month, profiles_within,
    reference_of_dataset, subgroups_of,
};
