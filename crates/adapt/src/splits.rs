//! How labelled prediction times are split into train, tuning and held-out sets.
//!
//! - **By subject** (the default): the dataset's `subject_splits.parquet`; a subject's every
//!   prediction time stays in one split.
//! - **Temporal**: train and tuning use prediction times before a cutoff date, held-out those on
//!   or after it — and subjects stay disjoint as well (train and tuning from the train and tuning
//!   subjects, held-out from the held-out subjects), so a temporal result is never flattered by
//!   seeing the same patient on both sides.
//! - **By site**: train and tuning at one site (its train and tuning subjects), held-out every
//!   prediction time of subjects at the other sites — external validation within one dataset.

use std::collections::HashMap;

/// A split scheme.
#[derive(Debug, Clone, PartialEq)]
pub enum Scheme {
    /// The dataset's subject splits.
    Subject,
    /// Before / on-or-after `cutoff` (µs since the epoch).
    Temporal {
        /// The cutoff.
        cutoff: i64,
    },
    /// Train at `train_site`, test everywhere else.
    Site {
        /// The training site.
        train_site: String,
        /// Each subject's site.
        sites: HashMap<i64, String>,
    },
}

impl Scheme {
    /// The split of a prediction time of a subject whose subject split is `subject_split`;
    /// `None` leaves the example out.
    pub fn assign(&self, subject: i64, prediction_time: i64, subject_split: &str) -> Option<&'static str> {
        let canonical = match subject_split {
            "train" => "train",
            "tuning" => "tuning",
            "held_out" => "held_out",
            _ => return None,
        };
        match self {
            Scheme::Subject => Some(canonical),
            Scheme::Temporal { cutoff } => match (canonical, prediction_time < *cutoff) {
                ("train" | "tuning", true) => Some(canonical),
                ("held_out", false) => Some("held_out"),
                _ => None,
            },
            Scheme::Site { train_site, sites } => {
                let site = sites.get(&subject)?;
                if site == train_site { (canonical != "held_out").then_some(canonical) } else { Some("held_out") }
            }
        }
    }

    /// A short description for reports: `held-out subjects`, `on or after 2021-01-01`, `site
    /// north → other sites`.
    pub fn describe(&self) -> String {
        match self {
            Scheme::Subject => "internal: held-out subjects".into(),
            Scheme::Temporal { cutoff } => {
                let day = chrono::DateTime::from_timestamp_micros(*cutoff)
                    .map_or("?".into(), |d| d.format("%Y-%m-%d").to_string());
                format!("temporal: trained before {day}, tested on or after it (held-out subjects)")
            }
            Scheme::Site { train_site, .. } => {
                format!("external: trained at site {train_site}, tested at the other sites")
            }
        }
    }
}

/// Parses `YYYY-MM-DD` into µs since the epoch (midnight UTC).
pub fn parse_date(text: &str) -> Option<i64> {
    let day = chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()?;
    Some(day.and_hms_opt(0, 0, 0)?.and_utc().timestamp_micros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporal_and_site_assignments() {
        let cutoff = parse_date("2021-01-01").expect("date");
        assert_eq!(cutoff, 1_609_459_200_000_000);
        let t = Scheme::Temporal { cutoff };
        assert_eq!(t.assign(1, cutoff - 1, "train"), Some("train"));
        assert_eq!(t.assign(1, cutoff, "train"), None, "train never sees the test period");
        assert_eq!(t.assign(2, cutoff, "held_out"), Some("held_out"));
        assert_eq!(t.assign(2, cutoff - 1, "held_out"), None);
        assert!(t.describe().contains("2021-01-01"));
        let sites: HashMap<i64, String> = [(1, "north".into()), (2, "river".into())].into_iter().collect();
        let s = Scheme::Site { train_site: "north".into(), sites };
        assert_eq!(s.assign(1, 0, "train"), Some("train"));
        assert_eq!(s.assign(1, 0, "held_out"), None);
        assert_eq!(s.assign(2, 0, "train"), Some("held_out"), "every other-site subject is external test data");
        assert_eq!(s.assign(3, 0, "train"), None, "unknown site: left out");
        assert_eq!(parse_date("2021-13-01"), None);
    }
}
