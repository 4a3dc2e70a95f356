//! `ingest_report.json`: what an ingest run did, as a file and as the table a person reads.

use std::fmt;

use serde::Serialize;

use crate::{Summary, leakage};

/// `ingest_report.json`, written last in an ingest output directory: how de-identification was
/// configured, the run's [`Summary`], and the leakage measured when ground truth was given.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct IngestReport {
    /// How dates were de-identified.
    pub date_mode: deid::DateMode,
    /// How free text was scrubbed, in words.
    pub text_policy: String,
    /// What the run read, converted, skipped and quarantined.
    #[serde(flatten)]
    pub summary: Summary,
    /// Planted identifiers that survived, on simulated data with its ground truth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deid_audit: Option<leakage::Leakage>,
}

impl outputs::artifact::Artifact for IngestReport {
    const FORMAT: &'static str = "longitude-ingest-report";
    const VERSION: u32 = 1;
}

impl IngestReport {
    /// The report's file name in an ingest output directory.
    pub const FILE: &'static str = "ingest_report.json";
}

impl IngestReport {
    /// Whether the run can be trusted as it stands: the counts reconcile and, when planted
    /// identifiers were measured, the de-identification targets are met.
    pub fn ok(&self) -> bool {
        self.summary.reconciles && self.deid_audit.as_ref().is_none_or(|a| a.meets_targets)
    }
}

/// The table of resource types (read, converted, skipped, quarantined, events), then a paragraph
/// of totals and, when measured, the de-identification audit. Counts only: no record's content.
impl fmt::Display for IngestReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.summary;
        writeln!(
            f,
            "{:<34} {:>9} {:>10} {:>8} {:>12} {:>9}",
            "resource type", "read", "converted", "skipped", "quarantined", "events"
        )?;
        for (kind, c) in &s.fhir.types {
            let skipped = c.skipped.values().sum::<u64>();
            writeln!(
                f,
                "{kind:<34} {:>9} {:>10} {skipped:>8} {:>12} {:>9}",
                c.read, c.converted, c.quarantined, c.events
            )?;
        }
        let partial = if s.complete {
            String::new()
        } else {
            format!(
                " for what could be read — {} damaged file(s) read in part (--accept-partial; see the report)",
                s.fhir.damaged.len()
            )
        };
        write!(
            f,
            "\n{} subjects ({} opted out), {} events ({} date mode); counts {}{partial}; {} quarantined; {} identical \
             duplicates dropped; {} text values scrubbed",
            s.subjects,
            s.opted_out_patients,
            s.events,
            self.date_mode,
            if s.reconciles { "reconcile" } else { "DO NOT reconcile" },
            s.quarantined,
            s.duplicates_dropped,
            s.deidentification.texts,
        )?;
        if let Some(a) = &self.deid_audit {
            let planted: u64 = a.kinds.values().map(|c| c.planted).sum();
            let occurrences: u64 = a.kinds.values().map(|c| c.text_occurrences).sum();
            write!(
                f,
                "\nde-identification audit over {} patients: structured recall {:.4} ({planted} planted values), \
                 free-text recall {:.4} ({occurrences} occurrences): {}",
                a.patients,
                a.structured_recall,
                a.text_recall,
                if a.meets_targets { "targets met" } else { "TARGETS NOT MET" }
            )?;
        }
        Ok(())
    }
}
