//! # artifacts — the files one pipeline step hands the next
//!
//! `longitude adapt` writes what it fitted and how (`adapt_report.json`), `longitude what-if`
//! its comparison; `longitude report` and the registry read them back. Their types live here,
//! once, so that the writer and every reader agree, and so that the report does not pull in the
//! tensor library to read what adaptation wrote.
//!
//! Architecture invariant: **serde types and arithmetic on them only** — no I/O beyond
//! [`outputs::artifact`]'s typed read and write, no model, no dataset. Every file type implements
//! [`outputs::artifact::Artifact`]: a newer or older layout is refused, not misread.
//!
//! - [`recalibration`]: the recalibration a fitted method kept after its closed test on tuning.
//! - [`samples`]: how a method's examples were sampled (train case-control samples, held-out
//!   samples and their design weights).
//! - [`adapt_report`]: [`AdaptReport`], `longitude adapt`'s account of every task and method.
//! - [`what_if`]: [`WhatIfReport`], a treatment change's effect as the model and the truth see it.

pub mod adapt_report;
pub mod recalibration;
pub mod samples;
pub mod what_if;

pub use adapt_report::{AdaptReport, TaskAdaptation};
pub use outputs::artifact::{ArtifactError, read, write};
pub use recalibration::{ClosedTest, Recalibration, Update};
pub use samples::{SampleDesign, TrainSample};
pub use what_if::{Effect, WhatIfReport};
